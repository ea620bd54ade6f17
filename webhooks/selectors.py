"""Reads shared by the API and the admin."""

from django.db.models import QuerySet

from webhooks.models import OutboundDelivery, WebhookSubscription


def subscriptions_for(workspace) -> QuerySet[WebhookSubscription]:
    """A workspace's subscriptions, disabled ones included, newest first."""
    return WebhookSubscription.objects.filter(workspace=workspace).order_by("-created_at")


def deliveries_for(subscription: WebhookSubscription) -> QuerySet[OutboundDelivery]:
    return OutboundDelivery.objects.filter(subscription=subscription).prefetch_related("attempts")
