"""Backup code pools: spare codes kept on the lock, handed out when a guest's code fails."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from codes import lifecycle, scheduler
from codes.models import AccessCode, AccessCodeStatus, BackupAccessCodePool, Event, EventType
from codes.selectors import access_code_issues, devices_with_backup_ready
from codes.services import backup_pool
from codes.services.access_codes import access_code_create
from codes.services.checks import AccessCodeRequest
from devices.models import SandboxLock
from devices.providers.sandbox.models import SandboxHeldCode
from devices.services import sandbox_fleet_create, workspace_get_or_create
from tests.codes.clock import run_until

pytestmark = pytest.mark.django_db
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


@pytest.fixture
def deadbolt(now):
    workspace = workspace_get_or_create(name="Sandbox", is_sandbox=True)
    lock = sandbox_fleet_create(workspace=workspace)[0]  # the keypad deadbolt: pool supported
    BackupAccessCodePool.objects.create(device=lock, target_size=3)
    return lock


def filled(lock, now) -> list[AccessCode]:
    created = backup_pool.backup_pool_refill(device=lock, now=now)
    scheduler.sweep(now=now)
    return created


def guest_code(lock, now, **extra) -> AccessCode:
    return access_code_create(
        device=lock,
        request=AccessCodeRequest(
            code="4821",
            name="Ana",
            starts_at=now + 2 * DAY,
            ends_at=now + 4 * DAY,
            use_backup_access_code_pool=True,
            **extra,
        ),
    )


def test_the_pool_keeps_its_backups_on_the_lock_hidden_from_lists(deadbolt, now):
    backups = filled(deadbolt, now)
    assert len(backups) == 3 and all(b.is_backup for b in backups)
    assert SandboxHeldCode.objects.filter(lock__device=deadbolt).count() == 3
    assert not AccessCode.objects.shown().filter(is_backup=True).exists()
    assert backup_pool.backup_pool_refill(device=deadbolt, now=now) == []  # already full
    guest = guest_code(deadbolt, now)
    ready = devices_with_backup_ready([guest.device_id])  # the API's is_backup_access_code_available
    assert guest.use_backup_access_code_pool and guest.device_id in ready


def test_a_pulled_backup_stands_in_for_the_guest_until_their_departure(deadbolt, now):
    filled(deadbolt, now)
    code = guest_code(deadbolt, now)
    backup = backup_pool.backup_code_pull(access_code=code, now=now)
    code.refresh_from_db()
    assert (backup.is_backup, backup.ends_at, backup.status) == (True, code.ends_at, AccessCodeStatus.SET)
    assert code.pulled_backup_access_code_id == backup.pk
    # The reason names the backup by reference; its PIN is never copied into free text.
    assert code.needs_review and backup.code not in code.review_reason
    assert Event.objects.filter(access_code=code, event_type=EventType.BACKUP_ACCESS_CODE_PULLED).count() == 1
    assert AccessCode.objects.shown().filter(pk=backup.pk).exists()
    assert backup_pool.backup_code_pull(access_code=code, now=now) == backup  # pulling again: same one

    assert len(backup_pool.backup_pool_refill(device=deadbolt, now=now)) == 1  # the pool refills
    run_until(now + 4 * DAY)
    backup.refresh_from_db()
    assert backup.deleted_at == now + 4 * DAY  # off the lock after the guest's departure
    assert backup.code not in SandboxHeldCode.objects.values_list("code", flat=True)


def test_pulling_from_an_empty_pool_is_refused_and_changes_nothing_on_the_lock(deadbolt, now):
    code = guest_code(deadbolt, now)
    with pytest.raises(ValidationError) as excinfo:
        backup_pool.backup_code_pull(access_code=code, now=now)
    assert "the pool is empty" in excinfo.value.message_dict["access_code_id"][0]
    assert access_code_issues(code) == []  # a refused request, not the lock's trouble


def test_the_schedulers_pull_from_an_empty_pool_says_so_on_the_lock_until_a_refill(deadbolt, now):
    code = guest_code(deadbolt, now)
    with pytest.raises(ValidationError):
        backup_pool.backup_code_pull(access_code=code, now=now, record_empty_pool=True)
    assert "empty_backup_access_code_pool" in {i.code for i in access_code_issues(code)}
    filled(deadbolt, now)
    backup_pool.backup_pool_refill(device=deadbolt, now=now)
    assert "empty_backup_access_code_pool" not in {i.code for i in access_code_issues(code)}


def test_only_a_time_bound_code_using_the_pool_can_pull(deadbolt, now):
    filled(deadbolt, now)
    ongoing = access_code_create(device=deadbolt, request=AccessCodeRequest(code="7391"))
    with pytest.raises(ValidationError, match="use_backup_access_code_pool"):
        backup_pool.backup_code_pull(access_code=ongoing, now=now)


def test_a_code_not_set_shortly_before_arrival_pulls_a_backup_by_itself(deadbolt, now):
    BackupAccessCodePool.objects.filter(device=deadbolt).update(auto_pull=True)
    filled(deadbolt, now)
    code = guest_code(deadbolt, now)
    SandboxLock.objects.filter(device=deadbolt).update(rejects_pin_format=True)  # the guest's code fails
    run_until(now + 2 * DAY - lifecycle.AUTO_PULL_LEAD - timedelta(minutes=1))
    code.refresh_from_db()
    assert code.pulled_backup_access_code_id is None
    run_until(now + 2 * DAY - lifecycle.AUTO_PULL_LEAD)
    code.refresh_from_db()
    assert code.pulled_backup_access_code_id is not None
    assert code.needs_review and "Backup code pulled" in code.review_reason
    assert Event.objects.filter(access_code=code, event_type=EventType.BACKUP_ACCESS_CODE_PULLED).exists()


def test_without_auto_pull_the_pool_is_left_alone(deadbolt, now):
    filled(deadbolt, now)
    code = guest_code(deadbolt, now)
    SandboxLock.objects.filter(device=deadbolt).update(rejects_pin_format=True)
    run_until(now + 2 * DAY)
    code.refresh_from_db()
    assert code.pulled_backup_access_code_id is None and code.needs_review
