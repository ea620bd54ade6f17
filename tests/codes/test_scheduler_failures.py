"""Failures that must never be silent, refusals that speak for the whole lock, and reachability
errors that only the lock itself can clear: judged from the sandbox lock's side, under a
controlled clock."""

from datetime import timedelta

import pytest
import time_machine

from codes import catalog, scheduler
from codes.models import AccessCode, AccessCodeStatus, Event, EventType
from codes.pages import Readiness, readiness
from codes.selectors import Weight, access_code_issues
from codes.services import ledger as code_ledger
from codes.services.access_codes import access_code_create, access_code_delete
from codes.services.checks import AccessCodeRequest
from codes.services.reports import device_connection_record
from devices.models import Device, DeviceIssue, IssueKind, SandboxLock
from devices.providers.sandbox import provider as sandbox_provider
from devices.providers.sandbox.models import SandboxCommand, SandboxHeldCode
from devices.services import sandbox_fleet_create, workspace_get_or_create
from tests.codes.clock import run_until
from tests.devices.factories import sandbox_locks

pytestmark = pytest.mark.django_db
DAY, HOUR, MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
OUTAGE = "the lock maker's cloud answered 500 Internal Server Error"


def fresh(code: AccessCode) -> AccessCode:
    code.refresh_from_db()
    return code


def issue(code: AccessCode, name: str):
    return next((i for i in access_code_issues(code) if i.code == name), None)


def held(device: Device) -> list[str]:
    return sorted(SandboxHeldCode.objects.filter(lock__device=device).values_list("code", flat=True))


def switch(device: Device, **faults) -> None:
    SandboxLock.objects.filter(device=device).update(**faults)


def stay(device, now, *, arrive_in, pin, stay=2 * DAY):
    return access_code_create(
        device=device,
        request=AccessCodeRequest(
            code=pin, name=f"Guest {pin}", starts_at=now + arrive_in, ends_at=now + arrive_in + stay
        ),
    )


# --- 1. A provider that raises: an outcome on every code it concerned --------------------------


def break_provider(monkeypatch, account, where: str) -> None:
    """Make ``account``'s provider raise at one point of its session; other accounts work."""

    def ours(account_id) -> bool:
        return account_id == account.pk

    if where == "provider":
        provider_for = scheduler.provider_for

        def no_provider(acct, **kwargs):
            if ours(acct.pk):
                raise RuntimeError(OUTAGE)
            return provider_for(acct, **kwargs)

        monkeypatch.setattr(scheduler, "provider_for", no_provider)
    elif where == "session entry":
        load = sandbox_provider._Session.load.__func__

        def failing_load(cls, acct, ids):
            if ours(acct.pk):
                raise RuntimeError(OUTAGE)
            return load(cls, acct, ids)

        monkeypatch.setattr(sandbox_provider._Session, "load", classmethod(failing_load))
    elif where == "session exit":
        save = sandbox_provider._Session.save

        def failing_save(session):
            if any(ours(m.device.connected_account_id) for m in session.locks.values()):
                raise RuntimeError(OUTAGE)
            return save(session)

        monkeypatch.setattr(sandbox_provider._Session, "save", failing_save)
    else:  # every call to the lock raises
        for name in ("probe", "set_code", "update_code", "remove_code", "list_codes"):
            original = getattr(sandbox_provider.SandboxProvider, name)

            def failing(self, *args, _original=original, **kwargs):
                if ours(self.account.pk):
                    raise RuntimeError(OUTAGE)
                return _original(self, *args, **kwargs)

            monkeypatch.setattr(sandbox_provider.SandboxProvider, name, failing)


@pytest.mark.parametrize("where", ["provider", "session entry", "session exit", "calls"])
def test_a_provider_that_raises_fails_each_of_its_codes_visibly_and_spares_the_other_accounts(
    now, monkeypatch, where
):
    broken_locks, working_locks = sandbox_locks(2), sandbox_locks(2, first=2)
    broken_account = broken_locks[0].connected_account
    leaving = {}
    for n, lock in enumerate(broken_locks + working_locks):
        leaving[lock.pk] = access_code_create(device=lock, request=AccessCodeRequest(code=f"13579{n}"))
    run_until(now)
    assert all(held(lock) == [f"13579{n}"] for n, lock in enumerate(broken_locks + working_locks))
    for code in leaving.values():
        access_code_delete(access_code=code)
    guests = {
        lock.pk: stay(lock, now, arrive_in=4 * DAY, pin=f"24680{n}")
        for n, lock in enumerate(broken_locks + working_locks)
    }

    break_provider(monkeypatch, broken_account, where)
    run_until(now + MINUTE)

    for lock in working_locks:  # the other account's sweep went on
        assert held(lock) == []
        assert fresh(guests[lock.pk]).preflight_passed_at is not None
    for lock in broken_locks:
        assert len(held(lock)) == 1  # the lock still holds the departed code...
        gone, guest = fresh(leaving[lock.pk]), fresh(guests[lock.pk])
        failure = issue(gone, "failed_to_remove_from_device")  # ...and the code says why
        assert failure is not None and f"RuntimeError: {OUTAGE}" in failure.message
        assert issue(gone, "delay_in_removing_from_device") is not None
        assert EventType.FAILED_TO_REMOVE_FROM_DEVICE in set(
            Event.objects.filter(access_code=gone).values_list("event_type", flat=True)
        )
        failure = issue(guest, "failed_to_set_on_device")
        assert failure is not None and f"RuntimeError: {OUTAGE}" in failure.message
        for code in (gone, guest):  # retried with the usual backoff, not left leased
            assert code.claimed_until is None
            assert now < code.next_attempt_at <= now + MINUTE + timedelta(minutes=2)

    run_until(now + DAY)  # the outage lasts to 72 hours before arrival
    for lock in broken_locks:
        guest = fresh(guests[lock.pk])
        assert guest.needs_review and "failed_to_set_on_device" in guest.review_reason
        assert guest.attempt_count > 5  # retried all along, with growing gaps capped at 30 minutes
        assert issue(fresh(leaving[lock.pk]), "delay_in_removing_from_device") is not None
    assert not SandboxHeldCode.objects.filter(lock__device__in=working_locks).exists()

    monkeypatch.undo()  # the cloud recovers
    run_until(now + DAY + HOUR)
    for lock in broken_locks:
        assert held(lock) == []  # the departed code is off the lock at last
        assert access_code_issues(fresh(leaving[lock.pk])) == []
        guest = fresh(guests[lock.pk])
        assert issue(guest, "failed_to_set_on_device") is None and guest.preflight_passed_at is not None


def test_a_failed_poll_of_a_code_loaded_with_its_schedule_puts_it_at_risk_not_failed(now, monkeypatch):
    """Found by bench/readiness.py: at arrival the scheduler asks a natively scheduling lock
    whether the loaded code went live; when the maker's cloud raises, the code is still in the
    lock's memory and opens the door. It is at risk (flagged, with a remedy), not "Failed"."""
    workspace = workspace_get_or_create(name="Sandbox", is_sandbox=True)
    deadbolt = next(d for d in sandbox_fleet_create(workspace=workspace) if d.has_native_scheduling)
    guest = stay(deadbolt, now, arrive_in=2 * DAY, pin="482193")
    run_until(now)
    assert fresh(guest).is_scheduled_on_device and held(deadbolt) == ["482193"]

    break_provider(monkeypatch, deadbolt.connected_account, "calls")
    with time_machine.travel(guest.starts_at, tick=False):
        run_until(guest.starts_at)
        guest = fresh(guest)
        failure = issue(guest, "failed_to_set_on_device")
        assert failure is not None and OUTAGE in failure.message  # the failure is visible
        assert held(deadbolt) == ["482193"]  # and the lock holds the code, its window open
        assert failure.weight is Weight.AT_RISK and "on the lock" in failure.remedy
        assert readiness(guest) is Readiness.AT_RISK
        assert guest.needs_review and "What to do:" in guest.review_reason


def test_a_poll_that_fails_keeps_the_code_waiting_for_its_confirmation(now, monkeypatch):
    (lock,) = sandbox_locks(1)
    switch(lock, confirmation_delay_seconds=60)
    code = access_code_create(device=lock, request=AccessCodeRequest(code="135790"))
    run_until(now)
    assert fresh(code).status == AccessCodeStatus.SETTING
    break_provider(monkeypatch, lock.connected_account, "session exit")
    run_until(now + 2 * MINUTE)  # the poll fails
    code = fresh(code)
    assert issue(code, "failed_to_set_on_device") is not None
    assert code.status == AccessCodeStatus.SETTING  # still awaiting the lock's word, asked again
    monkeypatch.undo()
    run_until(now + 10 * MINUTE)
    assert fresh(code).status == AccessCodeStatus.SET and held(lock) == ["135790"]
    assert list(SandboxCommand.objects.filter(lock__device=lock).values_list("action", flat=True)) == ["set"]


def test_a_code_whose_recording_fails_every_time_ends_flagged_not_retried_unseen(now, monkeypatch):
    (lock,) = sandbox_locks(1)
    codes = [access_code_create(device=lock, request=AccessCodeRequest(code=f"24{n}791")) for n in range(2)]
    broken, record = codes[1], code_ledger.record_outcome

    def record_unless_broken(ledger, access_code, *args, **kwargs):
        if access_code.pk == broken.pk:
            raise RuntimeError("a bug in recording")
        return record(ledger, access_code, *args, **kwargs)

    monkeypatch.setattr(code_ledger, "record_outcome", record_unless_broken)
    run_until(now + HOUR)
    broken = fresh(broken)
    failure = issue(broken, "failed_to_set_on_device")
    assert failure is not None and "RuntimeError: a bug in recording" in failure.message
    assert broken.needs_review and "a bug in recording" in broken.review_reason
    assert broken.attempt_count >= 3  # each attempt's failure recorded, not left to its lease alone
    assert broken.next_attempt_at is not None
    assert fresh(codes[0]).status == AccessCodeStatus.SET
    # The lock holds each PIN once: the copy the first send left is taken up, not sent again.
    assert held(lock) == ["240791", "241791"]


def test_a_drift_check_goes_on_past_an_account_whose_provider_raises(now, monkeypatch):
    broken_locks, working_locks = sandbox_locks(1), sandbox_locks(1, first=1)
    code = access_code_create(device=working_locks[0], request=AccessCodeRequest(code="135790"))
    access_code_create(device=broken_locks[0], request=AccessCodeRequest(code="135791"))
    run_until(now)
    SandboxHeldCode.objects.filter(lock__device=working_locks[0]).delete()  # removed outside Latchkey
    break_provider(monkeypatch, broken_locks[0].connected_account, "provider")
    assert scheduler.check_drift(now=now + MINUTE)["removed"] == 1
    assert issue(fresh(code), "code_modified_external_to_seam") is not None


# --- 2. A refusal about the lock is carried to the lock's other upcoming codes -----------------


def keypad_gone(device: Device) -> None:
    Device.objects.filter(pk=device.pk).update(accessory_keypad_connected=False)


def memory_filled_outside(device: Device) -> None:
    provider = sandbox_provider.SandboxProvider(device.connected_account)
    for n in range(device.max_active_codes_supported):
        provider.simulate_unmanaged_code(device.provider_device_id, code=f"97531{n}", name=f"Owner {n}")


LOCK_FAULTS = {
    "PIN format": ("sandbox-cloud-lock", lambda d: switch(d, rejects_pin_format=True)),
    "slots full": ("sandbox-cloud-lock", lambda d: switch(d, slots_full=True)),
    "keypad missing": ("sandbox-no-keypad", keypad_gone),
    "memory full of outside codes": ("sandbox-small-memory", memory_filled_outside),
}
LOCK_ERRORS = {
    "PIN format": "august_lock_bad_access_code_format",
    "slots full": "no_space_for_access_code_on_device",
    "keypad missing": "august_lock_missing_keypad",
    "memory full of outside codes": "no_space_for_access_code_on_device",
}


@pytest.mark.parametrize("fault", list(LOCK_FAULTS))
def test_a_lock_level_refusal_rechecks_the_locks_upcoming_codes_at_once(now, fault):
    fleet = {
        d.provider_device_id: d for d in sandbox_fleet_create(workspace=workspace_get_or_create(name="S"))
    }
    lock_name, inject = LOCK_FAULTS[fault]
    lock, error = fleet[lock_name], LOCK_ERRORS[fault]
    Device.objects.filter(pk=lock.pk).update(accessory_keypad_connected=True)
    lock.refresh_from_db()
    first = stay(lock, now, arrive_in=3 * HOUR, pin="482193", stay=HOUR)
    later = [
        stay(lock, now, arrive_in=4 * DAY, pin="582914"),
        stay(lock, now, arrive_in=8 * DAY, pin="683915"),
    ]
    beyond = stay(lock, now, arrive_in=12 * DAY, pin="784916")  # outside the advance window
    run_until(now)
    assert all(fresh(c).preflight_passed_at == now for c in [first, *later])
    inject(lock)

    run_until(now + 2 * HOUR)  # the first guest's code is sent just in time, and refused
    assert issue(fresh(first), error) is not None
    for code in later:  # each later stay learns it now, with the remedy, days ahead
        found = issue(fresh(code), error)
        assert found is not None and found.remedy == catalog.error(error).remedy
        assert fresh(code).preflight_passed_at is None
    assert issue(fresh(beyond), error) is None  # its turn comes when its window opens
    # Re-checked, not programmed: the lock was sent the first code only.
    sent = SandboxCommand.objects.filter(lock__device=lock).values_list("action", "code")
    assert list(sent) == [("set", "482193")]
    assert not {"482193", "582914", "683915"} & set(held(lock))


def test_every_lock_level_refusal_in_the_catalog_is_a_known_error_on_the_code():
    about_lock = [entry for entry in catalog.ERRORS.values() if entry.about_lock]
    assert {"no_space_for_access_code_on_device", "august_lock_missing_keypad"} <= {
        e.code for e in about_lock
    }
    assert all(entry.scope is catalog.Scope.ACCESS_CODE for entry in about_lock)
    assert not catalog.error("duplicate_code_on_device").about_lock  # one PIN's problem, not the lock's


# --- 3. Reachability errors cleared only by answers that prove contact ------------------------


def offline_now(device: Device) -> None:
    """The lock drops off the network, and its provider reports it."""
    switch(device, is_offline=True)
    device_connection_record(device=device, online=False)


def still_offline(device: Device) -> bool:
    return DeviceIssue.objects.filter(
        device=device, kind=IssueKind.ERROR, code="device_offline", cleared_at__isnull=True
    ).exists()


def test_an_offline_pin_worked_out_without_the_lock_leaves_it_offline(now):
    fleet = {
        d.provider_device_id: d for d in sandbox_fleet_create(workspace=workspace_get_or_create(name="S"))
    }
    lock = fleet["sandbox-offline-lock"]
    offline_now(lock)
    run_until(now)
    assert still_offline(lock)
    code = access_code_create(
        device=lock,
        request=AccessCodeRequest(
            is_offline_access_code=True, starts_at=now + 2 * DAY, ends_at=now + 4 * DAY
        ),
    )
    run_until(now + MINUTE)
    assert fresh(code).code is not None  # the PIN was worked out...
    assert still_offline(lock)  # ...and proves nothing about the lock, which is still down
    assert SandboxLock.objects.get(device=lock).is_offline


def test_nothing_to_take_off_a_lock_never_reached_leaves_it_offline(now):
    (lock,) = sandbox_locks(1)
    switch(lock, is_offline=True)
    never_sent = access_code_create(device=lock, request=AccessCodeRequest(code="135790"))
    run_until(now)
    assert still_offline(lock) and fresh(never_sent).status == AccessCodeStatus.UNSET
    access_code_delete(access_code=never_sent)
    run_until(now + MINUTE)
    assert fresh(never_sent).deleted_at is not None and fresh(never_sent).next_attempt_at is None
    assert still_offline(lock) and held(lock) == []


def test_a_poll_answered_from_the_providers_copy_leaves_the_lock_offline(now):
    (lock,) = sandbox_locks(1)
    switch(lock, confirmation_delay_seconds=60)
    code = access_code_create(device=lock, request=AccessCodeRequest(code="135790"))
    run_until(now)
    assert fresh(code).status == AccessCodeStatus.SETTING
    with time_machine.travel(now + MINUTE, tick=False):
        offline_now(lock)
    run_until(now + MINUTE)
    assert still_offline(lock)
    run_until(now + 2 * MINUTE)  # the poll: the provider's copy says the code is set
    assert fresh(code).status == AccessCodeStatus.SET
    assert still_offline(lock)  # but the lock never answered
    switch(lock, is_offline=False)  # back online: the next answer from the lock clears it
    access_code_create(device=lock, request=AccessCodeRequest(code="246801"))
    run_until(now + 3 * MINUTE)
    assert not still_offline(lock) and held(lock) == ["135790", "246801"]
