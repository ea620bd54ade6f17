"""Read-only records that only services write: issues, events, provider action attempts and
staff actions."""

from django.contrib import admin

from codes import catalog
from codes.models import AccessCodeIssue, ActionAttempt, Event, StaffAction
from common.pins import mask_pins
from devices.admin import ReadOnlyAdmin


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


@admin.register(ActionAttempt)
class ActionAttemptAdmin(ReadOnlyAdmin):
    list_display = ["action_attempt_id", "action_type", "status", "access_code", "created_at"]
    list_filter = ["action_type", "status"]
    list_select_related = ["access_code"]


@admin.register(StaffAction)
class StaffActionAdmin(ReadOnlyAdmin):
    workspace_path = "access_code__workspace"
    list_display = ["created_at", "kind", "access_code", "actor", "assignee", "note_shown"]
    list_filter = ["kind"]
    search_fields = ["note", "access_code__name", "actor__username"]
    list_select_related = ["access_code", "actor", "assignee"]
    readonly_fields = ["note_shown", "problems_shown"]

    # Notes and problems are free text and may quote a PIN: shown masked to everyone (those
    # who may see PINs reveal them on the code's page, recorded); the raw fields leave the page
    # and its lookups for whoever may not reveal PINs (PinGuardedAdmin).
    @admin.display(description="note")
    def note_shown(self, obj):
        return mask_pins(obj.note)

    @admin.display(description="problems when resolved")
    def problems_shown(self, obj):
        return "; ".join(mask_pins(p) for p in obj.problems) or "—"
