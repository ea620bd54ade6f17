"""Seam's published OpenAPI document is the test: every operation Latchkey claims answers a valid
request with a body Seam's own response schema accepts, and every operation of Seam's that
Latchkey does not serve, in the groups it claims, answers ``route_not_found`` in Seam's envelope.

Latchkey's deliberate departures from the document are listed once, in ``api/deviations.py``;
the README's "Not supported" section is checked against that list here.
"""

import functools
import itertools
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from openapi_schema_validator import OAS30Validator

from api.deviations import LEFT_OUT_ROUTES, REFUSED_PARAMETERS, REFUSED_VALUES
from tests.api.seam_spec import (
    ROOT,
    claimed_paths,
    operations,
    seam_openapi,
    unclaimed_paths,
)

QUERY = ("get", "delete")  # the SDKs put these methods' parameters in the query string
_pins = itertools.count(5831)


def _window():
    start = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    return start.isoformat(), (start + timedelta(days=2)).isoformat()


def _send(http, method: str, path: str, params: dict):
    if method in QUERY:
        query = [(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])]
        return http.request(method.upper(), path, params=query)
    return http.request(method.upper(), path, json=params)


class World:
    """Seeded objects, and fresh ones made through the API for routes that use theirs up."""

    def __init__(self, http, fleet):
        self.http = http
        self.lock = str(fleet["keypad-deadbolt"].pk)
        self.cloud = str(fleet["cloud-lock"].pk)
        self.spare = str(fleet["no-keypad"].pk)
        assert http.patch(
            "/devices/update", json={"device_id": self.lock, "backup_access_code_pool_enabled": True}
        )
        self.code = self.new_code(common_code_key="stay-1", use_backup_access_code_pool=True)
        self.webhook = self.post("/webhooks/create", url="http://127.0.0.1:9/hook")["webhook"]["webhook_id"]

    def post(self, path, **params) -> dict:
        response = self.http.post(path, json=params)
        assert response.status_code == 200, response.text
        return response.json()

    def new_code(self, **extra) -> str:
        starts_at, ends_at = _window()
        made = self.post(
            "/access_codes/create",
            device_id=self.lock,
            code=str(next(_pins)),
            name="Guest",
            starts_at=starts_at,
            ends_at=ends_at,
            **extra,
        )
        return made["access_code"]["access_code_id"]

    def new_unmanaged(self) -> str:
        made = self.post(
            "/access_codes/simulate/create_unmanaged_access_code",
            device_id=self.lock,
            code=str(next(_pins)),
            name="Cleaner",
        )
        return made["access_code"]["access_code_id"]

    def attempt(self) -> str:
        listed = self.http.get("/action_attempts/list").json()["action_attempts"]
        return listed[0]["action_attempt_id"]

    def event(self) -> str:
        return self.http.get("/events/list").json()["events"][0]["event_id"]

    def pool_ready(self) -> None:
        from codes.scheduler import sweep

        sweep(now=timezone.now())


# One valid request per route, as Seam's document describes it. Each is a function of the world
# so that a route which uses its object up (delete, convert) gets a fresh one per method.
REQUESTS = {
    "/access_codes/create": lambda w: {"device_id": w.lock, "name": "Ana", "code": str(next(_pins))},
    "/access_codes/create_multiple": lambda w: {"device_ids": [w.lock, w.cloud], "name": "Booking"},
    "/access_codes/delete": lambda w: {"access_code_id": w.new_code()},
    "/access_codes/generate_code": lambda w: {"device_id": w.lock},
    "/access_codes/get": lambda w: {"access_code_id": w.code},
    "/access_codes/get_timeline": lambda w: {"access_code_id": w.code},
    "/access_codes/list": lambda w: {"device_id": w.lock},
    "/access_codes/pull_backup_access_code": lambda w: (
        w.pool_ready(),
        {"access_code_id": w.new_code(use_backup_access_code_pool=True)},
    )[1],
    "/access_codes/report_device_constraints": lambda w: {
        "device_id": w.cloud,
        "supported_code_lengths": [4, 5, 6],
    },
    "/access_codes/update": lambda w: {"access_code_id": w.code, "name": "Ana Silva"},
    "/access_codes/update_multiple": lambda w: {"common_code_key": "stay-1", "name": "Stay"},
    "/access_codes/unmanaged/list": lambda w: {"device_id": w.lock},
    "/access_codes/unmanaged/get": lambda w: {"access_code_id": w.new_unmanaged()},
    "/access_codes/unmanaged/convert_to_managed": lambda w: {"access_code_id": w.new_unmanaged()},
    "/access_codes/unmanaged/delete": lambda w: {"access_code_id": w.new_unmanaged()},
    "/access_codes/unmanaged/update": lambda w: {"access_code_id": w.new_unmanaged(), "is_managed": True},
    "/access_codes/simulate/create_unmanaged_access_code": lambda w: {
        "device_id": w.lock,
        "name": "Cleaner",
        "code": str(next(_pins)),
    },
    "/devices/get": lambda w: {"device_id": w.lock},
    "/devices/list": lambda w: {},
    "/devices/update": lambda w: {"device_id": w.cloud, "name": "Front door"},
    "/devices/simulate/connect": lambda w: {"device_id": w.cloud},
    "/devices/simulate/disconnect": lambda w: {"device_id": w.cloud},
    "/devices/simulate/connect_to_hub": lambda w: {"device_id": w.cloud},
    "/devices/simulate/disconnect_from_hub": lambda w: {"device_id": w.cloud},
    "/devices/simulate/remove": lambda w: {"device_id": w.spare},
    "/action_attempts/get": lambda w: {"action_attempt_id": w.attempt()},
    "/action_attempts/list": lambda w: {},
    "/events/get": lambda w: {"event_id": w.event()},
    "/events/list": lambda w: {},
    "/webhooks/create": lambda w: {"url": "http://127.0.0.1:9/other", "event_types": ["access_code.created"]},
    "/webhooks/get": lambda w: {"webhook_id": w.webhook},
    "/webhooks/list": lambda w: {},
    "/webhooks/update": lambda w: {"webhook_id": w.webhook, "event_types": ["access_code.changed"]},
    "/webhooks/delete": lambda w: {
        "webhook_id": w.post("/webhooks/create", url="http://127.0.0.1:9/x")["webhook"]["webhook_id"]
    },
}


@functools.cache
def _components() -> dict:
    # Seam's discriminators map to schemas the document does not define (#/components/schemas/
    # creating); the oneOf variants are told apart by their enum tags without them.
    return _without_discriminators(seam_openapi()["components"])


def _without_discriminators(node):
    if isinstance(node, dict):
        return {k: _without_discriminators(v) for k, v in node.items() if k != "discriminator"}
    if isinstance(node, list):
        return [_without_discriminators(v) for v in node]
    return node


@functools.cache
def response_validator(path: str, method: str) -> OAS30Validator:
    schema = seam_openapi()["paths"][path][method]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]
    # Seam's schemas point at #/components/...; carrying the components makes those resolve.
    return OAS30Validator({**_without_discriminators(schema), "components": _components()})


def _problems(path, method, response) -> list[str]:
    where = f"{method.upper()} {path}"
    if response.status_code != 200:
        return [f"{where}: {response.status_code} {response.text[:300]}"]
    errors = sorted(response_validator(path, method).iter_errors(response.json()), key=str)
    return [f"{where}: {'/'.join(map(str, e.absolute_path))}: {_why(e)}" for e in errors]


def _why(error) -> str:
    """For Seam's tagged unions (an event by its event_type, an action attempt by its
    action_type and status), the reasons from the variant the object claims to be."""
    instance = error.instance
    if error.validator == "oneOf" and isinstance(instance, dict):
        tags = ("event_type", "action_type", "status", "mutation_code", "error_code", "warning_code")
        for variant, sub in zip(error.validator_value, _by_variant(error), strict=False):
            props = variant.get("properties", {})
            if all(instance.get(t) in props[t].get("enum", [instance.get(t)]) for t in tags if t in props):
                return "; ".join(sub) or f"matches its variant: {error.message[:300]}"
    return error.message[:300]


def _by_variant(error) -> list[list[str]]:
    found: dict[int, list[str]] = {}
    for sub in error.context:
        found.setdefault(sub.schema_path[0], []).append(
            f"{'/'.join(map(str, sub.relative_path))}: {sub.message[:200]}"
        )
    return [found.get(i, []) for i in range(len(error.validator_value))]


def test_every_claimed_route_is_seams(http, fleet):
    assert sorted(REQUESTS) == sorted(claimed_paths())  # a new route needs its request here
    world = World(http, fleet)
    problems = []
    checked = operations(claimed_paths())
    for path, method in checked:
        problems += _problems(path, method, _send(http, method, path, REQUESTS[path](world)))
    assert not problems, f"{len(problems)} problems in {len(checked)} operations:\n" + "\n".join(problems)
    assert len(checked) == 59  # every method of the 33 routes, as Seam documents them


@pytest.mark.parametrize("path", unclaimed_paths())
def test_every_unclaimed_route_of_a_claimed_group_is_route_not_found(http, path):
    assert path in LEFT_OUT_ROUTES, f"{path}: serve it, or say in api/deviations.py why not"
    for _, method in operations([path]):
        response = _send(http, method, path, {"device_id": "9b0e1b5e-2f43-4c3b-9a51-39d7f8b7d1f1"})
        assert response.status_code == 404, (method, response.text[:200])
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["ok"] is False and body["error"]["type"] == "route_not_found"
        assert body["error"]["request_id"] == response.headers["seam-request-id"]


def _readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    return text.split(f"### {title}\n", 1)[1].split("\n#", 1)[0]


def test_the_readme_lists_exactly_the_deliberate_deviations():
    section = _readme_section("Not supported")
    # Each bullet opens with the names it explains: `a`, `b`: why.
    heads = re.findall(r"^- ((?:`[^`]+`(?:, )?)+):", section, flags=re.M)
    listed = [name for head in heads for name in re.findall(r"`([^`]+)`", head)]
    assert sorted(listed) == sorted([*REFUSED_PARAMETERS, *REFUSED_VALUES, *LEFT_OUT_ROUTES])


def _route_params(path: str) -> set[str]:
    from django.urls import resolve

    return set(resolve(f"/api{path}").func.view_class.params().fields)


def test_every_parameter_seam_documents_is_taken_or_refused_by_name():
    spec = seam_openapi()["paths"]
    missing = {}
    for path in claimed_paths():
        operation = spec[path].get("post") or spec[path].get("put")
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        documented = set(body.get("schema", {}).get("properties", {}))
        left = documented - _route_params(path) - set(REFUSED_PARAMETERS)
        if left:
            missing[path] = sorted(left)
    assert not missing
