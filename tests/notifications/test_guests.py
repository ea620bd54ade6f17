"""The guest's code to the guest, through a real SMTP server, under a controlled clock."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from codes.models import AccessCodeStatus, StaffAction
from notifications.models import GuestContact, Notification, NotificationStatus
from notifications.services import guests
from tests.codes.factories import AccessCodeFactory
from tests.notifications.conftest import run_on_commit


def run(at):
    with time_machine.travel(at, tick=False):
        return run_on_commit(guests.guest_messages_sweep, now=at)


@pytest.fixture
def stay(lock, now):
    lock.property.address = "Rua Azul 12, Lisboa"
    lock.property.save()
    code = AccessCodeFactory(
        device=lock,
        time_bound=True,
        name="Ana Silva",
        code="482915",
        status=AccessCodeStatus.SET,
        starts_at=now + timedelta(days=3),
        ends_at=now + timedelta(days=6),
    )
    guests.guest_contact_set(access_code=code, email="ana@example.com")
    return code


def test_the_guest_gets_the_code_a_day_before_arrival_once(stay, smtp, now):
    arrival = stay.starts_at
    assert run(arrival - timedelta(hours=24, minutes=1)) == 0
    assert run(arrival - timedelta(hours=24)) == 1
    [mail] = smtp.messages
    assert mail["to"] == ["ana@example.com"]
    assert mail["subject"] == "Your door code for Casa Azul"
    assert "Your code for Casa Azul (Rua Azul 12, Lisboa) is 482915." in mail["body"]
    assert "It opens: Front door." in mail["body"]
    assert "Wed 25 Nov 12:00 WET" in mail["body"]  # valid from, in the property's time
    assert run(arrival - timedelta(hours=20)) == 0
    assert len(smtp.messages) == 1
    stored = Notification.objects.get()
    assert "482915" not in stored.body and stored.status == NotificationStatus.SENT


def test_not_sent_until_the_code_is_ready(stay, smtp):
    stay.status = AccessCodeStatus.UNSET
    stay.save()
    assert run(stay.starts_at - timedelta(hours=12)) == 0
    stay.is_scheduled_on_device = True  # loaded with its schedule: ready
    stay.save()
    assert run(stay.starts_at - timedelta(hours=11)) == 1
    assert "482915" in smtp.messages[0]["body"]


def test_a_changed_pin_is_sent_at_once_and_a_pulled_backup_too(stay, smtp, lock):
    run(stay.starts_at - timedelta(hours=23))
    stay.code = "731946"
    stay.save()
    assert run(stay.starts_at - timedelta(hours=22)) == 1
    assert "is 731946." in smtp.messages[-1]["body"]
    backup = AccessCodeFactory(device=lock, code="615284", status=AccessCodeStatus.SET, is_backup=True)
    stay.pulled_backup_access_code = backup
    stay.save()
    assert run(stay.starts_at - timedelta(hours=21)) == 1
    assert "is 615284." in smtp.messages[-1]["body"]
    assert len(smtp.messages) == 3


def test_a_cancelled_stay_gets_nothing_more(stay, smtp):
    at = stay.starts_at - timedelta(hours=23)
    with time_machine.travel(at, tick=False):
        guests.guest_messages_sweep(now=at)  # queued; the worker has not sent it yet
    stay.deleted_at = at
    stay.save()
    from notifications.services import outbox

    assert outbox.notifications_send_due(now=at) == 1
    assert Notification.objects.get().status == NotificationStatus.CANCELLED
    assert run(stay.starts_at - timedelta(hours=1)) == 0
    assert smtp.messages == []


def test_send_now_is_a_staff_action_and_sends_before_the_lead_time(stay, smtp, manager, now):
    [notification] = run_on_commit(guests.guest_code_send_now, access_code=stay, actor=manager, now=now)
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT and notification.requested_by == manager
    assert "482915" in smtp.messages[0]["body"]
    action = StaffAction.objects.get(access_code=stay)
    assert action.kind == "guest_code_sent" and action.get_kind_display() == "Code sent to the guest"
    assert action.actor == manager and "ana@example.com" in action.note and "482915" not in action.note
    assert guests.last_guest_message(stay) == notification


def test_a_guest_email_that_is_not_an_email_is_refused_and_nothing_saved(lock):
    code = AccessCodeFactory(device=lock, time_bound=True)
    with pytest.raises(ValidationError) as caught:
        guests.guest_contact_set(access_code=code, email="ana at example", phone="call me")
    assert set(caught.value.message_dict) == {"guest_email", "guest_phone"}
    assert not GuestContact.objects.exists()


def test_a_template_with_an_unknown_placeholder_is_refused_naming_the_field(lock):
    with pytest.raises(ValidationError) as caught:
        guests.template_save(property=lock.property, body="Hi {guest_name}, your code is {door_code}.")
    assert "{door_code} is not a placeholder" in caught.value.message_dict["body"][0]
    assert not hasattr(lock.property, "guest_message_template")


def test_a_property_template_and_lead_time_are_used(stay, smtp, lock):
    guests.template_save(
        property=lock.property,
        subject="Welcome to {property_name}",
        body="PIN {pin} for {doors}. {check_in_instructions}",
        check_in_instructions="Keys are in the box.",
        lead_hours=48,
    )
    assert run(stay.starts_at - timedelta(hours=47)) == 1
    assert smtp.messages[0]["subject"] == "Welcome to Casa Azul"
    assert smtp.messages[0]["body"].strip() == "PIN 482915 for Front door. Keys are in the box."


def test_a_stay_sharing_a_common_code_key_is_one_message_naming_its_doors(lock, smtp, now):
    from tests.devices.factories import DeviceFactory

    side = DeviceFactory(
        workspace=lock.workspace,
        property=lock.property,
        connected_account=lock.connected_account,
        display_name="Side gate",
    )
    codes = [
        AccessCodeFactory(
            device=d,
            time_bound=True,
            name="Ana",
            code="482915",
            common_code_key="booking-7",
            status=AccessCodeStatus.SET,
            starts_at=now + timedelta(hours=10),
            ends_at=now + timedelta(days=2),
        )
        for d in (lock, side)
    ]
    guests.guest_contact_set(access_code=codes[0], email="ana@example.com")
    assert GuestContact.objects.count() == 2
    assert run(now) == 1
    assert "It opens: Front door, Side gate." in smtp.messages[0]["body"]
