"""Devices, simulations, action attempts and events through Seam's official SDK."""

import re

import pytest
from django.core.management import call_command
from django.utils import timezone
from seam.exceptions import SeamHttpApiError

from codes.scheduler import sweep
from devices.models import ConnectedAccount, ProviderKind
from tests.devices.factories import DeviceFactory


def test_devices_list_and_get(seam, fleet):
    listed = seam.devices.list()
    assert {d.device_id for d in listed} == {str(d.pk) for d in fleet.values()}
    strict = seam.devices.get(device_id=str(fleet["strict-pins"].pk))
    assert strict.display_name == "Office strict-PIN lock"
    assert strict.can_program_online_access_codes is True
    assert "no_zeros" in [c.constraint_type for c in strict.properties.code_constraints]
    assert seam.devices.get(name="Office strict-PIN lock").device_id == strict.device_id


def test_devices_update_renames(seam, fleet):
    lock = fleet["cloud-lock"]
    seam.devices.update(device_id=str(lock.pk), name="Kitchen door")
    assert seam.devices.get(device_id=str(lock.pk)).display_name == "Kitchen door"


def test_simulated_disconnect_shows_on_the_device_and_its_codes_until_it_reconnects(seam, fleet):
    lock = fleet["keypad-deadbolt"]
    code = seam.access_codes.create(device_id=str(lock.pk), name="Guest")
    seam.devices.simulate.disconnect(device_id=str(lock.pk))
    device = seam.devices.get(device_id=str(lock.pk))
    assert device.properties.online is False
    assert [e.error_code for e in device.errors] == ["device_offline"]
    assert [e.error_code for e in seam.access_codes.get(access_code_id=code.access_code_id).errors] == [
        "device_offline"
    ]
    sweep(now=timezone.now())  # the lock is unreachable: the code stays unset
    assert seam.access_codes.get(access_code_id=code.access_code_id).status != "set"

    seam.devices.simulate.connect(device_id=str(lock.pk))
    assert seam.devices.get(device_id=str(lock.pk)).errors == []
    sweep(now=timezone.now())
    assert seam.access_codes.get(access_code_id=code.access_code_id).status == "set"


def test_simulated_removal(seam, fleet):
    lock = fleet["cloud-lock"]
    seam.devices.simulate.remove(device_id=str(lock.pk))
    assert "device_removed" in [e.error_code for e in seam.devices.get(device_id=str(lock.pk)).errors]


def test_simulate_routes_refuse_real_locks(seam, workspace):
    account = ConnectedAccount.objects.create(workspace=workspace, provider=ProviderKind.SEAM)
    real = DeviceFactory(workspace=workspace, connected_account=account)
    with pytest.raises(SeamHttpApiError) as refused:
        seam.devices.simulate.disconnect(device_id=str(real.pk))
    assert refused.value.status_code == 400 and refused.value.code == "not_a_sandbox_device"
    real.refresh_from_db()
    assert real.is_online is True


def test_action_attempts_get_and_list(seam, http, fleet):
    lock = fleet["keypad-deadbolt"]
    code = seam.access_codes.create(device_id=str(lock.pk))
    deleted = http.delete("/access_codes/delete", params={"access_code_id": code.access_code_id}).json()
    attempt_id = deleted["action_attempt"]["action_attempt_id"]
    attempt = seam.action_attempts.get(action_attempt_id=attempt_id)
    assert (attempt.action_type, attempt.status) == ("DELETE_ACCESS_CODE", "success")
    listed = seam.action_attempts.list(action_attempt_ids=[attempt_id])
    assert [a.action_attempt_id for a in listed] == [attempt_id]


def test_events_filters(seam, fleet):
    a = seam.access_codes.create(device_id=str(fleet["keypad-deadbolt"].pk))
    b = seam.access_codes.create(device_id=str(fleet["cloud-lock"].pk))
    seam.access_codes.delete(access_code_id=b.access_code_id)

    only_a = seam.events.list(access_code_id=a.access_code_id)
    assert {e.access_code_id for e in only_a} == {a.access_code_id}
    deletions = seam.events.list(event_types=["access_code.deleted"])
    assert [e.access_code_id for e in deletions] == [b.access_code_id]
    since_future = seam.events.list(since="2099-01-01T00:00:00Z")
    assert since_future == []
    both_devices = seam.events.list(
        device_ids=[str(fleet["keypad-deadbolt"].pk), str(fleet["cloud-lock"].pk)]
    )
    assert len(both_devices) == 3
    one = seam.events.get(event_id=deletions[0].event_id)
    assert one.event_type == "access_code.deleted"


def test_openapi_schema_validates_and_is_served(http, api_url, tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    schema = (tmp_path / "schema.yml").read_text()
    assert "/api/access_codes/create:" in schema and "workspaceApiKey" in schema
    assert http.get("/schema/").status_code == 200
    docs = http.get("/docs/")
    assert docs.status_code == 200 and "swagger-ui" in docs.text.lower()
    # Served from Latchkey's own static files (drf-spectacular-sidecar), start-up script included:
    # nothing from another site, nothing inline.
    sources = re.findall(r'<(?:script|link)\b[^>]*(?:src|href)="([^"]+)"', docs.text)
    assert sources and all(src.startswith("/") for src in sources), sources
    assert "<script>" not in docs.text
    startup = http.get("/docs/", params={"script": ""})
    assert startup.status_code == 200 and "SwaggerUIBundle" in startup.text
