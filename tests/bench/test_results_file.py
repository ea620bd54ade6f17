"""bench/run.py rewrites bench/RESULTS.md: a benchmark run again replaces its own sections where
they stand, and what no benchmark writes (notes and side-by-side runs written by hand) stays."""

from pathlib import Path

from bench import run
from bench.run import rebuilt_body

OLD = """# Benchmark results

How to read.

## Capacity of one machine

Old arithmetic.

### Sweep, sqlite: 1000 due codes on 2000 locks

old sweep table

## Slot planner (issue 17)

Intro written by hand.

### Slot planner: one 500-slot lock, 5,000 stays over a year

old planner table

### Sweep with the planner, sqlite: before and after

a side-by-side run written by hand
"""


def test_a_benchmark_run_again_replaces_its_sections_in_place_and_keeps_hand_written_ones():
    body = rebuilt_body(
        OLD, {"planner": "### Slot planner: one 50-slot lock, 500 stays over a year\n\nnew\n"}
    )
    assert body == (
        "### Sweep, sqlite: 1000 due codes on 2000 locks\n\nold sweep table\n\n"
        "## Slot planner (issue 17)\n\nIntro written by hand.\n\n"
        "### Slot planner: one 50-slot lock, 500 stays over a year\n\nnew\n"
        "### Sweep with the planner, sqlite: before and after\n\na side-by-side run written by hand\n"
    )


def test_a_sweep_run_again_leaves_the_hand_written_sweep_comparisons():
    body = rebuilt_body(OLD, {"sweep": "### Sweep, sqlite: new\n"})
    assert "### Sweep, sqlite: new\n" in body and "old sweep table" not in body
    assert "a side-by-side run written by hand" in body and "old planner table" in body
    assert "Capacity" not in body and "How to read" not in body  # written anew by run.py


def test_nothing_written_by_hand_sits_in_the_header_run_py_rewrites():
    # The header (everything before the capacity statement) is written anew by each run: notes
    # left there were lost by the next `run.py --only`. They belong in a section of their own.
    results = (Path(run.__file__).parent / "RESULTS.md").read_text()
    header = results[: results.index("## Capacity of one machine")]
    expected = run.HEADER.format(when="WHEN", machine="MACHINE", cores=0, python="PYTHON")

    def without_run_line(text):  # the one line that says when and where it ran
        return [line for line in text.strip().splitlines() if not line.startswith("Written by")]

    assert without_run_line(header) == without_run_line(expected)
