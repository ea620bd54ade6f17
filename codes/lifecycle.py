"""A code's clock, and what it needs from its lock: decided from its stored state and a ``now``
alone.

Pure: no database, no queries. It reads attributes of the model instances it is given and
Django's settings (at call time, so a changed setting is seen at once). The scheduler, the
programming of one code, the services and the selectors all decide from here, so that one
question (when does a code go on its lock? must it come off?) has one answer.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
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
    WAIT = "wait"  # nothing to do until the next milestone


@dataclass(frozen=True)
class Plan:
    step: Step
    reason: str


def plan(code: AccessCode, now: datetime) -> Plan:
    """What the code needs now, from its stored state and the clock alone."""
    action = needed_action(code, now=now)
    if action is LockAction.REMOVE:
        return Plan(Step.REMOVE, "deleted" if code.deleted_at else "ended")
    if action is None:
        return Plan(Step.FINISH, "over, and never on the lock")
    if code.type == AccessCodeType.ONGOING:
        return _plan_sent(code, now) or Plan(Step.WAIT, "set")
    if now < code.starts_at - advance():
        return Plan(Step.WAIT, "not yet in the advance window")
    if uses_lock_schedule(code):
        sent = _plan_sent(code, now)
        if sent:
            return sent
        if now >= code.starts_at and code.status != AccessCodeStatus.SET:
            return Plan(Step.POLL, "should be active now")
        return Plan(Step.WAIT, "loaded with its schedule")
    if now < code.starts_at - just_in_time():
        checked = code.preflight_passed_at
        if checked is None or checked <= now - preflight_interval() or code.attempt_count:
            return Plan(Step.PREFLIGHT, "inside the advance window")
        return Plan(Step.WAIT, "pre-flighted")
    return _plan_sent(code, now) or Plan(Step.WAIT, "set")


def _plan_sent(code: AccessCode, now: datetime) -> Plan | None:
    """SEND or POLL for a code that must be on its lock now; None if it is there, confirmed."""
    if not code.lock_has_current_version:
        return Plan(Step.SEND, "not on the lock in its current version")
    if code.status == AccessCodeStatus.SETTING:
        return Plan(Step.POLL, "waiting for the lock to confirm")
    return None


def milestones(code: AccessCode, now: datetime) -> list[datetime]:
    """The instants at which this code's situation changes by the clock alone."""
    if code.type != AccessCodeType.TIME_BOUND or code.deleted_at is not None:
        return []
    points = [code.starts_at - advance(), code.starts_at - review_lead(), code.starts_at, code.ends_at]
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
