"""Access codes, action attempts and events as Seam's API shows them.

Lists are shaped in a fixed number of queries whatever their length (``issues_for_codes``,
``devices_with_backup_ready``), so a page of 500 costs what a page of 5 does.
"""

from collections.abc import Callable

from codes.models import AccessCode, ActionAttempt, Event
from codes.selectors import ShownIssue, devices_with_backup_ready, issues_for_codes
from common.times import iso
from devices.models import IssueKind
from devices.shapes import issue_wire

# Latchkey's own fields on a managed code, added by apps above codes (calendars: the booking a
# code was made for), which codes cannot import. Each entry is a field name and a function of a
# page of codes returning {access_code_id: value}, one query per page; codes it leaves out get null.
CODE_FIELDS: list[tuple[str, Callable[[list[AccessCode]], dict]]] = []


def access_codes_wire(codes: list[AccessCode]) -> list[dict]:
    """Needs ``device`` loaded on each code (select_related)."""
    if not codes:
        return []
    issues = issues_for_codes(codes)
    ready = devices_with_backup_ready({c.device_id for c in codes if c.use_backup_access_code_pool})
    bodies = [_access_code(c, issues[c.pk], backup_ready=c.device_id in ready) for c in codes]
    for field, values_of in CODE_FIELDS:
        values = values_of([c for c in codes if c.is_managed])
        for code, body in zip(codes, bodies, strict=True):
            if code.is_managed:
                body[field] = values.get(code.pk)
    return bodies


def access_code_wire(code: AccessCode) -> dict:
    return access_codes_wire([code])[0]


def _access_code(code: AccessCode, issues: list[ShownIssue], *, backup_ready: bool) -> dict:
    body = {
        "access_code_id": str(code.pk),
        "device_id": str(code.device_id),
        "workspace_id": str(code.workspace_id),
        "name": code.name or None,
        "appearance": code.appearance or None,
        "code": code.code,
        "common_code_key": code.common_code_key,
        "type": code.type,
        "status": code.status,
        "starts_at": iso(code.starts_at),
        "ends_at": iso(code.ends_at),
        "created_at": iso(code.created_at),
        "is_managed": code.is_managed,
        "errors": [issue_wire(i, i.flags) for i in issues if i.kind == IssueKind.ERROR],
        "warnings": [issue_wire(i, i.flags) for i in issues if i.kind == IssueKind.WARNING],
    }
    if not code.is_managed:
        return body
    body.update(
        is_scheduled_on_device=code.is_scheduled_on_device,
        is_waiting_for_code_assignment=code.is_waiting_for_code_assignment,
        is_external_modification_allowed=code.is_external_modification_allowed,
        is_one_time_use=code.is_one_time_use,
        is_offline_access_code=code.is_offline_access_code,
        is_backup=code.is_backup,
        is_backup_access_code_available=code.use_backup_access_code_pool and backup_ready,
        pulled_backup_access_code_id=str(code.pulled_backup_access_code_id)
        if code.pulled_backup_access_code_id
        else None,
    )
    return body


def action_attempt_wire(attempt: ActionAttempt) -> dict:
    return {
        "action_attempt_id": str(attempt.pk),
        "action_type": attempt.action_type,
        "status": attempt.status,
        "result": attempt.result,
        "error": attempt.error,
    }


def event_wire(event: Event) -> dict:
    body = {
        "event_id": str(event.pk),
        "event_type": event.event_type,
        "workspace_id": str(event.workspace_id),
        "created_at": iso(event.created_at),
        "occurred_at": iso(event.occurred_at),
        "device_id": str(event.device_id) if event.device_id else None,
        "connected_account_id": str(event.connected_account_id) if event.connected_account_id else None,
    }
    if event.access_code_id:
        body["access_code_id"] = str(event.access_code_id)
    # The payload adds what the event type carries (e.g. backup_access_code_id); it never
    # overrides the identifying fields above.
    return {**event.payload, **body}
