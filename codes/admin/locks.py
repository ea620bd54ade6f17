"""The lock's admin page, with what codes know about it. It leads with the lock's health (online,
battery, keypad, its issues with what to do), then its stays and codes (upcoming first), then
the slot picture and what the lock can do in words; the raw fields are folded away under
"Advanced" for administrators."""

from django.contrib import admin
from django.db.models import F
from django.utils import timezone

from codes import catalog
from codes.admin.access_codes import mask_pin
from codes.models import AccessCode
from codes.pages import device_slot_forecast, readiness
from codes.selectors import with_shown_issues
from devices import rules
from devices.admin import DeviceAdmin, fragment
from devices.models import Device
from devices.selectors import active_issues_of_locks

LOCK_CODES_SHOWN = 50


class DeviceWithCodesAdmin(DeviceAdmin):
    """The lock's page with what codes know about it. (Here, not in devices: devices never
    imports codes.)"""

    def get_readonly_fields(self, request, obj=None):
        return [
            *super().get_readonly_fields(request, obj),
            "health",
            "lock_codes",
            "slots",
            "abilities",
            "unmanaged_codes",
        ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        if not request.user.has_perm("codes.view_pin"):  # the simulated lock's memory lists PINs
            fieldsets = [f for f in fieldsets if "sandbox_memory" not in f[1]["fields"]]
        name_and_place, *raw = fieldsets
        summary = [
            ("Health", {"fields": ["health"]}),
            ("Stays and codes on this lock", {"fields": ["lock_codes"]}),
            ("Slots", {"fields": ["slots"]}),
            ("What this lock can do", {"fields": ["abilities"]}),
            ("Codes on the lock that Latchkey does not manage", {"fields": ["unmanaged_codes"]}),
        ]
        if not request.user.has_perm("devices.change_device"):
            return [*summary, name_and_place]
        advanced = [
            (f"Advanced: {title}", {**options, "classes": [*options.get("classes", []), "collapse"]})
            for title, options in raw
        ]
        return [*summary, name_and_place, *advanced]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A manager's page: room for the lock, not the admin's model links.
        extra_context = {**(extra_context or {}), "is_nav_sidebar_enabled": False}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="Health")
    def health(self, obj):
        issues = [
            (row, catalog.lookup(row.kind, row.code))
            for row in active_issues_of_locks([obj.pk], [obj.connected_account_id]).order_by("created_at")
            if row.concerns(obj)
        ]
        return fragment("admin/codes/device/health.html", device=obj, issues=issues)

    @admin.display(description="Stays and codes")
    def lock_codes(self, obj):
        now = timezone.now()
        codes = with_shown_issues(
            AccessCode.objects.shown()
            .filter(device=obj, is_managed=True, is_backup=False)
            .exclude(ends_at__lte=now)
            .select_related("device__property")
            .order_by(F("starts_at").asc(nulls_last=True), "name")[:LOCK_CODES_SHOWN]
        )
        return fragment(
            "admin/codes/device/lock_codes.html",
            rows=[(c, readiness(c)) for c in codes],
            property=obj.property,
            now=now,
            limit=LOCK_CODES_SHOWN,
        )

    @admin.display(description="Slots")
    def slots(self, obj):
        forecast = device_slot_forecast(obj, now=timezone.now())
        return fragment("admin/codes/device/slots.html", device=obj, forecast=forecast)

    @admin.display(description="Abilities")
    def abilities(self, obj):
        lengths = rules.code_lengths(obj)
        facts = [
            (
                "Keypad",
                "built in"
                if obj.has_built_in_keypad
                else (
                    "accessory keypad connected"
                    if obj.accessory_keypad_connected
                    else (
                        "none yet: an accessory keypad can be connected"
                        if obj.accessory_keypad_connectable
                        else "none"
                    )
                ),
            ),
            ("PIN codes from Latchkey", "yes" if obj.can_program_online_access_codes else "no"),
            ("Offline (algorithmic) codes", "yes" if obj.can_program_offline_access_codes else "no"),
            ("Schedules", "kept by the lock" if obj.has_native_scheduling else "codes go on just in time"),
            (
                "PIN lengths",
                f"{min(lengths)} to {max(lengths)} digits" if len(lengths) > 1 else f"{lengths[0]} digits",
            ),
            (
                "Code slots",
                str(obj.max_active_codes_supported) if obj.max_active_codes_supported else "unknown",
            ),
            ("Backup code pool", "yes" if obj.supports_backup_access_code_pool else "no"),
        ]
        return fragment("admin/codes/device/abilities.html", facts=facts)

    @admin.display(description="Unmanaged codes")
    def unmanaged_codes(self, obj):
        codes = AccessCode.objects.live().filter(device=obj, is_managed=False).order_by("name")
        return fragment(
            "admin/codes/device/unmanaged_codes.html", codes=[(code, mask_pin(code.code)) for code in codes]
        )


admin.site.unregister(Device)
admin.site.register(Device, DeviceWithCodesAdmin)
