"""The sandbox provider: simulated locks that behave like real ones.

Each lock keeps its memory in ``SandboxHeldCode`` rows and answers with the same catalog codes a
real lock's provider gives. Faults are switches on ``SandboxLock``, turned on from the admin or
the API's simulate routes. Nothing is random except through the lock's seed, so tests repeat.
"""

import random
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from devices import rules
from devices.models import CAPABILITY_FIELDS, ConnectedAccount, Device
from devices.providers.base import CodeSpec, DeviceSnapshot, HeldCode, Outcome, Problem
from devices.providers.sandbox import offline
from devices.providers.sandbox.models import HeldCodeOrigin, SandboxCommand, SandboxHeldCode, SandboxLock

# Fields a sync reports; the rest of Device (workspace, property, names chosen by the manager)
# belongs to Latchkey.
SYNCED_FIELDS = ("is_online", "battery_level", *CAPABILITY_FIELDS)


class SandboxProvider:
    def __init__(self, account: ConnectedAccount, *, now: datetime | None = None) -> None:
        self.account = account
        self._now = now

    @property
    def now(self) -> datetime:
        return self._now or timezone.now()

    # --- Devices ------------------------------------------------------------------------------

    def sync_devices(self) -> list[DeviceSnapshot]:
        snapshots = []
        for device in self.account.devices.select_related("sandbox"):
            lock = _lock(device)
            if lock.is_removed:
                continue
            fields = {name: getattr(device, name) for name in SYNCED_FIELDS}
            fields["is_online"] = not lock.is_offline
            snapshots.append(DeviceSnapshot(device.provider_device_id, fields))
        return snapshots

    def probe(self, provider_device_id: str) -> Outcome:
        device = self._device(provider_device_id)
        lock = _lock(device)
        refusal = self._unreachable(lock, action="probe")
        if refusal is None and not device.has_keypad:
            refusal = Outcome.failed(
                Problem("august_lock_missing_keypad", "No keypad is connected."), transient=False
            )
        return refusal or Outcome.confirmed()

    # --- Codes --------------------------------------------------------------------------------

    def set_code(self, provider_device_id: str, spec: CodeSpec) -> Outcome:
        with transaction.atomic():
            device, lock = self._locked(provider_device_id)
            outcome = self._refusal(device, lock, spec) or self._store(device, lock, spec, existing=None)
            self._log(lock, "set", outcome, code=spec.code)
        return outcome

    def update_code(self, provider_device_id: str, provider_code_id: str, spec: CodeSpec) -> Outcome:
        with transaction.atomic():
            device, lock = self._locked(provider_device_id)
            existing = lock.held_codes.filter(provider_code_id=provider_code_id).first()
            # A code removed behind our back is simply set again.
            outcome = self._refusal(device, lock, spec, replacing=existing) or self._store(
                device, lock, spec, existing=existing
            )
            self._log(lock, "update", outcome, code=spec.code, provider_code_id=provider_code_id)
        return outcome

    def remove_code(self, provider_device_id: str, provider_code_id: str) -> Outcome:
        with transaction.atomic():
            device, lock = self._locked(provider_device_id)
            outcome = self._unreachable(lock, action="remove")
            if outcome is None and lock.fails_removal:
                outcome = Outcome.failed(
                    Problem("failed_to_remove_from_device", "The lock did not confirm the removal."),
                    transient=True,
                )
            if outcome is None:
                lock.held_codes.filter(provider_code_id=provider_code_id).delete()
                outcome = Outcome.confirmed(provider_code_id)
            self._log(lock, "remove", outcome, provider_code_id=provider_code_id)
        return outcome

    def list_codes(self, provider_device_id: str) -> list[HeldCode]:
        device = self._device(provider_device_id)
        lock = _lock(device)
        now = self.now
        if not lock.delays_programming:
            # The delay is over: the lock finishes what it had accepted, as real locks do.
            lock.held_codes.filter(confirmed_at__isnull=True).update(confirmed_at=now)
        return [
            HeldCode(
                provider_code_id=held.provider_code_id,
                code=held.code,
                name=held.name,
                starts_at=held.starts_at,
                ends_at=held.ends_at,
                is_set=held.confirmed_at is not None and held.confirmed_at <= now,
            )
            for held in lock.held_codes.all()
        ]

    def create_offline_code(
        self, provider_device_id: str, *, starts_at: datetime, ends_at: datetime, is_one_time_use: bool
    ) -> tuple[Outcome, str | None]:
        """An algorithmic PIN for the window; the lock needs no message to accept it."""
        device = self._device(provider_device_id)
        if not device.can_program_offline_access_codes or not device.offline_code_secret:
            return Outcome.failed(
                Problem("failed_to_set_on_device", "This lock has no offline codes."), transient=False
            ), None
        if not offline.window_fits(starts_at, ends_at, daily_rounding=True):
            return (
                Outcome.failed(
                    Problem("dormakaba_oracode_invalid_time_range", "Offline codes span at most 31 days."),
                    transient=False,
                ),
                None,
            )
        pin = offline.offline_pin(
            device.offline_code_secret, starts_at, ends_at, daily_rounding=True, one_time=is_one_time_use
        )
        return Outcome.confirmed(), pin

    # --- Simulation: what happens to a lock outside Latchkey ----------------------------------

    def simulate_external_change(
        self, provider_device_id: str, provider_code_id: str, *, new_code: str
    ) -> None:
        lock = _lock(self._device(provider_device_id))
        lock.held_codes.filter(provider_code_id=provider_code_id).update(code=new_code)

    def simulate_external_delete(self, provider_device_id: str, provider_code_id: str) -> None:
        lock = _lock(self._device(provider_device_id))
        lock.held_codes.filter(provider_code_id=provider_code_id).delete()

    def simulate_unmanaged_code(
        self, provider_device_id: str, *, code: str | None = None, name: str = ""
    ) -> HeldCode:
        device = self._device(provider_device_id)
        lock = _lock(device)
        rng = random.Random(f"{lock.seed}:{lock.code_serial}:{device.provider_device_id}")
        pin = code or rules.generate_pin([device], rng=rng) or "0000"
        with transaction.atomic():
            device, lock = self._locked(provider_device_id)
            code_id = self._next_code_id(device, lock)
        held = SandboxHeldCode.objects.create(
            lock=lock,
            provider_code_id=code_id,
            code=pin,
            name=name or "Owner's code",
            origin=HeldCodeOrigin.EXTERNAL,
            confirmed_at=self.now,
        )
        return HeldCode(held.provider_code_id, held.code, held.name)

    # --- Inside the lock ------------------------------------------------------------------------

    def _refusal(self, device: Device, lock: SandboxLock, spec: CodeSpec, replacing=None) -> Outcome | None:
        """Why the lock would not take ``spec``, as the provider would report it; None if it would."""
        unreachable = self._unreachable(lock, action="set")
        if unreachable:
            return unreachable
        if not device.can_program_online_access_codes:
            return _set_failed("failed_to_set_on_device", "This lock takes no online codes.", transient=False)
        if not device.has_keypad:
            return _set_failed(
                "august_lock_missing_keypad", "No keypad is connected to this lock.", transient=False
            )
        if lock.rejects_pin_format or rules.pin_violations(device, spec.code):
            lengths = rules.code_lengths(device)
            if len(spec.code) not in lengths:
                return _set_failed(
                    "august_lock_invalid_code_length", f"The lock takes {lengths} digits.", transient=False
                )
            return _set_failed(
                "august_lock_bad_access_code_format", "The lock rejected the PIN's format.", transient=False
            )
        # The lock's memory, read once: duplicates and free slots are judged from it.
        others = list(
            lock.held_codes.exclude(pk=replacing.pk if replacing else None).values_list(
                "code", "starts_at", "ends_at"
            )
        )
        if lock.reports_duplicate_pin or any(
            code == spec.code and _overlaps(spec, s, e) for code, s, e in others
        ):
            return _set_failed(
                "duplicate_code_on_device", "The lock already holds this PIN.", transient=False
            )
        slots = device.max_active_codes_supported
        if replacing is None and (lock.slots_full or (slots is not None and len(others) >= slots)):
            return _set_failed(
                "no_space_for_access_code_on_device", "Every code slot on the lock is taken.", transient=False
            )
        return None

    def _unreachable(self, lock: SandboxLock, *, action: str) -> Outcome | None:
        """The lock cannot be reached: the lock-level code, plus the code-level failure of the
        action tried (a probe tries none, so it reports the lock-level code alone)."""
        generic = {"set": "failed_to_set_on_device", "remove": "failed_to_remove_from_device"}
        also = (Problem(generic[action]),) if action in generic else ()
        if lock.is_removed:
            return Outcome.failed(
                Problem("device_removed", "The lock was removed from the account."), transient=False
            )
        for fault, code in (
            ("bridge_disconnected", "bridge_disconnected"),
            ("hub_disconnected", "hub_disconnected"),
            ("is_offline", "device_offline"),
        ):
            if getattr(lock, fault):
                return Outcome.failed(Problem(code), *also, transient=True)
        return None

    def _store(self, device: Device, lock: SandboxLock, spec: CodeSpec, *, existing) -> Outcome:
        native = spec.use_native_schedule and device.has_native_scheduling
        held = existing or SandboxHeldCode(lock=lock, provider_code_id=self._next_code_id(device, lock))
        held.code = spec.code
        held.name = spec.name
        held.starts_at = spec.starts_at if native else None
        held.ends_at = spec.ends_at if native else None
        if lock.delays_programming:
            held.confirmed_at = None
        else:
            held.confirmed_at = self.now + timedelta(seconds=lock.confirmation_delay_seconds)
        held.save()
        if lock.delays_programming:
            return Outcome.pending(
                held.provider_code_id,
                warnings=[
                    Problem("august_device_programming_delay", "The lock has not confirmed the code yet.")
                ],
            )
        if lock.confirmation_delay_seconds:
            return Outcome.pending(held.provider_code_id)
        return Outcome.confirmed(held.provider_code_id)

    def _next_code_id(self, device: Device, lock: SandboxLock) -> str:
        """The next id in this lock's series. Callers hold the lock's row (``_locked``), so
        two commands cannot draw the same number."""
        lock.code_serial += 1
        SandboxLock.objects.filter(pk=lock.pk).update(code_serial=lock.code_serial)
        return f"{device.provider_device_id}-code-{lock.code_serial}"

    def _device(self, provider_device_id: str) -> Device:
        return self.account.devices.get(provider_device_id=provider_device_id)

    def _locked(self, provider_device_id: str) -> tuple[Device, SandboxLock]:
        device = self._device(provider_device_id)
        lock = SandboxLock.objects.select_for_update().filter(pk=device.pk).first()
        if lock is None:  # a lock made outside seed_sandbox gets its state on first use
            _lock(device)
            lock = SandboxLock.objects.select_for_update().get(pk=device.pk)
        return device, lock

    def _log(
        self, lock: SandboxLock, action: str, outcome: Outcome, *, code="", provider_code_id=None
    ) -> None:
        SandboxCommand.objects.create(
            lock=lock,
            action=action,
            provider_code_id=provider_code_id or outcome.provider_code_id or "",
            code=code or "",
            result=outcome.result,
            errors=[p.code for p in outcome.errors],
            sent_at=self.now,
        )


def _lock(device: Device) -> SandboxLock:
    lock, _ = SandboxLock.objects.get_or_create(device=device)
    return lock


def _overlaps(spec: CodeSpec, starts_at, ends_at) -> bool:
    """Does a held code's window meet the spec's? No window means always."""
    if spec.starts_at is None or spec.ends_at is None or starts_at is None or ends_at is None:
        return True
    return starts_at < spec.ends_at and ends_at > spec.starts_at


def _set_failed(code: str, message: str, *, transient: bool) -> Outcome:
    return Outcome.failed(Problem(code, message), Problem("failed_to_set_on_device"), transient=transient)
