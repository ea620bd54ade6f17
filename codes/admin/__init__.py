"""Codes' admin pages, registered when Django imports ``codes.admin``: the access code's list and
page (``access_codes``, its buttons in ``actions``), read-only records, backup pools, and the
lock's page with what codes know about it (``locks``, replacing devices' own)."""

from django.contrib import admin

from codes.admin import access_codes, backup_pools, locks, records  # noqa: F401 (each registers its admins)

admin.site.index_template = "admin/latchkey_index.html"
