"""Backup pools as Seam has them, through Seam's SDK: creating a code with
``use_backup_access_code_pool`` turns the lock's pool on, and a pull that finds no backup says so
and changes nothing else."""

from datetime import timedelta

import pytest
from django.utils import timezone
from seam.exceptions import SeamHttpInvalidInputError

from codes.models import BackupAccessCodePool
from codes.scheduler import sweep
from devices.models import DeviceIssue
from devices.providers.sandbox.models import SandboxHeldCode


def window(days_ahead: int = 3) -> dict:
    start = (timezone.now() + timedelta(days=days_ahead)).replace(microsecond=0)
    return {"starts_at": start.isoformat(), "ends_at": (start + timedelta(days=2)).isoformat()}


def backups_on(lock) -> int:
    return SandboxHeldCode.objects.filter(lock__device=lock, name="Backup code").count()


def test_creating_a_code_that_uses_the_pool_turns_it_on_and_fills_it_at_once(seam, fleet):
    lock = fleet["keypad-deadbolt"]
    guest = seam.access_codes.create(
        device_id=str(lock.pk), name="Ana", use_backup_access_code_pool=True, **window()
    )
    # No devices/update, no wait for the 5-minute refill: the backups are on the lock already.
    assert BackupAccessCodePool.objects.get(device=lock).is_enabled
    assert backups_on(lock) == 3
    assert seam.access_codes.get(access_code_id=guest.access_code_id).is_backup_access_code_available is True
    backup = seam.access_codes.pull_backup_access_code(access_code_id=guest.access_code_id)
    assert backup.is_backup is True


def test_updating_a_code_to_use_the_pool_turns_it_on(seam, fleet):
    lock = fleet["keypad-deadbolt"]
    guest = seam.access_codes.create(device_id=str(lock.pk), name="Ana", **window())
    assert not BackupAccessCodePool.objects.filter(device=lock).exists()
    # The SDK's update() has no such parameter, so the SDK's client sends it as Seam's API has it.
    seam.client.post(
        "/access_codes/update",
        json={"access_code_id": guest.access_code_id, "use_backup_access_code_pool": True},
    )
    assert backups_on(lock) == 3
    assert seam.access_codes.get(access_code_id=guest.access_code_id).is_backup_access_code_available is True


def test_create_multiple_turns_on_the_pool_of_each_lock(seam, fleet):
    lock = fleet["keypad-deadbolt"]
    [guest] = seam.access_codes.create_multiple(
        device_ids=[str(lock.pk)], name="Ana", use_backup_access_code_pool=True, **window()
    )
    assert backups_on(lock) == 3
    assert seam.access_codes.get(access_code_id=guest.access_code_id).is_backup_access_code_available is True


def test_a_lock_that_cannot_have_a_pool_is_refused_by_name(seam, fleet):
    cloud, deadbolt = fleet["cloud-lock"], fleet["keypad-deadbolt"]
    with pytest.raises(SeamHttpInvalidInputError) as create:
        seam.access_codes.create(device_id=str(cloud.pk), use_backup_access_code_pool=True, **window())
    assert "does not support a backup code pool" in str(
        create.value.get_validation_error_messages("use_backup_access_code_pool")
    )
    with pytest.raises(SeamHttpInvalidInputError) as multiple:
        seam.access_codes.create_multiple(
            device_ids=[str(deadbolt.pk), str(cloud.pk)], use_backup_access_code_pool=True, **window()
        )
    assert "does not support a backup code pool" in str(
        multiple.value.get_validation_error_messages("use_backup_access_code_pool")
    )
    existing = seam.access_codes.create(device_id=str(cloud.pk), name="Ben", **window())
    with pytest.raises(SeamHttpInvalidInputError) as update:
        seam.client.post(
            "/access_codes/update",
            json={"access_code_id": existing.access_code_id, "use_backup_access_code_pool": True},
        )
    assert "does not support a backup code pool" in str(
        update.value.get_validation_error_messages("use_backup_access_code_pool")
    )
    # All or nothing: the deadbolt's pool was not turned on by the refused create_multiple.
    assert not BackupAccessCodePool.objects.exists()


def pull_refused(seam, access_code_id: str) -> str:
    with pytest.raises(SeamHttpInvalidInputError) as refused:
        seam.access_codes.pull_backup_access_code(access_code_id=access_code_id)
    assert refused.value.status_code == 400
    [message] = refused.value.get_validation_error_messages("access_code_id")
    return message


def test_a_pull_from_an_empty_pool_is_refused_and_changes_nothing_else(seam, fleet):
    lock = fleet["keypad-deadbolt"]
    seam.devices.update(device_id=str(lock.pk), backup_access_code_pool_enabled=True)
    resident = seam.access_codes.create(device_id=str(lock.pk), name="Resident", code="4821")
    guests = [
        seam.access_codes.create(
            device_id=str(lock.pk), name=f"Guest {n}", use_backup_access_code_pool=True, **window(2 + 3 * n)
        )
        for n in range(4)
    ]
    sweep(now=timezone.now())
    for guest in guests[:3]:  # the pool holds three
        seam.access_codes.pull_backup_access_code(access_code_id=guest.access_code_id)
    before = {
        c.access_code_id: (c.status, c.errors, c.warnings)
        for c in seam.access_codes.list(device_id=str(lock.pk))
    }

    assert "the pool is empty" in pull_refused(seam, guests[3].access_code_id)
    assert not DeviceIssue.objects.filter(device=lock, cleared_at__isnull=True).exists()
    after = {
        c.access_code_id: (c.status, c.errors, c.warnings)
        for c in seam.access_codes.list(device_id=str(lock.pk))
    }
    assert after == before
    assert after[resident.access_code_id] == ("set", [], [])


def test_a_pull_on_a_lock_whose_pool_is_off_says_so_and_changes_nothing_else(seam, fleet):
    lock = fleet["keypad-deadbolt"]
    resident = seam.access_codes.create(device_id=str(lock.pk), name="Resident", code="4821")
    guest = seam.access_codes.create(
        device_id=str(lock.pk), name="Ana", use_backup_access_code_pool=True, **window()
    )
    seam.devices.update(device_id=str(lock.pk), backup_access_code_pool_enabled=False)
    sweep(now=timezone.now())
    assert "pool is turned off" in pull_refused(seam, guest.access_code_id)
    assert not DeviceIssue.objects.filter(device=lock, cleared_at__isnull=True).exists()
    assert seam.access_codes.get(access_code_id=resident.access_code_id).errors == []
    answer = seam.access_codes.get(access_code_id=guest.access_code_id)
    assert (answer.errors, answer.pulled_backup_access_code_id) == ([], None)
