"""Lock-provider credentials, encrypted at rest.

Fernet (AES-128-CBC with HMAC-SHA256) from the cryptography package, keyed from
settings.CREDENTIALS_KEY. Decrypted values are never logged; ``masked`` is what pages show.
"""

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class CredentialsUnreadable(Exception):
    """Stored credentials cannot be decrypted with the current key (was the key changed?)."""


def _fernet() -> Fernet:
    key = hashlib.sha256(f"latchkey-credentials:{settings.CREDENTIALS_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(values: dict[str, str]) -> str:
    return _fernet().encrypt(json.dumps(values).encode()).decode()


def decrypt(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise CredentialsUnreadable("stored credentials cannot be decrypted with CREDENTIALS_KEY") from exc


def masked(secret: str) -> str:
    """Enough of a secret to recognise it, never enough to use it."""
    if len(secret) <= 10:
        return "•" * len(secret)
    return f"{secret[:5]}…{secret[-4:]}"
