"""Where an API read's time goes: ``access_codes/get`` and ``access_codes/list`` (a page of 100)
called in one process through Django's whole request handling (the test client: middleware,
DRF, the route), under cProfile, with DEBUG off.

    python bench/profile_api.py [--database-url URL] [--requests 500] [--top 25] [--sort tottime]

Prints, per route, the time per request and cProfile's top functions, and the queries each
request runs. Not a rate to compare with the load test (no gunicorn, no network, and the
profiler's own overhead): a map of where the time goes.
"""

import argparse
import cProfile
import io
import os
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import fresh_database, populate, setup_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-profile", action="store_true", help="the side-by-side times only")
    parser.add_argument("--explain", action="store_true", help="also the database's plan of each query")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(args.database_url, var_dir)
        from django.conf import settings
        from django.db import connection
        from django.test import Client
        from django.utils import timezone

        from codes.models import AccessCode
        from devices.services import api_key_create, workspace_get_or_create

        settings.DEBUG = False
        settings.ALLOWED_HOSTS = ["testserver"]
        settings.ROOT_URLCONF = "bench.load_urls"  # with the load test's baselines
        fresh_database()
        workspace = workspace_get_or_create(name="Profile")
        locks = populate(total=10_000, due=0, devices=100, now=timezone.now(), workspace=workspace)
        _, key = api_key_create(workspace=workspace, name="profile")
        code_ids = [str(pk) for pk in AccessCode.objects.values_list("pk", flat=True)]
        random.Random(0).shuffle(code_ids)
        client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")

        def get(n):
            return client.post(
                "/api/access_codes/get",
                {"access_code_id": code_ids[n % len(code_ids)]},
                content_type="application/json",
            )

        def list_(n):
            return client.get("/api/access_codes/list", {"device_id": str(locks[n % len(locks)].pk)})

        def baseline(path):
            def call(n):
                return client.post(
                    path, {"access_code_id": code_ids[n % len(code_ids)]}, content_type="application/json"
                )

            return call

        # Side by side, interleaved in rounds; the fastest round of each counts (the machine is shared).
        calls = {
            "bare view": baseline("/bench/bare"),
            "one-row ORM view": baseline("/bench/orm_row"),
            "access_codes/get": get,
            "access_codes/list (100 codes)": list_,
        }
        per_request = {name: float("inf") for name in calls}
        for call in calls.values():
            for n in range(20):
                assert call(n).status_code == 200  # noqa: S101
        for _ in range(args.rounds):
            for name, call in calls.items():
                # CPU time of this process (on SQLite the database's work too; on PostgreSQL not
                # the server's): far less disturbed by the machine's other load than wall time.
                started = time.process_time()
                for n in range(args.requests // args.rounds):
                    call(n)
                per_request[name] = min(
                    per_request[name], (time.process_time() - started) / (args.requests // args.rounds)
                )
        orm = per_request["one-row ORM view"]
        for name, took in per_request.items():
            print(
                f"{name}: {took * 1000:.2f} ms of CPU a request (fastest of {args.rounds} rounds), "
                f"ratio to the one-row ORM view {orm / took:.2f}"
            )

        for name, call in (
            () if args.no_profile else (("access_codes/get", get), ("access_codes/list (100 codes)", list_))
        ):
            queries = []
            with connection.execute_wrapper(
                lambda execute, sql, params, *a, seen=queries: (
                    seen.append((sql, params)) or execute(sql, params, *a)
                )
            ):
                call(0)
            profiler = cProfile.Profile()
            started = time.perf_counter()
            profiler.enable()
            for n in range(args.requests):
                call(n)
            profiler.disable()
            took = time.perf_counter() - started
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
            print(
                f"\n## {name} on {connection.vendor}: {took / args.requests * 1000:.2f} ms a request "
                f"under the profiler, {len(queries)} queries"
            )
            for sql, params in queries:
                print(f"    {sql[:300]}")
                if args.explain:
                    with connection.cursor() as cursor:
                        cursor.execute(
                            ("EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN ") + sql,
                            params,
                        )
                        print("      " + "\n      ".join(str(r) for r in cursor.fetchall()))
            print(out.getvalue())
    os._exit(0)


if __name__ == "__main__":
    main()
