"""The review flag, judged again whenever one of its causes changes.

``needs_review`` and ``review_reason`` are stored so that the review queue is one indexed
query; they hold ``selectors.review_reason``'s answer. Whatever raises or clears an issue on a
code, its lock or its account (the scheduler through its ledger, a provider's webhook, a pool
refill, a staff step) calls ``review_flags_rejudge`` for the codes it may concern, in its own
transaction, so the stored answer never outlives its cause.
"""

from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from codes.models import AccessCode, AccessCodeStatus
from codes.selectors import issues_for_codes, review_reason
from common.db import update_rows


def judge(code: AccessCode, issues, *, now: datetime) -> bool:
    """Set the code's flag from ``review_reason``; True if it changed."""
    reason = review_reason(code, issues, now=now)
    if (code.needs_review, code.review_reason) == (bool(reason), reason):
        return False
    code.needs_review, code.review_reason = bool(reason), reason
    return True


def review_flags_rejudge(
    *, device_ids=(), account_ids=(), code_ids=(), exclude_ids=(), now: datetime | None = None
) -> int:
    """Judge again the flags of the live (or still to be removed) managed codes on these locks,
    on every lock of these accounts, and these codes: a few queries for the lot. Returns how
    many flags changed."""
    now = now or timezone.now()
    scope = Q(device_id__in=list(device_ids)) | Q(device__connected_account_id__in=list(account_ids))
    scope |= Q(pk__in=list(code_ids))
    codes = list(
        AccessCode.objects.filter(scope, is_managed=True)
        .filter(Q(deleted_at__isnull=True) | Q(status=AccessCodeStatus.REMOVING))
        .exclude(pk__in=list(exclude_ids))
        .select_related("device", "pulled_backup_access_code")
    )
    if not codes:
        return 0
    issues = issues_for_codes(codes, now=now)
    changed = [code for code in codes if judge(code, issues[code.pk], now=now)]
    update_rows(changed, ["needs_review", "review_reason"])
    return len(changed)
