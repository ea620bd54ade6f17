from django.contrib import admin
from django.contrib.staticfiles import finders
from django.http import FileResponse
from django.urls import include, path
from django.views.generic import RedirectView


def favicon(request):
    """Browsers ask every site for /favicon.ico, whatever the page names: answered from the
    static file itself, so no redirect and no dependence on how static files are served."""
    icon = open(finders.find("latchkey/favicon.ico"), "rb")  # noqa: SIM115 (FileResponse closes it)
    response = FileResponse(icon, content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response


urlpatterns = [
    # The start page is the manager's day (the login first, for someone not logged in); the
    # admin's "View site" link leads here too.
    path("", RedirectView.as_view(pattern_name="latchkey:today"), name="home"),
    path("favicon.ico", favicon),
    # Latchkey's own pages, inside the admin (same login, same look): dashboard, review queue,
    # timeline, creating codes for a property. Before admin.site.urls so they are matched first.
    path("admin/latchkey/calendars/", include("calendars.urls")),
    path("admin/latchkey/", include("codes.urls")),
    path("admin/", admin.site.urls),
    # Seam's API: every route, the schema, the docs and Seam's 404 for any other path under it.
    path("api/", include("api.urls")),
    path("webhooks/", include("webhooks.urls")),
]
