"""The scheduler follows each lock's slot plan: the 3-slot lock that keeps schedules, driven
through time under a controlled clock (issue 17)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from codes import scheduler
from codes.models import AccessCode, AccessCodeIssue, AccessCodeStatus, Event, EventType
from codes.services.access_codes import access_code_create, access_code_delete
from codes.services.checks import AccessCodeRequest
from devices.models import Device, Property
from devices.providers.sandbox.models import SandboxHeldCode
from devices.services import sandbox_fleet_create, workspace_get_or_create

pytestmark = pytest.mark.django_db
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
LISBON = ZoneInfo("Europe/Lisbon")
NO_SPACE = "no_space_for_access_code_on_device"


@pytest.fixture
def small():
    """The 3-slot lock, keeping schedules itself, at a property in Lisbon."""
    workspace = workspace_get_or_create(name="Sandbox", is_sandbox=True)
    home = Property.objects.create(workspace=workspace, name="Rua Augusta 12", time_zone="Europe/Lisbon")
    fleet = {d.provider_device_id: d for d in sandbox_fleet_create(workspace=workspace, property=home)}
    Device.objects.filter(pk=fleet["sandbox-small-memory"].pk).update(has_native_scheduling=True)
    return Device.objects.select_related("property").get(pk=fleet["sandbox-small-memory"].pk)


def held(device) -> int:
    return SandboxHeldCode.objects.filter(lock__device=device).count()


def live_through(device, until: datetime, flagged: set | None = None) -> list[int]:
    """Sweep at every instant a code is due up to ``until`` (as django-q2's minute schedule
    would); returns how many codes the lock held after each sweep. ``flagged`` collects the
    codes flagged for review at any point."""
    counts = []
    for _ in range(500):
        due = (
            AccessCode.objects.filter(next_attempt_at__lte=until)
            .order_by("next_attempt_at")
            .values_list("next_attempt_at", flat=True)
            .first()
        )
        if due is None:
            break
        with time_machine.travel(due, tick=False):
            scheduler.sweep(now=due)
        counts.append(held(device))
        if flagged is not None:
            flagged |= set(AccessCode.objects.filter(needs_review=True).values_list("pk", flat=True))
    else:
        raise AssertionError("the scheduler never settled")
    return counts


def stay(device, booked: datetime, arrive: datetime, leave: datetime, pin: str) -> AccessCode:
    with time_machine.travel(booked, tick=False):
        return access_code_create(
            device=device,
            request=AccessCodeRequest(code=pin, name="Guest", starts_at=arrive, ends_at=leave),
        )


def set_at(code: AccessCode) -> datetime | None:
    """When the lock confirmed the code active."""
    return (
        Event.objects.filter(access_code=code, event_type=EventType.SET_ON_DEVICE)
        .values_list("occurred_at", flat=True)
        .first()
    )


def loaded_at(code: AccessCode) -> datetime | None:
    return (
        Event.objects.filter(access_code=code, event_type=EventType.SCHEDULED_ON_DEVICE)
        .values_list("occurred_at", flat=True)
        .first()
    )


def test_four_stays_that_never_overlap_each_go_on_the_three_slot_lock_in_time(small):
    booked = datetime(2027, 3, 1, 9, tzinfo=UTC)
    # Four one-night stays, 15:00 to 11:00, on consecutive nights, all within nine days.
    nights = [datetime(2027, 3, d, 15, tzinfo=LISBON) for d in (4, 5, 6, 7)]
    codes = [stay(small, booked, night, night + 20 * HOUR, pin=f"48219{n}") for n, night in enumerate(nights)]
    flagged: set = set()
    counts = live_through(small, datetime(2027, 3, 8, 12, tzinfo=UTC), flagged)
    assert max(counts) == 3  # never more than its slots
    assert flagged == set()  # waiting for a slot the plan gives it, pre-flighted, is not a problem
    assert not AccessCodeIssue.objects.filter(code=NO_SPACE).exists()  # never refused, never feared
    for code in codes:
        code.refresh_from_db()
        assert set_at(code) == code.starts_at  # active when the guest arrives
        assert not code.needs_review, code.review_reason
    first, *_, fourth = codes
    assert [loaded_at(c) for c in codes[:3]] == [booked] * 3  # loaded as soon as booked
    # Into the first guest's slot as it leaves, once that code is off the lock (the next sweep).
    assert first.ends_at < loaded_at(fourth) <= first.ends_at + timedelta(minutes=1)


def test_back_to_back_turnovers_on_a_full_lock_across_a_dst_change(small):
    # Two staff codes leave one slot for guests. Lisbon springs forward on 2027-03-28.
    booked = datetime(2027, 3, 20, 9, tzinfo=UTC)
    with time_machine.travel(booked, tick=False):
        for n in range(2):
            access_code_create(device=small, request=AccessCodeRequest(code=f"71{n}555", name=f"Staff {n}"))
    days = [datetime(2027, 3, d, 16, tzinfo=LISBON) for d in (25, 27, 29)]
    codes = [
        stay(small, booked, arrive, (arrive + 2 * DAY).replace(hour=11), pin=f"5{n}2719")
        for n, arrive in enumerate(days)
    ]
    assert codes[0].ends_at == datetime(2027, 3, 27, 11, tzinfo=UTC)  # 11:00 WET
    assert codes[1].ends_at == datetime(2027, 3, 29, 10, tzinfo=UTC)  # 11:00 WEST
    flagged: set = set()
    counts = live_through(small, datetime(2027, 4, 2, 12, tzinfo=UTC), flagged)
    assert max(counts) == 3
    assert flagged == set()
    assert not AccessCodeIssue.objects.filter(code=NO_SPACE).exists()
    previous = None
    for code in codes:
        code.refresh_from_db()
        assert set_at(code) == code.starts_at
        assert not code.needs_review, code.review_reason
        # Each goes on as the guest before leaves: at check-out, five hours before check-in.
        if previous is None:
            assert loaded_at(code) == booked
        else:
            assert previous.ends_at < loaded_at(code) <= previous.ends_at + timedelta(minutes=1)
        previous = code


def test_a_stay_that_cannot_fit_is_told_at_once_with_the_moment_and_recovers_when_room_is_made(small):
    booked = datetime(2027, 3, 1, 9, tzinfo=UTC)
    arrive = datetime(2027, 3, 20, 15, tzinfo=LISBON)
    codes = [stay(small, booked, arrive + n * HOUR, arrive + 3 * DAY, pin=f"61{n}482") for n in range(4)]
    live_through(small, booked)  # the first sweep, nineteen days ahead
    last = AccessCode.objects.get(pk=codes[3].pk)
    issue = AccessCodeIssue.objects.get(access_code=last, code=NO_SPACE, cleared_at__isnull=True)
    assert "Sat 2027-03-20 18:00 WET (Europe/Lisbon)" in issue.message  # when its guest arrives
    assert "3 codes will hold all 3 of its slots" in issue.message
    assert last.needs_review  # told at once, weeks ahead, with the remedy
    assert held(small) == 0  # nothing was sent: the lock was not asked
    assert not AccessCodeIssue.objects.filter(code=NO_SPACE).exclude(access_code=last).exists()
    with time_machine.travel(booked + HOUR, tick=False):
        access_code_delete(access_code=AccessCode.objects.get(pk=codes[0].pk))
    live_through(small, booked + HOUR)
    last.refresh_from_db()
    assert not AccessCodeIssue.objects.filter(access_code=last, cleared_at__isnull=True).exists()
    assert not last.needs_review
    live_through(small, arrive + 4 * HOUR)
    assert AccessCode.objects.get(pk=last.pk).status == AccessCodeStatus.SET


def test_a_later_booking_that_takes_an_earlier_slot_moves_the_other_into_overflow_at_once(small):
    booked = datetime(2027, 3, 1, 9, tzinfo=UTC)
    arrive = datetime(2027, 3, 25, 15, tzinfo=LISBON)
    first = [stay(small, booked, arrive, arrive + 3 * DAY, pin=f"62{n}482") for n in range(2)]
    late = stay(small, booked, arrive + DAY, arrive + 3 * DAY, pin="629482")
    live_through(small, booked)
    assert not AccessCodeIssue.objects.filter(code=NO_SPACE).exists()
    # A booking arriving before the third takes the last slot first: the third is told at once.
    early = stay(small, booked + HOUR, arrive + HOUR, arrive + 2 * DAY, pin="623482")
    live_through(small, booked + HOUR)
    flagged = set(AccessCodeIssue.objects.filter(code=NO_SPACE).values_list("access_code_id", flat=True))
    assert flagged == {late.pk}
    assert len(first) == 2 and early.pk not in flagged


def test_a_lock_of_unknown_capacity_loads_every_code_from_the_advance_window_as_before(small):
    Device.objects.filter(pk=small.pk).update(max_active_codes_supported=None)
    booked = datetime(2027, 3, 1, 9, tzinfo=UTC)
    nights = [datetime(2027, 3, d, 15, tzinfo=LISBON) for d in (4, 5, 6, 7)]
    for n, night in enumerate(nights):
        stay(small, booked, night, night + 20 * HOUR, pin=f"48219{n}")
    with time_machine.travel(booked, tick=False):
        assert scheduler.sweep(now=booked).steps == {"send": 4}


def test_a_lock_with_more_stays_than_slots_but_never_too_many_at_once_is_not_planned(small):
    """The sweep plans only locks where codes could compete for slots at some moment (each
    loaded as early as it may): a year of stays spaced wider than the advance window never
    does, however many there are, so none is read for planning; four within nine days do."""
    from codes.selectors import slot_plans
    from tests.codes.factories import AccessCodeFactory

    now = datetime(2027, 3, 1, 12, tzinfo=UTC)
    for n in range(8):  # 8 stays on a 3-slot lock, 12 days apart: at most 1 wants a slot at once
        start = now + (1 + 12 * n) * DAY
        AccessCodeFactory(device=small, time_bound=True, starts_at=start, ends_at=start + DAY)
    spread = slot_plans([small], now=now)[small.pk]
    assert spread.uses == {} and spread.overflows == {}
    for n in range(4):  # four more, inside the first nine days: now some may compete
        start = now + (2 + 2 * n) * DAY
        AccessCodeFactory(device=small, time_bound=True, starts_at=start, ends_at=start + DAY)
    crowded = slot_plans([small], now=now)[small.pk]
    assert crowded.uses  # planned: every code that fits has its moments


def test_a_lock_with_no_more_codes_than_slots_is_counted_not_read(small):
    """Most locks a sweep touches have room for every code they will ever hold: one grouped
    count over the batch's locks tells so, and none of their codes leaves the database (the
    bound read before it took two times of every live code of every lock in the batch)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from codes.selectors import slot_plans
    from tests.codes.factories import AccessCodeFactory

    now = datetime(2027, 3, 1, 12, tzinfo=UTC)
    other = Device.objects.get(workspace=small.workspace, provider_device_id="sandbox-cloud-lock")
    for n in range(3):  # as many as the 3-slot lock has slots, all wanting one at once
        AccessCodeFactory(device=small, time_bound=True, starts_at=now + DAY, ends_at=now + 3 * DAY)
        AccessCodeFactory(device=other, code=f"9{n}31")
    with CaptureQueriesContext(connection) as queries:
        plans = slot_plans([small, other], now=now)
    assert [plans[small.pk].uses, plans[small.pk].overflows] == [{}, {}]
    assert len(queries) == 1
    sql = queries[0]["sql"]
    assert "COUNT(" in sql and "GROUP BY" in sql and "starts_at" not in sql.split("FROM")[0]


def test_a_lock_with_more_codes_than_slots_is_bounded_then_planned_in_three_reads(small):
    """A lock past the count is bounded by its codes' times, and planned only past that bound:
    one query each, however many locks share the batch."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from codes.selectors import slot_plans
    from tests.codes.factories import AccessCodeFactory

    now = datetime(2027, 3, 1, 12, tzinfo=UTC)
    codes = [
        AccessCodeFactory(device=small, time_bound=True, starts_at=now + DAY, ends_at=now + 3 * DAY)
        for _ in range(4)
    ]
    with CaptureQueriesContext(connection) as queries:
        plan = slot_plans([small], now=now)[small.pk]
    assert len(queries) == 3  # the count, the two times per code, the codes for the plan
    # Four codes wanting the 3-slot lock at once: one cannot fit, raised at once with the moment.
    assert len(plan.uses) == 3 and list(plan.overflows.values()) == [now + DAY]
    assert set(plan.uses) | set(plan.overflows) == {code.pk for code in codes}
