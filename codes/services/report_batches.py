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

from codes import lifecycle
from codes.models import AccessCode, Event, EventType
from codes.services import ledger as ledgers
from codes.services.reports import (
    CODE_STATE_EVENTS,
    OVER_NOT_SET,
    ReportResult,
    ignored,
    lock_answer_of,
    stale_code_report,
)
from common.db import update_rows

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
            Event.objects.filter(access_code__in=list(ledger.codes), event_type__in=CODE_STATE_EVENTS)
            .values("access_code")
            .annotate(newest=Max("occurred_at"))
            .values_list("access_code", "newest")
        )
        results, reported, latest = [], [], None
        for report in reports:
            at = min(report.occurred_at, now)
            code = ledger.get(report.access_code.pk)
            stale = stale_code_report(code, at=at, newest=newest.get(code.pk))
            if stale is not None:  # ignored before the report was counted as the newest
                results.append(stale)
                continue
            code.last_provider_report_at = at
            reported.append(code)
            latest = at if latest is None else max(latest, at)
            if lifecycle.is_over(code, at) and report.event_type in (
                EventType.SET_ON_DEVICE,
                EventType.SCHEDULED_ON_DEVICE,
            ):
                results.append(ignored(OVER_NOT_SET))
                continue
            ledger.now = at  # each step is recorded at the moment it happened, as one report's ledger is
            ledgers.record_outcome(ledger, code, *lock_answer_of(code, report.event_type, report.errors))
            results.append(ReportResult(applied=True))
        if latest is not None:
            ledger.now = latest
        ledger.save()
        update_rows(reported, ["last_provider_report_at"])
    return results
