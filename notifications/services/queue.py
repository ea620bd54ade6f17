"""Writing the outbox: each message a ``Notification`` row, with its cause, in the transaction
that decided it; handed to a worker once that transaction commits (``outbox`` sends it)."""

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.db import transaction
from django_q.tasks import async_task

from notifications.models import AlertCause, Notification, NotificationChannel, NotificationRule


@dataclass(frozen=True)
class Target:
    """A channel, or an email address (a person's, or a guest's)."""

    channel: NotificationChannel | None = None
    email: str = ""
    phone: str = ""  # a guest's, added to the channel as its recipient (an SMS gateway)

    @property
    def key(self) -> str:
        if self.phone:
            return f"sms:{self.channel.pk}:{self.phone}"
        return f"channel:{self.channel.pk}" if self.channel else f"email:{self.email.lower()}"


def rule_targets(rule: NotificationRule) -> list[Target]:
    """The rule's channels, then its people who have an email address. A channel that sends
    guests' codes by SMS is never a staff target."""
    targets = [Target(channel=c) for c in rule.channels.all() if not c.for_guest_sms]
    targets += [Target(email=u.email) for u in rule.people.all() if u.email and u.is_active]
    return targets


@dataclass
class Draft:
    workspace_id: UUID
    message_kind: str
    subject: str
    body: str
    dedupe_key: str
    target: Target
    not_before: datetime
    alert_kind: str = ""
    rule: NotificationRule | None = None
    cause: AlertCause | None = None
    access_code_id: UUID | None = None
    pin_digest: str = ""
    requested_by: object = None
    extra: dict = field(default_factory=dict)


def notifications_queue(drafts: list[Draft], *, now: datetime) -> list[Notification]:
    """Write the drafts whose ``dedupe_key`` is new; a key already used (by an earlier sweep,
    or by another worker's sweep at this very moment) is skipped by the database's unique
    constraint, so the same message is never queued twice. Each new row is handed to a worker
    once the transaction commits. Returns the rows written."""
    if not drafts:
        return []
    taken = set(
        Notification.objects.filter(dedupe_key__in=[d.dedupe_key for d in drafts]).values_list(
            "dedupe_key", flat=True
        )
    )
    rows, seen = [], set()
    for d in drafts:
        if d.dedupe_key in taken or d.dedupe_key in seen:
            continue
        seen.add(d.dedupe_key)
        rows.append(
            Notification(
                workspace_id=d.workspace_id,
                message_kind=d.message_kind,
                alert_kind=d.alert_kind,
                channel=d.target.channel,
                email_to=d.target.email if d.target.channel is None else "",
                phone_to=d.target.phone if d.target.channel is not None else "",
                rule=d.rule,
                cause=d.cause,
                access_code_id=d.access_code_id,
                pin_digest=d.pin_digest,
                requested_by=d.requested_by,
                subject=d.subject[:300],
                body=d.body,
                dedupe_key=d.dedupe_key[:300],
                created_at=now,
                not_before=d.not_before,
            )
        )
    # ignore_conflicts: a concurrent sweep may have written the same key since the read above.
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    written = list(Notification.objects.filter(pk__in=[r.pk for r in rows]))
    for row in written:
        if row.not_before <= now:
            pk = str(row.pk)
            transaction.on_commit(lambda pk=pk: async_task("notifications.tasks.send", pk), robust=True)
    return written
