"""PINs reach only people allowed to reveal them: a reviewer walking every admin changelist
(with lookups on every PIN-bearing field), every admin page and every Latchkey page sees no
PIN of any code, and lookups that would tell one digit at a time are refused."""

import io
import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.urls import reverse

from codes.models import (
    AccessCode,
    AccessCodeStatus,
    AccessCodeType,
    ActionAttempt,
    ActionType,
    BackupAccessCode,
    BackupAccessCodePool,
    Event,
    EventType,
    StaffAction,
)
from codes.programming import access_code_push
from codes.services import backup_pool, staff
from codes.services.access_codes import access_code_create
from codes.services.checks import AccessCodeRequest
from devices.models import Membership
from devices.providers.sandbox.models import SandboxCommand, SandboxHeldCode
from devices.selectors import PROPERTY_MANAGER, REVIEWER
from devices.services import sandbox_fleet_create, workspace_get_or_create
from tests.codes.factories import AccessCodeFactory
from webhooks.models import (
    InboundDelivery,
    InboundSource,
    InboundStatus,
    OutboundAttempt,
    OutboundDelivery,
    Verdict,
)
from webhooks.services.subscriptions import subscription_create

pytestmark = pytest.mark.django_db

GUEST_PIN, BACKUP_PIN, DRIFT_PIN, SANDBOX_PIN = "83920571", "61457293", "70913548", "739185"

# Where a PIN is stored, by the test's own reckoning (not the models' PIN_FIELDS, which it checks).
PIN_BEARING = {
    AccessCode: ["code", "send_in_flight", "review_reason"],
    Event: ["payload"],
    ActionAttempt: ["result", "error"],
    StaffAction: ["note", "problems"],
    SandboxHeldCode: ["code"],
    SandboxCommand: ["code"],
    InboundDelivery: ["body"],
    OutboundDelivery: ["body"],
    OutboundAttempt: ["response_body"],
}


def user_in(workspace, username: str, *, group: str | None = None, perms=()):
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(username, is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    user.user_permissions.add(*perms)
    Membership.objects.create(user=user, workspace=workspace)
    return get_user_model().objects.get(pk=user.pk)  # fresh permission cache


@pytest.fixture
def pins_everywhere(now):
    """A workspace where a PIN sits in every place one can: codes, a pulled backup and the
    review reason and staff action it leads to, a staff note, a drift event's payload, an
    action attempt's result, the sandbox lock's memory and commands, webhook bodies."""
    call_command("setup_roles", stdout=io.StringIO())
    workspace = workspace_get_or_create(name="Harbour", is_sandbox=True)
    deadbolt, cloud_lock = sandbox_fleet_create(workspace=workspace)[:2]
    manager = user_in(workspace, "manager", group=PROPERTY_MANAGER)
    guest = AccessCodeFactory(
        device=deadbolt,
        code=GUEST_PIN,
        type=AccessCodeType.TIME_BOUND,
        starts_at=now,
        ends_at=now.replace(day=25),
        use_backup_access_code_pool=True,
    )
    backup = AccessCodeFactory(device=deadbolt, code=BACKUP_PIN, is_backup=True, status=AccessCodeStatus.SET)
    slot = BackupAccessCode.objects.create(
        pool=BackupAccessCodePool.objects.create(device=deadbolt), access_code=backup
    )
    backup_pool.hand_out(slot, guest, now=now)
    staff.review_note(access_code=guest, actor=manager, note=f"Texted the guest {BACKUP_PIN}.")
    staff.review_resolve(access_code=guest, actor=manager)
    guest.needs_review = True  # flagged again, so the queue shows it too
    guest.review_reason = "Backup code pulled: give the guest the backup code's PIN."
    guest.save(update_fields=["needs_review", "review_reason"])
    Event.objects.create(
        event_type=EventType.MODIFIED_EXTERNAL_TO_SEAM,
        workspace=workspace,
        device=deadbolt,
        access_code=guest,
        payload={"code_on_lock": DRIFT_PIN},
    )
    ActionAttempt.objects.create(
        workspace=workspace,
        action_type=ActionType.CREATE_ACCESS_CODE,
        access_code=guest,
        result={"access_code": {"code": GUEST_PIN}},
    )
    sandbox_code = access_code_create(device=cloud_lock, request=AccessCodeRequest(code=SANDBOX_PIN))
    access_code_push(sandbox_code, now=now)
    body = f'{{"code": "{GUEST_PIN}"}}'
    subscription = subscription_create(workspace=workspace, url="https://hooks.example.com/x")
    delivery = OutboundDelivery.objects.create(
        subscription=subscription, event=guest.events.first(), event_type="access_code.changed", body=body
    )
    OutboundAttempt.objects.create(delivery=delivery, status_code=500, response_body=body)
    InboundDelivery.objects.create(
        source=InboundSource.SANDBOX,
        connected_account=deadbolt.connected_account,
        body=body,
        verdict=Verdict.VERIFIED,
        status=InboundStatus.PROCESSED,
        response_status=200,
    )
    return workspace, guest


def all_pins() -> set[str]:
    pins = set(AccessCode.objects.exclude(code=None).values_list("code", flat=True))
    pins |= set(SandboxHeldCode.objects.values_list("code", flat=True))
    return pins | {DRIFT_PIN}


def assert_no_pin(response, where: str):
    page = response.content.decode()
    for pin in all_pins():
        assert not re.search(rf"(?<!\d){pin}(?!\d)", page), f"PIN {pin} shown at {where}"


def view_everything_but_pins(workspace):
    """Every view permission of Latchkey's apps, and not "Can reveal access code PINs"."""
    perms = Permission.objects.filter(
        content_type__app_label__in=["codes", "devices", "webhooks"], codename__startswith="view_"
    ).exclude(codename="view_pin")
    return user_in(workspace, "viewer", perms=perms)


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("who", ["reviewer", "viewer"])
def test_a_reviewer_walking_every_page_sees_no_pin(client, pins_everywhere, who):
    workspace, guest = pins_everywhere
    if who == "reviewer":
        user = user_in(workspace, "reviewer", group=REVIEWER)
    else:
        user = view_everything_but_pins(workspace)
    assert not user.has_perm("codes.view_pin")
    client.force_login(user)
    assert all_pins() >= {GUEST_PIN, BACKUP_PIN, SANDBOX_PIN}
    visited = refused = 0
    for model, model_admin in admin.site._registry.items():
        changelist = admin_url(model, "changelist")
        response = client.get(changelist)
        if response.status_code == 403:
            continue
        assert response.status_code == 200, changelist
        assert_no_pin(response, changelist)
        visited += 1
        # A search for a PIN finds what a search for a PIN nobody has finds: it tells nothing.
        baseline = client.get(changelist, {"q": "00000000"}).context["cl"].result_count
        for pin in all_pins():
            found = client.get(changelist, {"q": pin})
            assert found.status_code == 200 and found.context["cl"].result_count == baseline, (
                changelist,
                pin,
            )
        for field in PIN_BEARING.get(model, []):
            for lookup, value in [
                ("", GUEST_PIN),
                ("__startswith", "8"),
                ("__regex", "^8"),
                ("__icontains", "83"),
            ]:
                response = client.get(changelist, {f"{field}{lookup}": value})
                assert response.status_code == 400, f"{changelist}?{field}{lookup}={value}"
                refused += 1
        for obj in model_admin.get_queryset(_request(user)):
            page = admin_url(model, "change", obj.pk)
            response = client.get(page)
            assert response.status_code == 200, page
            assert_no_pin(response, page)
    assert visited >= (7 if who == "reviewer" else 14) and refused >= 20
    for name in ["dashboard", "review_queue", "timeline", "code_create"]:
        response = client.get(reverse(f"latchkey:{name}"))
        assert response.status_code in (200, 403), name
        assert_no_pin(response, name)
    if who == "reviewer":  # the queue was walked with the flagged code on it
        assert f"code-{guest.pk}" in client.get(reverse("latchkey:review_queue")).content.decode()


def _request(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = user
    return request


@pytest.mark.parametrize(
    "model, query",
    [
        (AccessCode, "code__startswith=8"),
        (AccessCode, f"code={GUEST_PIN}"),
        (AccessCode, "code__regex=^8"),
        (Event, f"payload__code_on_lock={DRIFT_PIN}"),
        (Event, "payload__icontains=7091"),
        (StaffAction, "note__contains=6145"),
        (BackupAccessCode, "access_code__code__startswith=6"),
    ],
)
def test_changelist_lookups_on_pins_are_refused_to_reviewers_only(client, pins_everywhere, model, query):
    workspace, guest = pins_everywhere
    client.force_login(user_in(workspace, "reviewer", group=REVIEWER))
    url = admin_url(model, "changelist") + f"?access_code_id={guest.pk}&" + query
    if model is not AccessCode:
        url = admin_url(model, "changelist") + "?" + query
    assert client.get(url).status_code == 400
    client.force_login(get_user_model().objects.get(username="manager"))
    assert client.get(admin_url(AccessCode, "changelist") + f"?code={GUEST_PIN}").status_code == 200


def test_a_pulled_backup_pin_stays_out_of_free_text(client, pins_everywhere):
    workspace, guest = pins_everywhere
    assert guest.pulled_backup_access_code.code == BACKUP_PIN
    guest.refresh_from_db()
    assert BACKUP_PIN not in guest.review_reason
    resolved = StaffAction.objects.get(access_code=guest, kind="resolved")
    assert resolved.problems and not any(BACKUP_PIN in p for p in resolved.problems)
    # Those who may see PINs get the backup's, by reference, where they work the queue.
    client.force_login(get_user_model().objects.get(username="manager"))
    queue = client.get(reverse("latchkey:review_queue")).content.decode()
    assert f"Backup PIN to give the guest: <strong>{BACKUP_PIN}</strong>" in queue
