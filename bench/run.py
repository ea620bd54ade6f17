"""Run every benchmark and write bench/RESULTS.md.

    python bench/run.py [--postgres postgres://postgres@127.0.0.1:5432/latchkey_bench] [--only webhooks]

Benchmarks print Markdown; this collects them with the machine they ran on. The PostgreSQL
database named is dropped and recreated by the benchmark: give it one of its own.
``--only NAME`` runs one benchmark and replaces just its sections in RESULTS.md, keeping the
others as they were measured.
"""

import argparse
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(*args: str) -> str:
    return subprocess.run(  # noqa: S603 (our own interpreter and scripts)
        [sys.executable, *args], capture_output=True, text=True, check=True, cwd=HERE.parent
    ).stdout


# Each benchmark, and the heading its sections start with in RESULTS.md.
BENCHMARKS = {"sweep": "### Sweep", "webhooks": "### Inbound webhooks"}


def sections_of(name: str, args) -> list[str]:
    script = str(HERE / f"{name}.py")
    out = [run(script, "--repeat", args.repeat)]
    if args.postgres:
        out.append(run(script, "--repeat", args.repeat, "--database-url", args.postgres))
    return out


def without(text: str, heading: str) -> str:
    """``text`` less every section whose heading starts with ``heading``."""
    kept, skipping = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("### "):
            skipping = line.startswith(heading)
        if not skipping:
            kept.append(line)
    return "".join(kept)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="PostgreSQL URL for the second pass (omitted: SQLite only)")
    parser.add_argument("--repeat", default="3")
    parser.add_argument(
        "--only", choices=sorted(BENCHMARKS), help="run one benchmark, keep the others' results"
    )
    args = parser.parse_args()
    results = HERE / "RESULTS.md"
    if args.only:
        kept = without(results.read_text(), BENCHMARKS[args.only]).rstrip("\n") + "\n"
        results.write_text(kept + "".join(sections_of(args.only, args)))
        print(results.read_text())
        return
    sections = [section for name in BENCHMARKS for section in sections_of(name, args)]
    header = (
        "# Benchmark results\n\n"
        f"Written by `python bench/run.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
        "Sizes are measured interleaved in one run, so machine noise hits each alike.\n\n"
        "Reading the sweep table: the target (issue 4) is at most 2 s for 1,000 due codes among "
        "100,000 on SQLite, and at most 1.5x between 10,000 and 100,000 total codes. "
        "'peak RSS growth' is how far the sweep raised the process's high-water mark, which "
        "populating the database set first: 0 means the sweep stayed below it, an upper bound "
        "check rather than a measurement of the sweep's own footprint.\n"
    )
    results.write_text(header + "".join(sections))
    print(results.read_text())


if __name__ == "__main__":
    main()
