"""``/action_attempts/*`` and ``/events/*``: what happened to a workspace's codes."""

import re

from django.db.models import Q
from rest_framework import serializers

from api.wire import (
    MAX_PAGE_SIZE,
    PageParams,
    Params,
    SeamRoute,
    WireDateTime,
    WireString,
    invalid_input,
    not_found,
    paginate,
    pagination_body,
)
from codes.models import ActionAttempt, Event
from codes.shapes import action_attempt_wire, action_attempts_wire, event_wire

MAX_EVENTS = 1000


class SeamEventType(WireString):
    """An event type as Seam names them (``access_code.created``): dotted lowercase words."""

    def __init__(self, **kwargs):
        super().__init__(max_length=100, allow_blank=False, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", value):
            raise serializers.ValidationError(
                f"'{value[:100]}' is not an event type (e.g. access_code.created)."
            )
        return value


class ActionAttemptGet(SeamRoute):
    sdk_method = "GET"

    class params(Params):
        action_attempt_id = serializers.UUIDField()

    def answer(self, p):
        attempt = ActionAttempt.objects.filter(workspace=self.workspace, pk=p["action_attempt_id"]).first()
        if attempt is None:
            raise not_found("action_attempt")
        return {"action_attempt": action_attempt_wire(attempt)}


class ActionAttemptList(SeamRoute):
    sdk_method = "GET"

    class params(PageParams):
        action_attempt_ids = serializers.ListField(
            child=serializers.UUIDField(), required=False, max_length=MAX_PAGE_SIZE
        )
        device_id = serializers.UUIDField(required=False)

    def answer(self, p):
        attempts = ActionAttempt.objects.filter(workspace=self.workspace)
        if "action_attempt_ids" in p:
            attempts = attempts.filter(pk__in=p["action_attempt_ids"])
        if p.get("device_id"):
            attempts = attempts.filter(access_code__device_id=p["device_id"])
        page = paginate(attempts, cursor=p.get("page_cursor"), limit=p.get("limit"), key="action_attempt_id")
        return {
            "action_attempts": action_attempts_wire(page.items),
            "pagination": pagination_body(self.request, page),
        }


class EventGet(SeamRoute):
    sdk_method = "GET"

    class params(Params):
        event_id = serializers.UUIDField(required=False)
        device_id = serializers.UUIDField(required=False)
        event_type = SeamEventType(required=False)

    def answer(self, p):
        events = Event.objects.select_related("access_code").filter(workspace=self.workspace)
        if p.get("event_id"):
            events = events.filter(pk=p["event_id"])
        elif p.get("device_id") and p.get("event_type"):
            events = events.filter(device_id=p["device_id"], event_type=p["event_type"])
        else:
            raise invalid_input({"event_id": ["give event_id, or device_id and event_type."]})
        event = events.order_by("-occurred_at").first()
        if event is None:
            raise not_found("event")
        return {"event": event_wire(event)}


def _ids(**kwargs):
    return serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=MAX_PAGE_SIZE, **kwargs
    )


_FOREIGN_ONE = (
    "access_grant_id",
    "access_method_id",
    "acs_access_group_id",
    "acs_credential_id",
    "acs_encoder_id",
    "acs_entrance_id",
    "acs_system_id",
    "acs_user_id",
    "connect_webview_id",
    "user_identity_id",
)
_FOREIGN_MANY = ("access_grant_ids", "access_method_ids", "acs_system_ids")


class EventList(SeamRoute):
    """Newest first. ``since`` or ``between`` bound the time; ``limit`` (at most 1000) and
    ``unstable_offset`` page through, as in Seam."""

    sdk_method = "GET"

    class params(Params):
        access_code_id = serializers.UUIDField(required=False)
        access_code_ids = _ids()
        device_id = serializers.UUIDField(required=False)
        device_ids = _ids()
        connected_account_id = serializers.UUIDField(required=False)
        event_ids = _ids()
        # Any of Seam's event types: one Latchkey never writes simply matches nothing.
        event_type = SeamEventType(required=False)
        event_types = serializers.ListField(child=SeamEventType(), required=False, max_length=200)
        since = WireDateTime(required=False)
        between = serializers.ListField(child=WireDateTime(), required=False, min_length=2, max_length=2)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_EVENTS)
        unstable_offset = serializers.IntegerField(required=False, min_value=0, max_value=10**6)
        space_id = serializers.UUIDField(required=False)  # a property's id: Seam's spaces
        space_ids = _ids()
        # Seam's other resources, which Latchkey has none of: a filter on one matches nothing.
        locals().update(
            {name: serializers.UUIDField(required=False) for name in _FOREIGN_ONE}
            | {name: _ids() for name in _FOREIGN_MANY}
        )

    def answer(self, p):
        events = Event.objects.select_related("access_code").filter(workspace=self.workspace)
        if any(p.get(name) for name in (*_FOREIGN_ONE, *_FOREIGN_MANY)):
            events = events.none()
        spaces = [*([p["space_id"]] if "space_id" in p else []), *p.get("space_ids", [])]
        if spaces:
            events = events.filter(device__property_id__in=spaces)
        for single, many, field in (
            ("access_code_id", "access_code_ids", "access_code_id"),
            ("device_id", "device_ids", "device_id"),
            ("event_type", "event_types", "event_type"),
        ):
            wanted = [*([p[single]] if single in p else []), *p.get(many, [])]
            if wanted:
                events = events.filter(**{f"{field}__in": wanted})
        if p.get("event_ids"):
            events = events.filter(pk__in=p["event_ids"])
        if p.get("connected_account_id"):
            events = events.filter(connected_account_id=p["connected_account_id"])
        for field in ("since", *(["between"] if "between" in p else [])):
            for value in p.get(field) if field == "between" else [p.get(field)]:
                if value is not None and value.tzinfo is None:
                    raise invalid_input({field: ["must include a time zone offset (for example Z)."]})
        if p.get("since"):
            events = events.filter(occurred_at__gte=p["since"])
        if p.get("between"):
            start, end = p["between"]
            events = events.filter(Q(occurred_at__gte=start) & Q(occurred_at__lte=end))
        offset = p.get("unstable_offset", 0)
        limit = p.get("limit", MAX_EVENTS)
        page = events.order_by("-occurred_at", "-event_id")[offset : offset + limit]
        return {"events": [event_wire(e) for e in page]}
