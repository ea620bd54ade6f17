"""Booking calendars (iCal feeds) and the stays read from them.

A ``CalendarFeed`` is one listing's calendar export (Airbnb, Vrbo, Booking.com, a channel
manager) for a chosen set of one property's doors. Each booking event in it, keyed by its
``UID``, is a ``Stay``: the codes made for it share one ``common_code_key``, so one PIN opens
every chosen door, and the stay remembers what the feed last asked for, so the next fetch can
tell a moved booking from a manual change. Codes themselves are written only through
``codes.services.access_codes``.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from devices.models import Device, Property, Workspace

MAX_BUFFER_MINUTES = 24 * 60
URL_MAX_LENGTH = 2000


class CalendarFeed(models.Model):
    calendar_feed_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="calendar_feeds")
    property = models.ForeignKey(Property, on_delete=models.CASCADE, related_name="calendar_feeds")
    devices = models.ManyToManyField(
        Device, related_name="calendar_feeds", help_text="The doors its stays open."
    )
    name = models.CharField(max_length=100, help_text='Where the calendar comes from, e.g. "Airbnb".')
    url = models.CharField(max_length=URL_MAX_LENGTH)
    early_check_in_minutes = models.PositiveIntegerField(
        default=0, help_text="The code starts this long before the property's check-in time."
    )
    late_check_out_minutes = models.PositiveIntegerField(
        default=0, help_text="The code ends this long after the property's check-out time."
    )
    blocked_dates_are_stays = models.BooleanField(
        default=False,
        help_text='Treat "Not available" / "Blocked" / "CLOSED" events as stays (Booking.com marks '
        "every booking that way).",
    )
    pin_from_phone = models.BooleanField(
        default=True,
        help_text="Use the last 4 digits of the guest's phone as the PIN where the feed gives them and "
        "every door accepts them; else a generated PIN.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    # What the last fetches did. None of it changes a code: a failed fetch only writes here.
    next_fetch_at = models.DateTimeField(null=True, blank=True, editable=False)
    etag = models.CharField(max_length=500, blank=True, editable=False)
    last_modified = models.CharField(max_length=100, blank=True, editable=False)
    last_fetch_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    failing_since = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="First failed fetch since the last good one."
    )
    last_result = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["property__name", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(early_check_in_minutes__lte=MAX_BUFFER_MINUTES)
                & Q(late_check_out_minutes__lte=MAX_BUFFER_MINUTES),
                name="calendar_feed_buffers_at_most_a_day",
            ),
        ]
        indexes = [models.Index(fields=["next_fetch_at"], name="calendar_feed_due_idx")]

    def __str__(self) -> str:
        return f"{self.name} calendar of {self.property}"


class StayStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CANCELLED = "cancelled", "Cancelled (gone from the calendar)"
    REMOVED_BY_HAND = "removed_by_hand", "Codes deleted by hand"


class Stay(models.Model):
    """A booking read from a feed, and the codes made for it (``common_code_key``)."""

    stay_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    feed = models.ForeignKey(CalendarFeed, on_delete=models.CASCADE, related_name="stays")
    uid = models.CharField(max_length=500)
    status = models.CharField(max_length=20, choices=StayStatus.choices, default=StayStatus.ACTIVE)
    summary = models.CharField(max_length=500, blank=True)
    guest_name = models.CharField(max_length=200, blank=True)
    reservation = models.CharField(max_length=100, blank=True, help_text="The platform's reservation code.")
    check_in_date = models.DateField()
    check_out_date = models.DateField()
    # What the feed asks for now (buffers included), and what was last written to the codes.
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    common_code_key = models.CharField(max_length=200, blank=True)
    name_applied = models.CharField(max_length=200, blank=True)
    pin_source = models.CharField(max_length=20, blank=True, help_text="phone or generated")
    dates_pinned = models.BooleanField(
        default=False, help_text="The manager fixed the codes' dates: later feed changes leave them."
    )
    missing_count = models.PositiveSmallIntegerField(
        default=0, help_text="Consecutive good fetches that did not have this booking."
    )
    error = models.TextField(blank=True, help_text="Why its codes could not be made or changed.")
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["starts_at", "uid"]
        constraints = [
            # Two workers applying the same fetch can never make a booking twice: the second
            # insert fails instead (and the feed's row lock means it never gets that far).
            models.UniqueConstraint(fields=["feed", "uid"], name="stay_one_per_feed_and_uid"),
            models.CheckConstraint(condition=Q(status__in=StayStatus.values), name="stay_status_valid"),
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="stay_ends_after_starts"
            ),
        ]

    def __str__(self) -> str:
        return self.guest_name or self.uid
