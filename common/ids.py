"""Ids as people and forms send them."""

import uuid


def is_uuid(value: str) -> bool:
    """Whether ``value`` reads as a UUID: a form's id is checked before it reaches a query, where
    a malformed one would raise instead of finding nothing."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
