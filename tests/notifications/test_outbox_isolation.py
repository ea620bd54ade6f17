"""A failing channel never blocks the scheduler: the scheduler's sweep programs locks while a
channel refuses every message, and sends nothing itself (the outbox's own task does)."""

from datetime import timedelta

import pytest
import time_machine

from codes import scheduler
from codes.models import AccessCodeStatus
from codes.services import reports
from codes.services.access_codes import access_code_create
from codes.services.checks import AccessCodeRequest
from devices.services import sandbox_fleet_create, workspace_get_or_create
from notifications.models import Notification, NotificationStatus
from notifications.services import alerts, channels, outbox
from tests.notifications.conftest import run_on_commit

pytestmark = pytest.mark.django_db


@pytest.fixture
def deadbolt(now):
    workspace = workspace_get_or_create(name="Sandbox", is_sandbox=True)
    return {d.provider_device_id: d for d in sandbox_fleet_create(workspace=workspace)}[
        "sandbox-keypad-deadbolt"
    ]


def test_a_failing_channel_is_retried_while_the_scheduler_goes_on(deadbolt, receiver, now):
    receiver.answers = [500] * 20
    channel = channels.channel_create(workspace=deadbolt.workspace, url=receiver.url, name="Down")
    channels.rule_create(workspace=deadbolt.workspace, name="Ops", channels=[channel])
    request = AccessCodeRequest(
        name="Ana", starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=4)
    )
    code = access_code_create(device=deadbolt, request=request)
    # A problem to tell: the lock went offline (as its provider reports it).
    reports.device_connection_record(device=deadbolt, online=False, now=now)
    assert run_on_commit(alerts.alerts_sweep, now=now) == 1
    alert = Notification.objects.get()
    assert alert.status == NotificationStatus.PENDING and alert.attempt_count == 1
    assert "500" in alert.last_error  # visible, with when it is tried again
    reports.device_connection_record(device=deadbolt, online=True, now=now)

    later = now + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        scheduler.sweep(now=later)  # programs the code; touches no notification
    code.refresh_from_db()
    assert code.status == AccessCodeStatus.SET or code.is_scheduled_on_device
    alert.refresh_from_db()
    assert alert.attempt_count == 1
    assert outbox.notifications_send_due(now=later) == 1  # the outbox's own run retries it
    alert.refresh_from_db()
    assert alert.attempt_count == 2 and alert.status == NotificationStatus.PENDING
