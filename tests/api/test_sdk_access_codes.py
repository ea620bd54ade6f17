"""Every access-code route through Seam's official Python SDK, unchanged, pointed at Latchkey."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from seam.exceptions import SeamHttpApiError, SeamHttpInvalidInputError

from codes.models import AccessCode, ActionAttempt, IdempotentRequest
from codes.scheduler import sweep


def _window(days_ahead=3, nights=2):
    start = (timezone.now() + timedelta(days=days_ahead)).replace(microsecond=0)
    return start.isoformat(), (start + timedelta(days=nights)).isoformat()


def test_create_get_list_delete_a_time_bound_code(seam, fleet):
    lock = fleet["keypad-deadbolt"]
    starts_at, ends_at = _window()
    created = seam.access_codes.create(
        device_id=str(lock.pk), name="Ana Silva", code="4821", starts_at=starts_at, ends_at=ends_at
    )
    assert created.code == "4821"
    assert created.type == "time_bound"
    assert created.status == "unset"
    assert created.device_id == str(lock.pk)
    assert created.starts_at.endswith("Z")
    assert created.is_managed is True and created.errors == [] and created.warnings == []

    fetched = seam.access_codes.get(access_code_id=created.access_code_id)
    assert fetched.name == "Ana Silva"
    by_pin = seam.access_codes.get(device_id=str(lock.pk), code="4821")
    assert by_pin.access_code_id == created.access_code_id

    listed = seam.access_codes.list(device_id=str(lock.pk))
    assert [c.access_code_id for c in listed] == [created.access_code_id]

    seam.access_codes.delete(access_code_id=created.access_code_id)
    assert seam.access_codes.list(device_id=str(lock.pk)) == []
    with pytest.raises(SeamHttpApiError) as gone:
        seam.access_codes.get(access_code_id=created.access_code_id)
    assert gone.value.status_code == 404 and gone.value.code == "access_code_not_found"


def test_the_scheduler_moves_statuses_the_api_shows(seam, fleet):
    lock = fleet["keypad-deadbolt"]
    created = seam.access_codes.create(device_id=str(lock.pk), name="Cleaner")  # ongoing: set at once
    sweep(now=timezone.now())
    after = seam.access_codes.get(access_code_id=created.access_code_id)
    assert after.status == "set"
    events = seam.events.list(access_code_id=created.access_code_id)
    assert {e.event_type for e in events} >= {"access_code.created", "access_code.set_on_device"}


def test_business_rules_hold_where_seams_fake_server_lets_them_slide(seam, fleet):
    lock = fleet["keypad-deadbolt"]
    starts_at, ends_at = _window()
    with pytest.raises(SeamHttpInvalidInputError) as short_pin:
        seam.access_codes.create(device_id=str(lock.pk), code="12")
    assert short_pin.value.status_code == 400
    assert short_pin.value.get_validation_error_messages("code")

    with pytest.raises(SeamHttpInvalidInputError) as backwards:
        seam.access_codes.create(device_id=str(lock.pk), starts_at=ends_at, ends_at=starts_at)
    assert backwards.value.get_validation_error_messages("ends_at") == ["must be after starts_at."]
    assert not AccessCode.objects.exists()


def test_a_pin_already_on_the_lock_is_a_conflict(seam, fleet):
    lock = fleet["keypad-deadbolt"]
    seam.access_codes.create(device_id=str(lock.pk), code="4821")
    with pytest.raises(SeamHttpApiError) as conflict:
        seam.access_codes.create(device_id=str(lock.pk), code="4821")
    assert conflict.value.status_code == 409
    assert conflict.value.code == "duplicate_access_code"
    assert AccessCode.objects.count() == 1


def test_create_multiple_shares_one_pin_and_update_multiple_moves_them_together(seam, fleet):
    doors = [fleet["keypad-deadbolt"], fleet["cloud-lock"], fleet["strict-pins"]]
    starts_at, ends_at = _window()
    codes = seam.access_codes.create_multiple(
        device_ids=[str(d.pk) for d in doors], name="Booking 77", starts_at=starts_at, ends_at=ends_at
    )
    assert len(codes) == 3
    assert len({c.code for c in codes}) == 1
    assert len({c.common_code_key for c in codes}) == 1

    later_end = (timezone.now() + timedelta(days=8)).replace(microsecond=0).isoformat()
    seam.access_codes.update_multiple(common_code_key=codes[0].common_code_key, ends_at=later_end)
    for c in codes:
        ends_at = seam.access_codes.get(access_code_id=c.access_code_id).ends_at
        assert ends_at.endswith("Z") and datetime.fromisoformat(ends_at) == datetime.fromisoformat(later_end)


def test_update_changes_only_what_is_sent(seam, fleet):
    lock = fleet["cloud-lock"]
    created = seam.access_codes.create(device_id=str(lock.pk), name="Guest", code="5719")
    seam.access_codes.update(access_code_id=created.access_code_id, name="Guest, renamed")
    after = seam.access_codes.get(access_code_id=created.access_code_id)
    assert (after.name, after.code, after.type) == ("Guest, renamed", "5719", "ongoing")
    starts_at, ends_at = _window()
    seam.access_codes.update(
        access_code_id=created.access_code_id, type="time_bound", starts_at=starts_at, ends_at=ends_at
    )
    assert seam.access_codes.get(access_code_id=created.access_code_id).type == "time_bound"
    assert ActionAttempt.objects.filter(action_type="UPDATE_ACCESS_CODE").count() == 2


def test_generate_code_follows_the_locks_rules(seam, fleet):
    strict = fleet["strict-pins"]
    generated = seam.access_codes.generate_code(device_id=str(strict.pk))
    assert generated.device_id == str(strict.pk)
    assert len(generated.code) in strict.supported_code_lengths
    assert "0" not in generated.code


def test_report_device_constraints_then_a_pin_of_another_length_is_refused(seam, fleet):
    lock = fleet["cloud-lock"]
    seam.access_codes.report_device_constraints(device_id=str(lock.pk), supported_code_lengths=[6])
    lock.refresh_from_db()
    assert lock.supported_code_lengths == [6]
    with pytest.raises(SeamHttpInvalidInputError):
        seam.access_codes.create(device_id=str(lock.pk), code="4821")


def test_pull_backup_access_code(seam, fleet):
    lock = fleet["keypad-deadbolt"]
    seam.devices.update(device_id=str(lock.pk), backup_access_code_pool_enabled=True)
    sweep(now=timezone.now())  # the pool's backups go onto the lock
    starts_at, ends_at = _window()
    guest = seam.access_codes.create(
        device_id=str(lock.pk),
        name="Guest",
        starts_at=starts_at,
        ends_at=ends_at,
        use_backup_access_code_pool=True,
    )
    assert guest.is_backup_access_code_available is True
    backup = seam.access_codes.pull_backup_access_code(access_code_id=guest.access_code_id)
    assert backup.is_backup is True
    assert backup.ends_at == seam.access_codes.get(access_code_id=guest.access_code_id).ends_at
    assert seam.access_codes.get(access_code_id=guest.access_code_id).pulled_backup_access_code_id == (
        backup.access_code_id
    )


def test_unmanaged_codes_can_be_listed_converted_and_deleted(seam, fleet):
    lock = fleet["keypad-deadbolt"]
    found = seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=str(lock.pk), code="7391", name="Owner"
    )
    assert found.is_managed is False and found.code == "7391"
    listed = seam.access_codes.unmanaged.list(device_id=str(lock.pk))
    assert [c.access_code_id for c in listed] == [found.access_code_id]
    assert seam.access_codes.unmanaged.get(access_code_id=found.access_code_id).name == "Owner"
    # an unmanaged code is not one of the managed codes
    assert seam.access_codes.list(device_id=str(lock.pk)) == []

    seam.access_codes.unmanaged.convert_to_managed(access_code_id=found.access_code_id)
    managed = seam.access_codes.get(access_code_id=found.access_code_id)
    assert managed.is_managed is True and managed.status == "set"

    other = seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=str(lock.pk), code="8642", name="Old"
    )
    seam.access_codes.unmanaged.delete(access_code_id=other.access_code_id)
    assert seam.access_codes.unmanaged.list(device_id=str(lock.pk)) == []
    sweep(now=timezone.now())
    assert not lock.sandbox.held_codes.filter(code="8642").exists()


def test_idempotency_key_returns_the_first_answer_and_makes_one_code(http, fleet):
    lock = fleet["keypad-deadbolt"]
    body = {"device_id": str(lock.pk), "name": "Retried booking"}
    first = http.post("/access_codes/create", json=body, headers={"Idempotency-Key": "booking-991"})
    again = http.post("/access_codes/create", json=body, headers={"Idempotency-Key": "booking-991"})
    assert first.status_code == again.status_code == 200
    assert first.json()["access_code"] == again.json()["access_code"]
    assert AccessCode.objects.count() == 1
    other = http.post(
        "/access_codes/create",
        json={**body, "name": "Something else"},
        headers={"Idempotency-Key": "booking-991"},
    )
    assert other.status_code == 409 and other.json()["error"]["type"] == "idempotency_key_reused"
    assert IdempotentRequest.objects.count() == 1


def test_unmanaged_update_with_is_managed_converts(seam, fleet):
    lock = fleet["cloud-lock"]
    found = seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=str(lock.pk), code="2468", name="Owner"
    )
    seam.access_codes.unmanaged.update(access_code_id=found.access_code_id, is_managed=True)
    assert seam.access_codes.get(access_code_id=found.access_code_id).is_managed is True


def test_concurrent_retries_with_one_idempotency_key_make_one_code(api_url, api_key, fleet):
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    body = {"device_id": str(fleet["keypad-deadbolt"].pk), "name": "Double-clicked booking"}
    headers = {"Authorization": f"Bearer {api_key}", "Idempotency-Key": "booking-1234"}

    def send(_):
        return httpx.post(f"{api_url}/access_codes/create", json=body, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(send, range(6)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["access_code"]["access_code_id"] for a in answers}) == 1
    assert AccessCode.objects.count() == 1
