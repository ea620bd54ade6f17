"""The code's add and change forms: checked against the lock by the services' own check, so
each problem shows beside the field it concerns."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import ValidationError

from codes.models import AccessCode
from codes.services import access_codes, checks
from common.local_time import Twice, local_instant, wall_clock

# Service field names (the API's) that the admin form calls differently.
_FORM_FIELD_FOR = {"device_id": "device", "allow_external_modification": "is_external_modification_allowed"}


class WallClockField(forms.SplitDateTimeField):
    """A date and a time as a person types them, without a zone: the form reads them in the
    property's zone (``local_instant``), which it knows only once the lock is chosen."""

    def __init__(self, *, what: str, **kwargs):
        super().__init__(required=False, widget=AdminSplitDateTime, **kwargs)
        date_input, time_input = self.widget.widgets
        date_input.attrs["aria-label"] = f"{what}: date"
        time_input.attrs["aria-label"] = f"{what}: time"

    def compress(self, data_list):
        if not data_list:
            return None
        day, at = data_list
        if day in self.empty_values:
            raise ValidationError("Enter a date as well as the time.", code="invalid_date")
        if at in self.empty_values:
            raise ValidationError("Enter a time as well as the date.", code="invalid_time")
        return datetime.combine(day, at)


class DoorChoiceField(forms.ModelChoiceField):
    """Each lock offered with its property's zone: the zone the start and end are typed in."""

    def label_from_instance(self, obj):
        return f"{obj} ({obj.zone.key})"


class AccessCodeForm(forms.ModelForm):
    """Checks the code against its lock with the same function the services use, so the admin
    shows each problem beside the field it concerns. Start and end are typed and shown in the
    property's time zone, named; the form turns them into instants."""

    starts_at = WallClockField(what="Starts at")
    ends_at = WallClockField(what="Ends at")

    class Meta:
        model = AccessCode
        fields = [
            "device",
            "name",
            "code",
            "starts_at",
            "ends_at",
            "is_offline_access_code",
            "is_one_time_use",
            "use_backup_access_code_pool",
            "is_external_modification_allowed",
        ]
        field_classes = {"device": DoorChoiceField}
        help_texts = {"code": "Leave empty to generate a PIN that satisfies the lock's rules."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            zone = self.instance.device.zone
            for name in ("starts_at", "ends_at"):
                self.initial[name] = wall_clock(getattr(self.instance, name), zone)
            where = f"In {zone.key}, the property's time zone."
        else:
            where = "In the time zone of the chosen lock's property (named beside each lock)."
        self.fields["starts_at"].help_text = f"{where} Leave start and end empty for an ongoing code."
        self.fields["ends_at"].help_text = where

    def zone(self) -> ZoneInfo | None:
        if not self.instance._state.adding:
            return self.instance.device.zone
        device = self.cleaned_data.get("device")
        return device.zone if device is not None else None

    def _instants_from_wall_clock(self) -> None:
        """Start and end, typed in the property's zone, as instants; a time the clocks skip is
        refused beside its field, one they repeat is read to keep the stay whole (``Twice``)."""
        zone = self.zone()
        for name, twice in (("starts_at", Twice.EARLIER), ("ends_at", Twice.LATER)):
            wall = self.cleaned_data.get(name)
            if wall is None or wall.tzinfo is not None:
                continue
            if zone is None:  # no lock chosen: its own error says so
                self.cleaned_data[name] = None
                continue
            try:
                self.cleaned_data[name] = local_instant(wall.date(), wall.time(), zone, twice=twice)
            except ValidationError as exc:
                self.cleaned_data[name] = None
                self.add_error(name, exc)

    def service_request(self) -> checks.AccessCodeRequest:
        """A new code, as the service takes it."""
        data = self.cleaned_data
        return checks.AccessCodeRequest(
            name=data.get("name") or "",
            code=data.get("code") or None,
            starts_at=data.get("starts_at"),
            ends_at=data.get("ends_at"),
            is_offline_access_code=data.get("is_offline_access_code", False),
            is_one_time_use=data.get("is_one_time_use", False),
            use_backup_access_code_pool=data.get("use_backup_access_code_pool", False),
            allow_external_modification=data.get("is_external_modification_allowed", False),
        )

    def service_changes(self) -> dict:
        """An edit, as access_code_update takes it: only the fields the person changed, so an
        untouched field (a window with microseconds the widget cannot show, an expired end)
        is never rewritten or judged again."""
        data, changed = self.cleaned_data, set(self.changed_data)
        changes = {}
        if "name" in changed:
            changes["name"] = data.get("name") or ""
        if "code" in changed:
            changes["code"] = data.get("code") or None  # emptied: generate a new PIN
        if changed & {"starts_at", "ends_at"}:
            if data.get("starts_at") is None and data.get("ends_at") is None:
                changes["make_ongoing"] = True
            else:
                changes.update(starts_at=data.get("starts_at"), ends_at=data.get("ends_at"))
        if "use_backup_access_code_pool" in changed:
            changes["use_backup_access_code_pool"] = data["use_backup_access_code_pool"]
        if "is_external_modification_allowed" in changed:
            changes["allow_external_modification"] = data["is_external_modification_allowed"]
        return changes

    def clean(self):
        data = super().clean()
        self._instants_from_wall_clock()
        if self.errors:
            return data
        try:
            if not self.instance._state.adding:  # (a new code already has its UUID as pk)
                access_codes.access_code_update_check(access_code=self.instance, **self.service_changes())
            elif data.get("device") is not None:
                checks.access_code_check(device=data["device"], request=self.service_request())
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                field = _FORM_FIELD_FOR.get(field, field)
                self.add_error(field if field in self.fields else None, messages)
        return data


class AccessCodeChangeForm(AccessCodeForm):
    """Editing a code: its PIN is never put in the page (it is revealed on request, and each
    reveal is recorded); a new one can be typed, or generated with the page's action."""

    new_code = forms.CharField(
        label="New PIN",
        required=False,
        max_length=checks.CODE_MAX_LENGTH,
        help_text="Leave empty to keep the PIN. Use “Generate a new PIN” to let Latchkey choose one.",
    )

    class Meta(AccessCodeForm.Meta):
        fields = [f for f in AccessCodeForm.Meta.fields if f != "code"]

    def service_changes(self) -> dict:
        changes = super().service_changes()
        if self.cleaned_data.get("new_code"):
            changes["code"] = self.cleaned_data["new_code"]
        return changes

    def add_error(self, field, error):
        # The service names the PIN ``code``; on this form it is typed into ``new_code``.
        super().add_error("new_code" if field == "code" else field, error)
