"""Latchkey's URLs plus the load test's two baselines, mounted here only (never in config.urls):

- ``bench/bare``: a bare Django JSON view answering a body the size of an access code's, read
  from nothing: the cost of Django, its middleware and gunicorn alone;
- ``bench/orm_row``: a Django view reading one access-code row by id through the ORM (the same
  JSON body the API's ``access_codes/get`` takes) and answering a few of its fields: that plus
  one indexed query.

Both are POSTs with a JSON body, as ``access_codes/get`` is, and pass through the same
middleware; neither authenticates.

The webhook benchmark (bench/webhooks.py) adds a third: ``bench/store_row``, a Django view storing
the request's body as one inbound-delivery row through the ORM (``objects.create``, one insert
committed on its own), the floor under verifying and storing a provider's callback."""

import json

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from codes.models import AccessCode
from config.urls import urlpatterns as latchkey_urlpatterns
from webhooks.models import InboundDelivery, InboundSource, InboundStatus, Verdict

# The shape and size of a managed code's body on the wire (about 900 bytes of JSON).
_CODE_SIZED = {
    "access_code_id": "8f1c3c2e-5b0e-4f43-9d7a-6a1c0f1e2d3c",
    "device_id": "2b7d8e9f-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
    "workspace_id": "c0ffee00-1234-4abc-9def-0123456789ab",
    "name": "Guest 1234",
    "appearance": {"name": "Guest 1234"},
    "code": "123456",
    "common_code_key": None,
    "type": "time_bound",
    "status": "set",
    "starts_at": "2030-01-10T16:00:00.000Z",
    "ends_at": "2030-01-13T11:00:00.000Z",
    "created_at": "2026-11-22T13:35:00.000Z",
    "is_managed": True,
    "errors": [],
    "warnings": [],
    "is_scheduled_on_device": True,
    "is_waiting_for_code_assignment": False,
    "pulled_backup_access_code_id": None,
    "is_backup_access_code_available": False,
    "is_backup": False,
    "is_external_modification_allowed": False,
    "is_one_time_use": False,
    "is_offline_access_code": False,
    "pending_mutations": [],
    "dormakaba_oracode_metadata": None,
    "latchkey_booking": None,
}


@csrf_exempt
def bare(request):
    json.loads(request.body or b"{}")
    return JsonResponse({"access_code": _CODE_SIZED, "ok": True})


@csrf_exempt
def orm_row(request):
    code_id = json.loads(request.body)["access_code_id"]
    code = AccessCode.objects.get(pk=code_id)
    return JsonResponse(
        {
            "access_code": {
                "access_code_id": str(code.pk),
                "device_id": str(code.device_id),
                "name": code.name,
                "code": code.code,
                "status": code.status,
                "starts_at": code.starts_at.isoformat() if code.starts_at else None,
                "ends_at": code.ends_at.isoformat() if code.ends_at else None,
            },
            "ok": True,
        }
    )


@csrf_exempt
def store_row(request):
    InboundDelivery.objects.create(
        source=InboundSource.SEAM,
        body=request.body.decode(),
        body_size=len(request.body),
        verdict=Verdict.UNCHECKED,
        status=InboundStatus.IGNORED,
        response_status=200,
    )
    return JsonResponse({"ok": True, "status": "ignored", "message": "Received."})


urlpatterns = [
    path("bench/bare", bare),
    path("bench/orm_row", orm_row),
    path("bench/store_row", store_row),
    *latchkey_urlpatterns,
]
