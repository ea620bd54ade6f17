"""A route's parameters are checked by fields bound once per route class (``api.wire.Params``):
each route keeps its own, and nothing one request sent stays with them for the next."""

import uuid

from api.access_codes import List
from api.wire import PageParams


def _check(params_class, data):
    checked = params_class(data=data)
    valid = checked.is_valid()
    return valid, (checked.validated_data if valid else checked.errors)


def test_a_route_class_gets_its_own_fields_not_its_parents():
    # The parent first, so that a cache found through inheritance would serve the child.
    assert _check(PageParams, {"limit": 5}) == (True, {"limit": 5})
    lock = uuid.uuid4()
    valid, values = _check(List.params, {"device_id": str(lock), "limit": 5})
    assert valid, values
    assert values["device_id"] == lock
    # And the parent still refuses what only the child takes.
    valid, errors = _check(PageParams, {"device_id": str(lock)})
    assert not valid
    assert errors["device_id"] == ["is not a parameter of this route."]


def test_one_requests_values_and_errors_never_reach_the_next():
    bad = _check(List.params, {"device_id": "not-a-uuid", "limit": 0, "colour": "red"})
    assert bad[0] is False
    assert set(bad[1]) == {"device_id", "limit", "colour"}
    lock = uuid.uuid4()
    assert _check(List.params, {"device_id": str(lock)}) == (True, {"device_id": lock})
    assert _check(List.params, {"search": "Ana"}) == (True, {"search": "Ana"})
