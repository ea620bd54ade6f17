"""Lock providers: one module per provider, all behind ``devices.providers.base.Provider``."""

from devices.models import ConnectedAccount, ProviderKind
from devices.providers.base import Provider


def provider_for(account: ConnectedAccount) -> Provider:
    if account.provider == ProviderKind.SANDBOX:
        from devices.providers.sandbox.provider import SandboxProvider

        return SandboxProvider(account)
    if account.provider == ProviderKind.SEAM:
        from devices.providers.seam.provider import SeamProvider

        return SeamProvider(account)
    raise ValueError(f"no provider for {account.provider!r}")
