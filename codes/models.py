"""The access code's life: codes, their errors and warnings, backup pools, events, action attempts.

Every write goes through ``codes.services``; these classes hold data and the database rules that
must hold whoever writes (status and type values, type consistent with the window, the window's
order). Primary keys are UUIDs named as Seam names them.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from devices.models import ConnectedAccount, Device, IssueKind, IssueRecord, Workspace


class AccessCodeStatus(models.TextChoices):
    UNSET = "unset", "Unset"
    SETTING = "setting", "Setting"
    SET = "set", "Set"
    REMOVING = "removing", "Removing"
    UNKNOWN = "unknown", "Unknown"


class AccessCodeType(models.TextChoices):
    ONGOING = "ongoing", "Ongoing"
    TIME_BOUND = "time_bound", "Time-bound"


# A code that may be on its lock now (``AccessCode.may_be_on_lock``, as a query, less the offline
# test): it holds a slot until it is taken off, whatever its window says.
MAY_BE_ON_LOCK = (
    ~Q(provider_code_id="")
    | ~Q(status=AccessCodeStatus.UNSET)
    | Q(is_scheduled_on_device=True)
    | Q(send_in_flight__isnull=False)
)

# The rows the slot index holds (``access_code_slot_idx``): every code that takes a slot on its
# lock now or later (``codes.selectors.takes_slot``, which adds the window to ``now``), and live
# ones whose window is over. Not offline PINs, and not the history a lock keeps growing: codes
# deleted and off the lock.
MAY_TAKE_SLOT = Q(is_offline_access_code=False) & (Q(deleted_at__isnull=True) | MAY_BE_ON_LOCK)
# Every column ``takes_slot`` reads, so that a count of the codes taking slots on some locks is
# answered from the index alone (``codes.selectors._slot_takers_by_lock``). SQLite (3.40 here)
# counts an index as covering only when it holds every column the query names, those of the
# index's own condition included; PostgreSQL's INCLUDE would do for the tail, but SQLite has no
# INCLUDE, and one index definition serves both.
SLOT_INDEX_FIELDS = [
    "device",
    "ends_at",
    "deleted_at",
    "is_offline_access_code",
    "status",
    "provider_code_id",
    "is_scheduled_on_device",
    "send_in_flight",
]


class AccessCodeQuerySet(models.QuerySet):
    def live(self):
        """Codes not deleted: a deleted code keeps its history but is gone, as in Seam."""
        return self.filter(deleted_at__isnull=True)

    def shown(self):
        """What the API and pages list: live codes, less backup codes still held in reserve."""
        return self.live().filter(Q(is_backup=False) | Q(backup_slot__pulled_for__isnull=False))


class AccessCode(models.Model):
    access_code_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="access_codes")
    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="access_codes")

    # NULL, not "", while waiting: "no PIN yet" must never look like a PIN. (DJ001 is about
    # two empty values; here NULL is the only one.)
    code = models.CharField(  # noqa: DJ001
        max_length=16,
        null=True,
        blank=True,
        help_text="Empty while the lock's algorithm has not assigned it.",
    )
    name = models.CharField(max_length=200, blank=True)
    appearance = models.JSONField(
        default=dict, blank=True, help_text="The name as it stands on the lock: name, and first/last name."
    )
    provider_code_id = models.CharField(
        max_length=200, blank=True, default="", help_text="The provider's id for this code on the lock."
    )
    common_code_key = models.CharField(max_length=200, null=True, blank=True, db_index=True)  # noqa: DJ001

    status = models.CharField(max_length=10, choices=AccessCodeStatus.choices, default=AccessCodeStatus.UNSET)
    type = models.CharField(max_length=10, choices=AccessCodeType.choices)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)

    is_managed = models.BooleanField(default=True)
    is_scheduled_on_device = models.BooleanField(default=False)
    is_waiting_for_code_assignment = models.BooleanField(default=False)
    is_external_modification_allowed = models.BooleanField(default=False)
    is_one_time_use = models.BooleanField(default=False)
    is_offline_access_code = models.BooleanField(default=False)
    is_backup = models.BooleanField(default=False, help_text="A backup code pulled from the lock's pool.")
    use_backup_access_code_pool = models.BooleanField(default=False)
    pulled_backup_access_code = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    # What the scheduler needs. next_attempt_at is "look at this code again at"; None means
    # nothing is due until something changes.
    next_attempt_at = models.DateTimeField(null=True, blank=True, editable=False)
    attempt_count = models.PositiveIntegerField(default=0, editable=False)
    # Counts the code's changes. The lock was last sent ``sent_version``: a newer version must be
    # sent again, while an unconfirmed current one is only asked about, never sent twice.
    # (A counter, not a timestamp: two changes can share an instant.)
    version = models.PositiveIntegerField(default=1, editable=False)
    sent_version = models.PositiveIntegerField(null=True, blank=True, editable=False)
    claimed_until = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="A worker's lease on this code; expires by itself."
    )
    # Written before the lock is asked to store the code, cleared when its answer is recorded.
    # Should the worker die in between, the lock may hold a copy whose id Latchkey never learnt;
    # this is how the next attempt (or a drift check) recognises that copy.
    send_in_flight = models.JSONField(
        null=True,
        blank=True,
        editable=False,
        help_text="The PIN and name last sent to the lock as a new code, until the answer is recorded.",
    )
    preflight_passed_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Last clean pre-flight check (just-in-time locks)."
    )
    needs_review = models.BooleanField(default=False)
    review_reason = models.TextField(blank=True)
    # When the lock's provider last reported on this code (a webhook's occurred_at): reports
    # arrive out of order, and one older than this is about a state already replaced, even when
    # the newer report changed nothing Latchkey records as an event.
    last_provider_report_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The review queue's state for the current round of problems (codes.services review_*);
    # every step is also kept as a StaffAction row.
    review_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    review_acknowledged_at = models.DateTimeField(null=True, blank=True, editable=False)
    review_resolved_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Problems raised before this were resolved by staff; a newer one brings the code back.",
    )

    objects = AccessCodeQuerySet.as_manager()

    # Hold or may quote a PIN: kept from whoever may not reveal PINs (devices.admin.PinGuardedAdmin).
    PIN_FIELDS = ("code", "send_in_flight", "review_reason")

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("view_pin", "Can reveal access code PINs"),
            ("review_accesscode", "Can work the review queue"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=AccessCodeStatus.values), name="access_code_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(type__in=AccessCodeType.values), name="access_code_type_valid"
            ),
            # The type is never at odds with the window: ongoing has none, time-bound has both ends.
            models.CheckConstraint(
                condition=(
                    Q(type=AccessCodeType.ONGOING, starts_at__isnull=True, ends_at__isnull=True)
                    | Q(type=AccessCodeType.TIME_BOUND, starts_at__isnull=False, ends_at__isnull=False)
                ),
                name="access_code_type_matches_window",
            ),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="access_code_ends_after_starts",
            ),
            models.CheckConstraint(
                condition=Q(code__isnull=False) | Q(is_waiting_for_code_assignment=True),
                name="access_code_has_code_or_waits_for_one",
            ),
        ]
        indexes = [
            models.Index(fields=["device", "deleted_at"], name="access_code_device_live_idx"),
            models.Index(fields=["workspace", "created_at"], name="access_code_workspace_idx"),
            # A lock's codes newest first, as the API lists them: without it SQLite walked the
            # workspace's every code in the workspace index's order to find one lock's page.
            models.Index(fields=["device", "created_at"], name="access_code_device_page_idx"),
            models.Index(fields=["next_attempt_at"], name="access_code_due_idx"),
            # A sweep counts the codes taking slots on each batch's locks: without it, every row of
            # those locks was read (issue 17). Partial: a lock's history stays out of it.
            models.Index(fields=SLOT_INDEX_FIELDS, condition=MAY_TAKE_SLOT, name="access_code_slot_idx"),
        ]

    def __str__(self) -> str:
        return self.name or f"Access code {str(self.access_code_id)[:8]}"

    @property
    def may_be_on_lock(self) -> bool:
        """Its PIN is, or may be, in the lock's memory: the one test for whether removing it
        takes a call to the lock. An offline PIN never is: the lock was never told of it."""
        if self.is_offline_access_code:
            return False
        return (
            bool(self.provider_code_id)
            or self.status != AccessCodeStatus.UNSET
            or self.is_scheduled_on_device
            or self.send_in_flight is not None
        )

    @property
    def lock_has_current_version(self) -> bool:
        """The lock was given this version of the code (an offline code: its PIN was derived)."""
        if self.sent_version != self.version:
            return False
        return self.code is not None if self.is_offline_access_code else bool(self.provider_code_id)


class AccessCodeIssue(IssueRecord):
    """An error or warning raised on one access code."""

    access_code = models.ForeignKey(AccessCode, on_delete=models.CASCADE, related_name="issues")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=IssueKind.values), name="access_code_issue_kind_valid"
            ),
            models.UniqueConstraint(
                fields=["access_code", "kind", "code"],
                condition=Q(cleared_at__isnull=True),
                name="access_code_issue_one_active",
            ),
        ]
        indexes = [models.Index(fields=["access_code", "cleared_at"], name="access_code_issue_active_idx")]


class BackupAccessCodePool(models.Model):
    """Codes kept on a lock in reserve, handed out when a guest's own code cannot be set.

    Each backup is an ``AccessCode`` with ``is_backup`` set, so it is programmed, checked for
    drift and removed like any other code; ``BackupAccessCode`` rows record pool membership.
    Until pulled a backup is hidden from the API (Seam shows none); once pulled for a guest's
    code it takes that code's ``ends_at`` and comes off the lock after it.
    """

    device = models.OneToOneField(Device, on_delete=models.CASCADE, related_name="backup_pool")
    is_enabled = models.BooleanField(default=True)
    target_size = models.PositiveSmallIntegerField(default=3, help_text="Backup codes to keep on the lock.")
    auto_pull = models.BooleanField(
        default=False,
        help_text="Pull a backup by itself when a guest's code is still not set shortly before arrival.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"Backup pool of {self.device}"


class BackupAccessCode(models.Model):
    backup_access_code_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    pool = models.ForeignKey(BackupAccessCodePool, on_delete=models.CASCADE, related_name="backup_codes")
    access_code = models.OneToOneField(
        AccessCode,
        on_delete=models.CASCADE,
        related_name="backup_slot",
        help_text="The backup code on the lock.",
    )
    pulled_for = models.ForeignKey(
        AccessCode,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="backup_codes_pulled",
        help_text="The guest code this backup stands in for, once pulled.",
    )
    pulled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(pulled_for__isnull=True) | Q(pulled_at__isnull=False),
                name="backup_code_pulled_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"Backup code on {self.pool.device}"


class EventType(models.TextChoices):
    CREATED = "access_code.created"
    CHANGED = "access_code.changed"
    SCHEDULED_ON_DEVICE = "access_code.scheduled_on_device"
    SET_ON_DEVICE = "access_code.set_on_device"
    REMOVED_FROM_DEVICE = "access_code.removed_from_device"
    DELAY_IN_SETTING_ON_DEVICE = "access_code.delay_in_setting_on_device"
    FAILED_TO_SET_ON_DEVICE = "access_code.failed_to_set_on_device"
    DELETED = "access_code.deleted"
    DELAY_IN_REMOVING_FROM_DEVICE = "access_code.delay_in_removing_from_device"
    FAILED_TO_REMOVE_FROM_DEVICE = "access_code.failed_to_remove_from_device"
    MODIFIED_EXTERNAL_TO_SEAM = "access_code.modified_external_to_seam"
    DELETED_EXTERNAL_TO_SEAM = "access_code.deleted_external_to_seam"
    BACKUP_ACCESS_CODE_PULLED = "access_code.backup_access_code_pulled"
    # A lock's own events, as its provider reports them (access_code is empty on these).
    DEVICE_CONNECTED = "device.connected"
    DEVICE_DISCONNECTED = "device.disconnected"
    DEVICE_REMOVED = "device.removed"
    DEVICE_LOW_BATTERY = "device.low_battery"


class Event(models.Model):
    """What happened, written in the same transaction as the change it records."""

    event_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event_type = models.CharField(max_length=64, choices=EventType.choices)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="events")
    device = models.ForeignKey(Device, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    access_code = models.ForeignKey(
        AccessCode, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    connected_account = models.ForeignKey(
        ConnectedAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    payload = models.JSONField(default=dict, blank=True)

    # Hold or may quote a PIN: kept from whoever may not reveal PINs (devices.admin.PinGuardedAdmin).
    PIN_FIELDS = ("payload",)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(fields=["workspace", "occurred_at"], name="event_workspace_idx"),
            models.Index(fields=["access_code", "occurred_at"], name="event_access_code_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"


class ActionType(models.TextChoices):
    CREATE_ACCESS_CODE = "CREATE_ACCESS_CODE"
    UPDATE_ACCESS_CODE = "UPDATE_ACCESS_CODE"
    DELETE_ACCESS_CODE = "DELETE_ACCESS_CODE"


class ActionAttemptStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCESS = "success", "Success"
    ERROR = "error", "Error"


class ActionAttempt(models.Model):
    """An asynchronous action's progress, as Seam reports it: pending until the lock confirms."""

    action_attempt_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="action_attempts")
    action_type = models.CharField(max_length=40, choices=ActionType.choices)
    status = models.CharField(
        max_length=10, choices=ActionAttemptStatus.choices, default=ActionAttemptStatus.PENDING
    )
    access_code = models.ForeignKey(
        AccessCode, on_delete=models.SET_NULL, null=True, blank=True, related_name="action_attempts"
    )
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True, help_text='{"type": ..., "message": ...}')
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    # Hold or may quote a PIN: kept from whoever may not reveal PINs (devices.admin.PinGuardedAdmin).
    PIN_FIELDS = ("result", "error")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ActionAttemptStatus.values), name="action_attempt_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(action_type__in=ActionType.values), name="action_attempt_type_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status=ActionAttemptStatus.ERROR) | Q(error__isnull=False),
                name="action_attempt_error_has_detail",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action_type} ({self.status})"


class IdempotentRequest(models.Model):
    """A create request sent with an ``Idempotency-Key``, and the answer it got: a retry with the
    same key gets the same answer and never makes a second code (retried creates that made
    duplicate PINs are a top complaint about other systems). Refused requests are not kept, so a
    corrected retry may reuse the key."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    route = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the route and its parameters.")
    response = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="idempotent_request_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.route} with key {self.key[:16]}"


class StaffActionKind(models.TextChoices):
    ASSIGNED = "assigned", "Assigned"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    NOTE = "note", "Note"
    RESOLVED = "resolved", "Resolved"
    RETRIED = "retried", "Retry requested"
    PIN_REVEALED = "pin_revealed", "PIN revealed"
    GUEST_CODE_SENT = "guest_code_sent", "Code sent to the guest"


class StaffAction(models.Model):
    """What a person did to a code in the browser: review steps, retries, PIN reveals.

    Kept apart from ``Event`` on purpose: events are Seam's 13 access-code event types, the ones
    integrations receive; these are Latchkey's internal history and never leave it. The code's
    page shows both on one timeline.
    """

    access_code = models.ForeignKey(AccessCode, on_delete=models.CASCADE, related_name="staff_actions")
    kind = models.CharField(max_length=20, choices=StaffActionKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)
    problems = models.JSONField(
        default=list, blank=True, help_text="On resolving: the problems shown at that moment."
    )
    created_at = models.DateTimeField(default=timezone.now)

    # Hold or may quote a PIN: kept from whoever may not reveal PINs (devices.admin.PinGuardedAdmin).
    PIN_FIELDS = ("note", "problems")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=StaffActionKind.values), name="staff_action_kind_valid"
            ),
        ]
        indexes = [models.Index(fields=["access_code", "created_at"], name="staff_action_code_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.created_at:%Y-%m-%d %H:%M:%S}"
