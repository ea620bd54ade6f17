"""Many provider reports about codes recorded through one ``Ledger`` (webhooks in batches): the
same guards and the same recording as ``reports.access_code_record_provider_event``, in a few
queries for the lot rather than a score for each.

Only the reports a ledger records (``LEDGER_EVENTS``: a code set, scheduled, or refused by its
lock) are taken, each about a different code; the caller keeps the arrival order by recording
any other report, or a second one about the same code, after the batch before it is saved.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Max

from codes import catalog, lifecycle
from codes.models import AccessCode, Event, EventType
from codes.services import ledger as ledgers
from codes.services.reports import _CODE_STATE_EVENTS, ReportResult, _ignored
from common.db import update_rows
from devices.providers.base import Outcome, Problem

LEDGER_EVENTS = frozenset(
    {
        EventType.SET_ON_DEVICE,
        EventType.SCHEDULED_ON_DEVICE,
        EventType.FAILED_TO_SET_ON_DEVICE,
        EventType.FAILED_TO_REMOVE_FROM_DEVICE,
    }
)


@dataclass(frozen=True)
class CodeReport:
    """What a lock's provider reported about one code."""

    access_code: AccessCode
    event_type: str
    occurred_at: datetime
    errors: tuple[str, ...] = ()


def access_codes_record_provider_events(reports: list[CodeReport], *, now: datetime) -> list[ReportResult]:
    """Record ``reports`` (each in ``LEDGER_EVENTS``, each about a different code) in one ledger,
    in order; one result each, as ``access_code_record_provider_event`` answers."""
    if len({r.access_code.pk for r in reports}) != len(reports):
        raise ValueError("a batch of reports takes one report per code")
    with transaction.atomic():
        ledger = ledgers.Ledger.open([r.access_code for r in reports], now=now)
        newest = dict(
            Event.objects.filter(access_code__in=list(ledger.codes), event_type__in=_CODE_STATE_EVENTS)
            .values("access_code")
            .annotate(newest=Max("occurred_at"))
            .values_list("access_code", "newest")
        )
        results, reported, latest = [], [], None
        for report in reports:
            at = min(report.occurred_at, now)
            code = ledger.get(report.access_code.pk)
            result = _record(ledger, code, report, at=at, newest=newest.get(code.pk))
            if result is not None:  # ignored before the report was counted as the newest
                results.append(result)
                continue
            code.last_provider_report_at = at
            reported.append(code)
            latest = at if latest is None else max(latest, at)
            if lifecycle.is_over(code, at) and report.event_type in (
                EventType.SET_ON_DEVICE,
                EventType.SCHEDULED_ON_DEVICE,
            ):
                results.append(_ignored("the code is deleted or over; the scheduler takes it off the lock"))
                continue
            ledger.now = at  # each step is recorded at the moment it happened, as one report's ledger is
            ledgers.record_outcome(ledger, code, *_action_and_outcome(code, report))
            results.append(ReportResult(applied=True))
        if latest is not None:
            ledger.now = latest
        ledger.save()
        update_rows(reported, ["last_provider_report_at"])
    return results


def _record(
    ledger, code, report: CodeReport, *, at: datetime, newest: datetime | None
) -> ReportResult | None:
    if newest is not None and at < newest:
        return _ignored(f"older than the code's latest recorded state ({newest.isoformat()})")
    last = code.last_provider_report_at
    if last is not None and at < last:
        return _ignored(f"older than the provider's latest report on this code ({last.isoformat()})")
    return None


def _action_and_outcome(code: AccessCode, report: CodeReport) -> tuple[lifecycle.LockAction, Outcome]:
    """As ``reports._apply_code_report`` turns these reports into a lock's answer."""
    if report.event_type in (EventType.SET_ON_DEVICE, EventType.SCHEDULED_ON_DEVICE):
        return lifecycle.LockAction.SET, Outcome.confirmed(code.provider_code_id or None, reached_lock=True)
    setting = report.event_type == EventType.FAILED_TO_SET_ON_DEVICE
    codes = tuple(report.errors) or (
        ("failed_to_set_on_device",) if setting else ("failed_to_remove_from_device",)
    )
    outcome = Outcome.failed(
        *(Problem(c) for c in codes), transient=all(catalog.error(c).transient for c in codes)
    )
    return (lifecycle.LockAction.SET if setting else lifecycle.LockAction.REMOVE), outcome
