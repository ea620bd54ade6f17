"""Register Latchkey's periodic tasks with django-q2. Run after `migrate`; running it again
changes nothing (schedules are keyed by name), so deploy scripts can always run it.

Other apps add theirs as a ``schedules`` list on their AppConfig, so this command registers
them without importing (or naming) those apps."""

from django.apps import apps
from django.core.management.base import BaseCommand
from django_q.models import Schedule

SCHEDULES = [
    {
        "name": "latchkey: sweep due access codes",
        "func": "codes.tasks.sweep_due_codes",
        "schedule_type": Schedule.MINUTES,
        "minutes": 1,
    },
    {
        "name": "latchkey: compare locks with declared codes",
        "func": "codes.tasks.check_drift",
        "schedule_type": Schedule.MINUTES,
        "minutes": 15,
    },
    {
        "name": "latchkey: refill backup code pools",
        "func": "codes.tasks.maintain_backup_pools",
        "schedule_type": Schedule.MINUTES,
        "minutes": 5,
    },
]


class Command(BaseCommand):
    help = "Create or update Latchkey's django-q2 schedules (idempotent)."

    def handle(self, *args, **options):
        specs = [*SCHEDULES]
        for config in apps.get_app_configs():
            specs.extend(getattr(config, "schedules", []))
        for spec in specs:
            fields = {k: v for k, v in spec.items() if k != "name"}
            _, created = Schedule.objects.update_or_create(
                name=spec["name"], defaults={**fields, "repeats": -1}
            )
            self.stdout.write(f"{'created' if created else 'up to date'}: {spec['name']}")
