"""Where a message sends people: the page on which the problem is acted on, as an absolute URL,
and times written in a property's zone. No queries."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse


def absolute(path: str) -> str:
    return f"{settings.LATCHKEY_PUBLIC_URL}{path}"


def code_page(access_code_id) -> str:
    return absolute(reverse("admin:codes_accesscode_change", args=[access_code_id]))


def lock_page(device_id) -> str:
    return absolute(reverse("admin:devices_device_change", args=[device_id]))


def webhook_page(webhook_id) -> str:
    return absolute(reverse("admin:webhooks_webhooksubscription_change", args=[webhook_id]))


def review_queue() -> str:
    return absolute(reverse("latchkey:review_queue"))


def dashboard() -> str:
    return absolute(reverse("latchkey:dashboard"))


def zone_of(property) -> ZoneInfo:
    return property.zone if property is not None else ZoneInfo("UTC")


def local(at: datetime, zone: ZoneInfo) -> str:
    """e.g. "Tue 24 Nov 16:00 WET": the wall time with its zone named."""
    return at.astimezone(zone).strftime("%a %d %b %H:%M %Z")
