"""Drift, what the lock holds against what Latchkey declares: a managed code changed or removed
outside Latchkey, and codes set on the lock outside it (unmanaged codes), kept in view, taken
charge of or removed."""

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from codes.catalog import CONTENTS_UNKNOWN
from codes.locking import lock_devices
from codes.models import AccessCode, AccessCodeStatus, AccessCodeType, EventType
from codes.services import history
from devices.models import Device, IssueKind
from devices.selectors import UNREACHABLE_ERRORS, active_issues_of_locks


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
        deleted = held_code is None
        if (
            current.is_external_modification_allowed
            and (deleted or held_code == current.code)
            and current.issues.filter(
                kind=IssueKind.WARNING, code="code_modified_external_to_seam", cleared_at__isnull=True
            ).exists()
        ):
            return current  # already recorded; an allowed change is left alone
        history.event_record(
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
            history.access_code_issue_raise(
                access_code=current,
                kind=IssueKind.WARNING,
                code="code_modified_external_to_seam",
                message=message,
                now=now,
            )
            if not deleted:
                # The change stands: the code's PIN is the one the lock holds, shown as such and
                # judged by collision checks (a new code may not take it). Its version stays:
                # the lock already holds this PIN, so nothing is sent.
                current.code = held_code
                current.updated_at = now
                current.save(update_fields=["code", "updated_at"])
            return current
        history.access_code_issue_raise(
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
        history.event_record(
            EventType.CHANGED,
            access_code=current,
            occurred_at=now,
            payload={
                "changed": ["is_managed"],
                "changed_properties": [{"property": "is_managed", "from": "false", "to": "true"}],
            },
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


# How long a lock may stay unreachable before Latchkey no longer vouches for what it holds: its
# codes could have been changed at the lock, or dropped by a reset, with no way to tell.
DOUBT_AFTER = timedelta(hours=24)


def lock_doubt_sync(*, locks, held: dict, now: datetime) -> dict:
    """``unknown`` where a lock has been unreachable for ``DOUBT_AFTER``: its codes that were set
    become ``unknown``, with the warning that says so; once the lock answers a listing
    (``held``, by device id, with ``HeldCode.reached_lock``), they are ``set`` again for the
    drift comparison to judge. Codes in doubt from an unanswered send are the scheduler's."""
    answered = {pk for pk, codes in held.items() if any(h.reached_lock for h in codes)}
    since = now - DOUBT_AFTER
    doubted = (
        set(
            active_issues_of_locks([lock.pk for lock in locks], {lock.connected_account_id for lock in locks})
            .filter(kind=IssueKind.ERROR, code__in=UNREACHABLE_ERRORS, created_at__lte=since)
            .values_list("device_id", flat=True)
        )
        - answered
        - {None}
    )
    counts = {"unknown": 0, "known_again": 0}
    with transaction.atomic():
        in_doubt = list(
            AccessCode.objects.filter(
                device_id__in=doubted, is_managed=True, deleted_at__isnull=True, status=AccessCodeStatus.SET
            )
        )
        for code in in_doubt:
            history.access_code_issue_raise(
                access_code=code, kind=IssueKind.WARNING, code=CONTENTS_UNKNOWN, now=now
            )
        counts["unknown"] = AccessCode.objects.filter(pk__in=[c.pk for c in in_doubt]).update(
            status=AccessCodeStatus.UNKNOWN, updated_at=now
        )
        known = list(
            AccessCode.objects.filter(
                device_id__in=answered,
                status=AccessCodeStatus.UNKNOWN,
                send_in_flight__isnull=True,
                deleted_at__isnull=True,
            )
        )
        for code in known:
            history.access_code_issue_clear(
                access_code=code, kind=IssueKind.WARNING, code=CONTENTS_UNKNOWN, now=now
            )
        counts["known_again"] = AccessCode.objects.filter(pk__in=[c.pk for c in known]).update(
            status=AccessCodeStatus.SET, updated_at=now
        )
    return counts
