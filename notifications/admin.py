"""Notifications in the admin's look: channels (URL typed once, then shown masked), rules, the
outbox with every attempt, guests' contacts with "send the code now", and guest templates."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from devices import credentials
from devices.admin import ReadOnlyAdmin, ReadOnlyInline, WorkspaceScopedAdmin
from devices.selectors import workspaces_visible_to
from notifications.models import (
    AlertKind,
    GuestContact,
    GuestMessageTemplate,
    Notification,
    NotificationAttempt,
    NotificationChannel,
    NotificationRule,
)
from notifications.services import channels, guests


class ChannelForm(forms.ModelForm):
    url = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="An Apprise URL (mailto://, slack://, msteams://, tgram://, ntfy://, json://...). "
        "Stored encrypted and never shown again in full; leave empty to keep the current one.",
    )

    class Meta:
        model = NotificationChannel
        fields = ["workspace", "name", "url"]

    def clean(self):
        cleaned = super().clean()
        url = cleaned.get("url")
        if not url and self.instance.pk is None:
            self.add_error("url", "Give the channel's Apprise URL.")
        elif url:
            try:
                self.plugin = channels.apprise_plugin(url)
            except ValidationError as exc:
                self.add_error("url", exc.message_dict["url"])
        return cleaned


@admin.register(NotificationChannel)
class NotificationChannelAdmin(WorkspaceScopedAdmin):
    form = ChannelForm
    list_display = ["name", "service", "url_masked", "workspace", "created_at"]
    list_filter = ["workspace"]
    readonly_fields = ["service", "url_masked", "created_at"]
    actions = ["send_test"]

    def save_model(self, request, obj, form, change):
        url = form.cleaned_data.get("url")
        if url:
            plugin = form.plugin
            obj.encrypted_url = credentials.encrypt({"url": url.strip()})
            obj.url_masked = plugin.url(privacy=True)[:500]
            obj.service = str(getattr(plugin, "service_name", "") or url.split("://", 1)[0])[:100]
        super().save_model(request, obj, form, change)

    @admin.action(description="Send a test message through the selected channels")
    def send_test(self, request, queryset):
        for channel in queryset:
            result = channels.channel_send(
                channel, title="Latchkey test message", body=f"The channel {channel.name} works."
            )
            if result.ok:
                self.message_user(request, f"{channel.name}: sent.")
            else:
                self.message_user(request, f"{channel.name}: failed: {result.error}", level=messages.ERROR)


class RuleForm(forms.ModelForm):
    kinds = forms.MultipleChoiceField(
        choices=AlertKind.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = NotificationRule
        fields = [
            "workspace",
            "property",
            "name",
            "is_enabled",
            "channels",
            "people",
            "kinds",
            "immediate",
            "digest",
            "digest_time",
            "digest_all_clear",
            "quiet_start",
            "quiet_end",
        ]

    def clean(self):
        cleaned = super().clean()
        workspace = cleaned.get("workspace")
        if workspace is None:
            return cleaned
        try:
            channels.rule_check(
                workspace=workspace,
                property=cleaned.get("property"),
                kinds=cleaned.get("kinds") or [],
                people=cleaned.get("people") or [],
                quiet_start=cleaned.get("quiet_start"),
                quiet_end=cleaned.get("quiet_end"),
            )
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                self.add_error(field, problems)
        if any(c.workspace_id != workspace.pk for c in cleaned.get("channels") or []):
            self.add_error("channels", "A channel belongs to another workspace.")
        return cleaned


@admin.register(NotificationRule)
class NotificationRuleAdmin(WorkspaceScopedAdmin):
    form = RuleForm
    list_display = ["name", "workspace", "property", "is_enabled", "immediate", "digest", "digest_time"]
    list_filter = ["workspace", "is_enabled"]
    filter_horizontal = ["channels", "people"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        # Only the person's own workspaces' channels and members are offered.
        visible = workspaces_visible_to(request.user)
        if db_field.name == "channels":
            kwargs["queryset"] = NotificationChannel.objects.filter(workspace__in=visible)
        elif db_field.name == "people":
            kwargs["queryset"] = (
                get_user_model().objects.filter(memberships__workspace__in=visible).distinct()
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class AttemptInline(ReadOnlyInline):
    model = NotificationAttempt
    fields = ["attempted_at", "ok", "duration_ms", "error"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """The outbox. A guest's message shows its PIN masked: it is filled in only as it is sent."""

    list_display = [
        "subject",
        "message_kind",
        "alert_kind",
        "target",
        "status",
        "attempt_count",
        "not_before",
        "last_error",
    ]
    list_filter = ["status", "message_kind", "alert_kind"]
    search_fields = ["subject", "email_to"]
    exclude = ["pin_digest"]
    inlines = [AttemptInline]


@admin.register(GuestContact)
class GuestContactAdmin(WorkspaceScopedAdmin):
    list_display = ["access_code", "email", "phone", "last_message"]
    search_fields = ["email", "access_code__name"]
    raw_id_fields = ["access_code"]
    fields = ["access_code", "email", "phone"]
    actions = ["send_now"]

    def save_model(self, request, obj, form, change):
        guests.guest_contact_set(access_code=obj.access_code, email=obj.email, phone=obj.phone)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class Checked(form):
            def clean(self):
                cleaned = super().clean()
                try:
                    guests.guest_contact_check(email=cleaned.get("email"), phone=cleaned.get("phone"))
                except ValidationError as exc:
                    for field, problems in exc.message_dict.items():
                        self.add_error(field.removeprefix("guest_"), problems)
                return cleaned

        return Checked

    @admin.display(description="last message")
    def last_message(self, obj):
        last = guests.last_guest_message(obj.access_code)
        if last is None:
            return "none yet"
        return f"{last.get_status_display()} ({last.created_at:%Y-%m-%d %H:%M} UTC)"

    @admin.action(description="Send the guest their code now")
    def send_now(self, request, queryset):
        for contact in queryset.select_related("access_code"):
            try:
                guests.guest_code_send_now(
                    access_code=contact.access_code, actor=request.user, now=timezone.now()
                )
                self.message_user(request, f"Queued the code for {contact.email}.")
            except ValidationError as exc:
                self.message_user(request, f"{contact}: {' '.join(exc.messages)}", level=messages.ERROR)


class TemplateForm(forms.ModelForm):
    class Meta:
        model = GuestMessageTemplate
        fields = ["property", "subject", "body", "check_in_instructions", "lead_hours"]
        help_texts = {"body": "Placeholders: " + ", ".join(f"{{{p}}}" for p in guests.PLACEHOLDERS)}

    def clean(self):
        cleaned = super().clean()
        for field in ("subject", "body"):
            try:
                guests.template_check(cleaned.get(field) or "", field=field)
            except ValidationError as exc:
                self.add_error(field, exc.message_dict[field])
        return cleaned


@admin.register(GuestMessageTemplate)
class GuestMessageTemplateAdmin(WorkspaceScopedAdmin):
    form = TemplateForm
    workspace_path = "property__workspace"
    list_display = ["property", "subject", "lead_hours"]
