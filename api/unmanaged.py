"""``/access_codes/unmanaged/*`` and ``/access_codes/simulate/*``: codes found on a lock that
Latchkey did not put there, and making one on a sandbox lock to try that out."""

import re

from django.db import transaction
from django.utils import timezone
from rest_framework import serializers

from api.access_codes import LookupParams, code_page, find_code, find_device, merge_alias
from api.wire import (
    PageParams,
    Params,
    SeamError,
    SeamRoute,
    WireBoolean,
    WireString,
)
from codes.models import AccessCode, ActionType
from codes.selectors import wire_codes
from codes.services import access_codes, drift
from codes.shapes import access_code_wire, action_attempt_wire
from devices.models import ProviderKind
from devices.providers import provider_for


class ConvertParams(Params):
    access_code_id = serializers.UUIDField()
    allow_external_modification = WireBoolean(required=False)
    is_external_modification_allowed = WireBoolean(required=False)
    force = WireBoolean(required=False)  # Latchkey converts without conditions; accepted for SDKs

    def validate(self, data):
        merge_alias(data, "allow_external_modification", "is_external_modification_allowed")
        data.pop("force", None)
        return data


def _convert(workspace, p) -> None:
    code = find_code(workspace, p, managed=False)
    drift.access_code_convert_to_managed(
        access_code=code, allow_external_modification=p.get("allow_external_modification", False)
    )


class List(SeamRoute):
    sdk_method = "GET"

    class params(PageParams):
        device_id = serializers.UUIDField()
        search = WireString(required=False, max_length=200)

    def answer(self, p):
        device = find_device(self.workspace, p["device_id"])
        codes = wire_codes(shown=False).filter(device=device, is_managed=False)
        if p.get("search"):
            codes = codes.filter(name__icontains=p["search"])
        return code_page(self.request, codes, p)


class Get(SeamRoute):
    sdk_method = "GET"
    params = LookupParams

    def answer(self, p):
        return {"access_code": access_code_wire(find_code(self.workspace, p, managed=False, to_show=True))}


class ConvertToManaged(SeamRoute):
    sdk_method = "PATCH"
    params = ConvertParams

    def answer(self, p):
        _convert(self.workspace, p)
        return {}


class Update(SeamRoute):
    sdk_method = "PATCH"

    class params(ConvertParams):
        is_managed = WireBoolean()

    def answer(self, p):
        if p.pop("is_managed") is not True:
            # Nothing else about an unmanaged code is Latchkey's to change; the code must exist.
            find_code(self.workspace, p, managed=False)
            return {}
        _convert(self.workspace, p)
        return {}


class Delete(SeamRoute):
    sdk_method = "DELETE"

    class params(Params):
        access_code_id = serializers.UUIDField()

    def answer(self, p):
        with transaction.atomic():
            code = drift.unmanaged_access_code_delete(access_code=find_code(self.workspace, p, managed=False))
            attempt = access_codes.action_attempt_record(
                access_code=code, action_type=ActionType.DELETE_ACCESS_CODE
            )
        return {"action_attempt": action_attempt_wire(attempt)}


class SimulateCreateUnmanaged(SeamRoute):
    """A code appears on a sandbox lock as if someone keyed it in at the door."""

    sdk_method = "POST"

    class params(Params):
        device_id = serializers.UUIDField()
        code = WireString(max_length=16)
        name = WireString(required=False, max_length=200)

        def validate_code(self, value):
            if not re.fullmatch(r"[0-9]+", value):  # str.isdigit would take ٣ or ²
                raise serializers.ValidationError("must be digits only.")
            return value

    def answer(self, p):
        device = find_device(self.workspace, p["device_id"])
        if device.connected_account.provider != ProviderKind.SANDBOX:
            raise SeamError(400, "not_a_sandbox_device", "Simulate routes drive sandbox locks only.")
        now = timezone.now()
        provider = provider_for(device.connected_account, now=now)
        held = provider.simulate_unmanaged_code(
            device.provider_device_id, code=p["code"], name=p.get("name", "")
        )
        drift.unmanaged_codes_sync(
            device=device, held=provider.list_codes(device.provider_device_id), now=now
        )
        code = AccessCode.objects.select_related("device").get(
            device=device, provider_code_id=held.provider_code_id
        )
        return {"access_code": access_code_wire(code)}
