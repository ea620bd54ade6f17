from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    # Latchkey's own pages, inside the admin (same login, same look): dashboard, review queue,
    # timeline, creating codes for a property. Before admin.site.urls so they are matched first.
    path("admin/latchkey/calendars/", include("calendars.urls")),
    path("admin/latchkey/", include("codes.urls")),
    path("admin/", admin.site.urls),
    # Seam's API: every route, the schema, the docs and Seam's 404 for any other path under it.
    path("api/", include("api.urls")),
    path("webhooks/", include("webhooks.urls")),
]
