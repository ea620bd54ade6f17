"""Readiness, the slot forecast and the review queue's query: the reads the pages share."""

from datetime import UTC, datetime, timedelta

import pytest

from codes.models import AccessCodeIssue, AccessCodeStatus, BackupAccessCodePool
from codes.pages import (
    Readiness,
    device_slot_forecast,
    property_timeline,
    readiness,
    review_queue,
)
from codes.selectors import with_shown_issues
from codes.services.access_codes import access_code_create, access_code_delete
from codes.services.backup_pool import backup_pool_refill
from codes.services.checks import AccessCodeRequest
from codes.services.history import access_code_issue_raise, device_issue_raise
from codes.services.staff import review_resolve
from devices.models import IssueKind, Workspace
from tests.codes.factories import AccessCodeFactory
from tests.devices.factories import DeviceFactory, PropertyFactory

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


def test_readiness_follows_errors_then_warnings_then_the_lock(now):
    device = DeviceFactory()
    plain = AccessCodeFactory(device=device, time_bound=True)
    assert readiness(plain) is Readiness.PENDING
    plain.preflight_passed_at = now
    assert readiness(plain) is Readiness.CHECKED
    plain.is_scheduled_on_device = True
    assert readiness(plain) is Readiness.SCHEDULED
    plain.status = AccessCodeStatus.SET
    assert readiness(plain) is Readiness.SET
    plain.needs_review = True
    assert readiness(plain) is Readiness.AT_RISK
    AccessCodeIssue.objects.create(
        access_code=plain, kind=IssueKind.WARNING, code="delay_in_setting_on_device"
    )
    plain.needs_review = False
    assert readiness(plain) is Readiness.AT_RISK
    device_issue_raise(device=device, kind=IssueKind.ERROR, code="device_offline")
    assert readiness(plain) is Readiness.FAILED


def test_readiness_uses_the_issues_a_list_carries_without_a_query(now, django_assert_num_queries):
    code = AccessCodeFactory(time_bound=True, status=AccessCodeStatus.SET)
    device_issue_raise(device=code.device, kind=IssueKind.ERROR, code="device_offline")
    [annotated] = with_shown_issues(type(code).objects.filter(pk=code.pk).select_related("device"))
    with django_assert_num_queries(0):
        assert readiness(annotated) is Readiness.FAILED


def test_forecast_peak_counts_future_codes_and_the_pool_still_to_fill(now):
    device = DeviceFactory(
        max_active_codes_supported=10, supports_backup_access_code_pool=True, has_native_scheduling=True
    )
    AccessCodeFactory(device=device)  # ongoing: a slot from now on
    for day in (1, 2, 3):  # three overlapping stays; the busiest moment is the third arrival
        AccessCodeFactory(
            device=device,
            time_bound=True,
            starts_at=now + timedelta(days=day),
            ends_at=now + timedelta(days=day + 3),
        )
    AccessCodeFactory(  # starts when the first stay ends: a window is half-open, no overlap
        device=device, time_bound=True, starts_at=now + timedelta(days=4), ends_at=now + timedelta(days=5)
    )
    BackupAccessCodePool.objects.create(device=device, target_size=2)
    forecast = device_slot_forecast(device, now=now)
    # The ongoing code, two backups to come, and the four stays the lock holds ahead with their
    # schedules (the slot plan loads them now: the lock has room).
    assert (forecast.used_now, forecast.free_now) == (7, 3)
    assert (forecast.peak_used, forecast.peak_at, forecast.free_at_peak) == (7, now, 3)


def test_forecast_counts_just_in_time_lead_and_backups_already_on_the_lock(now, settings):
    settings.JUST_IN_TIME_MINUTES = 60
    device = DeviceFactory(has_native_scheduling=False, supports_backup_access_code_pool=True)
    first = AccessCodeFactory(device=device, time_bound=True, ends_at=now + timedelta(days=2, hours=16))
    AccessCodeFactory(  # arrives 30 min after the first leaves: both on the lock during the lead
        device=device,
        time_bound=True,
        starts_at=first.ends_at + timedelta(minutes=30),
        ends_at=first.ends_at + timedelta(days=2),
    )
    BackupAccessCodePool.objects.create(device=device, target_size=1)
    backup_pool_refill(device=device, now=now)  # the backup exists now: counted as a code, not twice
    forecast = device_slot_forecast(device, now=now)
    assert forecast.used_now == 1
    assert forecast.peak_used == 3


def test_review_queue_lists_flagged_codes_soonest_first_and_brings_back_a_returned_problem(now):
    device = DeviceFactory()
    later = AccessCodeFactory(device=device, time_bound=True, needs_review=True, review_reason="not set")
    sooner = AccessCodeFactory(
        device=device,
        time_bound=True,
        starts_at=now + timedelta(hours=5),
        ends_at=now + timedelta(days=1),
        preflight_passed_at=now,  # ready but for its warning
    )
    # Raised through the service, as every issue is: the flag is judged again when it is.
    access_code_issue_raise(access_code=sooner, kind=IssueKind.WARNING, code="delay_in_setting_on_device")
    fine = AccessCodeFactory(  # nothing wrong
        device=device, time_bound=True, starts_at=now + timedelta(days=3), ends_at=now + timedelta(days=4)
    )
    AccessCodeFactory(device=device, is_managed=False, needs_review=True)  # not Latchkey's
    gone = AccessCodeFactory(device=device, time_bound=True, needs_review=True)
    access_code_delete(access_code=gone)
    gone.refresh_from_db()
    gone.status = AccessCodeStatus.UNSET  # removed from the lock
    gone.save()
    everyone = Workspace.objects.all()
    assert list(review_queue(workspaces=everyone)) == [sooner, later]

    review_resolve(access_code=sooner, actor=None, now=now)
    assert list(review_queue(workspaces=everyone)) == [later]
    # The lock goes offline: a new problem since the resolution brings the code back (and
    # flags every code of the lock).
    device_issue_raise(
        device=device, kind=IssueKind.ERROR, code="device_offline", now=now + timedelta(minutes=1)
    )
    assert list(review_queue(workspaces=everyone)) == [sooner, later, fine]
    assert list(review_queue(workspaces=Workspace.objects.exclude(pk=device.workspace_id))) == []


def test_review_queue_keeps_a_code_being_removed_whose_removal_fails(now):
    code = access_code_create(device=DeviceFactory(), request=AccessCodeRequest(code="4821"))
    code.status = AccessCodeStatus.SET
    code.provider_code_id = "p1"
    code.save()
    access_code_delete(access_code=code)
    access_code_issue_raise(access_code=code, kind=IssueKind.ERROR, code="failed_to_remove_from_device")
    assert list(review_queue(workspaces=Workspace.objects.all())) == [code]


def test_timeline_spans_fourteen_local_days_across_a_dst_change():
    now = datetime(2026, 10, 25, 14, tzinfo=UTC)  # New York leaves daylight time on 2026-11-01
    prop = PropertyFactory(time_zone="America/New_York")
    door = DeviceFactory(workspace=prop.workspace, property=prop, display_name="Front")
    DeviceFactory(workspace=prop.workspace, property=prop, display_name="Back")
    code = AccessCodeFactory(
        device=door,
        time_bound=True,
        starts_at=datetime(2026, 10, 31, 20, tzinfo=UTC),  # 16:00 EDT
        ends_at=datetime(2026, 11, 2, 16, tzinfo=UTC),  # 11:00 EST
    )
    timeline = property_timeline(prop, now=now)
    assert timeline.start == datetime(2026, 10, 25, 4, tzinfo=UTC)  # midnight EDT
    assert timeline.end == datetime(2026, 11, 8, 5, tzinfo=UTC)  # midnight EST: a 337-hour span
    assert [lane.device.display_name for lane in timeline.lanes] == ["Back", "Front"]
    nov_2 = next(t for t in timeline.ticks if t.day.isoformat() == "2026-11-02")
    assert nov_2.left == round(100 * (8 * 24 + 1) / 337, 3)  # one hour longer on 1 November
    (bar,) = timeline.lanes[1].bars
    assert bar.code == code
    assert bar.left == round(100 * (6 * 24 + 16) / 337, 3)
    assert bar.width == pytest.approx(100 * 44 / 337, abs=0.002)
    assert not (bar.starts_before or bar.ends_after)


def test_forecast_is_the_slot_plan_a_lock_full_of_preloaded_codes_shows_full_now(now):
    """A lock that keeps schedules holds codes loaded ahead: the forecast counts them from when
    the plan loads them, not only inside their windows (issue 17: "used now 0" on a full lock)."""
    device = DeviceFactory(max_active_codes_supported=3, has_native_scheduling=True)
    stays = [
        AccessCodeFactory(
            device=device,
            time_bound=True,
            name=f"Guest {day}",
            starts_at=now + timedelta(days=day),
            ends_at=now + timedelta(days=day, hours=20),
        )
        for day in (1, 2, 3, 4)
    ]
    forecast = device_slot_forecast(device, now=now)
    assert (forecast.used_now, forecast.free_now) == (3, 0)
    assert (forecast.peak_used, forecast.peak_at) == (3, now)
    assert forecast.peak_codes == ["Guest 1", "Guest 2", "Guest 3"]
    assert forecast.overflows == []
    assert all(bar.used <= 3 for bar in forecast.bars) and any(bar.full for bar in forecast.bars)
    # The fourth goes on as the first leaves: full until the second leaves, then emptying.
    assert [(bar.starts, bar.used) for bar in forecast.bars] == [
        (now, 3),
        (stays[1].ends_at, 2),
        (stays[2].ends_at, 1),
    ]
    assert forecast.bars[0].full and forecast.bars[0].width == round((stays[1].ends_at - now) / DAY * 50, 2)


def test_forecast_lists_the_codes_that_will_not_fit_with_the_moment(now):
    device = DeviceFactory(max_active_codes_supported=2, has_native_scheduling=True)
    for hour in range(3):
        AccessCodeFactory(
            device=device,
            time_bound=True,
            name=f"Guest {hour}",
            starts_at=now + timedelta(days=2, hours=hour),
            ends_at=now + timedelta(days=4),
        )
    forecast = device_slot_forecast(device, now=now)
    assert [(o.code.name, o.at) for o in forecast.overflows] == [
        ("Guest 2", now + timedelta(days=2, hours=2))
    ]
    assert forecast.peak_used == 2


def test_overlapping_codes_on_one_door_each_get_a_row_and_now_is_marked():
    """Two stays on one door in the same days no longer draw on one line, one hiding the other
    (issue 18); a code that starts when another ends reuses its row."""
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    prop = PropertyFactory(time_zone="Europe/Lisbon")
    door = DeviceFactory(workspace=prop.workspace, property=prop, display_name="Front")
    first = AccessCodeFactory(
        device=door, time_bound=True, starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=4)
    )
    overlapping = AccessCodeFactory(
        device=door, time_bound=True, starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=3)
    )
    after_first = AccessCodeFactory(
        device=door, time_bound=True, starts_at=now + timedelta(days=4), ends_at=now + timedelta(days=6)
    )
    timeline = property_timeline(prop, now=now)
    rows = {bar.code: bar.row for bar in timeline.lanes[0].bars}
    assert rows == {first: 0, overlapping: 1, after_first: 0}
    assert timeline.lanes[0].rows == 2
    assert timeline.now_left == round(100 * 12 / 336, 3)  # noon on the first day of 14
