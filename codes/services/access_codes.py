"""Creating, changing and deleting managed access codes, one or a booking's worth at once, and
the SDK's receipts for those writes (action attempts). Each write is checked by
``checks.access_code_check`` and left due for the scheduler, which carries it to the lock."""

import json
import random
import uuid
from dataclasses import replace
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from codes.catalog import NO_SPACE
from codes.locking import lock_devices, make_due_now
from codes.models import (
    AccessCode,
    AccessCodeIssue,
    AccessCodeStatus,
    ActionAttempt,
    ActionAttemptStatus,
    ActionType,
    EventType,
)
from codes.selectors import pin_for_common_code_key, pins_held_on_device
from codes.services import checks, history
from common.sentinels import NOT_GIVEN
from common.times import iso
from devices import rules
from devices.models import Device, IssueKind, Workspace


def access_code_create(
    *,
    device: Device,
    request: checks.AccessCodeRequest,
    common_code_key: str | None = None,
    is_backup: bool = False,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> AccessCode:
    """Create a managed code on ``device`` and leave it due for the scheduler (``is_backup``:
    a spare for the lock's backup pool, see codes.services.backup_pool).

    Runs in one transaction with the device locked, so the PIN checks and the insert see the
    same codes: two concurrent requests for the same PIN cannot both succeed.
    """
    now = now or timezone.now()
    with transaction.atomic():
        if common_code_key:
            request = _with_shared_pin(device.workspace_id, common_code_key, request)
        device = lock_devices([device.pk])[device.pk]
        checked = checks.access_code_check(device=device, request=request, now=now, rng=rng)
        return _insert(device, checked, common_code_key=common_code_key, now=now, is_backup=is_backup)


def _with_shared_pin(
    workspace_id, common_code_key: str, request: checks.AccessCodeRequest
) -> checks.AccessCodeRequest:
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
    request: checks.AccessCodeRequest,
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
                checked = checks.access_code_check(device=device, request=request, now=now, rng=rng)
            except ValidationError as exc:
                raise type(exc)(_prefix_device(exc, device)) from exc
            created.append(_insert(device, checked, common_code_key=common_code_key, now=now))
        return created


def _shared_pin(devices: list[Device], request: checks.AccessCodeRequest, *, now: datetime, rng) -> str:
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
    checked: checks.CheckedAccessCode,
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
    history.event_record(EventType.CREATED, access_code=access_code, occurred_at=now)
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
) -> checks.AccessCodeRequest:
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
    return checks.AccessCodeRequest(
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
) -> checks.CheckedAccessCode:
    """What ``access_code_update`` would check, without writing: for forms that show each
    problem beside its field before saving."""
    request = _update_request(access_code, **changes)
    return checks.access_code_check(device=access_code.device, request=request, existing=access_code, now=now)


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
        checked = checks.access_code_check(
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
        changed_properties = [
            {"property": f, "from": _wire_value(getattr(current, f)), "to": _wire_value(new_values[f])}
            for f in changed
        ]
        for field, value in new_values.items():
            setattr(current, field, value)
        current.updated_at = now
        current.version += 1
        current.next_attempt_at = now
        current.attempt_count = 0
        current.save(update_fields=[*new_values, "updated_at", "version", "next_attempt_at", "attempt_count"])
        history.event_record(
            EventType.CHANGED,
            access_code=current,
            occurred_at=now,
            payload={"changed": changed, "changed_properties": changed_properties},
        )
        return current


def _wire_value(value) -> str | None:
    """A changed property's old or new value as Seam's ``changed_properties`` carry it: a string."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)


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
            _judge_slot_again(current, now=now)  # no sweep will look at this code again
        current.save(update_fields=["deleted_at", "updated_at", "status", "next_attempt_at"])
        history.event_record(EventType.DELETED, access_code=current, occurred_at=now)
        return current


def _judge_slot_again(code: AccessCode, *, now: datetime) -> None:
    """A code leaves its lock's slot plan: the codes of the lock told there was no slot for them
    are made due now, so the scheduler plans the lock again and clears what fits."""
    if code.device.max_active_codes_supported is None:
        return
    told_no_space = AccessCodeIssue.objects.filter(
        kind=IssueKind.ERROR, code=NO_SPACE, cleared_at__isnull=True
    )
    make_due_now(
        AccessCode.objects.filter(
            device_id=code.device_id,
            deleted_at__isnull=True,
            pk__in=told_no_space.values("access_code_id"),
        ).exclude(pk=code.pk),
        now=now,
    )


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
