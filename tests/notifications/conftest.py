"""Real receivers on loopback sockets: an SMTP server (aiosmtpd) and an HTTP endpoint for
Apprise's json:// target. Nothing of Apprise or Django's mail is mocked."""

import json
import socket
import threading
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from django.test import TestCase

from devices.models import Membership
from tests.devices.factories import DeviceFactory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=default_policy)
        body = message.get_body(preferencelist=("plain", "html"))
        self.messages.append(
            {
                "to": envelope.rcpt_tos,
                "subject": message["subject"],
                "body": body.get_content() if body else "",
            }
        )
        return "250 OK"


@pytest.fixture
def smtp(settings):
    """A real SMTP server; Django's mail is pointed at it, as EMAIL_URL=smtp://127.0.0.1:port would."""
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    settings.LATCHKEY_EMAIL_ENABLED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    box.port = port
    yield box
    controller.stop()


class LoopbackServer:
    """An HTTP server on a free loopback port, answering from a thread, until ``close``."""

    def serve(self, handler) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class JsonReceiver(LoopbackServer):
    """Apprise's json:// target posts {"title", "message", "type"}; answers ``answers`` in order
    (200 once they run out)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.received.append(json.loads(body))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.serve(Handler)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_port}/hook"


@pytest.fixture
def receiver():
    r = JsonReceiver()
    yield r
    r.close()


class SmsGateway(LoopbackServer):
    """A loopback SMS gateway speaking SMSEagle's JSON-RPC API (what Apprise's smseagle://
    plugin posts to): records each message with its recipient."""

    token = "gateway-token-1"

    def __init__(self) -> None:
        self.received: list[dict] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
                params = body["params"]
                ok = params.get("access_token") == gateway.token
                if ok:
                    gateway.received.append({"to": params["to"], "message": params["message"]})
                answer = (
                    {"result": {"message_id": len(gateway.received), "status": "ok"}}
                    if ok
                    else {"result": {"error_text": "Invalid login or password", "status": "error"}}
                )
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.serve(Handler)

    @property
    def url(self) -> str:
        return f"smseagle://{self.token}@127.0.0.1:{self.server.server_port}"


@pytest.fixture
def sms_gateway():
    g = SmsGateway()
    yield g
    g.close()


@pytest.fixture
def lock(db):
    return DeviceFactory(
        display_name="Front door", property__name="Casa Azul", property__time_zone="Europe/Lisbon"
    )


@pytest.fixture
def manager(lock, django_user_model):
    user = django_user_model.objects.create_user("maria", email="maria@example.com", password="pw")
    Membership.objects.create(user=user, workspace=lock.workspace)
    return user


def run_on_commit(fn, *args, **kwargs):
    """Run ``fn`` and then what it queued for after the commit (tests never commit)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return fn(*args, **kwargs)
