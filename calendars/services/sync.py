"""Keeping a feed's stays and their codes in step with the calendar: fetch, read, then apply
what changed through ``codes.services.access_codes``, so every rule of a code (PINs, the lock's
rules, the scheduler's 72-hour promise) holds exactly as for the API.

Never lose a stay to a bad fetch:

- a fetch that fails (network, timeout, HTTP error, a body that is not a whole calendar, a body
  over the size cap) or a calendar suddenly empty of the future bookings it had changes no code:
  the feed records the error and when it started failing; after ``CALENDAR_FAILING_HOURS`` its
  upcoming codes carry a ``calendar_feed_failing`` warning, which puts them in the review queue;
- a booking that disappears is cancelled (its codes deleted) only when two consecutive good
  fetches miss it, and never once it has started: a stay in progress is only shortened by a new
  check-out the calendar gives;
- an edit by hand is kept: the feed never sends a PIN after creating the codes, renames only
  codes still carrying the name it gave them, leaves the dates of a pinned stay alone, and does
  not bring back codes someone deleted.

Two workers applying fetches of one feed at once: the feed row is locked while a fetch is
applied, and a fetch that started before the last applied one finished is dropped, so it can
neither create a booking twice (nor can the (feed, UID) constraint let it) nor count one
absence twice.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from calendars import parse
from calendars.fetch import Fetched, FetchFailed, fetch_calendar
from calendars.models import CalendarFeed, Stay, StayStatus
from calendars.selectors import active_future_stays, codes_of_stay
from codes.services import access_codes, checks, history
from devices.models import Device, IssueKind

logger = logging.getLogger(__name__)

FAILING_WARNING = "calendar_feed_failing"
MISSES_BEFORE_CANCELLING = 2


class EmptyCalendar(Exception):
    pass


@dataclass
class SyncReport:
    """What one fetch did, by booking UID."""

    calendar_feed_id: str
    error: str = ""
    not_modified: bool = False
    skipped: bool = False
    created: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    kept_started: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    ignored: int = 0

    @property
    def ok(self) -> bool:
        return not self.error

    def wire(self) -> dict:
        return {
            "calendar_feed_id": self.calendar_feed_id,
            "ok": self.ok,
            "error": self.error or None,
            "not_modified": self.not_modified,
            "skipped": self.skipped,
            "stays_created": self.created,
            "stays_moved": self.moved,
            "stays_renamed": self.renamed,
            "stays_cancelled": self.cancelled,
            "stays_restored": self.restored,
            "stays_unchanged": self.unchanged,
            "stays_missing_once": self.missing,
            "stays_kept_in_progress": self.kept_started,
            "stays_failed": [{"uid": uid, "error": why} for uid, why in self.failed.items()],
            "events_ignored": self.ignored,
        }


@dataclass(frozen=True)
class Wanted:
    """A booking as this fetch has it: the window and name its codes should have."""

    event: parse.FeedEvent
    starts_at: datetime
    ends_at: datetime
    name: str


def feed_sync(*, feed: CalendarFeed, now: datetime | None = None, accept_empty: bool = False) -> SyncReport:
    """Fetch ``feed`` now and apply it. The HTTP request runs outside any transaction; the
    changes are applied in one, with the feed locked. ``accept_empty``: the manager confirms
    that a calendar now empty of bookings really is (every upcoming booking cancelled)."""
    now = now or timezone.now()
    started_at = timezone.now()
    try:
        fetched = fetch_calendar(feed.url, etag=feed.etag, last_modified=feed.last_modified)
        parsed = None if fetched.body is None else parse.parse_calendar(fetched.body)
    except FetchFailed as exc:
        return _record_failure(feed, str(exc), now=now)
    except parse.NotACalendar as exc:
        return _record_failure(feed, f"The answer is not a calendar: {exc}", now=now)
    try:
        return _apply(feed, fetched, parsed, now=now, started_at=started_at, accept_empty=accept_empty)
    except EmptyCalendar as exc:
        return _record_failure(feed, str(exc), now=now)


def feed_preview(*, feed: CalendarFeed, now: datetime | None = None) -> tuple[list[Wanted], int]:
    """The stays an unsaved ``feed`` would make (and how many events it would ignore), without
    writing anything. Raises FetchFailed or parse.NotACalendar."""
    now = now or timezone.now()
    parsed = parse.parse_calendar(fetch_calendar(feed.url).body or b"")
    report = SyncReport(calendar_feed_id="")
    wanted = _wanted(feed, parsed, now=now, report=report)
    return sorted(wanted.values(), key=lambda w: w.starts_at), report.ignored


# --- Applying a good fetch -----------------------------------------------------------------------


def _apply(feed, fetched: Fetched, parsed, *, now, started_at, accept_empty) -> SyncReport:
    with transaction.atomic():
        feed = (
            CalendarFeed.objects.select_for_update().select_related("property", "workspace").get(pk=feed.pk)
        )
        report = SyncReport(calendar_feed_id=str(feed.pk))
        if feed.last_success_at is not None and started_at < feed.last_success_at:
            # Another worker's fetch was applied while this one was under way: it is at least
            # as new. Applying this one too would count one absence twice.
            report.skipped = True
            return report
        if parsed is None:
            report.not_modified = True
        else:
            _reconcile(feed, parsed, now=now, report=report, accept_empty=accept_empty)
        feed.etag = fetched.etag or feed.etag
        feed.last_modified = fetched.last_modified or feed.last_modified
        feed.last_fetch_at = now
        feed.last_success_at = timezone.now()
        feed.last_error = ""
        feed.failing_since = None
        feed.last_result = report.wire()
        feed.next_fetch_at = now + timedelta(minutes=settings.CALENDAR_FETCH_MINUTES)
        feed.save()
        for stay in feed.stays.all():
            for code in codes_of_stay(stay):
                history.access_code_issue_clear(
                    access_code=code, kind=IssueKind.WARNING, code=FAILING_WARNING, now=now
                )
        return report


def _wanted(feed, parsed: parse.ParsedCalendar, *, now, report: SyncReport) -> dict[str, Wanted]:
    prop = feed.property
    wanted: dict[str, Wanted] = {}
    for event in parsed.events:
        if event.is_cancelled or (event.is_blocked and not feed.blocked_dates_are_stays):
            report.ignored += 1
            continue
        starts_at, ends_at = parse.stay_window(
            event,
            zone=prop.zone,
            check_in=prop.default_check_in_time,
            check_out=prop.default_check_out_time,
            early_minutes=feed.early_check_in_minutes,
            late_minutes=feed.late_check_out_minutes,
        )
        if ends_at <= starts_at:
            report.failed[event.uid] = "the booking ends before it starts."
            continue
        if ends_at <= now or event.uid in wanted:  # a past booking, or a repeated UID
            report.ignored += 1
            continue
        wanted[event.uid] = Wanted(event, starts_at, ends_at, parse.code_name(event, feed_name=feed.name))
    return wanted


def _reconcile(feed, parsed, *, now, report: SyncReport, accept_empty: bool) -> None:
    wanted = _wanted(feed, parsed, now=now, report=report)
    stays = {s.uid: s for s in feed.stays.select_for_update()}
    had_future = any(s.status == StayStatus.ACTIVE and s.starts_at > now for s in stays.values())
    if not wanted and had_future and not accept_empty:
        raise EmptyCalendar(
            "The calendar came back with no bookings, but it had upcoming ones: taken as a bad "
            "fetch, so no code was changed. If every booking really was cancelled, fetch it with "
            "“accept an empty calendar”."
        )
    devices = list(feed.devices.order_by("pk"))
    for uid, want in wanted.items():
        stay = stays.get(uid)
        try:
            with transaction.atomic():  # one booking's refusal leaves the others applied
                _apply_one(feed, devices, stay, want, now=now, report=report)
        except ValidationError as exc:
            why = "; ".join(f"{f}: {' '.join(m)}" for f, m in exc.message_dict.items())
            report.failed[uid] = why
            _record_stay_error(feed, stay, want, why, now=now)
    for uid, stay in stays.items():
        if uid not in wanted:
            _missing(stay, now=now, report=report)


def _apply_one(feed, devices: list[Device], stay: Stay | None, want: Wanted, *, now, report) -> None:
    event = want.event
    dates = parse.local_dates(event, zone=feed.property.zone)
    if stay is None:
        stay = Stay(feed=feed, uid=event.uid, first_seen_at=now)
        _describe(stay, want, dates, now=now)
        stay.starts_at, stay.ends_at = want.starts_at, want.ends_at
        _make_codes(feed, devices, stay, want, now=now)
        stay.save()
        report.created.append(event.uid)
        return
    _describe(stay, want, dates, now=now)
    if stay.status == StayStatus.CANCELLED:
        stay.status, stay.cancelled_at = StayStatus.ACTIVE, None
        stay.starts_at, stay.ends_at = want.starts_at, want.ends_at
        _make_codes(feed, devices, stay, want, now=now)
        stay.save()
        report.restored.append(event.uid)
        return
    if stay.status == StayStatus.REMOVED_BY_HAND:
        stay.save()
        report.unchanged.append(event.uid)
        return
    if not stay.common_code_key:  # its codes could not be made last time: try again
        stay.starts_at, stay.ends_at = want.starts_at, want.ends_at
        _make_codes(feed, devices, stay, want, now=now)
        stay.save()
        report.created.append(event.uid)
        return
    codes = list(codes_of_stay(stay).select_related("device"))
    if not codes:  # every one deleted by hand: the manager's decision stands
        stay.status = StayStatus.REMOVED_BY_HAND
        stay.save()
        report.unchanged.append(event.uid)
        return
    changed = False
    starts_at, ends_at = _window_for(stay, want, now=now)
    current = (codes[0].starts_at, codes[0].ends_at)
    if (starts_at, ends_at) != current and not stay.dates_pinned:
        access_codes.access_codes_update_multiple(
            workspace_id=feed.workspace_id,
            common_code_key=stay.common_code_key,
            starts_at=starts_at,
            ends_at=ends_at,
            now=now,
        )
        stay.starts_at, stay.ends_at = starts_at, ends_at
        report.moved.append(event.uid)
        changed = True
    if want.name != stay.name_applied:
        # Only codes still carrying the name the feed gave them: a name typed by hand is kept.
        for code in codes:
            if code.name == stay.name_applied:
                renamed = access_codes.access_code_update(access_code=code, name=want.name, now=now)
                stay.name_applied = renamed.name
                changed = True
        if changed and event.uid not in report.moved:
            report.renamed.append(event.uid)
    stay.error = ""
    stay.save()
    if not changed:
        report.unchanged.append(event.uid)


def _window_for(stay: Stay, want: Wanted, *, now) -> tuple[datetime, datetime]:
    """A stay that has started keeps its start; its end follows the calendar's check-out, and a
    check-out already past ends the code now."""
    if stay.starts_at > now:
        return want.starts_at, want.ends_at
    return stay.starts_at, max(want.ends_at, now + timedelta(minutes=1))


def _describe(stay: Stay, want: Wanted, dates, *, now) -> None:
    event = want.event
    stay.summary = event.summary
    stay.guest_name = event.guest_name
    stay.reservation = event.reservation
    stay.check_in_date, stay.check_out_date = dates
    stay.missing_count = 0
    stay.last_seen_at = now


def _make_codes(feed, devices, stay: Stay, want: Wanted, *, now) -> None:
    """One code per door sharing one PIN: the guest's last 4 phone digits where the feed gives
    them and every door accepts them (free, allowed by each lock's rules), else generated."""
    request = checks.AccessCodeRequest(name=want.name, starts_at=want.starts_at, ends_at=want.ends_at)
    phone = want.event.phone_last4 if feed.pin_from_phone else ""
    created, source = None, "generated"
    if phone:
        try:
            with transaction.atomic():
                created = access_codes.access_codes_create_multiple(
                    devices=devices,
                    request=checks.AccessCodeRequest(**{**request.__dict__, "code": phone}),
                    now=now,
                )
            source = "phone"
        except ValidationError:
            created = None  # not a PIN every door takes: generate one instead
    if created is None:
        created = access_codes.access_codes_create_multiple(devices=devices, request=request, now=now)
    stay.common_code_key = created[0].common_code_key
    stay.name_applied = created[0].name
    stay.pin_source = source
    stay.error = ""


def _record_stay_error(feed, stay: Stay | None, want: Wanted, why: str, *, now) -> None:
    """A booking whose codes could not be made or changed: kept, with why, and tried again at
    the next fetch; the sync's answer and the feed page show it."""
    if stay is None:
        stay = Stay(
            feed=feed, uid=want.event.uid, first_seen_at=now, starts_at=want.starts_at, ends_at=want.ends_at
        )
        _describe(stay, want, parse.local_dates(want.event, zone=feed.property.zone), now=now)
    stay.error = why
    stay.save()


def _missing(stay: Stay, *, now, report: SyncReport) -> None:
    if stay.status != StayStatus.ACTIVE or stay.ends_at <= now:
        return  # cancelled already, deleted by hand, or over (platforms drop past bookings)
    stay.missing_count += 1
    if stay.starts_at <= now:
        stay.save(update_fields=["missing_count"])
        report.kept_started.append(stay.uid)
        return
    if stay.missing_count < MISSES_BEFORE_CANCELLING:
        stay.save(update_fields=["missing_count"])
        report.missing.append(stay.uid)
        return
    for code in codes_of_stay(stay):
        access_codes.access_code_delete(access_code=code, now=now)
    stay.status, stay.cancelled_at = StayStatus.CANCELLED, now
    stay.save(update_fields=["missing_count", "status", "cancelled_at"])
    report.cancelled.append(stay.uid)


# --- A failed fetch ------------------------------------------------------------------------------


def _record_failure(feed, message: str, *, now) -> SyncReport:
    """Write the error on the feed and nothing else; past the threshold, flag the upcoming codes
    so that the review queue shows them."""
    logger.warning("Booking calendar %s failed: %s", feed.pk, message)
    with transaction.atomic():
        feed = CalendarFeed.objects.select_for_update().get(pk=feed.pk)
        feed.last_fetch_at = now
        feed.last_error = message
        feed.failing_since = feed.failing_since or now
        feed.next_fetch_at = now + timedelta(minutes=settings.CALENDAR_FETCH_MINUTES)
        report = SyncReport(calendar_feed_id=str(feed.pk), error=message)
        feed.last_result = report.wire()
        feed.save()
        if now - feed.failing_since >= timedelta(hours=settings.CALENDAR_FAILING_HOURS):
            warning = (
                f"The booking calendar “{feed.name}” has failed to fetch since "
                f"{feed.failing_since:%Y-%m-%d %H:%M} UTC ({message}) This code may no longer match its "
                "booking: check the calendar's URL on its feed page, or the booking on the platform."
            )
            for stay in active_future_stays(feed, now=now):
                for code in codes_of_stay(stay):
                    history.access_code_issue_raise(
                        access_code=code,
                        kind=IssueKind.WARNING,
                        code=FAILING_WARNING,
                        message=warning,
                        now=now,
                    )
    return report


def feeds_due(*, now) -> list:
    return list(CalendarFeed.objects.filter(next_fetch_at__lte=now).values_list("pk", "next_fetch_at"))


def feed_claim(*, feed_id, seen_next_fetch_at, now) -> bool:
    """Take a due feed for this worker: a compare-and-set on ``next_fetch_at``, so of two
    schedulers seeing it due, one enqueues its fetch."""
    lease = now + timedelta(minutes=settings.CALENDAR_FETCH_MINUTES)
    return (
        CalendarFeed.objects.filter(pk=feed_id, next_fetch_at=seen_next_fetch_at).update(next_fetch_at=lease)
        == 1
    )
