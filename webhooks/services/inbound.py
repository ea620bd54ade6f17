"""Providers' callbacks. ``inbound_receive`` checks one (size, account, Svix signature, JSON) and
stores it in one insert, whatever the verdict; ``inbound_process`` applies a stored one through
``codes.services``, the only place a code's or lock's state changes."""

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from svix.webhooks import Webhook, WebhookVerificationError

from codes.models import AccessCode, EventType
from codes.services import report_batches, reports
from common.compiled import CompiledInsert
from devices.models import Device
from webhooks.models import InboundDelivery, InboundStatus, Verdict
from webhooks.services.accounts import callback_account
from webhooks.services.accounts import forget_all as forget_accounts
from webhooks.services.handoff import enqueue_on_commit, wake_batch_on_commit

logger = logging.getLogger(__name__)

# --- Inbound: receive ---------------------------------------------------------------------------

# Seam echoes changes made through its API (by Latchkey itself); nothing to apply.
_ECHOES = frozenset({EventType.CREATED, EventType.CHANGED, EventType.DELETED})
HANDLED_EVENT_TYPES = reports.PROVIDER_CODE_EVENTS | reports.PROVIDER_DEVICE_EVENTS
_REDACTED_HEADERS = ("authorization", "cookie")


# Every callback is stored in one insert, whatever its verdict: its SQL built once, not by the
# ORM each time (bench/webhooks.py).
_insert = CompiledInsert(InboundDelivery)


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
    kept = {
        _storable(k.lower()): ("[redacted]" if k.lower() in _REDACTED_HEADERS else _storable(v))
        for k, v in headers.items()
    }
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
        if verdict != Verdict.VERIFIED:
            # A stranger's body is not kept (headers, size and verdict are): otherwise anyone
            # could store megabytes here without knowing an account's secret.
            row.body = ""
        _insert.insert(row)
        return Answer(status, reason, row)

    limit = settings.WEBHOOK_MAX_BODY_BYTES
    if size > limit:
        return refuse(413, Verdict.UNCHECKED, f"The body is {size} bytes; at most {limit} are accepted.")
    if b"\x00" in body:
        # No text column takes a NUL (PostgreSQL refuses it), and no event needs one.
        return refuse(400, Verdict.UNCHECKED, "The body contains a NUL byte, which no event may contain.")
    try:
        row.body = body.decode()
    except UnicodeDecodeError:
        return refuse(401, Verdict.INVALID, "The body is not UTF-8 text, so no signature can match it.")
    account = callback_account(source=source, connected_account_id=connected_account_id)
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
    if _has_nul(event):  # "\u0000" in the JSON: its values could be stored nowhere
        return refuse(
            400, Verdict.VERIFIED, "The event contains a NUL character (\\u0000) in a value or key."
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
        if transaction.get_connection().in_atomic_block:
            # Inside a caller's transaction: a savepoint, so a duplicate leaves it usable.
            with transaction.atomic():
                _insert.insert(row)
        else:
            # One statement committed on its own: one round trip to the database, where a
            # transaction around it would add BEGIN's and COMMIT's.
            _insert.insert(row)
        if row.status == InboundStatus.PENDING:
            wake_batch_on_commit()  # at once when no transaction is open
    except IntegrityError:
        first = _first_with_event_id(row)
        if first is None:
            # Not a repeat: the account was deleted by another process since this one looked it
            # up (webhooks.services.accounts). Forgotten here, so the provider's retry hears 404.
            forget_accounts()
            raise
        row.status, row.duplicate_of = InboundStatus.DUPLICATE, first
        row.reason = f"Event {row.event_id} was already received (delivery {first.pk})."
        _insert.insert(row)
    return Answer(200, row.reason or "Received.", row)


def _first_with_event_id(row: InboundDelivery) -> InboundDelivery | None:
    return InboundDelivery.objects.filter(
        connected_account=row.connected_account,
        event_id=row.event_id,
        verdict=Verdict.VERIFIED,
        duplicate_of__isnull=True,
    ).first()


def _storable(value):
    """A header as text PostgreSQL can store (no NUL), shown escaped."""
    return value.replace("\x00", "\\x00") if isinstance(value, str) else value


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _parse_time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return None if timezone.is_naive(moment) else moment


# --- Inbound: process ---------------------------------------------------------------------------

INBOUND_RETRY_BASE = timedelta(seconds=30)
INBOUND_RETRY_CAP = timedelta(hours=1)
INBOUND_MAX_ATTEMPTS = 8
# A pending delivery whose task has not run this long after it arrived is picked up by the sweep.
INBOUND_LOST_AFTER = timedelta(minutes=2)


def inbound_process(*, delivery_id: UUID | str, now: datetime | None = None) -> InboundDelivery:
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


INBOUND_BATCH_SIZE = 200


def inbound_process_batch(*, now: datetime | None = None, limit: int = INBOUND_BATCH_SIZE) -> int:
    """Apply up to ``limit`` pending deliveries, oldest first, in one transaction, their new
    statuses written together. Runs of reports a ledger records (a code set, scheduled or
    refused by its lock: most of a fleet's callbacks) go through one ``Ledger`` each
    (``report_batches``), a few queries for the run; any other delivery, or a second one about
    the same code, ends the run and is applied alone as ``inbound_process`` applies it, so
    everything is applied in arrival order. A failing run is applied again one delivery at a
    time; a delivery whose applying raises is rolled back alone (a savepoint) and recorded as
    failed after the batch commits, to be retried as ``inbound_process`` retries. On PostgreSQL
    the batch locks its rows and skips those another process holds, so two workers share the
    pending deliveries rather than wait for each other. Returns how many were taken."""
    now = now or timezone.now()
    done, failed = [], []
    run: list = []

    def finish(delivery, result) -> None:
        delivery.status = InboundStatus.PROCESSED if result.applied else InboundStatus.IGNORED
        delivery.reason = result.reason
        delivery.attempt_count += 1
        delivery.processed_at = now
        delivery.next_attempt_at = None
        done.append(delivery)

    def apply_alone(delivery) -> None:
        try:
            with transaction.atomic():
                result = _apply(delivery, now=now)
        except Exception as exc:
            logger.exception("processing inbound delivery %s failed", delivery.pk)
            failed.append((delivery.pk, exc))
            return
        finish(delivery, result)

    def apply_run() -> None:
        if not run:
            return
        try:
            with transaction.atomic():
                results = report_batches.access_codes_record_provider_events(
                    [report for _, report in run], now=now
                )
        except Exception:
            logger.exception("a run of %s inbound deliveries failed; applying each alone", len(run))
            for delivery, _ in run:
                apply_alone(delivery)
        else:
            for (delivery, _), result in zip(run, results, strict=True):
                finish(delivery, result)
        run.clear()

    with transaction.atomic():
        batch = list(
            InboundDelivery.objects.filter(status=InboundStatus.PENDING)
            .select_for_update(of=("self",), skip_locked=True)
            .select_related("connected_account")
            .order_by("received_at", "pk")[:limit]
        )
        reports_for = _ledger_reports(batch)
        for delivery in batch:
            report = reports_for.get(delivery.pk)
            if report is None or any(r.access_code.pk == report.access_code.pk for _, r in run):
                apply_run()
            if report is None:
                apply_alone(delivery)
            else:
                run.append((delivery, report))
        apply_run()
        InboundDelivery.objects.bulk_update(
            done, ["status", "reason", "attempt_count", "processed_at", "next_attempt_at"], batch_size=500
        )
    for pk, exc in failed:
        _record_inbound_failure(pk, exc, now=now)
    return len(batch)


def _ledger_reports(batch: list[InboundDelivery]) -> dict:
    """Each delivery of ``batch`` a ledger records, as its report, by delivery id; the others
    are applied alone by ``_apply``. The codes are found as ``_find_code`` finds one, for the
    whole batch in two queries (finding them one by one was most of a batch's time)."""
    events = {}
    for delivery in batch:
        if delivery.event_type not in report_batches.LEDGER_EVENTS or delivery.connected_account_id is None:
            continue
        try:
            event = json.loads(delivery.body)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("access_code_id"):
            events[delivery.pk] = (delivery, event)
    if not events:
        return {}
    accounts = {d.connected_account_id for d, _ in events.values()}
    devices = {
        (account, ref): pk
        for account, ref, pk in Device.objects.filter(
            connected_account_id__in=accounts,
            provider_device_id__in={
                str(e.get("device_id")) for _, e in events.values() if e.get("device_id")
            },
        )
        .order_by("pk")
        .values_list("connected_account_id", "provider_device_id", "pk")
        .reverse()  # the first of any repeated id wins, as .first() would choose
    }
    codes: dict = {}
    for code in (
        AccessCode.objects.filter(
            device__connected_account_id__in=accounts,
            provider_code_id__in={str(e["access_code_id"]) for _, e in events.values()},
        )
        .annotate(account_id=F("device__connected_account_id"))
        .only("pk", "device_id", "provider_code_id")
        .order_by("pk")
    ):
        codes.setdefault((code.account_id, code.provider_code_id), []).append(code)
    found = {}
    for pk, (delivery, event) in events.items():
        account = delivery.connected_account_id
        candidates = codes.get((account, str(event["access_code_id"])), [])
        device = devices.get((account, str(event.get("device_id")))) if event.get("device_id") else None
        if device is not None:
            candidates = [c for c in candidates if c.device_id == device]
        if candidates:
            found[pk] = report_batches.CodeReport(
                access_code=candidates[0],
                event_type=delivery.event_type,
                occurred_at=delivery.occurred_at,
                errors=_error_codes(event),
            )
    return found


def _record_inbound_failure(delivery_id: UUID | str, exc: Exception, *, now: datetime) -> InboundDelivery:
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


def _apply(delivery: InboundDelivery, *, now: datetime) -> reports.ReportResult:
    """Find what the event is about, within the account it came through, and report it."""
    event = json.loads(delivery.body)
    account = delivery.connected_account
    if account is None:
        return reports.ReportResult(False, "The connected account was deleted.")
    device_ref = event.get("device_id")
    device = (
        Device.objects.filter(connected_account=account, provider_device_id=str(device_ref)).first()
        if device_ref
        else None
    )
    if delivery.event_type in reports.PROVIDER_DEVICE_EVENTS:
        if device is None:
            return reports.ReportResult(False, f"Unknown device {device_ref!r} on this account.")
        return reports.device_record_provider_event(
            device=device,
            event_type=delivery.event_type,
            occurred_at=delivery.occurred_at,
            battery_level=_fraction(event.get("battery_level")),
            error_code=event.get("error_code") if isinstance(event.get("error_code"), str) else None,
            now=now,
        )
    code = _find_code(account, event, device=device)
    if code is None:
        return reports.ReportResult(
            False, f"Unknown access code {event.get('access_code_id')!r} on this account."
        )
    on_lock = event.get("code")
    backup = event.get("backup_access_code_id")
    return reports.access_code_record_provider_event(
        access_code=code,
        event_type=delivery.event_type,
        occurred_at=delivery.occurred_at,
        errors=_error_codes(event),
        code_on_lock=on_lock if isinstance(on_lock, str) else None,
        backup_provider_code_id=str(backup) if backup else None,
        now=now,
    )


def _find_code(account, event: dict, *, device: Device | None) -> AccessCode | None:
    """The code an event names, within the account it came through (and on ``device``, the
    lock the event names, when Latchkey knows it)."""
    code_ref = event.get("access_code_id")
    if not code_ref:
        return None
    codes = AccessCode.objects.filter(device__connected_account=account, provider_code_id=str(code_ref))
    return codes.filter(device=device).first() if device else codes.first()


def _error_codes(event: dict) -> tuple[str, ...]:
    errors = event.get("errors") or []
    return tuple(
        str(e["error_code"])
        for e in (errors if isinstance(errors, list) else [])
        if isinstance(e, dict) and e.get("error_code")
    )


def _fraction(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def inbound_replay(*, delivery: InboundDelivery) -> InboundDelivery:
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
        enqueue_on_commit("webhooks.tasks.process_inbound", delivery.pk)
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
        inbound_process(delivery_id=pk, now=now)
    return len(ids)
