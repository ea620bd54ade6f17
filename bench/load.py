"""API load test: the main API routes served by gunicorn in the production profile, loaded by
wrk from a second process over loopback. This is Latchkey's API benchmark.

    python bench/load.py [--database-url URL] [--duration 12] [--connections 8] [--threads 2]
                         [--workers 3] [--doors 400] [--codes 4000] [--summary-json PATH]

It builds a fresh database (SQLite in a temporary folder unless --database-url is given) holding
a portfolio: the sandbox fleet (``seed_sandbox``), ``--doors`` locks two to a property and
``--codes`` access codes on them, and an API key (the ``create_api_key`` service). It then starts
gunicorn on ``config.wsgi`` with DEBUG off and runs wrk (bench/wrk/routes.lua) against one route
at a time, for ``--duration`` seconds each, after a short warm-up. Needs ``wrk`` on PATH
(``make bench`` installs Debian's). Prints a Markdown table; bench/run.py writes it into
bench/RESULTS.md.
"""

import argparse
import io
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    fresh_database,
    populate,
    production_env,
    setup_django,
    stop,
    write_summary,
)

LUA_SCRIPT = ROOT / "bench" / "wrk" / "routes.lua"
# Reads first, then writes: the creates add codes, which the reads should not see grow.
ROUTES = [
    ("devices/list", "POST", "first page (100 of the workspace's locks)"),
    ("access_codes/list", "GET", "one lock's codes"),
    ("access_codes/get", "POST", "one code by id"),
    ("access_codes/update", "POST", "rename a code (a write: new version, event)"),
    ("access_codes/create", "POST", "a new stay on a lock, PIN chosen by Latchkey"),
]


def seed(*, doors: int, codes: int, ids_path: Path) -> str:
    """The portfolio the API is loaded against; returns the raw API key."""
    from django.core.management import call_command
    from django.utils import timezone

    from codes.models import AccessCode
    from devices.services import api_key_create, workspace_get_or_create

    workspace_name = "Load test"
    call_command("seed_sandbox", workspace=workspace_name, stdout=io.StringIO(), stderr=io.StringIO())
    workspace = workspace_get_or_create(name=workspace_name)
    # Creates go to these locks only: the fleet's small-memory lock has 3 slots, for example.
    locks = populate(
        total=codes, due=0, devices=doors, now=timezone.now(), workspace=workspace, doors_per_property=2
    )
    _, raw_key = api_key_create(workspace=workspace, name="wrk")
    # Shuffled, so that consecutive requests go to different locks (and rows), as a booking
    # system's traffic does; fixed seed, so every run sends the same sequence.
    shuffle = random.Random(0).shuffle
    device_ids = [str(lock.pk) for lock in locks]
    code_ids = [str(pk) for pk in AccessCode.objects.filter(workspace=workspace).values_list("pk", flat=True)]
    shuffle(device_ids)
    shuffle(code_ids)
    ids_path.write_text(
        "".join(f"device {pk}\n" for pk in device_ids) + "".join(f"code {pk}\n" for pk in code_ids)
    )
    return raw_key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(base_url: str, api_key: str, server: subprocess.Popen, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode} before serving")
        try:
            response = httpx.post(
                f"{base_url}/api/devices/list",
                json={"limit": 1},
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=5,
            )
            if response.status_code == 200:
                return
            raise SystemExit(f"gunicorn answered {response.status_code}: {response.text[:300]}")
        except httpx.TransportError:
            time.sleep(0.3)
    raise SystemExit(f"gunicorn did not answer on {base_url} within {timeout} s")


def run_wrk(*, base_url: str, route: str, api_key: str, ids_path: Path, args, duration: int) -> dict:
    command = [
        shutil.which("wrk") or "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        base_url,
        "--",
        api_key,
        route,
        str(ids_path),
        str(args.threads),
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 60)  # noqa: S603
    result, first_error = None, ""
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line.removeprefix("RESULT "))
        elif line.startswith("FIRST_ERROR "):
            first_error = line.removeprefix("FIRST_ERROR ")
    if result is None:
        raise SystemExit(f"wrk printed no result for {route}:\n{out.stdout}\n{out.stderr}")
    result["first_error"] = first_error
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--duration", type=int, default=12, help="seconds of load per route")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before the first route")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers")
    parser.add_argument("--doors", type=int, default=400)
    parser.add_argument("--codes", type=int, default=4000)
    parser.add_argument("--summary-json", help="also write requests per second here, for bench/run.py")
    # Kept for bench/run.py, which passes --repeat to every benchmark: the routes run once each.
    parser.add_argument("--repeat", help=argparse.SUPPRESS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as var_dir:
        setup_django(args.database_url, var_dir)
        from django.core.management import call_command
        from django.db import connection

        from codes.models import AccessCode

        fresh_database()
        # As a deployment does; whitenoise looks for the collected files when a worker starts.
        call_command("collectstatic", interactive=False, verbosity=0)
        ids_path = Path(var_dir, "ids.txt")
        api_key = seed(doors=args.doors, codes=args.codes, ids_path=ids_path)
        vendor = connection.vendor
        connection.close()  # gunicorn's workers open their own

        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        error_log = Path(var_dir, "gunicorn.log")
        server = subprocess.Popen(  # noqa: S603 (our own interpreter)
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--worker-class",
                "sync",
                "--workers",
                str(args.workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                "--error-logfile",
                str(error_log),
            ],
            cwd=ROOT,
            env=production_env(var_dir=var_dir, database_url=args.database_url),
            start_new_session=True,  # its own process group, so stop() ends the workers too
        )
        results = {}
        try:
            wait_until_serving(base_url, api_key, server)
            # Every worker imports and connects lazily; the first requests would pay for that.
            run_wrk(
                base_url=base_url,
                route="access_codes/get",
                api_key=api_key,
                ids_path=ids_path,
                args=args,
                duration=args.warmup,
            )
            for route, _, _ in ROUTES:
                results[route] = run_wrk(
                    base_url=base_url,
                    route=route,
                    api_key=api_key,
                    ids_path=ids_path,
                    args=args,
                    duration=args.duration,
                )
        finally:
            stop(server)
        created = AccessCode.objects.filter(name__startswith="Load guest").count()
        renamed = AccessCode.objects.filter(name__startswith="Renamed").count()
        log_lines = [line for line in error_log.read_text().splitlines() if line.strip()]

    print(
        f"\n### API load test, {vendor}: gunicorn with {args.workers} sync workers, "
        f"wrk with {args.threads} threads and {args.connections} connections, {args.duration} s per route\n"
    )
    print(
        f"Portfolio: {args.doors} locks in {args.doors // 2} properties plus the 6-lock sandbox fleet, "
        f"{args.codes:,} codes. DEBUG off; one route at a time.\n"
    )
    print(
        "| route | method | what each request does | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | socket errors |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for route, method, what in ROUTES:
        r = results[route]
        socket_errors = r["connect"] + r["read"] + r["write"] + r["timeout"]
        r["per_s"] = r["requests"] / (r["duration_us"] / 1e6)
        print(
            f"| `{route}` | {method} | {what} | {r['requests']:,} | {r['per_s']:,.0f} "
            f"| {r['p50_us'] / 1000:.1f} | {r['p90_us'] / 1000:.1f} | {r['p99_us'] / 1000:.1f} "
            f"| {r['max_us'] / 1000:.0f} | {r['non2xx']} | {socket_errors} |"
        )
    print()
    create = results["access_codes/create"]
    print(
        f"Check: wrk counted {create['requests'] - create['non2xx']:,} successful creates; the database "
        f"holds {created:,} created codes (requests still in flight when wrk stops may add up to "
        f"{args.connections}); {renamed:,} codes carry an update's name. "
        f"gunicorn's error log has {len(log_lines)} lines at WARNING or above."
    )
    for route, r in results.items():
        if r["first_error"]:
            print(f"\nFirst non-2xx answer on `{route}`: `{r['first_error'][:300]}`")
    for line in log_lines[:5]:
        print(f"\n    {line}")
    write_summary(
        args.summary_json,
        {
            "backend": vendor,
            "workers": args.workers,
            "per_s": {route: r["per_s"] for route, r in results.items()},
            "p99_ms": {route: r["p99_us"] / 1000 for route, r in results.items()},
            "median_per_s": statistics.median(r["per_s"] for r in results.values()),
        },
    )


if __name__ == "__main__":
    main()
