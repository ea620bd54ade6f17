"""Lock providers: one module per provider, all behind ``devices.providers.base.Provider``."""

from datetime import datetime

from devices.models import ConnectedAccount, ProviderKind
from devices.providers.base import Provider


def provider_for(account: ConnectedAccount, *, now: datetime | None = None) -> Provider:
    """The account's provider. ``now`` is the sandbox's clock, so a sweep run "as of" some
    instant (scheduler_tick --at, tests) sees simulated locks at that same instant; real
    providers live in real time and ignore it."""
    if account.provider == ProviderKind.SANDBOX:
        from devices.providers.sandbox.provider import SandboxProvider

        return SandboxProvider(account, now=now)
    if account.provider == ProviderKind.SEAM:
        from devices.providers.seam.provider import SeamProvider

        return SeamProvider(account)
    raise ValueError(f"no provider for {account.provider!r}")
