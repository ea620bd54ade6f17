"""django-q2 tasks: thin, so that the work they start is the same as a command's or a test's."""

from django.utils import timezone

from codes import scheduler
from codes.services import backup_pool
from devices.models import Device


def sweep_due_codes() -> dict:
    report = scheduler.sweep(now=timezone.now())
    return {"claimed": report.claimed, "steps": report.steps or {}}


def check_drift() -> dict:
    return scheduler.check_drift(now=timezone.now())


def maintain_backup_pools() -> int:
    return backup_pool.maintain_pools(now=timezone.now())


def refill_backup_pool(device_id: str) -> int:
    """Queued when a pool is turned on: fill it now, not at the next 5-minute refill."""
    device = Device.objects.filter(pk=device_id).first()
    return len(backup_pool.backup_pool_refill_now(device=device)) if device is not None else 0
