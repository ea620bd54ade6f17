from django.core.management.base import BaseCommand, CommandError

from devices.fleet import SANDBOX_LOCK_MODELS
from devices.models import Property
from devices.services import (
    MAX_SANDBOX_LOCKS,
    sandbox_fleet_create,
    sandbox_fleet_fill,
    workspace_get_or_create,
)


class Command(BaseCommand):
    help = (
        "Create a sandbox connected account with one simulated lock of each model "
        f"({len(SANDBOX_LOCK_MODELS)} in all), or with --locks N, N locks in the property cycling "
        "through the models. Prints the connected account's id on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="Workspace name (created if missing)")
        parser.add_argument(
            "--property", dest="property_name", help="Property to put the locks in (created if missing)"
        )
        parser.add_argument(
            "--locks",
            type=int,
            help="Make the property (or, without --property, the locks in no property) hold N sandbox "
            "locks, cycling through the models; locks already there count, so a rerun adds nothing.",
        )

    def handle(self, *args, workspace: str, property_name: str | None, locks: int | None, **options):
        if locks is not None and not 1 <= locks <= MAX_SANDBOX_LOCKS:
            raise CommandError(f"--locks: give a number of locks from 1 to {MAX_SANDBOX_LOCKS}.")
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
        if locks is None:
            devices = sandbox_fleet_create(workspace=ws, property=prop)
        else:
            devices = sandbox_fleet_fill(workspace=ws, property=prop, locks=locks)
        for device in devices:
            self.stderr.write(f"  {device.display_name}: {device.model} ({device.device_id})")
        self.stdout.write(str(devices[0].connected_account_id))
