"""The manager's day: the Today board (the start page) and the Stays list, each stay once,
scoped to the viewer's workspaces and role, their query counts fixed whatever the portfolio's
size; bulk actions through the services, each recorded (issue 18)."""

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from codes.models import AccessCode, AccessCodeIssue, BackupAccessCode, BackupAccessCodePool, StaffAction
from devices.models import IssueKind, Membership
from devices.selectors import PROPERTY_MANAGER, REVIEWER
from tests.codes.factories import AccessCodeFactory
from tests.devices.factories import DeviceFactory, PropertyFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

# 09:00 in New York (EST) on Sunday 22 November 2026.
NOW = datetime(2026, 11, 22, 14, tzinfo=UTC)


@pytest.fixture
def clock():
    import time_machine

    with time_machine.travel(NOW, tick=False):
        yield NOW


def local(day: int, hour: int) -> datetime:
    """A New York wall-clock time in November 2026 (EST, UTC-5), as an instant."""
    return datetime(2026, 11, day, hour + 5, tzinfo=UTC)


def stay(doors, name, starts_at, ends_at, **fields):
    key = f"booking-{name}" if len(doors) > 1 else None
    return [
        AccessCodeFactory(
            device=d,
            name=name,
            time_bound=True,
            starts_at=starts_at,
            ends_at=ends_at,
            common_code_key=key,
            **fields,
        )
        for d in doors
    ]


@pytest.fixture
def loft(db, clock):
    prop = PropertyFactory(name="Hudson Loft", time_zone="America/New_York")
    front = DeviceFactory(workspace=prop.workspace, property=prop, display_name="Front door")
    back = DeviceFactory(workspace=prop.workspace, property=prop, display_name="Back door")
    return prop, front, back


def manager_of(workspace, username="maria"):
    call_command("setup_roles", stdout=io.StringIO())
    user = get_user_model().objects.create_user(username, is_staff=True)
    user.groups.add(Group.objects.get(name=PROPERTY_MANAGER))
    Membership.objects.create(user=user, workspace=workspace)
    return user


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode().replace("&#x27;", "'"))


def test_today_lists_arrivals_departures_turnovers_and_in_house_each_stay_once(client, loft):
    prop, front, back = loft
    stay([front], "Ana Leaving", local(19, 16), local(22, 11))  # leaves today
    stay([front, back], "Ben Both", local(22, 16), local(25, 11))  # arrives today, both doors
    stay([back], "Cleo In", local(20, 16), local(24, 11))  # in house
    stay([front], "Dev Tomorrow", local(23, 15), local(24, 11))  # arrives tomorrow
    late = stay([back], "Eva Later", local(24, 16), local(26, 11))  # within 72 h, not ready
    AccessCodeIssue.objects.create(
        access_code=late[0], kind=IssueKind.ERROR, code="duplicate_code_on_device", message="Dup."
    )
    AccessCodeFactory(device=front, name="Cleaner", starts_at=None, ends_at=None)  # ongoing staff
    elsewhere = DeviceFactory(workspace=WorkspaceFactory())
    stay([elsewhere], "Zed Elsewhere", local(22, 16), local(23, 11))
    client.force_login(manager_of(prop.workspace))
    response = client.get(reverse("latchkey:today"))
    page = text(response)
    assert response.status_code == 200
    (today,) = response.context["board"].properties
    assert [s.name for s in today.problems] == ["Eva Later"]  # what must be fixed, first
    day0, day1 = today.days
    assert [s.name for s in day0.arrivals] == ["Ben Both"]
    assert [s.name for s in day0.departures] == ["Ana Leaving"]
    assert [(t.door.display_name, t.leaving.name, t.arriving.name) for t in day0.turnovers] == [
        ("Front door", "Ana Leaving", "Ben Both")
    ]
    assert [s.name for s in day1.arrivals] == ["Dev Tomorrow"]
    assert {s.name for s in today.in_house} == {"Cleo In", "Ana Leaving"}
    assert [s.name for s in today.later] == ["Eva Later"]
    assert [s.name for s in response.context["board"].ongoing] == ["Cleaner"]
    assert page.count(">Ben Both</a>") == 1 + 0  # once on the board's arrivals, not once per door
    assert "Zed Elsewhere" not in page
    assert page.index("Fix first") < page.index("Today <small>")
    assert "Sun 2026-11-22 16:00 EST" in page  # every time in the property's zone, named
    assert 'id="nav-sidebar"' not in page


def test_the_root_is_the_today_board(client, loft):
    client.force_login(manager_of(loft[0].workspace))
    assert client.get("/")["Location"] == reverse("latchkey:today")


def _portfolio(workspace, properties: int, stays_each: int):
    for n in range(properties):
        prop = PropertyFactory(workspace=workspace, name=f"Property {n}", time_zone="America/New_York")
        doors = [
            DeviceFactory(workspace=workspace, property=prop, display_name=f"Door {d}") for d in range(6)
        ]
        for s in range(stays_each):
            starts_at = local(22, 15) + timedelta(hours=5 * s)
            stay(doors[s % 6 : s % 6 + 2], f"Guest {n}-{s}", starts_at, starts_at + timedelta(days=2))
        AccessCodeFactory(device=doors[0], name=f"Staff {n}", starts_at=None, ends_at=None)


@pytest.mark.parametrize("page", ["latchkey:today", "latchkey:stays"])
def test_each_page_costs_the_same_queries_whatever_the_portfolio(client, clock, page):
    small, large = WorkspaceFactory(), WorkspaceFactory()
    _portfolio(small, properties=1, stays_each=2)
    _portfolio(large, properties=4, stays_each=12)
    counts = []
    for workspace, name in ((small, "small"), (large, "large")):
        client.force_login(manager_of(workspace, username=name))
        client.get(reverse(page))  # warm the session and content types
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse(page)).status_code == 200
        counts.append(len(queries))
    print(f"queries for {page}: {counts}")  # for the report
    assert counts[0] == counts[1], counts
    assert counts[1] <= 12, counts


def test_stays_lists_one_row_per_stay_and_filters(client, loft):
    prop, front, back = loft
    stay([front, back], "Ben Both", local(22, 16), local(25, 11))
    failing = stay([back], "Eva Later", local(24, 16), local(26, 11))
    AccessCodeIssue.objects.create(
        access_code=failing[0], kind=IssueKind.ERROR, code="duplicate_code_on_device", message="Dup."
    )
    stay([front], "Finn Far", local(28, 16), local(30, 11))
    other = PropertyFactory(workspace=prop.workspace, name="Other Place", time_zone="Europe/Lisbon")
    stay([DeviceFactory(workspace=prop.workspace, property=other)], "Gus Other", local(23, 16), local(24, 11))
    client.force_login(manager_of(prop.workspace))

    def names(query=""):
        response = client.get(reverse("latchkey:stays") + query)
        assert response.status_code == 200
        return [s.name for s in response.context["stays"]]

    assert names() == ["Ben Both", "Gus Other", "Eva Later", "Finn Far"]
    assert names("?q=eva") == ["Eva Later"]
    assert names(f"?property={other.pk}") == ["Gus Other"]
    assert names("?readiness=not_ready") == ["Eva Later"]
    assert names("?date_from=2026-11-27&date_to=2026-11-29") == ["Finn Far"]
    page = text(client.get(reverse("latchkey:stays")))
    assert page.count('name="stay"') == 4


def test_bulk_actions_go_through_the_services_and_are_recorded(
    client, loft, django_capture_on_commit_callbacks
):
    prop, front, back = loft
    both = stay([front, back], "Ben Both", local(22, 16), local(25, 11))
    alone = stay([back], "Eva Later", local(24, 16), local(26, 11))
    client.force_login(manager_of(prop.workspace))
    url = reverse("latchkey:stays_bulk")
    keys = ["booking-Ben Both", str(alone[0].pk)]

    response = client.post(url, {"action": "retry", "stay": keys})
    assert response.status_code == 302
    assert StaffAction.objects.filter(kind="retried").count() == 3

    # The departure, typed in New York time, for both codes of Ben's stay.
    client.post(
        url,
        {"action": "departure", "stay": keys[:1], "departure_date": "2026-11-26", "departure_time": "10:00"},
    )
    assert {c.ends_at for c in AccessCode.objects.filter(common_code_key="booking-Ben Both")} == {
        local(26, 10)
    }
    # A departure before the arrival is refused by the service: nothing changes.
    client.post(
        url, {"action": "departure", "stay": keys, "departure_date": "2026-11-21", "departure_time": "10:00"}
    )
    assert AccessCode.objects.get(pk=alone[0].pk).ends_at == local(26, 11)

    client.post(url, {"action": "delete", "stay": keys[1:]})
    assert AccessCode.objects.get(pk=alone[0].pk).deleted_at is not None
    assert AccessCode.objects.get(pk=both[0].pk).deleted_at is None
    assert LogEntry.objects.filter(change_message__startswith="Deleted").count() == 1
    assert LogEntry.objects.filter(change_message__startswith="Departure changed").count() == 2


def test_a_bulk_departure_at_a_time_the_clocks_skip_is_refused_and_changes_nothing(client, loft):
    prop, front, _ = loft
    (code,) = stay([front], "Ana", local(22, 16), local(25, 11))
    client.force_login(manager_of(prop.workspace))
    response = client.post(
        reverse("latchkey:stays_bulk"),
        {
            "action": "departure",
            "stay": [str(code.pk)],
            "departure_date": "2027-03-14",
            "departure_time": "02:30",
        },
        follow=True,
    )
    assert response.status_code == 200
    page = text(response)
    assert "nothing was changed" in page and "America/New_York" in page
    assert AccessCode.objects.get(pk=code.pk).ends_at == local(25, 11)


def test_bulk_actions_follow_the_role_and_the_workspaces(client, loft):
    prop, front, _ = loft
    (code,) = stay([front], "Ana", local(22, 16), local(25, 11))
    call_command("setup_roles", stdout=io.StringIO())
    reviewer = get_user_model().objects.create_user("rui", is_staff=True)
    reviewer.groups.add(Group.objects.get(name=REVIEWER))
    Membership.objects.create(user=reviewer, workspace=prop.workspace)
    client.force_login(reviewer)
    assert (
        client.post(reverse("latchkey:stays_bulk"), {"action": "delete", "stay": [str(code.pk)]}).status_code
        == 403
    )
    assert AccessCode.objects.get(pk=code.pk).deleted_at is None
    client.force_login(manager_of(WorkspaceFactory(), username="outsider"))
    client.post(reverse("latchkey:stays_bulk"), {"action": "delete", "stay": [str(code.pk)]})
    assert AccessCode.objects.get(pk=code.pk).deleted_at is None


def test_the_property_page_shows_doors_health_timeline_and_upcoming_stays(client, loft):
    prop, front, back = loft
    back.is_online = False
    back.save()
    stay([front, back], "Ben Both", local(22, 16), local(25, 11))
    stay([front], "Finn Far", local(28, 16), local(30, 11))
    client.force_login(manager_of(prop.workspace))
    response = client.get(reverse("latchkey:property", args=[prop.pk]))
    page = text(response)
    assert response.status_code == 200
    doors = page[page.index('id="lk-doors"') : page.index('id="lk-tl-')]
    assert "Front door" in doors and "Back door" in doors and "Offline" in doors
    assert 'class="lk-lane"' in page and "lk-now" in page  # the timeline, with its now line
    upcoming = page[page.index('id="lk-upcoming"') :]
    assert upcoming.index("Ben Both") < upcoming.index("Finn Far")
    assert upcoming.count(">Ben Both</a>") == 1
    assert "Sun 2026-11-22 16:00 EST" in upcoming
    # Another workspace's property answers 404.
    elsewhere = PropertyFactory()
    assert client.get(reverse("latchkey:property", args=[elsewhere.pk])).status_code == 404


def test_the_property_page_costs_the_same_queries_whatever_its_size(client, clock):
    small, large = WorkspaceFactory(), WorkspaceFactory()
    _portfolio(small, properties=1, stays_each=2)
    _portfolio(large, properties=1, stays_each=12)
    counts = []
    for workspace, name in ((small, "small"), (large, "large")):
        client.force_login(manager_of(workspace, username=name))
        url = reverse("latchkey:property", args=[workspace.properties.get().pk])
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))
    print(f"queries for the property page: {counts}")  # for the report
    assert counts[0] == counts[1], counts


def test_a_bulk_action_takes_only_stays_the_page_lists_so_a_backup_code_is_not_one(client, loft):
    # Backup codes are the lock's spares, never a stay on the Stays page, even once pulled:
    # naming one in a crafted form changes nothing, as any key naming no listed stay does.
    prop, front, _ = loft
    (guest,) = stay([front], "Ana", local(22, 16), local(25, 11))
    spare = AccessCodeFactory(device=front, name="Spare", is_backup=True)
    pool = BackupAccessCodePool.objects.create(device=front, is_enabled=True)
    # Pulled for Ana's stay: the code pages show it (on Ana's code), the Stays list does not.
    BackupAccessCode.objects.create(pool=pool, access_code=spare, pulled_for=guest, pulled_at=NOW)
    client.force_login(manager_of(prop.workspace))
    response = client.post(
        reverse("latchkey:stays_bulk"),
        {"action": "delete", "stay": [str(guest.pk), str(spare.pk)]},
        follow=True,
    )
    assert "nothing was done" in text(response)
    assert AccessCode.objects.filter(pk__in=[guest.pk, spare.pk], deleted_at__isnull=False).count() == 0
