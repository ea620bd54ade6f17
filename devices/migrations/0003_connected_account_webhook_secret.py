"""Each connected account gets its own webhook secret. Added empty, then filled row by row (a
callable default on AddField would give every existing account the same secret): a Seam
account keeps the secret it was connected with, any other account gets a fresh one."""

from django.db import migrations, models

import devices.models


def fill_secrets(apps, schema_editor):
    from devices import credentials

    ConnectedAccount = apps.get_model("devices", "ConnectedAccount")
    for account in ConnectedAccount.objects.filter(webhook_secret=""):
        try:
            stored = credentials.decrypt(account.encrypted_credentials).get("webhook_secret", "")
        except credentials.CredentialsUnreadable:
            stored = ""
        account.webhook_secret = stored or devices.models.new_webhook_secret()
        account.save(update_fields=["webhook_secret"])


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0002_membership"),
    ]

    operations = [
        migrations.AddField(
            model_name="connectedaccount",
            name="webhook_secret",
            field=models.CharField(default="", editable=False, max_length=100),
            preserve_default=False,
        ),
        migrations.RunPython(fill_secrets, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="connectedaccount",
            name="webhook_secret",
            field=models.CharField(
                default=devices.models.new_webhook_secret,
                editable=False,
                help_text="Signing secret (whsec_...) of the provider's callbacks to Latchkey.",
                max_length=100,
            ),
        ),
    ]
