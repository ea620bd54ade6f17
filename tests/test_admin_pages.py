"""Every admin list, add and change page renders; codes added in the admin go through the services."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from codes import catalog
from codes.admin.access_codes import local_time
from codes.models import (
    AccessCode,
    AccessCodeIssue,
    ActionAttempt,
    ActionType,
    BackupAccessCode,
    BackupAccessCodePool,
    Event,
    EventType,
)
from codes.programming import access_code_push
from codes.services.access_codes import access_code_create, access_code_delete
from codes.services.checks import AccessCodeRequest
from codes.services.history import device_issue_raise
from codes.services.staff import review_note
from devices.models import ApiKey, Device, DeviceIssue, IssueKind, Membership
from devices.services import api_key_create, sandbox_fleet_create
from tests.codes.factories import AccessCodeFactory
from tests.devices.factories import DeviceFactory
from webhooks.models import (
    InboundDelivery,
    InboundSource,
    InboundStatus,
    OutboundAttempt,
    OutboundDelivery,
    Verdict,
    WebhookSubscription,
)
from webhooks.services.subscriptions import subscription_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def populated(now):
    """One row of every model, so change pages have something to show."""
    device = DeviceFactory(supports_backup_access_code_pool=True)
    code = access_code_create(device=device, request=AccessCodeRequest(code="4821", name="Ana"))
    device_issue_raise(device=device, kind=IssueKind.ERROR, code="device_offline")
    AccessCodeIssue.objects.create(
        access_code=code, kind=IssueKind.WARNING, code="delay_in_setting_on_device", message="m"
    )
    ActionAttempt.objects.create(
        workspace=device.workspace, action_type=ActionType.CREATE_ACCESS_CODE, access_code=code
    )
    spare_lock = DeviceFactory(workspace=device.workspace, supports_backup_access_code_pool=True)
    pool = BackupAccessCodePool.objects.create(device=spare_lock)
    BackupAccessCode.objects.create(
        pool=pool, access_code=AccessCodeFactory(device=spare_lock, code="9182", is_backup=True)
    )
    api_key_create(workspace=device.workspace, name="booking sync")
    Group.objects.create(name="Reviewers")
    manager = get_user_model().objects.create_user("manager", is_staff=True)
    Membership.objects.create(user=manager, workspace=device.workspace)
    review_note(access_code=code, actor=manager, note="Called the guest.")
    sandbox_device = sandbox_fleet_create(workspace=device.workspace)[1]
    sandbox_code = access_code_create(device=sandbox_device, request=AccessCodeRequest(code="4821"))
    access_code_push(sandbox_code, now=now)
    _webhook_rows(device, code)
    return code


def _webhook_rows(device, code):
    """A subscription with a delivery and its attempt, and an inbound delivery."""
    subscription = subscription_create(workspace=device.workspace, url="https://hooks.example.com/latchkey")
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        is_disabled=True, disabled_at=code.created_at, disabled_reason="Every delivery failed."
    )
    delivery = OutboundDelivery.objects.create(
        subscription=subscription, event=code.events.first(), event_type="access_code.created", body="{}"
    )
    OutboundAttempt.objects.create(delivery=delivery, status_code=500, duration_ms=12)
    InboundDelivery.objects.create(
        source=InboundSource.SANDBOX,
        connected_account=device.connected_account,
        body="{}",
        verdict=Verdict.INVALID,
        status=InboundStatus.REJECTED,
        reason="The signature does not match.",
        response_status=401,
    )


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


OUR_APPS = {"devices", "codes", "webhooks", "auth"}
OUR_MODELS = [m for m in admin.site._registry if m._meta.app_label in OUR_APPS]


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m.__name__)
def test_every_changelist_renders(admin_client, populated, model):
    assert admin_client.get(admin_url(model, "changelist")).status_code == 200


@pytest.mark.parametrize("model", OUR_MODELS, ids=lambda m: m.__name__)
def test_every_change_and_add_page_renders(admin_client, admin_user, rf, populated, model):
    obj = model.objects.first()
    assert obj is not None, f"the fixture made no {model.__name__}"
    assert admin_client.get(admin_url(model, "change", obj.pk)).status_code == 200
    request = rf.get("/")
    request.user = admin_user
    expected_add = 200 if admin.site._registry[model].has_add_permission(request) else 403
    assert admin_client.get(admin_url(model, "add")).status_code == expected_add


def listed(admin_client, query: str) -> set:
    response = admin_client.get(admin_url(AccessCode, "changelist") + "?" + query)
    assert response.status_code == 200
    return set(response.context["cl"].result_list)


def test_access_code_list_filters_and_searches(admin_client, populated, now):
    sandbox_code = AccessCode.objects.get(device__provider_device_id="sandbox-cloud-lock")
    backup = AccessCode.objects.get(is_backup=True)
    gone = access_code_create(device=populated.device, request=AccessCodeRequest(code="7777", name="Gone"))
    access_code_delete(access_code=gone)
    flagged = AccessCodeFactory(device=populated.device, code="5555", needs_review=True, time_bound=True)
    assert listed(admin_client, "status=set") == {sandbox_code}
    assert listed(admin_client, "type=time_bound") == {flagged}
    # Ana's ongoing code is not on its offline lock: flagged, as the review queue lists it.
    assert listed(admin_client, "needs_review__exact=1") == {flagged, populated}
    assert listed(admin_client, "state=deleted") == {gone}
    assert gone not in listed(admin_client, "")
    # Backup codes are listed apart (issue 18): with kind=backup, or kind=all.
    assert listed(admin_client, "state=all") == {populated, sandbox_code, gone, flagged}
    assert listed(admin_client, "kind=backup") == {backup}
    assert listed(admin_client, "state=all&kind=all") == {populated, sandbox_code, gone, flagged, backup}
    assert listed(admin_client, "q=Ana") == {populated}
    assert listed(admin_client, "q=4821") == {populated, sandbox_code}


def test_access_code_search_by_id_finds_it(admin_client, populated):
    AccessCodeFactory(name="Somebody else")
    assert listed(admin_client, f"q={populated.pk}") == {populated}


def test_has_errors_filter_counts_inherited_device_errors(admin_client, populated):
    clean = AccessCodeFactory()
    response = admin_client.get(admin_url(AccessCode, "changelist") + "?has_errors=yes")
    assert list(response.context["cl"].result_list) == [populated]
    response = admin_client.get(admin_url(AccessCode, "changelist") + "?has_errors=no")
    without_errors = set(response.context["cl"].result_list)
    assert clean in without_errors and populated not in without_errors


def test_change_page_shows_each_issue_with_its_remedy(admin_client, populated):
    page = admin_client.get(admin_url(AccessCode, "change", populated.pk)).content.decode()
    assert "device_offline" in page
    assert catalog.error("device_offline").remedy.split(".")[0] in page.replace("&#x27;", "'")


def test_adding_a_code_in_the_admin_goes_through_the_service(admin_client, now):
    device = DeviceFactory()
    response = admin_client.post(
        admin_url(AccessCode, "add"),
        {
            "device": device.pk,
            "name": "Ben",
            "code": "",
            "starts_at_0": "2026-12-01",
            "starts_at_1": "15:00:00",
            "ends_at_0": "2026-12-04",
            "ends_at_1": "10:00:00",
            **_empty_inlines(),
        },
    )
    assert response.status_code == 302, (
        response.context["adminform"].form.errors if response.context else response
    )
    code = AccessCode.objects.get()
    assert len(code.code) == 4  # generated for the lock
    assert code.starts_at == datetime(2026, 12, 1, 15, tzinfo=UTC)
    assert Event.objects.filter(access_code=code, event_type=EventType.CREATED).exists()


def test_admin_shows_a_rule_violation_beside_its_field_and_writes_nothing(admin_client, now):
    device = DeviceFactory()
    response = admin_client.post(
        admin_url(AccessCode, "add"),
        {"device": device.pk, "name": "Ben", "code": "12ab", **_empty_inlines()},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"code": ["'12ab' must contain digits only (0-9)."]}
    assert not AccessCode.objects.exists()


def test_an_account_error_counts_on_every_code_of_the_account(admin_client, populated):
    device_issue_raise(device=populated.device, kind=IssueKind.ERROR, code="account_disconnected")
    response = admin_client.get(admin_url(AccessCode, "changelist") + "?has_errors=yes")
    row = next(c for c in response.context["cl"].result_list if c.pk == populated.pk)
    assert row.error_count == 2  # device_offline on the lock, account_disconnected on the account
    assert row.warning_count == 1


def test_renaming_in_the_admin_changes_only_the_name(admin_client, now):
    device = DeviceFactory()
    starts = now + timedelta(days=1, microseconds=946049)  # finer than the admin's widget shows
    code = access_code_create(
        device=device,
        request=AccessCodeRequest(code="4821", starts_at=starts, ends_at=starts + timedelta(days=2)),
    )
    form = admin_client.get(admin_url(AccessCode, "change", code.pk)).context["adminform"].form
    data = {
        **{k: v for k, v in form.initial.items() if v is not None},
        **_split_datetimes(form),
        "name": "Ana",
    }
    response = admin_client.post(admin_url(AccessCode, "change", code.pk), {**data, **_empty_inlines()})
    assert response.status_code == 302, response.context["adminform"].form.errors
    code.refresh_from_db()
    assert (code.name, code.starts_at) == ("Ana", starts)
    changed = Event.objects.get(access_code=code, event_type=EventType.CHANGED)
    assert changed.payload["changed"] == ["appearance", "name"]


def test_deleted_and_unmanaged_codes_are_view_only_in_the_admin(admin_client, populated):
    access_code_delete(access_code=populated)
    unmanaged = AccessCodeFactory(is_managed=False)
    for code in (populated, unmanaged):
        page = admin_client.get(admin_url(AccessCode, "change", code.pk))
        assert page.status_code == 200 and not page.context["has_change_permission"]
        assert admin_client.post(admin_url(AccessCode, "change", code.pk), {"name": "x"}).status_code == 403


def test_deleting_in_the_admin_keeps_history(admin_client, populated):
    response = admin_client.post(admin_url(AccessCode, "delete", populated.pk), {"post": "yes"})
    assert response.status_code == 302
    populated.refresh_from_db()
    assert populated.deleted_at is not None
    assert Event.objects.filter(access_code=populated, event_type=EventType.DELETED).exists()


def test_adding_an_api_key_in_the_admin_shows_it_once_and_stores_its_hash(admin_client, populated):
    response = admin_client.post(
        admin_url(ApiKey, "add"), {"workspace": populated.workspace_id, "name": "new"}, follow=True
    )
    # Shown on the page the POST answers, never cached and never in the messages cookie.
    assert response.status_code == 200 and response.redirect_chain == []
    assert "no-store" in response["Cache-Control"]
    raw = response.context["raw_key"]
    assert raw.startswith("seam_") and raw in response.content.decode()
    assert all(raw not in morsel.value for morsel in response.cookies.values())
    assert all(raw not in morsel.value for morsel in admin_client.cookies.values())
    assert [str(m) for m in response.context["messages"]] == []
    key = ApiKey.objects.get(name="new")
    assert key.key_hash == ApiKey.digest(raw)
    assert raw not in {key.key_hash, key.key_prefix}
    assert raw not in admin_client.get(admin_url(ApiKey, "change", key.pk)).content.decode()


def test_device_errors_are_listed(admin_client, populated):
    response = admin_client.get(admin_url(DeviceIssue, "changelist"))
    assert response.context["cl"].result_count == 1


def test_local_time_is_shown_in_the_property_zone_across_a_dst_change(now):
    # Lisbon leaves summer time on 2026-10-25: +01:00 before, +00:00 after.
    code = AccessCodeFactory(
        time_bound=True,
        starts_at=datetime(2026, 10, 24, 15, tzinfo=UTC),
        ends_at=datetime(2026, 10, 26, 11, tzinfo=UTC),
    )
    assert code.device.property.time_zone == "Europe/Lisbon"
    assert local_time(code.starts_at, code) == (
        '<time datetime="2026-10-24T15:00:00+00:00" title="2026-10-24 15:00 UTC">Sat 2026-10-24 16:00 WEST</time>'
    )
    assert local_time(code.ends_at, code) == (
        '<time datetime="2026-10-26T11:00:00+00:00" title="2026-10-26 11:00 UTC">Mon 2026-10-26 11:00 WET</time>'
    )


def _empty_inlines():
    prefixes = ["issues", "events"]
    data = {}
    for prefix in prefixes:
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    return data


def test_local_time_of_no_value_is_a_dash():
    assert local_time(None, None) == "—"


def test_admin_is_branded_latchkey(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert "<title>Site administration | Latchkey</title>" in page
    assert '<div id="site-name"><a href="/admin/">Latchkey</a></div>' in page


def test_a_sandbox_lock_page_shows_its_switches_and_memory(admin_client, populated):
    device = Device.objects.get(provider_device_id="sandbox-cloud-lock")
    page = admin_client.get(admin_url(Device, "change", device.pk)).content.decode()
    assert "Sandbox failure switches" in page
    assert "<li>4821 “Guest” (Set by Latchkey), confirmed</li>" in page


def _split_datetimes(form) -> dict:
    """The admin's split date and time inputs, as a browser posts them."""
    data = {}
    for field in ("starts_at", "ends_at"):
        value = form.initial.get(field)
        if value is not None:
            data.update({f"{field}_0": value.strftime("%Y-%m-%d"), f"{field}_1": value.strftime("%H:%M:%S")})
    data.pop("starts_at", None)
    return data


def test_adding_a_subscription_in_the_admin_goes_through_the_service(admin_client, now):
    device = DeviceFactory()
    response = admin_client.post(
        admin_url(WebhookSubscription, "add"),
        {"workspace": device.workspace.pk, "url": "ftp://nope", "event_types": ["device.removed"]},
    )
    assert response.status_code == 200
    assert "must start with http:// or https://" in response.content.decode()
    response = admin_client.post(
        admin_url(WebhookSubscription, "add"),
        {
            "workspace": device.workspace.pk,
            "url": "https://hooks.example.com/",
            "event_types": ["device.removed"],
        },
    )
    assert response.status_code == 302
    sub = WebhookSubscription.objects.get()
    assert (sub.event_types, sub.secret[:6]) == (["device.removed"], "whsec_")


def test_disabled_subscriptions_are_flagged_in_the_list(admin_client, populated):
    page = admin_client.get(admin_url(WebhookSubscription, "changelist")).content.decode()
    assert "Disabled" in page and "Every delivery failed." in page
