"""Codes' read-only inlines: rows only services write, shown under their parent."""

from codes.models import AccessCodeIssue, BackupAccessCode
from devices.admin import ReadOnlyInline


class AccessCodeIssueInline(ReadOnlyInline):
    model = AccessCodeIssue
    fields = ["kind", "code", "message", "created_at", "cleared_at"]
    verbose_name_plural = "Error and warning history"


class BackupAccessCodeInline(ReadOnlyInline):
    model = BackupAccessCode
    fk_name = "pool"
    fields = ["access_code", "pulled_for", "pulled_at"]
