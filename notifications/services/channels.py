"""Channels (Apprise URLs, stored encrypted) and rules (who hears what)."""

import functools
import logging
from dataclasses import dataclass
from datetime import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import apprise
from django.core.exceptions import ValidationError
from django.db import transaction

from devices import credentials
from devices.models import Membership, Property, Workspace
from notifications.models import AlertKind, NotificationChannel, NotificationRule

APPRISE_TIMEOUT_SECONDS = 10


def _no_debug_payloads(record: logging.LogRecord) -> bool:
    """Apprise logs what it posts (a guest's PIN among it) at DEBUG: those lines never reach a
    log, whatever level the deployment sets. Its warnings and errors, which name a failure
    and not the message, still do (and become the attempt's error)."""
    return record.levelno >= logging.INFO


# Every Apprise plugin logs through this one logger; a filter on it holds across threads.
logging.getLogger("apprise").addFilter(_no_debug_payloads)


def apprise_plugin(url: str):
    """Apprise's object for ``url``, or a ValidationError naming the ``url`` field: Apprise
    knows every service by its URL, so a URL it cannot read is refused here, never at send."""
    url = (url or "").strip()
    if not url:
        raise ValidationError({"url": ["Give an Apprise URL, e.g. mailto://... or json://host/path."]})
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not scheme:
        raise ValidationError(
            {"url": [f"{url[:40]!r} is not a URL: it needs a scheme such as mailto:// or json://."]}
        )
    if scheme not in _known_schemes():
        raise ValidationError({"url": [f"Apprise does not know the service {scheme}://."]})
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        raise ValidationError(
            {
                "url": [
                    f"Apprise cannot read this {scheme}:// URL: check its parts against Apprise's documentation for {scheme}://."
                ]
            }
        )
    return plugin


@functools.cache
def _known_schemes() -> frozenset[str]:
    schemes: set[str] = set()
    for service in apprise.Apprise().details()["schemas"]:
        for key in ("protocols", "secure_protocols"):
            value = service.get(key) or ()
            schemes.update([value] if isinstance(value, str) else value)
    return frozenset(schemes)


# A number no guest has, used to ask Apprise whether a channel takes a phone as its recipient.
_SAMPLE_PHONE = "+15550100999"


def with_recipient(url: str, phone: str) -> str:
    """The channel's URL with a guest's phone as its recipient, in Apprise's ``to=`` parameter
    (which every SMS gateway's plugin reads, beside recipients written in the path)."""
    parts = urlsplit(url.strip())
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "to"]
    # As dialled: Apprise would read "+351 912 345 678" as four numbers.
    query.append(("to", "".join(ch for ch in phone if ch.isdigit() or ch == "+")))
    return urlunsplit(parts._replace(query=urlencode(query)))


def guest_sms_check(url: str) -> None:
    """A channel that sends guests' codes by SMS must take a phone number as its recipient,
    and name none of its own: every guest's PIN would reach that one too."""
    base = apprise_plugin(url)
    sample = apprise.Apprise.instantiate(with_recipient(url, _SAMPLE_PHONE))
    if sample is None or _SAMPLE_PHONE[1:] not in sample.url(privacy=True):
        raise ValidationError(
            {
                "for_guest_sms": [
                    f"{getattr(base, 'service_name', 'This service')} cannot take a guest's phone as its "
                    "recipient: use an SMS gateway's URL (smseagle://, twilio://, signal://, ...)."
                ]
            }
        )
    if len(sample) > 1:  # Apprise counts one recipient per message: ours, and one in the URL
        raise ValidationError(
            {
                "for_guest_sms": [
                    "The URL names a recipient already: leave it out; each guest's phone is added."
                ]
            }
        )


@transaction.atomic
def channel_create(
    *, workspace: Workspace, url: str, name: str = "", for_guest_sms: bool = False
) -> NotificationChannel:
    """Store a channel; its URL is checked by Apprise first and kept only encrypted."""
    plugin = apprise_plugin(url)
    if for_guest_sms:
        guest_sms_check(url)
    service = getattr(plugin, "service_name", "") or url.split("://", 1)[0]
    name = (name or "").strip() or f"{service} channel"
    if NotificationChannel.objects.filter(workspace=workspace, name=name).exists():
        raise ValidationError({"name": [f"The workspace already has a channel named {name!r}."]})
    return NotificationChannel.objects.create(
        workspace=workspace,
        name=name,
        encrypted_url=credentials.encrypt({"url": url.strip()}),
        url_masked=plugin.url(privacy=True)[:500],
        service=str(service)[:100],
        for_guest_sms=for_guest_sms,
    )


def channel_url(channel: NotificationChannel) -> str:
    return credentials.decrypt(channel.encrypted_url)["url"]


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str = ""


def channel_send(channel: NotificationChannel, *, title: str, body: str, phone: str = "") -> SendResult:
    """Send through Apprise (to ``phone`` as the recipient, for a guest's SMS). Apprise reports
    failures in its log, not as exceptions: they are captured here and become the attempt's
    error (never with the URL's secrets: Apprise's log lines name the host, not the
    credentials)."""
    try:
        url = channel_url(channel)
    except credentials.CredentialsUnreadable as exc:
        return SendResult(False, str(exc))
    if phone:
        url = with_recipient(url, phone)
    sender = apprise.Apprise()
    if not sender.add(url):
        return SendResult(False, "Apprise can no longer read this channel's URL.")
    with apprise.LogCapture(level=logging.WARNING) as captured:
        result = sender.notify(title=title, body=body)
    if result:
        return SendResult(True)
    detail = " ".join(line.split(" - ", 2)[-1].strip() for line in captured.getvalue().splitlines() if line)
    return SendResult(False, (detail or "Apprise reported a failure.")[:1000])


def rule_check(
    *,
    workspace: Workspace,
    property: Property | None,
    kinds: list[str],
    people=(),
    quiet_start: time | None = None,
    quiet_end: time | None = None,
    immediate: bool = True,
) -> None:
    """A rule's fields, against each other and the workspace: each problem names its field."""
    errors: dict[str, list[str]] = {}
    if property is not None and property.workspace_id != workspace.pk:
        errors["property"] = ["The property belongs to another workspace."]
    unknown = [k for k in kinds if k not in AlertKind.values]
    if unknown:
        errors["kinds"] = [
            f"Unknown kinds: {', '.join(map(str, unknown))}. Known: {', '.join(AlertKind.values)}."
        ]
    elif immediate and not kinds:
        # A rule sending alerts of no kind would say nothing, silently.
        errors["kinds"] = ["Choose at least one kind to send as it is found, or untick “immediate”."]
    members = set(Membership.objects.filter(workspace=workspace).values_list("user_id", flat=True))
    outsiders = [str(p) for p in people if p.pk not in members]
    if outsiders:
        errors["people"] = [f"Not members of {workspace}: {', '.join(outsiders)}."]
    if (quiet_start is None) != (quiet_end is None):
        errors["quiet_end" if quiet_end is None else "quiet_start"] = [
            "Give both ends of the quiet hours, or neither."
        ]
    if errors:
        raise ValidationError(errors)


def channels_check(*, workspace: Workspace, channels) -> None:
    """A rule's channels: the workspace's own, and none that sends guests' codes by SMS."""
    problems = []
    if any(c.workspace_id != workspace.pk for c in channels):
        problems.append("A channel belongs to another workspace.")
    problems += [
        f"{c.name} sends guests' codes by SMS; staff alerts do not go to it."
        for c in channels
        if c.for_guest_sms
    ]
    if problems:
        raise ValidationError({"channels": problems})


@transaction.atomic
def rule_create(
    *,
    workspace: Workspace,
    name: str,
    channels=(),
    people=(),
    kinds: list[str] | None = None,
    property: Property | None = None,
    immediate: bool = True,
    digest: bool = True,
    digest_time: time | None = None,
    digest_all_clear: bool = False,
    quiet_start: time | None = None,
    quiet_end: time | None = None,
) -> NotificationRule:
    kinds = list(AlertKind.values) if kinds is None else list(kinds)
    rule_check(
        workspace=workspace,
        property=property,
        kinds=kinds,
        people=people,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        immediate=immediate,
    )
    channels_check(workspace=workspace, channels=channels)
    rule = NotificationRule.objects.create(
        workspace=workspace,
        property=property,
        name=name,
        kinds=kinds,
        immediate=immediate,
        digest=digest,
        digest_all_clear=digest_all_clear,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        **({"digest_time": digest_time} if digest_time else {}),
    )
    rule.channels.set(channels)
    rule.people.set(people)
    return rule
