"""Device routes that change what codes see: ``/devices/update`` (the lock's backup pool is the
codes app's) and ``/devices/simulate/*`` (a sandbox lock going offline puts ``device_offline`` on
every code of it). Reading devices is ``devices.api``'s."""

from django.db import transaction
from rest_framework import serializers

from codes.api.access_codes import find_device
from codes.services import backup_pool, reports
from devices.api.wire import Params, SeamError, SeamRoute, WireBoolean, WireString
from devices.services import NotSandbox, device_rename, sandbox_lock_switch


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
