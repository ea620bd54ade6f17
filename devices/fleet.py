"""The sandbox fleet: lock models with the traits of their real counterparts.

Each entry is the Device data a real provider would report for such a lock; the sandbox
provider simulates their behaviour on top of this data.
"""

SANDBOX_LOCK_MODELS: list[dict] = [
    {
        "provider_device_id": "sandbox-keypad-deadbolt",
        "display_name": "Front door deadbolt",
        "device_type": "schlage_lock",
        "manufacturer": "Sandbox (Schlage-like)",
        "model": "Keypad deadbolt with native scheduling",
        "has_native_scheduling": True,
        "supported_code_lengths": [4, 5, 6, 7, 8],
        "max_active_codes_supported": 50,
        "supports_backup_access_code_pool": True,
    },
    {
        "provider_device_id": "sandbox-cloud-lock",
        "display_name": "Back door cloud lock",
        "device_type": "august_lock",
        "manufacturer": "Sandbox (August-like)",
        "model": "Cloud lock, codes set just in time",
        "hub_id": "sandbox-bridge",  # reached through a Wi-Fi bridge, as August's locks are
        "has_native_scheduling": False,
        "supported_code_lengths": [4, 5, 6],
        "max_active_codes_supported": 20,
    },
    {
        "provider_device_id": "sandbox-small-memory",
        "display_name": "Garage small-memory lock",
        "device_type": "kwikset_lock",
        "manufacturer": "Sandbox (Kwikset-like)",
        "model": "Small-memory lock",
        "supported_code_lengths": [6],
        "max_active_codes_supported": 3,
        "name_max_length": 10,
        "name_splits_first_last": True,
    },
    {
        "provider_device_id": "sandbox-offline-lock",
        "display_name": "Storage offline lock",
        "device_type": "igloohome_lock",
        "manufacturer": "Sandbox (igloohome-like)",
        "model": "Offline-capable lock with algorithmic codes",
        "can_program_offline_access_codes": True,
        "supported_code_lengths": [4, 5, 6, 7, 8, 9],
        "max_active_codes_supported": 25,
        "offline_code_max_days": 31,
    },
    {
        "provider_device_id": "sandbox-no-keypad",
        "display_name": "Side gate lock (no keypad)",
        "device_type": "august_lock",
        "manufacturer": "Sandbox (August-like)",
        "model": "Lock without keypad; accessory keypad connectable",
        "hub_id": "sandbox-bridge",
        "has_built_in_keypad": False,
        "accessory_keypad_connectable": True,
        "accessory_keypad_connected": False,
        "supported_code_lengths": [4, 5, 6],
        "max_active_codes_supported": 20,
    },
    {
        "provider_device_id": "sandbox-strict-pins",
        "display_name": "Office strict-PIN lock",
        "device_type": "salto_lock",
        "manufacturer": "Sandbox (Salto-like)",
        "model": "Lock with strict PIN rules",
        "supported_code_lengths": [6, 7, 8],
        "max_active_codes_supported": 100,
        "pin_forbids_zeros": True,
        "pin_forbids_sequences": True,
        "pin_requires_unique_first_four": True,
        "name_must_be_unique": True,
    },
]
