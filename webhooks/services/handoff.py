"""Handing stored work to django-q2 once it is committed."""

from django.core.cache import cache
from django.db import transaction
from django_q.tasks import async_task


def enqueue_on_commit(task: str, pk) -> None:
    """Queue ``task`` (a dotted path to a function in ``webhooks.tasks``) with ``pk`` once the
    current transaction commits. Losing the hand-off loses nothing: the periodic sweeps find
    stored work that is still due."""
    transaction.on_commit(lambda: async_task(task, str(pk)), robust=True)


# While a batch task is queued and has not started, deliveries stored meanwhile queue no other.
_BATCH_QUEUED = "webhooks.inbound.batch_queued"
BATCH_QUEUED_SECONDS = 2


def wake_batch_on_commit() -> None:
    """Once the current transaction commits, queue ``webhooks.tasks.process_inbound_batch``
    unless one is already queued and not yet started (a flag in the shared cache, for at most
    ``BATCH_QUEUED_SECONDS``): a burst of callbacks queues a task per batch, not one each. The
    task clears the flag before it reads the pending deliveries, so a delivery stored while it
    runs queues the next. A lost hand-off loses nothing: ``inbound_retry_due`` finds pending
    deliveries whose task never ran."""

    def wake() -> None:
        if cache.add(_BATCH_QUEUED, True, timeout=BATCH_QUEUED_SECONDS):
            async_task("webhooks.tasks.process_inbound_batch")

    transaction.on_commit(wake, robust=True)


def batch_started() -> None:
    cache.delete(_BATCH_QUEUED)
