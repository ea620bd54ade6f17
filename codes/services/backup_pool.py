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


def backup_code_pull(*, access_code: AccessCode, now: datetime | None = None) -> AccessCode:
    """Hand a ready backup code to ``access_code`` (Seam's pull_backup_access_code). The backup
    takes the code's end and comes off the lock after it; the code is flagged for review so
    someone tells the guest. Pulling twice returns the same backup."""
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
    # Recorded outside the refused transaction, so the lock shows why the pull failed.
    history.device_issue_raise(
        device=original.device, kind=IssueKind.ERROR, code="empty_backup_access_code_pool", now=now
    )
    raise ValidationError({"access_code_id": ["no backup code is ready on this lock; the pool is empty."]})


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
    *, device: Device, enabled: bool, now: datetime | None = None
) -> BackupAccessCodePool | None:
    """Turn the lock's pool on (and fill it) or off. Backup codes already on the lock stay until
    they are pulled and end, or the pool is turned on again."""
    if not isinstance(enabled, bool):
        raise ValidationError({"backup_access_code_pool_enabled": ["must be true or false."]})
    if enabled and not device.supports_backup_access_code_pool:
        raise ValidationError(
            {"backup_access_code_pool_enabled": ["this lock does not support a backup code pool."]}
        )
    pool = BackupAccessCodePool.objects.filter(device=device).first()
    if pool is None and not enabled:
        return None
    if pool is None:
        pool = BackupAccessCodePool.objects.create(device=device, created_at=now or timezone.now())
    elif pool.is_enabled != enabled:
        pool.is_enabled = enabled
        pool.save(update_fields=["is_enabled"])
    if enabled:
        backup_pool_refill(device=device, now=now)
    return pool
