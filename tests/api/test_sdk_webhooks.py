"""Outbound subscriptions through Seam's SDK, and a delivery the SDK's own verifier accepts."""

import pytest
from seam.exceptions import SeamHttpApiError, SeamHttpInvalidInputError

from tests.webhooks.conftest import Receiver


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def test_subscribe_receive_update_and_delete(seam, fleet, receiver):
    webhook = seam.webhooks.create(url=receiver.url, event_types=["access_code.created"])
    assert webhook.secret.startswith("whsec_") and webhook.event_types == ["access_code.created"]
    receiver.secret = webhook.secret

    code = seam.access_codes.create(device_id=str(fleet["keypad-deadbolt"].pk), name="Guest")
    (got,) = receiver.received
    assert got["verified"]["event_type"] == "access_code.created"
    assert code.access_code_id in got["body"]

    assert [w.webhook_id for w in seam.webhooks.list()] == [webhook.webhook_id]
    seam.webhooks.update(webhook_id=webhook.webhook_id, event_types=["access_code.deleted"])
    assert seam.webhooks.get(webhook_id=webhook.webhook_id).event_types == ["access_code.deleted"]

    seam.webhooks.delete(webhook_id=webhook.webhook_id)
    with pytest.raises(SeamHttpApiError) as gone:
        seam.webhooks.get(webhook_id=webhook.webhook_id)
    assert gone.value.code == "webhook_not_found"


def test_bad_subscriptions_are_refused_by_field(seam):
    with pytest.raises(SeamHttpInvalidInputError) as refused:
        seam.webhooks.create(url="ftp://example.com/hook", event_types=["access_code.teleported"])
    assert refused.value.get_validation_error_messages("url")
    assert refused.value.get_validation_error_messages("event_types")
