"""Errors and warnings as rows: raised once, cleared with history kept, inherited by codes."""

from datetime import timedelta

import pytest

from codes import catalog
from codes.models import AccessCodeIssue
from codes.selectors import access_code_issues
from codes.services.history import (
    access_code_issue_clear,
    access_code_issue_raise,
    device_issue_clear,
    device_issue_raise,
)
from devices.models import DeviceIssue, IssueKind
from tests.codes.factories import AccessCodeFactory
from tests.devices.factories import DeviceFactory

pytestmark = pytest.mark.django_db


def test_raising_an_issue_twice_keeps_one_row_and_the_first_time(device, now):
    code = AccessCodeFactory(device=device)
    first = access_code_issue_raise(
        access_code=code, kind=IssueKind.ERROR, code="failed_to_set_on_device", now=now
    )
    again = access_code_issue_raise(
        access_code=code, kind=IssueKind.ERROR, code="failed_to_set_on_device", now=now + timedelta(hours=1)
    )
    assert first.pk == again.pk
    assert again.created_at == now
    assert again.is_access_code_error
    assert again.message == catalog.error("failed_to_set_on_device").message


def test_cleared_issue_keeps_its_history_and_leaves_the_code(device, now):
    code = AccessCodeFactory(device=device)
    access_code_issue_raise(access_code=code, kind=IssueKind.WARNING, code="delay_in_setting_on_device")
    assert (
        access_code_issue_clear(access_code=code, kind=IssueKind.WARNING, code="delay_in_setting_on_device")
        == 1
    )
    assert access_code_issues(code) == []
    assert AccessCodeIssue.objects.get(access_code=code).cleared_at == now


def test_a_device_error_shows_on_every_code_of_that_device_with_its_remedy(device, now):
    codes = [AccessCodeFactory(device=device), AccessCodeFactory(device=device)]
    elsewhere = AccessCodeFactory()
    device_issue_raise(device=device, kind=IssueKind.ERROR, code="device_offline")
    for code in codes:
        [shown] = access_code_issues(code)
        assert (shown.code, shown.flags) == ("device_offline", ("is_device_error",))
        assert shown.remedy == catalog.error("device_offline").remedy
    assert access_code_issues(elsewhere) == []


def test_an_account_error_is_kept_on_the_account_and_shows_on_all_its_locks(device, now):
    sibling = DeviceFactory(workspace=device.workspace, connected_account=device.connected_account)
    code_a, code_b = AccessCodeFactory(device=device), AccessCodeFactory(device=sibling)
    device_issue_raise(device=device, kind=IssueKind.ERROR, code="account_disconnected")
    row = DeviceIssue.objects.get()
    assert (row.device, row.connected_account) == (None, device.connected_account)
    assert row.is_connected_account_error and row.is_device_error
    assert [i.code for i in access_code_issues(code_a)] == ["account_disconnected"]
    assert [i.code for i in access_code_issues(code_b)] == ["account_disconnected"]
    assert device_issue_clear(device=sibling, kind=IssueKind.ERROR, code="account_disconnected") == 1
    assert access_code_issues(code_a) == []


def test_own_issues_come_before_inherited_ones(device, now):
    code = AccessCodeFactory(device=device)
    device_issue_raise(device=device, kind=IssueKind.ERROR, code="device_offline", now=now)
    access_code_issue_raise(
        access_code=code, kind=IssueKind.ERROR, code="failed_to_set_on_device", now=now + timedelta(minutes=1)
    )
    assert [i.code for i in access_code_issues(code)] == ["failed_to_set_on_device", "device_offline"]


def test_an_unknown_provider_code_is_shown_with_the_fallback_remedy(device, now):
    code = AccessCodeFactory(device=device)
    access_code_issue_raise(
        access_code=code, kind=IssueKind.ERROR, code="brand_new_vendor_error", message="Odd"
    )
    [shown] = access_code_issues(code)
    assert shown.message == "Odd"
    assert not shown.entry.is_known
    assert "brand_new_vendor_error" in shown.remedy
