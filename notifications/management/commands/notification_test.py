"""Send a test message through every channel of a workspace, now, and print each outcome."""

from django.core.management.base import BaseCommand, CommandError

from devices.models import Workspace
from notifications.models import NotificationChannel
from notifications.services import channels


class Command(BaseCommand):
    help = "Send a test message through every notification channel of a workspace."

    def handle(self, *args, workspace, **options):
        found = Workspace.objects.filter(name=workspace).first()
        if found is None:
            raise CommandError(f"--workspace: no workspace is named {workspace!r}.")
        failed = 0
        for channel in NotificationChannel.objects.filter(workspace=found):
            if channel.for_guest_sms:  # it has no recipient of its own: each guest's phone is added
                self.stdout.write(
                    f"{channel.name} ({channel.url_masked}): skipped, it sends guests' codes by SMS"
                )
                continue
            result = channels.channel_send(
                channel,
                title="Latchkey test message",
                body=f"This is a test from Latchkey for {found.name}: the channel {channel.name} works.",
            )
            failed += not result.ok
            outcome = "ok" if result.ok else f"FAILED: {result.error}"
            self.stdout.write(f"{channel.name} ({channel.url_masked}): {outcome}")
        if failed:
            raise CommandError(f"{failed} channel(s) failed.")

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="The workspace's name.")
