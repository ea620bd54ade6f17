"""How long webhook deliveries are kept. Every request is stored, so without a limit the
tables grow for ever (and a stranger's refused posts with them)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from webhooks.models import InboundDelivery, InboundStatus, OutboundDelivery, OutboundStatus

PURGE_BATCH = 2000  # rows per delete: a long backlog never holds one huge transaction


def deliveries_purge(*, now: datetime | None = None) -> int:
    """Delete inbound and outbound deliveries that are finished and older than
    ``WEBHOOK_RETENTION_DAYS``: processed, ignored, duplicate and refused inbound ones (by
    arrival), succeeded and finally failed outbound ones (by when they finished, their attempts
    with them). Pending deliveries and failed inbound ones (still retried, or waiting for staff
    to replay them) are kept whatever their age. Returns how many deliveries were deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    finished_inbound = InboundDelivery.objects.filter(
        received_at__lt=cutoff,
        status__in=[
            InboundStatus.PROCESSED,
            InboundStatus.IGNORED,
            InboundStatus.DUPLICATE,
            InboundStatus.REJECTED,
        ],
    )
    finished_outbound = OutboundDelivery.objects.filter(
        Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, created_at__lt=cutoff),
        status__in=[OutboundStatus.SUCCEEDED, OutboundStatus.FAILED],
    )
    return _delete_in_batches(finished_inbound) + _delete_in_batches(finished_outbound)


def _delete_in_batches(queryset) -> int:
    deleted = 0
    while ids := list(queryset.values_list("pk", flat=True)[:PURGE_BATCH]):
        queryset.model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
    return deleted
