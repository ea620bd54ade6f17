import factory

from devices.models import ConnectedAccount, Device, Property, ProviderKind, Workspace


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")


class PropertyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Property

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Faker("street_address")
    time_zone = "Europe/Lisbon"


class ConnectedAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConnectedAccount

    workspace = factory.SubFactory(WorkspaceFactory)
    provider = ProviderKind.SANDBOX


class DeviceFactory(factory.django.DjangoModelFactory):
    """A plain keypad lock taking 4-6 digit PINs, with no special rules."""

    class Meta:
        model = Device

    workspace = factory.SubFactory(WorkspaceFactory)
    property = factory.SubFactory(PropertyFactory, workspace=factory.SelfAttribute("..workspace"))
    connected_account = factory.SubFactory(
        ConnectedAccountFactory, workspace=factory.SelfAttribute("..workspace")
    )
    provider_device_id = factory.Sequence(lambda n: f"lock-{n}")
    device_type = "schlage_lock"
    display_name = factory.Sequence(lambda n: f"Door {n}")
    supported_code_lengths = [4, 5, 6]
    max_active_codes_supported = 30


def sandbox_locks(
    count: int, *, account=None, first: int = 0, slots: int = 60, response_delay_ms: int = 0
) -> list[Device]:
    """``count`` plain sandbox keypad locks (6-digit PINs, ``slots`` code slots), on ``account``
    or a new sandbox account, answering each command after ``response_delay_ms``; numbered
    from ``first``."""
    from devices.models import SandboxLock

    if account is None:
        workspace = WorkspaceFactory(is_sandbox=True)
        account = ConnectedAccount.objects.create(workspace=workspace, provider=ProviderKind.SANDBOX)
    locks = [
        Device.objects.create(
            workspace=account.workspace,
            connected_account=account,
            provider_device_id=f"door-{n}",
            device_type="schlage_lock",
            display_name=f"Door {n}",
            supported_code_lengths=[6],
            max_active_codes_supported=slots,
        )
        for n in range(first, first + count)
    ]
    SandboxLock.objects.bulk_create(
        SandboxLock(device=lock, response_delay_ms=response_delay_ms) for lock in locks
    )
    return locks
