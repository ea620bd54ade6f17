"""django-q2 tasks: thin, so that what they start is the same as a test's or a command's."""

from django.utils import timezone

from notifications.services import alerts, digest, guests, outbox


def sweep_alerts() -> int:
    return alerts.alerts_sweep(now=timezone.now())


def sweep_digests_and_guests() -> int:
    now = timezone.now()
    return digest.digests_send_due(now=now) + guests.guest_messages_sweep(now=now)


def send(notification_id: str) -> str | None:
    notification = outbox.notification_attempt(notification_id=notification_id, now=timezone.now())
    return None if notification is None else notification.status


def send_due_notifications() -> int:
    return outbox.notifications_send_due(now=timezone.now())
