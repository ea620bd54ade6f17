"""Seam's official JavaScript SDK (``@seamapi/http``, from npm, run with Node) drives the main
flows against a live Latchkey, as the Python SDK does in the other test_sdk_* files."""

import json
import subprocess

from codes.models import AccessCode
from tests.api.seam_spec import ROOT

SCRIPT = ROOT / "tests" / "api" / "js" / "main_flows.mjs"


def test_the_javascript_sdk_drives_the_main_flows(api_url, api_key, fleet):
    lock = fleet["keypad-deadbolt"]
    run = subprocess.run(
        ["node", str(SCRIPT), api_url, api_key, str(lock.pk)],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert str(lock.pk) in seen["devices"] and seen["device"] == lock.display_name
    assert seen["created"]["code"] == "4821" and seen["created"]["type"] == "time_bound"
    assert seen["got"] == "Ana Silva" and seen["renamed"] == "Ana S."
    assert seen["created"]["id"] in seen["listed"]
    assert seen["generated"].isdigit()
    assert len(seen["unmanaged"]) == 1
    assert {"access_code.created", "access_code.changed", "access_code.deleted"} <= set(seen["events"])
    assert {"CREATE_ACCESS_CODE", "UPDATE_ACCESS_CODE", "DELETE_ACCESS_CODE"} <= set(seen["attempts"])
    assert seen["webhooks"] is True
    assert seen["offline"] is False
    assert seen["missing"]["type"] == "access_code_not_found"
    # What the SDK did is in the database: the guest's code is deleted, the cleaner's now managed.
    assert AccessCode.objects.live().filter(device=lock, is_managed=True).count() == 1
    assert not AccessCode.objects.live().filter(pk=seen["created"]["id"]).exists()
