//! Enumeration tables shared by the field decoders (names as mpp-solar prints them, so that
//! dashboards keep working; deviations are commented).
//!
//! `*_OPTIONS` tables are indexed by the integer code; `*_KEYS` tables map the exact token.

pub(crate) const INPUT_VOLTAGE_RANGE: &[&str] = &["Appliance", "UPS"];

pub(crate) const OUTPUT_SOURCE_PRIORITY_PI30: &[&str] =
    &["Utility first", "Solar first", "SBU first"];
/// PI30MAX spec 3.9: 00 UtilitySolarBat, 01 SolarUtilityBat, 02 SolarBatUtility.
pub(crate) const OUTPUT_SOURCE_PRIORITY_MAX: &[&str] = &[
    "Utility Solar Battery",
    "Solar Utility Battery",
    "Solar Battery Utility",
];

pub(crate) const CHARGER_SOURCE_PRIORITY: &[&str] = &[
    "Utility first",
    "Solar first",
    "Solar + Utility",
    "Only solar charging permitted",
];
/// QPGSn spells code 3 differently.
pub(crate) const CHARGER_SOURCE_PRIORITY_QPGS: &[&str] = &[
    "Utility first",
    "Solar first",
    "Solar + Utility",
    "Solar only",
];

/// PI30MAX spec 3.14 (PBT). mpp-solar's pi30 list has a "TBD" at 3 and no BAK at 7, which
/// contradicts the spec; the spec wins here.
pub(crate) const BATTERY_TYPE: &[&str] = &[
    "AGM",
    "Flooded",
    "User",
    "Pylontech",
    "Shinheung",
    "WECO",
    "Soltaro",
    "BAK",
    "LIb-protocol compatible",
    "3rd party Lithium",
];

pub(crate) const MACHINE_TYPE_KEYS: &[(&str, &str)] = &[
    ("00", "Grid tie"),
    ("01", "Off Grid"),
    ("10", "Hybrid"),
    ("11", "Off Grid with 2 Trackers"),
    ("20", "Off Grid with 3 Trackers"),
];

pub(crate) const TOPOLOGY: &[&str] = &["transformerless", "transformer"];

pub(crate) const OUTPUT_MODE_PI30: &[&str] = &[
    "single machine output",
    "parallel output",
    "Phase 1 of 3 Phase output",
    "Phase 2 of 3 Phase output",
    "Phase 3 of 3 Phase output",
    "Phase 1 of 2 phase output",
    "Phase 2 of 2 phase output",
];
pub(crate) const OUTPUT_MODE_MAX: &[&str] = &[
    "single machine output",
    "parallel output",
    "Phase 1 of 3 Phase output",
    "Phase 2 of 3 Phase output",
    "Phase 3 of 3 Phase output",
    "Phase 1 of 2 phase output",
    "Phase 2 of 2 phase output (120°)",
    "Phase 2 of 2 phase output (180°)",
];
/// QPGSn wording. Code 7 is only in the PI30MAX spec; a PI30 unit that reports it (V26, a
/// 120 V split-phase unit) means the same thing, so it is named for both variants.
pub(crate) const OUTPUT_MODE_QPGS_PI30: &[&str] = &[
    "single machine",
    "parallel output",
    "Phase 1 of 3 phase output",
    "Phase 2 of 3 phase output",
    "Phase 3 of 3 phase output",
    "Phase 1 of 2 phase output",
    "Phase 2 of 2 phase output",
    "Phase 2 of 2 phase output (180°)",
];
pub(crate) const OUTPUT_MODE_QPGS_MAX: &[&str] = &[
    "single machine",
    "parallel output",
    "Phase 1 of 3 phase output",
    "Phase 2 of 3 phase output",
    "Phase 3 of 3 phase output",
    "Phase 1 of 2 phase output",
    "Phase 2 of 2 phase output (120°)",
    "Phase 2 of 2 phase output (180°)",
];

pub(crate) const PV_OK_CONDITION: &[&str] = &[
    "As long as one unit of inverters has connect PV, parallel system will consider PV OK",
    "Only All of inverters have connect PV, parallel system will consider PV OK",
];
pub(crate) const PV_POWER_BALANCE: &[&str] = &[
    "PV input max current will be the max charged current",
    "PV input max power will be the sum of the max charged power and loads power",
];
pub(crate) const OPERATION_LOGIC: &[&str] = &["Automatic mode", "On-line mode", "ECO mode"];

/// QDI: 0 means *enabled* for the buzzer (spec: "Default 0 for enable buzzer").
pub(crate) const ENABLED_DISABLED: &[&str] = &["enabled", "disabled"];
pub(crate) const DISABLED_ENABLED: &[&str] = &["disabled", "enabled"];
/// QPIGS field 22 (MAX).
pub(crate) const FEED_TO_GRID: &[&str] = &["Disabled", "Enabled"];
pub(crate) const COUNTRY_KEYS: &[(&str, &str)] =
    &[("00", "India"), ("01", "Germany"), ("02", "South America")];

pub(crate) const PARALLEL_INSTANCE: &[&str] = &["Not valid", "valid"];
pub(crate) const NO_YES: &[&str] = &["No", "Yes"];

pub(crate) const DEVICE_MODE_PI30_KEYS: &[(&str, &str)] = &[
    ("P", "Power on"),
    ("S", "Standby"),
    ("L", "Line"),
    ("B", "Battery"),
    ("F", "Fault"),
    ("H", "Power saving"),
    ("D", "Shutdown"),
];
pub(crate) const DEVICE_MODE_MAX_KEYS: &[(&str, &str)] = &[
    ("P", "Power on"),
    ("S", "Standby"),
    ("L", "Line"),
    ("B", "Battery"),
    ("F", "Fault"),
    ("H", "Power Saving"),
    ("D", "Shutdown"),
];
pub(crate) const WORK_MODE_KEYS: &[(&str, &str)] = &[
    ("P", "Power On Mode"),
    ("S", "Standby Mode"),
    ("L", "Line Mode"),
    ("B", "Battery Mode"),
    ("F", "Fault Mode"),
    ("H", "Power Saving Mode"),
    ("D", "Shutdown Mode"),
];

pub(crate) const FAULT_CODE_PI30_KEYS: &[(&str, &str)] = &[
    ("00", "No fault"),
    ("01", "Fan is locked"),
    ("02", "Over temperature"),
    ("03", "Battery voltage is too high"),
    ("04", "Battery voltage is too low"),
    ("05", "Output short circuited or Over temperature"),
    ("06", "Output voltage is too high"),
    ("07", "Over load time out"),
    ("08", "Bus voltage is too high"),
    ("09", "Bus soft start failed"),
    ("11", "Main relay failed"),
    ("51", "Over current inverter"),
    ("52", "Bus soft start failed"),
    ("53", "Inverter soft start failed"),
    ("54", "Self-test failed"),
    ("55", "Over DC voltage on output of inverter"),
    ("56", "Battery connection is open"),
    ("57", "Current sensor failed"),
    ("58", "Output voltage is too low"),
    ("60", "Inverter negative power"),
    ("71", "Parallel version different"),
    ("72", "Output circuit failed"),
    ("80", "CAN communication failed"),
    ("81", "Parallel host line lost"),
    ("82", "Parallel synchronized signal lost"),
    ("83", "Parallel battery voltage detect different"),
    ("84", "Parallel Line voltage or frequency detect different"),
    ("85", "Parallel Line input current unbalanced"),
    ("86", "Parallel output setting different"),
];
pub(crate) const FAULT_CODE_MAX_KEYS: &[(&str, &str)] = &[
    ("00", "No fault"),
    ("01", "Fan is locked"),
    ("02", "Over temperature"),
    ("03", "Battery voltage is too high"),
    ("04", "Battery voltage is too low"),
    ("05", "Output short circuited or Over temperature"),
    ("06", "Output voltage is too high"),
    ("07", "Over load time out"),
    ("08", "Bus voltage is too high"),
    ("09", "Bus soft start failed"),
    ("10", "PV over current"),
    ("11", "PV over voltage"),
    ("12", "DC over current"),
    ("13", "Battery discharge over current"),
    ("51", "Over current inverter"),
    ("52", "Bus voltage too low"),
    ("53", "Inverter soft start failed"),
    ("54", "Self-test failed"),
    ("55", "Over DC voltage on output of inverter"),
    ("56", "Battery connection is open"),
    ("57", "Current sensor failed"),
    ("58", "Output voltage is too low"),
    ("60", "Power feedback protection"),
    ("71", "Firmware version different"),
    ("72", "Current sharing fault"),
    ("80", "CAN communication failed"),
    ("81", "Parallel host line lost"),
    ("82", "Parallel synchronized signal lost"),
    ("83", "Parallel battery voltage detect different"),
    ("84", "AC input voltage or frequency detected different"),
    ("85", "AC output current unbalanced"),
    ("86", "AC output mode setting different"),
];

pub(crate) const SCC_FLAG: &[&str] =
    &["SCC not communicating?", "SCC is powered and communicating"];
pub(crate) const FAN_LOCK: &[&str] = &["Not locked", "Locked"];
pub(crate) const CHARGE_STATUS_KEYS: &[(&str, &str)] = &[
    ("10", "nocharging"),
    ("11", "bulk stage"),
    ("12", "absorb"),
    ("13", "float"),
];

/// QFLAG / PE / PD letters: (letter, field name, human description). Field names follow
/// mpp-solar's QFLAG names; `l` is documented only in the 2015 spec, `d` only in PI30MAX, `j` is
/// missing from PI30MAX, and letters outside a variant's table decode as `unknown_<letter>`.
pub(crate) const FLAGS_PI30: &[(char, &str)] = &[
    ('a', "buzzer"),
    ('b', "overload_bypass"),
    ('j', "power_saving"),
    ('k', "lcd_reset_to_default"),
    ('l', "data_log_popup"),
    ('u', "overload_restart"),
    ('v', "over_temperature_restart"),
    ('x', "lcd_backlight"),
    ('y', "primary_source_interrupt_alarm"),
    ('z', "record_fault_code"),
];
pub(crate) const FLAGS_MAX: &[(char, &str)] = &[
    ('a', "buzzer"),
    ('b', "overload_bypass"),
    ('d', "solar_feed_to_grid"),
    ('k', "lcd_reset_to_default"),
    ('u', "overload_restart"),
    ('v', "over_temperature_restart"),
    ('x', "lcd_backlight"),
    ('y', "primary_source_interrupt_alarm"),
    ('z', "record_fault_code"),
];

/// QPIWS bit names by 0-based position in the bit string. (The 2015 spec numbers bits b1..b38,
/// so position n is its b(n+1); the PI30MAX spec numbers them a0..a35 = position.) Reserved
/// bits carry their position so names stay unique.
pub(crate) const WARNINGS_PI30: &[&str] = &[
    "reserved_bit_0",
    "inverter_fault",
    "bus_over_fault",
    "bus_under_fault",
    "bus_soft_fail_fault",
    "line_fail_warning",
    "opv_short_warning",
    "inverter_voltage_too_low_fault",
    "inverter_voltage_too_high_fault",
    "over_temperature_fault",
    "fan_locked_fault",
    "battery_voltage_too_high_fault",
    "battery_low_alarm_warning",
    "reserved_bit_13",
    "battery_under_shutdown_warning",
    "reserved_bit_15",
    "overload_fault",
    "eeprom_fault",
    "inverter_over_current_fault",
    "inverter_soft_fail_fault",
    "self_test_fail_fault",
    "op_dc_voltage_over_fault",
    "battery_open_fault",
    "current_sensor_fail_fault",
    "battery_short_fault",
    "power_limit_warning",
    "pv_voltage_high_warning",
    "mppt_overload_fault",
    "mppt_overload_warning",
    "battery_too_low_to_charge_warning",
    "pv2_voltage_high_warning",
    "pv2_mppt_overload_fault",
    "pv2_mppt_overload_warning",
    "pv2_battery_too_low_to_charge_warning",
    "pv3_voltage_high_warning",
    "pv3_mppt_overload_fault",
    "pv3_mppt_overload_warning",
    "pv3_battery_too_low_to_charge_warning",
];
pub(crate) const WARNINGS_MAX: &[&str] = &[
    "pv_loss_warning",
    "inverter_fault",
    "bus_over_fault",
    "bus_under_fault",
    "bus_soft_fail_fault",
    "line_fail_warning",
    "opv_short_warning",
    "inverter_voltage_too_low_fault",
    "inverter_voltage_too_high_fault",
    "over_temperature_fault",
    "fan_locked_fault",
    "battery_voltage_too_high_fault",
    "battery_low_alarm_warning",
    "reserved_bit_13",
    "battery_under_shutdown_warning",
    "battery_derating_warning",
    "overload_fault",
    "eeprom_fault",
    "inverter_over_current_fault",
    "inverter_soft_fail_fault",
    "self_test_fail_fault",
    "op_dc_voltage_over_fault",
    "battery_open_fault",
    "current_sensor_fail_fault",
    "battery_short_fault",
    "power_limit_warning",
    "pv_voltage_high_warning",
    "mppt_overload_fault",
    "mppt_overload_warning",
    "battery_too_low_to_charge_warning",
    "reserved_bit_30",
    "battery_weak_warning",
    "reserved_bit_32",
    "reserved_bit_33",
    "reserved_bit_34",
    "battery_equalization_warning",
];
