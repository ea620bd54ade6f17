"""Rows written before PINs were kept out of free text: a pulled backup's review reason quoted
its PIN, and resolving such a code copied the reason into the staff action's problems. Both
now name the backup by reference (AccessCode.pulled_backup_access_code); mask what is stored."""

import re

from django.db import migrations

_PIN_LIKE = re.compile(r"\d{4,}")  # as common.pins (a migration keeps its own copy)


def _mask(text):
    return _PIN_LIKE.sub(lambda m: "•" * len(m.group()), text or "")


def mask_stored_pins(apps, schema_editor):
    AccessCode = apps.get_model("codes", "AccessCode")
    StaffAction = apps.get_model("codes", "StaffAction")
    for code in AccessCode.objects.filter(review_reason__regex=r"[0-9]{4}").only("pk", "review_reason"):
        AccessCode.objects.filter(pk=code.pk).update(review_reason=_mask(code.review_reason))
    for action in StaffAction.objects.exclude(problems=[]).only("pk", "problems"):
        masked = [_mask(p) for p in action.problems]
        if masked != action.problems:
            StaffAction.objects.filter(pk=action.pk).update(problems=masked)


class Migration(migrations.Migration):
    dependencies = [("codes", "0005_send_in_flight")]

    operations = [migrations.RunPython(mask_stored_pins, migrations.RunPython.noop)]
