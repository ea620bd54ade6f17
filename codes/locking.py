"""The one place that locks rows for writing.

On PostgreSQL ``select_for_update`` serializes two writers on the same lock, so two requests can
never both see a PIN as free and both take it. SQLite has no row locks; there the IMMEDIATE
transaction mode (config.settings) takes the database's write lock when the transaction begins,
which serializes writers just as well.
"""

from django.db import transaction

from devices.models import Device


def lock_devices(device_ids) -> dict:
    """Lock devices for the rest of the current transaction, always in primary-key order so that
    two transactions locking several devices can never wait on each other in a cycle."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_devices must run inside transaction.atomic()")
    devices = Device.objects.select_for_update().filter(pk__in=list(device_ids)).order_by("pk")
    return {d.pk: d for d in devices}
