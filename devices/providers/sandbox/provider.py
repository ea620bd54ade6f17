"""The sandbox provider: simulated locks that behave like real ones.

Each lock keeps its memory in ``SandboxHeldCode`` rows and answers with the same catalog codes a
real lock's provider gives. Faults are switches on ``SandboxLock``, turned on from the admin or
the API's simulate routes. Nothing is random except through the lock's seed, so tests repeat.
"""

import contextlib
import functools
import random
import time
from dataclasses import replace
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from common.db import update_rows
from devices import rules
from devices.models import CAPABILITY_FIELDS, ConnectedAccount, Device
from devices.providers.base import CodeSpec, DeviceSnapshot, HeldCode, Outcome, Problem
from devices.providers.sandbox import offline
from devices.providers.sandbox.models import (
    HeldCodeOrigin,
    SandboxCommand,
    SandboxHeldCode,
    SandboxLock,
    SandboxOfflineUse,
)

# Fields a sync reports; the rest of Device (workspace, property, names chosen by the manager)
# belongs to Latchkey.
SYNCED_FIELDS = ("is_online", "battery_level", "hub_id", *CAPABILITY_FIELDS)


class SandboxProvider:
    def __init__(self, account: ConnectedAccount, *, now: datetime | None = None) -> None:
        self.account = account
        self._now = now
        self._session: _Session | None = None

    @property
    def now(self) -> datetime:
        return self._now or timezone.now()

    @contextlib.contextmanager
    def session(self, provider_device_ids):
        """Calls to these locks inside the block share one transaction: each lock's state is
        read once, under its row lock, and written back once at the end, so a sweep touching
        hundreds of locks costs a handful of queries rather than several per call. A call
        outside a session (or to a lock not named) makes a session of its own."""
        with transaction.atomic():
            session = _Session.load(self.account, provider_device_ids)
            outer, self._session = self._session, session
            try:
                yield
            finally:
                self._session = outer
            session.save()
        # Slow locks answer late, as real ones do. The wait comes after the commit: the locks
        # did the work, their answers are slow, and no database lock is held meanwhile.
        time.sleep(session.answer_delay_seconds)

    @contextlib.contextmanager
    def _memory(self, provider_device_id: str):
        """The session and the lock's state for one call."""
        session = self._session
        if session is not None and provider_device_id in session.locks:
            yield session, session.locks[provider_device_id]
            return
        with self.session([provider_device_id]):
            yield self._session, self._session.locks[provider_device_id]

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
        """Reachable, and nothing about the lock itself would refuse a code: its keypad, its
        memory (full by a switch), its PIN rules (every PIN refused by a switch)."""
        with self._memory(provider_device_id) as (_, memory):
            unreachable = self._unreachable(memory.lock, action="probe")
            if unreachable is not None:
                return unreachable
            lock, problems = memory.lock, []
            if not memory.device.has_keypad:
                problems.append(Problem("august_lock_missing_keypad", "No keypad is connected."))
            if lock.slots_full:
                problems.append(Problem("no_space_for_access_code_on_device", "Every code slot is taken."))
            if lock.rejects_pin_format:
                problems.append(Problem("august_lock_bad_access_code_format", "The lock refuses its PINs."))
        if problems:
            return Outcome.failed(*problems, transient=False, reached_lock=True)
        return Outcome.confirmed(reached_lock=True)

    # --- Codes --------------------------------------------------------------------------------

    def set_code(self, provider_device_id: str, spec: CodeSpec) -> Outcome:
        with self._memory(provider_device_id) as (session, memory):
            outcome = self._refusal(memory, spec) or self._store(session, memory, spec, existing=None)
            self._log(session, memory, "set", outcome, code=spec.code)
        return outcome

    def update_code(self, provider_device_id: str, provider_code_id: str, spec: CodeSpec) -> Outcome:
        with self._memory(provider_device_id) as (session, memory):
            existing = memory.find(provider_code_id)
            # A code removed behind our back is simply set again.
            outcome = self._refusal(memory, spec, replacing=existing) or self._store(
                session, memory, spec, existing=existing
            )
            self._log(session, memory, "update", outcome, code=spec.code, provider_code_id=provider_code_id)
        return outcome

    def remove_code(self, provider_device_id: str, provider_code_id: str) -> Outcome:
        with self._memory(provider_device_id) as (session, memory):
            outcome = self._unreachable(memory.lock, action="remove")
            if outcome is None and memory.lock.fails_removal:
                outcome = Outcome.failed(
                    Problem("failed_to_remove_from_device", "The lock did not confirm the removal."),
                    transient=True,
                )
            if outcome is None:
                held = memory.find(provider_code_id)
                if held is not None:
                    session.remove(memory, held)
                outcome = Outcome.confirmed(provider_code_id, reached_lock=True)
            self._log(session, memory, "remove", outcome, provider_code_id=provider_code_id)
        return outcome

    def list_codes(self, provider_device_id: str) -> list[HeldCode]:
        now = self.now
        with self._memory(provider_device_id) as (session, memory):
            # An unreachable lock is answered from the provider's last copy of its memory.
            live = self._unreachable(memory.lock, action="list") is None
            if not memory.lock.delays_programming:
                # The delay is over: the lock finishes what it had accepted, as real locks do.
                for held in memory.held:
                    if held.confirmed_at is None:
                        held.confirmed_at = now
                        session.store(memory, held)
            return [
                HeldCode(
                    provider_code_id=held.provider_code_id,
                    code=held.code,
                    name=held.name,
                    starts_at=held.starts_at,
                    ends_at=held.ends_at,
                    is_set=held.confirmed_at is not None and held.confirmed_at <= now,
                    reached_lock=live,
                )
                for held in memory.held
            ]

    def create_offline_code(
        self,
        provider_device_id: str,
        *,
        starts_at: datetime,
        ends_at: datetime,
        is_one_time_use: bool,
        avoid: frozenset[str] = frozenset(),
    ) -> tuple[Outcome, str | None]:
        """An algorithmic PIN for the window, rounded to the lock's own days (its property's
        time zone), the first of its variances no other code holds; the lock needs no message to
        accept it, so the answer says nothing about whether the lock can be reached."""
        with self._memory(provider_device_id) as (_, memory):
            device = memory.device
        if not device.can_program_offline_access_codes or not device.offline_code_secret:
            return Outcome.failed(
                Problem("failed_to_set_on_device", "This lock has no offline codes."), transient=False
            ), None
        daily, zone = device.offline_code_daily_rounding, device.zone
        max_days = device.offline_code_max_days or offline.MAX_DAYS
        if not offline.window_fits(starts_at, ends_at, daily_rounding=daily, zone=zone, max_days=max_days):
            limit = f"{max_days} days" if daily else f"{offline.MAX_HOURS} hours"
            return (
                Outcome.failed(
                    Problem("dormakaba_oracode_invalid_time_range", f"Offline codes span at most {limit}."),
                    transient=False,
                ),
                None,
            )
        for variance in range(offline.VARIANCES):
            pin = offline.offline_pin(
                device.offline_code_secret,
                starts_at,
                ends_at,
                daily_rounding=daily,
                one_time=is_one_time_use,
                zone=zone,
                variance=variance,
            )
            if pin not in avoid:
                return Outcome.confirmed(), pin
        return Outcome.failed(
            Problem(
                "duplicate_code_on_device",
                "Every offline PIN the lock accepts for this window is held by another code.",
            ),
            transient=False,
        ), None

    def simulate_keypad_entry(self, provider_device_id: str, pin: str) -> bool:
        """Someone types ``pin`` at the lock now: does the door open? A code in the lock's memory
        opens it inside its window; an offline PIN by the lock's own arithmetic, and a one-time
        offline PIN only the first time."""
        now = self.now
        with self._memory(provider_device_id) as (_, memory):
            device = memory.device
            for held in memory.held:
                in_window = (held.starts_at is None or held.starts_at <= now) and (
                    held.ends_at is None or now < held.ends_at
                )
                if held.code == pin and held.confirmed_at is not None and in_window:
                    return True
        if not device.can_program_offline_access_codes or not device.offline_code_secret:
            return False
        accepts = functools.partial(
            offline.lock_accepts,
            device.offline_code_secret,
            pin,
            now,
            daily_rounding=device.offline_code_daily_rounding,
            zone=device.zone,
        )
        if accepts(one_time=False):
            return True
        if not accepts(one_time=True):
            return False
        # The lock remembers a one-time PIN once it has opened for it.
        _, created = SandboxOfflineUse.objects.get_or_create(
            lock_id=device.pk, code=pin, defaults={"used_at": now}
        )
        return created

    # --- Simulation: what happens to a lock outside Latchkey ----------------------------------

    def simulate_external_change(
        self, provider_device_id: str, provider_code_id: str, *, new_code: str
    ) -> None:
        with self._memory(provider_device_id) as (session, memory):
            held = memory.find(provider_code_id)
            if held is not None:
                held.code = new_code
                session.store(memory, held)

    def simulate_external_delete(self, provider_device_id: str, provider_code_id: str) -> None:
        with self._memory(provider_device_id) as (session, memory):
            held = memory.find(provider_code_id)
            if held is not None:
                session.remove(memory, held)

    def simulate_unmanaged_code(
        self, provider_device_id: str, *, code: str | None = None, name: str = ""
    ) -> HeldCode:
        with self._memory(provider_device_id) as (session, memory):
            device, lock = memory.device, memory.lock
            rng = random.Random(f"{lock.seed}:{lock.code_serial}:{device.provider_device_id}")
            held = SandboxHeldCode(
                lock=lock,
                provider_code_id=session.next_code_id(memory),
                code=code or rules.generate_pin([device], rng=rng) or "0000",
                name=name or "Owner's code",
                origin=HeldCodeOrigin.EXTERNAL,
                confirmed_at=self.now,
            )
            session.store(memory, held)
        return HeldCode(held.provider_code_id, held.code, held.name)

    # --- Inside the lock ------------------------------------------------------------------------

    def _refusal(self, memory: "_Memory", spec: CodeSpec, replacing=None) -> Outcome | None:
        """Why the lock would not take ``spec``, as the provider would report it; None if it would."""
        unreachable = self._unreachable(memory.lock, action="set")
        if unreachable:
            return unreachable
        refusal = self._refusal_by_lock(memory, spec, replacing)
        # Any other refusal is the lock's own answer: it was reached.
        return None if refusal is None else replace(refusal, reached_lock=True)

    def _refusal_by_lock(self, memory: "_Memory", spec: CodeSpec, replacing) -> Outcome | None:
        device, lock = memory.device, memory.lock
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
        # Duplicates and free slots are judged from the lock's memory.
        others = [(h.code, h.starts_at, h.ends_at) for h in memory.held if h is not replacing]
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

    def _store(self, session: "_Session", memory: "_Memory", spec: CodeSpec, *, existing) -> Outcome:
        device, lock = memory.device, memory.lock
        native = spec.use_native_schedule and device.has_native_scheduling
        held = existing or SandboxHeldCode(lock=lock, provider_code_id=session.next_code_id(memory))
        held.code = spec.code
        held.name = spec.name
        held.starts_at = spec.starts_at if native else None
        held.ends_at = spec.ends_at if native else None
        if lock.delays_programming:
            held.confirmed_at = None
        else:
            held.confirmed_at = self.now + timedelta(seconds=lock.confirmation_delay_seconds)
        session.store(memory, held)
        if lock.delays_programming:
            return Outcome.pending(
                held.provider_code_id,
                warnings=[
                    Problem("august_device_programming_delay", "The lock has not confirmed the code yet.")
                ],
                reached_lock=True,
            )
        if lock.confirmation_delay_seconds:
            return Outcome.pending(held.provider_code_id, reached_lock=True)
        return Outcome.confirmed(held.provider_code_id, reached_lock=True)

    def _log(
        self,
        session: "_Session",
        memory: "_Memory",
        action: str,
        outcome: Outcome,
        *,
        code="",
        provider_code_id=None,
    ) -> None:
        session.answer_delay_seconds += memory.lock.response_delay_ms / 1000
        session.commands.append(
            SandboxCommand(
                lock=memory.lock,
                action=action,
                provider_code_id=provider_code_id or outcome.provider_code_id or "",
                code=code or "",
                result=outcome.result,
                errors=[p.code for p in outcome.errors],
                sent_at=self.now,
            )
        )


class _Memory:
    """One lock as a session sees it: its device, its switches and the codes it holds."""

    def __init__(self, device: Device, lock: SandboxLock, held: list[SandboxHeldCode]) -> None:
        self.device = device
        self.lock = lock
        self.held = held
        self.serial_changed = False

    def find(self, provider_code_id: str) -> SandboxHeldCode | None:
        return next((h for h in self.held if h.provider_code_id == provider_code_id), None)


class _Session:
    """Locks read together, under their row locks, and written back together by ``save``."""

    def __init__(self, locks: dict[str, _Memory]) -> None:
        self.locks = locks
        self.changed: dict[int, SandboxHeldCode] = {}  # by id(): new rows have no pk yet
        self.removed: list[SandboxHeldCode] = []
        self.commands: list[SandboxCommand] = []
        self.answer_delay_seconds = 0.0  # the locks' response_delay_ms, summed over commands

    @classmethod
    def load(cls, account: ConnectedAccount, provider_device_ids) -> "_Session":
        wanted = set(provider_device_ids)
        devices = {d.pk: d for d in account.devices.filter(provider_device_id__in=wanted)}
        missing = wanted - {d.provider_device_id for d in devices.values()}
        if missing:
            raise Device.DoesNotExist(f"no lock {sorted(missing)} on this account")
        # In primary-key order, so two sessions locking several locks never wait in a cycle.
        locking = SandboxLock.objects.select_for_update().filter(pk__in=devices).order_by("pk")
        locks = {lock.pk: lock for lock in locking}
        if len(locks) < len(devices):  # a lock made outside seed_sandbox gets its state on first use
            for pk in devices.keys() - locks.keys():
                _lock(devices[pk])
            locks = {lock.pk: lock for lock in locking.all()}
        held: dict = {pk: [] for pk in devices}
        for code in SandboxHeldCode.objects.filter(lock_id__in=devices):
            held[code.lock_id].append(code)
        return cls({d.provider_device_id: _Memory(d, locks[pk], held[pk]) for pk, d in devices.items()})

    def store(self, memory: _Memory, held: SandboxHeldCode) -> None:
        """``held`` is new or changed: in the lock's memory now, in the database at ``save``."""
        if held.pk is None and all(h is not held for h in memory.held):
            memory.held.append(held)
        self.changed[id(held)] = held

    def remove(self, memory: _Memory, held: SandboxHeldCode) -> None:
        memory.held.remove(held)
        self.changed.pop(id(held), None)
        if held.pk is not None:
            self.removed.append(held)

    def next_code_id(self, memory: _Memory) -> str:
        """The next id in this lock's series (the session holds the lock's row, so two
        commands cannot draw the same number)."""
        memory.lock.code_serial += 1
        memory.serial_changed = True
        return f"{memory.device.provider_device_id}-code-{memory.lock.code_serial}"

    def save(self) -> None:
        if self.removed:
            SandboxHeldCode.objects.filter(pk__in=[h.pk for h in self.removed]).delete()
        new = [h for h in self.changed.values() if h.pk is None]
        old = [h for h in self.changed.values() if h.pk is not None]
        SandboxHeldCode.objects.bulk_create(new)
        update_rows(old, ["code", "name", "starts_at", "ends_at", "confirmed_at"])
        update_rows([m.lock for m in self.locks.values() if m.serial_changed], ["code_serial"])
        SandboxCommand.objects.bulk_create(self.commands)


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
