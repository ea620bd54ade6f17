"""Tests for codes.catalog: plain pytest, no Django required."""

import re

import pytest

from codes.catalog import (
    ERRORS,
    WARNINGS,
    CatalogEntry,
    IssueKind,
    Scope,
    Severity,
    error,
    lookup,
    warning,
)

CODE = ("is_access_code_error",)
DEVICE = ("is_device_error",)
ACCOUNT = ("is_connected_account_error", "is_device_error")
BRIDGE = ("is_connected_account_error", "is_bridge_error")

EXPECTED_ERRORS = {
    # access code errors (current names)
    "smartthings_failed_to_set_access_code": CODE,
    "smartthings_failed_to_set_after_multiple_retries": CODE,
    "smartthings_no_free_slots_available": CODE,
    "failed_to_set_on_device": CODE,
    "failed_to_remove_from_device": CODE,
    "duplicate_code_on_device": CODE,
    "duplicate_code_attempt_prevented": CODE,
    "no_space_for_access_code_on_device": CODE,
    "igloohome_bridge_too_many_pending_jobs": CODE,
    "igloohome_bridge_offline": CODE,
    "kwikset_unable_to_confirm_code": CODE,
    "kwikset_unable_to_confirm_deletion": CODE,
    "code_modified_external_to_seam": CODE,
    "august_lock_invalid_code_length": CODE,
    "august_device_programming_delay": CODE,
    "august_lock_missing_keypad": CODE,
    "august_lock_temporarily_offline": CODE,
    "salto_ks_user_not_subscribed": CODE,
    "hubitat_device_programming_delay": CODE,
    "hubitat_no_free_positions_available": CODE,
    "wyze_duplicate_code_name": CODE,
    "wyze_potential_duplicate_code": CODE,
    "dormakaba_oracode_invalid_time_range": CODE,
    "kwikset_insufficient_permissions": CODE,
    "keynest_unsupported_third_party_locker": CODE,
    # access code errors (older names)
    "august_device_slots_full": CODE,
    "august_lock_bad_access_code_format": CODE,
    "salto_site_user_not_subscribed": CODE,
    "conflicting_unmanaged_access_code_id": CODE,
    # connected account errors
    "account_disconnected": ACCOUNT,
    "salto_ks_subscription_limit_exceeded": ACCOUNT,
    # device errors
    "device_offline": DEVICE,
    "device_removed": DEVICE,
    "hub_disconnected": DEVICE,
    "device_disconnected": DEVICE,
    "empty_backup_access_code_pool": DEVICE,
    "august_lock_not_authorized": DEVICE,
    "august_lock_missing_bridge": DEVICE,
    "ttlock_lock_not_paired_to_gateway": DEVICE,
    "missing_device_credentials": DEVICE,
    "auxiliary_heat_running": DEVICE,
    "subscription_required": DEVICE,
    "lockly_missing_wifi_bridge": DEVICE,
    # bridge errors
    "bridge_disconnected": BRIDGE,
}

EXPECTED_WARNINGS = {
    "august_device_programming_delay",
    "august_lock_temporarily_offline",
    "code_modified_external_to_seam",
    "delay_in_removing_from_device",
    "delay_in_setting_on_device",
    "device_low_battery",
    "igloo_algopin_must_be_used_within_24_hours",
    "kwikset_unable_to_confirm_code",
    "management_transferred",
    "schlage_creation_outage",
    "schlage_detected_duplicate",
    "smartthings_failed_to_set_access_code",
    "third_party_integration_detected",
    "ultraloq_access_code_disabled",
}

ALL_ENTRIES = [*ERRORS.values(), *WARNINGS.values()]


def _entry_id(entry: CatalogEntry) -> str:
    return f"{entry.kind}:{entry.code}"


def test_catalog_holds_seams_44_errors_and_14_warnings_each_once():
    assert (len(ERRORS), len(WARNINGS)) == (44, 14)
    assert (len(EXPECTED_ERRORS), len(EXPECTED_WARNINGS)) == (44, 14)


def test_errors_contain_exactly_the_expected_codes():
    assert set(ERRORS) == set(EXPECTED_ERRORS)
    assert len(ERRORS) == 44


@pytest.mark.parametrize("code", sorted(EXPECTED_ERRORS))
def test_error_entry_has_expected_flags_and_kind(code):
    entry = ERRORS[code]
    assert entry.code == code
    assert entry.kind is IssueKind.ERROR
    assert entry.flags == EXPECTED_ERRORS[code]
    assert entry.is_known is True
    assert error(code) is entry


def test_warnings_contain_exactly_the_expected_codes():
    assert set(WARNINGS) == EXPECTED_WARNINGS
    assert len(WARNINGS) == 14


@pytest.mark.parametrize("code", sorted(EXPECTED_WARNINGS))
def test_warning_entry_kind_and_flags(code):
    entry = WARNINGS[code]
    assert entry.code == code
    assert entry.kind is IssueKind.WARNING
    assert entry.flags == ()
    assert entry.is_known is True
    assert warning(code) is entry


@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=_entry_id)
def test_entry_text_is_complete_and_branded(entry):
    for text in (entry.message, entry.meaning, entry.remedy):
        assert isinstance(text, str)
        assert text.strip()
        assert "seam" not in text.lower()
    assert entry.remedy.strip() != entry.message.strip()
    assert isinstance(entry.severity, Severity)
    assert isinstance(entry.transient, bool)


@pytest.mark.parametrize("entry", [e for e in ALL_ENTRIES if e.transient], ids=_entry_id)
def test_transient_entries_say_latchkey_keeps_trying(entry):
    text = f"{entry.meaning} {entry.remedy}"
    assert "Latchkey" in text
    assert re.search(r"\b(retry|retries|retrying|keeps checking)\b", text)


def test_transient_classification_examples():
    assert ERRORS["device_offline"].transient is True
    assert ERRORS["august_device_programming_delay"].transient is True
    assert ERRORS["igloohome_bridge_too_many_pending_jobs"].transient is True
    assert ERRORS["august_lock_invalid_code_length"].transient is False
    assert ERRORS["august_lock_missing_keypad"].transient is False
    assert ERRORS["no_space_for_access_code_on_device"].transient is False
    assert ERRORS["salto_ks_user_not_subscribed"].transient is False
    assert ERRORS["kwikset_insufficient_permissions"].transient is False


def test_smartthings_remedy_names_conflicting_software():
    remedy = ERRORS["smartthings_failed_to_set_after_multiple_retries"].remedy
    assert "RBoy" in remedy
    assert "Operto" in remedy


@pytest.mark.parametrize(
    ("code", "scope"),
    [
        ("failed_to_set_on_device", Scope.ACCESS_CODE),
        ("device_offline", Scope.DEVICE),
        ("account_disconnected", Scope.CONNECTED_ACCOUNT),
        ("bridge_disconnected", Scope.BRIDGE),
    ],
)
def test_scope_derived_from_flags(code, scope):
    assert ERRORS[code].scope is scope


def test_scope_of_warnings_is_access_code():
    assert WARNINGS["delay_in_setting_on_device"].scope is Scope.ACCESS_CODE


def test_unknown_error_returns_fallback():
    entry = error("something_new")
    assert entry.is_known is False
    assert entry.code == "something_new"
    assert entry.kind is IssueKind.ERROR
    assert entry.flags == ("is_access_code_error",)
    assert entry.scope is Scope.ACCESS_CODE
    assert entry.severity is Severity.BLOCKING
    assert entry.transient is True
    assert "something_new" in entry.message
    assert entry.remedy.strip()
    assert entry.remedy != entry.message
    assert "something_new" not in ERRORS


def test_unknown_warning_returns_fallback():
    entry = warning("x")
    assert entry.is_known is False
    assert entry.code == "x"
    assert entry.kind is IssueKind.WARNING
    assert entry.flags == ()
    assert entry.severity is Severity.DEGRADED
    assert entry.transient is True
    assert "(x)" in entry.message
    assert entry.remedy.strip()
    assert "x" not in WARNINGS


def test_warning_only_code_is_unknown_as_error():
    assert error("delay_in_setting_on_device").is_known is False
    assert warning("device_offline").is_known is False


@pytest.mark.parametrize("kind", [IssueKind.ERROR, "error"])
def test_lookup_dispatches_errors(kind):
    assert lookup(kind, "device_offline") is ERRORS["device_offline"]
    # Codes that are both an error and a warning resolve by kind.
    assert lookup(kind, "august_lock_temporarily_offline") is ERRORS["august_lock_temporarily_offline"]
    fallback = lookup(kind, "brand_new_error")
    assert fallback.kind is IssueKind.ERROR
    assert fallback.is_known is False


@pytest.mark.parametrize("kind", [IssueKind.WARNING, "warning"])
def test_lookup_dispatches_warnings(kind):
    assert lookup(kind, "management_transferred") is WARNINGS["management_transferred"]
    assert lookup(kind, "august_lock_temporarily_offline") is WARNINGS["august_lock_temporarily_offline"]
    fallback = lookup(kind, "brand_new_warning")
    assert fallback.kind is IssueKind.WARNING
    assert fallback.is_known is False


@pytest.mark.parametrize("kind", ["notice", "ERROR", ""])
def test_lookup_rejects_invalid_kind(kind):
    with pytest.raises(ValueError):
        lookup(kind, "device_offline")


def test_maps_are_read_only():
    with pytest.raises(TypeError):
        ERRORS["device_offline"] = ERRORS["device_removed"]  # type: ignore[index]
    with pytest.raises(TypeError):
        WARNINGS["new_warning"] = WARNINGS["management_transferred"]  # type: ignore[index]
    with pytest.raises(TypeError):
        del ERRORS["device_offline"]  # type: ignore[attr-defined]
    assert ERRORS["device_offline"].code == "device_offline"


def test_entries_are_immutable():
    with pytest.raises(AttributeError):
        ERRORS["device_offline"].severity = Severity.NOTICE  # type: ignore[misc]
