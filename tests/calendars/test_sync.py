"""Bookings become codes, through a real HTTP server and the real code services: fetch, parse,
create, move, cancel, restore, buffers, names and PINs, DST at the property's zone."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from calendars.models import Stay, StayStatus
from calendars.services import feeds
from calendars.services.sync import feed_sync
from codes.models import AccessCode
from codes.services import access_codes
from codes.shapes import access_code_wire
from tests.calendars import feeds as ics
from tests.devices.factories import DeviceFactory

pytestmark = pytest.mark.django_db

ARRIVAL = date(2026, 12, 1)


def live_codes(feed):
    keys = Stay.objects.filter(feed=feed).values_list("common_code_key", flat=True)
    return list(AccessCode.objects.live().filter(common_code_key__in=keys).select_related("device"))


def make_feed(prop, doors, url, **kwargs):
    return feeds.feed_create(
        workspace=prop.workspace, name=kwargs.pop("name", "Airbnb"), url=url, devices=doors, **kwargs
    )


def two_airbnb_bookings(first_end=date(2026, 12, 4)):
    return ics.airbnb(
        ics.airbnb_reservation("a1", ARRIVAL, first_end, code="HMABCD1234", phone4="4821"),
        ics.airbnb_block("b1", date(2026, 12, 10), date(2026, 12, 12)),
        ics.airbnb_reservation(
            "a2", date(2026, 12, 20), date(2026, 12, 27), code="HMZZZZ9876", phone4="7395"
        ),
    )


def test_an_airbnb_calendar_becomes_one_code_per_door_sharing_the_phone_digits(
    now, calendar_server, property_with_doors
):
    prop, doors = property_with_doors
    url = calendar_server.serve("/airbnb.ics", two_airbnb_bookings())
    feed = make_feed(prop, doors, url)

    report = feed_sync(feed=feed)

    assert report.ok and sorted(report.created) == ["a1@airbnb.com", "a2@airbnb.com"]
    assert report.ignored == 1  # the host's "Airbnb (Not available)" block
    codes = live_codes(feed)
    assert len(codes) == 4
    first = [c for c in codes if c.name == "Airbnb HMABCD1234"]
    assert {c.device_id for c in first} == {d.pk for d in doors}
    assert {c.code for c in first} == {"4821"}
    assert len({c.common_code_key for c in first}) == 1
    # Lisbon is on UTC in winter: 16:00 on arrival, 11:00 on departure.
    assert first[0].starts_at == datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    assert first[0].ends_at == datetime(2026, 12, 4, 11, 0, tzinfo=UTC)
    body = access_code_wire(first[0])
    assert body["latchkey_calendar_booking"] == {
        "calendar_feed_id": str(feed.pk),
        "calendar_feed_name": "Airbnb",
        "uid": "a1@airbnb.com",
        "stay_id": str(Stay.objects.get(uid="a1@airbnb.com").pk),
    }
    feed.refresh_from_db()
    assert feed.last_success_at is not None and feed.last_error == ""


def test_a_code_not_made_from_a_calendar_shows_no_booking(now, device):
    from codes.services.checks import AccessCodeRequest

    code = access_codes.access_code_create(
        device=device,
        request=AccessCodeRequest(
            name="Walk-in", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=2)
        ),
    )
    assert (
        access_code_wire(AccessCode.objects.select_related("device").get(pk=code.pk))[
            "latchkey_calendar_booking"
        ]
        is None
    )


def test_phone_digits_a_lock_refuses_give_a_generated_pin(now, calendar_server, property_with_doors):
    prop, doors = property_with_doors
    strict = DeviceFactory(
        workspace=prop.workspace, property=prop, supported_code_lengths=[6], pin_forbids_zeros=True
    )
    url = calendar_server.serve("/a.ics", two_airbnb_bookings())
    feed = make_feed(prop, [doors[0], strict], url)
    feed_sync(feed=feed)
    codes = live_codes(feed)
    assert len(codes) == 4
    assert all(len(c.code) == 6 and "0" not in c.code for c in codes)
    assert set(Stay.objects.values_list("pin_source", flat=True)) == {"generated"}


def test_vrbo_names_the_guest_and_blocks_are_not_stays(now, calendar_server, property_with_doors):
    prop, doors = property_with_doors
    url = calendar_server.serve(
        "/vrbo.ics",
        ics.vrbo(
            ics.Booking("HA-0001@homeaway.com", ARRIVAL, date(2026, 12, 5), summary="Reserved - Jane Doe"),
            ics.Booking("HA-0002@homeaway.com", date(2026, 12, 8), date(2026, 12, 9), summary="Blocked"),
        ),
    )
    feed = make_feed(prop, doors[:1], url, name="Vrbo")
    report = feed_sync(feed=feed)
    assert report.created == ["HA-0001@homeaway.com"] and report.ignored == 1
    assert [c.name for c in live_codes(feed)] == ["Jane Doe"]


def test_booking_com_bookings_count_only_when_the_feed_says_blocked_dates_are_stays(
    now, calendar_server, property_with_doors
):
    prop, doors = property_with_doors
    body = ics.booking_com(ics.Booking("bk-1@booking.com", ARRIVAL, date(2026, 12, 3)))
    url = calendar_server.serve("/booking.ics", body)
    feed = make_feed(prop, doors[:1], url, name="Booking.com")
    assert feed_sync(feed=feed).created == []
    feeds.feed_update(feed=feed, blocked_dates_are_stays=True)
    feed.refresh_from_db()
    assert feed_sync(feed=feed).created == ["bk-1@booking.com"]
    assert [c.name for c in live_codes(feed)] == ["Booking.com guest 01 Dec"]


def test_timed_events_with_a_tzid_keep_their_own_times(now, calendar_server, property_with_doors):
    prop, doors = property_with_doors
    url = calendar_server.serve(
        "/cm.ics",
        ics.channel_manager_with_tzid("cm-77", "20261201T150000", "20261205T100000", guest="Li Wei"),
    )
    feed = make_feed(prop, doors[:1], url, name="Hostfully")
    feed_sync(feed=feed)
    (code,) = live_codes(feed)
    assert code.name == "Li Wei"
    assert (code.starts_at, code.ends_at) == (
        datetime(2026, 12, 1, 20, 0, tzinfo=UTC),  # 15:00 in New York (EST, UTC-5)
        datetime(2026, 12, 5, 15, 0, tzinfo=UTC),
    )


def test_a_cancelled_event_is_not_a_stay(now, calendar_server, property_with_doors):
    prop, doors = property_with_doors
    url = calendar_server.serve(
        "/c.ics",
        ics.vrbo(
            ics.Booking(
                "x@homeaway.com", ARRIVAL, date(2026, 12, 3), summary="Reserved - Al", status="CANCELLED"
            )
        ),
    )
    feed = make_feed(prop, doors[:1], url)
    report = feed_sync(feed=feed)
    assert report.created == [] and report.ignored == 1 and live_codes(feed) == []


def test_buffers_widen_the_window(now, calendar_server, property_with_doors):
    prop, doors = property_with_doors
    url = calendar_server.serve("/a.ics", two_airbnb_bookings())
    feed = make_feed(prop, doors[:1], url, early_check_in_minutes=90, late_check_out_minutes=30)
    feed_sync(feed=feed)
    code = next(c for c in live_codes(feed) if c.name == "Airbnb HMABCD1234")
    assert (code.starts_at, code.ends_at) == (
        datetime(2026, 12, 1, 14, 30, tzinfo=UTC),
        datetime(2026, 12, 4, 11, 30, tzinfo=UTC),
    )


def test_a_stay_across_the_spring_dst_change_keeps_the_wall_clock_times(calendar_server, property_with_doors):
    # Lisbon moves from UTC+0 to UTC+1 on 28 March 2027.
    prop, doors = property_with_doors
    with time_machine.travel(datetime(2027, 3, 20, 12, tzinfo=UTC), tick=False):
        url = calendar_server.serve(
            "/dst.ics",
            ics.airbnb(
                ics.airbnb_reservation(
                    "d1", date(2027, 3, 26), date(2027, 3, 30), code="HMDST00001", phone4="5829"
                )
            ),
        )
        feed = make_feed(prop, doors[:1], url)
        feed_sync(feed=feed)
    (code,) = live_codes(feed)
    assert code.starts_at == datetime(2027, 3, 26, 16, 0, tzinfo=UTC)  # 16:00 WET
    assert code.ends_at == datetime(2027, 3, 30, 10, 0, tzinfo=UTC)  # 11:00 WEST


def test_a_moved_booking_moves_its_codes_and_makes_no_new_one(now, calendar_server, property_with_doors):
    prop, doors = property_with_doors
    url = calendar_server.serve("/a.ics", two_airbnb_bookings())
    feed = make_feed(prop, doors, url)
    feed_sync(feed=feed)
    before = {c.pk: c for c in live_codes(feed) if c.name == "Airbnb HMABCD1234"}

    calendar_server.serve("/a.ics", two_airbnb_bookings(first_end=date(2026, 12, 6)))
    report = feed_sync(feed=feed)

    assert report.moved == ["a1@airbnb.com"] and report.created == []
    after = {c.pk: c for c in live_codes(feed) if c.name == "Airbnb HMABCD1234"}
    assert set(after) == set(before)
    assert all(c.ends_at == datetime(2026, 12, 6, 11, tzinfo=UTC) for c in after.values())
    assert all(c.version == before[c.pk].version + 1 for c in after.values())
    assert AccessCode.objects.count() == 4


def test_a_booking_gone_is_cancelled_only_after_two_good_fetches_and_can_come_back(
    now, calendar_server, property_with_doors
):
    prop, doors = property_with_doors
    url = calendar_server.serve("/a.ics", two_airbnb_bookings())
    feed = make_feed(prop, doors, url)
    feed_sync(feed=feed)
    only_second = ics.airbnb(
        ics.airbnb_reservation("a2", date(2026, 12, 20), date(2026, 12, 27), code="HMZZZZ9876", phone4="7395")
    )
    calendar_server.serve("/a.ics", only_second)

    first = feed_sync(feed=feed)
    assert first.missing == ["a1@airbnb.com"] and first.cancelled == []
    assert len(live_codes(feed)) == 4

    second = feed_sync(feed=feed)
    assert second.cancelled == ["a1@airbnb.com"]
    assert sorted(c.name for c in live_codes(feed)) == ["Airbnb HMZZZZ9876"] * 2
    assert Stay.objects.get(uid="a1@airbnb.com").status == StayStatus.CANCELLED

    calendar_server.serve("/a.ics", two_airbnb_bookings())
    third = feed_sync(feed=feed)
    assert third.restored == ["a1@airbnb.com"]
    assert len(live_codes(feed)) == 4


def test_a_booking_missing_once_then_back_is_kept(now, calendar_server, property_with_doors):
    prop, doors = property_with_doors
    url = calendar_server.serve("/a.ics", two_airbnb_bookings())
    feed = make_feed(prop, doors[:1], url)
    feed_sync(feed=feed)
    codes_before = {c.pk for c in live_codes(feed)}
    calendar_server.serve(
        "/a.ics",
        ics.airbnb(
            ics.airbnb_reservation(
                "a2", date(2026, 12, 20), date(2026, 12, 27), code="HMZZZZ9876", phone4="7395"
            )
        ),
    )
    feed_sync(feed=feed)
    calendar_server.serve("/a.ics", two_airbnb_bookings())
    feed_sync(feed=feed)
    calendar_server.serve(
        "/a.ics",
        ics.airbnb(
            ics.airbnb_reservation(
                "a2", date(2026, 12, 20), date(2026, 12, 27), code="HMZZZZ9876", phone4="7395"
            )
        ),
    )
    feed_sync(feed=feed)  # missing once more: the count started again
    assert {c.pk for c in live_codes(feed)} == codes_before


def test_a_started_stay_is_never_cancelled_and_only_a_new_check_out_shortens_it(
    calendar_server, property_with_doors
):
    prop, doors = property_with_doors
    with time_machine.travel(datetime(2026, 11, 22, 12, tzinfo=UTC), tick=False):
        url = calendar_server.serve("/a.ics", two_airbnb_bookings())
        feed = make_feed(prop, doors[:1], url)
        feed_sync(feed=feed)
    calendar_server.serve("/a.ics", ics.airbnb())  # gone, while the guest is inside
    with time_machine.travel(datetime(2026, 12, 2, 12, tzinfo=UTC), tick=False):
        for _ in range(3):
            report = feed_sync(feed=feed)
        # an empty calendar with an upcoming booking (a2) is refused as a bad fetch
        assert report.error
        calendar_server.serve(
            "/a.ics",
            ics.airbnb(
                ics.airbnb_reservation(
                    "a2", date(2026, 12, 20), date(2026, 12, 27), code="HMZZZZ9876", phone4="7395"
                )
            ),
        )
        for _ in range(3):
            report = feed_sync(feed=feed)
        assert report.kept_started == ["a1@airbnb.com"]
        inside = next(c for c in live_codes(feed) if c.name == "Airbnb HMABCD1234")
        assert inside.ends_at == datetime(2026, 12, 4, 11, tzinfo=UTC)
        # The guest leaves a day early: a real new check-out shortens the stay.
        calendar_server.serve("/a.ics", two_airbnb_bookings(first_end=date(2026, 12, 3)))
        report = feed_sync(feed=feed)
        assert report.moved == ["a1@airbnb.com"]
        inside.refresh_from_db()
        assert (inside.starts_at, inside.ends_at) == (
            datetime(2026, 12, 1, 16, tzinfo=UTC),
            datetime(2026, 12, 3, 11, tzinfo=UTC),
        )


def test_a_pin_or_name_changed_by_hand_is_kept_and_pinned_dates_stay(
    now, calendar_server, property_with_doors
):
    prop, doors = property_with_doors
    url = calendar_server.serve("/a.ics", two_airbnb_bookings())
    feed = make_feed(prop, doors[:1], url)
    feed_sync(feed=feed)
    code = next(c for c in live_codes(feed) if c.name == "Airbnb HMABCD1234")
    access_codes.access_code_update(access_code=code, code="9137", name="Ana (VIP)")
    stay = Stay.objects.get(uid="a1@airbnb.com")
    feeds.stay_pin_dates(stay=stay, pinned=True)

    calendar_server.serve("/a.ics", two_airbnb_bookings(first_end=date(2026, 12, 6)))
    feed_sync(feed=feed)
    code.refresh_from_db()
    assert (code.code, code.name, code.ends_at) == (
        "9137",
        "Ana (VIP)",
        datetime(2026, 12, 4, 11, tzinfo=UTC),
    )

    feeds.stay_pin_dates(stay=stay, pinned=False)
    feed_sync(feed=feed)
    code.refresh_from_db()
    assert (code.code, code.name, code.ends_at) == (
        "9137",
        "Ana (VIP)",
        datetime(2026, 12, 6, 11, tzinfo=UTC),
    )


def test_codes_deleted_by_hand_are_not_brought_back(now, calendar_server, property_with_doors):
    prop, doors = property_with_doors
    url = calendar_server.serve("/a.ics", two_airbnb_bookings())
    feed = make_feed(prop, doors[:1], url)
    feed_sync(feed=feed)
    code = next(c for c in live_codes(feed) if c.name == "Airbnb HMABCD1234")
    access_codes.access_code_delete(access_code=code)
    feed_sync(feed=feed)
    assert Stay.objects.get(uid="a1@airbnb.com").status == StayStatus.REMOVED_BY_HAND
    assert [c.name for c in live_codes(feed)] == ["Airbnb HMZZZZ9876"]


def test_an_unchanged_calendar_is_asked_for_with_its_etag_and_changes_nothing(
    now, calendar_server, property_with_doors
):
    prop, doors = property_with_doors
    url = calendar_server.serve("/a.ics", two_airbnb_bookings())
    calendar_server.answers["/a.ics"].headers["ETag"] = '"v1"'
    feed = make_feed(prop, doors[:1], url)
    feed_sync(feed=feed)
    feed.refresh_from_db()
    assert feed.etag == '"v1"'
    report = feed_sync(feed=feed)
    assert report.not_modified and report.ok
    assert calendar_server.requests[-1][1].get("If-None-Match") == '"v1"'
    assert len(live_codes(feed)) == 2
