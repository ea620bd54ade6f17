"""``/devices/get`` and ``/devices/list``. Routes that change what codes see (update, simulate)
are in ``codes.api.devices``."""

from rest_framework import serializers

from devices.api.shapes import device_issues, device_wire, devices_wire
from devices.api.wire import (
    MAX_PAGE_SIZE,
    PageParams,
    Params,
    SeamRoute,
    WireString,
    invalid_input,
    not_found,
    paginate,
    pagination_body,
)
from devices.models import Device


class Get(SeamRoute):
    sdk_method = "GET"

    class params(Params):
        device_id = serializers.UUIDField(required=False)
        name = WireString(required=False)

    def answer(self, p):
        devices = Device.objects.filter(workspace=self.workspace)
        if p.get("device_id"):
            devices = devices.filter(pk=p["device_id"])
        elif p.get("name"):
            devices = devices.filter(display_name=p["name"])
        else:
            raise invalid_input({"device_id": ["give device_id or name."]})
        device = devices.first()
        if device is None:
            raise not_found("device")
        return {"device": device_wire(device, device_issues([device])[device.pk])}


class List(SeamRoute):
    sdk_method = "GET"

    class params(PageParams):
        device_ids = serializers.ListField(
            child=serializers.UUIDField(), required=False, max_length=MAX_PAGE_SIZE
        )
        connected_account_id = serializers.UUIDField(required=False)
        connected_account_ids = serializers.ListField(child=serializers.UUIDField(), required=False)
        device_type = WireString(required=False)
        device_types = serializers.ListField(child=WireString(), required=False)
        manufacturer = WireString(required=False)
        search = WireString(required=False, max_length=200)
        created_before = serializers.DateTimeField(required=False)

    def answer(self, p):
        devices = Device.objects.filter(workspace=self.workspace)
        accounts = [
            *([p["connected_account_id"]] if "connected_account_id" in p else []),
            *p.get("connected_account_ids", []),
        ]
        types = [*([p["device_type"]] if "device_type" in p else []), *p.get("device_types", [])]
        if "device_ids" in p:
            devices = devices.filter(pk__in=p["device_ids"])
        if accounts:
            devices = devices.filter(connected_account_id__in=accounts)
        if types:
            devices = devices.filter(device_type__in=types)
        if p.get("manufacturer"):
            devices = devices.filter(manufacturer__iexact=p["manufacturer"])
        if p.get("search"):
            devices = devices.filter(display_name__icontains=p["search"])
        if p.get("created_before"):
            devices = devices.filter(created_at__lt=p["created_before"])
        page = paginate(devices, cursor=p.get("page_cursor"), limit=p.get("limit"), key="device_id")
        return {"devices": devices_wire(page.items), "pagination": pagination_body(self.request, page)}
