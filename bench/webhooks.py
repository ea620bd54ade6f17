"""Inbound webhook benchmark: verified and stored deliveries per second, and processed events per
second, on one process.

    python bench/webhooks.py [--deliveries 2000] [--repeat 3] [--database-url URL] [--summary-json PATH]

Receiving is measured end to end through Django's request handling (URL routing, middleware,
the view): each request carries a distinct Seam event, signed with svix beforehand so signing
is not counted; Latchkey verifies it, stores it in one insert and hands the processing task to
django-q2's ORM broker after the commit, as in production. Processing is measured by running
the queued task's function (``webhooks.tasks.process_inbound_batch``: batches of 200 pending
deliveries, one transaction each) over the stored deliveries, or with ``--one-by-one`` each
delivery in its own transaction (``inbound_process``, as before issue 21): each is an
``access_code.set_on_device`` for a different code, applied through the codes services with its
event. Receiving queues one processing task per burst (at most one each 2 s), not one each.

Each repetition gets a fresh database (SQLite in a temporary folder unless --database-url is
given). Prints a Markdown table; bench/run.py writes it into bench/RESULTS.md.
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database, setup_django, write_summary  # noqa: E402


def populate(codes: int):
    from codes.models import AccessCode, AccessCodeStatus, AccessCodeType
    from devices.models import ConnectedAccount, Device, ProviderKind, Workspace

    workspace = Workspace.objects.create(name=f"Bench {uuid.uuid4()}")
    account = ConnectedAccount.objects.create(workspace=workspace, provider=ProviderKind.SEAM)
    devices = Device.objects.bulk_create(
        Device(
            workspace=workspace,
            connected_account=account,
            provider_device_id=f"seam-device-{n}",
            device_type="schlage_lock",
            display_name=f"Door {n}",
            has_native_scheduling=True,
        )
        for n in range(100)
    )
    AccessCode.objects.bulk_create(
        AccessCode(
            workspace=workspace,
            device=devices[n % len(devices)],
            code=f"{100000 + n:06d}",
            name=f"Guest {n}",
            type=AccessCodeType.ONGOING,
            status=AccessCodeStatus.SETTING,
            provider_code_id=f"seam-code-{n}",
            sent_version=1,
        )
        for n in range(codes)
    )
    return account, devices


def signed_requests(account, devices, count: int) -> list[tuple[bytes, dict]]:
    import json

    from django.utils import timezone
    from svix.webhooks import Webhook

    webhook = Webhook(account.webhook_secret)
    at = timezone.now()
    requests = []
    for n in range(count):
        body = json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "event_type": "access_code.set_on_device",
                "device_id": devices[n % len(devices)].provider_device_id,
                "access_code_id": f"seam-code-{n}",
                "occurred_at": at.isoformat(),
            }
        )
        msg_id = f"msg_{n}"
        headers = {
            "HTTP_SVIX_ID": msg_id,
            "HTTP_SVIX_TIMESTAMP": str(int(at.timestamp())),
            "HTTP_SVIX_SIGNATURE": webhook.sign(msg_id, at, body),
        }
        requests.append((body.encode(), headers))
    return requests


# Receiving is measured in rounds of this many requests, each round the three routes in turn.
ROUND = 250


def one_run(count: int, *, one_by_one: bool = False, threads: int = 1) -> dict:
    from django.db import connections
    from django.test import Client
    from django_q.models import OrmQ

    from webhooks import tasks
    from webhooks.models import InboundDelivery, InboundStatus
    from webhooks.services import inbound

    fresh_database()
    account, devices = populate(count)
    requests = signed_requests(account, devices, count)
    url = f"/webhooks/seam/{account.pk}/"
    # One process serving ``threads`` requests at once (a gunicorn gthread worker): each thread
    # its own client and database connection. With one thread, the caller's own.
    pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None
    local = threading.local()

    def send(name, path, part):
        client = getattr(local, "client", None) or Client(HTTP_HOST="localhost")
        local.client = client
        for body, headers in part:
            response = client.post(
                path, data=body, content_type="application/json", **(headers if name == "latchkey" else {})
            )
            if response.status_code != 200:
                raise SystemExit(f"{path}: answered {response.status_code}: {response.content[:200]!r}")

    # Side by side, round by round: the same bodies to the two floors (bench/load_urls.py), then
    # the signed ones to Latchkey, so machine noise hits the three alike.
    seconds = {"bare": 0.0, "store_row": 0.0, "latchkey": 0.0}
    for start in range(0, count, ROUND):
        chunk = requests[start : start + ROUND]
        for name, path in (("bare", "/bench/bare"), ("store_row", "/bench/store_row"), ("latchkey", url)):
            started = time.perf_counter()
            if pool is None:
                send(name, path, chunk)
            else:
                list(
                    pool.map(
                        lambda part, n=name, p=path: send(n, p, part),
                        [chunk[i::threads] for i in range(threads)],
                    )
                )
            seconds[name] += time.perf_counter() - started
    if pool is not None:
        # Each thread's connection closed in that thread, before the database is read or dropped.
        barrier = threading.Barrier(threads)  # so that each thread takes exactly one

        def close(_):
            barrier.wait()
            connections.close_all()

        list(pool.map(close, range(threads)))
        pool.shutdown()
    stored = InboundDelivery.objects.filter(status=InboundStatus.PENDING).count()
    queued = OrmQ.objects.count()
    InboundDelivery.objects.filter(connected_account=None).delete()  # the floor's rows

    ids = list(InboundDelivery.objects.order_by("received_at").values_list("pk", flat=True))
    started = time.perf_counter()
    if one_by_one:
        for pk in ids:
            inbound.inbound_process(delivery_id=pk)
    else:
        tasks.process_inbound_batch()  # what the queued task runs: batches until none is pending
    process_s = time.perf_counter() - started
    processed = InboundDelivery.objects.filter(status=InboundStatus.PROCESSED).count()
    return {
        "receive_rate": count / seconds["latchkey"],
        "bare_rate": count / seconds["bare"],
        "store_row_rate": count / seconds["store_row"],
        "process_rate": len(ids) / process_s,
        "stored": stored,
        "queued": queued,
        "processed": processed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url")
    parser.add_argument("--summary-json", help="also write the medians here, for bench/run.py")
    parser.add_argument(
        "--one-by-one",
        action="store_true",
        help="process each delivery in its own transaction (inbound_process), as before batches",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="requests served at once by the one process, each thread with its own connection "
        "(a gunicorn gthread worker); PostgreSQL only",
    )
    args = parser.parse_args()
    if args.threads > 1 and not (args.database_url or "").startswith("postgres"):
        parser.error("--threads needs PostgreSQL (SQLite takes one writer at a time)")
    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(args.database_url, var_dir)
        from django.conf import settings
        from django.db import connection
        from django.urls import clear_url_caches

        # As production serves: DEBUG off (on, Django logs every query's SQL), plus the floors.
        settings.DEBUG = False
        settings.ROOT_URLCONF = "bench.load_urls"
        clear_url_caches()

        vendor = connection.vendor
        runs = []
        for _ in range(args.repeat):
            if vendor == "sqlite":  # PostgreSQL's schema is dropped by fresh_database
                connection.close()
                Path(var_dir, "latchkey.sqlite3").unlink(missing_ok=True)
            runs.append(one_run(args.deliveries, one_by_one=args.one_by_one, threads=args.threads))
    receive = [r["receive_rate"] for r in runs]
    process = [r["process_rate"] for r in runs]
    store_row = [r["store_row_rate"] for r in runs]
    bare = [r["bare_rate"] for r in runs]
    last = runs[-1]

    def row(label, rates, *, ratios=True):
        line = f"| {label} | {statistics.median(rates):,.0f} | {min(rates):,.0f} | {max(rates):,.0f} |"
        if ratios:
            to_store = statistics.median(r / s for r, s in zip(rates, store_row, strict=True))
            to_bare = statistics.median(r / b for r, b in zip(rates, bare, strict=True))
            line += f" {to_store:.2f} | {to_bare:.2f} |"
        else:
            line += " | |"
        return line + "\n"

    print(
        f"\n### Inbound webhooks, {vendor}: {args.deliveries} signed deliveries, one process"
        + (f" serving {args.threads} requests at once (threads)" if args.threads > 1 else "")
        + "\n\n"
        f"| measure | per second (median of {len(runs)}) | min | max | ratio to storing a row "
        "| ratio to the bare view |\n|---|---:|---:|---:|---:|---:|\n"
        + row("floor: a bare Django view answering JSON (same middleware)", bare)
        + row("floor: a Django view storing the body as one row through the ORM", store_row)
        + row("verified and stored (HTTP request to 200, task queued)", receive)
        + row(
            "processed (code set, event written)"
            + (" one by one" if args.one_by_one else ", in batches of 200"),
            process,
            ratios=False,
        )
        + "\n"
        "Receiving: Django's test client in one process"
        + (f" from {args.threads} threads, each with its own connection" if args.threads > 1 else "")
        + ", DEBUG off, the three routes interleaved in "
        f"rounds of {ROUND} requests. "
        f"Last run: {last['stored']} stored pending, {last['queued']} tasks queued on the ORM broker, "
        f"{last['processed']} processed. Targets: issue 6, at least 500 verified and stored per second "
        "on SQLite; issue 21, per process on PostgreSQL at least 1,000 stored and 300 processed.\n"
    )
    write_summary(
        args.summary_json,
        {
            "backend": vendor,
            "receive_per_s": statistics.median(receive),
            "store_row_per_s": statistics.median(store_row),
            "bare_per_s": statistics.median(bare),
            "process_per_s": statistics.median(process),
        },
    )


if __name__ == "__main__":
    main()
