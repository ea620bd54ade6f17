"""The API is tested as integrations use it: Seam's official SDK, or plain HTTP, against a live
server on a real socket."""

import httpx
import pytest
from seam import Seam

from devices.services import api_key_create, sandbox_fleet_create, workspace_get_or_create


@pytest.fixture
def workspace(transactional_db):
    return workspace_get_or_create(name="Harbour Stays", is_sandbox=True)


@pytest.fixture
def api_key(workspace) -> str:
    _, raw = api_key_create(workspace=workspace, name="booking system")
    return raw


@pytest.fixture
def fleet(workspace) -> dict:
    """The sandbox fleet, by provider id without the ``sandbox-`` prefix."""
    return {
        d.provider_device_id.removeprefix("sandbox-"): d for d in sandbox_fleet_create(workspace=workspace)
    }


@pytest.fixture
def api_url(live_server) -> str:
    return f"{live_server.url}/api"


@pytest.fixture
def seam(api_url, api_key) -> Seam:
    return Seam(api_key=api_key, endpoint=api_url, wait_for_action_attempt=False)


@pytest.fixture
def http(api_url, api_key):
    with httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10) as client:
        yield client
