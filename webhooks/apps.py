from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"
    # Registered by `manage.py setup_schedules`, which reads this list from every app.
    schedules = [
        {
            "name": "latchkey: send due webhook deliveries",
            "func": "webhooks.tasks.send_due_deliveries",
            "schedule_type": "I",  # django_q Schedule.MINUTES (models load after apps)
            "minutes": 1,
        },
        {
            "name": "latchkey: retry inbound webhooks",
            "func": "webhooks.tasks.retry_inbound",
            "schedule_type": "I",  # django_q Schedule.MINUTES (models load after apps)
            "minutes": 1,
        },
        {
            "name": "latchkey: purge old webhook deliveries",
            "func": "webhooks.tasks.purge_old_deliveries",
            "schedule_type": "H",  # django_q Schedule.HOURLY: each run deletes a bounded backlog
        },
    ]

    def ready(self) -> None:
        # Outbound deliveries are written in the same transaction as each Event (an outbox):
        # codes records events without knowing webhooks exist, and an event can never commit
        # without its deliveries. Sending happens after commit, in a task.
        from codes.signals import events_recorded
        from webhooks import checks  # noqa: F401 (registers the deploy checks)
        from webhooks.services import outbound

        events_recorded.connect(outbound.on_events_recorded, dispatch_uid="webhooks.outbox")
