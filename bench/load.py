"""API load test: the main API routes served by gunicorn in the production profile, loaded by
wrk from a second process over loopback, beside two baselines served by the same gunicorn.
This is Latchkey's API benchmark.

    python bench/load.py [--database-url URL] [--rounds 3] [--duration 4] [--connections 8]
                         [--threads 2] [--workers 3] [--doors 100] [--codes 10000]
                         [--summary-json PATH]

It builds a fresh database (SQLite in a temporary folder unless --database-url is given) holding
a portfolio: the sandbox fleet (``seed_sandbox``), ``--doors`` locks two to a property and
``--codes`` access codes on them (by default 100 a lock, so ``access_codes/list`` answers a full
page of 100), and an API key (the ``create_api_key`` service). It then starts gunicorn with DEBUG
off on Latchkey's settings plus the benchmark's own URL module (bench/load_settings.py,
bench/load_urls.py), which mounts the two baselines: a bare JSON view of an access code's size
and a view reading one access-code row through the ORM, behind the same middleware. wrk
(bench/wrk/routes.lua) loads one route at a time for ``--duration`` seconds; the routes are
interleaved round by round (``--rounds``), so the machine's noise (it is shared) hits each alike,
and each route's req/s is reported as a ratio to both baselines. Needs ``wrk`` on PATH (``make
bench`` installs Debian's). Prints Markdown tables; bench/run.py writes them into
bench/RESULTS.md.
"""

import argparse
import functools
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
BASELINES = ("baseline/bare", "baseline/orm_row")
# Reads first, then writes, in every round: creates add codes, but a list's page stays 100.
ROUTES = [
    ("baseline/bare", "POST", "baseline: a bare Django JSON view answering an access code's size"),
    ("baseline/orm_row", "POST", "baseline: a Django view reading one access-code row by id (ORM)"),
    ("devices/list", "POST", "first page (100 of the workspace's locks)"),
    ("access_codes/list", "GET", "one lock's codes (a page of 100)"),
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


def combined(rounds: list[dict]) -> dict:
    """One route's rounds as one measurement: requests over the summed duration; the median
    round's latencies but the worst round's p99 and max; errors summed."""
    total = {key: sum(r[key] for r in rounds) for key in ("requests", "duration_us", "non2xx")}
    total["socket_errors"] = sum(r["connect"] + r["read"] + r["write"] + r["timeout"] for r in rounds)
    total["per_s"] = total["requests"] / (total["duration_us"] / 1e6)
    total["round_per_s"] = [r["requests"] / (r["duration_us"] / 1e6) for r in rounds]
    total["p50_ms"] = statistics.median(r["p50_us"] for r in rounds) / 1000
    total["p90_ms"] = statistics.median(r["p90_us"] for r in rounds) / 1000
    total["p99_ms"] = max(r["p99_us"] for r in rounds) / 1000
    total["max_ms"] = max(r["max_us"] for r in rounds) / 1000
    total["first_error"] = next((r["first_error"] for r in rounds if r["first_error"]), "")
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--rounds", type=int, default=3, help="times every route is loaded, interleaved")
    parser.add_argument("--duration", type=int, default=4, help="seconds of load per route per round")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before the first round")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers")
    parser.add_argument("--doors", type=int, default=100)
    parser.add_argument("--codes", type=int, default=10000)
    parser.add_argument("--summary-json", help="also write requests per second here, for bench/run.py")
    # Kept for bench/run.py, which passes --repeat to every benchmark: --rounds is this one's.
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
            env=production_env(
                var_dir=var_dir,
                database_url=args.database_url,
                DJANGO_SETTINGS_MODULE="bench.load_settings",
            ),
            start_new_session=True,  # its own process group, so stop() ends the workers too
        )
        rounds: dict[str, list[dict]] = {route: [] for route, _, _ in ROUTES}
        try:
            wait_until_serving(base_url, api_key, server)
            wrk = functools.partial(run_wrk, base_url=base_url, api_key=api_key, ids_path=ids_path, args=args)
            # Every worker imports and connects lazily; the first requests would pay for that.
            for route in ("access_codes/get", "baseline/orm_row"):
                wrk(route=route, duration=args.warmup)
            for _ in range(args.rounds):
                for route, _, _ in ROUTES:
                    rounds[route].append(wrk(route=route, duration=args.duration))
        finally:
            stop(server)
        created = AccessCode.objects.filter(name__startswith="Load guest").count()
        renamed = AccessCode.objects.filter(name__startswith="Renamed").count()
        log_lines = [line for line in error_log.read_text().splitlines() if line.strip()]

    results = {route: combined(r) for route, r in rounds.items()}
    bare, orm = (results[b]["per_s"] for b in BASELINES)
    print(
        f"\n### API load test, {vendor}: gunicorn with {args.workers} sync workers, "
        f"wrk with {args.threads} threads and {args.connections} connections, "
        f"{args.rounds} rounds of {args.duration} s per route\n"
    )
    print(
        f"Portfolio: {args.doors} locks in {args.doors // 2} properties plus the 6-lock sandbox fleet, "
        f"{args.codes:,} codes ({args.codes // args.doors} a lock). DEBUG off; one route at a time, "
        f"the routes interleaved round by round; req/s is all rounds' requests over their time.\n"
    )
    print(
        "| route | method | what each request does | requests | req/s | per round | ratio to bare view "
        "| ratio to one-row ORM view | p50 ms | p90 ms | p99 ms | max ms | non-2xx | socket errors |"
    )
    print("|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for route, method, what in ROUTES:
        r = results[route]
        per_round = " / ".join(f"{x:,.0f}" for x in r["round_per_s"])
        print(
            f"| `{route}` | {method} | {what} | {r['requests']:,} | {r['per_s']:,.0f} | {per_round} "
            f"| {r['per_s'] / bare:.2f} | {r['per_s'] / orm:.2f} "
            f"| {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['p99_ms']:.1f} "
            f"| {r['max_ms']:.0f} | {r['non2xx']} | {r['socket_errors']} |"
        )
    print()
    print(
        f"Targets (issue 21): `access_codes/get` at least 0.5 of the one-row ORM view (here "
        f"{results['access_codes/get']['per_s'] / orm:.2f}), `access_codes/list` of 100 codes at "
        f"least 0.3 (here {results['access_codes/list']['per_s'] / orm:.2f}).\n"
    )
    create = results["access_codes/create"]
    print(
        f"Check: wrk counted {create['requests'] - create['non2xx']:,} successful creates; the database "
        f"holds {created:,} created codes (requests still in flight when wrk stops may add up to "
        f"{args.connections} a round); {renamed:,} codes carry an update's name. "
        f"gunicorn's error log has {len(log_lines)} lines at WARNING or above."
    )
    for route, r in results.items():
        if r["first_error"]:
            print(f"\nFirst non-2xx answer on `{route}`: `{r['first_error'][:300]}`")
    for line in log_lines[:5]:
        print(f"\n    {line}")
    latchkey = [route for route, _, _ in ROUTES if route not in BASELINES]
    write_summary(
        args.summary_json,
        {
            "backend": vendor,
            "workers": args.workers,
            "per_s": {route: results[route]["per_s"] for route in latchkey},
            "baseline_per_s": {route: results[route]["per_s"] for route in BASELINES},
            "ratio_to_orm_row": {route: results[route]["per_s"] / orm for route in latchkey},
            "ratio_to_bare": {route: results[route]["per_s"] / bare for route in latchkey},
            "p99_ms": {route: results[route]["p99_ms"] for route in latchkey},
            "median_per_s": statistics.median(results[route]["per_s"] for route in latchkey),
        },
    )


if __name__ == "__main__":
    main()
