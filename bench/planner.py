"""Slot planner benchmark: ``codes.lifecycle.plan_slots`` on one 500-slot lock holding 5,000
stays over a year (issue 17), pure Python with no database, measured side by side for a lock
with room to spare, a crowded one (ongoing codes hold most of its slots, so codes wait for
slots) and an overfull one (some stays cannot fit and are reported).

    python bench/planner.py [--codes 5000] [--slots 500] [--repeat 5] [--summary-json PATH]

Prints a Markdown table.
"""

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ADVANCE, REVIEW = timedelta(days=9), timedelta(hours=72)
NOW = datetime(2027, 1, 1, tzinfo=UTC)


def stays(count: int, *, fixed: int, seed: int = 17):
    from codes.lifecycle import SlotNeed

    rng = random.Random(seed)
    needs = [SlotNeed(("ongoing", n), NOW, NOW, None, fixed=True) for n in range(fixed)]
    for n in range(count):
        arrive = NOW + timedelta(days=rng.randrange(365), hours=15)
        leave = arrive + timedelta(days=rng.randint(1, 7)) - timedelta(hours=4)
        needs.append(SlotNeed(n, arrive - ADVANCE, arrive, leave))
    return needs


def run(*, codes: int, slots: int, repeat: int) -> list[dict]:
    from codes.lifecycle import plan_slots

    rows = []
    # Ongoing codes hold 84 % of a crowded lock's slots and 92 % of an overfull one's (420 and 460
    # of 500), so the stays wait for slots, or some cannot fit, at any size.
    crowded, overfull = slots - slots * 16 // 100, slots - slots * 8 // 100
    for label, fixed in (("room to spare", 0), ("crowded", crowded), ("overfull", overfull)):
        needs = stays(codes, fixed=fixed)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            plan = plan_slots(capacity=slots, needs=needs, now=NOW, review_lead=REVIEW)
            times.append(time.perf_counter() - t0)
        until = NOW + timedelta(days=400)
        peak = plan.peak(until)[1]
        early = sum(
            1
            for need in needs[fixed:]
            if plan.uses.get(need.key, None) and plan.uses[need.key].load_at == max(need.earliest, NOW)
        )
        rows.append(
            {
                "lock": label,
                "codes": codes,
                "ongoing": fixed,
                "slots": slots,
                "runs": repeat,
                "median_s": statistics.median(times),
                "min_s": min(times),
                "max_s": max(times),
                "peak": peak,
                "loaded_at_advance": early,
                "overflows": len(plan.overflows),
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| lock | stays | ongoing codes | slots | runs | plan s (median) | min | max | peak held | stays loaded at 9 days | overflows |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['lock']} | {r['codes']:,} | {r['ongoing']} | {r['slots']} | {r['runs']} | {r['median_s']:.3f} "
            f"| {r['min_s']:.3f} | {r['max_s']:.3f} | {r['peak']} | {r['loaded_at_advance']:,} | {r['overflows']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--codes", type=int, default=5000)
    parser.add_argument("--slots", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--summary-json", default=None)
    args = parser.parse_args()
    import tempfile

    from bench.common import setup_django

    # The planner reads no database; Django is set up only because lifecycle imports the models.
    setup_django(None, tempfile.mkdtemp(prefix="bench-planner-"))
    rows = run(codes=args.codes, slots=args.slots, repeat=args.repeat)
    print(f"### Slot planner: one {args.slots}-slot lock, {args.codes:,} stays over a year\n")
    print(table(rows))
    if args.summary_json:
        import json

        Path(args.summary_json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
