"""Devices as Seam's API shows them."""

from common.times import iso
from devices.models import Device, DeviceIssue, IssueKind
from devices.selectors import active_issues_of_locks

_FLAGS = ("is_device_error", "is_connected_account_error", "is_bridge_error")


def issue_wire(issue, flags) -> dict:
    """One error or warning, on a lock or on a code: ``error_code`` or ``warning_code``,
    message, created_at, and for errors the ``flags`` saying what it is about."""
    if issue.kind == IssueKind.WARNING:
        return {"warning_code": issue.code, "message": issue.message, "created_at": iso(issue.created_at)}
    body = {"error_code": issue.code, "message": issue.message, "created_at": iso(issue.created_at)}
    body.update({flag: True for flag in flags})
    return body


def _device_issue_wire(row: DeviceIssue) -> dict:
    return issue_wire(row, [flag for flag in _FLAGS if getattr(row, flag)])


def device_issues(devices: list[Device]) -> dict:
    """Each lock's active issues, its account's included, in one query."""
    account_ids = {d.connected_account_id for d in devices}
    rows = active_issues_of_locks(devices, account_ids).order_by("created_at")
    on_device: dict = {}
    on_account: dict = {}
    for row in rows:
        target = on_device if row.device_id else on_account
        target.setdefault(row.device_id or row.connected_account_id, []).append(row)
    return {
        d.pk: on_device.get(d.pk, [])
        + [i for i in on_account.get(d.connected_account_id, []) if i.concerns(d)]
        for d in devices
    }


def devices_wire(devices: list[Device]) -> list[dict]:
    issues = device_issues(devices)
    return [device_wire(d, issues[d.pk]) for d in devices]


def device_wire(device: Device, issues: list[DeviceIssue]) -> dict:
    """Seam's device. What Latchkey does not know (a battery level never reported, a location)
    is left out rather than sent as null, which Seam's schema does not allow."""
    lengths = device.supported_code_lengths or []
    body = {
        "device_id": str(device.pk),
        "workspace_id": str(device.workspace_id),
        "connected_account_id": str(device.connected_account_id),
        "device_type": device.device_type,
        "display_name": device.display_name,
        "nickname": device.display_name,
        "created_at": iso(device.created_at),
        # Latchkey's property is the nearest thing to Seam's space.
        "space_ids": [str(device.property_id)] if device.property_id else [],
        "is_managed": True,
        "capabilities_supported": ["access_code", "lock"],
        "can_program_online_access_codes": device.can_program_online_access_codes,
        "can_program_offline_access_codes": device.can_program_offline_access_codes,
        "properties": {
            "name": device.display_name,
            "appearance": {"name": device.display_name},
            "online": device.is_online,
            "battery_level": device.battery_level,
            "manufacturer": device.manufacturer,
            "model": {
                "display_name": device.model,
                "manufacturer_display_name": device.manufacturer,
                "has_built_in_keypad": device.has_built_in_keypad,
                "accessory_keypad_supported": device.accessory_keypad_connectable,
            },
            "keypad": {"is_connected": device.accessory_keypad_connected}
            if device.accessory_keypad_connectable
            else None,
            "has_native_scheduling": device.has_native_scheduling,
            "supported_code_lengths": lengths,
            "max_active_codes_supported": device.max_active_codes_supported,
            "supports_backup_access_code_pool": device.supports_backup_access_code_pool,
            "code_constraints": _code_constraints(device),
        },
        "errors": [_device_issue_wire(i) for i in issues if i.kind == IssueKind.ERROR],
        "warnings": [_device_issue_wire(i) for i in issues if i.kind == IssueKind.WARNING],
        "custom_metadata": dict(device.custom_metadata or {}),
    }
    if device.battery_level is None:
        del body["properties"]["battery_level"]
    return body


def _code_constraints(device: Device) -> list[dict]:
    """The lock's PIN and name rules in Seam's ``code_constraints`` vocabulary."""
    constraints = []
    if device.pin_forbids_zeros:
        constraints.append({"constraint_type": "no_zeros"})
    if device.pin_forbids_sequences:
        constraints.append({"constraint_type": "no_ascending_or_descending_sequence"})
    if device.pin_requires_unique_first_four:
        constraints.append({"constraint_type": "unique_first_four_digits"})
    if device.name_max_length:
        constraints.append({"constraint_type": "name_length", "max_length": device.name_max_length})
    if device.name_must_be_unique:
        constraints.append({"constraint_type": "name_must_be_unique"})
    return constraints
