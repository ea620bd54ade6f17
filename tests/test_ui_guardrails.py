"""Guardrails on the pages that write codes: a door that cannot take the code is not ticked and
says why, an impossible option is disabled with its reason, and generating a new PIN asks first,
saying what the guest loses (issue 18)."""

import re

import pytest
from django.urls import reverse

from codes.models import AccessCode
from codes.services.access_codes import access_code_create
from codes.services.checks import AccessCodeRequest
from tests.devices.factories import DeviceFactory, PropertyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def doors(db):
    prop = PropertyFactory(name="Harbour View")
    front = DeviceFactory(
        workspace=prop.workspace,
        property=prop,
        display_name="Front door",
        supports_backup_access_code_pool=True,
    )
    gate = DeviceFactory(
        workspace=prop.workspace,
        property=prop,
        display_name="Garden gate",
        has_built_in_keypad=False,
        accessory_keypad_connectable=True,
        accessory_keypad_connected=False,
    )
    side = DeviceFactory(workspace=prop.workspace, property=prop, display_name="Side door")
    return prop, front, gate, side


def checkbox(page: str, device) -> str:
    return re.search(rf'<input [^>]*value="{device.pk}"[^>]*>', page).group(0)


def test_a_door_without_a_keypad_is_unticked_and_disabled_with_its_reason(admin_client, doors, now):
    prop, front, gate, side = doors
    page = admin_client.get(reverse("latchkey:code_create") + f"?property={prop.pk}").content.decode()
    assert "checked" in checkbox(page, front) and "checked" in checkbox(page, side)
    assert "checked" not in checkbox(page, gate) and "disabled" in checkbox(page, gate)
    assert "Cannot take this code: no keypad: connect its accessory keypad first." in page


def test_the_backup_pool_option_is_disabled_with_its_reason_when_a_door_has_none(admin_client, doors, now):
    prop, *_ = doors
    page = admin_client.get(reverse("latchkey:code_create") + f"?property={prop.pk}").content.decode()
    pool = re.search(r'<input [^>]*name="use_backup_access_code_pool"[^>]*>', page).group(0)
    assert "disabled" in pool
    assert "Not possible here: Side door has no backup pool." in page


def test_posting_a_door_that_cannot_take_the_code_is_refused_and_nothing_is_written(admin_client, doors, now):
    prop, front, gate, _ = doors
    response = admin_client.post(
        reverse("latchkey:code_create"),
        {
            "property": prop.pk,
            "name": "Eli Moreno",
            "devices": [front.pk, gate.pk],
            "ongoing": "on",
            "check_in_time": "16:00",
            "check_out_time": "11:00",
        },
    )
    assert response.status_code == 200
    assert "Garden gate: no keypad: connect its accessory keypad first" in response.content.decode()
    assert not AccessCode.objects.exists()


def test_generating_a_new_pin_asks_first_saying_what_the_guest_loses(admin_client, doors, now):
    _, front, _, _ = doors
    code = access_code_create(device=front, request=AccessCodeRequest(name="Eli Moreno"))
    page = admin_client.get(reverse("admin:codes_accesscode_change", args=[code.pk])).content.decode()
    form = re.search(r'<form [^>]*action="[^"]*/do/new_pin/"[^>]*>', page).group(0)
    assert 'class="lk-confirm"' in form
    assert "current PIN stops working on Front door" in form and "Eli Moreno" in form
    assert "latchkey/confirm.js" in page
