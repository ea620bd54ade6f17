"""Admin for webhooks: what providers sent (with its verdict, and a replay action), the
integrations' subscriptions (disabled ones flagged), and every delivery with its attempts.
Subscriptions are added and changed through webhooks.services.subscriptions, like the API's."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from devices.admin import ReadOnlyAdmin, ReadOnlyInline, WorkspaceScopedAdmin
from devices.credentials import masked
from webhooks.models import (
    InboundDelivery,
    OutboundAttempt,
    OutboundDelivery,
    WebhookSubscription,
)
from webhooks.services import inbound, subscriptions


@admin.register(InboundDelivery)
class InboundDeliveryAdmin(ReadOnlyAdmin):
    workspace_path = "connected_account__workspace"
    list_display = ["received_at", "source", "event_type", "verdict", "status", "response_status", "reason"]
    list_filter = ["status", "verdict", "source", "event_type"]
    search_fields = ["=event_id", "=inbound_delivery_id", "reason"]
    date_hierarchy = "received_at"
    actions = ["replay"]
    readonly_fields = [
        "inbound_delivery_id",
        "source",
        "connected_account",
        "received_at",
        "verdict",
        "status",
        "reason",
        "response_status",
        "event_id",
        "event_type",
        "occurred_at",
        "duplicate_of",
        "attempt_count",
        "next_attempt_at",
        "processed_at",
        "body_size",
        "headers",
        "body",
    ]

    @admin.action(description="Process the selected deliveries again")
    def replay(self, request, queryset):
        replayed = 0
        for delivery in queryset:
            try:
                inbound.inbound_replay(delivery=delivery)
            except ValidationError as exc:
                self.message_user(request, f"{delivery}: {' '.join(exc.messages)}", level=messages.WARNING)
            else:
                replayed += 1
        if replayed:
            self.message_user(request, f"Queued {replayed} deliveries for processing.")


class SubscriptionForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        choices=[(t, t) for t in subscriptions.EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every event type.",
    )

    class Meta:
        model = WebhookSubscription
        fields = ["workspace", "url", "event_types"]

    def clean(self):
        cleaned = super().clean()
        problem = subscriptions.url_problem(cleaned.get("url"))
        if problem:
            self.add_error("url", f"The URL {problem}")
        return cleaned


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(WorkspaceScopedAdmin):
    form = SubscriptionForm
    list_display = ["url", "workspace", "state", "event_type_count", "created_at"]
    list_filter = ["is_disabled", "workspace"]
    search_fields = ["url", "=webhook_id"]
    readonly_fields = [
        "webhook_id",
        "shown_secret",
        "created_at",
        "is_disabled",
        "disabled_at",
        "disabled_reason",
        "failing_since",
    ]
    actions = ["enable"]

    @admin.display(description="state", ordering="is_disabled")
    def state(self, obj):
        if obj.is_disabled:
            return format_html('<strong class="lk-disabled">Disabled</strong>: {}', obj.disabled_reason)
        if obj.failing_since:
            return format_html("Failing since {}", obj.failing_since.strftime("%Y-%m-%d %H:%M UTC"))
        return "Active"

    @admin.display(description="event types")
    def event_type_count(self, obj):
        return len(obj.event_types)

    @admin.display(description="secret")
    def shown_secret(self, obj):
        return masked(obj.secret) if obj and obj.secret else "—"

    def save_model(self, request, obj, form, change):
        types = form.cleaned_data.get("event_types") or None
        if change:
            saved = subscriptions.subscription_update(
                subscription=obj, url=form.cleaned_data["url"], event_types=types
            )
        else:
            saved = subscriptions.subscription_create(
                workspace=form.cleaned_data["workspace"], url=form.cleaned_data["url"], event_types=types
            )
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        subscriptions.subscription_delete(subscription=obj)

    @admin.action(description="Enable the selected subscriptions again")
    def enable(self, request, queryset):
        for subscription in queryset.filter(is_disabled=True):
            subscriptions.subscription_enable(subscription=subscription)
        self.message_user(request, "Enabled; pending deliveries go out at the next send.")


class OutboundAttemptInline(ReadOnlyInline):
    model = OutboundAttempt
    fields = ["attempted_at", "status_code", "duration_ms", "error", "response_body"]


@admin.register(OutboundDelivery)
class OutboundDeliveryAdmin(ReadOnlyAdmin):
    workspace_path = "subscription__workspace"
    list_display = [
        "created_at",
        "event_type",
        "subscription",
        "status",
        "attempt_count",
        "last_status_code",
        "next_attempt_at",
    ]
    list_filter = ["status", "event_type"]
    search_fields = ["=outbound_delivery_id", "subscription__url"]
    readonly_fields = [
        "outbound_delivery_id",
        "subscription",
        "event",
        "event_type",
        "status",
        "attempt_count",
        "next_attempt_at",
        "finished_at",
        "last_status_code",
        "last_error",
        "created_at",
        "body",
    ]
    exclude = ["claimed_until"]
    inlines = [OutboundAttemptInline]
