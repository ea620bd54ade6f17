"""The code page speaks one vocabulary: one plain-language readiness line first, Seam's status
and codes folded in a details line, the history in sentences, errors headed by their meaning
(issue 18)."""

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from codes.models import AccessCodeIssue, AccessCodeStatus, EventType
from codes.pages import timeline_for_code
from codes.services import history
from codes.services.access_codes import access_code_create, access_code_update
from codes.services.checks import AccessCodeRequest
from devices.models import IssueKind
from tests.devices.factories import DeviceFactory, PropertyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def code(db, now):
    prop = PropertyFactory(name="Hudson Loft", time_zone="America/New_York")
    door = DeviceFactory(workspace=prop.workspace, property=prop, display_name="Loft door")
    return access_code_create(
        device=door,
        request=AccessCodeRequest(
            code="4821",
            name="Eli Moreno",
            starts_at=datetime(2026, 12, 1, 21, tzinfo=UTC),
            ends_at=datetime(2026, 12, 4, 16, tzinfo=UTC),
        ),
    )


def page_of(admin_client, code) -> str:
    html = admin_client.get(reverse("admin:codes_accesscode_change", args=[code.pk])).content.decode()
    return re.sub(r"\s+", " ", html.replace("&#x27;", "'"))


def test_readiness_comes_first_in_one_sentence_and_seams_words_are_folded_away(admin_client, code):
    code.is_scheduled_on_device = True
    code.save()
    page = page_of(admin_client, code)
    line = re.search(r'<p id="lk-readiness-line"[^>]*>(.*?)</p>', page).group(1)
    assert "Scheduled on the lock" in line
    assert "Ready: the code is on the lock and turns on at Tue 01 Dec 16:00 EST." in line
    # Seam's status is there, but only inside the details line, never beside the readiness.
    summary_at = page.index('id="lk-readiness-line"')
    details = re.search(r'<details class="lk-seam-details">(.*?)</details>', page).group(1)
    assert "Seam status" in details and "Unset (unset)" in details
    assert page.index('<details class="lk-seam-details">') > summary_at
    assert "Status:" not in page and "field-status" not in page and "field-readiness_shown" not in page


def test_an_error_is_headed_by_its_meaning_and_the_line_says_what_is_wrong(admin_client, code):
    AccessCodeIssue.objects.create(
        access_code=code, kind=IssueKind.ERROR, code="duplicate_code_on_device", message="Dup."
    )
    page = page_of(admin_client, code)
    line = re.search(r'<p id="lk-readiness-line"[^>]*>(.*?)</p>', page).group(1)
    assert line.count("Not ready:") == 1 and "duplicate_code_on_device" not in line
    assert "<strong>duplicate_code_on_device" not in page and "<strong>error duplicate" not in page
    assert "<strong>Error: " in page and "(duplicate_code_on_device: Dup.)" in page


def test_the_history_is_in_sentences_without_slugs_or_pins(admin_client, code):
    access_code_update(access_code=code, code="9137")
    history.event_record(EventType.SCHEDULED_ON_DEVICE, access_code=code, payload={"code": "9137"})
    history.event_record(
        EventType.FAILED_TO_SET_ON_DEVICE,
        access_code=code,
        payload={"errors": ["no_space_for_access_code_on_device"]},
    )
    lines = [f"{what} {detail}" for _, what, detail in timeline_for_code(code)]
    text = " | ".join(lines)
    assert "Put on the lock with its window: the lock turns it on at arrival." in text
    assert "Changed. What changed: the PIN." in text
    assert "The lock did not take it. The lock said:" in text
    for slug in ("scheduled_on_device", "changed changed", "failed_to_set_on_device", "changed_properties"):
        assert slug not in text
    page = page_of(admin_client, code)
    assert "9137" not in page and "4821" not in page
    assert code.status == AccessCodeStatus.UNSET


def test_the_code_page_has_no_model_sidebar(admin_client, code):
    assert 'id="nav-sidebar"' not in page_of(admin_client, code)
