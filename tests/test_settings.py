"""Settings read from the environment: checked in a fresh interpreter, since settings load once."""

import json
import os
import subprocess
import sys

from django.conf import settings

PROBE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({'engine': settings.DATABASES['default']['ENGINE'], "
    "'options': settings.DATABASES['default'].get('OPTIONS', {}), 'q': settings.Q_CLUSTER, "
    "'debug': settings.DEBUG}, default=str))"
)


def probe(**env) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}
    }
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", "LATCHKEY_READ_DOTENV": "0", **env},
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        check=False,
    )


def test_secret_key_is_required_when_debug_is_off(tmp_path):
    result = probe(LATCHKEY_VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_embedded_defaults_are_sqlite_with_immediate_transactions_and_the_orm_broker(tmp_path):
    result = probe(DEBUG="1", LATCHKEY_VAR_DIR=str(tmp_path))
    loaded = json.loads(result.stdout)
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["options"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in loaded["options"]["init_command"]
    assert loaded["q"]["orm"] == "default" and "redis" not in loaded["q"]
    assert loaded["q"]["timeout"] < loaded["q"]["retry"]


def test_database_url_and_redis_url_switch_to_postgres_and_redis(tmp_path):
    result = probe(
        SECRET_KEY="x" * 50,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
        LATCHKEY_VAR_DIR=str(tmp_path),
    )
    loaded = json.loads(result.stdout)
    assert loaded["engine"] == "django.db.backends.postgresql"
    assert loaded["q"]["redis"] == "redis://127.0.0.1:6379/0" and "orm" not in loaded["q"]
    assert loaded["debug"] is False
