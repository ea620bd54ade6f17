"""What ``codes`` announces to apps above it, which it never imports (webhooks listens)."""

from django.dispatch import Signal

# Sent once per batch by ``services.events_record``, with ``events`` (the Event rows just
# written), inside the transaction that wrote them: a listener can write in that same
# transaction, once for the whole batch (a sweep records hundreds of events at a time).
events_recorded = Signal()
