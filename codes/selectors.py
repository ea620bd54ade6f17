"""Reads shared by the services, the admin and the API."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter

from django.conf import settings
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from codes import catalog
from codes.models import AccessCode, AccessCodeIssue, AccessCodeStatus
from devices.models import Device, DeviceIssue, IssueKind

# Statuses in which a code's PIN is (or may be) physically on the lock right now.
ON_LOCK_STATUSES = (
    AccessCodeStatus.SET,
    AccessCodeStatus.SETTING,
    AccessCodeStatus.REMOVING,
    AccessCodeStatus.UNKNOWN,
)


@dataclass(frozen=True)
class HeldPins:
    pins: set[str]
    prefixes: set[str]  # first four digits, for locks that want them unique


def pins_held_on_device(
    device: Device, *, starts_at: datetime | None, ends_at: datetime | None, now: datetime, exclude_id=None
) -> HeldPins:
    """The PINs other codes hold on ``device`` at some moment of the window asked for.

    An ongoing request asks for [now, forever). A code holds its PIN during its own window
    (ongoing codes: forever); a code that is on the lock now holds it whatever its window says
    (it may be overdue for removal). An offline code is never on the lock, so it holds its PIN
    by window alone, deleted or not: the lock accepts an algorithmic PIN until its end.
    """
    # On a lock without schedules a code goes on just in time, before its start; two codes
    # whose stays meet within that lead would both be on the lock at once.
    lead = timedelta(0) if device.has_native_scheduling else timedelta(minutes=settings.JUST_IN_TIME_MINUTES)
    window_start = starts_at - lead if starts_at else now
    overlaps = Q(ends_at__isnull=True) | Q(ends_at__gt=window_start)
    if ends_at is not None:
        overlaps &= Q(starts_at__isnull=True) | Q(starts_at__lt=ends_at + lead)
    counted = Q(deleted_at__isnull=True) | Q(is_offline_access_code=True, ends_at__gt=now)
    qs = AccessCode.objects.filter(device=device, code__isnull=False).filter(
        (counted & overlaps) | Q(status__in=ON_LOCK_STATUSES, is_offline_access_code=False)
    )
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    pins = set(qs.values_list("code", flat=True))
    return HeldPins(pins=pins, prefixes={pin[:4] for pin in pins})


def codes_at_instant(device: Device, at: datetime) -> QuerySet[AccessCode]:
    """Codes taking a slot on the lock at ``at``: live ones whose window contains it (ongoing
    ones always) and deleted ones not yet taken off. Offline codes take no slot. (``device``
    and ``at`` may be ``OuterRef``s, to count in a subquery.)"""
    in_window = (Q(starts_at__isnull=True) | Q(starts_at__lte=at)) & (
        Q(ends_at__isnull=True) | Q(ends_at__gt=at)
    )
    return AccessCode.objects.filter(device=device, is_offline_access_code=False).filter(
        (Q(deleted_at__isnull=True) & in_window) | Q(status=AccessCodeStatus.REMOVING)
    )


def others_at_start(codes: list[AccessCode]) -> dict:
    """For each time-bound code, by id: how many other codes take a slot on its lock when it
    starts (``codes_at_instant`` at its ``starts_at``). One query for all of them."""
    others = codes_at_instant(OuterRef("device"), OuterRef("starts_at")).exclude(pk=OuterRef("pk"))
    count = others.order_by().values("device").annotate(n=Count("pk")).values("n")[:1]
    counted = AccessCode.objects.filter(pk__in=[code.pk for code in codes]).annotate(
        taken=Coalesce(Subquery(count), 0)
    )
    return dict(counted.values_list("pk", "taken"))


def _active_device_issues(device_ref, account_ref) -> QuerySet[DeviceIssue]:
    """A lock's active issues plus its account's: what each of its codes inherits."""
    return DeviceIssue.objects.filter(cleared_at__isnull=True).filter(
        Q(device=device_ref) | Q(device__isnull=True, connected_account=account_ref)
    )


def with_issue_counts(queryset: QuerySet[AccessCode]) -> QuerySet[AccessCode]:
    """Annotate ``error_count`` and ``warning_count``: the code's own active issues plus those
    it inherits from its lock and its lock's account (the same set access_code_issues shows)."""

    def count(kind: str):
        own = AccessCodeIssue.objects.filter(access_code=OuterRef("pk"), cleared_at__isnull=True, kind=kind)
        inherited = _active_device_issues(OuterRef("device"), OuterRef("device__connected_account")).filter(
            kind=kind
        )
        return Coalesce(_count_of(own), 0) + Coalesce(_count_of(inherited), 0)

    return queryset.annotate(error_count=count(IssueKind.ERROR), warning_count=count(IssueKind.WARNING))


def _count_of(queryset: QuerySet) -> Subquery:
    return Subquery(queryset.order_by().values("kind").annotate(n=Count("pk")).values("n")[:1])


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
    inherited = _active_device_issues(access_code.device_id, access_code.device.connected_account_id)
    return shown_issues(own.order_by("created_at"), inherited.order_by("created_at"))


def shown_issues(own, inherited) -> list[ShownIssue]:
    """A code's own active issues, then those it inherits from its lock and account, each group
    oldest first."""
    by_age = attrgetter("created_at")  # sorted is stable: rows made at one instant keep their order
    return [_shown(row) for row in [*sorted(own, key=by_age), *sorted(inherited, key=by_age)]]


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
