"""The slot plan drawn: the lock page's 14-day chart and the dashboard's overflowing locks
(issue 17). Server-rendered, with no inline style or script (a strict CSP is coming)."""

import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from codes.services.access_codes import access_code_create
from codes.services.checks import AccessCodeRequest
from devices.models import Device, Membership
from devices.selectors import PROPERTY_MANAGER
from devices.services import sandbox_fleet_create
from tests.devices.factories import PropertyFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


@pytest.fixture
def roles(db):
    call_command("setup_roles", stdout=io.StringIO())


def staff_user(role: str, *, workspace):
    user = get_user_model().objects.create_user(role.lower().replace(" ", "_"), is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    Membership.objects.create(user=user, workspace=workspace)
    return user


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode().replace("&#x27;", "'"))


@pytest.fixture
def crowded(client, roles, now):
    """The 3-slot lock, keeping schedules, with four overlapping stays: the fourth cannot fit."""
    workspace = WorkspaceFactory()
    prop = PropertyFactory(workspace=workspace, time_zone="Europe/Lisbon")
    lock = sandbox_fleet_create(workspace=workspace, property=prop)[2]
    Device.objects.filter(pk=lock.pk).update(has_native_scheduling=True)
    lock.refresh_from_db()
    for n in range(4):
        access_code_create(
            device=lock,
            request=AccessCodeRequest(
                name=f"Guest {n}", starts_at=now + 2 * DAY + n * timedelta(hours=1), ends_at=now + 4 * DAY
            ),
        )
    client.force_login(staff_user(PROPERTY_MANAGER, workspace=workspace))
    return lock


def test_lock_page_draws_the_slot_plan_with_the_codes_at_its_peak_and_those_that_will_not_fit(
    client, crowded, now
):
    page = text(client.get(reverse("admin:devices_device_change", args=[crowded.pk])))
    assert "Slots used over the next 14 days" in page
    chart = re.search(r"<svg class=\"lk-slot-chart\".*?</svg>", page).group(0)
    assert chart.count('class="lk-slot-bar lk-slot-full"') == 1  # full from now until they leave
    assert 'class="lk-slot-capacity"' in chart and ">3 slots</text>" in chart
    assert "Busiest: 3 at" in page and "Guest 0, Guest 1, Guest 2." in page
    assert "Will overflow" in page and "Guest 3</a>: the lock is full at" in page
    assert chart.count('class="lk-slot-overflow-mark"') == 1 and "Guest 3 will not fit from" in chart
    assert "style=" not in chart and "<script" not in page.split('id="content"')[-1].split("</svg>")[0]


def test_dashboard_lists_the_locks_that_will_overflow(client, crowded):
    page = text(client.get(reverse("latchkey:dashboard")))
    assert "Locks that will overflow" in page
    section = page.split("Locks that will overflow")[1].split("</section>")[0]
    assert crowded.display_name in section and "1 code will not fit" in section


def test_dashboard_lists_no_lock_when_every_code_fits(client, roles, now):
    workspace = WorkspaceFactory()
    lock = sandbox_fleet_create(workspace=workspace, property=PropertyFactory(workspace=workspace))[2]
    for n in range(4):  # four stays that never overlap on the 3-slot lock
        access_code_create(
            device=lock,
            request=AccessCodeRequest(
                starts_at=now + (n + 1) * DAY, ends_at=now + (n + 1) * DAY + 20 * timedelta(hours=1)
            ),
        )
    client.force_login(staff_user(PROPERTY_MANAGER, workspace=workspace))
    assert "Locks that will overflow" not in text(client.get(reverse("latchkey:dashboard")))


def test_dashboard_counts_a_code_still_on_the_lock_after_its_end(client, roles, now):
    """A code whose stay has ended holds its slot until it is taken off (here the lock has not
    confirmed the removal yet), as the scheduler's plan counts it: three staff codes wanting
    the 3-slot lock now cannot all fit beside it, and the dashboard says so, as the scheduler
    will. Counting only live codes (three, no more than the slots), it listed no lock."""
    from codes.models import AccessCodeStatus
    from tests.codes.factories import AccessCodeFactory

    workspace = WorkspaceFactory()
    lock = sandbox_fleet_create(workspace=workspace, property=PropertyFactory(workspace=workspace))[2]
    AccessCodeFactory(
        device=lock,
        time_bound=True,
        starts_at=now - 3 * DAY,
        ends_at=now - timedelta(hours=1),
        status=AccessCodeStatus.REMOVING,
        provider_code_id="held-1",
    )
    for n in range(3):
        access_code_create(device=lock, request=AccessCodeRequest(code=f"58219{n}", name=f"Staff {n}"))
    client.force_login(staff_user(PROPERTY_MANAGER, workspace=workspace))
    page = text(client.get(reverse("latchkey:dashboard")))
    assert "Locks that will overflow" in page
    section = page.split("Locks that will overflow")[1].split("</section>")[0]
    assert lock.display_name in section and "1 code will not fit" in section
