"""Reads shared by the services, the scheduler, the admin and the API. What only the browser
pages and the admin show (readiness, arrivals, the review queue, timelines) is in
``codes.pages``."""

from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from codes import catalog, lifecycle
from codes.models import AccessCode, AccessCodeIssue, AccessCodeStatus, BackupAccessCode, BackupAccessCodePool
from devices import rules
from devices.models import Device, IssueKind
from devices.selectors import active_issues_of_locks

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
    lead = lifecycle.schedule_lead(device)
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


def with_issue_counts(queryset: QuerySet[AccessCode]) -> QuerySet[AccessCode]:
    """Annotate ``error_count`` and ``warning_count``: the code's own active issues plus those
    it inherits from its lock and its lock's account (the same set access_code_issues shows)."""

    def count(kind: str):
        own = AccessCodeIssue.objects.filter(access_code=OuterRef("pk"), cleared_at__isnull=True, kind=kind)
        inherited = active_issues_of_locks(OuterRef("device"), OuterRef("device__connected_account")).filter(
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
    return issues_for_codes([access_code])[access_code.pk]


def issues_for_codes(codes: list[AccessCode]) -> dict:
    """``access_code_issues`` for many codes in two queries, whatever their number: the API's
    list pages cost the same for 5 codes or 500. Needs ``device`` loaded on each code."""
    own: dict = {c.pk: [] for c in codes}
    for row in AccessCodeIssue.objects.filter(access_code__in=codes, cleared_at__isnull=True):
        own[row.access_code_id].append(row)
    device_ids = {c.device_id for c in codes}
    account_ids = {c.device.connected_account_id for c in codes}
    on_device: dict = {}
    on_account: dict = {}
    for row in active_issues_of_locks(device_ids, account_ids):
        target = on_device if row.device_id else on_account
        target.setdefault(row.device_id or row.connected_account_id, []).append(row)
    return {
        c.pk: shown_issues(
            own[c.pk], on_device.get(c.device_id, []) + on_account.get(c.device.connected_account_id, [])
        )
        for c in codes
    }


def devices_with_backup_ready(device_ids) -> set:
    """Locks whose enabled pool holds a backup code that is on the lock and not yet handed out:
    where ``is_backup_access_code_available`` is true for codes that use the pool."""
    pools = BackupAccessCodePool.objects.filter(device_id__in=device_ids, is_enabled=True)
    ready = reserves(pools).filter(access_code__status=AccessCodeStatus.SET)
    return set(ready.values_list("pool__device_id", flat=True))


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


def pin_suggestion(device: Device, *, now: datetime) -> str | None:
    """A PIN the lock would take now and keep taking (free from now on, by the lock's rules):
    Seam's generate_code. None when the lock has no free PIN left."""
    held = pins_held_on_device(device, starts_at=None, ends_at=None, now=now)
    prefixes = held.prefixes if device.pin_requires_unique_first_four else set()
    return rules.generate_pin([device], taken=held.pins, taken_prefixes=prefixes)


def pin_for_common_code_key(workspace_id, key: str) -> str | None:
    """The PIN the live codes sharing ``common_code_key`` hold: codes with one key share one PIN."""
    return (
        AccessCode.objects.live()
        .filter(workspace_id=workspace_id, common_code_key=key, code__isnull=False)
        .values_list("code", flat=True)
        .first()
    )


# --- Backup pools' reserves (the scheduler's and the backup pool's) -------------------------


def reserve(pool: BackupAccessCodePool):
    """Backups in the pool, not handed out and not deleted."""
    return reserves([pool])


def reserves(pools):
    """Backups in these pools, not handed out and not deleted."""
    return BackupAccessCode.objects.filter(
        pool__in=pools, pulled_for__isnull=True, access_code__deleted_at__isnull=True
    )


def backups_to_come(device_ids) -> dict:
    """For each of these locks with an enabled pool, by device id: how many backup codes a
    refill will still add (the pool's size less its reserve; backups already made are codes
    on the lock, and count as such)."""
    pools = list(BackupAccessCodePool.objects.filter(device_id__in=device_ids, is_enabled=True))
    made = dict(reserves(pools).values("pool").annotate(n=Count("pk")).values_list("pool", "n"))
    return {pool.device_id: max(pool.target_size - made.get(pool.pk, 0), 0) for pool in pools}


# --- A flagged code's problems: the review queue shows them, the services note them -----------


# What to do about a code the scheduler flagged as not ready when no error or warning says why.
NOT_READY_REMEDY = (
    "Retry now from the code's page. If it is still not ready, check the lock in its maker's app, "
    "and if the guest is due soon, pull a backup code or give them another way in."
)


@dataclass(frozen=True)
class QueueProblem:
    title: str
    remedy: str
    kind: str  # error, warning, or not_ready


def review_problems(code: AccessCode) -> list[QueueProblem]:
    """What is wrong with a flagged code and what to do, worst first: errors, then warnings,
    then the scheduler's not-ready reason when no issue explains it."""
    shown = sorted(access_code_issues(code), key=lambda i: i.kind != IssueKind.ERROR)
    problems = [QueueProblem(f"{i.code}: {i.message}", i.remedy, i.kind) for i in shown]
    if code.needs_review and code.review_reason and not problems:
        problems.append(QueueProblem(code.review_reason, NOT_READY_REMEDY, "not_ready"))
    elif code.needs_review and code.review_reason and code.pulled_backup_access_code_id:
        problems.insert(0, QueueProblem(code.review_reason, "Send the guest the backup PIN.", "not_ready"))
    return problems
