from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("seam/<uuid:connected_account_id>/", views.seam_callback, name="seam"),
    path("sandbox/<uuid:connected_account_id>/", views.sandbox_callback, name="sandbox"),
]
