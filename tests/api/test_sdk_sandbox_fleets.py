"""Every sandbox workspace has the same fleet, with the same lock ids: two workspaces' locks
must never share a code id, or one workspace's locks stop taking codes."""

from datetime import timedelta

from django.utils import timezone
from seam import Seam

from codes.models import AccessCode, AccessCodeStatus
from codes.scheduler import sweep
from devices.providers.sandbox.models import SandboxHeldCode
from devices.services import api_key_create, sandbox_fleet_create, workspace_get_or_create


def second_workspace(api_url: str) -> tuple[Seam, dict]:
    workspace = workspace_get_or_create(name="Second Stays", is_sandbox=True)
    _, raw = api_key_create(workspace=workspace, name="their booking system")
    fleet = {d.provider_device_id: d for d in sandbox_fleet_create(workspace=workspace)}
    return Seam(api_key=raw, endpoint=api_url, wait_for_action_attempt=False), fleet


def test_two_workspaces_program_codes_on_their_own_fleets(seam, fleet, api_url):
    theirs, their_fleet = second_workspace(api_url)
    ours = seam.access_codes.create(device_id=str(fleet["cloud-lock"].pk), code="4821", name="Ana")
    sweep(now=timezone.now())
    later = timezone.now() + timedelta(seconds=1)
    their = theirs.access_codes.create(
        device_id=str(their_fleet["sandbox-cloud-lock"].pk), code="7391", name="Ben"
    )
    sweep(now=later)

    assert seam.access_codes.get(access_code_id=ours.access_code_id).status == "set"
    answer = theirs.access_codes.get(access_code_id=their.access_code_id)
    assert (answer.status, answer.errors) == ("set", [])
    # Judged from the locks' memories: each holds its own workspace's code, once.
    assert list(SandboxHeldCode.objects.filter(lock__device=fleet["cloud-lock"]).values_list("code")) == [
        ("4821",)
    ]
    assert list(
        SandboxHeldCode.objects.filter(lock__device=their_fleet["sandbox-cloud-lock"]).values_list("code")
    ) == [("7391",)]
    # A code id names one code within its account (webhooks and drift checks find codes by it).
    mine, yours = (AccessCode.objects.get(pk=c.access_code_id) for c in (ours, their))
    assert mine.provider_code_id == yours.provider_code_id == "sandbox-cloud-lock-code-1"
    assert mine.device.connected_account_id != yours.device.connected_account_id


def test_two_workspaces_simulate_unmanaged_codes_on_the_same_model(seam, fleet, api_url):
    theirs, their_fleet = second_workspace(api_url)
    ours = seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=str(fleet["keypad-deadbolt"].pk), code="7391", name="Owner"
    )
    their = theirs.access_codes.simulate.create_unmanaged_access_code(
        device_id=str(their_fleet["sandbox-keypad-deadbolt"].pk), code="8642", name="Their owner"
    )
    assert (ours.code, their.code) == ("7391", "8642")
    assert [c.code for c in theirs.access_codes.unmanaged.list(device_id=their.device_id)] == ["8642"]
    assert [c.code for c in seam.access_codes.unmanaged.list(device_id=ours.device_id)] == ["7391"]
    # The second workspace's locks keep taking codes afterwards.
    code = theirs.access_codes.create(device_id=their.device_id, code="5173", name="Chen")
    sweep(now=timezone.now())
    assert AccessCode.objects.get(pk=code.access_code_id).status == AccessCodeStatus.SET
