"""django-q2 tasks: thin, so that what they start is the same as a test's or the admin's."""

from django.utils import timezone

from webhooks.services import inbound, outbound, retention
from webhooks.services.handoff import batch_started


def process_inbound(delivery_id: str) -> str:
    return inbound.inbound_process(delivery_id=delivery_id, now=timezone.now()).status


def process_inbound_batch() -> int:
    """Pending deliveries, a batch at a time, until none is left."""
    batch_started()
    total = 0
    while taken := inbound.inbound_process_batch(now=timezone.now()):
        total += taken
    return total


def retry_inbound() -> int:
    return inbound.inbound_retry_due(now=timezone.now())


def deliver(delivery_id: str) -> str | None:
    delivery = outbound.delivery_attempt(delivery_id=delivery_id, now=timezone.now())
    return None if delivery is None else delivery.status


def send_due_deliveries() -> int:
    return outbound.deliveries_send_due(now=timezone.now())


def purge_old_deliveries() -> int:
    return retention.deliveries_purge(now=timezone.now())
