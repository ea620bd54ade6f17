"""Run every benchmark and write bench/RESULTS.md.

    python bench/run.py [--postgres postgres://postgres@127.0.0.1:5432/latchkey_bench | --no-postgres]
                        [--repeat 3] [--only sweep|webhooks|load|drift|memory|workers|readiness|planner]
                        [--smoke --output PATH]

Benchmarks print Markdown; this collects them, with the time each ran, under a header that says
how to read them, and computes from their numbers what one machine carries (the capacity
statement). Each benchmark runs on SQLite and on PostgreSQL (``--postgres``, a database of the
benchmarks' own: they drop and recreate its schema); the worker scaling benchmark runs on
PostgreSQL with Redis (database 14 on 127.0.0.1:6379) only. The load test needs ``wrk``
(``make bench`` installs it).

``--only NAME`` runs one benchmark and replaces just its sections in RESULTS.md, keeping the
others as they were measured; the numbers behind the capacity statement are kept in
bench/summary.json for that. Sections no benchmark writes (notes and side-by-side runs written by
hand) are kept where they stand, whatever runs.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench import workers  # noqa: E402
from bench.capacity import capacity_statement  # noqa: E402
from bench.common import DEFAULT_POSTGRES_URL  # noqa: E402


@dataclass(frozen=True)
class Benchmark:
    heading: str  # what its sections' headings start with in RESULTS.md
    smoke: tuple[str, ...]  # tiny sizes, to check the whole pipeline in a minute or two
    on_sqlite: bool = True
    on_postgres: bool = True
    takes_repeat: bool = True


BENCHMARKS = {
    "sweep": Benchmark("### Sweep,", ("--totals", "1000", "3000", "--due", "100", "--devices", "100")),
    "webhooks": Benchmark("### Inbound webhooks", ("--deliveries", "100")),
    "load": Benchmark(
        "### API load test",
        ("--rounds", "1", "--duration", "2", "--warmup", "1", "--doors", "20", "--codes", "2000"),
        takes_repeat=False,
    ),
    "drift": Benchmark("### Drift check", ("--locks", "50", "--codes", "200")),
    "memory": Benchmark("### Memory", ("--totals", "1000", "3000", "--deliveries", "50")),
    "workers": Benchmark(
        "### Worker scaling", ("--due", "1000", "--total", "2000", "--devices", "100"), on_sqlite=False
    ),
    "readiness": Benchmark(
        "### Readiness month",
        ("--locks", "6", "--days", "3", "--faults", "6"),
        takes_repeat=False,
        on_postgres=False,
    ),
    # Pure Python (``lifecycle.plan_slots``), no database: one run, on no database in particular.
    "planner": Benchmark("### Slot planner:", ("--codes", "500", "--slots", "50"), on_postgres=False),
}

HEADER = """\
# Benchmark results

Written by `python bench/run.py` ({when}); {machine}, {cores} cores, Python {python}. Everything ran
on this one machine: PostgreSQL, Redis, the web server, the workers and the load generator share
its cores. Within a table, sizes are measured interleaved in one run, so machine noise hits each
alike: compare the numbers inside a table (the ratios) more than across runs. Each section says
when it was measured.

How to read the tables:

- **Capacity** (next section) is arithmetic on the measured numbers below, with its assumptions
  stated; it is not a measurement itself.
- **Sweep**: one scheduler sweep (`codes.scheduler.sweep`, in-process) with 1,000 codes due among
  10,000, 100,000 and 1,000,000 codes on 2,000 sandbox locks; each size on a fresh database.
  'runs' is how many times a size was measured (the million-code size fewer times: building it
  takes minutes), 'due codes per s' is 1,000 / the median. The ratios show how the cost of the
  same due work grows with the portfolio; issue 4's targets are at most 2 s for 1,000 due among
  100,000 on SQLite and at most 1.5x from 10,000 to 100,000. 'peak RSS growth' is how far the
  sweep raised the process's high-water mark, which populating the database set first: 0 means
  it stayed below it (an upper-bound check, not the sweep's own footprint).
- **Inbound webhooks**: a lock provider's signed callbacks, through Django's request handling in
  one process (the test client, no network): verified and stored per second, then processed
  (the code's state and event written) per second by the queued task's function, in batches of
  200 pending deliveries a transaction. Issue 6's target is 500 stored per second on SQLite;
  issue 21's, per process on PostgreSQL, 1,000 stored and 300 processed.
- **API load test**: this is the API benchmark. gunicorn serves Latchkey with DEBUG off, plus
  two baselines mounted only in the benchmark's own URL module (bench/load_urls.py): a bare
  Django JSON view answering an access code's size, and a view reading one access-code row
  through the ORM, behind the same middleware. wrk, a separate process, loads one route at a
  time over loopback, the routes interleaved round by round; req/s is completed requests per
  second with every worker busy, and each route's ratio to both baselines, measured side by
  side, is what to compare across runs and machines. p50/p90/p99 are latencies as wrk saw them;
  'non-2xx' counts answers that were not 2xx and 'socket errors' wrk's connect, read, write and
  timeout errors: both should be 0. gunicorn's sync workers close the connection after each
  answer, so every request includes a TCP connect, as through most proxies.
- **Drift check**: one process comparing every lock's codes with what Latchkey declares, as the
  15-minute schedule does, on a programmed portfolio where nothing differs (the steady state).
- **Memory**: the peak of Python's allocations (tracemalloc) while the drift check, a sweep and
  the webhook batches ran over portfolios of growing size; flat means the same at every size.
- **Readiness month** (issue 14): not a speed benchmark. A simulated month of stays on the
  sandbox fleet with faults injected, judged from the sandbox locks' memory; its table holds
  issue 14's targets (silent failures, failures flagged 72 hours ahead, false alarms). Run on
  SQLite only: what it measures does not depend on the database.
- **Slot planner** (issue 17): `codes.lifecycle.plan_slots` alone, pure Python with no database,
  on one lock holding a year of stays: with room to spare, crowded (stays wait for slots) and
  overfull (some stays cannot fit). Run once, with no database in particular.
- **Worker scaling**: the production profile's background side: a backlog of due codes
  programmed by one `qcluster` process, then by two sharing it, on PostgreSQL with Redis as
  django-q2's broker. 'backlog time' runs from the first sweep's start to the last one's end.
"""


def run_benchmark(name: str, database_url: str | None, args) -> tuple[str, dict]:
    """One benchmark on one database: its Markdown, and its numbers for the capacity statement."""
    command = [sys.executable, str(HERE / f"{name}.py")]
    if BENCHMARKS[name].takes_repeat:
        command += ["--repeat", args.repeat]
    if args.smoke:
        command += BENCHMARKS[name].smoke
    if database_url:
        command += ["--database-url", database_url]
    with tempfile.NamedTemporaryFile(suffix=".json") as summary:
        command += ["--summary-json", summary.name]
        print(f"running {' '.join(command[1:])}", file=sys.stderr, flush=True)
        markdown = subprocess.run(  # noqa: S603 (our own interpreter and scripts)
            command, capture_output=True, text=True, check=True, cwd=HERE.parent
        ).stdout
        numbers = json.loads(Path(summary.name).read_text())
    stamp = f"\n_Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC._\n"
    return markdown.rstrip("\n") + "\n" + stamp, numbers


def sections_of(text: str, heading: str) -> str:
    """The sections of ``text`` whose heading starts with ``heading``."""
    kept, keeping = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith(("### ", "## ")):
            keeping = line.startswith(heading)
        if keeping:
            kept.append(line)
    return "".join(kept)


def rebuilt_body(old_text: str, fresh: dict[str, str]) -> str:
    """The old results' sections in their order, each benchmark just run replaced where its
    sections stood (by its fresh ones, once), and every section no benchmark writes kept as it
    is; a benchmark not in the old results goes at the end. The header and the capacity
    statement are written anew, so they are left out."""
    sections: list[str] = []
    for line in old_text.splitlines(keepends=True):
        if line.startswith(("### ", "## ")):
            sections.append("")
        if sections:
            sections[-1] += line
    kept, placed = [], set()
    for section in sections:
        if section.startswith("## Capacity of one machine"):
            continue
        owner = next((name for name, bench in BENCHMARKS.items() if section.startswith(bench.heading)), None)
        if owner in fresh:
            if owner not in placed:
                kept.append(fresh[owner])
                placed.add(owner)
        else:
            kept.append(section)
    return "".join(kept + [fresh[name] for name in fresh if name not in placed])


def create_database_if_missing(url: str) -> None:
    """A fresh machine has the server but not the benchmark's own database: create it, through
    the server's maintenance database (psycopg, which the project already depends on)."""
    import psycopg
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    maintenance = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as server:
        if not server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES_URL,
        help=f"PostgreSQL URL for the second pass (default {DEFAULT_POSTGRES_URL}); its schema is dropped",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--repeat", default="3")
    parser.add_argument(
        "--only", choices=sorted(BENCHMARKS), help="run one benchmark, keep the others' results"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, written to --output: checks the pipeline only"
    )
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    postgres = None if args.no_postgres else args.postgres
    if args.smoke and args.output == HERE / "RESULTS.md":
        parser.error("--smoke needs --output elsewhere: its numbers are not results")
    results, summary_path = args.output, args.output.with_name("summary.json")
    names = [args.only] if args.only else list(BENCHMARKS)
    # What each benchmark needs, checked before the first one starts rather than half an hour in.
    if postgres:
        create_database_if_missing(postgres)
    if "load" in names and not shutil.which("wrk"):
        parser.error("the load test needs wrk on PATH (make bench installs Debian's)")
    if "workers" in names and postgres:
        import redis

        try:
            redis.Redis.from_url(workers.DEFAULT_REDIS_URL).ping()
        except redis.RedisError as error:
            parser.error(f"the worker benchmark needs Redis at {workers.DEFAULT_REDIS_URL}: {error}")

    old_text = results.read_text() if results.exists() else ""
    summary = json.loads(summary_path.read_text()) if args.only and summary_path.exists() else {}
    fresh: dict[str, str] = {}
    for name in names:
        databases = ([None] if BENCHMARKS[name].on_sqlite else []) + (
            [postgres] if postgres and BENCHMARKS[name].on_postgres else []
        )
        summary = {k: v for k, v in summary.items() if not k.startswith(f"{name}/")}
        fresh[name] = ""
        for database_url in databases:
            markdown, numbers = run_benchmark(name, database_url, args)
            fresh[name] += markdown
            summary[f"{name}/{'postgresql' if database_url else 'sqlite'}"] = numbers

    body = rebuilt_body(old_text, fresh)
    header = HEADER.format(
        when=f"last run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        + (f", `--only {args.only}`" if args.only else ""),
        machine=platform.machine(),
        cores=os.cpu_count(),
        python=platform.python_version(),
    )
    summary_path.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    results.write_text(header + "\n" + capacity_statement(summary) + body)
    print(results.read_text())


if __name__ == "__main__":
    main()
