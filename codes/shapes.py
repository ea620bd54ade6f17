"""Access codes, action attempts and events as Seam's API shows them.

Lists are shaped in a fixed number of queries whatever their length (``issues_for_codes``,
``devices_with_backup_ready``), so a page of 500 costs what a page of 5 does.
"""

from collections.abc import Callable

from codes.models import AccessCode, AccessCodeStatus, ActionAttempt, ActionType, Event, EventType
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
    # A page's codes mostly share their lock and workspace: each id written once.
    ids = {}
    for code in codes:
        for value in (code.device_id, code.workspace_id):
            if value not in ids:
                ids[value] = str(value)
    bodies = [_access_code(c, issues[c.pk], ids, backup_ready=c.device_id in ready) for c in codes]
    for field, values_of in CODE_FIELDS:
        values = values_of([c for c in codes if c.is_managed])
        for code, body in zip(codes, bodies, strict=True):
            if code.is_managed:
                body[field] = values.get(code.pk)
    return bodies


def access_code_wire(code: AccessCode) -> dict:
    return access_codes_wire([code])[0]


def _access_code(code: AccessCode, issues: list[ShownIssue], ids: dict, *, backup_ready: bool) -> dict:
    body = {
        "access_code_id": str(code.pk),
        "device_id": ids[code.device_id],
        "workspace_id": ids[code.workspace_id],
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
        "errors": [issue_wire(i, i.flags) for i in issues if i.kind == IssueKind.ERROR] if issues else [],
        "warnings": [issue_wire(i, i.flags) for i in issues if i.kind == IssueKind.WARNING] if issues else [],
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
        pending_mutations=_pending_mutations(code),
    )
    return body


def _pending_mutations(code: AccessCode) -> list[dict]:
    """What Latchkey still owes the lock, in Seam's ``pending_mutations`` vocabulary: an empty list
    when the lock holds exactly what the code declares. Only what the row itself knows is listed;
    the previous PIN or window of an update is not kept, so an update waiting for the lock is
    told as ``creating`` again only when the PIN was never on it."""
    if code.status == AccessCodeStatus.REMOVING:
        return [
            {
                "mutation_code": "deleting",
                "message": "Removing the code from the lock.",
                "created_at": iso(code.updated_at),
            }
        ]
    if code.sent_version == code.version or code.is_offline_access_code:
        return []
    if code.status in (AccessCodeStatus.SET, AccessCodeStatus.UNKNOWN) and code.sent_version is not None:
        return []  # an update on its way: Seam's updating_* need the old values, which are not kept
    since = iso(code.updated_at)
    if code.next_attempt_at and code.starts_at and code.next_attempt_at > code.updated_at:
        return [
            {
                "mutation_code": "deferring_creation",
                "message": "Waiting until closer to the start time to put the code on the lock.",
                "created_at": since,
                "scheduled_at": iso(code.next_attempt_at),
            }
        ]
    return [{"mutation_code": "creating", "message": "Putting the code on the lock.", "created_at": since}]


_RESULT_CARRIES_CODE = (ActionType.CREATE_ACCESS_CODE, ActionType.UPDATE_ACCESS_CODE)


def action_attempts_wire(attempts: list[ActionAttempt], *, shaped: dict | None = None) -> list[dict]:
    """A create or update that succeeded carries the code as it is now in ``result.access_code``
    (Seam's shape), the codes shaped together in a fixed number of queries. ``shaped``: bodies
    of codes the caller has just written and shaped (``access_codes_wire``), by access_code_id,
    used as they are rather than read and shaped again."""
    shaped = dict(shaped or {})
    ids = {
        a.access_code_id
        for a in attempts
        if a.action_type in _RESULT_CARRIES_CODE
        and a.status == "success"
        and a.access_code_id
        and str(a.access_code_id) not in shaped
    }
    codes = AccessCode.objects.select_related("device").filter(pk__in=ids) if ids else []
    shaped.update((c["access_code_id"], c) for c in access_codes_wire(list(codes)))
    return [_action_attempt(a, shaped.get(str(a.access_code_id))) for a in attempts]


def action_attempt_wire(attempt: ActionAttempt, *, code_body: dict | None = None) -> dict:
    """``code_body``: the attempt's code as the caller has just written and shaped it
    (``access_code_wire``), carried as it is instead of read and shaped again."""
    shaped = {code_body["access_code_id"]: code_body} if code_body else None
    return action_attempts_wire([attempt], shaped=shaped)[0]


def _action_attempt(attempt: ActionAttempt, access_code: dict | None) -> dict:
    result = attempt.result
    if access_code is not None and isinstance(result, dict):
        result = {**result, "access_code": access_code}
    return {
        "action_attempt_id": str(attempt.pk),
        "action_type": attempt.action_type,
        "status": attempt.status,
        "result": result,
        "error": attempt.error,
    }


# Seam's event types that carry the code's PIN.
_CARRIES_CODE = (EventType.SCHEDULED_ON_DEVICE, EventType.SET_ON_DEVICE, EventType.DELETED)


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
    payload = dict(event.payload)
    changed = payload.pop("changed", None)  # Latchkey's own record of names; Seam's is below
    if event.event_type == EventType.CHANGED and "changed_properties" not in payload:
        # An event stored before the old and new values were kept.
        payload["changed_properties"] = [
            {"property": name, "from": None, "to": None} for name in changed or []
        ]
    if event.event_type in _CARRIES_CODE and "code" not in payload and event.access_code_id:
        payload["code"] = event.access_code.code
    if (
        event.event_type == EventType.DEVICE_DISCONNECTED
    ):  # as a provider reported it: the least Seam requires
        payload.setdefault("error_code", "device_disconnected")
        for name in (
            "device_errors",
            "device_warnings",
            "connected_account_errors",
            "connected_account_warnings",
        ):
            payload.setdefault(name, [])
    # The payload adds what the event type carries (e.g. backup_access_code_id); it never
    # overrides the identifying fields above.
    return {**payload, **body}
