"""Writes for workspaces, API keys, properties and the sandbox fleet."""

import secrets

from django.db import transaction
from django.utils import timezone

from devices.fleet import SANDBOX_LOCK_MODELS
from devices.models import ApiKey, ConnectedAccount, Device, Property, ProviderKind, SandboxLock, Workspace


def workspace_get_or_create(*, name: str, is_sandbox: bool = False) -> Workspace:
    name = " ".join(name.split())
    if not name:
        raise ValueError("a workspace needs a name")
    workspace, _ = Workspace.objects.get_or_create(name=name, defaults={"is_sandbox": is_sandbox})
    return workspace


def api_key_create(*, workspace: Workspace, name: str = "") -> tuple[ApiKey, str]:
    """A new key for ``workspace``. The raw key is returned once and never stored."""
    raw = ApiKey.new_raw_key()
    key = ApiKey.objects.create(
        workspace=workspace, name=name, key_prefix=raw[:12], key_hash=ApiKey.digest(raw)
    )
    return key, raw


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The active key matching ``raw_key``, or None."""
    return (
        ApiKey.objects.select_related("workspace")
        .filter(key_hash=ApiKey.digest(raw_key), revoked_at__isnull=True)
        .first()
    )


@transaction.atomic
def sandbox_fleet_create(*, workspace: Workspace, property: Property | None = None) -> list[Device]:
    """A sandbox connected account holding one lock of each model in the fleet.

    Running it again for the same workspace adds nothing: the locks are keyed by their
    provider ids within the account.
    """
    account, _ = ConnectedAccount.objects.get_or_create(
        workspace=workspace, provider=ProviderKind.SANDBOX, defaults={"display_name": "Sandbox locks"}
    )
    devices = []
    for traits in SANDBOX_LOCK_MODELS:
        device, created = Device.objects.get_or_create(
            connected_account=account,
            provider_device_id=traits["provider_device_id"],
            defaults={**traits, "workspace": workspace, "property": property},
        )
        if created and device.can_program_offline_access_codes:
            device.offline_code_secret = secrets.token_hex(32)
            device.save(update_fields=["offline_code_secret"])
        SandboxLock.objects.get_or_create(device=device)
        devices.append(device)
    return devices
