"""Admin for access codes. Adds, edits and deletes go through codes.services, like the API's."""

import contextlib
import uuid
import zoneinfo

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.utils.html import format_html, format_html_join

from codes import catalog, services
from codes.models import (
    AccessCode,
    AccessCodeIssue,
    AccessCodeStatus,
    ActionAttempt,
    BackupAccessCode,
    BackupAccessCodePool,
    Event,
)
from codes.selectors import access_code_issues, with_issue_counts
from devices.admin import ReadOnlyAdmin

# Service field names (the API's) that the admin form calls differently.
_FORM_FIELD_FOR = {"device_id": "device", "allow_external_modification": "is_external_modification_allowed"}
_UTC = zoneinfo.ZoneInfo("UTC")


def local_time(value, access_code: AccessCode):
    """The instant in the property's time zone, with UTC on hover."""
    if value is None:
        return "—"
    prop = access_code.device.property
    zone = prop.zone if prop else _UTC
    local = value.astimezone(zone)
    return format_html(
        '<span title="{}">{}</span>',
        value.astimezone(_UTC).strftime("%Y-%m-%d %H:%M UTC"),
        local.strftime("%Y-%m-%d %H:%M %Z"),
    )


class LiveFilter(admin.SimpleListFilter):
    """Deleted codes keep their history but leave the list unless asked for."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("deleted", "Deleted"), ("all", "All")]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Live",
        }
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        if self.value() == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "all":
            return queryset
        return queryset.filter(deleted_at__isnull=True)


class HasErrorsFilter(admin.SimpleListFilter):
    """Counts what the code shows: its own errors and those of its lock and account."""

    title = "errors"
    parameter_name = "has_errors"

    def lookups(self, request, model_admin):
        return [("yes", "Has errors"), ("no", "No errors")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(error_count__gt=0)
        if self.value() == "no":
            return queryset.filter(error_count=0)
        return queryset


class AccessCodeForm(forms.ModelForm):
    """Checks the code against its lock with the same function the services use, so the admin
    shows each problem beside the field it concerns."""

    class Meta:
        model = AccessCode
        fields = [
            "device",
            "name",
            "code",
            "starts_at",
            "ends_at",
            "is_offline_access_code",
            "is_one_time_use",
            "use_backup_access_code_pool",
            "is_external_modification_allowed",
        ]
        help_texts = {
            "code": "Leave empty to generate a PIN that satisfies the lock's rules.",
            "starts_at": "In UTC. Leave start and end empty for an ongoing code.",
            "ends_at": "In UTC.",
        }

    def service_request(self) -> services.AccessCodeRequest:
        """A new code, as the service takes it."""
        data = self.cleaned_data
        return services.AccessCodeRequest(
            name=data.get("name") or "",
            code=data.get("code") or None,
            starts_at=data.get("starts_at"),
            ends_at=data.get("ends_at"),
            is_offline_access_code=data.get("is_offline_access_code", False),
            is_one_time_use=data.get("is_one_time_use", False),
            use_backup_access_code_pool=data.get("use_backup_access_code_pool", False),
            allow_external_modification=data.get("is_external_modification_allowed", False),
        )

    def service_changes(self) -> dict:
        """An edit, as access_code_update takes it: only the fields the person changed, so an
        untouched field (a window with microseconds the widget cannot show, an expired end)
        is never rewritten or judged again."""
        data, changed = self.cleaned_data, set(self.changed_data)
        changes = {}
        if "name" in changed:
            changes["name"] = data.get("name") or ""
        if "code" in changed:
            changes["code"] = data.get("code") or None  # emptied: generate a new PIN
        if changed & {"starts_at", "ends_at"}:
            if data.get("starts_at") is None and data.get("ends_at") is None:
                changes["make_ongoing"] = True
            else:
                changes.update(starts_at=data.get("starts_at"), ends_at=data.get("ends_at"))
        if "use_backup_access_code_pool" in changed:
            changes["use_backup_access_code_pool"] = data["use_backup_access_code_pool"]
        if "is_external_modification_allowed" in changed:
            changes["allow_external_modification"] = data["is_external_modification_allowed"]
        return changes

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            if not self.instance._state.adding:  # (a new code already has its UUID as pk)
                services.access_code_update_check(access_code=self.instance, **self.service_changes())
            elif data.get("device") is not None:
                services.access_code_check(device=data["device"], request=self.service_request())
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                field = _FORM_FIELD_FOR.get(field, field)
                self.add_error(field if field in self.fields else None, messages)
        return data


class AccessCodeIssueInline(admin.TabularInline):
    model = AccessCodeIssue
    fields = ["kind", "code", "message", "created_at", "cleared_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Error and warning history"

    def has_add_permission(self, request, obj=None):
        return False


class EventInline(admin.TabularInline):
    model = Event
    fields = ["event_type", "occurred_at", "payload"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-occurred_at"]
    verbose_name_plural = "Event timeline"

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(AccessCode)
class AccessCodeAdmin(admin.ModelAdmin):
    form = AccessCodeForm
    list_display = [
        "__str__",
        "status",
        "type",
        "device",
        "property",
        "starts_local",
        "ends_local",
        "error_count",
        "warning_count",
        "needs_review",
    ]
    list_filter = [
        LiveFilter,
        "status",
        "type",
        "device__property",
        HasErrorsFilter,
        "needs_review",
        "is_managed",
    ]
    search_fields = ["name", "code"]
    list_select_related = ["device__property"]
    inlines = [AccessCodeIssueInline, EventInline]
    readonly_fields = [
        "access_code_id",
        "status",
        "type",
        "appearance",
        "common_code_key",
        "window_local",
        "current_issues",
        "is_managed",
        "is_scheduled_on_device",
        "is_waiting_for_code_assignment",
        "is_backup",
        "pulled_backup_access_code",
        "needs_review",
        "review_reason",
        "created_at",
        "updated_at",
        "deleted_at",
        "next_attempt_at",
        "attempt_count",
    ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # The lock and the kind of code are fixed once created; delete and create anew instead.
        return [*self.readonly_fields, "device", "is_offline_access_code", "is_one_time_use"]

    def get_fieldsets(self, request, obj=None):
        editable = ["device", "name", "code", "starts_at", "ends_at"]
        options = [
            "is_offline_access_code",
            "is_one_time_use",
            "use_backup_access_code_pool",
            "is_external_modification_allowed",
        ]
        if obj is None:
            return [(None, {"fields": editable}), ("Options", {"fields": options})]
        return [
            (None, {"fields": ["access_code_id", "status", "type", *editable, "window_local", "appearance"]}),
            ("Errors and warnings", {"fields": ["current_issues", "needs_review", "review_reason"]}),
            ("Options", {"fields": options}),
            (
                "Details",
                {
                    "classes": ["collapse"],
                    "fields": [
                        "common_code_key",
                        "is_managed",
                        "is_scheduled_on_device",
                        "is_waiting_for_code_assignment",
                        "is_backup",
                        "pulled_backup_access_code",
                        "created_at",
                        "updated_at",
                        "deleted_at",
                        "next_attempt_at",
                        "attempt_count",
                    ],
                },
            ),
        ]

    def get_queryset(self, request):
        return with_issue_counts(super().get_queryset(request))

    def has_change_permission(self, request, obj=None):
        # Deleted codes are history and unmanaged ones belong to the lock: view only.
        if obj is not None and (obj.deleted_at is not None or not obj.is_managed):
            return False
        return super().has_change_permission(request, obj)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        with contextlib.suppress(ValueError):  # not an id: the name/code search above stands
            queryset |= self.get_queryset(request).filter(pk=uuid.UUID(search_term.strip()))
        return queryset, may_have_duplicates

    @admin.display(ordering="device__property__name")
    def property(self, obj):
        return obj.device.property or "—"

    @admin.display(ordering="starts_at", description="Starts (local)")
    def starts_local(self, obj):
        return local_time(obj.starts_at, obj)

    @admin.display(ordering="ends_at", description="Ends (local)")
    def ends_local(self, obj):
        return local_time(obj.ends_at, obj)

    @admin.display(description="Window (property's local time)")
    def window_local(self, obj):
        if obj.starts_at is None:
            return "Ongoing: no start or end."
        return format_html("{} → {}", local_time(obj.starts_at, obj), local_time(obj.ends_at, obj))

    @admin.display(ordering="error_count", description="Errors")
    def error_count(self, obj):
        return obj.error_count

    @admin.display(ordering="warning_count", description="Warnings")
    def warning_count(self, obj):
        return obj.warning_count

    @admin.display(description="Current errors and warnings")
    def current_issues(self, obj):
        shown = access_code_issues(obj)
        if not shown:
            return "None."
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li><strong>{} {}</strong>: {}<br>What to do: {}</li>",
                ((i.kind, i.code, i.message, i.remedy) for i in shown),
            ),
        )

    def save_model(self, request, obj, form, change):
        if change:
            saved = services.access_code_update(access_code=obj, **form.service_changes())
        else:
            saved = services.access_code_create(
                device=form.cleaned_data["device"], request=form.service_request()
            )
        # The admin goes on with ``obj`` (log entry, redirect): make it the row the service wrote.
        obj.pk = saved.pk
        obj._state.adding = False
        obj.refresh_from_db()

    def get_deleted_objects(self, objs, request):
        # Deleting a code is soft (its errors and events stay as history), so the confirmation
        # page lists only the codes themselves, not the rows Django would cascade to.
        objs = list(objs)
        return [str(o) for o in objs], {AccessCode._meta.verbose_name_plural: len(objs)}, set(), []

    def delete_model(self, request, obj):
        services.access_code_delete(access_code=obj)

    def delete_queryset(self, request, queryset):
        for access_code in queryset:
            services.access_code_delete(access_code=access_code)


@admin.register(AccessCodeIssue)
class AccessCodeIssueAdmin(ReadOnlyAdmin):
    list_display = ["code", "kind", "access_code", "created_at", "cleared_at", "remedy"]
    list_filter = ["kind", ("cleared_at", admin.EmptyFieldListFilter), "code"]
    search_fields = ["code", "message", "access_code__name"]
    list_select_related = ["access_code"]

    @admin.display(description="What to do")
    def remedy(self, obj):
        return catalog.lookup(obj.kind, obj.code).remedy


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["event_type", "occurred_at", "access_code", "device", "workspace"]
    list_filter = ["event_type", "workspace"]
    search_fields = ["=event_id", "access_code__name"]
    list_select_related = ["access_code", "device", "workspace"]
    date_hierarchy = "occurred_at"


@admin.register(ActionAttempt)
class ActionAttemptAdmin(ReadOnlyAdmin):
    list_display = ["action_attempt_id", "action_type", "status", "access_code", "created_at"]
    list_filter = ["action_type", "status"]
    list_select_related = ["access_code"]


class BackupAccessCodeInline(admin.TabularInline):
    model = BackupAccessCode
    fk_name = "pool"
    fields = ["access_code", "pulled_for", "pulled_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(BackupAccessCodePool)
class BackupAccessCodePoolAdmin(admin.ModelAdmin):
    list_display = ["device", "is_enabled", "target_size", "auto_pull", "available"]
    list_filter = ["is_enabled"]
    list_select_related = ["device"]
    inlines = [BackupAccessCodeInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                available_count=Count(
                    "backup_codes",
                    filter=Q(
                        backup_codes__access_code__status=AccessCodeStatus.SET,
                        backup_codes__access_code__deleted_at__isnull=True,
                        backup_codes__pulled_for__isnull=True,
                    ),
                )
            )
        )

    @admin.display(ordering="available_count", description="Ready on the lock")
    def available(self, obj):
        return obj.available_count


@admin.register(BackupAccessCode)
class BackupAccessCodeAdmin(ReadOnlyAdmin):
    list_display = ["backup_access_code_id", "pool", "access_code", "pulled_for", "pulled_at"]
    list_filter = [("pulled_for", admin.EmptyFieldListFilter)]
    list_select_related = ["pool__device", "access_code", "pulled_for"]
