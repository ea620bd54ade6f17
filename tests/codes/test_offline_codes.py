"""Offline (algorithmic) PINs on the sandbox offline lock: distinct per lock in overlapping
windows, the lock's limits checked at create, windows rounded to the property's local days, and
a one-time PIN that opens once (issue 17)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from codes import scheduler
from codes.models import AccessCode
from codes.programming import access_code_push
from codes.services.access_codes import access_code_create
from codes.services.checks import AccessCodeRequest
from devices.models import Property
from devices.providers import provider_for
from devices.services import sandbox_fleet_create, workspace_get_or_create

pytestmark = pytest.mark.django_db
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
AUCKLAND = ZoneInfo("Pacific/Auckland")  # UTC+13 in summer: local days and UTC days differ most


@pytest.fixture
def lock(now):
    workspace = workspace_get_or_create(name="Sandbox", is_sandbox=True)
    home = Property.objects.create(workspace=workspace, name="Ponsonby flat", time_zone="Pacific/Auckland")
    fleet = {d.provider_device_id: d for d in sandbox_fleet_create(workspace=workspace, property=home)}
    return fleet["sandbox-offline-lock"]


def offline(lock, starts_at, ends_at, **extra) -> AccessCode:
    return access_code_create(
        device=lock,
        request=AccessCodeRequest(is_offline_access_code=True, starts_at=starts_at, ends_at=ends_at, **extra),
    )


def keypad(lock, pin: str, at: datetime) -> bool:
    """Someone types ``pin`` at the simulated lock at ``at``: does it open?"""
    return provider_for(lock.connected_account, now=at).simulate_keypad_entry(lock.provider_device_id, pin)


def test_two_codes_with_the_same_window_on_one_lock_get_different_pins_that_both_open(lock, now):
    starts, ends = now + DAY, now + 3 * DAY
    same_batch = [offline(lock, starts, ends, name=f"Guest {n}") for n in range(2)]
    scheduler.sweep(now=now)  # both in one batch: the first PIN is not recorded when the second is made
    later = offline(lock, starts + HOUR, ends, name="Guest 2")  # overlapping, one at a time
    access_code_push(later, now=now)
    pins = [AccessCode.objects.get(pk=c.pk).code for c in [*same_batch, later]]
    assert all(pins) and len(set(pins)) == 3
    assert all(keypad(lock, pin, starts + 12 * HOUR) for pin in pins)


def test_an_offline_window_longer_than_the_lock_allows_is_refused_at_create_with_its_name(lock, now):
    starts = datetime(2026, 12, 1, 15, tzinfo=AUCKLAND)
    with pytest.raises(ValidationError) as refused:
        offline(lock, starts, starts + 40 * DAY)
    (message,) = refused.value.message_dict["ends_at"]
    assert message.startswith("offline_window_too_long: an offline code on this lock spans at most 31 days")
    assert "Pacific/Auckland" in message and "41 days" in message
    assert not AccessCode.objects.exists()  # nothing half-written
    # 30 nights, check-in 15:00 to check-out 11:00: 31 local days once rounded, accepted.
    assert offline(lock, starts, (starts + 30 * DAY).replace(hour=11)).pk


def test_an_offline_window_is_rounded_to_the_propertys_local_days(lock, now):
    starts = datetime(2026, 11, 25, 15, tzinfo=AUCKLAND)  # 02:00 UTC on the 25th
    ends = datetime(2026, 11, 27, 11, tzinfo=AUCKLAND)
    code = offline(lock, starts, ends)
    access_code_push(code, now=now)
    pin = AccessCode.objects.get(pk=code.pk).code
    local_midnight = datetime(2026, 11, 25, 0, tzinfo=AUCKLAND)  # 11:00 UTC on the 24th
    assert keypad(lock, pin, local_midnight)
    assert not keypad(lock, pin, local_midnight - timedelta(minutes=1))
    assert keypad(lock, pin, datetime(2026, 11, 27, 23, 59, tzinfo=AUCKLAND))  # the last local day
    assert not keypad(lock, pin, datetime(2026, 11, 28, 0, tzinfo=AUCKLAND))


def test_the_sandbox_offline_lock_opens_once_for_a_one_time_pin(lock, now):
    code = offline(lock, now + DAY, now + 3 * DAY, is_one_time_use=True)
    access_code_push(code, now=now)
    pin = AccessCode.objects.get(pk=code.pk).code
    with time_machine.travel(now + 2 * DAY, tick=False):
        assert keypad(lock, pin, now + 2 * DAY)
        assert not keypad(lock, pin, now + 2 * DAY + HOUR)
    reusable = offline(lock, now + DAY, now + 3 * DAY)
    access_code_push(reusable, now=now)
    pin = AccessCode.objects.get(pk=reusable.pk).code
    assert keypad(lock, pin, now + 2 * DAY) and keypad(lock, pin, now + 2 * DAY + HOUR)
