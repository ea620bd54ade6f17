"""Every read route answers in a number of queries that does not grow with what it answers: a
page of many costs the queries a page of few does (issue 21). Counted in this thread through
Django's test client, so the count is the route's own on SQLite and PostgreSQL alike."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from api import keys
from calendars.models import CalendarFeed
from codes.models import AccessCode
from devices.models import Device, Property
from devices.services import api_key_create, sandbox_fleet_create, workspace_get_or_create
from webhooks.services.subscriptions import subscription_create

MANY = 6

# The most queries each read route may run (its API key's lookup included), whatever its page
# holds: equal counts for few and many alone would let a route grow by a query a release.
AT_MOST = {
    "devices/list": 3,
    "access_codes/list": 3,
    "access_codes/list by ids": 2,
    "access_codes/unmanaged/list": 3,
    "action_attempts/list": 5,
    "events/list": 2,
    "webhooks/list": 2,
    "latchkey/calendar_feeds/list": 3,
    "access_codes/get_timeline": 3,
}


def flat(route: str, few: int, many: int) -> None:
    assert few == many, f"{route}: {few} queries for one, {many} for {MANY}"
    assert many <= AT_MOST[route], f"{route}: {many} queries, at most {AT_MOST[route]} allowed"


@pytest.fixture
def api(db):
    workspace = workspace_get_or_create(name="Counted", is_sandbox=True)
    locks = sandbox_fleet_create(workspace=workspace)
    _, raw = api_key_create(workspace=workspace, name="counting")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    def call(method: str, route: str, **params):
        if method == "GET":
            response = client.get(f"/api/{route}", params)
        else:
            response = client.post(f"/api/{route}", params, content_type="application/json")
        assert response.status_code == 200, response.content
        return response.json()

    call("POST", "devices/list")  # the key's first use is written once a minute: not counted

    def queries(method: str, route: str, **params) -> tuple[int, dict]:
        keys.forget_all()  # every counted request looks its key up, as after the cache's expiry
        with CaptureQueriesContext(connection) as counted:
            body = call(method, route, **params)
        return len(counted.captured_queries), body

    lock = next(d for d in locks if d.provider_device_id == "sandbox-keypad-deadbolt")
    return workspace, lock, call, queries


def _codes(call, lock, n):
    return [
        call("POST", "access_codes/create", device_id=str(lock.pk), name=f"Guest {i}")["access_code"]
        for i in range(n)
    ]


def test_devices_list(api):
    _, _, _, queries = api
    few, body_few = queries("POST", "devices/list", limit=1)
    many, body_many = queries("POST", "devices/list", limit=MANY)
    assert (len(body_few["devices"]), len(body_many["devices"])) == (1, MANY)
    flat("devices/list", few, many)


def test_access_codes_list_with_issues_to_shape(api):
    _, lock, call, queries = api
    _codes(call, lock, MANY)
    call("POST", "devices/simulate/disconnect", device_id=str(lock.pk))  # an issue each code shows
    few, body_few = queries("GET", "access_codes/list", device_id=str(lock.pk), limit=1)
    many, body_many = queries("GET", "access_codes/list", device_id=str(lock.pk), limit=MANY)
    assert len(body_many["access_codes"]) == MANY
    assert all(c["errors"][0]["error_code"] == "device_offline" for c in body_many["access_codes"])
    flat("access_codes/list", few, many)


def test_access_codes_list_by_ids(api):
    _, lock, call, queries = api
    ids = [c["access_code_id"] for c in _codes(call, lock, MANY)]
    few, _ = queries("POST", "access_codes/list", access_code_ids=ids[:1])
    many, body = queries("POST", "access_codes/list", access_code_ids=ids)
    assert len(body["access_codes"]) == MANY
    flat("access_codes/list by ids", few, many)


def test_unmanaged_access_codes_list(api):
    _, lock, call, queries = api
    for i in range(MANY):
        call(
            "POST",
            "access_codes/simulate/create_unmanaged_access_code",
            device_id=str(lock.pk),
            code=f"{5100 + i * 7}",
            name=f"Owner {i}",
        )
    few, _ = queries("GET", "access_codes/unmanaged/list", device_id=str(lock.pk), limit=1)
    many, body = queries("GET", "access_codes/unmanaged/list", device_id=str(lock.pk), limit=MANY)
    assert len(body["access_codes"]) == MANY
    flat("access_codes/unmanaged/list", few, many)


def test_action_attempts_list(api):
    _, lock, call, queries = api
    _codes(call, lock, MANY)
    few, _ = queries("GET", "action_attempts/list", limit=1)
    many, body = queries("GET", "action_attempts/list", limit=MANY)
    assert len(body["action_attempts"]) == MANY
    assert all(a["result"]["access_code"] for a in body["action_attempts"])  # each carries its code
    flat("action_attempts/list", few, many)


def test_events_list(api):
    _, lock, call, queries = api
    _codes(call, lock, MANY)
    few, _ = queries("GET", "events/list", limit=1)
    many, body = queries("GET", "events/list", limit=MANY)
    assert len(body["events"]) == MANY
    flat("events/list", few, many)


def test_webhooks_list(api):
    workspace, _, _, queries = api
    subscription_create(workspace=workspace, url="https://hooks.example.com/0")
    few, _ = queries("GET", "webhooks/list")
    for i in range(1, MANY):
        subscription_create(workspace=workspace, url=f"https://hooks.example.com/{i}")
    many, body = queries("GET", "webhooks/list")
    assert len(body["webhooks"]) == MANY
    flat("webhooks/list", few, many)


def test_calendar_feeds_list(api):
    """Fails before issue 21: each feed's locks were read with a query of their own."""
    workspace, _, _, queries = api
    place = Property.objects.create(workspace=workspace, name="Harbour View", time_zone="Europe/Lisbon")
    doors = list(Device.objects.filter(workspace=workspace)[:2])

    def feed(n):
        made = CalendarFeed.objects.create(
            workspace=workspace, property=place, name=f"Feed {n}", url=f"https://cal.example.com/{n}.ics"
        )
        made.devices.set(doors)

    feed(0)
    few, _ = queries("GET", "latchkey/calendar_feeds/list")
    for n in range(1, MANY):
        feed(n)
    many, body = queries("GET", "latchkey/calendar_feeds/list")
    assert len(body["calendar_feeds"]) == MANY
    assert all(len(f["device_ids"]) == 2 for f in body["calendar_feeds"])
    flat("latchkey/calendar_feeds/list", few, many)


def test_access_codes_get_skips_issue_queries_only_when_there_are_none(api):
    """A code without issues is read in one query after its key (issue 21); one whose lock has an
    issue still shows it."""
    _, lock, call, queries = api
    code = _codes(call, lock, 1)[0]
    quiet, body = queries("GET", "access_codes/get", access_code_id=code["access_code_id"])
    assert body["access_code"]["errors"] == []
    assert quiet == 2  # the key, the code
    call("POST", "devices/simulate/disconnect", device_id=str(lock.pk))
    _, body = queries("GET", "access_codes/get", access_code_id=code["access_code_id"])
    assert body["access_code"]["errors"][0]["error_code"] == "device_offline"
    assert AccessCode.objects.filter(pk=code["access_code_id"]).exists()


def test_access_codes_get_timeline(api):
    _, lock, call, queries = api
    code = _codes(call, lock, 1)[0]["access_code_id"]
    few, body_few = queries("GET", "access_codes/get_timeline", access_code_id=code)
    for i in range(MANY):
        call("POST", "access_codes/update", access_code_id=code, name=f"Guest renamed {i}")
    many, body_many = queries("GET", "access_codes/get_timeline", access_code_id=code)
    assert len(body_many["timeline_events"]) >= len(body_few["timeline_events"]) + MANY
    flat("access_codes/get_timeline", few, many)


def _code_reads_after_the_attempt(captured) -> list[str]:
    """The SELECTs of access-code rows run after the action attempt was written."""
    sqls = [q["sql"] for q in captured]
    written = next(i for i, sql in enumerate(sqls) if sql.startswith('INSERT INTO "codes_actionattempt"'))
    return [sql for sql in sqls[written:] if sql.startswith("SELECT") and 'FROM "codes_accesscode"' in sql]


def test_create_and_update_answer_with_the_code_they_wrote_not_a_second_read(api):
    # A write's answer shapes the code it has in hand: reading it back cost three queries (the
    # row, then its issues again) for the body the route had just built.
    _, lock, call, _ = api
    with CaptureQueriesContext(connection) as created:
        body = call("POST", "access_codes/create", device_id=str(lock.pk), name="Ana", code="4826")
    assert _code_reads_after_the_attempt(created.captured_queries) == []
    shaped = body["access_code"]
    assert body["action_attempt"]["result"]["access_code"] == shaped
    code_id = shaped["access_code_id"]
    assert call("POST", "access_codes/get", access_code_id=code_id)["access_code"] == shaped

    with CaptureQueriesContext(connection) as updated:
        body = call("POST", "access_codes/update", access_code_id=code_id, name="Ana Silva", code="4827")
    assert _code_reads_after_the_attempt(updated.captured_queries) == []
    after = body["action_attempt"]["result"]["access_code"]
    assert (after["name"], after["code"]) == ("Ana Silva", "4827")
    # What the write answered is what a read answers now.
    assert call("POST", "access_codes/get", access_code_id=code_id)["access_code"] == after
