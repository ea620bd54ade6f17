"""Storing a callback costs one statement: the account it names is remembered per process for a
few seconds (webhooks.services.accounts), and outside a transaction the insert commits on its
own. What that must not change: a deleted account is refused at once, a repeat is still a
repeat, and the batch task is still queued."""

import json

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.webhooks.conftest import post_callback
from tests.webhooks.signing import FIXTURE_CODE, FIXTURE_DEVICE, FIXTURE_SECRET, signed
from webhooks.models import InboundDelivery, InboundStatus
from webhooks.services import accounts, handoff


def _event(n: int, at) -> dict:
    return {
        "event_id": f"evt-{n}",
        "event_type": "access_code.set_on_device",
        "device_id": FIXTURE_DEVICE,
        "access_code_id": FIXTURE_CODE,
        "occurred_at": at.isoformat(),
    }


@pytest.fixture(autouse=True)
def _forget():
    accounts.forget_all()
    yield
    accounts.forget_all()


@pytest.mark.django_db
def test_a_second_callback_reads_no_account_and_stores_in_one_insert(client, seam_account, now):
    body, headers = signed(FIXTURE_SECRET, _event(1, now), msg_id="m1")
    assert post_callback(client, seam_account, body, headers).status_code == 200
    body, headers = signed(FIXTURE_SECRET, _event(2, now), msg_id="m2")
    url = reverse("webhooks:seam", args=[seam_account.pk])
    sent = {k: v for k, v in headers.items() if k != "content-type"}
    with CaptureQueriesContext(connection) as queries:
        response = client.post(url, data=body, content_type="application/json", headers=sent)
    assert response.json()["status"] == "pending"
    # The test's transaction adds a savepoint around the insert; alone, it is the insert.
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert [s for s in statements if s not in ("SAVEPOINT", "RELEASE")] == ["INSERT"]


@pytest.mark.django_db
def test_an_account_deleted_in_this_process_is_refused_at_once(client, seam_account, now):
    body, headers = signed(FIXTURE_SECRET, _event(1, now), msg_id="m1")
    assert post_callback(client, seam_account, body, headers).status_code == 200
    account_id = seam_account.pk
    seam_account.delete()
    seam_account.pk = account_id
    body, headers = signed(FIXTURE_SECRET, _event(2, now), msg_id="m2")
    response = post_callback(client, seam_account, body, headers)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


@pytest.mark.django_db(transaction=True)
def test_an_account_deleted_by_another_process_fails_once_then_is_refused(client, seam_account, now):
    # Remembered here, then deleted behind this process's back (no signal reaches it).
    body, headers = signed(FIXTURE_SECRET, _event(1, now), msg_id="m1")
    assert post_callback(client, seam_account, body, headers).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM webhooks_inbounddelivery")
        cursor.execute(
            "DELETE FROM devices_connectedaccount WHERE connected_account_id = %s",
            [seam_account.pk.hex if connection.vendor == "sqlite" else seam_account.pk],
        )
    body, headers = signed(FIXTURE_SECRET, _event(2, now), msg_id="m2")
    client.raise_request_exception = False
    assert post_callback(client, seam_account, body, headers).status_code == 500  # sent again
    assert post_callback(client, seam_account, body, headers).status_code == 404
    assert not InboundDelivery.objects.filter(event_id="evt-2").exists()


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_repeat_is_still_a_repeat_and_the_batch_is_queued(client, seam_account, now):
    body, headers = signed(FIXTURE_SECRET, _event(1, now), msg_id="m1")
    url = reverse("webhooks:seam", args=[seam_account.pk])
    sent = {k: v for k, v in headers.items() if k != "content-type"}
    cache.delete(handoff._BATCH_QUEUED)
    first = client.post(url, data=body, content_type="application/json", headers=sent)
    again = client.post(url, data=body, content_type="application/json", headers=sent)
    assert (first.json()["status"], again.json()["status"]) == ("pending", "duplicate")
    # The tests' django-q2 runs a queued task at once: the batch task took the first one.
    first_row = InboundDelivery.objects.get(event_id="evt-1", duplicate_of=None)
    assert first_row.status != InboundStatus.PENDING and first_row.processed_at is not None
    assert InboundDelivery.objects.get(status=InboundStatus.DUPLICATE).duplicate_of == first_row


@pytest.mark.django_db
def test_the_insert_stores_every_value_exactly_as_sent(client, seam_account, now):
    # On PostgreSQL the server binds the insert's values (common.compiled): text that client-side
    # quoting must escape, and placeholder-like text, arrive unchanged all the same.
    event = {**_event(1, now), "note": 'it\'s 100%s \\ "quoted" %(name)s – ünïcödé'}
    body, headers = signed(FIXTURE_SECRET, json.dumps(event, ensure_ascii=False), msg_id="m'1%s")
    assert post_callback(client, seam_account, body, headers).status_code == 200
    row = InboundDelivery.objects.get(event_id="evt-1")
    assert row.body == body.decode()
    assert "ünïcödé" in row.body
    assert row.headers["svix-id"] == "m'1%s"
    assert (row.event_type, row.received_at is not None, row.connected_account_id) == (
        "access_code.set_on_device",
        True,
        seam_account.pk,
    )
