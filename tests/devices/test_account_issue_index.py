"""A list page asks, once per code, whether the code's lock or its account has an active issue
(``active_issues_of_locks`` inside ``codes_for_wire``). An account keeps every issue it ever had,
cleared ones too; the account's branch must be answered from its active ones
(``account_issue_active_idx``), not searched through that whole history: with 8,000 cleared
issues a page of 100 codes took 76 ms that way instead of 1.2 ms (bench/RESULTS.md)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from codes.selectors import wire_code, wire_codes
from devices.models import DeviceIssue, IssueKind
from devices.selectors import active_issues_of_locks
from tests.codes.factories import AccessCodeFactory
from tests.devices.factories import DeviceFactory

pytestmark = pytest.mark.django_db


def _issue(*, cleared: bool, hours: int, **subject) -> DeviceIssue:
    now = timezone.now()
    return DeviceIssue.objects.create(
        kind=IssueKind.ERROR,
        code="account_disconnected" if "connected_account" in subject else "device_offline",
        message="m",
        created_at=now - timedelta(hours=hours + 1),
        cleared_at=now - timedelta(hours=hours) if cleared else None,
        **subject,
    )


@pytest.fixture
def lock_with_history():
    lock = DeviceFactory()
    other = DeviceFactory()
    for hours in range(40):
        _issue(cleared=True, hours=hours, connected_account=lock.connected_account)
    _issue(cleared=True, hours=1, device=lock)
    AccessCodeFactory(device=lock)
    AccessCodeFactory(device=other)
    return lock, other


def test_only_active_issues_of_the_lock_and_its_account_count(lock_with_history):
    lock, other = lock_with_history
    account = lock.connected_account
    assert not active_issues_of_locks([lock.pk], [account.pk]).exists()
    assert [wire_code(row).may_have_lock_issues for row in wire_codes(shown=False).filter(device=lock)] == [
        False
    ]
    active = _issue(cleared=False, hours=0, connected_account=account)
    assert list(active_issues_of_locks([lock.pk], [account.pk])) == [active]
    assert [wire_code(row).may_have_lock_issues for row in wire_codes(shown=False).filter(device=lock)] == [
        True
    ]
    # Another account's lock is not reached.
    assert other.connected_account_id != account.pk
    assert [wire_code(row).may_have_lock_issues for row in wire_codes(shown=False).filter(device=other)] == [
        False
    ]


def test_the_accounts_branch_is_searched_among_active_issues_only(lock_with_history):
    lock, _ = lock_with_history
    sql, params = wire_codes(shown=False).filter(device=lock).query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = " ".join(row[-1] for row in cursor.fetchall())
        else:
            # A table of a few rows is read whole, whatever the indexes: the planner is told
            # not to, so that the plan shows which index it would search.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = " ".join(row[0] for row in cursor.fetchall())
    assert "account_issue_active_idx" in plan or "account_issue_one_active" in plan, plan
    assert "deviceissue_connected_account_id" not in plan, plan
