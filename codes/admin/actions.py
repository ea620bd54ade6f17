"""The buttons on a code's admin page: which ones a person is offered for a code, and what each
does, always through a service. One table, in the order the buttons are shown, so the page and
the view that runs a button read the same rules."""

from collections.abc import Callable
from dataclasses import dataclass

from codes.models import AccessCode, AccessCodeStatus
from codes.services import access_codes, backup_pool, drift, staff


@dataclass(frozen=True)
class Allowed:
    """What a person may do to codes, read once per page."""

    change: bool  # edit codes
    act: bool  # retry them: editors, and reviewers working the review queue
    see_pin: bool

    @classmethod
    def of(cls, user) -> "Allowed":
        change = user.has_perm("codes.change_accesscode")
        return cls(
            change=change,
            act=change or user.has_perm("codes.review_accesscode"),
            see_pin=user.has_perm("codes.view_pin"),
        )


@dataclass(frozen=True)
class CodeAction:
    label: str
    offered: Callable[[Allowed, AccessCode], bool]
    # Does it and says what was done. None for "reveal", which answers with a page of its own.
    run: Callable[[AccessCode, object], str] | None


def _editable(allowed: Allowed, code: AccessCode) -> bool:
    return allowed.change and code.deleted_at is None and code.is_managed


def _retry(code: AccessCode, user) -> str:
    staff.access_code_retry_now(access_code=code, actor=user)
    return "Latchkey is checking this code with its lock now."


def _new_pin(code: AccessCode, user) -> str:
    access_codes.access_code_update(access_code=code, code=None)
    return "A new PIN was generated; Latchkey puts it on the lock."


def _pull_backup(code: AccessCode, user) -> str:
    backup_pool.backup_code_pull(access_code=code)
    return "A backup code was pulled for this guest: reveal it on the backup code's page."


def _allow_external(code: AccessCode, user) -> str:
    access_codes.access_code_update(access_code=code, allow_external_modification=True)
    return "Changes made outside Latchkey are now allowed."


def _disallow_external(code: AccessCode, user) -> str:
    access_codes.access_code_update(access_code=code, allow_external_modification=False)
    return "Changes made outside Latchkey are now undone by Latchkey."


def _convert(code: AccessCode, user) -> str:
    drift.access_code_convert_to_managed(access_code=code)
    return "Latchkey now manages this code."


CODE_ACTIONS: dict[str, CodeAction] = {
    # A code being removed may still be retried: its removal from the lock is what is retried.
    "retry": CodeAction(
        "Retry now",
        lambda allowed, code: (
            allowed.act
            and (code.deleted_at is None or code.status == AccessCodeStatus.REMOVING)
            and code.is_managed
        ),
        _retry,
    ),
    "new_pin": CodeAction(
        "Generate a new PIN",
        lambda allowed, code: _editable(allowed, code) and not code.is_offline_access_code,
        _new_pin,
    ),
    "pull_backup": CodeAction(
        "Pull a backup code",
        lambda allowed, code: (
            _editable(allowed, code)
            and code.use_backup_access_code_pool
            and not code.pulled_backup_access_code_id
        ),
        _pull_backup,
    ),
    "allow_external": CodeAction(
        "Allow external modification",
        lambda allowed, code: _editable(allowed, code) and not code.is_external_modification_allowed,
        _allow_external,
    ),
    "disallow_external": CodeAction(
        "Stop allowing external modification",
        lambda allowed, code: _editable(allowed, code) and code.is_external_modification_allowed,
        _disallow_external,
    ),
    "convert": CodeAction(
        "Convert to a managed code",
        lambda allowed, code: allowed.change and code.deleted_at is None and not code.is_managed,
        _convert,
    ),
    "reveal": CodeAction("Reveal PIN", lambda allowed, code: allowed.see_pin and bool(code.code), None),
}


def offered_actions(user, code: AccessCode) -> list[tuple[str, str]]:
    """The buttons ``user`` sees on ``code``'s page, as (name, label)."""
    allowed = Allowed.of(user)
    return [(name, action.label) for name, action in CODE_ACTIONS.items() if action.offered(allowed, code)]
