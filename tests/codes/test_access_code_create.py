"""Each rule access_code_create enforces, with a bad input and proof that nothing was written."""

from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from codes.models import AccessCode, AccessCodeStatus, AccessCodeType, Event, EventType
from codes.services.access_codes import access_code_create, access_code_delete
from codes.services.checks import AccessCodeRequest, CodeConflict
from tests.codes.factories import AccessCodeFactory
from tests.devices.factories import DeviceFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def _counts():
    return AccessCode.objects.count(), Event.objects.count()


@contextmanager
def refused(error_class=ValidationError):
    """The call inside is refused with ``error_class`` and writes no code and no event."""
    before = _counts()
    with pytest.raises(error_class) as excinfo:
        yield excinfo
    assert _counts() == before


def create(device, **fields):
    return access_code_create(device=device, request=AccessCodeRequest(**fields))


def errors_of(excinfo) -> dict:
    return excinfo.value.message_dict


# --- The happy paths: what a good request writes ---------------------------------------------


def test_ongoing_code_is_written_with_created_event_and_due_now(device, now):
    code = create(device, name="Cleaner", code="4821")
    assert code.type == AccessCodeType.ONGOING
    assert code.status == AccessCodeStatus.UNSET
    assert (code.starts_at, code.ends_at) == (None, None)
    assert code.workspace_id == device.workspace_id
    assert code.next_attempt_at == now
    event = Event.objects.get(access_code=code)
    assert event.event_type == EventType.CREATED
    assert event.payload == {"device_id": str(device.pk), "access_code_id": str(code.pk)}


def test_time_bound_code_keeps_its_window(device, now):
    code = create(device, code="4821", starts_at=now + DAY, ends_at=now + 3 * DAY)
    code.refresh_from_db()
    assert code.type == AccessCodeType.TIME_BOUND
    assert (code.starts_at, code.ends_at) == (now + DAY, now + 3 * DAY)


def test_code_already_running_may_start_in_the_past(device, now):
    code = create(device, code="4821", starts_at=now - DAY, ends_at=now + DAY)
    assert code.starts_at == now - DAY


def test_generated_pin_honours_preferred_length_and_rules(strict_device, now):
    code = create(strict_device, preferred_code_length=7)
    assert len(code.code) == 7
    assert "0" not in code.code
    assert not code.is_waiting_for_code_assignment


# --- The PIN itself ---------------------------------------------------------------------------


@pytest.mark.parametrize("pin", ["12a4", "12 34", "１２３４", "-123", "+1234", "12.4"])
def test_non_digit_pin_is_refused(device, now, pin):
    with refused(ValidationError) as excinfo:
        create(device, code=pin)
    assert errors_of(excinfo) == {"code": [f"'{pin}' must contain digits only (0-9)."]}


@pytest.mark.parametrize("pin", ["12", "123", "1234567"])
def test_pin_of_unsupported_length_is_refused(device, now, pin):
    with refused(ValidationError) as excinfo:
        create(device, code=pin)
    assert errors_of(excinfo)["code"] == [
        f"'{pin}' is {len(pin)} digits long; this lock accepts 4, 5, 6 digits."
    ]


def test_pin_with_zero_is_refused_where_the_lock_forbids_zeros(strict_device, now):
    with refused(ValidationError) as excinfo:
        create(strict_device, code="918205")
    assert "contains a 0" in errors_of(excinfo)["code"][0]


@pytest.mark.parametrize("pin", ["914567", "919876", "123999"])
def test_pin_with_sequence_is_refused_where_the_lock_forbids_runs(strict_device, now, pin):
    with refused(ValidationError) as excinfo:
        create(strict_device, code=pin)
    assert "ascending or descending" in errors_of(excinfo)["code"][0]


def test_every_broken_pin_rule_is_reported_at_once(strict_device, now):
    with refused(ValidationError) as excinfo:
        create(strict_device, code="01234")
    messages = errors_of(excinfo)["code"]
    assert len(messages) == 3  # length, zero, sequence
    assert any("5 digits long" in m for m in messages)


def test_pin_sharing_first_four_digits_conflicts_where_lock_requires_unique(strict_device, now):
    AccessCodeFactory(device=strict_device, code="917394")
    with refused(CodeConflict) as excinfo:
        create(strict_device, code="917388")
    assert "first four digits" in errors_of(excinfo)["code"][0]


def test_pin_sharing_first_four_digits_is_fine_elsewhere(device, now):
    AccessCodeFactory(device=device, code="917394")
    assert create(device, code="917388").code == "917388"


# --- The PIN against the lock's other codes ----------------------------------------------------


def test_same_pin_as_an_ongoing_code_conflicts(device, now):
    AccessCodeFactory(device=device, code="4821")
    with refused(CodeConflict) as excinfo:
        create(device, code="4821", starts_at=now + DAY, ends_at=now + 2 * DAY)
    assert "already on this lock" in errors_of(excinfo)["code"][0]


def test_same_pin_as_an_unmanaged_code_conflicts(device, now):
    AccessCodeFactory(device=device, code="4821", is_managed=False, status=AccessCodeStatus.SET)
    with refused(CodeConflict):
        create(device, code="4821")


def test_same_pin_in_an_overlapping_window_conflicts(device, now):
    create(device, code="4821", starts_at=now + DAY, ends_at=now + 3 * DAY)
    with refused(CodeConflict):
        create(device, code="4821", starts_at=now + 2 * DAY, ends_at=now + 4 * DAY)


def test_same_pin_on_another_lock_is_allowed(device, now):
    create(device, code="4821")
    other = DeviceFactory(workspace=device.workspace)
    assert create(other, code="4821").device == other


def test_deleted_code_still_being_removed_holds_its_pin(device, now):
    old = AccessCodeFactory(device=device, code="4821", status=AccessCodeStatus.SET)
    access_code_delete(access_code=old)
    with refused(CodeConflict):
        create(device, code="4821")


def test_deleted_code_never_set_frees_its_pin(device, now):
    old = create(device, code="4821")
    access_code_delete(access_code=old)
    assert create(device, code="4821").code == "4821"


def test_the_last_free_pin_on_a_full_lock_is_found(now):
    lock = DeviceFactory(supported_code_lengths=[4], pin_forbids_zeros=True)  # 9**4 = 6561 PINs
    space = [pin for pin in (f"{n:04d}" for n in range(10_000)) if "0" not in pin]
    free = space.pop(4321)
    AccessCode.objects.bulk_create(
        AccessCode(device=lock, workspace=lock.workspace, code=pin, type=AccessCodeType.ONGOING)
        for pin in space
    )
    assert create(lock).code == free
    with refused(ValidationError) as excinfo:  # and then the lock is truly full
        create(lock)
    assert "no free PIN" in errors_of(excinfo)["code"][0]


def test_a_pin_on_the_lock_past_its_window_still_holds_it(device, now):
    # Set for a window that has ended, but not yet taken off: the PIN is physically there.
    AccessCodeFactory(
        device=device, code="4821", time_bound=True, starts_at=now - 3 * DAY, ends_at=now - DAY, status="set"
    )
    with refused(CodeConflict):
        create(device, code="4821")


def test_an_ongoing_code_may_reuse_the_pin_of_a_finished_code_never_set(device, now):
    AccessCodeFactory(device=device, code="4821", time_bound=True, starts_at=now - 3 * DAY, ends_at=now - DAY)
    assert create(device, code="4821").code == "4821"


def test_a_deleted_offline_code_holds_its_pin_until_it_ends(now):
    lock = DeviceFactory(can_program_offline_access_codes=True, supported_code_lengths=[4, 6, 9])
    offline = AccessCodeFactory(
        device=lock,
        code="918273645",
        time_bound=True,
        starts_at=now,
        ends_at=now + 2 * DAY,
        is_offline_access_code=True,
        status="set",
    )
    access_code_delete(access_code=offline)
    with refused(CodeConflict):
        create(lock, code="918273645", starts_at=now + DAY, ends_at=now + 3 * DAY)
    # Free once the offline PIN has ended, counting the hour a new code goes on ahead of its start.
    later = now + 2 * DAY + timedelta(hours=1)
    assert create(lock, code="918273645", starts_at=later, ends_at=now + 3 * DAY).code == "918273645"


# --- The window --------------------------------------------------------------------------------


def test_ends_before_starts_is_refused(device, now):
    with refused(ValidationError) as excinfo:
        create(device, code="4821", starts_at=now + 2 * DAY, ends_at=now + DAY)
    assert errors_of(excinfo) == {"ends_at": ["must be after starts_at."]}


def test_ends_equal_to_starts_is_refused(device, now):
    with refused(ValidationError) as excinfo:
        create(device, code="4821", starts_at=now + DAY, ends_at=now + DAY)
    assert errors_of(excinfo) == {"ends_at": ["must be after starts_at."]}


def test_window_already_over_is_refused(device, now):
    with refused(ValidationError) as excinfo:
        create(device, code="4821", starts_at=now - 3 * DAY, ends_at=now - DAY)
    assert errors_of(excinfo) == {"ends_at": ["is in the past; a code must end in the future."]}


def test_start_without_end_is_refused(device, now):
    with refused(ValidationError) as excinfo:
        create(device, code="4821", starts_at=now + DAY)
    assert list(errors_of(excinfo)) == ["ends_at"]


def test_end_without_start_is_refused(device, now):
    with refused(ValidationError) as excinfo:
        create(device, code="4821", ends_at=now + DAY)
    assert list(errors_of(excinfo)) == ["starts_at"]


def test_naive_datetime_is_refused(device, now):
    with refused(ValidationError) as excinfo:
        create(device, code="4821", starts_at=datetime(2026, 12, 1, 15), ends_at=now + 30 * DAY)
    assert "time zone" in errors_of(excinfo)["starts_at"][0]


def test_non_datetime_is_refused(device, now):
    with refused(ValidationError) as excinfo:
        create(device, code="4821", starts_at="tomorrow", ends_at=now + 30 * DAY)
    assert errors_of(excinfo) == {"starts_at": ["must be a date and time (ISO 8601)."]}


# --- What the lock can do ------------------------------------------------------------------------


def test_offline_code_on_a_lock_without_offline_support_is_refused(device, now):
    with refused(ValidationError) as excinfo:
        create(device, is_offline_access_code=True, starts_at=now + DAY, ends_at=now + 2 * DAY)
    assert errors_of(excinfo) == {
        "is_offline_access_code": ["this lock cannot hold offline (algorithmic) codes."]
    }


def test_offline_code_must_be_time_bound_and_gets_no_chosen_pin(now):
    offline_lock = DeviceFactory(can_program_offline_access_codes=True)
    with refused(ValidationError) as excinfo:
        create(offline_lock, is_offline_access_code=True, code="4821")
    errors = errors_of(excinfo)
    assert "time-bound" in errors["is_offline_access_code"][0]
    assert "assigned by the lock's algorithm" in errors["code"][0]


def test_offline_code_waits_for_its_pin(now):
    offline_lock = DeviceFactory(can_program_offline_access_codes=True)
    code = create(offline_lock, is_offline_access_code=True, starts_at=now + DAY, ends_at=now + 2 * DAY)
    assert code.code is None
    assert code.is_waiting_for_code_assignment


def test_online_code_on_a_lock_that_cannot_take_them_is_refused(now):
    lock = DeviceFactory(can_program_online_access_codes=False)
    with refused(ValidationError) as excinfo:
        create(lock, code="4821")
    assert errors_of(excinfo) == {"device_id": ["this lock cannot be programmed with online access codes."]}


def test_one_time_use_needs_an_offline_code(device, now):
    with refused(ValidationError) as excinfo:
        create(device, code="4821", is_one_time_use=True)
    assert errors_of(excinfo) == {"is_one_time_use": ["only offline codes can be one-time-use."]}


def test_backup_pool_on_a_lock_without_one_is_refused(device, now):
    with refused(ValidationError) as excinfo:
        create(
            device, code="4821", use_backup_access_code_pool=True, starts_at=now + DAY, ends_at=now + 2 * DAY
        )
    assert errors_of(excinfo) == {
        "use_backup_access_code_pool": ["this lock does not support a backup code pool."]
    }


def test_backup_pool_for_an_ongoing_code_is_refused(now):
    lock = DeviceFactory(supports_backup_access_code_pool=True)
    with refused(ValidationError) as excinfo:
        create(lock, code="4821", use_backup_access_code_pool=True)
    assert errors_of(excinfo) == {
        "use_backup_access_code_pool": ["backup codes are only for time-bound codes."]
    }


@pytest.mark.parametrize("length", [3, 9])
def test_preferred_length_the_lock_does_not_take_is_refused(device, now, length):
    with refused(ValidationError) as excinfo:
        create(device, preferred_code_length=length)
    assert errors_of(excinfo) == {
        "preferred_code_length": ["must be one of the lengths this lock accepts: 4, 5, 6."]
    }


# --- The name ------------------------------------------------------------------------------------


def test_overlong_name_is_refused(device, now):
    with refused(ValidationError) as excinfo:
        create(device, code="4821", name="x" * 201)
    assert errors_of(excinfo) == {"name": ["is 201 characters long; at most 200 are allowed."]}


@pytest.mark.parametrize("name", ["Ana\nSouza", "Ana\x00", "tab\there", "bell\x07"])
def test_name_with_control_characters_is_refused(device, now, name):
    with refused(ValidationError) as excinfo:
        create(device, code="4821", name=name)
    assert "control characters" in errors_of(excinfo)["name"][0]


def test_name_is_fitted_to_a_small_lock(now):
    lock = DeviceFactory(name_max_length=10, name_splits_first_last=True, supported_code_lengths=[6])
    code = create(lock, code="482193", name="Maria Fernanda Oliveira")
    assert code.name == "Maria Fernanda Oliveira"
    assert code.appearance == {"name": "Maria Fern", "first_name": "Maria", "last_name": "Fern"}


def test_names_are_made_unique_where_the_lock_demands_it(now):
    lock = DeviceFactory(name_must_be_unique=True)
    first = create(lock, code="4821", name="Guest")
    second = create(lock, code="4822", name="guest")
    assert (first.appearance["name"], second.appearance["name"]) == ("Guest", "guest 2")


def test_oversized_pin_is_refused_without_being_echoed(device, now):
    with refused(ValidationError) as excinfo:
        create(device, code="1" * 100_000)
    assert errors_of(excinfo) == {"code": ["is 100000 characters long; no lock takes more than 16."]}


def test_a_bad_pin_is_quoted_back(device, now):
    with refused(ValidationError) as excinfo:
        create(device, code="12345678901234x")
    assert errors_of(excinfo)["code"] == ["'12345678901234x' must contain digits only (0-9)."]


@pytest.mark.parametrize(
    "flag",
    [
        "is_offline_access_code",
        "is_one_time_use",
        "use_backup_access_code_pool",
        "allow_external_modification",
    ],
)
@pytest.mark.parametrize("value", ["false", 0, None])
def test_an_option_that_is_not_true_or_false_is_refused(device, now, flag, value):
    with refused(ValidationError) as excinfo:
        create(device, code="4821", **{flag: value})
    assert errors_of(excinfo) == {flag: ["must be true or false."]}


@pytest.mark.parametrize("length", ["6", 6.0, True])
def test_a_preferred_length_that_is_not_a_whole_number_is_refused(device, now, length):
    with refused(ValidationError) as excinfo:
        create(device, preferred_code_length=length)
    assert errors_of(excinfo) == {"preferred_code_length": ["must be a whole number."]}


@pytest.mark.parametrize("year", [1, 1999, 2100, 9999])
def test_dates_outside_the_supported_years_are_refused(device, now, year):
    far = datetime(year, 6, 1, tzinfo=timezone.get_fixed_timezone(-300))
    with refused(ValidationError) as excinfo:
        create(device, code="4821", starts_at=now + DAY, ends_at=far)
    assert errors_of(excinfo) == {"ends_at": ["must fall between the years 2000 and 2100."]}


def test_pin_and_name_problems_are_reported_together(device, now):
    with refused(ValidationError) as excinfo:
        create(device, name="a\nb", code="12ab")
    assert set(errors_of(excinfo)) == {"name", "code"}


def test_many_problems_are_reported_together(device, now):
    with refused(ValidationError) as excinfo:
        create(device, name="a\nb", code="4821", starts_at=now + DAY, is_one_time_use=True)
    assert set(errors_of(excinfo)) == {"name", "ends_at", "is_one_time_use"}


def test_on_a_just_in_time_lock_stays_that_meet_within_the_lead_share_no_pin(device, now):
    # The first code is still on the lock when the second goes on, 60 minutes before it starts.
    create(device, code="4821", starts_at=now + DAY, ends_at=now + 2 * DAY)
    with refused(CodeConflict):
        create(device, code="4821", starts_at=now + 2 * DAY + timedelta(minutes=30), ends_at=now + 3 * DAY)
    assert create(device, code="4821", starts_at=now + 2 * DAY + timedelta(minutes=60), ends_at=now + 3 * DAY)


def test_on_a_scheduling_lock_back_to_back_stays_may_share_a_pin(now):
    lock = DeviceFactory(has_native_scheduling=True)
    create(lock, code="4821", starts_at=now + DAY, ends_at=now + 2 * DAY)
    assert create(lock, code="4821", starts_at=now + 2 * DAY, ends_at=now + 3 * DAY).code == "4821"
