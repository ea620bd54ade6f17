"""Signing for tests, with the svix library (as Seam signs): never a hand-rolled HMAC."""

import base64
import json
from datetime import datetime
from pathlib import Path

from django.utils import timezone
from svix.webhooks import Webhook

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_SECRET = "whsec_" + base64.b64encode(b"latchkey-test-fixture-secret-32b").decode()
FIXTURE_DEVICE = "seam-device-1"
FIXTURE_CODE = "seam-code-1"
FIXTURE_WORKSPACE = "seam-workspace-1"


def fixture(kind: str) -> tuple[bytes, dict]:
    """A stored signed delivery: its exact body and headers."""
    stored = json.loads((FIXTURES / f"{kind}.json").read_text())
    return stored["body"].encode(), stored["headers"]


def signed(
    secret: str, payload, *, at: datetime | None = None, msg_id: str = "msg_test"
) -> tuple[bytes, dict]:
    """Sign ``payload`` (a dict, or the exact text) as a Svix sender would, at ``at``."""
    body = payload if isinstance(payload, str) else json.dumps(payload)
    at = at or timezone.now()
    headers = {
        "content-type": "application/json",
        "svix-id": msg_id,
        "svix-timestamp": str(int(at.timestamp())),
        "svix-signature": Webhook(secret).sign(msg_id, at, body),
    }
    return body.encode(), headers
