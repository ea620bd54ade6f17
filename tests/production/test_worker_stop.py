"""A supervisor stops a worker machine in the middle of a sweep: SIGTERM to `run_workers`'s
whole process group. The sweep in hand finishes and is recorded, every process exits, and
nothing is lost: no code is left on a lock unrecorded, and the next cluster sets the rest
exactly once."""

import os
import signal

from django_q.models import Success

from codes.models import AccessCode, AccessCodeStatus
from tests.devices.factories import sandbox_locks
from tests.production.harness import all_set, guest_codes, held_but_unrecorded, wait_for
from tests.production.test_workers import assert_each_code_held_once, sets_sent_per_code


def set_count(codes) -> int:
    return AccessCode.objects.filter(pk__in=[c.pk for c in codes], status=AccessCodeStatus.SET).count()


def test_sigterm_to_the_group_mid_sweep_finishes_the_sweep_and_loses_nothing(production):
    codes = guest_codes(sandbox_locks(30), 600)
    # One worker, small batches: one sweep works through the codes batch after batch.
    workers = production.start(
        "workers", "manage.py", "run_workers", Q_WORKERS="1", SCHEDULER_BATCH_SIZE="10"
    )
    production.wait_for_clusters(1)
    production.enqueue_sweeps(1)
    wait_for(lambda: set_count(codes) > 0, timeout=60, what="the sweep to set its first codes", every=0.01)
    assert set_count(codes) < len(codes), "the sweep finished before it could be interrupted"

    os.killpg(workers.pid, signal.SIGTERM)  # as systemd stops a service: the whole group
    assert workers.wait(timeout=120) == 0, production.log("workers")
    assert "has stopped." in production.log("workers")  # django-q2's clean stop, not a kill

    # The sweep in hand ran to its end and was recorded; no lock holds a code Latchkey lost.
    sweeps = Success.objects.filter(func="codes.tasks.sweep_due_codes")
    assert sweeps.count() == 1
    assert held_but_unrecorded() == 0

    # The next cluster sets whatever was still due, each code exactly once.
    production.qcluster("after", Q_WORKERS="1")
    production.wait_for_clusters(1)
    production.enqueue_sweeps(1)
    wait_for(lambda: all_set(codes), timeout=120, what="every code set on its lock")
    assert max(sets_sent_per_code().values()) == 1
    assert_each_code_held_once(codes)
