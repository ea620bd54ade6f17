"""The pages property managers and reviewers work in, beside the admin: the dashboard, the
review queue, the timeline picture and creating codes for a property's doors.

Views only read through ``codes.pages`` and ``codes.selectors`` and write through ``codes.services``; every list
is limited to the workspaces the person may see (``devices.selectors``)."""

from functools import wraps

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from codes.extensions import CREATE_FORM_EXTENSIONS
from codes.models import AccessCode
from codes.pages import (
    Readiness,
    arrivals_by_property,
    devices_needing_attention,
    locks_that_will_overflow,
    property_timeline,
    review_cards,
    review_queue,
)
from codes.services import access_codes, checks, staff
from codes.templatetags.latchkey import mask_pins
from common.ids import is_uuid
from common.local_time import Twice, local_instant
from devices.models import Device, Property
from devices.selectors import workspaces_visible_to


def staff_page(permission: str):
    """An admin page (login as for the admin) that needs ``permission``."""

    def decorate(view):
        @wraps(view)
        def guarded(request, *args, **kwargs):
            if not request.user.has_perm(permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return admin.site.admin_view(guarded)

    return decorate


def _page(request, template: str, title: str, **context) -> TemplateResponse:
    return TemplateResponse(
        request,
        template,
        # The admin's model sidebar (280 px of model links) is for administrators' rare edits,
        # not on the pages a manager's day is spent in.
        {
            **admin.site.each_context(request),
            "is_nav_sidebar_enabled": False,
            "title": title,
            "subtitle": None,
            **context,
        },
    )


# --- Dashboard ---------------------------------------------------------------------------------


@staff_page("codes.view_accesscode")
def dashboard(request):
    workspaces = workspaces_visible_to(request.user)
    now = timezone.now()
    queue = review_queue(workspaces=workspaces)
    return _page(
        request,
        "latchkey/dashboard.html",
        "Dashboard",
        now=now,
        properties=arrivals_by_property(workspaces=workspaces, now=now),
        flagged=queue.count(),
        flagged_unassigned=queue.filter(review_assignee__isnull=True).count(),
        flagged_acknowledged=queue.filter(review_acknowledged_at__isnull=False).count(),
        attention=devices_needing_attention(workspaces=workspaces),
        overflowing=locks_that_will_overflow(workspaces=workspaces, now=now),
        readiness_order=list(Readiness),
    )


# --- Review queue ------------------------------------------------------------------------------

QUEUE_LIMIT = 200
REVIEW_STEPS = {"assign", "acknowledge", "note", "resolve"}


def _reviewers(workspace_id):
    """Who a code can be given to: active staff who may work the queue and see its workspace."""
    users = get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")
    return [
        u
        for u in users
        if u.has_perm("codes.review_accesscode") and workspaces_visible_to(u).filter(pk=workspace_id).exists()
    ]


@staff_page("codes.review_accesscode")
def review_queue_page(request, errors=None, status=200):
    workspaces = workspaces_visible_to(request.user)
    now = timezone.now()
    queue = review_queue(workspaces=workspaces)
    total = queue.count()
    reviewers_by_workspace: dict = {}
    may_see_pins = request.user.has_perm("codes.view_pin")
    cards = []
    for card in review_cards(list(queue[:QUEUE_LIMIT])):
        first = card.codes[0]
        if first.workspace_id not in reviewers_by_workspace:
            reviewers_by_workspace[first.workspace_id] = _reviewers(first.workspace_id)
        cards.append(
            {
                "card": card,
                "code": first,
                "stays": [
                    {"code": c, "until_arrival": c.arrival - now, "arrived": c.arrival <= now}
                    for c in card.codes
                ],
                "problems": card.problems,
                # The pulled backup's PIN, by reference, for those who may see PINs only.
                "backup_pin": first.pulled_backup_access_code.code
                if may_see_pins and first.pulled_backup_access_code_id and card.lock is None
                else None,
                "until_arrival": first.arrival - now,
                "arrived": first.arrival <= now,
                "reviewers": reviewers_by_workspace[first.workspace_id],
                "errors": (errors or {}).get(card.anchor, {}),
            }
        )
    response = _page(
        request, "latchkey/review_queue.html", "Review queue", cards=cards, total=total, limit=QUEUE_LIMIT
    )
    response.status_code = status
    return response


@staff_page("codes.review_accesscode")
def review_step(request, access_code_id):
    """A step on one code's card."""
    if request.method != "POST":
        return HttpResponseRedirect(reverse("latchkey:review_queue"))
    workspaces = workspaces_visible_to(request.user)
    code = get_object_or_404(AccessCode.objects.filter(workspace__in=workspaces), pk=access_code_id)
    return _review_steps(request, [code], anchor=f"code-{code.pk}")


@staff_page("codes.review_accesscode")
def review_lock_step(request):
    """A step on a lock's card: taken on every stay the card lists, each through the service
    and recorded on its code, as if taken on each card alone."""
    if request.method != "POST":
        return HttpResponseRedirect(reverse("latchkey:review_queue"))
    ids = [i for i in request.POST.getlist("code") if is_uuid(i)]
    workspaces = workspaces_visible_to(request.user)
    codes = list(AccessCode.objects.filter(workspace__in=workspaces, pk__in=ids).order_by("starts_at", "pk"))
    if not codes or len(codes) != len(set(ids)):
        raise Http404("No such codes in your workspaces.")
    return _review_steps(request, codes, anchor=request.POST.get("card", ""))


def _review_steps(request, codes: list[AccessCode], *, anchor: str):
    step = request.POST.get("step")
    if step not in REVIEW_STEPS:
        raise Http404("No such review step.")
    note = request.POST.get("note", "")
    workspace_ids = {c.workspace_id for c in codes}
    what = str(codes[0]) if len(codes) == 1 else f"{len(codes)} stays"
    try:
        with transaction.atomic():  # all of the card's stays, or none of them
            if step == "assign":
                assignee = None
                if request.POST.get("assignee"):
                    candidates = [u for w in workspace_ids for u in _reviewers(w)]
                    assignee = next((u for u in candidates if str(u.pk) == request.POST["assignee"]), None)
                    if assignee is None:
                        raise ValidationError({"assignee": ["choose someone who may work the review queue."]})
                for code in codes:
                    staff.review_assign(access_code=code, actor=request.user, assignee=assignee)
                done = f"{what} assigned to {assignee.get_username()}." if assignee else f"{what} unassigned."
            elif step == "acknowledge":
                for code in codes:
                    staff.review_acknowledge(access_code=code, actor=request.user)
                done = f"{what} acknowledged."
            elif step == "note":
                for code in codes:
                    staff.review_note(access_code=code, actor=request.user, note=note)
                done = f"Note added to {what}."
            else:
                still = [staff.review_resolve(access_code=c, actor=request.user, note=note) for c in codes]
                still = [c for c in still if c.needs_review]
                if still:  # what blocks it is still there: resolving hides no failure
                    reason = mask_pins(still[0].review_reason)
                    done = f"{what} noted as resolved, but {'it stays' if len(codes) == 1 else 'they stay'} here: {reason}"
                else:
                    done = f"{what} resolved; {'it comes' if len(codes) == 1 else 'they come'} back here if a problem returns."
    except ValidationError as exc:
        return review_queue_page(request, errors={anchor: exc.message_dict}, status=400)
    messages.success(request, done)
    return HttpResponseRedirect(reverse("latchkey:review_queue") + f"#{anchor}")


# --- Timeline ----------------------------------------------------------------------------------


@staff_page("codes.view_accesscode")
def timeline(request):
    workspaces = workspaces_visible_to(request.user)
    properties = Property.objects.filter(workspace__in=workspaces).order_by("name")
    chosen = request.GET.get("property")
    if chosen:
        properties = properties.filter(pk=chosen) if is_uuid(chosen) else properties.none()
        if not properties:
            raise Http404("No such property in your workspaces.")
    now = timezone.now()
    return _page(
        request,
        "latchkey/timeline.html",
        "Timeline: the next 14 days",
        timelines=[property_timeline(p, now=now) for p in properties],
        readiness_order=list(Readiness),
    )


# --- Creating codes for a property's doors ------------------------------------------------------

# Service field names (the API's) and the form fields people fill in.
_FORM_FIELD_FOR = {
    "starts_at": "arrival_date",
    "ends_at": "departure_date",
    "device_id": "devices",
    "device_ids": "devices",
}


def why_door_cannot_take_a_code(device: Device) -> str | None:
    """Why this lock would refuse (or fail at once with) a PIN code, in a person's words; None
    when it can take one."""
    if not device.can_program_online_access_codes:
        return "this lock cannot be given PIN codes from Latchkey"
    if not device.has_keypad:
        if device.accessory_keypad_connectable:
            return "no keypad: connect its accessory keypad first"
        return "no keypad to type a PIN on"
    return None


class DoorCheckboxes(forms.CheckboxSelectMultiple):
    """Doors to tick, each that cannot take the code shown disabled with its reason."""

    reasons: dict = {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        reason = self.reasons.get(str(getattr(value, "value", value)))
        if reason:
            option["attrs"]["disabled"] = True
            option["attrs"]["aria-describedby"] = f"{option['attrs'].get('id', name)}_reason"
            option["reason"] = reason
            option["selected"] = False
            option["attrs"].pop("checked", None)
        return option


class PropertyCodeForm(forms.Form):
    name = forms.CharField(label="Guest or code name", max_length=checks.NAME_MAX_LENGTH, required=False)
    devices = forms.ModelMultipleChoiceField(
        label="Doors",
        queryset=Device.objects.none(),
        widget=DoorCheckboxes,
        help_text="One shared PIN is set on every chosen door.",
        error_messages={"required": "Choose at least one door."},
    )
    code = forms.CharField(
        label="PIN",
        required=False,
        max_length=checks.CODE_MAX_LENGTH,
        help_text="Leave empty: Latchkey generates one that every chosen door accepts.",
    )
    ongoing = forms.BooleanField(label="Ongoing (no arrival or departure)", required=False)
    arrival_date = forms.DateField(
        label="Arrival date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    check_in_time = forms.TimeField(
        label="Check-in time", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    departure_date = forms.DateField(
        label="Departure date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    check_out_time = forms.TimeField(
        label="Check-out time", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    use_backup_access_code_pool = forms.BooleanField(
        label="Use the lock's backup pool if the code is not set in time", required=False
    )

    def __init__(self, *args, property: Property, **kwargs):
        super().__init__(*args, **kwargs)
        self.property = property
        doors = list(property.devices.order_by("display_name"))
        self.fields["devices"].queryset = property.devices.order_by("display_name")
        self.unable = {str(d.pk): why for d in doors if (why := why_door_cannot_take_a_code(d))}
        self.fields["devices"].widget.reasons = self.unable
        self.fields["check_in_time"].initial = property.default_check_in_time
        self.fields["check_out_time"].initial = property.default_check_out_time
        # Only doors that can take the code start ticked.
        self.fields["devices"].initial = [d.pk for d in doors if str(d.pk) not in self.unable]
        able = [d for d in doors if str(d.pk) not in self.unable]
        without_pool = [d.display_name for d in able if not d.supports_backup_access_code_pool]
        pool = self.fields["use_backup_access_code_pool"]
        if not able or without_pool:
            pool.disabled = True
            pool.widget.attrs["aria-describedby"] = "id_use_backup_access_code_pool_reason"
            self.pool_reason = (
                "Not possible here: no door can take a code."
                if not able
                else f"Not possible here: {', '.join(without_pool)} {'has' if len(without_pool) == 1 else 'have'} "
                "no backup pool."
            )
        else:
            self.pool_reason = ""
        zone = property.zone.key
        self.fields["arrival_date"].help_text = f"In the property's time zone ({zone})."
        self.fields["departure_date"].help_text = f"In the property's time zone ({zone})."
        for extension in CREATE_FORM_EXTENSIONS:  # e.g. the guest's contact (notifications)
            self.fields.update(extension.fields(property))

    def clean_devices(self):
        devices = self.cleaned_data["devices"]
        refused = [f"{d.display_name}: {self.unable[str(d.pk)]}" for d in devices if str(d.pk) in self.unable]
        if refused:
            raise ValidationError("These doors cannot take a code. " + "; ".join(refused) + ".")
        return devices

    def clean(self):
        data = super().clean()
        self.starts_at = self.ends_at = None
        if not data.get("ongoing"):
            for field, what in (("arrival_date", "an arrival"), ("departure_date", "a departure")):
                if not data.get(field) and field not in self.errors:
                    self.add_error(field, f"Give {what} date, or tick “Ongoing”.")
            zone = self.property.zone
            for day, at, twice, instant in (
                ("arrival_date", "check_in_time", Twice.EARLIER, "starts_at"),
                ("departure_date", "check_out_time", Twice.LATER, "ends_at"),
            ):
                if data.get(day) and data.get(at):
                    try:
                        setattr(self, instant, local_instant(data[day], data[at], zone, twice=twice))
                    except ValidationError as exc:
                        self.add_error(at, exc)
        for extension in CREATE_FORM_EXTENSIONS:
            try:
                extension.check(data)
            except ValidationError as exc:
                self.add_service_errors(exc)
        return data

    def service_request(self) -> checks.AccessCodeRequest:
        data = self.cleaned_data
        starts_at, ends_at = (None, None) if data.get("ongoing") else (self.starts_at, self.ends_at)
        return checks.AccessCodeRequest(
            name=data.get("name") or "",
            code=data.get("code") or None,
            starts_at=starts_at,
            ends_at=ends_at,
            use_backup_access_code_pool=data.get("use_backup_access_code_pool", False),
        )

    def add_service_errors(self, exc: ValidationError) -> None:
        for field, problems in exc.message_dict.items():
            field = _FORM_FIELD_FOR.get(field, field)
            problems = [_in_form_words(p) for p in problems]
            self.add_error(field if field in self.fields else None, problems)


def _in_form_words(message: str) -> str:
    """The services speak the API's field names; this form asks for an arrival and a departure."""
    for api, words in (("starts_at", "the arrival"), ("ends_at", "the departure")):
        message = message.replace(api, words)
    return message


@staff_page("codes.add_accesscode")
def code_create(request):
    workspaces = workspaces_visible_to(request.user)
    properties = Property.objects.filter(workspace__in=workspaces).order_by("name")
    chosen_id = request.POST.get("property") or request.GET.get("property")
    if chosen_id is None and len(properties) == 1:
        chosen_id = str(properties[0].pk)
    chosen = None
    if chosen_id:
        chosen = properties.filter(pk=chosen_id).first() if is_uuid(chosen_id) else None
        if chosen is None:
            raise Http404("No such property in your workspaces.")
    form = None
    if chosen is not None:
        form = PropertyCodeForm(request.POST or None, property=chosen)
        if request.method == "POST" and form.is_valid():
            devices = list(form.cleaned_data["devices"])
            try:
                with transaction.atomic():  # the codes and what extensions add to them, or nothing
                    if len(devices) == 1:
                        created = [
                            access_codes.access_code_create(device=devices[0], request=form.service_request())
                        ]
                    else:
                        created = access_codes.access_codes_create_multiple(
                            devices=devices, request=form.service_request()
                        )
                    for extension in CREATE_FORM_EXTENSIONS:
                        extension.after_create(created, form.cleaned_data, request.user)
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                doors = ", ".join(c.device.display_name for c in created)
                messages.success(
                    request, f"Created “{created[0]}” on {doors}. Latchkey puts it on the locks."
                )
                target = reverse("latchkey:timeline") + f"?property={chosen.pk}"
                return HttpResponseRedirect(target)
    return _page(
        request,
        "latchkey/code_create.html",
        "New access code",
        properties=properties,
        chosen=chosen,
        form=form,
    )
