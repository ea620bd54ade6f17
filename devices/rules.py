"""A lock's rules for PINs and names, as pure functions over a Device's rule fields.

Pure so that services, pre-flight checks and providers ask the same questions the same way,
and so that property tests can hammer them without a database.
"""

import random
import re
import secrets
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from django.core.exceptions import ValidationError

# When a lock reports no lengths, accept what nearly every keypad takes.
DEFAULT_CODE_LENGTHS = (4, 5, 6, 7, 8)
SEQUENCE_RUN = 3  # digits in a row that count as a forbidden ascending or descending run
DEFAULT_APPEARANCE_NAME = "Guest"
_DIGITS = re.compile(r"[0-9]+")


class PinRules(Protocol):
    supported_code_lengths: list[int]
    pin_forbids_zeros: bool
    pin_forbids_sequences: bool
    pin_requires_unique_first_four: bool


class NameRules(Protocol):
    name_max_length: int | None
    name_must_be_unique: bool
    name_splits_first_last: bool


def code_lengths(device: PinRules) -> tuple[int, ...]:
    return tuple(sorted(device.supported_code_lengths)) or DEFAULT_CODE_LENGTHS


def has_sequence(pin: str, run: int = SEQUENCE_RUN) -> bool:
    """True if ``run`` consecutive digits step up or down by one (123, 876)."""
    steps = [int(b) - int(a) for a, b in zip(pin, pin[1:], strict=False)]
    for i in range(len(steps) - run + 2):
        window = steps[i : i + run - 1]
        if len(window) == run - 1 and (all(s == 1 for s in window) or all(s == -1 for s in window)):
            return True
    return False


def pin_violations(device: PinRules, pin: str, *, taken_prefixes: Collection[str] = ()) -> list[str]:
    """Every rule of the lock that ``pin`` breaks, each as a sentence naming the rule."""
    if not _DIGITS.fullmatch(pin):
        return ["must contain digits only (0-9)."]
    problems = []
    lengths = code_lengths(device)
    if len(pin) not in lengths:
        allowed = ", ".join(str(n) for n in lengths)
        problems.append(f"is {len(pin)} digits long; this lock accepts {allowed} digits.")
    if device.pin_forbids_zeros and "0" in pin:
        problems.append("contains a 0; this lock does not accept zeros.")
    if device.pin_forbids_sequences and has_sequence(pin):
        problems.append(
            f"contains a run of {SEQUENCE_RUN} ascending or descending digits; this lock forbids them."
        )
    if device.pin_requires_unique_first_four and shares_prefix(pin, taken_prefixes):
        problems.append(PREFIX_CONFLICT)
    return problems


class Conflict(ValidationError):
    """A request that is well-formed but collides with what a lock already holds (HTTP 409)."""


PREFIX_CONFLICT = "shares its first four digits with another code on this lock; they must differ."


def shares_prefix(pin: str, taken_prefixes: Collection[str]) -> bool:
    return pin[:4] in taken_prefixes


# Exhaustive search is the fallback when random draws keep hitting taken PINs; above this
# length the space is too large to scan, and too large to be nearly full anyway.
EXHAUSTIVE_MAX_LENGTH = 6


def generate_pin(
    devices: Iterable[PinRules],
    *,
    length: int | None = None,
    taken: Collection[str] = (),
    taken_prefixes: Collection[str] = (),
    rng: random.Random | None = None,
    attempts: int = 2_000,
) -> str | None:
    """A PIN every device accepts and that is not in ``taken``; None only if there is none.

    With ``length`` only that length is tried; without, each length all devices accept, the
    shortest first. Random draws come first (a guessable PIN is a weaker PIN); when they keep
    missing, the remaining space is scanned from a random point, so a nearly full lock still
    gets its last free PIN.
    """
    devices = list(devices)
    rng = rng or secrets.SystemRandom()
    lengths = [length] if length is not None else common_code_lengths(devices)

    def fits(pin: str) -> bool:
        return pin not in taken and all(
            not pin_violations(d, pin, taken_prefixes=taken_prefixes) for d in devices
        )

    for size in lengths:
        for _ in range(attempts):
            pin = "".join(rng.choice("0123456789") for _ in range(size))
            if fits(pin):
                return pin
        if size <= EXHAUSTIVE_MAX_LENGTH:
            space = 10**size
            start = rng.randrange(space)
            for offset in range(space):
                pin = str((start + offset) % space).zfill(size)
                if fits(pin):
                    return pin
    return None


def common_code_lengths(devices: Iterable[PinRules]) -> list[int]:
    sets = [set(code_lengths(d)) for d in devices]
    return sorted(set.intersection(*sets)) if sets else []


def clean_name(name: str) -> str:
    """Collapse whitespace; control characters are refused by the caller, never stored."""
    return " ".join(name.split())


def has_control_characters(name: str) -> bool:
    return any(unicodedata.category(ch).startswith("C") for ch in name)


@dataclass(frozen=True)
class Appearance:
    name: str
    first_name: str | None = None
    last_name: str | None = None

    def as_dict(self) -> dict:
        if self.first_name is None:
            return {"name": self.name}
        return {"name": self.name, "first_name": self.first_name, "last_name": self.last_name}


MIN_NAME_LENGTH = 4  # the shortest name limit a lock may declare; room for "G 99"
_MAX_NUMBERING = 1000


def fit_name(device: NameRules, name: str, *, taken: Collection[str] = ()) -> Appearance:
    """The name as it will stand on the lock: cut to its length, made unique with a number
    where the lock demands unique names, and split into first and last name where it does.

    The number goes last, so on a splitting lock it joins the last name ("Ana Souza 2" is
    Ana / Souza 2), and the name is cut further so that the number always fits the limit.
    """
    base = clean_name(name) or DEFAULT_APPEARANCE_NAME
    limit = device.name_max_length
    stem, suffix = _truncate(base, limit), ""
    fitted = stem
    if device.name_must_be_unique:
        taken_folded = {t.casefold() for t in taken}
        counter = 2
        while fitted.casefold() in taken_folded and counter < _MAX_NUMBERING:
            suffix = f" {counter}"
            # With no room left the number stands alone ("100"): numbering stops below 1000
            # and no limit is under MIN_NAME_LENGTH, so " 999" always fits.
            stem = _truncate(base, None if limit is None else max(limit - len(suffix), 0))
            fitted = (stem + suffix).strip()
            counter += 1
    if not device.name_splits_first_last:
        return Appearance(name=fitted)
    first, _, last = stem.rpartition(" ")
    if not first:  # one word: it is the first name
        first, last = last, ""
    return Appearance(name=fitted, first_name=first, last_name=(last + suffix).strip())


def _truncate(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[:limit].rstrip()


# --- Offline (algorithmic) codes -----------------------------------------------------------------


def offline_local_days(starts_at, ends_at, zone) -> tuple:
    """An offline window rounded out to the lock's local days (its property's time zone): its
    first day and the day after its last (an end at local midnight takes no day of its own)."""
    first = starts_at.astimezone(zone).date()
    end = ends_at.astimezone(zone)
    midnight = (end.hour, end.minute, end.second, end.microsecond) == (0, 0, 0, 0)
    return first, end.date() if midnight else end.date() + timedelta(days=1)


def offline_window_problem(device, starts_at, ends_at) -> str | None:
    """Why ``device`` cannot take an offline code for this window (its longest window, counted
    in its local days once rounded), or None."""
    limit = device.offline_code_max_days
    if limit is None or not device.offline_code_daily_rounding:
        return None
    first, after = offline_local_days(starts_at, ends_at, device.zone)
    days = (after - first).days
    if days <= limit:
        return None
    return (
        f"offline_window_too_long: an offline code on this lock spans at most {limit} days, counted "
        f"in whole days of {device.zone.key} ({first:%Y-%m-%d} to {after:%Y-%m-%d} is {days} days)."
    )
