"""Lock-provider credentials and webhook secrets, encrypted at rest.

Fernet (AES-128-CBC with HMAC-SHA256) from the cryptography package, keyed from
settings.CREDENTIALS_KEY. Decrypted values are never logged; ``masked`` is what pages show.
"""

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models


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


# Every Fernet token starts with its version byte 0x80, base64-encoded: "gAAAAA".
_TOKEN_START = "gAAAAA"  # noqa: S105 (a format marker, not a secret)


def encrypt_text(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt_text(stored: str) -> str:
    """``stored`` decrypted; a value written before secrets were encrypted (a whsec_ secret, never
    a token) is returned as it is, until the migration that encrypts it has run."""
    if not stored or not stored.startswith(_TOKEN_START):
        return stored
    try:
        return _fernet().decrypt(stored.encode()).decode()
    except InvalidToken as exc:
        raise CredentialsUnreadable("a stored secret cannot be decrypted with CREDENTIALS_KEY") from exc


class EncryptedSecretField(models.TextField):
    """A secret (a webhook signing secret) stored encrypted with CREDENTIALS_KEY, like provider
    credentials, and read back as plain text. Each write encrypts afresh (Fernet is randomised),
    so the column cannot be filtered on: secrets are only ever read."""

    def from_db_value(self, value, expression, connection):
        return None if value is None else decrypt_text(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value or value.startswith(_TOKEN_START):
            return value
        return encrypt_text(value)
