"""Memory benchmark: the peak memory of the work that runs over a whole portfolio (the drift
check, a scheduler sweep, processing inbound webhooks), at portfolios of growing size.

    python bench/memory.py [--totals 10000 100000] [--codes-per-lock 5] [--deliveries 2000]
                           [--database-url URL] [--summary-json PATH]

Each size gets a fresh database (SQLite in a temporary folder unless --database-url is given)
holding ``total`` codes on ``total / codes-per-lock`` sandbox locks, 1,000 of them due. Then,
in one process, each of: ``check_drift`` over every lock; one ``sweep`` (the 1,000 due codes);
``process_inbound_batch`` over ``--deliveries`` signed callbacks stored beforehand. For each,
the peak of Python's own allocations while it ran (tracemalloc, which counts every object the
work made and still held at its peak; it slows Python down, so no time is reported here) and
how far it raised the process's peak RSS (0 when it stayed below what populating set). Flat
means the same peak at every size.
"""

import argparse
import gc
import resource
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database, populate, setup_django, write_summary  # noqa: E402


def measured(work) -> dict:
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    tracemalloc.reset_peak()
    result = work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    return {"peak_mib": peak / 2**20, "rss_growth_mib": rss_growth / 1024, "result": result}


def store_deliveries(devices, count: int) -> None:
    """``count`` signed set_on_device callbacks for codes of the portfolio, received and stored
    (their hand-off to a task is not run: they wait as pending)."""
    import json

    from django.test import Client
    from django.utils import timezone
    from svix.webhooks import Webhook

    from codes.models import AccessCode
    from devices.models import ConnectedAccount, ProviderKind

    account = ConnectedAccount.objects.create(workspace=devices[0].workspace, provider=ProviderKind.SEAM)
    codes = list(
        AccessCode.objects.filter(device__in=devices[:100]).order_by("pk")[:count]
    )  # at most 100 locks' codes
    AccessCode.objects.filter(pk__in=[c.pk for c in codes]).update(status="setting", sent_version=1)
    for n, code in enumerate(codes):
        code.provider_code_id = f"seam-code-{n}"
    AccessCode.objects.bulk_update(codes, ["provider_code_id"])
    for device in devices[:100]:
        device.connected_account = account
        device.provider_device_id = f"seam-{device.pk}"
    type(devices[0]).objects.bulk_update(devices[:100], ["connected_account", "provider_device_id"])
    webhook = Webhook(account.webhook_secret)
    at = timezone.now()
    client = Client(HTTP_HOST="localhost")
    for n, code in enumerate(codes):
        body = json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "event_type": "access_code.set_on_device",
                "device_id": f"seam-{code.device_id}",
                "access_code_id": f"seam-code-{n}",
                "occurred_at": at.isoformat(),
            }
        )
        client.post(
            f"/webhooks/seam/{account.pk}/",
            data=body,
            content_type="application/json",
            HTTP_SVIX_ID=f"msg_{n}",
            HTTP_SVIX_TIMESTAMP=str(int(at.timestamp())),
            HTTP_SVIX_SIGNATURE=webhook.sign(f"msg_{n}", at, body),
        )


def one_size(total: int, *, codes_per_lock: int, deliveries: int) -> dict:
    from codes import scheduler
    from webhooks import tasks
    from webhooks.models import InboundDelivery, InboundStatus

    fresh_database()
    now = datetime.now(UTC)
    started = time.perf_counter()
    locks = populate(total=total, due=1000, devices=total // codes_per_lock, now=now)
    populated_s = time.perf_counter() - started
    drift = measured(lambda: scheduler.check_drift(now=now))
    sweep = measured(lambda: scheduler.sweep(now=now))
    store_deliveries(locks, deliveries)
    # Processed by the task itself; pending ones left from the hand-off of a previous batch are
    # what it is there for.
    webhooks = measured(tasks.process_inbound_batch)
    processed = InboundDelivery.objects.filter(status=InboundStatus.PROCESSED).count()
    return {
        "total": total,
        "locks": len(locks),
        "populate_s": populated_s,
        "drift": drift,
        "sweep": sweep,
        "webhooks": webhooks,
        "processed": processed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--totals", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--codes-per-lock", type=int, default=5)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--database-url")
    parser.add_argument("--summary-json")
    parser.add_argument("--repeat", help=argparse.SUPPRESS)  # bench/run.py passes it to all
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(args.database_url, var_dir)
        from django.conf import settings
        from django.db import connection

        # DEBUG (which setup_django sets) keeps the last 9,000 queries' SQL: memory that grows
        # with the work until that bound, and is no part of it.
        settings.DEBUG = False

        runs = []
        for total in args.totals:
            if connection.vendor == "sqlite":
                connection.close()
                Path(var_dir, "latchkey.sqlite3").unlink(missing_ok=True)
            runs.append(one_size(total, codes_per_lock=args.codes_per_lock, deliveries=args.deliveries))
        vendor = connection.vendor
    print(
        f"\n### Memory, {vendor}: peak while the work ran, {args.codes_per_lock} codes a lock, "
        f"1,000 due, {args.deliveries} pending callbacks\n"
    )
    print(
        "| total codes | locks | drift check: peak MiB (tracemalloc) | RSS growth MiB | sweep: peak MiB "
        "| RSS growth MiB | webhook batches: peak MiB | RSS growth MiB | callbacks processed |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in runs:
        print(
            f"| {r['total']:,} | {r['locks']:,} | {r['drift']['peak_mib']:.1f} | {r['drift']['rss_growth_mib']:.1f} "
            f"| {r['sweep']['peak_mib']:.1f} | {r['sweep']['rss_growth_mib']:.1f} "
            f"| {r['webhooks']['peak_mib']:.1f} | {r['webhooks']['rss_growth_mib']:.1f} | {r['processed']:,} |"
        )
    first, last = runs[0], runs[-1]
    print(
        f"\nRatio of peaks, {last['total']:,} / {first['total']:,} codes: drift check "
        f"{last['drift']['peak_mib'] / first['drift']['peak_mib']:.2f}x, sweep "
        f"{last['sweep']['peak_mib'] / first['sweep']['peak_mib']:.2f}x, webhook batches "
        f"{last['webhooks']['peak_mib'] / first['webhooks']['peak_mib']:.2f}x."
    )
    write_summary(
        args.summary_json,
        {
            "backend": vendor,
            "peaks_mib": {
                str(r["total"]): {k: r[k]["peak_mib"] for k in ("drift", "sweep", "webhooks")} for r in runs
            },
        },
    )


if __name__ == "__main__":
    main()
