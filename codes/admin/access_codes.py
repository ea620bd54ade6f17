"""The access code's admin: its list and its page (readiness, errors with what to do, history,
backup code, review state, and the action buttons). Adds, edits and deletes go through
codes.services, like the API's."""

import contextlib
import uuid

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from codes.admin.actions import CODE_ACTIONS, offered_actions
from codes.admin.forms import AccessCodeChangeForm, AccessCodeForm
from codes.admin.inlines import AccessCodeIssueInline
from codes.extensions import code_page_sections
from codes.models import AccessCode, AccessCodeStatus, BackupAccessCode, BackupAccessCodePool
from codes.pages import readiness, readiness_sentence, seam_details, timeline_for_code
from codes.selectors import access_code_issues, codes_showing_errors, reserve, with_shown_issues
from codes.services import access_codes, backup_pool, drift, staff
from codes.templatetags.latchkey import local_time_html
from common.pins import mask_pins
from devices.admin import WorkspaceScopedAdmin, fragment
from devices.models import IssueKind


def local_time(value, access_code: AccessCode):
    """The instant in the property's time zone, with UTC on hover."""
    if value is None:
        return "—"
    return local_time_html(value, access_code.device.zone)


class DefaultNarrowedFilter(admin.SimpleListFilter):
    """A filter whose unset state is not "All" but the everyday view (``default_label``,
    ``default_filter``); ``narrowed`` maps each other choice's value to its filter (``None``:
    everything)."""

    default_label: str
    default_filter: dict
    narrowed: dict[str, tuple[str, dict | None]]

    def lookups(self, request, model_admin):
        return [(value, label) for value, (label, _) in self.narrowed.items()]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": self.default_label,
        }
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        if self.value() in self.narrowed:
            lookup = self.narrowed[self.value()][1]
            return queryset if lookup is None else queryset.filter(**lookup)
        return queryset.filter(**self.default_filter)


class LiveFilter(DefaultNarrowedFilter):
    """Deleted codes keep their history but leave the list unless asked for."""

    title = "state"
    parameter_name = "state"
    default_label = "Live"
    default_filter = {"deleted_at__isnull": True}
    narrowed = {"deleted": ("Deleted", {"deleted_at__isnull": False}), "all": ("All", None)}


class KindFilter(DefaultNarrowedFilter):
    """Backup codes wait on the lock in reserve: they are listed apart from guests' and staff's
    codes, which are what a manager looks for."""

    title = "kind of code"
    parameter_name = "kind"
    default_label = "Guests and staff"
    default_filter = {"is_backup": False}
    narrowed = {"backup": ("Backup codes", {"is_backup": True}), "all": ("All", None)}


class HasErrorsFilter(admin.SimpleListFilter):
    """Counts what the code shows: its own errors and those of its lock and account."""

    title = "errors"
    parameter_name = "has_errors"

    def lookups(self, request, model_admin):
        return [("yes", "Has errors"), ("no", "No errors")]

    def queryset(self, request, queryset):
        if self.value() not in ("yes", "no"):
            return queryset
        with_errors = codes_showing_errors(queryset)
        return (
            queryset.filter(pk__in=with_errors)
            if self.value() == "yes"
            else queryset.exclude(pk__in=with_errors)
        )


def mask_pin(pin: str | None) -> str:
    return "—" if not pin else "•" * len(pin)


def readiness_badge(code: AccessCode):
    r = readiness(code)
    return format_html('<span class="lk-badge lk-{}">{}</span>', r.value, r.label)


@admin.register(AccessCode)
class AccessCodeAdmin(WorkspaceScopedAdmin):
    form = AccessCodeForm
    change_form_template = "admin/codes/accesscode/change_form.html"
    # Fits 1366 px: readiness says what status and type would; the stay is one column, its
    # problems another. Seam's status and type are on the code's page, in its details line.
    list_display = [
        "__str__",
        "readiness_shown",
        "pin",
        "door",
        "stay_local",
        "problems",
        "needs_review",
    ]
    list_filter = [
        KindFilter,
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
                    # Readiness leads the page in one sentence (the template's summary); Seam's
                    # status and type are in its details line, not beside it.
                    "fields": [
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

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = AccessCodeChangeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_changelist_instance(self, request):
        """Each row on the page carries the issues it shows (two queries for the page), for its
        readiness and its counts."""
        changelist = super().get_changelist_instance(request)
        for code in with_shown_issues(changelist.result_list):
            code.error_count = sum(1 for i in code.shown_issues if i.kind == IssueKind.ERROR)
            code.warning_count = len(code.shown_issues) - code.error_count
        return changelist

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
        return fragment(
            "admin/codes/accesscode/history.html",
            entries=timeline_for_code(obj),
            property=obj.device.property,
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
        lines = []
        if obj.needs_review:
            # A reason may quote a backup PIN; PINs are revealed on request only.
            lines.append(("Flagged:", mask_pins(obj.review_reason) or "not ready in time"))
        if obj.review_assignee_id:
            lines.append(("Assigned to", obj.review_assignee.get_username()))
        if obj.review_acknowledged_at:
            lines.append(("Acknowledged", local_time(obj.review_acknowledged_at, obj)))
        if obj.review_resolved_at:
            lines.append(("Last resolved", local_time(obj.review_resolved_at, obj)))
        return fragment("admin/codes/accesscode/review_state.html", lines=lines)

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

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        summary = {}
        if obj is not None:
            shown = with_shown_issues([obj])[0]  # read once for the three lines below
            summary = {
                "readiness": readiness(shown),
                "readiness_line": readiness_sentence(shown, zone=obj.device.zone),
                "seam_details": seam_details(shown),
            }
        extra_context = {
            **(extra_context or {}),
            **summary,
            "is_nav_sidebar_enabled": False,  # a manager's page: room for the code, not model links
            "code_actions": offered_actions(request.user, obj),
            "may_delete": self.has_delete_permission(request, obj) and obj.deleted_at is None,
            "code_page_sections": code_page_sections(request, obj) if obj is not None else [],
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def action_view(self, request, object_id, action):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, object_id)
        if action not in dict(offered_actions(request.user, obj)):
            raise PermissionDenied
        back = reverse("admin:codes_accesscode_change", args=[obj.pk])
        label = CODE_ACTIONS[action].label
        try:
            if action == "reveal":
                return self.pin_reveal_page(request, obj, back=back)
            done = CODE_ACTIONS[action].run(obj, request.user)
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                for problem in problems:
                    messages.error(request, f"{label}: {field} {problem}")
            return HttpResponseRedirect(back)
        self.log_change(request, obj, label)
        messages.success(request, done)
        return HttpResponseRedirect(back)

    def pin_reveal_page(self, request, obj, *, back: str):
        """The PIN, on a page of its own that is never cached; the service records the reveal."""
        pin = staff.access_code_pin_reveal(access_code=obj, actor=request.user)
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

    @admin.display(ordering="device__display_name", description="Door")
    def door(self, obj):
        prop = obj.device.property
        return f"{obj.device} ({prop})" if prop else str(obj.device)

    @admin.display(ordering="starts_at", description="Stay (property's time)")
    def stay_local(self, obj):
        if obj.starts_at is None:
            return "Ongoing"
        return format_html("{} →<br>{}", local_time(obj.starts_at, obj), local_time(obj.ends_at, obj))

    @admin.display(description="Problems")
    def problems(self, obj):
        if not (obj.error_count or obj.warning_count):
            return "None"
        parts = []
        if obj.error_count:
            parts.append(f"{obj.error_count} error{'s' if obj.error_count != 1 else ''}")
        if obj.warning_count:
            parts.append(f"{obj.warning_count} warning{'s' if obj.warning_count != 1 else ''}")
        return ", ".join(parts)

    def changelist_view(self, request, extra_context=None):
        # The list needs the room: the model sidebar is one click away in the admin's index.
        return super().changelist_view(request, {**(extra_context or {}), "is_nav_sidebar_enabled": False})

    @admin.display(description="Window (property's local time)")
    def window_local(self, obj):
        if obj.starts_at is None:
            return "Ongoing: no start or end."
        return format_html("{} → {}", local_time(obj.starts_at, obj), local_time(obj.ends_at, obj))

    @admin.display(description="Current errors and warnings")
    def current_issues(self, obj):
        return fragment("admin/codes/accesscode/current_issues.html", issues=access_code_issues(obj))

    def save_model(self, request, obj, form, change):
        if change:
            saved = access_codes.access_code_update(access_code=obj, **form.service_changes())
        else:
            saved = access_codes.access_code_create(
                device=form.cleaned_data["device"], request=form.service_request()
            )
        backup_pool.backup_pools_enable_for(access_codes=[saved])  # as the API's create does
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
            access_codes.access_code_delete(access_code=obj)
        else:
            drift.unmanaged_access_code_delete(access_code=obj)

    def delete_queryset(self, request, queryset):
        for access_code in queryset:
            self.delete_model(request, access_code)
