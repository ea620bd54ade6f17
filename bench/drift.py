"""Drift check benchmark: how many locks per second one process compares with what Latchkey
declares, the check every lock gets every 15 minutes.

    python bench/drift.py [--locks 1000] [--codes 5000] [--repeat 3] [--database-url URL] [--summary-json PATH]

The portfolio is programmed first (a sweep sets every code), so each lock holds its codes and
the check finds nothing to change: the steady state, which is what the check costs nearly always.
One database for all repetitions (SQLite in a temporary folder unless --database-url is given).
Prints a Markdown table; bench/run.py writes it into bench/RESULTS.md.
"""

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database, populate, setup_django, write_summary  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--locks", type=int, default=1000)
    parser.add_argument("--codes", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--summary-json", help="also write the median here, for bench/run.py")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(args.database_url or None, var_dir)
        from django.db import connection

        from codes import scheduler

        fresh_database()
        now = datetime.now(UTC)
        populate(total=args.codes, due=args.codes, devices=args.locks, now=now)
        scheduler.sweep(now=now)
        runs = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            counts = scheduler.check_drift(now=now)
            runs.append(time.perf_counter() - started)
            if counts != {"devices": args.locks, "changed": 0, "removed": 0, "unmanaged": 0}:
                raise SystemExit(f"the steady state was not steady: {counts}")
        median = statistics.median(runs)
        backend = connection.vendor
    print(f"\n### Drift check, {backend}: {args.locks} locks holding {args.codes} codes, one process\n")
    print(f"| check s (median of {args.repeat}) | min | max | locks per s |")
    print("|---:|---:|---:|---:|")
    print(f"| {median:.3f} | {min(runs):.3f} | {max(runs):.3f} | {args.locks / median:,.0f} |")
    print("\nEvery lock is checked every 15 minutes (`setup_schedules`), 96 times a day.")
    write_summary(args.summary_json, {"locks_per_s": args.locks / median, "locks": args.locks})


if __name__ == "__main__":
    main()
