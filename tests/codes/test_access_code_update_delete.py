from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from codes.models import AccessCode, AccessCodeStatus, AccessCodeType, Event, EventType
from codes.services.access_codes import (
    access_code_create,
    access_code_delete,
    access_code_update,
    access_codes_create_multiple,
)
from codes.services.checks import AccessCodeRequest, CodeConflict
from devices.models import Device
from tests.codes.factories import AccessCodeFactory
from tests.devices.factories import DeviceFactory

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


def events(code, event_type):
    return Event.objects.filter(access_code=code, event_type=event_type)


def test_changing_the_pin_records_what_changed_and_makes_it_due(device, now):
    code = access_code_create(device=device, request=AccessCodeRequest(code="4821"))
    AccessCode.objects.filter(pk=code.pk).update(next_attempt_at=None, attempt_count=4)
    updated = access_code_update(access_code=code, code="7391", now=now + DAY)
    assert updated.code == "7391"
    assert updated.next_attempt_at == now + DAY
    assert updated.attempt_count == 0
    assert list(events(code, EventType.CHANGED).values_list("payload__changed", flat=True)) == [["code"]]


def test_an_update_that_changes_nothing_records_nothing(device, now):
    code = access_code_create(device=device, request=AccessCodeRequest(code="4821", name="Ana"))
    access_code_update(access_code=code, code="4821", name="Ana")
    assert not events(code, EventType.CHANGED).exists()


def test_update_to_a_pin_held_by_another_code_conflicts_and_keeps_the_old(device, now):
    access_code_create(device=device, request=AccessCodeRequest(code="1111"))
    code = access_code_create(device=device, request=AccessCodeRequest(code="4821"))
    with pytest.raises(CodeConflict):
        access_code_update(access_code=code, code="1111")
    code.refresh_from_db()
    assert code.code == "4821"
    assert not events(code, EventType.CHANGED).exists()


def test_update_can_move_the_window_and_make_a_code_ongoing(device, now):
    code = access_code_create(
        device=device, request=AccessCodeRequest(code="4821", starts_at=now + DAY, ends_at=now + 2 * DAY)
    )
    moved = access_code_update(access_code=code, ends_at=now + 4 * DAY)
    assert (moved.starts_at, moved.ends_at) == (now + DAY, now + 4 * DAY)
    ongoing = access_code_update(access_code=code, make_ongoing=True)
    assert (ongoing.type, ongoing.starts_at, ongoing.ends_at) == (AccessCodeType.ONGOING, None, None)


def test_update_with_end_before_start_is_refused(device, now):
    code = access_code_create(
        device=device, request=AccessCodeRequest(code="4821", starts_at=now + DAY, ends_at=now + 2 * DAY)
    )
    with pytest.raises(ValidationError) as excinfo:
        access_code_update(access_code=code, ends_at=now + DAY / 2)
    assert excinfo.value.message_dict == {"ends_at": ["must be after starts_at."]}
    code.refresh_from_db()
    assert code.ends_at == now + 2 * DAY


def test_updating_a_deleted_code_is_refused(device, now):
    code = access_code_create(device=device, request=AccessCodeRequest(code="4821"))
    access_code_delete(access_code=code)
    with pytest.raises(ValidationError) as excinfo:
        access_code_update(access_code=code, name="New")
    assert excinfo.value.message_dict == {"access_code_id": ["this access code has been deleted."]}


def test_updating_an_unmanaged_code_is_refused(device, now):
    code = AccessCodeFactory(device=device, is_managed=False)
    with pytest.raises(ValidationError) as excinfo:
        access_code_update(access_code=code, name="New")
    assert "unmanaged" in excinfo.value.message_dict["access_code_id"][0]


def test_deleting_a_code_on_the_lock_leaves_it_removing_and_gone_from_live(device, now):
    code = AccessCodeFactory(device=device, status=AccessCodeStatus.SET)
    deleted = access_code_delete(access_code=code)
    assert deleted.status == AccessCodeStatus.REMOVING
    assert deleted.next_attempt_at == now
    assert not AccessCode.objects.live().filter(pk=code.pk).exists()
    assert events(code, EventType.DELETED).count() == 1


def test_deleting_a_code_never_programmed_needs_no_removal(device, now):
    code = access_code_create(device=device, request=AccessCodeRequest(code="4821"))
    deleted = access_code_delete(access_code=code)
    assert deleted.status == AccessCodeStatus.UNSET
    assert deleted.next_attempt_at is None


def test_deleting_twice_records_one_event(device, now):
    code = access_code_create(device=device, request=AccessCodeRequest(code="4821"))
    access_code_delete(access_code=code)
    access_code_delete(access_code=code)
    assert events(code, EventType.DELETED).count() == 1


def test_create_multiple_shares_one_pin_and_a_common_key(now, rng):
    first = DeviceFactory(supported_code_lengths=[4, 5, 6])
    second = DeviceFactory(workspace=first.workspace, supported_code_lengths=[6, 7], pin_forbids_zeros=True)
    codes = access_codes_create_multiple(
        devices=[first, second], request=AccessCodeRequest(name="Ana"), rng=rng
    )
    assert len({c.code for c in codes}) == 1
    assert len(codes[0].code) == 6 and "0" not in codes[0].code
    assert codes[0].common_code_key == codes[1].common_code_key
    assert codes[0].common_code_key.startswith("auto_set_by_create_multiple_")


def test_create_multiple_is_all_or_nothing(now):
    first = DeviceFactory()
    second = DeviceFactory(workspace=first.workspace)
    AccessCodeFactory(device=second, code="4821")
    with pytest.raises(CodeConflict) as excinfo:
        access_codes_create_multiple(devices=[first, second], request=AccessCodeRequest(code="4821"))
    assert excinfo.value.message_dict["code"][0].startswith(f"{second.display_name}: ")
    assert not AccessCode.objects.filter(device=first).exists()


def test_create_multiple_refuses_when_no_length_suits_every_lock(now):
    first = DeviceFactory(supported_code_lengths=[4])
    second = DeviceFactory(workspace=first.workspace, supported_code_lengths=[6])
    with pytest.raises(ValidationError) as excinfo:
        access_codes_create_multiple(devices=[first, second], request=AccessCodeRequest())
    assert "no single PIN" in excinfo.value.message_dict["code"][0]
    assert not AccessCode.objects.exists()


def test_renaming_a_code_whose_pin_breaks_a_newer_rule_is_allowed(device, now):
    code = access_code_create(device=device, request=AccessCodeRequest(code="4801"))
    Device.objects.filter(pk=device.pk).update(pin_forbids_zeros=True)
    renamed = access_code_update(access_code=code, name="Ana")
    assert (renamed.name, renamed.code) == ("Ana", "4801")


def test_renaming_a_code_with_a_duplicate_on_the_lock_is_allowed(device, now):
    code = access_code_create(device=device, request=AccessCodeRequest(code="4821"))
    AccessCodeFactory(device=device, code="4821", is_managed=False, status=AccessCodeStatus.SET)
    assert access_code_update(access_code=code, name="Ana").name == "Ana"
    with pytest.raises(CodeConflict):  # but moving it into a new window is judged again
        access_code_update(access_code=code, starts_at=now + DAY, ends_at=now + 2 * DAY)


def test_an_offline_code_can_be_renamed_and_a_new_window_asks_for_a_new_pin(now):
    lock = DeviceFactory(can_program_offline_access_codes=True, can_program_online_access_codes=False)
    code = AccessCodeFactory(
        device=lock,
        code="918273645",
        time_bound=True,
        is_offline_access_code=True,
        status=AccessCodeStatus.SET,
    )
    renamed = access_code_update(access_code=code, name="Ana")
    assert (renamed.name, renamed.code) == ("Ana", "918273645")
    moved = access_code_update(access_code=code, ends_at=code.ends_at + DAY)
    assert moved.code is None and moved.is_waiting_for_code_assignment
    with pytest.raises(ValidationError) as excinfo:
        access_code_update(access_code=code, code="1234")
    assert excinfo.value.message_dict == {"code": ["offline codes are assigned by the lock's algorithm."]}


def test_deleting_a_code_in_unknown_state_takes_it_off_the_lock(device, now):
    code = AccessCodeFactory(device=device, code="4821", status=AccessCodeStatus.UNKNOWN)
    deleted = access_code_delete(access_code=code)
    assert deleted.status == AccessCodeStatus.REMOVING and deleted.next_attempt_at == now
    with pytest.raises(CodeConflict):
        access_code_create(device=device, request=AccessCodeRequest(code="4821"))


def test_create_multiple_with_the_same_lock_twice_makes_one_code(device, now):
    codes = access_codes_create_multiple(devices=[device, device], request=AccessCodeRequest(code="4821"))
    assert len(codes) == 1


def test_create_multiple_across_workspaces_is_refused(now):
    with pytest.raises(ValidationError) as excinfo:
        access_codes_create_multiple(devices=[DeviceFactory(), DeviceFactory()], request=AccessCodeRequest())
    assert excinfo.value.message_dict == {"device_ids": ["all devices must belong to the same workspace."]}
    assert not AccessCode.objects.exists()


def test_deleting_a_code_the_lock_accepted_but_never_confirmed_takes_it_off(device, now):
    # Pending on the lock, then a failed retry left it "unset": its PIN may still be there.
    code = AccessCodeFactory(
        device=device, code="4821", status=AccessCodeStatus.UNSET, provider_code_id="lock-7"
    )
    deleted = access_code_delete(access_code=code)
    assert deleted.status == AccessCodeStatus.REMOVING and deleted.next_attempt_at == now


def test_a_deleted_offline_code_needs_nothing_from_the_lock(now):
    from codes.lifecycle import needed_action

    lock = DeviceFactory(can_program_offline_access_codes=True)
    code = AccessCodeFactory(
        device=lock,
        code="918273645",
        time_bound=True,
        is_offline_access_code=True,
        status=AccessCodeStatus.SET,
    )
    deleted = access_code_delete(access_code=code)
    assert deleted.status == AccessCodeStatus.SET and deleted.next_attempt_at is None
    assert needed_action(deleted, now=now) is None
