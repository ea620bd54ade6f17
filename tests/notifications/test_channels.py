from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from notifications.models import Notification, NotificationChannel, NotificationRule, NotificationStatus
from notifications.services import channels, outbox, queue
from tests.notifications.conftest import run_on_commit


def test_channel_url_is_stored_encrypted_and_shown_masked(lock):
    url = "json://user:s3cr3tpassw0rd@127.0.0.1:9/hook"
    channel = channels.channel_create(workspace=lock.workspace, url=url, name="Ops")
    assert "s3cr3tpassw0rd" not in channel.encrypted_url
    assert "s3cr3tpassw0rd" not in channel.url_masked
    assert channels.channel_url(channel) == url


@pytest.mark.parametrize(
    "url, words",
    [
        ("nosuchservice://x/y", "does not know the service nosuchservice://"),
        ("just some words", "needs a scheme"),
        ("json://", "cannot read this json:// URL"),
        ("", "Give an Apprise URL"),
    ],
)
def test_bad_channel_url_is_refused_naming_the_field_and_saves_nothing(lock, url, words):
    with pytest.raises(ValidationError) as caught:
        channels.channel_create(workspace=lock.workspace, url=url)
    assert words in " ".join(caught.value.message_dict["url"])
    assert not NotificationChannel.objects.exists()


def test_channel_add_command_prints_the_id_last_and_test_command_sends_through_each(
    lock, receiver, smtp, capsys
):
    call_command(
        "notification_channel_add", workspace=lock.workspace.name, url=receiver.url, kinds=["lock_attention"]
    )
    last = capsys.readouterr().out.strip().splitlines()[-1]
    channel = NotificationChannel.objects.get(pk=last)
    assert NotificationRule.objects.get(channels=channel).kinds == ["lock_attention"]
    mail_url = f"mailto://127.0.0.1:{smtp.port}?from=latchkey@example.com&to=ops@example.com&mode=insecure"
    call_command("notification_channel_add", workspace=lock.workspace.name, url=mail_url, name="Ops mail")
    capsys.readouterr()
    call_command("notification_test", workspace=lock.workspace.name)
    out = capsys.readouterr().out
    assert out.count(": ok") == 2
    assert receiver.received[0]["title"] == "Latchkey test message"
    assert smtp.messages[0]["to"] == ["ops@example.com"]
    assert "the channel Ops mail works" in smtp.messages[0]["body"]


def test_channel_add_command_refuses_bad_input_by_name(lock):
    with pytest.raises(CommandError, match="--url: Apprise does not know"):
        call_command("notification_channel_add", workspace=lock.workspace.name, url="bogus://x")
    with pytest.raises(CommandError, match="--kinds: Unknown kinds: lock_on_fire"):
        call_command(
            "notification_channel_add",
            workspace=lock.workspace.name,
            url="json://127.0.0.1/x",
            kinds=["lock_on_fire"],
        )
    with pytest.raises(CommandError, match="--workspace"):
        call_command("notification_channel_add", workspace="nope", url="json://127.0.0.1/x")
    assert not NotificationChannel.objects.exists()


def test_notification_test_reports_a_failing_channel(lock, capsys):
    channels.channel_create(workspace=lock.workspace, url="json://127.0.0.1:1/hook", name="Dead")
    with pytest.raises(CommandError, match="1 channel"):
        call_command("notification_test", workspace=lock.workspace.name)
    assert "Dead (json://127.0.0.1:1/hook" in capsys.readouterr().out


def _queue(channel, now, key="k"):
    draft = queue.Draft(
        workspace_id=channel.workspace_id,
        message_kind="test",
        subject="Hello",
        body="Body",
        dedupe_key=key,
        target=queue.Target(channel=channel),
        not_before=now,
    )
    return run_on_commit(queue.notifications_queue, [draft], now=now)


def test_failing_channel_is_retried_with_backoff_and_every_attempt_kept(lock, receiver, now):
    channel = channels.channel_create(workspace=lock.workspace, url=receiver.url)
    receiver.answers = [500, 503]
    [queued] = _queue(channel, now)  # the first attempt runs after the commit
    queued.refresh_from_db()
    assert queued.status == NotificationStatus.PENDING
    assert queued.attempt_count == 1 and queued.not_before == now + timedelta(minutes=1)
    assert outbox.notifications_send_due(now=now + timedelta(seconds=30)) == 0  # not due yet
    assert outbox.notifications_send_due(now=now + timedelta(minutes=1)) == 1
    queued.refresh_from_db()
    assert queued.attempt_count == 2 and queued.not_before == now + timedelta(minutes=6)
    outbox.notifications_send_due(now=now + timedelta(minutes=6))
    queued.refresh_from_db()
    assert queued.status == NotificationStatus.SENT
    assert [a.ok for a in queued.attempts.order_by("attempted_at")] == [False, False, True]
    assert len(receiver.received) == 3


def test_the_same_message_is_never_queued_twice(lock, receiver, now):
    channel = channels.channel_create(workspace=lock.workspace, url=receiver.url)
    _queue(channel, now)
    assert _queue(channel, now) == []
    assert Notification.objects.count() == 1 and len(receiver.received) == 1


def test_a_claimed_notification_is_sent_by_the_next_sweep_once_its_lease_lapses(lock, receiver, now):
    channel = channels.channel_create(workspace=lock.workspace, url=receiver.url)
    draft = queue.Draft(
        workspace_id=channel.workspace_id,
        message_kind="test",
        subject="S",
        body="B",
        dedupe_key="x",
        target=queue.Target(channel=channel),
        not_before=now,
    )
    [row] = queue.notifications_queue([draft], now=now)  # no commit: the hand-off never ran
    Notification.objects.filter(pk=row.pk).update(
        claimed_until=now + outbox.LEASE
    )  # a worker died holding it
    assert outbox.notifications_send_due(now=now) == 0
    assert outbox.notifications_send_due(now=now + outbox.LEASE) == 1
    assert len(receiver.received) == 1


def test_without_email_url_an_email_notification_fails_visibly(lock, now, settings):
    settings.LATCHKEY_EMAIL_ENABLED = False
    draft = queue.Draft(
        workspace_id=lock.workspace_id,
        message_kind="test",
        subject="S",
        body="B",
        dedupe_key="e",
        target=queue.Target(email="maria@example.com"),
        not_before=now,
    )
    [row] = run_on_commit(queue.notifications_queue, [draft], now=now)
    row.refresh_from_db()
    assert row.attempt_count == 1 and row.last_error.startswith("Email is not configured: set EMAIL_URL")
