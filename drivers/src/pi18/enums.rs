//! Enumeration tables of the PI18 field decoders (codes from `PI18_InfiniSolar-V-protocol-20170926`
//! as restated in `../shared/reference/pi18/README.md` §2.2).
//!
//! Codes arrive as digits in the comma-separated fields of a `^D<nnn>` reply: one digit for the
//! PIRI settings (fields 13-23) and the GS status fields (21-26), two for MOD and the FWS fault
//! code; FWS and FLAG flags are `0`/`1`.
//!
//! Where a PI18 code means the same as a PI30 one, it decodes to PI30's text (so dashboards and
//! templates built on PI30 readings keep working); the *codes* differ, which is why PI18 has its
//! own tables. `*_OPTIONS`-style tables are indexed by the integer code; `*_KEYS` tables map the
//! exact token.

/// PIRI 17 / POP: 0 Solar-Utility-Battery, 1 Solar-Battery-Utility. PI30MAX's texts for the
/// same two orders (its codes 01 and 02; plain PI30 calls them "Solar first" / "SBU first").
pub(crate) const OUTPUT_SOURCE_PRIORITY: &[&str] =
    &["Solar Utility Battery", "Solar Battery Utility"];

/// PIRI 18 / PCP: 0 solar first, 1 solar and utility, 2 only solar (PI30's codes 01..03).
pub(crate) const CHARGER_SOURCE_PRIORITY: &[&str] = &[
    "Solar first",
    "Solar + Utility",
    "Only solar charging permitted",
];

/// PIRI 13: the spec's 0..2. mpp-solar lists vendor extensions 3..9 that disagree with
/// PI30MAX's numbering at 4, 7, 8 and 9 (reference §5, [U]): they decode as `Unknown (n)`.
pub(crate) const BATTERY_TYPE: &[&str] = &["AGM", "Flooded", "User"];

/// PIRI 20: 0 off-grid, 1 grid-tie (PI30 codes them 01 / 00).
pub(crate) const MACHINE_TYPE: &[&str] = &["Off Grid", "Grid tie"];

/// PIRI 22: 0 single, 1 parallel, 2..4 phase 1..3 of a three-phase system (PI30's codes 0..4).
pub(crate) const OUTPUT_MODE: &[&str] = &[
    "single machine output",
    "parallel output",
    "Phase 1 of 3 Phase output",
    "Phase 2 of 3 Phase output",
    "Phase 3 of 3 Phase output",
];

/// PIRI 23 (no PI30 equivalent).
pub(crate) const SOLAR_POWER_PRIORITY: &[&str] = &["Battery-Load-Utility", "Load-Battery-Utility"];

/// MOD. 05 is "hybrid mode (line mode, grid mode)" in the spec: PI30's "Line". 02 (bypass) has
/// no PI30 equivalent.
pub(crate) const DEVICE_MODE_KEYS: &[(&str, &str)] = &[
    ("00", "Power on"),
    ("01", "Standby"),
    ("02", "Bypass"),
    ("03", "Battery"),
    ("04", "Fault"),
    ("05", "Line"),
];

/// GS 21/22.
pub(crate) const MPPT_STATUS: &[&str] = &["Abnormal", "Normal (not charging)", "Charging"];
/// GS 24.
pub(crate) const BATTERY_POWER_DIRECTION: &[&str] = &["Idle", "Charging", "Discharging"];
/// GS 25: the inverter's power flow.
pub(crate) const DC_AC_POWER_DIRECTION: &[&str] = &["Idle", "AC to DC", "DC to AC"];
/// GS 26: 2 = feeding the grid (reference V07/V09).
pub(crate) const LINE_POWER_DIRECTION: &[&str] = &["Idle", "Input", "Output"];

/// FWS fields 1..16 in the spec's order, named like the PI30 QPIWS bits of the same meaning
/// (`pv_…` is PV1 there, `pv2_…` PV2).
pub(crate) const WARNINGS: &[&str] = &[
    "line_fail_warning",
    "opv_short_warning",
    "over_temperature_fault",
    "fan_locked_fault",
    "battery_voltage_too_high_fault",
    "battery_low_alarm_warning",
    "battery_under_shutdown_warning",
    "overload_fault",
    "eeprom_fault",
    "power_limit_warning",
    "pv_voltage_high_warning",
    "pv2_voltage_high_warning",
    "mppt_overload_warning",
    "pv2_mppt_overload_warning",
    "battery_too_low_to_charge_warning",
    "pv2_battery_too_low_to_charge_warning",
];

/// FLAG fields 0..7 (field 8 is reserved), named like PI30's QFLAG fields.
pub(crate) const FLAGS: &[&str] = &[
    "buzzer",
    "overload_bypass",
    "lcd_reset_to_default",
    "overload_restart",
    "over_temperature_restart",
    "lcd_backlight",
    "primary_source_interrupt_alarm",
    "record_fault_code",
];
