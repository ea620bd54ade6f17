"""A code's clock, and what it needs from its lock: decided from its stored state and a ``now``
alone.

Pure: no database, no queries. It reads attributes of the model instances it is given and
Django's settings (at call time, so a changed setting is seen at once). The scheduler, the
programming of one code, the services and the selectors all decide from here, so that one
question (when does a code go on its lock? must it come off?) has one answer.
"""

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from django.conf import settings

from codes.models import AccessCode, AccessCodeStatus, AccessCodeType

# --- Durations ---------------------------------------------------------------------------------

# How long before arrival an unset code draws on the pool by itself, where the pool allows.
AUTO_PULL_LEAD = timedelta(minutes=30)
# How soon to ask a lock again about a code it has not confirmed yet.
PENDING_POLL_INTERVAL = timedelta(minutes=2)
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(minutes=30)


def advance() -> timedelta:
    """How long before its start a time-bound code is loaded (or pre-flighted)."""
    return timedelta(days=settings.ADVANCE_PROGRAMMING_DAYS)


def review_lead() -> timedelta:
    """How long before its start a code that is not ready is flagged for review."""
    return timedelta(hours=settings.REVIEW_LEAD_HOURS)


def just_in_time() -> timedelta:
    """How long before its start a code is sent to a lock that keeps no schedules."""
    return timedelta(minutes=settings.JUST_IN_TIME_MINUTES)


def preflight_interval() -> timedelta:
    """How long a passed pre-flight check holds before the lock is asked again."""
    return timedelta(hours=settings.PREFLIGHT_INTERVAL_HOURS)


def retry_delay(attempt: int, *, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with jitter, capped: 30 s, 1 min, 2 min ... 30 min. The jitter (half
    to all of the step) keeps a fleet of codes that failed together from retrying together."""
    step = min(RETRY_CAP, RETRY_BASE * (2 ** min(attempt, 16)))
    return step * (rng or _jitter_rng).uniform(0.5, 1.0)


_jitter_rng = random.SystemRandom()


# --- When a code is on its lock ------------------------------------------------------------------


def uses_lock_schedule(code: AccessCode) -> bool:
    """Loaded ahead with its window (the lock, or the offline PIN, enforces it) rather than set
    just in time."""
    return code.type == AccessCodeType.TIME_BOUND and (
        code.device.has_native_scheduling or code.is_offline_access_code
    )


def schedule_lead(device) -> timedelta:
    """How long before its ``starts_at`` a time-bound code is already on ``device``, taking its
    PIN: just in time on a lock without schedules; none on one that keeps them (it holds the
    code early, but enforces its window)."""
    return timedelta(0) if device.has_native_scheduling else just_in_time()


def is_over(code: AccessCode, now: datetime) -> bool:
    """Deleted, or its window has ended: it must not stay on its lock."""
    return code.deleted_at is not None or (code.ends_at is not None and code.ends_at <= now)


# --- What the lock must do -----------------------------------------------------------------------


class LockAction(StrEnum):
    """What a call to the lock does for a code."""

    SET = "set"
    REMOVE = "remove"


def needed_action(access_code: AccessCode, *, now: datetime) -> LockAction | None:
    """What the lock must do for this code now, judged from stored state and the clock: a code
    that is over comes off if it may be on the lock (else nothing); any other is set."""
    if is_over(access_code, now):
        return LockAction.REMOVE if access_code.may_be_on_lock else None
    return LockAction.SET


class Step(StrEnum):
    """The scheduler's next step for a code (its ``SEND``, ``POLL`` and ``REMOVE`` call the lock
    with ``needed_action``'s ``SET`` or ``REMOVE``)."""

    SEND = "send"  # program the current version onto the lock
    POLL = "poll"  # ask the lock whether it has confirmed (sent, unconfirmed, or due to go live)
    REMOVE = "remove"  # take it off the lock
    PREFLIGHT = "preflight"  # check the lock could take it, without programming anything
    FINISH = "finish"  # over and never on the lock: leave the API
    OVERFLOW = "overflow"  # the lock will have no free slot when it needs one: say so, call nothing
    WAIT = "wait"  # nothing to do until the next milestone


@dataclass(frozen=True)
class Plan:
    step: Step
    reason: str


def plan(code: AccessCode, now: datetime, *, load_at: datetime | None = None) -> Plan:
    """What the code needs now, from its stored state and the clock alone. ``load_at``: when
    its lock's slot plan (``plan_slots``) puts it on the lock, where the lock's capacity is
    known; a code loaded with its schedule waits for it, pre-flighted meanwhile so problems
    show in time. None: from ``ADVANCE_PROGRAMMING_DAYS`` before its start."""
    action = needed_action(code, now=now)
    if action is LockAction.REMOVE:
        return Plan(Step.REMOVE, "deleted" if code.deleted_at else "ended")
    if action is None:
        return Plan(Step.FINISH, "over, and never on the lock")
    if code.type == AccessCodeType.ONGOING:
        return _plan_sent(code, now) or Plan(Step.WAIT, "set")
    if now < code.starts_at - advance():
        return Plan(Step.WAIT, "not yet in the advance window")
    if uses_lock_schedule(code) and load_at is not None and now < load_at and not code.may_be_on_lock:
        return _plan_preflight(code, now) or Plan(Step.WAIT, "pre-flighted; waiting for its slot on the lock")
    if uses_lock_schedule(code):
        sent = _plan_sent(code, now)
        if sent:
            return sent
        if now >= code.starts_at and code.status != AccessCodeStatus.SET:
            return Plan(Step.POLL, "should be active now")
        return Plan(Step.WAIT, "loaded with its schedule")
    if now < code.starts_at - just_in_time():
        return _plan_preflight(code, now) or Plan(Step.WAIT, "pre-flighted")
    return _plan_sent(code, now) or Plan(Step.WAIT, "set")


def _plan_preflight(code: AccessCode, now: datetime) -> Plan | None:
    """PREFLIGHT for a code not yet due on its lock, unless a recent check still holds."""
    checked = code.preflight_passed_at
    if checked is None or checked <= now - preflight_interval() or code.attempt_count:
        return Plan(Step.PREFLIGHT, "inside the advance window")
    return None


def _plan_sent(code: AccessCode, now: datetime) -> Plan | None:
    """SEND or POLL for a code that must be on its lock now; None if it is there, confirmed."""
    if not code.lock_has_current_version:
        return Plan(Step.SEND, "not on the lock in its current version")
    if code.status == AccessCodeStatus.SETTING:
        return Plan(Step.POLL, "waiting for the lock to confirm")
    return None


def milestones(code: AccessCode, now: datetime, *, load_at: datetime | None = None) -> list[datetime]:
    """The instants at which this code's situation changes by the clock alone (``load_at``: as
    for ``plan``)."""
    if code.type != AccessCodeType.TIME_BOUND or code.deleted_at is not None:
        return []
    points = [code.starts_at - advance(), code.starts_at - review_lead(), code.starts_at, code.ends_at]
    if load_at is not None and uses_lock_schedule(code):
        points.append(load_at)
        if code.preflight_passed_at is not None:
            points.append(code.preflight_passed_at + preflight_interval())
    if code.use_backup_access_code_pool:
        points.append(code.starts_at - AUTO_PULL_LEAD)
    if not uses_lock_schedule(code):
        points.append(code.starts_at - just_in_time())
        if code.preflight_passed_at is not None:
            points.append(code.preflight_passed_at + preflight_interval())
    return [p for p in points if p > now]


def is_working_on_lock(code: AccessCode, now: datetime) -> bool:
    """The lock holds the code's current version and opens the door with it at its start by
    itself: set, or loaded with its schedule (an offline PIN: derived), and not over. Such a
    code needs nothing more of its lock until it ends."""
    if is_over(code, now) or not code.lock_has_current_version:
        return False
    return code.status == AccessCodeStatus.SET or code.is_scheduled_on_device


def should_auto_pull(code: AccessCode, *, now: datetime, blocked: bool) -> bool:
    """The code, as its step left it, is failing shortly before arrival: not working on its
    lock, and ``blocked`` by an error (the caller judged its issues, ``Weight.BLOCKS``). A code
    merely waiting for its start on a lock that keeps schedules is healthy: it is ``unset``
    until then. (Its lock's pool pulls by itself: the caller knows.)"""
    if not code.use_backup_access_code_pool or code.pulled_backup_access_code_id or code.deleted_at:
        return False
    if not (code.starts_at - AUTO_PULL_LEAD <= now < code.ends_at):
        return False
    return blocked and not is_working_on_lock(code, now)


# --- A lock's memory over time: which code holds a slot when ------------------------------------
#
# A lock keeps a fixed number of codes. Each code needs a slot from the moment it must be on the
# lock (its start, or just in time before it) until it comes off, and may take one earlier (a
# lock that keeps schedules holds it ahead, up to ADVANCE_PROGRAMMING_DAYS). ``plan_slots`` decides
# when each code goes on, so that the lock never holds more codes than it has slots: first every
# code's need (the shortest time it can be on), in order of when it must be on; then earlier
# loading, by order of start, only into slots nobody needs then. A code whose need does not fit
# is a genuine overflow, reported with the moment the lock is full.


@dataclass(frozen=True)
class SlotNeed:
    """One code's claim on a slot, in plain data. ``earliest``: the first moment it may go on;
    ``latest``: the moment it must be on (its start, or just in time before it); ``ends``: when it
    comes off (None: it stays). A ``fixed`` code is on the lock from now until it ends, whatever
    the plan (a code set outside Latchkey, an ongoing code, a backup, one being removed).
    ``on_lock``: already loaded, kept there where the plan allows."""

    key: object
    earliest: datetime
    latest: datetime
    ends: datetime | None
    fixed: bool = False
    on_lock: bool = False


@dataclass(frozen=True)
class SlotUse:
    """When the plan puts a code on the lock, and when it comes off (None: it stays)."""

    load_at: datetime
    remove_at: datetime | None


@dataclass
class SlotPlan:
    capacity: int
    now: datetime
    uses: dict  # key -> SlotUse, for every code that fits
    overflows: dict  # key -> the moment the lock is full when the code needs its slot

    def holding(self, at: datetime) -> list:
        """Keys of the codes on the lock at ``at`` by the plan."""
        return [
            key
            for key, use in self.uses.items()
            if use.load_at <= at and (use.remove_at is None or at < use.remove_at)
        ]

    def steps(self, until: datetime) -> list[tuple[datetime, int]]:
        """(moment, codes on the lock from then) at every change from ``now`` to ``until``."""
        changes: dict = {}
        for use in self.uses.values():
            if use.load_at < until:
                changes[max(use.load_at, self.now)] = changes.get(max(use.load_at, self.now), 0) + 1
                if use.remove_at is not None and use.remove_at < until:
                    changes[use.remove_at] = changes.get(use.remove_at, 0) - 1
        used, out = 0, []
        for at in sorted(changes):
            used += changes[at]
            if not out or out[-1][1] != used:
                out.append((at, used))
        return out or [(self.now, 0)]

    def peak(self, until: datetime) -> tuple[datetime, int]:
        """The first busiest moment from ``now`` to ``until``, and how many codes it holds."""
        return max(self.steps(until), key=lambda step: (step[1], -step[0].timestamp()))


class _Profile:
    """How many codes hold a slot in each span between the plan's breakpoints (all known in
    advance: every need's earliest, latest, review moment and end)."""

    def __init__(self, points) -> None:
        self.times = sorted(set(points))
        self.index = {t: n for n, t in enumerate(self.times)}
        self.count = [0] * len(self.times)

    def add(self, start: int, stop: int) -> None:
        self.count[start:stop] = [n + 1 for n in self.count[start:stop]]

    def first_full(self, start: int, stop: int, capacity: int) -> int | None:
        for n in range(start, stop):
            if self.count[n] >= capacity:
                return n
        return None

    def last_full(self, start: int, stop: int, capacity: int) -> int | None:
        for n in range(stop - 1, start - 1, -1):
            if self.count[n] >= capacity:
                return n
        return None


_FOREVER = datetime.max.replace(tzinfo=UTC)


def plan_slots(*, capacity: int, needs: list[SlotNeed], now: datetime, review_lead: timedelta) -> SlotPlan:
    """When each code goes on the lock and comes off; pure.

    1. Fixed codes hold their slots. Every other code, in order of the moment it must be on (a
       code already on the lock first among equals), reserves the shortest stay it can have,
       ``latest`` to ``ends``, if the lock has a free slot throughout; if not, it overflows at
       the first moment the lock is full. Loading later never frees a slot, so a code that
       overflows here fits in no plan that keeps the codes before it.
    2. Then each code is moved earlier, in order of start, into slots nobody holds: first back to
       ``review_lead`` before it must be on, so problems show in time; then codes already on the
       lock stay there where they can; then back to ``earliest``. A code never moves earlier
       than the last moment the lock is full before it, so it takes no slot another code needs.
    """
    needs = [
        SlotNeed(n.key, max(n.earliest, now), max(n.latest, now), n.ends, n.fixed, n.on_lock)
        if not n.fixed
        else SlotNeed(n.key, now, now, n.ends, True, True)
        for n in needs
        if n.ends is None or n.ends > now
    ]
    points = [now, _FOREVER]
    for need in needs:
        points += [need.earliest, need.latest, max(need.earliest, need.latest - review_lead)]
        points.append(need.ends or _FOREVER)
    profile = _Profile(points)
    at = profile.index
    order = sorted(
        (n for n in needs if not n.fixed), key=lambda n: (n.latest, not n.on_lock, n.ends or _FOREVER)
    )
    loads: dict = {}
    overflows: dict = {}
    for need in needs:
        if need.fixed:
            profile.add(at[now], at[need.ends or _FOREVER])
            loads[need.key] = now
    for need in order:
        start, stop = at[need.latest], at[need.ends or _FOREVER]
        full = profile.first_full(start, stop, capacity)
        if full is None:
            profile.add(start, stop)
            loads[need.key] = need.latest
        else:
            overflows[need.key] = profile.times[full]
    placed = [n for n in order if n.key in loads]

    def move_earlier(need: SlotNeed, target: datetime) -> None:
        start, stop = at[target], at[loads[need.key]]
        if start >= stop:
            return
        full = profile.last_full(start, stop, capacity)
        begin = start if full is None else full + 1
        if begin < stop:
            profile.add(begin, stop)
            loads[need.key] = profile.times[begin]

    for need in placed:
        move_earlier(need, max(need.earliest, need.latest - review_lead))
    for need in placed:
        if need.on_lock:
            start, stop = at[need.earliest], at[loads[need.key]]
            if profile.first_full(start, stop, capacity) is None:
                move_earlier(need, need.earliest)
    for need in placed:
        move_earlier(need, need.earliest)
    uses = {need.key: SlotUse(loads[need.key], need.ends) for need in needs if need.key in loads}
    return SlotPlan(capacity=capacity, now=now, uses=uses, overflows=overflows)


def slot_need(code: AccessCode, *, now: datetime) -> SlotNeed | None:
    """What ``code`` asks of its lock's memory (None: no slot, as an offline PIN or a code that
    is over and off the lock)."""
    if code.is_offline_access_code:
        return None
    on_lock = code.may_be_on_lock
    if is_over(code, now):
        # On the lock until it is taken off: it holds its slot now, not later.
        return SlotNeed(code.pk, now, now, now + timedelta(microseconds=1), fixed=True) if on_lock else None
    if on_lock or not code.is_managed:
        # On the lock until it ends. The scheduler takes no code off early to make room, so the
        # plan never counts on that.
        return SlotNeed(code.pk, now, now, code.ends_at, fixed=True)
    if code.type != AccessCodeType.TIME_BOUND:  # ongoing, not on the lock yet: wanted there now
        return SlotNeed(code.pk, now, now, None)
    if uses_lock_schedule(code):
        earliest, latest = code.starts_at - advance(), code.starts_at
    else:  # set just in time: on the lock any earlier, it would open the door early
        earliest = latest = code.starts_at - just_in_time()
    return SlotNeed(code.pk, earliest, latest, code.ends_at)


def lock_slot_plan(
    device, codes, *, now: datetime, unplanned: int = 0, unknown_as_unbounded: bool = False
) -> SlotPlan | None:
    """The plan of ``device``'s memory from its ``codes`` (every code on it, in any state) and
    ``unplanned`` slots taken besides (backups its pool has still to create, codes the lock holds
    that Latchkey has no record of); None when its capacity is unknown (each code then goes on as
    it always did, from ``ADVANCE_PROGRAMMING_DAYS`` before its start). With
    ``unknown_as_unbounded``, such a lock gets a plan that never runs out of slots: what it
    will hold when every code goes on as it always did (the forecast of a lock page)."""
    capacity = device.max_active_codes_supported
    if capacity is None and not unknown_as_unbounded:
        return None
    needs = [need for code in codes if (need := slot_need(code, now=now)) is not None]
    needs += [SlotNeed(("unplanned", n), now, now, None, fixed=True) for n in range(unplanned)]
    if capacity is None:
        capacity = len(needs) + 1
    return plan_slots(capacity=capacity, needs=needs, now=now, review_lead=review_lead())
