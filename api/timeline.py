"""``/access_codes/get_timeline``: one code's life, oldest first, from the events Latchkey wrote
for it (created, changed, set on the lock, removed, failures, a backup pulled)."""

from rest_framework import serializers

from api.access_codes import find_code
from api.wire import Params, SeamRoute, WireDateTime, invalid_input
from codes.models import Event, EventType
from common.times import iso

MAX_TIMELINE = 200

_DESCRIPTIONS = {
    EventType.CREATED: "The access code was created.",
    EventType.CHANGED: "The access code was changed.",
    EventType.SCHEDULED_ON_DEVICE: "The code was stored on the lock, to start at its start time.",
    EventType.SET_ON_DEVICE: "The code was set on the lock.",
    EventType.REMOVED_FROM_DEVICE: "The code was removed from the lock.",
    EventType.DELAY_IN_SETTING_ON_DEVICE: "Setting the code on the lock is taking longer than usual.",
    EventType.FAILED_TO_SET_ON_DEVICE: "The code could not be set on the lock.",
    EventType.DELETED: "The access code was deleted.",
    EventType.DELAY_IN_REMOVING_FROM_DEVICE: "Removing the code from the lock is taking longer than usual.",
    EventType.FAILED_TO_REMOVE_FROM_DEVICE: "The code could not be removed from the lock.",
    EventType.MODIFIED_EXTERNAL_TO_SEAM: "The code was changed on the lock outside Latchkey.",
    EventType.DELETED_EXTERNAL_TO_SEAM: "The code was removed from the lock outside Latchkey.",
    EventType.BACKUP_ACCESS_CODE_PULLED: "A backup code was pulled for this code.",
}


class GetTimeline(SeamRoute):
    sdk_method = "GET"

    class params(Params):
        access_code_id = serializers.UUIDField()
        after = WireDateTime(required=False)
        before = WireDateTime(required=False)
        event_types = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_TIMELINE)

    def answer(self, p):
        code = find_code(self.workspace, {"access_code_id": p["access_code_id"]})
        events = Event.objects.filter(workspace=self.workspace, access_code=code)
        for field, lookup in (("after", "occurred_at__gt"), ("before", "occurred_at__lt")):
            if field in p:
                if p[field].tzinfo is None:
                    raise invalid_input({field: ["must include a time zone offset (for example Z)."]})
                events = events.filter(**{lookup: p[field]})
        if "event_types" in p:
            events = events.filter(event_type__in=p["event_types"])  # a type never written matches nothing
        limit = p.get("limit", 50)
        rows = list(events.order_by("occurred_at", "event_id")[: limit + 1])
        return {
            "timeline_events": [_timeline_event(e) for e in rows[:limit]],
            # Narrow the window with ``after`` to read on; Latchkey gives no timeline cursor.
            "pagination": {"has_more": len(rows) > limit, "next_cursor": None, "prev_cursor": None},
        }


def _timeline_event(event: Event) -> dict:
    related = {"event_id": str(event.pk)}
    if event.device_id:
        related["device_id"] = str(event.device_id)
    if event.connected_account_id:
        related["connected_account_id"] = str(event.connected_account_id)
    return {
        "timeline_event_id": str(event.pk),
        "event_type": event.event_type,
        "occurred_at": iso(event.occurred_at),
        "description": _DESCRIPTIONS.get(event.event_type, event.event_type),
        "actor": {"type": "system"},
        "related_resource_ids": related,
    }
