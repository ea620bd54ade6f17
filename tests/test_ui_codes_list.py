"""The codes list: backup codes apart from guests' and staff's, and columns that fit 1366 px
(the width is measured in the browser test) (issue 18)."""

import pytest
from django.contrib.admin.templatetags.admin_list import result_headers
from django.urls import reverse

from tests.codes.factories import AccessCodeFactory
from tests.devices.factories import DeviceFactory

pytestmark = pytest.mark.django_db


def test_backup_codes_are_listed_apart_from_guests(admin_client, now):
    door = DeviceFactory(display_name="Front door")
    guest = AccessCodeFactory(device=door, name="Eli Moreno", time_bound=True)
    backup = AccessCodeFactory(device=door, name="Backup 1", is_backup=True)
    url = reverse("admin:codes_accesscode_changelist")
    assert list(admin_client.get(url).context["cl"].result_list) == [guest]
    assert list(admin_client.get(url + "?kind=backup").context["cl"].result_list) == [backup]
    assert set(admin_client.get(url + "?kind=all").context["cl"].result_list) == {guest, backup}


def test_the_list_has_no_model_sidebar_and_one_column_each_for_door_stay_and_problems(admin_client, now):
    AccessCodeFactory(device=DeviceFactory(), time_bound=True)
    response = admin_client.get(reverse("admin:codes_accesscode_changelist"))
    page = response.content.decode()
    assert 'id="nav-sidebar"' not in page
    headers = [str(h["text"]) for h in result_headers(response.context["cl"])]
    assert headers[-6:] == ["Readiness", "PIN", "Door", "Stay (property's time)", "Problems", "needs review"]
    assert "Status" not in headers and "Type" not in headers
