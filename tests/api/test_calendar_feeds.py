"""``/api/latchkey/calendar_feeds/*`` over real HTTP against a live server, and the code's API
object (read by Seam's SDK) showing the booking a code was made for."""

from datetime import date

import pytest

from devices.models import Property
from tests.calendars import feeds as ics
from tests.calendars.conftest import Answer, CalendarServer

BODY = ics.airbnb(
    ics.airbnb_reservation("a1", date(2030, 12, 1), date(2030, 12, 4), code="HMABCD1234", phone4="4821"),
)


@pytest.fixture
def calendar_server():
    server = CalendarServer()
    yield server
    server.close()


@pytest.fixture
def doors(workspace, fleet):
    prop = Property.objects.create(workspace=workspace, name="Harbour View", time_zone="Europe/Lisbon")
    chosen = [fleet["keypad-deadbolt"], fleet["cloud-lock"]]
    for d in chosen:
        d.property = prop
        d.save(update_fields=["property"])
    return chosen


def test_create_sync_get_list_update_delete(http, seam, doors, calendar_server):
    url = calendar_server.serve("/a.ics", BODY)
    created = http.post(
        "/latchkey/calendar_feeds/create",
        json={
            "url": url,
            "name": "Airbnb",
            "device_ids": [str(d.pk) for d in doors],
            "early_check_in_minutes": 60,
        },
    )
    assert created.status_code == 200, created.text
    feed = created.json()["calendar_feed"]
    assert feed["name"] == "Airbnb" and feed["early_check_in_minutes"] == 60
    assert feed["device_ids"] == sorted(str(d.pk) for d in doors)
    feed_id = feed["calendar_feed_id"]

    synced = http.post("/latchkey/calendar_feeds/sync", json={"calendar_feed_id": feed_id}).json()
    assert synced["ok"] and synced["sync"]["ok"]
    assert synced["sync"]["stays_created"] == ["a1@airbnb.com"]
    assert synced["calendar_feed"]["last_success_at"] is not None

    codes = seam.access_codes.list(device_id=str(doors[0].pk))
    assert [c.name for c in codes] == ["Airbnb HMABCD1234"]
    raw = http.get("/access_codes/get", params={"access_code_id": codes[0].access_code_id}).json()[
        "access_code"
    ]
    assert raw["latchkey_calendar_booking"]["calendar_feed_id"] == feed_id
    assert raw["latchkey_calendar_booking"]["uid"] == "a1@airbnb.com"

    assert (
        http.get("/latchkey/calendar_feeds/get", params={"calendar_feed_id": feed_id}).json()[
            "calendar_feed"
        ]["calendar_feed_id"]
        == feed_id
    )
    listed = http.get("/latchkey/calendar_feeds/list").json()["calendar_feeds"]
    assert [f["calendar_feed_id"] for f in listed] == [feed_id]

    updated = http.patch(
        "/latchkey/calendar_feeds/update", json={"calendar_feed_id": feed_id, "name": "Airbnb (loft)"}
    )
    assert updated.json()["calendar_feed"]["name"] == "Airbnb (loft)"

    calendar_server.answer("/a.ics", Answer(status=500, body=b"down"))
    failed = http.post("/latchkey/calendar_feeds/sync", json={"calendar_feed_id": feed_id}).json()
    assert failed["ok"] and not failed["sync"]["ok"] and "HTTP 500" in failed["sync"]["error"]
    assert len(seam.access_codes.list(device_id=str(doors[0].pk))) == 1

    assert http.delete("/latchkey/calendar_feeds/delete", params={"calendar_feed_id": feed_id}).json() == {
        "ok": True
    }
    missing = http.get("/latchkey/calendar_feeds/get", params={"calendar_feed_id": feed_id})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "calendar_feed_not_found"


def test_create_names_every_wrong_field(http, doors, fleet, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_URLS = False
    loose = fleet["strict-pins"]  # a door of no property
    answer = http.post(
        "/latchkey/calendar_feeds/create",
        json={
            "url": "http://127.0.0.1/x.ics",
            "name": "",
            "device_ids": [str(doors[0].pk), str(loose.pk)],
            "late_check_out_minutes": -5,
        },
    )
    assert answer.status_code == 400
    errors = answer.json()["error"]["validation_errors"]
    assert set(errors) - {"_errors"} == {"late_check_out_minutes"}  # the shape check comes first
    answer = http.post(
        "/latchkey/calendar_feeds/create",
        json={"url": "http://127.0.0.1/x.ics", "name": "", "device_ids": [str(doors[0].pk), str(loose.pk)]},
    )
    errors = answer.json()["error"]["validation_errors"]
    assert set(errors) - {"_errors"} == {"url", "name", "device_ids"}
    assert "private, loopback" in errors["url"]["_errors"][0]
    assert "property" in errors["device_ids"]["_errors"][0]


def test_another_workspaces_feed_answers_404(http, api_url):
    import uuid

    answer = http.post("/latchkey/calendar_feeds/sync", json={"calendar_feed_id": str(uuid.uuid4())})
    assert answer.status_code == 404
