"""Through Seam's SDK: the slot plan's verdict on a code, and an offline lock's limits (issue 17)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from seam.exceptions import SeamHttpInvalidInputError

from codes.scheduler import sweep
from devices.models import Device


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_a_code_the_lock_will_have_no_slot_for_shows_the_error_with_its_moment(seam, fleet):
    small = fleet["small-memory"]  # three slots
    Device.objects.filter(pk=small.pk).update(has_native_scheduling=True)
    arrive = timezone.now().replace(microsecond=0) + timedelta(days=20)
    created = [
        seam.access_codes.create(
            device_id=str(small.pk),
            name=f"Guest {n}",
            starts_at=_iso(arrive + timedelta(hours=n)),
            ends_at=_iso(arrive + timedelta(days=3)),
        )
        for n in range(4)
    ]
    sweep(now=timezone.now())  # weeks ahead, the first sweep tells the fourth
    codes = [seam.access_codes.get(access_code_id=c.access_code_id) for c in created]
    assert [c.errors for c in codes[:3]] == [[], [], []]
    (error,) = codes[3].errors
    assert error["error_code"] == "no_space_for_access_code_on_device"
    assert "will have no free slot for this code on" in error["message"]
    assert codes[3].status == "unset"


def test_an_offline_window_longer_than_the_lock_allows_is_refused_by_name(seam, fleet):
    lock = fleet["offline-lock"]
    starts = timezone.now().replace(microsecond=0) + timedelta(days=1)
    with pytest.raises(SeamHttpInvalidInputError) as refused:
        seam.access_codes.create(
            device_id=str(lock.pk),
            is_offline_access_code=True,
            starts_at=_iso(starts),
            ends_at=_iso(starts + timedelta(days=40)),
        )
    (message,) = refused.value.get_validation_error_messages("ends_at")
    assert message.startswith("offline_window_too_long:")
