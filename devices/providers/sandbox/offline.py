"""Offline (algorithmic) PINs, as locks like igloohome make them: derived from a secret shared
by the lock and the server and from the time window, so the lock checks a PIN with no
connection at all.

The window is rounded to whole hours, or whole days with ``daily_rounding``. The lock checks a
PIN by recomputing candidates for the windows that could contain the present moment.
"""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

PIN_LENGTH = 9
MAX_DAYS = 31  # the longest window an offline code may span
MAX_HOURS = 7 * 24


def _floor(moment: datetime, unit: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((moment.astimezone(UTC) - epoch) // unit) * unit


def rounded_window(
    starts_at: datetime, ends_at: datetime, *, daily_rounding: bool
) -> tuple[datetime, datetime]:
    unit = timedelta(days=1) if daily_rounding else timedelta(hours=1)
    start = _floor(starts_at, unit)
    end = _floor(ends_at, unit)
    if end < ends_at:
        end += unit
    return start, end


def window_fits(starts_at: datetime, ends_at: datetime, *, daily_rounding: bool) -> bool:
    start, end = rounded_window(starts_at, ends_at, daily_rounding=daily_rounding)
    return end - start <= (timedelta(days=MAX_DAYS) if daily_rounding else timedelta(hours=MAX_HOURS))


def offline_pin(
    secret: str, starts_at: datetime, ends_at: datetime, *, daily_rounding: bool, one_time: bool
) -> str:
    start, end = rounded_window(starts_at, ends_at, daily_rounding=daily_rounding)
    return _pin(secret, start, end, daily_rounding=daily_rounding, one_time=one_time)


def _pin(secret: str, start: datetime, end: datetime, *, daily_rounding: bool, one_time: bool) -> str:
    message = f"{'once' if one_time else 'window'}|{'day' if daily_rounding else 'hour'}|{start:%s}|{end:%s}"
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return str(int.from_bytes(digest[:8], "big") % 10**PIN_LENGTH).zfill(PIN_LENGTH)


def lock_accepts(secret: str, pin: str, at: datetime, *, daily_rounding: bool, one_time: bool) -> bool:
    """What the lock itself does, offline: does ``pin`` open it at ``at``?"""
    unit = timedelta(days=1) if daily_rounding else timedelta(hours=1)
    span = MAX_DAYS if daily_rounding else MAX_HOURS
    now_slot = _floor(at, unit)
    for back in range(span):
        start = now_slot - back * unit
        for length in range(back + 1, span + 1):
            end = start + length * unit
            if end <= at:
                continue
            candidate = _pin(secret, start, end, daily_rounding=daily_rounding, one_time=one_time)
            if hmac.compare_digest(candidate, pin):
                return True
    return False
