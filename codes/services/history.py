"""What happened, and what is wrong: events, and the errors and warnings raised and cleared on
codes and locks (or their connected accounts, where the catalog puts a problem)."""

from datetime import datetime

from django.utils import timezone

from codes import catalog
from codes.models import AccessCode, AccessCodeIssue, Event, EventType
from codes.services.review import review_flags_rejudge
from codes.signals import events_recorded
from devices.models import Device, DeviceIssue, IssueKind
from devices.services import device_online_follow


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
    issue, created = AccessCodeIssue.objects.get_or_create(
        access_code=access_code,
        kind=kind,
        code=code,
        cleared_at=None,
        defaults=issue_fields(kind, code, message, now=now),
    )
    if created:
        review_flags_rejudge(code_ids=[access_code.pk], now=now)
    return issue


def access_code_issue_clear(
    *, access_code: AccessCode, kind: IssueKind, code: str, now: datetime | None = None
) -> int:
    cleared = AccessCodeIssue.objects.filter(
        access_code=access_code, kind=kind, code=code, cleared_at__isnull=True
    ).update(cleared_at=now or timezone.now())
    if cleared:
        review_flags_rejudge(code_ids=[access_code.pk], now=now)
    return cleared


def device_issue_raise(
    *, device: Device, kind: IssueKind, code: str, message: str | None = None, now: datetime | None = None
) -> DeviceIssue:
    """Put an error or warning on a lock, or on its connected account (or the hub or bridge the
    lock is reached through) when the catalog says the problem is the account's. Which codes it
    reaches is ``selectors.inherited_weight``'s; their flags and the locks' online state follow."""
    subject = device_issue_subject(device, kind, code)
    issue, created = DeviceIssue.objects.get_or_create(
        kind=kind, code=code, cleared_at=None, **subject, defaults=issue_fields(kind, code, message, now=now)
    )
    if created:
        device_issues_changed(device=device, account_wide=subject["device"] is None, now=now)
    return issue


def device_issue_subject(device: Device, kind: IssueKind, code: str) -> dict:
    """The lock; or its connected account when the catalog says the problem is the account's;
    or, for a bridge's problem, the bridge the lock is reached through (a lock with no known
    hub or bridge keeps it to itself: nothing says which other locks share it)."""
    scope = catalog.lookup(kind, code).scope
    if scope is catalog.Scope.BRIDGE and not device.hub_id:
        return {"device": device}
    if scope is catalog.Scope.BRIDGE:
        return {"device": None, "connected_account_id": device.connected_account_id, "hub_id": device.hub_id}
    if scope is catalog.Scope.CONNECTED_ACCOUNT:
        return {"device": None, "connected_account_id": device.connected_account_id, "hub_id": ""}
    return {"device": device}


def device_issues_changed(*, device: Device, account_wide: bool, now: datetime | None = None) -> None:
    """An issue of this lock (or of its account, hub or bridge) was raised or cleared: the online
    state of the locks it may concern, and the review flags of their codes, are judged again."""
    affected = [device.pk]
    if account_wide:
        affected = list(
            Device.objects.filter(connected_account_id=device.connected_account_id).values_list(
                "pk", flat=True
            )
        )
    device_online_follow(device_ids=affected)
    review_flags_rejudge(device_ids=affected, now=now)


def issue_fields(kind: IssueKind, code: str, message: str | None, *, now: datetime | None) -> dict:
    """A new issue's message (the catalog's unless the provider said more), time and flags."""
    entry = catalog.lookup(kind, code)
    return {"message": message or entry.message, "created_at": now or timezone.now(), **_flags(entry)}


def device_issue_clear(*, device: Device, kind: IssueKind, code: str, now: datetime | None = None) -> int:
    """Clear it on the lock, on its account, and on the hub or bridge the lock is reached through."""
    active = DeviceIssue.objects.filter(kind=kind, code=code, cleared_at__isnull=True)
    on_account = active.filter(device__isnull=True, connected_account_id=device.connected_account_id).filter(
        hub_id__in={"", device.hub_id}
    )
    own = active.filter(device=device).update(cleared_at=now or timezone.now())
    shared = on_account.update(cleared_at=now or timezone.now())
    if own or shared:
        device_issues_changed(device=device, account_wide=bool(shared), now=now)
    return own + shared


def _flags(entry: catalog.CatalogEntry) -> dict:
    return {flag: True for flag in entry.flags}
