"""How times are written where other programs read them."""

from datetime import UTC, datetime


def iso(value: datetime | None) -> str | None:
    """Times on the wire: ISO 8601 in UTC to the millisecond with a Z, as Seam writes them."""
    if value is None:
        return None
    written = value.isoformat(timespec="milliseconds")
    if written.endswith("+00:00"):  # already UTC (as the database gives times): no conversion
        return written[:-6] + "Z"
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
