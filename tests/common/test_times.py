"""``common.times.iso`` writes UTC instants by table lookup, not through ``datetime.isoformat``:
it must write exactly what ``isoformat`` would, for every instant and zone."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from common.times import iso


def _reference(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)))
def test_a_utc_instant_is_written_as_isoformat_writes_it(value):
    assert iso(value) == _reference(value)


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.sampled_from([ZoneInfo("America/New_York"), ZoneInfo("Europe/London"), timezone(timedelta(hours=5))]),
)
def test_an_instant_in_another_zone_is_written_in_utc(naive, zone):
    value = naive.replace(tzinfo=zone)
    assert iso(value) == _reference(value)


def test_the_fields_that_need_padding_and_truncation():
    assert iso(datetime(2027, 3, 4, 5, 6, 7, 999, tzinfo=UTC)) == "2027-03-04T05:06:07.000Z"
    assert iso(datetime(2027, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == "2027-12-31T23:59:59.999Z"
    assert iso(datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00.000Z"
    assert iso(None) is None
