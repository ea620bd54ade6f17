"""Several qcluster processes on one Redis queue: they share the due work without doing any of
it twice, and a worker killed in the middle of a sweep loses nothing."""

from collections import Counter

import pytest
from django.db.models import F
from django_q.models import Success

from codes.models import AccessCode, AccessCodeStatus
from devices.models import SandboxCommand, SandboxHeldCode
from tests.devices.factories import sandbox_locks
from tests.production.harness import (
    all_set,
    guest_codes,
    held_but_unrecorded,
    states,
    wait_for,
)


def sets_sent_per_code() -> Counter:
    """How many times each (lock, PIN) was sent to be set: the locks' own record."""
    sent = SandboxCommand.objects.filter(action="set").values_list("lock_id", "code")
    return Counter(sent)


def assert_each_code_held_once(codes) -> None:
    """Each code is on its lock exactly once, under the id Latchkey recorded, and the locks
    hold nothing else."""
    fresh = AccessCode.objects.filter(pk__in=[c.pk for c in codes])
    expected = Counter((code.device_id, code.code, code.provider_code_id) for code in fresh)
    held = Counter(SandboxHeldCode.objects.values_list("lock_id", "code", "provider_code_id"))
    assert held == expected
    assert max(expected.values()) == 1


def overlapping(tasks) -> list:
    """Pairs of tasks whose runs overlapped in time."""
    tasks = sorted(tasks, key=lambda t: t.started)
    return [(a, b) for i, a in enumerate(tasks) for b in tasks[i + 1 :] if b.started < a.stopped]


def test_two_clusters_sweeping_the_same_work_never_program_a_code_twice(production):
    codes = guest_codes(sandbox_locks(20), 400)
    # One worker each: two sweeps running at once are then in two different processes.
    # Small batches, so that the two sweeps interleave claim by claim.
    for name in ("cluster-a", "cluster-b"):
        production.qcluster(name, Q_WORKERS="1", SCHEDULER_BATCH_SIZE="4")
    production.wait_for_clusters(2)
    production.enqueue_sweeps(6)
    wait_for(lambda: all_set(codes), timeout=90, what="every code set on its lock")
    wait_for(lambda: Success.objects.count() == 6, timeout=30, what="six sweeps recorded done")

    sweeps = list(Success.objects.filter(func="codes.tasks.sweep_due_codes"))
    working = [t for t in sweeps if t.result["claimed"]]
    assert sum(t.result["claimed"] for t in sweeps) == len(codes)  # each code claimed once
    assert overlapping(working), "the two clusters never swept at the same time"
    sent = sets_sent_per_code()
    assert sum(sent.values()) == len(codes)
    assert max(sent.values()) == 1
    assert_each_code_held_once(codes)


def test_a_worker_killed_mid_sweep_loses_nothing(production):
    """The worst moment to die: the locks have taken a batch and Latchkey has not yet recorded
    it. The next sweep finds those codes on their locks instead of sending them again."""
    codes = guest_codes(sandbox_locks(30), 600)
    lease = {"SCHEDULER_LEASE_SECONDS": "3", "SCHEDULER_BATCH_SIZE": "20", "Q_WORKERS": "1"}
    for attempt in range(5):
        doomed = production.qcluster(f"doomed-{attempt}", **lease)
        production.wait_for_clusters(1)
        production.enqueue_sweeps(1)
        wait_for(held_but_unrecorded, timeout=60, what="a batch sent and not yet recorded", every=0.002)
        production.kill(doomed)
        in_doubt = held_but_unrecorded()
        if in_doubt:
            break
    else:
        pytest.fail("five kills all missed the moment between a lock's answer and its record")
    set_before = AccessCode.objects.filter(status=AccessCodeStatus.SET).count()
    assert set_before < len(codes)

    production.qcluster("successor", **lease)
    production.wait_for_clusters(1)
    # The schedule's next sweeps: one now, and more while the dead worker's leases lapse.
    for _ in range(10):
        production.enqueue_sweeps(1)
        if wait_for(lambda: all_set(codes), timeout=3, what="", required=False):
            break
    wait_for(lambda: all_set(codes), timeout=30, what=lambda: f"every code set: {states(codes)}")
    assert AccessCode.objects.filter(claimed_until__isnull=False).count() == 0
    assert not AccessCode.objects.exclude(sent_version=F("version")).exists()
    assert_each_code_held_once(codes)
    # What the dead worker had sent but not recorded was found on the locks, not sent again:
    # every code was sent to be set exactly once.
    sent = sets_sent_per_code()
    assert sum(sent.values()) == len(codes) and max(sent.values()) == 1
    assert held_but_unrecorded() == 0
    print(f"killed (attempt {attempt + 1}) with {set_before} of {len(codes)} set, {in_doubt} unrecorded")
