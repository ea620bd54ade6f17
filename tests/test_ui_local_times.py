"""Every date and time a person types or reads on the code pages is in the property's time zone,
named; a time the clocks skip is refused, one they repeat never shortens the stay (issue 18)."""

import re
from datetime import UTC, date, datetime, time

import pytest
from django.urls import reverse

from codes.models import AccessCode
from codes.services.access_codes import access_code_create
from codes.services.checks import AccessCodeRequest
from common.local_time import Twice, happens_twice, local_instant
from tests.devices.factories import DeviceFactory, PropertyFactory

pytestmark = pytest.mark.django_db

NEW_YORK = "America/New_York"


@pytest.fixture
def door(db):
    prop = PropertyFactory(name="Hudson Loft", time_zone=NEW_YORK)
    return DeviceFactory(workspace=prop.workspace, property=prop, display_name="Loft door")


def add(admin_client, door, **times):
    form = {"device": door.pk, "name": "Eli Moreno", "code": "", **times}
    for prefix in ("accesscodeissue_set", "issues"):
        form.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    return admin_client.post(reverse("admin:codes_accesscode_add"), form)


def form_errors(response) -> dict:
    return response.context["adminform"].form.errors if response.context else {}


def test_the_add_form_reads_times_in_the_lock_propertys_zone_and_names_it(admin_client, door, now):
    page = admin_client.get(reverse("admin:codes_accesscode_add")).content.decode()
    assert f"Loft door ({NEW_YORK})" in page
    assert "In UTC" not in page and "(UTC)" not in page
    response = add(
        admin_client,
        door,
        starts_at_0="2026-12-01",
        starts_at_1="16:00",
        ends_at_0="2026-12-04",
        ends_at_1="11:00",
    )
    assert response.status_code == 302, form_errors(response)
    code = AccessCode.objects.get()
    assert code.starts_at == datetime(2026, 12, 1, 21, tzinfo=UTC)  # 16:00 EST
    assert code.ends_at == datetime(2026, 12, 4, 16, tzinfo=UTC)


def test_the_code_page_form_shows_the_window_in_local_time_and_saves_it_back(admin_client, door, now):
    code = access_code_create(
        device=door,
        request=AccessCodeRequest(
            name="Eli Moreno",
            starts_at=datetime(2026, 12, 1, 21, tzinfo=UTC),
            ends_at=datetime(2026, 12, 4, 16, tzinfo=UTC),
        ),
    )
    url = reverse("admin:codes_accesscode_change", args=[code.pk])
    page = admin_client.get(url).content.decode()
    assert re.search(r'name="starts_at_1" value="16:00(:00)?"', page), "the arrival is shown at 16:00 local"
    assert f"In {NEW_YORK}, the property" in page
    assert not re.search(r'value="21:00', page) and "In UTC" not in page
    # Moving the arrival to 15:00 local stores 20:00 UTC.
    response = admin_client.post(
        url,
        {
            "name": "Eli Moreno",
            "new_code": "",
            "starts_at_0": "2026-12-01",
            "starts_at_1": "15:00",
            "ends_at_0": "2026-12-04",
            "ends_at_1": "11:00",
            "accesscodeissue_set-TOTAL_FORMS": "0",
            "accesscodeissue_set-INITIAL_FORMS": "0",
            "issues-TOTAL_FORMS": "0",
            "issues-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, form_errors(response)
    code.refresh_from_db()
    assert code.starts_at == datetime(2026, 12, 1, 20, tzinfo=UTC)
    assert code.ends_at == datetime(2026, 12, 4, 16, tzinfo=UTC)  # untouched


def test_a_time_the_clocks_skip_is_refused_naming_the_zone_and_nothing_is_written(admin_client, door, now):
    response = add(
        admin_client,
        door,
        starts_at_0="2027-03-14",  # the clocks go from 02:00 to 03:00 in New York
        starts_at_1="02:30",
        ends_at_0="2027-03-16",
        ends_at_1="11:00",
    )
    assert response.status_code == 200
    assert form_errors(response)["starts_at"] == [
        "2027-03-14 02:30 does not exist in America/New_York: the clocks go forward that night and "
        "skip it. Choose another time, for example 03:30."
    ]
    assert not AccessCode.objects.exists()


def test_a_time_the_clocks_repeat_keeps_the_stay_whole(admin_client, door, now):
    response = add(
        admin_client,
        door,
        starts_at_0="2027-11-07",  # 01:30 happens twice in New York that night
        starts_at_1="01:30",
        ends_at_0="2027-11-07",
        ends_at_1="01:45",
    )
    assert response.status_code == 302, form_errors(response)
    code = AccessCode.objects.get()
    assert code.starts_at == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)  # the first 01:30 (EDT)
    assert code.ends_at == datetime(2027, 11, 7, 6, 45, tzinfo=UTC)  # the second 01:45 (EST)


def test_local_instant_decides_skipped_and_repeated_times_in_one_place():
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(NEW_YORK)
    assert happens_twice(date(2027, 11, 7), time(1, 30), zone)
    assert not happens_twice(date(2027, 11, 8), time(1, 30), zone)
    assert local_instant(date(2027, 11, 7), time(1, 30), zone, twice=Twice.LATER) == datetime(
        2027, 11, 7, 6, 30, tzinfo=UTC
    )
    with pytest.raises(Exception, match="does not exist in America/New_York"):
        local_instant(date(2027, 3, 14), time(2, 0), zone)


def test_the_new_code_page_refuses_a_check_in_time_the_clocks_skip(admin_client, door, now):
    response = admin_client.post(
        reverse("latchkey:code_create"),
        {
            "property": door.property_id,
            "name": "Eli Moreno",
            "devices": [door.pk],
            "arrival_date": "2027-03-14",
            "check_in_time": "02:30",
            "departure_date": "2027-03-16",
            "check_out_time": "11:00",
        },
    )
    assert response.status_code == 200
    assert "does not exist in America/New_York" in response.content.decode()
    assert not AccessCode.objects.exists()
