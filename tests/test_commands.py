import io

import pytest
import time_machine
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from codes.models import AccessCode, Event
from devices.fleet import SANDBOX_LOCK_MODELS
from devices.models import ApiKey, Device, Workspace
from devices.services import api_key_authenticate, api_key_revoke

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_create_api_key_prints_the_key_alone_on_the_last_line_and_stores_only_its_hash():
    output = run("create_api_key", "--workspace", "Seaside Stays")
    raw = output.strip().splitlines()[-1]
    assert raw.startswith("seam_") and " " not in raw and len(raw) > 40
    workspace = Workspace.objects.get(name="Seaside Stays")
    key = ApiKey.objects.get(workspace=workspace)
    assert key.key_hash == ApiKey.digest(raw) and raw not in key.key_hash
    assert api_key_authenticate(raw) == key


def test_create_api_key_reuses_an_existing_workspace_and_makes_distinct_keys():
    first = run("create_api_key", "--workspace", "Seaside Stays").strip()
    second = run("create_api_key", "--workspace", "Seaside Stays").strip()
    assert first != second
    assert Workspace.objects.count() == 1
    assert ApiKey.objects.count() == 2


def test_create_api_key_refuses_a_blank_workspace_name():
    with pytest.raises(CommandError, match="--workspace"):
        run("create_api_key", "--workspace", "   ")
    assert not Workspace.objects.exists()


def test_a_revoked_or_wrong_key_does_not_authenticate():
    raw = run("create_api_key", "--workspace", "W").strip()
    assert api_key_authenticate(raw + "x") is None
    api_key_revoke(api_key=ApiKey.objects.get())
    assert api_key_authenticate(raw) is None


def test_seed_demo_creates_the_fleet_codes_and_a_login_and_can_run_twice(settings, tmp_path, now):
    settings.VAR_DIR = tmp_path
    first = run("seed_demo")
    run("seed_demo")
    assert Device.objects.count() == len(SANDBOX_LOCK_MODELS) == 6
    assert AccessCode.objects.count() == 4
    assert Event.objects.count() == 4
    password = (tmp_path / "demo-admin-password").read_text()
    assert f"Admin login: admin / {password}" in first
    # As the login page does: with the request, which the login throttle (django-axes) needs.
    login = RequestFactory().post("/admin/login/")
    assert authenticate(login, username="admin", password=password) is not None
    offline = Device.objects.get(provider_device_id="sandbox-offline-lock")
    assert len(offline.offline_code_secret) == 64


def test_seed_sandbox_creates_the_fleet_in_a_property_and_prints_the_account_id():
    from devices.models import ConnectedAccount, SandboxLock

    account_id = (
        run("seed_sandbox", "--workspace", "Test Fleet", "--property", "Beach House").strip().splitlines()[-1]
    )
    account = ConnectedAccount.objects.get(pk=account_id)
    devices = list(account.devices.all())
    assert len(devices) == 6
    assert {d.property.name for d in devices} == {"Beach House"}
    assert SandboxLock.objects.filter(device__in=devices).count() == 6
    traits = {d.provider_device_id: d for d in devices}
    assert traits["sandbox-keypad-deadbolt"].has_native_scheduling
    assert traits["sandbox-small-memory"].max_active_codes_supported == 3
    assert traits["sandbox-no-keypad"].has_keypad is False
    assert traits["sandbox-strict-pins"].pin_requires_unique_first_four
    assert run("seed_sandbox", "--workspace", "Test Fleet").strip().splitlines()[-1] == account_id


def test_seed_sandbox_refuses_a_blank_property_name():
    with pytest.raises(CommandError, match="--property"):
        run("seed_sandbox", "--workspace", "W", "--property", " ")


def test_create_api_key_refuses_an_overlong_workspace_name():
    with pytest.raises(CommandError, match="--workspace: a workspace name has at most 200 characters"):
        run("create_api_key", "--workspace", "W" * 201)
    assert not Workspace.objects.exists()


@pytest.mark.parametrize("clock", ["2026-12-02T16:00:03Z", "2026-12-02T11:00:00Z"])
def test_system_checks_report_nothing_at_the_default_check_in_and_check_out_times(clock):
    # Django's fixed-default check (fields.W161) fires only within ten seconds of a fixed time
    # default, so every command run at 16:00 used to print it.
    from django.core import checks

    with time_machine.travel(clock, tick=False):
        assert [message.id for message in checks.run_checks()] == []


def test_seed_sandbox_locks_makes_the_property_hold_n_locks_cycling_through_the_models():
    from devices.models import ConnectedAccount, SandboxLock

    account_id = run("seed_sandbox", "--workspace", "Big Fleet", "--property", "Tower", "--locks", "14")
    account = ConnectedAccount.objects.get(pk=account_id.strip().splitlines()[-1])
    tower = list(account.devices.filter(property__name="Tower"))
    assert len(tower) == 14
    assert SandboxLock.objects.filter(device__in=tower).count() == 14
    by_model = {}
    for device in tower:
        by_model.setdefault(device.model, []).append(device.provider_device_id)
    # 14 locks over 6 models: the first two models three times, the others twice.
    assert sorted(len(ids) for ids in by_model.values()) == [2, 2, 2, 2, 3, 3]
    assert sorted(by_model["Keypad deadbolt with native scheduling"]) == [
        "sandbox-keypad-deadbolt",
        "sandbox-keypad-deadbolt-2",
        "sandbox-keypad-deadbolt-3",
    ]
    deadbolt_3 = account.devices.get(provider_device_id="sandbox-keypad-deadbolt-3")
    assert deadbolt_3.supports_backup_access_code_pool and deadbolt_3.display_name == "Front door deadbolt 3"
    offline = account.devices.filter(can_program_offline_access_codes=True)
    assert offline.count() == 2 and all(len(d.offline_code_secret) == 64 for d in offline)

    # Idempotent: the count is what the property holds, so a rerun adds nothing ...
    run("seed_sandbox", "--workspace", "Big Fleet", "--property", "Tower", "--locks", "14")
    assert account.devices.count() == 14
    # ... a larger number adds the difference, a smaller one removes nothing ...
    run("seed_sandbox", "--workspace", "Big Fleet", "--property", "Tower", "--locks", "16")
    run("seed_sandbox", "--workspace", "Big Fleet", "--property", "Tower", "--locks", "3")
    assert account.devices.filter(property__name="Tower").count() == 16
    # ... and another property gets its own locks, in the same account, under new ids.
    run("seed_sandbox", "--workspace", "Big Fleet", "--property", "Annex", "--locks", "2")
    annex = account.devices.filter(property__name="Annex")
    assert sorted(annex.values_list("provider_device_id", flat=True)) == [
        "sandbox-cloud-lock-4",
        "sandbox-keypad-deadbolt-4",
    ]
    assert account.devices.count() == 18
    # Without --locks, the usual fleet: one lock of each model, all there already.
    run("seed_sandbox", "--workspace", "Big Fleet")
    assert account.devices.count() == 18


@pytest.mark.parametrize("locks", ["0", "-3", "5001"])
def test_seed_sandbox_refuses_a_number_of_locks_out_of_range(locks):
    with pytest.raises(CommandError, match="--locks: give a number of locks from 1 to 5000"):
        run("seed_sandbox", "--workspace", "W", "--locks", locks)
    assert not Device.objects.exists()
