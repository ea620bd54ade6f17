"""The booking-calendar page of a property, inside the admin (same login, same look): add a
calendar after previewing the stays it would make, fetch now, see the last fetch, its error,
and the stays it made with links to their codes. Reads through ``calendars.selectors``, writes
through ``calendars.services``."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from calendars.fetch import FetchFailed
from calendars.models import MAX_BUFFER_MINUTES, URL_MAX_LENGTH, CalendarFeed, Stay
from calendars.parse import NotACalendar
from calendars.selectors import feeds_for, stays_with_codes
from calendars.services import feeds, sync
from codes.views import _page, staff_page
from common.ids import is_uuid
from devices.models import Device, Property
from devices.selectors import workspaces_visible_to

_FORM_FIELD_FOR = {"device_ids": "devices"}


class FeedForm(forms.Form):
    name = forms.CharField(
        label="Calendar name",
        max_length=feeds.NAME_MAX_LENGTH,
        initial="Airbnb",
        help_text='Where it comes from, e.g. "Airbnb", "Vrbo", "Booking.com".',
    )
    url = forms.CharField(
        label="Calendar URL (iCal export)",
        max_length=URL_MAX_LENGTH,
        widget=forms.URLInput(attrs={"size": 60}),
        help_text="The listing's calendar export link, ending in .ics on most platforms.",
    )
    devices = forms.ModelMultipleChoiceField(
        label="Doors",
        queryset=Device.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text="Each booking gets one PIN on every chosen door.",
        error_messages={"required": "Choose at least one door."},
    )
    early_check_in_minutes = forms.IntegerField(
        label="Early check-in buffer (minutes)", min_value=0, max_value=MAX_BUFFER_MINUTES, initial=0
    )
    late_check_out_minutes = forms.IntegerField(
        label="Late check-out buffer (minutes)", min_value=0, max_value=MAX_BUFFER_MINUTES, initial=0
    )
    pin_from_phone = forms.BooleanField(
        label="Use the last 4 digits of the guest's phone as the PIN where the calendar gives them",
        required=False,
        initial=True,
    )
    blocked_dates_are_stays = forms.BooleanField(
        label="Blocked dates are bookings (Booking.com marks every booking “CLOSED - Not available”)",
        required=False,
    )

    def __init__(self, *args, property: Property, **kwargs):
        super().__init__(*args, **kwargs)
        self.property = property
        self.fields["devices"].queryset = property.devices.order_by("display_name")
        self.fields["devices"].initial = list(property.devices.values_list("pk", flat=True))

    def unsaved_feed(self) -> CalendarFeed:
        data = self.cleaned_data
        return CalendarFeed(
            workspace=self.property.workspace,
            property=self.property,
            name=data["name"],
            url=data["url"],
            early_check_in_minutes=data["early_check_in_minutes"],
            late_check_out_minutes=data["late_check_out_minutes"],
            blocked_dates_are_stays=data["blocked_dates_are_stays"],
            pin_from_phone=data["pin_from_phone"],
        )

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "url": data["url"],
            "devices": list(data["devices"]),
            "early_check_in_minutes": data["early_check_in_minutes"],
            "late_check_out_minutes": data["late_check_out_minutes"],
            "blocked_dates_are_stays": data["blocked_dates_are_stays"],
            "pin_from_phone": data["pin_from_phone"],
        }

    def add_service_errors(self, exc: ValidationError) -> None:
        for field, problems in exc.message_dict.items():
            field = _FORM_FIELD_FOR.get(field, field)
            self.add_error(field if field in self.fields else None, problems)


def _properties(request):
    return Property.objects.filter(workspace__in=workspaces_visible_to(request.user)).order_by("name")


def _feed(request, calendar_feed_id) -> CalendarFeed:
    return get_object_or_404(feeds_for(workspaces_visible_to(request.user)), pk=calendar_feed_id)


def _back(feed_or_property_id) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("calendars:feeds") + f"?property={feed_or_property_id}")


@staff_page("codes.view_accesscode")
def feeds_page(request):
    properties = _properties(request)
    chosen_id = request.POST.get("property") or request.GET.get("property")
    if chosen_id is None and len(properties) == 1:
        chosen_id = str(properties[0].pk)
    chosen = None
    if chosen_id:
        chosen = properties.filter(pk=chosen_id).first() if is_uuid(chosen_id) else None
        if chosen is None:
            raise Http404("No such property in your workspaces.")
    form, preview, preview_error = None, None, None
    can_add = request.user.has_perm("codes.add_accesscode")
    if chosen is not None and can_add:
        form = FeedForm(request.POST or None, property=chosen)
        if request.method == "POST" and form.is_valid():
            action = request.POST.get("action")
            if action == "preview":
                preview, preview_error = _preview(form)
            elif action == "save":
                try:
                    feed = feeds.feed_create(workspace=chosen.workspace, **form.service_fields())
                except ValidationError as exc:
                    form.add_service_errors(exc)
                else:
                    report = sync.feed_sync(feed=feed)  # the first fetch at once, not in 15 minutes
                    _tell(request, feed, report, saved=True)
                    return _back(chosen.pk)
    now = timezone.now()
    listed = []
    if chosen is not None:
        for feed in chosen.calendar_feeds.prefetch_related("devices").order_by("name"):
            listed.append({"feed": feed, "stays": stays_with_codes(feed)})
    return _page(
        request,
        "latchkey/calendar_feeds.html",
        "Booking calendars",
        properties=properties,
        chosen=chosen,
        form=form,
        preview=preview,
        preview_error=preview_error,
        feeds=listed,
        now=now,
        can_add=can_add,
    )


def _preview(form: FeedForm):
    try:
        feeds.feed_check(
            workspace=form.property.workspace,
            name=form.cleaned_data["name"],
            url=form.cleaned_data["url"],
            devices=list(form.cleaned_data["devices"]),
            early_check_in_minutes=form.cleaned_data["early_check_in_minutes"],
            late_check_out_minutes=form.cleaned_data["late_check_out_minutes"],
        )
        stays, ignored = sync.feed_preview(feed=form.unsaved_feed())
    except ValidationError as exc:
        form.add_service_errors(exc)
        return None, None
    except FetchFailed as exc:
        return None, str(exc)
    except NotACalendar as exc:
        return None, f"The answer is not a calendar: {exc}"
    pin_from_phone = form.cleaned_data["pin_from_phone"]
    rows = [
        {
            "want": w,
            "pin": "last 4 digits of the phone" if pin_from_phone and w.event.phone_last4 else "generated",
        }
        for w in stays
    ]
    return {"rows": rows, "ignored": ignored}, None


def _tell(request, feed: CalendarFeed, report: sync.SyncReport, *, saved: bool = False) -> None:
    start = f"Saved “{feed.name}”. " if saved else ""
    if report.error:
        messages.error(request, f"{start}The fetch failed, so no code was changed: {report.error}")
        return
    counts = [
        (len(report.created), "new"),
        (len(report.moved), "moved"),
        (len(report.cancelled), "cancelled"),
        (len(report.restored), "restored"),
        (len(report.unchanged), "unchanged"),
        (len(report.failed), "could not get codes"),
    ]
    said = ", ".join(f"{n} {what}" for n, what in counts if n) or "no bookings"
    extra = " The calendar had not changed." if report.not_modified else ""
    messages.success(request, f"{start}Fetched “{feed.name}”: {said}.{extra}")


@staff_page("codes.add_accesscode")
@require_POST
def feed_fetch_now(request, calendar_feed_id):
    feed = _feed(request, calendar_feed_id)
    report = sync.feed_sync(feed=feed, accept_empty=request.POST.get("accept_empty") == "1")
    _tell(request, feed, report)
    return _back(feed.property_id)


@staff_page("codes.delete_accesscode")
@require_POST
def feed_remove(request, calendar_feed_id):
    feed = _feed(request, calendar_feed_id)
    feeds.feed_delete(feed=feed)
    messages.success(request, f"Removed “{feed.name}”. The codes it made stay as they are.")
    return _back(feed.property_id)


@staff_page("codes.change_accesscode")
@require_POST
def stay_pin(request, stay_id):
    stay = get_object_or_404(
        Stay.objects.filter(feed__workspace__in=workspaces_visible_to(request.user)).select_related("feed"),
        pk=stay_id,
    )
    pinned = request.POST.get("pinned") == "1"
    feeds.stay_pin_dates(stay=stay, pinned=pinned)
    messages.success(
        request,
        f"“{stay}”: dates pinned; the calendar no longer moves its codes."
        if pinned
        else f"“{stay}”: dates follow the calendar again from the next fetch.",
    )
    return _back(stay.feed.property_id)
