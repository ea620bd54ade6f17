"""A wall-clock time a person types, read in a property's time zone. Around a DST change some
wall-clock times do not exist (the hour the clocks skip) and some happen twice (the hour they
repeat); both are decided here, once, for every form."""

from datetime import UTC, date, datetime, time
from enum import Enum
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError


class Twice(Enum):
    """Which of the two instants to take when a wall-clock time happens twice: an arrival takes
    the earlier (the door opens for the guest at the first chance), a departure the later (the
    code keeps working until the last one), so an ambiguous time never shortens a stay."""

    EARLIER = 0
    LATER = 1


def local_instant(day: date, at: time, zone: ZoneInfo, *, twice: Twice = Twice.EARLIER) -> datetime:
    """The instant (in UTC) that ``day`` at ``at`` names in ``zone``. A time the clocks skip
    is refused, naming the zone and the gap."""
    wall = datetime.combine(day, at.replace(tzinfo=None))
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        after = first.astimezone(UTC).astimezone(zone)
        raise ValidationError(
            f"{wall:%Y-%m-%d %H:%M} does not exist in {zone.key}: the clocks go forward that night "
            f"and skip it. Choose another time, for example {after:%H:%M}.",
            code="nonexistent_local_time",
        )
    chosen = second if twice is Twice.LATER else first
    return chosen.astimezone(UTC)


def happens_twice(day: date, at: time, zone: ZoneInfo) -> bool:
    """Does this wall-clock time happen twice in ``zone`` (the hour the clocks go back)?"""
    wall = datetime.combine(day, at.replace(tzinfo=None))
    return wall.replace(tzinfo=zone, fold=0).utcoffset() != wall.replace(tzinfo=zone, fold=1).utcoffset()


def wall_clock(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    """An instant as the wall clock in ``zone`` shows it (naive), for a form's initial value."""
    if value is None:
        return None
    return value.astimezone(zone).replace(tzinfo=None)
