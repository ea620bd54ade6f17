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
- a code not ready ``REVIEW_LEAD_HOURS`` before it starts is flagged for review with the reason
  (one with an error only a person can fix, at once: ``selectors.review_reason``);
- a code still not set when it starts, or still on the lock after it ends, gets the matching
  ``delay_in_*`` warning and event.

Everything is decided from stored state and the ``now`` it is given (``codes.lifecycle``: the
plan, the milestones and the durations), so ``scheduler_tick --at`` and tests drive it without
tricks. After each step the code's next look is the earliest of its retry time and its next
milestone, so the sweep's cost follows the due work, not the total.
"""

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from codes import lifecycle
from codes.catalog import NO_SPACE
from codes.lifecycle import Plan, Step
from codes.locking import claim_due_codes, make_due_now
from codes.models import AccessCode, AccessCodeIssue, AccessCodeStatus, BackupAccessCodePool, EventType
from codes.programming import call_lock, failure_words, provider_failure, send_in_flight_marks, sends_new_copy
from codes.selectors import Weight, slot_plans
from codes.services import backup_pool, drift
from codes.services import ledger as code_ledger
from common.db import update_rows
from devices import rules
from devices.models import IssueKind
from devices.providers import provider_for
from devices.providers.base import HeldCode, Outcome, Problem, Result

logger = logging.getLogger(__name__)


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
    providers = _Providers(now)
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
        for step in process_batch(ids, now=now, providers=providers):
            report.count(step)
    return report


def due_plans(*, now: datetime, limit: int = 1000) -> list[tuple[AccessCode, Plan]]:
    """What a sweep at ``now`` would do, without doing it (``scheduler_tick --dry-run``)."""
    due = list(
        AccessCode.objects.select_related("device__property")
        .filter(next_attempt_at__lte=now)
        .order_by("next_attempt_at")[:limit]
    )
    slots = slot_plans({code.device_id: code.device for code in due}.values(), now=now)
    return [(code, _plan(code, slots.get(code.device_id), now=now)) for code in due]


class _Providers:
    """One provider per connected account for the length of one sweep, since building one can
    cost (a Seam client, its credentials decrypted). Never kept across sweeps: nothing may
    assume one long-lived process, and an account's settings may change between sweeps."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._by_account: dict = {}

    def __call__(self, account):
        if account.pk not in self._by_account:
            self._by_account[account.pk] = provider_for(account, now=self.now)
        return self._by_account[account.pk]


def process_batch(ids, *, now: datetime, providers: _Providers | None = None) -> list[Step]:
    """One step for each claimed code. Returns the steps taken; a code whose step could not be
    recorded is left out, with the failure on it (``_record_lost``).

    The batch moves in stages, so that it costs a few queries rather than a few per code: the
    codes are read at once; their locks are called, outside Latchkey's transactions (one
    provider session per account, see ``Provider.session``); then the answers, and what follows
    from each, are recorded in one transaction (``ledger.Ledger``). Pre-flight checks go in a
    second such round, so that their count of a lock's codes sees this batch's sends and
    removals recorded, as it would have had the codes been processed one after another.
    """
    providers = providers or _Providers(now)
    position = {pk: n for n, pk in enumerate(ids)}  # claim order: the most overdue first
    codes = sorted(
        AccessCode.objects.select_related("device__connected_account", "device__property").filter(pk__in=ids),
        key=lambda code: position[code.pk],
    )
    slots = _slot_plans(codes, now=now)
    plans = {}
    for code in codes:
        try:
            plans[code.pk] = _plan(code, slots.get(code.device_id), now=now)
        except Exception as exc:  # one broken code must not stop the sweep
            logger.exception("scheduler failed on access code %s", code.pk)
            _record_lost(code, None, exc, now=now)
    codes = [code for code in codes if code.pk in plans]
    done = []
    for preflights in (False, True):
        group = [code for code in codes if (plans[code.pk].step is Step.PREFLIGHT) == preflights]
        if group:
            if not preflights:
                _write_down_sends(group, plans)
            answers = _call_locks(group, plans, now=now, providers=providers)
            done += _record(
                [code for code in group if code.pk in answers], plans, answers, now=now, slots=slots
            )
    return [plans[pk].step for pk in done]


# --- The lock's memory: the slot plan -----------------------------------------------------------


def _slot_plans(codes: list[AccessCode], *, now: datetime) -> dict:
    """The slot plan of each lock of these codes whose capacity is known, by device id. Codes of
    those locks (outside this batch) whose plan changed their fate are made due at once: one
    that no longer fits is told now, days ahead, not at its turn; one that fits again loses the
    error it carried (``_plan``)."""
    plans = slot_plans({code.device_id: code.device for code in codes}.values(), now=now)
    if not plans:
        return plans
    in_batch = {code.pk for code in codes}
    # Only a crowded lock's plan places codes; the others' plans are empty (``slot_plans``).
    crowded = [pk for pk, plan in plans.items() if plan.uses or plan.overflows]
    carrying = set(
        AccessCodeIssue.objects.filter(kind=IssueKind.ERROR, code=NO_SPACE, cleared_at__isnull=True)
        .filter(Q(access_code_id__in=in_batch) | Q(access_code__device_id__in=crowded))
        .values_list("access_code_id", flat=True)
    )
    for code in codes:
        code.carries_no_space = code.pk in carrying
    stale = []
    for plan in plans.values():
        stale += [pk for pk in plan.overflows if pk not in carrying]
        stale += [
            pk for pk, use in plan.uses.items() if pk in carrying and use.load_at > now
        ]  # waiting for its slot, which it will get: the error goes without calling the lock
    stale = [pk for pk in stale if pk not in in_batch]
    if stale:
        make_due_now(AccessCode.objects.filter(pk__in=stale), now=now)
    return plans


def _plan(code: AccessCode, slot_plan, *, now: datetime) -> Plan:
    """``lifecycle.plan`` with the code's place in its lock's slot plan, if the lock has one."""
    if slot_plan is None or lifecycle.is_over(code, now) or code.may_be_on_lock:
        return lifecycle.plan(code, now)
    if code.pk in slot_plan.overflows:
        return Plan(Step.OVERFLOW, _overflow_message(code, slot_plan, slot_plan.overflows[code.pk]))
    use = slot_plan.uses.get(code.pk)
    step = lifecycle.plan(code, now, load_at=use.load_at if use else None)
    if step.step is Step.WAIT and getattr(code, "carries_no_space", False):
        return Plan(Step.WAIT, "fits its lock's slot plan again")
    return step


def _overflow_message(code: AccessCode, slot_plan, at: datetime) -> str:
    zone = code.device.zone
    holding = len(slot_plan.holding(at))
    return (
        f"The lock will have no free slot for this code on {at.astimezone(zone):%a %Y-%m-%d %H:%M %Z} "
        f"({zone.key}): {holding} codes will hold all {slot_plan.capacity} of its slots then."
    )


def _load_at(code: AccessCode, slots: dict | None) -> datetime | None:
    slot_plan = (slots or {}).get(code.device_id)
    use = slot_plan.uses.get(code.pk) if slot_plan is not None else None
    return use.load_at if use is not None else None


def _write_down_sends(codes: list[AccessCode], plans: dict) -> None:
    """Commit, before any lock is called, which codes are about to be stored on their locks as
    new copies (``AccessCode.send_in_flight``), so that a worker dying between the lock's answer
    and its record leaves the copy findable. The codes in hand keep the marks as read: those
    tell this attempt whether an earlier send went unanswered."""
    sending = [
        AccessCode(pk=code.pk, send_in_flight=send_in_flight_marks(code))
        for code in codes
        if plans[code.pk].step is Step.SEND and sends_new_copy(code)
    ]
    update_rows(sending, ["send_in_flight"])


def _call_locks(codes: list[AccessCode], plans: dict, *, now: datetime, providers: _Providers) -> dict:
    """What each code's lock answered, by code id (None for a step that needs no lock). Every
    code that needed its lock gets an answer: a provider that raised, in a call or in its
    session (on entry or at exit: whatever it did on its locks was then not kept), answers a
    transient failure, in its own words, for every code it concerned. One account's failure
    never holds back another's."""
    answers: dict = {}
    by_account: dict = {}
    for code in codes:
        if plans[code.pk].step in (Step.SEND, Step.POLL, Step.REMOVE, Step.PREFLIGHT):
            by_account.setdefault(code.device.connected_account_id, []).append(code)
        else:
            answers[code.pk] = None
    for account_id, calling in by_account.items():
        try:
            answers.update(_call_account(calling, plans, now=now, providers=providers))
        except Exception as exc:
            logger.exception(
                "provider session of account %s failed; recorded as a failure on access codes %s",
                account_id,
                [code.pk for code in calling],
            )
            answers.update(
                {code.pk: _failed_answer(code, plans[code.pk].step, exc, now=now) for code in calling}
            )
    return answers


def _call_account(codes: list[AccessCode], plans: dict, *, now: datetime, providers: _Providers) -> dict:
    """The calls for one account's codes, in one provider session. Raises if the provider or
    its session does, for the caller to record on every code."""
    provider = providers(codes[0].device.connected_account)
    answers = {}
    adopted: set = set()  # lock copies taken up from unanswered sends, one owner each
    offline_pins: dict = {}  # offline PINs handed out in this batch, by lock
    with provider.session(sorted({code.device.provider_device_id for code in codes})):
        for code in codes:
            try:
                if plans[code.pk].step is Step.PREFLIGHT:
                    answers[code.pk] = ask_lock(code, provider)
                else:
                    answers[code.pk] = call_lock(
                        code, now=now, provider=provider, adopted=adopted, offline_pins=offline_pins
                    )
            except Exception as exc:  # one call that raised must not stop the others
                logger.exception("provider call for access code %s failed", code.pk)
                answers[code.pk] = _failed_answer(code, plans[code.pk].step, exc, now=now)
    checks = {pk: answer for pk, answer in answers.items() if isinstance(answer, LockCheck)}
    if checks:  # judged once the session is over, with Latchkey's records read for all at once
        judged = [code for code in codes if code.pk in checks]
        try:
            answers.update(preflight_findings(judged, checks, now=now))
        except Exception as exc:  # Latchkey's own fault, not the lock's: said so on each code
            logger.exception("judging the pre-flight checks of access codes %s failed", list(checks))
            problem = (
                "failed_to_set_on_device",
                f"Latchkey could not judge its check ({failure_words(exc)}).",
            )
            answers.update({code.pk: Preflight([problem], transient=True) for code in judged})
    return answers


def _failed_answer(code: AccessCode, step: Step, exc: Exception, *, now: datetime):
    """A provider's exception as the answer to this code's step."""
    if step is Step.PREFLIGHT:
        message = f"The lock's provider failed ({failure_words(exc)})."
        return Preflight([("failed_to_set_on_device", message)], transient=True)
    return provider_failure(_action(code, now=now), exc)


def _action(code: AccessCode, *, now: datetime) -> lifecycle.LockAction:
    return lifecycle.needed_action(code, now=now) or lifecycle.LockAction.SET


def _record(codes: list[AccessCode], plans: dict, answers: dict, *, now: datetime, slots=None) -> list:
    """Record each code's answer and what follows it; returns the ids done. Should the batch
    fail to record (one broken code), its codes are recorded one by one, so the others keep
    their answers and only the broken one waits for its lease to lapse."""
    try:
        done, pulling = _record_answers(codes, plans, answers, now=now, slots=slots)
    except Exception:
        logger.exception("recording a batch failed; recording its codes one by one")
        done, pulling = [], []
        for code in codes:
            try:
                one_done, one_pulling = _record_answers([code], plans, answers, now=now, slots=slots)
            except Exception as exc:
                logger.exception("recording access code %s failed", code.pk)
                _record_lost(code, plans[code.pk].step, exc, now=now)
                continue
            done += one_done
            pulling += one_pulling
    for code in pulling:
        try:
            _pull_backup(code, now=now)
        except Exception as exc:
            logger.exception("pulling a backup for access code %s failed", code.pk)
            _record_lost(code, plans[code.pk].step, exc, now=now)
            continue
        done.append(code.pk)
    return done


def _record_lost(code: AccessCode, step: Step | None, exc: Exception, *, now: datetime) -> None:
    """Latchkey itself failed to decide or record a code's step (not the lock): the code gets
    that failure as its outcome, retried with the usual backoff, so that a code whose recording
    fails every time still ends visibly (delay warnings, the review flag) rather than coming
    back unseen each time its lease lapses. Should even that fail, the error and a review flag
    are written directly."""
    action = lifecycle.LockAction.REMOVE if step is Step.REMOVE else lifecycle.LockAction.SET
    with contextlib.suppress(Exception):
        action = _action(code, now=now)
    generic = (
        "failed_to_set_on_device" if action is lifecycle.LockAction.SET else "failed_to_remove_from_device"
    )
    message = f"Latchkey could not record this step ({failure_words(exc)})."
    try:
        with transaction.atomic():
            ledger = code_ledger.Ledger.open([code], now=now)
            outcome = Outcome.failed(Problem(generic, message), transient=True)
            current = code_ledger.record_outcome(ledger, code, action, outcome)
            _after_step(ledger, current, now=now)
            ledger.save()
        return
    except Exception:
        logger.exception("recording the failure of access code %s failed too; writing it directly", code.pk)
    try:
        code_ledger.access_code_record_lost(access_code=code, error_code=generic, message=message, now=now)
    except Exception:  # the database itself is failing: only the log and the lease are left
        logger.exception(
            "access code %s: its failure could not be written; retried when its lease lapses", code.pk
        )


def _record_answers(codes: list[AccessCode], plans: dict, answers: dict, *, now: datetime, slots=None):
    """One transaction for the lot. Returns the ids done, and the codes that must first pull a
    backup (their next look is set after the pull, in ``_pull_backup``)."""
    with transaction.atomic():
        ledger = code_ledger.Ledger.open(codes, now=now)
        auto_pull = _auto_pulling_devices(codes)
        done, pulling = [], []
        for code in codes:
            current = _record_step(ledger, code, plans[code.pk], answers[code.pk])
            blocked = any(issue.weight is Weight.BLOCKS for issue in ledger.issues(current))
            if current.device_id in auto_pull and lifecycle.should_auto_pull(
                current, now=now, blocked=blocked
            ):
                pulling.append(code)
            else:
                _after_step(ledger, current, now=now, load_at=_load_at(current, slots))
                done.append(code.pk)
        ledger.save()
    return done, pulling


def _record_step(ledger: code_ledger.Ledger, code: AccessCode, plan: Plan, answer) -> AccessCode:
    """Apply one step's result to the code in the ledger; ``code`` is the row read before it."""
    step = plan.step
    if step is Step.OVERFLOW:  # raised at once, days ahead, without asking the lock
        return code_ledger.record_preflight(
            ledger, code, [(NO_SPACE, plan.reason)], transient=False, reached_lock=False
        )
    if step is Step.WAIT and getattr(code, "carries_no_space", False):
        current = ledger.get(code.pk)
        ledger.clear_code_issues(current, IssueKind.ERROR, [NO_SPACE])
        current.attempt_count = 0
        return current
    if step is Step.PREFLIGHT:
        return code_ledger.record_preflight(
            ledger, code, answer.problems, transient=answer.transient, reached_lock=answer.reached_lock
        )
    if step is Step.FINISH:
        return code_ledger.record_finish(ledger, code)
    if answer is not None:
        return code_ledger.record_outcome(
            ledger, code, answer.action, answer.outcome, assigned_code=answer.assigned_code
        )
    return ledger.get(code.pk)


def _pull_backup(code: AccessCode, *, now: datetime) -> None:
    # An empty pool raises; the lock then carries empty_backup_access_code_pool.
    with contextlib.suppress(ValidationError):
        backup_pool.backup_code_pull(access_code=code, now=now, record_empty_pool=True)
    with transaction.atomic():
        ledger = code_ledger.Ledger.open([code], now=now)
        _after_step(ledger, ledger.get(code.pk), now=now)
        ledger.save()


def _after_step(
    ledger: code_ledger.Ledger, code: AccessCode, *, now: datetime, load_at: datetime | None = None
) -> None:
    """After a step: warnings that depend on the clock, the review flag, the code's next look,
    and its lease released. ``load_at``: the code's place in its lock's slot plan."""
    ledger.release(code)
    if code.deleted_at is not None and not code.may_be_on_lock:
        code.next_attempt_at = None
        return
    _warn_about_delays(ledger, code, now=now)  # the review flag is judged when the ledger saves
    due = code.next_attempt_at
    if due is not None and due <= now and lifecycle.plan(code, now, load_at=load_at).step is Step.WAIT:
        due = None  # the look that brought it here is done
    looks = [t for t in (due, *lifecycle.milestones(code, now, load_at=load_at)) if t is not None]
    if code.attempt_count and code.next_attempt_at is None:
        # Refused for good (no keypad, slots full, bad format): nothing is retried blindly,
        # but the lock is asked again now and then, so a fix made outside Latchkey (a
        # keypad connected, codes deleted in the maker's app) is noticed.
        looks.append(now + lifecycle.preflight_interval())
    code.next_attempt_at = min(looks) if looks else None


def _warn_about_delays(ledger: code_ledger.Ledger, code: AccessCode, *, now: datetime) -> None:
    live = not lifecycle.is_over(code, now)
    late_to_set = (
        live and code.starts_at is not None and now >= code.starts_at and code.status != AccessCodeStatus.SET
    )
    if late_to_set:
        _warn_once(ledger, code, "delay_in_setting_on_device", EventType.DELAY_IN_SETTING_ON_DEVICE)
    overdue_since = code.deleted_at or code.ends_at
    if not live and code.may_be_on_lock and overdue_since is not None and now >= overdue_since:
        _warn_once(ledger, code, "delay_in_removing_from_device", EventType.DELAY_IN_REMOVING_FROM_DEVICE)


def _warn_once(ledger: code_ledger.Ledger, code: AccessCode, warning: str, event_type: EventType) -> None:
    if ledger.raise_code_issue(code, IssueKind.WARNING, warning):
        ledger.event(event_type, code)


def _auto_pulling_devices(codes: list[AccessCode]) -> set:
    """Devices among these codes' whose pool pulls a backup by itself."""
    wanted = {code.device_id for code in codes if code.use_backup_access_code_pool}
    if not wanted:
        return set()
    pools = BackupAccessCodePool.objects.filter(device_id__in=wanted, is_enabled=True, auto_pull=True)
    return set(pools.values_list("device_id", flat=True))


# --- Pre-flight ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockCheck:
    """What a lock told a pre-flight check: its probe, and the other codes it holds (None when
    the probe failed)."""

    probe: Outcome
    held: list[HeldCode] | None


@dataclass(frozen=True)
class Preflight:
    """A pre-flight check's findings, not yet recorded: (catalog code, message) pairs."""

    problems: list[tuple[str, str]]
    transient: bool
    reached_lock: bool = False  # the lock itself answered the check


def ask_lock(code: AccessCode, provider) -> LockCheck:
    """The provider's part of a pre-flight check: programs nothing."""
    device = code.device
    probe = provider.probe(device.provider_device_id)
    if probe.result == Result.FAILED:
        return LockCheck(probe, None)
    held = [
        h
        for h in provider.list_codes(device.provider_device_id)
        if h.provider_code_id != code.provider_code_id
    ]
    return LockCheck(probe, held)


def preflight_findings(codes: list[AccessCode], checks: dict, *, now: datetime) -> dict:
    """Check, without programming anything, that each code's lock could take it at its start:
    reachable, with a keypad, a slot in the lock's slot plan (where its capacity is known, with
    the codes it holds that Latchkey does not know), and a PIN it accepts that nothing on
    it already uses. Judged from what the locks told (``checks``, by code id) and from
    Latchkey's records, read for all the codes at once. Recorded as errors with remedies
    (``ledger.record_preflight``), days before the guest arrives."""
    reachable = [code for code in codes if checks[code.pk].held is not None]
    ours = set(
        AccessCode.objects.filter(
            device_id__in={code.device_id for code in reachable},
            provider_code_id__in={h.provider_code_id for code in reachable for h in checks[code.pk].held},
        ).values_list("device_id", "provider_code_id")
    )
    # Codes the lock holds that Latchkey has no record of take slots the plan must leave them.
    strangers: dict = {}
    for code in reachable:
        held = checks[code.pk].held
        strangers[code.device_id] = sum(1 for h in held if (code.device_id, h.provider_code_id) not in ours)
    plans = slot_plans(
        {code.device_id: code.device for code in reachable}.values(), now=now, unknown_held=strangers
    )
    findings = {}
    for code in codes:
        check, problems = checks[code.pk], []
        if check.held is None:
            problems += [(p.code, p.message) for p in check.probe.errors]
        else:
            if code.code and any(h.code == code.code for h in check.held):
                problems.append(
                    ("duplicate_code_on_device", "Another code on the lock already uses this PIN.")
                )
            slot_plan = plans.get(code.device_id)
            if slot_plan is not None and code.pk in slot_plan.overflows:
                problems.append((NO_SPACE, _overflow_message(code, slot_plan, slot_plan.overflows[code.pk])))
        if code.code and rules.pin_violations(code.device, code.code):
            problems.append(("august_lock_bad_access_code_format", "The lock's rules refuse this PIN."))
        findings[code.pk] = Preflight(problems, check.probe.transient, check.probe.reached_lock)
    return findings


# --- Drift ---------------------------------------------------------------------------------------


# Locks checked for drift per provider session and per round of queries.
DRIFT_CHUNK = 200


def check_drift(*, now: datetime | None = None, devices=None) -> dict:
    """Compare what each lock holds with what Latchkey declares, and act on the differences.

    Only codes whose current version the lock confirmed are judged: a code still on its way
    is not drift. A lock that cannot be asked is skipped; the next run asks again.

    It runs over every lock every 15 minutes, so locks go a chunk at a time: one provider
    session and a few queries per chunk, and the per-lock services only where a lock differs.
    The locks are read a chunk at a time too (by account, then id), so a fleet of any size is
    held in memory one chunk at once; ``devices`` (a list) checks those locks only.
    """
    now = now or timezone.now()
    counts = {"devices": 0, "changed": 0, "removed": 0, "unmanaged": 0}
    providers: dict = {}  # the current account's only: a chunk never spans two accounts
    for chunk in _drift_chunks(devices):
        account_id = chunk[0].connected_account_id
        if account_id not in providers:
            providers.clear()
            try:
                providers[account_id] = provider_for(chunk[0].connected_account, now=now)
            except Exception:  # this account's locks wait for the next run; the others go on
                logger.exception(
                    "no provider for account %s; its locks are not checked for drift", account_id
                )
                providers[account_id] = None
        provider = providers[account_id]
        if provider is None:
            continue
        try:
            held = _held_codes(provider, chunk)
            drift.lock_doubt_sync(locks=chunk, held=held, now=now)
            for key, found in _drift_in(chunk, held, now=now).items():
                counts[key] += found
        except Exception:  # one chunk's failure must not stop the rest
            logger.exception("drift check of locks %s failed", [lock.pk for lock in chunk])
    return counts


def _drift_chunks(devices=None):
    """Locks with codes, ``DRIFT_CHUNK`` at a time, each chunk one account's, read page by page
    in (account, id) order: never the whole fleet at once."""
    from devices.models import Device

    if devices is not None:
        ordered = sorted(devices, key=lambda d: (str(d.connected_account_id), str(d.pk)))
        pages = [ordered[start : start + DRIFT_CHUNK] for start in range(0, len(ordered), DRIFT_CHUNK)]
    else:
        pages = _lock_pages(
            Device.objects.select_related("connected_account")
            .filter(Exists(AccessCode.objects.filter(device=OuterRef("pk"))))
            .order_by("connected_account_id", "pk")
        )
    for page in pages:
        chunk: list = []
        for lock in page:
            if chunk and lock.connected_account_id != chunk[0].connected_account_id:
                yield chunk
                chunk = []
            chunk.append(lock)
        if chunk:
            yield chunk


def _lock_pages(locks):
    last = None
    while True:
        page = locks
        if last is not None:
            page = page.filter(
                Q(connected_account_id__gt=last.connected_account_id)
                | Q(connected_account_id=last.connected_account_id, pk__gt=last.pk)
            )
        page = list(page[:DRIFT_CHUNK])
        if not page:
            return
        yield page
        last = page[-1]


def _held_codes(provider, locks) -> dict:
    """What each lock holds, by device id, for those that answered."""
    held = {}
    try:
        with provider.session([lock.provider_device_id for lock in locks]):
            for lock in locks:
                try:
                    held[lock.pk] = provider.list_codes(lock.provider_device_id)
                except Exception:  # unreachable now; drift can wait for the next run
                    logger.warning("could not list codes on %s for drift", lock.pk, exc_info=True)
    except Exception:
        logger.exception(
            "provider session for drift failed; locks %s are not checked", [lock.pk for lock in locks]
        )
        return {}
    return held


def _drift_in(locks, held: dict, *, now: datetime) -> dict:
    counts = {"devices": len(held), "changed": 0, "removed": 0, "unmanaged": 0}
    reachable = [lock for lock in locks if lock.pk in held]
    rows = AccessCode.objects.filter(device__in=reachable).filter(
        ~Q(provider_code_id="") | Q(is_managed=True, send_in_flight__isnull=False)
    )
    known: dict = {lock.pk: set() for lock in reachable}  # provider ids Latchkey has a row for
    in_flight: dict = {lock.pk: [] for lock in reachable}  # marks of unanswered sends
    listed_unmanaged: dict = {lock.pk: set() for lock in reachable}
    settled: dict = {lock.pk: [] for lock in reachable}
    for code in rows:
        if code.provider_code_id:
            known[code.device_id].add(code.provider_code_id)
        if code.is_managed and code.send_in_flight:
            in_flight[code.device_id] += code.send_in_flight
        if not code.is_managed and code.deleted_at is None:
            listed_unmanaged[code.device_id].add(code.provider_code_id)
        if (
            code.is_managed
            and code.deleted_at is None
            and code.provider_code_id
            and (code.status == AccessCodeStatus.SET or code.is_scheduled_on_device)
            and code.sent_version == code.version
        ):
            settled[code.device_id].append(code)
    for lock in reachable:
        by_id = {h.provider_code_id: h for h in held[lock.pk]}
        for code in settled[lock.pk]:
            code.device = lock
            found = by_id.get(code.provider_code_id)
            if found is None:
                drift.access_code_record_drift(access_code=code, held_code=None, now=now)
                counts["removed"] += 1
            elif found.code != code.code:
                drift.access_code_record_drift(access_code=code, held_code=found.code, now=now)
                counts["changed"] += 1
        strangers = drift.codes_set_outside(held[lock.pk], known=known[lock.pk], in_flight=in_flight[lock.pk])
        if strangers or listed_unmanaged[lock.pk] - by_id.keys():
            # Codes set outside Latchkey appeared or went: the service sorts it out under locks.
            synced = drift.unmanaged_codes_sync(device=lock, held=held[lock.pk], now=now)
            counts["unmanaged"] += len(synced)
    return counts
