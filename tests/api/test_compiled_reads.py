"""A lock's page of access codes is read through SQL compiled once (``common.compiled``) with its
own column converters (issue 21): it must answer exactly what Django's queryset and converters
answer, on the wire and row by row, with and without a cursor."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client

from api.access_codes import lock_page_rows
from api.wire import page_query
from codes.models import AccessCode
from codes.selectors import _WIRE_COLUMNS, wire_codes
from common.times import iso
from devices.services import api_key_create, sandbox_fleet_create, workspace_get_or_create

APPEARANCE = {"first_name": "Åsa", "n": 1.5, "tags": ["a", None]}


@pytest.fixture
def lock_with_codes(db):
    workspace = workspace_get_or_create(name="Compiled", is_sandbox=True)
    locks = sandbox_fleet_create(workspace=workspace)
    _, raw = api_key_create(workspace=workspace, name="compiled")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    lock = next(d for d in locks if d.provider_device_id == "sandbox-keypad-deadbolt")
    starts = datetime(2027, 3, 27, 23, 30, 0, 250000, tzinfo=UTC)  # across Europe's DST change
    for n in range(7):
        params = {"device_id": str(lock.pk), "name": f"Guest {n}" if n % 3 else ""}
        if n % 2:
            params.update(
                starts_at=(starts + timedelta(hours=n)).isoformat(),
                ends_at=(starts + timedelta(days=n)).isoformat(),
            )
        response = client.post("/api/access_codes/create", params, content_type="application/json")
        assert response.status_code == 200, response.content
    # Values a code may hold that the API's own creates do not write.
    first = AccessCode.objects.filter(device=lock).order_by("created_at").first()
    AccessCode.objects.filter(pk=first.pk).update(appearance=APPEARANCE, is_one_time_use=True)
    return workspace, lock, client


def _general(workspace, lock, limit, after):
    codes = wire_codes(shown=True).filter(workspace=workspace, is_managed=True, device_id=lock.pk)
    return list(page_query(codes, key="access_code_id", limit=limit, after=after))


def test_compiled_rows_are_djangos_rows(lock_with_codes):
    workspace, lock, _ = lock_with_codes
    read = lock_page_rows(workspace_id=workspace.pk, device_id=str(lock.pk))
    for limit in (3, 100):
        assert read(limit, None) == _general(workspace, lock, limit, None)
    first = _general(workspace, lock, 3, None)
    after = (first[2][_WIRE_COLUMNS.index("created_at")], first[2][0])
    assert read(3, after) == _general(workspace, lock, 3, after)
    assert len(read(3, after)) == 4  # the page, and one more to say another follows
    # The values come back as Django gives them (types too, not only equal values).
    for compiled, general in zip(read(100, None), _general(workspace, lock, 100, None), strict=True):
        assert [type(v) for v in compiled] == [type(v) for v in general]
        assert [v.tzinfo for v in compiled if isinstance(v, datetime)] == [
            UTC for v in general if isinstance(v, datetime)
        ]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's loaders are PostgreSQL's")
def test_times_read_by_psycopgs_own_loader_are_the_instants_in_utc(lock_with_codes):
    # Django keeps its sessions in UTC; in any other zone, the instants must still be right.
    workspace, lock, _ = lock_with_codes
    read = lock_page_rows(workspace_id=workspace.pk, device_id=str(lock.pk))
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'America/New_York'")
    try:
        rows = read(100, None)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
    starts = sorted(
        row[_WIRE_COLUMNS.index("starts_at")] for row in rows if row[_WIRE_COLUMNS.index("starts_at")]
    )
    first = datetime(2027, 3, 27, 23, 30, 0, 250000, tzinfo=UTC)
    assert starts == [first + timedelta(hours=n) for n in (1, 3, 5)]
    assert [iso(value) for value in starts] == [iso(first + timedelta(hours=n)) for n in (1, 3, 5)]


def test_a_locks_pages_are_the_same_bytes_as_the_codes_listed_by_id(lock_with_codes):
    _, lock, client = lock_with_codes
    seen = []
    cursor = None
    while True:
        params = {"device_id": str(lock.pk), "limit": 3} | ({"page_cursor": cursor} if cursor else {})
        body = client.get("/api/access_codes/list", params).json()
        seen.extend(body["access_codes"])
        cursor = body["pagination"]["next_page_cursor"]
        if not cursor:
            break
    assert len(seen) == 7
    by_ids = client.post(
        "/api/access_codes/list",
        {"access_code_ids": [c["access_code_id"] for c in seen], "limit": 100},
        content_type="application/json",
    ).json()["access_codes"]
    assert by_ids == seen  # the general path (by ids) shapes the same codes the same way
    assert any(c["appearance"] == APPEARANCE for c in seen)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 12, 3, 8, 0, 0, 0, tzinfo=UTC),
        datetime(2027, 3, 28, 0, 59, 59, 999999, tzinfo=UTC),
        datetime(1901, 1, 1, 0, 0, 1, 123457, tzinfo=UTC),
        datetime(2027, 3, 28, 2, 30, 0, 1500, tzinfo=ZoneInfo("Europe/London")),  # after the change
        datetime(2027, 10, 31, 1, 30, 0, 0, tzinfo=ZoneInfo("Europe/London"), fold=1),
        datetime(2027, 7, 1, 12, 0, 0, 999, tzinfo=ZoneInfo("America/New_York")),
    ],
)
def test_wire_times_are_written_as_isoformat_writes_them(value):
    expected = value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert iso(value) == expected
