"""Handing stored work to django-q2 once it is committed."""

from django.db import transaction
from django_q.tasks import async_task


def enqueue_on_commit(task: str, pk) -> None:
    """Queue ``task`` (a dotted path to a function in ``webhooks.tasks``) with ``pk`` once the
    current transaction commits. Losing the hand-off loses nothing: the periodic sweeps find
    stored work that is still due."""
    transaction.on_commit(lambda: async_task(task, str(pk)), robust=True)
