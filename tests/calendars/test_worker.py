"""The worker: a schedule of its own that claims due feeds and enqueues one fetch task each
(django-q2 in sync mode here), and two workers never create a booking twice (PostgreSQL)."""

import io
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, connections
from django_q.models import Schedule

from calendars import tasks
from calendars.models import CalendarFeed, Stay
from calendars.services import feeds
from calendars.services.sync import feed_claim, feed_sync
from codes.models import AccessCode
from tests.calendars import feeds as ics


def calendar() -> bytes:
    return ics.airbnb(
        ics.airbnb_reservation("a1", date(2026, 12, 1), date(2026, 12, 4), code="HMABCD1234", phone4="4821"),
        ics.airbnb_reservation(
            "a2", date(2026, 12, 20), date(2026, 12, 27), code="HMZZZZ9876", phone4="7395"
        ),
    )


@pytest.mark.django_db
def test_setup_schedules_registers_the_calendar_fetch_apart_from_the_sweep():
    call_command("setup_schedules", stdout=io.StringIO())
    fetch = Schedule.objects.get(name="latchkey: fetch due booking calendars")
    assert (fetch.func, fetch.minutes) == ("calendars.tasks.fetch_due_feeds", 1)
    assert Schedule.objects.filter(func="codes.tasks.sweep_due_codes").exists()


@pytest.mark.django_db
def test_due_feeds_are_fetched_once_per_interval(now, calendar_server, property_with_doors, settings):
    prop, doors = property_with_doors
    url = calendar_server.serve("/a.ics", calendar())
    feed = feeds.feed_create(workspace=prop.workspace, name="Airbnb", url=url, devices=doors)
    assert tasks.fetch_due_feeds() == 1
    assert calendar_server.hits("/a.ics") == 1
    assert AccessCode.objects.live().count() == 4
    assert tasks.fetch_due_feeds() == 0  # not due again for CALENDAR_FETCH_MINUTES
    with time_machine.travel(now + timedelta(minutes=settings.CALENDAR_FETCH_MINUTES), tick=False):
        assert tasks.fetch_due_feeds() == 1
    assert calendar_server.hits("/a.ics") == 2
    feed.refresh_from_db()
    assert feed.next_fetch_at == now + timedelta(minutes=2 * settings.CALENDAR_FETCH_MINUTES)


@pytest.mark.django_db
def test_two_schedulers_seeing_a_feed_due_claim_it_once(now, calendar_server, property_with_doors):
    prop, doors = property_with_doors
    feed = feeds.feed_create(
        workspace=prop.workspace, name="Airbnb", url=calendar_server.url + "/x", devices=doors
    )
    seen = feed.next_fetch_at
    assert feed_claim(feed_id=feed.pk, seen_next_fetch_at=seen, now=now) is True
    assert feed_claim(feed_id=feed.pk, seen_next_fetch_at=seen, now=now) is False


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks between two connections: PostgreSQL")
def test_two_workers_syncing_one_feed_at_once_create_each_booking_once(calendar_server, property_with_doors):
    prop, doors = property_with_doors
    url = calendar_server.serve("/a.ics", calendar())
    # Both fetches wait at the server until both have asked, so they really overlap.
    barrier = threading.Barrier(2, timeout=10)
    calendar_server.answers["/a.ics"].delay = 0.0
    original = calendar_server.server.RequestHandlerClass.do_GET

    def gated(handler):
        barrier.wait()
        original(handler)

    calendar_server.server.RequestHandlerClass.do_GET = gated
    feed = feeds.feed_create(workspace=prop.workspace, name="Airbnb", url=url, devices=doors)
    reports, errors = [], []

    def worker():
        try:
            reports.append(feed_sync(feed=CalendarFeed.objects.get(pk=feed.pk)))
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)
        finally:
            connections.close_all()

    with time_machine.travel(datetime(2026, 11, 22, 12, tzinfo=UTC), tick=True):
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert errors == []
    assert sorted(len(r.created) for r in reports) == [0, 2]
    assert sum(r.skipped for r in reports) == 1  # the later one: its fetch overlapped the first
    assert Stay.objects.count() == 2
    assert AccessCode.objects.live().count() == 4
    assert calendar_server.hits("/a.ics") == 2
