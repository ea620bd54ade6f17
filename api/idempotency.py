"""``Idempotency-Key`` on create routes: a retried request gets the first answer, and never a
second code.

The key is claimed, the codes created and the answer stored in one transaction. A concurrent
retry with the same key waits on the key's unique row until the first commits, then reads its
answer; a refused request rolls back and leaves the key free for a corrected retry.
"""

import hashlib
import json
from collections.abc import Callable

from django.db import transaction

from api.wire import SeamError, invalid_input
from codes.models import IdempotentRequest

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = IdempotentRequest._meta.get_field("key").max_length


def idempotent(request, *, route: str, params: dict, make: Callable[[], dict]) -> dict:
    key = request.headers.get(HEADER)
    if key is None:
        return make()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise invalid_input({HEADER: [f"must be 1 to {MAX_KEY_LENGTH} characters long."]})
    fingerprint = hashlib.sha256(
        json.dumps([route, params], sort_keys=True, default=str).encode()
    ).hexdigest()
    workspace = request.user.workspace
    with transaction.atomic():
        row, created = IdempotentRequest.objects.get_or_create(
            workspace=workspace, key=key, defaults={"route": route, "fingerprint": fingerprint}
        )
        if not created:
            if row.route != route or row.fingerprint != fingerprint:
                raise SeamError(
                    409,
                    "idempotency_key_reused",
                    f"This {HEADER} was already used for a different request; use a new key.",
                )
            return row.response
        body = make()
        row.response = body
        row.save(update_fields=["response"])
        return body
