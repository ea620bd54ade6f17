"""What a lock's provider reports by itself (webhooks), about a code or about the lock: each
report is recorded as the scheduler's own outcomes are, in order, or ignored with the reason.
Also a lock going offline, coming back and being removed, as its provider or the API says."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from codes import catalog, lifecycle
from codes.locking import lock_devices
from codes.models import AccessCode, AccessCodeStatus, BackupAccessCode, Event, EventType
from codes.services import backup_pool, drift, history, ledger
from devices.models import Device, IssueKind
from devices.providers.base import Outcome, Problem

# Latchkey's events that mark a code's state. A provider's report that happened before the
# newest of them is about a state already replaced, and must not overwrite it.
CODE_STATE_EVENTS = (
    EventType.CREATED,
    EventType.CHANGED,
    EventType.SCHEDULED_ON_DEVICE,
    EventType.SET_ON_DEVICE,
    EventType.REMOVED_FROM_DEVICE,
    EventType.FAILED_TO_SET_ON_DEVICE,
    EventType.FAILED_TO_REMOVE_FROM_DEVICE,
    EventType.DELETED,
    EventType.MODIFIED_EXTERNAL_TO_SEAM,
    EventType.DELETED_EXTERNAL_TO_SEAM,
)
# A lock's state has two independent sides; each report is ordered against its own side only.
_DEVICE_STATE_EVENTS = {
    EventType.DEVICE_CONNECTED: (
        EventType.DEVICE_CONNECTED,
        EventType.DEVICE_DISCONNECTED,
        EventType.DEVICE_REMOVED,
    ),
    EventType.DEVICE_LOW_BATTERY: (EventType.DEVICE_LOW_BATTERY,),
}
_DEVICE_STATE_EVENTS[EventType.DEVICE_DISCONNECTED] = _DEVICE_STATE_EVENTS[EventType.DEVICE_CONNECTED]
_DEVICE_STATE_EVENTS[EventType.DEVICE_REMOVED] = _DEVICE_STATE_EVENTS[EventType.DEVICE_CONNECTED]
# What a lock's provider may name as the reason it lost the lock; all clear when it is back.
_CONNECTIVITY_ERRORS = ("device_disconnected", "hub_disconnected", "account_disconnected", "device_offline")

PROVIDER_CODE_EVENTS = frozenset(
    {
        *CODE_STATE_EVENTS,
        EventType.DELAY_IN_SETTING_ON_DEVICE,
        EventType.DELAY_IN_REMOVING_FROM_DEVICE,
        EventType.BACKUP_ACCESS_CODE_PULLED,
    }
) - {EventType.CREATED, EventType.CHANGED, EventType.DELETED}  # Latchkey's own decisions, never a lock's
PROVIDER_DEVICE_EVENTS = frozenset(_DEVICE_STATE_EVENTS)


@dataclass(frozen=True)
class ReportResult:
    """Whether a provider's report changed anything, and if not, why."""

    applied: bool
    reason: str = ""


# Why a report that a code is on its lock changes nothing once the code is over.
OVER_NOT_SET = "the code is deleted or over; the scheduler takes it off the lock"


def ignored(reason: str) -> ReportResult:
    return ReportResult(applied=False, reason=reason)


def _newest(events, types) -> datetime | None:
    return events.filter(event_type__in=types).aggregate(newest=Max("occurred_at"))["newest"]


def access_code_record_provider_event(
    *,
    access_code: AccessCode,
    event_type: str,
    occurred_at: datetime,
    errors: tuple[str, ...] = (),
    code_on_lock: str | None = None,
    backup_provider_code_id: str | None = None,
    now: datetime | None = None,
) -> ReportResult:
    """Apply what a lock's provider reported about a code on its own (a webhook): set,
    scheduled, removed, failed, delayed, changed or deleted outside Latchkey, backup pulled.

    Each report goes through the same recording as the scheduler's own outcomes, at the moment
    it happened (``occurred_at``, never later than ``now``), so statuses, errors with their
    remedies and Latchkey's events come out the same. A report older than the code's newest
    recorded state is ignored: reports arrive out of order, and an old "set" must not undo a
    newer removal. Returns what was done, or why nothing was.
    """
    now = now or timezone.now()
    at = min(occurred_at, now)
    if event_type not in PROVIDER_CODE_EVENTS:
        return ignored(f"{event_type} is not an event a lock's provider reports about a code")
    with transaction.atomic():
        lock_devices([access_code.device_id])
        current = AccessCode.objects.select_related("device").get(pk=access_code.pk)
        newest = _newest(Event.objects.filter(access_code=current), CODE_STATE_EVENTS)
        stale = stale_code_report(current, at=at, newest=newest)
        if stale is not None:
            return stale
        current.last_provider_report_at = at  # kept by any full save the recording makes
        AccessCode.objects.filter(pk=current.pk).update(last_provider_report_at=at)
        return _apply_code_report(
            current,
            EventType(event_type),
            at=at,
            errors=errors,
            code_on_lock=code_on_lock,
            backup_provider_code_id=backup_provider_code_id,
        )


def stale_code_report(code: AccessCode, *, at: datetime, newest: datetime | None) -> ReportResult | None:
    """Why a report about ``code`` that happened ``at`` is too old to apply (``newest``: the
    code's newest recorded state), or None: reports arrive out of order, and an old "set" must
    not undo a newer removal."""
    if newest is not None and at < newest:
        return ignored(f"older than the code's latest recorded state ({newest.isoformat()})")
    last = code.last_provider_report_at
    if last is not None and at < last:
        return ignored(f"older than the provider's latest report on this code ({last.isoformat()})")
    return None


def lock_answer_of(code: AccessCode, event_type: str, errors: tuple[str, ...] = ()):
    """A report that a lock set, scheduled or refused a code, as the lock's answer to Latchkey's
    own call (action, outcome), so it is recorded as the scheduler's outcomes are."""
    if event_type in (EventType.SET_ON_DEVICE, EventType.SCHEDULED_ON_DEVICE):
        # The provider heard from the lock that it holds the code.
        return lifecycle.LockAction.SET, Outcome.confirmed(code.provider_code_id or None, reached_lock=True)
    setting = event_type == EventType.FAILED_TO_SET_ON_DEVICE
    codes = tuple(errors) or (("failed_to_set_on_device",) if setting else ("failed_to_remove_from_device",))
    outcome = Outcome.failed(
        *(Problem(c) for c in codes), transient=all(catalog.error(c).transient for c in codes)
    )
    return (lifecycle.LockAction.SET if setting else lifecycle.LockAction.REMOVE), outcome


def _apply_code_report(
    code: AccessCode,
    event_type: EventType,
    *,
    at: datetime,
    errors: tuple[str, ...],
    code_on_lock: str | None,
    backup_provider_code_id: str | None,
) -> ReportResult:
    finished = lifecycle.is_over(code, at)
    if event_type in (EventType.SET_ON_DEVICE, EventType.SCHEDULED_ON_DEVICE):
        if finished:
            return ignored(OVER_NOT_SET)
        action, outcome = lock_answer_of(code, event_type)
        ledger.access_code_record_outcome(access_code=code, action=action, outcome=outcome, now=at)
    elif event_type is EventType.REMOVED_FROM_DEVICE:
        if finished:
            outcome = Outcome.confirmed(code.provider_code_id or None, reached_lock=True)
            ledger.access_code_record_outcome(
                access_code=code, action=lifecycle.LockAction.REMOVE, outcome=outcome, now=at
            )
        else:  # the code should be on the lock: it was taken off by someone else
            drift.access_code_record_drift(access_code=code, held_code=None, now=at)
    elif event_type in (EventType.FAILED_TO_SET_ON_DEVICE, EventType.FAILED_TO_REMOVE_FROM_DEVICE):
        action, outcome = lock_answer_of(code, event_type, errors)
        ledger.access_code_record_outcome(access_code=code, action=action, outcome=outcome, now=at)
    elif event_type is EventType.DELAY_IN_SETTING_ON_DEVICE:
        if finished or code.status == AccessCodeStatus.SET:
            return ignored("the code is already set, or no longer wanted on the lock")
        _warn_with_event(code, "delay_in_setting_on_device", event_type, at=at)
    elif event_type is EventType.DELAY_IN_REMOVING_FROM_DEVICE:
        if not code.may_be_on_lock:
            return ignored("the code is already off the lock")
        _warn_with_event(code, "delay_in_removing_from_device", event_type, at=at)
    elif event_type in (EventType.MODIFIED_EXTERNAL_TO_SEAM, EventType.DELETED_EXTERNAL_TO_SEAM):
        if finished:
            return ignored("the code is deleted or over; an outside change no longer matters")
        deleted = event_type is EventType.DELETED_EXTERNAL_TO_SEAM
        drift.access_code_record_drift(
            access_code=code, held_code=None if deleted else (code_on_lock or ""), now=at
        )
    elif event_type is EventType.BACKUP_ACCESS_CODE_PULLED:
        return backup_code_record_pulled(
            access_code=code, backup_provider_code_id=backup_provider_code_id, now=at
        )
    return ReportResult(applied=True)


def _warn_with_event(code: AccessCode, warning: str, event_type: EventType, *, at: datetime) -> None:
    """A warning and its event, once while the warning stays active."""
    if code.issues.filter(kind=IssueKind.WARNING, code=warning, cleared_at__isnull=True).exists():
        return
    history.access_code_issue_raise(access_code=code, kind=IssueKind.WARNING, code=warning, now=at)
    history.event_record(event_type, access_code=code, occurred_at=at)


def device_record_provider_event(
    *,
    device: Device,
    event_type: str,
    occurred_at: datetime,
    battery_level: float | None = None,
    error_code: str | None = None,
    now: datetime | None = None,
) -> ReportResult:
    """Apply what a lock's provider reported about the lock itself: disconnected, connected
    again, removed from the account, low battery. Each becomes (or clears) an error or warning
    on the lock, which shows on every one of its codes, and Latchkey's own event.

    Connectivity and battery are ordered separately: a report older than the newest one
    recorded on the same side is ignored. A lock that comes back makes its failed codes due
    at once instead of at their next backoff.
    """
    now = now or timezone.now()
    at = min(occurred_at, now)
    if event_type not in PROVIDER_DEVICE_EVENTS:
        return ignored(f"{event_type} is not an event about a lock")
    event_type = EventType(event_type)
    with transaction.atomic():
        device = lock_devices([device.pk])[device.pk]
        own_events = Event.objects.filter(device=device, access_code__isnull=True)
        newest = _newest(own_events, _DEVICE_STATE_EVENTS[event_type])
        if newest is not None and at < newest:
            return ignored(f"older than the lock's latest recorded state ({newest.isoformat()})")
        fields = []
        if event_type is EventType.DEVICE_DISCONNECTED:
            # The provider may say what was lost (the hub, the whole account); the catalog puts an
            # account's error on the account, so it shows on each of its locks' codes.
            reason = error_code if error_code in _CONNECTIVITY_ERRORS else "device_disconnected"
            history.device_issue_raise(device=device, kind=IssueKind.ERROR, code=reason, now=at)
        elif event_type is EventType.DEVICE_REMOVED:
            history.device_issue_raise(device=device, kind=IssueKind.ERROR, code="device_removed", now=at)
        elif event_type is EventType.DEVICE_CONNECTED:
            for error in (*_CONNECTIVITY_ERRORS, "device_removed"):  # clears the account's too
                history.device_issue_clear(device=device, kind=IssueKind.ERROR, code=error, now=at)
            AccessCode.objects.filter(device=device, attempt_count__gt=0, next_attempt_at__gt=now).update(
                next_attempt_at=now
            )
        else:
            history.device_issue_raise(
                device=device, kind=IssueKind.WARNING, code="device_low_battery", now=at
            )
            if battery_level is not None:
                device.battery_level = max(0.0, min(1.0, float(battery_level)))
                fields.append("battery_level")
        device.save(update_fields=fields)
        payload = {} if battery_level is None else {"battery_level": device.battery_level}
        history.event_record(event_type, device=device, occurred_at=at, payload=payload)
    return ReportResult(applied=True)


def backup_code_record_pulled(
    *, access_code: AccessCode, backup_provider_code_id: str | None, now: datetime | None = None
) -> ReportResult:
    """The lock's provider reports it pulled a backup for ``access_code``: hand that backup
    out, as a pull made here would. Only a backup held in this lock's pool can be handed out;
    anything else is reported back as not applied, with the reason."""
    now = now or timezone.now()
    with transaction.atomic():
        lock_devices([access_code.device_id])
        original = AccessCode.objects.select_related("device").get(pk=access_code.pk)
        if original.pulled_backup_access_code_id:
            return ReportResult(applied=False, reason="a backup was already pulled for this code")
        slot = (
            BackupAccessCode.objects.select_related("access_code")
            .filter(
                pool__device_id=original.device_id,
                pulled_for__isnull=True,
                access_code__provider_code_id=backup_provider_code_id or "",
                access_code__deleted_at__isnull=True,
            )
            .exclude(access_code__provider_code_id="")
            .first()
        )
        if slot is None:
            return ReportResult(
                applied=False, reason="the pulled backup is not a free backup code in this lock's pool"
            )
        backup_pool.hand_out(slot, original, now=now)
    return ReportResult(applied=True)


def device_connection_record(*, device: Device, online: bool, now: datetime | None = None) -> Device:
    """The provider says the lock went offline or came back: shown at once as ``device_offline``
    on the lock and every code of it; a lock back online gets its waiting codes looked at now."""
    now = now or timezone.now()
    with transaction.atomic():
        device = lock_devices([device.pk])[device.pk]
        # Device.is_online follows the issue (history -> devices.services.device_online_follow).
        if online:
            history.device_issue_clear(device=device, kind=IssueKind.ERROR, code="device_offline", now=now)
            AccessCode.objects.live().filter(device=device, next_attempt_at__gt=now).update(
                next_attempt_at=now
            )
        else:
            history.device_issue_raise(device=device, kind=IssueKind.ERROR, code="device_offline", now=now)
        device.refresh_from_db(fields=["is_online"])
        return device


def device_removal_record(*, device: Device, now: datetime | None = None) -> Device:
    """The lock was removed from its provider account: ``device_removed`` on it and its codes."""
    now = now or timezone.now()
    with transaction.atomic():
        device = lock_devices([device.pk])[device.pk]
        history.device_issue_raise(device=device, kind=IssueKind.ERROR, code="device_removed", now=now)
        device.refresh_from_db(fields=["is_online"])
        return device
