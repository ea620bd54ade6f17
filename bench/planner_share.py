"""The slot planner's share of a sweep (issue 17): one populated SQLite database, copied afresh
before every sweep, swept in one process alternately as it is and with the planner planning
nothing (``scheduler._slot_plans`` answering no plans), in the order ABBA ABBA ... after one
warm-up sweep that is not counted.

    python bench/planner_share.py [--total 100000] [--pairs 8]

Separate processes per sweep (``bench/sweep.py``) vary by more than the planner costs on this
machine; pairs in one process, on the same data, resolve tens of milliseconds. Also times
``_slot_plans`` inside each planned sweep. 1,000 codes due on 2,000 sandbox locks of 500 slots
(``bench.common.populate``), so no lock is crowded: what is measured is what the planner costs
a sweep that needs no plan, the common case.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database, populate, setup_django  # noqa: E402

DUE, LOCKS = 1000, 2000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(None, var_dir)
        from django.db import connection

        from codes import scheduler

        fresh_database()
        now = datetime(2026, 11, 22, 12, tzinfo=UTC)
        populate(total=args.total, due=DUE, devices=LOCKS, now=now)
        path = str(connection.settings_dict["NAME"])
        connection.close()
        pristine = os.path.join(var_dir, "pristine.sqlite3")
        shutil.copyfile(path, pristine)

        planner = scheduler._slot_plans
        in_planner = [0.0]

        def timed_planner(*args, **kwargs):
            started = time.perf_counter()
            try:
                return planner(*args, **kwargs)
            finally:
                in_planner[0] += time.perf_counter() - started

        def no_plans(codes, *, now):
            return {}

        sweeps: dict[str, list[float]] = {"planned": [], "unplanned": []}
        planning: list[float] = []
        for n in range(-1, 2 * args.pairs):  # -1: the warm-up sweep
            kind = "planned" if n < 0 or n % 4 in (0, 3) else "unplanned"
            connection.close()
            for suffix in ("-wal", "-shm"):
                Path(path + suffix).unlink(missing_ok=True)
            shutil.copyfile(pristine, path)
            scheduler._slot_plans = timed_planner if kind == "planned" else no_plans
            in_planner[0] = 0.0
            started = time.perf_counter()
            report = scheduler.sweep(now=now)
            took = time.perf_counter() - started
            if report.claimed != DUE:
                raise SystemExit(f"the sweep claimed {report.claimed} codes, not {DUE}")
            if n >= 0:
                sweeps[kind].append(took)
                if kind == "planned":
                    planning.append(in_planner[0])
        scheduler._slot_plans = planner

    planned, unplanned = statistics.median(sweeps["planned"]), statistics.median(sweeps["unplanned"])
    print(
        f"\n### The planner's share of a sweep, sqlite: {DUE:,} due among {args.total:,} codes on "
        f"{LOCKS:,} locks, {args.pairs} pairs in one process\n\n"
        "| sweep with the planner (median) | without (median) | with / without "
        "| time in `_slot_plans` (median) |\n|---:|---:|---:|---:|\n"
        f"| {planned:.3f} s | {unplanned:.3f} s | {planned / unplanned:.2f}x "
        f"| {statistics.median(planning):.3f} s |\n\n"
        f"Load average {os.getloadavg()[0]:.2f} at the end.\n"
    )


if __name__ == "__main__":
    main()
