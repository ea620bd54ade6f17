"""Reads shared by the services, the scheduler, the admin and the API. What only the browser
pages and the admin show (readiness, arrivals, the review queue, timelines) is in
``codes.pages``."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache
from operator import attrgetter, itemgetter
from typing import NamedTuple

from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
from django.utils import timezone

from codes import catalog, lifecycle
from codes.models import (
    MAY_BE_ON_LOCK,
    MAY_TAKE_SLOT,
    AccessCode,
    AccessCodeIssue,
    AccessCodeStatus,
    AccessCodeType,
    BackupAccessCode,
    BackupAccessCodePool,
)
from common.compiled import CompiledRead
from devices import rules
from devices.models import Device, IssueKind
from devices.selectors import UNREACHABLE_ERRORS, active_issues_of_locks

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


class Weight(StrEnum):
    """How an issue shown on a code weighs on its readiness."""

    BLOCKS = "blocks"  # the code will not open the door (or will not come off) until it clears
    AT_RISK = "at_risk"  # it works now, but may not: watch it
    NOTE = "note"  # shown for what it says, weighs nothing


# Errors about a lock's backup pool: the lock's, not its codes' (a code works without a pool).
BACKUP_POOL_ISSUES = ("empty_backup_access_code_pool",)

# What to do about a code that is on its lock while the lock cannot be reached.
SET_LOCK_OFFLINE_REMEDY = (
    "The code is on the lock and opens the door at its start: the lock keeps it while offline. "
    "Latchkey cannot change or remove it until the lock is back, so bring the lock (its Wi-Fi, "
    "hub or bridge, batteries) back online before the guest's stay ends, or the code may stay on "
    "the lock after check-out."
)


def inherited_weight(issue, code: AccessCode, *, now: datetime) -> Weight | None:
    """The one answer to "does this issue of the code's lock (or account, hub, bridge) reach the
    code, and how does it weigh?": None when it does not reach it. The API's shapes, the
    ledger, the review flag and the pages all ask it (through ``shown_issues``).

    - An issue about another lock, or another hub or bridge of the account, does not reach it.
    - A backup pool's error is the lock's: it reaches only codes that use the pool, as a note.
    - A lock that cannot be reached blocks a code that still needs it (to be set, or taken
      off); a code already working on it (set, or loaded with its schedule) is "set, lock
      offline": at risk.
    - Any other error of the lock blocks its codes (a notice-level one is a note); a warning
      puts them at risk.
    """
    if not issue.concerns(code.device):
        return None
    if issue.code in BACKUP_POOL_ISSUES:
        return Weight.NOTE if code.use_backup_access_code_pool else None
    entry = catalog.lookup(issue.kind, issue.code)
    if entry.severity is catalog.Severity.NOTICE:
        return Weight.NOTE
    if issue.kind == IssueKind.WARNING:
        return Weight.AT_RISK
    if issue.code in UNREACHABLE_ERRORS and issue.code != "device_removed":
        return Weight.AT_RISK if lifecycle.is_working_on_lock(code, now) else Weight.BLOCKS
    return Weight.BLOCKS


# What to do about a code that is on its lock when asking the lock about it failed.
UNCONFIRMED_BUT_LOADED_REMEDY = (
    "The code is on the lock and opens the door at its start: only Latchkey's check that it went "
    "live failed (the lock or its maker's cloud did not answer). Latchkey keeps asking; if the "
    "error stays, check the lock in its maker's app before the guest's stay ends, or Latchkey may "
    "not be able to take the code off after check-out."
)
# The errors a failed call leaves on the code itself: when the code is already working on its
# lock (set, or loaded with its schedule, in its current version), the call changed nothing there.
# (A lock removed from the account is not a failed call: its codes are gone with it.)
CALL_FAILURES = tuple(c for c in ("failed_to_set_on_device", *UNREACHABLE_ERRORS) if c != "device_removed")


def own_weight(issue, code: AccessCode, *, now: datetime) -> Weight:
    """An issue raised on the code itself: a warning puts it at risk; an error blocks it,
    except a failed call to a lock that already holds the code in its current version and
    opens the door with it (``lifecycle.is_working_on_lock``): that puts it at risk, as its
    lock going offline would."""
    if issue.kind != IssueKind.ERROR:
        return Weight.AT_RISK
    if issue.code in CALL_FAILURES and lifecycle.is_working_on_lock(code, now):
        return Weight.AT_RISK
    return Weight.BLOCKS


@dataclass(frozen=True)
class ShownIssue:
    """An error or warning as shown on an access code, with the catalog's meaning and remedy,
    and how it weighs on the code's readiness."""

    kind: str
    code: str
    message: str
    created_at: datetime
    flags: tuple[str, ...]
    entry: catalog.CatalogEntry
    weight: Weight = Weight.BLOCKS
    inherited: bool = False
    remedy_here: str = ""  # what to do in this code's case, where it differs from the catalog's

    @property
    def remedy(self) -> str:
        return self.remedy_here or self.entry.remedy

    @property
    def title(self) -> str:
        return f"{self.code}: {self.message}"

    @property
    def sets_lock_offline(self) -> bool:
        """A lock that cannot be reached, under a code that works on it."""
        return self.inherited and self.weight is Weight.AT_RISK and self.code in UNREACHABLE_ERRORS


def access_code_issues(access_code: AccessCode, *, now: datetime | None = None) -> list[ShownIssue]:
    """The code's own active errors and warnings, then those of its lock, account, hub or
    bridge that reach it (``inherited_weight``)."""
    return issues_for_codes([access_code], now=now)[access_code.pk]


# The columns an access code's API body reads: codes.shapes, and through it ``inherited_weight``
# and ``lifecycle.is_working_on_lock``. A list reads these alone (``codes_for_wire``), as
# converting a row's every column into a model cost more than the queries.
WIRE_CODE_FIELDS = (
    "access_code_id",
    "workspace_id",
    "device_id",
    "code",
    "name",
    "appearance",
    "provider_code_id",
    "common_code_key",
    "status",
    "type",
    "starts_at",
    "ends_at",
    "is_managed",
    "is_scheduled_on_device",
    "is_waiting_for_code_assignment",
    "is_external_modification_allowed",
    "is_one_time_use",
    "is_offline_access_code",
    "is_backup",
    "use_backup_access_code_pool",
    "pulled_backup_access_code_id",
    "created_at",
    "updated_at",
    "deleted_at",
    "next_attempt_at",
    "version",
    "sent_version",
)


_WIRE_COLUMNS = (
    *WIRE_CODE_FIELDS,
    "device__connected_account_id",
    "device__hub_id",
    "may_have_own_issues",
    "may_have_lock_issues",
)


class WireCode(tuple):
    """An access code as the API reads it to shape its body (``codes.shapes``): one row of
    ``codes_for_wire``, its columns (``_WIRE_COLUMNS``) read as attributes, ``device`` holding its
    lock's ids, and whether it may have active issues. It reads as an ``AccessCode`` does for the
    shapes, ``inherited_weight`` and ``lifecycle``; it is read-only and never saved. A tuple, as
    a named tuple is: the row itself, no copy per column; a page of 100 built as model instances,
    or as objects with a dict each, spent more time building them than the database spent
    finding the rows."""

    __slots__ = ()

    lock_has_current_version = AccessCode.lock_has_current_version

    @property
    def device(self) -> "WireCodeLock":
        return WireCodeLock(self[_DEVICE], self[_ACCOUNT], self[_HUB])


for _index, _name in enumerate(_WIRE_COLUMNS):
    setattr(WireCode, _name, property(itemgetter(_index), doc=f"column {_name}"))
WireCode.pk = WireCode.access_code_id
_DEVICE, _ACCOUNT, _HUB = (
    _WIRE_COLUMNS.index(name) for name in ("device_id", "device__connected_account_id", "device__hub_id")
)


class WireCodeLock(NamedTuple):
    """What a code's body needs of its lock: which lock, account and hub (``DeviceIssue.concerns``).
    A named tuple: a page builds a hundred, and a frozen dataclass costs several times as much."""

    pk: object
    connected_account_id: object
    hub_id: object


def codes_for_wire(codes: QuerySet[AccessCode]) -> QuerySet:
    """``codes`` as rows for ``wire_code``: the columns the body reads, the ids of the lock's
    account and hub, and whether the code may have active issues of its own
    (``may_have_own_issues``) or of its lock's or account's (``may_have_lock_issues``), so that
    ``issues_for_codes`` skips the queries no code needs: in the steady state, all of them."""
    return codes.annotate(
        may_have_own_issues=Exists(
            AccessCodeIssue.objects.filter(access_code=OuterRef("pk"), cleared_at__isnull=True)
        ),
        may_have_lock_issues=Exists(
            active_issues_of_locks(OuterRef("device"), OuterRef("device__connected_account"))
        ),
    ).values_list(*_WIRE_COLUMNS)


@cache
def wire_codes(*, shown: bool) -> QuerySet:
    """``codes_for_wire`` of the shown codes (managed ones, as the API lists them) or of every
    live one, built once per process: resolving the annotations and ``shown`` took as long as
    running the query. Filter it; it is never evaluated itself."""
    codes = codes_for_wire(AccessCode.objects.shown() if shown else AccessCode.objects.live())
    if [*codes.query.values_select, *codes.query.annotation_select] != list(_WIRE_COLUMNS):
        raise RuntimeError("codes_for_wire's columns are not in _WIRE_COLUMNS' order")
    return codes


def _lookup(shown: bool, *, workspace_id, access_code_id) -> QuerySet:
    return wire_codes(shown=shown).filter(workspace_id=workspace_id, is_managed=shown, pk=access_code_id)[:1]


# The query's SQL is compiled once per process and database connection, and only its two values
# change: compiling it took more than half of the request's time, several times what the
# database took to answer it.
_LOOKUP = CompiledRead(
    _lookup, fields={"workspace_id": AccessCode._meta.pk, "access_code_id": AccessCode._meta.pk}
)


def wire_code_by_id(*, workspace_id, access_code_id, shown: bool) -> WireCode | None:
    """``wire_codes(shown=...).filter(workspace=..., is_managed=shown, pk=...)``, its one row as a
    ``WireCode``, or None: the API's ``access_codes/get``."""
    rows = _LOOKUP.rows(shown, workspace_id=workspace_id, access_code_id=access_code_id)
    return wire_code(rows[0]) if rows else None


def wire_code(row: tuple) -> WireCode:
    """One row of ``codes_for_wire`` as a ``WireCode``."""
    return tuple.__new__(WireCode, row)


def issues_for_codes(codes: list[AccessCode], *, now: datetime | None = None) -> dict:
    """``access_code_issues`` for many codes in two queries at most, whatever their number: the
    API's list pages cost the same for 5 codes or 500. Needs ``device`` loaded on each code.
    Codes read through ``codes_for_wire`` say whether they may have issues; a query none of them
    needs is skipped."""
    with_own = [c for c in codes if getattr(c, "may_have_own_issues", True)]
    with_lock = [c for c in codes if getattr(c, "may_have_lock_issues", True)]
    if not with_own and not with_lock:
        return {c.pk: [] for c in codes}  # what shown_issues makes of no rows, for each
    now = now or timezone.now()
    own: dict = {c.pk: [] for c in codes}
    if with_own:
        with_own_ids = [c.pk for c in with_own]
        for row in AccessCodeIssue.objects.filter(access_code__in=with_own_ids, cleared_at__isnull=True):
            own[row.access_code_id].append(row)
    device_ids = {c.device_id for c in with_lock}
    account_ids = {c.device.connected_account_id for c in with_lock}
    on_device: dict = {}
    on_account: dict = {}
    for row in active_issues_of_locks(device_ids, account_ids) if with_lock else ():
        target = on_device if row.device_id else on_account
        target.setdefault(row.device_id or row.connected_account_id, []).append(row)
    return {
        c.pk: shown_issues(
            own[c.pk],
            on_device.get(c.device_id, []) + on_account.get(c.device.connected_account_id, []),
            code=c,
            now=now,
        )
        for c in codes
    }


def codes_showing_errors(queryset: QuerySet[AccessCode]) -> list:
    """Ids of the codes in ``queryset`` that show an error (their own, or their lock's that
    reaches them): the rows with any active error are read, then weighed as shown."""
    own = AccessCodeIssue.objects.filter(
        access_code=OuterRef("pk"), cleared_at__isnull=True, kind=IssueKind.ERROR
    )
    inherited = active_issues_of_locks(OuterRef("device"), OuterRef("device__connected_account")).filter(
        kind=IssueKind.ERROR
    )
    candidates = queryset.filter(Exists(own) | Exists(inherited)).select_related("device")
    return [
        c.pk for c in with_shown_issues(candidates) if any(i.kind == IssueKind.ERROR for i in c.shown_issues)
    ]


def with_shown_issues(codes) -> list[AccessCode]:
    """The codes, each carrying ``shown_issues`` (two queries for the lot), so that
    ``pages.readiness`` and the admin's counts cost no query per row."""
    codes = list(codes)
    issues = issues_for_codes(codes)
    for code in codes:
        code.shown_issues = issues[code.pk]
    return codes


def devices_with_backup_ready(device_ids) -> set:
    """Locks whose enabled pool holds a backup code that is on the lock and not yet handed out:
    where ``is_backup_access_code_available`` is true for codes that use the pool."""
    if not device_ids:
        return set()  # building the query alone cost a fifth of an access_codes/get
    pools = BackupAccessCodePool.objects.filter(device_id__in=device_ids, is_enabled=True)
    ready = reserves(pools).filter(access_code__status=AccessCodeStatus.SET)
    return set(ready.values_list("pool__device_id", flat=True))


def shown_issues(own, inherited, *, code: AccessCode, now: datetime) -> list[ShownIssue]:
    """A code's own active issues, then those it inherits that reach it, each group oldest
    first, each with its weight."""
    by_age = attrgetter("created_at")  # sorted is stable: rows made at one instant keep their order
    shown = [_shown(row, own_weight(row, code, now=now)) for row in sorted(own, key=by_age)]
    for row in sorted(inherited, key=by_age):
        weight = inherited_weight(row, code, now=now)
        if weight is not None:
            shown.append(_shown(row, weight, inherited=True))
    return shown


def _shown(row, weight: Weight, *, inherited: bool = False) -> ShownIssue:
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
    offline_but_set = inherited and weight is Weight.AT_RISK and row.code in UNREACHABLE_ERRORS
    loaded_but_unconfirmed = not inherited and weight is Weight.AT_RISK and row.kind == IssueKind.ERROR
    return ShownIssue(
        kind=row.kind,
        code=row.code,
        message=row.message,
        created_at=row.created_at,
        flags=flags,
        entry=catalog.lookup(row.kind, row.code),
        weight=weight,
        inherited=inherited,
        remedy_here=SET_LOCK_OFFLINE_REMEDY
        if offline_but_set
        else (UNCONFIRMED_BUT_LOADED_REMEDY if loaded_but_unconfirmed else ""),
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


# --- The review flag: why a code needs a person, one answer for every page ---------------------


# What to do about a code the scheduler flagged as not ready when no error or warning says why.
NOT_READY_REMEDY = (
    "Retry now from the code's page. If it is still not ready, check the lock in its maker's app, "
    "and if the guest is due soon, pull a backup code or give them another way in."
)
BACKUP_PULLED_REMEDY = "Send the guest the backup PIN."


def not_ready_problem(code: AccessCode) -> str | None:
    """Why, errors aside, the code would not work if its guest arrived now; None if it would."""
    if code.type == AccessCodeType.ONGOING or not lifecycle.uses_lock_schedule(code):
        if code.type == AccessCodeType.ONGOING and code.status != AccessCodeStatus.SET:
            return "not set on the lock yet"
        if (
            code.type == AccessCodeType.TIME_BOUND
            and code.status != AccessCodeStatus.SET
            and code.preflight_passed_at is None
        ):
            return "the lock has not passed its pre-flight check"
        return None
    loaded = code.is_scheduled_on_device or code.status == AccessCodeStatus.SET
    # Waiting for the slot its lock's plan gives it (after REVIEW_LEAD_HOURS only where the lock
    # has no room sooner), it is pre-flighted meanwhile: passed, nothing is wrong.
    if not loaded and code.preflight_passed_at is None:
        return "not loaded onto the lock with its schedule yet"
    return None


def review_deadline(code: AccessCode) -> datetime:
    """From when any problem of the code is urgent: ``REVIEW_LEAD_HOURS`` before a stay starts;
    at once for an ongoing code, and for a deleted one that must still come off its lock."""
    if code.deleted_at is not None:
        return code.deleted_at
    return code.starts_at - lifecycle.review_lead() if code.starts_at else code.created_at


def _backup_pulled_reason(code: AccessCode) -> str:
    # The backup is named by reference (pulled_backup_access_code), never by its PIN: pages show
    # the PIN beside the reason only to those who may see PINs.
    return (
        "Backup code pulled: give the guest the backup code's PIN instead of their own, which was not ready."
    )


def review_reason(code: AccessCode, issues: list[ShownIssue], *, now: datetime) -> str:
    """Why the code needs a person now, or "" if it does not: the one judgement behind
    ``needs_review`` and ``review_reason``, which the review queue, the dashboard and the code's
    page read. It is made again whenever one of its causes changes (an issue raised or cleared
    on the code, its lock or account, a step of the scheduler, a staff action), and when the
    clock reaches the code's ``review_deadline`` (a scheduler milestone). ``issues``: the code's
    as ``access_code_issues`` shows them.

    - An error that blocks the code and waits for a person (the catalog: Latchkey does not
      retry it by itself) flags it at once, whenever it is found; so does an issue the catalog
      marks ``flags_review_at_once`` (a booking calendar failing for hours).
    - From the deadline on, anything that blocks the code or puts it at risk flags it, and so
      does not being ready (not loaded, not pre-flighted) with no error to say why.
    - A pulled backup flags the code until staff resolve it.
    - Resolving dismisses what only put the code at risk at that moment; a newer issue, and
      anything that blocks the code, keeps it flagged: "resolved" never hides a failure.
    """
    if not code.is_managed or (code.is_backup and code.type == AccessCodeType.ONGOING):
        return ""  # a backup still in reserve: the pool's trouble is the lock's (empty pool)
    resolved = code.review_resolved_at
    standing = [
        i
        for i in issues
        if i.weight is Weight.BLOCKS
        or (i.weight is Weight.AT_RISK and (resolved is None or i.created_at > resolved))
    ]
    blocking = [i for i in standing if i.weight is Weight.BLOCKS]
    if code.pulled_backup_access_code_id and resolved is None:
        return _backup_pulled_reason(code)
    needs_person = [
        i for i in standing if (i in blocking and not i.entry.transient) or i.entry.flags_review_at_once
    ]
    if needs_person:
        return _reason(needs_person[0])
    if now < review_deadline(code):
        return ""
    if blocking:
        return _reason(blocking[0])
    if code.deleted_at is None and not lifecycle.is_over(code, now):
        problem = not_ready_problem(code)
        if problem:
            return problem
    if standing:
        return _reason(standing[0])
    return ""


def _reason(issue: ShownIssue) -> str:
    return f"{issue.title} What to do: {issue.remedy}"


@dataclass(frozen=True)
class QueueProblem:
    title: str
    remedy: str
    kind: str  # error, warning, or not_ready


def review_problems(code: AccessCode) -> list[QueueProblem]:
    """What is wrong with a flagged code and what to do, worst first: what blocks it, then what
    puts it at risk, then the flag's own reason when no issue explains it (not ready in time)
    or when a backup was pulled. Notes (a lock's empty pool) are left to the lock."""
    order = {Weight.BLOCKS: 0, Weight.AT_RISK: 1}
    shown = sorted((i for i in access_code_issues(code) if i.weight in order), key=lambda i: order[i.weight])
    problems = [QueueProblem(i.title, i.remedy, i.kind) for i in shown]
    if code.needs_review and code.review_reason and not problems:
        problems.append(QueueProblem(code.review_reason, NOT_READY_REMEDY, "not_ready"))
    elif code.needs_review and code.review_reason and code.pulled_backup_access_code_id:
        problems.insert(0, QueueProblem(code.review_reason, BACKUP_PULLED_REMEDY, "not_ready"))
    return problems


# --- The plan of each lock's memory -------------------------------------------------------------


def takes_slot(*, now: datetime) -> Q:
    """A code that holds, or will hold, a slot on its lock, as a query: live, or still on the
    lock (``MAY_BE_ON_LOCK``) whatever its window says; never an offline PIN.

    Written as ``MAY_TAKE_SLOT`` (no offline PIN; live or on the lock) narrowed by the window:
    the same codes as ``not offline and (live or on the lock)``, since a live code is not
    deleted. ``MAY_TAKE_SLOT`` is the slot index's condition, and SQLite uses a partial index
    only when each term of its condition appears among the query's own AND-ed terms: it cannot
    tell that ``live | MAY_BE_ON_LOCK`` implies ``not deleted | MAY_BE_ON_LOCK``."""
    live = Q(deleted_at__isnull=True) & (Q(ends_at__isnull=True) | Q(ends_at__gt=now))
    return MAY_TAKE_SLOT & (live | MAY_BE_ON_LOCK)


def codes_taking_slots(device_ids, *, now: datetime) -> QuerySet[AccessCode]:
    """Every code that holds, or will hold, a slot on these locks: live ones, and any that may
    still be on the lock (``AccessCode.may_be_on_lock``)."""
    return AccessCode.objects.filter(takes_slot(now=now), device_id__in=device_ids)


def lock_slot_plan_and_codes(device: Device, *, now: datetime) -> tuple[lifecycle.SlotPlan, dict]:
    """One lock's slot plan (unbounded when its capacity is unknown: every code goes on as it
    always did) and its codes by id, for the pages that draw it."""
    codes = _slot_codes({device.pk: device}, now=now)[device.pk]
    to_come = _unplanned({device.pk: device})[device.pk]
    plan = lifecycle.lock_slot_plan(device, codes, now=now, unplanned=to_come, unknown_as_unbounded=True)
    return plan, {code.pk: code for code in codes}


def slot_plans(devices, *, now: datetime, unknown_held: dict | None = None) -> dict:
    """``lifecycle.lock_slot_plan`` for each of these locks whose capacity is known, by device id.
    ``unknown_held``: by device id, codes a lock was seen holding that Latchkey has no record of
    (a pre-flight check's listing).

    A lock where codes can never compete for slots needs no planning: every code goes on as
    early as it may, and none overflows. Such a lock gets an empty plan (no code waits, none
    overflows), so that a sweep's cost follows its crowded locks only. Two bounds tell, each
    asked only of the locks the one before left in doubt: one grouped count of the codes
    taking slots (a lock with no more codes than slots is roomy, and its codes are never read),
    then the most codes that could want a slot at one moment (``_most_codes_at_once``, which
    reads two times per code). Only locks past both are read in full and planned."""
    devices = {device.pk: device for device in devices if device.max_active_codes_supported is not None}
    if not devices:
        return {}
    unplanned = _unplanned(devices, unknown_held)

    def past(bound: dict) -> list:
        return [pk for pk in bound if bound[pk] + unplanned[pk] > devices[pk].max_active_codes_supported]

    counted = _slot_takers_by_lock(list(devices), now=now)
    crowded = past({pk: counted.get(pk, 0) for pk in devices})
    if crowded:
        most = _most_codes_at_once(crowded, now=now)
        crowded = past({pk: most.get(pk, 0) for pk in crowded})
    plans = {
        pk: lifecycle.SlotPlan(capacity=device.max_active_codes_supported, now=now, uses={}, overflows={})
        for pk, device in devices.items()
    }
    if crowded:
        codes = _slot_codes({pk: devices[pk] for pk in crowded}, now=now)
        for pk in crowded:
            plans[pk] = lifecycle.lock_slot_plan(devices[pk], codes[pk], now=now, unplanned=unplanned[pk])
    return plans


def _unplanned(devices: dict, unknown_held: dict | None = None) -> dict:
    """By device id, the slots a plan must leave besides the codes' own: backups the pool has
    still to create, and codes the lock holds that Latchkey has no record of."""
    pooled = [pk for pk, device in devices.items() if device.supports_backup_access_code_pool]
    to_come = backups_to_come(pooled) if pooled else {}
    return {pk: to_come.get(pk, 0) + (unknown_held or {}).get(pk, 0) for pk in devices}


def _slot_codes(devices: dict, *, now: datetime) -> dict:
    """By device id, every code taking a slot on these locks, with the fields a plan reads."""
    codes: dict = {pk: [] for pk in devices}
    for code in codes_taking_slots(list(devices), now=now).only(*_SLOT_FIELDS):
        code.device = devices[code.device_id]  # read by lifecycle (native scheduling), not fetched again
        codes[code.device_id].append(code)
    return codes


def _slot_takers_by_lock(device_ids, *, now: datetime) -> dict:
    """By lock, how many codes take a slot on it at any time (one grouped count): a bound on the
    most it holds at once that the database works out without a row leaving it, from the slot
    index alone (``codes.models.SLOT_INDEX_FIELDS``)."""
    return dict(
        codes_taking_slots(device_ids, now=now)
        .order_by()
        .values("device_id")
        .annotate(n=Count("*"))  # not of the key: SQLite's indexes hold the row id, not the UUID
        .values_list("device_id", "n")
    )


def _most_codes_at_once(device_ids, *, now: datetime) -> dict:
    """By lock, the most codes that could want a slot at one moment, if each were loaded as
    early as it may (``lifecycle.advance`` before its start) and kept to its end: an upper
    bound on what the plan would put on the lock at once. A lock whose bound fits its slots
    needs no planning, however many stays it has over the year; counting every code instead
    would plan every lock with more stays than slots, at a cost growing with the portfolio.
    Codes that may already be on the lock count from now, and those past their end until
    they are taken off: ties count as overlapping, so the bound errs towards planning."""
    early = lifecycle.advance()
    edges: dict = {}
    rows = (
        codes_taking_slots(device_ids, now=now)
        .order_by()
        .annotate(on=ExpressionWrapper(MAY_BE_ON_LOCK, output_field=BooleanField()))
        .values_list("device_id", "starts_at", "ends_at", "on")
    )
    for device_id, starts_at, ends_at, on in rows.iterator(chunk_size=2000):
        begin = now if (on or starts_at is None) else max(now, starts_at - early)
        end = ends_at if ends_at is not None and ends_at > now else None  # None: until taken off
        edges.setdefault(device_id, []).append((begin, 0))
        if end is not None:
            edges[device_id].append((end, 1))  # at a tie the start (0) counts first
    most = {}
    for device_id, points in edges.items():
        held = peak = 0
        for _, kind in sorted(points):
            held += 1 if kind == 0 else -1
            peak = max(peak, held)
        most[device_id] = peak
    return most


_SLOT_FIELDS = (
    "access_code_id",
    "device_id",
    "type",
    "starts_at",
    "ends_at",
    "deleted_at",
    "status",
    "provider_code_id",
    "is_managed",
    "is_scheduled_on_device",
    "is_offline_access_code",
    "send_in_flight",
    "name",
)
