"""Settings read from the environment: checked in a fresh interpreter, since settings load once."""

import json
import os
import subprocess
import sys

from django.conf import settings

SET_BY_TEST_RUNS = {
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
}

PROBE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({'engine': settings.DATABASES['default']['ENGINE'], "
    "'options': settings.DATABASES['default'].get('OPTIONS', {}), 'q': settings.Q_CLUSTER, "
    "'debug': settings.DEBUG, 'cache': settings.CACHES['default']}, default=str))"
)


def probe(**env) -> subprocess.CompletedProcess:
    return run_python("-c", PROBE, **env)


def run_python(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Our interpreter in a fresh process, with none of the variables a test run sets (the
    database, the broker, the secret and the HTTPS switches) unless given here."""
    clean = {k: v for k, v in os.environ.items() if k not in SET_BY_TEST_RUNS}
    return subprocess.run(
        [sys.executable, *args],
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
    # The web server and the worker are two processes: their cache is files they share.
    assert loaded["cache"]["BACKEND"].endswith("FileBasedCache")


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
    assert loaded["cache"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert loaded["cache"]["LOCATION"] == "redis://127.0.0.1:6379/0"


# The production profile as README describes it: no DEBUG, a real secret, PostgreSQL, Redis,
# the site's own host name. Every HTTPS setting is left to its default.
PRODUCTION = {
    "SECRET_KEY": "k3Jv9-Qz_production-like-secret-WqP7xLm2Rt8sNc4Hy6Bd1Fg5",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "latchkey.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://latchkey.example.com",
}


def test_check_deploy_reports_nothing_with_the_production_settings(tmp_path):
    result = run_python(
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "DEBUG",
        LATCHKEY_VAR_DIR=str(tmp_path),
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_names_an_https_setting_turned_off(tmp_path):
    # The check above can fail: turning one default off is reported, by name.
    result = run_python(
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        LATCHKEY_VAR_DIR=str(tmp_path),
        SECURE_SSL_REDIRECT="0",
        **PRODUCTION,
    )
    assert result.returncode != 0
    assert "security.W008" in result.stderr
    assert "SECURE_SSL_REDIRECT" in result.stderr


OUTBOUND_PROBE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps([settings.OUTBOUND_ALLOW_PRIVATE_URLS, settings.WEBHOOK_ALLOW_PRIVATE_URLS]))"
)


def test_outbound_private_urls_read_the_new_name_then_the_old_one():
    def read(**env):
        done = run_python("-c", OUTBOUND_PROBE, SECRET_KEY="x" * 50, **env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert "OUTBOUND_ALLOW_PRIVATE_URLS" not in os.environ
    assert read(WEBHOOK_ALLOW_PRIVATE_URLS="0") == [False, False]
    assert read(WEBHOOK_ALLOW_PRIVATE_URLS="1") == [True, True]  # the old name alone
    assert read(WEBHOOK_ALLOW_PRIVATE_URLS="1", OUTBOUND_ALLOW_PRIVATE_URLS="") == [
        True,
        True,
    ]  # empty: unset
    assert read(OUTBOUND_ALLOW_PRIVATE_URLS="1", WEBHOOK_ALLOW_PRIVATE_URLS="0") == [True, True]
    assert read(OUTBOUND_ALLOW_PRIVATE_URLS="0", WEBHOOK_ALLOW_PRIVATE_URLS="1") == [False, False]


def test_a_sqlite_database_named_by_database_url_gets_the_same_safety_settings(tmp_path):
    result = probe(
        DEBUG="1", LATCHKEY_VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path}/own.sqlite3"
    )
    loaded = json.loads(result.stdout)
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["options"]["transaction_mode"] == "IMMEDIATE"
    assert loaded["options"]["timeout"] == 20
    assert "journal_mode=WAL" in loaded["options"]["init_command"]


def test_an_option_in_a_sqlite_database_url_wins_over_the_default(tmp_path):
    url = f"sqlite:///{tmp_path}/own.sqlite3?timeout=60"
    loaded = json.loads(probe(DEBUG="1", LATCHKEY_VAR_DIR=str(tmp_path), DATABASE_URL=url).stdout)
    assert loaded["options"]["timeout"] == 60
    assert loaded["options"]["transaction_mode"] == "IMMEDIATE"


# Six writers at once, each reading before it writes (as a create does: check the PIN, then
# insert), on a database named by DATABASE_URL. Deferred transactions fail here with "database is
# locked" (two readers cannot both become the writer); IMMEDIATE ones wait their turn.
PARALLEL_WRITERS = """
import threading, time, django
django.setup()
from django.db import connection, transaction
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE stays (n integer)")
connection.close()
failures = []
def write(n):
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM stays")
            time.sleep(0.2)
            cursor.execute("INSERT INTO stays VALUES (%s)", [n])
    except Exception as exc:
        failures.append(str(exc))
    finally:
        connection.close()
threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
[t.start() for t in threads]
[t.join() for t in threads]
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM stays")
    print(cursor.fetchone()[0], failures)
"""


def test_parallel_writers_on_a_sqlite_database_url_queue_instead_of_failing(tmp_path):
    result = run_python(
        "-c",
        PARALLEL_WRITERS,
        DEBUG="1",
        LATCHKEY_VAR_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path}/own.sqlite3",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "6 []"


def _example_assignments() -> dict[str, str]:
    lines = (settings.BASE_DIR / ".env.example").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return {name.strip(): value.strip() for name, value in pairs}


def test_env_example_copied_to_a_production_machine_weakens_nothing(tmp_path):
    example = _example_assignments()
    assert "DEBUG" not in example and "WEBHOOK_ALLOW_PRIVATE_URLS" not in example
    # Loaded as a machine's environment (plus the secret it must add), HTTPS stays on.
    loaded = {k: v for k, v in example.items() if v}
    result = run_python(
        "-c",
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps([settings.DEBUG, settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS, "
        "settings.WEBHOOK_ALLOW_PRIVATE_URLS]))",
        LATCHKEY_VAR_DIR=str(tmp_path),
        SECRET_KEY="x" * 60,
        **loaded,
    )
    assert json.loads(result.stdout) == [False, True, 31536000, False], result.stderr


def test_check_deploy_warns_when_private_webhook_urls_are_allowed_without_debug(tmp_path):
    result = run_python(
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        LATCHKEY_VAR_DIR=str(tmp_path),
        WEBHOOK_ALLOW_PRIVATE_URLS="1",
        **PRODUCTION,
    )
    assert result.returncode != 0
    assert "webhooks.W001" in result.stderr and "WEBHOOK_ALLOW_PRIVATE_URLS" in result.stderr


def test_the_sqlite_database_and_var_are_the_owners_alone(tmp_path):
    var = tmp_path / "var"
    result = run_python("manage.py", "migrate", "-v", "0", DEBUG="1", LATCHKEY_VAR_DIR=str(var))
    assert result.returncode == 0, result.stderr
    assert oct(var.stat().st_mode & 0o777) == "0o700"
    for made in var.glob("latchkey.sqlite3*"):  # the database and its -wal and -shm files
        assert oct(made.stat().st_mode & 0o777) == "0o600", made
    assert (var / "latchkey.sqlite3").stat().st_size > 0
