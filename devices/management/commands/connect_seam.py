from django.core.management.base import BaseCommand, CommandError

from devices.services import ConnectError, seam_account_connect


class Command(BaseCommand):
    help = "Connect a Seam workspace's locks. Prints the connected account's id alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="Latchkey workspace name (created if missing)")
        parser.add_argument("--api-key", required=True, help="The Seam API key (seam_...)")
        parser.add_argument("--endpoint", help="Seam API URL (default: Seam's own)")
        parser.add_argument("--webhook-secret", help="Secret of Seam's webhook to Latchkey (whsec_...)")

    def handle(self, *args, workspace, api_key, endpoint, webhook_secret, **options):
        try:
            account, devices = seam_account_connect(
                workspace_name=workspace, api_key=api_key, endpoint=endpoint, webhook_secret=webhook_secret
            )
        except ConnectError as exc:
            raise CommandError(str(exc)) from exc
        for device in devices:
            self.stderr.write(f"  imported {device.display_name} ({device.provider_device_id})")
        self.stdout.write(str(account.connected_account_id))
