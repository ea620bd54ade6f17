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
    return outbound_url_check(url, max_length=max_length, allow_private=allow_private, refusal=refusal)[0]


def outbound_url_check(
    url, *, max_length: int, allow_private: bool, refusal: str
) -> tuple[str | None, str | None]:
    """``outbound_url_problem``, and the address that was checked: connect to that one
    (common.outbound_http), never to what the host resolves to a moment later, or a host that
    answers a public address to the check and 127.0.0.1 to the connection reaches loopback.
    The address is None when private addresses are allowed (nothing was resolved)."""
    if not isinstance(url, str):
        return "must be a string.", None
    if len(url) > max_length:
        return f"is {len(url)} characters long; at most {max_length} are allowed.", None
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "must not contain spaces or control characters.", None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return "must start with http:// or https://.", None
    if not parts.hostname:
        return "must name a host, as in https://example.com/webhooks.", None
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        return "has a port that is not a number between 0 and 65535.", None
    if allow_private:
        return None, None
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return f"names the host '{parts.hostname}', which cannot be resolved.", None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        for shown in (address, *_embedded_ipv4(address)):
            if not shown.is_global or shown.is_multicast:
                return f"resolves to {address}, a private, loopback or link-local address; {refusal}.", None
    return None, infos[0][4][0].split("%")[0]


# IPv6 prefixes whose last 32 bits are an IPv4 address a translator or the stack may reach:
# NAT64 (well-known and local-use), SIIT's IPv4-translated form, and the deprecated
# IPv4-compatible form (its top 96 bits zero).
_IPV4_IN_LAST_32 = [
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("::ffff:0:0:0/96"),
    ipaddress.ip_network("::/96"),
]


def _embedded_ipv4(address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address an IPv6 address carries, judged by what it embeds: ``::127.0.0.1``
    reaches loopback however global its IPv6 form looks."""
    if address.version != 6:
        return []
    found = []
    if address.ipv4_mapped:
        found.append(address.ipv4_mapped)
    if address.sixtofour:
        found.append(address.sixtofour)
    if address.teredo:
        found.extend(address.teredo)
    if any(address in net for net in _IPV4_IN_LAST_32):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found
