from django.core.management.base import BaseCommand, CommandError

from devices.fleet import SANDBOX_LOCK_MODELS
from devices.models import Property
from devices.services import sandbox_fleet_create, workspace_get_or_create


class Command(BaseCommand):
    help = (
        "Create a sandbox connected account with one simulated lock of each model "
        f"({len(SANDBOX_LOCK_MODELS)} in all). Prints the connected account's id on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="Workspace name (created if missing)")
        parser.add_argument(
            "--property", dest="property_name", help="Property to put the locks in (created if missing)"
        )

    def handle(self, *args, workspace: str, property_name: str | None, **options):
        try:
            ws = workspace_get_or_create(name=workspace, is_sandbox=True)
        except ValueError as exc:
            raise CommandError(f"--workspace: {exc}") from exc
        prop = None
        if property_name is not None:
            name = " ".join(property_name.split())
            if not name:
                raise CommandError("--property: give a property name, or leave the option out.")
            prop, _ = Property.objects.get_or_create(workspace=ws, name=name)
        devices = sandbox_fleet_create(workspace=ws, property=prop)
        for device in devices:
            self.stderr.write(f"  {device.display_name}: {device.model} ({device.device_id})")
        self.stdout.write(str(devices[0].connected_account_id))
