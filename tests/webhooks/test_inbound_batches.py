"""Processing inbound deliveries in batches (issue 21): one task takes many pending deliveries and
applies them in one transaction, a failing one rolled back alone. Fail before issue 21: there
was no batch task."""

import uuid

import pytest
from django.urls import reverse
from django_q.tasks import async_task, result

from codes.models import AccessCodeStatus, Event
from codes.services import ledger
from tests.codes.factories import AccessCodeFactory
from tests.webhooks.signing import FIXTURE_SECRET, signed
from webhooks.models import InboundDelivery, InboundStatus
from webhooks.services import inbound

pytestmark = pytest.mark.django_db

COUNT = 5


@pytest.fixture
def waiting_codes(seam_device, now):
    """Codes Latchkey sent to Seam, each waiting for Seam to confirm it."""
    codes = []
    for n in range(COUNT):
        code = AccessCodeFactory(
            device=seam_device,
            code=f"{4821 + n}",
            provider_code_id=f"seam-code-batch-{n}",
            status=AccessCodeStatus.SETTING,
            created_at=now,
            updated_at=now,
        )
        code.sent_version = code.version
        code.save(update_fields=["sent_version"])
        codes.append(code)
    return codes


def _store_pending(client, device, codes, now) -> list:
    """Each code's set_on_device callback received and stored; the hand-off to a task is not run
    (the test's transaction never commits), so they wait as pending."""
    url = reverse("webhooks:seam", args=[device.connected_account_id])
    for n, code in enumerate(codes):
        body, headers = signed(
            FIXTURE_SECRET,
            {
                "event_id": str(uuid.uuid4()),
                "event_type": "access_code.set_on_device",
                "device_id": device.provider_device_id,
                "access_code_id": code.provider_code_id,
                "occurred_at": now.isoformat(),
            },
            at=now,
            msg_id=f"msg_batch_{n}",
        )
        sent = {k: v for k, v in headers.items() if k != "content-type"}
        assert client.post(url, data=body, content_type="application/json", headers=sent).status_code == 200
    return list(InboundDelivery.objects.order_by("received_at", "pk"))


def test_one_task_applies_every_pending_delivery(client, seam_device, waiting_codes, now):
    deliveries = _store_pending(client, seam_device, waiting_codes, now)
    assert {d.status for d in deliveries} == {InboundStatus.PENDING}
    assert result(async_task("webhooks.tasks.process_inbound_batch")) == COUNT
    for delivery in deliveries:
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempt_count) == (InboundStatus.PROCESSED, 1)
    for code in waiting_codes:
        code.refresh_from_db()
        assert code.status == AccessCodeStatus.SET
        assert Event.objects.filter(access_code=code, event_type="access_code.set_on_device").count() == 1


def test_batches_are_bounded_and_taken_oldest_first(client, seam_device, waiting_codes, now):
    deliveries = _store_pending(client, seam_device, waiting_codes, now)
    assert inbound.inbound_process_batch(now=now, limit=2) == 2
    statuses = [InboundDelivery.objects.get(pk=d.pk).status for d in deliveries]
    assert statuses == [InboundStatus.PROCESSED] * 2 + [InboundStatus.PENDING] * (COUNT - 2)
    assert inbound.inbound_process_batch(now=now) == COUNT - 2
    assert inbound.inbound_process_batch(now=now) == 0


def test_a_failing_delivery_is_rolled_back_alone_and_retried(
    client, seam_device, waiting_codes, now, monkeypatch
):
    """A fault recording one code fails its run; the run is applied again one delivery at a
    time, and only the faulty one fails, leaving nothing of itself."""
    deliveries = _store_pending(client, seam_device, waiting_codes, now)
    broken = deliveries[2]
    broken_code = next(c for c in waiting_codes if c.provider_code_id in broken.body)
    record = ledger.record_outcome

    def record_or_fail(book, code, *args, **kwargs):
        recorded = record(book, code, *args, **kwargs)  # its changes are made, then the fault
        if code.pk == broken_code.pk:
            raise RuntimeError("the lock's record is unavailable")
        return recorded

    monkeypatch.setattr(ledger, "record_outcome", record_or_fail)
    assert inbound.inbound_process_batch(now=now) == COUNT
    broken.refresh_from_db()
    assert (broken.status, broken.attempt_count) == (InboundStatus.FAILED, 1)
    assert broken.reason == "RuntimeError: the lock's record is unavailable"
    assert broken.next_attempt_at == now + inbound.INBOUND_RETRY_BASE
    for code in waiting_codes:
        code.refresh_from_db()
        if code == broken_code:  # nothing of it stayed
            assert code.status == AccessCodeStatus.SETTING
            assert not Event.objects.filter(access_code=code).exists()
        else:
            assert code.status == AccessCodeStatus.SET
    processed = InboundDelivery.objects.filter(status=InboundStatus.PROCESSED).count()
    assert processed == COUNT - 1
