"""Whose locks they are and what the locks can do.

Nothing here imports ``codes``: dependencies point down the flow (webhooks -> codes -> devices).
Primary keys are UUIDs named as Seam names them (``device_id``), so foreign keys read the same
way in Python and on the wire.
"""

import base64
import builtins
import hashlib
import secrets
import uuid
import zoneinfo
from datetime import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from devices.credentials import EncryptedSecretField
from devices.rules import MIN_NAME_LENGTH

API_KEY_PREFIX = "seam_"  # Seam's SDKs refuse keys that do not start with this.
# Svix's (and so Seam's) webhook secrets are this prefix, then base64.
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_webhook_secret() -> str:
    """A fresh webhook signing secret in Svix's format: 24 random bytes, base64."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            f"'{value}' is not an IANA time zone name (for example Europe/Lisbon)."
        ) from exc


def validate_code_lengths(value) -> None:
    """A lock's PIN lengths: distinct whole numbers that fit the code column (1-16)."""
    if not isinstance(value, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in value):
        raise ValidationError("Give a list of whole numbers, for example [4, 5, 6].")
    if len(set(value)) != len(value):
        raise ValidationError("Each length may appear only once.")
    if any(not 1 <= n <= MAX_CODE_LENGTH for n in value):
        raise ValidationError(f"Each length must be between 1 and {MAX_CODE_LENGTH} digits.")


MAX_CODE_LENGTH = 16  # the widest PIN any lock takes; the access code column's width


class Workspace(models.Model):
    """The tenant: every property, device, code and API key belongs to exactly one workspace."""

    workspace_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    is_sandbox = models.BooleanField(
        default=False, help_text="Sandbox workspaces drive simulated locks only; nothing reaches a real lock."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A person's place in a workspace: staff who are not administrators see only the
    workspaces they belong to, everywhere in the browser."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "workspace"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace}"


class ApiKey(models.Model):
    """A workspace's key for the REST API. Only a SHA-256 digest is stored: keys are 32 random
    bytes, so a slow password hash would add latency to every request without adding safety."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=200, blank=True)
    key_prefix = models.CharField(max_length=16, editable=False, help_text="The key's first characters.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.key_prefix}… ({self.workspace})"

    @staticmethod
    def digest(raw_key: str) -> str:
        return hashlib.sha256(raw_key.encode()).hexdigest()

    @staticmethod
    def new_raw_key() -> str:
        return API_KEY_PREFIX + secrets.token_urlsafe(32)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


# Callables, not fixed times, as field defaults: Django's check for a fixed default (fields.W161)
# would otherwise warn whenever a command runs within seconds of 16:00 or 11:00.
def standard_check_in_time() -> time:
    return time(16, 0)


def standard_check_out_time() -> time:
    return time(11, 0)


class Property(models.Model):
    """A unit or building: groups the doors guests use, and owns the local time they live in."""

    property_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="properties")
    name = models.CharField(max_length=200)
    address = models.TextField(blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    default_check_in_time = models.TimeField(default=standard_check_in_time)
    default_check_out_time = models.TimeField(default=standard_check_out_time)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "properties"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="property_name_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class ProviderKind(models.TextChoices):
    SANDBOX = "sandbox", "Sandbox (simulated locks)"
    SEAM = "seam", "Seam API"


class ConnectedAccount(models.Model):
    """A workspace's account at a lock provider; devices are synced from it."""

    connected_account_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="connected_accounts")
    provider = models.CharField(max_length=20, choices=ProviderKind.choices, default=ProviderKind.SANDBOX)
    display_name = models.CharField(max_length=200, blank=True)
    # Provider credentials (API key, webhook secret), encrypted by the provider layer before they
    # are stored; never shown back in full.
    encrypted_credentials = models.TextField(blank=True, editable=False)
    # Verifies the provider's callbacks to /webhooks/<provider>/<id>/. For Seam it is the secret
    # of the webhook set up in Seam's console; a sandbox account gets its own.
    webhook_secret = EncryptedSecretField(  # encrypted at rest (devices.credentials)
        default=new_webhook_secret,
        editable=False,
        help_text="Signing secret (whsec_...) of the provider's callbacks to Latchkey.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(provider__in=ProviderKind.values), name="connected_account_provider_valid"
            )
        ]

    def __str__(self) -> str:
        return self.display_name or f"{self.get_provider_display()} account"


# What a lock can do: the fields a provider reports, and the admin groups as "Capabilities".
CAPABILITY_FIELDS = (
    "can_program_online_access_codes",
    "can_program_offline_access_codes",
    "has_native_scheduling",
    "has_built_in_keypad",
    "accessory_keypad_connectable",
    "accessory_keypad_connected",
    "supported_code_lengths",
    "max_active_codes_supported",
    "supports_backup_access_code_pool",
    "offline_code_max_days",
    "offline_code_daily_rounding",
)


class Device(models.Model):
    """A lock, with what it can do and the rules its PINs and names must follow."""

    device_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="devices")
    property = models.ForeignKey(
        Property, on_delete=models.SET_NULL, null=True, blank=True, related_name="devices"
    )
    connected_account = models.ForeignKey(ConnectedAccount, on_delete=models.PROTECT, related_name="devices")
    provider_device_id = models.CharField(max_length=200, help_text="The provider's own id for this lock.")
    device_type = models.CharField(max_length=100, help_text="e.g. august_lock, schlage_lock")
    display_name = models.CharField(max_length=200)
    manufacturer = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    hub_id = models.CharField(
        max_length=200,
        blank=True,
        help_text="The provider's id of the hub or bridge the lock is reached through; empty when it "
        "connects by itself or its provider does not say.",
    )

    is_online = models.BooleanField(
        default=True,
        help_text="Follows the lock's reachability errors (devices.services.device_online_follow).",
    )
    battery_level = models.FloatField(
        null=True, blank=True, help_text="0.0 to 1.0; empty when the lock does not report it."
    )

    # Capabilities, as Seam names them.
    can_program_online_access_codes = models.BooleanField(default=True)
    can_program_offline_access_codes = models.BooleanField(default=False)
    has_native_scheduling = models.BooleanField(
        default=False,
        help_text="The lock stores a code's start and end itself; otherwise codes go on just in time.",
    )
    has_built_in_keypad = models.BooleanField(default=True)
    accessory_keypad_connectable = models.BooleanField(default=False)
    accessory_keypad_connected = models.BooleanField(default=False)
    supported_code_lengths = models.JSONField(
        default=list, blank=True, validators=[validate_code_lengths], help_text="e.g. [4, 5, 6]"
    )
    max_active_codes_supported = models.PositiveIntegerField(
        null=True, blank=True, help_text="Code slots on the lock; empty when unknown."
    )
    supports_backup_access_code_pool = models.BooleanField(default=False)
    # Offline (algorithmic) codes are derived from this per-device secret and the time window.
    offline_code_secret = models.CharField(max_length=128, blank=True, editable=False)
    offline_code_max_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="The longest window an offline code may span, in whole days of the property's "
        "local time once rounded; empty when unknown.",
    )
    offline_code_daily_rounding = models.BooleanField(
        default=True,
        help_text="Offline windows are rounded out to whole days of the property's local time "
        "(otherwise to whole hours).",
    )

    # PIN rules.
    pin_forbids_zeros = models.BooleanField(default=False)
    pin_forbids_sequences = models.BooleanField(
        default=False, help_text="No run of three or more ascending or descending digits (123, 987)."
    )
    pin_requires_unique_first_four = models.BooleanField(
        default=False, help_text="No two codes on the lock may share their first four digits."
    )

    # Name rules.
    name_max_length = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(MIN_NAME_LENGTH)]
    )
    name_must_be_unique = models.BooleanField(default=False)
    name_splits_first_last = models.BooleanField(default=False)

    custom_metadata = models.JSONField(
        default=dict, blank=True, help_text="An integration's own key:value pairs (Seam's custom_metadata)."
    )

    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["connected_account", "provider_device_id"], name="device_provider_id_unique"
            ),
            models.CheckConstraint(
                condition=Q(battery_level__isnull=True) | Q(battery_level__gte=0, battery_level__lte=1),
                name="device_battery_level_range",
            ),
            models.CheckConstraint(
                condition=Q(name_max_length__isnull=True) | Q(name_max_length__gte=MIN_NAME_LENGTH),
                name="device_name_max_length_min",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @builtins.property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The lock's local time: its property's (UTC without one)."""
        return self.property.zone if self.property_id else zoneinfo.ZoneInfo("UTC")

    # builtins.property: the ``property`` field above shadows the decorator inside this class.
    @builtins.property
    def has_keypad(self) -> bool:
        return self.has_built_in_keypad or self.accessory_keypad_connected


# ``not Device.has_keypad``, as a query.
WITHOUT_KEYPAD = Q(has_built_in_keypad=False, accessory_keypad_connected=False)


class IssueKind(models.TextChoices):
    ERROR = "error", "Error"
    WARNING = "warning", "Warning"


class IssueRecord(models.Model):
    """An error or warning as a row, so its history survives after it clears.

    ``message`` is stored as raised (a provider may say more than the catalog); the meaning and
    remedy are looked up from the catalog by ``code`` when shown.
    """

    kind = models.CharField(max_length=10, choices=IssueKind.choices)
    code = models.CharField(max_length=100)
    message = models.TextField()
    is_access_code_error = models.BooleanField(default=False)
    is_device_error = models.BooleanField(default=False)
    is_connected_account_error = models.BooleanField(default=False)
    is_bridge_error = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.kind}: {self.code}"

    @property
    def is_active(self) -> bool:
        return self.cleared_at is None


class DeviceIssue(IssueRecord):
    """An error or warning on a lock, or on the provider account behind it (or one hub or
    bridge of that account). Which of a lock's codes it reaches, and how it weighs on them, is
    decided in one place: ``codes.selectors.inherited_weight``."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, null=True, blank=True, related_name="issues")
    connected_account = models.ForeignKey(
        ConnectedAccount, on_delete=models.CASCADE, null=True, blank=True, related_name="issues"
    )
    # An account's issue about one hub or bridge (``Device.hub_id``) reaches only the locks
    # behind it; empty: the whole account.
    hub_id = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=IssueKind.values), name="device_issue_kind_valid"),
            models.CheckConstraint(
                condition=Q(device__isnull=False) | Q(connected_account__isnull=False),
                name="device_issue_has_subject",
            ),
            # One active row per code and subject: raising it again keeps the original created_at.
            models.UniqueConstraint(
                fields=["device", "kind", "code"],
                condition=Q(cleared_at__isnull=True, device__isnull=False),
                name="device_issue_one_active",
            ),
            models.UniqueConstraint(
                fields=["connected_account", "hub_id", "kind", "code"],
                condition=Q(cleared_at__isnull=True, device__isnull=True),
                name="account_issue_one_active",
            ),
        ]
        indexes = [
            models.Index(fields=["device", "cleared_at"], name="device_issue_active_idx"),
            # An account's active issues (``active_issues_of_locks``, asked once per code on a
            # list page). Without it SQLite searched them through the foreign key's index, every
            # issue the account ever had, cleared ones too: with 8,000 in an account's history a
            # page of 100 codes took 76 ms instead of 1.2 ms. Two columns, so that its planner
            # prefers it to that one-column index without statistics.
            models.Index(
                fields=["connected_account", "device"],
                condition=Q(cleared_at__isnull=True),
                name="account_issue_active_idx",
            ),
        ]

    def concerns(self, device: Device) -> bool:
        """About ``device``: the lock's own issue, its account's, or that of the hub or bridge
        it is reached through."""
        if self.device_id is not None:
            return self.device_id == device.pk
        if self.hub_id and self.hub_id != device.hub_id:
            return False
        return self.connected_account_id == device.connected_account_id

    def same_subject(self, other: "DeviceIssue") -> bool:
        """Raised on the same lock, or on the same account (and hub)."""
        if self.device_id is not None or other.device_id is not None:
            return self.device_id == other.device_id
        return (self.connected_account_id, self.hub_id) == (other.connected_account_id, other.hub_id)


# The sandbox fleet's tables belong to this app; their module sits with the sandbox provider.
from devices.providers.sandbox.models import (  # noqa: E402, F401
    SandboxCommand,
    SandboxHeldCode,
    SandboxLock,
)
