"""Device routes that change what codes see: ``/devices/update`` (the lock's backup pool is the
codes app's) and ``/devices/simulate/*`` (a sandbox lock going offline puts ``device_offline`` on
every code of it); ``/devices/get`` and ``/devices/list`` read locks."""

import re

from django.db import transaction
from drf_spectacular.utils import extend_schema_field
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
from codes.models import EventType
from codes.services import backup_pool, history, reports
from devices.models import Device, IssueKind
from devices.services import NotSandbox, device_custom_metadata_update, device_rename, sandbox_lock_switch
from devices.shapes import device_issues, device_wire, devices_wire, issue_wire


class PropertiesParams(Params):
    name = WireString(max_length=200, allow_null=True)


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "boolean"}]})
class MetadataValue(serializers.Field):
    """One custom_metadata value: a string (up to 500 characters) or a boolean, as in Seam."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or (isinstance(data, str) and len(data) <= 500):
            return data
        raise serializers.ValidationError("must be a string of at most 500 characters, or true or false.")

    def to_representation(self, value):
        return value


METADATA_KEY = r"[A-Za-z0-9_\-]{1,40}"  # also keeps a custom_metadata_has lookup a plain JSON key
MAX_METADATA_KEYS = 50


def metadata_keys_checked(value: dict) -> dict:
    bad = [key for key in value if not re.fullmatch(METADATA_KEY, key) or "__" in key]
    if bad:
        raise serializers.ValidationError(f"keys are 1 to 40 letters, digits, _ or -: {bad[0][:40]!r}.")
    if len(value) > MAX_METADATA_KEYS:
        raise serializers.ValidationError(f"at most {MAX_METADATA_KEYS} keys.")
    return value


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
        custom_metadata_has = serializers.DictField(child=MetadataValue(), required=False)
        space_id = serializers.UUIDField(required=False)  # a property's id: Seam's spaces
        connect_webview_id = serializers.UUIDField(required=False)

        def validate_custom_metadata_has(self, value):
            return metadata_keys_checked(value)

    def answer(self, p):
        devices = Device.objects.filter(workspace=self.workspace)
        if "connect_webview_id" in p:
            devices = devices.none()  # locks come from provider accounts staff connect, never a webview
        if p.get("space_id"):
            devices = devices.filter(property_id=p["space_id"])
        for key, value in p.get("custom_metadata_has", {}).items():
            devices = devices.filter(**{f"custom_metadata__{key}": value})
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


class Update(SeamRoute):
    sdk_method = "PATCH"

    class params(Params):
        device_id = serializers.UUIDField()
        name = WireString(required=False, allow_null=True)
        properties = PropertiesParams(required=False)
        backup_access_code_pool_enabled = WireBoolean(required=False)
        is_managed = WireBoolean(required=False)
        custom_metadata = serializers.DictField(child=MetadataValue(allow_null=True), required=False)

        def validate_custom_metadata(self, value):
            return metadata_keys_checked(value)

        def validate(self, data):
            properties = data.pop("properties", None) or {}
            if properties.get("name") is not None:
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
            if "custom_metadata" in p:
                device_custom_metadata_update(device=device, changes=p["custom_metadata"])
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


def _device_event(device, event_type: EventType, **payload) -> None:
    """The ``device.*`` event Seam writes when its sandbox lock changes."""
    history.event_record(event_type, device=device, payload=payload)


def _disconnected(device, error_code: str) -> None:
    issues = device_issues([device])[device.pk]
    _device_event(
        device,
        EventType.DEVICE_DISCONNECTED,
        error_code=error_code,
        device_errors=[issue_wire(i, []) for i in issues if i.kind == IssueKind.ERROR and i.device_id],
        device_warnings=[issue_wire(i, []) for i in issues if i.kind == IssueKind.WARNING and i.device_id],
        connected_account_errors=[],
        connected_account_warnings=[],
    )


class SimulateConnect(_Simulate):
    switches = {"is_offline": False}

    def record(self, device):
        reports.device_connection_record(device=device, online=True)
        _device_event(device, EventType.DEVICE_CONNECTED)


class SimulateDisconnect(_Simulate):
    switches = {"is_offline": True}

    def record(self, device):
        reports.device_connection_record(device=device, online=False)
        _disconnected(device, "device_disconnected")


class SimulateConnectToHub(_Simulate):
    """The lock's hub (its bridge to the internet) is back: ``hub_disconnected`` clears."""

    switches = {"hub_disconnected": False}

    def record(self, device):
        history.device_issue_clear(device=device, kind=IssueKind.ERROR, code="hub_disconnected")
        _device_event(device, EventType.DEVICE_CONNECTED)


class SimulateDisconnectFromHub(_Simulate):
    """The lock's hub loses its connection: ``hub_disconnected`` on the lock and its codes."""

    switches = {"hub_disconnected": True}

    def record(self, device):
        history.device_issue_raise(device=device, kind=IssueKind.ERROR, code="hub_disconnected")
        _disconnected(device, "hub_disconnected")


class SimulateRemove(_Simulate):
    switches = {"is_removed": True}

    def record(self, device):
        reports.device_removal_record(device=device)
        _device_event(device, EventType.DEVICE_REMOVED)
