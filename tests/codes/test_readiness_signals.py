"""Readiness you can trust (issue 14): flags come when a person is needed and follow their
causes; a lock's problem reaches only the codes it blocks; no backup is pulled for a healthy
code; a lock that is offline shows offline. Lived through on the sandbox fleet under a
controlled clock, judged from the sandbox locks' memory where it matters."""

from datetime import timedelta

import pytest
from django.urls import reverse

from codes import lifecycle
from codes.models import AccessCode, AccessCodeStatus, BackupAccessCode, BackupAccessCodePool
from codes.pages import Readiness, devices_needing_attention, readiness, review_queue
from codes.selectors import access_code_issues
from codes.services import backup_pool, history, reports, staff
from codes.services.access_codes import access_code_create
from codes.services.checks import AccessCodeRequest
from codes.shapes import access_code_wire
from devices.models import Device, IssueKind, SandboxLock, Workspace
from devices.providers.sandbox.models import SandboxHeldCode
from devices.services import sandbox_fleet_create, workspace_get_or_create
from tests.codes.clock import run_until

pytestmark = pytest.mark.django_db
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


@pytest.fixture
def fleet(now):
    workspace = workspace_get_or_create(name="Sandbox", is_sandbox=True)
    return {d.provider_device_id: d for d in sandbox_fleet_create(workspace=workspace)}


def switch(device: Device, **faults) -> None:
    SandboxLock.objects.filter(device=device).update(**faults)


def on_lock(device: Device) -> set[str]:
    return set(SandboxHeldCode.objects.filter(lock__device=device).values_list("code", flat=True))


def fresh(code: AccessCode) -> AccessCode:
    return AccessCode.objects.select_related("device").get(pk=code.pk)


def booking(device, now, *, arrive_in, pin, stay=2 * DAY, **extra) -> AccessCode:
    return access_code_create(
        device=device,
        request=AccessCodeRequest(
            code=pin, name="Guest", starts_at=now + arrive_in, ends_at=now + arrive_in + stay, **extra
        ),
    )


def shown(code: AccessCode) -> set[str]:
    return {i.code for i in access_code_issues(fresh(code))}


def queued() -> list[AccessCode]:
    return list(review_queue(workspaces=Workspace.objects.all()))


# --- Point 2's flag rule: an error only a person can fix is flagged when it is found ----------


def test_an_error_only_a_person_can_fix_is_flagged_when_found_not_at_the_deadline(fleet, now):
    no_keypad = fleet["sandbox-no-keypad"]
    code = booking(no_keypad, now, arrive_in=8 * DAY, pin="4821")
    run_until(now)  # the pre-flight check finds no keypad, eight days ahead
    code = fresh(code)
    assert "august_lock_missing_keypad" in shown(code)
    assert code.needs_review and code.review_reason.startswith("august_lock_missing_keypad")
    assert "What to do:" in code.review_reason
    assert queued() == [code]


def test_trouble_latchkey_retries_by_itself_flags_only_at_the_deadline(fleet, now):
    cloud = fleet["sandbox-cloud-lock"]
    switch(cloud, is_offline=True)
    code = booking(cloud, now, arrive_in=8 * DAY, pin="4821")
    run_until(now + 5 * DAY - HOUR)
    code = fresh(code)
    assert "device_offline" in shown(code) and not code.needs_review  # retried, not yet urgent
    run_until(now + 5 * DAY)  # 72 hours before arrival
    code = fresh(code)
    assert code.needs_review and code.review_reason.startswith("device_offline")


# --- Point 4: no automatic backup pulls for healthy codes -------------------------------------


def test_a_code_the_lock_keeps_on_its_schedule_pulls_no_backup(fleet, now):
    deadbolt = fleet["sandbox-keypad-deadbolt"]
    BackupAccessCodePool.objects.create(device=deadbolt, target_size=2, auto_pull=True)
    backup_pool.backup_pool_refill(device=deadbolt, now=now)
    code = booking(deadbolt, now, arrive_in=2 * DAY, pin="4821", use_backup_access_code_pool=True)
    run_until(now + 2 * DAY - lifecycle.AUTO_PULL_LEAD + timedelta(minutes=1))
    code = fresh(code)
    # Unset and loaded with its schedule: waiting for its start, not failing.
    assert (code.status, code.is_scheduled_on_device) == (AccessCodeStatus.UNSET, True)
    assert code.pulled_backup_access_code_id is None and not code.needs_review
    assert not BackupAccessCode.objects.filter(pulled_for__isnull=False).exists()
    run_until(now + 2 * DAY)
    assert fresh(code).status == AccessCodeStatus.SET and "4821" in on_lock(deadbolt)


# --- Point 5: a lock-level problem fails only the codes it blocks -----------------------------


def test_an_empty_backup_pool_is_the_locks_problem_not_its_codes(fleet, now):
    deadbolt = fleet["sandbox-keypad-deadbolt"]
    plain = booking(deadbolt, now, arrive_in=2 * DAY, pin="4821")
    pooled = booking(deadbolt, now, arrive_in=3 * DAY, pin="5932", use_backup_access_code_pool=True)
    run_until(now)
    assert {readiness(fresh(plain)), readiness(fresh(pooled))} == {Readiness.SCHEDULED}
    # The pool let a guest down: the scheduler's own pull raises this on the lock (a staff or API
    # pull on an empty pool is refused and changes nothing, see test_sdk_backup_pools).
    history.device_issue_raise(
        device=deadbolt, kind=IssueKind.ERROR, code="empty_backup_access_code_pool", now=now
    )
    assert deadbolt.issues.filter(code="empty_backup_access_code_pool", cleared_at=None).exists()
    assert readiness(fresh(plain)) is Readiness.SCHEDULED
    assert "empty_backup_access_code_pool" not in shown(plain)
    # A code that uses the pool shows it, for what it says: it weighs nothing on its readiness.
    assert readiness(fresh(pooled)) is Readiness.SCHEDULED
    assert "empty_backup_access_code_pool" in {
        e["error_code"] for e in access_code_wire(fresh(pooled))["errors"]
    }
    assert not fresh(plain).needs_review and not fresh(pooled).needs_review


def test_a_code_already_on_a_lock_that_goes_offline_is_set_lock_offline_not_failed(fleet, now):
    deadbolt = fleet["sandbox-keypad-deadbolt"]
    loaded = booking(deadbolt, now, arrive_in=2 * DAY, pin="4821")
    run_until(now)
    assert on_lock(deadbolt) == {"4821"}
    late = booking(deadbolt, now, arrive_in=2 * DAY, pin="5932", stay=DAY)  # not on the lock yet
    switch(deadbolt, is_offline=True)
    reports.device_connection_record(device=deadbolt, online=False, now=now)
    assert readiness(fresh(loaded)) is Readiness.SET_LOCK_OFFLINE
    (offline,) = [i for i in access_code_issues(fresh(loaded)) if i.code == "device_offline"]
    assert "opens the door" in offline.remedy
    assert readiness(fresh(late)) is Readiness.FAILED  # it still needs the lock
    # Seam's access code shows its lock's error: an integration sees the lock cannot be reached.
    assert "device_offline" in {e["error_code"] for e in access_code_wire(fresh(loaded))["errors"]}
    run_until(now + HOUR)
    assert on_lock(deadbolt) == {"4821"}  # the lock still holds it; the guest gets in


def test_a_bridge_problem_reaches_only_the_locks_behind_that_bridge(fleet, now):
    cloud, no_keypad, deadbolt = (
        fleet["sandbox-cloud-lock"],
        fleet["sandbox-no-keypad"],
        fleet["sandbox-keypad-deadbolt"],
    )
    assert cloud.hub_id == no_keypad.hub_id != "" and deadbolt.hub_id == ""
    on_deadbolt = access_code_create(device=deadbolt, request=AccessCodeRequest(code="7391"))
    run_until(now)
    assert fresh(on_deadbolt).status == AccessCodeStatus.SET
    switch(cloud, bridge_disconnected=True)
    on_cloud = access_code_create(device=cloud, request=AccessCodeRequest(code="4821"))
    behind_bridge = booking(no_keypad, now, arrive_in=20 * DAY, pin="5932")
    run_until(now + timedelta(minutes=1))
    assert "bridge_disconnected" in shown(on_cloud)
    assert readiness(fresh(on_cloud)) is Readiness.FAILED
    assert "bridge_disconnected" in shown(behind_bridge)
    assert "bridge_disconnected" not in shown(on_deadbolt)
    assert readiness(fresh(on_deadbolt)) is Readiness.SET
    assert "bridge_disconnected" not in {
        e["error_code"] for e in access_code_wire(fresh(on_deadbolt))["errors"]
    }
    assert {d.provider_device_id for d in Device.objects.filter(is_online=False)} == {
        "sandbox-cloud-lock",
        "sandbox-no-keypad",
    }


# --- Point 6: flags follow their causes; "resolved" does not hide failures --------------------


def test_a_review_reason_follows_its_cause_when_the_lock_comes_back(fleet, now):
    cloud = fleet["sandbox-cloud-lock"]
    code = booking(cloud, now, arrive_in=2 * DAY, pin="4821")
    switch(cloud, is_offline=True)
    run_until(now)
    code = fresh(code)
    assert code.needs_review and code.review_reason.startswith("device_offline")
    next_look = code.next_attempt_at
    switch(cloud, is_offline=False)
    reports.device_record_provider_event(
        device=cloud, event_type="device.connected", occurred_at=now + HOUR, now=now + HOUR
    )
    code = fresh(code)  # no sweep yet: the webhook alone re-judged the flag
    assert code.next_attempt_at <= max(next_look, now + HOUR)
    assert "device_offline" not in code.review_reason
    run_until(now + HOUR)  # the pre-flight passes: nothing left to flag
    code = fresh(code)
    assert (code.needs_review, code.review_reason) == (False, "")
    assert queued() == []


def test_resolving_a_code_that_still_fails_keeps_it_in_the_queue(fleet, now):
    no_keypad = fleet["sandbox-no-keypad"]
    code = booking(no_keypad, now, arrive_in=2 * DAY, pin="4821")
    run_until(now)
    staff.review_resolve(access_code=fresh(code), actor=None, now=now + HOUR)
    code = fresh(code)
    assert readiness(code) is Readiness.FAILED
    assert code.needs_review and "august_lock_missing_keypad" in code.review_reason
    assert queued() == [code]
    # Fixed in the maker's app: the next check clears the error, and the flag with it.
    Device.objects.filter(pk=no_keypad.pk).update(accessory_keypad_connected=True)
    staff.access_code_retry_now(access_code=code, actor=None, now=now + 2 * HOUR)
    run_until(now + 2 * HOUR)
    assert queued() == [] and not fresh(code).needs_review


def test_the_queue_the_dashboard_and_the_code_page_give_one_answer(admin_client, fleet, now):
    deadbolt = fleet["sandbox-keypad-deadbolt"]
    code = booking(deadbolt, now, arrive_in=8 * DAY, pin="4821")
    run_until(now)
    reports.device_removal_record(device=deadbolt, now=now)  # only a person can fix this
    assert queued() == [fresh(code)]
    page = admin_client.get(reverse("admin:codes_accesscode_change", args=[code.pk])).content.decode()
    assert "Not flagged." not in page and "device_removed" in page
    dashboard = admin_client.get(reverse("latchkey:dashboard")).content.decode()
    assert "<strong>1</strong> flagged code" in dashboard


# --- Point 7: a lock that is offline shows offline --------------------------------------------


def test_a_lock_found_offline_shows_offline_until_it_answers_again(admin_client, fleet, now):
    cloud = fleet["sandbox-cloud-lock"]
    switch(cloud, is_offline=True)
    code = access_code_create(device=cloud, request=AccessCodeRequest(code="4821"))
    run_until(now)
    assert "device_offline" in shown(code)
    cloud.refresh_from_db()
    assert not cloud.is_online
    assert cloud in devices_needing_attention(workspaces=Workspace.objects.all())
    page = admin_client.get(reverse("admin:devices_device_change", args=[cloud.pk])).content.decode()
    assert "Offline" in page
    switch(cloud, is_offline=False)
    run_until(now + HOUR)
    cloud.refresh_from_db()
    assert fresh(code).status == AccessCodeStatus.SET and cloud.is_online
    assert "4821" in on_lock(cloud)


def test_a_locks_battery_warning_and_missing_keypad_reach_the_dashboard_until_they_clear(
    admin_client, fleet, now
):
    """Point 7: the lock's battery and keypad follow its issues too, not only reported values."""
    deadbolt, no_keypad = fleet["sandbox-keypad-deadbolt"], fleet["sandbox-no-keypad"]
    everyone = Workspace.objects.all()
    assert deadbolt.battery_level is None or deadbolt.battery_level >= 0.2
    assert deadbolt not in devices_needing_attention(workspaces=everyone)
    history.device_issue_raise(device=deadbolt, kind=IssueKind.WARNING, code="device_low_battery", now=now)
    page = admin_client.get(reverse("latchkey:dashboard")).content.decode()
    assert deadbolt in devices_needing_attention(workspaces=everyone)
    assert "Battery low (the lock&#x27;s warning)" in page or "Battery low (the lock's warning)" in page
    history.device_issue_clear(device=deadbolt, kind=IssueKind.WARNING, code="device_low_battery", now=now)
    assert deadbolt not in devices_needing_attention(workspaces=everyone)
    # No keypad built in or connected: the lock cannot take a PIN, so it is listed, named so.
    assert not no_keypad.has_keypad
    listed = {d.pk: d for d in devices_needing_attention(workspaces=everyone)}
    assert no_keypad.pk in listed and listed[no_keypad.pk].keypad_missing
    assert "No keypad" in admin_client.get(reverse("latchkey:dashboard")).content.decode()
    Device.objects.filter(pk=no_keypad.pk).update(accessory_keypad_connected=True)
    assert no_keypad.pk not in {d.pk for d in devices_needing_attention(workspaces=everyone)}
