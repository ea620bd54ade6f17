"""Quiet hours and local days: pure functions of the clock and a time zone, no queries."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """``at`` on ``day`` in ``zone``, as an aware datetime. A wall time that does not exist
    (skipped by a spring-forward) falls after the gap; a repeated one is the first of the two."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=zone, fold=0)
    # Round-trip through UTC: a skipped time comes back shifted, which is where it really falls.
    return aware.astimezone(ZoneInfo("UTC")).astimezone(zone)


def quiet_until(now: datetime, *, start: time | None, end: time | None, zone: ZoneInfo) -> datetime | None:
    """The instant quiet hours end, if ``now`` is inside them; None otherwise. Quiet hours may
    cross midnight (22:00 to 07:00). The end is taken on the local calendar, so across a DST
    change "until 07:00" is 07:00 on the wall clock, not a fixed number of hours later."""
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(zone)
    today = local.date()
    wall = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= wall < end
        end_day = today
    else:  # across midnight
        inside = wall >= start or wall < end
        end_day = today + timedelta(days=1) if wall >= start else today
    if not inside:
        return None
    return local_instant(end_day, end, zone)
