"""Registers codes' admin pages (Django imports ``codes.admin``)."""

from codes.admin import access_codes  # noqa: F401
