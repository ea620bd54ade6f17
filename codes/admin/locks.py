"""The lock's admin page, with what codes know about it."""

from django.contrib import admin
from django.utils import timezone

from codes.admin.access_codes import mask_pin
from codes.models import AccessCode
from codes.pages import device_slot_forecast
from devices.admin import DeviceAdmin, fragment
from devices.models import Device


class DeviceWithCodesAdmin(DeviceAdmin):
    """The lock's page with what codes know about it: slots now and at the busiest moment to
    come, the slot plan drawn over the next 14 days, and the codes found on it that Latchkey
    does not manage. (Here, not in devices:
    devices never imports codes.)"""

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "at_a_glance", "slot_forecast", "unmanaged_codes"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        if not request.user.has_perm("codes.view_pin"):  # the simulated lock's memory lists PINs
            fieldsets = [f for f in fieldsets if "sandbox_memory" not in f[1]["fields"]]
        return [
            ("At a glance", {"fields": ["at_a_glance"]}),
            ("Slots over the next 14 days", {"fields": ["slot_forecast"]}),
            *fieldsets[:1],
            ("Codes on the lock that Latchkey does not manage", {"fields": ["unmanaged_codes"]}),
            *fieldsets[1:],
        ]

    @admin.display(description="Status")
    def at_a_glance(self, obj):
        forecast = device_slot_forecast(obj, now=timezone.now())
        return fragment("admin/codes/device/at_a_glance.html", device=obj, forecast=forecast)

    @admin.display(description="Slot plan")
    def slot_forecast(self, obj):
        forecast = device_slot_forecast(obj, now=timezone.now())
        return fragment("admin/codes/device/slot_forecast.html", device=obj, forecast=forecast)

    @admin.display(description="Unmanaged codes")
    def unmanaged_codes(self, obj):
        codes = AccessCode.objects.live().filter(device=obj, is_managed=False).order_by("name")
        return fragment(
            "admin/codes/device/unmanaged_codes.html", codes=[(code, mask_pin(code.code)) for code in codes]
        )


admin.site.unregister(Device)
admin.site.register(Device, DeviceWithCodesAdmin)
