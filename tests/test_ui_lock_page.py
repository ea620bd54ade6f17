"""The lock page leads with health (online, battery, keypad, issues with what to do), then the
lock's stays and codes (upcoming first), then the slot picture and its abilities in words; the
raw fields are folded under "Advanced" for administrators (issue 18)."""

import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from codes import catalog
from codes.services.access_codes import access_code_create
from codes.services.checks import AccessCodeRequest
from codes.services.history import device_issue_raise
from devices.models import IssueKind, Membership
from devices.selectors import REVIEWER
from tests.devices.factories import DeviceFactory, PropertyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def lock(db, now):
    prop = PropertyFactory(name="Harbour View", time_zone="Europe/Lisbon")
    door = DeviceFactory(
        workspace=prop.workspace, property=prop, display_name="Front door", supported_code_lengths=[4, 5, 6]
    )
    for name, day in (("Later Guest", 5), ("Soon Guest", 1)):
        access_code_create(
            device=door,
            request=AccessCodeRequest(
                name=name, starts_at=now + timedelta(days=day), ends_at=now + timedelta(days=day + 2)
            ),
        )
    access_code_create(device=door, request=AccessCodeRequest(name="Cleaner"))  # ongoing: last
    device_issue_raise(device=door, kind=IssueKind.WARNING, code="device_low_battery")
    return door


def page_of(client, lock) -> str:
    html = client.get(reverse("admin:devices_device_change", args=[lock.pk])).content.decode()
    html = re.sub(r'<h2 id="[^"]*" class="fieldset-heading">', "<h2>", html)  # headings by their words
    return re.sub(r"\s+", " ", html.replace("&#x27;", "'"))


def test_the_lock_page_leads_with_health_then_its_stays_then_slots(admin_client, lock):
    page = page_of(admin_client, lock)
    order = [
        page.index(h) for h in ("<h2>Health</h2>", "<h2>Stays and codes on this lock</h2>", "<h2>Slots</h2>")
    ]
    assert order == sorted(order)
    assert catalog.warning("device_low_battery").remedy in page  # the issue, with what to do
    stays = page[page.index("lk-lock-codes") :]
    assert stays.index("Soon Guest") < stays.index("Later Guest") < stays.index("Cleaner")
    assert "<dt>PIN lengths</dt><dd>4 to 6 digits</dd>" in page
    # The raw fields are there for an administrator, folded away.
    assert re.search(
        r'<fieldset class="module aligned collapse"[^>]*> <details><summary> <h2>Advanced: Capabilities', page
    )
    assert page.index("Advanced: Capabilities") > page.index("<h2>Slots</h2>")


def test_someone_who_cannot_change_locks_sees_the_summary_without_raw_fields(client, lock):
    call_command("setup_roles", stdout=io.StringIO())
    reviewer = get_user_model().objects.create_user("rui", is_staff=True)
    reviewer.groups.add(Group.objects.get(name=REVIEWER))
    Membership.objects.create(user=reviewer, workspace=lock.workspace)
    client.force_login(reviewer)
    page = page_of(client, lock)
    assert "<h2>Health</h2>" in page and "Soon Guest" in page
    assert "Advanced:" not in page and "supported_code_lengths" not in page
