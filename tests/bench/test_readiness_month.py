"""A few days of bench/readiness.py's month, small enough for CI: the mechanism that tells staff
about every failing stay is guarded here, the full month is measured in bench/RESULTS.md."""

import pytest

from bench import readiness_sim

pytestmark = pytest.mark.django_db


def test_a_small_month_has_failing_stays_and_every_one_was_flagged_with_a_remedy():
    month = readiness_sim.run_month(locks=6, days=4, faults=8, seed=3, lasting=1.0)
    result = readiness_sim.analyse(month)

    assert result["stays"] >= 6
    assert result["failing"], "the faults broke no stay: the month proves nothing"
    assert [f.stay.code.pk for f in result["silent"]] == []
    assert all(f.first_flag.has_remedy for f in result["failing"])
    assert result["mechanism_4"] == [] and result["mechanism_5"] == {}
