"""Sweep benchmark: the cost of one scheduler sweep with 1,000 codes due, among 10,000 and
among 100,000 codes on 2,000 sandbox locks, measured side by side in one run.

    python bench/sweep.py [--totals 10000 100000] [--due 1000] [--devices 2000] [--database-url URL]

Each size gets a fresh database (SQLite in a temporary folder unless --database-url is given).
Prints a Markdown table; bench/run.py writes it into bench/RESULTS.md.
"""

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django(database_url: str | None, var_dir: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DEBUG"] = "1"
    os.environ["LATCHKEY_READ_DOTENV"] = "0"
    os.environ["LATCHKEY_VAR_DIR"] = var_dir
    os.environ["LOG_LEVEL"] = "WARNING"  # a benchmark's output is its table
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()


def populate(*, total: int, due: int, devices: int, now: datetime) -> None:
    from codes.models import AccessCode, AccessCodeStatus, AccessCodeType
    from devices.models import ConnectedAccount, Device, ProviderKind, SandboxLock, Workspace

    workspace = Workspace.objects.create(name=f"Bench {uuid.uuid4()}", is_sandbox=True)
    account = ConnectedAccount.objects.create(workspace=workspace, provider=ProviderKind.SANDBOX)
    locks = Device.objects.bulk_create(
        Device(
            workspace=workspace,
            connected_account=account,
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
                created_at=now,
                updated_at=now,
            )
        )
        if len(batch) == 5000:
            AccessCode.objects.bulk_create(batch)
            batch = []
    AccessCode.objects.bulk_create(batch)


def measure(*, total: int, due: int, devices: int, database_url: str | None) -> dict:
    """One fresh database per size (a child process: Django's settings are process-wide)."""
    import json
    import subprocess

    out = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, __file__, "--child", str(total), str(due), str(devices), database_url or ""],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(total: int, due: int, devices: int, database_url: str) -> None:
    import json

    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(database_url or None, var_dir)
        from django.core.management import call_command
        from django.db import connection

        if database_url:
            # A clean schema on the shared server: the benchmark owns this database.
            with connection.cursor() as cursor:
                cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        call_command("migrate", verbosity=0)
        from codes import scheduler
        from codes.models import AccessCode

        now = datetime(2026, 11, 22, 12, tzinfo=UTC)
        t0 = time.perf_counter()
        populate(total=total, due=due, devices=devices, now=now)
        populate_s = time.perf_counter() - t0
        # Peak RSS, not tracemalloc: tracing slows Python several-fold and would distort the time.
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        report = scheduler.sweep(now=now)
        sweep_s = time.perf_counter() - t0
        peak_growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
        assert report.claimed == due, report
        left = AccessCode.objects.filter(next_attempt_at__lte=now).count()
        print(
            json.dumps(
                {
                    "total": total,
                    "due": due,
                    "devices": devices,
                    "populate_s": round(populate_s, 2),
                    "sweep_s": round(sweep_s, 3),
                    "peak_growth_mib": round(peak_growth_kib / 1024, 1),
                    "left_due": left,
                    "backend": connection.vendor,
                }
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--totals", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    rows = []
    for _ in range(args.repeat):  # interleaved, so machine noise hits every size alike
        for total in args.totals:
            rows.append(
                measure(total=total, due=args.due, devices=args.devices, database_url=args.database_url)
            )
    backend = rows[0]["backend"]
    print(f"\n### Sweep, {backend}: {args.due} due codes on {args.devices} locks\n")
    print(
        f"| total codes | sweep s (median of {args.repeat}) | min | max | peak RSS growth MiB | due left after |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    medians = {}
    for total in args.totals:
        runs = [r for r in rows if r["total"] == total]
        times = [r["sweep_s"] for r in runs]
        medians[total] = statistics.median(times)
        print(
            f"| {total:,} | {medians[total]:.3f} | {min(times):.3f} | {max(times):.3f} "
            f"| {max(r['peak_growth_mib'] for r in runs)} | {max(r['left_due'] for r in runs)} |"
        )
    if len(args.totals) > 1:
        small, large = args.totals[0], args.totals[-1]
        print(
            f"\nRatio {large:,} / {small:,} total codes, same due work: {medians[large] / medians[small]:.2f}x"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        main()
