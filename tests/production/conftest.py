"""The production profile, run for real: `qcluster` and gunicorn processes started from the
production settings (``config.settings``, DEBUG off) against this test run's PostgreSQL
database, with django-q2's queue on Redis.

These tests need PostgreSQL and Redis, as the CI machines have; on SQLite they are skipped
(the SQLite pass runs the same code paths in one process). ``REDIS_TEST_URL`` names the Redis
database they may empty (default: database 15 on 127.0.0.1:6379).
"""

import contextlib
import os
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection

from tests.production.harness import Processes

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def production(transactional_db, tmp_path):
    """Start and stop production-profile processes against this test's database."""
    if connection.vendor != "postgresql":
        pytest.skip("the production profile runs on PostgreSQL (the PostgreSQL pass runs it)")
    broker = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        broker.flushdb()  # the last run's queue and cluster statistics
    except redis.ConnectionError as error:
        pytest.fail(f"the production-profile tests need Redis at {REDIS_TEST_URL}: {error}")
    db = connection.settings_dict
    host = db["HOST"] or "127.0.0.1"
    login = quote(db["USER"], safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LATCHKEY_READ_DOTENV": "0",
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": f"postgres://{login}@{host}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": REDIS_TEST_URL,
        "LATCHKEY_VAR_DIR": str(tmp_path / "var"),
        "ALLOWED_HOSTS": "127.0.0.1",
        # Plain HTTP on loopback; the HTTPS defaults are checked by tests/test_settings.py.
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    processes = Processes(env, tmp_path)
    # Open connections would keep the test's flush waiting on the workers' transactions.
    connection.close()
    try:
        yield processes
    finally:
        processes.stop_all()
        with contextlib.suppress(redis.RedisError):  # never hide the test's own failure
            broker.flushdb()
