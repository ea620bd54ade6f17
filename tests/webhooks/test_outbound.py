"""Outbound deliveries to a live receiver that checks each one with Seam's own SDK; retries,
giving up and disabling under a moving clock."""

import json
import socket
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.test import TestCase

from codes.services.access_codes import access_code_create, access_code_delete
from codes.services.checks import AccessCodeRequest
from tests.devices.factories import DeviceFactory
from webhooks.models import OutboundAttempt, OutboundDelivery, OutboundStatus, WebhookSubscription
from webhooks.services import outbound, subscriptions
from webhooks.services.outbound import RETRY_SCHEDULE
from webhooks.services.subscriptions import subscription_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def lock(db):
    return DeviceFactory()


@pytest.fixture
def subscription(lock, receiver):
    sub = subscription_create(workspace=lock.workspace, url=receiver.url)
    receiver.secret = sub.secret
    return sub


def create_code(lock, pin="4821"):
    """Create a code and let its commit hooks run (sending happens after commit)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return access_code_create(device=lock, request=AccessCodeRequest(code=pin, name="Ana"))


def send_due():
    return outbound.deliveries_send_due()


def test_an_event_reaches_the_receiver_signed_so_seams_sdk_verifies_it(lock, subscription, receiver, now):
    code = create_code(lock)
    (got,) = receiver.received
    assert got["verified"] == {"event_id": got["verified"]["event_id"], "event_type": "access_code.created"}
    body = json.loads(got["body"])
    assert body["access_code_id"] == str(code.pk)
    assert body["device_id"] == str(lock.pk)
    assert body["workspace_id"] == str(lock.workspace_id)
    assert body["occurred_at"] == "2026-11-22T12:00:00.000Z"
    delivery = OutboundDelivery.objects.get()
    assert got["body"] == delivery.body  # the exact text stored is the text signed and sent
    assert got["headers"]["svix-id"] == delivery.message_id
    assert (delivery.status, delivery.attempt_count, delivery.last_status_code) == (
        OutboundStatus.SUCCEEDED,
        1,
        200,
    )
    attempt = OutboundAttempt.objects.get()
    assert (attempt.status_code, attempt.error) == (200, "")
    assert attempt.duration_ms >= 0


def test_a_receiver_with_the_wrong_secret_cannot_verify_it(lock, subscription, receiver, now):
    receiver.secret = "whsec_" + "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="
    create_code(lock)
    assert "error" in receiver.received[0]["verified"]
    assert OutboundDelivery.objects.get().status == OutboundStatus.FAILED  # it answered 400


def test_the_delivery_is_written_in_the_events_transaction(lock, subscription, receiver, now):
    with pytest.raises(RuntimeError), transaction.atomic():
        access_code_create(device=lock, request=AccessCodeRequest(code="4821"))
        assert OutboundDelivery.objects.filter(event_type="access_code.created").count() == 1
        raise RuntimeError("the change is rolled back")
    assert not OutboundDelivery.objects.exists()
    assert receiver.received == []


def test_only_the_subscribed_event_types_are_sent(lock, receiver, now):
    sub = subscription_create(workspace=lock.workspace, url=receiver.url, event_types=["access_code.deleted"])
    receiver.secret = sub.secret
    code = create_code(lock)
    with TestCase.captureOnCommitCallbacks(execute=True):
        access_code_delete(access_code=code)
    assert [r["verified"]["event_type"] for r in receiver.received] == ["access_code.deleted"]


def test_other_workspaces_and_disabled_subscriptions_get_nothing(lock, receiver, now):
    subscription_create(workspace=DeviceFactory().workspace, url=receiver.url)
    off = subscription_create(workspace=lock.workspace, url=receiver.url)
    WebhookSubscription.objects.filter(pk=off.pk).update(is_disabled=True, disabled_at=now)
    create_code(lock)
    assert receiver.received == []
    assert not OutboundDelivery.objects.exists()


@pytest.mark.parametrize("status", [500, 503, 408, 429])
def test_server_errors_and_throttling_are_retried_after_five_seconds(
    lock, subscription, receiver, now, status
):
    receiver.answers = [status]
    create_code(lock)
    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == (OutboundStatus.PENDING, status)
    assert delivery.next_attempt_at == now + timedelta(seconds=5)
    assert send_due() == 0  # not due yet
    with time_machine.travel(now + timedelta(seconds=5), tick=False):
        assert send_due() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (OutboundStatus.SUCCEEDED, 2)
    assert list(OutboundAttempt.objects.order_by("attempted_at").values_list("status_code", flat=True)) == [
        status,
        200,
    ]
    first, second = receiver.received
    assert first["headers"]["svix-id"] == second["headers"]["svix-id"]
    assert first["body"] == second["body"]
    assert int(second["headers"]["svix-timestamp"]) - int(first["headers"]["svix-timestamp"]) == 5
    subscription.refresh_from_db()
    assert subscription.failing_since is None


@pytest.mark.parametrize("status", [400, 401, 404, 410, 301])
def test_other_answers_are_not_retried(lock, subscription, receiver, now, status):
    receiver.answers = [status]
    create_code(lock)
    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.attempt_count, delivery.next_attempt_at) == (
        OutboundStatus.FAILED,
        1,
        None,
    )
    with time_machine.travel(now + timedelta(days=1), tick=False):
        assert send_due() == 0
    assert len(receiver.received) == 1


def test_a_timeout_is_recorded_and_retried(lock, subscription, receiver, now, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.2
    receiver.delay = 0.6
    create_code(lock)
    delivery = OutboundDelivery.objects.get()
    assert delivery.status == OutboundStatus.PENDING
    assert delivery.last_error == "Timed out after 0.2 s."
    attempt = OutboundAttempt.objects.get()
    assert attempt.status_code is None and attempt.duration_ms >= 200


def test_an_unreachable_receiver_is_recorded_and_retried(lock, now):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    subscription_create(workspace=lock.workspace, url=f"http://127.0.0.1:{port}/hooks")
    create_code(lock)
    delivery = OutboundDelivery.objects.get()
    assert delivery.status == OutboundStatus.PENDING
    assert delivery.last_error.startswith("ConnectError")


def test_a_url_that_now_resolves_to_a_private_address_is_not_sent(
    lock, subscription, receiver, now, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    create_code(lock)
    delivery = OutboundDelivery.objects.get()
    assert delivery.status == OutboundStatus.FAILED
    assert "private, loopback or link-local" in delivery.last_error
    assert receiver.received == []


def test_seams_retry_schedule_then_the_subscription_is_disabled(lock, subscription, receiver, now):
    receiver.answers = [500] * 20
    create_code(lock)
    moment = now
    for delay in RETRY_SCHEDULE:
        moment += delay
        with time_machine.travel(moment - timedelta(seconds=1), tick=False):
            assert send_due() == 0  # never early
        with time_machine.travel(moment, tick=False):
            assert send_due() == 1
    delivery = OutboundDelivery.objects.get()
    assert (delivery.status, delivery.attempt_count) == (OutboundStatus.FAILED, 8)
    assert len(receiver.received) == 8
    subscription.refresh_from_db()
    assert subscription.is_disabled is True
    assert subscription.disabled_at == moment
    assert "failed (last: HTTP 500)" in subscription.disabled_reason
    # Disabled: new events are not queued for it.
    with time_machine.travel(moment, tick=False):
        create_code(lock, pin="5931")
    assert OutboundDelivery.objects.count() == 1


def test_a_success_in_between_keeps_the_subscription_enabled(lock, subscription, receiver, now):
    receiver.answers = [500]
    create_code(lock)
    with time_machine.travel(now + timedelta(hours=30), tick=False):
        create_code(lock, pin="5931")  # succeeds: the endpoint is healthy again
        receiver.answers = [500]
        create_code(lock, pin="6042")
    subscription.refresh_from_db()
    assert subscription.is_disabled is False
    assert subscription.failing_since == now + timedelta(hours=30)


def test_staff_enable_a_disabled_subscription_and_pending_deliveries_go_out(
    lock, subscription, receiver, now
):
    receiver.answers = [500]
    create_code(lock)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        is_disabled=True, disabled_at=now, disabled_reason="test"
    )
    with time_machine.travel(now + timedelta(minutes=1), tick=False):
        assert send_due() == 0
        subscriptions.subscription_enable(subscription=subscription)
        assert send_due() == 1
    assert OutboundDelivery.objects.get().status == OutboundStatus.SUCCEEDED


def test_a_claimed_delivery_is_not_sent_twice(lock, subscription, receiver, now):
    receiver.answers = [500]
    create_code(lock)
    delivery = OutboundDelivery.objects.get()
    OutboundDelivery.objects.filter(pk=delivery.pk).update(claimed_until=now + timedelta(minutes=1))
    with time_machine.travel(now + timedelta(seconds=5), tick=False):
        assert outbound.delivery_attempt(delivery_id=delivery.pk) is None
    with time_machine.travel(now + timedelta(minutes=1), tick=False):  # the lease ran out
        assert outbound.delivery_attempt(delivery_id=delivery.pk).status == OutboundStatus.SUCCEEDED


def test_the_send_task_runs_through_django_q(lock, subscription, receiver, now):
    from django_q.tasks import async_task, result

    receiver.answers = [500]
    create_code(lock)
    with time_machine.travel(now + timedelta(seconds=5), tick=False):
        task_id = async_task("webhooks.tasks.send_due_deliveries")
    assert result(task_id) == 1
    assert OutboundDelivery.objects.get().status == OutboundStatus.SUCCEEDED


def test_device_events_go_out_too(lock, receiver, now):
    from codes.services.reports import device_record_provider_event

    sub = subscription_create(workspace=lock.workspace, url=receiver.url, event_types=["device.disconnected"])
    receiver.secret = sub.secret
    with TestCase.captureOnCommitCallbacks(execute=True):
        device_record_provider_event(device=lock, event_type="device.disconnected", occurred_at=now)
    (got,) = receiver.received
    assert got["verified"]["event_type"] == "device.disconnected"
    assert json.loads(got["body"])["device_id"] == str(lock.pk)
