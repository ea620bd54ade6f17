"""The scheduler's promise, lived through under a controlled clock, on each sandbox lock model."""

import io
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection, connections
from django.test.utils import CaptureQueriesContext

from codes import scheduler
from codes.locking import claim_due_codes
from codes.models import AccessCode, AccessCodeStatus, Event, EventType
from codes.selectors import access_code_issues
from codes.services import ledger as code_ledger
from codes.services.access_codes import access_code_create, access_code_delete, access_code_update
from codes.services.checks import AccessCodeRequest
from codes.signals import events_recorded
from devices import rules
from devices.models import Device, SandboxLock
from devices.providers.sandbox import provider as sandbox_provider
from devices.providers.sandbox.models import SandboxCommand, SandboxHeldCode
from devices.services import sandbox_fleet_create, workspace_get_or_create
from tests.codes.clock import run_until

pytestmark = pytest.mark.django_db
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


@pytest.fixture
def fleet(now):
    workspace = workspace_get_or_create(name="Sandbox", is_sandbox=True)
    return {d.provider_device_id: d for d in sandbox_fleet_create(workspace=workspace)}


def switch(device: Device, **faults) -> None:
    SandboxLock.objects.filter(device=device).update(**faults)


def on_lock(device: Device) -> list[str]:
    return list(SandboxHeldCode.objects.filter(lock__device=device).values_list("code", flat=True))


def events(code: AccessCode) -> list[str]:
    return list(
        Event.objects.filter(access_code=code)
        .order_by("occurred_at", "created_at")
        .values_list("event_type", flat=True)
    )


def issues(code: AccessCode) -> set[str]:
    return {i.code for i in access_code_issues(code)}


def fresh(code: AccessCode) -> AccessCode:
    code.refresh_from_db()
    return code


def booking(device, now, *, arrive_in, stay=2 * DAY, pin="4821", **extra):
    return access_code_create(
        device=device,
        request=AccessCodeRequest(
            code=pin, name="Guest", starts_at=now + arrive_in, ends_at=now + arrive_in + stay, **extra
        ),
    )


# --- Ongoing codes ----------------------------------------------------------------------------


def test_an_ongoing_code_is_programmed_at_once(fleet, now):
    code = access_code_create(device=fleet["sandbox-cloud-lock"], request=AccessCodeRequest(code="4821"))
    run_until(now)
    assert fresh(code).status == AccessCodeStatus.SET
    assert on_lock(fleet["sandbox-cloud-lock"]) == ["4821"]
    assert code.next_attempt_at is None  # nothing more to do


# --- Locks that keep schedules: loaded ahead, live at starts_at, removed at ends_at ---------


def test_a_scheduled_code_is_loaded_nine_days_ahead_and_lives_its_window(fleet, now):
    deadbolt = fleet["sandbox-keypad-deadbolt"]
    code = booking(deadbolt, now, arrive_in=12 * DAY)
    run_until(now + 3 * DAY - HOUR)
    assert on_lock(deadbolt) == []  # not before the advance window
    run_until(now + 3 * DAY)
    code = fresh(code)
    assert (code.status, code.is_scheduled_on_device) == (AccessCodeStatus.UNSET, True)
    assert on_lock(deadbolt) == ["4821"]
    run_until(now + 12 * DAY)
    assert fresh(code).status == AccessCodeStatus.SET
    run_until(now + 14 * DAY)
    code = fresh(code)
    assert on_lock(deadbolt) == [] and code.deleted_at == now + 14 * DAY
    assert not AccessCode.objects.live().filter(pk=code.pk).exists()
    assert events(code) == [
        EventType.CREATED,
        EventType.SCHEDULED_ON_DEVICE,
        EventType.SET_ON_DEVICE,
        EventType.REMOVED_FROM_DEVICE,
    ]
    assert not code.needs_review
    sent = list(SandboxCommand.objects.filter(lock__device=deadbolt).values_list("action", flat=True))
    assert sent == ["set", "remove"]  # programmed once, removed once


def test_a_code_booked_inside_the_window_is_loaded_at_once(fleet, now):
    deadbolt = fleet["sandbox-keypad-deadbolt"]
    code = booking(deadbolt, now, arrive_in=2 * DAY)
    run_until(now)
    assert fresh(code).is_scheduled_on_device


# --- Locks without schedules: pre-flight, just in time, removed at the end -----------------------


def test_a_just_in_time_code_is_preflighted_then_set_an_hour_before_arrival(fleet, now):
    cloud = fleet["sandbox-cloud-lock"]
    code = booking(cloud, now, arrive_in=5 * DAY)
    run_until(now)
    code = fresh(code)
    assert code.preflight_passed_at == now and on_lock(cloud) == []
    run_until(now + 5 * DAY - HOUR - timedelta(minutes=1))
    assert on_lock(cloud) == []
    run_until(now + 5 * DAY - HOUR)
    assert fresh(code).status == AccessCodeStatus.SET and on_lock(cloud) == ["4821"]
    run_until(now + 7 * DAY)
    assert on_lock(cloud) == [] and fresh(code).deleted_at is not None
    assert EventType.REMOVED_FROM_DEVICE in events(code)


def test_an_offline_lock_is_flagged_three_days_before_arrival_with_its_remedy(fleet, now):
    cloud = fleet["sandbox-cloud-lock"]
    switch(cloud, is_offline=True)
    code = booking(cloud, now, arrive_in=6 * DAY)
    run_until(now + 3 * DAY - timedelta(minutes=1))
    code = fresh(code)
    assert "device_offline" in issues(code)  # known early...
    assert not code.needs_review  # ...but not yet urgent
    run_until(now + 3 * DAY)
    code = fresh(code)
    assert code.needs_review
    assert code.review_reason.startswith("device_offline:") and "What to do:" in code.review_reason
    switch(cloud, is_offline=False)  # the manager plugs the hub back in
    run_until(now + 3 * DAY + HOUR)
    code = fresh(code)
    assert not code.needs_review and issues(code) == set()
    run_until(now + 6 * DAY)
    assert fresh(code).status == AccessCodeStatus.SET


def test_a_small_lock_without_a_free_slot_at_arrival_is_flagged(fleet, now):
    small = fleet["sandbox-small-memory"]
    for n in range(3):
        access_code_create(device=small, request=AccessCodeRequest(code=f"58219{n}", name=f"Staff {n}"))
    code = booking(small, now, arrive_in=5 * DAY, pin="482193")
    run_until(now + 2 * DAY)
    code = fresh(code)
    assert "no_space_for_access_code_on_device" in issues(code)
    assert code.needs_review and "no_space_for_access_code_on_device" in code.review_reason


def test_a_lock_without_keypad_is_flagged_and_recovers_once_one_is_connected(fleet, now):
    gate = fleet["sandbox-no-keypad"]
    code = booking(gate, now, arrive_in=4 * DAY)
    run_until(now + DAY)
    code = fresh(code)
    assert "august_lock_missing_keypad" in issues(code) and code.needs_review
    Device.objects.filter(pk=gate.pk).update(accessory_keypad_connected=True)
    run_until(now + DAY + 6 * HOUR)  # noticed at the next periodic check
    assert not fresh(code).needs_review
    run_until(now + 4 * DAY)
    assert on_lock(gate) == ["4821"]


# --- Retries, delays ----------------------------------------------------------------------------


def test_transient_trouble_is_retried_with_growing_gaps_until_it_clears(fleet, now):
    cloud = fleet["sandbox-cloud-lock"]
    switch(cloud, is_offline=True)
    code = access_code_create(device=cloud, request=AccessCodeRequest(code="4821"))
    looks = []
    for _ in range(8):
        due = fresh(code).next_attempt_at
        looks.append(due)
        run_until(due)
    gaps = [b - a for a, b in zip(looks[1:], looks[2:], strict=False)]
    assert all(later >= earlier * 0.9 for earlier, later in zip(gaps, gaps[1:], strict=False)) or max(
        gaps
    ) <= timedelta(minutes=30)
    assert max(gaps) <= timedelta(minutes=30)
    switch(cloud, is_offline=False)
    run_until(fresh(code).next_attempt_at)
    assert fresh(code).status == AccessCodeStatus.SET
    assert Event.objects.filter(access_code=code, event_type=EventType.FAILED_TO_SET_ON_DEVICE).count() == 1


def test_a_code_not_set_when_the_guest_arrives_warns_and_clears_once_set(fleet, now):
    cloud = fleet["sandbox-cloud-lock"]
    code = booking(cloud, now, arrive_in=2 * HOUR)
    switch(cloud, is_offline=True)
    run_until(now + 2 * HOUR)
    code = fresh(code)
    assert "delay_in_setting_on_device" in issues(code)
    assert events(code).count(EventType.DELAY_IN_SETTING_ON_DEVICE) == 1
    switch(cloud, is_offline=False)
    run_until(now + 3 * HOUR)
    code = fresh(code)
    assert code.status == AccessCodeStatus.SET and "delay_in_setting_on_device" not in issues(code)


def test_a_code_stuck_on_the_lock_after_departure_warns_until_removed(fleet, now):
    cloud = fleet["sandbox-cloud-lock"]
    code = booking(cloud, now, arrive_in=2 * HOUR, stay=DAY)
    run_until(now + 2 * HOUR)
    switch(cloud, fails_removal=True)
    run_until(now + DAY + 2 * HOUR)
    code = fresh(code)
    assert {"delay_in_removing_from_device", "failed_to_remove_from_device"} <= issues(code)
    assert on_lock(cloud) == ["4821"] and code.deleted_at is None
    switch(cloud, fails_removal=False)
    run_until(now + DAY + 3 * HOUR)
    assert on_lock(cloud) == [] and issues(fresh(code)) == set()


def test_the_window_follows_the_propertys_clock_across_a_dst_change(fleet):
    # Lisbon springs forward on 2027-03-28: check-in 16:00 WET (UTC+0), check-out 11:00 WEST (UTC+1).
    deadbolt = fleet["sandbox-keypad-deadbolt"]
    lisbon = ZoneInfo("Europe/Lisbon")
    starts = datetime(2027, 3, 27, 16, tzinfo=lisbon)
    ends = datetime(2027, 3, 29, 11, tzinfo=lisbon)
    assert ends.astimezone(UTC) == datetime(2027, 3, 29, 10, tzinfo=UTC)
    booked = datetime(2027, 3, 20, 9, tzinfo=UTC)
    with time_machine.travel(booked, tick=False):
        code = access_code_create(
            device=deadbolt, request=AccessCodeRequest(code="4821", starts_at=starts, ends_at=ends)
        )
    run_until(datetime(2027, 3, 29, 9, 59, tzinfo=UTC))
    assert on_lock(deadbolt) == ["4821"]
    run_until(datetime(2027, 3, 29, 10, 0, tzinfo=UTC))
    assert on_lock(deadbolt) == [] and fresh(code).deleted_at == datetime(2027, 3, 29, 10, tzinfo=UTC)


# --- Updates and deletes ------------------------------------------------------------------------


def test_an_update_reprograms_and_a_delete_removes(fleet, now):
    deadbolt = fleet["sandbox-keypad-deadbolt"]
    code = booking(deadbolt, now, arrive_in=2 * DAY)
    run_until(now)
    with time_machine.travel(now + HOUR, tick=False):
        access_code_update(access_code=code, code="7391")
    run_until(now + HOUR)
    assert on_lock(deadbolt) == ["7391"]
    with time_machine.travel(now + 2 * HOUR, tick=False):
        access_code_delete(access_code=code)
    run_until(now + 2 * HOUR)
    assert on_lock(deadbolt) == []
    assert fresh(code).next_attempt_at is None


# --- The engine ---------------------------------------------------------------------------------


def test_a_claimed_code_is_not_claimed_again_until_its_lease_lapses(fleet, now):
    access_code_create(device=fleet["sandbox-cloud-lock"], request=AccessCodeRequest(code="4821"))
    first = claim_due_codes(now=now, limit=10, lease=timedelta(minutes=5))
    assert len(first) == 1
    assert claim_due_codes(now=now, limit=10, lease=timedelta(minutes=5)) == []
    # The worker died holding it: after the lease, the next sweep finishes the work.
    run_until(now + timedelta(minutes=5))
    assert on_lock(fleet["sandbox-cloud-lock"]) == ["4821"]


def test_a_sweeps_queries_do_not_grow_with_the_codes_due(fleet, now):
    """A batch is claimed, read, sent and recorded in a fixed number of queries, so a sweep's
    cost follows the work due without a query per code."""
    locks = [fleet[k] for k in ("sandbox-cloud-lock", "sandbox-keypad-deadbolt", "sandbox-strict-pins")]

    def queries_to_send(count: int, at: datetime) -> int:
        for n in range(count):
            access_code_create(device=locks[n % len(locks)], request=AccessCodeRequest(name=f"Guest {n}"))
        with CaptureQueriesContext(connection) as queries:
            assert scheduler.sweep(now=at).steps == {"send": count}
        return len(queries)

    assert queries_to_send(3, now) == queries_to_send(30, now + HOUR)


def test_every_event_a_sweep_records_is_announced(fleet, now):
    """Events are written in bulk, and each batch is announced with every event in it:
    listeners (the webhook outbox) must not miss the scheduler's events."""
    announced = []

    def listen(sender, events, **kwargs):
        announced.extend(event.pk for event in events)

    events_recorded.connect(listen, dispatch_uid="test-listen")
    try:
        code = access_code_create(device=fleet["sandbox-cloud-lock"], request=AccessCodeRequest(code="4821"))
        switch(fleet["sandbox-keypad-deadbolt"], is_offline=True)
        booking(fleet["sandbox-keypad-deadbolt"], now, arrive_in=DAY)
        scheduler.sweep(now=now)
    finally:
        events_recorded.disconnect(dispatch_uid="test-listen")
    recorded = set(Event.objects.values_list("pk", flat=True))
    assert len(recorded) >= 4
    assert sorted(announced) == sorted(recorded)  # each one announced, and only once
    assert EventType.SET_ON_DEVICE in events(code)


def test_codes_sent_to_one_lock_in_one_batch_see_each_other_on_it(fleet, now):
    small = fleet["sandbox-small-memory"]  # three slots
    codes = [
        access_code_create(device=small, request=AccessCodeRequest(code=f"58219{n}", name=f"Staff {n}"))
        for n in range(4)
    ]
    # The slot plan knows the fourth cannot fit: it is told so without the lock being asked.
    assert scheduler.sweep(now=now).steps == {"send": 3, "overflow": 1}
    assert len(on_lock(small)) == 3
    refused = [c for c in codes if fresh(c).status != AccessCodeStatus.SET]
    assert len(refused) == 1 and "no_space_for_access_code_on_device" in issues(refused[0])


def test_a_preflight_counts_the_codes_its_batch_just_sent_once(fleet, now):
    small = fleet["sandbox-small-memory"]  # three slots: two staff codes and the guest fit
    for n in range(2):
        access_code_create(device=small, request=AccessCodeRequest(code=f"58219{n}", name=f"Staff {n}"))
    code = booking(small, now, arrive_in=5 * DAY, pin="482193")
    assert scheduler.sweep(now=now).steps == {"send": 2, "preflight": 1}
    code = fresh(code)
    assert code.preflight_passed_at == now and issues(code) == set()


def test_one_code_that_cannot_be_recorded_does_not_hold_back_the_rest(fleet, now, monkeypatch):
    cloud = fleet["sandbox-cloud-lock"]
    codes = [access_code_create(device=cloud, request=AccessCodeRequest(code=f"48{n}17")) for n in range(3)]
    broken, record = codes[1], code_ledger.record_outcome

    def record_unless_broken(ledger, access_code, *args, **kwargs):
        if access_code.pk == broken.pk:
            raise RuntimeError("a bug in recording")
        return record(ledger, access_code, *args, **kwargs)

    monkeypatch.setattr(code_ledger, "record_outcome", record_unless_broken)
    assert scheduler.sweep(now=now).steps == {"send": 2}
    assert [fresh(c).status for c in codes] == [
        AccessCodeStatus.SET,
        AccessCodeStatus.UNSET,
        AccessCodeStatus.SET,
    ]
    # Left leased, so no other sweep takes it up before the lease lapses.
    assert fresh(broken).claimed_until > now and fresh(codes[0]).claimed_until is None


def test_a_provider_session_that_fails_keeps_nothing_and_its_codes_are_retried(fleet, now, monkeypatch):
    cloud = fleet["sandbox-cloud-lock"]
    code = access_code_create(device=cloud, request=AccessCodeRequest(code="4821"))

    def broken(session):
        raise OperationalError("disk I/O error")

    monkeypatch.setattr(sandbox_provider._Session, "save", broken)
    # The failure is the code's outcome: recorded, and retried with the usual backoff.
    assert scheduler.sweep(now=now).steps == {"send": 1}
    assert on_lock(cloud) == [] and fresh(code).status == AccessCodeStatus.UNSET
    failure = next(i for i in access_code_issues(code) if i.code == "failed_to_set_on_device")
    assert "OperationalError: disk I/O error" in failure.message
    assert now < fresh(code).next_attempt_at <= now + timedelta(minutes=1)
    assert fresh(code).claimed_until is None
    monkeypatch.undo()
    run_until(now + timedelta(minutes=5))
    assert on_lock(cloud) == ["4821"] and fresh(code).status == AccessCodeStatus.SET
    sent = SandboxCommand.objects.filter(lock__device=cloud).values_list("action", flat=True)
    assert list(sent) == ["set"]


def test_an_update_made_while_the_lock_is_called_is_not_undone_by_the_sweeps_record(fleet, now, monkeypatch):
    """The sweep reads a code, calls its lock, then records the answer; an update that lands in
    between (the API, a manager) wins: the code is due again at once, and the same sweep sends
    the new version."""
    cloud = fleet["sandbox-cloud-lock"]
    code = access_code_create(device=cloud, request=AccessCodeRequest(code="4821", name="Ana Silva"))
    send = sandbox_provider.SandboxProvider.set_code

    def send_while_a_manager_renames(self, provider_device_id, spec):
        outcome = send(self, provider_device_id, spec)
        access_code_update(access_code=AccessCode.objects.get(pk=code.pk), name="Ana Souza")
        return outcome

    monkeypatch.setattr(sandbox_provider.SandboxProvider, "set_code", send_while_a_manager_renames)
    scheduler.sweep(now=now)
    monkeypatch.undo()
    renamed = fresh(code)
    assert renamed.name == "Ana Souza" and renamed.sent_version == renamed.version
    held = SandboxHeldCode.objects.get(lock__device=cloud)
    assert (held.code, held.name) == ("4821", renamed.appearance["name"]) and "Souza" in held.name
    sent = SandboxCommand.objects.filter(lock__device=cloud).values_list("action", flat=True)
    assert list(sent) == ["set", "update"]


def die_after_the_lock_took_the_codes(monkeypatch) -> None:
    """The worker dies between the provider call and recording its answer: the lock holds the
    code, and Latchkey never learns it (the production tests kill a real worker there)."""

    def killed(*args, **kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr(scheduler, "_record_answers", killed)


def test_a_code_sent_by_a_worker_that_died_before_recording_is_adopted_not_sent_twice(
    fleet, now, monkeypatch
):
    cloud = fleet["sandbox-cloud-lock"]
    code = access_code_create(device=cloud, request=AccessCodeRequest(code="4821", name="Ana Silva"))
    die_after_the_lock_took_the_codes(monkeypatch)
    with pytest.raises(SystemExit):
        scheduler.sweep(now=now)
    assert on_lock(cloud) == ["4821"] and fresh(code).provider_code_id == ""
    monkeypatch.undo()
    run_until(now + timedelta(minutes=5))  # the lease lapses; the next sweep looks first
    held = SandboxHeldCode.objects.get(lock__device=cloud)
    assert fresh(code).status == AccessCodeStatus.SET and code.provider_code_id == held.provider_code_id
    # Sent once; the copy found was brought in line with the code rather than sent again.
    sent = SandboxCommand.objects.filter(lock__device=cloud).values_list("action", flat=True)
    assert list(sent) == ["set", "update"]
    assert issues(code) == set() and code.send_in_flight is None


def test_a_code_in_doubt_is_still_sent_when_the_lock_holds_its_pin_for_someone_else(fleet, now, monkeypatch):
    """Only the code's own copy is adopted: the same PIN under another name is another code,
    and the lock's refusal is shown as it would be without the doubt."""
    cloud = fleet["sandbox-cloud-lock"]
    code = access_code_create(device=cloud, request=AccessCodeRequest(code="4821", name="Ana Silva"))
    die_after_the_lock_took_the_codes(monkeypatch)
    with pytest.raises(SystemExit):
        scheduler.sweep(now=now)
    monkeypatch.undo()
    SandboxHeldCode.objects.filter(lock__device=cloud).update(name="Owner")
    run_until(now + timedelta(minutes=5))
    assert "duplicate_code_on_device" in issues(code)
    assert fresh(code).provider_code_id == ""


def crash_after_the_locks_answered(monkeypatch, now) -> None:
    """One sweep whose worker dies after the locks took its codes, before the record."""
    die_after_the_lock_took_the_codes(monkeypatch)
    with pytest.raises(SystemExit):
        scheduler.sweep(now=now)
    monkeypatch.undo()


def held_on(device: Device) -> list[tuple]:
    return list(SandboxHeldCode.objects.filter(lock__device=device).values_list("code", "name", "ends_at"))


def test_a_code_changed_after_an_unanswered_send_updates_that_copy_not_a_second_one(fleet, now, monkeypatch):
    deadbolt = fleet["sandbox-keypad-deadbolt"]  # keeps the window itself
    code = booking(deadbolt, now, arrive_in=2 * DAY)
    crash_after_the_locks_answered(monkeypatch, now)
    later = code.ends_at + DAY
    access_code_update(access_code=fresh(code), code="5931", ends_at=later)
    run_until(now + timedelta(minutes=6))
    assert held_on(deadbolt) == [("5931", fresh(code).appearance["name"], later)]
    sent = SandboxCommand.objects.filter(lock__device=deadbolt).values_list("action", flat=True)
    assert list(sent) == ["set", "update"]
    assert fresh(code).send_in_flight is None and code.sent_version == code.version


def test_two_codes_in_doubt_with_the_same_pin_and_name_take_one_copy_each(fleet, now, monkeypatch):
    deadbolt = fleet["sandbox-keypad-deadbolt"]
    first = booking(deadbolt, now, arrive_in=2 * DAY)
    second = booking(deadbolt, now, arrive_in=6 * DAY)  # same PIN and name, a later stay
    crash_after_the_locks_answered(monkeypatch, now)
    run_until(now + timedelta(minutes=6))
    assert fresh(first).provider_code_id and fresh(second).provider_code_id
    assert first.provider_code_id != second.provider_code_id
    held = set(
        SandboxHeldCode.objects.filter(lock__device=deadbolt).values_list("provider_code_id", flat=True)
    )
    assert held == {first.provider_code_id, second.provider_code_id}
    assert not issues(first) and not issues(second)


def test_a_drift_check_between_the_death_and_the_retry_does_not_take_the_copy_for_a_stranger(
    fleet, now, monkeypatch
):
    cloud = fleet["sandbox-cloud-lock"]
    code = access_code_create(device=cloud, request=AccessCodeRequest(code="4821", name="Ana Silva"))
    crash_after_the_locks_answered(monkeypatch, now)
    scheduler.check_drift(now=now + timedelta(minutes=1))
    assert not AccessCode.objects.filter(is_managed=False).exists()
    run_until(now + timedelta(minutes=6))
    assert fresh(code).status == AccessCodeStatus.SET and on_lock(cloud) == ["4821"]
    assert not issues(code)


def test_a_code_deleted_after_an_unanswered_send_is_taken_off_its_lock(fleet, now, monkeypatch):
    cloud = fleet["sandbox-cloud-lock"]
    code = access_code_create(device=cloud, request=AccessCodeRequest(code="4821", name="Ana Silva"))
    crash_after_the_locks_answered(monkeypatch, now)
    access_code_delete(access_code=fresh(code))
    run_until(now + timedelta(minutes=6))
    assert on_lock(cloud) == []
    assert fresh(code).status == AccessCodeStatus.UNSET and code.send_in_flight is None


def test_a_failed_look_at_the_lock_keeps_the_doubt_for_the_next_attempt(fleet, now, monkeypatch):
    cloud = fleet["sandbox-cloud-lock"]
    code = access_code_create(device=cloud, request=AccessCodeRequest(code="4821", name="Ana Silva"))
    crash_after_the_locks_answered(monkeypatch, now)

    def unreachable(self, provider_device_id):
        raise ConnectionError("provider timed out")

    monkeypatch.setattr(sandbox_provider.SandboxProvider, "list_codes", unreachable)
    retry_at = now + timedelta(minutes=5)
    with time_machine.travel(retry_at, tick=False):
        scheduler.sweep(now=retry_at)
    assert "failed_to_set_on_device" in issues(code) and fresh(code).send_in_flight
    monkeypatch.undo()
    run_until(now + timedelta(hours=1))
    assert fresh(code).status == AccessCodeStatus.SET and on_lock(cloud) == ["4821"]
    sent = SandboxCommand.objects.filter(lock__device=cloud).values_list("action", flat=True)
    assert list(sent) == ["set", "update"]


@pytest.mark.django_db(transaction=True)
def test_two_workers_sweeping_at_once_never_send_a_code_twice(now, settings):
    """Two sweeps interleave their batches over the same locks: neither waits on the other in a
    cycle (provider sessions and ledgers lock rows in key order), and each code is sent once."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite tests share one in-memory database, which threads cannot lock properly")
    workspace = workspace_get_or_create(name="Sandbox", is_sandbox=True)
    fleet = {d.provider_device_id: d for d in sandbox_fleet_create(workspace=workspace)}
    locks = [fleet[k] for k in ("sandbox-cloud-lock", "sandbox-keypad-deadbolt", "sandbox-strict-pins")]
    codes = [
        access_code_create(device=locks[n % len(locks)], request=AccessCodeRequest(name=f"Guest {n}"))
        for n in range(45)
    ]
    settings.SCHEDULER_BATCH_SIZE = 4  # many small batches, so the workers interleave
    start = threading.Barrier(2)

    def worker():
        try:
            start.wait()
            scheduler.sweep(now=now)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=worker) for _ in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert SandboxCommand.objects.filter(action="set").count() == len(codes)
    assert all(fresh(code).status == AccessCodeStatus.SET for code in codes)


def test_scheduler_tick_dry_run_shows_the_plan_and_changes_nothing(fleet, now):
    code = access_code_create(device=fleet["sandbox-cloud-lock"], request=AccessCodeRequest(code="4821"))
    out = io.StringIO()
    call_command("scheduler_tick", "--dry-run", "--at", now.isoformat(), stdout=out)
    assert f"{code.access_code_id}  send" in out.getvalue()
    assert "1 code(s) due" in out.getvalue()
    assert on_lock(fleet["sandbox-cloud-lock"]) == [] and fresh(code).status == AccessCodeStatus.UNSET


def test_scheduler_tick_runs_a_sweep_as_of_the_given_instant(fleet, now):
    deadbolt = fleet["sandbox-keypad-deadbolt"]
    code = booking(deadbolt, now, arrive_in=12 * DAY)
    out = io.StringIO()
    call_command("scheduler_tick", "--at", (now + 3 * DAY).isoformat(), stdout=out)
    assert "Swept 1 code(s)" in out.getvalue()
    assert fresh(code).is_scheduled_on_device


@pytest.mark.parametrize(
    ("value", "message"), [("tomorrow", "not an ISO 8601"), ("2026-12-01T10:00:00", "time zone offset")]
)
def test_scheduler_tick_refuses_a_bad_instant(value, message):
    with pytest.raises(CommandError, match=message):
        call_command("scheduler_tick", "--at", value)


def test_setup_schedules_registers_each_schedule_once():
    from django_q.models import Schedule

    call_command("setup_schedules", stdout=io.StringIO())
    call_command("setup_schedules", stdout=io.StringIO())
    assert sorted(Schedule.objects.values_list("func", "schedule_type", "minutes", "repeats")) == [
        ("calendars.tasks.fetch_due_feeds", "I", 1, -1),
        ("codes.tasks.check_drift", "I", 15, -1),
        ("codes.tasks.maintain_backup_pools", "I", 5, -1),
        ("codes.tasks.sweep_due_codes", "I", 1, -1),
        ("notifications.tasks.send_due_notifications", "I", 1, -1),
        ("notifications.tasks.sweep_alerts", "I", 1, -1),
        ("notifications.tasks.sweep_digests_and_guests", "I", 5, -1),
        ("webhooks.tasks.purge_old_deliveries", "H", None, -1),
        ("webhooks.tasks.retry_inbound", "I", 1, -1),
        ("webhooks.tasks.send_due_deliveries", "I", 1, -1),
    ]


def test_the_sweep_task_runs_through_django_q(fleet, now):
    from django_q.tasks import async_task, result

    access_code_create(device=fleet["sandbox-cloud-lock"], request=AccessCodeRequest(code="4821"))
    task_id = async_task("codes.tasks.sweep_due_codes")  # sync mode in tests: runs inline
    assert result(task_id) == {"claimed": 1, "steps": {"send": 1}}
    assert on_lock(fleet["sandbox-cloud-lock"]) == ["4821"]


def test_an_offline_code_gets_its_pin_ahead_goes_live_at_arrival_and_leaves_after(fleet, now):
    lock = fleet["sandbox-offline-lock"]
    code = access_code_create(
        device=lock,
        request=AccessCodeRequest(
            is_offline_access_code=True, starts_at=now + 5 * DAY, ends_at=now + 7 * DAY
        ),
    )
    run_until(now)
    code = fresh(code)
    assert code.code is not None and code.is_scheduled_on_device and code.status == AccessCodeStatus.UNSET
    pin = code.code
    run_until(now + 5 * DAY)
    code = fresh(code)
    assert (code.status, code.code) == (AccessCodeStatus.SET, pin)  # the same algorithmic PIN
    run_until(now + 7 * DAY)
    assert fresh(code).deleted_at == now + 7 * DAY
    assert not SandboxCommand.objects.filter(lock__device=lock).exists()  # nothing is ever sent to it


def test_a_strict_lock_gets_a_generated_pin_that_keeps_its_rules(fleet, now):
    strict = fleet["sandbox-strict-pins"]
    code = access_code_create(
        device=strict, request=AccessCodeRequest(name="Ana", starts_at=now + 2 * DAY, ends_at=now + 3 * DAY)
    )
    run_until(now + 2 * DAY)
    code = fresh(code)
    assert code.status == AccessCodeStatus.SET and on_lock(strict) == [code.code]
    assert "0" not in code.code and not rules.has_sequence(code.code)
    assert not code.needs_review
