"""A calendar feed as the API shows it."""

from calendars.models import CalendarFeed
from common.times import iso


def calendar_feed_wire(feed: CalendarFeed) -> dict:
    return {
        "calendar_feed_id": str(feed.pk),
        "workspace_id": str(feed.workspace_id),
        "property_id": str(feed.property_id),
        "name": feed.name,
        "url": feed.url,
        # .all(), so that a list's prefetch_related("devices") serves every feed (no query each).
        "device_ids": sorted(str(d.pk) for d in feed.devices.all()),
        "early_check_in_minutes": feed.early_check_in_minutes,
        "late_check_out_minutes": feed.late_check_out_minutes,
        "blocked_dates_are_stays": feed.blocked_dates_are_stays,
        "pin_from_phone": feed.pin_from_phone,
        "created_at": iso(feed.created_at),
        "last_fetch_at": iso(feed.last_fetch_at),
        "last_success_at": iso(feed.last_success_at),
        "failing_since": iso(feed.failing_since),
        "last_error": feed.last_error or None,
        "next_fetch_at": iso(feed.next_fetch_at),
        "last_result": feed.last_result or None,
    }
