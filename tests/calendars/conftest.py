"""A real HTTP server on loopback that serves booking calendars the tests write, and can be
switched to answer badly (HTML, a 500, a truncated body, a redirect, 50 MB, slowly)."""

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command  # noqa: F401

from devices.models import Property
from tests.devices.factories import DeviceFactory, WorkspaceFactory


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    stream_bytes: int = 0  # instead of body: this many bytes, written in chunks, with no length
    delay: float = 0.0


class CalendarServer:
    def __init__(self):
        self.answers: dict[str, Answer] = {}
        self.requests: list[tuple[str, dict]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                owner.requests.append((self.path, dict(self.headers)))
                answer = owner.answers.get(self.path, Answer(status=404, body=b"not here"))
                if answer.delay:
                    time.sleep(answer.delay)
                etag = answer.headers.get("ETag")
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if answer.stream_bytes:
                    self.send_header("Content-Type", "text/calendar")
                    self.end_headers()
                    chunk = b"X" * 65536
                    try:
                        for _ in range(answer.stream_bytes // len(chunk)):
                            self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client stopped reading at its cap, as it should
                    return
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, body: bytes, **kwargs) -> str:
        self.answers[path] = Answer(
            body=body, headers={"Content-Type": "text/calendar; charset=utf-8"}, **kwargs
        )
        return self.url + path

    def answer(self, path: str, answer: Answer) -> None:
        self.answers[path] = answer

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def calendar_server():
    server = CalendarServer()
    yield server
    server.close()


@pytest.fixture
def property_with_doors(db):
    """A Lisbon flat with two plain keypad doors (4-6 digits), check-in 16:00, check-out 11:00."""
    workspace = WorkspaceFactory()
    prop = Property.objects.create(workspace=workspace, name="Alfama Loft", time_zone="Europe/Lisbon")
    doors = [
        DeviceFactory(workspace=workspace, property=prop, display_name="Front door"),
        DeviceFactory(workspace=workspace, property=prop, display_name="Building door"),
    ]
    return prop, doors
