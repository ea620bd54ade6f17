"""``/access_codes/*``: the routes a booking integration uses to give guests their PINs.

Each route reads its parameters, finds its objects inside the caller's workspace (another
workspace's ids answer 404, never data) and hands the work to ``codes.services``; no rule of an
access code is checked here.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework import serializers

from api.idempotency import idempotent
from api.wire import (
    MAX_PAGE_SIZE,
    PageParams,
    Params,
    SeamError,
    SeamRoute,
    WireBoolean,
    WireDateTime,
    WireString,
    invalid_input,
    not_found,
    page_query,
    paginate,
    pagination_body,
)
from codes.models import AccessCode, ActionType
from codes.selectors import pin_suggestion, wire_code, wire_code_by_id, wire_codes
from codes.services import access_codes, backup_pool, checks
from codes.shapes import access_code_wire, access_codes_wire, action_attempt_wire
from common.compiled import CompiledRead
from devices.models import MAX_CODE_LENGTH, Device
from devices.services import device_code_constraints_report
from notifications.services import guests

# --- Finding things in the caller's workspace ---------------------------------------------------


def find_device(workspace, device_id) -> Device:
    device = (
        Device.objects.select_related("connected_account").filter(workspace=workspace, pk=device_id).first()
    )
    if device is None:
        raise not_found("device")
    return device


def find_code(workspace, params: dict, *, managed: bool = True, to_show: bool = False) -> AccessCode:
    """By ``access_code_id``, or by ``device_id`` and ``code``; a given device_id must match.
    ``to_show``: only to be shaped for the wire, read as a ``WireCode``, never to be changed."""
    if to_show and params.get("access_code_id") and not params.get("device_id"):
        code = wire_code_by_id(
            workspace_id=workspace.pk, access_code_id=params["access_code_id"], shown=managed
        )
        if code is None:
            raise not_found("access_code")
        return code
    if to_show:
        codes = wire_codes(shown=managed)
    else:
        codes = AccessCode.objects.shown() if managed else AccessCode.objects.live()
        codes = codes.select_related("device")
    codes = codes.filter(workspace=workspace, is_managed=managed)
    if params.get("access_code_id"):
        codes = codes.filter(pk=params["access_code_id"])
        if params.get("device_id"):
            codes = codes.filter(device_id=params["device_id"])
    elif params.get("device_id") and params.get("code"):
        codes = codes.filter(device_id=params["device_id"], code=params["code"])
    else:
        raise invalid_input({"access_code_id": ["give access_code_id, or device_id and code."]})
    code = codes.first()
    if code is None:
        raise not_found("access_code")
    return wire_code(code) if to_show else code


def code_page(request, codes, params: dict, *, rows=None) -> dict:
    """One page of ``codes`` (``codes_for_wire``) as a list route answers it (managed and
    unmanaged alike); ``rows`` as ``paginate`` takes it."""
    page = paginate(
        codes,
        cursor=params.get("page_cursor"),
        limit=params.get("limit"),
        key="access_code_id",
        item=wire_code,
        rows=rows,
    )
    return {"access_codes": access_codes_wire(page.items), "pagination": pagination_body(request, page)}


def _lock_page(variant, *, workspace_id, device_id, after_created_at=None, after_id=None):
    limit, with_cursor = variant
    codes = wire_codes(shown=True).filter(workspace_id=workspace_id, is_managed=True, device_id=device_id)
    after = (after_created_at, after_id) if with_cursor else None
    return page_query(codes, key="access_code_id", limit=limit, after=after)


# A lock's page of managed codes, the list a booking integration reads most: compiled once per
# process, connection, page size and whether a cursor is given (compiling it cost more than the
# database's answer).
_LOCK_PAGE = CompiledRead(
    _lock_page,
    fields={
        "workspace_id": AccessCode._meta.pk,
        "device_id": AccessCode._meta.pk,
        "after_created_at": AccessCode._meta.get_field("created_at"),
        "after_id": AccessCode._meta.pk,
    },
)


def lock_page_rows(*, workspace_id, device_id):
    def rows(limit, after):
        if after is None:
            return _LOCK_PAGE.rows((limit, False), workspace_id=workspace_id, device_id=device_id)
        return _LOCK_PAGE.rows(
            (limit, True),
            workspace_id=workspace_id,
            device_id=device_id,
            after_created_at=after[0],
            after_id=after[1],
        )

    return rows


# --- Parameters shared by create, create_multiple and update --------------------------------------


class CodeParams(Params):
    name = WireString(required=False, allow_null=True)
    code = WireString(required=False, allow_null=True)
    starts_at = WireDateTime(required=False, allow_null=True)
    ends_at = WireDateTime(required=False, allow_null=True)
    allow_external_modification = WireBoolean(required=False)
    is_external_modification_allowed = WireBoolean(required=False)  # Seam's newer name for the same
    attempt_for_offline_device = WireBoolean(required=False)
    prefer_native_scheduling = WireBoolean(required=False)
    # Latchkey's extension (not Seam's): the guest's contact, for sending them their code. Seam's
    # SDKs send it through their own HTTP client (README "The REST API"); it is never answered back.
    guest_email = WireString(required=False, allow_null=True, allow_blank=True, max_length=254)
    guest_phone = WireString(required=False, allow_null=True, allow_blank=True, max_length=32)

    def validate(self, data):
        merge_alias(data, "allow_external_modification", "is_external_modification_allowed")
        if data.pop("prefer_native_scheduling", True) is False:
            raise serializers.ValidationError(
                {
                    "prefer_native_scheduling": [
                        "Latchkey always uses a lock's own scheduling where it has one."
                    ]
                }
            )
        # Latchkey keeps trying a code while its lock is offline, so the flag changes nothing.
        data.pop("attempt_for_offline_device", None)
        return data


def merge_alias(data: dict, name: str, alias: str) -> None:
    if alias in data:
        value = data.pop(alias)
        if name in data and data[name] != value:
            raise serializers.ValidationError({alias: [f"contradicts {name}; give one of them."]})
        data[name] = value


class CreateFields(CodeParams):
    preferred_code_length = serializers.IntegerField(required=False, allow_null=True)
    use_backup_access_code_pool = WireBoolean(required=False)


def code_request(params: dict) -> checks.AccessCodeRequest:
    return checks.AccessCodeRequest(
        name=params.get("name") or "",
        code=params.get("code"),
        starts_at=params.get("starts_at"),
        ends_at=params.get("ends_at"),
        preferred_code_length=params.get("preferred_code_length"),
        is_offline_access_code=params.get("is_offline_access_code", False),
        is_one_time_use=params.get("is_one_time_use", False),
        use_backup_access_code_pool=params.get("use_backup_access_code_pool", False),
        allow_external_modification=params.get("allow_external_modification", False),
    )


def guest_contact(p: dict) -> dict | None:
    """The extension's guest contact, checked before anything is written (so a bad email saves
    nothing), or None when the request gave none."""
    if "guest_email" not in p and "guest_phone" not in p:
        return None
    contact = {"email": p.pop("guest_email", None), "phone": p.pop("guest_phone", None)}
    try:
        guests.guest_contact_check(**contact)
    except ValidationError as exc:
        raise invalid_input(exc.message_dict) from exc
    return contact


# --- Routes -------------------------------------------------------------------------------------


class Create(SeamRoute):
    sdk_method = "POST"

    class params(CreateFields):
        device_id = serializers.UUIDField()
        common_code_key = WireString(required=False, allow_null=True, allow_blank=False, max_length=200)
        is_offline_access_code = WireBoolean(required=False)
        use_offline_access_code = WireBoolean(required=False)  # Seam's older name for the same
        is_one_time_use = WireBoolean(required=False)
        max_time_rounding = serializers.ChoiceField(["1hour", "1day", "1h", "1d"], required=False)

        def validate(self, data):
            data = super().validate(data)
            merge_alias(data, "is_offline_access_code", "use_offline_access_code")
            rounding = data.pop("max_time_rounding", None)
            if rounding and not data.get("is_offline_access_code"):
                raise serializers.ValidationError(
                    {"max_time_rounding": ["applies to offline access codes only."]}
                )
            if rounding in ("1hour", "1h"):
                raise serializers.ValidationError(
                    {"max_time_rounding": ["offline codes here are rounded to whole days; use 1d."]}
                )
            return data

    def answer(self, p):
        device = find_device(self.workspace, p["device_id"])
        contact = guest_contact(p)

        def make():
            code = access_codes.access_code_create(
                device=device, request=code_request(p), common_code_key=p.get("common_code_key")
            )
            backup_pool.backup_pools_enable_for(access_codes=[code])
            if contact:
                guests.guest_contact_set(access_code=code, **contact)
            attempt = access_codes.action_attempt_record(
                access_code=code, action_type=ActionType.CREATE_ACCESS_CODE
            )
            shaped = access_code_wire(code)
            return {"access_code": shaped, "action_attempt": action_attempt_wire(attempt, code_body=shaped)}

        return idempotent(
            self.request, route="access_codes/create", params=self.request.data_params, make=make
        )


class CreateMultiple(SeamRoute):
    sdk_method = "PUT"

    class params(CreateFields):
        device_ids = serializers.ListField(
            child=serializers.UUIDField(), allow_empty=False, max_length=MAX_PAGE_SIZE
        )
        behavior_when_code_cannot_be_shared = serializers.ChoiceField(
            ["throw", "create_random_code"], required=False, default="throw"
        )

    def answer(self, p):
        ids = list(dict.fromkeys(p["device_ids"]))
        devices = {d.pk: d for d in Device.objects.filter(workspace=self.workspace, pk__in=ids)}
        missing = [str(i) for i in ids if i not in devices]
        if missing:
            raise SeamError(404, "device_not_found", f"Device not found: {', '.join(missing)}.")
        ordered = [devices[i] for i in ids]
        request = code_request(p)
        contact = guest_contact(p)

        def make():
            try:
                codes = access_codes.access_codes_create_multiple(devices=ordered, request=request)
            except ValidationError as exc:
                no_shared_pin = "code" in getattr(exc, "message_dict", {}) and request.code is None
                if p["behavior_when_code_cannot_be_shared"] != "create_random_code" or not no_shared_pin:
                    raise
                # No single PIN fits every lock: each gets its own, all or nothing.
                with transaction.atomic():
                    codes = [access_codes.access_code_create(device=d, request=request) for d in ordered]
            backup_pool.backup_pools_enable_for(access_codes=codes)
            for code in codes if contact else ():
                guests.guest_contact_set(access_code=code, **contact)
            return {"access_codes": access_codes_wire(codes)}

        return idempotent(
            self.request, route="access_codes/create_multiple", params=self.request.data_params, make=make
        )


class LookupParams(Params):
    """How a code is named: ``access_code_id``, or ``device_id`` and ``code`` (see find_code)."""

    access_code_id = serializers.UUIDField(required=False)
    device_id = serializers.UUIDField(required=False)
    code = WireString(required=False)


class Get(SeamRoute):
    sdk_method = "GET"
    params = LookupParams

    def answer(self, p):
        return {"access_code": access_code_wire(find_code(self.workspace, p, to_show=True))}


class List(SeamRoute):
    sdk_method = "GET"

    class params(PageParams):
        device_id = serializers.UUIDField(required=False)
        access_code_ids = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=500)
        search = WireString(required=False, max_length=200)

    def answer(self, p):
        if not p.get("device_id") and not p.get("access_code_ids"):
            raise invalid_input({"device_id": ["give device_id or access_code_ids."]})
        if p.get("device_id") and not p.get("access_code_ids") and not p.get("search"):
            rows = lock_page_rows(workspace_id=self.workspace.pk, device_id=p["device_id"])
            return code_page(self.request, None, p, rows=rows)
        codes = wire_codes(shown=True).filter(workspace=self.workspace, is_managed=True)
        if p.get("device_id"):
            codes = codes.filter(device_id=p["device_id"])
        if p.get("access_code_ids"):
            codes = codes.filter(pk__in=p["access_code_ids"])
        if p.get("search"):
            codes = codes.filter(Q(name__icontains=p["search"]) | Q(code=p["search"]))
        return code_page(self.request, codes, p)


class Update(SeamRoute):
    sdk_method = "PATCH"
    also_methods = ("PUT",)

    class params(CodeParams):
        access_code_id = serializers.UUIDField()
        device_id = serializers.UUIDField(required=False)
        type = serializers.ChoiceField(["ongoing", "time_bound"], required=False)
        is_managed = WireBoolean(required=False)
        preferred_code_length = serializers.IntegerField(required=False, allow_null=True)
        use_backup_access_code_pool = WireBoolean(required=False)
        # Fixed when the code is made; Seam's update takes them, so the same values are accepted.
        is_offline_access_code = WireBoolean(required=False)
        use_offline_access_code = WireBoolean(required=False)
        is_one_time_use = WireBoolean(required=False)
        max_time_rounding = serializers.ChoiceField(["1day", "1d"], required=False)

        def validate(self, data):
            data = super().validate(data)
            merge_alias(data, "is_offline_access_code", "use_offline_access_code")
            data.pop("max_time_rounding", None)  # every offline code here is rounded to whole days
            if data.pop("is_managed", True) is False:
                raise serializers.ValidationError(
                    {"is_managed": ["a managed code cannot be made unmanaged; delete it instead."]}
                )
            return data

    def answer(self, p):
        code = find_code(self.workspace, p)
        fixed = {
            field: [f"is fixed when the code is made; create a new code to change it (it is {current})."]
            for field, current in (
                ("is_offline_access_code", code.is_offline_access_code),
                ("is_one_time_use", code.is_one_time_use),
            )
            if field in p and p[field] != current
        }
        if fixed:
            raise invalid_input(fixed)
        contact = guest_contact(p)
        changes = {
            field: p[field]
            for field in (
                "code",
                "starts_at",
                "ends_at",
                "preferred_code_length",
                "use_backup_access_code_pool",
                "allow_external_modification",
            )
            if field in p
        }
        if "name" in p:
            changes["name"] = p["name"] or ""
        if p.get("type") == "ongoing":
            changes["make_ongoing"] = True
        elif p.get("type") == "time_bound" and code.type != "time_bound":
            for field in ("starts_at", "ends_at"):
                if not p.get(field):
                    raise invalid_input({field: ["is required to make the code time_bound."]})
        with transaction.atomic():
            code = access_codes.access_code_update(access_code=code, **changes)
            backup_pool.backup_pools_enable_for(access_codes=[code])
            if contact is not None:
                guests.guest_contact_set(access_code=code, **contact)
            attempt = access_codes.action_attempt_record(
                access_code=code, action_type=ActionType.UPDATE_ACCESS_CODE
            )
        return {"action_attempt": action_attempt_wire(attempt, code_body=access_code_wire(code))}


class UpdateMultiple(SeamRoute):
    sdk_method = "PATCH"

    class params(Params):
        common_code_key = WireString(allow_blank=False, max_length=200)
        name = WireString(required=False, allow_null=True)
        starts_at = WireDateTime(required=False, allow_null=True)
        ends_at = WireDateTime(required=False, allow_null=True)

    def answer(self, p):
        changes = {f: p[f] for f in ("starts_at", "ends_at") if f in p}
        if "name" in p:
            changes["name"] = p["name"] or ""
        access_codes.access_codes_update_multiple(
            workspace_id=self.workspace.pk, common_code_key=p["common_code_key"], **changes
        )
        return {}


class Delete(SeamRoute):
    sdk_method = "DELETE"

    class params(Params):
        access_code_id = serializers.UUIDField()
        device_id = serializers.UUIDField(required=False)

    def answer(self, p):
        code = find_code(self.workspace, p)
        with transaction.atomic():
            code = access_codes.access_code_delete(access_code=code)
            attempt = access_codes.action_attempt_record(
                access_code=code, action_type=ActionType.DELETE_ACCESS_CODE
            )
        return {"action_attempt": action_attempt_wire(attempt)}


class GenerateCode(SeamRoute):
    sdk_method = "GET"

    class params(Params):
        device_id = serializers.UUIDField()

    def answer(self, p):
        device = find_device(self.workspace, p["device_id"])
        pin = pin_suggestion(device, now=timezone.now())
        if pin is None:
            raise SeamError(
                409, "no_free_code", "No free PIN satisfies this lock's rules; remove a code first."
            )
        # Seam answers an access code as it would be made: nothing is stored until it is created.
        suggestion = AccessCode(
            device=device,
            workspace_id=device.workspace_id,
            code=pin,
            type="ongoing",
            created_at=timezone.now(),
        )
        return {"generated_code": {**access_code_wire(suggestion), "pending_mutations": []}}


class PullBackupAccessCode(SeamRoute):
    sdk_method = "POST"

    class params(Params):
        access_code_id = serializers.UUIDField()

    def answer(self, p):
        backup = backup_pool.backup_code_pull(access_code=find_code(self.workspace, p))
        shaped = access_code_wire(AccessCode.objects.select_related("device").get(pk=backup.pk))
        return {"access_code": shaped, "backup_access_code": shaped}


class ReportDeviceConstraints(SeamRoute):
    sdk_method = "POST"

    class params(Params):
        device_id = serializers.UUIDField()
        supported_code_lengths = serializers.ListField(
            child=serializers.IntegerField(), required=False, max_length=MAX_CODE_LENGTH
        )
        min_code_length = serializers.IntegerField(required=False, min_value=1, max_value=MAX_CODE_LENGTH)
        max_code_length = serializers.IntegerField(required=False, min_value=1, max_value=MAX_CODE_LENGTH)

    def answer(self, p):
        device = find_device(self.workspace, p.pop("device_id"))
        device_code_constraints_report(device=device, **p)
        return {}
