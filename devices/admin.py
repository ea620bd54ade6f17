from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Count, Q
from django.http import Http404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils.safestring import SafeString, mark_safe

from devices.models import (
    CAPABILITY_FIELDS,
    ApiKey,
    ConnectedAccount,
    Device,
    DeviceIssue,
    Membership,
    Property,
    ProviderKind,
    SandboxLock,
    Workspace,
)
from devices.providers.sandbox.models import SandboxCommand, SandboxHeldCode
from devices.providers.sandbox.provider import SandboxProvider
from devices.selectors import workspaces_visible_to
from devices.services import api_key_create, api_key_revoke

PIN_PERMISSION = "codes.view_pin"


def may_see_pins(user) -> bool:
    return user.has_perm(PIN_PERMISSION)


def pin_fields_of(model) -> frozenset[str]:
    """The fields of ``model`` that hold or may quote a PIN, as the model declares them in
    ``PIN_FIELDS`` (a PIN, a JSON payload or body that can carry one, free text)."""
    return frozenset(getattr(model, "PIN_FIELDS", ()))


def lookup_touches_pins(model, lookup: str) -> bool:
    """Whether a changelist lookup (``code__startswith``, ``payload__code_on_lock``,
    ``lock__held_codes__code``) reads a PIN-bearing field on any model along its path. What
    follows a non-relation field (a lookup, a transform, a JSON key) changes nothing: the
    field has been read."""
    for part in lookup.split("__"):
        if part in pin_fields_of(model):
            return True
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        if not field.is_relation or field.related_model is None:
            return False
        model = field.related_model
    return False


class PinGuardedAdmin(admin.ModelAdmin):
    """Keeps PINs from whoever lacks "Can reveal access code PINs", whatever the admin.

    A changelist answers filters and searches: "1 access code" for ``?code__startswith=4``
    tells a PIN one digit at a time. So, for such a person, every lookup and search that reads
    a PIN-bearing field (declared by the model in ``PIN_FIELDS``, followed across relations)
    is refused (400), and those fields leave the object's page."""

    def lookup_allowed(self, lookup, value, request=None):
        if request is not None and not may_see_pins(request.user) and lookup_touches_pins(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_search_fields(self, request):
        fields = super().get_search_fields(request)
        if may_see_pins(request.user):
            return fields
        return [f for f in fields if not lookup_touches_pins(self.model, f.lstrip("=^@"))]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        hidden = pin_fields_of(self.model)
        if obj is None or not hidden or may_see_pins(request.user):
            return fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in hidden]})
            for name, options in fieldsets
        ]

    def get_exclude(self, request, obj=None):
        exclude = super().get_exclude(request, obj)
        if obj is None or may_see_pins(request.user):
            return exclude
        return [*(exclude or ()), *pin_fields_of(self.model)]


class WorkspaceScopedAdmin(PinGuardedAdmin):
    """Lists, pages and choices hold only the workspaces the person may see
    (devices.selectors.workspaces_visible_to); another workspace's object answers 404."""

    workspace_path: str | tuple[str, ...] = "workspace"  # how a row reaches its workspace (any of)

    def get_queryset(self, request):
        visible = workspaces_visible_to(request.user)
        paths = (self.workspace_path,) if isinstance(self.workspace_path, str) else self.workspace_path
        reach = Q()
        for path in paths:
            reach |= Q(**{"pk__in" if path == "pk" else f"{path}__in": visible})
        return super().get_queryset(request).filter(reach)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such object in your workspaces.")
        return obj

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        model = db_field.related_model
        visible = workspaces_visible_to(request.user)
        if model is Workspace:
            kwargs["queryset"] = Workspace.objects.filter(pk__in=visible)
        elif any(f.name == "workspace" for f in model._meta.get_fields()):
            kwargs["queryset"] = model._default_manager.filter(workspace__in=visible)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReadOnlyAdmin(WorkspaceScopedAdmin):
    """For rows that only services write (issues, events, attempts): visible, never hand-edited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """Rows only services write, listed on their parent's page (issues, attempts): every field
    in ``fields`` shown, none editable, none added or deleted here."""

    extra = 0
    can_delete = False

    def get_fields(self, request, obj=None):
        if may_see_pins(request.user):
            return self.fields
        return [f for f in self.fields if f not in pin_fields_of(self.model)]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request, obj=None):
        return False


def fragment(template_name: str, **context) -> SafeString:
    """A piece of an admin page (a list, a table) from its template, for a read-only field.
    Stripped: the template file's last newline is not part of the field."""
    return mark_safe(render_to_string(template_name, context).strip())  # noqa: S308 (a rendered template)


@admin.register(Workspace)
class WorkspaceAdmin(WorkspaceScopedAdmin):
    workspace_path = "pk"
    list_display = ["name", "is_sandbox", "property_count", "device_count", "created_at"]
    list_filter = ["is_sandbox"]
    search_fields = ["name", "=workspace_id"]
    readonly_fields = ["workspace_id", "created_at"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                property_count=Count("properties", distinct=True),
                device_count=Count("devices", distinct=True),
            )
        )

    @admin.display(ordering="property_count", description="Properties")
    def property_count(self, obj):
        return obj.property_count

    @admin.display(ordering="device_count", description="Locks")
    def device_count(self, obj):
        return obj.device_count


@admin.register(ApiKey)
class ApiKeyAdmin(WorkspaceScopedAdmin):
    list_display = ["key_prefix", "workspace", "name", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["workspace", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "key_prefix"]
    fields = ["workspace", "name", "key_prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["key_prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "workspace"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        key, raw = api_key_create(workspace=obj.workspace, name=obj.name)
        obj.pk = key.pk
        obj.refresh_from_db()
        obj.raw_key = raw  # for response_add, this request only; never stored

    def response_add(self, request, obj, post_url_continue=None):
        """The new key on a page of its own, rendered here and never cached: not in a message,
        which would carry it to the browser in the (signed, not encrypted) messages cookie."""
        raw = getattr(obj, "raw_key", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": f"New API key for {obj.workspace}",
            "subtitle": None,
            "key": obj,
            "raw_key": raw,
            "opts": self.opts,
        }
        response = TemplateResponse(request, "admin/devices/apikey/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for key in queryset:
            api_key_revoke(api_key=key)
        messages.success(request, f"Revoked {queryset.count()} key(s).")


@admin.register(Property)
class PropertyAdmin(WorkspaceScopedAdmin):
    list_display = ["name", "workspace", "time_zone", "default_check_in_time", "default_check_out_time"]
    list_filter = [("workspace", admin.RelatedOnlyFieldListFilter), "time_zone"]
    search_fields = ["name", "address", "=property_id"]
    readonly_fields = ["property_id", "created_at"]


@admin.register(ConnectedAccount)
class ConnectedAccountAdmin(WorkspaceScopedAdmin):
    list_display = ["__str__", "workspace", "provider", "created_at"]
    list_filter = ["provider", ("workspace", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["display_name", "=connected_account_id"]
    readonly_fields = ["connected_account_id", "created_at"]


class DeviceIssueInline(ReadOnlyInline):
    model = DeviceIssue
    fields = ["kind", "code", "message", "created_at", "cleared_at"]


class SandboxLockInline(admin.StackedInline):
    """Fault switches for a simulated lock: turn one on to watch Latchkey flag and retry."""

    model = SandboxLock
    can_delete = False
    verbose_name = verbose_name_plural = "Sandbox failure switches"
    fields = [
        ("is_offline", "hub_disconnected", "bridge_disconnected"),
        ("slots_full", "rejects_pin_format", "reports_duplicate_pin"),
        ("delays_programming", "fails_removal", "is_removed"),
        ("confirmation_delay_seconds", "response_delay_ms", "seed"),
    ]


@admin.register(Device)
class DeviceAdmin(WorkspaceScopedAdmin):
    list_display = [
        "display_name",
        "property",
        "workspace",
        "provider",
        "is_online",
        "battery",
        "has_keypad",
        "max_active_codes_supported",
        "active_errors",
    ]
    list_filter = [
        ("property", admin.RelatedOnlyFieldListFilter),
        "is_online",
        "connected_account__provider",
        "has_native_scheduling",
        ("workspace", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["display_name", "provider_device_id", "=device_id", "manufacturer", "model"]
    list_select_related = ["property", "workspace", "connected_account"]
    readonly_fields = ["device_id", "created_at", "sandbox_memory"]
    inlines = [DeviceIssueInline]
    actions = ["simulate_unmanaged_code", "simulate_external_changes", "simulate_external_deletes"]
    fieldsets = [
        (None, {"fields": ["device_id", "display_name", "workspace", "property", "connected_account"]}),
        (
            "Lock",
            {
                "fields": [
                    "provider_device_id",
                    "device_type",
                    "manufacturer",
                    "model",
                    "is_online",
                    "battery_level",
                ]
            },
        ),
        (
            "Capabilities",
            {"fields": list(CAPABILITY_FIELDS)},
        ),
        (
            "PIN rules",
            {"fields": ["pin_forbids_zeros", "pin_forbids_sequences", "pin_requires_unique_first_four"]},
        ),
        ("Name rules", {"fields": ["name_max_length", "name_must_be_unique", "name_splits_first_last"]}),
        ("History", {"fields": ["created_at"]}),
    ]

    def get_inlines(self, request, obj):
        if obj is not None and obj.connected_account.provider == ProviderKind.SANDBOX:
            return [*self.inlines, SandboxLockInline]
        return self.inlines

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and obj.connected_account.provider == ProviderKind.SANDBOX:
            return [*fieldsets, ("Sandbox lock memory", {"fields": ["sandbox_memory"]})]
        return fieldsets

    @admin.display(description="Codes held by the simulated lock")
    def sandbox_memory(self, obj):
        held = list(SandboxHeldCode.objects.filter(lock__device=obj))
        return fragment("admin/devices/device/sandbox_memory.html", held=held)

    def _sandbox_devices(self, request, queryset):
        devices = list(queryset.filter(connected_account__provider=ProviderKind.SANDBOX))
        if len(devices) < queryset.count():
            messages.warning(request, "Only sandbox locks can be simulated; real locks were skipped.")
        return devices

    @admin.action(description="Sandbox: add a code set outside Latchkey (unmanaged)")
    def simulate_unmanaged_code(self, request, queryset):
        for device in self._sandbox_devices(request, queryset):
            SandboxProvider(device.connected_account).simulate_unmanaged_code(device.provider_device_id)

    @admin.action(description="Sandbox: change every Latchkey code's PIN outside Latchkey")
    def simulate_external_changes(self, request, queryset):
        for device in self._sandbox_devices(request, queryset):
            provider = SandboxProvider(device.connected_account)
            for held in provider.list_codes(device.provider_device_id):
                if held.code:
                    changed = held.code[:-1] + str((int(held.code[-1]) + 1) % 10)
                    provider.simulate_external_change(
                        device.provider_device_id, held.provider_code_id, new_code=changed
                    )

    @admin.action(description="Sandbox: delete every code from the lock outside Latchkey")
    def simulate_external_deletes(self, request, queryset):
        for device in self._sandbox_devices(request, queryset):
            provider = SandboxProvider(device.connected_account)
            for held in provider.list_codes(device.provider_device_id):
                provider.simulate_external_delete(device.provider_device_id, held.provider_code_id)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                active_error_count=Count(
                    "issues", filter=Q(issues__cleared_at__isnull=True, issues__kind="error"), distinct=True
                )
            )
        )

    @admin.display(ordering="connected_account__provider")
    def provider(self, obj):
        return obj.connected_account.get_provider_display()

    @admin.display(description="Battery")
    def battery(self, obj):
        return "—" if obj.battery_level is None else f"{obj.battery_level:.0%}"

    @admin.display(boolean=True, description="Keypad")
    def has_keypad(self, obj):
        return obj.has_keypad

    @admin.display(ordering="active_error_count", description="Errors")
    def active_errors(self, obj):
        return obj.active_error_count


@admin.register(DeviceIssue)
class DeviceIssueAdmin(ReadOnlyAdmin):
    workspace_path = ("device__workspace", "connected_account__workspace")

    list_display = ["code", "kind", "device", "connected_account", "created_at", "cleared_at"]
    list_filter = ["kind", ("cleared_at", admin.EmptyFieldListFilter), "code"]
    search_fields = ["code", "message", "device__display_name"]
    list_select_related = ["device", "connected_account"]


@admin.register(SandboxCommand)
class SandboxCommandAdmin(ReadOnlyAdmin):
    workspace_path = "lock__device__workspace"

    list_display = ["sent_at", "lock", "action", "provider_code_id", "result", "errors"]
    list_filter = ["action", "result"]
    list_select_related = ["lock__device"]


@admin.register(Membership)
class MembershipAdmin(WorkspaceScopedAdmin):
    list_display = ["user", "workspace", "created_at"]
    list_filter = [("workspace", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "workspace__name"]
    list_select_related = ["user", "workspace"]
