"""The database itself refuses states no service should write: these hold even for raw writes."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from codes.models import AccessCodeIssue, AccessCodeType, ActionAttempt, ActionAttemptStatus, ActionType
from devices.models import DeviceIssue, IssueKind
from tests.codes.factories import AccessCodeFactory

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


def refused_by_database(**fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        AccessCodeFactory(**fields)


def test_unknown_status_is_refused(device):
    refused_by_database(device=device, status="active")


def test_unknown_type_is_refused(device):
    refused_by_database(device=device, type="forever")


def test_ongoing_code_with_a_window_is_refused(device, now):
    refused_by_database(device=device, type=AccessCodeType.ONGOING, starts_at=now, ends_at=now + DAY)


def test_time_bound_code_without_an_end_is_refused(device, now):
    refused_by_database(device=device, type=AccessCodeType.TIME_BOUND, starts_at=now, ends_at=None)


def test_end_before_start_is_refused(device, now):
    refused_by_database(device=device, type=AccessCodeType.TIME_BOUND, starts_at=now + DAY, ends_at=now)


def test_missing_pin_without_waiting_for_one_is_refused(device):
    refused_by_database(device=device, code=None, is_waiting_for_code_assignment=False)


def test_valid_rows_pass_the_same_constraints(device, now):
    AccessCodeFactory(device=device, type=AccessCodeType.TIME_BOUND, starts_at=now, ends_at=now + DAY)
    AccessCodeFactory(device=device, code=None, is_waiting_for_code_assignment=True)


def test_one_active_issue_per_code_and_kind(device):
    code = AccessCodeFactory(device=device)
    AccessCodeIssue.objects.create(access_code=code, kind=IssueKind.ERROR, code="device_offline", message="m")
    with pytest.raises(IntegrityError), transaction.atomic():
        AccessCodeIssue.objects.create(
            access_code=code, kind=IssueKind.ERROR, code="device_offline", message="m"
        )


def test_device_issue_needs_a_subject():
    with pytest.raises(IntegrityError), transaction.atomic():
        DeviceIssue.objects.create(kind=IssueKind.ERROR, code="device_offline", message="m")


def test_action_attempt_error_needs_its_detail(device):
    with pytest.raises(IntegrityError), transaction.atomic():
        ActionAttempt.objects.create(
            workspace=device.workspace,
            action_type=ActionType.CREATE_ACCESS_CODE,
            status=ActionAttemptStatus.ERROR,
        )
