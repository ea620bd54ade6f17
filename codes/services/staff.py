"""What staff do in the browser: the review queue, retries, PIN reveals.

Each step is a StaffAction row written with the change it records. They take the device's
lock like every other write to a code, so a step never interleaves with a scheduler step
that sets or clears the review flag.
"""

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from codes.locking import lock_devices
from codes.models import AccessCode, AccessCodeStatus, StaffAction, StaffActionKind
from codes.selectors import review_problems
from codes.services import review
from common.pins import mask_pins

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
    if "\x00" in note:  # no text column takes one (PostgreSQL refuses it)
        raise ValidationError({"note": ["must not contain a NUL character."]})
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


def guest_code_send_record(
    *, access_code: AccessCode, actor, note: str, now: datetime | None = None
) -> StaffAction:
    """Staff sent the guest their code (``notifications`` sends it; this is the history line,
    which names the address, never the PIN)."""
    return _staff_step(
        access_code, StaffActionKind.GUEST_CODE_SENT, actor=actor, now=now or timezone.now(), note=note
    )


def review_resolve(
    *, access_code: AccessCode, actor, note: str = "", now: datetime | None = None
) -> AccessCode:
    """Mark the code's current problems dealt with. What only put it at risk (a warning, a lock
    offline under a code that works, a pulled backup) is dismissed, and comes back when raised
    again; what still blocks the code keeps it in the queue: resolving never hides a failure
    (``selectors.review_reason`` judges it again at once). The problems shown at this moment
    are kept with the step."""
    note = _clean_note(note, required=False)
    now = now or timezone.now()
    with transaction.atomic():
        current = _current_for_review(access_code)
        # Kept as text without PINs: whoever reads the history may not be allowed to see them.
        problems = [mask_pins(p.title) for p in review_problems(current)]
        reason = mask_pins(current.review_reason)
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
        review.review_flags_rejudge(code_ids=[current.pk], now=now)
        current.refresh_from_db(fields=["needs_review", "review_reason"])
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
