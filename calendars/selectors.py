"""Reads the feed page, the API and the sync share."""

from django.db.models import QuerySet

from calendars.models import CalendarFeed, Stay, StayStatus
from codes.models import AccessCode


def feeds_for(workspaces) -> QuerySet[CalendarFeed]:
    return CalendarFeed.objects.filter(workspace__in=workspaces).select_related("property")


def codes_of_stay(stay: Stay) -> QuerySet[AccessCode]:
    """The stay's live codes, one per door (none before they are made, or once cancelled)."""
    if not stay.common_code_key:
        return AccessCode.objects.none()
    return AccessCode.objects.live().filter(
        workspace_id=stay.feed.workspace_id, common_code_key=stay.common_code_key, is_managed=True
    )


def stays_with_codes(feed: CalendarFeed) -> list[tuple[Stay, list[AccessCode]]]:
    """Every stay of ``feed`` with its live codes, in two queries."""
    stays = list(feed.stays.all())
    keys = {s.common_code_key for s in stays if s.common_code_key}
    codes = (
        AccessCode.objects.live()
        .filter(workspace_id=feed.workspace_id, common_code_key__in=keys)
        .select_related("device")
        .order_by("device__display_name")
    )
    by_key: dict[str, list[AccessCode]] = {}
    for code in codes:
        by_key.setdefault(code.common_code_key, []).append(code)
    return [(s, by_key.get(s.common_code_key, []) if s.common_code_key else []) for s in stays]


def active_future_stays(feed: CalendarFeed, *, now) -> QuerySet[Stay]:
    return feed.stays.filter(status=StayStatus.ACTIVE, ends_at__gt=now)


def bookings_of_codes(codes: list[AccessCode]) -> dict:
    """For the code's API object (``latchkey_calendar_booking``): the feed and booking UID each
    code was made for, in one query."""
    keys = {c.common_code_key for c in codes if c.common_code_key}
    if not keys:
        return {}
    stays = Stay.objects.filter(
        feed__workspace_id__in={c.workspace_id for c in codes}, common_code_key__in=keys
    ).select_related("feed")
    by_key = {(s.feed.workspace_id, s.common_code_key): s for s in stays}
    found = {}
    for code in codes:
        stay = by_key.get((code.workspace_id, code.common_code_key))
        if stay is not None:
            found[code.pk] = {
                "calendar_feed_id": str(stay.feed_id),
                "calendar_feed_name": stay.feed.name,
                "uid": stay.uid,
                "stay_id": str(stay.pk),
            }
    return found
