"""The manager's day: the Today board (the start page) and the Stays list with its bulk actions.
Read through ``codes.stay_pages``, written through ``codes.services``; every list limited to
the viewer's workspaces, every action to what the viewer's role allows."""

from datetime import date, time

from django import forms
from django.contrib import messages
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from codes.models import AccessCode
from codes.pages import Readiness, property_timeline
from codes.services import access_codes, staff
from codes.stay_pages import STAYS_LIMIT, StayFilters, chosen_stays, stays_list, today_board
from codes.views import _page, staff_page
from common.local_time import Twice, local_instant
from devices.models import Property
from devices.selectors import workspaces_visible_to


@staff_page("codes.view_accesscode")
def property_page(request, property_id):
    """One property: its doors and their health, the timeline, its stays to come."""
    workspaces = workspaces_visible_to(request.user)
    prop = get_object_or_404(Property.objects.filter(workspace__in=workspaces), pk=property_id)
    now = timezone.now()
    doors = prop.devices.annotate(
        error_count=Count("issues", filter=Q(issues__cleared_at__isnull=True, issues__kind="error")),
        warning_count=Count("issues", filter=Q(issues__cleared_at__isnull=True, issues__kind="warning")),
    ).order_by("display_name")
    upcoming, more = stays_list(workspaces=workspaces, filters=StayFilters(property_id=str(prop.pk)), now=now)
    timeline = property_timeline(prop, now=now)
    return _page(
        request,
        "latchkey/property.html",
        prop.name,
        property=prop,
        doors=doors,
        timeline=timeline,
        timelines=[timeline],
        stays=upcoming[:PROPERTY_STAYS_SHOWN],
        more=more or len(upcoming) > PROPERTY_STAYS_SHOWN,
        now=now,
    )


PROPERTY_STAYS_SHOWN = 20


@staff_page("codes.view_accesscode")
def today(request):
    workspaces = workspaces_visible_to(request.user)
    now = timezone.now()
    return _page(
        request, "latchkey/today.html", "Today", now=now, board=today_board(workspaces=workspaces, now=now)
    )


class StayFilterForm(forms.Form):
    q = forms.CharField(label="Guest name", required=False, max_length=100)
    property = forms.ChoiceField(label="Property", required=False)
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="Local day"
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="Local day"
    )
    readiness = forms.ChoiceField(label="Readiness", required=False)

    def __init__(self, *args, properties, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["property"].choices = [("", "Every property")] + [(str(p.pk), p.name) for p in properties]
        self.fields["readiness"].choices = [("", "Any"), ("not_ready", "Not ready")] + [
            (r.value, r.label) for r in Readiness
        ]

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            self.add_error("date_to", "must be on or after the “From” day.")
        return data

    def filters(self) -> StayFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return StayFilters(
            search=data.get("q", ""),
            property_id=data.get("property", ""),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            readiness=data.get("readiness", ""),
        )


BULK_ACTIONS = {
    "retry": "Retry now",
    "departure": "Change the departure",
    "resolve": "Mark resolved",
    "delete": "Delete",
}


def _allowed_bulk_actions(user) -> list[tuple[str, str]]:
    may = {
        "retry": user.has_perm("codes.change_accesscode") or user.has_perm("codes.review_accesscode"),
        "departure": user.has_perm("codes.change_accesscode"),
        "resolve": user.has_perm("codes.review_accesscode"),
        "delete": user.has_perm("codes.delete_accesscode"),
    }
    return [(name, label) for name, label in BULK_ACTIONS.items() if may[name]]


@staff_page("codes.view_accesscode")
def stays(request):
    workspaces = workspaces_visible_to(request.user)
    properties = list(Property.objects.filter(workspace__in=workspaces).order_by("name"))
    form = StayFilterForm(request.GET or None, properties=properties)
    found, more = stays_list(workspaces=workspaces, filters=form.filters(), now=timezone.now())
    return _page(
        request,
        "latchkey/stays.html",
        "Stays",
        form=form,
        stays=found,
        more=more,
        limit=STAYS_LIMIT,
        actions=_allowed_bulk_actions(request.user),
        back=request.get_full_path(),
    )


@staff_page("codes.view_accesscode")
def stays_bulk(request):
    """One action on the chosen stays: every code of each, through the services, all or none;
    each step recorded (staff steps and events by the services, a log entry per code here)."""
    back = request.POST.get("back") or reverse("latchkey:stays")
    if not back.startswith(reverse("latchkey:stays")):
        back = reverse("latchkey:stays")
    if request.method != "POST":
        return HttpResponseRedirect(back)
    action = request.POST.get("action")
    if action not in dict(_allowed_bulk_actions(request.user)):
        raise PermissionDenied
    keys = [k for k in request.POST.getlist("stay") if k]
    if not keys:
        messages.error(request, "Choose at least one stay.")
        return HttpResponseRedirect(back)
    chosen = chosen_stays(workspaces_visible_to(request.user), keys)
    if len(chosen) != len(set(keys)):
        messages.error(request, "Some chosen stays are gone or not in your workspaces; nothing was done.")
        return HttpResponseRedirect(back)
    try:
        with transaction.atomic():
            done = _run(action, chosen, request)
    except ValidationError as exc:
        problems = "; ".join(exc.messages)  # by field or not (a time the clocks skip names none)
        messages.error(request, f"{BULK_ACTIONS[action]}: nothing was changed. {problems}")
        return HttpResponseRedirect(back)
    messages.success(request, done)
    return HttpResponseRedirect(back)


def _run(action: str, chosen, request) -> str:
    user = request.user
    codes = [c for stay in chosen for c in stay.codes]
    count = f"{len(chosen)} stay{'s' if len(chosen) != 1 else ''}"
    if action == "retry":
        for code in codes:
            staff.access_code_retry_now(access_code=code, actor=user)
        _log(user, codes, CHANGE, "Retry now (from Stays)")
        return f"Latchkey is checking the codes of {count} with their locks now."
    if action == "resolve":
        flagged = [c for c in codes if c.needs_review]
        for code in flagged:
            staff.review_resolve(access_code=code, actor=user, note=request.POST.get("note", ""))
        return f"{len(flagged)} flagged code{'s' if len(flagged) != 1 else ''} of {count} marked resolved."
    if action == "delete":
        for code in codes:
            access_codes.access_code_delete(access_code=code)
        _log(user, codes, DELETION, "Deleted (from Stays)")
        return f"Deleted the codes of {count}; Latchkey takes them off the locks."
    # The new departure, typed in each stay's property's zone.
    try:
        day = date.fromisoformat(request.POST.get("departure_date", ""))
        hour, minute = (int(p) for p in request.POST.get("departure_time", "").split(":")[:2])
    except ValueError as exc:
        raise ValidationError({"departure": ["give the new departure's date and time."]}) from exc
    for stay in chosen:
        if stay.starts_at is None:
            raise ValidationError({"departure": [f"{stay.name} is ongoing: it has no departure to change."]})
        zone = stay.first.device.zone
        ends_at = local_instant(day, _time(hour, minute), zone, twice=Twice.LATER)
        for code in stay.codes:
            access_codes.access_code_update(access_code=code, ends_at=ends_at)
    _log(user, codes, CHANGE, f"Departure changed to {day} {hour:02d}:{minute:02d} local (from Stays)")
    return (
        f"The departure of {count} is now {day:%a %d %b} {hour:02d}:{minute:02d}; Latchkey updates the locks."
    )


def _time(hour: int, minute: int) -> time:
    try:
        return time(hour, minute)
    except ValueError as exc:
        raise ValidationError({"departure": ["give a time between 00:00 and 23:59."]}) from exc


def _log(user, codes, flag, message: str) -> None:
    LogEntry.objects.log_actions(
        user_id=user.pk,
        queryset=AccessCode.objects.filter(pk__in=[c.pk for c in codes]),
        action_flag=flag,
        change_message=message,
    )
