from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from devices.api.wire import route_not_found

api = [
    path("", include("devices.api.urls")),
    path("", include("codes.api.urls")),
    path("", include("webhooks.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^.*$", route_not_found),
]

urlpatterns = [
    # Latchkey's own pages, inside the admin (same login, same look): dashboard, review queue,
    # timeline, creating codes for a property. Before admin.site.urls so they are matched first.
    path("admin/latchkey/", include("codes.urls")),
    path("admin/", admin.site.urls),
    path("api/", include(api)),
    path("webhooks/", include("webhooks.urls")),
]
