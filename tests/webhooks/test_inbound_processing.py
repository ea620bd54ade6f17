"""Processing stored deliveries: failures lose nothing and are retried; the sandbox's callbacks
take the same path as Seam's."""

from datetime import timedelta

import pytest
import time_machine

from codes.models import AccessCodeStatus, Event
from codes.programming import access_code_push
from codes.services import history
from codes.services.access_codes import access_code_create
from codes.services.checks import AccessCodeRequest
from devices.models import ConnectedAccount
from devices.services import sandbox_fleet_create
from tests.devices.factories import WorkspaceFactory
from tests.webhooks.conftest import post_callback
from tests.webhooks.signing import fixture, signed
from webhooks.models import InboundDelivery, InboundStatus
from webhooks.services import inbound

pytestmark = pytest.mark.django_db


@pytest.fixture
def broken_events(monkeypatch):
    """A fault in recording events, after the status was already changed in the transaction."""

    def fail(*args, **kwargs):
        raise RuntimeError("the events table is unavailable")

    monkeypatch.setattr(history, "events_record", fail)  # every event is written through it
    return monkeypatch


def test_a_failure_while_processing_keeps_the_delivery_and_undoes_its_changes(
    client, seam_code, now, broken_events
):
    body, headers = fixture("access_code.set_on_device")
    response = post_callback(client, seam_code.device.connected_account, body, headers)
    assert response.status_code == 200  # stored: the sender need not resend
    delivery = InboundDelivery.objects.get()
    assert delivery.status == InboundStatus.FAILED
    assert delivery.reason == "RuntimeError: the events table is unavailable"
    assert (delivery.attempt_count, delivery.next_attempt_at) == (1, now + timedelta(seconds=30))
    seam_code.refresh_from_db()
    assert seam_code.status == AccessCodeStatus.SETTING  # nothing half-written


def test_a_failed_delivery_is_retried_with_backoff_then_processed(client, seam_code, now, broken_events):
    post_callback(client, seam_code.device.connected_account, *fixture("access_code.set_on_device"))
    with time_machine.travel(now + timedelta(seconds=29), tick=False):
        assert inbound.inbound_retry_due() == 0
    with time_machine.travel(now + timedelta(seconds=30), tick=False):
        assert inbound.inbound_retry_due() == 1
    delivery = InboundDelivery.objects.get()
    assert (delivery.status, delivery.attempt_count) == (InboundStatus.FAILED, 2)
    assert delivery.next_attempt_at == now + timedelta(seconds=30 + 60)
    broken_events.undo()  # the fault is fixed
    with time_machine.travel(now + timedelta(seconds=90), tick=False):
        from django_q.tasks import async_task, result

        assert result(async_task("webhooks.tasks.retry_inbound")) == 1
    delivery.refresh_from_db()
    seam_code.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == (InboundStatus.PROCESSED, 3)
    assert seam_code.status == AccessCodeStatus.SET
    assert Event.objects.filter(access_code=seam_code, event_type="access_code.set_on_device").count() == 1


def test_retries_stop_after_the_last_attempt_and_wait_for_staff(client, seam_code, now, broken_events):
    post_callback(client, seam_code.device.connected_account, *fixture("access_code.set_on_device"))
    moment = now
    for _ in range(inbound.INBOUND_MAX_ATTEMPTS - 1):
        moment = InboundDelivery.objects.get().next_attempt_at
        with time_machine.travel(moment, tick=False):
            inbound.inbound_retry_due()
    delivery = InboundDelivery.objects.get()
    assert (delivery.status, delivery.attempt_count, delivery.next_attempt_at) == (
        InboundStatus.FAILED,
        inbound.INBOUND_MAX_ATTEMPTS,
        None,
    )
    with time_machine.travel(moment + timedelta(days=30), tick=False):
        assert inbound.inbound_retry_due() == 0


def test_a_delivery_whose_task_was_lost_is_picked_up_by_the_sweep(client, seam_code, now):
    body, headers = fixture("access_code.set_on_device")
    sent = {k: v for k, v in headers.items() if k != "content-type"}
    # Posted without running the commit hooks: as if the worker never got the task.
    client.post(
        f"/webhooks/seam/{seam_code.device.connected_account_id}/",
        data=body,
        content_type="application/json",
        headers=sent,
    )
    assert InboundDelivery.objects.get().status == InboundStatus.PENDING
    with time_machine.travel(now + inbound.INBOUND_LOST_AFTER, tick=False):
        assert inbound.inbound_retry_due() == 1
    assert InboundDelivery.objects.get().status == InboundStatus.PROCESSED


def test_processing_twice_applies_once(client, seam_code, now):
    post_callback(client, seam_code.device.connected_account, *fixture("access_code.failed_to_set_on_device"))
    delivery = InboundDelivery.objects.get()
    inbound.inbound_process(delivery_id=delivery.pk)  # a second task for the same delivery
    seam_code.refresh_from_db()
    assert seam_code.attempt_count == 1
    assert InboundDelivery.objects.get().attempt_count == 1


def test_the_sandbox_confirms_a_pending_code_through_its_own_endpoint(client, now):
    workspace = WorkspaceFactory(is_sandbox=True)
    lock = next(
        d for d in sandbox_fleet_create(workspace=workspace) if d.provider_device_id == "sandbox-cloud-lock"
    )
    lock.sandbox.confirmation_delay_seconds = 60
    lock.sandbox.save()
    code = access_code_create(device=lock, request=AccessCodeRequest(code="4821"))
    access_code_push(code, now=now)
    code.refresh_from_db()
    assert code.status == AccessCodeStatus.SETTING
    account = ConnectedAccount.objects.get(pk=lock.connected_account_id)
    payload = {
        "event_id": "sandbox-evt-1",
        "event_type": "access_code.set_on_device",
        "device_id": lock.provider_device_id,
        "access_code_id": code.provider_code_id,
        "occurred_at": (now + timedelta(seconds=60)).isoformat(),
    }
    with time_machine.travel(now + timedelta(seconds=61), tick=False):
        response = post_callback(client, account, *signed(account.webhook_secret, payload), source="sandbox")
    assert response.status_code == 200
    code.refresh_from_db()
    assert code.status == AccessCodeStatus.SET
    # Signed with another account's secret, the same callback is refused.
    other = sandbox_fleet_create(workspace=WorkspaceFactory(is_sandbox=True))[0].connected_account
    payload["event_id"] = "sandbox-evt-2"
    assert (
        post_callback(client, other, *signed(account.webhook_secret, payload), source="sandbox").status_code
        == 401
    )
