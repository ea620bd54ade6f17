"""django-q2 tasks: thin. The scheduled one only claims due feeds and enqueues a fetch task for
each, so fetches run beside the sweep, never inside it."""

from django.utils import timezone
from django_q.tasks import async_task

from calendars.models import CalendarFeed
from calendars.services import sync


def fetch_due_feeds() -> int:
    now = timezone.now()
    enqueued = 0
    for feed_id, seen in sync.feeds_due(now=now):
        if sync.feed_claim(feed_id=feed_id, seen_next_fetch_at=seen, now=now):
            async_task("calendars.tasks.fetch_feed", str(feed_id))
            enqueued += 1
    return enqueued


def fetch_feed(calendar_feed_id: str) -> dict:
    feed = CalendarFeed.objects.filter(pk=calendar_feed_id).first()
    if feed is None:
        return {"calendar_feed_id": calendar_feed_id, "error": "the feed was deleted."}
    return sync.feed_sync(feed=feed).wire()
