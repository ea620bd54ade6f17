"""Bring one lock in line with one code's declared state, now.

The provider is called outside any database transaction (a slow lock must not hold the
database's write lock); its answer is then applied by ``ledger.access_code_record_outcome``
(or, for a scheduler batch, ``ledger.record_outcome`` in one ledger). When to call this is the
scheduler's business.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from codes import lifecycle
from codes.models import AccessCode, AccessCodeStatus
from codes.selectors import pins_held_on_device
from codes.services import drift, ledger
from devices.providers import provider_for
from devices.providers.base import CodeSpec, HeldCode, Outcome, Problem

logger = logging.getLogger(__name__)


def awaits_confirmation(access_code: AccessCode) -> bool:
    """The lock has the current version but has not confirmed it working yet (programming
    pending, or a scheduled code not yet live): ask the lock, never send it twice."""
    in_flight = access_code.status == AccessCodeStatus.SETTING
    scheduled = access_code.is_scheduled_on_device and access_code.status != AccessCodeStatus.SET
    # Offline codes have no provider id: there is nothing on the lock to ask about.
    return (
        (in_flight or scheduled)
        and bool(access_code.provider_code_id)
        and access_code.lock_has_current_version
    )


@dataclass(frozen=True)
class LockAnswer:
    """What the lock answered for one code, not yet recorded."""

    action: lifecycle.LockAction
    outcome: Outcome
    assigned_code: str | None = None  # an offline code's PIN, derived by the provider


def access_code_push(access_code: AccessCode, *, now: datetime | None = None) -> Outcome | None:
    """Do what the lock needs for this code now, and record the answer. Whatever goes wrong in
    the provider ends up as an error on the code for the scheduler to retry, never as an
    exception to the caller."""
    now = now or timezone.now()
    answer = call_lock(access_code, now=now)
    if answer is None:
        return None
    ledger.access_code_record_outcome(
        access_code=access_code,
        action=answer.action,
        outcome=answer.outcome,
        now=now,
        assigned_code=answer.assigned_code,
    )
    return answer.outcome


def call_lock(
    access_code: AccessCode,
    *,
    now: datetime,
    provider=None,
    adopted: set | None = None,
    offline_pins: dict | None = None,
) -> LockAnswer | None:
    """Ask the lock for what this code needs now (None: nothing), without recording the answer:
    the caller records it, outside any transaction held during the call. A provider failure
    becomes a failed, transient answer. ``adopted``: the lock copies already taken up in this
    session (see ``_unrecorded_copy``), shared by the calls of one batch; ``offline_pins``: the
    offline PINs handed out in it, by lock, not recorded yet."""
    action = lifecycle.needed_action(access_code, now=now)
    if action is None:
        return None
    try:
        provider = provider or provider_for(access_code.device.connected_account, now=now)
        return _call(
            access_code,
            action,
            provider,
            adopted=set() if adopted is None else adopted,
            offline_pins={} if offline_pins is None else offline_pins,
            now=now,
        )
    except Exception as exc:  # a provider bug or outage must not lose the code or crash a request
        logger.exception("provider call for access code %s failed", access_code.pk)
        return provider_failure(action, exc)


# Long enough for a provider's own words, short enough for an error's message.
_MESSAGE_LIMIT = 500


def failure_words(exc: BaseException) -> str:
    """An exception as people read it on a code: its type and its text."""
    text = str(exc).strip()
    words = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return words if len(words) <= _MESSAGE_LIMIT else words[: _MESSAGE_LIMIT - 1] + "…"


def provider_failure(action: lifecycle.LockAction, exc: BaseException) -> LockAnswer:
    """A provider that raised, as the answer of a lock that failed for now: retried with the
    usual backoff, and shown on the code with the provider's words."""
    generic = (
        "failed_to_set_on_device" if action is lifecycle.LockAction.SET else "failed_to_remove_from_device"
    )
    outcome = Outcome.failed(
        Problem(generic, f"The lock's provider failed ({failure_words(exc)})."), transient=True
    )
    return LockAnswer(action, outcome)


def _call(
    access_code: AccessCode,
    action: lifecycle.LockAction,
    provider,
    *,
    adopted: set,
    offline_pins: dict,
    now: datetime,
) -> LockAnswer:
    device = access_code.device
    lost = False
    if action is lifecycle.LockAction.SET and awaits_confirmation(access_code):
        polled = _poll(access_code, provider)
        if polled is not None:
            return LockAnswer(action, polled)
        lost = True  # the lock dropped it: send it again below, as a new code
    earlier = None
    if access_code.send_in_flight and (lost or not access_code.provider_code_id):
        earlier = _unrecorded_copy(access_code, provider, adopted)
    if action is lifecycle.LockAction.REMOVE:
        provider_code_id = access_code.provider_code_id or (earlier and earlier.provider_code_id)
        if not provider_code_id:
            # Never reached the lock: nothing to take off, and nothing learnt about the lock.
            return LockAnswer(action, Outcome.confirmed())
        return LockAnswer(action, provider.remove_code(device.provider_device_id, provider_code_id))
    if access_code.is_offline_access_code:
        # No two codes on a lock may open it with one PIN in overlapping windows.
        taken = pins_held_on_device(
            device,
            starts_at=access_code.starts_at,
            ends_at=access_code.ends_at,
            now=now,
            exclude_id=access_code.pk,
        ).pins
        # PINs handed out earlier in this batch are not recorded yet: avoided too.
        handed_out = offline_pins.setdefault(device.pk, set())
        taken = taken | handed_out
        outcome, pin = provider.create_offline_code(
            device.provider_device_id,
            starts_at=access_code.starts_at,
            ends_at=access_code.ends_at,
            is_one_time_use=access_code.is_one_time_use,
            avoid=frozenset(taken),
        )
        if pin is not None and pin in taken:  # a provider that picks the PIN itself (Seam)
            problem = Problem(
                "duplicate_code_on_device", "The lock's offline PIN for this window is another code's."
            )
            return LockAnswer(action, Outcome.failed(problem, transient=False))
        if pin is not None:
            handed_out.add(pin)
        return LockAnswer(action, outcome, assigned_code=pin)
    spec = code_spec(access_code)
    if access_code.provider_code_id and not lost:
        outcome = provider.update_code(device.provider_device_id, access_code.provider_code_id, spec)
    elif earlier is not None:
        # The copy an earlier attempt left, brought in line with the code as it is now (its PIN,
        # name or window may have changed since), instead of a second copy beside it.
        outcome = provider.update_code(device.provider_device_id, earlier.provider_code_id, spec)
    else:
        outcome = provider.set_code(device.provider_device_id, spec)
    return LockAnswer(action, outcome)


def code_spec(access_code: AccessCode) -> CodeSpec:
    """The code as its lock should hold it."""
    appearance = access_code.appearance or {}
    return CodeSpec(
        code=access_code.code,
        name=appearance.get("name") or access_code.name,
        first_name=appearance.get("first_name"),
        last_name=appearance.get("last_name"),
        starts_at=access_code.starts_at,
        ends_at=access_code.ends_at,
        use_native_schedule=access_code.device.has_native_scheduling and access_code.starts_at is not None,
    )


def sends_new_copy(access_code: AccessCode) -> bool:
    """A send of this code may store a new copy on the lock (whose id the answer brings):
    never sent, or sent and perhaps dropped by the lock. Offline PINs are never sent."""
    if access_code.is_offline_access_code:
        return False
    return not access_code.provider_code_id or awaits_confirmation(access_code)


def send_in_flight_marks(access_code: AccessCode) -> list[dict]:
    """``send_in_flight`` once this code's next send is written down: the sends still
    unanswered, and this one. Earlier ones are kept, so that a second death before any answer
    is recorded still leaves every copy findable."""
    mark = drift.send_mark(code_spec(access_code))
    earlier = access_code.send_in_flight or []
    return earlier if mark in earlier else [*earlier, mark]


def _unrecorded_copy(access_code: AccessCode, provider, adopted: set) -> HeldCode | None:
    """The copy of this code that an earlier, unanswered send left on the lock, if any.

    A worker killed after the lock took the code, and before the answer was recorded, leaves a
    copy under an id Latchkey never learnt. Sent again, the code would be refused as a duplicate
    PIN, or held twice; deleted, its PIN would stay on the lock. So when ``send_in_flight``
    shows a send went unanswered, the lock is asked first: a code it holds with a PIN and name
    sent then, which no other managed code (nor another code of this batch) has taken, is ours.
    """
    device = access_code.device
    marks = access_code.send_in_flight or []
    taken = adopted | set(
        AccessCode.objects.filter(device=device, is_managed=True, provider_code_id__gt="")
        .exclude(pk=access_code.pk)
        .values_list("provider_code_id", flat=True)
    )
    candidates = [
        held
        for held in provider.list_codes(device.provider_device_id)
        if drift.send_mark(held) in marks and held.provider_code_id not in taken
    ]
    if not candidates:
        return None
    # Two codes of one guest (same PIN and name, stays that do not overlap) may both be in doubt:
    # each takes the copy holding its own window, so that updating it never makes two copies
    # overlap on the lock.
    spec = code_spec(access_code)
    own = [h for h in candidates if (h.starts_at, h.ends_at) == (spec.starts_at, spec.ends_at)]
    held = (own or candidates)[0]
    logger.info("access code %s found on its lock from an unanswered send", access_code.pk)
    adopted.add(held.provider_code_id)
    return held


def _poll(access_code: AccessCode, provider) -> Outcome | None:
    """The confirmation fallback when no callback came: look at what the lock holds. None if
    the lock no longer holds the code at all, so it must be sent again."""
    held = {h.provider_code_id: h for h in provider.list_codes(access_code.device.provider_device_id)}
    found = held.get(access_code.provider_code_id)
    if found is None:
        return None
    # A listing from the provider's records, not the lock, confirms the code but not the lock.
    if found.is_set:
        return Outcome.confirmed(found.provider_code_id, reached_lock=found.reached_lock)
    return Outcome.pending(found.provider_code_id, reached_lock=found.reached_lock)
