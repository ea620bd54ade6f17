"""The wire itself, over plain HTTP: each method the SDKs send, the error shapes, the request
id, authentication and workspace isolation."""

import json
import logging
from datetime import timedelta

import httpx
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from codes.models import AccessCode
from devices.services import api_key_create, api_key_revoke, sandbox_fleet_create, workspace_get_or_create


def _error(response, status, error_type):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False
    assert body["error"]["type"] == error_type
    assert body["error"]["request_id"] == response.headers["seam-request-id"]
    return body["error"]


def test_each_route_takes_the_sdks_method_and_post(http, fleet):
    lock = str(fleet["cloud-lock"].pk)
    created = http.post("/access_codes/create", json={"device_id": lock, "code": "5719"}).json()[
        "access_code"
    ]
    code_id = created["access_code_id"]

    # GET with a query string, as the SDK sends it (sorted keys, _strict=true).
    got = http.get("/access_codes/get", params={"_strict": "true", "access_code_id": code_id})
    assert got.status_code == 200 and got.json()["ok"] is True
    # The same read as POST with a JSON body, as curl users and older SDKs send it.
    assert http.post("/access_codes/get", json={"access_code_id": code_id}).json() == got.json()
    # Arrays as repeated keys.
    listed = http.get(
        "/access_codes/list", params=[("access_code_ids", code_id), ("access_code_ids", code_id)]
    )
    assert [c["access_code_id"] for c in listed.json()["access_codes"]] == [code_id]
    # PATCH and PUT with JSON bodies.
    assert (
        http.patch("/access_codes/update", json={"access_code_id": code_id, "name": "x"}).status_code == 200
    )
    multi = http.put("/access_codes/create_multiple", json={"device_ids": [lock], "name": "Booking"})
    assert multi.status_code == 200 and len(multi.json()["access_codes"]) == 1
    # DELETE with a query string.
    deleted = http.delete("/access_codes/delete", params={"access_code_id": code_id})
    assert deleted.status_code == 200
    assert deleted.json()["action_attempt"]["action_type"] == "DELETE_ACCESS_CODE"


def test_other_methods_are_405_in_seams_shape(http):
    _error(http.put("/access_codes/get", json={}), 405, "method_not_allowed")
    _error(http.get("/access_codes/create"), 405, "method_not_allowed")


def test_invalid_input_names_every_field(http, fleet):
    lock = str(fleet["keypad-deadbolt"].pk)
    response = http.post(
        "/access_codes/create",
        json={
            "device_id": lock,
            "code": 1234,
            "is_one_time_use": "false",
            "ends_at": "tomorrow",
            "endz_at": "x",
        },
    )
    error = _error(response, 400, "invalid_input")
    assert set(error["validation_errors"]) >= {"code", "is_one_time_use", "ends_at", "endz_at"}
    assert error["validation_errors"]["code"]["_errors"] == ["must be a string."]
    assert error["validation_errors"]["endz_at"]["_errors"] == ["is not a parameter of this route."]
    assert not AccessCode.objects.exists()


def test_a_naive_time_is_refused_with_what_to_add(http, fleet):
    lock = str(fleet["keypad-deadbolt"].pk)
    response = http.post(
        "/access_codes/create",
        json={"device_id": lock, "starts_at": "2026-12-01T15:00:00", "ends_at": "2026-12-03T11:00:00"},
    )
    error = _error(response, 400, "invalid_input")
    assert "time zone offset" in error["validation_errors"]["starts_at"]["_errors"][0]


def test_malformed_json_and_non_object_bodies(http):
    response = http.post(
        "/access_codes/create", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    _error(response, 400, "invalid_input")
    _error(http.post("/access_codes/create", json=[1, 2]), 400, "invalid_input")


def test_query_booleans_are_true_or_false_only(http, fleet):
    lock = str(fleet["keypad-deadbolt"].pk)
    response = http.post(
        "/devices/update", json={"device_id": lock, "backup_access_code_pool_enabled": "yes"}
    )
    error = _error(response, 400, "invalid_input")
    assert error["validation_errors"]["backup_access_code_pool_enabled"]["_errors"] == [
        "must be true or false."
    ]


def test_unknown_route_and_unknown_ids(http):
    _error(http.get("/access_codes/teleport"), 404, "route_not_found")
    missing = "00000000-0000-4000-8000-000000000000"
    _error(http.get("/access_codes/get", params={"access_code_id": missing}), 404, "access_code_not_found")
    _error(http.get("/devices/get", params={"device_id": missing}), 404, "device_not_found")
    _error(http.get("/access_codes/get", params={"access_code_id": "not-a-uuid"}), 400, "invalid_input")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer seam_nope"}, {"Authorization": "Basic abc"}],
    ids=["missing", "unknown", "not-bearer"],
)
def test_unauthorized(api_url, headers):
    response = httpx.get(f"{api_url}/devices/list", headers=headers)
    _error(response, 401, "unauthorized")


def test_a_revoked_key_stops_working(api_url, workspace):
    key, raw = api_key_create(workspace=workspace)
    assert httpx.get(f"{api_url}/devices/list", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    api_key_revoke(api_key=key)
    _error(
        httpx.get(f"{api_url}/devices/list", headers={"Authorization": f"Bearer {raw}"}), 401, "unauthorized"
    )


def test_another_workspaces_ids_answer_404_never_data(http, api_url, fleet):
    other = workspace_get_or_create(name="Other Agency", is_sandbox=True)
    their_lock = sandbox_fleet_create(workspace=other)[0]
    _, their_key = api_key_create(workspace=other)
    theirs = httpx.post(
        f"{api_url}/access_codes/create",
        json={"device_id": str(their_lock.pk), "code": "9146"},
        headers={"Authorization": f"Bearer {their_key}"},
    ).json()["access_code"]

    _error(
        http.get("/access_codes/get", params={"access_code_id": theirs["access_code_id"]}),
        404,
        "access_code_not_found",
    )
    _error(http.get("/devices/get", params={"device_id": str(their_lock.pk)}), 404, "device_not_found")
    _error(
        http.post("/access_codes/create", json={"device_id": str(their_lock.pk), "code": "1357"}),
        404,
        "device_not_found",
    )
    _error(
        http.delete("/access_codes/delete", params={"access_code_id": theirs["access_code_id"]}),
        404,
        "access_code_not_found",
    )
    listed = http.get("/access_codes/list", params={"access_code_ids": theirs["access_code_id"]}).json()
    assert listed["access_codes"] == []
    assert str(their_lock.pk) not in json.dumps(http.get("/devices/list").json())
    assert AccessCode.objects.get(pk=theirs["access_code_id"]).deleted_at is None


def test_a_bug_is_a_500_without_internals(http, fleet, monkeypatch, caplog):
    from codes.services import access_codes

    def broken(**kwargs):
        raise RuntimeError("secret internals: db password is hunter2")

    monkeypatch.setattr(access_codes, "access_code_create", broken)
    with caplog.at_level(logging.ERROR):
        response = http.post("/access_codes/create", json={"device_id": str(fleet["cloud-lock"].pk)})
    error = _error(response, 500, "internal_server_error")
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert error["request_id"] in caplog.text  # the log ties the answer to the cause


def test_pages_follow_the_cursor_to_the_end(http, fleet):
    lock = str(fleet["keypad-deadbolt"].pk)
    made = {
        http.post("/access_codes/create", json={"device_id": lock}).json()["access_code"]["access_code_id"]
        for _ in range(5)
    }
    seen, cursor = [], None
    while True:
        params = {"device_id": lock, "limit": "2", **({"page_cursor": cursor} if cursor else {})}
        body = http.get("/access_codes/list", params=params).json()
        seen += [c["access_code_id"] for c in body["access_codes"]]
        if not body["pagination"]["has_next_page"]:
            break
        cursor = body["pagination"]["next_page_cursor"]
        assert "page_cursor=" in body["pagination"]["next_page_url"]
    assert sorted(seen) == sorted(made) and len(seen) == 5
    tampered = http.get("/access_codes/list", params={"device_id": lock, "page_cursor": cursor + "x"})
    assert _error(tampered, 400, "invalid_input")["validation_errors"]["page_cursor"]


def test_list_queries_do_not_grow_with_page_size(http, fleet):
    lock = fleet["keypad-deadbolt"]
    for _ in range(30):
        http.post("/access_codes/create", json={"device_id": str(lock.pk)})
    http.post("/devices/simulate/disconnect", json={"device_id": str(lock.pk)})  # issues to shape

    def queries_for(limit):
        with CaptureQueriesContext(connection) as ctx:
            body = http.get(
                "/access_codes/list", params={"device_id": str(lock.pk), "limit": str(limit)}
            ).json()
        assert len(body["access_codes"]) == limit
        assert body["access_codes"][0]["errors"][0]["error_code"] == "device_offline"
        return len(ctx.captured_queries)

    assert queries_for(3) == queries_for(30)


def _routes():
    from api.urls import urlpatterns
    from api.wire import SeamRoute

    views = [(str(p.pattern), getattr(p.callback, "view_class", None)) for p in urlpatterns]
    return [(route, view) for route, view in views if isinstance(view, type) and issubclass(view, SeamRoute)]


@pytest.mark.parametrize(("route", "view"), _routes(), ids=[r for r, _ in _routes()])
def test_every_route_takes_post_and_its_sdk_method_and_nothing_else(http, route, view):
    for method in ("POST", view.sdk_method, *view.also_methods):
        response = http.request(
            method, f"/{route}", **({"json": {}} if method not in ("GET", "DELETE") else {})
        )
        assert response.status_code not in (404, 405), (method, response.text)
        assert response.headers["seam-request-id"].startswith("req_")
    for method in {"GET", "PUT", "PATCH", "DELETE"} - {view.sdk_method, *view.also_methods}:
        _error(http.request(method, f"/{route}"), 405, "method_not_allowed")


def test_hostile_inputs_get_clear_4xx_never_500(http, fleet):
    lock = str(fleet["keypad-deadbolt"].pk)
    too_many = "&".join(f"access_code_ids={lock}" for _ in range(1100))
    assert http.get(f"/access_codes/list?{too_many}").status_code == 400
    far = {"device_id": lock, "starts_at": "0001-01-01T00:00:00+01:00", "ends_at": "2030-01-01T00:00:00Z"}
    assert _error(http.post("/access_codes/create", json=far), 400, "invalid_input")["validation_errors"][
        "starts_at"
    ]
    _error(http.get("/events/list", params={"since": "9999-12-31T23:59:59-01:00"}), 400, "invalid_input")
    _error(http.get("/events/list", params={"unstable_offset": str(10**20)}), 400, "invalid_input")
    huge = {"device_id": lock, "min_code_length": 1, "max_code_length": 10**9}
    _error(http.post("/access_codes/report_device_constraints", json=huge), 400, "invalid_input")
    body = _error(http.post("/access_codes/create", json=[1]), 400, "invalid_input")
    assert body["validation_errors"]["_errors"] == ["the body must be a JSON object."]
    named = {"device_id": lock, "properties": {"name": "a\u0000b\nc"}}
    _error(http.patch("/devices/update", json=named), 400, "invalid_input")
    assert fleet["keypad-deadbolt"].display_name == "Front door deadbolt"


def test_an_empty_list_in_a_query_string_is_an_empty_list(http, fleet):
    body = http.get("/devices/list?device_ids=").json()
    assert body["ok"] is True and body["devices"] == []


def test_a_single_value_given_twice_in_a_query_string_is_refused_by_name(http, fleet):
    lock = str(fleet["keypad-deadbolt"].pk)
    other = str(fleet["cloud-lock"].pk)
    response = http.get(f"/access_codes/list?device_id={lock}&device_id={other}&limit=2&limit=3")
    error = _error(response, 400, "invalid_input")
    assert set(error["validation_errors"]) - {"_errors"} == {"device_id", "limit"}
    assert error["validation_errors"]["limit"]["_errors"] == [
        "takes one value, but was given more than once."
    ]
    # Arrays are repeated keys by design, and a repeated unknown key is named as unknown.
    assert http.get(f"/devices/list?device_ids={lock}&device_ids={other}").json()["ok"] is True
    unknown = _error(http.get("/devices/list?colour=red&colour=blue"), 400, "invalid_input")
    assert "colour" in unknown["validation_errors"]


def test_concurrent_creates_with_one_common_code_key_share_one_pin(api_url, api_key, fleet):
    from concurrent.futures import ThreadPoolExecutor

    doors = [fleet["keypad-deadbolt"], fleet["cloud-lock"], fleet["small-memory"], fleet["strict-pins"]]

    def send(door):
        return httpx.post(
            f"{api_url}/access_codes/create",
            json={"device_id": str(door.pk), "common_code_key": "booking-0"},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(send, doors))
    made = [a.json()["access_code"]["code"] for a in answers if a.status_code == 200]
    assert made and len(set(made)) == 1
    # A door whose rules refuse the shared PIN is refused by name, not given another PIN.
    assert all(a.status_code in (200, 400) for a in answers)


def test_a_keys_last_use_is_written_at_most_once_a_minute(db, now):
    import time_machine
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from devices.models import ApiKey, Workspace
    from devices.services import api_key_authenticate, api_key_create

    key, raw = api_key_create(workspace=Workspace.objects.create(name="Uses"))
    assert key.last_used_at is None
    assert api_key_authenticate(raw).pk == key.pk
    assert ApiKey.objects.get(pk=key.pk).last_used_at == now
    with time_machine.travel(now + timedelta(seconds=59), tick=False), CaptureQueriesContext(connection) as q:
        api_key_authenticate(raw)
    assert len(q.captured_queries) == 1  # the lookup only: no write within the minute
    assert ApiKey.objects.get(pk=key.pk).last_used_at == now
    with time_machine.travel(now + timedelta(seconds=61), tick=False):
        api_key_authenticate(raw)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == now + timedelta(seconds=61)
