"""Every write to an access code goes through here: the admin, the API and the scheduler's tasks
call these functions, so a rule checked here holds everywhere.

Field names in validation errors are the API's (Seam's) parameter names, so an integration sees
``ends_at`` and a person in the admin sees the same field highlighted.
"""

import random
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from codes import catalog
from codes.locking import lock_devices
from codes.models import (
    AccessCode,
    AccessCodeIssue,
    AccessCodeStatus,
    AccessCodeType,
    ActionAttempt,
    ActionAttemptStatus,
    ActionType,
    Event,
    EventType,
    StaffAction,
    StaffActionKind,
)
from codes.selectors import pin_for_common_code_key, pins_held_on_device, review_problems, shown_issues
from codes.signals import events_recorded
from common.db import update_rows
from common.sentinels import NOT_GIVEN
from devices import rules
from devices.models import Device, DeviceIssue, IssueKind, Workspace
from devices.providers.base import Outcome, Problem, Result

NAME_MAX_LENGTH = AccessCode._meta.get_field("name").max_length
CODE_MAX_LENGTH = AccessCode._meta.get_field("code").max_length
# Far enough to hold any real booking, near enough that date arithmetic never overflows.
EARLIEST, LATEST = 2000, 2100
_FLAGS = (
    "is_offline_access_code",
    "is_one_time_use",
    "use_backup_access_code_pool",
    "allow_external_modification",
)


class CodeConflict(rules.Conflict):
    """The PIN is already on the lock, or scheduled on it, in an overlapping window (HTTP 409)."""


@dataclass(frozen=True)
class AccessCodeRequest:
    """What a caller asks for, in the API's vocabulary, before it is checked against the lock."""

    name: str = ""
    code: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    preferred_code_length: int | None = None
    is_offline_access_code: bool = False
    is_one_time_use: bool = False
    use_backup_access_code_pool: bool = False
    allow_external_modification: bool = False


@dataclass(frozen=True)
class CheckedAccessCode:
    """A request that passed every rule of its lock, with what the rules decided filled in."""

    request: AccessCodeRequest
    code: str | None
    name: str
    appearance: dict
    type: str


class _Errors:
    """Collects every problem before raising, so a caller fixes them all in one round."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.by_field.setdefault(field, []).append(message)

    def raise_if_any(self, error_class=ValidationError) -> None:
        if self.by_field:
            raise error_class({field: list(messages) for field, messages in self.by_field.items()})


def access_code_check(
    *,
    device: Device,
    request: AccessCodeRequest,
    existing: AccessCode | None = None,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> CheckedAccessCode:
    """Check ``request`` against every rule of ``device``; raise ValidationError naming each
    field and rule it breaks (CodeConflict for a PIN another code holds), or return what will
    be stored. Writes nothing.

    With ``existing`` (an update), a PIN that stays the same is not judged again by the lock's
    rules, and conflicts are only looked for when the PIN or the window changes: a code must
    stay editable when a rule tightens or a duplicate appears, which is when staff need to act.
    """
    now = now or timezone.now()
    errors = _Errors()
    r = request

    if not _check_shapes(r, errors):  # wrong types: any further rule would only add noise
        errors.raise_if_any()
    _check_window(r, errors, now=now, existing=existing)
    _check_capabilities(device, r, errors)

    pin_changed = existing is None or r.code != existing.code
    window_changed = existing is None or (r.starts_at, r.ends_at) != (existing.starts_at, existing.ends_at)
    chosen_pin = None if r.is_offline_access_code else r.code
    if chosen_pin is not None and pin_changed:
        for problem in rules.pin_violations(device, chosen_pin):
            errors.add("code", f"'{chosen_pin}' {problem}")  # at most 16 characters, checked above
    errors.raise_if_any()

    if chosen_pin is not None and not (pin_changed or window_changed):
        code = chosen_pin
    else:
        held = pins_held_on_device(
            device,
            starts_at=r.starts_at,
            ends_at=r.ends_at,
            now=now,
            exclude_id=existing.pk if existing else None,
        )
        prefixes = held.prefixes if device.pin_requires_unique_first_four else set()
        if r.is_offline_access_code:
            code = None  # the lock's algorithm assigns it
        elif chosen_pin is not None:
            if chosen_pin in held.pins:
                raise CodeConflict(
                    {
                        "code": [
                            "is already on this lock (or scheduled on it) during an overlapping time window."
                        ]
                    }
                )
            if rules.shares_prefix(chosen_pin, prefixes):
                raise CodeConflict({"code": [rules.PREFIX_CONFLICT]})
            code = chosen_pin
        else:
            code = rules.generate_pin(
                [device], length=r.preferred_code_length, taken=held.pins, taken_prefixes=prefixes, rng=rng
            )
            if code is None:
                raise ValidationError(
                    {
                        "code": [
                            "no free PIN satisfies this lock's rules; free a code on the lock or choose one."
                        ]
                    }
                )

    live_names = (
        AccessCode.objects.live()
        .filter(device=device)
        .exclude(pk=existing.pk if existing else None)
        .values_list("appearance__name", flat=True)
    )
    appearance = rules.fit_name(device, r.name, taken=[n for n in live_names if n])
    return CheckedAccessCode(
        request=r,
        code=code,
        name=rules.clean_name(r.name),
        appearance=appearance.as_dict(),
        type=AccessCodeType.ONGOING if r.starts_at is None else AccessCodeType.TIME_BOUND,
    )


def _check_shapes(r: AccessCodeRequest, errors: _Errors) -> bool:
    """Types and sizes, before any rule: a careless or hostile caller gets a named error, never
    a crash or a half-understood value (the string "false" is not false). Returns whether the
    values are well-formed enough for the lock's rules to judge."""
    before = {field: len(messages) for field, messages in errors.by_field.items()}
    if not isinstance(r.name, str):
        errors.add("name", "must be a string.")
    elif len(r.name) > NAME_MAX_LENGTH:
        errors.add("name", f"is {len(r.name)} characters long; at most {NAME_MAX_LENGTH} are allowed.")
    elif rules.has_control_characters(r.name):
        errors.add("name", "contains control characters (such as line breaks or tabs); use plain text.")
    if r.code is not None:
        if not isinstance(r.code, str):
            errors.add("code", "must be a string of digits.")
        elif len(r.code) > CODE_MAX_LENGTH:
            errors.add(
                "code", f"is {len(r.code)} characters long; no lock takes more than {CODE_MAX_LENGTH}."
            )
    for flag in _FLAGS:
        if not isinstance(getattr(r, flag), bool):
            errors.add(flag, "must be true or false.")
    length = r.preferred_code_length
    if length is not None and (isinstance(length, bool) or not isinstance(length, int)):
        errors.add("preferred_code_length", "must be a whole number.")
    for field in ("starts_at", "ends_at"):
        value = getattr(r, field)
        if value is None:
            continue
        if not isinstance(value, datetime):
            errors.add(field, "must be a date and time (ISO 8601).")
        elif timezone.is_naive(value):
            errors.add(field, "must include a time zone offset (for example 2026-12-01T15:00:00Z).")
        elif not EARLIEST <= value.astimezone(UTC).year < LATEST:
            errors.add(field, f"must fall between the years {EARLIEST} and {LATEST}.")
    # A bad name is a rule broken, not a malformed request: the other rules still get judged.
    return all(
        len(messages) == before.get(field, 0)
        for field, messages in errors.by_field.items()
        if field != "name"
    )


def _check_window(
    r: AccessCodeRequest, errors: _Errors, *, now: datetime, existing: AccessCode | None
) -> None:
    if r.starts_at is None and r.ends_at is not None:
        errors.add("starts_at", "is required when ends_at is given (leave both empty for an ongoing code).")
    elif r.starts_at is not None and r.ends_at is None:
        errors.add("ends_at", "is required when starts_at is given (leave both empty for an ongoing code).")
    elif r.starts_at is not None and r.ends_at is not None:
        if r.ends_at <= r.starts_at:
            errors.add("ends_at", "must be after starts_at.")
        elif r.ends_at <= now and not (existing and existing.ends_at == r.ends_at):
            errors.add("ends_at", "is in the past; a code must end in the future.")


def _check_capabilities(device: Device, r: AccessCodeRequest, errors: _Errors) -> None:
    if r.is_offline_access_code:
        if not device.can_program_offline_access_codes:
            errors.add("is_offline_access_code", "this lock cannot hold offline (algorithmic) codes.")
        if r.starts_at is None:
            errors.add(
                "is_offline_access_code", "offline codes must be time-bound: give starts_at and ends_at."
            )
        if r.code is not None:
            errors.add("code", "offline codes are assigned by the lock's algorithm; leave code empty.")
    elif not device.can_program_online_access_codes:
        errors.add("device_id", "this lock cannot be programmed with online access codes.")
    if r.is_one_time_use and not r.is_offline_access_code:
        errors.add("is_one_time_use", "only offline codes can be one-time-use.")
    if r.use_backup_access_code_pool:
        if not device.supports_backup_access_code_pool:
            errors.add("use_backup_access_code_pool", "this lock does not support a backup code pool.")
        if r.starts_at is None:
            errors.add("use_backup_access_code_pool", "backup codes are only for time-bound codes.")
    if r.preferred_code_length is not None:
        lengths = rules.code_lengths(device)
        if r.preferred_code_length not in lengths:
            allowed = ", ".join(str(n) for n in lengths)
            errors.add("preferred_code_length", f"must be one of the lengths this lock accepts: {allowed}.")


def access_code_create(
    *,
    device: Device,
    request: AccessCodeRequest,
    common_code_key: str | None = None,
    is_backup: bool = False,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> AccessCode:
    """Create a managed code on ``device`` and leave it due for the scheduler (``is_backup``:
    a spare for the lock's backup pool, see codes.backup_pool).

    Runs in one transaction with the device locked, so the PIN checks and the insert see the
    same codes: two concurrent requests for the same PIN cannot both succeed.
    """
    now = now or timezone.now()
    with transaction.atomic():
        if common_code_key:
            request = _with_shared_pin(device.workspace_id, common_code_key, request)
        device = lock_devices([device.pk])[device.pk]
        checked = access_code_check(device=device, request=request, now=now, rng=rng)
        return _insert(device, checked, common_code_key=common_code_key, now=now, is_backup=is_backup)


def _with_shared_pin(workspace_id, common_code_key: str, request: AccessCodeRequest) -> AccessCodeRequest:
    """Codes sharing a ``common_code_key`` share one PIN. The workspace row is locked first, so
    two concurrent creates with a new key cannot each pick a PIN of their own."""
    Workspace.objects.select_for_update().filter(pk=workspace_id).first()
    shared = pin_for_common_code_key(workspace_id, common_code_key)
    if shared is None:
        return request
    if request.code not in (None, shared):
        raise ValidationError({"code": ["differs from the PIN of the codes sharing this common_code_key."]})
    return replace(request, code=shared)


def access_codes_create_multiple(
    *,
    devices: list[Device],
    request: AccessCodeRequest,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> list[AccessCode]:
    """One code per device sharing a single PIN and a ``common_code_key``; all or nothing."""
    devices = list({d.pk: d for d in devices}.values())  # the same lock twice is one lock
    if not devices:
        raise ValidationError({"device_ids": ["give at least one device."]})
    if len({d.workspace_id for d in devices}) > 1:
        raise ValidationError({"device_ids": ["all devices must belong to the same workspace."]})
    now = now or timezone.now()
    common_code_key = f"auto_set_by_create_multiple_{uuid.uuid4()}"
    with transaction.atomic():
        locked = lock_devices(d.pk for d in devices)
        ordered = [locked[d.pk] for d in devices]
        if request.code is None and not request.is_offline_access_code:
            request = replace(request, code=_shared_pin(ordered, request, now=now, rng=rng))
        created = []
        for device in ordered:
            try:
                checked = access_code_check(device=device, request=request, now=now, rng=rng)
            except ValidationError as exc:
                raise type(exc)(_prefix_device(exc, device)) from exc
            created.append(_insert(device, checked, common_code_key=common_code_key, now=now))
        return created


def _shared_pin(devices: list[Device], request: AccessCodeRequest, *, now: datetime, rng) -> str:
    pins, prefixes = set(), set()
    for device in devices:
        held = pins_held_on_device(device, starts_at=request.starts_at, ends_at=request.ends_at, now=now)
        pins |= held.pins
        if device.pin_requires_unique_first_four:
            prefixes |= held.prefixes
    length = request.preferred_code_length
    if length is not None and length not in rules.common_code_lengths(devices):
        raise ValidationError({"preferred_code_length": ["is not a length every chosen lock accepts."]})
    pin = rules.generate_pin(devices, length=length, taken=pins, taken_prefixes=prefixes, rng=rng)
    if pin is None:
        raise ValidationError(
            {"code": ["no single PIN satisfies the rules of every chosen lock; choose one."]}
        )
    return pin


def _prefix_device(exc: ValidationError, device: Device) -> dict:
    return {
        field: [f"{device.display_name}: {m}" for m in messages]
        for field, messages in exc.message_dict.items()
    }


def _insert(
    device: Device,
    checked: CheckedAccessCode,
    *,
    common_code_key: str | None,
    now: datetime,
    is_backup: bool = False,
) -> AccessCode:
    r = checked.request
    access_code = AccessCode.objects.create(
        is_backup=is_backup,
        workspace_id=device.workspace_id,
        device=device,
        code=checked.code,
        name=checked.name,
        appearance=checked.appearance,
        common_code_key=common_code_key,
        type=checked.type,
        starts_at=r.starts_at,
        ends_at=r.ends_at,
        is_waiting_for_code_assignment=checked.code is None,
        is_external_modification_allowed=r.allow_external_modification,
        is_one_time_use=r.is_one_time_use,
        is_offline_access_code=r.is_offline_access_code,
        use_backup_access_code_pool=r.use_backup_access_code_pool,
        created_at=now,
        updated_at=now,
        next_attempt_at=now,
    )
    event_record(EventType.CREATED, access_code=access_code, occurred_at=now)
    return access_code


def _update_request(
    current: AccessCode,
    *,
    name=NOT_GIVEN,
    code=NOT_GIVEN,
    starts_at=NOT_GIVEN,
    ends_at=NOT_GIVEN,
    make_ongoing: bool = False,
    preferred_code_length=NOT_GIVEN,
    use_backup_access_code_pool=NOT_GIVEN,
    allow_external_modification=NOT_GIVEN,
) -> AccessCodeRequest:
    """The full request an update amounts to: the current code with the changes applied."""
    if current.deleted_at is not None:
        raise ValidationError({"access_code_id": ["this access code has been deleted."]})
    if not current.is_managed:
        raise ValidationError({"access_code_id": ["this code is unmanaged; convert it to managed first."]})
    if make_ongoing and (starts_at not in (NOT_GIVEN, None) or ends_at not in (NOT_GIVEN, None)):
        raise ValidationError({"type": ["an ongoing code has no starts_at or ends_at; drop them."]})
    if current.is_offline_access_code and code is not NOT_GIVEN and code != current.code:
        raise ValidationError({"code": ["offline codes are assigned by the lock's algorithm."]})

    def pick(value, current_value):
        return current_value if value is NOT_GIVEN else value

    window = (None, None) if make_ongoing else (current.starts_at, current.ends_at)
    return AccessCodeRequest(
        name=pick(name, current.name),
        # An offline code's PIN is never the caller's: it is derived from the window.
        code=None if current.is_offline_access_code else pick(code, current.code),
        starts_at=pick(starts_at, window[0]),
        ends_at=pick(ends_at, window[1]),
        preferred_code_length=pick(preferred_code_length, None),
        is_offline_access_code=current.is_offline_access_code,
        is_one_time_use=current.is_one_time_use,
        use_backup_access_code_pool=pick(use_backup_access_code_pool, current.use_backup_access_code_pool),
        allow_external_modification=pick(
            allow_external_modification, current.is_external_modification_allowed
        ),
    )


def access_code_update_check(
    *, access_code: AccessCode, now: datetime | None = None, **changes
) -> CheckedAccessCode:
    """What ``access_code_update`` would check, without writing: for forms that show each
    problem beside its field before saving."""
    request = _update_request(access_code, **changes)
    return access_code_check(device=access_code.device, request=request, existing=access_code, now=now)


def access_code_update(
    *, access_code: AccessCode, now: datetime | None = None, rng: random.Random | None = None, **changes
) -> AccessCode:
    """Change a managed code; what changed is reprogrammed by the scheduler.

    ``changes`` are those of ``_update_request``: ``name``, ``code`` (None asks for a new
    generated PIN), ``starts_at``, ``ends_at``, ``make_ongoing`` (Seam's ``type: "ongoing"``),
    ``preferred_code_length``, ``use_backup_access_code_pool``, ``allow_external_modification``.
    A field left out stays as it is.
    """
    now = now or timezone.now()
    with transaction.atomic():
        lock_devices([access_code.device_id])
        current = AccessCode.objects.select_related("device").get(pk=access_code.pk)
        request = _update_request(current, **changes)
        checked = access_code_check(
            device=current.device, request=request, existing=current, now=now, rng=rng
        )
        new_values = {
            "name": checked.name,
            "appearance": checked.appearance,
            "type": checked.type,
            "starts_at": request.starts_at,
            "ends_at": request.ends_at,
            "use_backup_access_code_pool": request.use_backup_access_code_pool,
            "is_external_modification_allowed": request.allow_external_modification,
        }
        if not current.is_offline_access_code:
            new_values["code"] = checked.code
        elif (request.starts_at, request.ends_at) != (current.starts_at, current.ends_at):
            # An offline PIN is derived from its window: a new window needs a new PIN.
            new_values.update(code=None, is_waiting_for_code_assignment=True)
        changed = sorted(f for f, v in new_values.items() if getattr(current, f) != v)
        if not changed:
            return current
        for field, value in new_values.items():
            setattr(current, field, value)
        current.updated_at = now
        current.version += 1
        current.next_attempt_at = now
        current.attempt_count = 0
        current.save(update_fields=[*new_values, "updated_at", "version", "next_attempt_at", "attempt_count"])
        event_record(EventType.CHANGED, access_code=current, occurred_at=now, payload={"changed": changed})
        return current


def access_code_delete(*, access_code: AccessCode, now: datetime | None = None) -> AccessCode:
    """Delete a code: gone from the API at once; if its PIN is (or may be) on the lock, it stays
    ``removing`` until the scheduler has taken it off. Deleting twice is harmless.

    An offline code cannot be taken off its lock (the lock never heard of it); its PIN keeps
    opening the door until ``ends_at``, and keeps holding that PIN until then.
    """
    now = now or timezone.now()
    with transaction.atomic():
        lock_devices([access_code.device_id])
        current = AccessCode.objects.get(pk=access_code.pk)
        if current.deleted_at is not None:
            return current
        on_lock = current.may_be_on_lock  # read before the status changes below
        current.deleted_at = now
        current.updated_at = now
        if on_lock:
            current.status = AccessCodeStatus.REMOVING
            current.next_attempt_at = now
        else:
            current.next_attempt_at = None
        current.save(update_fields=["deleted_at", "updated_at", "status", "next_attempt_at"])
        event_record(EventType.DELETED, access_code=current, occurred_at=now)
        return current


def event_record(
    event_type: EventType,
    *,
    access_code: AccessCode | None = None,
    device: Device | None = None,
    occurred_at: datetime | None = None,
    payload: dict | None = None,
) -> Event:
    """Record what happened. Call it inside the transaction that made the change."""
    event = _event(
        event_type, access_code=access_code, device=device, occurred_at=occurred_at, payload=payload
    )
    return events_record([event])[0]


def events_record(events: list[Event]) -> list[Event]:
    """Write events built by ``_event``, in one query: every event is written here, one at a
    time or a sweep's batch at once. Call it inside the transaction that made the changes.

    Then ``codes.signals.events_recorded`` announces the whole batch once, so whatever listens
    for new events (an outbox of webhook deliveries, written in this same transaction) sees every
    one, however many were written together, at the cost of one call per batch."""
    created = Event.objects.bulk_create(events)
    if created:
        events_recorded.send(sender=Event, events=created)
    return created


def _event(
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
        defaults=_issue_fields(kind, code, message, now=now),
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
        **_device_issue_subject(device, kind, code),
        defaults=_issue_fields(kind, code, message, now=now),
    )
    return issue


def _device_issue_subject(device: Device, kind: IssueKind, code: str) -> dict:
    """The lock, or its connected account when the catalog says the problem is the account's."""
    on_account = catalog.lookup(kind, code).scope in (catalog.Scope.CONNECTED_ACCOUNT, catalog.Scope.BRIDGE)
    if on_account:
        return {"device": None, "connected_account_id": device.connected_account_id}
    return {"device": device}


def _issue_fields(kind: IssueKind, code: str, message: str | None, *, now: datetime | None) -> dict:
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


# --- Programming outcomes: the one place a code's status on the lock changes -------------------

# How soon to ask a lock again about a code it has not confirmed yet.
PENDING_POLL_INTERVAL = timedelta(minutes=2)
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(minutes=30)

_SETTING_WARNINGS = ("delay_in_setting_on_device", "august_device_programming_delay")
# Lock-level errors that a successful command to the lock proves are over.
_REACHABILITY_ERRORS = ("device_offline", "hub_disconnected", "device_disconnected", "bridge_disconnected")


class LockAction(StrEnum):
    SET = "set"
    REMOVE = "remove"


def retry_delay(attempt: int, *, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with jitter, capped: 30 s, 1 min, 2 min ... 30 min. The jitter (half
    to all of the step) keeps a fleet of codes that failed together from retrying together."""
    step = min(RETRY_CAP, RETRY_BASE * (2 ** min(attempt, 16)))
    return step * (rng or _jitter_rng).uniform(0.5, 1.0)


_jitter_rng = random.SystemRandom()


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
        device_issues = DeviceIssue.objects.filter(cleared_at__isnull=True).filter(
            Q(device__in=devices) | Q(device__isnull=True, connected_account__in=accounts)
        )
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
            **_issue_fields(kind, issue_code, message, now=self.now),
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
            **_device_issue_subject(device, kind, issue_code),
            **_issue_fields(kind, issue_code, message, now=self.now),
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
        self._events.append(_event(event_type, access_code=code, occurred_at=self.now, payload=payload))

    def issues(self, code: AccessCode) -> list:
        """What ``selectors.access_code_issues`` shows for the code, as it stands in the ledger."""
        inherited = [i for i in self._device_issues if i.concerns(code.device)]
        return shown_issues(self._code_issues[code.pk], inherited)

    def save(self) -> None:
        for model in (AccessCodeIssue, DeviceIssue):
            cleared = [i.pk for i in self._cleared_issues if isinstance(i, model)]
            if cleared:
                model.objects.filter(pk__in=cleared).update(cleared_at=self.now)
            model.objects.bulk_create([i for i in self._new_issues if isinstance(i, model)])
        events_record(self._events)
        # A code still leased in a ledger that releases others (one waiting to pull a backup)
        # is this sweep's: its lease is written back as it was.
        update_rows(self.codes.values(), (*self.FIELDS, "claimed_until") if self._releases else self.FIELDS)
        self._new_issues, self._cleared_issues, self._events = [], [], []


def access_code_record_outcome(
    *,
    access_code: AccessCode,
    action: LockAction,
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
    action: LockAction,
    outcome: Outcome,
    *,
    assigned_code: str | None = None,
    rng: random.Random | None = None,
) -> AccessCode:
    """``access_code_record_outcome`` in a ledger the caller opened and saves."""
    now = ledger.now
    current = ledger.get(access_code.pk)
    stale = current.version != access_code.version
    if outcome.provider_code_id and action is LockAction.SET:
        current.provider_code_id = outcome.provider_code_id
    if action is LockAction.SET and outcome.result != Result.FAILED:
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
    elif action is LockAction.REMOVE:
        _record_removed(ledger, current)
    elif outcome.result == Result.PENDING:
        current.status = AccessCodeStatus.SETTING
        current.next_attempt_at = now + PENDING_POLL_INTERVAL
    else:
        _record_set(ledger, current)
    if outcome.result != Result.FAILED:
        # A command the lock took proves it reachable.
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
    scheduled = code.type == AccessCodeType.TIME_BOUND and (
        code.device.has_native_scheduling or code.is_offline_access_code
    )
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
    ledger.clear_code_issues(code, IssueKind.WARNING, ["delay_in_removing_from_device"])
    code.status = AccessCodeStatus.UNSET
    code.is_scheduled_on_device = False
    code.provider_code_id = ""
    code.next_attempt_at = None
    code.attempt_count = 0
    if code.deleted_at is None:  # a finished time-bound code leaves the API once it is off the lock
        code.deleted_at = ledger.now


def _record_failure(ledger: Ledger, code: AccessCode, action: LockAction, outcome: Outcome, *, rng) -> None:
    for problem in outcome.errors:
        _raise_error(ledger, code, problem.code, problem.message)
    if code.attempt_count == 0:  # one event per run of failures, not one per retry
        event_type = (
            EventType.FAILED_TO_SET_ON_DEVICE
            if action is LockAction.SET
            else EventType.FAILED_TO_REMOVE_FROM_DEVICE
        )
        ledger.event(event_type, code, payload={"errors": [p.code for p in outcome.errors]})
    if action is LockAction.SET and code.status == AccessCodeStatus.SETTING:
        code.status = AccessCodeStatus.UNSET
    code.attempt_count += 1
    # Transient trouble is retried; a permanent refusal waits until the code or the lock changes.
    code.next_attempt_at = (
        ledger.now + retry_delay(code.attempt_count - 1, rng=rng) if outcome.transient else None
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
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> AccessCode:
    """Record a pre-flight check's result: each problem as an error with its remedy (on the
    code, or on the lock or account where the catalog puts it), or a clean bill that clears
    earlier ones. Nothing was programmed, so the status does not change."""
    with transaction.atomic():
        ledger = Ledger.open([access_code], now=now or timezone.now())
        current = record_preflight(ledger, access_code, problems, transient=transient, rng=rng)
        ledger.save()
        return current


def record_preflight(
    ledger: Ledger,
    access_code: AccessCode,
    problems: list[tuple[str, str]],
    *,
    transient: bool,
    rng: random.Random | None = None,
) -> AccessCode:
    """``access_code_record_preflight`` in a ledger the caller opened and saves."""
    current = ledger.get(access_code.pk)
    if problems:
        for code, message in problems:
            _raise_error(ledger, current, code, message)
        current.preflight_passed_at = None
        current.attempt_count += 1
        current.next_attempt_at = (
            ledger.now + retry_delay(current.attempt_count - 1, rng=rng) if transient else None
        )
    else:
        ledger.clear_code_issues(current, IssueKind.ERROR)
        ledger.clear_device_issues(current.device, IssueKind.ERROR, _REACHABILITY_ERRORS)
        current.preflight_passed_at = ledger.now
        current.attempt_count = 0
        current.next_attempt_at = None
    return current


def _raise_error(ledger: Ledger, code: AccessCode, error_code: str, message: str) -> None:
    """An error where the catalog says it belongs: on the code, or on its lock or account."""
    if catalog.error(error_code).scope is catalog.Scope.ACCESS_CODE:
        ledger.raise_code_issue(code, IssueKind.ERROR, error_code, message or None)
    else:
        ledger.raise_device_issue(code.device, IssueKind.ERROR, error_code, message or None)


# --- Drift: what the lock holds against what Latchkey declares --------------------------------


def access_code_record_drift(
    *, access_code: AccessCode, held_code: str | None, now: datetime | None = None
) -> AccessCode:
    """The lock no longer holds this code as sent: changed (``held_code`` is what it holds now)
    or gone (``held_code`` is None). Recorded with its event; unless the code allows outside
    changes, it is an error and Latchkey sets the code again (until its window ends), else a
    warning and the lock is left as it is."""
    now = now or timezone.now()
    with transaction.atomic():
        lock_devices([access_code.device_id])
        current = AccessCode.objects.select_related("device").get(pk=access_code.pk)
        if current.version != access_code.version or current.deleted_at is not None:
            return current  # changed meanwhile: the next comparison judges the new version
        if (
            current.is_external_modification_allowed
            and current.issues.filter(
                kind=IssueKind.WARNING, code="code_modified_external_to_seam", cleared_at__isnull=True
            ).exists()
        ):
            return current  # already recorded; an allowed change is left alone
        deleted = held_code is None
        event_record(
            EventType.DELETED_EXTERNAL_TO_SEAM if deleted else EventType.MODIFIED_EXTERNAL_TO_SEAM,
            access_code=current,
            occurred_at=now,
            payload={} if deleted else {"code_on_lock": held_code},
        )
        message = (
            "The code was removed from the lock outside Latchkey."
            if deleted
            else ("The code's PIN on the lock was changed outside Latchkey.")
        )
        if current.is_external_modification_allowed:
            access_code_issue_raise(
                access_code=current,
                kind=IssueKind.WARNING,
                code="code_modified_external_to_seam",
                message=message,
                now=now,
            )
            return current
        access_code_issue_raise(
            access_code=current,
            kind=IssueKind.ERROR,
            code="code_modified_external_to_seam",
            message=message,
            now=now,
        )
        if deleted:
            current.provider_code_id = ""
            current.is_scheduled_on_device = False
        current.status = AccessCodeStatus.UNSET
        current.sent_version = None  # send it again
        current.next_attempt_at = now
        current.save(
            update_fields=[
                "provider_code_id",
                "is_scheduled_on_device",
                "status",
                "sent_version",
                "next_attempt_at",
            ]
        )
        return current


def send_mark(code) -> dict:
    """How ``AccessCode.send_in_flight`` names one send: the PIN and name the lock was given.
    ``code`` is what was sent (a ``CodeSpec``) or what a lock holds (a ``HeldCode``)."""
    return {"code": code.code, "name": code.name}


def codes_set_outside(held: list, *, known, in_flight: list) -> list:
    """The lock's codes that are no one's in Latchkey: no row has their id (``known``), and
    none is the copy of a managed code whose send is still unanswered (``in_flight``, its marks;
    being recorded now, or left by a worker that died: the scheduler takes those up)."""
    return [h for h in held if h.provider_code_id not in known and send_mark(h) not in in_flight]


def unmanaged_codes_sync(*, device: Device, held: list, now: datetime | None = None) -> list[AccessCode]:
    """Codes on the lock that Latchkey did not create become unmanaged codes (Seam's term), so
    they are visible, count against slots and PIN conflicts, and can be converted to managed.
    Unmanaged codes no longer on the lock leave the API."""
    now = now or timezone.now()
    with transaction.atomic():
        lock_devices([device.pk])
        known = dict(
            AccessCode.objects.filter(device=device)
            .exclude(provider_code_id="")
            .values_list("provider_code_id", "is_managed")
        )
        in_flight = [
            mark
            for marks in AccessCode.objects.filter(
                device=device, is_managed=True, send_in_flight__isnull=False
            ).values_list("send_in_flight", flat=True)
            for mark in marks
        ]
        created = []
        for h in codes_set_outside(held, known=known, in_flight=in_flight):
            time_bound = h.starts_at is not None and h.ends_at is not None and h.ends_at > h.starts_at
            created.append(
                AccessCode.objects.create(
                    workspace_id=device.workspace_id,
                    device=device,
                    code=h.code,
                    is_waiting_for_code_assignment=h.code is None,
                    name=h.name,
                    appearance={"name": h.name},
                    provider_code_id=h.provider_code_id,
                    is_managed=False,
                    status=AccessCodeStatus.SET if h.is_set else AccessCodeStatus.SETTING,
                    type=AccessCodeType.TIME_BOUND if time_bound else AccessCodeType.ONGOING,
                    starts_at=h.starts_at if time_bound else None,
                    ends_at=h.ends_at if time_bound else None,
                    created_at=now,
                    updated_at=now,
                )
            )
        on_lock = {h.provider_code_id for h in held}
        AccessCode.objects.filter(device=device, is_managed=False, deleted_at__isnull=True).exclude(
            provider_code_id__in=on_lock
        ).update(deleted_at=now, status=AccessCodeStatus.UNSET)
        return created


def _unmanaged(access_code: AccessCode) -> AccessCode:
    current = AccessCode.objects.get(pk=access_code.pk)
    if current.is_managed:
        raise ValidationError({"access_code_id": ["this code is already managed by Latchkey."]})
    if current.deleted_at is not None:
        raise ValidationError({"access_code_id": ["this code is no longer on the lock."]})
    return current


def access_code_convert_to_managed(
    *, access_code: AccessCode, allow_external_modification: bool = False, now: datetime | None = None
) -> AccessCode:
    """Take charge of a code found on the lock: from now on Latchkey keeps it there (and, if it
    has a window, removes it at the end), and treats outside changes as drift. It is on the lock
    as it stands, so nothing is sent."""
    if not isinstance(allow_external_modification, bool):
        raise ValidationError({"allow_external_modification": ["must be true or false."]})
    now = now or timezone.now()
    with transaction.atomic():
        lock_devices([access_code.device_id])
        current = _unmanaged(access_code)
        current.is_managed = True
        current.is_external_modification_allowed = allow_external_modification
        current.sent_version = current.version  # the lock holds exactly this
        current.updated_at = now
        current.next_attempt_at = now
        current.save(
            update_fields=[
                "is_managed",
                "is_external_modification_allowed",
                "sent_version",
                "updated_at",
                "next_attempt_at",
            ]
        )
        event_record(
            EventType.CHANGED, access_code=current, occurred_at=now, payload={"changed": ["is_managed"]}
        )
        return current


def unmanaged_access_code_delete(*, access_code: AccessCode, now: datetime | None = None) -> AccessCode:
    """Remove a code Latchkey did not create from its lock; the scheduler takes it off."""
    now = now or timezone.now()
    with transaction.atomic():
        lock_devices([access_code.device_id])
        current = _unmanaged(access_code)
        current.deleted_at = now
        current.updated_at = now
        current.status = AccessCodeStatus.REMOVING
        current.next_attempt_at = now
        current.save(update_fields=["deleted_at", "updated_at", "status", "next_attempt_at"])
        return current


def access_codes_update_multiple(
    *, workspace_id, common_code_key: str, now: datetime | None = None, **changes
) -> list[AccessCode]:
    """Change every live code sharing ``common_code_key`` (a booking's doors) alike; all or
    nothing. ``changes`` are ``access_code_update``'s."""
    now = now or timezone.now()
    with transaction.atomic():
        codes = list(
            AccessCode.objects.live()
            .select_related("device")
            .filter(workspace_id=workspace_id, common_code_key=common_code_key, is_managed=True)
        )
        if not codes:
            raise ValidationError({"common_code_key": ["no live access code has this common_code_key."]})
        updated = []
        for code in codes:
            try:
                updated.append(access_code_update(access_code=code, now=now, **changes))
            except ValidationError as exc:
                raise type(exc)(_prefix_device(exc, code.device)) from exc
        return updated


def action_attempt_record(
    *, access_code: AccessCode, action_type: ActionType, now: datetime | None = None
) -> ActionAttempt:
    """The SDK's receipt for a write. Latchkey stores each write at once and the scheduler carries
    it to the lock, so the attempt succeeds when the write is stored; how the lock is doing is the
    code's status, errors and events (a lock may be days away from receiving a time-bound code)."""
    now = now or timezone.now()
    result = {} if action_type == ActionType.DELETE_ACCESS_CODE else {"access_code_id": str(access_code.pk)}
    return ActionAttempt.objects.create(
        workspace_id=access_code.workspace_id,
        action_type=action_type,
        status=ActionAttemptStatus.SUCCESS,
        access_code=access_code,
        result=result,
        created_at=now,
        updated_at=now,
    )


def device_connection_record(*, device: Device, online: bool, now: datetime | None = None) -> Device:
    """The provider says the lock went offline or came back: shown at once as ``device_offline``
    on the lock and every code of it; a lock back online gets its waiting codes looked at now."""
    now = now or timezone.now()
    with transaction.atomic():
        device = lock_devices([device.pk])[device.pk]
        if device.is_online != online:
            device.is_online = online
            device.save(update_fields=["is_online"])
        if online:
            device_issue_clear(device=device, kind=IssueKind.ERROR, code="device_offline", now=now)
            AccessCode.objects.live().filter(device=device, next_attempt_at__gt=now).update(
                next_attempt_at=now
            )
        else:
            device_issue_raise(device=device, kind=IssueKind.ERROR, code="device_offline", now=now)
        return device


def device_removal_record(*, device: Device, now: datetime | None = None) -> Device:
    """The lock was removed from its provider account: ``device_removed`` on it and its codes."""
    now = now or timezone.now()
    with transaction.atomic():
        device = lock_devices([device.pk])[device.pk]
        device.is_online = False
        device.save(update_fields=["is_online"])
        device_issue_raise(device=device, kind=IssueKind.ERROR, code="device_removed", now=now)
        return device


# --- What staff do in the browser: the review queue, retries, PIN reveals ---------------------
# Each step is a StaffAction row written with the change it records. They take the device's
# lock like every other write to a code, so a step never interleaves with a scheduler step
# that sets or clears the review flag.

NOTE_MAX_LENGTH = 2000


def _staff_step(access_code: AccessCode, kind: StaffActionKind, *, actor, now: datetime, **fields):
    return StaffAction.objects.create(
        access_code=access_code, kind=kind, actor=actor, created_at=now, **fields
    )


def _current_for_review(access_code: AccessCode) -> AccessCode:
    lock_devices([access_code.device_id])
    return AccessCode.objects.select_related("device").get(pk=access_code.pk)


def review_assign(*, access_code: AccessCode, actor, assignee, now: datetime | None = None) -> AccessCode:
    """Give a flagged code to a person (None: unassign). Only someone who may work the review
    queue can be given one."""
    if assignee is not None and not (assignee.is_active and assignee.has_perm("codes.review_accesscode")):
        raise ValidationError({"assignee": [f"{assignee.get_username()} cannot work the review queue."]})
    now = now or timezone.now()
    with transaction.atomic():
        current = _current_for_review(access_code)
        current.review_assignee = assignee
        current.save(update_fields=["review_assignee"])
        _staff_step(current, StaffActionKind.ASSIGNED, actor=actor, now=now, assignee=assignee)
        return current


def review_acknowledge(*, access_code: AccessCode, actor, now: datetime | None = None) -> AccessCode:
    """Someone has seen the problem and is on it; the code stays in the queue until resolved."""
    now = now or timezone.now()
    with transaction.atomic():
        current = _current_for_review(access_code)
        current.review_acknowledged_at = now
        if current.review_assignee_id is None:
            current.review_assignee = actor
        current.save(update_fields=["review_acknowledged_at", "review_assignee"])
        _staff_step(current, StaffActionKind.ACKNOWLEDGED, actor=actor, now=now)
        return current


def _clean_note(note, *, required: bool) -> str:
    if not isinstance(note, str):
        raise ValidationError({"note": ["must be text."]})
    note = note.strip()
    if required and not note:
        raise ValidationError({"note": ["write something: an empty note records nothing."]})
    if len(note) > NOTE_MAX_LENGTH:
        raise ValidationError({"note": [f"is {len(note)} characters long; at most {NOTE_MAX_LENGTH}."]})
    return note


def review_note(*, access_code: AccessCode, actor, note: str, now: datetime | None = None) -> StaffAction:
    note = _clean_note(note, required=True)
    now = now or timezone.now()
    with transaction.atomic():
        current = _current_for_review(access_code)
        return _staff_step(current, StaffActionKind.NOTE, actor=actor, now=now, note=note)


def review_resolve(
    *, access_code: AccessCode, actor, note: str = "", now: datetime | None = None
) -> AccessCode:
    """Mark the code's current problems dealt with: it leaves the review queue, and comes back
    when a problem is raised again (a new error or warning, or the scheduler finding it still
    not ready at its next look). The problems shown at this moment are kept with the step."""
    note = _clean_note(note, required=False)
    now = now or timezone.now()
    with transaction.atomic():
        current = _current_for_review(access_code)
        problems = [p.title for p in review_problems(current)]
        reason = current.review_reason
        current.review_resolved_at = now
        current.needs_review = False
        current.review_reason = ""
        current.review_assignee = None
        current.review_acknowledged_at = None
        current.save(
            update_fields=[
                "review_resolved_at",
                "needs_review",
                "review_reason",
                "review_assignee",
                "review_acknowledged_at",
            ]
        )
        if reason and reason not in problems:
            problems.append(reason)
        _staff_step(current, StaffActionKind.RESOLVED, actor=actor, now=now, note=note, problems=problems)
        return current


def access_code_retry_now(*, access_code: AccessCode, actor, now: datetime | None = None) -> AccessCode:
    """Ask the scheduler to look at the code at once, checking the lock afresh (a passed
    pre-flight is forgotten). The sweep runs as a task after commit, so a slow lock never
    holds up the page that asked."""
    now = now or timezone.now()
    with transaction.atomic():
        current = _current_for_review(access_code)
        if current.deleted_at is not None and current.status != AccessCodeStatus.REMOVING:
            raise ValidationError({"access_code_id": ["this access code has been deleted."]})
        current.next_attempt_at = now
        current.preflight_passed_at = None
        current.save(update_fields=["next_attempt_at", "preflight_passed_at"])
        _staff_step(current, StaffActionKind.RETRIED, actor=actor, now=now)
        transaction.on_commit(_enqueue_sweep)
        return current


def _enqueue_sweep() -> None:
    from django_q.tasks import async_task

    async_task("codes.tasks.sweep_due_codes")


def access_code_pin_reveal(*, access_code: AccessCode, actor, now: datetime | None = None) -> str | None:
    """The code's PIN, for someone allowed to see it; every reveal is recorded."""
    if not actor.has_perm("codes.view_pin"):
        raise PermissionDenied("You may not see access code PINs.")
    now = now or timezone.now()
    with transaction.atomic():
        current = AccessCode.objects.get(pk=access_code.pk)
        _staff_step(current, StaffActionKind.PIN_REVEALED, actor=actor, now=now)
        return current.code


# --- What a lock's provider reports by itself (webhooks) ---------------------------------------

# Latchkey's events that mark a code's state. A provider's report that happened before the
# newest of them is about a state already replaced, and must not overwrite it.
_CODE_STATE_EVENTS = (
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
        *_CODE_STATE_EVENTS,
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


def _ignored(reason: str) -> ReportResult:
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
        return _ignored(f"{event_type} is not an event a lock's provider reports about a code")
    with transaction.atomic():
        lock_devices([access_code.device_id])
        current = AccessCode.objects.select_related("device").get(pk=access_code.pk)
        newest = _newest(Event.objects.filter(access_code=current), _CODE_STATE_EVENTS)
        if newest is not None and at < newest:
            return _ignored(f"older than the code's latest recorded state ({newest.isoformat()})")
        return _apply_code_report(
            current,
            EventType(event_type),
            at=at,
            errors=errors,
            code_on_lock=code_on_lock,
            backup_provider_code_id=backup_provider_code_id,
        )


def _apply_code_report(
    code: AccessCode,
    event_type: EventType,
    *,
    at: datetime,
    errors: tuple[str, ...],
    code_on_lock: str | None,
    backup_provider_code_id: str | None,
) -> ReportResult:
    finished = code.deleted_at is not None or (code.ends_at is not None and code.ends_at <= at)
    if event_type in (EventType.SET_ON_DEVICE, EventType.SCHEDULED_ON_DEVICE):
        if finished:
            return _ignored("the code is deleted or over; the scheduler takes it off the lock")
        outcome = Outcome.confirmed(code.provider_code_id or None)
        access_code_record_outcome(access_code=code, action=LockAction.SET, outcome=outcome, now=at)
    elif event_type is EventType.REMOVED_FROM_DEVICE:
        if finished:
            outcome = Outcome.confirmed(code.provider_code_id or None)
            access_code_record_outcome(access_code=code, action=LockAction.REMOVE, outcome=outcome, now=at)
        else:  # the code should be on the lock: it was taken off by someone else
            access_code_record_drift(access_code=code, held_code=None, now=at)
    elif event_type in (EventType.FAILED_TO_SET_ON_DEVICE, EventType.FAILED_TO_REMOVE_FROM_DEVICE):
        setting = event_type is EventType.FAILED_TO_SET_ON_DEVICE
        codes = tuple(errors) or (
            ("failed_to_set_on_device",) if setting else ("failed_to_remove_from_device",)
        )
        outcome = Outcome.failed(
            *(Problem(c) for c in codes), transient=all(catalog.error(c).transient for c in codes)
        )
        action = LockAction.SET if setting else LockAction.REMOVE
        access_code_record_outcome(access_code=code, action=action, outcome=outcome, now=at)
    elif event_type is EventType.DELAY_IN_SETTING_ON_DEVICE:
        if finished or code.status == AccessCodeStatus.SET:
            return _ignored("the code is already set, or no longer wanted on the lock")
        _warn_with_event(code, "delay_in_setting_on_device", event_type, at=at)
    elif event_type is EventType.DELAY_IN_REMOVING_FROM_DEVICE:
        if not code.may_be_on_lock:
            return _ignored("the code is already off the lock")
        _warn_with_event(code, "delay_in_removing_from_device", event_type, at=at)
    elif event_type in (EventType.MODIFIED_EXTERNAL_TO_SEAM, EventType.DELETED_EXTERNAL_TO_SEAM):
        if finished:
            return _ignored("the code is deleted or over; an outside change no longer matters")
        deleted = event_type is EventType.DELETED_EXTERNAL_TO_SEAM
        access_code_record_drift(
            access_code=code, held_code=None if deleted else (code_on_lock or ""), now=at
        )
    elif event_type is EventType.BACKUP_ACCESS_CODE_PULLED:
        from codes import backup_pool  # backup_pool builds on these services

        return backup_pool.backup_code_record_pulled(
            access_code=code, backup_provider_code_id=backup_provider_code_id, now=at
        )
    return ReportResult(applied=True)


def _warn_with_event(code: AccessCode, warning: str, event_type: EventType, *, at: datetime) -> None:
    """A warning and its event, once while the warning stays active."""
    if code.issues.filter(kind=IssueKind.WARNING, code=warning, cleared_at__isnull=True).exists():
        return
    access_code_issue_raise(access_code=code, kind=IssueKind.WARNING, code=warning, now=at)
    event_record(event_type, access_code=code, occurred_at=at)


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
        return _ignored(f"{event_type} is not an event about a lock")
    event_type = EventType(event_type)
    with transaction.atomic():
        device = lock_devices([device.pk])[device.pk]
        own_events = Event.objects.filter(device=device, access_code__isnull=True)
        newest = _newest(own_events, _DEVICE_STATE_EVENTS[event_type])
        if newest is not None and at < newest:
            return _ignored(f"older than the lock's latest recorded state ({newest.isoformat()})")
        fields = []
        if event_type is EventType.DEVICE_DISCONNECTED:
            # The provider may say what was lost (the hub, the whole account); the catalog puts an
            # account's error on the account, so it shows on each of its locks' codes.
            reason = error_code if error_code in _CONNECTIVITY_ERRORS else "device_disconnected"
            device_issue_raise(device=device, kind=IssueKind.ERROR, code=reason, now=at)
            device.is_online = False
            fields.append("is_online")
        elif event_type is EventType.DEVICE_REMOVED:
            device_issue_raise(device=device, kind=IssueKind.ERROR, code="device_removed", now=at)
            device.is_online = False
            fields.append("is_online")
        elif event_type is EventType.DEVICE_CONNECTED:
            for error in (*_CONNECTIVITY_ERRORS, "device_removed"):  # clears the account's too
                device_issue_clear(device=device, kind=IssueKind.ERROR, code=error, now=at)
            device.is_online = True
            fields.append("is_online")
            AccessCode.objects.filter(device=device, attempt_count__gt=0, next_attempt_at__gt=now).update(
                next_attempt_at=now
            )
        else:
            device_issue_raise(device=device, kind=IssueKind.WARNING, code="device_low_battery", now=at)
            if battery_level is not None:
                device.battery_level = max(0.0, min(1.0, float(battery_level)))
                fields.append("battery_level")
        device.save(update_fields=fields)
        payload = {} if battery_level is None else {"battery_level": device.battery_level}
        event_record(event_type, device=device, occurred_at=at, payload=payload)
    return ReportResult(applied=True)
