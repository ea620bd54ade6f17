"""Admin for access codes. Adds, edits and deletes go through codes.services, like the API's."""

import contextlib
import uuid
import zoneinfo

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from codes import backup_pool, catalog, services
from codes.models import (
    AccessCode,
    AccessCodeIssue,
    AccessCodeStatus,
    ActionAttempt,
    BackupAccessCode,
    BackupAccessCodePool,
    Event,
    StaffAction,
)
from codes.pages import device_slot_forecast, readiness, timeline_for_code
from codes.selectors import access_code_issues, reserve, with_issue_counts
from codes.templatetags.latchkey import local_time_html, mask_pins
from devices.admin import DeviceAdmin, ReadOnlyAdmin, WorkspaceScopedAdmin
from devices.models import Device

# Service field names (the API's) that the admin form calls differently.
_FORM_FIELD_FOR = {"device_id": "device", "allow_external_modification": "is_external_modification_allowed"}
_UTC = zoneinfo.ZoneInfo("UTC")


def local_time(value, access_code: AccessCode):
    """The instant in the property's time zone, with UTC on hover."""
    if value is None:
        return "—"
    prop = access_code.device.property
    return local_time_html(value, prop.zone if prop else _UTC)


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


class AccessCodeChangeForm(AccessCodeForm):
    """Editing a code: its PIN is never put in the page (it is revealed on request, and each
    reveal is recorded); a new one can be typed, or generated with the page's action."""

    new_code = forms.CharField(
        label="New PIN",
        required=False,
        max_length=services.CODE_MAX_LENGTH,
        help_text="Leave empty to keep the PIN. Use “Generate a new PIN” to let Latchkey choose one.",
    )

    class Meta(AccessCodeForm.Meta):
        fields = [f for f in AccessCodeForm.Meta.fields if f != "code"]

    def service_changes(self) -> dict:
        changes = super().service_changes()
        if self.cleaned_data.get("new_code"):
            changes["code"] = self.cleaned_data["new_code"]
        return changes

    def add_error(self, field, error):
        # The service names the PIN ``code``; on this form it is typed into ``new_code``.
        super().add_error("new_code" if field == "code" else field, error)


def mask_pin(pin: str | None) -> str:
    return "—" if not pin else "•" * len(pin)


def readiness_badge(code: AccessCode):
    r = readiness(code)
    return format_html('<span class="lk-badge lk-{}">{}</span>', r.value, r.label)


class AccessCodeIssueInline(admin.TabularInline):
    model = AccessCodeIssue
    fields = ["kind", "code", "message", "created_at", "cleared_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Error and warning history"

    def has_add_permission(self, request, obj=None):
        return False


# Buttons on a code's page: (name, label, permission, when shown). Each calls a service.
CODE_ACTIONS = {
    "retry": "Retry now",
    "new_pin": "Generate a new PIN",
    "pull_backup": "Pull a backup code",
    "allow_external": "Allow external modification",
    "disallow_external": "Stop allowing external modification",
    "convert": "Convert to a managed code",
    "reveal": "Reveal PIN",
}


@admin.register(AccessCode)
class AccessCodeAdmin(WorkspaceScopedAdmin):
    form = AccessCodeForm
    change_form_template = "admin/codes/accesscode/change_form.html"
    list_display = [
        "__str__",
        "readiness_shown",
        "pin",
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
        ("device__property", admin.RelatedOnlyFieldListFilter),
        HasErrorsFilter,
        "needs_review",
        "is_managed",
    ]
    search_fields = ["name", "code"]
    list_select_related = ["device__property"]
    inlines = [AccessCodeIssueInline]
    readonly_fields = [
        "access_code_id",
        "readiness_shown",
        "pin",
        "status",
        "type",
        "appearance_shown",
        "common_code_key",
        "window_local",
        "current_issues",
        "history",
        "backup_details",
        "review_state",
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
        editable = ["device", "name", "pin", "new_code", "starts_at", "ends_at"]
        return [
            (
                None,
                {
                    "fields": [
                        "readiness_shown",
                        "status",
                        "type",
                        "window_local",
                        "appearance_shown",
                        *editable,
                        "access_code_id",
                    ]
                },
            ),
            ("Errors and warnings", {"fields": ["current_issues", "review_state"]}),
            ("History", {"fields": ["history"]}),
            ("Backup code", {"fields": ["backup_details"]}),
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

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in ("starts_at", "ends_at"):
            # The admin's split inputs have one label for two boxes; name each for screen readers.
            label = str(db_field.verbose_name).capitalize()
            date_input, time_input = field.widget.widgets
            date_input.attrs["aria-label"] = f"{label}: date (UTC)"
            time_input.attrs["aria-label"] = f"{label}: time (UTC)"
        return field

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = AccessCodeChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_queryset(self, request):
        return with_issue_counts(super().get_queryset(request))

    def get_search_fields(self, request):
        # Searching by PIN would tell whoever may not see PINs which ones exist.
        if request.user.has_perm("codes.view_pin"):
            return self.search_fields
        return [f for f in self.search_fields if f != "code"]

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

    @admin.display(description="Readiness")
    def readiness_shown(self, obj):
        return readiness_badge(obj)

    @admin.display(description="PIN")
    def pin(self, obj):
        if obj.code is None:
            return "Waiting for the lock's algorithm" if obj.is_waiting_for_code_assignment else "—"
        return format_html('<span aria-label="PIN hidden">{}</span>', mask_pin(obj.code))

    @admin.display(description="Name on the lock")
    def appearance_shown(self, obj):
        shown = obj.appearance or {}
        parts = [shown.get("name") or "—"]
        if shown.get("first_name") or shown.get("last_name"):
            parts.append(f"(first: {shown.get('first_name', '')}, last: {shown.get('last_name', '')})")
        return " ".join(parts)

    @admin.display(description="Event timeline and staff actions")
    def history(self, obj):
        entries = timeline_for_code(obj)
        if not entries:
            return "Nothing yet."
        return format_html(
            '<ol class="lk-history">{}</ol>',
            format_html_join(
                "",
                "<li><time>{}</time> <strong>{}</strong> {}</li>",
                ((local_time(when, obj), what, detail) for when, what, detail in entries),
            ),
        )

    @admin.display(description="Backup code")
    def backup_details(self, obj):
        if obj.is_backup:
            slot = BackupAccessCode.objects.filter(access_code=obj).select_related("pulled_for").first()
            if slot and slot.pulled_for_id:
                return format_html(
                    "A backup code from the lock's pool, pulled {} for “{}”.",
                    local_time(slot.pulled_at, obj),
                    slot.pulled_for,
                )
            return "A backup code held in reserve on the lock."
        if obj.pulled_backup_access_code_id:
            backup = obj.pulled_backup_access_code
            url = reverse("admin:codes_accesscode_change", args=[backup.pk])
            return format_html(
                'Backup pulled: <a href="{}">{}</a> (status {}, PIN {}). Give the guest its PIN.',
                url,
                backup,
                backup.get_status_display(),
                mask_pin(backup.code),
            )
        if not obj.use_backup_access_code_pool:
            return "This code does not draw on the lock's backup pool."
        pool = BackupAccessCodePool.objects.filter(device_id=obj.device_id).first()
        if pool is None or not pool.is_enabled:
            return "The lock has no enabled backup pool."
        ready = reserve(pool).filter(access_code__status=AccessCodeStatus.SET).count()
        return (
            f"{ready} backup code(s) ready on the lock; "
            f"{'pulled by itself' if pool.auto_pull else 'pulled by hand'} if this code is not set in time."
        )

    @admin.display(description="Review")
    def review_state(self, obj):
        parts = []
        if obj.needs_review:
            # A reason may quote a backup PIN; PINs are revealed on request only.
            parts.append(format_html("Flagged: {}", mask_pins(obj.review_reason) or "not ready in time"))
        if obj.review_assignee_id:
            parts.append(format_html("Assigned to {}", obj.review_assignee.get_username()))
        if obj.review_acknowledged_at:
            parts.append(format_html("Acknowledged {}", local_time(obj.review_acknowledged_at, obj)))
        if obj.review_resolved_at:
            parts.append(format_html("Last resolved {}", local_time(obj.review_resolved_at, obj)))
        if not parts:
            return "Not flagged."
        return format_html_join(mark_safe("<br>"), "{}", ((p,) for p in parts))  # noqa: S308

    # --- Actions on one code: each a POST to its own URL, each through a service -------------

    def get_urls(self):
        urls = super().get_urls()
        return [
            path(
                "<path:object_id>/do/<slug:action>/",
                self.admin_site.admin_view(self.action_view),
                name="codes_accesscode_action",
            ),
            *urls,
        ]

    def available_actions(self, request, obj) -> list[tuple[str, str]]:
        user = request.user
        may_change = user.has_perm("codes.change_accesscode")
        may_act = may_change or user.has_perm("codes.review_accesscode")
        live = obj.deleted_at is None
        names = []
        if may_act and (live or obj.status == AccessCodeStatus.REMOVING) and obj.is_managed:
            names.append("retry")
        if may_change and live and obj.is_managed:
            if not obj.is_offline_access_code:
                names.append("new_pin")
            if obj.use_backup_access_code_pool and not obj.pulled_backup_access_code_id:
                names.append("pull_backup")
            names.append("disallow_external" if obj.is_external_modification_allowed else "allow_external")
        if may_change and live and not obj.is_managed:
            names.append("convert")
        if user.has_perm("codes.view_pin") and obj.code:
            names.append("reveal")
        return [(name, CODE_ACTIONS[name]) for name in names]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "code_actions": self.available_actions(request, obj),
            "may_delete": self.has_delete_permission(request, obj) and obj.deleted_at is None,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def action_view(self, request, object_id, action):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, object_id)
        if action not in dict(self.available_actions(request, obj)):
            raise PermissionDenied
        back = reverse("admin:codes_accesscode_change", args=[obj.pk])
        user = request.user
        try:
            if action == "reveal":
                pin = services.access_code_pin_reveal(access_code=obj, actor=user)
                context = {
                    **self.admin_site.each_context(request),
                    "title": f"PIN of {obj}",
                    "subtitle": None,
                    "code": obj,
                    "pin": pin,
                    "back": back,
                    "opts": self.opts,
                }
                response = TemplateResponse(request, "admin/codes/accesscode/pin_reveal.html", context)
                response["Cache-Control"] = "no-store"
                return response
            if action == "retry":
                services.access_code_retry_now(access_code=obj, actor=user)
                done = "Latchkey is checking this code with its lock now."
            elif action == "new_pin":
                services.access_code_update(access_code=obj, code=None)
                done = "A new PIN was generated; Latchkey puts it on the lock."
            elif action == "pull_backup":
                backup_pool.backup_code_pull(access_code=obj)
                done = "A backup code was pulled for this guest: reveal it on the backup code's page."
            elif action in ("allow_external", "disallow_external"):
                allow = action == "allow_external"
                services.access_code_update(access_code=obj, allow_external_modification=allow)
                done = "Changes made outside Latchkey are now " + (
                    "allowed." if allow else "undone by Latchkey."
                )
            else:  # convert
                services.access_code_convert_to_managed(access_code=obj)
                done = "Latchkey now manages this code."
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                for problem in problems:
                    messages.error(request, f"{CODE_ACTIONS[action]}: {field} {problem}")
            return HttpResponseRedirect(back)
        self.log_change(request, obj, CODE_ACTIONS[action])
        messages.success(request, done)
        return HttpResponseRedirect(back)

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
        if obj.is_managed:
            services.access_code_delete(access_code=obj)
        else:
            services.unmanaged_access_code_delete(access_code=obj)

    def delete_queryset(self, request, queryset):
        for access_code in queryset:
            self.delete_model(request, access_code)


@admin.register(AccessCodeIssue)
class AccessCodeIssueAdmin(ReadOnlyAdmin):
    workspace_path = "access_code__workspace"
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
    list_filter = ["event_type", ("workspace", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["=event_id", "access_code__name"]
    list_select_related = ["access_code", "device", "workspace"]
    date_hierarchy = "occurred_at"

    def get_exclude(self, request, obj=None):
        # A drift event's payload quotes the PIN found on the lock.
        return None if request.user.has_perm("codes.view_pin") else ["payload"]


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
class BackupAccessCodePoolAdmin(WorkspaceScopedAdmin):
    workspace_path = "device__workspace"
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
    workspace_path = "pool__device__workspace"
    list_display = ["backup_access_code_id", "pool", "access_code", "pulled_for", "pulled_at"]
    list_filter = [("pulled_for", admin.EmptyFieldListFilter)]
    list_select_related = ["pool__device", "access_code", "pulled_for"]


@admin.register(StaffAction)
class StaffActionAdmin(ReadOnlyAdmin):
    workspace_path = "access_code__workspace"
    list_display = ["created_at", "kind", "access_code", "actor", "assignee", "note"]
    list_filter = ["kind"]
    search_fields = ["note", "access_code__name", "actor__username"]
    list_select_related = ["access_code", "actor", "assignee"]


class DeviceWithCodesAdmin(DeviceAdmin):
    """The lock's page with what codes know about it: slots now and at the busiest moment to
    come, and the codes found on it that Latchkey does not manage. (Here, not in devices:
    devices never imports codes.)"""

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "at_a_glance", "unmanaged_codes"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        if not request.user.has_perm("codes.view_pin"):  # the simulated lock's memory lists PINs
            fieldsets = [f for f in fieldsets if "sandbox_memory" not in f[1]["fields"]]
        return [
            ("At a glance", {"fields": ["at_a_glance"]}),
            *fieldsets[:1],
            ("Codes on the lock that Latchkey does not manage", {"fields": ["unmanaged_codes"]}),
            *fieldsets[1:],
        ]

    @admin.display(description="Status")
    def at_a_glance(self, obj):
        forecast = device_slot_forecast(obj, now=timezone.now())
        online = ("lk-set", "Online") if obj.is_online else ("lk-failed", "Offline")
        battery = "not reported" if obj.battery_level is None else f"{obj.battery_level:.0%}"
        slots = (
            f"{forecast.used_now} used, {forecast.free_now} free of {forecast.slots}"
            if forecast.slots is not None
            else f"{forecast.used_now} used (capacity unknown)"
        )
        peak = f"{forecast.peak_used} slots" + (
            f", {forecast.free_at_peak} free" if forecast.slots is not None else ""
        )
        return format_html(
            '<dl class="lk-facts"><dt>Connection</dt><dd><span class="lk-badge {}">{}</span></dd>'
            "<dt>Battery</dt><dd>{}</dd><dt>Keypad</dt><dd>{}</dd><dt>Slots</dt><dd>{}</dd>"
            "<dt>Forecast peak</dt><dd>{} at {}</dd></dl>",
            online[0],
            online[1],
            battery,
            "yes" if obj.has_keypad else "no",
            slots,
            peak,
            _device_time(forecast.peak_at, obj),
        )

    @admin.display(description="Unmanaged codes")
    def unmanaged_codes(self, obj):
        codes = AccessCode.objects.live().filter(device=obj, is_managed=False).order_by("name")
        if not codes:
            return "None."
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}">{}</a> (PIN {}) — open it to convert it to managed or delete it.</li>',
                (
                    (
                        reverse("admin:codes_accesscode_change", args=[c.pk]),
                        c.name or "Unnamed code",
                        mask_pin(c.code),
                    )
                    for c in codes
                ),
            ),
        )


def _device_time(value, device: Device):
    return local_time_html(value, device.property.zone if device.property else _UTC)


admin.site.unregister(Device)
admin.site.register(Device, DeviceWithCodesAdmin)
admin.site.index_template = "admin/latchkey_index.html"
