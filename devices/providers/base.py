"""What Latchkey needs of any lock provider, in plain data.

Providers take and return these dataclasses and never see ``codes`` models: the scheduler turns
an access code into a ``CodeSpec`` and an ``Outcome`` back into statuses, errors and events.
A provider never raises for a lock's trouble; it reports it as a failed ``Outcome`` carrying
catalog codes, so a failure becomes an error with a remedy, never a crash. (Should one raise all
the same, the scheduler records the exception on every code it concerned, as a transient
failure.)

Every answer says whether it proves contact with the lock (``reached_lock``): only such an answer
may clear a reachability error (``device_offline``, ``hub_disconnected``, ...). An offline PIN
worked out by an algorithm, an answer from the provider's own records (a cache, a queue that
reaches the lock later) or a failure to get through prove nothing about the lock.
"""

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Result(StrEnum):
    CONFIRMED = "confirmed"  # the lock has it (or has dropped it) now
    PENDING = "pending"  # accepted; confirmation comes later by callback or poll
    FAILED = "failed"


@dataclass(frozen=True)
class Problem:
    """A catalog code (error or warning) reported by the provider, with its own words."""

    code: str
    message: str = ""


@dataclass(frozen=True)
class Outcome:
    result: Result
    provider_code_id: str | None = None
    errors: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    # For FAILED: True if trying again later may work by itself (offline, busy); False if
    # something must change first (bad format, no keypad, no space).
    transient: bool = False
    # The lock itself answered (it took, refused or confirmed something just now). False for an
    # answer the provider gave without the lock: the default, so nothing clears by omission.
    reached_lock: bool = False

    @classmethod
    def confirmed(
        cls, provider_code_id: str | None = None, warnings=(), *, reached_lock: bool = False
    ) -> "Outcome":
        return cls(Result.CONFIRMED, provider_code_id, warnings=tuple(warnings), reached_lock=reached_lock)

    @classmethod
    def pending(
        cls, provider_code_id: str | None = None, warnings=(), *, reached_lock: bool = False
    ) -> "Outcome":
        return cls(Result.PENDING, provider_code_id, warnings=tuple(warnings), reached_lock=reached_lock)

    @classmethod
    def failed(cls, *errors: Problem, transient: bool, warnings=(), reached_lock: bool = False) -> "Outcome":
        return cls(
            Result.FAILED,
            errors=errors,
            warnings=tuple(warnings),
            transient=transient,
            reached_lock=reached_lock,
        )


@dataclass(frozen=True)
class CodeSpec:
    """A code as the lock should hold it."""

    code: str
    name: str
    first_name: str | None = None
    last_name: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    # Ask the lock to keep the window itself; only where the device has native scheduling.
    use_native_schedule: bool = False


@dataclass(frozen=True)
class HeldCode:
    """A code as found on the lock, for drift detection and unmanaged codes."""

    provider_code_id: str
    code: str | None
    name: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    is_set: bool = True
    # Read from the lock just now, rather than from the provider's records of it.
    reached_lock: bool = False


@dataclass(frozen=True)
class DeviceSnapshot:
    """A lock as its provider reports it; keys match ``devices.models.Device`` fields."""

    provider_device_id: str
    fields: dict = field(default_factory=dict)


class Provider(Protocol):
    """One connected account's provider. ``provider_device_id`` names the lock throughout."""

    def session(self, provider_device_ids: list[str]) -> AbstractContextManager:
        """A block in which calls to these locks may be grouped (one transaction, one read of
        each lock's state); a provider with nothing to group returns a null context. The
        scheduler opens one per batch, and makes no database writes of its own inside it."""
        ...

    def sync_devices(self) -> list[DeviceSnapshot]: ...

    def probe(self, provider_device_id: str) -> Outcome:
        """Is the lock reachable and able to take a code now? CONFIRMED, or FAILED with the
        catalog codes that stand in the way. Programs nothing (pre-flight checks use it)."""
        ...

    def set_code(self, provider_device_id: str, spec: CodeSpec) -> Outcome: ...

    def update_code(self, provider_device_id: str, provider_code_id: str, spec: CodeSpec) -> Outcome: ...

    def remove_code(self, provider_device_id: str, provider_code_id: str) -> Outcome: ...

    def list_codes(self, provider_device_id: str) -> list[HeldCode]: ...

    def create_offline_code(
        self,
        provider_device_id: str,
        *,
        starts_at: datetime,
        ends_at: datetime,
        is_one_time_use: bool,
        avoid: frozenset[str] = frozenset(),
    ) -> tuple[Outcome, str | None]:
        """An offline (algorithmic) PIN for the window, and the outcome of asking for it.
        ``avoid``: PINs other codes hold on the lock in an overlapping window, which a provider
        that can choose among several PINs for a window does not hand out."""
        ...
