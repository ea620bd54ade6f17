from datetime import timedelta

import factory
from django.utils import timezone

from codes.models import AccessCode, AccessCodeType
from tests.devices.factories import DeviceFactory


class AccessCodeFactory(factory.django.DjangoModelFactory):
    """Writes a row directly, bypassing the services: for setting up state the services would
    not produce on their own (an unmanaged code found on a lock, a code already set)."""

    class Meta:
        model = AccessCode

    device = factory.SubFactory(DeviceFactory)
    workspace = factory.SelfAttribute("device.workspace")
    code = factory.Sequence(lambda n: f"{5000 + n:04d}")
    name = factory.Faker("name")
    type = AccessCodeType.ONGOING

    class Params:
        time_bound = factory.Trait(
            type=AccessCodeType.TIME_BOUND,
            starts_at=factory.LazyFunction(lambda: timezone.now() + timedelta(days=2)),
            ends_at=factory.LazyFunction(lambda: timezone.now() + timedelta(days=5)),
        )
