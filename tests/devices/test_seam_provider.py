"""The Seam driver against Seam's own fake server: import locks, then set, list, update and
remove a code there, through the official SDK."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command

from codes import scheduler
from codes.models import AccessCode, AccessCodeStatus
from codes.programming import access_code_push
from codes.selectors import access_code_issues
from codes.services.access_codes import access_code_create, access_code_delete, access_code_update
from codes.services.checks import AccessCodeRequest
from devices import credentials
from devices.models import ConnectedAccount, Device, ProviderKind, Workspace
from devices.providers.base import CodeSpec, Result
from devices.providers.seam.provider import SeamProvider
from tests.devices.seam_fake import API_KEY, SEEDED_LOCKS, FakeSeam

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


@pytest.fixture
def fake_seam():
    server = FakeSeam()
    yield server
    server.stop()


def connect_seam(endpoint: str, *, workspace: str = "W", api_key: str = API_KEY, webhook_secret=None) -> None:
    extra = ["--webhook-secret", webhook_secret] if webhook_secret is not None else []
    call_command(
        "connect_seam", "--workspace", workspace, "--api-key", api_key, "--endpoint", endpoint, *extra
    )


@pytest.fixture
def account(fake_seam, capsys) -> ConnectedAccount:
    connect_seam(fake_seam.url, workspace="Real Locks")
    account_id = capsys.readouterr().out.strip().splitlines()[-1]
    return ConnectedAccount.objects.get(pk=account_id)


def test_connect_seam_imports_the_locks_and_nothing_else(account):
    devices = {d.provider_device_id: d for d in Device.objects.filter(connected_account=account)}
    assert set(devices) == SEEDED_LOCKS  # the thermostat and the noise sensor stay out
    front = devices["august_device_1"]
    assert front.display_name == "Front Door"
    assert front.can_program_online_access_codes and front.has_native_scheduling
    assert front.workspace.name == "Real Locks"
    assert account.provider == ProviderKind.SEAM


def test_credentials_are_encrypted_at_rest_and_masked_in_the_name(account):
    assert API_KEY not in account.encrypted_credentials
    assert credentials.decrypt(account.encrypted_credentials)["api_key"] == API_KEY
    assert API_KEY not in account.display_name


def test_the_driver_sets_lists_updates_and_removes_a_code(account):
    provider = SeamProvider(account)
    set_outcome = provider.set_code("august_device_1", CodeSpec(code="4821", name="Ana"))
    assert set_outcome.result in (Result.CONFIRMED, Result.PENDING)
    code_id = set_outcome.provider_code_id
    assert [(h.provider_code_id, h.code) for h in provider.list_codes("august_device_1")] == [
        (code_id, "4821")
    ]

    updated = provider.update_code("august_device_1", code_id, CodeSpec(code="7391", name="Ana"))
    assert updated.result != Result.FAILED
    assert [h.code for h in provider.list_codes("august_device_1")] == ["7391"]

    assert provider.remove_code("august_device_1", code_id).result == Result.CONFIRMED
    assert provider.list_codes("august_device_1") == []
    assert provider.remove_code("august_device_1", code_id).result == Result.CONFIRMED  # already gone


def test_a_duplicate_pin_is_a_refusal_with_the_catalog_code(account):
    provider = SeamProvider(account)
    provider.set_code("august_device_1", CodeSpec(code="4821", name="Ana"))
    outcome = provider.set_code("august_device_1", CodeSpec(code="4821", name="Ben"))
    assert outcome.result == Result.FAILED and not outcome.transient
    assert [p.code for p in outcome.errors] == ["duplicate_code_on_device", "failed_to_set_on_device"]


def test_a_code_flows_from_latchkey_to_seam_and_off_again(account, now):
    lock = Device.objects.get(connected_account=account, provider_device_id="august_device_2")
    code = access_code_create(
        device=lock,
        request=AccessCodeRequest(code="5173", name="Chen", starts_at=now + DAY, ends_at=now + 3 * DAY),
    )
    access_code_push(code, now=now)
    code.refresh_from_db()
    assert code.provider_code_id
    assert code.status in (AccessCodeStatus.SETTING, AccessCodeStatus.UNSET)
    provider = SeamProvider(account)
    [held] = provider.list_codes("august_device_2")
    assert (held.code, held.starts_at, held.ends_at) == ("5173", now + DAY, now + 3 * DAY)

    access_code_update(access_code=code, code="5174", now=now)
    code.refresh_from_db()
    access_code_push(code, now=now)
    assert [h.code for h in provider.list_codes("august_device_2")] == ["5174"]

    access_code_delete(access_code=code, now=now)
    code.refresh_from_db()
    access_code_push(code, now=now)
    assert provider.list_codes("august_device_2") == []


def test_an_unreachable_seam_is_a_transient_failure_on_the_code(account, fake_seam, now):
    lock = Device.objects.get(connected_account=account, provider_device_id="august_device_1")
    code = access_code_create(device=lock, request=AccessCodeRequest(code="4821"))
    fake_seam.stop()
    access_code_push(code, now=now)
    code.refresh_from_db()
    assert [i.code for i in access_code_issues(code)] == ["failed_to_set_on_device"]
    assert code.next_attempt_at is not None  # retried later
    assert code.status == AccessCodeStatus.UNSET


def test_connect_seam_refuses_a_bad_key_and_writes_nothing(fake_seam):
    with pytest.raises(CommandError, match="--api-key: Seam refused"):
        connect_seam(fake_seam.url, api_key="seam_wrong")
    with pytest.raises(CommandError, match="--api-key: a Seam API key starts with 'seam_'"):
        connect_seam(fake_seam.url, api_key="sk_live_123")
    assert not Workspace.objects.exists() and not ConnectedAccount.objects.exists()


def test_connect_seam_refuses_an_unreachable_endpoint():
    from tests.devices.seam_fake import free_port

    with pytest.raises(CommandError, match="--endpoint: could not reach Seam"):
        connect_seam(f"http://127.0.0.1:{free_port()}")
    assert not Workspace.objects.exists()


def test_connect_seam_keeps_the_webhook_secret_for_seams_callbacks(fake_seam, capsys):
    secret = "whsec_" + "c2VhbS13ZWJob29rLXNlY3JldC0xMjM0NTY="
    connect_seam(fake_seam.url, webhook_secret=secret)
    account = ConnectedAccount.objects.get(pk=capsys.readouterr().out.strip().splitlines()[-1])
    assert account.webhook_secret == secret


@pytest.mark.parametrize("secret", ["sk_123", "whsec_", "whsec_not base64!"])
def test_connect_seam_refuses_a_webhook_secret_that_is_not_whsec_base64(fake_seam, secret):
    with pytest.raises(
        CommandError, match="--webhook-secret: a Seam webhook secret is 'whsec_' followed by base64"
    ):
        connect_seam(fake_seam.url, webhook_secret=secret)
    assert not ConnectedAccount.objects.exists()


def test_each_account_gets_its_own_webhook_secret(db):
    from tests.devices.factories import ConnectedAccountFactory

    first, second = ConnectedAccountFactory(), ConnectedAccountFactory()
    assert first.webhook_secret.startswith("whsec_") and first.webhook_secret != second.webhook_secret


# --- Seam's statuses, and several locks on one account --------------------------------------------


def test_a_future_time_bound_code_waits_unset_for_its_start_as_seam_shows_it(account, now):
    lock = Device.objects.get(connected_account=account, provider_device_id="august_device_1")
    code = access_code_create(
        device=lock,
        request=AccessCodeRequest(code="5173", name="Chen", starts_at=now + 5 * DAY, ends_at=now + 7 * DAY),
    )
    access_code_push(code, now=now)
    code.refresh_from_db()
    on_seam = SeamProvider(account).seam.access_codes.get(access_code_id=code.provider_code_id)
    assert on_seam.status == "unset"  # Seam waits for the start
    assert code.status == AccessCodeStatus.UNSET  # and so does Latchkey: nothing is in flight
    assert code.next_attempt_at == code.starts_at  # asked again when it should be live
    assert access_code_issues(code) == []


def test_an_ongoing_code_seam_is_still_setting_stays_setting(account, now):
    lock = Device.objects.get(connected_account=account, provider_device_id="august_device_1")
    code = access_code_create(device=lock, request=AccessCodeRequest(code="4821", name="Cleaner"))
    access_code_push(code, now=now)
    code.refresh_from_db()
    on_seam = SeamProvider(account).seam.access_codes.get(access_code_id=code.provider_code_id)
    assert (on_seam.status, code.status) == ("setting", AccessCodeStatus.SETTING)


def test_each_lock_lists_only_its_own_codes(account):
    provider = SeamProvider(account)
    ids = {
        lock: provider.set_code(lock, CodeSpec(code=pin, name=f"Guest at {lock}")).provider_code_id
        for lock, pin in (
            ("august_device_1", "4821"),
            ("august_device_2", "7391"),
            ("schlage_device_id", "5173"),
        )
    }
    for lock, code_id in ids.items():
        assert [h.provider_code_id for h in provider.list_codes(lock)] == [code_id]


def test_a_drift_check_over_several_locks_takes_no_code_for_another_locks(account, now):
    locks = {d.provider_device_id: d for d in Device.objects.filter(connected_account=account)}
    codes = [
        access_code_create(device=locks[lock], request=AccessCodeRequest(code=pin, name="Guest"))
        for lock, pin in (("august_device_1", "4821"), ("august_device_2", "7391"))
    ]
    for code in codes:
        access_code_push(code, now=now)
    AccessCode.objects.filter(pk__in=[c.pk for c in codes]).update(status=AccessCodeStatus.SET)
    counts = scheduler.check_drift(now=now, devices=list(locks.values()))
    assert counts["unmanaged"] == counts["changed"] == counts["removed"] == 0
    assert not AccessCode.objects.filter(is_managed=False).exists()
    for code in codes:
        code.refresh_from_db()
        assert (code.status, code.deleted_at, access_code_issues(code)) == (AccessCodeStatus.SET, None, [])


def test_only_seams_word_that_the_lock_is_online_proves_contact_with_it(account, fake_seam):
    """Seam answers about codes from its own records and reaches the lock later: those answers
    never clear a reachability error. A device Seam reports online now does."""
    provider = SeamProvider(account)
    assert provider.probe("august_device_1").reached_lock  # the fake's seeded lock is online
    created = provider.set_code("august_device_1", CodeSpec(code="4821", name="Ana"))
    assert created.result != Result.FAILED and not created.reached_lock
    assert not any(h.reached_lock for h in provider.list_codes("august_device_1"))
    assert not provider.remove_code("august_device_1", created.provider_code_id).reached_lock
    fake_seam.stop()
    assert not provider.probe("august_device_1").reached_lock  # Seam unreachable: no word at all
