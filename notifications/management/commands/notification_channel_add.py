"""Add a notification channel (an Apprise URL) to a workspace, and a rule sending it alerts, so
a deployment can be configured by script. Prints the channel's id alone on the last line."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from devices.models import Workspace
from notifications.models import AlertKind
from notifications.services import channels

_OPTION = {"for_guest_sms": "guest-sms"}  # the service's field names, as this command's options


class Command(BaseCommand):
    help = "Add an Apprise notification channel to a workspace (with a rule for the given kinds)."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="The workspace's name.")
        parser.add_argument(
            "--url", required=True, help="An Apprise URL: mailto://..., slack://..., json://..."
        )
        parser.add_argument(
            "--name", default="", help="A label for the channel (default: the service's name)."
        )
        parser.add_argument(
            "--kinds",
            nargs="*",
            default=None,
            help=f"Alert kinds the channel gets (default: all): {', '.join(AlertKind.values)}.",
        )
        parser.add_argument("--no-rule", action="store_true", help="Only store the channel; add no rule.")
        parser.add_argument(
            "--guest-sms",
            action="store_true",
            help="The channel sends guests' codes by SMS (an SMS gateway's URL naming no recipient); "
            "no alert rule is added.",
        )

    def handle(self, *args, workspace, url, name, kinds, no_rule, guest_sms, **options):
        found = Workspace.objects.filter(name=workspace).first()
        if found is None:
            raise CommandError(f"--workspace: no workspace is named {workspace!r}.")
        try:
            with transaction.atomic():  # a refused rule leaves no channel behind
                channel = channels.channel_create(
                    workspace=found, url=url, name=name, for_guest_sms=guest_sms
                )
                if not no_rule and not guest_sms:
                    channels.rule_create(
                        workspace=found, name=f"Alerts to {channel.name}", channels=[channel], kinds=kinds
                    )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(
                    f"--{_OPTION.get(field, field)}: {' '.join(msgs)}"
                    for field, msgs in exc.message_dict.items()
                )
            ) from exc
        self.stdout.write(f"channel {channel.name}: {channel.url_masked}")
        self.stdout.write(str(channel.pk))
