"""Readiness benchmark (issue 14): a simulated month on the sandbox fleet, judged from the locks.

    python bench/readiness.py [--locks 60] [--days 30] [--faults 150] [--seed 14]
                              [--database-url URL] [--summary-json PATH]

Stays are booked at many lead times on a fleet of every sandbox model; faults (locks offline
with and without a report, hubs down, slots full, PINs refused, codes never confirmed, keypads
missing, the maker's cloud raising, removals refused) begin at many lead times before a stay's
check-in; time moves only through the scheduler's own ``now`` (bench/readiness_sim.py says how).
Whether a stay works is read from the sandbox lock's memory at check-in, never from Latchkey's
status. The same seed gives the same month. Prints Markdown; bench/run.py writes it into
bench/RESULTS.md. Not a speed benchmark: its numbers are counts, the targets are issue 14's.
"""

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database, setup_django, write_summary  # noqa: E402


def hours(delta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def report(result: dict, *, args, backend: str, seconds: float, sweeps: int) -> str:
    failing, could = result["failing"], result["could_72h"]
    met_72 = [f for f in could if f.flagged_72h]
    mech4, mech5 = result["mechanism_4"], result["mechanism_5"]
    lines = [
        f"\n### Readiness month, {backend}: {args.locks} locks, {result['stays']} stays, "
        f"{args.faults} faults planned, seed {args.seed}\n",
        f"{args.days} simulated days in {seconds:.0f} s ({sweeps:,} sweeps). Judged from the sandbox "
        "locks' memory at each check-in; flags read after every step.\n",
        "| target (issue 14) | measured | met |",
        "|---|---:|:---:|",
        f"| silent failures (a failing stay never flagged by check-in): 0 | {len(result['silent'])} "
        f"| {'yes' if not result['silent'] else 'no'} |",
        f"| failures that could be flagged 72 h ahead and were | {len(met_72)} of {len(could)} "
        f"| {'yes' if len(met_72) == len(could) else 'no'} |",
        f"| false alarms, mechanism 4 (backup pulled for a code working on its lock): 0 | {len(mech4)} "
        f"| {'yes' if not mech4 else 'no'} |",
        f"| false alarms, mechanism 5 (code shown Failed while its PIN is on the lock): 0 | {len(mech5)} "
        f"| {'yes' if not mech5 else 'no'} |",
        "",
        f"Stays working at check-in: {result['working']} of {result['stays']}. "
        f"Failing: {len(failing)}, of which {sum(1 for f in failing if f.fault is None)} with no fault "
        "on their lock.\n",
    ]
    lines += [
        "| failing stays by fault | stays | could be flagged 72 h ahead | were | flagged later: median delay after the fault began (max) | never flagged |"
    ]
    lines += ["|---|---:|---:|---:|---:|---:|"]
    by_kind: dict = {}
    for f in failing:
        by_kind.setdefault(f.fault.kind if f.fault else "(no fault)", []).append(f)
    for kind, rows in sorted(by_kind.items()):
        late = sorted(
            f.first_flag.raised_at - max(f.fault.starts_at, f.stay.booked_at)
            for f in rows
            if f.fault and f.first_flag and not (f.could_flag_72h and f.flagged_72h)
        )
        delay = f"{hours(late[len(late) // 2])} ({hours(late[-1])})" if late else "-"
        lines.append(
            f"| {kind} | {len(rows)} | {sum(f.could_flag_72h for f in rows)} "
            f"| {sum(f.could_flag_72h and f.flagged_72h for f in rows)} | {delay} "
            f"| {sum(f.silent for f in rows)} |"
        )
    alarms = result["false_alarms"]
    lines += ["", "False alarms (a flag raised while no fault was on the stay's lock), by cause:", ""]
    if alarms:
        lines += ["| cause | flags |", "|---|---:|"]
        lines += [f"| {cause} | {n} |" for cause, n in sorted(alarms.items(), key=lambda kv: -kv[1])]
    else:
        lines.append("none.")
    left = result["left"]
    later = sorted(removed - stay.ends_at for stay, removed, _ in left if removed)
    lines += [
        "",
        f"Codes left on a lock an hour after `ends_at`: {len(left)}; flagged: "
        f"{sum(1 for _, _, flagged in left if flagged)}; removed later: {len(later)}"
        + (f" (median {hours(later[len(later) // 2])} after `ends_at`)." if later else "."),
    ]
    if left:
        causes = Counter(_fault_at_checkout(stay, result["faults"]) for stay, _, _ in left)
        lines.append("Left by: " + ", ".join(f"{k} {n}" for k, n in sorted(causes.items())) + ".")
    if mech5:
        lines += [
            "",
            "Mechanism 5, codes shown Failed while their PIN was on the lock (first seen, what blocked them):",
            "",
        ]
        lines += [f"- {at:%Y-%m-%d %H:%M} UTC: {', '.join(causes)}" for at, causes in sorted(mech5.values())]
    lines.append(
        f"\nBackups pulled: {len(result['pulls'])} (mechanism 4 counts those whose own PIN was on the lock)."
    )
    return "\n".join(lines) + "\n"


def _fault_at_checkout(stay, faults) -> str:
    """The fault on the stay's lock at its check-out, if any."""
    on = [f for f in faults if f.lock.pk == stay.lock.pk and f.starts_at <= stay.ends_at <= f.ends_at]
    return on[0].kind if on else "no fault"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--locks", type=int, default=60)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--faults", type=int, default=150)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--summary-json", help="also write the targets' numbers here, for bench/run.py")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(args.database_url or None, var_dir)
        from django.db import connection

        from bench import readiness_sim

        fresh_database()
        started = time.perf_counter()
        month = readiness_sim.run_month(locks=args.locks, days=args.days, faults=args.faults, seed=args.seed)
        seconds = time.perf_counter() - started
        result = readiness_sim.analyse(month)
        result["faults"] = month.faults
        backend = connection.vendor
        print(report(result, args=args, backend=backend, seconds=seconds, sweeps=month.sweeps))
    write_summary(
        args.summary_json,
        {
            "stays": result["stays"],
            "working": result["working"],
            "silent_failures": len(result["silent"]),
            "could_flag_72h": len(result["could_72h"]),
            "flagged_72h": sum(1 for f in result["could_72h"] if f.flagged_72h),
            "mechanism_4": len(result["mechanism_4"]),
            "mechanism_5": len(result["mechanism_5"]),
        },
    )


if __name__ == "__main__":
    main()
