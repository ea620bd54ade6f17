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

    def ready(self):
        # The guest's contact and "send the code now" on the code's pages (codes.extensions).
        from codes import extensions
        from notifications import code_pages

        if code_pages.guest_section not in extensions.CODE_PAGE_SECTIONS:
            extensions.CODE_PAGE_SECTIONS.append(code_pages.guest_section)
        if code_pages.CONTACT_ON_NEW_CODE not in extensions.CREATE_FORM_EXTENSIONS:
            extensions.CREATE_FORM_EXTENSIONS.append(code_pages.CONTACT_ON_NEW_CODE)
