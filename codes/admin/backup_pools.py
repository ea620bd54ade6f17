"""Backup code pools and the backup codes they hold."""

from django.contrib import admin
from django.db.models import Count, Q

from codes.admin.inlines import BackupAccessCodeInline
from codes.models import AccessCodeStatus, BackupAccessCode, BackupAccessCodePool
from devices.admin import ReadOnlyAdmin, WorkspaceScopedAdmin


@admin.register(BackupAccessCodePool)
class BackupAccessCodePoolAdmin(WorkspaceScopedAdmin):
    workspace_path = "device__workspace"
    list_display = ["device", "is_enabled", "target_size", "auto_pull", "available"]
    list_filter = ["is_enabled"]
    list_select_related = ["device"]
    inlines = [BackupAccessCodeInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                available_count=Count(
                    "backup_codes",
                    filter=Q(
                        backup_codes__access_code__status=AccessCodeStatus.SET,
                        backup_codes__access_code__deleted_at__isnull=True,
                        backup_codes__pulled_for__isnull=True,
                    ),
                )
            )
        )

    @admin.display(ordering="available_count", description="Ready on the lock")
    def available(self, obj):
        return obj.available_count


@admin.register(BackupAccessCode)
class BackupAccessCodeAdmin(ReadOnlyAdmin):
    workspace_path = "pool__device__workspace"
    list_display = ["backup_access_code_id", "pool", "access_code", "pulled_for", "pulled_at"]
    list_filter = [("pulled_for", admin.EmptyFieldListFilter)]
    list_select_related = ["pool__device", "access_code", "pulled_for"]
