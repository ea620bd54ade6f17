"""What the browser pages and the admin show: readiness, arrivals, locks needing attention, the
slot forecast, the review queue and the timelines. Read-models for people, not for the services:
reads the services, the scheduler or the API also need stay in ``codes.selectors``."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from django.db.models import BooleanField, Case, Count, Exists, F, OuterRef, Q, QuerySet, Subquery, When
from django.db.models.functions import Coalesce

from codes import catalog, lifecycle
from codes.models import AccessCode, AccessCodeIssue, AccessCodeStatus
from codes.selectors import (
    Weight,
    access_code_issues,
    lock_slot_plan_and_codes,
    review_problems,
    slot_plans,
    takes_slot,
    with_shown_issues,
)
from common.pins import mask_pins
from devices.models import WITHOUT_KEYPAD, Device, DeviceIssue, Property


class Readiness(StrEnum):
    """Will this code open the door when its guest arrives? Judged from stored state only: the
    review flag (``needs_review``) and the issues shown on the code, each weighed by
    ``selectors.inherited_weight``, never re-derived."""

    FAILED = "failed"  # an issue that blocks it: its own error, or its lock's that stops it
    SET_LOCK_OFFLINE = "set_lock_offline"  # working on a lock that cannot be reached: at risk
    AT_RISK = "at_risk"  # a warning, or flagged
    SET = "set"  # on the lock and working
    SCHEDULED = "scheduled"  # on the lock with its window; the lock turns it on at arrival
    CHECKED = "checked"  # the lock passed its pre-flight check; it goes on just in time
    PENDING = "pending"  # not on the lock yet, and not yet due to be

    @property
    def label(self) -> str:
        return READINESS_LABELS[self]

    @property
    def short(self) -> str:
        """One word, for where room is short (a timeline bar); ``label`` says it in full."""
        return READINESS_SHORT[self]


READINESS_LABELS = {
    Readiness.FAILED: "Failed",
    Readiness.SET_LOCK_OFFLINE: "Set, lock offline",
    Readiness.AT_RISK: "At risk",
    Readiness.SET: "Set",
    Readiness.SCHEDULED: "Scheduled on the lock",
    Readiness.CHECKED: "Checked, set just in time",
    Readiness.PENDING: "Pending",
}


READINESS_SHORT = {
    Readiness.FAILED: "Failed",
    Readiness.SET_LOCK_OFFLINE: "Lock offline",
    Readiness.AT_RISK: "At risk",
    Readiness.SET: "Set",
    Readiness.SCHEDULED: "Scheduled",
    Readiness.CHECKED: "Checked",
    Readiness.PENDING: "Pending",
}


# Not ready for an arrival: what the dashboard counts as needing attention.
NOT_READY = (Readiness.FAILED, Readiness.SET_LOCK_OFFLINE, Readiness.AT_RISK)


def readiness(code: AccessCode) -> Readiness:
    """The code's readiness; uses the ``shown_issues`` the row carries when it does
    (``selectors.with_shown_issues``), so a list costs no query per row."""
    shown = getattr(code, "shown_issues", None)
    if shown is None:
        shown = access_code_issues(code)
    if any(i.weight is Weight.BLOCKS for i in shown):
        return Readiness.FAILED
    if any(i.sets_lock_offline for i in shown):
        return Readiness.SET_LOCK_OFFLINE
    if any(i.weight is Weight.AT_RISK for i in shown) or code.needs_review:
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
        return sum(1 for a in self.soon if a.readiness in NOT_READY)


def arrivals_by_property(*, workspaces, now: datetime) -> list[PropertyArrivals]:
    """Every property's arrivals: codes starting within the review lead, then the rest of the
    advance window, each with its readiness. Properties with no arrivals are listed too."""
    soon_until = now + lifecycle.review_lead()
    until = now + lifecycle.advance()
    codes = with_shown_issues(
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


# Issues that say a lock's battery or keypad needs a person, whatever the last reported level
# or accessory state says: a provider may warn before (or without) reporting a level, and a
# keypad found missing is told on the code the lock refused.
BATTERY_ISSUES = {"device_low_battery"}
KEYPAD_ISSUES = {"august_lock_missing_keypad"}


def devices_needing_attention(*, workspaces) -> QuerySet[Device]:
    """Locks that are offline, whose battery is low (by its level or by its own warning), or
    that have no keypad (none built in or connected, or a code refused for the want of one);
    each annotated ``battery_warned`` and ``keypad_missing``."""
    own = DeviceIssue.objects.filter(device=OuterRef("pk"), cleared_at__isnull=True)
    refused = AccessCodeIssue.objects.filter(
        access_code__device=OuterRef("pk"), cleared_at__isnull=True, code__in=KEYPAD_ISSUES
    )
    return (
        Device.objects.filter(workspace__in=workspaces)
        .annotate(
            battery_warned=Exists(own.filter(code__in=BATTERY_ISSUES)),
            keypad_missing=Case(
                When(WITHOUT_KEYPAD, then=True),
                default=Exists(own.filter(code__in=KEYPAD_ISSUES)) | Exists(refused),
                output_field=BooleanField(),
            ),
        )
        .filter(
            Q(is_online=False)
            | Q(battery_level__lt=LOW_BATTERY)
            | Q(battery_warned=True)
            | Q(keypad_missing=True)
        )
        .select_related("property")
        .order_by("display_name")
    )


FORECAST_DAYS = 14
# The chart's drawing box, in SVG user units: one day is DAY_WIDTH wide.
DAY_WIDTH, CHART_HEIGHT = 50, 120


@dataclass(frozen=True)
class ForecastBar:
    """One span of the chart during which the lock holds ``used`` codes by the plan."""

    x: float
    width: float
    y: float
    height: float
    used: int
    starts: datetime
    full: bool


@dataclass(frozen=True)
class ForecastTick:
    x: float
    label: str


@dataclass(frozen=True)
class SlotOverflow:
    code: AccessCode
    at: datetime
    x: float | None  # where the chart marks it; None beyond the chart


@dataclass(frozen=True)
class SlotForecast:
    """The lock's slot plan drawn: what it holds now, at its busiest moment in the next
    ``FORECAST_DAYS`` days (and which codes), and the codes that will not fit."""

    slots: int | None  # the lock's capacity; None when unknown
    used_now: int
    peak_used: int
    peak_at: datetime
    peak_codes: list = field(default_factory=list)  # names of the codes on the lock at the peak
    bars: list = field(default_factory=list)
    ticks: list = field(default_factory=list)
    capacity_y: float | None = None
    overflows: list = field(default_factory=list)
    width: int = FORECAST_DAYS * DAY_WIDTH
    height: int = CHART_HEIGHT

    @property
    def free_now(self) -> int | None:
        return None if self.slots is None else self.slots - self.used_now

    @property
    def free_at_peak(self) -> int | None:
        return None if self.slots is None else self.slots - self.peak_used


def device_slot_forecast(device: Device, *, now: datetime) -> SlotForecast:
    """The lock's slot plan (``lifecycle.plan_slots``, as the scheduler follows it) over the next
    ``FORECAST_DAYS`` days: every code counted from the moment the plan puts it on the lock
    (codes loaded ahead with their schedule, just-in-time codes from their lead), codes being
    removed, backups the pool has still to create, and the codes that will not fit."""
    plan, codes = lock_slot_plan_and_codes(device, now=now)
    until = now + timedelta(days=FORECAST_DAYS)
    steps = plan.steps(until)
    used_now = len(plan.holding(now))
    peak_at, peak_used = plan.peak(until)
    if peak_used < used_now:
        peak_at, peak_used = now, used_now
    slots = device.max_active_codes_supported
    scale = max(slots or 0, peak_used, 1)
    day = timedelta(days=1)
    bars = []
    for (starts, used), (ends, _) in zip(steps, [*steps[1:], (until, 0)], strict=True):
        if used == 0 or ends <= now:
            continue
        x = (max(starts, now) - now) / day * DAY_WIDTH
        width = (min(ends, until) - max(starts, now)) / day * DAY_WIDTH
        height = used / scale * CHART_HEIGHT
        full = slots is not None and used >= slots
        top = round(CHART_HEIGHT - height, 2)
        bars.append(ForecastBar(round(x, 2), round(width, 2), top, round(height, 2), used, starts, full))
    zone = device.zone
    ticks = []
    midnight = datetime.combine(now.astimezone(zone).date() + day, time(0), tzinfo=zone)
    while midnight < until:
        ticks.append(ForecastTick(round((midnight - now) / day * DAY_WIDTH, 2), midnight.strftime("%a %d")))
        midnight = datetime.combine(midnight.date() + day, time(0), tzinfo=zone)
    names = [
        codes[key].name or "Unnamed code" if key in codes else "Backup still to be made"
        for key in plan.holding(peak_at)
    ]
    return SlotForecast(
        slots=slots,
        used_now=used_now,
        peak_used=peak_used,
        peak_at=peak_at,
        peak_codes=sorted(names),
        bars=bars,
        ticks=ticks,
        capacity_y=None if slots is None else round(CHART_HEIGHT - slots / scale * CHART_HEIGHT, 2),
        overflows=sorted(
            (
                SlotOverflow(codes[key], at, round((at - now) / day * DAY_WIDTH, 2) if at < until else None)
                for key, at in plan.overflows.items()
                if key in codes
            ),
            key=lambda overflow: overflow.at,
        ),
    )


@dataclass(frozen=True)
class OverflowingLock:
    device: Device
    first_at: datetime  # the first moment a code will find the lock full
    codes: int  # how many codes will not fit


def locks_that_will_overflow(*, workspaces, now: datetime) -> list[OverflowingLock]:
    """Locks whose slot plan leaves some code without a slot, soonest first. Only a lock with
    more codes taking slots (live ones, and any still on the lock after their end:
    ``selectors.takes_slot``) and backups to come than slots can overflow, so only those are
    planned."""
    taking = (
        AccessCode.objects.filter(takes_slot(now=now), device=OuterRef("pk"))
        .order_by()
        .values("device")
        .annotate(n=Count("pk"))
        .values("n")
    )
    crowded = {
        device.pk: device
        for device in Device.objects.filter(
            workspace__in=workspaces, max_active_codes_supported__isnull=False
        )
        .annotate(taking=Coalesce(Subquery(taking), 0) + Coalesce(F("backup_pool__target_size"), 0))
        .filter(taking__gt=F("max_active_codes_supported"))
        .select_related("property")
    }
    found = [
        OverflowingLock(crowded[device_id], min(plan.overflows.values()), len(plan.overflows))
        for device_id, plan in slot_plans(crowded.values(), now=now).items()
        if plan.overflows
    ]
    return sorted(found, key=lambda lock: lock.first_at)


def review_queue(*, workspaces) -> QuerySet[AccessCode]:
    """Every flagged managed code, most urgent first (soonest arrival; codes already active,
    ongoing ones included, before those still to come). Flagged is ``needs_review``: the one
    answer (``selectors.review_reason``), judged again whenever one of its causes changes, that
    the dashboard's count and the code's page read too."""
    return (
        AccessCode.objects.filter(workspace__in=workspaces, is_managed=True, needs_review=True)
        .filter(Q(deleted_at__isnull=True) | Q(status=AccessCodeStatus.REMOVING))
        .filter(Q(is_backup=False) | Q(backup_slot__pulled_for__isnull=False))
        .annotate(arrival=Coalesce("starts_at", "created_at"))
        .select_related("device__property", "review_assignee")
        .order_by("arrival", "pk")
    )


@dataclass
class ReviewCard:
    """One card of the review queue: a lock's problem with every flagged stay it affects (one
    set of actions for them all), or one code's own problem."""

    codes: list[AccessCode]  # soonest arrival first
    problems: list  # selectors.QueueProblem, worst first
    lock: Device | None = None  # set when the cause is the lock's, not the code's

    @property
    def anchor(self) -> str:
        if self.lock is None:
            return f"code-{self.codes[0].pk}"
        return f"lock-{self.lock.pk}-" + "-".join(sorted({p.title.split(":")[0] for p in self.problems}))


def review_cards(codes: list[AccessCode]) -> list[ReviewCard]:
    """The queue's codes as cards, in the queue's order (a card where its first code falls).
    A code whose every problem is its lock's (inherited from the lock or its account, or a
    refusal the catalog marks ``about_lock``) joins the card of that lock and those problems;
    a code with a problem of its own, or a pulled backup to hand out, has a card of its own."""
    cards: list[ReviewCard] = []
    by_cause: dict = {}
    for code in with_shown_issues(codes):
        causes = [i for i in code.shown_issues if i.weight in (Weight.BLOCKS, Weight.AT_RISK)]
        lock_caused = (
            bool(causes)
            and all(i.inherited or i.entry.about_lock for i in causes)
            and not code.pulled_backup_access_code_id
        )
        if not lock_caused:
            cards.append(ReviewCard([code], review_problems(code)))
            continue
        key = (code.device_id, tuple(sorted({(i.kind, i.code) for i in causes})))
        if key in by_cause:
            by_cause[key].codes.append(code)
        else:
            by_cause[key] = ReviewCard([code], review_problems(code), lock=code.device)
            cards.append(by_cause[key])
    return cards


def timeline_for_code(code: AccessCode) -> list[tuple[datetime, str, str]]:
    """The code's history, newest first, in sentences: Seam's events and what staff did, as
    (when, what happened, detail). Never a PIN: ``_PIN_KEYS`` are not read at all."""
    entries = [(e.occurred_at, *_event_sentence(e.event_type, e.payload)) for e in code.events.all()]
    for action in code.staff_actions.select_related("actor", "assignee"):
        who = action.actor.get_username() if action.actor else "someone"
        detail = f"by {who}"
        if action.assignee_id:
            detail += f", to {action.assignee.get_username()}"
        if action.note:  # typed by a person: a PIN quoted in it is masked, like everywhere
            detail += f": {mask_pins(action.note)}"
        entries.append((action.created_at, action.get_kind_display(), detail))
    return sorted(entries, key=lambda e: e[0], reverse=True)


# Event payload keys that carry a PIN (Seam's events carry ``code`` since issue 19): never shown
# in a history line, whoever reads it.
_PIN_KEYS = {"code", "code_on_lock"}

# What happened, for each of Seam's access-code events, as a person says it.
_EVENT_SENTENCES = {
    "created": "Created in Latchkey.",
    "changed": "Changed.",
    "scheduled_on_device": "Put on the lock with its window: the lock turns it on at arrival.",
    "set_on_device": "Set on the lock: it opens the door.",
    "removed_from_device": "Taken off the lock.",
    "delay_in_setting_on_device": "Putting it on the lock is taking longer than expected.",
    "failed_to_set_on_device": "The lock did not take it.",
    "deleted": "Deleted; Latchkey takes it off the lock.",
    "delay_in_removing_from_device": "Taking it off the lock is taking longer than expected.",
    "failed_to_remove_from_device": "It could not be taken off the lock.",
    "modified_external_to_seam": "Changed on the lock, outside Latchkey.",
    "deleted_external_to_seam": "Removed from the lock, outside Latchkey.",
    "backup_access_code_pulled": "A backup code was pulled for this guest.",
}

# The fields a change can touch, as a person calls them.
_FIELD_WORDS = {
    "code": "the PIN",
    "name": "the name",
    "starts_at": "the arrival",
    "ends_at": "the departure",
    "type": "ongoing or time-bound",
    "use_backup_access_code_pool": "use of the backup pool",
    "is_external_modification_allowed": "whether changes outside Latchkey are allowed",
    "is_managed": "managed by Latchkey",
}


def _event_sentence(event_type: str, payload: dict) -> tuple[str, str]:
    """(what happened, detail) for one of Seam's events, from its payload's harmless keys."""
    slug = event_type.removeprefix("access_code.")
    what = _EVENT_SENTENCES.get(slug) or slug.replace("_", " ").capitalize() + "."
    return what, _event_detail(payload)


def _event_detail(payload: dict) -> str:
    skip = {"device_id", "access_code_id", "backup_access_code_id", "changed"} | _PIN_KEYS
    parts = []
    for key, value in payload.items():
        if key in skip:
            continue
        if key == "changed_properties" and isinstance(value, list):
            # Seam's {property, from, to}: the names say what changed; values may be PINs.
            names = [str(c.get("property")) for c in value if isinstance(c, dict)]
            parts.append(
                "What changed: " + ", ".join(_FIELD_WORDS.get(n, n.replace("_", " ")) for n in names)
            )
            continue
        if key == "errors" and isinstance(value, list):
            parts.append("The lock said: " + "; ".join(catalog.error(str(c)).message for c in value))
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        parts.append(f"{key.replace('_', ' ').capitalize()}: {shown}")
    return ". ".join(parts) + ("." if parts else "")


# --- The code page's first line ----------------------------------------------------------------


def readiness_sentence(code: AccessCode, *, zone) -> str:
    """One plain-language line that says whether the code will open the door, and why not.
    The words of ``Readiness``; Seam's status and flags are for the details line only."""
    r = readiness(code)
    shown = getattr(code, "shown_issues", None)
    if shown is None:
        shown = access_code_issues(code)
    worst = next((i for i in shown if i.weight is Weight.BLOCKS), None) or next(
        (i for i in shown if i.weight is Weight.AT_RISK), None
    )

    def at(instant: datetime | None) -> str:
        return instant.astimezone(zone).strftime("%a %d %b %H:%M %Z") if instant else ""

    if code.deleted_at is not None:
        if code.status == AccessCodeStatus.REMOVING:
            return "Deleted: Latchkey is taking it off the lock."
        return "Deleted: it no longer opens the door."
    if r is Readiness.FAILED:
        why = worst.entry.message if worst else "it is not on the lock"
        return f"Not ready: {why.rstrip('.')}. See what to do below."
    if r is Readiness.SET_LOCK_OFFLINE:
        return "On the lock, but the lock cannot be reached now: it opens the door if nothing changes."
    if r is Readiness.AT_RISK:
        why = worst.entry.message if worst else (mask_pins(code.review_reason) or "not ready in time")
        return f"At risk: {why.rstrip('.')}."
    if r is Readiness.SET:
        until = f" until {at(code.ends_at)}" if code.ends_at else ""
        return f"Ready: the code is on the lock and opens the door{until}."
    if r is Readiness.SCHEDULED:
        return f"Ready: the code is on the lock and turns on at {at(code.starts_at)}."
    if r is Readiness.CHECKED:
        return (
            f"Ready: the lock passed its check; Latchkey puts the code on just before {at(code.starts_at)}."
        )
    if code.starts_at is not None:
        return f"Not on the lock yet: Latchkey puts it on ahead of {at(code.starts_at)}."
    return "Not on the lock yet: Latchkey is putting it on."


def seam_details(code: AccessCode) -> list[tuple[str, str]]:
    """Seam's own words for the code, for the details line: status, type and the codes of its
    errors and warnings."""
    shown = getattr(code, "shown_issues", None)
    if shown is None:
        shown = access_code_issues(code)
    return [
        ("Seam status", f"{code.get_status_display()} ({code.status})"),
        ("Type", code.get_type_display()),
        ("Scheduled on device", "yes" if code.is_scheduled_on_device else "no"),
        ("Errors", ", ".join(i.code for i in shown if i.kind == "error") or "none"),
        ("Warnings", ", ".join(i.code for i in shown if i.kind == "warning") or "none"),
    ]


# --- The timeline picture ------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineBar:
    code: AccessCode
    readiness: Readiness
    left: float  # percent of the span
    width: float
    starts_before: bool  # the code began before the span (drawn cut at the left edge)
    ends_after: bool
    row: int = 0  # overlapping codes on one door each get a row of their own in its lane


@dataclass(frozen=True)
class TimelineLane:
    device: Device
    bars: list[TimelineBar]

    @property
    def rows(self) -> int:
        return max((b.row for b in self.bars), default=0) + 1


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
    now_left: float | None = None  # where "now" falls, in percent of the span; None outside it


# The narrowest a bar is drawn, in percent of the span (about 30 hours of 14 days): room for a
# guest's name and a one-word readiness at the timeline's narrowest (ui.css: .lk-timeline).
BAR_MIN_WIDTH = 9.0


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
    codes = with_shown_issues(
        AccessCode.objects.shown()
        .filter(device__property=prop)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lt=end, ends_at__gt=start))
        .select_related("device")
        .order_by(F("starts_at").asc(nulls_first=True), "pk")
    )
    by_device: dict = {}
    row_ends: dict = {}  # per door, where each of its rows is free again (percent of the span)
    for code in codes:  # by start: the first row free at a code's start takes it
        starts = code.starts_at or start
        ends = code.ends_at or end
        left = at(starts)
        # A short stay is drawn at least BAR_MIN_WIDTH wide, so that its name and readiness can
        # be read; rows are packed by the drawn extent, so no bar covers another.
        drawn_end = max(at(ends), left + BAR_MIN_WIDTH)
        ends_of_rows = row_ends.setdefault(code.device_id, [])
        row = next((n for n, free_from in enumerate(ends_of_rows) if free_from <= left), len(ends_of_rows))
        if row == len(ends_of_rows):
            ends_of_rows.append(drawn_end)
        else:
            ends_of_rows[row] = drawn_end
        by_device.setdefault(code.device_id, []).append(
            TimelineBar(
                code=code,
                readiness=readiness(code),
                left=left,
                width=max(at(ends) - left, BAR_MIN_WIDTH),
                starts_before=starts < start,
                ends_after=ends > end,
                row=row,
            )
        )
    lanes = [TimelineLane(d, by_device.get(d.pk, [])) for d in prop.devices.order_by("display_name")]
    now_left = at(now) if start <= now < end else None
    return PropertyTimeline(prop, start, end, ticks, lanes, now_left)
