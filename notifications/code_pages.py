"""What notifications adds to the code's pages (through ``codes.extensions``): the guest's
email and phone on the new-code page, and on an access code's page a section with the guest's
contact, "Send the code now" and what became of the last message."""

from django import forms
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from codes.extensions import CreateFormExtension
from notifications import links
from notifications.models import GuestContact
from notifications.services import guests

SECTION_TEMPLATE = "notifications/_guest_on_code_page.html"


def may_see(user) -> bool:
    return user.has_perm("notifications.view_guestcontact")


def may_change(user) -> bool:
    return user.has_perm("notifications.change_guestcontact") and user.has_perm(
        "notifications.add_guestcontact"
    )


def guest_section(request, access_code) -> str:
    if not may_see(request.user) or access_code.is_backup or not access_code.is_managed:
        return ""
    contact = GuestContact.objects.filter(access_code=access_code).first()
    zone = links.zone_of(access_code.device.property)
    now = timezone.now()
    messages = [
        {"message": m, "outcome": guests.outcome(m, zone=zone, now=now)}
        for m in guests.last_guest_messages(access_code)
    ]
    return render_to_string(
        SECTION_TEMPLATE,
        {
            "code": access_code,
            "contact": contact,
            "messages": messages,
            "may_change": may_change(request.user) and access_code.deleted_at is None,
            "has_sms_channel": guests.sms_channel(access_code.workspace_id) is not None,
            "contact_url": reverse("admin:notifications_guest_contact_of_code", args=[access_code.pk]),
            "send_url": reverse("admin:notifications_guest_code_send_now", args=[access_code.pk]),
        },
        request=request,
    )


def contact_fields(property) -> dict[str, forms.Field]:
    return {
        "guest_email": forms.CharField(
            label="Guest's email",
            required=False,
            max_length=254,
            widget=forms.EmailInput,
            help_text="They get their code by email once it is on the lock, before arrival (a day, unless the property's guest template says otherwise).",
        ),
        "guest_phone": forms.CharField(
            label="Guest's phone",
            required=False,
            max_length=32,
            widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
            help_text="With a channel for guests' SMS, they also get it by SMS.",
        ),
    }


def contact_check(cleaned: dict) -> None:
    guests.guest_contact_check(email=cleaned.get("guest_email"), phone=cleaned.get("guest_phone"))


def contact_save(created, cleaned: dict, actor) -> None:
    email, phone = cleaned.get("guest_email"), cleaned.get("guest_phone")
    if email or phone:
        for code in created:  # each code of the stay carries the contact
            guests.guest_contact_set(access_code=code, email=email, phone=phone)


CONTACT_ON_NEW_CODE = CreateFormExtension(
    fields=contact_fields, check=contact_check, after_create=contact_save
)
