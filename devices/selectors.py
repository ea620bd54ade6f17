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


def active_issues_of_locks(devices, accounts) -> QuerySet[DeviceIssue]:
    """Active issues raised on these locks, plus those raised on their accounts as a whole (an
    account-wide issue names no lock): everything a lock, and each code on it, shows.

    ``devices`` and ``accounts``: collections of rows or ids (the accounts those locks belong
    to), or one ``OuterRef`` each, to a lock and its account, inside a subquery."""
    lookup = "" if isinstance(devices, OuterRef) else "__in"
    return DeviceIssue.objects.filter(cleared_at__isnull=True).filter(
        Q(**{f"device{lookup}": devices}) | Q(device__isnull=True, **{f"connected_account{lookup}": accounts})
    )
