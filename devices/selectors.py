"""Reads about workspaces and locks: the workspaces a person may see in the browser, and the
issues a lock shows."""

from django.db.models import OuterRef, Q, QuerySet

from devices.models import DeviceIssue, Workspace

# The Django groups Latchkey's roles are made of (created by `manage.py setup_roles`).
ADMINISTRATOR = "Administrator"
PROPERTY_MANAGER = "Property manager"
REVIEWER = "Reviewer"


def sees_every_workspace(user) -> bool:
    return user.is_active and (user.is_superuser or user.groups.filter(name=ADMINISTRATOR).exists())


def workspaces_visible_to(user) -> QuerySet[Workspace]:
    """Administrators see every workspace; everyone else only those they are a member of."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Workspace.objects.none()
    if sees_every_workspace(user):
        return Workspace.objects.all()
    return Workspace.objects.filter(memberships__user=user)


# Errors that say Latchkey cannot reach the lock: while one concerns a lock, it is offline.
UNREACHABLE_ERRORS = (
    "device_offline",
    "device_disconnected",
    "hub_disconnected",
    "bridge_disconnected",
    "account_disconnected",
    "device_removed",
)


def active_issues_of_locks(devices, accounts) -> QuerySet[DeviceIssue]:
    """Active issues raised on these locks, plus those raised on their accounts (an account's
    issue names no lock; one about a hub or bridge names it in ``hub_id``). Which lock each
    account issue is about is ``DeviceIssue.concerns``: filter the rows with it.

    ``devices`` and ``accounts``: collections of rows or ids (the accounts those locks belong
    to), or one ``OuterRef`` each, to a lock and its account, inside a subquery."""
    lookup = "" if isinstance(devices, OuterRef) else "__in"
    return DeviceIssue.objects.filter(cleared_at__isnull=True).filter(
        Q(**{f"device{lookup}": devices}) | Q(device__isnull=True, **{f"connected_account{lookup}": accounts})
    )


def is_reachable(device, issues) -> bool:
    """Whether ``device`` is online, judged from active issues (any that may concern it): the
    one rule behind ``Device.is_online``."""
    return not any(
        issue.kind == "error" and issue.code in UNREACHABLE_ERRORS and issue.concerns(device)
        for issue in issues
    )
