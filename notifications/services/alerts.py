"""The alerts sweep: what is wrong now, grouped by cause, compared with what staff were told.

It reads Latchkey's stored state only (the scheduler's flags, the issues on locks and codes, the
webhook subscriptions), never re-deciding what the scheduler decides. Each cause is one
``AlertCause`` row while it lasts: a lock offline with six stays ahead is one cause (naming the
lock, the catalog's remedy and the six stays), not six. A new cause is told once; while it lasts
and an arrival approaches it is told again at most once a day; when it is gone, a short
"resolved" line follows.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q

from codes import catalog, lifecycle
from codes.models import AccessCode, AccessCodeIssue, AccessCodeStatus
from codes.selectors import review_problems  # the review queue's own reading of a problem
from devices.models import Device, DeviceIssue, Property
from notifications import links, quiet
from notifications.models import AlertCause, AlertKind, MessageKind, NotificationRule
from notifications.services import queue
from webhooks.models import WebhookSubscription

REMIND_EVERY = timedelta(days=1)
MAX_STAYS_LISTED = 20


@dataclass
class Found:
    kind: str
    key: str
    workspace_id: object
    property: Property | None
    title: str
    lines: list[str]
    link: str
    next_arrival_at: datetime | None = None
    code_ids: set = field(default_factory=set)


def _stays(codes, zone) -> list[str]:
    shown = [
        f"- {c.name or 'Unnamed code'}, arrives {links.local(c.starts_at, zone)}"
        for c in codes[:MAX_STAYS_LISTED]
    ]
    if len(codes) > MAX_STAYS_LISTED:
        shown.append(f"- and {len(codes) - MAX_STAYS_LISTED} more")
    return shown


def _lock_causes(now: datetime) -> list[Found]:
    """One cause per active error or warning on a lock (or its account) with stays ahead
    within the advance window: it names the lock, the remedy and every stay it puts at risk."""
    found = []
    issues = DeviceIssue.objects.filter(cleared_at__isnull=True).select_related(
        "device__property", "connected_account"
    )
    until = now + lifecycle.advance()
    for issue in issues:
        if issue.device_id:
            locks = [issue.device]
        else:
            locks = list(
                Device.objects.filter(connected_account=issue.connected_account).select_related("property")
            )
        if not locks:
            continue
        stays = list(
            AccessCode.objects.shown()
            .filter(device__in=locks, starts_at__gt=now, starts_at__lt=until, is_backup=False)
            .order_by("starts_at")
        )
        if not stays:
            continue
        properties = {lock.property_id for lock in locks}
        prop = locks[0].property if len(properties) == 1 else None
        zone = links.zone_of(prop)
        entry = catalog.lookup(issue.kind, issue.code)
        names = ", ".join(lock.display_name for lock in locks)
        noun = "stay" if len(stays) == 1 else "stays"
        found.append(
            Found(
                kind=AlertKind.LOCK_ATTENTION,
                key=f"lock-issue:{issue.pk}",
                workspace_id=locks[0].workspace_id,
                property=prop,
                title=f"{names}: {entry.message} ({len(stays)} {noun} ahead)",
                lines=[
                    entry.meaning,
                    f"What to do: {entry.remedy}",
                    f"Stays ahead ({len(stays)}):",
                    *_stays(stays, zone),
                ],
                link=links.lock_page(locks[0].pk),
                next_arrival_at=stays[0].starts_at,
                code_ids={c.pk for c in stays},
            )
        )
    return found


def _ready_at_check_in(code: AccessCode) -> bool:
    if code.is_offline_access_code:
        return code.code is not None
    return code.status == AccessCodeStatus.SET or code.is_scheduled_on_device


def _code_causes(now: datetime, *, told: set) -> list[Found]:
    """Flagged codes within the lead window (or already in their stay), codes not ready once
    their stay began, and failed removals. Codes a lock cause already names are left to it."""
    found = []
    lead_until = now + lifecycle.review_lead()
    candidates = (
        AccessCode.objects.live()
        .filter(is_backup=False, starts_at__lte=lead_until, ends_at__gt=now)
        .filter(Q(needs_review=True) | Q(starts_at__lte=now))
        .select_related("device__property")
    )
    for code in candidates:
        if code.pk in told:
            continue
        prop = code.device.property
        zone = links.zone_of(prop)
        arrival = links.local(code.starts_at, zone)
        if code.needs_review:
            found.append(
                Found(
                    kind=AlertKind.NEW_PROBLEM,
                    key=f"code:{code.pk}:flagged",
                    workspace_id=code.workspace_id,
                    property=prop,
                    title=f"{code.name or 'A code'} on {code.device.display_name} is not ready (arrives {arrival})",
                    lines=[
                        f"Why: {code.review_reason or 'flagged for review'}",
                        f"What to do: {_remedy(code)}",
                    ],
                    link=links.code_page(code.pk),
                    next_arrival_at=code.starts_at if code.starts_at > now else None,
                )
            )
        elif code.starts_at <= now and not _ready_at_check_in(code):
            found.append(
                Found(
                    kind=AlertKind.NOT_READY_AT_CHECK_IN,
                    key=f"code:{code.pk}:check-in",
                    workspace_id=code.workspace_id,
                    property=prop,
                    title=f"{code.name or 'A code'} on {code.device.display_name} is still not on the lock at check-in",
                    lines=[f"Check-in was {arrival}.", f"What to do: {_remedy(code)}"],
                    link=links.code_page(code.pk),
                )
            )
    removals = AccessCodeIssue.objects.filter(
        cleared_at__isnull=True, code="failed_to_remove_from_device"
    ).select_related("access_code__device__property")
    for issue in removals:
        code = issue.access_code
        entry = catalog.lookup(issue.kind, issue.code)
        found.append(
            Found(
                kind=AlertKind.FAILED_REMOVAL,
                key=f"code:{code.pk}:removal",
                workspace_id=code.workspace_id,
                property=code.device.property,
                title=f"{code.name or 'A code'} could not be taken off {code.device.display_name}",
                lines=[entry.meaning, f"What to do: {entry.remedy}"],
                link=links.code_page(code.pk),
            )
        )
    return found


def _remedy(code: AccessCode) -> str:
    problems = review_problems(code)
    return problems[0].remedy if problems else "Open the code's page and retry it."


def _webhook_causes() -> list[Found]:
    return [
        Found(
            kind=AlertKind.WEBHOOK_DISABLED,
            key=f"webhook:{s.pk}:{s.disabled_at.timestamp():.0f}",
            workspace_id=s.workspace_id,
            property=None,
            title=f"Webhook subscription {s.url} was disabled",
            lines=[
                s.disabled_reason or "It was disabled.",
                "What to do: fix the receiver, then enable it again.",
            ],
            link=links.webhook_page(s.pk),
        )
        for s in WebhookSubscription.objects.filter(is_disabled=True)
    ]


def problems_found(*, now: datetime) -> list[Found]:
    locks = _lock_causes(now)
    told = set().union(*(f.code_ids for f in locks)) if locks else set()
    return locks + _code_causes(now, told=told) + _webhook_causes()


def _rules_for(
    rules: list[NotificationRule], *, workspace_id, property_id, kind: str
) -> list[NotificationRule]:
    return [
        r
        for r in rules
        if r.workspace_id == workspace_id
        and (r.property_id is None or r.property_id == property_id)
        and kind in r.kinds
    ]


def _drafts(
    cause: AlertCause, message: str, *, subject: str, body: str, rules, now: datetime, tag: str
) -> list:
    drafts = []
    for rule in _rules_for(
        rules, workspace_id=cause.workspace_id, property_id=cause.property_id, kind=cause.kind
    ):
        zone = links.zone_of(cause.property)
        wait = quiet.quiet_until(now, start=rule.quiet_start, end=rule.quiet_end, zone=zone)
        for target in queue.rule_targets(rule):
            drafts.append(
                queue.Draft(
                    workspace_id=cause.workspace_id,
                    message_kind=message,
                    alert_kind=cause.kind,
                    subject=subject,
                    body=body,
                    # Per cause and target: two rules naming one channel send it one message.
                    dedupe_key=f"cause:{cause.pk}:{tag}:{target.key}",
                    target=target,
                    not_before=wait or now,
                    rule=rule,
                    cause=cause,
                )
            )
    return drafts


def alerts_sweep(*, now: datetime) -> int:
    """Compare what is wrong now with the open causes; queue alerts, reminders and "resolved"
    lines. Returns how many notifications it queued."""
    found = problems_found(now=now)
    rules = list(
        NotificationRule.objects.filter(is_enabled=True, immediate=True).prefetch_related(
            "channels", "people"
        )
    )
    drafts = []
    with transaction.atomic():
        open_causes = {
            (c.workspace_id, c.key): c for c in AlertCause.objects.filter(resolved_at__isnull=True)
        }
        for f in found:
            cause = open_causes.pop((f.workspace_id, f.key), None)
            body = "\n".join([*f.lines, "", f"Open: {f.link}"])
            if cause is None:
                cause = _open(f, now=now)
                if cause is None:
                    continue  # another sweep opened it at this moment, and tells it
                message, tag = MessageKind.ALERT, "alert"
                subject = f.title
            elif (
                f.next_arrival_at is not None
                and f.next_arrival_at > now
                and (cause.last_alerted_at is None or now - cause.last_alerted_at >= REMIND_EVERY)
            ):
                message, tag = MessageKind.REMINDER, f"reminder:{now:%Y-%m-%d}"
                subject = f"Still unresolved: {f.title}"
            else:
                continue
            made = _drafts(cause, message, subject=subject, body=body, rules=rules, now=now, tag=tag)
            drafts += made
            AlertCause.objects.filter(pk=cause.pk).update(
                last_alerted_at=now, title=f.title[:300], next_arrival_at=f.next_arrival_at
            )
        for cause in open_causes.values():
            AlertCause.objects.filter(pk=cause.pk, resolved_at__isnull=True).update(resolved_at=now)
            if cause.last_alerted_at is not None:
                drafts += _drafts(
                    cause,
                    MessageKind.RESOLVED,
                    subject=f"Resolved: {cause.title}",
                    body=f"Resolved: {cause.title}\n\n{cause.link}",
                    rules=rules,
                    now=now,
                    tag="resolved",
                )
        return len(queue.notifications_queue(drafts, now=now))


def _open(f: Found, *, now: datetime) -> AlertCause | None:
    try:
        with transaction.atomic():
            return AlertCause.objects.create(
                workspace_id=f.workspace_id,
                property=f.property,
                kind=f.kind,
                key=f.key,
                title=f.title[:300],
                link=f.link[:500],
                next_arrival_at=f.next_arrival_at,
                opened_at=now,
            )
    except IntegrityError:
        return None
