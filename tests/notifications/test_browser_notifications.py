"""Issue 15's story in a real browser (Debian's chromium through Playwright): a property manager
sets up a chat channel and a rule in the browser (timed: under two minutes), creates a stay
with the guest's email on the new-code page; a lock failure three days before the arrival
reaches the channel (a loopback HTTP receiver) and her email (a loopback SMTP server) as one
message with the remedy and a link; the morning digest comes at 08:00 in the property's zone; the
guest gets their PIN a day before arrival; the manager sends it again from the code's page and
sees how it went."""

import re
import time
from datetime import datetime, timedelta
from datetime import time as wall_time

import pytest
import time_machine
from django.utils import timezone

from codes import scheduler
from codes.models import AccessCode, StaffAction
from codes.services import reports
from notifications.models import Notification, NotificationChannel, NotificationRule
from notifications.services import alerts, digest, guests
from tests.test_browser import (  # noqa: F401 (fixture)
    DESKTOP,
    PASSWORD,
    assert_no_csp_violations,
    browser,
    check_page,
    make_harbour,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def harbour(db):
    prop, (door,) = make_harbour(["sandbox-keypad-deadbolt"], email="maria@example.com")
    return prop, door


def test_a_manager_sets_up_a_channel_and_a_rule_and_a_lock_failure_reaches_it(
    browser,  # noqa: F811 (the fixture imported above)
    live_server,
    harbour,
    receiver,
    smtp,
):
    prop, door = harbour
    page = browser.new_page(viewport=DESKTOP)
    page.set_default_timeout(10_000)
    base = live_server.url
    page.goto(f"{base}/admin/")
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Dashboard").first.wait_for()

    # Setting up: a chat channel (any Apprise URL; here Apprise's JSON webhook to the loopback
    # receiver) and a rule sending it every kind, as the form offers them.
    started = time.monotonic()
    page.get_by_role("link", name="Notification channels").click()
    page.get_by_role("link", name=re.compile("Add notification channel")).click()
    page.get_by_label("Workspace").select_option(label="Harbour Rentals")
    page.get_by_label("Name").fill("Team chat")
    page.get_by_label("Apprise URL").fill(receiver.url)
    check_page(page, "n01-channel-add")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("was added successfully").wait_for()
    page.get_by_role("link", name="Home").first.click()
    page.get_by_role("link", name="Notification rules").click()
    page.get_by_role("link", name=re.compile("Add notification rule")).click()
    page.get_by_label("Workspace").select_option(label="Harbour Rentals")
    page.get_by_label(re.compile(r"^Name:?$")).fill("Harbour alerts")
    page.get_by_label("Team chat (JSON)").check()
    page.get_by_label("maria", exact=True).check()  # and herself, by email
    for kind in page.locator('input[name="kinds"]').all():
        assert kind.is_checked()  # a new rule starts with every kind
    check_page(page, "n02-rule-add")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("was added successfully").wait_for()
    set_up_seconds = time.monotonic() - started
    print(f"channel and rule set up in the browser in {set_up_seconds:.1f} s")
    assert set_up_seconds < 120, f"setting up took {set_up_seconds:.0f} s"
    rule = NotificationRule.objects.get()
    assert list(rule.channels.all()) == list(NotificationChannel.objects.all())

    # A stay three days ahead, with the guest's email, from the new-code page.
    page.get_by_role("navigation", name="Latchkey").get_by_role("link", name="New code").click()
    arrival = timezone.now().astimezone(prop.zone).date() + timedelta(days=3)
    page.get_by_label("Guest or code name").fill("Ana Souza")
    page.get_by_label("Arrival date").fill(arrival.isoformat())
    page.get_by_label("Departure date").fill((arrival + timedelta(days=2)).isoformat())
    page.get_by_label("Guest's email").fill("ana@example.com")
    check_page(page, "n03-new-code-with-guest")
    page.get_by_role("button", name="Create the code").click()
    page.get_by_text("Created “Ana Souza” on").wait_for()
    code = AccessCode.objects.get()
    assert code.guest_contact.email == "ana@example.com"
    scheduler.sweep(now=timezone.now())  # the deadbolt takes the code with its window

    # The lock fails (as its provider would report it) three days before the arrival: the
    # alerts sweep tells the channel once, with the remedy and a link to act on it.
    reports.device_connection_record(device=door, online=False, now=timezone.now())
    alerts.alerts_sweep(now=timezone.now())
    alerts.alerts_sweep(now=timezone.now() + timedelta(minutes=1))  # the same cause: not again
    [message] = receiver.received
    assert door.display_name in message["title"]
    assert "Ana Souza, arrives" in message["message"] and "What to do:" in message["message"]
    assert f"/admin/devices/device/{door.pk}/change/" in message["message"]
    code.refresh_from_db()
    assert code.code not in message["message"] + message["title"]
    [mail] = smtp.messages
    assert mail["to"] == ["maria@example.com"] and mail["subject"] == message["title"]

    # The morning digest at 08:00 in Lisbon, not a minute before.
    tomorrow = timezone.now().astimezone(prop.zone).date() + timedelta(days=1)
    eight = datetime.combine(tomorrow, wall_time(8), tzinfo=prop.zone)
    with time_machine.travel(eight - timedelta(minutes=1), tick=False):
        assert digest.digests_send_due(now=timezone.now()) == 0
    with time_machine.travel(eight, tick=False):
        assert digest.digests_send_due(now=timezone.now()) == 2  # the channel and maria
    morning = receiver.received[-1]
    assert morning["title"].startswith("Harbour View:") and "Ana Souza" in morning["message"]
    assert code.code not in morning["message"]

    # The guest gets their PIN a day before arrival, not before.
    arrival_at = code.starts_at
    with time_machine.travel(arrival_at - timedelta(hours=24, minutes=5), tick=False):
        assert guests.guest_messages_sweep(now=timezone.now()) == 0
    with time_machine.travel(arrival_at - timedelta(hours=24), tick=False):
        assert guests.guest_messages_sweep(now=timezone.now()) == 1
    to_guest = smtp.messages[-1]
    assert to_guest["to"] == ["ana@example.com"] and f"is {code.code}." in to_guest["body"]

    # The alert is in the outbox, sent, with its attempt.
    page.goto(f"{base}/admin/notifications/notification/")
    page.get_by_role("link", name=re.compile(door.display_name)).first.wait_for()
    check_page(page, "n04-outbox")

    # The guest's code, sent again from the code's page: recorded, and its outcome shown.
    page.goto(f"{base}/admin/codes/accesscode/{code.pk}/change/")
    guest = page.get_by_role("region", name="The guest and their code")
    guest.get_by_text(re.compile("Last message to ana@example.com: Sent")).wait_for()
    guest.get_by_role("button", name="Send the code now").click()
    page.get_by_text("Queued the code for ana@example.com").wait_for()
    page.reload()
    guest = page.get_by_role("region", name="The guest and their code")
    guest.get_by_text(re.compile("Last message to ana@example.com: Sent")).wait_for()
    check_page(page, "n05-code-guest-sent")
    assert code.code in smtp.messages[-1]["body"] and smtp.messages[-1]["to"] == ["ana@example.com"]
    assert code.code not in page.locator("#lk-guest").inner_text()
    assert StaffAction.objects.get(access_code=code).kind == "guest_code_sent"
    assert "Code sent to the guest" in page.locator(".field-history").inner_text()
    assert Notification.objects.filter(email_to="ana@example.com", status="sent").count() == 2
    assert [m["to"] for m in smtp.messages].count(["ana@example.com"]) == 2
    assert_no_csp_violations(page)
    page.close()
