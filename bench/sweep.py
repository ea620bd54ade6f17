"""Sweep benchmark: the cost of one scheduler sweep with 1,000 codes due, among 10,000, 100,000
and 1,000,000 codes on 2,000 sandbox locks, measured side by side in one run.

    python bench/sweep.py [--totals 10000 100000 1000000] [--due 1000] [--devices 2000]
                          [--repeat 3] [--large-repeat 1] [--database-url URL] [--summary-json PATH]

Each size gets a fresh database (SQLite in a temporary folder unless --database-url is given).
Building a million codes takes minutes, so totals of a million and more are measured
``--large-repeat`` times only, in the middle repetitions, so that they still sit between the
smaller sizes' runs. Prints a Markdown table; bench/run.py writes it into bench/RESULTS.md.
"""

import argparse
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database, populate, setup_django, write_summary  # noqa: E402


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
        from django.db import connection

        fresh_database()
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


LARGE_TOTAL = 1_000_000


def runs_in(repetition: int, *, total: int, repeat: int, large_repeat: int) -> bool:
    """Whether ``total`` is measured in this repetition: always, or for a large total only in
    the middle ``large_repeat`` repetitions."""
    if total < LARGE_TOTAL or large_repeat >= repeat:
        return True
    first = (repeat - large_repeat) // 2
    return first <= repetition < first + large_repeat


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--totals", type=int, nargs="+", default=[10_000, 100_000, LARGE_TOTAL])
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--large-repeat", type=int, default=1, help="repetitions for totals of 1,000,000+")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--summary-json", help="also write the medians here, for bench/run.py")
    args = parser.parse_args()
    rows = []
    for repetition in range(args.repeat):  # interleaved, so machine noise hits every size alike
        for total in args.totals:
            if runs_in(repetition, total=total, repeat=args.repeat, large_repeat=args.large_repeat):
                rows.append(
                    measure(total=total, due=args.due, devices=args.devices, database_url=args.database_url)
                )
    backend = rows[0]["backend"]
    print(f"\n### Sweep, {backend}: {args.due} due codes on {args.devices} locks\n")
    print(
        "| total codes | runs | sweep s (median) | min | max | due codes per s | populate s | peak RSS growth MiB | due left after |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    medians = {}
    for total in args.totals:
        runs = [r for r in rows if r["total"] == total]
        times = [r["sweep_s"] for r in runs]
        medians[total] = statistics.median(times)
        print(
            f"| {total:,} | {len(runs)} | {medians[total]:.3f} | {min(times):.3f} | {max(times):.3f} "
            f"| {args.due / medians[total]:,.0f} | {statistics.median(r['populate_s'] for r in runs):.0f} "
            f"| {max(r['peak_growth_mib'] for r in runs)} | {max(r['left_due'] for r in runs)} |"
        )
    print()
    small = args.totals[0]
    for large in args.totals[1:]:
        print(
            f"Ratio {large:,} / {small:,} total codes, same due work: {medians[large] / medians[small]:.2f}x  "
        )
    write_summary(
        args.summary_json,
        {
            "backend": backend,
            "due": args.due,
            "devices": args.devices,
            "median_sweep_s": {str(total): medians[total] for total in args.totals},
        },
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        main()
