"""Run one scheduler sweep as of an instant: to catch up after downtime, to preview what the
scheduler will do (--dry-run), or to simulate."""

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from codes import scheduler


def aware_instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CommandError(f"--at: '{value}' is not an ISO 8601 date and time.") from exc
    if timezone.is_naive(moment):
        raise CommandError("--at: give a time zone offset, e.g. 2026-12-01T15:00:00Z.")
    return moment


class Command(BaseCommand):
    help = "Run one scheduler sweep as of --at (default: now). --dry-run shows what it would do."

    def add_arguments(self, parser):
        parser.add_argument("--at", help="ISO 8601 instant with offset (default: now)")
        parser.add_argument(
            "--dry-run", action="store_true", help="List the due codes and their next step only"
        )

    def handle(self, *args, at: str | None, dry_run: bool, **options):
        now = aware_instant(at) if at else timezone.now()
        if dry_run:
            plans = scheduler.due_plans(now=now)
            for code, planned in plans:
                self.stdout.write(f"{code.access_code_id}  {planned.step:<9}  {planned.reason}  ({code})")
            self.stdout.write(f"{len(plans)} code(s) due at {now.isoformat()}; nothing was changed.")
            return
        report = scheduler.sweep(now=now)
        steps = (
            ", ".join(f"{n} {step}" for step, n in sorted((report.steps or {}).items())) or "nothing to do"
        )
        self.stdout.write(f"Swept {report.claimed} code(s) at {now.isoformat()}: {steps}.")
