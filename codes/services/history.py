"""What happened, and what is wrong: events, and the errors and warnings raised and cleared on
codes and locks (or their connected accounts, where the catalog puts a problem)."""

from datetime import datetime

from django.utils import timezone

from codes import catalog
from codes.models import AccessCode, AccessCodeIssue, Event, EventType
from codes.signals import events_recorded
from devices.models import Device, DeviceIssue, IssueKind


def event_record(
    event_type: EventType,
    *,
    access_code: AccessCode | None = None,
    device: Device | None = None,
    occurred_at: datetime | None = None,
    payload: dict | None = None,
) -> Event:
    """Record what happened. Call it inside the transaction that made the change."""
    event = event_build(
        event_type, access_code=access_code, device=device, occurred_at=occurred_at, payload=payload
    )
    return events_record([event])[0]


def events_record(events: list[Event]) -> list[Event]:
    """Write events built by ``event_build``, in one query: every event is written here, one at a
    time or a sweep's batch at once. Call it inside the transaction that made the changes.

    Then ``codes.signals.events_recorded`` announces the whole batch once, so whatever listens
    for new events (an outbox of webhook deliveries, written in this same transaction) sees every
    one, however many were written together, at the cost of one call per batch."""
    created = Event.objects.bulk_create(events)
    if created:
        events_recorded.send(sender=Event, events=created)
    return created


_CARRIES_CODE = (EventType.SCHEDULED_ON_DEVICE, EventType.SET_ON_DEVICE, EventType.DELETED)


def event_build(
    event_type: EventType,
    *,
    access_code: AccessCode | None = None,
    device: Device | None = None,
    occurred_at: datetime | None = None,
    payload: dict | None = None,
) -> Event:
    if access_code is not None:
        device = device or access_code.device
    if device is None:
        raise ValueError("an event needs an access code or a device")
    body = {"device_id": str(device.pk)}
    if access_code is not None:
        body["access_code_id"] = str(access_code.pk)
        if event_type in _CARRIES_CODE:  # Seam's events that name the PIN, as it was then
            body["code"] = access_code.code
    body.update(payload or {})
    return Event(
        event_type=event_type,
        workspace_id=device.workspace_id,
        device=device,
        access_code=access_code,
        connected_account_id=device.connected_account_id,
        occurred_at=occurred_at or timezone.now(),
        payload=body,
    )


def access_code_issue_raise(
    *,
    access_code: AccessCode,
    kind: IssueKind,
    code: str,
    message: str | None = None,
    now: datetime | None = None,
) -> AccessCodeIssue:
    """Put an error or warning on a code. Raising one that is already active keeps the first
    (and its created_at), so repeated failures do not pile up rows."""
    issue, _ = AccessCodeIssue.objects.get_or_create(
        access_code=access_code,
        kind=kind,
        code=code,
        cleared_at=None,
        defaults=issue_fields(kind, code, message, now=now),
    )
    return issue


def access_code_issue_clear(
    *, access_code: AccessCode, kind: IssueKind, code: str, now: datetime | None = None
) -> int:
    return AccessCodeIssue.objects.filter(
        access_code=access_code, kind=kind, code=code, cleared_at__isnull=True
    ).update(cleared_at=now or timezone.now())


def device_issue_raise(
    *, device: Device, kind: IssueKind, code: str, message: str | None = None, now: datetime | None = None
) -> DeviceIssue:
    """Put an error or warning on a lock, or on its connected account when the catalog says the
    problem is the account's; either way it shows on every code of the lock."""
    issue, _ = DeviceIssue.objects.get_or_create(
        kind=kind,
        code=code,
        cleared_at=None,
        **device_issue_subject(device, kind, code),
        defaults=issue_fields(kind, code, message, now=now),
    )
    return issue


def device_issue_subject(device: Device, kind: IssueKind, code: str) -> dict:
    """The lock, or its connected account when the catalog says the problem is the account's."""
    on_account = catalog.lookup(kind, code).scope in (catalog.Scope.CONNECTED_ACCOUNT, catalog.Scope.BRIDGE)
    if on_account:
        return {"device": None, "connected_account_id": device.connected_account_id}
    return {"device": device}


def issue_fields(kind: IssueKind, code: str, message: str | None, *, now: datetime | None) -> dict:
    """A new issue's message (the catalog's unless the provider said more), time and flags."""
    entry = catalog.lookup(kind, code)
    return {"message": message or entry.message, "created_at": now or timezone.now(), **_flags(entry)}


def device_issue_clear(*, device: Device, kind: IssueKind, code: str, now: datetime | None = None) -> int:
    active = DeviceIssue.objects.filter(kind=kind, code=code, cleared_at__isnull=True)
    return active.filter(device=device).update(cleared_at=now or timezone.now()) + active.filter(
        device__isnull=True, connected_account_id=device.connected_account_id
    ).update(cleared_at=now or timezone.now())


def _flags(entry: catalog.CatalogEntry) -> dict:
    return {flag: True for flag in entry.flags}
