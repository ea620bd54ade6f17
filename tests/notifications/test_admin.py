"""Channels, rules, the outbox and guests' contacts in the admin's look."""

from django.urls import reverse

from notifications.models import NotificationChannel, NotificationRule
from notifications.services import channels


def test_a_channel_is_added_in_the_admin_and_its_url_never_shown_again(admin_client, lock):
    url = reverse("admin:notifications_notificationchannel_add")
    bad = admin_client.post(url, {"workspace": lock.workspace.pk, "name": "Chat", "url": "nosuch://x"})
    assert bad.status_code == 200
    assert "Apprise does not know the service nosuch://" in bad.content.decode()
    assert not NotificationChannel.objects.exists()
    secret = "json://bot:hunter2secret@127.0.0.1:9/hook"
    good = admin_client.post(url, {"workspace": lock.workspace.pk, "name": "Chat", "url": secret})
    assert good.status_code == 302
    channel = NotificationChannel.objects.get()
    page = admin_client.get(reverse("admin:notifications_notificationchannel_change", args=[channel.pk]))
    assert "hunter2secret" not in page.content.decode()
    assert "json://bot:****@127.0.0.1:9/hook" in page.content.decode()
    # Saving the page without typing a URL keeps the stored one.
    admin_client.post(
        reverse("admin:notifications_notificationchannel_change", args=[channel.pk]),
        {"workspace": lock.workspace.pk, "name": "Team chat", "url": ""},
    )
    assert channels.channel_url(NotificationChannel.objects.get()) == secret


def test_a_rule_with_quiet_hours_missing_an_end_is_refused_beside_the_field(admin_client, lock):
    channel = channels.channel_create(workspace=lock.workspace, url="json://127.0.0.1:9/x")
    answer = admin_client.post(
        reverse("admin:notifications_notificationrule_add"),
        {
            "workspace": lock.workspace.pk,
            "name": "Night",
            "is_enabled": "on",
            "channels": [channel.pk],
            "kinds": ["lock_attention"],
            "immediate": "on",
            "digest_time": "08:00",
            "quiet_start": "22:00",
        },
    )
    assert answer.status_code == 200
    assert "Give both ends of the quiet hours" in answer.content.decode()
    assert not NotificationRule.objects.exists()


def test_outbox_and_guest_pages_render(admin_client, lock):
    for name in ("notification", "guestcontact", "guestmessagetemplate", "notificationrule"):
        assert admin_client.get(reverse(f"admin:notifications_{name}_changelist")).status_code == 200
