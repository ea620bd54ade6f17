"""Driving the scheduler through time, as django-q2's minute schedule would, for the tests that
live through a code's life."""

from datetime import datetime

import time_machine

from codes import scheduler
from codes.models import AccessCode


def run_until(target: datetime) -> None:
    """Sweep at every instant a code is due, up to ``target``, as django-q2's minute schedule
    would (it sweeps whatever is due, so sweeping exactly at due times is the same thing)."""
    for _ in range(2000):
        # A leased code comes due again when its lease lapses, as the minute schedule finds it.
        candidates = [
            max(c.next_attempt_at, c.claimed_until or c.next_attempt_at)
            for c in AccessCode.objects.filter(next_attempt_at__lte=target).only(
                "next_attempt_at", "claimed_until"
            )
        ]
        due = min((t for t in candidates if t <= target), default=None)
        if due is None:
            break
        with time_machine.travel(due, tick=False):
            scheduler.sweep(now=due)
    else:
        raise AssertionError("the scheduler never settled")
    with time_machine.travel(target, tick=False):
        scheduler.sweep(now=target)
