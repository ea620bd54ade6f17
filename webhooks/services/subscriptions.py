"""Integrations' subscriptions to Latchkey's own events: created, changed, deleted and enabled
again, each URL checked to reach only public addresses."""

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from codes.models import EventType
from common.addresses import outbound_url_check
from common.sentinels import NOT_GIVEN
from devices.models import Workspace
from webhooks.models import OutboundDelivery, OutboundStatus, WebhookSubscription

URL_MAX_LENGTH = WebhookSubscription._meta.get_field("url").max_length
EVENT_TYPES = tuple(EventType.values)


def url_problem(url, *, allow_private: bool | None = None) -> str | None:
    """What is wrong with ``url`` as a webhook target, or None (see ``common.addresses``)."""
    if allow_private is None:
        allow_private = settings.WEBHOOK_ALLOW_PRIVATE_URLS
    return url_target(url, allow_private=allow_private)[0]


def url_target(url, *, allow_private: bool | None = None) -> tuple[str | None, str | None]:
    """``url_problem``, and the address that passed the check, for the send to connect to."""
    if allow_private is None:
        allow_private = settings.WEBHOOK_ALLOW_PRIVATE_URLS
    return outbound_url_check(
        url,
        max_length=URL_MAX_LENGTH,
        allow_private=allow_private,
        refusal="webhooks are only sent to public addresses",
    )


def _event_types_problem(value) -> tuple[list[str], str | None]:
    if value is None:
        return list(EVENT_TYPES), None
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        return [], "must be a list of event type names."
    if not value:
        return [], "must name at least one event type (leave it out to receive every type)."
    unknown = [v for v in value if v not in EVENT_TYPES]
    if unknown:
        names = ", ".join(f"'{v}'" for v in unknown)
        verb = "is not a Latchkey event type" if len(unknown) == 1 else "are not Latchkey event types"
        return [], f"{names} {verb}; known types: {', '.join(EVENT_TYPES)}."
    return list(dict.fromkeys(value)), None


def _checked(*, url=NOT_GIVEN, event_types=NOT_GIVEN) -> dict:
    """The fields given, checked; raises ValidationError naming every field at fault."""
    errors, values = {}, {}
    if url is not NOT_GIVEN:
        problem = url_problem(url)
        if problem:
            errors["url"] = [problem]
        values["url"] = url
    if event_types is not NOT_GIVEN:
        types, problem = _event_types_problem(event_types)
        if problem:
            errors["event_types"] = [problem]
        values["event_types"] = types
    if errors:
        raise ValidationError(errors)
    return values


def subscription_create(
    *, workspace: Workspace, url: str, event_types: list[str] | None = None
) -> WebhookSubscription:
    """A new subscription with its own ``whsec_`` secret; ``event_types`` None means every
    Latchkey event type."""
    values = _checked(url=url, event_types=event_types)
    return WebhookSubscription.objects.create(workspace=workspace, **values)


def subscription_update(
    *, subscription: WebhookSubscription, url=NOT_GIVEN, event_types=NOT_GIVEN
) -> WebhookSubscription:
    """Change the fields passed; the others stay. The secret never changes."""
    values = _checked(url=url, event_types=event_types)
    for field, value in values.items():
        setattr(subscription, field, value)
    if values:
        subscription.save(update_fields=list(values))
    return subscription


def subscription_delete(*, subscription: WebhookSubscription) -> None:
    """Delete it, with its deliveries and their attempts."""
    subscription.delete()


def subscription_enable(
    *, subscription: WebhookSubscription, now: datetime | None = None
) -> WebhookSubscription:
    """Turn a disabled subscription back on (staff, once the receiver is fixed): deliveries
    still pending are sent at the next sweep."""
    now = now or timezone.now()
    with transaction.atomic():
        WebhookSubscription.objects.filter(pk=subscription.pk).update(
            is_disabled=False, disabled_at=None, disabled_reason="", failing_since=None
        )
        OutboundDelivery.objects.filter(subscription=subscription, status=OutboundStatus.PENDING).update(
            next_attempt_at=now
        )
    subscription.refresh_from_db()
    return subscription
