"""Create Latchkey's three roles as Django groups with their permissions. Idempotent: run it
after every `migrate` (`make run` does); it sets each group's permissions to exactly these.

- Administrator: everything in Latchkey's apps and user management; sees every workspace.
- Property manager: codes of their workspaces (create, change, delete, see PINs), their
  properties' check-in times, their locks and sandbox switches, the review queue, and telling
  people: notification channels and rules, guests' contacts and message templates, the outbox.
- Reviewer: reads codes and locks, works the review queue; never sees PINs.

Managers and reviewers see only the workspaces they are members of (devices.Membership).
"""

from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Q

from devices.selectors import ADMINISTRATOR, PROPERTY_MANAGER, REVIEWER

_READ_CODES = [
    "codes.view_accesscode",
    "codes.view_accesscodeissue",
    "codes.view_event",
    "codes.view_actionattempt",
    "codes.view_backupaccesscodepool",
    "codes.view_backupaccesscode",
    "codes.view_staffaction",
    "codes.review_accesscode",
]
_READ_LOCKS = [
    "devices.view_workspace",
    "devices.view_property",
    "devices.view_connectedaccount",
    "devices.view_device",
    "devices.view_deviceissue",
]

# Who hears what, and the guest's code to the guest (the notifications app): a manager sets
# these up in the browser. The outbox (notifications and their attempts) is only ever read.
_TELLING_PEOPLE = [
    *(
        f"notifications.{verb}_{model}"
        for model in ("notificationchannel", "notificationrule", "guestcontact", "guestmessagetemplate")
        for verb in ("view", "add", "change", "delete")
    ),
    "notifications.view_notification",
    "notifications.view_notificationattempt",
]

ROLES = {
    PROPERTY_MANAGER: [
        *_READ_CODES,
        *_READ_LOCKS,
        "codes.add_accesscode",
        "codes.change_accesscode",
        "codes.delete_accesscode",
        "codes.view_pin",
        "codes.change_backupaccesscodepool",
        "devices.change_property",
        "devices.change_device",
        "devices.view_sandboxlock",
        "devices.change_sandboxlock",
        "devices.view_sandboxcommand",
        *_TELLING_PEOPLE,
    ],
    REVIEWER: [*_READ_CODES, *_READ_LOCKS],
}
ADMIN_APPS = ("codes", "devices", "webhooks", "notifications", "auth")


def permissions(names: list[str]) -> list[Permission]:
    query = Q()
    for name in names:
        app, codename = name.split(".")
        query |= Q(content_type__app_label=app, codename=codename)
    found = list(Permission.objects.filter(query))
    if len(found) != len(set(names)):
        missing = set(names) - {f"{p.content_type.app_label}.{p.codename}" for p in found}
        raise LookupError(f"unknown permissions: {sorted(missing)}")
    return found


class Command(BaseCommand):
    help = "Create or update the Administrator, Property manager and Reviewer groups (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        for name, perms in ROLES.items():
            group, _ = Group.objects.get_or_create(name=name)
            group.permissions.set(permissions(perms))
            self.stdout.write(f"{name}: {len(perms)} permissions")
        admin_group, _ = Group.objects.get_or_create(name=ADMINISTRATOR)
        everything = Permission.objects.filter(content_type__app_label__in=ADMIN_APPS)
        admin_group.permissions.set(everything)
        self.stdout.write(f"{ADMINISTRATOR}: {everything.count()} permissions")
