"""Who sees what: the workspaces a person may see in the browser."""

from django.db.models import QuerySet

from devices.models import Workspace

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
