"""The promise to a property manager: a guest's code works when they arrive, or staff learn
what is wrong at least three days before.

One sweep finds the codes that are due (``next_attempt_at <= now``), claims each with a lease,
and moves it one step along its life:

- an ongoing code is sent to its lock at once;
- a time-bound code on a lock that keeps schedules itself is loaded with its window from
  ``ADVANCE_PROGRAMMING_DAYS`` before it starts, and confirmed active at ``starts_at``;
- a time-bound code on any other lock is pre-flighted from that moment (lock reachable, keypad,
  a free slot at ``starts_at``, PIN valid and unique on the lock), sent ``JUST_IN_TIME_MINUTES``
  before it starts, and removed at ``ends_at``;
- a code not ready ``REVIEW_LEAD_HOURS`` before it starts is flagged for review with the reason;
- a code still not set when it starts, or still on the lock after it ends, gets the matching
  ``delay_in_*`` warning and event.

Everything is decided from stored state and the ``now`` it is given, so ``scheduler_tick --at``
and tests drive it without tricks. After each step the code's next look is the earliest of its
retry time and its next milestone, so the sweep's cost follows the due work, not the total.
"""

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from codes import backup_pool, services
from codes.locking import claim_due_codes, lock_devices
from codes.models import AccessCode, AccessCodeStatus, AccessCodeType, BackupAccessCodePool, EventType
from codes.programming import access_code_push
from codes.selectors import access_code_issues, codes_at_instant
from devices import rules
from devices.models import IssueKind
from devices.providers import provider_for
from devices.providers.base import Result

logger = logging.getLogger(__name__)


def advance() -> timedelta:
    return timedelta(days=settings.ADVANCE_PROGRAMMING_DAYS)


def review_lead() -> timedelta:
    return timedelta(hours=settings.REVIEW_LEAD_HOURS)


def just_in_time() -> timedelta:
    return timedelta(minutes=settings.JUST_IN_TIME_MINUTES)


def preflight_interval() -> timedelta:
    return timedelta(hours=settings.PREFLIGHT_INTERVAL_HOURS)


class Step(StrEnum):
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


def uses_lock_schedule(code: AccessCode) -> bool:
    """Loaded ahead with its window (the lock, or the offline PIN, enforces it) rather than set
    just in time."""
    return code.type == AccessCodeType.TIME_BOUND and (
        code.device.has_native_scheduling or code.is_offline_access_code
    )


def plan(code: AccessCode, now: datetime) -> Plan:
    """What the code needs now, from its stored state and the clock alone."""
    ended = code.ends_at is not None and code.ends_at <= now
    if code.deleted_at is not None or ended:
        if code.may_be_on_lock:
            return Plan(Step.REMOVE, "deleted" if code.deleted_at else "ended")
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
        points.append(code.starts_at - backup_pool.AUTO_PULL_LEAD)
    if not uses_lock_schedule(code):
        points.append(code.starts_at - just_in_time())
        if code.preflight_passed_at is not None:
            points.append(code.preflight_passed_at + preflight_interval())
    return [p for p in points if p > now]


# --- The sweep ----------------------------------------------------------------------------------


@dataclass
class SweepReport:
    claimed: int = 0
    steps: dict | None = None

    def count(self, step: Step) -> None:
        self.steps = self.steps or {}
        self.steps[step.value] = self.steps.get(step.value, 0) + 1


def sweep(*, now: datetime | None = None, limit: int | None = None) -> SweepReport:
    """Process every due code, batch by batch, until none is left (or ``limit`` codes)."""
    now = now or timezone.now()
    lease = timedelta(seconds=settings.SCHEDULER_LEASE_SECONDS)
    report = SweepReport()
    while limit is None or report.claimed < limit:
        batch = (
            settings.SCHEDULER_BATCH_SIZE
            if limit is None
            else min(settings.SCHEDULER_BATCH_SIZE, limit - report.claimed)
        )
        ids = claim_due_codes(now=now, limit=batch, lease=lease)
        if not ids:
            break
        report.claimed += len(ids)
        for pk in ids:
            try:
                report.count(process(pk, now=now))  # releases the code's lease when done
            except Exception:  # one broken code must not stop the sweep; its lease lapses and it is retried
                logger.exception("scheduler failed on access code %s", pk)
    return report


def due_plans(*, now: datetime, limit: int = 1000) -> list[tuple[AccessCode, Plan]]:
    """What a sweep at ``now`` would do, without doing it (``scheduler_tick --dry-run``)."""
    due = (
        AccessCode.objects.select_related("device")
        .filter(next_attempt_at__lte=now)
        .order_by("next_attempt_at")
    )
    return [(code, plan(code, now)) for code in due[:limit]]


def process(pk, *, now: datetime) -> Step:
    """One step for one claimed code. Provider calls happen outside any transaction."""
    code = AccessCode.objects.select_related("device__connected_account").get(pk=pk)
    decided = plan(code, now)
    if decided.step in (Step.SEND, Step.POLL, Step.REMOVE):
        access_code_push(code, now=now)
    elif decided.step is Step.PREFLIGHT:
        preflight(code, now=now)
    elif decided.step is Step.FINISH:
        services.access_code_finish(access_code=code, now=now)
    _after_step(code, now=now)
    return decided.step


def _after_step(code: AccessCode, *, now: datetime) -> None:
    """After a step: a backup pulled where the pool pulls by itself, warnings that depend on the
    clock, the review flag, and the code's next look."""
    if _should_auto_pull(code, now=now):
        # An empty pool raises; the lock then carries empty_backup_access_code_pool.
        with contextlib.suppress(ValidationError):
            backup_pool.backup_code_pull(access_code=code, now=now)
    with transaction.atomic():
        lock_devices([code.device_id])
        code = AccessCode.objects.select_related("device").get(pk=code.pk)
        code.claimed_until = None  # this step is done: release the lease with the same write
        if code.deleted_at is not None and not code.may_be_on_lock:
            code.next_attempt_at = None
            code.save(update_fields=["next_attempt_at", "claimed_until"])
            return
        _warn_about_delays(code, now=now)
        _flag_if_not_ready(code, now=now)
        due = code.next_attempt_at
        if due is not None and due <= now and plan(code, now).step is Step.WAIT:
            due = None  # the look that brought it here is done
        looks = [t for t in (due, *milestones(code, now)) if t is not None]
        if code.attempt_count and code.next_attempt_at is None:
            # Refused for good (no keypad, slots full, bad format): nothing is retried blindly,
            # but the lock is asked again now and then, so a fix made outside Latchkey (a
            # keypad connected, codes deleted in the maker's app) is noticed.
            looks.append(now + preflight_interval())
        code.next_attempt_at = min(looks) if looks else None
        code.save(update_fields=["next_attempt_at", "needs_review", "review_reason", "claimed_until"])


def _warn_about_delays(code: AccessCode, *, now: datetime) -> None:
    live = code.deleted_at is None and (code.ends_at is None or code.ends_at > now)
    late_to_set = (
        live and code.starts_at is not None and now >= code.starts_at and code.status != AccessCodeStatus.SET
    )
    if late_to_set:
        _warn_once(code, "delay_in_setting_on_device", EventType.DELAY_IN_SETTING_ON_DEVICE, now=now)
    overdue_since = code.deleted_at or code.ends_at
    if not live and code.may_be_on_lock and overdue_since is not None and now >= overdue_since:
        _warn_once(code, "delay_in_removing_from_device", EventType.DELAY_IN_REMOVING_FROM_DEVICE, now=now)


def _warn_once(code: AccessCode, warning: str, event_type: EventType, *, now: datetime) -> None:
    if code.issues.filter(kind=IssueKind.WARNING, code=warning, cleared_at__isnull=True).exists():
        return
    services.access_code_issue_raise(access_code=code, kind=IssueKind.WARNING, code=warning, now=now)
    services.event_record(event_type, access_code=code, occurred_at=now)


def _should_auto_pull(code: AccessCode, *, now: datetime) -> bool:
    if not code.use_backup_access_code_pool or code.pulled_backup_access_code_id or code.deleted_at:
        return False
    if code.status == AccessCodeStatus.SET or not (
        code.starts_at - backup_pool.AUTO_PULL_LEAD <= now < code.ends_at
    ):
        return False
    return BackupAccessCodePool.objects.filter(
        device_id=code.device_id, is_enabled=True, auto_pull=True
    ).exists()


def readiness_problem(code: AccessCode) -> str | None:
    """Why the code would not work if the guest arrived, or None if it is ready."""
    errors = [i for i in access_code_issues(code) if i.kind == IssueKind.ERROR]
    if errors:
        worst = errors[0]
        return f"{worst.code}: {worst.message} What to do: {worst.remedy}"
    if code.type == AccessCodeType.ONGOING or not uses_lock_schedule(code):
        if code.type == AccessCodeType.ONGOING and code.status != AccessCodeStatus.SET:
            return "not set on the lock yet"
        if (
            code.type == AccessCodeType.TIME_BOUND
            and code.status != AccessCodeStatus.SET
            and code.preflight_passed_at is None
        ):
            return "the lock has not passed its pre-flight check"
        return None
    if not (code.is_scheduled_on_device or code.status == AccessCodeStatus.SET):
        return "not loaded onto the lock with its schedule yet"
    return None


def _flag_if_not_ready(code: AccessCode, *, now: datetime) -> None:
    if code.deleted_at is not None or code.is_backup or code.pulled_backup_access_code_id:
        return  # a code with a pulled backup stays flagged for that until staff resolve it
    deadline = code.starts_at - review_lead() if code.starts_at else code.created_at
    if now < deadline and not code.needs_review:
        return  # not urgent yet: problems are on the code, the flag comes at the deadline
    problem = readiness_problem(code)
    if problem and now >= deadline:
        code.needs_review = True
        code.review_reason = problem
    elif problem is None and code.needs_review:
        code.needs_review = False
        code.review_reason = ""


# --- Pre-flight ---------------------------------------------------------------------------------


def preflight(code: AccessCode, *, now: datetime) -> list[str]:
    """Check, without programming anything, that the lock could take this code at its start:
    reachable, with a keypad, a free slot at ``starts_at``, and a PIN it accepts that nothing
    on it already uses. Problems become errors with remedies now, days before the guest."""
    device = code.device
    provider = provider_for(device.connected_account, now=now)
    problems: list[tuple[str, str]] = []
    probe = provider.probe(device.provider_device_id)
    if probe.result == Result.FAILED:
        problems += [(p.code, p.message) for p in probe.errors]
    else:
        held = [
            h
            for h in provider.list_codes(device.provider_device_id)
            if h.provider_code_id != code.provider_code_id
        ]
        if code.code and any(h.code == code.code for h in held):
            problems.append(("duplicate_code_on_device", "Another code on the lock already uses this PIN."))
        ours = set(
            AccessCode.objects.filter(
                device_id=code.device_id, provider_code_id__in=[h.provider_code_id for h in held]
            ).values_list("provider_code_id", flat=True)
        )
        unmanaged = sum(1 for h in held if h.provider_code_id not in ours)
        if _slots_short(code, extra=unmanaged):
            problems.append(
                ("no_space_for_access_code_on_device", "The lock has no free slot when this code starts.")
            )
    if code.code and rules.pin_violations(device, code.code):
        problems.append(("august_lock_bad_access_code_format", "The lock's rules refuse this PIN."))
    services.access_code_record_preflight(
        access_code=code, problems=problems, transient=probe.transient, now=now
    )
    return [c for c, _ in problems]


def _slots_short(code: AccessCode, *, extra: int) -> bool:
    """Would the lock be over capacity at ``starts_at``, counting every code that occupies it
    then (this one included), codes on it that Latchkey does not manage, and the backup pool?"""
    slots = code.device.max_active_codes_supported
    if slots is None:
        return False
    occupying = codes_at_instant(code.device, code.starts_at).exclude(pk=code.pk).count() + 1
    pool = BackupAccessCodePool.objects.filter(device=code.device, is_enabled=True).first()
    # Backups already created are codes on the lock, counted above; the rest are still to come.
    reserved = max(pool.target_size - backup_pool.reserve(pool).count(), 0) if pool else 0
    return occupying + extra + reserved > slots


# --- Drift ---------------------------------------------------------------------------------------


def check_drift(*, now: datetime | None = None, devices=None) -> dict:
    """Compare what each lock holds with what Latchkey declares, and act on the differences.

    Only codes whose current version the lock confirmed are judged: a code still on its way
    is not drift. A lock that cannot be asked is skipped; the next run asks again.
    """
    from devices.models import Device

    now = now or timezone.now()
    counts = {"devices": 0, "changed": 0, "removed": 0, "unmanaged": 0}
    devices = (
        devices
        if devices is not None
        else Device.objects.select_related("connected_account").filter(access_codes__isnull=False).distinct()
    )
    for device in devices:
        provider = provider_for(device.connected_account, now=now)
        try:
            held = provider.list_codes(device.provider_device_id)
        except Exception:  # unreachable now; drift can wait for the next run
            logger.warning("could not list codes on %s for drift", device.pk, exc_info=True)
            continue
        counts["devices"] += 1
        by_id = {h.provider_code_id: h for h in held}
        settled = (
            AccessCode.objects.filter(device=device, is_managed=True, deleted_at__isnull=True)
            .exclude(provider_code_id="")
            .filter(Q(status=AccessCodeStatus.SET) | Q(is_scheduled_on_device=True))
        )
        for code in settled:
            if code.sent_version != code.version:
                continue
            found = by_id.get(code.provider_code_id)
            if found is None:
                services.access_code_record_drift(access_code=code, held_code=None, now=now)
                counts["removed"] += 1
            elif found.code != code.code:
                services.access_code_record_drift(access_code=code, held_code=found.code, now=now)
                counts["changed"] += 1
        counts["unmanaged"] += len(services.unmanaged_codes_sync(device=device, held=held, now=now))
    return counts
