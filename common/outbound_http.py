"""Requests Latchkey makes of its own to addresses someone else chose (webhook receivers),
bounded so that a receiver cannot turn them against Latchkey:

- the connection goes to the address the URL check approved (common.addresses), not to what
  the host resolves to a moment later; the URL, so the Host header and the TLS server name
  (SNI and certificate check), stay the host's own;
- the whole attempt, connecting, sending and reading, has one deadline, so an answer
  trickled a byte at a time ends with it (httpx's own timeouts apply to each read);
- at most ``keep_bytes`` of the answer are read; the rest is never downloaded.
"""

import time
from dataclasses import dataclass

import httpcore
import httpx


@dataclass(frozen=True)
class Answer:
    status_code: int
    text: str  # the first bytes of the body, decoded


def post_bounded(
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    address: str | None,
    deadline_seconds: float,
    keep_bytes: int,
) -> Answer:
    """POST ``content`` to ``url``, connecting to ``address`` (None: the host as resolved now),
    within ``deadline_seconds`` in all. Raises httpx.TimeoutException past the deadline and
    other httpx.HTTPError for network failures."""
    deadline = time.monotonic() + deadline_seconds
    transport = _BoundedTransport(address=address, deadline=deadline)
    client = httpx.Client(transport=transport, timeout=deadline_seconds, follow_redirects=False)
    with client, client.stream("POST", url, content=content, headers=headers) as response:
        kept = bytearray()
        for chunk in response.iter_raw():
            kept += chunk
            if len(kept) >= keep_bytes:
                break  # leaving the block closes the connection: the rest is not read
        return Answer(response.status_code, bytes(kept[:keep_bytes]).decode(errors="replace"))


class _BoundedTransport(httpx.HTTPTransport):
    def __init__(self, *, address: str | None, deadline: float):
        super().__init__()
        self._pool.close()
        # httpx's transport has no hook for the network layer; its pool is replaced by one that
        # connects through the bounded backend (the rest of the transport, including how
        # httpcore's errors become httpx's, is httpx's own).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=1,
            network_backend=_BoundedBackend(address=address, deadline=deadline),
        )


class _BoundedBackend(httpcore.NetworkBackend):
    def __init__(self, *, address: str | None, deadline: float):
        self._real = httpcore.SyncBackend()
        self._address = address
        self._deadline = deadline

    def left(self, timeout: float | None) -> float:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise httpcore.ReadTimeout("the attempt's deadline passed")
        return remaining if timeout is None else min(timeout, remaining)

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        stream = self._real.connect_tcp(
            self._address or host,
            port,
            timeout=self.left(timeout),
            local_address=local_address,
            socket_options=socket_options,
        )
        return _BoundedStream(stream, self)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):  # pragma: no cover
        raise httpcore.ConnectError("unix sockets are not a webhook target")

    def sleep(self, seconds: float) -> None:
        self._real.sleep(seconds)


class _BoundedStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, backend: _BoundedBackend):
        self._stream = stream
        self._backend = backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, timeout=self._backend.left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout=self._backend.left(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        # server_hostname is the URL's host, not the pinned address: SNI and the certificate
        # check are the host's own.
        upgraded = self._stream.start_tls(ssl_context, server_hostname, timeout=self._backend.left(timeout))
        return _BoundedStream(upgraded, self._backend)

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)
