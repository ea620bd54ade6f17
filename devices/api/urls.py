from django.urls import path

from devices.api import views

urlpatterns = [
    path("devices/get", views.Get.as_view()),
    path("devices/list", views.List.as_view()),
]
