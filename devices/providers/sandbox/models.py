"""The sandbox fleet's state, kept in the database so the web server and the worker see the
same simulated locks: their fault switches, their memory, and every command sent to them."""

from django.db import models
from django.utils import timezone


class SandboxLock(models.Model):
    """A simulated lock's switches. Each fault maps onto the catalog codes a real lock gives."""

    device = models.OneToOneField(
        "devices.Device", on_delete=models.CASCADE, primary_key=True, related_name="sandbox"
    )
    is_offline = models.BooleanField(default=False, help_text="device_offline + failed_to_set_on_device")
    hub_disconnected = models.BooleanField(
        default=False, help_text="hub_disconnected + failed_to_set_on_device"
    )
    bridge_disconnected = models.BooleanField(default=False, help_text="bridge_disconnected on the account")
    slots_full = models.BooleanField(default=False, help_text="no_space_for_access_code_on_device")
    rejects_pin_format = models.BooleanField(default=False, help_text="august_lock_bad_access_code_format")
    reports_duplicate_pin = models.BooleanField(default=False, help_text="duplicate_code_on_device")
    delays_programming = models.BooleanField(
        default=False, help_text="codes stay pending, with august_device_programming_delay"
    )
    fails_removal = models.BooleanField(default=False, help_text="failed_to_remove_from_device")
    is_removed = models.BooleanField(default=False, help_text="device_removed")
    confirmation_delay_seconds = models.PositiveIntegerField(
        default=0, help_text="How long the lock takes to confirm a code (0: at once)."
    )
    response_delay_ms = models.PositiveIntegerField(
        default=0,
        help_text="How long the lock takes to answer each command, in milliseconds (0: at once). "
        "Real locks take from a few hundred milliseconds to seconds.",
    )
    seed = models.IntegerField(default=0, help_text="Makes the lock's invented codes repeatable.")
    # Numbers the codes this lock stores, so their ids repeat from run to run.
    code_serial = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = "sandbox lock"

    def __str__(self) -> str:
        return f"Sandbox state of {self.device}"


class HeldCodeOrigin(models.TextChoices):
    LATCHKEY = "latchkey", "Set by Latchkey"
    EXTERNAL = "external", "Set outside Latchkey"


class SandboxHeldCode(models.Model):
    """One code in a simulated lock's memory."""

    lock = models.ForeignKey(SandboxLock, on_delete=models.CASCADE, related_name="held_codes")
    # "<provider_device_id>-code-<n>": unique within its account (the lock's id is part of it), as
    # a provider's ids are. Every workspace's fleet has the same lock ids, so the same code id
    # recurs in other accounts, and uniqueness is enforced per lock.
    provider_code_id = models.CharField(max_length=100)
    code = models.CharField(max_length=16)
    name = models.CharField(max_length=200, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    origin = models.CharField(max_length=10, choices=HeldCodeOrigin.choices, default=HeldCodeOrigin.LATCHKEY)
    confirmed_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty while programming is pending."
    )
    created_at = models.DateTimeField(default=timezone.now)

    # Hold or may quote a PIN: kept from whoever may not reveal PINs (devices.admin.PinGuardedAdmin).
    PIN_FIELDS = ("code",)

    class Meta:
        ordering = ["created_at", "provider_code_id"]
        constraints = [
            models.UniqueConstraint(fields=["lock", "provider_code_id"], name="sandbox_held_code_id_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name or 'code'} on {self.lock.device}"


class SandboxCommand(models.Model):
    """What was sent to a simulated lock: the lock's own record, used to prove that no code is
    ever programmed twice."""

    lock = models.ForeignKey(SandboxLock, on_delete=models.CASCADE, related_name="commands")
    action = models.CharField(max_length=10)  # set, update, remove
    provider_code_id = models.CharField(max_length=100, blank=True)
    code = models.CharField(max_length=16, blank=True)
    result = models.CharField(max_length=10)
    errors = models.JSONField(default=list, blank=True)
    sent_at = models.DateTimeField(default=timezone.now)

    # Hold or may quote a PIN: kept from whoever may not reveal PINs (devices.admin.PinGuardedAdmin).
    PIN_FIELDS = ("code",)

    class Meta:
        ordering = ["sent_at", "pk"]

    def __str__(self) -> str:
        return f"{self.action} {self.provider_code_id}: {self.result}"


class SandboxOfflineUse(models.Model):
    """A one-time offline PIN the simulated lock has opened for: it never opens again."""

    lock = models.ForeignKey(SandboxLock, on_delete=models.CASCADE, related_name="offline_uses")
    code = models.CharField(max_length=16)
    used_at = models.DateTimeField(default=timezone.now)

    # Hold or may quote a PIN: kept from whoever may not reveal PINs (devices.admin.PinGuardedAdmin).
    PIN_FIELDS = ("code",)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lock", "code"], name="sandbox_offline_use_once")]

    def __str__(self) -> str:
        return f"one-time PIN used on {self.lock.device}"
