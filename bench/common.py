"""What the benchmarks share: starting Django, a fresh database, a portfolio of locks and codes,
and handing their key numbers to bench/run.py."""

import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The benchmarks' own PostgreSQL database: dropped and recreated by them, never the test suite's.
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/latchkey_bench"
# Shared by the benchmark and the processes it starts: django-q2 signs its tasks and cluster
# status with SECRET_KEY, so both sides must hold the same one.
BENCH_SECRET_KEY = "bench-" + "not-a-secret-" * 5


def setup_django(database_url: str | None, var_dir: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DEBUG"] = "1"
    os.environ["LATCHKEY_READ_DOTENV"] = "0"
    os.environ["LATCHKEY_VAR_DIR"] = var_dir
    os.environ["LOG_LEVEL"] = "WARNING"  # a benchmark's output is its table
    os.environ["SECRET_KEY"] = BENCH_SECRET_KEY
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()


def fresh_database() -> None:
    """An empty, migrated database. On PostgreSQL the schema is dropped first: the benchmark owns
    its database on a shared server. SQLite benchmarks start in a new temporary folder."""
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", verbosity=0)


def populate(
    *, total: int, due: int, devices: int, now: datetime, workspace=None, doors_per_property: int = 0
) -> list:
    """``devices`` sandbox locks (6-digit PINs, 500 slots) holding ``total`` codes, of which the
    first ``due`` are due for the scheduler at ``now``. Returns the locks.

    Bulk inserts, not the services: a portfolio of a million codes must be built in minutes.
    ``doors_per_property`` > 0 groups the locks into properties, as a real portfolio is."""
    from codes.models import AccessCode, AccessCodeStatus, AccessCodeType
    from devices.models import ConnectedAccount, Device, Property, ProviderKind, SandboxLock, Workspace

    if workspace is None:
        workspace = Workspace.objects.create(name=f"Bench {uuid.uuid4()}", is_sandbox=True)
    account = ConnectedAccount.objects.create(workspace=workspace, provider=ProviderKind.SANDBOX)
    properties = []
    if doors_per_property:
        properties = Property.objects.bulk_create(
            Property(workspace=workspace, name=f"Property {n}")
            for n in range(-(-devices // doors_per_property))
        )
    locks = Device.objects.bulk_create(
        Device(
            workspace=workspace,
            connected_account=account,
            property=properties[n // doors_per_property] if properties else None,
            provider_device_id=f"bench-{n}",
            device_type="schlage_lock",
            display_name=f"Door {n}",
            supported_code_lengths=[6],
            max_active_codes_supported=500,
        )
        for n in range(devices)
    )
    SandboxLock.objects.bulk_create(SandboxLock(device=d) for d in locks)
    batch = []
    for n in range(total):
        lock = locks[n % devices]
        is_due = n < due
        # The rest is the portfolio at rest: set ongoing codes and future stays not yet due.
        future = now + timedelta(days=20 + n % 30)
        batch.append(
            AccessCode(
                workspace=workspace,
                device=lock,
                code=f"{100000 + n // devices:06d}",
                name=f"Guest {n}",
                appearance={"name": f"Guest {n}"},
                type=AccessCodeType.ONGOING if is_due or n % 3 == 0 else AccessCodeType.TIME_BOUND,
                status=AccessCodeStatus.UNSET if is_due or n % 3 else AccessCodeStatus.SET,
                starts_at=None if is_due or n % 3 == 0 else future,
                ends_at=None if is_due or n % 3 == 0 else future + timedelta(days=3),
                next_attempt_at=now if is_due else (None if n % 3 == 0 else future - timedelta(days=9)),
                # Each code made at its own moment, as codes are (a second apart, the last just
                # now): a page of a lock's codes then holds as many instants as codes, which the
                # API must each read and write, not one shared by all.
                created_at=now - timedelta(seconds=total - n),
                updated_at=now - timedelta(seconds=total - n),
            )
        )
        if len(batch) == 5000:
            AccessCode.objects.bulk_create(batch)
            batch = []
    AccessCode.objects.bulk_create(batch)
    return locks


def production_env(*, var_dir: str, database_url: str | None, **more: str) -> dict:
    """The environment of a server or worker we start: the production profile, less HTTPS (plain
    HTTP on loopback), plus ``more``."""
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": BENCH_SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "LATCHKEY_READ_DOTENV": "0",
        "LATCHKEY_VAR_DIR": var_dir,
        "LOG_LEVEL": "WARNING",
        # Security settings default to on when DEBUG is off; wrk speaks plain HTTP.
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
    }
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    return {**env, **more}


def stop(process: subprocess.Popen) -> None:
    """Stop a process we started in its own session, and everything it started: its group is
    signalled even if the leader has exited, since its children (gunicorn's workers) may not have."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return  # the whole group is gone
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def write_summary(path: str | None, numbers: dict) -> None:
    """The numbers bench/run.py's capacity statement is computed from, as JSON."""
    if path:
        Path(path).write_text(json.dumps(numbers, indent=1))
