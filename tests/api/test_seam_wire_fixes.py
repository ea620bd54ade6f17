"""What checking Latchkey against Seam's OpenAPI document found, one test each: the wire answers
in Seam's envelope everywhere, refuses what Seam would, and takes what Seam documents."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from codes.models import AccessCode, Event
from devices.models import Device, Property


def _window(days=3):
    start = (timezone.now() + timedelta(days=days)).replace(microsecond=0)
    return start.isoformat(), (start + timedelta(days=2)).isoformat()


def _error(response, status, error_type):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False and body["error"]["type"] == error_type, body
    return body["error"]


def _code(http, lock, pin="5731", **extra):
    starts_at, ends_at = _window()
    body = {"device_id": lock, "code": pin, "name": "Guest", "starts_at": starts_at, "ends_at": ends_at}
    response = http.post("/access_codes/create", json={**body, **extra})
    assert response.status_code == 200, response.text
    return response.json()


# --- Routes Latchkey lacks --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "GET"])
def test_a_route_latchkey_lacks_answers_seams_envelope_whatever_the_method(http, method):
    response = http.request(method, "/devices/simulate/paid_subscription", json={"device_id": "x"})
    error = _error(response, 404, "route_not_found")
    assert response.headers["content-type"] == "application/json"
    assert error["request_id"] == response.headers["seam-request-id"]


# --- Shapes -------------------------------------------------------------------------------------


def test_pending_mutations_say_what_the_lock_still_lacks(http, fleet):
    lock = str(fleet["cloud-lock"].pk)
    code = _code(http, lock)["access_code"]
    assert [m["mutation_code"] for m in code["pending_mutations"]] in (["creating"], ["deferring_creation"])
    AccessCode.objects.filter(pk=code["access_code_id"]).update(sent_version=1, status="set")
    got = http.get("/access_codes/get", params={"access_code_id": code["access_code_id"]}).json()
    assert got["access_code"]["pending_mutations"] == []
    http.post("/access_codes/delete", json={"access_code_id": code["access_code_id"]})
    # A deleted code still on the lock is no longer shown; its row says it is being removed.
    assert AccessCode.objects.get(pk=code["access_code_id"]).status == "removing"


def test_generate_code_answers_a_whole_access_code(http, fleet):
    lock = str(fleet["keypad-deadbolt"].pk)
    generated = http.get("/access_codes/generate_code", params={"device_id": lock}).json()["generated_code"]
    assert generated["device_id"] == lock and generated["code"].isdigit()
    assert generated["is_managed"] is True and generated["pending_mutations"] == []
    assert not AccessCode.objects.exists()  # nothing is stored until the code is created


def test_deleting_an_unmanaged_code_answers_an_action_attempt(http, fleet):
    lock = str(fleet["keypad-deadbolt"].pk)
    made = http.post(
        "/access_codes/simulate/create_unmanaged_access_code",
        json={"device_id": lock, "code": "9051", "name": "Cleaner"},
    ).json()["access_code"]
    deleted = http.post("/access_codes/unmanaged/delete", json={"access_code_id": made["access_code_id"]})
    assert deleted.json()["action_attempt"]["action_type"] == "DELETE_ACCESS_CODE"
    assert deleted.json()["action_attempt"]["status"] == "success"


def test_devices_have_space_ids_and_leave_out_what_is_unknown(http, workspace, fleet):
    lock = fleet["cloud-lock"]
    Device.objects.filter(pk=lock.pk).update(battery_level=None, pin_forbids_sequences=True)
    shown = http.get("/devices/get", params={"device_id": str(lock.pk)}).json()["device"]
    assert shown["space_ids"] == []
    assert "location" not in shown and "battery_level" not in shown["properties"]
    assert {"constraint_type": "no_ascending_or_descending_sequence"} in shown["properties"][
        "code_constraints"
    ]
    home = Property.objects.create(workspace=workspace, name="Harbour House", time_zone="Europe/Lisbon")
    Device.objects.filter(pk=lock.pk).update(property=home, battery_level=0.5)
    shown = http.get("/devices/get", params={"device_id": str(lock.pk)}).json()["device"]
    assert shown["space_ids"] == [str(home.pk)] and shown["properties"]["battery_level"] == 0.5


def test_events_carry_the_code_and_changed_properties(http, fleet):
    lock = str(fleet["keypad-deadbolt"].pk)
    code_id = _code(http, lock, pin="5731")["access_code"]["access_code_id"]
    http.patch("/access_codes/update", json={"access_code_id": code_id, "code": "5732"})
    http.post("/access_codes/delete", json={"access_code_id": code_id})
    events = http.get("/events/list", params={"access_code_id": code_id}).json()["events"]
    by_type = {e["event_type"]: e for e in events}
    changed = by_type["access_code.changed"]
    assert "changed" not in changed
    assert {"property": "code", "from": "5731", "to": "5732"} in changed["changed_properties"]
    assert by_type["access_code.deleted"]["code"] == "5732"


def test_the_create_action_attempt_carries_the_access_code(http, fleet):
    made = _code(http, str(fleet["keypad-deadbolt"].pk))
    assert (
        made["action_attempt"]["result"]["access_code"]["access_code_id"]
        == made["access_code"]["access_code_id"]
    )
    got = http.get(
        "/action_attempts/get", params={"action_attempt_id": made["action_attempt"]["action_attempt_id"]}
    )
    assert got.json()["action_attempt"]["result"]["access_code"]["code"] == "5731"


# --- Wrong inputs refused -----------------------------------------------------------------------


def test_booleans_and_numbers_are_not_uuids(http):
    error = _error(
        http.post("/access_codes/unmanaged/update", json={"access_code_id": False, "is_managed": True}),
        400,
        "invalid_input",
    )
    assert error["validation_errors"]["access_code_id"]["_errors"] == ["must be a UUID string."]
    _error(http.post("/action_attempts/list", json={"device_id": True}), 400, "invalid_input")
    _error(http.post("/devices/get", json={"device_id": 42}), 400, "invalid_input")


def test_unmanaged_update_to_unmanaged_needs_a_code_that_exists(http):
    missing = {"access_code_id": "9b0e1b5e-2f43-4c3b-9a51-39d7f8b7d1f1", "is_managed": False}
    _error(http.post("/access_codes/unmanaged/update", json=missing), 404, "access_code_not_found")


def test_integers_must_be_json_integers(http, fleet):
    lock = str(fleet["keypad-deadbolt"].pk)
    for length in ("6", 6.0):
        body = {"device_id": lock, "name": "Guest", "preferred_code_length": length}
        error = _error(http.post("/access_codes/create", json=body), 400, "invalid_input")
        assert "preferred_code_length" in error["validation_errors"]
    body = {"device_id": lock, "supported_code_lengths": ["4"]}
    _error(http.post("/access_codes/report_device_constraints", json=body), 400, "invalid_input")
    assert not AccessCode.objects.exists()
    # A query string's digits are still an integer.
    assert http.get("/access_codes/list", params={"device_id": lock, "limit": "5"}).status_code == 200


def test_a_key_given_twice_is_refused(http, fleet):
    lock = str(fleet["keypad-deadbolt"].pk)
    raw = f'{{"device_id":"{lock}","code":"73918456","code":"73918457"}}'
    response = http.post("/access_codes/create", content=raw, headers={"content-type": "application/json"})
    assert "given more than once" in _error(response, 400, "invalid_input")["message"]
    assert not AccessCode.objects.exists()


def test_a_deeply_nested_body_is_bad_input_not_a_server_error(http):
    response = http.post(
        "/access_codes/get", content="[" * 100_000, headers={"content-type": "application/json"}
    )
    _error(response, 400, "invalid_input")


# --- Seam's inputs accepted ---------------------------------------------------------------------


def test_update_takes_put_and_seams_documented_parameters(http, fleet):
    code_id = _code(http, str(fleet["keypad-deadbolt"].pk))["access_code"]["access_code_id"]
    body = {
        "access_code_id": code_id,
        "name": "Ana",
        "is_offline_access_code": False,
        "use_offline_access_code": False,
        "is_one_time_use": False,
    }
    assert http.put("/access_codes/update", json=body).status_code == 200
    assert AccessCode.objects.get(pk=code_id).name == "Ana"
    error = _error(
        http.put("/access_codes/update", json={**body, "is_one_time_use": True}), 400, "invalid_input"
    )
    assert "fixed when the code is made" in error["validation_errors"]["is_one_time_use"]["_errors"][0]


def test_devices_update_takes_custom_metadata_and_a_null_name(http, fleet):
    lock = str(fleet["cloud-lock"].pk)
    body = {"device_id": lock, "custom_metadata": {"unit": "12B", "vip": True}, "properties": {"name": None}}
    assert http.patch("/devices/update", json=body).status_code == 200, body
    http.patch("/devices/update", json={"device_id": lock, "custom_metadata": {"vip": None}})
    shown = http.get("/devices/get", params={"device_id": lock}).json()["device"]
    assert shown["custom_metadata"] == {"unit": "12B"}
    bad = {"device_id": lock, "custom_metadata": {"a__contains": "x"}}
    _error(http.patch("/devices/update", json=bad), 400, "invalid_input")


def test_devices_list_takes_seams_filters(http, workspace, fleet):
    lock = fleet["cloud-lock"]
    home = Property.objects.create(workspace=workspace, name="Harbour House", time_zone="Europe/Lisbon")
    Device.objects.filter(pk=lock.pk).update(property=home, custom_metadata={"unit": "12B"})
    listed = http.post("/devices/list", json={"custom_metadata_has": {"unit": "12B"}}).json()["devices"]
    assert [d["device_id"] for d in listed] == [str(lock.pk)]
    listed = http.get("/devices/list", params={"space_id": str(home.pk)}).json()["devices"]
    assert [d["device_id"] for d in listed] == [str(lock.pk)]
    webview = {"connect_webview_id": "9b0e1b5e-2f43-4c3b-9a51-39d7f8b7d1f1"}
    assert http.post("/devices/list", json=webview).json()["devices"] == []


def test_a_limit_above_the_page_size_gets_a_full_page_and_a_cursor(http, fleet):
    listed = http.get("/devices/list", params={"limit": "55000"})
    assert listed.status_code == 200 and len(listed.json()["devices"]) == len(fleet)
    lock = str(fleet["keypad-deadbolt"].pk)
    assert (
        http.post("/access_codes/unmanaged/list", json={"device_id": lock, "limit": 300_000}).status_code
        == 200
    )


def test_webhooks_take_every_event_type_as_a_star(http):
    made = http.post("/webhooks/create", json={"url": "http://127.0.0.1:9/hook", "event_types": ["*"]})
    assert made.status_code == 200, made.text
    assert "access_code.created" in made.json()["webhook"]["event_types"]


def test_events_list_takes_any_seam_event_type(http):
    listed = http.get("/events/list", params={"event_types": ["lock.unlocked", "access_code.created"]})
    assert listed.status_code == 200 and listed.json()["events"] == []
    _error(http.get("/events/list", params={"event_type": "not a type"}), 400, "invalid_input")


# --- Operations added ---------------------------------------------------------------------------


def test_hub_simulations_put_the_hub_fault_on_the_lock_and_write_device_events(http, fleet):
    lock = str(fleet["cloud-lock"].pk)
    assert http.post("/devices/simulate/disconnect_from_hub", json={"device_id": lock}).status_code == 200
    shown = http.get("/devices/get", params={"device_id": lock}).json()["device"]
    assert "hub_disconnected" in [e["error_code"] for e in shown["errors"]]
    assert fleet["cloud-lock"].sandbox.__class__.objects.get(device_id=lock).hub_disconnected is True
    assert http.post("/devices/simulate/connect_to_hub", json={"device_id": lock}).status_code == 200
    shown = http.get("/devices/get", params={"device_id": lock}).json()["device"]
    assert "hub_disconnected" not in [e["error_code"] for e in shown["errors"]]
    types = list(
        Event.objects.filter(device_id=lock).order_by("occurred_at").values_list("event_type", flat=True)
    )
    assert types == ["device.disconnected", "device.connected"]
    disconnected = http.get("/events/list", params={"device_id": lock, "event_type": "device.disconnected"})
    assert disconnected.json()["events"][0]["error_code"] == "hub_disconnected"


@pytest.mark.parametrize(
    ("route", "event_type"),
    [("disconnect", "device.disconnected"), ("connect", "device.connected"), ("remove", "device.removed")],
)
def test_device_simulations_write_seams_device_events(http, fleet, route, event_type):
    lock = str(fleet["keypad-deadbolt"].pk)
    assert http.post(f"/devices/simulate/{route}", json={"device_id": lock}).status_code == 200
    assert Event.objects.filter(device_id=lock, event_type=event_type).count() == 1


def test_get_timeline_tells_a_codes_life_oldest_first(http, fleet):
    code_id = _code(http, str(fleet["keypad-deadbolt"].pk))["access_code"]["access_code_id"]
    http.patch("/access_codes/update", json={"access_code_id": code_id, "name": "Ana"})
    timeline = http.get("/access_codes/get_timeline", params={"access_code_id": code_id}).json()
    assert [e["event_type"] for e in timeline["timeline_events"]][:2] == [
        "access_code.created",
        "access_code.changed",
    ]
    assert timeline["pagination"]["has_more"] is False
    one = http.post("/access_codes/get_timeline", json={"access_code_id": code_id, "limit": 1}).json()
    assert len(one["timeline_events"]) == 1 and one["pagination"]["has_more"] is True
    assert json.dumps(timeline)  # plain JSON throughout
