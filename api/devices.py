"""Device routes that change what codes see: ``/devices/update`` (the lock's backup pool is the
codes app's) and ``/devices/simulate/*`` (a sandbox lock going offline puts ``device_offline`` on
every code of it); ``/devices/get`` and ``/devices/list`` read locks."""

from django.db import transaction
from rest_framework import serializers

from api.access_codes import find_device
from api.wire import (
    MAX_PAGE_SIZE,
    PageParams,
    Params,
    SeamError,
    SeamRoute,
    WireBoolean,
    WireString,
    invalid_input,
    not_found,
    paginate,
    pagination_body,
)
from codes.services import backup_pool, reports
from devices.models import Device
from devices.services import NotSandbox, device_rename, sandbox_lock_switch
from devices.shapes import device_issues, device_wire, devices_wire


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


class PropertiesParams(Params):
    name = WireString(max_length=200)


class Update(SeamRoute):
    sdk_method = "PATCH"

    class params(Params):
        device_id = serializers.UUIDField()
        name = WireString(required=False, allow_null=True)
        properties = PropertiesParams(required=False)
        backup_access_code_pool_enabled = WireBoolean(required=False)
        is_managed = WireBoolean(required=False)

        def validate(self, data):
            properties = data.pop("properties", None) or {}
            if "name" in properties:
                if data.get("name") not in (None, properties["name"]):
                    raise serializers.ValidationError(
                        {"properties": ["name contradicts the top-level name."]}
                    )
                data["name"] = properties["name"]
            if data.pop("is_managed", True) is False:
                raise serializers.ValidationError({"is_managed": ["Latchkey manages every lock it knows."]})
            return data

    def answer(self, p):
        device = find_device(self.workspace, p["device_id"])
        with transaction.atomic():
            if p.get("name") is not None:
                device_rename(device=device, name=p["name"])
            if "backup_access_code_pool_enabled" in p:
                backup_pool.backup_pool_enable(device=device, enabled=p["backup_access_code_pool_enabled"])
        return {}


class _Simulate(SeamRoute):
    sdk_method = "POST"

    class params(Params):
        device_id = serializers.UUIDField()

    switches: dict = {}

    def answer(self, p):
        device = find_device(self.workspace, p["device_id"])
        try:
            with transaction.atomic():
                sandbox_lock_switch(device=device, **self.switches)
                self.record(device)
        except NotSandbox:
            raise SeamError(
                400, "not_a_sandbox_device", "Simulate routes drive sandbox locks only."
            ) from None
        return {}

    def record(self, device) -> None:
        raise NotImplementedError


class SimulateConnect(_Simulate):
    switches = {"is_offline": False}

    def record(self, device):
        reports.device_connection_record(device=device, online=True)


class SimulateDisconnect(_Simulate):
    switches = {"is_offline": True}

    def record(self, device):
        reports.device_connection_record(device=device, online=False)


class SimulateRemove(_Simulate):
    switches = {"is_removed": True}

    def record(self, device):
        reports.device_removal_record(device=device)
