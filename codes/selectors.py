"""Reads shared by the services, the admin and the API."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from operator import attrgetter

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from codes import catalog, lifecycle
from codes.models import AccessCode, AccessCodeIssue, AccessCodeStatus, BackupAccessCode, BackupAccessCodePool
from devices import rules
from devices.models import Device, DeviceIssue, IssueKind, Property

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
    for row in DeviceIssue.objects.filter(cleared_at__isnull=True).filter(
        Q(device_id__in=device_ids) | Q(device__isnull=True, connected_account_id__in=account_ids)
    ):
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


# --- What the browser shows: readiness, slots, arrivals, the review queue, the timeline --------


class Readiness(StrEnum):
    """Will this code open the door when its guest arrives? Judged from stored state only: the
    scheduler's own verdict (``needs_review``) and the issues it raised, never re-derived."""

    FAILED = "failed"  # an active error on the code, its lock or its account
    AT_RISK = "at_risk"  # a warning, or flagged as not ready in time
    SET = "set"  # on the lock and working
    SCHEDULED = "scheduled"  # on the lock with its window; the lock turns it on at arrival
    CHECKED = "checked"  # the lock passed its pre-flight check; it goes on just in time
    PENDING = "pending"  # not on the lock yet, and not yet due to be

    @property
    def label(self) -> str:
        return READINESS_LABELS[self]


READINESS_LABELS = {
    Readiness.FAILED: "Failed",
    Readiness.AT_RISK: "At risk",
    Readiness.SET: "Set",
    Readiness.SCHEDULED: "Scheduled on the lock",
    Readiness.CHECKED: "Checked, set just in time",
    Readiness.PENDING: "Pending",
}


def readiness(code: AccessCode) -> Readiness:
    """The code's readiness; uses ``error_count`` and ``warning_count`` when the row carries
    them (``with_issue_counts``), so a list costs no query per row."""
    errors = getattr(code, "error_count", None)
    warnings = getattr(code, "warning_count", None)
    if errors is None or warnings is None:
        shown = access_code_issues(code)
        errors = sum(1 for i in shown if i.kind == IssueKind.ERROR)
        warnings = len(shown) - errors
    if errors:
        return Readiness.FAILED
    if warnings or code.needs_review:
        return Readiness.AT_RISK
    if code.status == AccessCodeStatus.SET:
        return Readiness.SET
    if code.is_scheduled_on_device:
        return Readiness.SCHEDULED
    if code.preflight_passed_at is not None:
        return Readiness.CHECKED
    return Readiness.PENDING


def codes_visible(workspaces) -> QuerySet[AccessCode]:
    """Codes the pages list for these workspaces (a queryset of them)."""
    return AccessCode.objects.shown().filter(workspace__in=workspaces)


@dataclass(frozen=True)
class Arrival:
    code: AccessCode
    readiness: Readiness


@dataclass
class PropertyArrivals:
    property: Property
    soon: list[Arrival]  # within the review lead (72 h)
    later: list[Arrival]  # after that, within the advance window (9 days)

    def counts(self, arrivals: list[Arrival]) -> dict[str, int]:
        return {r.value: sum(1 for a in arrivals if a.readiness is r) for r in Readiness}

    @property
    def soon_counts(self) -> dict[str, int]:
        return self.counts(self.soon)

    @property
    def not_ready_soon(self) -> int:
        return sum(1 for a in self.soon if a.readiness in (Readiness.FAILED, Readiness.AT_RISK))


def arrivals_by_property(*, workspaces, now: datetime) -> list[PropertyArrivals]:
    """Every property's arrivals: codes starting within the review lead, then the rest of the
    advance window, each with its readiness. Properties with no arrivals are listed too."""
    soon_until = now + timedelta(hours=settings.REVIEW_LEAD_HOURS)
    until = now + timedelta(days=settings.ADVANCE_PROGRAMMING_DAYS)
    codes = with_issue_counts(
        codes_visible(workspaces)
        .filter(starts_at__gte=now, starts_at__lt=until, device__property__isnull=False)
        .select_related("device__property")
        .order_by("starts_at", "name")
    )
    by_property = {
        p.pk: PropertyArrivals(p, [], [])
        for p in Property.objects.filter(workspace__in=workspaces).order_by("name")
    }
    for code in codes:
        group = by_property.get(code.device.property_id)
        if group is not None:
            (group.soon if code.starts_at < soon_until else group.later).append(
                Arrival(code, readiness(code))
            )
    return list(by_property.values())


LOW_BATTERY = 0.2


def devices_needing_attention(*, workspaces) -> QuerySet[Device]:
    """Locks that are offline or whose battery is low."""
    return (
        Device.objects.filter(workspace__in=workspaces)
        .filter(Q(is_online=False) | Q(battery_level__lt=LOW_BATTERY))
        .select_related("property")
        .order_by("display_name")
    )


@dataclass(frozen=True)
class SlotForecast:
    slots: int | None  # the lock's capacity; None when unknown
    used_now: int
    peak_used: int
    peak_at: datetime

    @property
    def free_now(self) -> int | None:
        return None if self.slots is None else self.slots - self.used_now

    @property
    def free_at_peak(self) -> int | None:
        return None if self.slots is None else self.slots - self.peak_used


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


def device_slot_forecast(device: Device, *, now: datetime) -> SlotForecast:
    """Slots in use now and at the busiest future moment: every code that will sit on the lock
    (on a lock without schedules, from just in time before its start), codes on it being
    removed, and backup codes the pool has still to create. One query, swept in Python."""
    lead = timedelta(0) if device.has_native_scheduling else timedelta(minutes=settings.JUST_IN_TIME_MINUTES)
    rows = (
        AccessCode.objects.filter(device=device, is_offline_access_code=False)
        .filter(
            (Q(deleted_at__isnull=True) & (Q(ends_at__isnull=True) | Q(ends_at__gt=now)))
            | Q(status=AccessCodeStatus.REMOVING)
        )
        .values_list("starts_at", "ends_at", "status", "deleted_at")
    )
    changes: list[tuple[datetime, int]] = []
    for starts_at, ends_at, status, deleted_at in rows:
        start = now if starts_at is None else max(now, starts_at - lead)
        if deleted_at is not None or status == AccessCodeStatus.REMOVING:
            end = now + timedelta(microseconds=1)  # on the lock until taken off: now, not later
        else:
            end = ends_at
        changes.append((start, +1))
        if end is not None:
            changes.append((end, -1))
    # A refill creates nothing on a lock without pool support (backup_pool_refill).
    to_create = (
        backups_to_come([device.pk]).get(device.pk, 0) if device.supports_backup_access_code_pool else 0
    )
    used = to_create
    used_now, peak_used, peak_at = None, -1, now
    # Ends before starts at the same instant: a window is half-open, [starts_at, ends_at).
    for at, delta in sorted(changes, key=lambda c: (c[0], c[1])):
        if used_now is None and at > now:
            used_now = used
        used += delta
        if used > peak_used:
            peak_used, peak_at = used, at
    if used_now is None:
        used_now = used
    if peak_used < used_now:
        peak_used, peak_at = used_now, now
    return SlotForecast(
        slots=device.max_active_codes_supported, used_now=used_now, peak_used=peak_used, peak_at=peak_at
    )


# What to do about a code the scheduler flagged as not ready when no error or warning says why.
NOT_READY_REMEDY = (
    "Retry now from the code's page. If it is still not ready, check the lock in its maker's app, "
    "and if the guest is due soon, pull a backup code or give them another way in."
)


def review_queue(*, workspaces) -> QuerySet[AccessCode]:
    """Every flagged managed code, most urgent first (soonest arrival; codes already active,
    ongoing ones included, before those still to come). Flagged: the scheduler's not-ready
    flag, or an active error or warning (its own, its lock's, its account's) raised since staff
    last resolved the code. So a resolved code comes back when a problem is raised again."""
    own = AccessCodeIssue.objects.filter(access_code=OuterRef("pk"), cleared_at__isnull=True)
    inherited = _active_device_issues(OuterRef("device"), OuterRef("device__connected_account"))
    since = OuterRef("review_resolved_at")
    flagged = (
        Q(needs_review=True)
        | Q(review_resolved_at__isnull=True, has_own=True)
        | Q(review_resolved_at__isnull=True, has_inherited=True)
        | Q(has_new_own=True)
        | Q(has_new_inherited=True)
    )
    return (
        AccessCode.objects.filter(workspace__in=workspaces, is_managed=True)
        .filter(Q(deleted_at__isnull=True) | Q(status=AccessCodeStatus.REMOVING))
        .filter(Q(is_backup=False) | Q(backup_slot__pulled_for__isnull=False))
        .annotate(
            has_own=Exists(own),
            has_inherited=Exists(inherited),
            has_new_own=Exists(own.filter(created_at__gt=since)),
            has_new_inherited=Exists(inherited.filter(created_at__gt=since)),
            arrival=Coalesce("starts_at", "created_at"),
        )
        .filter(flagged)
        .select_related("device__property", "review_assignee")
        .order_by("arrival", "pk")
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


def timeline_for_code(code: AccessCode) -> list[tuple[datetime, str, str]]:
    """The code's history, newest first: Seam's events and what staff did, as
    (when, what, detail)."""
    entries = [
        (e.occurred_at, e.event_type.removeprefix("access_code."), _event_detail(e.payload))
        for e in code.events.all()
    ]
    for action in code.staff_actions.select_related("actor", "assignee"):
        who = action.actor.get_username() if action.actor else "someone"
        detail = f"by {who}"
        if action.assignee_id:
            detail += f", to {action.assignee.get_username()}"
        if action.note:
            detail += f": {action.note}"
        entries.append((action.created_at, action.get_kind_display(), detail))
    return sorted(entries, key=lambda e: e[0], reverse=True)


def _event_detail(payload: dict) -> str:
    skip = {"device_id", "access_code_id"}
    parts = []
    for key, value in payload.items():
        if key in skip or key == "code_on_lock":  # a PIN: never shown in a history line
            continue
        parts.append(f"{key}: {', '.join(map(str, value)) if isinstance(value, list) else value}")
    return "; ".join(parts)


# --- The timeline picture ------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineBar:
    code: AccessCode
    readiness: Readiness
    left: float  # percent of the span
    width: float
    starts_before: bool  # the code began before the span (drawn cut at the left edge)
    ends_after: bool


@dataclass(frozen=True)
class TimelineLane:
    device: Device
    bars: list[TimelineBar]


@dataclass(frozen=True)
class TimelineTick:
    day: date
    left: float


@dataclass(frozen=True)
class PropertyTimeline:
    property: Property
    start: datetime
    end: datetime
    ticks: list[TimelineTick]
    lanes: list[TimelineLane]


def property_timeline(prop: Property, *, now: datetime, days: int = 14) -> PropertyTimeline:
    """The property's next ``days`` local days (from its local midnight today), one lane per
    door, one bar per code placed by elapsed time; a DST change makes its day shorter or
    longer, as it is."""
    zone = prop.zone
    today = now.astimezone(zone).date()

    def midnight(d: date) -> datetime:
        # In UTC: subtracting two datetimes that share a tzinfo ignores a DST change between them.
        return datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC)

    start, end = midnight(today), midnight(today + timedelta(days=days))
    span = (end - start).total_seconds()

    def at(instant: datetime) -> float:
        return round(100 * (min(max(instant, start), end) - start).total_seconds() / span, 3)

    ticks = [
        TimelineTick(today + timedelta(days=n), at(midnight(today + timedelta(days=n)))) for n in range(days)
    ]
    codes = with_issue_counts(
        AccessCode.objects.shown()
        .filter(device__property=prop)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lt=end, ends_at__gt=start))
        .order_by("starts_at")
    )
    by_device: dict = {}
    for code in codes:
        starts = code.starts_at or start
        ends = code.ends_at or end
        left = at(starts)
        by_device.setdefault(code.device_id, []).append(
            TimelineBar(
                code=code,
                readiness=readiness(code),
                left=left,
                width=max(at(ends) - left, 0.5),
                starts_before=starts < start,
                ends_after=ends > end,
            )
        )
    lanes = [TimelineLane(d, by_device.get(d.pk, [])) for d in prop.devices.order_by("display_name")]
    return PropertyTimeline(prop, start, end, ticks, lanes)
