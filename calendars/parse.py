"""Reading a booking calendar: pure functions from bytes to events and from an event to the
window its code needs. No database, no clock, so every platform's shape is tested directly.

What the platforms send (as of their exports in 2025-2026):

- Airbnb: all-day events; ``SUMMARY:Reserved`` for a booking, with a DESCRIPTION holding the
  reservation link and "Phone Number (Last 4 Digits)"; ``Airbnb (Not available)`` for dates the
  host blocked.
- Vrbo: all-day events; ``Reserved - <guest name>`` for bookings, ``Blocked`` for blocks.
- Booking.com: every event is ``CLOSED - Not available``, booking or block alike, so a feed
  must say that its blocked dates are stays (``blocked_dates_are_stays``).
- Channel managers: often timed events (``DTSTART;TZID=...``) with the guest's name as SUMMARY.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar


class NotACalendar(ValueError):
    """The body is not an iCalendar (HTML, JSON, truncated, ...); the message says which."""


_BLOCKED = re.compile(r"not available|unavailable|blocked|closed|owner", re.IGNORECASE)
_RESERVED_WITH_NAME = re.compile(r"^\s*reserved\s*[-–:]\s*(?P<name>.+?)\s*$", re.IGNORECASE)
_PHONE_LAST4 = re.compile(r"Phone Number \(Last 4 Digits\):\s*(\d{4})\b", re.IGNORECASE)
_RESERVATION = re.compile(r"/reservations/details/([A-Z0-9]{6,20})\b", re.IGNORECASE)


@dataclass(frozen=True)
class FeedEvent:
    uid: str
    summary: str
    start: date | datetime
    end: date | datetime
    is_blocked: bool
    is_cancelled: bool
    guest_name: str
    reservation: str
    phone_last4: str


@dataclass(frozen=True)
class ParsedCalendar:
    events: list[FeedEvent]
    skipped: list[str]  # events that could not be read, each with why


def parse_calendar(body: bytes) -> ParsedCalendar:
    """Every VEVENT of ``body``; raise NotACalendar if the body is not a whole iCalendar."""
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or lines[0].strip().upper() != "BEGIN:VCALENDAR":
        start = (lines[0].strip()[:40] if lines else "nothing") or "nothing"
        raise NotACalendar(f"the body is not an iCalendar: it starts with '{start}', not BEGIN:VCALENDAR.")
    # A body cut off in transit still parses up to the cut: without its last line it is not
    # the calendar the platform published, and bookings after the cut would look cancelled.
    if lines[-1].strip().upper() != "END:VCALENDAR":
        raise NotACalendar("the calendar is cut off: it does not end with END:VCALENDAR.")
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise NotACalendar(f"the calendar cannot be read: {exc}") from exc
    events, skipped = [], []
    for component in calendar.walk("VEVENT"):
        try:
            events.append(_event(component))
        except (ValueError, TypeError, KeyError) as exc:
            skipped.append(f"{component.get('UID', '(no UID)')}: {exc}")
    return ParsedCalendar(events, skipped)


def _event(component) -> FeedEvent:
    uid = str(component.get("UID") or "").strip()
    if not uid:
        raise ValueError("the event has no UID")
    if component.get("DTSTART") is None:
        raise ValueError("the event has no DTSTART")
    start = component.decoded("DTSTART")
    if component.get("DTEND") is not None:
        end = component.decoded("DTEND")
    elif component.get("DURATION") is not None:
        end = start + component.decoded("DURATION")
    else:
        end = start + timedelta(days=1) if not isinstance(start, datetime) else start
    if isinstance(start, datetime) != isinstance(end, datetime):
        raise ValueError("DTSTART and DTEND are not both dates or both date-times")
    summary = str(component.get("SUMMARY") or "").strip()
    description = str(component.get("DESCRIPTION") or "")
    status = str(component.get("STATUS") or "").strip().upper()
    is_blocked = bool(_BLOCKED.search(summary)) and not _RESERVED_WITH_NAME.match(summary)
    phone = _PHONE_LAST4.search(description)
    reservation = _RESERVATION.search(description)
    return FeedEvent(
        uid=uid[:500],
        summary=summary[:500],
        start=start,
        end=end,
        is_blocked=is_blocked,
        is_cancelled=status == "CANCELLED",
        guest_name=_guest_name(summary, is_blocked)[:200],
        reservation=reservation.group(1).upper() if reservation else "",
        phone_last4=phone.group(1) if phone else "",
    )


def _guest_name(summary: str, is_blocked: bool) -> str:
    """The guest's name where the feed gives one: Vrbo's "Reserved - Ana", or a channel
    manager's plain name. Airbnb's bare "Reserved" and blocks name nobody."""
    named = _RESERVED_WITH_NAME.match(summary)
    if named:
        return named.group("name")
    if is_blocked or summary.lower() in ("reserved", "booked", "reservation", ""):
        return ""
    return summary


def code_name(event: FeedEvent, *, feed_name: str) -> str:
    """What the code is called: the guest, else the platform and its reservation code, else the
    platform and the arrival date."""
    if event.guest_name:
        return event.guest_name
    if event.reservation:
        return f"{feed_name} {event.reservation}"
    return f"{feed_name} guest {local_dates(event, zone=ZoneInfo('UTC'))[0]:%d %b}"


def local_dates(event: FeedEvent, *, zone: ZoneInfo) -> tuple[date, date]:
    """Arrival and departure dates in the property's zone."""
    if isinstance(event.start, datetime):
        return _aware(event.start, zone).astimezone(zone).date(), _aware(event.end, zone).astimezone(
            zone
        ).date()
    return event.start, event.end


def stay_window(
    event: FeedEvent,
    *,
    zone: ZoneInfo,
    check_in: time,
    check_out: time,
    early_minutes: int = 0,
    late_minutes: int = 0,
) -> tuple[datetime, datetime]:
    """The code's window in UTC. All-day events (as the platforms send them) run from the
    property's check-in time on the first day to its check-out time on the last, on the wall
    clock of the property's zone, so a stay across a DST change keeps 16:00 and 11:00. Timed
    events keep their own times (a floating time is read in the property's zone). Buffers widen
    the window on both sides."""
    if isinstance(event.start, datetime):
        starts_at, ends_at = _aware(event.start, zone), _aware(event.end, zone)
    else:
        starts_at = datetime.combine(event.start, check_in, tzinfo=zone)
        ends_at = datetime.combine(event.end, check_out, tzinfo=zone)
    starts_at = starts_at.astimezone(UTC) - timedelta(minutes=early_minutes)
    ends_at = ends_at.astimezone(UTC) + timedelta(minutes=late_minutes)
    return starts_at, ends_at


def _aware(value: datetime, zone: ZoneInfo) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)
