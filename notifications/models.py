"""Telling people without waiting for them to look: staff alerts, the morning digest, and the
guest's code sent to the guest.

``NotificationChannel`` is one Apprise URL (stored encrypted); ``NotificationRule`` says who
hears what. The alerts sweep keeps one ``AlertCause`` per problem while it lasts, so a problem
is told once (then at most a daily reminder, then "resolved"). Every message, to staff or to a
guest, is a ``Notification`` row written before it is sent (an outbox), with one
``NotificationAttempt`` per try.
"""

import uuid
from datetime import time

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from codes.models import AccessCode
from devices.models import Property, Workspace


class AlertKind(models.TextChoices):
    NEW_PROBLEM = "new_problem", "New problem within the lead window"
    LOCK_ATTENTION = "lock_attention", "Lock offline or low on battery with arrivals ahead"
    NOT_READY_AT_CHECK_IN = "not_ready_at_check_in", "Code still not ready at check-in"
    FAILED_REMOVAL = "failed_removal", "Failed removal after check-out"
    WEBHOOK_DISABLED = "webhook_disabled", "Webhook subscription disabled"


def every_alert_kind() -> list[str]:
    return list(AlertKind.values)


def standard_digest_time() -> time:
    return time(8, 0)


class NotificationChannel(models.Model):
    """Where staff messages go: one Apprise URL (mailto://, slack://, json://, ntfy://, ...).
    The URL carries secrets (tokens, passwords), so it is stored encrypted like provider
    credentials and shown only masked, as Apprise's own privacy mode writes it."""

    channel_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="notification_channels")
    name = models.CharField(max_length=200)
    encrypted_url = models.TextField(editable=False)
    url_masked = models.CharField(
        max_length=500, editable=False, help_text="The URL with its secrets hidden."
    )
    service = models.CharField(max_length=100, editable=False, help_text="What Apprise says it speaks to.")
    for_guest_sms = models.BooleanField(
        "Sends guests' codes by SMS",
        default=False,
        help_text="An SMS gateway's URL naming no recipient (smseagle://token@host, "
        "twilio://sid:token@+sender, ...): each guest with a phone gets their code through it, "
        "their number added as the recipient. Staff alerts never go to it.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["workspace", "name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="notification_channel_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.service})"


class NotificationRule(models.Model):
    """Who hears what, for a workspace or one of its properties."""

    rule_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="notification_rules")
    property = models.ForeignKey(
        Property,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notification_rules",
        help_text="Empty: every property of the workspace (and workspace-wide problems).",
    )
    name = models.CharField(max_length=200)
    is_enabled = models.BooleanField(default=True)
    channels = models.ManyToManyField(NotificationChannel, blank=True, related_name="rules")
    people = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        help_text="Members of the workspace, emailed at their account's address.",
    )
    kinds = models.JSONField(default=every_alert_kind, help_text="Which alert kinds this rule sends.")
    immediate = models.BooleanField(default=True, help_text="Send alerts as problems are found.")
    digest = models.BooleanField(default=True, help_text="Send the morning digest.")
    digest_time = models.TimeField(default=standard_digest_time, help_text="In the property's time zone.")
    digest_all_clear = models.BooleanField(
        default=False, help_text='Send the digest even when there is nothing to say ("all clear").'
    )
    quiet_start = models.TimeField(null=True, blank=True, help_text="In the property's time zone.")
    quiet_end = models.TimeField(null=True, blank=True, help_text="Alerts wait until then.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["workspace", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quiet_start__isnull=True, quiet_end__isnull=True)
                | Q(quiet_start__isnull=False, quiet_end__isnull=False),
                name="notification_rule_quiet_hours_both_or_neither",
            )
        ]

    def __str__(self) -> str:
        return self.name


class AlertCause(models.Model):
    """One problem the alerts sweep found, open until it clears: the reason one problem makes
    one alert however many codes it touches, and is not told again while it lasts."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    property = models.ForeignKey(Property, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=30, choices=AlertKind.choices)
    key = models.CharField(
        max_length=200, help_text="What makes it the same problem from one sweep to the next."
    )
    title = models.CharField(max_length=300)
    link = models.CharField(max_length=500)
    next_arrival_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    last_alerted_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=AlertKind.values), name="alert_cause_kind_valid"),
            # Two sweeps at once cannot open the same problem twice.
            models.UniqueConstraint(
                fields=["workspace", "key"],
                condition=Q(resolved_at__isnull=True),
                name="alert_cause_one_open",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class MessageKind(models.TextChoices):
    ALERT = "alert", "Alert"
    REMINDER = "reminder", "Reminder"
    RESOLVED = "resolved", "Resolved"
    DIGEST = "digest", "Digest"
    TEST = "test", "Test"
    GUEST_CODE = "guest_code", "Guest's code"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Notification(models.Model):
    """One message to one target (a channel, or an email address), written before it is sent.
    ``dedupe_key`` is unique: the same message is never queued twice, whoever runs the sweep.
    A guest's message is stored with its PIN masked; the PIN is put in only as it is sent."""

    notification_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    message_kind = models.CharField(max_length=20, choices=MessageKind.choices)
    alert_kind = models.CharField(max_length=30, choices=AlertKind.choices, blank=True)
    channel = models.ForeignKey(
        NotificationChannel, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    email_to = models.EmailField(blank=True)
    phone_to = models.CharField(
        max_length=32, blank=True, help_text="A guest's phone: the recipient added to the SMS channel."
    )
    rule = models.ForeignKey(
        NotificationRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cause = models.ForeignKey(AlertCause, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    access_code = models.ForeignKey(
        AccessCode, on_delete=models.CASCADE, null=True, blank=True, related_name="guest_notifications"
    )
    pin_digest = models.CharField(max_length=64, blank=True, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text='Who pressed "send the code now".',
    )
    subject = models.CharField(max_length=300)
    body = models.TextField()
    dedupe_key = models.CharField(max_length=300, unique=True, editable=False)

    status = models.CharField(
        max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    created_at = models.DateTimeField(default=timezone.now)
    not_before = models.DateTimeField(help_text="Sent at or after this (quiet hours, retries).")
    attempt_count = models.PositiveIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=NotificationStatus.values), name="notification_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(message_kind__in=MessageKind.values), name="notification_kind_valid"
            ),
            # Exactly one target.
            models.CheckConstraint(
                condition=(Q(channel__isnull=False) & Q(email_to=""))
                | (Q(channel__isnull=True) & ~Q(email_to="")),
                name="notification_one_target",
            ),
        ]
        indexes = [models.Index(fields=["status", "not_before"], name="notification_due_idx")]

    def __str__(self) -> str:
        return f"{self.get_message_kind_display()}: {self.subject}"

    @property
    def target(self) -> str:
        if self.phone_to:
            return f"{self.phone_to} by {self.channel}"
        return str(self.channel) if self.channel_id else self.email_to


class NotificationAttempt(models.Model):
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    ok = models.BooleanField()
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-attempted_at"]

    def __str__(self) -> str:
        return f"{'sent' if self.ok else 'failed'} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"


class GuestContact(models.Model):
    """The guest of a stay: one code, or every code sharing its ``common_code_key`` (each code
    of the stay carries the same contact)."""

    access_code = models.OneToOneField(AccessCode, on_delete=models.CASCADE, related_name="guest_contact")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return self.email or self.phone


DEFAULT_GUEST_SUBJECT = "Your door code for {property_name}"
DEFAULT_GUEST_BODY = """Hello {guest_name},

Your code for {property_name} ({property_address}) is {pin}.
It opens: {doors}.
It works from {valid_from} to {valid_to} ({time_zone}).

{check_in_instructions}"""


class GuestMessageTemplate(models.Model):
    """What a property's guests receive, and when."""

    property = models.OneToOneField(Property, on_delete=models.CASCADE, related_name="guest_message_template")
    subject = models.CharField(max_length=300, default=DEFAULT_GUEST_SUBJECT)
    body = models.TextField(default=DEFAULT_GUEST_BODY)
    check_in_instructions = models.TextField(blank=True)
    lead_hours = models.PositiveIntegerField(
        default=24, help_text="Hours before arrival the guest gets the code."
    )

    def __str__(self) -> str:
        return f"Guest message of {self.property}"


class DigestDay(models.Model):
    """A rule's digest for a property on one local day was decided (sent, or nothing to say):
    the day is not looked at again, so a digest never comes late in the afternoon."""

    rule = models.ForeignKey(NotificationRule, on_delete=models.CASCADE, related_name="+")
    property = models.ForeignKey(Property, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    decided_at = models.DateTimeField(default=timezone.now)
    sent = models.BooleanField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "property", "day"], name="digest_day_once")]

    def __str__(self) -> str:
        return f"Digest of {self.property} on {self.day}"
