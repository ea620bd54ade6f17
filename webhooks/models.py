"""The edges: what lock providers send to Latchkey, and what Latchkey sends to integrations.

Inbound, every request to a provider's callback URL is kept as it arrived (headers, body,
signature verdict) before anything acts on it, so a delivery that fails to process is never
lost: it is retried, shown in the admin, and can be processed again from there.

Outbound, each ``codes.Event`` becomes one ``OutboundDelivery`` per subscription that wants it,
written in the event's own transaction; every HTTP attempt at it is an ``OutboundAttempt``.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from codes.models import Event
from devices.credentials import EncryptedSecretField
from devices.models import ConnectedAccount, Workspace, new_webhook_secret


class InboundSource(models.TextChoices):
    SEAM = "seam", "Seam"
    SANDBOX = "sandbox", "Sandbox"


class Verdict(models.TextChoices):
    """What the signature check said. Only ``verified`` deliveries are ever processed."""

    VERIFIED = "verified", "Verified"
    MISSING = "missing", "Signature missing"
    INVALID = "invalid", "Signature invalid"
    STALE = "stale", "Timestamp outside tolerance"
    UNCHECKED = "unchecked", "Not checked"


class InboundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    DUPLICATE = "duplicate", "Duplicate"


class InboundDelivery(models.Model):
    inbound_delivery_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.CharField(max_length=10, choices=InboundSource.choices)
    connected_account = models.ForeignKey(
        ConnectedAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    headers = models.JSONField(default=dict, blank=True)
    body = models.TextField(blank=True, help_text="As received; empty when it was refused for its size.")
    body_size = models.PositiveIntegerField(default=0)
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    status = models.CharField(max_length=10, choices=InboundStatus.choices)
    reason = models.TextField(blank=True, help_text="Why it was rejected, ignored or failed.")
    response_status = models.PositiveSmallIntegerField(help_text="The HTTP status Latchkey answered.")

    # Read from a verified body.
    event_id = models.CharField(max_length=200, blank=True)
    event_type = models.CharField(max_length=100, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    duplicate_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When a failed one is retried.")
    processed_at = models.DateTimeField(null=True, blank=True)

    # Hold or may quote a PIN: kept from whoever may not reveal PINs (devices.admin.PinGuardedAdmin).
    PIN_FIELDS = ("body",)

    class Meta:
        verbose_name = "inbound delivery"
        verbose_name_plural = "inbound deliveries"
        ordering = ["-received_at"]
        constraints = [
            models.CheckConstraint(condition=Q(verdict__in=Verdict.values), name="inbound_verdict_valid"),
            models.CheckConstraint(condition=Q(status__in=InboundStatus.values), name="inbound_status_valid"),
            models.CheckConstraint(condition=Q(source__in=InboundSource.values), name="inbound_source_valid"),
            # Only a verified delivery is acted on, and only one per event: the database's word.
            models.CheckConstraint(
                condition=Q(verdict=Verdict.VERIFIED)
                | Q(status__in=[InboundStatus.REJECTED, InboundStatus.IGNORED]),
                name="inbound_unverified_not_processed",
            ),
            models.UniqueConstraint(
                fields=["connected_account", "event_id"],
                condition=Q(verdict=Verdict.VERIFIED, duplicate_of__isnull=True) & ~Q(event_id=""),
                name="inbound_event_once",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="inbound_due_idx")]

    def __str__(self) -> str:
        return f"{self.event_type or 'delivery'} from {self.source} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class WebhookSubscription(models.Model):
    """An integration's URL and the events it wants, signed with its own secret. Seam calls it
    a webhook: ``{webhook_id, url, event_types, secret}`` on the wire."""

    webhook_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="webhook_subscriptions")
    url = models.CharField(max_length=2000)
    event_types = models.JSONField(default=list, help_text="Latchkey event types sent to this URL.")
    # Encrypted at rest with CREDENTIALS_KEY (devices.credentials), read back as whsec_...
    secret = EncryptedSecretField(default=new_webhook_secret, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    is_disabled = models.BooleanField(default=False)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.TextField(blank=True)
    failing_since = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="First failed attempt since the last success."
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "webhook subscription"
        constraints = [
            models.CheckConstraint(
                condition=Q(is_disabled=False) | Q(disabled_at__isnull=False),
                name="webhook_disabled_has_time",
            )
        ]

    def __str__(self) -> str:
        return self.url


class OutboundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class OutboundDelivery(models.Model):
    """One event for one subscription. ``body`` is fixed when the delivery is created and is
    the exact text signed and sent on every attempt."""

    outbound_delivery_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(max_length=64)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=OutboundStatus.choices, default=OutboundStatus.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    # Hold or may quote a PIN: kept from whoever may not reveal PINs (devices.admin.PinGuardedAdmin).
    PIN_FIELDS = ("body",)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "outbound delivery"
        verbose_name_plural = "outbound deliveries"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=OutboundStatus.values), name="outbound_status_valid"
            ),
            models.UniqueConstraint(fields=["subscription", "event"], name="outbound_one_per_event"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbound_due_idx")]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.subscription}"

    @property
    def message_id(self) -> str:
        """The ``svix-id`` header: the same on every attempt, so a receiver can drop repeats."""
        return f"msg_{self.outbound_delivery_id.hex}"


class OutboundAttempt(models.Model):
    delivery = models.ForeignKey(OutboundDelivery, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response_body = models.TextField(blank=True, help_text="The first 1,000 characters.")

    # Hold or may quote a PIN: kept from whoever may not reveal PINs (devices.admin.PinGuardedAdmin).
    PIN_FIELDS = ("response_body",)

    class Meta:
        ordering = ["-attempted_at"]

    def __str__(self) -> str:
        return f"{self.status_code or self.error[:40]} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"
