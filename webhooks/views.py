"""Callback endpoints for lock providers. The views only read the request and answer; the
checking and storing is ``inbound.inbound_receive``."""

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from webhooks.models import InboundSource
from webhooks.services import inbound

_ERROR_TYPES = {400: "invalid_input", 401: "invalid_signature", 404: "not_found", 413: "payload_too_large"}


def _receive(request: HttpRequest, source: str, connected_account_id) -> JsonResponse:
    # An announced oversized body is refused without reading it; the service also checks what
    # was actually read.
    announced = request.META.get("CONTENT_LENGTH") or ""
    declared = int(announced) if announced.isdigit() else None
    too_big = declared is not None and declared > settings.WEBHOOK_MAX_BODY_BYTES
    answer = inbound.inbound_receive(
        source=source,
        connected_account_id=connected_account_id,
        headers=dict(request.headers),
        body=b"" if too_big else request.body,
        declared_size=declared,
    )
    if answer.status == 200:
        return JsonResponse({"ok": True, "status": answer.delivery.status, "message": answer.message})
    error = {"type": _ERROR_TYPES.get(answer.status, "error"), "message": answer.message}
    return JsonResponse({"error": error}, status=answer.status)


@csrf_exempt
@require_POST
def seam_callback(request: HttpRequest, connected_account_id) -> JsonResponse:
    return _receive(request, InboundSource.SEAM, connected_account_id)


@csrf_exempt
@require_POST
def sandbox_callback(request: HttpRequest, connected_account_id) -> JsonResponse:
    return _receive(request, InboundSource.SANDBOX, connected_account_id)
