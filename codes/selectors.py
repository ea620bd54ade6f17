"""Reads shared by the services, the admin and the API."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from codes import catalog
from codes.models import AccessCode, AccessCodeIssue, AccessCodeStatus
from devices.models import Device, DeviceIssue


def codes_holding_device(
    device: Device, *, starts_at: datetime | None, ends_at: datetime | None, exclude_id=None
) -> QuerySet[AccessCode]:
    """Codes that hold a PIN on ``device`` at some moment of the window (None, None = forever):
    live codes, managed or not, whose window overlaps, plus deleted codes still being removed,
    since their PIN is still on the lock."""
    qs = AccessCode.objects.filter(device=device).filter(
        Q(deleted_at__isnull=True) | Q(status=AccessCodeStatus.REMOVING)
    )
    if starts_at is not None and ends_at is not None:
        # Ongoing codes (no window) overlap everything; windows are half-open [starts_at, ends_at).
        qs = qs.filter(
            Q(starts_at__isnull=True) | Q(starts_at__lt=ends_at, ends_at__gt=starts_at),
        )
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    return qs


@dataclass(frozen=True)
class ShownIssue:
    """An error or warning as shown on an access code, with the catalog's meaning and remedy."""

    kind: str
    code: str
    message: str
    created_at: datetime
    flags: tuple[str, ...]
    entry: catalog.CatalogEntry

    @property
    def remedy(self) -> str:
        return self.entry.remedy


def access_code_issues(access_code: AccessCode) -> list[ShownIssue]:
    """The code's own active errors and warnings, then its device's and its connected account's,
    as the seeds describe: a lock's or account's error shows on each of its codes."""
    own = AccessCodeIssue.objects.filter(access_code=access_code, cleared_at__isnull=True)
    inherited = DeviceIssue.objects.filter(cleared_at__isnull=True).filter(
        Q(device_id=access_code.device_id)
        | Q(device__isnull=True, connected_account_id=access_code.device.connected_account_id)
    )
    shown = [_shown(row) for row in [*own.order_by("created_at"), *inherited.order_by("created_at")]]
    return shown


def _shown(row) -> ShownIssue:
    flags = tuple(
        flag
        for flag in (
            "is_access_code_error",
            "is_device_error",
            "is_connected_account_error",
            "is_bridge_error",
        )
        if getattr(row, flag)
    )
    return ShownIssue(
        kind=row.kind,
        code=row.code,
        message=row.message,
        created_at=row.created_at,
        flags=flags,
        entry=catalog.lookup(row.kind, row.code),
    )
