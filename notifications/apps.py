from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"
    # Registered by `manage.py setup_schedules`, which reads this list from every app.
    schedules = [
        {
            "name": "latchkey: find problems to alert staff about",
            "func": "notifications.tasks.sweep_alerts",
            "schedule_type": "I",  # django_q Schedule.MINUTES (models load after apps)
            "minutes": 1,
        },
        {
            "name": "latchkey: morning digests and guests' codes",
            "func": "notifications.tasks.sweep_digests_and_guests",
            "schedule_type": "I",
            "minutes": 5,
        },
        {
            "name": "latchkey: send due notifications",
            "func": "notifications.tasks.send_due_notifications",
            "schedule_type": "I",
            "minutes": 1,
        },
    ]
