"""The issue's "done when", in a real browser: a manager pastes an Airbnb calendar URL into a
property's feed page, previews, saves, and within one fetch every upcoming booking has a code on
the property's doors; it moves when the booking moves and goes when it is cancelled; a broken
feed shows its error and changes nothing."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from calendars.models import Stay
from codes.models import AccessCode
from tests.calendars import feeds as ics
from tests.calendars.conftest import Answer
from tests.test_browser import (  # noqa: F401 (fixture)
    DESKTOP,
    PASSWORD,
    assert_no_csp_violations,
    browser,
    check_page,
    harbour,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_adds_an_airbnb_calendar_and_its_bookings_become_codes(
    browser,  # noqa: F811 (the fixture imported above)
    live_server,
    harbour,  # noqa: F811 (the fixture imported above)
    calendar_server,
):
    prop, doors = harbour
    today = timezone.now().astimezone(prop.zone).date()
    arrive, leave = today + timedelta(days=5), today + timedelta(days=8)
    later = today + timedelta(days=20)

    def feed(first_leave=leave, with_first=True):
        bookings = []
        if with_first:
            bookings.append(
                ics.airbnb_reservation("a1", arrive, first_leave, code="HMABCD1234", phone4="4821")
            )
        bookings.append(ics.airbnb_block("blk", today + timedelta(days=12), today + timedelta(days=14)))
        bookings.append(
            ics.airbnb_reservation("a2", later, later + timedelta(days=4), code="HMZZZZ9876", phone4="7395")
        )
        return ics.airbnb(*bookings)

    url = calendar_server.serve("/listing-1234.ics", feed())
    page = browser.new_page(viewport=DESKTOP)
    page.set_default_timeout(10_000)
    base = live_server.url
    page.goto(f"{base}/admin/")
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("navigation", name="Latchkey").get_by_role("link", name="Booking calendars").click()
    page.get_by_text("No booking calendar for Harbour View yet.").wait_for()
    page.get_by_label("Calendar URL (iCal export)").fill(url)
    assert page.get_by_label("Front door deadbolt").is_checked()
    page.get_by_role("button", name="Preview the stays").click()
    page.get_by_text("Preview: 2 upcoming stays, 1 event ignored").wait_for()
    assert (
        page.get_by_role("row", name=re.compile("Airbnb HMABCD1234"))
        .get_by_text("last 4 digits of the phone")
        .is_visible()
    )
    assert not AccessCode.objects.exists()  # a preview writes nothing
    check_page(page, "calendars-01-preview")

    page.get_by_role("button", name="Save and fetch").click()
    page.get_by_text("Saved “Airbnb”. Fetched “Airbnb”: 2 new.").wait_for()
    codes = list(AccessCode.objects.live())
    assert len(codes) == 4 and {c.device_id for c in codes} == {d.pk for d in doors}
    row = page.get_by_role("row", name=re.compile("Airbnb HMABCD1234"))
    row.get_by_role("link", name="Front door deadbolt").wait_for()
    check_page(page, "calendars-02-saved")

    # The booking moves: one more night.
    calendar_server.serve("/listing-1234.ics", feed(first_leave=leave + timedelta(days=1)))
    page.get_by_role("button", name="Fetch Airbnb now").click()
    page.get_by_text("Fetched “Airbnb”: 1 moved, 1 unchanged.").wait_for()
    moved = AccessCode.objects.live().filter(name="Airbnb HMABCD1234")
    assert {c.ends_at.astimezone(prop.zone).date() for c in moved} == {leave + timedelta(days=1)}
    assert AccessCode.objects.count() == 4

    # A broken feed: the error shows, nothing changes.
    before = sorted(AccessCode.objects.values_list("pk", "starts_at", "ends_at", "deleted_at"))
    calendar_server.answer("/listing-1234.ics", Answer(status=500, body=b"down"))
    page.get_by_role("button", name="Fetch Airbnb now").click()
    page.get_by_role("alert").filter(has_text="HTTP 500").first.wait_for()
    assert "No code was changed." in page.locator("[role=alert].lk-field-error").inner_text()
    assert sorted(AccessCode.objects.values_list("pk", "starts_at", "ends_at", "deleted_at")) == before
    check_page(page, "calendars-03-failing")

    # The booking is cancelled: gone from two good fetches, its codes go.
    calendar_server.serve("/listing-1234.ics", feed(with_first=False))
    page.get_by_role("button", name="Fetch Airbnb now").click()
    page.get_by_text("missing from the last fetch").wait_for()
    page.get_by_role("button", name="Fetch Airbnb now").click()
    page.get_by_text("Fetched “Airbnb”: 1 cancelled, 1 unchanged.").wait_for()
    page.get_by_role("row", name=re.compile("Airbnb HMABCD1234")).get_by_text("Cancelled").wait_for()
    assert not AccessCode.objects.live().filter(name="Airbnb HMABCD1234").exists()
    assert Stay.objects.count() == 2
    check_page(page, "calendars-04-cancelled")
    assert_no_csp_violations(page)
    page.close()
