"""Catalog of access-code errors and warnings, with plain-language guidance.

Every error and warning code that can appear on an access code (including device, connected-account
and bridge errors that get attached to the code) is described here once: the boolean flags that go on
the error object, a short message, what it means for a property manager, what to do about it, how
serious it is, and whether Latchkey's scheduler keeps retrying on its own.

Unknown codes never raise: ``error()`` and ``warning()`` return a generic fallback entry
(``is_known=False``) so callers always have something sensible to show.

It holds data only: no database access, so any layer can ask it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from devices.models import IssueKind  # the one definition of error/warning, shared with the rows

__all__ = [
    "ERRORS",
    "WARNINGS",
    "LATCHKEY_WARNINGS",
    "CONTENTS_UNKNOWN",
    "CatalogEntry",
    "IssueKind",
    "Scope",
    "Severity",
    "error",
    "lookup",
    "warning",
]


class Scope(StrEnum):
    ACCESS_CODE = "access_code"
    DEVICE = "device"
    CONNECTED_ACCOUNT = "connected_account"
    BRIDGE = "bridge"


class Severity(StrEnum):
    BLOCKING = "blocking"  # the code will not work until someone acts
    DEGRADED = "degraded"  # may still work / resolves itself, but watch it
    NOTICE = "notice"  # informational


@dataclass(frozen=True)
class CatalogEntry:
    code: str
    kind: IssueKind
    flags: tuple[str, ...]
    message: str
    meaning: str
    remedy: str
    severity: Severity
    transient: bool
    is_known: bool = True
    # A refusal reported on one code for a reason that is the lock's (no free slot, no keypad,
    # its PIN rules): the lock would refuse its other codes alike, so they are checked again
    # at once rather than each at its own turn.
    about_lock: bool = False
    # Needs a person as soon as it is raised, though the code may still work: it is flagged for
    # review at once, not only from its 72-hour deadline (codes.selectors.review_reason).
    flags_review_at_once: bool = False

    @property
    def scope(self) -> Scope:
        if "is_bridge_error" in self.flags:
            return Scope.BRIDGE
        if "is_connected_account_error" in self.flags:
            return Scope.CONNECTED_ACCOUNT
        if "is_device_error" in self.flags:
            return Scope.DEVICE
        return Scope.ACCESS_CODE


# Flag sets carried by each family of errors.
_CODE = ("is_access_code_error",)
_DEVICE = ("is_device_error",)
_ACCOUNT = ("is_connected_account_error", "is_device_error")
_BRIDGE = ("is_connected_account_error", "is_bridge_error")

# Readable names for the ``transient`` column.
_RETRIES = True  # Latchkey's scheduler keeps trying by itself
_WAITS = False  # nothing changes until a person (or the outside world) does something

_BLOCKING = Severity.BLOCKING
_DEGRADED = Severity.DEGRADED
_NOTICE = Severity.NOTICE


# Errors on a code whose cause is its lock (see ``CatalogEntry.about_lock``). Errors scoped to
# the lock or its account are already shown on every code of the lock, so they need no entry.
_ABOUT_THE_LOCK = frozenset(
    {
        "no_space_for_access_code_on_device",
        "august_device_slots_full",
        "smartthings_no_free_slots_available",
        "hubitat_no_free_positions_available",
        "august_lock_missing_keypad",
        "august_lock_bad_access_code_format",
        "august_lock_invalid_code_length",
        "igloohome_bridge_offline",
        "kwikset_insufficient_permissions",
        "keynest_unsupported_third_party_locker",
    }
)


def _err(
    code: str,
    flags: tuple[str, ...],
    severity: Severity,
    transient: bool,
    message: str,
    meaning: str,
    remedy: str,
) -> CatalogEntry:
    return CatalogEntry(
        code,
        IssueKind.ERROR,
        flags,
        message,
        meaning,
        remedy,
        severity,
        transient,
        about_lock=code in _ABOUT_THE_LOCK,
    )


def _warn(
    code: str, severity: Severity, transient: bool, message: str, meaning: str, remedy: str
) -> CatalogEntry:
    return CatalogEntry(code, IssueKind.WARNING, (), message, meaning, remedy, severity, transient)


def _index(entries: Iterable[CatalogEntry]) -> Mapping[str, CatalogEntry]:
    table: dict[str, CatalogEntry] = {}
    for entry in entries:
        if entry.code in table:
            raise ValueError(f"duplicate catalog entry: {entry.code}")
        table[entry.code] = entry
    return MappingProxyType(table)


# Columns: code, flags, severity, transient, message, meaning, remedy.
ERRORS: Mapping[str, CatalogEntry] = _index(
    [
        # ---- Generic access code errors -------------------------------------------------------------
        _err(
            "failed_to_set_on_device",
            _CODE,
            _BLOCKING,
            _RETRIES,
            "The lock did not accept this code.",
            "Latchkey tried to program the code onto the lock and the attempt failed, so the PIN will not "
            "open the door yet. Other errors on the code or the lock often say why.",
            "Latchkey keeps retrying automatically, in case the problem was temporary. Look at any other "
            "error listed on this code or lock for the specific fix, and if a guest is due soon, pull a "
            "backup code and send them that instead.",
        ),
        _err(
            "failed_to_remove_from_device",
            _CODE,
            _BLOCKING,
            _RETRIES,
            "The lock did not remove this code.",
            "Latchkey tried to delete the code from the lock and could not, so the PIN may still open the "
            "door after it should have stopped working.",
            "Latchkey keeps retrying automatically. Open the lock maker's app to see whether the code is "
            "still listed; if it is and the guest has left, delete it there. If it is already gone, it was "
            "probably removed some other way and no further action is needed.",
        ),
        _err(
            "code_modified_external_to_seam",
            _CODE,
            _DEGRADED,
            _RETRIES,
            "This code was changed or deleted outside Latchkey.",
            "After Latchkey set the code, someone or something edited or removed it directly on the lock or "
            "in another app. Until it is put back, the PIN the guest was given may not match the lock.",
            "Latchkey retries automatically and restores the code to what it should be. Ask your team not "
            "to edit Latchkey codes in the lock maker's app, and switch off other software that manages "
            "codes on this lock. If the change was intentional, delete and re-create the code in Latchkey.",
        ),
        _err(
            "conflicting_unmanaged_access_code_id",
            _CODE,
            _BLOCKING,
            _WAITS,
            "A code Latchkey does not manage already uses this PIN.",
            "The lock already holds a code with the same PIN that was added outside Latchkey, so the lock "
            "refuses to store a second copy.",
            "Either convert the existing unmanaged code into a Latchkey-managed code, delete it from the "
            "lock, or give this code a different PIN.",
        ),
        _err(
            "duplicate_code_on_device",
            _CODE,
            _BLOCKING,
            _WAITS,
            "Another code on the lock already uses this PIN.",
            "Locks cannot hold the same PIN twice, so this code was not added.",
            "Look through the lock's existing codes (in Latchkey's unmanaged codes list or the lock maker's "
            "app) for the same PIN or name. Delete that duplicate or convert it to a managed code, or "
            "choose a different PIN for this one.",
        ),
        _err(
            "duplicate_code_attempt_prevented",
            _CODE,
            _BLOCKING,
            _WAITS,
            "A change to this code was blocked because it would create a duplicate.",
            "The requested update would have given this code the same PIN as another code on the lock, so "
            "the change was not made and the new PIN will not work.",
            "Pick a PIN that no other code on this lock uses and save the change again.",
        ),
        _err(
            "no_space_for_access_code_on_device",
            _CODE,
            _BLOCKING,
            _WAITS,
            "The lock has no room for another code.",
            "Every code slot on the lock is taken, so this code could not be stored.",
            "Delete codes that are no longer needed, preferably through Latchkey so its records stay "
            "accurate. Old codes added outside Latchkey count too: remove them in the lock maker's app or "
            "convert them to managed codes.",
        ),
        # ---- Older names still used by troubleshooting material --------------------------------------
        _err(
            "august_device_slots_full",
            _CODE,
            _BLOCKING,
            _WAITS,
            "This August lock has no free code slots.",
            "All the code positions on the August lock are in use, so the new code could not be added.",
            "Delete codes that are no longer needed, ideally through Latchkey rather than the August app, "
            "then the code can be set.",
        ),
        _err(
            "august_lock_bad_access_code_format",
            _CODE,
            _BLOCKING,
            _WAITS,
            "August rejected the format of this code.",
            "The PIN or the code's name does not meet the August lock's rules, for example the wrong number "
            "of digits or unsupported characters.",
            "Check the PIN length and naming rules for your August model, then edit the code in Latchkey so "
            "it fits them.",
        ),
        _err(
            "salto_site_user_not_subscribed",
            _CODE,
            _BLOCKING,
            _WAITS,
            "The Salto user for this code has no active subscription.",
            "Salto needs each user to be covered by the site's subscription; this one is not, which usually "
            "means the site has used up its user allowance.",
            "In Salto, check this user's subscription and how many users your site plan allows. Remove users "
            "you no longer need or upgrade the plan.",
        ),
        # ---- Provider-specific access code errors ----------------------------------------------------
        _err(
            "smartthings_failed_to_set_access_code",
            _CODE,
            _BLOCKING,
            _RETRIES,
            "SmartThings could not program this code.",
            "The SmartThings hub reported a failure while adding the code, so the PIN does not work yet.",
            "Latchkey keeps retrying automatically. Make sure the SmartThings hub is powered and online; if "
            "a guest arrives soon, pull a backup code.",
        ),
        _err(
            "smartthings_failed_to_set_after_multiple_retries",
            _CODE,
            _BLOCKING,
            _WAITS,
            "SmartThings kept refusing this code, so Latchkey stopped trying.",
            "Repeated attempts failed. This is usually a clash with an existing code or with other "
            "software (such as RBoy Apps or Operto) that also manages codes on the lock.",
            "Turn off other code-management apps, especially RBoy Apps or Operto, for this lock, and remove "
            "any duplicate PIN they created. Then save the code again in Latchkey, or pull a backup code.",
        ),
        _err(
            "smartthings_no_free_slots_available",
            _CODE,
            _BLOCKING,
            _WAITS,
            "This SmartThings lock has no free code slots.",
            "Every slot on the lock is in use. Besides Latchkey's codes, a SmartThings lock usually keeps "
            "three other codes of its own.",
            "Delete codes you no longer need, preferably through Latchkey. Codes added outside Latchkey "
            "also take slots: remove them or convert them to managed codes.",
        ),
        _err(
            "igloohome_bridge_too_many_pending_jobs",
            _CODE,
            _DEGRADED,
            _RETRIES,
            "The igloohome bridge is busy with a backlog of jobs.",
            "The bridge has too many queued requests to take this one right now, so the code is waiting its "
            "turn.",
            "Latchkey keeps retrying automatically as the queue clears. If it lasts, check that the bridge "
            "is close to the lock and has a good Wi-Fi signal.",
        ),
        _err(
            "igloohome_bridge_offline",
            _CODE,
            _BLOCKING,
            _RETRIES,
            "The igloohome bridge is offline.",
            "Latchkey reaches this igloohome lock through its bridge, which cannot be contacted, so the code "
            "cannot be sent.",
            "Latchkey keeps retrying automatically. Check that the bridge is plugged in, near the lock and "
            "connected to Wi-Fi; restarting it often helps.",
        ),
        _err(
            "kwikset_unable_to_confirm_code",
            _CODE,
            _BLOCKING,
            _WAITS,
            "Kwikset could not confirm this code was saved.",
            "The Kwikset lock never confirmed the code. This usually happens when the same PIN was already "
            "added to the lock some other way.",
            "Give this code a different PIN in Latchkey and save it, or remove the other code with the same "
            "PIN in the Kwikset app.",
        ),
        _err(
            "kwikset_unable_to_confirm_deletion",
            _CODE,
            _DEGRADED,
            _RETRIES,
            "Kwikset could not confirm this code was deleted.",
            "The code may still be on the lock, or it may already have been deleted some other way.",
            "Latchkey keeps retrying automatically. To check, open the Kwikset app on a phone connected to "
            "the lock over Bluetooth and look at the code list. If the code is not there, it is gone and "
            "Latchkey's record can be cleared.",
        ),
        _err(
            "august_lock_invalid_code_length",
            _CODE,
            _BLOCKING,
            _WAITS,
            "This PIN has the wrong number of digits for the August lock.",
            "August locks only accept PINs of certain lengths, and this one does not fit.",
            "Edit the code in Latchkey and use a PIN length your August lock supports (check the lengths "
            "already used by its other codes).",
        ),
        _err(
            "august_device_programming_delay",
            _CODE,
            _DEGRADED,
            _RETRIES,
            "August is still moving this code onto the lock.",
            "August accepted the code, but it has not reached the lock yet, which usually points to a weak "
            "or patchy internet connection at the lock.",
            "Latchkey keeps retrying automatically. Try locking and unlocking from Latchkey to test the "
            "connection, and check the August Wi-Fi bridge's power and signal.",
        ),
        _err(
            "august_lock_missing_keypad",
            _CODE,
            _BLOCKING,
            _WAITS,
            "This August lock has no keypad connected.",
            "PIN codes are entered on an August keypad, and none is paired with this lock, so the code "
            "cannot be used.",
            "Install an August keypad and pair it with the lock in the August app; if one is fitted, check "
            "its batteries and pairing.",
        ),
        _err(
            "august_lock_temporarily_offline",
            _CODE,
            _DEGRADED,
            _RETRIES,
            "The August lock went offline while this code was being updated.",
            "The lock dropped its connection mid-change. The update should go through once it is back "
            "online.",
            "Latchkey keeps retrying automatically. Check the lock's batteries and the August Wi-Fi "
            "bridge's power and internet connection if it does not recover.",
        ),
        _err(
            "salto_ks_user_not_subscribed",
            _CODE,
            _BLOCKING,
            _WAITS,
            "The Salto KS user for this code is not subscribed.",
            "Salto KS only lets subscribed users have access, and this code's user is not covered by your "
            "site's subscription.",
            "In Salto KS, check the user's subscription status and your site's user limit; free up a place "
            "or upgrade the plan.",
        ),
        _err(
            "hubitat_device_programming_delay",
            _CODE,
            _DEGRADED,
            _RETRIES,
            "Hubitat is still moving this code onto the lock.",
            "The Hubitat hub took the code but the lock has not confirmed it yet.",
            "Latchkey keeps retrying automatically. If it drags on, check that the Hubitat hub is online and "
            "within range of the lock, and that the lock's batteries are good.",
        ),
        _err(
            "hubitat_no_free_positions_available",
            _CODE,
            _BLOCKING,
            _WAITS,
            "This Hubitat lock has no free code positions.",
            "All code positions on the lock are taken, so the code could not be added.",
            "Delete codes that are no longer needed, preferably through Latchkey; codes added in Hubitat "
            "directly count too and can be removed or converted to managed codes.",
        ),
        _err(
            "wyze_duplicate_code_name",
            _CODE,
            _BLOCKING,
            _WAITS,
            "Another code on this Wyze lock already has this name.",
            "Wyze requires every code on a lock to have a distinct name, so this one was refused.",
            "Rename this code in Latchkey (for example add the guest's surname or the stay dates), or "
            "rename the other code in the Wyze app.",
        ),
        _err(
            "wyze_potential_duplicate_code",
            _CODE,
            _BLOCKING,
            _WAITS,
            "Wyze thinks this PIN may duplicate another code.",
            "The Wyze lock refused the code because it looks too much like a PIN it already holds.",
            "Check the codes in the Wyze app and either remove the similar one or give this code a clearly "
            "different PIN in Latchkey.",
        ),
        _err(
            "dormakaba_oracode_invalid_time_range",
            _CODE,
            _BLOCKING,
            _WAITS,
            "No Dormakaba Oracode user level matches these times.",
            "Oracode codes must fit one of the user levels (time patterns) set up for the property, and none "
            "covers this code's start and end times.",
            "Either add a user level in Dormakaba Oracode that covers these check-in and check-out times, or "
            "change the code's times in Latchkey to match an existing level.",
        ),
        _err(
            "kwikset_insufficient_permissions",
            _CODE,
            _BLOCKING,
            _WAITS,
            "The linked Kwikset account is not allowed to manage PINs on this lock.",
            "Only Kwikset accounts with the admin role can add or remove codes, and the account linked to "
            "Latchkey does not have it.",
            "Ask the lock's Home Admin to give the linked account the admin role in the Kwikset app, or ask "
            "them to set the PIN themselves.",
        ),
        _err(
            "keynest_unsupported_third_party_locker",
            _CODE,
            _BLOCKING,
            _WAITS,
            "This KeyNest locker cannot be managed by Latchkey.",
            "The locker is run by a third party that KeyNest does not let Latchkey control, so codes cannot "
            "be created for it.",
            "Use a KeyNest location that supports integrations for this property, or arrange key handover "
            "for this locker directly with KeyNest.",
        ),
        # ---- Connected account errors ------------------------------------------------------------
        _err(
            "account_disconnected",
            _ACCOUNT,
            _BLOCKING,
            _WAITS,
            "The lock provider account is no longer connected.",
            "Latchkey has lost access to the provider account this lock belongs to, often after a password "
            "change or revoked access, so no codes can be changed on its locks.",
            "Re-link the provider account in Latchkey by signing in to it again. Codes already on the locks "
            "keep working, but new or changed codes will wait until the account is reconnected.",
        ),
        _err(
            "salto_ks_subscription_limit_exceeded",
            _ACCOUNT,
            _BLOCKING,
            _WAITS,
            "Your Salto KS site has reached its user limit.",
            "The Salto KS subscription allows a fixed number of users and it is used up, so no new users "
            "(and their codes) can be added.",
            "Remove Salto KS users you no longer need, or upgrade the site's subscription with Salto.",
        ),
        # ---- Device errors ----------------------------------------------------------------------
        _err(
            "device_offline",
            _DEVICE,
            _BLOCKING,
            _RETRIES,
            "The lock is offline.",
            "Latchkey cannot reach the lock, so codes cannot be added or removed until it reconnects. Codes "
            "already on it keep working.",
            "Latchkey keeps retrying automatically. Check the lock's batteries and the Wi-Fi, bridge or hub "
            "it connects through; if a guest is due soon, pull a backup code.",
        ),
        _err(
            "device_removed",
            _DEVICE,
            _BLOCKING,
            _WAITS,
            "The lock was removed from the provider account.",
            "The lock no longer appears in the linked provider account, so Latchkey cannot manage its codes.",
            "If the lock is still in use, add it back to the provider account; otherwise delete or move its "
            "codes in Latchkey.",
        ),
        _err(
            "hub_disconnected",
            _DEVICE,
            _BLOCKING,
            _RETRIES,
            "The hub this lock connects through is offline.",
            "Latchkey talks to the lock through a hub, and the hub has lost its connection, so codes cannot "
            "be changed.",
            "Latchkey keeps retrying automatically. Check that the hub has power and internet, and restart "
            "it if needed.",
        ),
        _err(
            "device_disconnected",
            _DEVICE,
            _BLOCKING,
            _RETRIES,
            "The lock is disconnected.",
            "The lock has lost its link to the provider, so Latchkey cannot update its codes.",
            "Latchkey keeps retrying automatically. Check the lock's batteries and its Wi-Fi, bridge or "
            "hub; if it stays disconnected, reconnect it in the lock maker's app.",
        ),
        _err(
            "empty_backup_access_code_pool",
            _DEVICE,
            _DEGRADED,
            _WAITS,
            "This lock has no backup codes left.",
            "Normal codes are unaffected, but if a code fails there is no spare code to fall back on.",
            "Add backup codes to this lock's pool in Latchkey, freeing slots on the lock first if it is "
            "full.",
        ),
        _err(
            "august_lock_not_authorized",
            _DEVICE,
            _BLOCKING,
            _WAITS,
            "The linked August account cannot manage this lock.",
            "The August account connected to Latchkey lacks the access level needed to control this lock's "
            "codes.",
            "Ask the lock's owner to make the linked account an owner or admin in the August app, then "
            "re-link the account in Latchkey if needed.",
        ),
        _err(
            "august_lock_missing_bridge",
            _DEVICE,
            _BLOCKING,
            _WAITS,
            "This August lock has no Wi-Fi bridge.",
            "Without an August Connect (Wi-Fi) bridge the lock cannot be reached over the internet, so codes "
            "cannot be managed remotely.",
            "Install an August Wi-Fi bridge near the lock and pair it in the August app, or plug it back in "
            "if it has been unplugged.",
        ),
        _err(
            "ttlock_lock_not_paired_to_gateway",
            _DEVICE,
            _BLOCKING,
            _WAITS,
            "This TTLock lock is not paired with a gateway.",
            "TTLock locks need a gateway to receive codes over the internet, and this one has none.",
            "Pair the lock with a TTLock gateway in the TTLock app and keep the gateway powered and within "
            "range of the lock.",
        ),
        _err(
            "missing_device_credentials",
            _DEVICE,
            _BLOCKING,
            _WAITS,
            "Latchkey is missing the credentials for this lock.",
            "The login or key needed to control this lock has not been provided, so its codes cannot be "
            "managed.",
            "Enter the lock's credentials again, or re-link the provider account it belongs to.",
        ),
        _err(
            "auxiliary_heat_running",
            _DEVICE,
            _NOTICE,
            _RETRIES,
            "The thermostat's auxiliary heat is running.",
            "This is a thermostat status, not a lock problem; the backup heating stage is on, which can use "
            "a lot of energy.",
            "No action is needed for door codes and Latchkey keeps checking until it clears. If it stays "
            "on, check the thermostat settings or ask an HVAC technician.",
        ),
        _err(
            "subscription_required",
            _DEVICE,
            _BLOCKING,
            _WAITS,
            "The lock maker requires a paid subscription for this lock.",
            "The provider only allows remote code management with an active subscription, which this "
            "account does not have.",
            "Start or renew the subscription in the lock maker's app or website, then try again in Latchkey.",
        ),
        _err(
            "lockly_missing_wifi_bridge",
            _DEVICE,
            _BLOCKING,
            _WAITS,
            "This Lockly lock has no Wi-Fi bridge.",
            "Without its Wi-Fi bridge the Lockly lock cannot be reached online, so codes cannot be sent.",
            "Install or plug in the Lockly Wi-Fi bridge near the lock and connect it in the Lockly app.",
        ),
        # ---- Bridge errors ----------------------------------------------------------------------
        _err(
            "bridge_disconnected",
            _BRIDGE,
            _BLOCKING,
            _RETRIES,
            "Latchkey cannot reach the on-site bridge.",
            "The bridge software that connects Latchkey to your on-site access system is not responding, "
            "for example because its computer is off or offline or the program has stopped.",
            "Latchkey keeps retrying automatically. Check that the computer running the bridge is on and "
            "connected to the internet, and restart the bridge program.",
        ),
    ]
)


# Columns: code, severity, transient, message, meaning, remedy.
WARNINGS: Mapping[str, CatalogEntry] = _index(
    [
        _warn(
            "august_device_programming_delay",
            _DEGRADED,
            _RETRIES,
            "August is taking a while to put this code on the lock.",
            "The code is on its way but has not reached the lock yet, often because of a shaky connection.",
            "Latchkey keeps retrying automatically. If it is close to check-in, test the lock from Latchkey "
            "and check the August Wi-Fi bridge.",
        ),
        _warn(
            "august_lock_temporarily_offline",
            _DEGRADED,
            _RETRIES,
            "The August lock is briefly offline.",
            "The lock lost its connection; pending changes should go through when it reconnects.",
            "Latchkey keeps retrying automatically. If it does not recover, check the lock's batteries and "
            "the August Wi-Fi bridge.",
        ),
        _warn(
            "code_modified_external_to_seam",
            _NOTICE,
            _WAITS,
            "This code was changed or deleted outside Latchkey.",
            "The code allows outside changes, so Latchkey noted the change and left the lock as it is.",
            "If the change was intended, update the code in Latchkey to match. If not, find out who changed "
            "it and turn off outside changes for this code so Latchkey restores it.",
        ),
        _warn(
            "delay_in_removing_from_device",
            _DEGRADED,
            _RETRIES,
            "Removing this code from the lock is taking longer than expected.",
            "The lock has not yet reported the code as deleted, so it may still open the door.",
            "Latchkey keeps retrying automatically. If the guest has already left and it matters, delete "
            "the code in the lock maker's app as well.",
        ),
        _warn(
            "delay_in_setting_on_device",
            _DEGRADED,
            _RETRIES,
            "Putting this code on the lock is taking longer than expected.",
            "The code should already be usable but the lock has not confirmed it, so it may not work yet.",
            "Latchkey keeps retrying automatically. If the guest is arriving now, pull a backup code and "
            "send them that.",
        ),
        _warn(
            "device_low_battery",
            _DEGRADED,
            _WAITS,
            "The lock's batteries are running low.",
            "The lock reported a low battery. Codes still work for now, but a lock with flat batteries "
            "stops taking new codes and may not open for the guest.",
            "Replace the lock's batteries soon, before the next guest arrives; the warning clears when the "
            "lock reports a healthy battery again.",
        ),
        _warn(
            "igloo_algopin_must_be_used_within_24_hours",
            _NOTICE,
            _WAITS,
            "This igloohome code must be used within 24 hours of its start.",
            "igloohome offline codes (algoPINs) expire if nobody enters them within a day of becoming "
            "active.",
            "Tell the guest to enter the code at the lock within 24 hours of the start time; if that is not "
            "possible, create the code with a later start time.",
        ),
        _warn(
            "kwikset_unable_to_confirm_code",
            _DEGRADED,
            _RETRIES,
            "Kwikset has not confirmed this code yet.",
            "The code may be on the lock, but the Kwikset lock has not acknowledged it.",
            "Latchkey keeps retrying automatically. If it is not confirmed soon, check for another code with "
            "the same PIN in the Kwikset app or give this one a different PIN.",
        ),
        _warn(
            "management_transferred",
            _NOTICE,
            _WAITS,
            "This code is now managed from another Latchkey workspace.",
            "Control of the code moved to a different workspace, so changes made here no longer reach the "
            "lock.",
            "Make any changes from the workspace that now manages the lock; if the move was unexpected, "
            "check who linked the lock there.",
        ),
        _warn(
            "schlage_creation_outage",
            _DEGRADED,
            _RETRIES,
            "Schlage returned an error while creating this code.",
            "Schlage's service had a problem when the code was being added, so it may not be on the lock "
            "yet.",
            "Latchkey keeps retrying automatically. If a guest is due soon, pull a backup code.",
        ),
        _warn(
            "schlage_detected_duplicate",
            _DEGRADED,
            _WAITS,
            "Schlage found another code with the same PIN.",
            "Two codes on this Schlage lock share a PIN, so one person's code could also work for someone "
            "else.",
            "Give this code a different PIN in Latchkey, or delete the other code in the Schlage app.",
        ),
        _warn(
            "smartthings_failed_to_set_access_code",
            _DEGRADED,
            _RETRIES,
            "SmartThings had trouble setting this code.",
            "An attempt to program the code through SmartThings failed, but more attempts are coming.",
            "Latchkey keeps retrying automatically. Check that the SmartThings hub is online; if check-in is "
            "close, pull a backup code.",
        ),
        _warn(
            "third_party_integration_detected",
            _DEGRADED,
            _WAITS,
            "Other software is also managing codes on this lock.",
            "A second integration (for example RBoy Apps or Operto) can overwrite or clash with Latchkey's "
            "codes and make them fail.",
            "Disconnect or disable the other code-management software for this lock so only Latchkey "
            "controls its codes.",
        ),
        _warn(
            "ultraloq_access_code_disabled",
            _BLOCKING,
            _WAITS,
            "This code is switched off on the Ultraloq lock.",
            "The code exists on the lock but has been disabled, so it will not open the door.",
            "Open the Ultraloq app and enable the code again.",
        ),
    ]
)


# Warnings Latchkey raises itself, about its own sources of codes (not Seam's).
# The lock has no slot for a code at some moment (told by the lock, or by the slot plan).
NO_SPACE = "no_space_for_access_code_on_device"

# Latchkey's warning for a code in the ``unknown`` status: whether the lock holds it is not known.
CONTENTS_UNKNOWN = "lock_contents_unknown"

LATCHKEY_WARNINGS: Mapping[str, CatalogEntry] = _index(
    [
        CatalogEntry(
            code="calendar_feed_failing",
            kind=IssueKind.WARNING,
            flags=(),
            message="The booking calendar this stay comes from has failed to fetch for hours.",
            meaning="Latchkey keeps the code as the calendar last said, but a booking moved or cancelled "
            "meanwhile is not reflected: the dates or the stay itself may be out of date.",
            remedy="Open the calendar's page under Booking calendars, read its error, and fix the URL or "
            "check the stay with the booking platform; a good fetch clears this by itself.",
            severity=Severity.DEGRADED,
            transient=False,
            flags_review_at_once=True,
        ),
        CatalogEntry(
            code=CONTENTS_UNKNOWN,
            kind=IssueKind.WARNING,
            flags=(),
            message="Latchkey cannot tell whether the lock holds this code.",
            meaning="A send to the lock got no answer, and the lock could not be asked since whether it "
            "kept the code: the PIN may or may not open the door, and Latchkey's record may be out of date.",
            remedy="Latchkey asks the lock again automatically and clears this as soon as it answers. If a "
            "guest is due soon, check the lock's code list in its maker's app, and bring the lock (its "
            "Wi-Fi, hub or bridge, batteries) back online.",
            severity=Severity.DEGRADED,
            transient=True,
        ),
    ]
)


def _fallback(kind: IssueKind, code: str) -> CatalogEntry:
    if kind is IssueKind.ERROR:
        return CatalogEntry(
            code=code,
            kind=kind,
            flags=_CODE,
            message=f"Latchkey received an unrecognised error for this code ({code}).",
            meaning=f"The lock or its provider reported a problem ({code}) that Latchkey has no specific "
            "guidance for yet. The code may not be working on the lock.",
            remedy="Latchkey keeps retrying automatically. Check the lock in the lock maker's app, pull a "
            "backup code if a guest is due soon, and report the error name "
            f"'{code}' to whoever maintains your Latchkey installation.",
            severity=Severity.BLOCKING,
            transient=True,
            is_known=False,
        )
    return CatalogEntry(
        code=code,
        kind=kind,
        flags=(),
        message=f"Latchkey received an unrecognised warning for this code ({code}).",
        meaning=f"The lock or its provider flagged something ({code}) that Latchkey has no specific guidance "
        "for yet. The code probably still works, but keep an eye on it.",
        remedy="Latchkey keeps retrying automatically. Test the code or check it in the lock maker's app "
        f"before the guest arrives, and report the warning name '{code}' to whoever maintains your "
        "Latchkey installation.",
        severity=Severity.DEGRADED,
        transient=True,
        is_known=False,
    )


def error(code: str) -> CatalogEntry:
    """Return the catalog entry for an error code, or a fallback entry if the code is unknown."""
    entry = ERRORS.get(code)
    return entry if entry is not None else _fallback(IssueKind.ERROR, code)


def warning(code: str) -> CatalogEntry:
    """Return the catalog entry for a warning code, or a fallback entry if the code is unknown."""
    entry = WARNINGS.get(code) or LATCHKEY_WARNINGS.get(code)
    return entry if entry is not None else _fallback(IssueKind.WARNING, code)


def lookup(kind: IssueKind | str, code: str) -> CatalogEntry:
    """Dispatch to ``error()`` or ``warning()``; raise ``ValueError`` if ``kind`` is not a valid IssueKind."""
    if IssueKind(kind) is IssueKind.ERROR:
        return error(code)
    return warning(code)
