from django.core.management.base import BaseCommand, CommandError

from devices.services import api_key_create, workspace_get_or_create


class Command(BaseCommand):
    help = "Create an API key for a workspace (creating the workspace if needed). The key is printed once."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="Workspace name")
        parser.add_argument("--name", default="", help="A label for the key, e.g. the integration using it")

    def handle(self, *args, workspace: str, name: str, **options):
        try:
            ws = workspace_get_or_create(name=workspace)
        except ValueError as exc:
            raise CommandError(f"--workspace: {exc}") from exc
        key, raw = api_key_create(workspace=ws, name=name)
        self.stderr.write(f"Created API key {key.key_prefix}… for workspace '{ws.name}' ({ws.workspace_id}).")
        self.stderr.write("Store it now: only its hash is kept.")
        # The key alone on the last line of standard output, for scripts.
        self.stdout.write(raw)
