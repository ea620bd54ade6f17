"""Worker scaling benchmark, production profile: how fast a backlog of due codes is programmed by
one django-q2 cluster, and by two sharing the work, on PostgreSQL with Redis as the broker.

    python bench/workers.py --database-url URL [--redis-url redis://127.0.0.1:6379/14]
                            [--due 20000] [--total 50000] [--devices 2000] [--clusters 1 2] [--repeat 2]

Each measurement gets a fresh database holding ``--total`` codes on sandbox locks, ``--due`` of
them due, and an emptied Redis database. It starts N ``manage.py qcluster`` processes (one
worker each, DEBUG off, as N worker machines would run), waits until all report to Redis, then
enqueues one sweep task per cluster at once, as overlapping minutes' sweeps do when a backlog
outlasts a minute. The sweeps claim batches with SKIP LOCKED, so they share the backlog. The
time is from the first task's start to the last one's end, as django-q2 records them.

Every process runs on this machine, PostgreSQL and Redis included: two clusters share its cores
with each other and with the database, so the gain measured here is a lower bound for a second
machine. Prints a Markdown table; bench/run.py writes it into bench/RESULTS.md.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    DEFAULT_POSTGRES_URL,
    fresh_database,
    populate,
    production_env,
    setup_django,
    stop,
    write_summary,
)

SWEEP_TASK = "codes.tasks.sweep_due_codes"


# Its own Redis database, which each run empties (the tests use 15).
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"


def wait_for_clusters(count: int, clusters: list[subprocess.Popen], timeout: float = 60) -> None:
    from django_q.status import Stat

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(c.poll() is not None for c in clusters):
            raise SystemExit("a qcluster process exited before it started working")
        if len([s for s in Stat.get_all() if s.status in ("Idle", "Working")]) >= count:
            return
        time.sleep(0.2)
    raise SystemExit(f"{count} clusters did not report to Redis within {timeout} s")


def one_run(*, clusters_count: int, args, var_dir: str) -> dict:
    import redis
    from django.db import connection
    from django.utils import timezone
    from django_q.models import Task
    from django_q.tasks import async_task

    from codes.models import AccessCode

    fresh_database()
    now = timezone.now() - timedelta(seconds=1)
    populate(total=args.total, due=args.due, devices=args.devices, now=now)
    redis.Redis.from_url(args.redis_url).flushdb()  # our own database number: stale tasks and stats
    connection.close()
    env = production_env(
        var_dir=var_dir, database_url=args.database_url, REDIS_URL=args.redis_url, Q_WORKERS="1"
    )
    clusters = []
    try:
        for _ in range(clusters_count):
            clusters.append(
                subprocess.Popen(  # noqa: S603 (our own interpreter and manage.py)
                    [sys.executable, "manage.py", "qcluster"],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    start_new_session=True,  # its own process group: stop() ends its children
                )
            )
        wait_for_clusters(clusters_count, clusters)
        for _ in range(clusters_count):
            async_task(SWEEP_TASK)
        deadline = time.monotonic() + 600
        while Task.objects.filter(func=SWEEP_TASK).count() < clusters_count:
            if time.monotonic() > deadline:
                raise SystemExit("the sweeps did not finish within 600 s")
            time.sleep(0.2)
    finally:
        for cluster in clusters:
            stop(cluster)
    tasks = list(Task.objects.filter(func=SWEEP_TASK))
    if not all(t.success for t in tasks):
        raise SystemExit(f"a sweep task failed: {[t.result for t in tasks if not t.success]}")
    span_s = (max(t.stopped for t in tasks) - min(t.started for t in tasks)).total_seconds()
    return {
        "clusters": clusters_count,
        "span_s": span_s,
        "claimed_by_task": sorted(t.result["claimed"] for t in tasks),
        "left_due": AccessCode.objects.filter(next_attempt_at__lte=now).count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--due", type=int, default=20_000)
    parser.add_argument("--total", type=int, default=50_000)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--clusters", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--summary-json", help="also write the medians here, for bench/run.py")
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        raise SystemExit("--database-url: the production profile is PostgreSQL")
    os.environ["REDIS_URL"] = args.redis_url  # this process enqueues on Redis too
    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(args.database_url, var_dir)
        runs = [
            one_run(clusters_count=count, args=args, var_dir=var_dir)
            for _ in range(args.repeat)  # interleaved, so machine noise hits every count alike
            for count in args.clusters
        ]
    print(
        f"\n### Worker scaling, postgresql + Redis: {args.due:,} due codes among {args.total:,} "
        f"on {args.devices:,} locks\n"
    )
    print(
        "| qcluster processes (1 worker each) | runs | backlog time s (median) | min | max "
        "| codes programmed per s | per minute | codes each sweep claimed (last run) | due left after |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    rate = {}
    for count in args.clusters:
        mine = [r for r in runs if r["clusters"] == count]
        spans = [r["span_s"] for r in mine]
        rate[count] = args.due / statistics.median(spans)
        print(
            f"| {count} | {len(mine)} | {statistics.median(spans):.2f} | {min(spans):.2f} | {max(spans):.2f} "
            f"| {rate[count]:,.0f} | {rate[count] * 60:,.0f} | {' + '.join(f'{n:,}' for n in mine[-1]['claimed_by_task'])} "
            f"| {max(r['left_due'] for r in mine)} |"
        )
    first, last = args.clusters[0], args.clusters[-1]
    print(f"\nRatio {last} / {first} clusters, codes per second: {rate[last] / rate[first]:.2f}x")
    write_summary(args.summary_json, {"per_s_by_clusters": {str(k): v for k, v in rate.items()}})


if __name__ == "__main__":
    main()
