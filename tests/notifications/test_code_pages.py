"""Telling people, in the browser's pages: the guest's contact on the new-code page and the
code's page ("send the code now", recorded as a staff action, its outcome shown), managers
given the notification pages by `setup_roles`, a new rule's kinds, a failing channel shown."""

import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from codes.models import AccessCode, AccessCodeStatus, StaffAction
from devices.models import Membership
from devices.selectors import PROPERTY_MANAGER, REVIEWER
from notifications.models import GuestContact, NotificationChannel, NotificationRule
from notifications.services import channels, guests
from tests.codes.factories import AccessCodeFactory
from tests.notifications.conftest import run_on_commit


def as_role(client, role, workspace, name):
    call_command("setup_roles", stdout=io.StringIO())
    user = get_user_model().objects.create_user(name, email=f"{name}@example.com", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    Membership.objects.create(user=user, workspace=workspace)
    client.force_login(user)
    return user


@pytest.fixture
def manager_client(client, lock):
    as_role(client, PROPERTY_MANAGER, lock.workspace, "maria")
    return client


def text(response) -> str:
    """The page's words, without tags."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode()).replace("&#x27;", "'"))


def test_setup_roles_lets_managers_set_up_channels_rules_and_guests_but_not_reviewers(client, lock):
    manager = as_role(client, PROPERTY_MANAGER, lock.workspace, "maria")
    assert manager.has_perms(
        [
            "notifications.add_notificationchannel",
            "notifications.change_notificationrule",
            "notifications.add_guestcontact",
            "notifications.change_guestmessagetemplate",
            "notifications.view_notification",
        ]
    )
    assert not manager.has_perm("notifications.change_notification")  # the outbox is only read
    answer = client.post(
        reverse("admin:notifications_notificationchannel_add"),
        {"workspace": lock.workspace.pk, "name": "Chat", "url": "json://127.0.0.1:9/hook"},
    )
    assert answer.status_code == 302 and NotificationChannel.objects.count() == 1
    reviewer = as_role(client, REVIEWER, lock.workspace, "rui")
    assert not reviewer.has_perm("notifications.view_notificationchannel")
    assert client.get(reverse("admin:notifications_notificationchannel_add")).status_code == 403


def test_a_new_rule_starts_with_every_kind_and_a_rule_of_no_kind_is_refused(manager_client, lock):
    page = manager_client.get(reverse("admin:notifications_notificationrule_add")).content.decode()
    assert len(re.findall(r'<input type="checkbox" name="kinds" value="\w+"[^>]* checked', page)) == 5
    answer = manager_client.post(
        reverse("admin:notifications_notificationrule_add"),
        {
            "workspace": lock.workspace.pk,
            "name": "Silent",
            "is_enabled": "on",
            "immediate": "on",
            "digest_time": "08:00",
        },
    )
    assert answer.status_code == 200
    assert "Choose at least one kind to send as it is found" in text(answer)
    assert not NotificationRule.objects.exists()


def test_the_new_code_page_takes_the_guests_contact_and_refuses_a_bad_email(manager_client, lock, now):
    arrival = (now + timedelta(days=3)).astimezone(lock.property.zone).date()
    form = {
        "property": lock.property.pk,
        "name": "Ana Silva",
        "devices": [lock.pk],
        "arrival_date": arrival.isoformat(),
        "check_in_time": "16:00",
        "departure_date": (arrival + timedelta(days=2)).isoformat(),
        "check_out_time": "11:00",
    }
    url = reverse("latchkey:code_create")
    page = text(manager_client.get(url, {"property": lock.property.pk}))
    assert "Guest's email" in page and "Guest's phone" in page
    bad = manager_client.post(url, {**form, "guest_email": "ana at example"})
    assert bad.status_code == 200
    assert "'ana at example' is not an email address." in text(bad)
    assert not AccessCode.objects.exists() and not GuestContact.objects.exists()
    good = manager_client.post(
        url, {**form, "guest_email": "ana@example.com", "guest_phone": "+351912345678"}
    )
    assert good.status_code == 302
    contact = GuestContact.objects.get()
    assert (contact.access_code.name, contact.email, contact.phone) == (
        "Ana Silva",
        "ana@example.com",
        "+351912345678",
    )


@pytest.fixture
def stay(lock, now):
    return AccessCodeFactory(
        device=lock,
        time_bound=True,
        name="Ana Silva",
        code="482915",
        status=AccessCodeStatus.SET,
        starts_at=now + timedelta(days=3),
        ends_at=now + timedelta(days=6),
    )


def test_the_code_page_saves_the_guest_and_sends_the_code_now_with_its_outcome(manager_client, stay, smtp):
    page = reverse("admin:codes_accesscode_change", args=[stay.pk])
    assert "No message sent to the guest yet." in text(manager_client.get(page))
    contact_url = reverse("admin:notifications_guest_contact_of_code", args=[stay.pk])
    refused = manager_client.post(contact_url, {"guest_email": "nope", "guest_phone": ""}, follow=True)
    assert "Guest's email: 'nope' is not an email address. Nothing was saved." in text(refused)
    assert not GuestContact.objects.exists()
    manager_client.post(contact_url, {"guest_email": "ana@example.com", "guest_phone": ""})
    assert GuestContact.objects.get().email == "ana@example.com"

    send_url = reverse("admin:notifications_guest_code_send_now", args=[stay.pk])
    assert manager_client.get(send_url).status_code == 405
    run_on_commit(manager_client.post, send_url)  # the worker sends it once the request commits
    body = text(manager_client.get(page))
    assert "Queued the code for ana@example.com" in body
    assert "Last message to ana@example.com: Sent " in body
    assert "482915" in smtp.messages[0]["body"] and "482915" not in body
    action = StaffAction.objects.get(access_code=stay)
    assert action.kind == "guest_code_sent" and action.actor.username == "maria"
    assert "Code sent to the guest by maria: to ana@example.com" in body  # the history line


def test_a_failing_send_shows_its_error_on_the_code_page_and_the_channel_list(
    manager_client, stay, lock, receiver, settings
):
    settings.LATCHKEY_EMAIL_ENABLED = False  # no EMAIL_URL: every email fails, visibly
    guests.guest_contact_set(access_code=stay, email="ana@example.com")
    send_url = reverse("admin:notifications_guest_code_send_now", args=[stay.pk])
    run_on_commit(manager_client.post, send_url)
    body = text(manager_client.get(reverse("admin:codes_accesscode_change", args=[stay.pk])))
    assert "Last message to ana@example.com: Attempt 1 failed: Email is not configured" in body
    assert "Next try" in body

    receiver.answers = [500]
    channel = channels.channel_create(workspace=lock.workspace, url=receiver.url, name="Chat")
    listing = reverse("admin:notifications_notificationchannel_changelist")
    assert "Nothing sent yet." in text(manager_client.get(listing))
    from notifications.services import outbox, queue

    draft = queue.Draft(
        workspace_id=lock.workspace_id,
        message_kind="test",
        subject="t",
        body="b",
        dedupe_key="k",
        target=queue.Target(channel=channel),
        not_before=stay.created_at,
    )
    [row] = run_on_commit(queue.notifications_queue, [draft], now=stay.created_at)
    outbox.notification_attempt(notification_id=row.pk)
    assert re.search(r"Failed \S+ \S+ UTC: .*500", text(manager_client.get(listing)))


def test_a_reviewer_sees_no_guest_form_and_cannot_send(client, stay, lock):
    as_role(client, REVIEWER, lock.workspace, "rui")
    page = text(client.get(reverse("admin:codes_accesscode_change", args=[stay.pk])))
    assert "Send the code now" not in page and "lk-guest" not in page
    send_url = reverse("admin:notifications_guest_code_send_now", args=[stay.pk])
    assert client.post(send_url).status_code == 403
