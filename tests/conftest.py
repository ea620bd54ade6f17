import random
from datetime import UTC, datetime

import pytest
import time_machine

from tests.devices.factories import DeviceFactory

# Every test that needs "now" runs at this instant unless it travels elsewhere.
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def rng():
    return random.Random(1234)


@pytest.fixture
def device(db):
    return DeviceFactory()


@pytest.fixture
def strict_device(db):
    """A lock with every PIN rule on, like the sandbox's strict-PIN model."""
    return DeviceFactory(
        supported_code_lengths=[6, 7, 8],
        pin_forbids_zeros=True,
        pin_forbids_sequences=True,
        pin_requires_unique_first_four=True,
    )
