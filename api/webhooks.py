"""``/webhooks/*``: an integration's subscriptions to Latchkey's events (delivery itself is
``webhooks.services``). Seam's webhook object: ``{webhook_id, url, event_types, secret}``."""

from rest_framework import serializers

from api.wire import Params, SeamRoute, WireString, not_found
from webhooks.models import WebhookSubscription
from webhooks.selectors import subscriptions_for
from webhooks.services import subscriptions

MAX_EVENT_TYPES = 100


def webhook_wire(subscription: WebhookSubscription) -> dict:
    return {
        "webhook_id": str(subscription.pk),
        "url": subscription.url,
        "event_types": list(subscription.event_types),
        "secret": subscription.secret,
    }


def _every_if_star(event_types: list[str] | None) -> list[str] | None:
    """Seam's ``["*"]`` subscribes to every event type, as leaving the list out does."""
    return None if event_types is not None and "*" in event_types else event_types


def _find(workspace, webhook_id) -> WebhookSubscription:
    subscription = subscriptions_for(workspace).filter(pk=webhook_id).first()
    if subscription is None:
        raise not_found("webhook")
    return subscription


def _event_types(**kwargs):
    return serializers.ListField(child=WireString(max_length=100), max_length=MAX_EVENT_TYPES, **kwargs)


class Create(SeamRoute):
    sdk_method = "POST"

    class params(Params):
        url = WireString(max_length=2000)
        event_types = _event_types(required=False, allow_null=True)

    def answer(self, p):
        subscription = subscriptions.subscription_create(
            workspace=self.workspace, url=p["url"], event_types=_every_if_star(p.get("event_types"))
        )
        return {"webhook": webhook_wire(subscription)}


class Get(SeamRoute):
    sdk_method = "GET"

    class params(Params):
        webhook_id = serializers.UUIDField()

    def answer(self, p):
        return {"webhook": webhook_wire(_find(self.workspace, p["webhook_id"]))}


class List(SeamRoute):
    sdk_method = "GET"

    def answer(self, p):
        return {"webhooks": [webhook_wire(s) for s in subscriptions_for(self.workspace)]}


class Update(SeamRoute):
    sdk_method = "PUT"

    class params(Params):
        webhook_id = serializers.UUIDField()
        event_types = _event_types()
        url = WireString(required=False, max_length=2000)

    def answer(self, p):
        subscription = _find(self.workspace, p["webhook_id"])
        changes = {field: p[field] for field in ("event_types", "url") if field in p}
        if "event_types" in changes:
            changes["event_types"] = _every_if_star(changes["event_types"])
        subscriptions.subscription_update(subscription=subscription, **changes)
        return {}


class Delete(SeamRoute):
    sdk_method = "DELETE"

    class params(Params):
        webhook_id = serializers.UUIDField()

    def answer(self, p):
        subscriptions.subscription_delete(subscription=_find(self.workspace, p["webhook_id"]))
        return {}
