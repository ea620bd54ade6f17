import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import TestCase
from django.urls import reverse
from seam import SeamWebhook

from codes.models import AccessCodeStatus
from devices.models import ProviderKind
from tests.codes.factories import AccessCodeFactory
from tests.devices.factories import ConnectedAccountFactory, DeviceFactory
from tests.webhooks.signing import FIXTURE_CODE, FIXTURE_DEVICE, FIXTURE_SECRET


@pytest.fixture
def seam_account(db):
    return ConnectedAccountFactory(provider=ProviderKind.SEAM, webhook_secret=FIXTURE_SECRET)


@pytest.fixture
def seam_device(seam_account):
    return DeviceFactory(
        workspace=seam_account.workspace,
        connected_account=seam_account,
        provider_device_id=FIXTURE_DEVICE,
        has_native_scheduling=True,
    )


@pytest.fixture
def seam_code(seam_device, now):
    """A code Latchkey sent to Seam, waiting for Seam to confirm it."""
    code = AccessCodeFactory(
        device=seam_device,
        code="4821",
        provider_code_id=FIXTURE_CODE,
        status=AccessCodeStatus.SETTING,
        created_at=now,
        updated_at=now,
    )
    code.sent_version = code.version
    code.save(update_fields=["sent_version"])
    return code


def post_callback(client, account, body: bytes, headers: dict, *, source: str = "seam"):
    """POST a callback as the provider would, then run what was queued for after the commit
    (the tests run inside a transaction that never commits)."""
    sent = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    url = reverse(f"webhooks:{source}", args=[account.pk])
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(url, data=body, content_type="application/json", headers=sent)


class Receiver:
    """An integration's endpoint on a real socket. Each request is checked with Seam's own SDK,
    ``SeamWebhook(secret).verify(body, headers)``, as an integration would; it answers the next
    status from ``answers`` (200 once they run out), after ``delay`` seconds."""

    def __init__(self) -> None:
        self.secret: str | None = None
        self.answers: list[int] = []
        self.delay = 0.0
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                headers = dict(self.headers.items())
                try:
                    event = SeamWebhook(receiver.secret).verify(body, headers)
                    verified = {"event_id": event.event_id, "event_type": event.event_type}
                except Exception as exc:  # the SDK's verification or payload error
                    verified = {"error": str(exc)}
                receiver.received.append({"body": body, "headers": headers, "verified": verified})
                time.sleep(receiver.delay)
                status = receiver.answers.pop(0) if receiver.answers else 200
                if "error" in verified and status == 200:
                    status = 400
                payload = json.dumps({"status": status}).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the sender timed out and left
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r
