"""Offline (algorithmic) PINs, as locks like igloohome make them: derived from a secret shared
by the lock and the server, from the time window and from a variance, so the lock checks a PIN
with no connection at all, and two codes with the same window can still get different PINs (the
server picks the variance; the lock tries each).

The window is rounded to whole hours, or to whole days of the lock's own clock (its property's
time zone) with ``daily_rounding``. The lock checks a PIN by recomputing candidates for the
windows that could contain the present moment.
"""

import hashlib
import hmac
from datetime import UTC, datetime, time, timedelta, tzinfo

from devices import rules

PIN_LENGTH = 9
MAX_DAYS = 31  # the longest window an offline code may span, unless the lock says otherwise
MAX_HOURS = 7 * 24
VARIANCES = 10  # PINs the lock accepts for one window: the server picks one no other code holds


def _floor_hour(moment: datetime) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((moment.astimezone(UTC) - epoch) // timedelta(hours=1)) * timedelta(hours=1)


def _midnight(day, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


local_days = rules.offline_local_days


def rounded_window(
    starts_at: datetime, ends_at: datetime, *, daily_rounding: bool, zone: tzinfo = UTC
) -> tuple[datetime, datetime]:
    if daily_rounding:
        first, after = local_days(starts_at, ends_at, zone)
        return _midnight(first, zone), _midnight(after, zone)
    start, end = _floor_hour(starts_at), _floor_hour(ends_at)
    if end < ends_at:
        end += timedelta(hours=1)
    return start, end


def window_days(starts_at: datetime, ends_at: datetime, zone: tzinfo) -> int:
    """How many of the lock's local days the window spans once rounded."""
    first, after = local_days(starts_at, ends_at, zone)
    return (after - first).days


def window_fits(
    starts_at: datetime,
    ends_at: datetime,
    *,
    daily_rounding: bool,
    zone: tzinfo = UTC,
    max_days: int = MAX_DAYS,
) -> bool:
    if daily_rounding:
        return window_days(starts_at, ends_at, zone) <= max_days
    start, end = rounded_window(starts_at, ends_at, daily_rounding=False)
    return end - start <= timedelta(hours=MAX_HOURS)


def offline_pin(
    secret: str,
    starts_at: datetime,
    ends_at: datetime,
    *,
    daily_rounding: bool,
    one_time: bool,
    zone: tzinfo = UTC,
    variance: int = 0,
) -> str:
    start, end = rounded_window(starts_at, ends_at, daily_rounding=daily_rounding, zone=zone)
    return _pin(secret, start, end, daily_rounding=daily_rounding, one_time=one_time, variance=variance)


def _pin(
    secret: str, start: datetime, end: datetime, *, daily_rounding: bool, one_time: bool, variance: int = 0
) -> str:
    message = f"{'once' if one_time else 'window'}|{'day' if daily_rounding else 'hour'}|{start:%s}|{end:%s}"
    if variance:
        message += f"|{variance}"
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return str(int.from_bytes(digest[:8], "big") % 10**PIN_LENGTH).zfill(PIN_LENGTH)


def _windows_around(at: datetime, *, daily_rounding: bool, zone: tzinfo):
    """Every rounded window the lock would accept that contains ``at``."""
    if daily_rounding:
        today = at.astimezone(zone).date()
        for back in range(MAX_DAYS):
            first = today - timedelta(days=back)
            for length in range(back + 1, MAX_DAYS + 1):
                start, end = _midnight(first, zone), _midnight(first + timedelta(days=length), zone)
                if start <= at < end:
                    yield start, end
        return
    unit, now_slot = timedelta(hours=1), _floor_hour(at)
    for back in range(MAX_HOURS):
        start = now_slot - back * unit
        for length in range(back + 1, MAX_HOURS + 1):
            end = start + length * unit
            if end > at:
                yield start, end


def lock_accepts(
    secret: str, pin: str, at: datetime, *, daily_rounding: bool, one_time: bool, zone: tzinfo = UTC
) -> bool:
    """What the lock itself does, offline: does ``pin`` open it at ``at``? (A one-time PIN opens
    once: the lock remembers it, see ``SandboxProvider.simulate_keypad_entry``.)"""
    for start, end in _windows_around(at, daily_rounding=daily_rounding, zone=zone):
        for variance in range(VARIANCES):
            candidate = _pin(
                secret, start, end, daily_rounding=daily_rounding, one_time=one_time, variance=variance
            )
            if hmac.compare_digest(candidate, pin):
                return True
    return False
