"""Sending the outbox (``queue`` writes it): every message is a ``Notification`` row written (with its cause) before anything
is sent, then sent after the commit by a worker, retried with backoff, and kept with its
attempts. Sending happens outside every transaction, so a slow or failing channel holds no lock
and never delays the scheduler; a worker that dies mid-send leaves a lease that lapses, and the
next ``notifications_send_due`` picks the row up again."""

import time
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from notifications.models import Notification, NotificationAttempt, NotificationStatus
from notifications.services import channels, guests

RETRY_SCHEDULE = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
)
LEASE = timedelta(minutes=2)  # longer than one Apprise or SMTP send may take
SEND_DUE_BATCH = 200
SEND_DUE_BUDGET_SECONDS = 60  # inside django-q2's 120 s task timeout


def notification_attempt(*, notification_id: UUID | str, now: datetime | None = None) -> Notification | None:
    """Send one due notification once and record the attempt. None if it is not due, already
    finished, or claimed by another worker (a compare-and-set claim, as SQLite has no row locks)."""
    now = now or timezone.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    claimed = Notification.objects.filter(
        free, pk=notification_id, status=NotificationStatus.PENDING, not_before__lte=now
    ).update(claimed_until=now + LEASE)
    if not claimed:
        return None
    notification = Notification.objects.select_related("channel").get(pk=notification_id)
    started = time.perf_counter()
    body, cancelled = notification.body, ""
    if notification.access_code_id:
        body, cancelled = guests.body_to_send(notification)
    if cancelled:
        return _finish(notification, now=now, status=NotificationStatus.CANCELLED, error=cancelled)
    ok, error = _send(notification, body)
    duration_ms = round((time.perf_counter() - started) * 1000)
    return _record(notification, now=now, ok=ok, error=error, duration_ms=duration_ms)


def _send(notification: Notification, body: str) -> tuple[bool, str]:
    if notification.channel_id:
        result = channels.channel_send(
            notification.channel, title=notification.subject, body=body, phone=notification.phone_to
        )
        return result.ok, result.error
    if not settings.LATCHKEY_EMAIL_ENABLED:
        return False, "Email is not configured: set EMAIL_URL (e.g. smtp://user:password@host:587?tls=1)."
    try:
        EmailMessage(
            subject=notification.subject,
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[notification.email_to],
        ).send()
    except Exception as exc:  # any mail failure (socket, SMTP refusal) becomes the attempt's error
        return False, f"{type(exc).__name__}: {exc}"[:1000]
    return True, ""


def _finish(notification: Notification, *, now: datetime, status: str, error: str) -> Notification:
    Notification.objects.filter(pk=notification.pk).update(
        status=status, finished_at=now, claimed_until=None, last_error=error
    )
    notification.refresh_from_db()
    return notification


def _record(
    notification: Notification, *, now: datetime, ok: bool, error: str, duration_ms: int
) -> Notification:
    with transaction.atomic():
        NotificationAttempt.objects.create(
            notification=notification, attempted_at=now, duration_ms=duration_ms, ok=ok, error=error
        )
        notification.attempt_count += 1
        notification.claimed_until = None
        notification.last_error = error
        if ok:
            notification.status = NotificationStatus.SENT
            notification.finished_at = now
        elif notification.attempt_count <= len(RETRY_SCHEDULE):
            notification.not_before = now + RETRY_SCHEDULE[notification.attempt_count - 1]
        else:
            notification.status = NotificationStatus.FAILED
            notification.finished_at = now
        notification.save(
            update_fields=[
                "attempt_count",
                "claimed_until",
                "last_error",
                "status",
                "finished_at",
                "not_before",
            ]
        )
    return notification


def notifications_send_due(*, now: datetime | None = None) -> int:
    """Send every due notification (retries, the end of quiet hours, and first attempts whose
    task was lost), oldest first, within a time budget; the rest waits for the next run."""
    now = now or timezone.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    due = (
        Notification.objects.filter(free, status=NotificationStatus.PENDING, not_before__lte=now)
        .order_by("not_before")
        .values_list("pk", flat=True)
    )
    started, sent = time.monotonic(), 0
    for pk in list(due[:SEND_DUE_BATCH]):
        if time.monotonic() - started > SEND_DUE_BUDGET_SECONDS:
            break
        if notification_attempt(notification_id=pk, now=now) is not None:
            sent += 1
    return sent
