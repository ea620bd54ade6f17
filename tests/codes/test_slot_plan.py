"""The plan of a lock's memory (``lifecycle.plan_slots``), pure: property tests over random stays
on locks of 1 to 10 slots, and a brute-force solver that checks its overflows on small cases."""

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from codes.lifecycle import SlotNeed, plan_slots

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
ADVANCE, REVIEW = 9 * 24 * HOUR, 72 * HOUR


def at(hours: int) -> datetime:
    return T0 + hours * HOUR


@st.composite
def lock_and_stays(draw, max_codes=14, max_slots=10):
    capacity = draw(st.integers(1, max_slots))
    now = at(draw(st.integers(0, 48)))
    needs = []
    for n in range(draw(st.integers(0, max_codes))):
        kind = draw(st.sampled_from(["scheduled", "scheduled", "scheduled", "just_in_time", "fixed"]))
        start = at(draw(st.integers(0, 24 * 20)))
        ends = start + draw(st.integers(1, 24 * 5)) * HOUR
        if kind == "fixed":
            needs.append(SlotNeed(n, now, now, draw(st.one_of(st.none(), st.just(ends))), fixed=True))
        elif kind == "just_in_time":
            needs.append(SlotNeed(n, start, start, ends))
        else:
            on_lock = draw(st.booleans()) and start - ADVANCE <= now
            needs.append(SlotNeed(n, now if on_lock else start - ADVANCE, start, ends, on_lock=on_lock))
    return capacity, needs, now


def clamp(need: SlotNeed, now: datetime) -> SlotNeed:
    """The need as the planner judges it: nothing happens before ``now``."""
    if need.fixed:
        return SlotNeed(need.key, now, now, need.ends, True, True)
    return SlotNeed(need.key, max(need.earliest, now), max(need.latest, now), need.ends, False, need.on_lock)


def live(needs, now):
    return [clamp(n, now) for n in needs if n.ends is None or n.ends > now]


def moments(plan, needs):
    points = {plan.now}
    for use in plan.uses.values():
        points.add(use.load_at)
        if use.remove_at is not None:
            points.add(use.remove_at)
    for need in needs:
        points |= {need.earliest, need.latest}
    return sorted(points)


def full_between(plan, start, stop) -> bool:
    """The plan holds as many codes as the lock has slots at some moment in [start, stop)."""
    points = [start] + [
        t for use in plan.uses.values() for t in (use.load_at, use.remove_at) if t and start < t < stop
    ]
    return any(len(plan.holding(t)) >= plan.capacity for t in points)


@settings(max_examples=300, deadline=None)
@given(lock_and_stays())
def test_the_lock_never_holds_more_codes_than_it_has_slots(case):
    capacity, needs, now = case
    plan = plan_slots(capacity=capacity, needs=needs, now=now, review_lead=REVIEW)
    fixed = [n for n in live(needs, now) if n.fixed]
    for moment in moments(plan, live(needs, now)):
        on_anyway = sum(1 for n in fixed if n.ends is None or moment < n.ends)
        assert len(plan.holding(moment)) <= max(capacity, on_anyway)


@settings(max_examples=300, deadline=None)
@given(lock_and_stays())
def test_every_code_that_fits_is_on_in_its_window_and_as_early_as_the_others_allow(case):
    capacity, needs, now = case
    plan = plan_slots(capacity=capacity, needs=needs, now=now, review_lead=REVIEW)
    for need in live(needs, now):
        assert (need.key in plan.uses) != (need.key in plan.overflows)
        if need.key in plan.overflows:
            moment = plan.overflows[need.key]
            assert need.latest <= moment < (need.ends or datetime.max.replace(tzinfo=UTC))
            continue
        use = plan.uses[need.key]
        assert need.earliest <= use.load_at <= need.latest  # on the lock before it starts
        assert use.remove_at == need.ends
        if use.load_at > need.earliest:  # it could go no earlier without taking a needed slot
            assert full_between(plan, need.earliest, use.load_at)
        review_at = max(need.earliest, need.latest - REVIEW)
        if use.load_at > review_at:  # in time for review wherever the lock has room
            assert full_between(plan, review_at, use.load_at)
        if need.on_lock and use.load_at > now:  # taken off only for a code that needs the slot
            assert full_between(plan, now, use.load_at)


def feasible(needs, capacity) -> bool:
    """Brute force: is there any choice of load moments keeping the lock within its slots?"""
    fixed = [n for n in needs if n.fixed]
    movable = [n for n in needs if not n.fixed]
    points = sorted({p for n in needs for p in (n.earliest, n.latest, n.ends) if p is not None})
    choices = [[p for p in points if n.earliest <= p <= n.latest] for n in movable]
    forever = datetime.max.replace(tzinfo=UTC)
    for loads in itertools.product(*choices):
        spans = [(n.earliest, n.ends or forever) for n in fixed]
        spans += [(load, n.ends or forever) for load, n in zip(loads, movable, strict=True)]
        # Codes set outside Latchkey may already overfill a lock: they only leave no room.
        if all(
            sum(1 for a, b in spans if a <= t < b)
            <= max(capacity, sum(1 for n in fixed if t < (n.ends or forever)))
            for t in points
        ):
            return True
    return False


@settings(max_examples=200, deadline=None)
@given(lock_and_stays(max_codes=6, max_slots=3))
def test_a_code_overflows_exactly_when_no_plan_could_fit_it_beside_the_codes_before_it(case):
    capacity, needs, now = case
    plan = plan_slots(capacity=capacity, needs=needs, now=now, review_lead=REVIEW)
    needs = live(needs, now)
    accepted = [n for n in needs if n.fixed]
    forever = datetime.max.replace(tzinfo=UTC)
    # Earlier-starting codes come first (a code already on the lock first among equals).
    for need in sorted(
        (n for n in needs if not n.fixed), key=lambda n: (n.latest, not n.on_lock, n.ends or forever)
    ):
        if feasible([*accepted, need], capacity):
            accepted.append(need)
            assert need.key in plan.uses
        else:
            assert need.key in plan.overflows


def test_four_stays_on_a_three_slot_lock_each_go_on_as_a_slot_frees():
    now = at(0)
    stays = [(at(24 * d), at(24 * d + 20)) for d in (1, 2, 3, 4)]  # never overlapping, all within 9 days
    needs = [SlotNeed(n, s - ADVANCE, s, e) for n, (s, e) in enumerate(stays)]
    plan = plan_slots(capacity=3, needs=needs, now=now, review_lead=REVIEW)
    assert plan.overflows == {}
    assert [plan.uses[n].load_at for n in range(3)] == [now, now, now]
    assert plan.uses[3].load_at == stays[0][1]  # when the first guest's code comes off
    assert max(n for _, n in plan.steps(at(24 * 10))) == 3


def test_a_genuine_overflow_is_reported_on_the_code_that_cannot_fit_with_its_moment():
    now = at(0)
    needs = [SlotNeed(n, at(10) - ADVANCE, at(10 + n), at(50)) for n in range(4)]
    plan = plan_slots(capacity=3, needs=needs, now=now, review_lead=REVIEW)
    assert set(plan.overflows) == {3}
    assert plan.overflows[3] == at(13)


def test_an_earlier_starting_code_gets_the_slot_a_later_one_would_preload_into():
    now = at(0)
    late = SlotNeed("late", at(200) - ADVANCE, at(200), at(220))
    early = SlotNeed("early", at(100) - ADVANCE, at(100), at(150))
    held = SlotNeed("held", now, now, None, fixed=True)  # a code set outside Latchkey
    plan = plan_slots(capacity=2, needs=[late, early, held], now=now, review_lead=REVIEW)
    assert plan.uses["early"].load_at == now
    assert plan.uses["late"].load_at == at(150)
