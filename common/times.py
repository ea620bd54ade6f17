"""How times are written where other programs read them."""

from datetime import UTC, datetime

_UTC_MILLISECONDS = "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ"


def iso(value: datetime | None) -> str | None:
    """Times on the wire: ISO 8601 in UTC to the millisecond with a Z, as Seam writes them."""
    if value is None:
        return None
    if value.tzinfo is UTC:  # as the database gives times: written directly, a third faster
        return _UTC_MILLISECONDS % (
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond // 1000,
        )
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
