"""The count of codes taking slots on a batch's locks, which every sweep asks, is answered from
the slot index alone (``access_code_slot_idx``, issue 17): without it the database read every
code of those locks."""

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from codes.models import AccessCodeStatus, AccessCodeType
from codes.selectors import _slot_takers_by_lock, codes_taking_slots
from tests.codes.factories import AccessCodeFactory
from tests.devices.factories import DeviceFactory

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)

# Each way a code may be on its lock (``AccessCode.may_be_on_lock``), and none.
ON_LOCK = {
    "off": {},
    "provider id": {"provider_code_id": "pc-1"},
    "setting": {"status": AccessCodeStatus.SETTING},
    "removing": {"status": AccessCodeStatus.REMOVING},
    "scheduled": {"is_scheduled_on_device": True},
    "in flight": {"send_in_flight": {"code": "1234", "name": "Guest"}},
}


def test_the_codes_taking_slots_are_those_live_or_on_the_lock_never_offline(now):
    """Every mix of offline, deleted, window (none, to come, over) and each way of being on the
    lock: a code takes a slot when it is no offline PIN and is live (not deleted, window not
    over) or may be on the lock, as ``AccessCode.may_be_on_lock`` says; the grouped count and
    the list agree. (The query carries the slot index's condition besides its own terms; this
    pins that the two say the same.)"""
    lock, other = DeviceFactory(), DeviceFactory()
    windows = {
        "ongoing": {"type": AccessCodeType.ONGOING},
        "to come": {"type": AccessCodeType.TIME_BOUND, "starts_at": now + DAY, "ends_at": now + 3 * DAY},
        "over": {"type": AccessCodeType.TIME_BOUND, "starts_at": now - 3 * DAY, "ends_at": now - DAY},
        "ends now": {"type": AccessCodeType.TIME_BOUND, "starts_at": now - 3 * DAY, "ends_at": now},
    }
    codes = [
        AccessCodeFactory(
            device=lock,
            is_offline_access_code=offline,
            deleted_at=now - DAY if deleted else None,
            **windows[window],
            **ON_LOCK[on],
        )
        for offline, deleted, window, on in itertools.product((False, True), (False, True), windows, ON_LOCK)
    ]
    AccessCodeFactory(device=other)

    def takes_slot(code) -> bool:
        live = code.deleted_at is None and (code.ends_at is None or code.ends_at > now)
        return not code.is_offline_access_code and (live or code.may_be_on_lock)

    expected = {code.pk for code in codes if takes_slot(code)}
    # Of the 48 codes that are no offline PIN: the 40 on the lock in some way, whatever their
    # window or deletion, and the 2 off it that are live (ongoing, or to come; one ending at
    # this very instant is over).
    assert len(expected) == 42
    assert set(codes_taking_slots([lock.pk], now=now).values_list("pk", flat=True)) == expected
    assert _slot_takers_by_lock([lock.pk, other.pk], now=now) == {lock.pk: len(expected), other.pk: 1}


def test_the_count_of_codes_taking_slots_reads_the_slot_index_alone(now):
    """The sweep's grouped count is answered from ``access_code_slot_idx`` without reading a
    row: SQLite calls it a covering index, PostgreSQL an index-only scan. It stops being so if
    the count names a column the index lacks, or loses a term of the index's condition (a
    partial index serves only a query that carries its condition)."""
    locks = [DeviceFactory() for _ in range(3)]
    for lock in locks:
        AccessCodeFactory(device=lock)
        AccessCodeFactory(device=lock, time_bound=True, status=AccessCodeStatus.SET, provider_code_id="pc")
    with CaptureQueriesContext(connection) as queries:
        _slot_takers_by_lock([lock.pk for lock in locks], now=now)
    (count,) = [q["sql"] for q in queries.captured_queries]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + count)
            plan = " ".join(row[-1] for row in cursor.fetchall())
            assert "USING COVERING INDEX access_code_slot_idx" in plan, plan
        else:
            # A table of a few rows is read whole, whatever the indexes: the planner is told
            # not to, so that the plan shows whether the index could answer alone.
            cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off")
            cursor.execute("EXPLAIN " + count)
            plan = " ".join(row[0] for row in cursor.fetchall())
            assert "Index Only Scan using access_code_slot_idx" in plan, plan
