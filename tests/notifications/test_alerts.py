"""One problem, one alert: grouped by cause, not re-sent while it lasts (a daily reminder as the
arrival approaches), a "resolved" line when it clears, quiet hours in the property's zone."""

import threading
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection

from codes.models import AccessCodeStatus
from codes.services import reports
from notifications.models import AlertCause, MessageKind, Notification, NotificationStatus
from notifications.services import alerts, channels, outbox
from tests.codes.factories import AccessCodeFactory
from tests.notifications.conftest import run_on_commit
from webhooks.services.subscriptions import subscription_create


def six_stays(lock, now):
    """Six stays ready as far as Latchkey knows (loaded with their schedule, or checked), so that
    the lock's own trouble is the only cause: once it clears, nothing is left to tell."""
    return [
        AccessCodeFactory(
            device=lock,
            time_bound=True,
            name=f"Guest {n}",
            code=f"73{n}915",
            starts_at=now + timedelta(days=3, hours=n),
            ends_at=now + timedelta(days=4, hours=n),
            is_scheduled_on_device=True,
            preflight_passed_at=now,
        )
        for n in range(6)
    ]


@pytest.fixture
def chat(lock, receiver):
    channel = channels.channel_create(workspace=lock.workspace, url=receiver.url, name="Chat")
    channels.rule_create(workspace=lock.workspace, name="Ops", channels=[channel])
    return receiver


def sweep(at):
    """One sweep at ``at``, the clock there too, so the sends queued after it run at ``at``."""
    with time_machine.travel(at, tick=False):
        return run_on_commit(alerts.alerts_sweep, now=at)


def test_a_lock_offline_with_six_stays_ahead_is_one_message_with_remedy_stays_and_link(lock, chat, now):
    six_stays(lock, now)
    reports.device_connection_record(device=lock, online=False, now=now)
    assert sweep(now) == 1
    [message] = chat.received
    assert "Front door" in message["title"] and "6 stays ahead" in message["title"]
    for n in range(6):
        assert f"Guest {n}, arrives" in message["message"]
        assert f"73{n}915" not in message["message"] + message["title"]  # never a PIN in a staff alert
    assert "What to do:" in message["message"]
    assert f"/admin/devices/device/{lock.pk}/change/" in message["message"]


def test_the_same_cause_is_not_sent_again_but_reminded_once_a_day_then_resolved(lock, chat, now):
    six_stays(lock, now)
    reports.device_connection_record(device=lock, online=False, now=now)
    sweep(now)
    for minutes in (1, 30, 600):
        assert sweep(now + timedelta(minutes=minutes)) == 0
    assert len(chat.received) == 1
    assert sweep(now + timedelta(days=1)) == 1
    assert chat.received[-1]["title"].startswith("Still unresolved: Front door")
    assert sweep(now + timedelta(days=1, hours=5)) == 0
    reports.device_connection_record(device=lock, online=True, now=now + timedelta(days=1, hours=6))
    assert sweep(now + timedelta(days=1, hours=6)) == 1
    assert chat.received[-1]["title"].startswith("Resolved: Front door")
    assert AlertCause.objects.get().resolved_at == now + timedelta(days=1, hours=6)
    assert sweep(now + timedelta(days=2)) == 0


def test_no_reminder_once_the_arrivals_have_passed(lock, chat, now):
    stay = AccessCodeFactory(
        device=lock, time_bound=True, starts_at=now + timedelta(hours=5), ends_at=now + timedelta(days=4)
    )
    reports.device_connection_record(device=lock, online=False, now=now)
    sweep(now)
    stay.delete()
    # With no stay ahead the lock is no longer this alert's kind of problem: it is resolved.
    assert sweep(now + timedelta(days=1)) == 1
    assert chat.received[-1]["title"].startswith("Resolved")


def test_a_flagged_code_within_the_lead_window_is_one_alert_linking_to_its_page(lock, chat, now):
    code = AccessCodeFactory(
        device=lock,
        time_bound=True,
        name="Ana Silva",
        needs_review=True,
        review_reason="not loaded onto the lock with its schedule yet",
    )
    sweep(now)
    [message] = chat.received
    assert "Ana Silva on Front door is not ready" in message["title"]
    assert "not loaded onto the lock" in message["message"]
    assert f"/admin/codes/accesscode/{code.pk}/change/" in message["message"]


def test_a_code_not_on_the_lock_at_check_in_and_a_failed_removal_are_each_told(lock, chat, now):
    AccessCodeFactory(
        device=lock,
        time_bound=True,
        name="Late",
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(days=2),
    )
    AccessCodeFactory(
        device=lock,
        time_bound=True,
        name="Fine",
        status=AccessCodeStatus.SET,
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(days=2),
    )
    gone = AccessCodeFactory(
        device=lock,
        time_bound=True,
        name="Gone",
        starts_at=now - timedelta(days=3),
        ends_at=now - timedelta(hours=1),
    )
    from codes.services import history
    from devices.models import IssueKind

    history.access_code_issue_raise(
        access_code=gone, kind=IssueKind.ERROR, code="failed_to_remove_from_device", now=now
    )
    assert sweep(now) == 2
    titles = sorted(m["title"] for m in chat.received)
    assert titles[0] == "Gone could not be taken off Front door"
    assert titles[1] == "Late on Front door is still not on the lock at check-in"


def test_a_disabled_webhook_subscription_is_told_to_workspace_rules(lock, chat, now):
    subscription = subscription_create(workspace=lock.workspace, url="http://127.0.0.1:9/hook")
    subscription.is_disabled, subscription.disabled_at, subscription.disabled_reason = (
        True,
        now,
        "Every delivery failed.",
    )
    subscription.save()
    sweep(now)
    assert chat.received[0]["title"] == "Webhook subscription http://127.0.0.1:9/hook was disabled"
    assert "Every delivery failed." in chat.received[0]["message"]


def test_rules_filter_by_kind_and_property(lock, receiver, now):
    channel = channels.channel_create(workspace=lock.workspace, url=receiver.url)
    channels.rule_create(
        workspace=lock.workspace, name="Only webhooks", channels=[channel], kinds=["webhook_disabled"]
    )
    six_stays(lock, now)
    reports.device_connection_record(device=lock, online=False, now=now)
    assert sweep(now) == 0
    assert receiver.received == []


def test_quiet_hours_hold_an_alert_until_the_local_morning_across_the_dst_change(lock, receiver):
    # Lisbon leaves summer time at 02:00 on Sunday 25 October 2026 (WEST, UTC+1 -> WET, UTC+0).
    evening = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # 23:00 in Lisbon, inside quiet hours
    channel = channels.channel_create(workspace=lock.workspace, url=receiver.url)
    channels.rule_create(
        workspace=lock.workspace,
        name="Night",
        channels=[channel],
        quiet_start=time(22, 0),
        quiet_end=time(7, 0),
    )
    with time_machine.travel(evening, tick=False):
        six_stays(lock, evening)
        reports.device_connection_record(device=lock, online=False, now=evening)
        sweep(evening)
    notification = Notification.objects.get()
    # 07:00 on the wall clock after the change is 07:00 UTC: a fixed 8-hours-later would say 06:00.
    assert notification.not_before == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)
    assert receiver.received == []
    assert outbox.notifications_send_due(now=datetime(2026, 10, 25, 6, 30, tzinfo=UTC)) == 0
    assert outbox.notifications_send_due(now=datetime(2026, 10, 25, 7, 0, tzinfo=UTC)) == 1
    assert len(receiver.received) == 1


def test_people_of_a_rule_are_emailed_at_their_address(lock, manager, smtp, now):
    channels.rule_create(workspace=lock.workspace, name="Maria", people=[manager])
    six_stays(lock, now)
    reports.device_connection_record(device=lock, online=False, now=now)
    sweep(now)
    [mail] = smtp.messages
    assert mail["to"] == ["maria@example.com"] and "Front door" in mail["subject"]


def test_a_rule_refuses_people_outside_the_workspace(lock, django_user_model):
    from django.core.exceptions import ValidationError

    outsider = django_user_model.objects.create_user("otto", email="otto@example.com")
    with pytest.raises(ValidationError) as caught:
        channels.rule_create(workspace=lock.workspace, name="X", people=[outsider])
    assert "people" in caught.value.message_dict


@pytest.mark.django_db(transaction=True)
def test_two_workers_sweeping_at_once_send_one_alert(receiver):
    from tests.devices.factories import DeviceFactory

    now = datetime.now(UTC)
    lock = DeviceFactory(display_name="Front door")
    channel = channels.channel_create(workspace=lock.workspace, url=receiver.url)
    channels.rule_create(workspace=lock.workspace, name="Ops", channels=[channel])
    six_stays(lock, now)
    reports.device_connection_record(device=lock, online=False, now=now)
    barrier, errors = threading.Barrier(2), []

    def worker():
        try:
            barrier.wait()
            alerts.alerts_sweep(now=now)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert AlertCause.objects.count() == 1
    assert Notification.objects.filter(message_kind=MessageKind.ALERT).count() == 1
    outbox.notifications_send_due(now=now)
    assert len(receiver.received) == 1
    assert Notification.objects.get().status == NotificationStatus.SENT
