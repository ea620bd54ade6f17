"""Booking calendars written by hand in the shapes the platforms publish (CRLF lines, all-day
DATE values, their PRODIDs, summaries and description fields)."""

from dataclasses import dataclass
from datetime import date


@dataclass
class Booking:
    uid: str
    start: date
    end: date
    summary: str = "Reserved"
    description: str = ""
    status: str = ""


def _calendar(prodid: str, events: list[str], extra: str = "") -> bytes:
    lines = ["BEGIN:VCALENDAR", f"PRODID:{prodid}", "CALSCALE:GREGORIAN", "VERSION:2.0", *extra.splitlines()]
    lines += events
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def _all_day(b: Booking, stamp: str = "20261120T090000Z") -> str:
    lines = [
        "BEGIN:VEVENT",
        f"DTEND;VALUE=DATE:{b.end:%Y%m%d}",
        f"DTSTART;VALUE=DATE:{b.start:%Y%m%d}",
        f"DTSTAMP:{stamp}",
        f"UID:{b.uid}",
    ]
    if b.description:
        lines.append(f"DESCRIPTION:{b.description}")
    if b.status:
        lines.append(f"STATUS:{b.status}")
    lines += [f"SUMMARY:{b.summary}", "END:VEVENT"]
    return "\r\n".join(lines)


def airbnb_reservation(uid: str, start: date, end: date, *, code: str, phone4: str) -> Booking:
    # Airbnb writes the two fields on one DESCRIPTION line, separated by an escaped newline.
    return Booking(
        uid=f"{uid}@airbnb.com",
        start=start,
        end=end,
        summary="Reserved",
        description=(
            f"Reservation URL: https://www.airbnb.com/hosting/reservations/details/{code}\\n"
            f"Phone Number (Last 4 Digits): {phone4}"
        ),
    )


def airbnb_block(uid: str, start: date, end: date) -> Booking:
    return Booking(uid=f"{uid}@airbnb.com", start=start, end=end, summary="Airbnb (Not available)")


def airbnb(*bookings: Booking) -> bytes:
    return _calendar("-//Airbnb Inc//Hosting Calendar 1.0//EN", [_all_day(b) for b in bookings])


def vrbo(*bookings: Booking) -> bytes:
    return _calendar(
        "-//HomeAway.com, Inc.//EN",
        [_all_day(b) for b in bookings],
        extra="X-WR-CALNAME:Vrbo listing 1234567",
    )


def booking_com(*bookings: Booking) -> bytes:
    # Booking.com calls every booking and every closed date the same thing.
    for b in bookings:
        b.summary = "CLOSED - Not available"
    return _calendar("-//Booking.com//NONSGML Booking.com Calendar//EN", [_all_day(b) for b in bookings])


def channel_manager_with_tzid(
    uid: str, start: str, end: str, *, guest: str, tzid: str = "America/New_York"
) -> bytes:
    """Timed events in a named zone, with its VTIMEZONE, as channel managers export them."""
    vtimezone = "\r\n".join(
        [
            "BEGIN:VTIMEZONE",
            f"TZID:{tzid}",
            "BEGIN:STANDARD",
            "DTSTART:19701101T020000",
            "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
            "TZOFFSETFROM:-0400",
            "TZOFFSETTO:-0500",
            "END:STANDARD",
            "BEGIN:DAYLIGHT",
            "DTSTART:19700308T020000",
            "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
            "TZOFFSETFROM:-0500",
            "TZOFFSETTO:-0400",
            "END:DAYLIGHT",
            "END:VTIMEZONE",
        ]
    )
    event = "\r\n".join(
        [
            "BEGIN:VEVENT",
            f"UID:{uid}",
            f"DTSTART;TZID={tzid}:{start}",
            f"DTEND;TZID={tzid}:{end}",
            "DTSTAMP:20261120T090000Z",
            f"SUMMARY:{guest}",
            "END:VEVENT",
        ]
    )
    return _calendar("-//Example Channel Manager//Bookings 2.1//EN", [vtimezone, event])
