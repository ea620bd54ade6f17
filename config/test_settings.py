"""Settings for the test suite: the real settings, with django-q2 running tasks inline.

django-q2 reads Q_CLUSTER once when it is imported, so override_settings cannot switch sync
mode on; it has to be set in the settings module the tests start with.
"""

import os
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")
# The tests run with DEBUG off, as production does, but serve plain HTTP on loopback (the live
# server, the SDK, the browser), so the HTTPS defaults that DEBUG off brings are turned off.
for _https_setting in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
    os.environ.setdefault(_https_setting, "0")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")

from config.settings import *  # noqa: E402, F403
from config.settings import Q_CLUSTER, STATIC_ROOT, STORAGES  # noqa: E402

Q_CLUSTER = {**Q_CLUSTER, "sync": True}
# Tests render pages without running collectstatic first.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# SQLite tests use a file, as production does, not Django's default shared-cache in-memory
# database: shared cache locks whole tables and ignores the busy timeout, so concurrent requests
# to the live server would fail in tests in a way they never fail in production.
_database = DATABASES["default"]  # noqa: F405
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # NAME is a Path for the var/ database, a string when DATABASE_URL names one.
    _database["TEST"] = {"NAME": str(Path(_database["NAME"]).with_name("test-latchkey.sqlite3"))}

# The test receivers listen on 127.0.0.1; the guard against private addresses is tested by
# turning this off where it matters.
WEBHOOK_ALLOW_PRIVATE_URLS = True
OUTBOUND_ALLOW_PRIVATE_URLS = True
