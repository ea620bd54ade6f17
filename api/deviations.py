"""Where Latchkey deliberately departs from Seam's published API, each with its reason: the one
list. Parameters here are refused by name with the reason (``api.wire.Params``); the routes are
answered ``route_not_found``. The README's "Not supported" section is checked against this list
by tests/api/test_seam_conformance.py.
"""

# Seam's parameters that Latchkey's routes refuse, by name, with why.
REFUSED_PARAMETERS: dict[str, str] = {
    "access_grant_id": "access grants are not supported; Latchkey manages access codes only.",
    "access_grant_key": "access grants are not supported; Latchkey manages access codes only.",
    "access_method_id": "access methods are not supported; Latchkey manages access codes only.",
    "customer_key": "customers are not supported; a workspace is Latchkey's only tenant.",
    "user_identifier_key": "user identities are not supported; a workspace is Latchkey's only tenant.",
    "sync": "Latchkey programs locks in the background; follow the action attempt instead.",
    "include_if": "device capability filters are not supported; filter on device_type instead.",
    "exclude_if": "device capability filters are not supported; filter on device_type instead.",
    "unstable_location_id": "locations are not supported; Latchkey's properties are Seam's spaces (space_id).",
}

# Values of Seam's parameters that Latchkey refuses, with why.
REFUSED_VALUES: dict[str, str] = {
    "prefer_native_scheduling: false": "Latchkey always uses a lock's own scheduling where it has one.",
    "max_time_rounding: 1h": "offline codes here are rounded to whole days; use 1d.",
    "is_managed: false": "a managed code cannot be made unmanaged, and Latchkey manages every lock it knows.",
}

# Seam's routes in the groups Latchkey serves that it does not serve, with why.
LEFT_OUT_ROUTES: dict[str, str] = {
    "/devices/delete": "a lock leaves Latchkey when its provider account drops it, not by API.",
    "/devices/list_device_providers": "providers are connected by staff in the admin, not by API.",
    "/devices/report_provider_metadata": "provider metadata comes from Latchkey's own drivers.",
    "/devices/simulate/paid_subscription": "Latchkey has no provider subscriptions to expire.",
    "/devices/unmanaged/get": "Latchkey manages every lock it knows; there are no unmanaged devices.",
    "/devices/unmanaged/list": "Latchkey manages every lock it knows; there are no unmanaged devices.",
    "/devices/unmanaged/update": "Latchkey manages every lock it knows; there are no unmanaged devices.",
}


def refused_parameter(name: str) -> str | None:
    """The reason a parameter Latchkey does not take is refused, if it is a deliberate one."""
    return REFUSED_PARAMETERS.get(name)
