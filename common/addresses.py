"""Where Latchkey may send a request of its own (webhook deliveries, calendar fetches): only
http(s) URLs whose host resolves to public addresses, so that a URL someone typed cannot make
Latchkey reach into its own network (loopback, private ranges, link-local addresses such as
cloud metadata endpoints)."""

import ipaddress
import socket
from urllib.parse import urlsplit


def outbound_url_problem(url, *, max_length: int, allow_private: bool, refusal: str) -> str | None:
    """What is wrong with ``url`` as a target, or None. Unless private addresses are allowed,
    the host is resolved and every address it resolves to must be public. ``refusal`` ends the
    message for a private address (e.g. "webhooks are only sent to public addresses")."""
    if not isinstance(url, str):
        return "must be a string."
    if len(url) > max_length:
        return f"is {len(url)} characters long; at most {max_length} are allowed."
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "must not contain spaces or control characters."
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return "must start with http:// or https://."
    if not parts.hostname:
        return "must name a host, as in https://example.com/webhooks."
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        return "has a port that is not a number between 0 and 65535."
    if allow_private:
        return None
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return f"names the host '{parts.hostname}', which cannot be resolved."
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        mapped = getattr(address, "ipv4_mapped", None)
        address = mapped or address
        if not address.is_global or address.is_multicast:
            return f"resolves to {address}, a private, loopback or link-local address; {refusal}."
    return None
