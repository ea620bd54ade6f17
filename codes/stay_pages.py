"""Stays, as a manager thinks of them: one guest's visit, whatever the number of doors. A stay is
the live codes sharing a ``common_code_key`` (one booking's doors), or one code alone. The Today
board and the Stays list read them here, each in a fixed number of queries whatever the
portfolio's size: the codes in one query, their issues in two (``with_shown_issues``)."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q

from codes import lifecycle
from codes.models import AccessCode
from codes.pages import NOT_READY, Readiness, codes_visible, readiness
from codes.selectors import with_shown_issues
from common.ids import is_uuid
from devices.models import Property

# From least to most worrying: a stay is as ready as its least ready door.
_WORRY = [
    Readiness.SET,
    Readiness.SCHEDULED,
    Readiness.CHECKED,
    Readiness.PENDING,
    Readiness.SET_LOCK_OFFLINE,
    Readiness.AT_RISK,
    Readiness.FAILED,
]


@dataclass
class Stay:
    key: str  # the common_code_key, or the code's id for a code alone
    codes: list[AccessCode] = field(default_factory=list)

    @property
    def first(self) -> AccessCode:
        return self.codes[0]

    @property
    def name(self) -> str:
        return self.first.name or "(no name)"

    @property
    def starts_at(self) -> datetime | None:
        return self.first.starts_at

    @property
    def ends_at(self) -> datetime | None:
        return self.first.ends_at

    @property
    def doors(self) -> list:
        return [c.device for c in self.codes]

    @property
    def readiness(self) -> Readiness:
        return max((readiness(c) for c in self.codes), key=_WORRY.index)

    @property
    def ready(self) -> bool:
        return self.readiness not in NOT_READY

    @property
    def flagged(self) -> bool:
        return any(c.needs_review for c in self.codes)

    def door_readiness(self) -> list[tuple]:
        return [(c.device, readiness(c), c) for c in self.codes]

    # Last: once defined, the name ``property`` in this class body is this attribute.
    @property
    def property(self) -> Property | None:
        return self.first.device.property


def stays_of(codes) -> list[Stay]:
    """Codes (carrying ``shown_issues``) gathered into stays, in the order of their first code."""
    stays: dict[str, Stay] = {}
    for code in codes:
        key = code.common_code_key or str(code.pk)
        stays.setdefault(key, Stay(key)).codes.append(code)
    for stay in stays.values():
        stay.codes.sort(key=lambda c: c.device.display_name)
    return list(stays.values())


def _stay_codes(workspaces):
    return (
        codes_visible(workspaces)
        .filter(is_managed=True, is_backup=False)
        .select_related("device__property")
        .order_by("starts_at", "name", "pk")
    )


def chosen_stays(workspaces, keys: list[str]) -> list[Stay]:
    """The stays ``keys`` name, as the Stays page lists them (a stay's key is its codes'
    ``common_code_key``, or its one code's id); keys naming nothing visible find nothing."""
    ids = [key for key in keys if is_uuid(key)]
    codes = _stay_codes(workspaces).filter(
        Q(common_code_key__in=keys) | Q(pk__in=ids, common_code_key__isnull=True)
    )
    return stays_of(codes)


# --- Today ---------------------------------------------------------------------------------


@dataclass
class Turnover:
    door: object
    leaving: Stay
    arriving: Stay


@dataclass
class DayAtProperty:
    day: date
    arrivals: list[Stay]
    departures: list[Stay]
    turnovers: list[Turnover]


@dataclass
class PropertyToday:
    property: Property
    problems: list[Stay]  # arriving within the review lead (72 h), or in house, and not ready
    soon: list[Stay]  # every stay arriving within the review lead, soonest first
    days: list[DayAtProperty]  # today and tomorrow, in the property's zone
    in_house: list[Stay]

    @property
    def ready_soon(self) -> int:
        return sum(1 for s in self.soon if s.ready)

    @property
    def later(self) -> list[Stay]:
        """Arriving within the lead, after tomorrow: the rest of the three days."""
        shown = {s.key for d in self.days for s in d.arrivals}
        return [s for s in self.soon if s.key not in shown]


@dataclass
class TodayBoard:
    properties: list[PropertyToday]
    ongoing: list[Stay]  # staff and residents' ongoing codes, apart


def today_board(*, workspaces, now: datetime) -> TodayBoard:
    """Per property: the next 72 hours' problems first, today's and tomorrow's arrivals,
    departures and turnovers (a departure and an arrival on one door the same local day), who
    is in house; each stay once. Five queries whatever the number of properties and stays."""
    lead = lifecycle.review_lead()
    # Wide enough for "today and tomorrow" in any zone (UTC-12 to UTC+14) and the lead.
    window_start = now - timedelta(days=2)
    window_end = now + max(lead, timedelta(days=3))
    codes = with_shown_issues(
        _stay_codes(workspaces).filter(
            starts_at__lt=window_end, ends_at__gt=window_start, device__property__isnull=False
        )
    )
    ongoing = with_shown_issues(_stay_codes(workspaces).filter(starts_at__isnull=True))
    properties = list(Property.objects.filter(workspace__in=workspaces).order_by("name"))
    by_property: dict = {p.pk: [] for p in properties}
    for stay in stays_of(codes):
        if stay.property is not None and stay.property.pk in by_property:
            by_property[stay.property.pk].append(stay)
    board = [_property_today(p, by_property[p.pk], now=now, lead=lead) for p in properties]
    return TodayBoard(board, stays_of(ongoing))


def _property_today(prop: Property, stays: list[Stay], *, now: datetime, lead: timedelta) -> PropertyToday:
    zone = prop.zone
    today = now.astimezone(zone).date()

    def local_day(instant: datetime) -> date:
        return instant.astimezone(zone).date()

    soon = [s for s in stays if now <= s.starts_at < now + lead]
    in_house = [s for s in stays if s.starts_at <= now < s.ends_at]
    problems = [s for s in in_house + soon if not s.ready]
    days = []
    for day in (today, today + timedelta(days=1)):
        arrivals = [s for s in stays if local_day(s.starts_at) == day]
        departures = [s for s in stays if local_day(s.ends_at) == day]
        turnovers = [
            Turnover(door, leaving, arriving)
            for leaving in departures
            for arriving in arrivals
            for door in leaving.doors
            if arriving is not leaving and door in arriving.doors
        ]
        days.append(DayAtProperty(day, arrivals, departures, turnovers))
    return PropertyToday(prop, problems, soon, days, in_house)


# --- The Stays list --------------------------------------------------------------------------

STAYS_LIMIT = 200


@dataclass(frozen=True)
class StayFilters:
    search: str = ""
    property_id: str = ""
    date_from: date | None = None  # stays that overlap [date_from, date_to], local days
    date_to: date | None = None
    readiness: str = ""  # a Readiness value, or "not_ready"


def stays_list(*, workspaces, filters: StayFilters, now: datetime) -> tuple[list[Stay], bool]:
    """Stays matching ``filters``, soonest first, at most ``STAYS_LIMIT`` (and whether more
    matched); three queries. Dates are the stay's property's local days: the database narrows
    with a margin of a day either side, Python decides in each property's zone."""
    codes = _stay_codes(workspaces)
    if filters.search:
        codes = codes.filter(name__icontains=filters.search)
    if filters.property_id:
        codes = codes.filter(device__property_id=filters.property_id)
    if filters.date_from:
        margin = datetime.combine(filters.date_from - timedelta(days=1), time(0), tzinfo=UTC)
        codes = codes.filter(Q(ends_at__isnull=True) | Q(ends_at__gt=margin))
    if filters.date_to:
        margin = datetime.combine(filters.date_to + timedelta(days=2), time(0), tzinfo=UTC)
        codes = codes.filter(Q(starts_at__isnull=True) | Q(starts_at__lt=margin))
    if not (filters.date_from or filters.date_to):
        # By default the stays still to come or under way: the past is the codes' history.
        codes = codes.filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
    # A stay's codes come together: fetch a little over the limit in codes, cut in stays.
    stays = stays_of(with_shown_issues(codes[: STAYS_LIMIT * 8]))
    stays = [s for s in stays if _matches(s, filters)]
    return stays[:STAYS_LIMIT], len(stays) > STAYS_LIMIT


def _matches(stay: Stay, filters: StayFilters) -> bool:
    zone = stay.first.device.zone
    if (
        filters.date_from
        and stay.ends_at is not None
        and stay.ends_at.astimezone(zone).date() < filters.date_from
    ):
        return False
    if (
        filters.date_to
        and stay.starts_at is not None
        and stay.starts_at.astimezone(zone).date() > filters.date_to
    ):
        return False
    if filters.readiness == "not_ready":
        return not stay.ready
    if filters.readiness:
        return stay.readiness.value == filters.readiness
    return True
