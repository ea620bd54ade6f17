"""Every write in the webhooks app: subscriptions, inbound deliveries and outbound deliveries.

Inbound: ``inbound_receive`` checks a provider's callback (size, account, Svix signature,
JSON) and stores it in one insert, whatever the verdict; ``inbound_process`` applies a stored
one through ``codes.services``, the only place a code's or lock's state changes.

Outbound: ``on_events_recorded`` turns each batch of ``codes.Event`` rows into deliveries inside
the events' own transaction; ``delivery_attempt`` sends one after commit, signed as Seam signs its webhooks, and
schedules the retry or gives up.
"""

import ipaddress
import json
import logging
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task
from svix.webhooks import Webhook, WebhookVerificationError

from codes import services as code_services
from codes.api.shapes import event_wire
from codes.models import AccessCode, Event, EventType
from common.sentinels import NOT_GIVEN
from common.times import iso
from devices.models import ConnectedAccount, Device
from webhooks.models import (
    InboundDelivery,
    InboundStatus,
    OutboundAttempt,
    OutboundDelivery,
    OutboundStatus,
    Verdict,
    WebhookSubscription,
)

logger = logging.getLogger(__name__)

URL_MAX_LENGTH = WebhookSubscription._meta.get_field("url").max_length
EVENT_TYPES = tuple(EventType.values)


# --- Subscriptions ------------------------------------------------------------------------------


def url_problem(url, *, allow_private: bool | None = None) -> str | None:
    """What is wrong with ``url`` as a webhook target, or None. Unless private addresses are
    allowed, the host is resolved and every address it resolves to must be public: a URL must
    not reach into Latchkey's own network (loopback, private ranges, link-local such as cloud
    metadata endpoints)."""
    if allow_private is None:
        allow_private = settings.WEBHOOK_ALLOW_PRIVATE_URLS
    if not isinstance(url, str):
        return "must be a string."
    if len(url) > URL_MAX_LENGTH:
        return f"is {len(url)} characters long; at most {URL_MAX_LENGTH} are allowed."
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "must not contain spaces or control characters."
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return "must start with http:// or https://."
    if not parts.hostname:
        return "must name a host, as in https://example.com/webhooks."
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        return "has a port that is not a number between 0 and 65535."
    if allow_private:
        return None
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return f"names the host '{parts.hostname}', which cannot be resolved."
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        mapped = getattr(address, "ipv4_mapped", None)
        address = mapped or address
        if not address.is_global or address.is_multicast:
            return (
                f"resolves to {address}, a private, loopback or link-local address; "
                "webhooks are only sent to public addresses."
            )
    return None


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


def subscription_create(workspace, *, url: str, event_types: list[str] | None = None) -> WebhookSubscription:
    """A new subscription with its own ``whsec_`` secret; ``event_types`` None means every
    Latchkey event type."""
    values = _checked(url=url, event_types=event_types)
    return WebhookSubscription.objects.create(workspace=workspace, **values)


def subscription_update(subscription, *, url=NOT_GIVEN, event_types=NOT_GIVEN) -> WebhookSubscription:
    """Change the fields passed; the others stay. The secret never changes."""
    values = _checked(url=url, event_types=event_types)
    for field, value in values.items():
        setattr(subscription, field, value)
    if values:
        subscription.save(update_fields=list(values))
    return subscription


def subscription_delete(subscription) -> None:
    """Delete it, with its deliveries and their attempts."""
    subscription.delete()


def subscription_enable(subscription, *, now: datetime | None = None) -> WebhookSubscription:
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


# --- Inbound: receive ---------------------------------------------------------------------------

# Seam echoes changes made through its API (by Latchkey itself); nothing to apply.
_ECHOES = frozenset({EventType.CREATED, EventType.CHANGED, EventType.DELETED})
HANDLED_EVENT_TYPES = code_services.PROVIDER_CODE_EVENTS | code_services.PROVIDER_DEVICE_EVENTS
_REDACTED_HEADERS = ("authorization", "cookie")


@dataclass(frozen=True)
class Answer:
    """What to answer the sender, and the stored delivery."""

    status: int
    message: str
    delivery: InboundDelivery


def inbound_receive(
    *,
    source: str,
    connected_account_id,
    headers: dict,
    body: bytes,
    declared_size: int | None = None,
    now: datetime | None = None,
) -> Answer:
    """Check one callback and store it, with its verdict, in a single insert; a delivery that
    needs processing is handed to a task once stored. Nothing is applied here.

    Answers: 413 too large; 404 unknown account; 401 missing, invalid or stale signature;
    400 malformed JSON or not an event; 200 otherwise (duplicates and ignored events too, so
    the sender stops resending them).
    """
    now = now or timezone.now()
    kept = {k.lower(): ("[redacted]" if k.lower() in _REDACTED_HEADERS else v) for k, v in headers.items()}
    size = max(len(body), declared_size or 0)  # a body refused unread counts as announced
    row = InboundDelivery(
        source=source, received_at=now, headers=kept, body_size=size, verdict=Verdict.UNCHECKED
    )

    def refuse(status: int, verdict: str, reason: str) -> Answer:
        row.verdict, row.status, row.reason, row.response_status = (
            verdict,
            InboundStatus.REJECTED,
            reason,
            status,
        )
        row.save(force_insert=True)
        return Answer(status, reason, row)

    limit = settings.WEBHOOK_MAX_BODY_BYTES
    if size > limit:
        return refuse(413, Verdict.UNCHECKED, f"The body is {size} bytes; at most {limit} are accepted.")
    try:
        row.body = body.decode()
    except UnicodeDecodeError:
        row.body = body.decode(errors="replace")
        return refuse(401, Verdict.INVALID, "The body is not UTF-8 text, so no signature can match it.")
    account = ConnectedAccount.objects.filter(pk=connected_account_id, provider=source).first()
    if account is None:
        return refuse(
            404, Verdict.UNCHECKED, f"There is no {source} connected account {connected_account_id}."
        )
    row.connected_account = account

    lowered = {k.lower(): v for k, v in headers.items()}
    missing = [
        name
        for name in ("svix-id", "svix-timestamp", "svix-signature")
        if not (lowered.get(name) or lowered.get(name.replace("svix-", "webhook-")))
    ]
    if missing:
        return refuse(401, Verdict.MISSING, f"Missing signature header(s): {', '.join(missing)}.")
    try:
        event = Webhook(account.webhook_secret).verify(row.body, lowered)
    except WebhookVerificationError as exc:
        stale = "timestamp too" in str(exc)
        verdict = Verdict.STALE if stale else Verdict.INVALID
        reason = (
            "The svix-timestamp is more than 5 minutes from Latchkey's clock."
            if stale
            else "The signature does not match this account's webhook secret."
        )
        return refuse(401, verdict, reason)
    except json.JSONDecodeError as exc:  # svix parses only once the signature matched
        row.verdict = Verdict.VERIFIED
        return refuse(
            400, Verdict.VERIFIED, f"The body is not valid JSON ({exc.msg} at character {exc.pos})."
        )
    except (ValueError, TypeError) as exc:  # a garbled signature header, or an unusable secret
        return refuse(401, Verdict.INVALID, f"The signature header cannot be read ({type(exc).__name__}).")

    row.verdict = Verdict.VERIFIED
    if not isinstance(event, dict) or not all(
        isinstance(event.get(k), str) for k in ("event_id", "event_type")
    ):
        return refuse(
            400, Verdict.VERIFIED, "The body is not an event: it needs string event_id and event_type."
        )
    row.event_id = event["event_id"][:200]
    row.event_type = event["event_type"][:100]
    row.response_status = 200
    if row.event_type in _ECHOES:
        row.status, row.reason = InboundStatus.IGNORED, "An echo of a change made through Latchkey itself."
    elif row.event_type not in HANDLED_EVENT_TYPES:
        row.status, row.reason = InboundStatus.IGNORED, f"Latchkey does not act on '{row.event_type}' events."
    else:
        row.occurred_at = _parse_time(event.get("occurred_at"))
        if row.occurred_at is None:
            return refuse(
                400, Verdict.VERIFIED, "occurred_at is missing or not an ISO 8601 time with an offset."
            )
        row.status = InboundStatus.PENDING
    return _store_verified(row)


def _store_verified(row: InboundDelivery) -> Answer:
    """Insert a verified delivery; if its event_id was stored before, insert it as a repeat of
    that first one. The database's unique constraint decides, so two concurrent requests with
    one event cannot both count as first (and a first delivery costs one insert, no lookup)."""
    try:
        with transaction.atomic():
            row.save(force_insert=True)
            if row.status == InboundStatus.PENDING:
                pk = row.pk
                transaction.on_commit(lambda: _enqueue("webhooks.tasks.process_inbound", pk), robust=True)
    except IntegrityError:
        first = _first_with_event_id(row)
        if first is None:
            raise
        row.status, row.duplicate_of = InboundStatus.DUPLICATE, first
        row.reason = f"Event {row.event_id} was already received (delivery {first.pk})."
        row.save(force_insert=True)
    return Answer(200, row.reason or "Received.", row)


def _first_with_event_id(row: InboundDelivery) -> InboundDelivery | None:
    return InboundDelivery.objects.filter(
        connected_account=row.connected_account,
        event_id=row.event_id,
        verdict=Verdict.VERIFIED,
        duplicate_of__isnull=True,
    ).first()


def _parse_time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return None if timezone.is_naive(moment) else moment


def _enqueue(func: str, pk) -> None:
    """Hand work to django-q2. Losing the hand-off loses nothing: the periodic sweeps find
    stored work that is still due."""
    async_task(func, str(pk))


# --- Inbound: process ---------------------------------------------------------------------------

INBOUND_RETRY_BASE = timedelta(seconds=30)
INBOUND_RETRY_CAP = timedelta(hours=1)
INBOUND_MAX_ATTEMPTS = 8
# A pending delivery whose task has not run this long after it arrived is picked up by the sweep.
INBOUND_LOST_AFTER = timedelta(minutes=2)


def inbound_process(delivery_id, *, now: datetime | None = None) -> InboundDelivery:
    """Apply one stored delivery through ``codes.services``, in one transaction with its new
    status: processed, or ignored with the reason (unknown lock or code, older than the state
    it would overwrite). If applying it raises, nothing of it stays; it is marked failed with
    the error and retried with backoff, up to INBOUND_MAX_ATTEMPTS, then left for staff to
    replay from the admin. A delivery already processed is left alone."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            delivery = (
                InboundDelivery.objects.select_for_update(of=("self",))
                .select_related("connected_account")
                .get(pk=delivery_id)
            )
            if delivery.status not in (InboundStatus.PENDING, InboundStatus.FAILED):
                return delivery
            result = _apply(delivery, now=now)
            delivery.status = InboundStatus.PROCESSED if result.applied else InboundStatus.IGNORED
            delivery.reason = result.reason
            delivery.attempt_count += 1
            delivery.processed_at = now
            delivery.next_attempt_at = None
            delivery.save(
                update_fields=["status", "reason", "attempt_count", "processed_at", "next_attempt_at"]
            )
            return delivery
    except InboundDelivery.DoesNotExist:
        raise
    except Exception as exc:
        logger.exception("processing inbound delivery %s failed", delivery_id)
        return _record_inbound_failure(delivery_id, exc, now=now)


def _record_inbound_failure(delivery_id, exc: Exception, *, now: datetime) -> InboundDelivery:
    with transaction.atomic():
        delivery = InboundDelivery.objects.select_for_update().get(pk=delivery_id)
        if delivery.status not in (InboundStatus.PENDING, InboundStatus.FAILED):
            return delivery
        delivery.attempt_count += 1
        delivery.status = InboundStatus.FAILED
        delivery.reason = f"{type(exc).__name__}: {exc}"[:2000]
        if delivery.attempt_count < INBOUND_MAX_ATTEMPTS:
            step = min(INBOUND_RETRY_CAP, INBOUND_RETRY_BASE * 2 ** (delivery.attempt_count - 1))
            delivery.next_attempt_at = now + step
        else:
            delivery.next_attempt_at = None  # given up: the admin shows it, and can replay it
        delivery.save(update_fields=["attempt_count", "status", "reason", "next_attempt_at"])
        return delivery


def _apply(delivery: InboundDelivery, *, now: datetime) -> code_services.ReportResult:
    """Find what the event is about, within the account it came through, and report it."""
    event = json.loads(delivery.body)
    account = delivery.connected_account
    if account is None:
        return code_services.ReportResult(False, "The connected account was deleted.")
    device_ref = event.get("device_id")
    device = (
        Device.objects.filter(connected_account=account, provider_device_id=str(device_ref)).first()
        if device_ref
        else None
    )
    if delivery.event_type in code_services.PROVIDER_DEVICE_EVENTS:
        if device is None:
            return code_services.ReportResult(False, f"Unknown device {device_ref!r} on this account.")
        return code_services.device_record_provider_event(
            device=device,
            event_type=delivery.event_type,
            occurred_at=delivery.occurred_at,
            battery_level=_fraction(event.get("battery_level")),
            error_code=event.get("error_code") if isinstance(event.get("error_code"), str) else None,
            now=now,
        )
    code_ref = event.get("access_code_id")
    code = None
    if code_ref:
        codes = AccessCode.objects.filter(device__connected_account=account, provider_code_id=str(code_ref))
        code = codes.filter(device=device).first() if device else codes.first()
    if code is None:
        return code_services.ReportResult(False, f"Unknown access code {code_ref!r} on this account.")
    errors = [
        e.get("error_code") for e in event.get("errors") or [] if isinstance(e, dict) and e.get("error_code")
    ]
    on_lock = event.get("code")
    backup = event.get("backup_access_code_id")
    return code_services.access_code_record_provider_event(
        access_code=code,
        event_type=delivery.event_type,
        occurred_at=delivery.occurred_at,
        errors=tuple(str(e) for e in errors),
        code_on_lock=on_lock if isinstance(on_lock, str) else None,
        backup_provider_code_id=str(backup) if backup else None,
        now=now,
    )


def _fraction(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def inbound_replay(delivery: InboundDelivery) -> InboundDelivery:
    """Process a stored delivery again (staff, from the admin), as if it had just arrived.
    Only a verified delivery that is not a repeat can be: the others were never trusted."""
    if delivery.verdict != Verdict.VERIFIED or delivery.status in (
        InboundStatus.DUPLICATE,
        InboundStatus.REJECTED,
    ):
        raise ValidationError(
            {"inbound_delivery_id": ["only a verified, first delivery of an event can be processed again."]}
        )
    if delivery.event_type not in HANDLED_EVENT_TYPES:
        raise ValidationError(
            {"inbound_delivery_id": [f"Latchkey does not act on '{delivery.event_type}' events."]}
        )
    with transaction.atomic():
        InboundDelivery.objects.filter(pk=delivery.pk).update(
            status=InboundStatus.PENDING, next_attempt_at=None, reason=""
        )
        pk = delivery.pk
        transaction.on_commit(lambda: _enqueue("webhooks.tasks.process_inbound", pk), robust=True)
    delivery.refresh_from_db()
    return delivery


def inbound_retry_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Process failed deliveries whose retry is due, and pending ones whose task never ran."""
    now = now or timezone.now()
    due = InboundDelivery.objects.filter(
        Q(status=InboundStatus.FAILED, next_attempt_at__lte=now)
        | Q(status=InboundStatus.PENDING, received_at__lte=now - INBOUND_LOST_AFTER)
    ).order_by("received_at")
    ids = list(due.values_list("pk", flat=True)[:limit])
    for pk in ids:
        inbound_process(pk, now=now)
    return len(ids)


# --- Outbound -----------------------------------------------------------------------------------

# Seam's own schedule: after the first attempt fails, retry after these delays, then give up.
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
    deliveries_create_for_events(events)


def deliveries_create_for_events(events: list[Event]) -> list[OutboundDelivery]:
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
        pk = delivery.pk
        transaction.on_commit(lambda pk=pk: _enqueue("webhooks.tasks.deliver", pk), robust=True)
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


def delivery_attempt(delivery_id, *, now: datetime | None = None) -> OutboundDelivery | None:
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
    problem = url_problem(subscription.url)  # again: what a host resolves to can change
    if problem:
        error = f"Not sent: the URL {problem}"
    else:
        # Signed at the moment of sending: the receiver checks the timestamp against its clock.
        headers = signed_headers(
            secret=subscription.secret, message_id=delivery.message_id, body=delivery.body, at=timezone.now()
        )
        try:
            response = httpx.post(
                subscription.url,
                content=delivery.body.encode(),
                headers=headers,
                timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
                follow_redirects=False,
            )
            status_code, response_text = response.status_code, response.text[:1000]
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
        if delivery_attempt(pk, now=now) is not None:
            sent += 1
    return sent
