"""Programming outcomes: the one place a code's status on the lock changes.

What a lock's provider answered (``record_outcome``), a window over before the code reached its
lock (``record_finish``) and a pre-flight check's findings (``record_preflight``) are recorded
through a ``Ledger``: one code at a time by the ``access_code_record_*`` services, a scheduler
batch at once.
"""

import random
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from codes import catalog, lifecycle
from codes.locking import lock_devices
from codes.models import AccessCode, AccessCodeIssue, AccessCodeStatus, AccessCodeType, Event, EventType
from codes.selectors import shown_issues
from codes.services import history, review
from common.db import update_rows
from devices.models import Device, DeviceIssue, IssueKind
from devices.providers.base import Outcome, Result
from devices.selectors import active_issues_of_locks
from devices.services import device_online_follow

CONTENTS_UNKNOWN = catalog.CONTENTS_UNKNOWN  # a code in the ``unknown`` status (``record_outcome``)
_SETTING_WARNINGS = ("delay_in_setting_on_device", "august_device_programming_delay", CONTENTS_UNKNOWN)
# Lock-level errors that an answer from the lock itself (``Outcome.reached_lock``) proves over.
_REACHABILITY_ERRORS = ("device_offline", "hub_disconnected", "device_disconnected", "bridge_disconnected")


class Ledger:
    """Codes read again under their locks' row locks, with every active issue they show (their
    own, their lock's, their account's), for recording steps on many codes with a few queries.

    Each step changes the codes, issues and events here, in memory and in order, exactly as it
    would in the database; ``save`` writes it all in the caller's transaction. The services
    below record one code through a ledger of one, and the scheduler a whole batch through one.
    """

    # What recording a step may change on a code: saved together, and nothing else, so a step
    # never writes back a field it did not decide (edits take the same locks, so they wait).
    FIELDS = (
        "provider_code_id",
        "sent_version",
        "code",
        "is_waiting_for_code_assignment",
        "status",
        "is_scheduled_on_device",
        "next_attempt_at",
        "attempt_count",
        "deleted_at",
        "preflight_passed_at",
        "needs_review",
        "review_reason",
        "send_in_flight",
    )

    def __init__(self, codes: list[AccessCode], code_issues, device_issues, *, now: datetime) -> None:
        self.now = now
        self.codes = {code.pk: code for code in codes}
        self._code_issues: dict = {code.pk: [] for code in codes}  # active ones, oldest first
        for issue in code_issues:
            self._code_issues[issue.access_code_id].append(issue)
        self._device_issues: list[DeviceIssue] = list(device_issues)  # active ones, oldest first
        self._new_issues: list = []
        self._cleared_issues: list = []
        self._events: list[Event] = []
        self._releases = False

    @classmethod
    def open(cls, codes, *, now: datetime) -> "Ledger":
        """Lock the devices of ``codes`` (rows read earlier, e.g. before a provider call) and
        read the codes again, with their issues. Call inside ``transaction.atomic()``."""
        devices = lock_devices({code.device_id for code in codes})
        current = list(AccessCode.objects.filter(pk__in=[code.pk for code in codes]))
        for code in current:
            code.device = devices[code.device_id]
        accounts = {device.connected_account_id for device in devices.values()}
        code_issues = AccessCodeIssue.objects.filter(access_code__in=current, cleared_at__isnull=True)
        device_issues = active_issues_of_locks(devices, accounts)
        return cls(
            current,
            code_issues.order_by("created_at"),
            device_issues.order_by("created_at"),
            now=now,
        )

    def get(self, pk) -> AccessCode:
        return self.codes[pk]

    def raise_code_issue(self, code: AccessCode, kind: IssueKind, issue_code: str, message=None) -> bool:
        """As ``access_code_issue_raise``: one already active stays as first raised. True if new."""
        active = self._code_issues[code.pk]
        if any(i.kind == kind and i.code == issue_code for i in active):
            return False
        issue = AccessCodeIssue(
            access_code=code,
            kind=kind,
            code=issue_code,
            **history.issue_fields(kind, issue_code, message, now=self.now),
        )
        active.append(issue)
        self._new_issues.append(issue)
        return True

    def clear_code_issues(self, code: AccessCode, kind: IssueKind, codes=None) -> None:
        """Clear the code's active issues of ``kind`` (only those named in ``codes``, if given)."""
        active = self._code_issues[code.pk]
        self._code_issues[code.pk] = [i for i in active if not self._clears(i, kind, codes)]

    def raise_device_issue(self, device: Device, kind: IssueKind, issue_code: str, message=None) -> None:
        """As ``device_issue_raise``: on the lock, or on its account, where the catalog says."""
        issue = DeviceIssue(
            kind=kind,
            code=issue_code,
            **history.device_issue_subject(device, kind, issue_code),
            **history.issue_fields(kind, issue_code, message, now=self.now),
        )
        if not any(
            i.same_subject(issue) and (i.kind, i.code) == (kind, issue_code) for i in self._device_issues
        ):
            self._device_issues.append(issue)
            self._new_issues.append(issue)

    def clear_device_issues(self, device: Device, kind: IssueKind, codes) -> None:
        """Clear those active issues of the lock and of its account."""
        self._device_issues = [
            i for i in self._device_issues if not (i.concerns(device) and self._clears(i, kind, codes))
        ]

    def _clears(self, issue, kind: IssueKind, codes) -> bool:
        if issue.kind != kind or (codes is not None and issue.code not in codes):
            return False
        issue.cleared_at = self.now
        if issue.pk is not None:  # one raised in this ledger is simply written cleared
            self._cleared_issues.append(issue)
        return True

    def release(self, code: AccessCode) -> None:
        """End the scheduler's lease on the code. Only then is the lease written: a service
        recording one code leaves it alone, since a sweep may claim the code meanwhile (claims
        take no device lock) and writing back the lease as read would undo that claim."""
        code.claimed_until = None
        self._releases = True

    def event(self, event_type: EventType, code: AccessCode, payload: dict | None = None) -> None:
        self._events.append(
            history.event_build(event_type, access_code=code, occurred_at=self.now, payload=payload)
        )

    def issues(self, code: AccessCode) -> list:
        """What ``selectors.access_code_issues`` shows for the code, as it stands in the ledger."""
        inherited = [i for i in self._device_issues if i.concerns(code.device)]
        return shown_issues(self._code_issues[code.pk], inherited, code=code, now=self.now)

    def save(self) -> None:
        # Every code's review flag, judged from what it shows now (``selectors.review_reason``).
        for code in self.codes.values():
            review.judge(code, self.issues(code), now=self.now)
        touched = self._touched_locks()
        for model in (AccessCodeIssue, DeviceIssue):
            cleared = [i.pk for i in self._cleared_issues if isinstance(i, model)]
            if cleared:
                model.objects.filter(pk__in=cleared).update(cleared_at=self.now)
            model.objects.bulk_create([i for i in self._new_issues if isinstance(i, model)])
        history.events_record(self._events)
        # A code still leased in a ledger that releases others (one waiting to pull a backup)
        # is this sweep's: its lease is written back as it was.
        update_rows(self.codes.values(), (*self.FIELDS, "claimed_until") if self._releases else self.FIELDS)
        self._recheck_lock_mates()
        self._new_issues, self._cleared_issues, self._events = [], [], []
        if touched:
            # A lock's issue changed: its online state, and the flags of its other codes, follow.
            device_online_follow(device_ids=touched)
            review.review_flags_rejudge(device_ids=touched, exclude_ids=self.codes.keys(), now=self.now)

    def _touched_locks(self) -> set:
        """Locks whose own issues (or whose account's) this ledger raised or cleared."""
        changed = [i for i in (*self._new_issues, *self._cleared_issues) if isinstance(i, DeviceIssue)]
        locks = {i.device_id for i in changed if i.device_id is not None}
        accounts = {i.connected_account_id for i in changed if i.device_id is None}
        if accounts:
            locks |= set(
                Device.objects.filter(connected_account_id__in=accounts).values_list("pk", flat=True)
            )
        return locks

    def _recheck_lock_mates(self) -> None:
        """A lock refused a code for a reason that is the lock's (``CatalogEntry.about_lock``):
        its other upcoming codes inside the advance window, not yet on it, are made due now with
        their pre-flight check undone, so each is judged again at once and carries the refusal,
        with its remedy, days ahead instead of at its own turn (an hour before arrival on a lock
        that takes codes just in time). Codes already carrying the refusal are left alone, so a
        refusal found on each of them in turn sets off nothing more."""
        refused: dict = {}
        for issue in self._new_issues:
            if (
                isinstance(issue, AccessCodeIssue)
                and issue.kind == IssueKind.ERROR
                and issue.cleared_at is None
                and catalog.error(issue.code).about_lock
            ):
                refused.setdefault(issue.access_code.device_id, set()).add(issue.code)
        for device_id, refusals in refused.items():
            carrying = AccessCodeIssue.objects.filter(
                access_code=OuterRef("pk"), kind=IssueKind.ERROR, code__in=refusals, cleared_at__isnull=True
            )
            AccessCode.objects.filter(
                device_id=device_id,
                is_managed=True,
                deleted_at__isnull=True,
                type=AccessCodeType.TIME_BOUND,
                starts_at__lte=self.now + lifecycle.advance(),
                ends_at__gt=self.now,
                is_scheduled_on_device=False,
            ).exclude(status=AccessCodeStatus.SET).exclude(pk__in=list(self.codes)).exclude(
                Exists(carrying)
            ).update(next_attempt_at=self.now, preflight_passed_at=None)


def access_code_record_outcome(
    *,
    access_code: AccessCode,
    action: lifecycle.LockAction,
    outcome: Outcome,
    now: datetime | None = None,
    assigned_code: str | None = None,
    rng: random.Random | None = None,
) -> AccessCode:
    """Apply what a lock's provider answered to the code: status, errors and warnings with their
    remedies, events, and when to look again. The code is never lost: a failure leaves it in
    place, flagged, for the scheduler to retry.

    ``access_code`` is the row as it was read before the provider was called. If the code was
    changed meanwhile (its ``version`` moved), the answer is about the old version: the
    provider's id is kept, but the code stays due so the new version is programmed.
    """
    with transaction.atomic():
        ledger = Ledger.open([access_code], now=now or timezone.now())
        current = record_outcome(ledger, access_code, action, outcome, assigned_code=assigned_code, rng=rng)
        ledger.save()
        return current


def record_outcome(
    ledger: Ledger,
    access_code: AccessCode,
    action: lifecycle.LockAction,
    outcome: Outcome,
    *,
    assigned_code: str | None = None,
    rng: random.Random | None = None,
) -> AccessCode:
    """``access_code_record_outcome`` in a ledger the caller opened and saves."""
    now = ledger.now
    current = ledger.get(access_code.pk)
    stale = current.version != access_code.version
    if outcome.provider_code_id and action is lifecycle.LockAction.SET:
        current.provider_code_id = outcome.provider_code_id
    if action is lifecycle.LockAction.SET and outcome.result != Result.FAILED:
        current.sent_version = access_code.version  # the version that was read and sent
    if outcome.result != Result.FAILED or not outcome.transient:
        # Answered: the copy is known by its id (or taken off, or refused by the lock). A
        # transient failure (a timeout, the provider down) may hide a copy kept: the marks stay.
        current.send_in_flight = None
    if assigned_code is not None:
        current.code = assigned_code
        current.is_waiting_for_code_assignment = False
    for problem in outcome.warnings:
        ledger.raise_code_issue(current, IssueKind.WARNING, problem.code, problem.message or None)

    if outcome.result == Result.FAILED:
        _record_failure(ledger, current, action, outcome, rng=rng)
        if action is lifecycle.LockAction.SET and outcome.transient and access_code.send_in_flight:
            # An earlier send went unanswered (the marks as read before this attempt), and this
            # attempt, which looks for its copy first, did not reach an answer either: whether
            # the lock holds the code is not known. Seam says ``unknown`` in this case too.
            current.status = AccessCodeStatus.UNKNOWN
            ledger.raise_code_issue(current, IssueKind.WARNING, CONTENTS_UNKNOWN)
        elif current.status == AccessCodeStatus.UNKNOWN:  # the lock answered: known again
            current.status = AccessCodeStatus.UNSET
            ledger.clear_code_issues(current, IssueKind.WARNING, [CONTENTS_UNKNOWN])
    elif action is lifecycle.LockAction.REMOVE:
        _record_removed(ledger, current)
    elif outcome.result == Result.PENDING:
        ledger.clear_code_issues(current, IssueKind.WARNING, [CONTENTS_UNKNOWN])
        current.status = AccessCodeStatus.SETTING
        current.next_attempt_at = now + lifecycle.PENDING_POLL_INTERVAL
    else:
        _record_set(ledger, current)
    if outcome.reached_lock:
        # The lock answered (took, confirmed or refused the command): it is reachable. An answer
        # that never came from it (an offline PIN, nothing to take off, a cached list) proves not.
        ledger.clear_device_issues(current.device, IssueKind.ERROR, _REACHABILITY_ERRORS)
    if stale:
        current.next_attempt_at = now
    return current


def _record_set(ledger: Ledger, code: AccessCode) -> None:
    now = ledger.now
    # Set means every earlier failure is over, and so are the warnings about waiting for it.
    ledger.clear_code_issues(code, IssueKind.ERROR)
    ledger.clear_code_issues(code, IssueKind.WARNING, _SETTING_WARNINGS)
    code.attempt_count = 0
    # Natively scheduling locks keep the window themselves; an offline PIN carries its window.
    scheduled = lifecycle.uses_lock_schedule(code)
    if scheduled and code.starts_at > now:
        # The lock keeps the window itself: loaded now, active from starts_at.
        if not code.is_scheduled_on_device:
            ledger.event(EventType.SCHEDULED_ON_DEVICE, code)
        code.is_scheduled_on_device = True
        code.status = AccessCodeStatus.UNSET
        code.next_attempt_at = code.starts_at
        return
    if code.status != AccessCodeStatus.SET:
        ledger.event(EventType.SET_ON_DEVICE, code)
    code.is_scheduled_on_device = scheduled
    code.status = AccessCodeStatus.SET
    code.next_attempt_at = code.ends_at  # None for ongoing codes: nothing more to do


def _record_removed(ledger: Ledger, code: AccessCode) -> None:
    ledger.event(EventType.REMOVED_FROM_DEVICE, code)
    ledger.clear_code_issues(code, IssueKind.ERROR, ["failed_to_remove_from_device"])
    ledger.clear_code_issues(code, IssueKind.WARNING, ["delay_in_removing_from_device", CONTENTS_UNKNOWN])
    code.status = AccessCodeStatus.UNSET
    code.is_scheduled_on_device = False
    code.provider_code_id = ""
    code.next_attempt_at = None
    code.attempt_count = 0
    if code.deleted_at is None:  # a finished time-bound code leaves the API once it is off the lock
        code.deleted_at = ledger.now


def _record_failure(
    ledger: Ledger, code: AccessCode, action: lifecycle.LockAction, outcome: Outcome, *, rng
) -> None:
    for problem in outcome.errors:
        _raise_error(ledger, code, problem.code, problem.message)
    if code.attempt_count == 0:  # one event per run of failures, not one per retry
        event_type = (
            EventType.FAILED_TO_SET_ON_DEVICE
            if action is lifecycle.LockAction.SET
            else EventType.FAILED_TO_REMOVE_FROM_DEVICE
        )
        ledger.event(event_type, code, payload={"errors": [p.code for p in outcome.errors]})
    if (
        action is lifecycle.LockAction.SET
        and code.status == AccessCodeStatus.SETTING
        and not code.lock_has_current_version
    ):
        # The copy awaiting confirmation is not this version's. (Had a poll of the lock's copy
        # failed, that copy still awaits confirmation: it stays setting, to be asked again.)
        code.status = AccessCodeStatus.UNSET
    code.attempt_count += 1
    # Transient trouble is retried; a permanent refusal waits until the code or the lock changes.
    code.next_attempt_at = (
        ledger.now + lifecycle.retry_delay(code.attempt_count - 1, rng=rng) if outcome.transient else None
    )


def access_code_finish(*, access_code: AccessCode, now: datetime | None = None) -> AccessCode:
    """A time-bound code whose window is over and that never reached its lock: it leaves the API
    as a removed one would (its history stays)."""
    with transaction.atomic():
        ledger = Ledger.open([access_code], now=now or timezone.now())
        current = record_finish(ledger, access_code)
        ledger.save()
        return current


def record_finish(ledger: Ledger, access_code: AccessCode) -> AccessCode:
    """``access_code_finish`` in a ledger the caller opened and saves."""
    current = ledger.get(access_code.pk)
    if current.deleted_at is None:
        current.deleted_at = ledger.now
    current.next_attempt_at = None
    return current


def access_code_record_preflight(
    *,
    access_code: AccessCode,
    problems: list[tuple[str, str]],
    transient: bool,
    reached_lock: bool,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> AccessCode:
    """Record a pre-flight check's result: each problem as an error with its remedy (on the
    code, or on the lock or account where the catalog puts it), or a clean bill that clears
    earlier ones. Nothing was programmed, so the status does not change. ``reached_lock``: the
    lock itself answered the check, so its reachability errors are over."""
    with transaction.atomic():
        ledger = Ledger.open([access_code], now=now or timezone.now())
        current = record_preflight(
            ledger, access_code, problems, transient=transient, reached_lock=reached_lock, rng=rng
        )
        ledger.save()
        return current


def record_preflight(
    ledger: Ledger,
    access_code: AccessCode,
    problems: list[tuple[str, str]],
    *,
    transient: bool,
    reached_lock: bool,
    rng: random.Random | None = None,
) -> AccessCode:
    """``access_code_record_preflight`` in a ledger the caller opened and saves."""
    current = ledger.get(access_code.pk)
    if reached_lock:
        ledger.clear_device_issues(current.device, IssueKind.ERROR, _REACHABILITY_ERRORS)
    if problems:
        for code, message in problems:
            _raise_error(ledger, current, code, message)
        current.preflight_passed_at = None
        current.attempt_count += 1
        current.next_attempt_at = (
            ledger.now + lifecycle.retry_delay(current.attempt_count - 1, rng=rng) if transient else None
        )
    else:
        ledger.clear_code_issues(current, IssueKind.ERROR)
        current.preflight_passed_at = ledger.now
        current.attempt_count = 0
        current.next_attempt_at = None
    return current


def access_code_record_lost(*, access_code: AccessCode, error_code: str, message: str, now: datetime) -> None:
    """The last resort when a step could not be recorded through a ``Ledger`` at all (a fault
    in Latchkey): the error on the code, its next look after the usual backoff, and a review
    flag at once, since no ordinary path can be trusted to raise one. Written directly, with
    as little as possible that could fail again."""
    with transaction.atomic():
        history.access_code_issue_raise(
            access_code=access_code, kind=IssueKind.ERROR, code=error_code, message=message, now=now
        )
        attempts = access_code.attempt_count + 1
        AccessCode.objects.filter(pk=access_code.pk).update(
            attempt_count=attempts,
            next_attempt_at=now + lifecycle.retry_delay(attempts - 1),
            needs_review=True,
            review_reason=f"{error_code}: {message}",
        )


def _raise_error(ledger: Ledger, code: AccessCode, error_code: str, message: str) -> None:
    """An error where the catalog says it belongs: on the code, or on its lock or account."""
    if catalog.error(error_code).scope is catalog.Scope.ACCESS_CODE:
        ledger.raise_code_issue(code, IssueKind.ERROR, error_code, message or None)
    else:
        ledger.raise_device_issue(code.device, IssueKind.ERROR, error_code, message or None)
