"""Writes for workspaces, API keys, properties and the sandbox fleet."""

import base64
import binascii
import secrets
from datetime import datetime, timedelta

import httpx
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from devices import credentials, rules
from devices.fleet import SANDBOX_LOCK_MODELS
from devices.models import (
    API_KEY_PREFIX,
    MAX_CODE_LENGTH,
    WEBHOOK_SECRET_PREFIX,
    ApiKey,
    ConnectedAccount,
    Device,
    DeviceIssue,
    IssueKind,
    Property,
    ProviderKind,
    SandboxLock,
    Workspace,
    new_webhook_secret,
    validate_code_lengths,
)
from devices.providers.base import DeviceSnapshot
from devices.selectors import active_issues_of_locks, is_reachable


def workspace_get_or_create(*, name: str, is_sandbox: bool = False) -> Workspace:
    name = " ".join(name.split())
    if not name:
        raise ValueError("a workspace needs a name")
    limit = Workspace._meta.get_field("name").max_length
    if len(name) > limit:
        raise ValueError(f"a workspace name has at most {limit} characters")
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


# How stale ``ApiKey.last_used_at`` may be: writing it on every request would turn each read
# into a write; once a minute per key tells staff what they need (is this key still in use?).
API_KEY_USE_RESOLUTION = timedelta(minutes=1)


def api_key_authenticate(raw_key: str, *, now: datetime | None = None) -> ApiKey | None:
    """The active key matching ``raw_key``, or None. Records when it was used, at most once a
    minute (a conditional update, so concurrent requests write it once)."""
    api_key = (
        ApiKey.objects.select_related("workspace")
        .filter(key_hash=ApiKey.digest(raw_key), revoked_at__isnull=True)
        .first()
    )
    if api_key is None:
        return None
    now = now or timezone.now()
    stale = now - API_KEY_USE_RESOLUTION
    if api_key.last_used_at is None or api_key.last_used_at <= stale:
        ApiKey.objects.filter(pk=api_key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale)
        ).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


SANDBOX_ACCOUNT_NAME = "Sandbox locks"


@transaction.atomic
def sandbox_fleet_create(*, workspace: Workspace, property: Property | None = None) -> list[Device]:
    """A sandbox connected account holding one lock of each model in the fleet.

    Running it again for the same workspace adds nothing: the locks are keyed by their
    provider ids within the account.
    """
    account = _sandbox_account(workspace)
    return [
        _sandbox_lock(account, traits, provider_device_id=traits["provider_device_id"], property=property)
        for traits in SANDBOX_LOCK_MODELS
    ]


MAX_SANDBOX_LOCKS = 5000


@transaction.atomic
def sandbox_fleet_fill(*, workspace: Workspace, property: Property | None, locks: int) -> list[Device]:
    """Make the sandbox account's locks in ``property`` (None: in no property) number ``locks``,
    cycling through the fleet's models; returns them. Locks already there count, so running it
    again with the same number adds nothing, and with a larger one adds the difference; a
    smaller number removes nothing. A model's first lock in the account takes the model's own
    id (``sandbox-keypad-deadbolt``), later ones a number (``sandbox-keypad-deadbolt-2``)."""
    if not isinstance(locks, int) or isinstance(locks, bool) or not 1 <= locks <= MAX_SANDBOX_LOCKS:
        raise ValueError(f"give a number of locks from 1 to {MAX_SANDBOX_LOCKS}")
    account = _sandbox_account(workspace)
    # The account's rows, locked, so that two runs at once cannot both take the same next id.
    taken = set(
        Device.objects.select_for_update()
        .filter(connected_account=account)
        .values_list("provider_device_id", flat=True)
    )
    present = list(account.devices.filter(property=property).order_by("provider_device_id"))
    for n in range(len(present), locks):
        traits = SANDBOX_LOCK_MODELS[n % len(SANDBOX_LOCK_MODELS)]
        base, number = traits["provider_device_id"], 1
        while (base if number == 1 else f"{base}-{number}") in taken:
            number += 1
        provider_device_id = base if number == 1 else f"{base}-{number}"
        taken.add(provider_device_id)
        present.append(
            _sandbox_lock(
                account,
                {**traits, "display_name": traits["display_name"] + ("" if number == 1 else f" {number}")},
                provider_device_id=provider_device_id,
                property=property,
            )
        )
    return present


def _sandbox_account(workspace: Workspace) -> ConnectedAccount:
    # Keyed by name too: a workspace may hold other sandbox accounts (tests, experiments).
    account, _ = ConnectedAccount.objects.get_or_create(
        workspace=workspace, provider=ProviderKind.SANDBOX, display_name=SANDBOX_ACCOUNT_NAME
    )
    return account


def _sandbox_lock(
    account: ConnectedAccount, traits: dict, *, provider_device_id: str, property: Property | None
) -> Device:
    """The account's lock of this id, made with ``traits`` if it is missing."""
    device, created = Device.objects.get_or_create(
        connected_account=account,
        provider_device_id=provider_device_id,
        defaults={
            **traits,
            "provider_device_id": provider_device_id,
            "workspace_id": account.workspace_id,
            "property": property,
        },
    )
    if created and device.can_program_offline_access_codes:
        device.offline_code_secret = secrets.token_hex(32)
        device.save(update_fields=["offline_code_secret"])
    SandboxLock.objects.get_or_create(device=device)
    return device


def is_webhook_secret(value: str) -> bool:
    """``whsec_`` and non-empty base64, as Svix (and so Seam) issues them."""
    if not isinstance(value, str) or not value.startswith(WEBHOOK_SECRET_PREFIX):
        return False
    try:
        return bool(base64.b64decode(value.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True))
    except (binascii.Error, ValueError):
        return False


class ConnectError(Exception):
    """Connecting a provider account failed; the message names the option at fault."""


def devices_sync(*, account: ConnectedAccount, snapshots: list[DeviceSnapshot] | None = None) -> list[Device]:
    """Create or update the account's locks from what the provider reports. Latchkey's own
    choices (the property, a renamed display name) are kept on locks it already knows."""
    if snapshots is None:
        from devices.providers import provider_for

        snapshots = provider_for(account).sync_devices()
    synced = []
    with transaction.atomic():
        for snapshot in snapshots:
            device = Device.objects.filter(
                connected_account=account, provider_device_id=snapshot.provider_device_id
            ).first()
            # Online or not is an issue on the lock, never a bare field (device_online_follow).
            fields = {k: v for k, v in snapshot.fields.items() if k != "is_online"}
            if device is None:
                device = Device.objects.create(
                    connected_account=account,
                    workspace_id=account.workspace_id,
                    provider_device_id=snapshot.provider_device_id,
                    **fields,
                )
            else:
                for field, value in fields.items():
                    if field != "display_name":
                        setattr(device, field, value)
                device.save()
            if "is_online" in snapshot.fields:
                _offline_report(device, online=bool(snapshot.fields["is_online"]))
            synced.append(device)
        device_online_follow(device_ids=[d.pk for d in synced])
    return synced


def _offline_report(device: Device, *, online: bool) -> None:
    """The provider's word on whether the lock is online, kept as ``device_offline`` on it (the
    catalog's flags for that code: a device error)."""
    active = DeviceIssue.objects.filter(
        device=device, kind=IssueKind.ERROR, code="device_offline", cleared_at=None
    )
    if online:
        active.update(cleared_at=timezone.now())
    elif not active.exists():
        DeviceIssue.objects.create(
            device=device,
            kind=IssueKind.ERROR,
            code="device_offline",
            message="The lock's provider reports it offline.",
            is_device_error=True,
        )


def device_online_follow(*, device_ids) -> None:
    """Set ``Device.is_online`` from the locks' active reachability errors (their own, their
    account's, their hub's or bridge's): the one place it changes, called wherever such an
    error is raised or cleared, so the lock's page and the dashboard say what its codes say."""
    devices = list(Device.objects.filter(pk__in=list(device_ids)))
    if not devices:
        return
    issues = list(active_issues_of_locks(devices, {d.connected_account_id for d in devices}))
    for device in devices:
        online = is_reachable(device, issues)
        if device.is_online != online:
            Device.objects.filter(pk=device.pk).update(is_online=online)


def seam_account_connect(
    *, workspace_name: str, api_key: str, endpoint: str | None = None, webhook_secret: str | None = None
) -> tuple[ConnectedAccount, list[Device]]:
    """Connect a Seam workspace: check the key by listing its locks, then store the workspace
    (if new), the account (credentials encrypted) and the locks in one transaction. Nothing is
    stored on failure, and no database lock is held while Seam is being asked."""
    from seam.exceptions import SeamHttpApiError, SeamHttpUnauthorizedError

    from devices.providers.seam.provider import SeamProvider, seam_client

    if not api_key.startswith(API_KEY_PREFIX):
        raise ConnectError(f"--api-key: a Seam API key starts with '{API_KEY_PREFIX}'.")
    if webhook_secret is not None and not is_webhook_secret(webhook_secret):
        raise ConnectError("--webhook-secret: a Seam webhook secret is 'whsec_' followed by base64.")
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise ConnectError("--endpoint: give an http:// or https:// URL.")
    if not " ".join(workspace_name.split()):
        raise ConnectError("--workspace: a workspace needs a name.")
    values = {"api_key": api_key, "endpoint": endpoint or ""}
    account = ConnectedAccount(provider=ProviderKind.SEAM)
    try:
        snapshots = SeamProvider(account, seam=seam_client(values)).sync_devices()
    except SeamHttpUnauthorizedError as exc:
        raise ConnectError("--api-key: Seam refused this API key.") from exc
    except SeamHttpApiError as exc:
        raise ConnectError(f"Seam answered with an error: {exc.code}.") from exc
    except httpx.HTTPError as exc:
        raise ConnectError(f"--endpoint: could not reach Seam ({type(exc).__name__}).") from exc
    with transaction.atomic():
        try:
            account.workspace = workspace_get_or_create(name=workspace_name)
        except ValueError as exc:
            raise ConnectError(f"--workspace: {exc}.") from exc
        account.display_name = f"Seam ({credentials.masked(api_key)})"
        account.encrypted_credentials = credentials.encrypt(values)
        # Without one, Latchkey's own secret: set it as the secret of Seam's webhook to Latchkey.
        account.webhook_secret = webhook_secret or new_webhook_secret()
        account.save()
        devices = devices_sync(account=account, snapshots=snapshots)
    return account, devices


def device_code_constraints_report(
    *,
    device: Device,
    supported_code_lengths: list[int] | None = None,
    min_code_length: int | None = None,
    max_code_length: int | None = None,
) -> Device:
    """Record the PIN lengths a lock accepts, when the integrator knows better than the provider
    (Seam's report_device_constraints): either the list, or a range."""
    if supported_code_lengths is not None and (min_code_length is not None or max_code_length is not None):
        raise ValidationError(
            {"supported_code_lengths": ["give either supported_code_lengths or a min/max range, not both."]}
        )
    if supported_code_lengths is None:
        if min_code_length is None and max_code_length is None:
            raise ValidationError(
                {
                    "supported_code_lengths": [
                        "give supported_code_lengths, or min_code_length and/or max_code_length."
                    ]
                }
            )
        low = min_code_length if min_code_length is not None else 1
        high = max_code_length if max_code_length is not None else MAX_CODE_LENGTH
        if low > high:
            raise ValidationError({"min_code_length": ["must not exceed max_code_length."]})
        supported_code_lengths = list(range(low, high + 1))
    try:
        validate_code_lengths(supported_code_lengths)
    except ValidationError as exc:
        raise ValidationError({"supported_code_lengths": exc.messages}) from exc
    device.supported_code_lengths = sorted(supported_code_lengths)
    device.save(update_fields=["supported_code_lengths"])
    return device


def device_rename(*, device: Device, name: str) -> Device:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": ["must be a non-empty string."]})
    if rules.has_control_characters(name):
        raise ValidationError(
            {"name": ["contains control characters (such as line breaks); use plain text."]}
        )
    limit = Device._meta.get_field("display_name").max_length
    if len(name) > limit:
        raise ValidationError({"name": [f"is {len(name)} characters long; at most {limit} are allowed."]})
    device.display_name = name.strip()
    device.save(update_fields=["display_name"])
    return device


MAX_CUSTOM_METADATA_KEYS = 50


def device_custom_metadata_update(*, device: Device, changes: dict) -> Device:
    """Merge an integration's key:value pairs into the lock's ``custom_metadata``, as Seam does:
    a key given null is removed; the others keep their values."""
    merged = {**(device.custom_metadata or {}), **changes}
    merged = {key: value for key, value in merged.items() if value is not None}
    if len(merged) > MAX_CUSTOM_METADATA_KEYS:
        raise ValidationError(
            {
                "custom_metadata": [
                    f"would hold {len(merged)} keys; at most {MAX_CUSTOM_METADATA_KEYS} are allowed."
                ]
            }
        )
    device.custom_metadata = merged
    device.save(update_fields=["custom_metadata"])
    return device


class NotSandbox(Exception):
    """A simulation asked of a lock that is real: Latchkey never fakes a real lock's state."""


def sandbox_lock_switch(*, device: Device, **switches: bool) -> SandboxLock:
    """Flip a sandbox lock's fault switches (``is_offline``, ``is_removed``...), as the simulate
    routes and the admin do."""
    if device.connected_account.provider != ProviderKind.SANDBOX:
        raise NotSandbox(device.pk)
    lock, _ = SandboxLock.objects.get_or_create(device=device)
    for name, value in switches.items():
        setattr(lock, name, value)
    lock.save(update_fields=list(switches))
    return lock
