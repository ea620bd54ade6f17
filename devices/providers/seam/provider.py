"""Real locks through the Seam API, with the official ``seam`` SDK.

Seam keeps each code's schedule itself, so a code goes to Seam with its window once and Seam
sets it on the lock when due. Seam's answer to a command is rarely final: a code comes back
``setting`` or ``unset`` and its confirmation arrives later, by webhook or by polling.

Seam answers commands about codes from its own records and reaches the lock later, so those
answers never prove contact with the lock (``Outcome.reached_lock``): the lock's confirmation
comes as an event. Only a device that Seam reports online now does.

Where Seam's published fake server and the real API differ, this driver uses what works on
both: update and delete are sent as POST with a JSON body, which the real API accepts on every
route, while the SDK's own ``update`` (PATCH) and ``delete`` (DELETE) are refused by the fake.
"""

import contextlib
from datetime import datetime

import httpx
from django.utils import timezone
from seam import Seam
from seam.exceptions import SeamHttpApiError, SeamHttpUnauthorizedError

from devices import credentials
from devices.models import ConnectedAccount
from devices.providers.base import CodeSpec, DeviceSnapshot, HeldCode, Outcome, Problem


def takes_pin_codes(raw: dict) -> bool:
    """Locks say so with Seam's capability flags. (The fake server lists the access_code
    capability on its thermostat and noise sensor too, so that list alone is not enough.)"""
    return bool(raw.get("can_program_online_access_codes") or raw.get("can_program_offline_access_codes"))


class SeamProvider:
    def __init__(self, account: ConnectedAccount, *, seam: Seam | None = None) -> None:
        self.account = account
        self.seam = seam or seam_client(credentials.decrypt(account.encrypted_credentials))

    def session(self, provider_device_ids: list[str]) -> contextlib.nullcontext:
        """Each call is its own HTTP request: nothing to group."""
        return contextlib.nullcontext()

    # --- Devices ------------------------------------------------------------------------------

    def sync_devices(self) -> list[DeviceSnapshot]:
        devices = self._post("/devices/list", {})["devices"]
        return [device_snapshot(raw) for raw in devices if takes_pin_codes(raw)]

    def probe(self, provider_device_id: str) -> Outcome:
        try:
            raw = self._post("/devices/get", {"device_id": provider_device_id})["device"]
        except (SeamHttpApiError, httpx.HTTPError) as exc:
            outcome = failure(exc, setting=True)
            return Outcome.failed(
                *[p for p in outcome.errors if p.code != "failed_to_set_on_device"] or outcome.errors,
                transient=outcome.transient,
            )
        problems = [
            Problem(e.get("error_code", "device_disconnected"), e.get("message", ""))
            for e in raw.get("errors") or []
        ]
        online = (raw.get("properties") or {}).get("online")
        if online is False:
            problems.append(Problem("device_offline", "Seam reports the lock offline."))
        if problems:
            return Outcome.failed(*problems, transient=True)
        # Seam's own word that it is in touch with the lock now; no word, no proof.
        return Outcome.confirmed(reached_lock=online is True)

    # --- Codes --------------------------------------------------------------------------------

    def set_code(self, provider_device_id: str, spec: CodeSpec) -> Outcome:
        try:
            created = self.seam.access_codes.create(
                device_id=provider_device_id,
                code=spec.code,
                name=spec.name,
                starts_at=_iso(spec.starts_at),
                ends_at=_iso(spec.ends_at),
            )
        except (SeamHttpApiError, httpx.HTTPError) as exc:
            return failure(exc, setting=True)
        return _outcome_for_status(
            created.status,
            created.access_code_id,
            created.warnings,
            getattr(created, "is_scheduled_on_device", None),
            starts_at=spec.starts_at,
        )

    def update_code(self, provider_device_id: str, provider_code_id: str, spec: CodeSpec) -> Outcome:
        body = {"access_code_id": provider_code_id, "code": spec.code, "name": spec.name}
        if spec.starts_at is not None:
            body.update(starts_at=_iso(spec.starts_at), ends_at=_iso(spec.ends_at))
        else:
            body["type"] = "ongoing"
        try:
            self._post("/access_codes/update", body)
            current = self._post("/access_codes/get", {"access_code_id": provider_code_id})["access_code"]
        except SeamHttpApiError as exc:
            if exc.code == "access_code_not_found":  # removed outside Latchkey: set it anew
                return self.set_code(provider_device_id, spec)
            return failure(exc, setting=True)
        except httpx.HTTPError as exc:
            return failure(exc, setting=True)
        return _outcome_for_status(
            current["status"],
            provider_code_id,
            current.get("warnings"),
            current.get("is_scheduled_on_device"),
            starts_at=spec.starts_at,
        )

    def remove_code(self, provider_device_id: str, provider_code_id: str) -> Outcome:
        try:
            self._post("/access_codes/delete", {"access_code_id": provider_code_id})
        except SeamHttpApiError as exc:
            if exc.code == "access_code_not_found":  # already gone
                return Outcome.confirmed(provider_code_id)
            return failure(exc, setting=False)
        except httpx.HTTPError as exc:
            return failure(exc, setting=False)
        return Outcome.confirmed(provider_code_id)

    def list_codes(self, provider_device_id: str) -> list[HeldCode]:
        managed = self.seam.access_codes.list(device_id=provider_device_id)
        unmanaged = self.seam.access_codes.unmanaged.list(device_id=provider_device_id)
        # Kept to this lock's codes on our side too: Seam's fake server answers with every lock's
        # codes whatever device_id says, and a code of another lock taken for this one's would
        # look like a stranger's code on it (or hide a code this lock lost).
        return [
            HeldCode(
                provider_code_id=c.access_code_id,
                code=c.code,
                name=c.name or "",
                starts_at=_parse(getattr(c, "starts_at", None)),
                ends_at=_parse(getattr(c, "ends_at", None)),
                is_set=c.status == "set",
            )
            for c in [*managed, *unmanaged]
            if c.device_id == provider_device_id
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
        # Seam picks the PIN itself: ``avoid`` cannot be passed on; Latchkey checks the answer.
        try:
            created = self.seam.access_codes.create(
                device_id=provider_device_id,
                is_offline_access_code=True,
                is_one_time_use=is_one_time_use,
                starts_at=_iso(starts_at),
                ends_at=_iso(ends_at),
            )
        except (SeamHttpApiError, httpx.HTTPError) as exc:
            return failure(exc, setting=True), None
        return Outcome.confirmed(created.access_code_id), created.code

    def _post(self, route: str, body: dict) -> dict:
        return self.seam.client.post(route, json=body)  # the SDK client returns parsed JSON


def seam_client(values: dict) -> Seam:
    # wait_for_action_attempt off: a command's confirmation comes later, by webhook or poll,
    # never by a worker sleeping on it.
    return Seam(
        api_key=values["api_key"], endpoint=values.get("endpoint") or None, wait_for_action_attempt=False
    )


def device_snapshot(raw: dict) -> DeviceSnapshot:
    """Map a Seam device onto Device's fields. Properties a lock does not report keep
    Latchkey's conservative defaults (unknown slots, the usual 4-8 digit lengths)."""
    props = raw.get("properties") or {}
    model = props.get("model") or {}
    battery = props.get("battery") or {}
    level = props.get("battery_level", battery.get("level"))
    keypad = props.get("keypad") or {}
    fields = {
        # The name the owner gave the lock; Seam's display_name is often generic ("Smart Device").
        "display_name": (props.get("appearance") or {}).get("name")
        or props.get("name")
        or raw.get("display_name")
        or raw["device_id"],
        "device_type": raw.get("device_type") or "",
        "manufacturer": model.get("manufacturer_display_name") or props.get("manufacturer") or "",
        "model": model.get("display_name") or "",
        "is_online": bool(props.get("online", True)),
        "battery_level": None if level is None else max(0.0, min(1.0, float(level))),
        "can_program_online_access_codes": bool(raw.get("can_program_online_access_codes", True)),
        "can_program_offline_access_codes": bool(raw.get("can_program_offline_access_codes", False)),
        "has_native_scheduling": True,  # Seam schedules every time-bound code itself
        "has_built_in_keypad": not props.get("supports_accessory_keypad", False) or bool(keypad),
        "accessory_keypad_connectable": bool(props.get("supports_accessory_keypad", False)),
        "accessory_keypad_connected": bool(keypad),
        "supported_code_lengths": list(props.get("supported_code_lengths") or []),
        "max_active_codes_supported": props.get("max_active_codes_supported"),
        "supports_backup_access_code_pool": bool(props.get("supports_backup_access_code_pool", False)),
    }
    for constraint in props.get("code_constraints") or []:
        kind = constraint.get("constraint_type")
        if kind == "no_zeros":
            fields["pin_forbids_zeros"] = True
        elif kind in ("no_ascending_or_descending_sequence", "no_triple_consecutive_ints"):
            fields["pin_forbids_sequences"] = True
        elif kind == "name_length" and constraint.get("max_length"):
            fields["name_max_length"] = constraint["max_length"]
        elif kind == "name_must_be_unique":
            fields["name_must_be_unique"] = True
    return DeviceSnapshot(raw["device_id"], fields)


# Seam's error types that mean "do not try again until something changes".
_PERMANENT = {
    "duplicate_access_code": "duplicate_code_on_device",
    "device_not_found": "device_removed",
    "invalid_input": "failed_to_set_on_device",
}


def failure(exc: Exception, *, setting: bool) -> Outcome:
    """A Seam or network error as an outcome: a catalog code, its words, and whether to retry.
    The message never carries credentials: Seam's error messages and types only."""
    generic = "failed_to_set_on_device" if setting else "failed_to_remove_from_device"
    if isinstance(exc, SeamHttpUnauthorizedError):
        return Outcome.failed(Problem("account_disconnected", "Seam refused the API key."), transient=False)
    if isinstance(exc, SeamHttpApiError):
        message = f"Seam: {exc}"
        if exc.code in _PERMANENT:
            problems = [Problem(_PERMANENT[exc.code], message)]
            if problems[0].code != generic:
                problems.append(Problem(generic, message))
            return Outcome.failed(*problems, transient=False)
        transient = exc.status_code >= 500 or exc.status_code == 429
        return Outcome.failed(Problem(generic, message), transient=transient)
    return Outcome.failed(Problem(generic, f"Could not reach Seam ({type(exc).__name__})."), transient=True)


def _outcome_for_status(
    status: str, provider_code_id: str, warnings, is_scheduled_on_device, *, starts_at: datetime | None
) -> Outcome:
    """Seam's answer, read as Seam means it. ``set`` is final. So is ``unset`` on a code whose
    window has not begun: Seam holds the code and its window and puts it on the lock itself
    (loading it ahead on locks that keep schedules, ``is_scheduled_on_device``), so the code
    waits for its start, unset, and nothing is in flight. ``setting`` (and ``unset`` once the
    window has begun, ``removing``, ``unknown``) awaits confirmation, by webhook or poll."""
    problems = [Problem(_field(w, "warning_code"), _field(w, "message") or "") for w in warnings or []]
    waiting = status == "unset" and starts_at is not None and starts_at > timezone.now()
    if status == "set" or is_scheduled_on_device or waiting:
        return Outcome.confirmed(provider_code_id, warnings=problems)
    return Outcome.pending(provider_code_id, warnings=problems)


def _field(item, name: str):
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parse(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
