"""Whether a request for an access code is one its lock can take: the request in the API's
vocabulary (``AccessCodeRequest``), every rule it is checked against (``access_code_check``), and
what the check decided (``CheckedAccessCode``). Writes nothing.

Field names in validation errors are the API's (Seam's) parameter names, so an integration sees
``ends_at`` and a person in the admin sees the same field highlighted.
"""

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from codes.models import AccessCode, AccessCodeType
from codes.selectors import pins_held_on_device
from devices import rules
from devices.models import Device

NAME_MAX_LENGTH = AccessCode._meta.get_field("name").max_length
CODE_MAX_LENGTH = AccessCode._meta.get_field("code").max_length
# Far enough to hold any real booking, near enough that date arithmetic never overflows.
EARLIEST, LATEST = 2000, 2100
_FLAGS = (
    "is_offline_access_code",
    "is_one_time_use",
    "use_backup_access_code_pool",
    "allow_external_modification",
)


class CodeConflict(rules.Conflict):
    """The PIN is already on the lock, or scheduled on it, in an overlapping window (HTTP 409)."""


@dataclass(frozen=True)
class AccessCodeRequest:
    """What a caller asks for, in the API's vocabulary, before it is checked against the lock."""

    name: str = ""
    code: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    preferred_code_length: int | None = None
    is_offline_access_code: bool = False
    is_one_time_use: bool = False
    use_backup_access_code_pool: bool = False
    allow_external_modification: bool = False


@dataclass(frozen=True)
class CheckedAccessCode:
    """A request that passed every rule of its lock, with what the rules decided filled in."""

    request: AccessCodeRequest
    code: str | None
    name: str
    appearance: dict
    type: str


class _Errors:
    """Collects every problem before raising, so a caller fixes them all in one round."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.by_field.setdefault(field, []).append(message)

    def raise_if_any(self, error_class=ValidationError) -> None:
        if self.by_field:
            raise error_class({field: list(messages) for field, messages in self.by_field.items()})


def access_code_check(
    *,
    device: Device,
    request: AccessCodeRequest,
    existing: AccessCode | None = None,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> CheckedAccessCode:
    """Check ``request`` against every rule of ``device``; raise ValidationError naming each
    field and rule it breaks (CodeConflict for a PIN another code holds), or return what will
    be stored. Writes nothing.

    With ``existing`` (an update), a PIN that stays the same is not judged again by the lock's
    rules, and conflicts are only looked for when the PIN or the window changes: a code must
    stay editable when a rule tightens or a duplicate appears, which is when staff need to act.
    """
    now = now or timezone.now()
    errors = _Errors()
    r = request

    if not _check_shapes(r, errors):  # wrong types: any further rule would only add noise
        errors.raise_if_any()
    _check_window(r, errors, now=now, existing=existing)
    _check_capabilities(device, r, errors)

    pin_changed = existing is None or r.code != existing.code
    window_changed = existing is None or (r.starts_at, r.ends_at) != (existing.starts_at, existing.ends_at)
    chosen_pin = None if r.is_offline_access_code else r.code
    if chosen_pin is not None and pin_changed:
        for problem in rules.pin_violations(device, chosen_pin):
            errors.add("code", f"'{chosen_pin}' {problem}")  # at most 16 characters, checked above
    errors.raise_if_any()

    if chosen_pin is not None and not (pin_changed or window_changed):
        code = chosen_pin
    else:
        held = pins_held_on_device(
            device,
            starts_at=r.starts_at,
            ends_at=r.ends_at,
            now=now,
            exclude_id=existing.pk if existing else None,
        )
        prefixes = held.prefixes if device.pin_requires_unique_first_four else set()
        if r.is_offline_access_code:
            code = None  # the lock's algorithm assigns it
        elif chosen_pin is not None:
            if chosen_pin in held.pins:
                raise CodeConflict(
                    {
                        "code": [
                            "is already on this lock (or scheduled on it) during an overlapping time window."
                        ]
                    }
                )
            if rules.shares_prefix(chosen_pin, prefixes):
                raise CodeConflict({"code": [rules.PREFIX_CONFLICT]})
            code = chosen_pin
        else:
            code = rules.generate_pin(
                [device], length=r.preferred_code_length, taken=held.pins, taken_prefixes=prefixes, rng=rng
            )
            if code is None:
                raise ValidationError(
                    {
                        "code": [
                            "no free PIN satisfies this lock's rules; free a code on the lock or choose one."
                        ]
                    }
                )

    live_names = (
        AccessCode.objects.live()
        .filter(device=device)
        .exclude(pk=existing.pk if existing else None)
        .values_list("appearance__name", flat=True)
    )
    appearance = rules.fit_name(device, r.name, taken=[n for n in live_names if n])
    return CheckedAccessCode(
        request=r,
        code=code,
        name=rules.clean_name(r.name),
        appearance=appearance.as_dict(),
        type=AccessCodeType.ONGOING if r.starts_at is None else AccessCodeType.TIME_BOUND,
    )


def _check_shapes(r: AccessCodeRequest, errors: _Errors) -> bool:
    """Types and sizes, before any rule: a careless or hostile caller gets a named error, never
    a crash or a half-understood value (the string "false" is not false). Returns whether the
    values are well-formed enough for the lock's rules to judge."""
    before = {field: len(messages) for field, messages in errors.by_field.items()}
    if not isinstance(r.name, str):
        errors.add("name", "must be a string.")
    elif len(r.name) > NAME_MAX_LENGTH:
        errors.add("name", f"is {len(r.name)} characters long; at most {NAME_MAX_LENGTH} are allowed.")
    elif rules.has_control_characters(r.name):
        errors.add("name", "contains control characters (such as line breaks or tabs); use plain text.")
    if r.code is not None:
        if not isinstance(r.code, str):
            errors.add("code", "must be a string of digits.")
        elif len(r.code) > CODE_MAX_LENGTH:
            errors.add(
                "code", f"is {len(r.code)} characters long; no lock takes more than {CODE_MAX_LENGTH}."
            )
    for flag in _FLAGS:
        if not isinstance(getattr(r, flag), bool):
            errors.add(flag, "must be true or false.")
    length = r.preferred_code_length
    if length is not None and (isinstance(length, bool) or not isinstance(length, int)):
        errors.add("preferred_code_length", "must be a whole number.")
    for field in ("starts_at", "ends_at"):
        value = getattr(r, field)
        if value is None:
            continue
        if not isinstance(value, datetime):
            errors.add(field, "must be a date and time (ISO 8601).")
        elif timezone.is_naive(value):
            errors.add(field, "must include a time zone offset (for example 2026-12-01T15:00:00Z).")
        elif not EARLIEST <= value.astimezone(UTC).year < LATEST:
            errors.add(field, f"must fall between the years {EARLIEST} and {LATEST}.")
    # A bad name is a rule broken, not a malformed request: the other rules still get judged.
    return all(
        len(messages) == before.get(field, 0)
        for field, messages in errors.by_field.items()
        if field != "name"
    )


def _check_window(
    r: AccessCodeRequest, errors: _Errors, *, now: datetime, existing: AccessCode | None
) -> None:
    if r.starts_at is None and r.ends_at is not None:
        errors.add("starts_at", "is required when ends_at is given (leave both empty for an ongoing code).")
    elif r.starts_at is not None and r.ends_at is None:
        errors.add("ends_at", "is required when starts_at is given (leave both empty for an ongoing code).")
    elif r.starts_at is not None and r.ends_at is not None:
        if r.ends_at <= r.starts_at:
            errors.add("ends_at", "must be after starts_at.")
        elif r.ends_at <= now and not (existing and existing.ends_at == r.ends_at):
            errors.add("ends_at", "is in the past; a code must end in the future.")


def _check_capabilities(device: Device, r: AccessCodeRequest, errors: _Errors) -> None:
    if r.is_offline_access_code:
        if not device.can_program_offline_access_codes:
            errors.add("is_offline_access_code", "this lock cannot hold offline (algorithmic) codes.")
        if r.starts_at is None:
            errors.add(
                "is_offline_access_code", "offline codes must be time-bound: give starts_at and ends_at."
            )
        if r.code is not None:
            errors.add("code", "offline codes are assigned by the lock's algorithm; leave code empty.")
        if r.starts_at is not None and r.ends_at is not None and r.ends_at > r.starts_at:
            too_long = rules.offline_window_problem(device, r.starts_at, r.ends_at)
            if too_long:
                errors.add("ends_at", too_long)
    elif not device.can_program_online_access_codes:
        errors.add("device_id", "this lock cannot be programmed with online access codes.")
    if r.is_one_time_use and not r.is_offline_access_code:
        errors.add("is_one_time_use", "only offline codes can be one-time-use.")
    if r.use_backup_access_code_pool:
        if not device.supports_backup_access_code_pool:
            errors.add("use_backup_access_code_pool", "this lock does not support a backup code pool.")
        if r.starts_at is None:
            errors.add("use_backup_access_code_pool", "backup codes are only for time-bound codes.")
    if r.preferred_code_length is not None:
        lengths = rules.code_lengths(device)
        if r.preferred_code_length not in lengths:
            allowed = ", ".join(str(n) for n in lengths)
            errors.add("preferred_code_length", f"must be one of the lengths this lock accepts: {allowed}.")
