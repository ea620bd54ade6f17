"""A lock's own rule fields are checked when staff edit them, and by the database."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from devices.models import Device
from tests.devices.factories import DeviceFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("lengths", "message"),
    [
        (["4"], "Give a list of whole numbers, for example [4, 5, 6]."),
        ([4, True], "Give a list of whole numbers, for example [4, 5, 6]."),
        ("4,5", "Give a list of whole numbers, for example [4, 5, 6]."),
        ([4, 4], "Each length may appear only once."),
        ([0], "Each length must be between 1 and 16 digits."),
        ([20], "Each length must be between 1 and 16 digits."),
    ],
)
def test_bad_code_lengths_are_refused_with_a_reason(lengths, message):
    device = DeviceFactory.build(supported_code_lengths=lengths)
    with pytest.raises(ValidationError) as excinfo:
        device.full_clean(exclude=["workspace", "property", "connected_account"])
    assert excinfo.value.message_dict["supported_code_lengths"] == [message]


def test_a_name_limit_too_short_for_numbering_is_refused_by_the_database(device):
    with pytest.raises(IntegrityError), transaction.atomic():
        Device.objects.filter(pk=device.pk).update(name_max_length=3)
