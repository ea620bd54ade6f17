"""The one place that locks rows for writing.

On PostgreSQL ``select_for_update`` serializes two writers on the same lock, so two requests can
never both see a PIN as free and both take it. SQLite has no row locks; there the IMMEDIATE
transaction mode (config.settings) takes the database's write lock when the transaction begins,
which serializes writers just as well.
"""

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q

from devices.models import Device


def lock_devices(device_ids) -> dict:
    """Lock devices for the rest of the current transaction, always in primary-key order so that
    two transactions locking several devices can never wait on each other in a cycle."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_devices must run inside transaction.atomic()")
    devices = Device.objects.select_for_update().filter(pk__in=list(device_ids)).order_by("pk")
    return {d.pk: d for d in devices}


def make_due_now(codes, *, now) -> int:
    """Bring these codes' next look forward to ``now``, leaving any a worker holds: its own
    recording sets their next look when it finishes, and would overwrite this one."""
    return codes.filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)).update(next_attempt_at=now)


def claim_due_codes(*, now, limit: int, lease: timedelta, exclude=()) -> list:
    """Claim up to ``limit`` codes that are due (``next_attempt_at <= now``) and not leased by
    another worker; return their ids. The claim is a lease: a worker that dies holding it
    leaves nothing stuck, since the lease lapses and the next sweep claims the code again.

    The batch is claimed with one compare-and-set update (only rows still free take the lease)
    in the same transaction as the read that chose it, so two workers can never both hold a
    code: on SQLite the transaction holds the database's write lock from its first statement
    (IMMEDIATE mode, config.settings), and on PostgreSQL the chosen rows are locked FOR UPDATE,
    with SKIP LOCKED so that concurrent sweeps spread over different rows instead of queueing.
    """
    from codes.models import AccessCode

    free = Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    due = AccessCode.objects.filter(free, next_attempt_at__lte=now).order_by("next_attempt_at")
    if exclude:
        due = due.exclude(pk__in=list(exclude))
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True)
    with transaction.atomic():
        ids = list(due.values_list("pk", flat=True)[:limit])
        claimed = AccessCode.objects.filter(free, pk__in=ids).update(claimed_until=now + lease)
        if claimed != len(ids):
            # Not possible while the transaction holds them (above). Were it ever, we could not
            # tell which rows are ours: take none, and leave them to the next sweep.
            transaction.set_rollback(True)
            return []
    return ids
