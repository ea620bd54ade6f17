"""The review queue shows a lock's problem once: one card for the lock listing every flagged stay
it affects, with one set of actions; per-code cards only for a code's own problem (issue 18)."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from codes.models import AccessCodeIssue, StaffAction
from codes.services.history import device_issue_raise
from devices.models import IssueKind
from tests.codes.factories import AccessCodeFactory
from tests.devices.factories import DeviceFactory, PropertyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def flagged(db, now):
    prop = PropertyFactory(name="Harbour View")
    front = DeviceFactory(workspace=prop.workspace, property=prop, display_name="Front door")
    back = DeviceFactory(workspace=prop.workspace, property=prop, display_name="Back door")
    device_issue_raise(device=back, kind=IssueKind.ERROR, code="device_offline")
    stays = [
        AccessCodeFactory(
            device=back,
            name=f"Guest {n}",
            time_bound=True,
            starts_at=now + timedelta(hours=20 + n),
            ends_at=now + timedelta(days=4),
            needs_review=True,
            review_reason="not ready in time",
        )
        for n in range(8)
    ]
    own = AccessCodeFactory(
        device=front, name="Eli Moreno", time_bound=True, needs_review=True, review_reason="refused"
    )
    AccessCodeIssue.objects.create(
        access_code=own, kind=IssueKind.ERROR, code="duplicate_code_on_device", message="Dup."
    )
    return back, stays, own


def test_one_lock_problem_is_one_card_listing_every_stay_it_affects(admin_client, flagged):
    back, stays, own = flagged
    page = re.sub(r"\s+", " ", admin_client.get(reverse("latchkey:review_queue")).content.decode())
    cards = re.findall(r'<li id="(lock-[^"]+|code-[^"]+)"( class="lk-lock-card")?>', page)
    top_level = [c for c in cards if c[1] or c[0] == f"code-{own.pk}"]
    assert len(top_level) == 2, cards  # the lock's card and the code with its own error
    lock_card = page[page.index('class="lk-lock-card"') :]
    lock_card = lock_card[: lock_card.index("</form>")]
    assert "It affects 8 stays:" in lock_card
    assert lock_card.count("</strong> device_offline:") == 1
    for stay in stays:
        assert f'id="code-{stay.pk}"' in lock_card
    assert page.count('value="acknowledge"') == 2  # one set of actions per card


def test_a_step_on_a_lock_card_is_taken_and_recorded_on_every_stay(admin_client, flagged):
    back, stays, own = flagged
    response = admin_client.post(
        reverse("latchkey:review_lock_step"),
        {"step": "acknowledge", "card": "lock-x", "code": [str(s.pk) for s in stays]},
    )
    assert response.status_code == 302
    assert StaffAction.objects.filter(kind="acknowledged").count() == 8
    assert not StaffAction.objects.filter(access_code=own).exists()
    # A note is required: refused for all, written for none.
    response = admin_client.post(
        reverse("latchkey:review_lock_step"),
        {"step": "note", "note": "", "card": "lock-x", "code": [str(s.pk) for s in stays]},
    )
    assert response.status_code == 400
    assert not StaffAction.objects.filter(kind="note").exists()


def test_a_lock_card_step_refuses_codes_outside_the_viewers_workspaces(client, flagged, django_user_model):
    back, stays, _ = flagged
    elsewhere = AccessCodeFactory(needs_review=True)
    client.force_login(django_user_model.objects.create_superuser("root2", password="x"))
    # (a superuser sees every workspace; a missing id is what is refused)
    response = client.post(
        reverse("latchkey:review_lock_step"),
        {"step": "acknowledge", "code": [str(stays[0].pk), "00000000-0000-0000-0000-000000000000"]},
    )
    assert response.status_code == 404
    assert not StaffAction.objects.filter(access_code__in=[stays[0], elsewhere]).exists()
