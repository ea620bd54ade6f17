"""The code's add and change forms: checked against the lock by the services' own check, so
each problem shows beside the field it concerns."""

from django import forms
from django.core.exceptions import ValidationError

from codes.models import AccessCode
from codes.services import access_codes, checks

# Service field names (the API's) that the admin form calls differently.
_FORM_FIELD_FOR = {"device_id": "device", "allow_external_modification": "is_external_modification_allowed"}


class AccessCodeForm(forms.ModelForm):
    """Checks the code against its lock with the same function the services use, so the admin
    shows each problem beside the field it concerns."""

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
        help_texts = {
            "code": "Leave empty to generate a PIN that satisfies the lock's rules.",
            "starts_at": "In UTC. Leave start and end empty for an ongoing code.",
            "ends_at": "In UTC.",
        }

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
