"""The guest's code by SMS: through an Apprise SMS gateway URL (smseagle://) to a real loopback
gateway, the guest's phone added as the recipient."""

import logging
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from codes.models import AccessCodeStatus
from notifications.models import Notification, NotificationChannel, NotificationStatus
from notifications.services import channels, guests
from tests.codes.factories import AccessCodeFactory
from tests.notifications.test_guests import run


@pytest.fixture
def stay(lock, now):
    code = AccessCodeFactory(
        device=lock,
        time_bound=True,
        name="Ana Silva",
        code="482915",
        status=AccessCodeStatus.SET,
        starts_at=now + timedelta(days=3),
        ends_at=now + timedelta(days=6),
    )
    guests.guest_contact_set(access_code=code, email="", phone="+351 912 345 678")
    return code


def test_a_guest_with_a_phone_gets_the_code_by_sms_a_day_before(stay, lock, sms_gateway, receiver):
    channels.channel_create(workspace=lock.workspace, url=sms_gateway.url, name="SMS", for_guest_sms=True)
    staff = channels.channel_create(workspace=lock.workspace, url=receiver.url, name="Chat")
    channels.rule_create(workspace=lock.workspace, name="Staff", channels=[staff])
    assert run(stay.starts_at - timedelta(hours=25)) == 0
    assert run(stay.starts_at - timedelta(hours=24)) == 1
    [sms] = sms_gateway.received
    assert sms["to"] == "+351912345678"
    assert "482915" in sms["message"] and "Casa Azul" in sms["message"]
    stored = Notification.objects.get()
    assert stored.status == NotificationStatus.SENT and stored.phone_to == "+351 912 345 678"
    assert "482915" not in stored.body  # the outbox keeps the PIN masked
    assert receiver.received == []  # staff channels never get a guest's PIN
    assert run(stay.starts_at - timedelta(hours=20)) == 0 and len(sms_gateway.received) == 1


def test_email_and_sms_both_go_and_a_refusing_gateway_shows_why(stay, lock, sms_gateway, smtp, now):
    guests.guest_contact_set(access_code=stay, email="ana@example.com", phone="+351912345678")
    channel = channels.channel_create(
        workspace=lock.workspace, url=sms_gateway.url.replace("gateway-token-1", "wrong"), for_guest_sms=True
    )
    assert run(stay.starts_at - timedelta(hours=24)) == 2
    assert len(smtp.messages) == 1 and sms_gateway.received == []
    failed = Notification.objects.get(channel=channel)
    assert failed.status == NotificationStatus.PENDING and failed.attempt_count == 1
    shown = guests.outcome(failed, zone=lock.property.zone, now=now)
    assert shown.startswith("Attempt 1 failed:") and "Next try" in shown
    assert "Invalid login or password" in shown  # the gateway's own reason, as it gave it


def test_without_a_guest_sms_channel_a_phone_alone_gets_nothing_and_send_now_says_why(stay, manager, now):
    assert run(stay.starts_at - timedelta(hours=24)) == 0
    with pytest.raises(ValidationError) as caught:
        guests.guest_code_send_now(access_code=stay, actor=manager, now=now)
    assert "No channel sends guests' codes by SMS" in caught.value.message_dict["guest_phone"][0]


def test_a_channel_that_cannot_take_a_phone_or_names_a_recipient_is_refused(lock, receiver):
    with pytest.raises(ValidationError) as caught:
        channels.channel_create(workspace=lock.workspace, url=receiver.url, for_guest_sms=True)
    assert "cannot take a guest's phone" in caught.value.message_dict["for_guest_sms"][0]
    with pytest.raises(ValidationError) as caught:
        channels.channel_create(
            workspace=lock.workspace, url="smseagle://t0ken@127.0.0.1:9/+15551112222", for_guest_sms=True
        )
    assert "names a recipient already" in caught.value.message_dict["for_guest_sms"][0]
    assert not NotificationChannel.objects.exists()


def test_staff_alerts_never_go_to_the_guest_sms_channel(lock, sms_gateway):
    sms = channels.channel_create(workspace=lock.workspace, url=sms_gateway.url, for_guest_sms=True)
    with pytest.raises(ValidationError) as caught:
        channels.rule_create(workspace=lock.workspace, name="Staff", channels=[sms])
    assert "staff alerts do not go to it" in caught.value.message_dict["channels"][0]


def test_the_pin_reaches_no_log_even_with_apprise_logging_everything(stay, lock, sms_gateway, caplog):
    """Apprise logs each gateway's payload at DEBUG: a deployment logging at DEBUG must still
    keep the guest's PIN out of its logs."""
    channels.channel_create(workspace=lock.workspace, url=sms_gateway.url, name="SMS", for_guest_sms=True)
    caplog.set_level(logging.DEBUG)
    assert run(stay.starts_at - timedelta(hours=24)) == 1
    assert "482915" in sms_gateway.received[0]["message"]
    assert caplog.records and "482915" not in caplog.text


def test_in_the_admin_a_guest_sms_channel_is_checked_beside_its_field(
    admin_client, lock, receiver, sms_gateway
):
    url = reverse("admin:notifications_notificationchannel_add")
    form = {"workspace": lock.workspace.pk, "name": "SMS", "for_guest_sms": "on"}
    refused = admin_client.post(url, {**form, "url": receiver.url})
    assert refused.status_code == 200 and "cannot take a guest&#x27;s phone" in refused.content.decode()
    assert not NotificationChannel.objects.exists()
    assert admin_client.post(url, {**form, "url": sms_gateway.url}).status_code == 302
    assert NotificationChannel.objects.get().for_guest_sms
    rule_page = admin_client.get(reverse("admin:notifications_notificationrule_add")).content.decode()
    assert 'name="channels"' not in rule_page  # never offered to a staff rule (the only channel)


def test_the_channel_command_adds_a_guest_sms_channel_and_the_test_command_skips_it(
    lock, sms_gateway, receiver, capsys
):
    with pytest.raises(CommandError, match="--guest-sms: .*cannot take a guest's phone"):
        call_command(
            "notification_channel_add", workspace=lock.workspace.name, url=receiver.url, guest_sms=True
        )
    with pytest.raises(CommandError, match="--kinds: Choose at least one kind"):
        call_command("notification_channel_add", workspace=lock.workspace.name, url=receiver.url, kinds=[])
    assert not NotificationChannel.objects.exists()
    call_command(
        "notification_channel_add", workspace=lock.workspace.name, url=sms_gateway.url, guest_sms=True
    )
    channel = NotificationChannel.objects.get(pk=capsys.readouterr().out.strip().splitlines()[-1])
    assert channel.for_guest_sms and not channel.rules.exists()
    call_command("notification_test", workspace=lock.workspace.name)
    assert "skipped, it sends guests' codes by SMS" in capsys.readouterr().out
    assert sms_gateway.received == []
