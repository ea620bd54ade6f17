"""The pages managers and reviewers work in: dashboard, code page actions, creating codes for a
property's doors, the lock page, the timeline, the review queue, and who sees what."""

import io
import re
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from codes import catalog
from codes.models import AccessCode, AccessCodeIssue, AccessCodeStatus, Event, EventType, StaffAction
from codes.programming import access_code_push
from codes.services.access_codes import access_code_create
from codes.services.checks import AccessCodeRequest
from codes.services.drift import access_code_record_drift
from codes.services.history import device_issue_raise
from devices.models import Device, IssueKind, Membership
from devices.selectors import ADMINISTRATOR, PROPERTY_MANAGER, REVIEWER
from devices.services import sandbox_fleet_create
from tests.codes.factories import AccessCodeFactory
from tests.devices.factories import DeviceFactory, PropertyFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def roles(db):
    call_command("setup_roles", stdout=io.StringIO())


def staff_user(role: str, *, workspace=None, username=None):
    user = get_user_model().objects.create_user(username or role.lower().replace(" ", "_"), is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    if workspace is not None:
        Membership.objects.create(user=user, workspace=workspace)
    return user


@pytest.fixture
def home(db):
    """A property with two doors, in a workspace of its own."""
    prop = PropertyFactory(name="Harbour View", time_zone="Europe/Lisbon")
    front = DeviceFactory(workspace=prop.workspace, property=prop, display_name="Front door")
    back = DeviceFactory(
        workspace=prop.workspace, property=prop, display_name="Back door", supported_code_lengths=[6]
    )
    return prop, front, back


@pytest.fixture
def manager_client(client, roles, home):
    client.force_login(staff_user(PROPERTY_MANAGER, workspace=home[0].workspace))
    return client


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode().replace("&#x27;", "'"))


def test_setup_roles_is_idempotent_and_gives_each_role_its_permissions(roles):
    call_command("setup_roles", stdout=io.StringIO())
    assert Group.objects.filter(name__in=[ADMINISTRATOR, PROPERTY_MANAGER, REVIEWER]).count() == 3
    manager, reviewer = staff_user(PROPERTY_MANAGER), staff_user(REVIEWER)
    assert manager.has_perms(["codes.add_accesscode", "codes.view_pin", "codes.review_accesscode"])
    assert reviewer.has_perm("codes.review_accesscode")
    assert not reviewer.has_perm("codes.view_pin") and not reviewer.has_perm("codes.add_accesscode")
    assert staff_user(ADMINISTRATOR).has_perms(["auth.add_user", "codes.view_pin", "devices.add_workspace"])


def test_dashboard_shows_arrivals_per_property_with_readiness_across_a_dst_change(manager_client, home):
    prop, front, back = home
    prop.time_zone = "America/New_York"
    prop.save()
    with time_machine.travel(datetime(2026, 10, 30, 12, tzinfo=UTC), tick=False):
        soon = AccessCodeFactory(
            device=front,
            name="Ana Souza",
            time_bound=True,
            starts_at=datetime(2026, 11, 1, 20, tzinfo=UTC),  # 15:00 EST, the day clocks go back
            ends_at=datetime(2026, 11, 4, 16, tzinfo=UTC),
            status=AccessCodeStatus.SET,
        )
        later = AccessCodeFactory(
            device=back,
            name="Ben Okafor",
            time_bound=True,
            starts_at=datetime(2026, 11, 5, 20, tzinfo=UTC),
            ends_at=datetime(2026, 11, 7, 16, tzinfo=UTC),
        )
        AccessCodeFactory(  # beyond nine days: not an arrival yet
            device=back,
            name="Chen Wei",
            time_bound=True,
            starts_at=datetime(2026, 11, 20, 20, tzinfo=UTC),
            ends_at=datetime(2026, 11, 22, 16, tzinfo=UTC),
        )
        device_issue_raise(device=back, kind=IssueKind.ERROR, code="device_offline")
        back.is_online = False
        back.save()
        response = manager_client.get(reverse("latchkey:dashboard"))
    page = text(response)
    assert response.status_code == 200
    group = response.context["properties"][0]
    assert [a.code for a in group.soon] == [soon] and [a.code for a in group.later] == [later]
    assert 'title="2026-11-01 20:00 UTC">Sun 2026-11-01 15:00 EST</time>' in page
    assert 'title="2026-11-05 20:00 UTC">Thu 2026-11-05 15:00 EST</time>' in page
    assert "Chen Wei" not in page
    assert '<span class="lk-badge lk-set">Set</span>' in page
    assert '<span class="lk-badge lk-failed">Failed</span>' in page  # Ben's lock is offline
    assert "All 1 ready" in page
    # Latchkey retries an offline lock by itself, and Ben's stay is six days away: no code is
    # flagged before 72 hours ahead of its arrival (an error only a person can fix flags at once).
    assert re.search(r"<strong>0</strong> flagged codes", page)
    assert 'Back door</a> at Harbour View: <span class="lk-badge lk-failed">Offline</span>' in page


def test_the_front_page_links_the_dashboard_and_the_review_queue(manager_client):
    page = text(manager_client.get("/admin/"))
    assert f'href="{reverse("latchkey:dashboard")}">Dashboard</a>' in page
    assert f'href="{reverse("latchkey:review_queue")}">Review queue</a>' in page


def test_creating_a_code_for_every_door_shares_one_pin_that_fits_each_lock(manager_client, home, now):
    prop, front, back = home
    url = reverse("latchkey:code_create")
    form = manager_client.get(url).context["form"]  # the manager's only property is chosen for them
    assert form.initial == {} and form["check_in_time"].value() == time(16)
    assert set(form["devices"].value()) == {front.pk, back.pk}
    response = manager_client.post(
        url,
        {
            "property": prop.pk,
            "devices": [front.pk, back.pk],
            "name": "Dana Lee",
            "arrival_date": "2026-12-01",
            "check_in_time": "16:00",
            "departure_date": "2026-12-04",
            "check_out_time": "11:00",
        },
    )
    assert response.status_code == 302
    codes = list(AccessCode.objects.order_by("device__display_name"))
    assert [c.device for c in codes] == [back, front]
    assert codes[0].code == codes[1].code and len(codes[0].code) == 6  # the back door takes 6 digits only
    assert codes[0].common_code_key == codes[1].common_code_key is not None
    assert codes[0].starts_at == datetime(2026, 12, 1, 16, tzinfo=UTC)  # Lisbon is on UTC in December
    assert codes[0].ends_at == datetime(2026, 12, 4, 11, tzinfo=UTC)


def test_creating_a_code_shows_each_problem_beside_its_field_and_writes_nothing(manager_client, home, now):
    prop, front, back = home
    url = reverse("latchkey:code_create")
    data = {
        "property": prop.pk,
        "devices": [front.pk, back.pk],
        "check_in_time": "16:00",
        "check_out_time": "11:00",
    }
    response = manager_client.post(url, {**data, "departure_date": "2026-12-04"})
    assert response.context["form"].errors == {"arrival_date": ["Give an arrival date, or tick “Ongoing”."]}
    response = manager_client.post(
        url, {**data, "arrival_date": "2026-12-05", "departure_date": "2026-12-04", "code": "12ab"}
    )
    errors = response.context["form"].errors
    assert errors["departure_date"] == ["Back door: must be after the arrival."]
    assert errors["code"] == ["Back door: '12ab' must contain digits only (0-9)."]
    response = manager_client.post(
        url, {**data, "arrival_date": "2026-12-01", "departure_date": "2026-12-04", "code": "4821"}
    )
    assert response.context["form"].errors == {
        "code": ["Back door: '4821' is 4 digits long; this lock accepts 6 digits."]
    }
    page = text(response)
    assert 'id="id_code_error"' in page and "this lock accepts 6 digits" in page
    assert not AccessCode.objects.exists()


def test_another_workspaces_property_and_objects_answer_404(manager_client, now):
    elsewhere = DeviceFactory()
    code = AccessCodeFactory(device=elsewhere)
    assert (
        manager_client.get(reverse("latchkey:code_create") + f"?property={elsewhere.property_id}").status_code
        == 404
    )
    assert (
        manager_client.get(reverse("latchkey:timeline") + f"?property={elsewhere.property_id}").status_code
        == 404
    )
    for url in (
        reverse("admin:codes_accesscode_change", args=[code.pk]),
        reverse("admin:devices_device_change", args=[elsewhere.pk]),
        reverse("admin:devices_property_change", args=[elsewhere.property_id]),
        reverse("admin:codes_accesscode_delete", args=[code.pk]),
    ):
        assert manager_client.get(url).status_code == 404, url
    listed = manager_client.get(reverse("admin:codes_accesscode_changelist")).context["cl"].result_list
    assert code not in listed
    devices = manager_client.get(reverse("admin:devices_device_changelist")).context["cl"].result_list
    assert elsewhere not in devices and len(devices) == 2
    # Nor can a manager put a code on another workspace's lock.
    response = manager_client.post(
        reverse("latchkey:review_step", args=[code.pk]), {"step": "note", "note": "hi"}
    )
    assert response.status_code == 404


def test_pins_are_masked_in_lists_and_each_reveal_is_recorded(client, roles, home, now):
    prop, front, _ = home
    code = access_code_create(device=front, request=AccessCodeRequest(code="4821", name="Ana"))
    reviewer = staff_user(REVIEWER, workspace=prop.workspace)
    client.force_login(reviewer)
    listing = text(client.get(reverse("admin:codes_accesscode_changelist")))
    page = text(client.get(reverse("admin:codes_accesscode_change", args=[code.pk])))
    assert "4821" not in listing and "••••" in listing
    assert "4821" not in page and "Reveal PIN" not in page
    assert (
        client.get(reverse("admin:codes_accesscode_changelist") + "?q=4821").context["cl"].result_count == 0
    )
    reveal = reverse("admin:codes_accesscode_action", args=[code.pk, "reveal"])
    assert client.post(reveal).status_code == 403

    manager = staff_user(PROPERTY_MANAGER, workspace=prop.workspace)
    client.force_login(manager)
    assert "4821" not in text(client.get(reverse("admin:codes_accesscode_changelist")))
    assert "Reveal PIN" in text(client.get(reverse("admin:codes_accesscode_change", args=[code.pk])))
    response = client.post(reveal)
    assert response.status_code == 200 and "4821" in text(response)
    assert "no-store" in response["Cache-Control"]
    step = StaffAction.objects.get(access_code=code)
    assert (step.kind, step.actor) == ("pin_revealed", manager)


def test_code_page_shows_badge_window_name_issues_history_and_backup(manager_client, home, now):
    prop, front, _ = home
    front.name_max_length = 10
    front.save()
    code = access_code_create(
        device=front,
        request=AccessCodeRequest(
            code="4821",
            name="Anastasia Souza",
            starts_at=datetime(2026, 12, 1, 16, tzinfo=UTC),
            ends_at=datetime(2026, 12, 4, 11, tzinfo=UTC),
        ),
    )
    AccessCodeIssue.objects.create(
        access_code=code, kind=IssueKind.ERROR, code="duplicate_code_on_device", message="Dup."
    )
    page = text(manager_client.get(reverse("admin:codes_accesscode_change", args=[code.pk])))
    assert '<span class="lk-badge lk-failed">Failed</span>' in page
    assert "Time-bound" in page
    assert 'title="2026-12-01 16:00 UTC">Tue 2026-12-01 16:00 WET</time>' in page
    assert f"{code.appearance['name']}" in page and len(code.appearance["name"]) <= 10
    assert catalog.error("duplicate_code_on_device").remedy in page
    assert "<strong>Created in Latchkey.</strong>" in page  # the history, in sentences
    assert "This code does not draw on the lock's backup pool." in page
    for label in ("Retry now", "Generate a new PIN", "Allow external modification", "Delete…"):
        assert label in page, label
    assert "4821" not in page


def test_code_page_actions_go_through_the_services(
    manager_client, home, now, django_capture_on_commit_callbacks
):
    _, front, _ = home
    code = access_code_create(device=front, request=AccessCodeRequest(code="4821", name="Ana"))

    def act(name, target=code):
        response = manager_client.post(reverse("admin:codes_accesscode_action", args=[target.pk, name]))
        assert response.status_code == 302, name
        target.refresh_from_db()
        return response

    act("new_pin")
    assert code.code != "4821" and code.version == 2
    assert Event.objects.get(access_code=code, event_type=EventType.CHANGED).payload["changed"] == ["code"]
    act("allow_external")
    assert code.is_external_modification_allowed
    with django_capture_on_commit_callbacks(execute=True) as enqueued:
        act("retry")  # tasks run inline in tests: the sweep ran, and the sandbox lock took the code
    assert len(enqueued) == 1
    code.refresh_from_db()
    assert code.status == AccessCodeStatus.SET
    assert StaffAction.objects.filter(access_code=code, kind="retried").exists()
    unmanaged = AccessCodeFactory(device=front, is_managed=False, code="7777", provider_code_id="x1")
    act("convert", unmanaged)
    assert unmanaged.is_managed


def test_an_action_not_offered_is_refused(manager_client, home, now):
    code = access_code_create(device=home[1], request=AccessCodeRequest(code="4821"))
    response = manager_client.post(reverse("admin:codes_accesscode_action", args=[code.pk, "pull_backup"]))
    assert response.status_code == 403
    assert (
        manager_client.get(reverse("admin:codes_accesscode_action", args=[code.pk, "retry"])).status_code
        == 405
    )


def test_a_refused_action_says_why(manager_client, home, now):
    device = home[1]
    device.supports_backup_access_code_pool = True
    device.save()
    code = access_code_create(
        device=device,
        request=AccessCodeRequest(
            starts_at=now + timedelta(days=1),
            ends_at=now + timedelta(days=2),
            use_backup_access_code_pool=True,
        ),
    )
    response = manager_client.post(
        reverse("admin:codes_accesscode_action", args=[code.pk, "pull_backup"]), follow=True
    )
    assert "no backup code is ready on this lock; its backup code pool is turned off" in text(response)
    code.refresh_from_db()
    assert code.pulled_backup_access_code is None


def test_deleting_an_unmanaged_code_asks_first_and_removes_it_from_the_lock(manager_client, home, now):
    unmanaged = AccessCodeFactory(device=home[1], is_managed=False, provider_code_id="x1", status="set")
    url = reverse("admin:codes_accesscode_delete", args=[unmanaged.pk])
    assert "Are you sure" in text(manager_client.get(url))
    assert manager_client.post(url, {"post": "yes"}).status_code == 302
    unmanaged.refresh_from_db()
    assert unmanaged.status == AccessCodeStatus.REMOVING and unmanaged.deleted_at is not None


def test_lock_page_shows_slots_forecast_unmanaged_codes_and_sandbox_switches(client, roles, now):
    workspace = WorkspaceFactory()
    prop = PropertyFactory(workspace=workspace)
    lock = sandbox_fleet_create(workspace=workspace, property=prop)[1]  # the cloud lock: 20 slots
    client.force_login(staff_user(PROPERTY_MANAGER, workspace=workspace))
    access_code_create(device=lock, request=AccessCodeRequest(code="4821"))
    for day in (1, 2):
        access_code_create(
            device=lock,
            request=AccessCodeRequest(starts_at=now + timedelta(days=day), ends_at=now + timedelta(days=4)),
        )
    AccessCodeFactory(device=lock, is_managed=False, name="Owner's code", code="9911", provider_code_id="o1")
    page = text(client.get(reverse("admin:devices_device_change", args=[lock.pk])))
    assert "<dt>Slots</dt><dd>2 used, 18 free of 20</dd>" in page
    assert "<dt>Forecast peak</dt><dd>4 slots, 16 free at" in page
    assert "Owner&#x27;s code" in page or "Owner's code" in page
    assert "9911" not in page
    assert "Sandbox failure switches" in page and 'name="sandbox-0-is_offline"' in page
    assert '<dt>Connection</dt><dd><span class="lk-badge lk-set">Online</span>' in page


def test_timeline_draws_a_lane_per_door_and_a_bar_per_code(manager_client, home, now):
    prop, front, back = home
    AccessCodeFactory(device=front, name="Ana", time_bound=True)
    response = manager_client.get(reverse("latchkey:timeline"))
    page = text(response)
    assert page.count('class="lk-lane"') == 2
    bar = re.search(r'<a id="(lk-bar-[0-9a-f-]+)" class="lk-bar lk-row-0 lk-pending"', page)
    assert bar, "no pending bar"
    # Placed by a rule in the page's nonced style block (the CSP allows no style attribute).
    nonce = re.search(r'<style nonce="([^"]+)">', page).group(1)
    assert f"'nonce-{nonce}'" in response["Content-Security-Policy"]
    assert re.search(rf"#{bar.group(1)}{{left:\d+\.\d+%;width:\d+\.\d+%}}", page)
    assert " style=" not in page
    assert 'data-span-hours="336"' in page
    assert '<span class="lk-bar-name">Ana</span> <span class="lk-bar-state">Pending</span>' in page


def test_review_queue_steps_are_recorded_and_resolving_takes_the_code_off(client, roles, home, now):
    prop, front, _ = home
    reviewer = staff_user(REVIEWER, workspace=prop.workspace)
    client.force_login(reviewer)
    code = AccessCodeFactory(
        device=front,
        name="Ana",
        time_bound=True,
        preflight_passed_at=now,  # ready but for its warning: resolving may dismiss that
        needs_review=True,
        review_reason="Backup code pulled: give the guest PIN 918273 instead of their own, which was not ready.",
    )
    AccessCodeIssue.objects.create(
        access_code=code, kind=IssueKind.WARNING, code="delay_in_setting_on_device"
    )
    queue_url = reverse("latchkey:review_queue")
    page = text(client.get(queue_url))
    assert "Ana" in page and catalog.warning("delay_in_setting_on_device").remedy in page
    assert "in 2 d 0 h" in page
    step_url = reverse("latchkey:review_step", args=[code.pk])
    assert client.post(step_url, {"step": "assign", "assignee": reviewer.pk}).status_code == 302
    assert client.post(step_url, {"step": "acknowledge"}).status_code == 302
    response = client.post(step_url, {"step": "note", "note": "   "})
    assert response.status_code == 400
    assert "Note: write something: an empty note records nothing." in text(response)
    assert client.post(step_url, {"step": "note", "note": "Called the guest."}).status_code == 302
    code.refresh_from_db()
    assert (code.review_assignee, code.review_acknowledged_at) == (reviewer, now)
    assert client.post(step_url, {"step": "resolve", "note": "Guest has the backup PIN."}).status_code == 302
    assert [s.kind for s in StaffAction.objects.filter(access_code=code).order_by("pk")] == [
        "assigned",
        "acknowledged",
        "note",
        "resolved",
    ]
    resolved = StaffAction.objects.get(access_code=code, kind="resolved")
    assert resolved.problems[0].startswith("delay_in_setting_on_device")
    assert "Nothing flagged" in text(client.get(queue_url))
    history = text(client.get(reverse("admin:codes_accesscode_change", args=[code.pk])))
    assert "Resolved</strong> by reviewer: Guest has the backup PIN." in history


def test_review_queue_masks_a_pin_quoted_in_a_reason_for_reviewers(client, roles, home, now):
    code = AccessCodeFactory(
        device=home[1], time_bound=True, needs_review=True, review_reason="give the guest PIN 918273"
    )
    client.force_login(staff_user(REVIEWER, workspace=home[0].workspace))
    page = text(client.get(reverse("latchkey:review_queue")))
    assert "918273" not in page and "give the guest PIN ••••••" in page
    assert "918273" not in text(client.get(reverse("admin:codes_accesscode_change", args=[code.pk])))


def test_only_queue_workers_may_be_assigned(client, roles, home, now):
    code = AccessCodeFactory(device=home[1], time_bound=True, needs_review=True)
    client.force_login(staff_user(REVIEWER, workspace=home[0].workspace))
    outsider = staff_user(REVIEWER, workspace=WorkspaceFactory(), username="outsider")
    response = client.post(
        reverse("latchkey:review_step", args=[code.pk]), {"step": "assign", "assignee": outsider.pk}
    )
    assert response.status_code == 400
    assert "Assign to: choose someone who may work the review queue." in text(response)


def test_pages_need_their_permission(client, roles, home):
    user = get_user_model().objects.create_user("nobody", is_staff=True)
    client.force_login(user)
    for name in ("dashboard", "review_queue", "timeline", "code_create"):
        assert client.get(reverse(f"latchkey:{name}")).status_code == 403, name
    client.logout()
    assert client.get(reverse("latchkey:dashboard")).status_code == 302  # to the login page


def test_administrators_see_every_workspace(client, roles, home):
    other = DeviceFactory()
    client.force_login(staff_user(ADMINISTRATOR))
    devices = client.get(reverse("admin:devices_device_changelist")).context["cl"].result_list
    assert other in devices and Device.objects.count() == len(devices)


def test_reviewers_see_no_pin_on_lock_and_event_pages(client, roles, now):
    workspace = WorkspaceFactory()
    lock = sandbox_fleet_create(workspace=workspace)[1]
    code = access_code_create(device=lock, request=AccessCodeRequest(code="4821"))
    access_code_push(code, now=now)
    code.refresh_from_db()
    access_code_record_drift(access_code=code, held_code="4822", now=now)
    client.force_login(staff_user(REVIEWER, workspace=workspace))
    assert "4821" not in text(client.get(reverse("admin:devices_device_change", args=[lock.pk])))
    event = Event.objects.get(event_type=EventType.MODIFIED_EXTERNAL_TO_SEAM)
    page = text(client.get(reverse("admin:codes_event_change", args=[event.pk])))
    assert "access_code.modified_external_to_seam" in page and "4822" not in page


def test_creating_an_ongoing_code_for_one_door_uses_that_lock_alone(manager_client, home, now):
    prop, front, back = home
    response = manager_client.post(
        reverse("latchkey:code_create"),
        {
            "property": prop.pk,
            "devices": [back.pk],
            "name": "Cleaning crew",
            "ongoing": "on",
            "check_in_time": "16:00",
            "check_out_time": "11:00",
        },
    )
    assert response.status_code == 302
    code = AccessCode.objects.get()
    assert (code.device, code.type, code.common_code_key) == (back, "ongoing", None)
    assert len(code.code) == 6
