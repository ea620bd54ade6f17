"""Seed a demo workspace: a property, the sandbox fleet, a few guest codes, and an admin login.

Safe to run repeatedly: existing records are kept, and the admin's password is only set when the
user is first created (it is kept in var/ so later runs can print it again).
"""

import secrets
from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from codes.models import AccessCode
from codes.services.access_codes import access_code_create
from codes.services.checks import AccessCodeRequest
from devices.models import Property
from devices.services import sandbox_fleet_create, workspace_get_or_create

DEMO_GUESTS = [("Ana Souza", 1, 3), ("Ben Okafor", 4, 7), ("Chen Wei", 10, 12)]


class Command(BaseCommand):
    help = "Create the demo workspace, property, sandbox locks, sample codes and an admin user."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", default="Demo Rentals")
        parser.add_argument("--username", default="admin")

    @transaction.atomic
    def handle(self, *args, workspace: str, username: str, **options):
        ws = workspace_get_or_create(name=workspace, is_sandbox=True)
        prop, _ = Property.objects.get_or_create(
            workspace=ws,
            name="Harbour View Apartment",
            defaults={"address": "12 Quay Street, Lisbon", "time_zone": "Europe/Lisbon"},
        )
        devices = sandbox_fleet_create(workspace=ws, property=prop)
        if not AccessCode.objects.filter(workspace=ws).exists():
            self._seed_codes(prop, devices)
        password = self._admin(username)
        self.stdout.write(f"Demo workspace '{ws.name}': {len(devices)} sandbox locks at '{prop.name}'.")
        self.stdout.write(f"Admin login: {username} / {password}")

    def _seed_codes(self, prop: Property, devices) -> None:
        front_door = devices[0]
        today = timezone.now().astimezone(prop.zone).date()
        for name, arrive_in, leave_in in DEMO_GUESTS:
            starts = _local(prop, today + timedelta(days=arrive_in), prop.default_check_in_time)
            ends = _local(prop, today + timedelta(days=leave_in), prop.default_check_out_time)
            access_code_create(
                device=front_door, request=AccessCodeRequest(name=name, starts_at=starts, ends_at=ends)
            )
        access_code_create(device=front_door, request=AccessCodeRequest(name="Cleaning crew"))

    def _admin(self, username: str) -> str:
        password_file = settings.VAR_DIR / "demo-admin-password"
        user_model = get_user_model()
        if not user_model.objects.filter(username=username).exists():
            password = secrets.token_urlsafe(12)
            user_model.objects.create_superuser(username=username, email="", password=password)
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password)
            password_file.chmod(0o600)
        if password_file.exists():
            return password_file.read_text().strip()
        return "(set before this demo; change it with: python manage.py changepassword " + username + ")"


def _local(prop: Property, day, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=prop.zone)
