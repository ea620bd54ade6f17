"""Notifications in the admin's look: channels (URL typed once, then shown masked), rules, the
outbox with every attempt, guests' contacts with "send the code now", and guest templates."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone

from codes.models import AccessCode
from devices import credentials
from devices.admin import ReadOnlyAdmin, ReadOnlyInline, WorkspaceScopedAdmin
from devices.selectors import workspaces_visible_to
from notifications import code_pages
from notifications.models import (
    AlertKind,
    GuestContact,
    GuestMessageTemplate,
    Notification,
    NotificationAttempt,
    NotificationChannel,
    NotificationRule,
    every_alert_kind,
)
from notifications.services import channels, guests


class ChannelForm(forms.ModelForm):
    url = forms.CharField(
        label="Apprise URL",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="An Apprise URL (mailto://, slack://, msteams://, tgram://, ntfy://, json://...). "
        "Stored encrypted and never shown again in full; leave empty to keep the current one.",
    )

    class Meta:
        model = NotificationChannel
        fields = ["workspace", "name", "url", "for_guest_sms"]

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
        if cleaned.get("for_guest_sms") and "url" not in self.errors:
            try:  # the stored URL when none is typed: ticking the box alone is checked too
                channels.guest_sms_check(url or channels.channel_url(self.instance))
            except ValidationError as exc:
                self.add_error("for_guest_sms", exc.message_dict["for_guest_sms"])
            if self.instance.pk and self.instance.rules.exists():
                self.add_error(
                    "for_guest_sms", "Staff alert rules send to this channel: take it out of them first."
                )
        return cleaned


@admin.register(NotificationChannel)
class NotificationChannelAdmin(WorkspaceScopedAdmin):
    form = ChannelForm
    list_display = ["name", "service", "url_masked", "for_guest_sms", "last_delivery", "workspace"]
    list_filter = ["workspace"]
    readonly_fields = ["service", "url_masked", "last_delivery", "created_at"]
    actions = ["send_test"]

    @admin.display(description="Last delivery")
    def last_delivery(self, obj):
        """The channel's last attempt, so a failing channel shows on its own row (its messages
        go on being retried, each attempt in the outbox)."""
        if obj is None or obj.pk is None:
            return "—"
        attempt = (
            NotificationAttempt.objects.filter(notification__channel=obj).order_by("-attempted_at").first()
        )
        if attempt is None:
            return "Nothing sent yet."
        when = f"{attempt.attempted_at:%Y-%m-%d %H:%M} UTC"
        return f"Sent {when}." if attempt.ok else f"Failed {when}: {attempt.error}"

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
            if channel.for_guest_sms:
                self.message_user(
                    request,
                    f"{channel.name}: skipped: it sends guests' codes by SMS and has no recipient of its own.",
                )
                continue
            result = channels.channel_send(
                channel, title="Latchkey test message", body=f"The channel {channel.name} works."
            )
            if result.ok:
                self.message_user(request, f"{channel.name}: sent.")
            else:
                self.message_user(request, f"{channel.name}: failed: {result.error}", level=messages.ERROR)


class RuleForm(forms.ModelForm):
    # A new rule starts with every kind ticked, as the model's default and the command's are
    # (a ModelForm gives a new object's declared fields no initial value of their own).
    kinds = forms.MultipleChoiceField(
        choices=AlertKind.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        initial=every_alert_kind,
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
                immediate=bool(cleaned.get("immediate")),
            )
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                self.add_error(field, problems)
        try:
            channels.channels_check(workspace=workspace, channels=cleaned.get("channels") or [])
        except ValidationError as exc:
            self.add_error("channels", exc.message_dict["channels"])
        return cleaned


@admin.register(NotificationRule)
class NotificationRuleAdmin(WorkspaceScopedAdmin):
    form = RuleForm
    list_display = ["name", "workspace", "property", "is_enabled", "immediate", "digest", "digest_time"]
    list_filter = ["workspace", "is_enabled"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        # Only the person's own workspaces' channels and members are offered, as plain
        # checkboxes (a workspace has a few; the admin's two-box picker fails accessibility checks).
        kwargs["widget"] = forms.CheckboxSelectMultiple
        visible = workspaces_visible_to(request.user)
        if db_field.name == "channels":
            kwargs["queryset"] = NotificationChannel.objects.filter(
                workspace__in=visible, for_guest_sms=False
            )
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
                self.message_user(request, f"Queued the code for {contact}.")
            except ValidationError as exc:
                self.message_user(request, f"{contact}: {' '.join(exc.messages)}", level=messages.ERROR)

    # --- The guest section of an access code's page (notifications.code_pages) ---------------

    def get_urls(self):
        return [
            path(
                "code/<uuid:access_code_id>/contact/",
                self.admin_site.admin_view(self.contact_of_code),
                name="notifications_guest_contact_of_code",
            ),
            path(
                "code/<uuid:access_code_id>/send/",
                self.admin_site.admin_view(self.send_code_now),
                name="notifications_guest_code_send_now",
            ),
            *super().get_urls(),
        ]

    def _code_for(self, request, access_code_id) -> AccessCode:
        if request.method != "POST":
            raise _NotPost
        if not code_pages.may_change(request.user):
            raise PermissionDenied
        visible = AccessCode.objects.filter(
            workspace__in=workspaces_visible_to(request.user), deleted_at=None
        )
        return get_object_or_404(visible, pk=access_code_id)

    def contact_of_code(self, request, access_code_id):
        try:
            code = self._code_for(request, access_code_id)
        except _NotPost:
            return HttpResponseNotAllowed(["POST"])
        back = reverse("admin:codes_accesscode_change", args=[code.pk]) + "#lk-guest"
        try:
            saved = guests.guest_contact_set(
                access_code=code, email=request.POST.get("guest_email"), phone=request.POST.get("guest_phone")
            )
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                label = _CONTACT_LABELS.get(field, field)
                messages.error(request, f"{label}: {' '.join(problems)} Nothing was saved.")
            return HttpResponseRedirect(back)
        messages.success(request, "Saved the guest's contact." if saved else "Removed the guest's contact.")
        return HttpResponseRedirect(back)

    def send_code_now(self, request, access_code_id):
        try:
            code = self._code_for(request, access_code_id)
        except _NotPost:
            return HttpResponseNotAllowed(["POST"])
        back = reverse("admin:codes_accesscode_change", args=[code.pk]) + "#lk-guest"
        try:
            sent = guests.guest_code_send_now(access_code=code, actor=request.user, now=timezone.now())
        except ValidationError as exc:
            messages.error(request, f"Send the code now: {' '.join(exc.messages)}")
            return HttpResponseRedirect(back)
        messages.success(
            request,
            f"Queued the code for {', '.join(n.phone_to or n.email_to for n in sent)}: see below how it went.",
        )
        return HttpResponseRedirect(back)


_CONTACT_LABELS = {"guest_email": "Guest's email", "guest_phone": "Guest's phone"}


class _NotPost(Exception):
    pass


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
