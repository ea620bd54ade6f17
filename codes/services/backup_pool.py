"""Backup code pools: a few spare codes kept on a lock, handed to a guest whose own code could
not be set in time. Every write to a pool or its codes is here (a pull its lock's provider
reports is recorded by ``reports.backup_code_record_pulled``, through ``hand_out``)."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from codes.locking import lock_devices
from codes.models import (
    AccessCode,
    AccessCodeStatus,
    AccessCodeType,
    BackupAccessCode,
    BackupAccessCodePool,
    EventType,
)
from codes.selectors import reserve
from codes.services import access_codes, checks, history, review
from devices.models import Device, IssueKind

BACKUP_NAME = "Backup code"


def backup_pool_refill(*, device: Device, now: datetime | None = None) -> list[AccessCode]:
    """Top the pool up to its size with new backup codes (the scheduler puts them on the lock),
    and keep the lock's ``empty_backup_access_code_pool`` error in step with what is ready."""
    now = now or timezone.now()
    pool = BackupAccessCodePool.objects.filter(device=device, is_enabled=True).first()
    if pool is None or not device.supports_backup_access_code_pool:
        return []
    created = []
    with transaction.atomic():
        device = lock_devices([device.pk])[device.pk]
        missing = pool.target_size - reserve(pool).count()
        for _ in range(max(missing, 0)):
            code = access_codes.access_code_create(
                device=device, request=checks.AccessCodeRequest(name=BACKUP_NAME), is_backup=True, now=now
            )
            BackupAccessCode.objects.create(pool=pool, access_code=code, created_at=now)
            created.append(code)
        ready = reserve(pool).filter(access_code__status=AccessCodeStatus.SET).exists()
        if ready:
            history.device_issue_clear(
                device=device, kind=IssueKind.ERROR, code="empty_backup_access_code_pool", now=now
            )
        elif not created and pool.target_size:
            history.device_issue_raise(
                device=device, kind=IssueKind.ERROR, code="empty_backup_access_code_pool", now=now
            )
    return created


def backup_code_pull(
    *, access_code: AccessCode, now: datetime | None = None, record_empty_pool: bool = False
) -> AccessCode:
    """Hand a ready backup code to ``access_code`` (Seam's pull_backup_access_code). The backup
    takes the code's end and comes off the lock after it; the code is flagged for review so
    someone tells the guest. Pulling twice returns the same backup.

    With no backup ready (no pool, a pool turned off, or an empty one) it raises, saying which,
    and changes nothing: the lock's own state is the pool's refill's business. Only the
    scheduler's automatic pull (``record_empty_pool``) also raises
    ``empty_backup_access_code_pool`` on a lock whose enabled pool let a guest down."""
    now = now or timezone.now()
    with transaction.atomic():
        lock_devices([access_code.device_id])
        original = AccessCode.objects.select_related("device").get(pk=access_code.pk)
        if original.pulled_backup_access_code_id:
            return AccessCode.objects.get(pk=original.pulled_backup_access_code_id)
        if original.deleted_at is not None:
            raise ValidationError({"access_code_id": ["this access code has been deleted."]})
        if not original.use_backup_access_code_pool or original.type != AccessCodeType.TIME_BOUND:
            raise ValidationError(
                {
                    "access_code_id": [
                        "only time-bound codes created with use_backup_access_code_pool can pull one."
                    ]
                }
            )
        pool = BackupAccessCodePool.objects.filter(device=original.device, is_enabled=True).first()
        ready = reserve(pool).filter(access_code__status=AccessCodeStatus.SET) if pool else None
        slot = ready.select_related("access_code").first() if ready is not None else None
        if slot is not None:
            return hand_out(slot, original, now=now)
    if pool is None:
        raise ValidationError(
            {
                "access_code_id": [
                    "no backup code is ready on this lock; its backup code pool is turned off "
                    "(creating a code with use_backup_access_code_pool turns it on)."
                ]
            }
        )
    if record_empty_pool:  # outside the refused transaction, so that the lock shows it
        history.device_issue_raise(
            device=original.device, kind=IssueKind.ERROR, code="empty_backup_access_code_pool", now=now
        )
    raise ValidationError(
        {
            "access_code_id": [
                "no backup code is ready on this lock; the pool is empty (new backup codes are on "
                "their way to the lock: try again in a few minutes)."
            ]
        }
    )


def hand_out(slot: BackupAccessCode, original: AccessCode, *, now: datetime) -> AccessCode:
    """Give the backup in ``slot`` to ``original``: a pull made here, or one its lock's provider
    reports (``reports.backup_code_record_pulled``). Call with the device locked."""
    backup = slot.access_code
    backup.type = AccessCodeType.TIME_BOUND
    backup.starts_at = min(now, original.starts_at)
    backup.ends_at = original.ends_at
    backup.name = f"Backup for {original.name}"[: AccessCode._meta.get_field("name").max_length]
    backup.version += 1  # the lock must learn its end (where it keeps schedules)
    backup.updated_at = now
    backup.next_attempt_at = now
    backup.save()
    slot.pulled_for = original
    slot.pulled_at = now
    slot.save(update_fields=["pulled_for", "pulled_at"])
    original.pulled_backup_access_code = backup
    # A new round for the review queue: someone must tell the guest (selectors.review_reason).
    original.review_resolved_at = None
    original.save(update_fields=["pulled_backup_access_code", "review_resolved_at"])
    review.review_flags_rejudge(code_ids=[original.pk], now=now)
    history.event_record(
        EventType.BACKUP_ACCESS_CODE_PULLED,
        access_code=original,
        occurred_at=now,
        payload={"backup_access_code_id": str(backup.pk)},
    )
    return backup


def maintain_pools(*, now: datetime | None = None) -> int:
    """Refill every enabled pool; returns how many backup codes were created."""
    now = now or timezone.now()
    created = 0
    for pool in BackupAccessCodePool.objects.filter(is_enabled=True).select_related("device"):
        created += len(backup_pool_refill(device=pool.device, now=now))
    return created


def backup_pool_enable(
    *, device: Device, enabled: bool, now: datetime | None = None, refill_after_commit: bool = False
) -> BackupAccessCodePool | None:
    """Turn the lock's pool on (and fill it) or off. Backup codes already on the lock stay until
    they are pulled and end, or the pool is turned on again. ``refill_after_commit``: a pool
    this turns on is filled by a task queued once the caller's transaction commits (a create
    that turns it on does not wait for the backups, nor for the 5-minute refill)."""
    if not isinstance(enabled, bool):
        raise ValidationError({"backup_access_code_pool_enabled": ["must be true or false."]})
    if enabled and not device.supports_backup_access_code_pool:
        raise ValidationError(
            {"backup_access_code_pool_enabled": ["this lock does not support a backup code pool."]}
        )
    pool = BackupAccessCodePool.objects.filter(device=device).first()
    if pool is None and not enabled:
        return None
    turned_on = enabled and (pool is None or not pool.is_enabled)
    if pool is None:
        pool = BackupAccessCodePool.objects.create(device=device, created_at=now or timezone.now())
    elif pool.is_enabled != enabled:
        pool.is_enabled = enabled
        pool.save(update_fields=["is_enabled"])
    if enabled and not refill_after_commit:
        backup_pool_refill(device=device, now=now)
    elif turned_on:
        transaction.on_commit(lambda: _enqueue("codes.tasks.refill_backup_pool", str(device.pk)), robust=True)
    return pool


def backup_pools_enable_for(*, access_codes: list[AccessCode]) -> None:
    """Seam's way to turn a lock's pool on: a code created or updated with
    ``use_backup_access_code_pool`` (the checks refused it on a lock that cannot have one).
    The pool is filled after commit."""
    devices = {code.device_id: code.device for code in access_codes if code.use_backup_access_code_pool}
    for device in devices.values():
        backup_pool_enable(device=device, enabled=True, refill_after_commit=True)


def backup_pool_refill_now(*, device: Device, now: datetime | None = None) -> list[AccessCode]:
    """Fill the pool, then have the scheduler put the new backups on the lock at once rather
    than at its next minute."""
    created = backup_pool_refill(device=device, now=now)
    if created:
        transaction.on_commit(lambda: _enqueue("codes.tasks.sweep_due_codes"), robust=True)
    return created


def _enqueue(task: str, *args) -> None:
    from django_q.tasks import async_task

    async_task(task, *args)
