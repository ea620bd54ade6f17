"""``unknown``: Latchkey cannot tell whether the lock holds a code, says so with a warning, and
leaves it as soon as the lock answers; and a PIN changed at the keypad (issue 17)."""

from datetime import timedelta

import pytest
import time_machine

from codes import scheduler
from codes.models import AccessCode, AccessCodeStatus
from codes.selectors import access_code_issues
from codes.services.access_codes import access_code_create
from codes.services.checks import AccessCodeRequest
from devices.models import SandboxLock
from devices.providers.sandbox.models import SandboxHeldCode
from devices.services import sandbox_fleet_create, workspace_get_or_create
from tests.codes.clock import run_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def cloud(now):
    workspace = workspace_get_or_create(name="Sandbox", is_sandbox=True)
    return {d.provider_device_id: d for d in sandbox_fleet_create(workspace=workspace)}["sandbox-cloud-lock"]


def warnings(code) -> set[str]:
    return {i.code for i in access_code_issues(AccessCode.objects.get(pk=code.pk)) if i.kind == "warning"}


def test_a_send_never_answered_and_a_lock_that_cannot_be_asked_make_the_code_unknown_until_it_answers(
    cloud, now, monkeypatch
):
    code = access_code_create(device=cloud, request=AccessCodeRequest(code="4821", name="Ana Silva"))

    def killed(*args, **kwargs):  # the worker dies after the lock took the code, before the record
        raise SystemExit("worker killed")

    monkeypatch.setattr(scheduler, "_record_answers", killed)
    with pytest.raises(SystemExit):
        scheduler.sweep(now=now)
    monkeypatch.undo()
    SandboxLock.objects.filter(device=cloud).update(is_offline=True)
    retry_at = now + timedelta(minutes=5)
    with time_machine.travel(retry_at, tick=False):
        scheduler.sweep(now=retry_at)
    code.refresh_from_db()
    assert code.status == AccessCodeStatus.UNKNOWN
    assert "lock_contents_unknown" in warnings(code)
    assert code.send_in_flight  # the doubt is kept for the next attempt
    SandboxLock.objects.filter(device=cloud).update(is_offline=False)
    run_until(now + timedelta(hours=1))
    code.refresh_from_db()
    assert code.status == AccessCodeStatus.SET
    assert "lock_contents_unknown" not in warnings(code)
    assert SandboxHeldCode.objects.filter(lock__device=cloud).count() == 1  # adopted, not sent twice


def test_a_plain_failure_of_a_first_send_is_not_unknown(cloud, now):
    SandboxLock.objects.filter(device=cloud).update(is_offline=True)
    code = access_code_create(device=cloud, request=AccessCodeRequest(code="4821"))
    scheduler.sweep(now=now)
    code.refresh_from_db()
    assert code.status == AccessCodeStatus.UNSET and "lock_contents_unknown" not in warnings(code)


def test_a_pin_changed_at_the_keypad_is_recorded_shown_and_taken_by_collision_checks(cloud, now):
    from django.core.exceptions import ValidationError

    from codes.models import Event, EventType
    from devices.providers.sandbox.provider import SandboxProvider

    code = access_code_create(
        device=cloud, request=AccessCodeRequest(code="4821", name="Ana", allow_external_modification=True)
    )
    scheduler.sweep(now=now)
    code.refresh_from_db()
    SandboxProvider(cloud.connected_account).simulate_external_change(
        cloud.provider_device_id, code.provider_code_id, new_code="9999"
    )
    scheduler.check_drift(now=now + timedelta(minutes=15))
    code.refresh_from_db()
    assert code.code == "9999"  # what the lock holds, as the API and the pages show it
    event = Event.objects.get(access_code=code, event_type=EventType.MODIFIED_EXTERNAL_TO_SEAM)
    assert event.payload["code_on_lock"] == "9999"
    with pytest.raises(ValidationError) as refused:  # the lock would refuse it: so does Latchkey
        access_code_create(device=cloud, request=AccessCodeRequest(code="9999", name="Ben"))
    assert "code" in str(refused.value)
    assert access_code_create(device=cloud, request=AccessCodeRequest(code="4821", name="Ben")).pk  # freed
    # Changed again at the keypad: recorded again, and still left alone on the lock.
    SandboxProvider(cloud.connected_account).simulate_external_change(
        cloud.provider_device_id, code.provider_code_id, new_code="5555"
    )
    scheduler.check_drift(now=now + timedelta(minutes=30))
    code.refresh_from_db()
    assert code.code == "5555"
    assert Event.objects.filter(access_code=code, event_type=EventType.MODIFIED_EXTERNAL_TO_SEAM).count() == 2


def test_a_lock_unreachable_for_a_day_makes_its_codes_unknown_until_it_answers(cloud, now):
    from codes.services.history import device_issue_raise
    from devices.models import Device, IssueKind

    code = access_code_create(device=cloud, request=AccessCodeRequest(code="4821", name="Ana"))
    scheduler.sweep(now=now)
    SandboxLock.objects.filter(device=cloud).update(is_offline=True)
    device_issue_raise(
        device=Device.objects.get(pk=cloud.pk), kind=IssueKind.ERROR, code="device_offline", now=now
    )
    scheduler.check_drift(now=now + timedelta(hours=23))  # offline, but not for long: still vouched for
    assert AccessCode.objects.get(pk=code.pk).status == AccessCodeStatus.SET
    scheduler.check_drift(now=now + timedelta(hours=24))
    assert AccessCode.objects.get(pk=code.pk).status == AccessCodeStatus.UNKNOWN
    assert "lock_contents_unknown" in warnings(code)
    SandboxLock.objects.filter(device=cloud).update(is_offline=False)
    scheduler.check_drift(now=now + timedelta(hours=25))  # the lock answers: known again
    assert AccessCode.objects.get(pk=code.pk).status == AccessCodeStatus.SET
    assert "lock_contents_unknown" not in warnings(code)
