"""The morning digest at the rule's local hour, per property, in two time zones."""

from datetime import UTC, datetime, time, timedelta

import time_machine

from codes.models import AccessCodeStatus
from notifications.models import DigestDay, Notification
from notifications.services import channels, digest
from tests.codes.factories import AccessCodeFactory
from tests.devices.factories import DeviceFactory, PropertyFactory
from tests.notifications.conftest import run_on_commit


def run(at):
    with time_machine.travel(at, tick=False):
        return run_on_commit(digest.digests_send_due, now=at)


def two_properties(receiver, **rule):
    lisbon = DeviceFactory(
        display_name="Lisbon door", property__name="Lisbon flat", property__time_zone="Europe/Lisbon"
    )
    york = DeviceFactory(
        workspace=lisbon.workspace,
        display_name="York door",
        property=PropertyFactory(workspace=lisbon.workspace, name="York loft", time_zone="America/New_York"),
        connected_account=lisbon.connected_account,
    )
    channel = channels.channel_create(workspace=lisbon.workspace, url=receiver.url)
    channels.rule_create(
        workspace=lisbon.workspace, name="Digest", channels=[channel], immediate=False, **rule
    )
    return lisbon, york


def test_each_property_gets_its_digest_at_eight_local_time(receiver, db):
    day = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    with time_machine.travel(day, tick=False):
        lisbon, york = two_properties(receiver)
        for lock in (lisbon, york):
            AccessCodeFactory(
                device=lock,
                time_bound=True,
                name=f"Guest at {lock.display_name}",
                code="482915",
                status=AccessCodeStatus.SET,
                starts_at=day + timedelta(days=1),
                ends_at=day + timedelta(days=3),
            )
    assert run(datetime(2026, 11, 23, 7, 59, tzinfo=UTC)) == 0  # 07:59 in Lisbon (WET, UTC+0)
    assert run(datetime(2026, 11, 23, 8, 0, tzinfo=UTC)) == 1
    assert receiver.received[-1]["title"].startswith("Lisbon flat: 1 arrivals in 72 h")
    assert (
        "Guest at Lisbon door" in receiver.received[-1]["message"]
        and ": Set" in receiver.received[-1]["message"]
    )
    assert "482915" not in receiver.received[-1]["message"]
    assert run(datetime(2026, 11, 23, 12, 59, tzinfo=UTC)) == 0  # 07:59 in New York (EST, UTC-5)
    assert run(datetime(2026, 11, 23, 13, 0, tzinfo=UTC)) == 1
    assert receiver.received[-1]["title"].startswith("York loft: 1 arrivals")
    assert run(datetime(2026, 11, 23, 20, 0, tzinfo=UTC)) == 0  # once a day
    assert len(receiver.received) == 2


def test_nothing_to_say_sends_nothing_unless_all_clear_is_asked(receiver, db):
    lisbon, york = two_properties(receiver, digest_time=time(7, 30))
    assert run(datetime(2026, 11, 23, 14, 0, tzinfo=UTC)) == 0
    assert DigestDay.objects.filter(sent=False).count() == 2
    assert receiver.received == []


def test_all_clear_is_sent_when_the_rule_asks(receiver, db):
    two_properties(receiver, digest_all_clear=True)
    assert run(datetime(2026, 11, 23, 14, 0, tzinfo=UTC)) == 2
    assert sorted(m["title"] for m in receiver.received) == ["Lisbon flat: all clear", "York loft: all clear"]


def test_a_quiet_morning_is_not_followed_by_an_afternoon_digest(receiver, db):
    lisbon, _ = two_properties(receiver)
    run(datetime(2026, 11, 23, 8, 5, tzinfo=UTC))
    lisbon.is_online = False
    lisbon.save()
    assert run(datetime(2026, 11, 23, 15, 0, tzinfo=UTC)) == 0  # York's 08:00 passed too, quietly
    assert Notification.objects.count() == 0
    assert run(datetime(2026, 11, 24, 8, 0, tzinfo=UTC)) == 1
    assert "Lisbon door: offline" in receiver.received[0]["message"]
