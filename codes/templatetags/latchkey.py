"""How Latchkey's pages show instants, durations and PIN-bearing text."""

import zoneinfo
from datetime import timedelta

from django import template
from django.utils.html import format_html

from common.pins import mask_pins

register = template.Library()
UTC = zoneinfo.ZoneInfo("UTC")


def local_time_html(value, zone) -> str:
    """The instant in ``zone`` (the property's), with UTC on hover."""
    if value is None:
        return "—"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.astimezone(UTC).isoformat(),
        value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        value.astimezone(zone or UTC).strftime("%a %Y-%m-%d %H:%M %Z"),
    )


@register.simple_tag
def local_time(value, prop=None):
    return local_time_html(value, prop.zone if prop is not None else UTC)


@register.simple_tag
def local_time_text(value, prop=None) -> str:
    """The instant in the property's zone as plain text, for where no markup may go (an SVG
    ``<title>``)."""
    return value.astimezone(prop.zone if prop is not None else UTC).strftime("%a %Y-%m-%d %H:%M %Z")


@register.filter
def percent(value) -> str:
    return f"{value:.0%}"


@register.filter
def until(delta: timedelta) -> str:
    """A time to go, in days and hours ("in 2 d 5 h"), or how long ago it was."""
    seconds = int(delta.total_seconds())
    past = seconds < 0
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    text = f"{days} d {hours} h" if days else (f"{hours} h {minutes} min" if hours else f"{minutes} min")
    return f"{text} ago" if past else f"in {text}"


@register.simple_tag(takes_context=True)
def pin_safe(context, text: str) -> str:
    """Text that may quote a PIN (a review reason: "give the guest PIN 4821"), with the PIN
    masked for anyone who may not see PINs."""
    user = context.get("user") or getattr(context.get("request"), "user", None)
    if user is not None and user.has_perm("codes.view_pin"):
        return text
    return mask_pins(text)


@register.filter
def readiness_of(code):
    from codes.pages import readiness

    return readiness(code)


@register.filter
def span_hours(timeline) -> int:
    return round((timeline.end - timeline.start).total_seconds() / 3600)
