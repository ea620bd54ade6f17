"""Inbound webhooks that strangers cannot use as storage: refused bodies are not kept, old
deliveries are purged, NUL characters are refused with 400 (never 500), and provider
reports apply in the order they happened."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django_q.tasks import async_task, result

from codes.models import AccessCode, AccessCodeIssue, AccessCodeStatus, Event, EventType
from codes.services.staff import review_note
from tests.codes.factories import AccessCodeFactory
from tests.webhooks.conftest import post_callback
from tests.webhooks.signing import FIXTURE_CODE, FIXTURE_DEVICE, FIXTURE_SECRET, signed
from webhooks.models import (
    InboundDelivery,
    InboundSource,
    InboundStatus,
    OutboundAttempt,
    OutboundDelivery,
    OutboundStatus,
    Verdict,
)
from webhooks.services.subscriptions import subscription_create

pytestmark = pytest.mark.django_db


# --- Nothing stored for strangers -----------------------------------------------------------------


def test_an_unsigned_body_is_not_kept_only_its_headers_size_and_verdict(client, seam_account):
    body = json.dumps({"filler": "x" * 250_000}).encode()
    response = post_callback(client, seam_account, body, {"X-Probe": "1"})
    assert response.status_code == 401
    (row,) = InboundDelivery.objects.all()
    assert (row.verdict, row.status, row.response_status) == (Verdict.MISSING, InboundStatus.REJECTED, 401)
    assert (row.body, row.body_size, row.headers["x-probe"]) == ("", len(body), "1")


def test_a_badly_signed_body_and_one_for_no_account_are_not_kept(client, seam_account, now):
    body, headers = signed("whsec_" + "QUJDREVGR0hJSktMTU5PUA==", {"event_id": "e", "event_type": "x"})
    assert post_callback(client, seam_account, body, headers).status_code == 401
    gone = seam_account.__class__(pk="00000000-0000-0000-0000-000000000000")
    assert post_callback(client, gone, body, headers).status_code == 404
    assert list(InboundDelivery.objects.values_list("body", "body_size")) == [("", len(body))] * 2


# --- Retention ------------------------------------------------------------------------------------


def _inbound(account, status, age, now, verdict=Verdict.VERIFIED):
    return InboundDelivery.objects.create(
        source=InboundSource.SEAM,
        connected_account=account,
        received_at=now - age,
        verdict=verdict,
        status=status,
        response_status=200,
    )


def test_finished_deliveries_are_purged_after_the_retention_period(seam_code, now, settings):
    account = seam_code.device.connected_account
    old, recent = timedelta(days=31), timedelta(days=29)
    purged = [
        _inbound(account, InboundStatus.PROCESSED, old, now),
        _inbound(account, InboundStatus.IGNORED, old, now),
        _inbound(account, InboundStatus.REJECTED, old, now, verdict=Verdict.MISSING),
    ]
    kept = [
        _inbound(account, InboundStatus.PROCESSED, recent, now),
        _inbound(account, InboundStatus.FAILED, old, now),  # waits for staff to replay it
    ]
    subscription = subscription_create(workspace=seam_code.workspace, url="https://hooks.example.com/")
    events = [
        Event.objects.create(event_type=EventType.CHANGED, workspace=seam_code.workspace) for _ in range(3)
    ]
    sent = OutboundDelivery.objects.create(
        subscription=subscription,
        event=events[0],
        event_type="access_code.changed",
        body="{}",
        status=OutboundStatus.SUCCEEDED,
        finished_at=now - old,
    )
    OutboundAttempt.objects.create(delivery=sent, status_code=200)
    pending = OutboundDelivery.objects.create(
        subscription=subscription, event=events[1], event_type="access_code.changed", body="{}"
    )
    fresh = OutboundDelivery.objects.create(
        subscription=subscription,
        event=events[2],
        event_type="access_code.changed",
        body="{}",
        status=OutboundStatus.FAILED,
        finished_at=now - recent,
    )
    assert result(async_task("webhooks.tasks.purge_old_deliveries")) == 4  # sync in tests
    assert set(InboundDelivery.objects.all()) == set(kept)
    assert not InboundDelivery.objects.filter(pk__in=[d.pk for d in purged]).exists()
    assert set(OutboundDelivery.objects.all()) == {pending, fresh}
    assert not OutboundAttempt.objects.exists()
    settings.WEBHOOK_RETENTION_DAYS = 7
    assert result(async_task("webhooks.tasks.purge_old_deliveries")) == 2
    assert list(InboundDelivery.objects.all()) == [kept[1]]


# --- NUL characters -------------------------------------------------------------------------------


def test_a_raw_nul_in_a_webhook_body_is_400_and_stored_without_it(client, seam_code, now):
    body, headers = signed(FIXTURE_SECRET, '{"a":"\x00"}')
    response = post_callback(client, seam_code.device.connected_account, body, headers)
    assert response.status_code == 400
    row = InboundDelivery.objects.get()
    assert (row.status, row.response_status, row.body) == (InboundStatus.REJECTED, 400, "")
    assert "NUL" in row.reason


def test_an_escaped_nul_in_a_signed_event_is_400_and_stored(client, seam_code, now):
    payload = '{"event_id":"e\\u0000","event_type":"access_code.set_on_device","occurred_at":"%s"}'
    body, headers = signed(FIXTURE_SECRET, payload % now.isoformat())
    response = post_callback(client, seam_code.device.connected_account, body, headers)
    assert response.status_code == 400
    row = InboundDelivery.objects.get()
    assert (row.verdict, row.response_status, row.body) == (Verdict.VERIFIED, 400, body.decode())
    assert "NUL" in row.reason


@pytest.mark.parametrize(
    "url",
    [
        "/admin/codes/accesscode/?name=%00",
        "/admin/codes/accesscode/?q=%00",
        "/admin/auth/user/?username=%00",
        "/admin/webhooks/inbounddelivery/?reason=a%00b",
        "/admin/latchkey/codes/new/?device=%00",
    ],
)
def test_a_nul_in_an_admin_filter_is_400(admin_client, url):
    AccessCodeFactory()
    response = admin_client.get(url)
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_a_nul_in_a_review_note_is_refused(admin_client, now):
    code = AccessCodeFactory(needs_review=True)
    response = admin_client.post(
        reverse("latchkey:review_step", args=[code.pk]), {"step": "note", "note": "call\x00back"}
    )
    assert response.status_code == 400
    with pytest.raises(Exception, match="NUL"):
        review_note(access_code=code, actor=get_user_model().objects.get(), note="call\x00back")
    assert not code.staff_actions.exists()


# --- Provider reports in the order they happened -------------------------------------------------


def _report(client, account, now, event_id, kind, seconds_ago):
    payload = {
        "event_id": event_id,
        "event_type": kind,
        "device_id": FIXTURE_DEVICE,
        "access_code_id": FIXTURE_CODE,
        "occurred_at": (now - timedelta(seconds=seconds_ago)).isoformat(),
    }
    return post_callback(client, account, *signed(FIXTURE_SECRET, payload, msg_id=event_id))


def test_an_older_failure_after_a_newer_set_that_changed_nothing_is_ignored(client, seam_code, now):
    account = seam_code.device.connected_account
    # Latchkey recorded the code set ten minutes ago; the provider then says "set" again (which
    # changes nothing, so no event), and a failure from one second before that arrives last.
    _report(client, account, now, "set-1", "access_code.set_on_device", 600)
    events_before = Event.objects.filter(access_code=seam_code).count()
    _report(client, account, now, "set-2", "access_code.set_on_device", 60)
    assert Event.objects.filter(access_code=seam_code).count() == events_before
    _report(client, account, now, "late-failure", "access_code.failed_to_set_on_device", 61)
    code = AccessCode.objects.get(pk=seam_code.pk)
    assert code.status == AccessCodeStatus.SET
    assert not AccessCodeIssue.objects.filter(access_code=code).exists()
    late = InboundDelivery.objects.get(event_id="late-failure")
    assert late.status == InboundStatus.IGNORED
    assert late.reason.startswith("older than the provider's latest report on this code")
    assert code.last_provider_report_at == now - timedelta(seconds=60)
