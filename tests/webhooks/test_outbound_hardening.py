"""Outbound webhooks that a receiver (or its DNS) cannot turn against Latchkey: the send
connects to the address that was checked, reads a bounded answer within one deadline, and
IPv6 spellings of private IPv4 addresses are refused by what they embed. Real loopback servers."""

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import TestCase

from codes.services.access_codes import access_code_create
from codes.services.checks import AccessCodeRequest
from common.outbound_http import post_bounded
from tests.devices.factories import DeviceFactory
from webhooks.models import OutboundAttempt, OutboundDelivery, OutboundStatus
from webhooks.services.subscriptions import subscription_create, url_problem

pytestmark = pytest.mark.django_db


class Server:
    """A loopback HTTP server whose handler answers POSTs with ``answer(handler)``."""

    def __init__(self, answer):
        self.requests: list[dict] = []
        self.bytes_sent = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length") or 0))
                server.requests.append(dict(self.headers.items()))
                # The sender hanging up mid-answer is what these tests look for.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    answer(self, server)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_port
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def send(handler, server, chunk: bytes):
    handler.wfile.write(chunk)
    handler.wfile.flush()
    server.bytes_sent += len(chunk)


def huge_answer(handler, server):
    """300 MB of answer, announced and sent as fast as the reader takes it."""
    handler.send_response(200)
    handler.send_header("content-length", str(300 * 1024 * 1024))
    handler.end_headers()
    block = b"x" * 65536
    for _ in range(300 * 16):
        send(handler, server, block)


def trickle_answer(handler, server):
    """A 200 whose body comes one byte every 0.25 s, for 6 s."""
    handler.send_response(200)
    handler.send_header("content-length", "24")
    handler.end_headers()
    for _ in range(24):
        send(handler, server, b"x")
        time.sleep(0.25)


def ok_answer(handler, server):
    handler.send_response(200)
    handler.send_header("content-length", "2")
    handler.end_headers()
    send(handler, server, b"ok")


@pytest.fixture
def server_with(request):
    made = []

    def make(answer):
        made.append(Server(answer))
        return made[-1]

    yield make
    for server in made:
        server.close()


def deliver_to(url):
    lock = DeviceFactory()
    subscription_create(workspace=lock.workspace, url=url)
    with TestCase.captureOnCommitCallbacks(execute=True):
        access_code_create(device=lock, request=AccessCodeRequest(code="4821", name="Ana"))
    return OutboundDelivery.objects.get(), OutboundAttempt.objects.get()


def test_a_huge_answer_is_not_read_beyond_a_few_kilobytes(server_with, now):
    server = server_with(huge_answer)
    started = time.monotonic()
    delivery, attempt = deliver_to(server.url)
    assert time.monotonic() - started < 5
    assert (delivery.status, attempt.status_code) == (OutboundStatus.SUCCEEDED, 200)
    assert attempt.response_body == "x" * 1000
    time.sleep(0.2)  # the server notices the hang-up
    # What the kernel's socket buffers took before the hang-up, not 300 MB.
    assert server.bytes_sent < 16 * 1024 * 1024, server.bytes_sent


def test_a_trickled_answer_ends_at_the_attempts_deadline(server_with, now, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    server = server_with(trickle_answer)
    started = time.monotonic()
    delivery, attempt = deliver_to(server.url)
    elapsed = time.monotonic() - started
    assert elapsed < 1.8, elapsed  # one deadline for the whole attempt, not one per byte
    assert (attempt.status_code, attempt.error) == (None, "Timed out after 1 s.")
    assert delivery.status == OutboundStatus.PENDING  # retried later, like any timeout


def test_the_send_connects_to_the_checked_address_keeping_the_host_header(server_with):
    server = server_with(ok_answer)
    # No DNS knows this name: the request reaches the server only through the pinned address.
    answer = post_bounded(
        f"http://receiver.latchkey.test:{server.port}/hooks",
        content=b"{}",
        headers={},
        address="127.0.0.1",
        deadline_seconds=5,
        keep_bytes=100,
    )
    assert (answer.status_code, answer.text) == (200, "ok")
    assert server.requests[0]["Host"] == f"receiver.latchkey.test:{server.port}"


def test_a_host_rebinding_to_loopback_after_the_check_gets_nothing(server_with, now, settings, monkeypatch):
    """A hostile DNS answers a public address to the subscription's and the send's checks, and
    127.0.0.1 to any later lookup (the one a connection would make)."""
    server = server_with(ok_answer)
    real_getaddrinfo = socket.getaddrinfo
    lookups = []

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.latchkey.test":
            return real_getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        address = "93.184.216.34" if len(lookups) <= 2 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    delivery, attempt = deliver_to(f"http://rebind.latchkey.test:{server.port}/hooks")
    assert server.requests == []
    assert len(lookups) == 2  # the subscription's check and the send's; the connection made none
    assert attempt.status_code is None and attempt.error  # the public address did not answer
    assert delivery.status == OutboundStatus.PENDING


@pytest.mark.parametrize(
    "url",
    [
        "http://[::127.0.0.1]/",  # IPv4-compatible
        "http://[64:ff9b::127.0.0.1]/",  # NAT64, well-known prefix
        "http://[64:ff9b:1::7f00:1]/",  # NAT64, local-use prefix
        "http://[::ffff:0:127.0.0.1]/",  # SIIT's IPv4-translated form
        "http://[2002:7f00:1::1]/",  # 6to4 around 127.0.0.1
        "http://[64:ff9b::10.0.0.1]/",
        "http://[64:ff9b::169.254.169.254]/",  # cloud metadata through NAT64
    ],
)
def test_ipv6_forms_embedding_a_private_ipv4_address_are_refused(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    assert "private, loopback or link-local" in url_problem(url)


def test_ipv6_forms_embedding_a_public_ipv4_address_are_accepted(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    assert url_problem("http://[64:ff9b::93.184.216.34]/") is None
