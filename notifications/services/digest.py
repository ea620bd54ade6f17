"""The morning digest: per property and rule, at the rule's local hour (08:00 unless it says
otherwise), the arrivals of the next 72 hours with their readiness, what is flagged, and the
locks needing attention. A day with nothing to say sends nothing unless the rule asks for an
"all clear". Each (rule, property, local day) is decided once (``DigestDay``), so a digest is
never sent twice, nor late in the afternoon after a quiet morning."""

from datetime import datetime

from django.db import IntegrityError, transaction

from codes import lifecycle
from codes.pages import codes_visible, readiness
from codes.selectors import with_shown_issues
from devices.models import Device, Property
from devices.selectors import active_issues_of_locks
from notifications import links, quiet
from notifications.models import DigestDay, MessageKind, NotificationRule
from notifications.services import queue

LOW_BATTERY = 0.2


def digest_text(prop: Property, *, now: datetime) -> tuple[str, str, bool]:
    """(subject, body, something_to_say) for one property at ``now``."""
    zone = prop.zone
    workspaces = [prop.workspace_id]
    arrivals = list(
        with_shown_issues(
            codes_visible(workspaces)
            .filter(device__property=prop, starts_at__gte=now, starts_at__lt=now + lifecycle.review_lead())
            .select_related("device")
            .order_by("starts_at", "name")
        )
    )
    flagged = list(
        codes_visible(workspaces)
        .filter(device__property=prop, needs_review=True)
        .select_related("device")
        .order_by("starts_at")
    )
    locks = list(Device.objects.filter(property=prop).order_by("display_name"))
    troubled = {
        i.device_id or i.connected_account_id: i
        for i in active_issues_of_locks(locks, {d.connected_account_id for d in locks})
    }
    attention = []
    for lock in locks:
        reasons = []
        if not lock.is_online:
            reasons.append("offline")
        if lock.battery_level is not None and lock.battery_level < LOW_BATTERY:
            reasons.append(f"battery {lock.battery_level:.0%}")
        issue = troubled.get(lock.pk) or troubled.get(lock.connected_account_id)
        if issue is not None and not reasons:
            reasons.append(issue.code)
        if reasons:
            attention.append(f"- {lock.display_name}: {', '.join(reasons)} ({links.lock_page(lock.pk)})")
    lines = [f"{prop.name}, {now.astimezone(zone):%A %d %B} ({zone})", ""]
    lines.append(f"Arrivals in the next 72 hours ({len(arrivals)}):")
    lines += [
        f"- {c.name or 'Unnamed'}, {c.device.display_name}, {links.local(c.starts_at, zone)}: {readiness(c).label}"
        for c in arrivals
    ] or ["- none"]
    lines += ["", f"Flagged for review ({len(flagged)}):"]
    lines += [
        f"- {c.name or 'Unnamed'} on {c.device.display_name}: {c.review_reason or 'flagged'} ({links.code_page(c.pk)})"
        for c in flagged
    ] or ["- none"]
    lines += ["", f"Locks needing attention ({len(attention)}):", *(attention or ["- none"])]
    lines += ["", f"Open: {links.dashboard()}"]
    something = bool(arrivals or flagged or attention)
    subject = f"{prop.name}: " + (
        f"{len(arrivals)} arrivals in 72 h, {len(flagged)} flagged, {len(attention)} locks need attention"
        if something
        else "all clear"
    )
    return subject, "\n".join(lines), something


def digests_send_due(*, now: datetime) -> int:
    """Queue every digest whose local hour has come today and that was not decided yet."""
    rules = NotificationRule.objects.filter(is_enabled=True, digest=True).prefetch_related(
        "channels", "people"
    )
    queued = 0
    for rule in rules:
        properties = (
            [rule.property]
            if rule.property_id
            else list(Property.objects.filter(workspace_id=rule.workspace_id))
        )
        for prop in properties:
            local_day = now.astimezone(prop.zone).date()
            if now < quiet.local_instant(local_day, rule.digest_time, prop.zone):
                continue
            if DigestDay.objects.filter(rule=rule, property=prop, day=local_day).exists():
                continue
            subject, body, something = digest_text(prop, now=now)
            send = something or rule.digest_all_clear
            try:
                with transaction.atomic():
                    DigestDay.objects.create(
                        rule=rule, property=prop, day=local_day, decided_at=now, sent=send
                    )
                    if send:
                        drafts = [
                            queue.Draft(
                                workspace_id=rule.workspace_id,
                                message_kind=MessageKind.DIGEST,
                                subject=subject,
                                body=body,
                                dedupe_key=f"digest:{rule.pk}:{prop.pk}:{local_day}:{t.key}",
                                target=t,
                                not_before=now,
                                rule=rule,
                            )
                            for t in queue.rule_targets(rule)
                        ]
                        queued += len(queue.notifications_queue(drafts, now=now))
            except IntegrityError:
                continue  # another worker decided this day at the same moment
    return queued
