"""Deliveries of Latchkey's events to subscriptions: an outbox. ``on_events_recorded`` turns each
batch of ``codes.Event`` rows into deliveries inside the events' own transaction;
``delivery_attempt`` sends one after commit, signed as Seam signs its webhooks, and schedules the
retry or gives up."""

import json
import time
from datetime import datetime, timedelta
from uuid import UUID

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from svix.webhooks import Webhook

from codes.models import Event
from codes.shapes import event_wire
from common.outbound_http import post_bounded
from common.times import iso
from webhooks.models import OutboundAttempt, OutboundDelivery, OutboundStatus, WebhookSubscription
from webhooks.services.handoff import enqueue_on_commit
from webhooks.services.subscriptions import url_target

# Of a receiver's answer only the first 1,000 characters are kept; at most this much is read.
RESPONSE_KEEP_BYTES = 4000
RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
# A subscription whose attempts have all failed for this long is disabled (one event's full
# retry schedule, ~28 h, outlasts it).
DISABLE_AFTER = timedelta(hours=24)
RETRYABLE_STATUS = frozenset({408, 429})
SEND_DUE_BATCH = 200
SEND_DUE_BUDGET_SECONDS = 60  # well inside django-q2's 120 s task timeout


def on_events_recorded(sender, events: list[Event], **kwargs) -> None:
    """``codes.signals.events_recorded`` (connected in WebhooksConfig.ready)."""
    deliveries_create_for_events(events=events)


def deliveries_create_for_events(*, events: list[Event]) -> list[OutboundDelivery]:
    """One delivery per event and enabled subscription of its workspace that wants its type,
    with one query for the subscriptions of the whole batch. Runs inside the transaction that
    records the events, so both commit or neither does; sending is queued for after the commit."""
    subscriptions: dict = {}
    for s in WebhookSubscription.objects.filter(
        workspace_id__in={e.workspace_id for e in events}, is_disabled=False
    ):
        subscriptions.setdefault(s.workspace_id, []).append(s)
    deliveries = []
    for event in events:
        wanted = [s for s in subscriptions.get(event.workspace_id, []) if event.event_type in s.event_types]
        if not wanted:
            continue
        body = json.dumps(event_wire(event), separators=(",", ":"))
        deliveries += [
            OutboundDelivery(
                subscription=s,
                event=event,
                event_type=event.event_type,
                body=body,
                created_at=event.created_at,
                next_attempt_at=event.created_at,
            )
            for s in wanted
        ]
    created = OutboundDelivery.objects.bulk_create(deliveries)
    for delivery in created:
        enqueue_on_commit("webhooks.tasks.deliver", delivery.pk)
    return created


def signed_headers(*, secret: str, message_id: str, body: str, at: datetime) -> dict[str, str]:
    """Headers exactly as Seam sends its webhooks (Svix): any receiver, and Seam's own SDKs'
    ``SeamWebhook(secret).verify(body, headers)``, checks them unchanged."""
    return {
        "content-type": "application/json",
        "svix-id": message_id,
        "svix-timestamp": str(int(at.timestamp())),
        "svix-signature": Webhook(secret).sign(message_id, at, body),
    }


def delivery_attempt(*, delivery_id: UUID | str, now: datetime | None = None) -> OutboundDelivery | None:
    """Send one due delivery once, outside any transaction, and record the attempt. Returns
    None if it is not due, already done, claimed by another worker, or its subscription is
    disabled. A 2xx succeeds; 5xx, 408, 429, timeouts and network errors are retried on
    RETRY_SCHEDULE; any other answer fails it at once."""
    now = now or timezone.now()
    lease = timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS * 2 + 30)
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    claimed = OutboundDelivery.objects.filter(
        free,
        pk=delivery_id,
        status=OutboundStatus.PENDING,
        next_attempt_at__lte=now,
        subscription__is_disabled=False,
    ).update(claimed_until=now + lease)
    if not claimed:
        return None
    delivery = OutboundDelivery.objects.select_related("subscription").get(pk=delivery_id)
    subscription = delivery.subscription
    status_code, error, response_text = None, "", ""
    started = time.perf_counter()
    # Checked again (what a host resolves to can change), and sent to the address checked.
    problem, address = url_target(subscription.url)
    if problem:
        error = f"Not sent: the URL {problem}"
    else:
        # Signed at the moment of sending: the receiver checks the timestamp against its clock.
        headers = signed_headers(
            secret=subscription.secret, message_id=delivery.message_id, body=delivery.body, at=timezone.now()
        )
        try:
            answer = post_bounded(
                subscription.url,
                content=delivery.body.encode(),
                headers=headers,
                address=address,
                deadline_seconds=settings.WEBHOOK_TIMEOUT_SECONDS,
                keep_bytes=RESPONSE_KEEP_BYTES,
            )
            status_code, response_text = answer.status_code, answer.text[:1000]
        except httpx.TimeoutException:
            error = f"Timed out after {settings.WEBHOOK_TIMEOUT_SECONDS:g} s."
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
    duration_ms = round((time.perf_counter() - started) * 1000)
    return _record_attempt(
        delivery,
        now=now,
        status_code=status_code,
        error=error,
        response_text=response_text,
        duration_ms=duration_ms,
        refused=bool(problem),
    )


def _record_attempt(
    delivery: OutboundDelivery,
    *,
    now: datetime,
    status_code: int | None,
    error: str,
    response_text: str,
    duration_ms: int,
    refused: bool,
) -> OutboundDelivery:
    with transaction.atomic():
        OutboundAttempt.objects.create(
            delivery=delivery,
            attempted_at=now,
            duration_ms=duration_ms,
            status_code=status_code,
            error=error,
            response_body=response_text,
        )
        # Subscription before delivery, the order subscription_enable takes them in, so two
        # transactions never wait on each other in a cycle.
        subscription = WebhookSubscription.objects.select_for_update().get(pk=delivery.subscription_id)
        delivery = OutboundDelivery.objects.select_for_update().get(pk=delivery.pk)
        delivery.attempt_count += 1
        delivery.claimed_until = None
        delivery.last_status_code = status_code
        delivery.last_error = error
        if status_code is not None and 200 <= status_code < 300:
            delivery.status = OutboundStatus.SUCCEEDED
            delivery.finished_at = now
            delivery.next_attempt_at = None
            subscription.failing_since = None
        else:
            retryable = not refused and (
                status_code is None or status_code >= 500 or status_code in RETRYABLE_STATUS
            )
            if retryable and delivery.attempt_count <= len(RETRY_SCHEDULE):
                delivery.next_attempt_at = now + RETRY_SCHEDULE[delivery.attempt_count - 1]
            else:
                delivery.status = OutboundStatus.FAILED
                delivery.finished_at = now
                delivery.next_attempt_at = None
            subscription.failing_since = subscription.failing_since or now
            if now - subscription.failing_since >= DISABLE_AFTER and not subscription.is_disabled:
                subscription.is_disabled = True
                subscription.disabled_at = now
                what = f"HTTP {status_code}" if status_code is not None else error
                subscription.disabled_reason = (
                    f"Every delivery since {iso(subscription.failing_since)} failed (last: {what}). "
                    "Fix the receiver, then enable the subscription again; pending deliveries are sent then."
                )
        delivery.save()
        subscription.save(update_fields=["failing_since", "is_disabled", "disabled_at", "disabled_reason"])
        return delivery


def deliveries_send_due(*, now: datetime | None = None) -> int:
    """Send every due delivery (retries, and first attempts whose task was lost), oldest first,
    within a time budget; what is left waits for the next run."""
    now = now or timezone.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    due = (
        OutboundDelivery.objects.filter(
            free, status=OutboundStatus.PENDING, next_attempt_at__lte=now, subscription__is_disabled=False
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)
    )
    started, sent = time.monotonic(), 0
    for pk in list(due[:SEND_DUE_BATCH]):
        if time.monotonic() - started > SEND_DUE_BUDGET_SECONDS:
            break
        if delivery_attempt(delivery_id=pk, now=now) is not None:
            sent += 1
    return sent
