"""Inbound callbacks: each kind of Seam event, signed as Seam signs them, applied through the
codes services; and every way a delivery can be refused."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.test import TestCase
from django.urls import reverse

from codes.models import AccessCodeIssue, AccessCodeStatus, BackupAccessCode, BackupAccessCodePool, Event
from codes.selectors import access_code_issues
from devices.models import ConnectedAccount, DeviceIssue, IssueKind, ProviderKind
from tests.codes.factories import AccessCodeFactory
from tests.devices.factories import ConnectedAccountFactory
from tests.webhooks.conftest import post_callback
from tests.webhooks.signing import FIXTURE_CODE, FIXTURE_DEVICE, FIXTURE_SECRET, fixture, signed
from webhooks.models import InboundDelivery, InboundStatus, Verdict

pytestmark = pytest.mark.django_db

OCCURRED_OFFSET = timedelta(minutes=1)  # the fixtures happened a minute before NOW


def deliver(client, account, kind):
    body, headers = fixture(kind)
    return post_callback(client, account, body, headers)


def only_delivery() -> InboundDelivery:
    (delivery,) = InboundDelivery.objects.all()
    return delivery


def events_of(code) -> list[str]:
    return list(
        Event.objects.filter(access_code=code).order_by("occurred_at").values_list("event_type", flat=True)
    )


# --- Each kind of event ---------------------------------------------------------------------------


def test_set_on_device_marks_the_code_set_at_the_moment_it_happened(client, seam_code, now):
    response = deliver(client, seam_code.device.connected_account, "access_code.set_on_device")
    assert response.status_code == 200
    seam_code.refresh_from_db()
    assert seam_code.status == AccessCodeStatus.SET
    event = Event.objects.get(access_code=seam_code, event_type="access_code.set_on_device")
    assert event.occurred_at == now - OCCURRED_OFFSET
    delivery = only_delivery()
    assert (delivery.verdict, delivery.status, delivery.attempt_count) == (
        Verdict.VERIFIED,
        InboundStatus.PROCESSED,
        1,
    )
    assert delivery.event_type == "access_code.set_on_device"
    assert delivery.headers["svix-id"] == "msg_fixture_access_code_set_on_device"


def test_scheduled_on_device_marks_a_future_code_loaded_with_its_schedule(client, seam_device, now):
    code = AccessCodeFactory(
        device=seam_device, time_bound=True, provider_code_id=FIXTURE_CODE, status=AccessCodeStatus.SETTING
    )
    deliver(client, seam_device.connected_account, "access_code.scheduled_on_device")
    code.refresh_from_db()
    assert code.is_scheduled_on_device is True
    assert code.status == AccessCodeStatus.UNSET  # active from starts_at, not yet
    assert "access_code.scheduled_on_device" in events_of(code)


def test_removed_from_device_finishes_a_deleted_code(client, seam_code, now):
    seam_code.deleted_at = now - timedelta(minutes=5)
    seam_code.status = AccessCodeStatus.REMOVING
    seam_code.save()
    deliver(client, seam_code.device.connected_account, "access_code.removed_from_device")
    seam_code.refresh_from_db()
    assert (seam_code.status, seam_code.provider_code_id) == (AccessCodeStatus.UNSET, "")
    assert events_of(seam_code) == ["access_code.removed_from_device"]


def test_removed_from_device_on_a_live_code_is_an_outside_deletion(client, seam_code):
    deliver(client, seam_code.device.connected_account, "access_code.removed_from_device")
    seam_code.refresh_from_db()
    assert seam_code.deleted_at is None
    assert seam_code.next_attempt_at is not None  # Latchkey sets it again
    assert events_of(seam_code) == ["access_code.deleted_external_to_seam"]
    assert seam_code.issues.get().code == "code_modified_external_to_seam"


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("access_code.failed_to_set_on_device", "failed_to_set_on_device"),
        ("access_code.failed_to_remove_from_device", "failed_to_remove_from_device"),
    ],
)
def test_failures_become_errors_with_their_remedy_and_an_event(client, seam_code, kind, error):
    if "remove" in kind:
        seam_code.status = AccessCodeStatus.REMOVING
        seam_code.save()
    deliver(client, seam_code.device.connected_account, kind)
    (shown,) = [i for i in access_code_issues(seam_code) if i.kind == IssueKind.ERROR]
    assert shown.code == error
    assert shown.remedy.startswith("Latchkey keeps retrying automatically")
    assert events_of(seam_code) == [kind]
    seam_code.refresh_from_db()
    assert seam_code.next_attempt_at is not None  # transient: the scheduler retries


def test_delay_in_setting_is_a_warning_and_an_event(client, seam_code):
    deliver(client, seam_code.device.connected_account, "access_code.delay_in_setting_on_device")
    warning = seam_code.issues.get(kind=IssueKind.WARNING)
    assert warning.code == "delay_in_setting_on_device"
    assert events_of(seam_code) == ["access_code.delay_in_setting_on_device"]


def test_delay_in_removing_is_a_warning_on_a_code_still_on_the_lock(client, seam_code, now):
    seam_code.deleted_at = now - timedelta(hours=1)
    seam_code.status = AccessCodeStatus.REMOVING
    seam_code.save()
    deliver(client, seam_code.device.connected_account, "access_code.delay_in_removing_from_device")
    assert seam_code.issues.get(kind=IssueKind.WARNING).code == "delay_in_removing_from_device"


def test_modified_outside_latchkey_is_an_error_and_the_code_is_set_again(client, seam_code):
    seam_code.status = AccessCodeStatus.SET
    seam_code.save()
    deliver(client, seam_code.device.connected_account, "access_code.modified_external_to_seam")
    seam_code.refresh_from_db()
    assert seam_code.status == AccessCodeStatus.UNSET and seam_code.sent_version is None
    event = Event.objects.get(access_code=seam_code)
    assert (event.event_type, event.payload["code_on_lock"]) == (
        "access_code.modified_external_to_seam",
        "9999",
    )
    assert seam_code.issues.get().code == "code_modified_external_to_seam"


def test_deleted_outside_latchkey_forgets_the_provider_id(client, seam_code):
    seam_code.status = AccessCodeStatus.SET
    seam_code.save()
    deliver(client, seam_code.device.connected_account, "access_code.deleted_external_to_seam")
    seam_code.refresh_from_db()
    assert seam_code.provider_code_id == ""
    assert events_of(seam_code) == ["access_code.deleted_external_to_seam"]


def test_backup_pulled_by_the_provider_hands_out_that_backup(client, seam_device, now):
    guest = AccessCodeFactory(
        device=seam_device, time_bound=True, provider_code_id=FIXTURE_CODE, use_backup_access_code_pool=True
    )
    pool = BackupAccessCodePool.objects.create(device=seam_device)
    backup = AccessCodeFactory(
        device=seam_device, is_backup=True, provider_code_id="seam-backup-1", status=AccessCodeStatus.SET
    )
    BackupAccessCode.objects.create(pool=pool, access_code=backup)
    deliver(client, seam_device.connected_account, "access_code.backup_access_code_pulled")
    guest.refresh_from_db()
    assert guest.pulled_backup_access_code == backup
    assert guest.needs_review is True
    assert "access_code.backup_access_code_pulled" in events_of(guest)


def test_a_backup_not_in_the_pool_is_ignored_with_the_reason(client, seam_code):
    deliver(client, seam_code.device.connected_account, "access_code.backup_access_code_pulled")
    delivery = only_delivery()
    assert delivery.status == InboundStatus.IGNORED
    assert "not a free backup code" in delivery.reason


def test_device_disconnected_shows_on_every_code_of_the_lock(client, seam_code, seam_device):
    other = AccessCodeFactory(device=seam_device)
    deliver(client, seam_device.connected_account, "device.disconnected")
    seam_device.refresh_from_db()
    assert seam_device.is_online is False
    for code in (seam_code, other):
        (shown,) = access_code_issues(code)
        assert (shown.code, shown.kind) == ("device_disconnected", IssueKind.ERROR)
        assert "Latchkey keeps retrying" in shown.remedy
    event = Event.objects.get(device=seam_device, access_code__isnull=True)
    assert event.event_type == "device.disconnected"


def test_device_connected_clears_the_disconnection_and_retries_failed_codes_now(
    client, seam_code, seam_device, now
):
    body, headers = signed(
        FIXTURE_SECRET,
        {
            "event_id": "e-1",
            "event_type": "device.disconnected",
            "device_id": FIXTURE_DEVICE,
            "occurred_at": (now - timedelta(minutes=10)).isoformat(),
        },
    )
    post_callback(client, seam_device.connected_account, body, headers)
    seam_code.attempt_count, seam_code.next_attempt_at = 3, now + timedelta(minutes=20)
    seam_code.save()
    deliver(client, seam_device.connected_account, "device.connected")
    assert not DeviceIssue.objects.filter(device=seam_device, cleared_at__isnull=True).exists()
    seam_device.refresh_from_db()
    seam_code.refresh_from_db()
    assert seam_device.is_online is True
    assert seam_code.next_attempt_at == now


def test_device_removed_is_an_error_on_the_lock(client, seam_code, seam_device):
    deliver(client, seam_device.connected_account, "device.removed")
    assert [i.code for i in access_code_issues(seam_code)] == ["device_removed"]


def test_low_battery_is_a_warning_with_the_level(client, seam_code, seam_device):
    deliver(client, seam_device.connected_account, "device.low_battery")
    seam_device.refresh_from_db()
    assert seam_device.battery_level == pytest.approx(0.12)
    (shown,) = access_code_issues(seam_code)
    assert (shown.kind, shown.code) == (IssueKind.WARNING, "device_low_battery")
    assert "batteries" in shown.remedy
    assert Event.objects.get(device=seam_device).payload["battery_level"] == pytest.approx(0.12)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("lock.unlocked", "does not act on 'lock.unlocked'"), ("access_code.created", "echo of a change")],
)
def test_events_latchkey_does_not_act_on_are_stored_and_ignored(client, seam_code, kind, reason):
    response = deliver(client, seam_code.device.connected_account, kind)
    assert response.status_code == 200
    delivery = only_delivery()
    assert (delivery.verdict, delivery.status) == (Verdict.VERIFIED, InboundStatus.IGNORED)
    assert reason in delivery.reason
    assert not Event.objects.exists()


def test_an_unknown_code_is_stored_and_ignored_with_the_reason(client, seam_device, now):
    response = deliver(client, seam_device.connected_account, "access_code.set_on_device")
    assert response.status_code == 200
    delivery = only_delivery()
    assert delivery.status == InboundStatus.IGNORED
    assert delivery.reason == f"Unknown access code '{FIXTURE_CODE}' on this account."


def test_an_unknown_device_is_stored_and_ignored(client, seam_account, now):
    deliver(client, seam_account, "device.disconnected")
    assert only_delivery().reason == f"Unknown device '{FIXTURE_DEVICE}' on this account."


# --- Duplicates, replays, order ----------------------------------------------------------------


def test_a_repeated_event_answers_200_and_is_processed_once(client, seam_code):
    account = seam_code.device.connected_account
    first = deliver(client, account, "access_code.failed_to_set_on_device")
    again = deliver(client, account, "access_code.failed_to_set_on_device")
    assert (first.status_code, again.status_code) == (200, 200)
    statuses = sorted(InboundDelivery.objects.values_list("status", flat=True))
    assert statuses == [InboundStatus.DUPLICATE, InboundStatus.PROCESSED]
    repeat = InboundDelivery.objects.get(status=InboundStatus.DUPLICATE)
    assert repeat.duplicate_of == InboundDelivery.objects.get(status=InboundStatus.PROCESSED)
    seam_code.refresh_from_db()
    assert seam_code.attempt_count == 1
    assert events_of(seam_code) == ["access_code.failed_to_set_on_device"]


def test_the_same_event_id_from_another_account_is_not_a_duplicate(client, seam_code, now):
    other = ConnectedAccountFactory(provider=ProviderKind.SEAM, webhook_secret=FIXTURE_SECRET)
    deliver(client, seam_code.device.connected_account, "lock.unlocked")
    deliver(client, other, "lock.unlocked")
    assert not InboundDelivery.objects.filter(status=InboundStatus.DUPLICATE).exists()


def _report(client, account, now, event_id, kind, minutes_ago):
    payload = {
        "event_id": event_id,
        "event_type": kind,
        "device_id": FIXTURE_DEVICE,
        "access_code_id": FIXTURE_CODE,
        "occurred_at": (now - timedelta(minutes=minutes_ago)).isoformat(),
    }
    return post_callback(client, account, *signed(FIXTURE_SECRET, payload, msg_id=event_id))


def test_an_older_event_never_overwrites_newer_state(client, seam_code, now):
    account = seam_code.device.connected_account
    _report(client, account, now, "set", "access_code.set_on_device", 5)
    _report(client, account, now, "early-failure", "access_code.failed_to_set_on_device", 20)  # came last
    seam_code.refresh_from_db()
    assert seam_code.status == AccessCodeStatus.SET
    assert not AccessCodeIssue.objects.filter(access_code=seam_code).exists()
    assert events_of(seam_code) == ["access_code.set_on_device"]
    ignored = InboundDelivery.objects.get(event_id="early-failure")
    assert ignored.status == InboundStatus.IGNORED
    assert ignored.reason.startswith("older than the code's latest recorded state")


def test_the_same_pair_in_order_applies_both(client, seam_code, now):
    account = seam_code.device.connected_account
    _report(client, account, now, "early-failure", "access_code.failed_to_set_on_device", 20)
    _report(client, account, now, "set", "access_code.set_on_device", 5)
    seam_code.refresh_from_db()
    assert seam_code.status == AccessCodeStatus.SET
    assert events_of(seam_code) == ["access_code.failed_to_set_on_device", "access_code.set_on_device"]
    assert not AccessCodeIssue.objects.filter(access_code=seam_code, cleared_at__isnull=True).exists()


def test_a_late_set_after_the_removal_leaves_the_code_removed(client, seam_code, now):
    account = seam_code.device.connected_account
    seam_code.deleted_at, seam_code.status = now - timedelta(minutes=30), AccessCodeStatus.REMOVING
    seam_code.save()
    _report(client, account, now, "removal", "access_code.removed_from_device", 5)
    _report(client, account, now, "late-set", "access_code.set_on_device", 20)
    seam_code.refresh_from_db()
    assert (seam_code.status, seam_code.provider_code_id) == (AccessCodeStatus.UNSET, "")
    assert InboundDelivery.objects.get(event_id="late-set").status == InboundStatus.IGNORED


def test_an_older_device_event_is_ignored_but_battery_is_ordered_on_its_own(client, seam_device, now):
    account = seam_device.connected_account

    def report(event_id, kind, minutes_ago):
        payload = {
            "event_id": event_id,
            "event_type": kind,
            "device_id": FIXTURE_DEVICE,
            "occurred_at": (now - timedelta(minutes=minutes_ago)).isoformat(),
        }
        post_callback(client, account, *signed(FIXTURE_SECRET, payload))

    report("back", "device.connected", 1)
    report("lost", "device.disconnected", 10)
    report("battery", "device.low_battery", 30)
    seam_device.refresh_from_db()
    assert seam_device.is_online is True
    assert list(DeviceIssue.objects.filter(cleared_at__isnull=True).values_list("code", flat=True)) == [
        "device_low_battery"
    ]
    assert InboundDelivery.objects.get(event_id="lost").status == InboundStatus.IGNORED


def test_staff_can_replay_a_delivery_from_the_admin(admin_client, client, seam_code):
    deliver(client, seam_code.device.connected_account, "access_code.set_on_device")
    delivery = only_delivery()
    Event.objects.all().delete()
    seam_code.status = AccessCodeStatus.SETTING
    seam_code.save()
    url = reverse("admin:webhooks_inbounddelivery_changelist")
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = admin_client.post(
            url, {"action": "replay", "_selected_action": [delivery.pk]}, follow=True
        )
    assert response.status_code == 200
    seam_code.refresh_from_db()
    delivery.refresh_from_db()
    assert seam_code.status == AccessCodeStatus.SET
    assert (delivery.status, delivery.attempt_count) == (InboundStatus.PROCESSED, 2)


def test_a_rejected_delivery_cannot_be_replayed(admin_client, client, seam_code):
    body, headers = fixture("access_code.set_on_device")
    post_callback(client, seam_code.device.connected_account, body + b" ", headers)
    delivery = only_delivery()
    url = reverse("admin:webhooks_inbounddelivery_changelist")
    page = admin_client.post(url, {"action": "replay", "_selected_action": [delivery.pk]}, follow=True)
    assert "only a verified, first delivery" in page.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == InboundStatus.REJECTED


# --- Refusals ------------------------------------------------------------------------------------


def test_a_tampered_body_is_401_stored_as_rejected_and_not_processed(client, seam_code):
    body, headers = fixture("access_code.set_on_device")
    response = post_callback(
        client, seam_code.device.connected_account, body.replace(b"4821", b"4822"), headers
    )
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_signature"
    delivery = only_delivery()
    assert (delivery.verdict, delivery.status) == (Verdict.INVALID, InboundStatus.REJECTED)
    # Refused before its signature matched: a stranger's body is not kept, only its size.
    assert (delivery.body, delivery.body_size) == ("", len(body))
    seam_code.refresh_from_db()
    assert seam_code.status == AccessCodeStatus.SETTING
    assert not Event.objects.exists()


def test_a_signature_made_with_another_secret_is_401(client, seam_code, now):
    payload = {"event_id": "x", "event_type": "access_code.set_on_device", "occurred_at": now.isoformat()}
    body, headers = signed("whsec_" + "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==", payload)
    assert post_callback(client, seam_code.device.connected_account, body, headers).status_code == 401
    assert only_delivery().verdict == Verdict.INVALID


@pytest.mark.parametrize("dropped", ["svix-id", "svix-timestamp", "svix-signature"])
def test_a_missing_signature_header_is_401_naming_it(client, seam_code, dropped):
    body, headers = fixture("access_code.set_on_device")
    del headers[dropped]
    response = post_callback(client, seam_code.device.connected_account, body, headers)
    assert response.status_code == 401
    assert dropped in response.json()["error"]["message"]
    assert only_delivery().verdict == Verdict.MISSING


def test_a_garbled_signature_header_is_401(client, seam_code):
    body, headers = fixture("access_code.set_on_device")
    headers["svix-signature"] = "not-a-signature"
    assert post_callback(client, seam_code.device.connected_account, body, headers).status_code == 401
    assert only_delivery().verdict == Verdict.INVALID


@pytest.mark.parametrize("shift", [timedelta(minutes=5, seconds=1), -timedelta(minutes=5, seconds=1)])
def test_a_timestamp_more_than_five_minutes_off_is_401_stale(client, seam_code, now, shift):
    body, headers = fixture("access_code.set_on_device")
    with time_machine.travel(now + shift, tick=False):
        response = post_callback(client, seam_code.device.connected_account, body, headers)
    assert response.status_code == 401
    delivery = only_delivery()
    assert (delivery.verdict, delivery.status) == (Verdict.STALE, InboundStatus.REJECTED)
    assert "5 minutes" in delivery.reason


def test_a_timestamp_within_five_minutes_is_accepted(client, seam_code, now):
    body, headers = fixture("access_code.set_on_device")
    with time_machine.travel(now + timedelta(minutes=4, seconds=59), tick=False):
        assert post_callback(client, seam_code.device.connected_account, body, headers).status_code == 200


def test_signed_malformed_json_is_400_and_stored(client, seam_code):
    body, headers = signed(FIXTURE_SECRET, '{"event_id": "x", "event_type": ')
    response = post_callback(client, seam_code.device.connected_account, body, headers)
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]
    delivery = only_delivery()
    assert (delivery.verdict, delivery.status) == (Verdict.VERIFIED, InboundStatus.REJECTED)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("[1, 2]", "needs string event_id and event_type"),
        ('{"event_id": 7, "event_type": "access_code.set_on_device"}', "needs string event_id"),
        (
            '{"event_id": "a", "event_type": "access_code.set_on_device", "occurred_at": "yesterday"}',
            "occurred_at",
        ),
        (
            '{"event_id": "a", "event_type": "access_code.set_on_device", "occurred_at": "2026-11-22T11:00:00"}',
            "offset",
        ),
    ],
)
def test_a_signed_body_that_is_not_an_event_is_400_naming_the_problem(client, seam_code, payload, message):
    response = post_callback(client, seam_code.device.connected_account, *signed(FIXTURE_SECRET, payload))
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_a_body_over_the_limit_is_413_and_not_kept(client, seam_code, now, settings):
    payload = {
        "event_id": "big",
        "event_type": "lock.unlocked",
        "padding": "x" * settings.WEBHOOK_MAX_BODY_BYTES,
    }
    body, headers = signed(FIXTURE_SECRET, payload)
    response = post_callback(client, seam_code.device.connected_account, body, headers)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "payload_too_large"
    delivery = only_delivery()
    assert (delivery.status, delivery.verdict, delivery.body, delivery.body_size) == (
        InboundStatus.REJECTED,
        Verdict.UNCHECKED,
        "",
        len(body),
    )


def test_a_body_at_the_limit_is_accepted(client, seam_code, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 2000
    payload = {"event_id": "fits", "event_type": "lock.unlocked", "padding": ""}
    text = json.dumps(payload)
    payload["padding"] = "x" * (2000 - len(text))
    body, headers = signed(FIXTURE_SECRET, payload)
    assert len(body) == 2000
    assert post_callback(client, seam_code.device.connected_account, body, headers).status_code == 200


def test_an_unknown_account_is_404(client, seam_account, now):
    body, headers = fixture("lock.unlocked")
    ConnectedAccount.objects.filter(pk=seam_account.pk).delete()
    response = post_callback(client, seam_account, body, headers)
    assert response.status_code == 404
    assert only_delivery().status == InboundStatus.REJECTED


def test_a_seam_account_is_not_reachable_at_the_sandbox_endpoint(client, seam_account, now):
    body, headers = fixture("lock.unlocked")
    assert post_callback(client, seam_account, body, headers, source="sandbox").status_code == 404


def test_only_post_is_accepted(client, seam_account):
    assert client.get(reverse("webhooks:seam", args=[seam_account.pk])).status_code == 405
