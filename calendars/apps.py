from django.apps import AppConfig


class CalendarsConfig(AppConfig):
    name = "calendars"
    verbose_name = "Booking calendars"
    # Registered by `manage.py setup_schedules`, which reads this list from every app. The task
    # only picks the feeds that are due and enqueues one fetch task each, so a slow calendar
    # server holds up one worker for one feed, never the sweep (a schedule of its own).
    schedules = [
        {
            "name": "latchkey: fetch due booking calendars",
            "func": "calendars.tasks.fetch_due_feeds",
            "schedule_type": "I",  # django_q Schedule.MINUTES (models load after apps)
            "minutes": 1,
        },
    ]

    def ready(self) -> None:
        # A code made from a booking calendar says so on its API object; codes does not know
        # calendars exist, so the field is added from here.
        from calendars.selectors import bookings_of_codes
        from codes.shapes import CODE_FIELDS

        if all(name != "latchkey_calendar_booking" for name, _ in CODE_FIELDS):
            CODE_FIELDS.append(("latchkey_calendar_booking", bookings_of_codes))
