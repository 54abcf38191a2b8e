"""Business settings (presets, limits, rounding, rates...): their specs and validation
(:mod:`.values`), and the ``settings`` table with the live snapshot (:mod:`.store`)."""

from .kinds import MAX_TONS_PER_STAR, SettingError
from .store import SettingsStore, load_settings, read_rows, set_setting, unset_setting
from .values import (
    SPECS,
    Settings,
    Spec,
    build_settings,
    check_consistent,
    parse_cli_value,
    validate,
)

__all__ = [
    "MAX_TONS_PER_STAR",
    "SPECS",
    "SettingError",
    "Settings",
    "SettingsStore",
    "Spec",
    "build_settings",
    "check_consistent",
    "load_settings",
    "parse_cli_value",
    "read_rows",
    "set_setting",
    "unset_setting",
    "validate",
]
