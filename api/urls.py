from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api import access_codes, activity, calendar_feeds, devices, timeline, unmanaged, webhooks
from api.wire import route_not_found

# The docs page is Swagger UI, served from Latchkey's own static files (drf-spectacular-sidecar)
# with its start-up script a separate request (the split view), so it runs under the strict
# policy unchanged. (Redoc was the page before; it always loads its logo from redocly's site.)
_docs_page = SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html")

urlpatterns = [
    path("devices/get", devices.Get.as_view()),
    path("devices/list", devices.List.as_view()),
    path("access_codes/create", access_codes.Create.as_view()),
    path("access_codes/create_multiple", access_codes.CreateMultiple.as_view()),
    path("access_codes/delete", access_codes.Delete.as_view()),
    path("access_codes/generate_code", access_codes.GenerateCode.as_view()),
    path("access_codes/get", access_codes.Get.as_view()),
    path("access_codes/list", access_codes.List.as_view()),
    path("access_codes/pull_backup_access_code", access_codes.PullBackupAccessCode.as_view()),
    path("access_codes/report_device_constraints", access_codes.ReportDeviceConstraints.as_view()),
    path("access_codes/update", access_codes.Update.as_view()),
    path("access_codes/update_multiple", access_codes.UpdateMultiple.as_view()),
    path("access_codes/unmanaged/list", unmanaged.List.as_view()),
    path("access_codes/unmanaged/get", unmanaged.Get.as_view()),
    path("access_codes/unmanaged/convert_to_managed", unmanaged.ConvertToManaged.as_view()),
    path("access_codes/unmanaged/delete", unmanaged.Delete.as_view()),
    path("access_codes/unmanaged/update", unmanaged.Update.as_view()),
    path("access_codes/simulate/create_unmanaged_access_code", unmanaged.SimulateCreateUnmanaged.as_view()),
    path("devices/update", devices.Update.as_view()),
    path("devices/simulate/connect", devices.SimulateConnect.as_view()),
    path("devices/simulate/disconnect", devices.SimulateDisconnect.as_view()),
    path("devices/simulate/remove", devices.SimulateRemove.as_view()),
    path("devices/simulate/connect_to_hub", devices.SimulateConnectToHub.as_view()),
    path("devices/simulate/disconnect_from_hub", devices.SimulateDisconnectFromHub.as_view()),
    path("access_codes/get_timeline", timeline.GetTimeline.as_view()),
    path("action_attempts/get", activity.ActionAttemptGet.as_view()),
    path("action_attempts/list", activity.ActionAttemptList.as_view()),
    path("events/get", activity.EventGet.as_view()),
    path("events/list", activity.EventList.as_view()),
    path("webhooks/create", webhooks.Create.as_view()),
    path("webhooks/get", webhooks.Get.as_view()),
    path("webhooks/list", webhooks.List.as_view()),
    path("webhooks/update", webhooks.Update.as_view()),
    path("webhooks/delete", webhooks.Delete.as_view()),
    path("latchkey/calendar_feeds/create", calendar_feeds.Create.as_view()),
    path("latchkey/calendar_feeds/get", calendar_feeds.Get.as_view()),
    path("latchkey/calendar_feeds/list", calendar_feeds.List.as_view()),
    path("latchkey/calendar_feeds/update", calendar_feeds.Update.as_view()),
    path("latchkey/calendar_feeds/delete", calendar_feeds.Delete.as_view()),
    path("latchkey/calendar_feeds/sync", calendar_feeds.Sync.as_view()),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", _docs_page, name="api-docs"),
    re_path(r"^.*$", route_not_found),
]
