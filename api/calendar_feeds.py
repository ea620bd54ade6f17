"""``/latchkey/calendar_feeds/*``: Latchkey's own extension (Seam has no booking calendars), in
the same envelope, errors and schema as every route. A feed is a listing's iCal export whose
bookings become codes on the chosen doors; ``sync`` fetches it now and says what it did."""

from rest_framework import serializers

from api.wire import Params, SeamRoute, WireBoolean, WireString, invalid_input, not_found
from calendars.models import MAX_BUFFER_MINUTES, URL_MAX_LENGTH, CalendarFeed
from calendars.selectors import feeds_for
from calendars.services import feeds, sync
from calendars.shapes import calendar_feed_wire
from devices.models import Device

MAX_DOORS = 50


def _find(workspace, calendar_feed_id) -> CalendarFeed:
    feed = feeds_for([workspace]).filter(pk=calendar_feed_id).first()
    if feed is None:
        raise not_found("calendar_feed")
    return feed


def _devices(workspace, device_ids) -> list[Device]:
    found = {d.pk: d for d in Device.objects.filter(workspace=workspace, pk__in=device_ids)}
    missing = [str(pk) for pk in device_ids if pk not in found]
    if missing:
        raise invalid_input({"device_ids": [f"no device {', '.join(missing)} in this workspace."]})
    return [found[pk] for pk in device_ids]


def _buffer(**kwargs):
    return serializers.IntegerField(min_value=0, max_value=MAX_BUFFER_MINUTES, **kwargs)


class FeedFields(Params):
    name = WireString(max_length=feeds.NAME_MAX_LENGTH)
    url = WireString(max_length=URL_MAX_LENGTH)
    device_ids = serializers.ListField(child=serializers.UUIDField(), max_length=MAX_DOORS)
    early_check_in_minutes = _buffer(required=False)
    late_check_out_minutes = _buffer(required=False)
    blocked_dates_are_stays = WireBoolean(required=False)
    pin_from_phone = WireBoolean(required=False)


def _service_fields(workspace, p: dict) -> dict:
    fields = {k: v for k, v in p.items() if k not in ("device_ids", "calendar_feed_id")}
    if "device_ids" in p:
        fields["devices"] = _devices(workspace, p["device_ids"])
    return fields


class Create(SeamRoute):
    sdk_method = "POST"
    answers = "{calendar_feed}"
    params = FeedFields

    def answer(self, p):
        feed = feeds.feed_create(workspace=self.workspace, **_service_fields(self.workspace, p))
        return {"calendar_feed": calendar_feed_wire(feed)}


class Get(SeamRoute):
    sdk_method = "GET"
    answers = "{calendar_feed}"

    class params(Params):
        calendar_feed_id = serializers.UUIDField()

    def answer(self, p):
        return {"calendar_feed": calendar_feed_wire(_find(self.workspace, p["calendar_feed_id"]))}


class List(SeamRoute):
    sdk_method = "GET"
    answers = "{calendar_feeds}"

    class params(Params):
        device_id = serializers.UUIDField(required=False)

    def answer(self, p):
        found = feeds_for([self.workspace]).prefetch_related("devices").order_by("created_at", "pk")
        if p.get("device_id"):
            found = found.filter(devices=p["device_id"])
        return {"calendar_feeds": [calendar_feed_wire(f) for f in found]}


class Update(SeamRoute):
    sdk_method = "PATCH"
    answers = "{calendar_feed}"

    class params(FeedFields):
        calendar_feed_id = serializers.UUIDField()
        name = WireString(required=False, max_length=feeds.NAME_MAX_LENGTH)
        url = WireString(required=False, max_length=URL_MAX_LENGTH)
        device_ids = serializers.ListField(
            child=serializers.UUIDField(), max_length=MAX_DOORS, required=False
        )

    def answer(self, p):
        feed = _find(self.workspace, p["calendar_feed_id"])
        feed = feeds.feed_update(feed=feed, **_service_fields(self.workspace, p))
        return {"calendar_feed": calendar_feed_wire(feed)}


class Delete(SeamRoute):
    sdk_method = "DELETE"

    class params(Params):
        calendar_feed_id = serializers.UUIDField()

    def answer(self, p):
        feeds.feed_delete(feed=_find(self.workspace, p["calendar_feed_id"]))
        return {}


class Sync(SeamRoute):
    sdk_method = "POST"
    answers = "{sync: {ok, error, stays_created, stays_moved, stays_cancelled, ...}, calendar_feed}"

    class params(Params):
        calendar_feed_id = serializers.UUIDField()
        accept_empty_calendar = WireBoolean(required=False)

    def answer(self, p):
        feed = _find(self.workspace, p["calendar_feed_id"])
        report = sync.feed_sync(feed=feed, accept_empty=p.get("accept_empty_calendar", False))
        feed.refresh_from_db()
        return {"sync": report.wire(), "calendar_feed": calendar_feed_wire(feed)}
