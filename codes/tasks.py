"""django-q2 tasks: thin, so that the work they start is the same as a command's or a test's."""

from django.utils import timezone

from codes import scheduler
from codes.services import backup_pool


def sweep_due_codes() -> dict:
    report = scheduler.sweep(now=timezone.now())
    return {"claimed": report.claimed, "steps": report.steps or {}}


def check_drift() -> dict:
    return scheduler.check_drift(now=timezone.now())


def maintain_backup_pools() -> int:
    return backup_pool.maintain_pools(now=timezone.now())
