"""What a lock holds, compared with what Latchkey declares."""

from datetime import timedelta

import pytest

from codes import scheduler
from codes.models import AccessCode, AccessCodeStatus, Event, EventType
from codes.selectors import access_code_issues
from codes.services.access_codes import access_code_create
from codes.services.checks import AccessCodeRequest
from devices.providers.sandbox.models import SandboxCommand, SandboxHeldCode
from devices.providers.sandbox.provider import SandboxProvider
from devices.services import sandbox_fleet_create, workspace_get_or_create
from tests.devices.factories import sandbox_locks

pytestmark = pytest.mark.django_db


@pytest.fixture
def lock(now):
    workspace = workspace_get_or_create(name="Sandbox", is_sandbox=True)
    return sandbox_fleet_create(workspace=workspace)[1]  # the cloud lock


@pytest.fixture
def provider(lock):
    return SandboxProvider(lock.connected_account)


def set_code(lock, now, **options) -> AccessCode:
    code = access_code_create(device=lock, request=AccessCodeRequest(code="4821", name="Ana", **options))
    scheduler.sweep(now=now)
    code.refresh_from_db()
    assert code.status == AccessCodeStatus.SET
    return code


def on_lock(lock) -> list[str]:
    return list(SandboxHeldCode.objects.filter(lock__device=lock).values_list("code", flat=True))


def event_types(code) -> list[str]:
    return list(Event.objects.filter(access_code=code).values_list("event_type", flat=True))


def test_a_code_changed_outside_latchkey_is_an_error_and_is_set_back(lock, provider, now):
    code = set_code(lock, now)
    provider.simulate_external_change(lock.provider_device_id, code.provider_code_id, new_code="9999")
    assert scheduler.check_drift(now=now)["changed"] == 1
    code.refresh_from_db()
    [issue] = access_code_issues(code)
    assert (issue.kind, issue.code) == ("error", "code_modified_external_to_seam")
    assert EventType.MODIFIED_EXTERNAL_TO_SEAM in event_types(code)
    scheduler.sweep(now=now + timedelta(minutes=1))
    assert on_lock(lock) == ["4821"]
    code.refresh_from_db()
    assert code.status == AccessCodeStatus.SET and access_code_issues(code) == []


def test_a_code_deleted_outside_latchkey_is_set_again(lock, provider, now):
    code = set_code(lock, now)
    provider.simulate_external_delete(lock.provider_device_id, code.provider_code_id)
    assert scheduler.check_drift(now=now)["removed"] == 1
    assert EventType.DELETED_EXTERNAL_TO_SEAM in event_types(code)
    scheduler.sweep(now=now + timedelta(minutes=1))
    assert on_lock(lock) == ["4821"]


def test_an_allowed_outside_change_is_a_warning_once_and_left_alone(lock, provider, now):
    code = set_code(lock, now, allow_external_modification=True)
    provider.simulate_external_change(lock.provider_device_id, code.provider_code_id, new_code="9999")
    scheduler.check_drift(now=now)
    scheduler.check_drift(now=now + timedelta(minutes=15))
    [issue] = access_code_issues(code)
    assert (issue.kind, issue.code) == ("warning", "code_modified_external_to_seam")
    assert event_types(code).count(EventType.MODIFIED_EXTERNAL_TO_SEAM) == 1
    scheduler.sweep(now=now + timedelta(minutes=30))
    assert on_lock(lock) == ["9999"]
    assert list(SandboxCommand.objects.values_list("action", flat=True)) == ["set"]


def test_codes_found_on_the_lock_become_unmanaged_codes_and_leave_when_removed(lock, provider, now):
    set_code(lock, now)
    held = provider.simulate_unmanaged_code(lock.provider_device_id, code="7391", name="Owner")
    assert scheduler.check_drift(now=now)["unmanaged"] == 1
    scheduler.check_drift(now=now)  # not imported twice
    unmanaged = AccessCode.objects.get(is_managed=False)
    assert (unmanaged.code, unmanaged.name, unmanaged.provider_code_id) == (
        "7391",
        "Owner",
        held.provider_code_id,
    )
    provider.simulate_external_delete(lock.provider_device_id, held.provider_code_id)
    scheduler.check_drift(now=now)
    unmanaged.refresh_from_db()
    assert unmanaged.deleted_at is not None


def test_a_code_still_on_its_way_is_not_drift(lock, now):
    from devices.models import SandboxLock

    SandboxLock.objects.filter(device=lock).update(confirmation_delay_seconds=600)
    code = access_code_create(device=lock, request=AccessCodeRequest(code="4821"))
    scheduler.sweep(now=now)
    assert scheduler.check_drift(now=now) == {"devices": 1, "changed": 0, "removed": 0, "unmanaged": 0}
    assert access_code_issues(code) == []


def test_a_drift_checks_queries_do_not_grow_with_the_locks(now):
    """Every lock is checked every 15 minutes, so a lock that holds what it should costs no
    query of its own: the same few per chunk of locks, whether 2 or 12."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def doors(count: int, **where) -> list:
        made = sandbox_locks(count, **where)
        for door in made:
            access_code_create(device=door, request=AccessCodeRequest(name=f"Guest at {door.display_name}"))
        scheduler.sweep(now=now)
        return made

    def queries_for(locks) -> int:
        with CaptureQueriesContext(connection) as queries:
            counts = scheduler.check_drift(now=now, devices=locks)
        assert counts == {"devices": len(locks), "changed": 0, "removed": 0, "unmanaged": 0}
        return len(queries)

    few = doors(2)
    many = doors(12, account=few[0].connected_account, first=2)
    assert queries_for(few) == queries_for(many)


def test_the_drift_check_reads_the_fleet_a_chunk_at_a_time(now, monkeypatch):
    """Issue 21: the fleet is read a chunk of locks at a time, never whole, and every lock of
    every account is still checked. Before, every lock with codes was read into memory first."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(scheduler, "DRIFT_CHUNK", 2)
    first = sandbox_locks(3)
    second = sandbox_locks(2)  # another account
    assert first[0].connected_account_id != second[0].connected_account_id
    for door in (*first, *second):
        access_code_create(device=door, request=AccessCodeRequest(name=f"Guest at {door.display_name}"))
    scheduler.sweep(now=now)
    with CaptureQueriesContext(connection) as queries:
        counts = scheduler.check_drift(now=now)
    assert counts == {"devices": 5, "changed": 0, "removed": 0, "unmanaged": 0}
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "devices_device"')]
    fleet_reads = [sql for sql in reads if "LIMIT 2" in sql]
    assert len(fleet_reads) == 4  # pages of 2, 2, 1, then the empty one that ends it
    assert not [sql for sql in reads if "LIMIT" not in sql and "EXISTS" in sql]
