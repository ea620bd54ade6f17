"""The guest's code sent to the guest.

A stay is one code, or every live code sharing its ``common_code_key``. When every code of the
stay is ready as Latchkey last heard from its lock (set, loaded with its schedule, or an offline
PIN computed) and the property's lead time before arrival has come, the guest gets one message.
The message is keyed by a digest of the PINs it carries, so a changed PIN (or a backup pulled
for the guest) makes a new message at once, and the same PIN is never sent twice. A cancelled
(deleted) stay gets nothing more: a queued message for it is cancelled as it is about to go.

A guest with an email is emailed; a guest with a phone gets an SMS through the workspace's
channel marked for guests' SMS (an SMS gateway's Apprise URL, the phone added as recipient).

The PIN is stored nowhere but the code: the queued message holds it masked and gets it only
as it is sent; staff alerts, logs and webhook bodies never carry it.
"""

import hashlib
import hmac
import re
import string
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Max

from codes.models import AccessCode, AccessCodeStatus
from codes.services import staff
from notifications import links
from notifications.models import (
    DEFAULT_GUEST_BODY,
    DEFAULT_GUEST_SUBJECT,
    GuestContact,
    GuestMessageTemplate,
    MessageKind,
    Notification,
    NotificationChannel,
    NotificationStatus,
)
from notifications.services import queue

PLACEHOLDERS = {
    "guest_name": "the name on the code",
    "property_name": "the property's name",
    "property_address": "the property's address",
    "doors": "the doors the code opens",
    "pin": "the PIN",
    "valid_from": "when the code starts working, in the property's time",
    "valid_to": "when it stops working, in the property's time",
    "time_zone": "the property's time zone",
    "check_in_instructions": "the property's check-in instructions",
}
DEFAULT_LEAD = timedelta(hours=24)
MASK = "••••"
PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{5,30}$")


def template_check(text: str, *, field: str) -> None:
    """Refuse a template naming a placeholder Latchkey does not fill, naming the field."""
    problems = []
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValidationError(
            {field: [f"is not a valid template ({exc}); write a literal brace as {{{{ or }}}}."]}
        ) from exc
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            problems.append(
                f"{{{name}}} is not a placeholder Latchkey fills. Use: "
                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                + "."
            )
        elif spec or conversion:
            problems.append(f"{{{name}}} takes no format or conversion.")
    if problems:
        raise ValidationError({field: problems})


def template_save(
    *,
    property,
    subject: str = DEFAULT_GUEST_SUBJECT,
    body: str = DEFAULT_GUEST_BODY,
    check_in_instructions: str = "",
    lead_hours: int = 24,
) -> GuestMessageTemplate:
    errors: dict[str, list[str]] = {}
    for field, text in (("subject", subject), ("body", body)):
        try:
            template_check(text, field=field)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if not isinstance(lead_hours, int) or lead_hours < 0 or lead_hours > 24 * 14:
        errors["lead_hours"] = ["must be a whole number of hours from 0 to 336."]
    if errors:
        raise ValidationError(errors)
    template, _ = GuestMessageTemplate.objects.update_or_create(
        property=property,
        defaults={
            "subject": subject,
            "body": body,
            "check_in_instructions": check_in_instructions,
            "lead_hours": lead_hours,
        },
    )
    return template


def guest_contact_check(*, email: str | None, phone: str | None) -> dict:
    errors: dict[str, list[str]] = {}
    email = (email or "").strip()
    phone = (phone or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["guest_email"] = [f"{email[:80]!r} is not an email address."]
    if phone and not PHONE.match(phone):
        errors["guest_phone"] = [
            f"{phone[:40]!r} is not a phone number (digits, optionally starting with +)."
        ]
    if errors:
        raise ValidationError(errors)
    return {"email": email, "phone": phone}


def stay_codes(code: AccessCode) -> list[AccessCode]:
    if not code.common_code_key:
        return [code]
    return list(
        AccessCode.objects.live()
        .filter(workspace_id=code.workspace_id, common_code_key=code.common_code_key, is_backup=False)
        .select_related("device__property", "pulled_backup_access_code")
        .order_by("device__display_name")
    )


def stay_key(code: AccessCode) -> str:
    return f"key:{code.workspace_id}:{code.common_code_key}" if code.common_code_key else f"code:{code.pk}"


@transaction.atomic
def guest_contact_set(
    *, access_code: AccessCode, email: str | None, phone: str | None = None
) -> list[GuestContact]:
    """Give the stay (the code and the codes sharing its ``common_code_key``) its guest's
    contact; empty values remove it. Checked first, so bad input saves nothing."""
    fields = guest_contact_check(email=email, phone=phone)
    contacts = []
    for code in stay_codes(access_code):
        if not fields["email"] and not fields["phone"]:
            GuestContact.objects.filter(access_code=code).delete()
            continue
        contact, _ = GuestContact.objects.update_or_create(
            access_code=code, defaults={**fields, "workspace_id": code.workspace_id}
        )
        contacts.append(contact)
    return contacts


def _served(code: AccessCode) -> AccessCode:
    """The code whose PIN the guest uses: a backup pulled for them, or their own."""
    return code.pulled_backup_access_code if code.pulled_backup_access_code_id else code


def is_ready(code: AccessCode) -> bool:
    """Ready as Latchkey last heard from the lock, never re-derived."""
    served = _served(code)
    if served.code is None:
        return False
    if served.is_offline_access_code:
        return served.lock_has_current_version
    return served.status == AccessCodeStatus.SET or served.is_scheduled_on_device


def pin_digest(codes: list[AccessCode]) -> str:
    """A keyed digest of the stay's PINs: tells "the PIN changed" without storing the PIN."""
    pins = ",".join(f"{c.device_id}={_served(c).code}" for c in codes)
    return hmac.new(settings.SECRET_KEY.encode(), pins.encode(), hashlib.sha256).hexdigest()[:40]


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def render(codes: list[AccessCode], *, reveal: bool) -> Rendered:
    lead = codes[0]
    prop = lead.device.property
    template = getattr(prop, "guest_message_template", None) if prop else None
    zone = links.zone_of(prop)
    pins = sorted({_served(c).code for c in codes if _served(c).code})
    values = {
        "guest_name": lead.name or "guest",
        "property_name": prop.name if prop else lead.device.display_name,
        "property_address": (prop.address if prop else "") or "",
        "doors": ", ".join(c.device.display_name for c in codes),
        "pin": (" / ".join(pins) if reveal else MASK),
        "valid_from": links.local(lead.starts_at, zone) if lead.starts_at else "now",
        "valid_to": links.local(lead.ends_at, zone) if lead.ends_at else "until further notice",
        "time_zone": str(zone),
        "check_in_instructions": template.check_in_instructions if template else "",
    }
    subject = template.subject if template else DEFAULT_GUEST_SUBJECT
    body = template.body if template else DEFAULT_GUEST_BODY
    return Rendered(subject.format_map(values), body.format_map(values).strip() + "\n")


def sms_channel(workspace_id) -> NotificationChannel | None:
    """The workspace's channel for guests' SMS (the first by name, if several)."""
    return NotificationChannel.objects.filter(workspace_id=workspace_id, for_guest_sms=True).first()


def _targets(contact: GuestContact) -> list[tuple[queue.Target, str]]:
    """Where the guest's message goes, each with what its key adds: an email, and an SMS when
    the guest has a phone and the workspace a channel for guests' SMS."""
    targets = []
    if contact.email:
        targets.append((queue.Target(email=contact.email), ""))
    channel = sms_channel(contact.workspace_id) if contact.phone else None
    if channel is not None:
        targets.append((queue.Target(channel=channel, phone=contact.phone), ":sms"))
    return targets


def _drafts(
    codes: list[AccessCode], contact: GuestContact, *, now: datetime, key: str, actor=None
) -> list[queue.Draft]:
    shown = render(codes, reveal=False)
    return [
        queue.Draft(
            workspace_id=codes[0].workspace_id,
            message_kind=MessageKind.GUEST_CODE,
            subject=shown.subject,
            body=shown.body,
            dedupe_key=key + suffix,
            target=target,
            not_before=now,
            access_code_id=codes[0].pk,
            pin_digest=pin_digest(codes),
            requested_by=actor,
        )
        for target, suffix in _targets(contact)
    ]


def _lead(code: AccessCode) -> timedelta:
    prop = code.device.property
    template = getattr(prop, "guest_message_template", None) if prop else None
    return timedelta(hours=template.lead_hours) if template else DEFAULT_LEAD


def guest_messages_sweep(*, now: datetime) -> int:
    """Queue the code for every stay whose lead time has come and whose codes are all ready,
    unless this very PIN was already sent. Returns how many messages it queued."""
    longest = max(GuestMessageTemplate.objects.aggregate(m=Max("lead_hours"))["m"] or 0, 24)
    contacts = (
        GuestContact.objects.exclude(email="", phone="")
        .filter(
            access_code__deleted_at__isnull=True,
            access_code__ends_at__gt=now,
            access_code__starts_at__lte=now + timedelta(hours=longest),
        )
        .select_related(
            "access_code__device__property__guest_message_template", "access_code__pulled_backup_access_code"
        )
    )
    drafts, seen = [], set()
    for contact in contacts:
        code = contact.access_code
        key = stay_key(code)
        if key in seen or now < code.starts_at - _lead(code):
            continue
        seen.add(key)
        codes = stay_codes(code)
        if not codes or not all(is_ready(c) for c in codes):
            continue
        drafts += _drafts(codes, contact, now=now, key=f"guest:{key}:{pin_digest(codes)}")
    with transaction.atomic():
        return len(queue.notifications_queue(drafts, now=now))


def guest_code_send_now(*, access_code: AccessCode, actor, now: datetime) -> list[Notification]:
    """Staff's "send the code now": queued at once whatever the lead time, recorded on the
    code's history as a staff action (naming where it went, never the PIN)."""
    contact = GuestContact.objects.filter(access_code=access_code).first()
    if contact is None or not (contact.email or contact.phone):
        raise ValidationError({"guest_email": ["This stay has no guest email or phone: add one first."]})
    if access_code.deleted_at is not None:
        raise ValidationError({"access_code": ["The code was deleted; nothing is sent for it."]})
    targets = _targets(contact)
    if not targets:
        raise ValidationError(
            {
                "guest_phone": [
                    "No channel sends guests' codes by SMS: add one (Notification channels) "
                    "or give the guest's email."
                ]
            }
        )
    codes = stay_codes(access_code)
    if any(_served(c).code is None for c in codes):
        raise ValidationError({"access_code": ["The lock has not assigned the PIN yet."]})
    key = f"guest:{stay_key(access_code)}:{pin_digest(codes)}"
    with transaction.atomic():
        if Notification.objects.filter(dedupe_key__startswith=key).exists():
            key = f"{key}:again:{uuid.uuid4().hex}"
        written = queue.notifications_queue(_drafts(codes, contact, now=now, key=key, actor=actor), now=now)
        staff.guest_code_send_record(
            access_code=access_code,
            actor=actor,
            note="to " + " and ".join(t.phone or t.email for t, _ in targets),
            now=now,
        )
    return written


def body_to_send(notification: Notification) -> tuple[str, str]:
    """The guest's message with the PIN in it, or why it is not sent: the stay was cancelled,
    or its PIN changed since it was queued (the new PIN has its own message)."""
    code = AccessCode.objects.select_related("device__property").get(pk=notification.access_code_id)
    if code.deleted_at is not None:
        return "", "Not sent: the stay was cancelled."
    codes = stay_codes(code)
    if pin_digest(codes) != notification.pin_digest:
        return "", "Not sent: the PIN changed since this was queued; the new PIN has its own message."
    return render(codes, reveal=True).body, ""


def outcome(notification: Notification, *, zone, now: datetime) -> str:
    """What became of a message, in words a person acts on: a failing channel shows its
    error and when it is tried again, never a silent retry."""
    status = notification.status
    if status == NotificationStatus.SENT:
        return f"Sent {links.local(notification.finished_at, zone)}."
    if status == NotificationStatus.FAILED:
        return f"Failed after {notification.attempt_count} attempts, not retried: {notification.last_error}"
    if status == NotificationStatus.CANCELLED:
        return notification.last_error or "Cancelled."
    if notification.attempt_count:
        return (
            f"Attempt {notification.attempt_count} failed: {notification.last_error} "
            f"Next try {links.local(notification.not_before, zone)}."
        )
    if notification.not_before > now:
        return f"Waiting until {links.local(notification.not_before, zone)}."
    return "Queued: being sent now."


def last_guest_message(access_code: AccessCode) -> Notification | None:
    return (
        Notification.objects.filter(
            message_kind=MessageKind.GUEST_CODE, access_code_id__in=[c.pk for c in stay_codes(access_code)]
        )
        .order_by("-created_at")
        .first()
    )


def last_guest_messages(access_code: AccessCode) -> list[Notification]:
    """The stay's latest message to each of its guest's addresses (an email, a phone)."""
    latest: dict[str, Notification] = {}
    recent = Notification.objects.filter(
        message_kind=MessageKind.GUEST_CODE, access_code_id__in=[c.pk for c in stay_codes(access_code)]
    ).order_by("-created_at")[:20]
    for message in recent:
        latest.setdefault(message.phone_to or message.email_to, message)
    return list(latest.values())
