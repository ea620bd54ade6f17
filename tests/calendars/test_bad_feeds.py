"""A bad fetch never loses a stay: each leaves every code as it was and shows its error."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from calendars import fetch
from calendars.models import CalendarFeed
from calendars.services import feeds
from calendars.services.sync import FAILING_WARNING, feed_sync
from codes.models import AccessCode, AccessCodeIssue
from codes.pages import review_queue
from tests.calendars import feeds as ics
from tests.calendars.conftest import Answer, CalendarServer

pytestmark = pytest.mark.django_db


def full_calendar() -> bytes:
    return ics.airbnb(
        ics.airbnb_reservation("a1", date(2026, 12, 1), date(2026, 12, 4), code="HMABCD1234", phone4="4821"),
        ics.airbnb_reservation(
            "a2", date(2026, 12, 20), date(2026, 12, 27), code="HMZZZZ9876", phone4="7395"
        ),
    )


def snapshot():
    return sorted(
        AccessCode.objects.values_list("pk", "code", "name", "starts_at", "ends_at", "deleted_at", "version")
    )


@pytest.fixture
def synced(now, calendar_server, property_with_doors):
    prop, doors = property_with_doors
    url = calendar_server.serve("/a.ics", full_calendar())
    feed = feeds.feed_create(workspace=prop.workspace, name="Airbnb", url=url, devices=doors)
    assert len(feed_sync(feed=feed).created) == 2
    feed.refresh_from_db()
    return feed, snapshot()


def bad_fetch_leaves_everything(feed, before, *, says: str):
    for _ in range(3):  # more than the two misses that would cancel a booking
        report = feed_sync(feed=feed)
        assert not report.ok and says in report.error, report.error
    assert snapshot() == before
    feed.refresh_from_db()
    assert says in feed.last_error
    assert feed.failing_since is not None and feed.last_success_at is not None
    return report


def test_html_instead_of_a_calendar(synced, calendar_server):
    feed, before = synced
    calendar_server.serve("/a.ics", b"<!DOCTYPE html><html><body>Log in to Airbnb</body></html>")
    bad_fetch_leaves_everything(feed, before, says="not an iCalendar: it starts with '<!DOCTYPE html>")


def test_a_truncated_body(synced, calendar_server):
    feed, before = synced
    calendar_server.serve("/a.ics", full_calendar()[:300])
    bad_fetch_leaves_everything(feed, before, says="cut off")


def test_an_empty_calendar_after_a_full_one(synced, calendar_server):
    feed, before = synced
    calendar_server.serve("/a.ics", ics.airbnb())
    bad_fetch_leaves_everything(feed, before, says="no bookings, but it had upcoming ones")


def test_an_empty_calendar_the_manager_accepts_cancels_after_two_fetches(synced, calendar_server):
    feed, _ = synced
    calendar_server.serve("/a.ics", ics.airbnb())
    feed_sync(feed=feed, accept_empty=True)
    assert feed_sync(feed=feed, accept_empty=True).cancelled == ["a1@airbnb.com", "a2@airbnb.com"]
    assert not AccessCode.objects.live().exists()


def test_a_server_error(synced, calendar_server):
    feed, before = synced
    calendar_server.answer("/a.ics", Answer(status=500, body=b"oops"))
    bad_fetch_leaves_everything(feed, before, says="HTTP 500")


def test_a_missing_calendar(synced, calendar_server):
    feed, before = synced
    calendar_server.answer("/a.ics", Answer(status=404, body=b"gone"))
    bad_fetch_leaves_everything(feed, before, says="HTTP 404")


def test_a_50_mb_body_is_cut_off_at_the_cap(synced, calendar_server, settings):
    feed, before = synced
    calendar_server.answer("/a.ics", Answer(stream_bytes=50 * 1024 * 1024))
    bad_fetch_leaves_everything(feed, before, says=f"larger than {settings.CALENDAR_MAX_BYTES:,} bytes")


def test_a_declared_oversize_body_is_not_read(synced, calendar_server, settings):
    feed, before = synced
    settings.CALENDAR_MAX_BYTES = 100
    bad_fetch_leaves_everything(feed, before, says="at most 100 are read")


def test_a_server_that_does_not_answer_in_time(synced, calendar_server, settings):
    feed, before = synced
    settings.CALENDAR_TIMEOUT_SECONDS = 0.3
    calendar_server.answers["/a.ics"].delay = 1.0
    bad_fetch_leaves_everything(feed, before, says="did not answer within 0.3 seconds")


def test_a_host_that_does_not_resolve(synced, settings):
    feed, before = synced
    settings.OUTBOUND_ALLOW_PRIVATE_URLS = False
    CalendarFeed.objects.filter(pk=feed.pk).update(url="http://calendar.invalid/a.ics")
    feed.refresh_from_db()
    bad_fetch_leaves_everything(feed, before, says="cannot be resolved")


def test_a_redirect_to_a_private_address_is_not_followed(synced, calendar_server, settings, monkeypatch):
    feed, before = synced
    # The calendar server plays a public host (it must be on loopback to exist in a test); every
    # other address is judged by the real guard with private addresses refused.
    inner = CalendarServer()
    try:
        settings.OUTBOUND_ALLOW_PRIVATE_URLS = False
        real_guard = fetch.outbound_url_problem
        public = calendar_server.url

        def guard(url, **kwargs):
            return None if url.startswith(public + "/") else real_guard(url, **kwargs)

        monkeypatch.setattr(fetch, "outbound_url_problem", guard)
        inner.serve("/secrets", full_calendar())
        calendar_server.answer("/a.ics", Answer(status=302, headers={"Location": inner.url + "/secrets"}))
        bad_fetch_leaves_everything(
            feed, before, says=f"redirected to {inner.url}/secrets, which resolves to 127.0.0.1"
        )
        assert inner.hits("/secrets") == 0
    finally:
        inner.close()


def test_a_private_url_is_refused_when_the_feed_is_added(property_with_doors, settings):
    prop, doors = property_with_doors
    settings.OUTBOUND_ALLOW_PRIVATE_URLS = False
    with pytest.raises(Exception) as caught:
        feeds.feed_create(
            workspace=prop.workspace, name="Airbnb", url="http://169.254.169.254/latest", devices=doors
        )
    assert "169.254.169.254, a private, loopback or link-local address" in str(
        caught.value.message_dict["url"]
    )
    assert not CalendarFeed.objects.exists()


def test_a_feed_failing_past_the_threshold_flags_its_upcoming_codes_for_review(synced, calendar_server):
    feed, before = synced
    calendar_server.answer("/a.ics", Answer(status=503, body=b"busy"))
    start = datetime(2026, 11, 22, 12, tzinfo=UTC)
    feed_sync(feed=feed)
    with time_machine.travel(start + timedelta(hours=5, minutes=59), tick=False):
        feed_sync(feed=feed)
    assert not AccessCodeIssue.objects.filter(code=FAILING_WARNING).exists()
    with time_machine.travel(start + timedelta(hours=6), tick=False):
        feed_sync(feed=feed)
        flagged = list(review_queue(workspaces=[feed.workspace]))
    assert len(flagged) == 4
    issue = AccessCodeIssue.objects.filter(code=FAILING_WARNING, cleared_at__isnull=True).first()
    assert "has failed to fetch since 2026-11-22 12:00 UTC" in issue.message
    assert snapshot() == before

    # A good fetch clears the flag.
    calendar_server.serve("/a.ics", full_calendar())
    with time_machine.travel(start + timedelta(hours=7), tick=False):
        assert feed_sync(feed=feed).ok
    assert not AccessCodeIssue.objects.filter(code=FAILING_WARNING, cleared_at__isnull=True).exists()
    feed.refresh_from_db()
    assert feed.failing_since is None and feed.last_error == ""
