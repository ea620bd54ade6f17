"""Latchkey's extension parameter: the guest's contact, sent through Seam's own SDK client."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from seam.exceptions import SeamHttpApiError, SeamHttpInvalidInputError

from codes.models import AccessCode
from devices.services import api_key_create, workspace_get_or_create
from notifications.models import GuestContact


def _window():
    start = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    return start.isoformat(), (start + timedelta(days=2)).isoformat()


def test_the_sdk_sends_the_guest_contact_through_its_own_client_and_it_is_never_echoed(seam, fleet, api_url):
    lock = fleet["keypad-deadbolt"]
    starts_at, ends_at = _window()
    answer = seam.client.post(
        "/access_codes/create",
        json={
            "device_id": str(lock.pk),
            "name": "Ana",
            "starts_at": starts_at,
            "ends_at": ends_at,
            "guest_email": "ana@example.com",
        },
    )
    # The SDK's client answers the body as a dict, and raises Seam's errors as the SDK does.
    assert "ana@example.com" not in json.dumps(answer)
    code_id = answer["access_code"]["access_code_id"]
    assert GuestContact.objects.get(access_code_id=code_id).email == "ana@example.com"
    fetched = seam.client.post("/access_codes/get", json={"access_code_id": code_id})
    assert "ana@example.com" not in json.dumps(fetched)
    seam.client.post(
        "/access_codes/update", json={"access_code_id": code_id, "guest_email": "ana@new.example"}
    )
    assert GuestContact.objects.get(access_code_id=code_id).email == "ana@new.example"

    # Another workspace's key cannot reach the code (404), let alone its guest's contact.
    other = workspace_get_or_create(name="Elsewhere", is_sandbox=True)
    _, key = api_key_create(workspace=other)
    from seam import Seam

    stranger = Seam(api_key=key, endpoint=api_url, wait_for_action_attempt=False)
    with pytest.raises(SeamHttpApiError) as caught:
        stranger.client.post("/access_codes/get", json={"access_code_id": code_id})
    assert caught.value.status_code == 404 and "ana@" not in str(caught.value)


def test_a_guest_email_that_is_not_an_email_is_refused_by_name_and_nothing_is_created(seam, fleet):
    lock = fleet["keypad-deadbolt"]
    starts_at, ends_at = _window()
    with pytest.raises(SeamHttpInvalidInputError) as caught:
        seam.client.post(
            "/access_codes/create",
            json={
                "device_id": str(lock.pk),
                "name": "Ana",
                "starts_at": starts_at,
                "ends_at": ends_at,
                "guest_email": "ana at home",
            },
        )
    messages = caught.value.get_validation_error_messages("guest_email")
    assert messages == ["'ana at home' is not an email address."]
    assert not AccessCode.objects.filter(device=lock).exists()
    assert not GuestContact.objects.exists()
