from django.urls import path

from webhooks.api import views

urlpatterns = [
    path("webhooks/create", views.Create.as_view()),
    path("webhooks/get", views.Get.as_view()),
    path("webhooks/list", views.List.as_view()),
    path("webhooks/update", views.Update.as_view()),
    path("webhooks/delete", views.Delete.as_view()),
]
