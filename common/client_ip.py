"""The address a request came from, as far as Latchkey can trust it."""

from django.conf import settings


def client_ip(request) -> str | None:
    """REMOTE_ADDR, or behind a proxy that appends to X-Forwarded-For (``TRUST_X_FORWARDED_FOR``)
    the last address there: the one that proxy added. Earlier entries are whatever the client
    sent, so reading the first would let anyone pick the address their failed logins count
    against."""
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if forwarded[-1]:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR")
