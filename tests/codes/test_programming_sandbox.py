"""Each sandbox failure mode, pushed through the real provider: the catalog codes and remedies it
produces on the code, that the code is never lost, and that it recovers once the fault clears."""

import time
from datetime import timedelta

import pytest

from codes import catalog
from codes.models import AccessCode, AccessCodeStatus, Event, EventType
from codes.programming import access_code_push
from codes.selectors import access_code_issues
from codes.services.access_codes import access_code_create, access_code_delete, access_code_update
from codes.services.checks import AccessCodeRequest
from devices.models import Device, SandboxLock
from devices.providers.sandbox.models import SandboxCommand, SandboxHeldCode
from devices.providers.sandbox.provider import SandboxProvider
from devices.services import sandbox_fleet_create, workspace_get_or_create

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


@pytest.fixture
def fleet(now):
    workspace = workspace_get_or_create(name="Sandbox", is_sandbox=True)
    return {d.provider_device_id: d for d in sandbox_fleet_create(workspace=workspace)}


@pytest.fixture
def cloud_lock(fleet):
    return fleet["sandbox-cloud-lock"]


def switch(device: Device, **faults) -> None:
    SandboxLock.objects.filter(device=device).update(**faults)


def push(code: AccessCode, now):
    outcome = access_code_push(code, now=now)
    code.refresh_from_db()
    return outcome


def issue_codes(code: AccessCode) -> dict[str, str]:
    """Active error/warning codes on the code (own and inherited), each with its remedy."""
    return {issue.code: issue.remedy for issue in access_code_issues(code)}


def held(device: Device) -> list[str]:
    return list(SandboxHeldCode.objects.filter(lock__device=device).values_list("code", flat=True))


def test_an_ongoing_code_is_set_on_the_lock(cloud_lock, now):
    code = access_code_create(device=cloud_lock, request=AccessCodeRequest(code="4821", name="Cleaner"))
    push(code, now)
    assert code.status == AccessCodeStatus.SET
    assert code.provider_code_id
    assert held(cloud_lock) == ["4821"]
    assert Event.objects.filter(access_code=code, event_type=EventType.SET_ON_DEVICE).count() == 1
    assert code.next_attempt_at is None


def test_a_natively_scheduled_code_is_loaded_ahead_and_stays_unset_until_it_starts(fleet, now):
    deadbolt = fleet["sandbox-keypad-deadbolt"]
    code = access_code_create(
        device=deadbolt,
        request=AccessCodeRequest(code="4821", starts_at=now + 5 * DAY, ends_at=now + 7 * DAY),
    )
    push(code, now)
    assert (code.status, code.is_scheduled_on_device) == (AccessCodeStatus.UNSET, True)
    assert code.next_attempt_at == now + 5 * DAY
    assert SandboxHeldCode.objects.get(lock__device=deadbolt).starts_at == now + 5 * DAY
    push(code, now + 5 * DAY)
    assert code.status == AccessCodeStatus.SET
    events = list(Event.objects.filter(access_code=code).values_list("event_type", flat=True))
    assert events.count(EventType.SCHEDULED_ON_DEVICE) == 1 and events.count(EventType.SET_ON_DEVICE) == 1


# --- Transient faults: flagged with their remedy, retried, cleared on recovery ------------------


@pytest.mark.parametrize(
    ("fault", "lock_error"),
    [
        ("is_offline", "device_offline"),
        ("hub_disconnected", "hub_disconnected"),
        ("bridge_disconnected", "bridge_disconnected"),
    ],
)
def test_an_unreachable_lock_flags_the_code_retries_and_recovers(cloud_lock, now, fault, lock_error):
    code = access_code_create(device=cloud_lock, request=AccessCodeRequest(code="4821"))
    switch(cloud_lock, **{fault: True})
    push(code, now)
    issues = issue_codes(code)
    assert set(issues) == {lock_error, "failed_to_set_on_device"}
    assert issues[lock_error] == catalog.error(lock_error).remedy
    assert code.status == AccessCodeStatus.UNSET
    assert now + timedelta(seconds=15) <= code.next_attempt_at <= now + timedelta(seconds=30)
    assert AccessCode.objects.live().filter(pk=code.pk).exists()
    assert Event.objects.filter(access_code=code, event_type=EventType.FAILED_TO_SET_ON_DEVICE).count() == 1

    push(code, now + timedelta(minutes=1))  # still down: backs off further, no second event
    assert code.attempt_count == 2
    assert code.next_attempt_at - (now + timedelta(minutes=1)) >= timedelta(seconds=30)
    assert Event.objects.filter(access_code=code, event_type=EventType.FAILED_TO_SET_ON_DEVICE).count() == 1

    switch(cloud_lock, **{fault: False})
    push(code, now + timedelta(minutes=3))
    assert code.status == AccessCodeStatus.SET
    assert issue_codes(code) == {}
    assert held(cloud_lock) == ["4821"]


def test_the_retry_delay_is_capped_at_thirty_minutes(cloud_lock, now):
    code = access_code_create(device=cloud_lock, request=AccessCodeRequest(code="4821"))
    switch(cloud_lock, is_offline=True)
    moment = now
    for _ in range(12):
        push(code, moment)
        moment = code.next_attempt_at
    assert code.next_attempt_at - moment <= timedelta(minutes=30)
    gaps = []
    for _ in range(3):
        before = moment
        push(code, moment)
        moment = code.next_attempt_at
        gaps.append(moment - before)
    assert all(timedelta(minutes=15) <= gap <= timedelta(minutes=30) for gap in gaps)


def test_a_programming_delay_leaves_the_code_setting_with_a_warning(cloud_lock, now):
    code = access_code_create(device=cloud_lock, request=AccessCodeRequest(code="4821"))
    switch(cloud_lock, delays_programming=True)
    push(code, now)
    assert code.status == AccessCodeStatus.SETTING
    assert set(issue_codes(code)) == {"august_device_programming_delay"}
    assert code.next_attempt_at == now + timedelta(minutes=2)
    switch(cloud_lock, delays_programming=False)
    push(code, now + timedelta(minutes=2))
    assert code.status == AccessCodeStatus.SET
    assert issue_codes(code) == {}
    assert held(cloud_lock) == ["4821"]  # updated in place, not programmed twice


# --- Permanent refusals: flagged with their remedy, waiting for a change -----------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("slots_full", "no_space_for_access_code_on_device"),
        ("rejects_pin_format", "august_lock_bad_access_code_format"),
        ("reports_duplicate_pin", "duplicate_code_on_device"),
        ("is_removed", "device_removed"),
    ],
)
def test_a_refusal_flags_the_code_and_waits_for_a_change(cloud_lock, now, fault, error):
    code = access_code_create(device=cloud_lock, request=AccessCodeRequest(code="4821"))
    switch(cloud_lock, **{fault: True})
    push(code, now)
    issues = issue_codes(code)
    assert error in issues
    assert issues[error] == catalog.error(error).remedy
    assert code.next_attempt_at is None  # no blind retry
    assert code.status == AccessCodeStatus.UNSET
    assert AccessCode.objects.live().filter(pk=code.pk).exists()
    switch(cloud_lock, **{fault: False})
    access_code_update(access_code=code, code="4822", now=now + DAY)  # the change it waited for
    code.refresh_from_db()
    assert code.next_attempt_at == now + DAY
    push(code, now + DAY)
    assert code.status == AccessCodeStatus.SET
    assert not [c for c in issue_codes(code) if c != "device_removed"]


def test_a_lock_whose_memory_is_full_refuses_the_next_code(fleet, now):
    small = fleet["sandbox-small-memory"]
    codes = [access_code_create(device=small, request=AccessCodeRequest(code=f"48219{n}")) for n in range(4)]
    for code in codes:
        push(code, now)
    assert [c.status for c in codes] == [AccessCodeStatus.SET] * 3 + [AccessCodeStatus.UNSET]
    assert "no_space_for_access_code_on_device" in issue_codes(codes[3])
    assert len(held(small)) == 3


def test_a_lock_without_keypad_refuses_until_one_is_connected(fleet, now):
    gate = fleet["sandbox-no-keypad"]
    code = access_code_create(device=gate, request=AccessCodeRequest(code="4821"))
    push(code, now)
    assert "august_lock_missing_keypad" in issue_codes(code)
    assert code.next_attempt_at is None
    Device.objects.filter(pk=gate.pk).update(accessory_keypad_connected=True)
    code.refresh_from_db()
    push(code, now)
    assert code.status == AccessCodeStatus.SET


def test_a_pin_already_on_the_lock_outside_latchkey_is_a_duplicate(cloud_lock, now):
    SandboxProvider(cloud_lock.connected_account).simulate_unmanaged_code(
        cloud_lock.provider_device_id, code="4821"
    )
    code = access_code_create(device=cloud_lock, request=AccessCodeRequest(code="4821"))
    push(code, now)
    assert "duplicate_code_on_device" in issue_codes(code)


# --- Removal ---------------------------------------------------------------------------------------


def test_a_deleted_code_comes_off_the_lock(cloud_lock, now):
    code = access_code_create(device=cloud_lock, request=AccessCodeRequest(code="4821"))
    push(code, now)
    access_code_delete(access_code=code, now=now)
    code.refresh_from_db()
    assert code.status == AccessCodeStatus.REMOVING
    push(code, now)
    assert code.status == AccessCodeStatus.UNSET and held(cloud_lock) == []
    assert Event.objects.filter(access_code=code, event_type=EventType.REMOVED_FROM_DEVICE).count() == 1


def test_a_removal_failure_is_flagged_and_retried_until_it_works(cloud_lock, now):
    code = access_code_create(
        device=cloud_lock, request=AccessCodeRequest(code="4821", starts_at=now, ends_at=now + DAY)
    )
    push(code, now)
    switch(cloud_lock, fails_removal=True)
    push(code, now + DAY)
    assert "failed_to_remove_from_device" in issue_codes(code)
    assert code.next_attempt_at is not None and code.deleted_at is None
    assert held(cloud_lock) == ["4821"]
    switch(cloud_lock, fails_removal=False)
    push(code, code.next_attempt_at)
    assert held(cloud_lock) == []
    assert code.deleted_at is not None  # a finished code leaves the API once it is off the lock
    assert issue_codes(code) == {}


def test_outside_changes_show_on_the_lock_listing(cloud_lock, now):
    provider = SandboxProvider(cloud_lock.connected_account)
    code = access_code_create(device=cloud_lock, request=AccessCodeRequest(code="4821"))
    push(code, now)
    provider.simulate_external_change(cloud_lock.provider_device_id, code.provider_code_id, new_code="9999")
    assert [h.code for h in provider.list_codes(cloud_lock.provider_device_id)] == ["9999"]
    provider.simulate_external_delete(cloud_lock.provider_device_id, code.provider_code_id)
    assert provider.list_codes(cloud_lock.provider_device_id) == []
    push(code, now)  # Latchkey sets it again
    assert held(cloud_lock) == ["4821"]


# --- Offline codes ---------------------------------------------------------------------------------


def test_an_offline_code_is_assigned_by_the_lock_algorithm_and_opens_only_in_its_window(fleet, now):
    from devices.providers.sandbox import offline

    lock = fleet["sandbox-offline-lock"]
    code = access_code_create(
        device=lock,
        request=AccessCodeRequest(is_offline_access_code=True, starts_at=now + DAY, ends_at=now + 3 * DAY),
    )
    push(code, now)
    assert code.code and len(code.code) == offline.PIN_LENGTH and not code.is_waiting_for_code_assignment
    assert code.is_scheduled_on_device
    secret = Device.objects.get(pk=lock.pk).offline_code_secret
    opens = lambda at: offline.lock_accepts(secret, code.code, at, daily_rounding=True, one_time=False)  # noqa: E731
    assert opens(now + 2 * DAY)
    assert not opens(now - DAY)
    assert not opens(now + 5 * DAY)
    assert not SandboxCommand.objects.filter(lock__device=lock).exists()  # nothing was sent to the lock


def test_the_fleet_records_every_command_it_receives(cloud_lock, now):
    code = access_code_create(device=cloud_lock, request=AccessCodeRequest(code="4821"))
    switch(cloud_lock, is_offline=True)
    push(code, now)
    switch(cloud_lock, is_offline=False)
    push(code, now)
    commands = list(
        SandboxCommand.objects.filter(lock__device=cloud_lock).values_list("action", "result", "errors")
    )
    assert commands == [
        ("set", "failed", ["device_offline", "failed_to_set_on_device"]),
        ("set", "confirmed", []),
    ]


# --- Confirmation by polling -------------------------------------------------------------------


def test_an_unconfirmed_code_is_asked_about_not_sent_twice(cloud_lock, now):
    switch(cloud_lock, confirmation_delay_seconds=90)
    code = access_code_create(device=cloud_lock, request=AccessCodeRequest(code="4821"))
    push(code, now)
    assert code.status == AccessCodeStatus.SETTING
    push(code, now + timedelta(seconds=30))  # not confirmed yet
    assert code.status == AccessCodeStatus.SETTING
    push(code, now + timedelta(minutes=2))
    assert code.status == AccessCodeStatus.SET
    sent = SandboxCommand.objects.filter(lock__device=cloud_lock).values_list("action", flat=True)
    assert list(sent) == ["set"]


def test_a_code_changed_while_unconfirmed_is_sent_again(cloud_lock, now):
    switch(cloud_lock, confirmation_delay_seconds=90)
    code = access_code_create(device=cloud_lock, request=AccessCodeRequest(code="4821"))
    push(code, now)
    code = access_code_update(access_code=code, code="4822", now=now)
    push(code, now)
    assert list(SandboxCommand.objects.filter(lock__device=cloud_lock).values_list("action", "code")) == [
        ("set", "4821"),
        ("update", "4822"),
    ]
    assert held(cloud_lock) == ["4822"]


def test_a_code_the_lock_lost_before_confirming_is_set_again(cloud_lock, now):
    switch(cloud_lock, confirmation_delay_seconds=90)
    code = access_code_create(device=cloud_lock, request=AccessCodeRequest(code="4821"))
    push(code, now)
    SandboxProvider(cloud_lock.connected_account).simulate_external_delete(
        cloud_lock.provider_device_id, code.provider_code_id
    )
    push(code, now + timedelta(minutes=2))
    assert held(cloud_lock) == ["4821"]
    assert [a for (a,) in SandboxCommand.objects.filter(lock__device=cloud_lock).values_list("action")] == [
        "set",
        "set",
    ]


def test_a_provider_crash_becomes_a_retryable_error_on_the_code(cloud_lock, now, monkeypatch):
    code = access_code_create(device=cloud_lock, request=AccessCodeRequest(code="4821"))

    def broken(self, provider_device_id, spec):
        raise ConnectionResetError("peer went away")

    monkeypatch.setattr(SandboxProvider, "set_code", broken)
    outcome = push(code, now)
    assert outcome.transient
    assert set(issue_codes(code)) == {"failed_to_set_on_device"}
    assert code.next_attempt_at is not None
    assert AccessCode.objects.live().filter(pk=code.pk).exists()


def test_a_slow_lock_answers_after_its_response_delay_with_the_work_already_kept(cloud_lock, now):
    switch(cloud_lock, response_delay_ms=150)
    code = access_code_create(device=cloud_lock, request=AccessCodeRequest(code="4821"))
    started = time.monotonic()
    push(code, now)
    assert time.monotonic() - started >= 0.15
    assert held(cloud_lock) == ["4821"]
    assert code.status == AccessCodeStatus.SET
