from django.urls import path

from codes import stay_views, views

app_name = "latchkey"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("today/", stay_views.today, name="today"),
    path("stays/", stay_views.stays, name="stays"),
    path("properties/<uuid:property_id>/", stay_views.property_page, name="property"),
    path("stays/act/", stay_views.stays_bulk, name="stays_bulk"),
    path("review/", views.review_queue_page, name="review_queue"),
    path("review/lock/", views.review_lock_step, name="review_lock_step"),
    path("review/<uuid:access_code_id>/", views.review_step, name="review_step"),
    path("timeline/", views.timeline, name="timeline"),
    path("codes/new/", views.code_create, name="code_create"),
]
