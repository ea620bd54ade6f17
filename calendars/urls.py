from django.urls import path

from calendars import views

app_name = "calendars"

urlpatterns = [
    path("", views.feeds_page, name="feeds"),
    path("<uuid:calendar_feed_id>/fetch/", views.feed_fetch_now, name="fetch"),
    path("<uuid:calendar_feed_id>/delete/", views.feed_remove, name="delete"),
    path("stays/<uuid:stay_id>/pin/", views.stay_pin, name="pin"),
]
