//! Typed decoding of VE.Direct Text-protocol fields.
//!
//! Spec: "VE.Direct Protocol" 3.33, tables "Fields" and "Detailed field description" (units, CS,
//! ERR, MPPT, AR/WARN, OR, MODE, MON, CAP_BLE, PID).
//!
//! Input is the `(label, value)` records of a verified block (see [`super::text`]); output is a
//! [`Reading`] in wire order. Decoding never fails:
//! - numbers are scaled to SI-ish units (mV → V, mA → A, mAh → Ah, ‰ → %, 0.01 kWh → kWh) as
//!   `Float`, or kept as `Int` when the unit is already right (W, min, s, counters);
//! - enumerations and bit sets become their names, with the device's token kept in `raw`;
//! - `---` (no temperature sensor, BMV not synchronised, DC-monitor mode: spec footnotes 8, 10,
//!   11) means "no value": the field is **omitted** from the reading, so no consumer can mistake
//!   it for a number;
//! - a value that does not parse is kept as `Text` with the token in `raw`;
//! - unknown labels are kept as `Text` under a sanitised snake_case form of the label.
//!
//! | Label | Field name | Value |
//! |---|---|---|
//! | PID | `model` | product name (raw: `0xA042`) |
//! | FW, FWE | `firmware_version` | `"1.23"`, `"2.08-rcC"`, `"2.08-beta-01"` (raw token) |
//! | SER# | `serial_number` | text |
//! | BMV | `bmv_model` | text |
//! | V, V2, V3 | `battery_voltage`, `battery_voltage_2`, `battery_voltage_3` | V |
//! | VS | `starter_voltage` | V |
//! | VM | `mid_point_voltage` | V |
//! | DM | `mid_point_deviation` | % |
//! | VPV | `panel_voltage` | V |
//! | PPV | `panel_power` | W |
//! | I, I2, I3 | `battery_current`, `battery_current_2`, `battery_current_3` | A |
//! | IL | `load_current` | A |
//! | LOAD | `load_output` | bool |
//! | T | `battery_temperature` | °C |
//! | P | `battery_power` | W |
//! | CE | `consumed_ah` | Ah |
//! | SOC | `state_of_charge` | % |
//! | TTG | `time_to_go` | min (−1 = infinite, as sent) |
//! | Alarm | `alarm` | bool |
//! | Relay | `relay` | bool |
//! | AR | `alarm_reason` | names, `"none"` (raw: decimal) |
//! | WARN | `warning_reason` | names (raw) |
//! | OR | `off_reason` | names (raw: `0x00000001`) |
//! | CAP_BLE | `ble_capabilities` | names (raw) |
//! | H1, H2, H3 | `deepest_discharge`, `last_discharge`, `average_discharge` | Ah |
//! | H4, H5 | `charge_cycles`, `full_discharges` | count |
//! | H6 | `cumulative_ah_drawn` | Ah |
//! | H7, H8 | `min_battery_voltage`, `max_battery_voltage` | V |
//! | H9 | `seconds_since_full_charge` | s |
//! | H10, H11, H12 | `automatic_syncs`, `low_voltage_alarms`, `high_voltage_alarms` | count |
//! | H13, H14 | `low_starter_voltage_alarms`, `high_starter_voltage_alarms` | count |
//! | H15, H16 | `min_starter_voltage`, `max_starter_voltage` | V |
//! | H17, H18 | `discharged_energy`, `charged_energy` | kWh |
//! | H19, H20, H22 | `yield_total`, `yield_today`, `yield_yesterday` | kWh |
//! | H21, H23 | `max_power_today`, `max_power_yesterday` | W |
//! | ERR | `error` | name (raw) |
//! | CS | `charge_state` | name (raw) |
//! | MPPT | `tracker_mode` | name (raw) |
//! | MODE | `device_mode` | name (raw) |
//! | MON | `dc_monitor_mode` | name (raw) |
//! | HSDS | `day_sequence` | count |
//! | AC_OUT_V, AC_OUT_I, AC_OUT_S | `ac_output_voltage`, `ac_output_current`, `ac_output_apparent_power` | V, A, VA |
//! | DC_IN_V, DC_IN_I, DC_IN_P | `dc_input_voltage`, `dc_input_current`, `dc_input_power` | V, A, W |

use crate::reading::{Field, Reading, Value};
use std::borrow::Cow;

/// How one label's value is decoded (also the syntax class [`super::validate`] checks).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Integer divided by the divisor, as Float (1000 for mV → V).
    Scaled(f64, &'static str),
    /// Integer kept as Int, with an optional unit.
    Int(Option<&'static str>),
    /// ON/OFF in any case.
    Bool,
    Text,
    Firmware,
    Product,
    Enum(fn(i64) -> Option<&'static str>),
    /// Bit set decoded to names (decimal or 0x-hex token).
    Bits(&'static [(u32, &'static str)]),
}

/// The field name and kind of a label of the spec's table; `None` for labels it does not list.
pub(crate) fn spec(label: &str) -> Option<(&'static str, Kind)> {
    use Kind::*;
    Some(match label {
        "PID" => ("model", Product),
        "FW" | "FWE" => ("firmware_version", Firmware),
        "SER#" => ("serial_number", Text),
        "BMV" => ("bmv_model", Text),
        "V" => ("battery_voltage", Scaled(1000.0, "V")),
        "V2" => ("battery_voltage_2", Scaled(1000.0, "V")),
        "V3" => ("battery_voltage_3", Scaled(1000.0, "V")),
        "VS" => ("starter_voltage", Scaled(1000.0, "V")),
        "VM" => ("mid_point_voltage", Scaled(1000.0, "V")),
        "DM" => ("mid_point_deviation", Scaled(10.0, "%")),
        "VPV" => ("panel_voltage", Scaled(1000.0, "V")),
        "PPV" => ("panel_power", Int(Some("W"))),
        "I" => ("battery_current", Scaled(1000.0, "A")),
        "I2" => ("battery_current_2", Scaled(1000.0, "A")),
        "I3" => ("battery_current_3", Scaled(1000.0, "A")),
        "IL" => ("load_current", Scaled(1000.0, "A")),
        "LOAD" => ("load_output", Bool),
        "T" => ("battery_temperature", Int(Some("°C"))),
        "P" => ("battery_power", Int(Some("W"))),
        "CE" => ("consumed_ah", Scaled(1000.0, "Ah")),
        "SOC" => ("state_of_charge", Scaled(10.0, "%")),
        "TTG" => ("time_to_go", Int(Some("min"))),
        "Alarm" => ("alarm", Bool),
        "Relay" => ("relay", Bool),
        "AR" => ("alarm_reason", Bits(ALARM_BITS)),
        "WARN" => ("warning_reason", Bits(ALARM_BITS)),
        "OR" => ("off_reason", Bits(OFF_REASON_BITS)),
        "CAP_BLE" => ("ble_capabilities", Bits(CAP_BLE_BITS)),
        "H1" => ("deepest_discharge", Scaled(1000.0, "Ah")),
        "H2" => ("last_discharge", Scaled(1000.0, "Ah")),
        "H3" => ("average_discharge", Scaled(1000.0, "Ah")),
        "H4" => ("charge_cycles", Int(None)),
        "H5" => ("full_discharges", Int(None)),
        "H6" => ("cumulative_ah_drawn", Scaled(1000.0, "Ah")),
        "H7" => ("min_battery_voltage", Scaled(1000.0, "V")),
        "H8" => ("max_battery_voltage", Scaled(1000.0, "V")),
        "H9" => ("seconds_since_full_charge", Int(Some("s"))),
        "H10" => ("automatic_syncs", Int(None)),
        "H11" => ("low_voltage_alarms", Int(None)),
        "H12" => ("high_voltage_alarms", Int(None)),
        "H13" => ("low_starter_voltage_alarms", Int(None)),
        "H14" => ("high_starter_voltage_alarms", Int(None)),
        "H15" => ("min_starter_voltage", Scaled(1000.0, "V")),
        "H16" => ("max_starter_voltage", Scaled(1000.0, "V")),
        "H17" => ("discharged_energy", Scaled(100.0, "kWh")),
        "H18" => ("charged_energy", Scaled(100.0, "kWh")),
        "H19" => ("yield_total", Scaled(100.0, "kWh")),
        "H20" => ("yield_today", Scaled(100.0, "kWh")),
        "H21" => ("max_power_today", Int(Some("W"))),
        "H22" => ("yield_yesterday", Scaled(100.0, "kWh")),
        "H23" => ("max_power_yesterday", Int(Some("W"))),
        "ERR" => ("error", Enum(error_name)),
        "CS" => ("charge_state", Enum(state_name)),
        "MPPT" => ("tracker_mode", Enum(tracker_name)),
        "MODE" => ("device_mode", Enum(mode_name)),
        "MON" => ("dc_monitor_mode", Enum(monitor_name)),
        "HSDS" => ("day_sequence", Int(None)),
        "AC_OUT_V" => ("ac_output_voltage", Scaled(100.0, "V")),
        "AC_OUT_I" => ("ac_output_current", Scaled(10.0, "A")),
        "AC_OUT_S" => ("ac_output_apparent_power", Int(Some("VA"))),
        "DC_IN_V" => ("dc_input_voltage", Scaled(100.0, "V")),
        "DC_IN_I" => ("dc_input_current", Scaled(10.0, "A")),
        "DC_IN_P" => ("dc_input_power", Int(Some("W"))),
        _ => return None,
    })
}

const ALARM_BITS: &[(u32, &str)] = &[
    (1, "low voltage"),
    (2, "high voltage"),
    (4, "low soc"),
    (8, "low starter voltage"),
    (16, "high starter voltage"),
    (32, "low temperature"),
    (64, "high temperature"),
    (128, "mid voltage"),
    (256, "overload"),
    (512, "dc ripple"),
    (1024, "low ac output voltage"),
    (2048, "high ac output voltage"),
    (4096, "short circuit"),
    (8192, "bms lockout"),
];

const OFF_REASON_BITS: &[(u32, &str)] = &[
    (0x01, "no input power"),
    (0x02, "switched off (power switch)"),
    (0x04, "switched off (device mode register)"),
    (0x08, "remote input"),
    (0x10, "protection active"),
    (0x20, "paygo"),
    (0x40, "bms"),
    (0x80, "engine shutdown detection"),
    (0x100, "analysing input voltage"),
];

const CAP_BLE_BITS: &[(u32, &str)] = &[
    (0x01, "ble supports switching off"),
    (0x02, "ble switching off is permanent"),
];

fn state_name(v: i64) -> Option<&'static str> {
    Some(match v {
        0 => "off",
        1 => "low power",
        2 => "fault",
        3 => "bulk",
        4 => "absorption",
        5 => "float",
        6 => "storage",
        7 => "equalize (manual)",
        9 => "inverting",
        11 => "power supply",
        245 => "starting-up",
        246 => "repeated absorption",
        247 => "auto equalize / recondition",
        248 => "batterysafe",
        252 => "external control",
        _ => return None,
    })
}

fn error_name(v: i64) -> Option<&'static str> {
    Some(match v {
        0 => "no error",
        2 => "battery voltage too high",
        17 => "charger temperature too high",
        18 => "charger over current",
        19 => "charger current reversed",
        20 => "bulk time limit exceeded",
        21 => "current sensor issue",
        26 => "terminals overheated",
        28 => "converter issue",
        33 => "input voltage too high",
        34 => "input current too high",
        38 => "input shutdown (excessive battery voltage)",
        39 => "input shutdown (current flow during off mode)",
        65 => "lost communication with one of devices",
        66 => "synchronised charging device configuration issue",
        67 => "bms connection lost",
        68 => "network misconfigured",
        116 => "factory calibration data lost",
        117 => "invalid/incompatible firmware",
        119 => "user settings invalid",
        _ => return None,
    })
}

fn tracker_name(v: i64) -> Option<&'static str> {
    Some(match v {
        0 => "off",
        1 => "voltage or current limited",
        2 => "mpp tracker active",
        _ => return None,
    })
}

fn mode_name(v: i64) -> Option<&'static str> {
    Some(match v {
        1 => "charger",
        2 => "inverter",
        4 => "off",
        5 => "eco",
        253 => "hibernate",
        _ => return None,
    })
}

fn monitor_name(v: i64) -> Option<&'static str> {
    Some(match v {
        -9 => "solar charger",
        -8 => "wind turbine",
        -7 => "shaft generator",
        -6 => "alternator",
        -5 => "fuel cell",
        -4 => "water generator",
        -3 => "dc/dc charger",
        -2 => "ac charger",
        -1 => "generic source",
        0 => "battery monitor",
        1 => "generic load",
        2 => "electric drive",
        3 => "fridge",
        4 => "water pump",
        5 => "bilge pump",
        6 => "dc system",
        7 => "inverter",
        8 => "water heater",
        _ => return None,
    })
}

/// Product name for a PID (spec 3.33 PID table, plus the BMV-60x ids from the BMV HEX document).
pub fn product_name(pid: u16) -> Option<&'static str> {
    Some(match pid {
        0x0200 => "BMV-600S",
        0x0201 => "BMV-602S",
        0x0202 => "BMV-600HS",
        0x0203 => "BMV-700",
        0x0204 => "BMV-702",
        0x0205 => "BMV-700H",
        0x0300 => "BlueSolar MPPT 70/15",
        0xA040 => "BlueSolar MPPT 75/50",
        0xA041 => "BlueSolar MPPT 150/35",
        0xA042 => "BlueSolar MPPT 75/15",
        0xA043 => "BlueSolar MPPT 100/15",
        0xA044 => "BlueSolar MPPT 100/30",
        0xA045 => "BlueSolar MPPT 100/50",
        0xA046 => "BlueSolar MPPT 150/70",
        0xA047 => "BlueSolar MPPT 150/100",
        0xA048 => "BlueSolar MPPT 75/50 rev2",
        0xA049 => "BlueSolar MPPT 100/50 rev2",
        0xA04A => "BlueSolar MPPT 100/30 rev2",
        0xA04B => "BlueSolar MPPT 150/35 rev2",
        0xA04C => "BlueSolar MPPT 75/10",
        0xA04D => "BlueSolar MPPT 150/45",
        0xA04E => "BlueSolar MPPT 150/60",
        0xA04F => "BlueSolar MPPT 150/85",
        0xA050 => "SmartSolar MPPT 250/100",
        0xA051 => "SmartSolar MPPT 150/100",
        0xA052 => "SmartSolar MPPT 150/85",
        0xA053 => "SmartSolar MPPT 75/15",
        0xA054 => "SmartSolar MPPT 75/10",
        0xA055 => "SmartSolar MPPT 100/15",
        0xA056 => "SmartSolar MPPT 100/30",
        0xA057 => "SmartSolar MPPT 100/50",
        0xA058 => "SmartSolar MPPT 150/35",
        0xA059 => "SmartSolar MPPT 150/100 rev2",
        0xA05A => "SmartSolar MPPT 150/85 rev2",
        0xA05B => "SmartSolar MPPT 250/70",
        0xA05C => "SmartSolar MPPT 250/85",
        0xA05D => "SmartSolar MPPT 250/60",
        0xA05E => "SmartSolar MPPT 250/45",
        0xA05F => "SmartSolar MPPT 100/20",
        0xA060 => "SmartSolar MPPT 100/20 48V",
        0xA061 => "SmartSolar MPPT 150/45",
        0xA062 => "SmartSolar MPPT 150/60",
        0xA063 => "SmartSolar MPPT 150/70",
        0xA064 => "SmartSolar MPPT 250/85 rev2",
        0xA065 => "SmartSolar MPPT 250/100 rev2",
        0xA066 => "BlueSolar MPPT 100/20",
        0xA067 => "BlueSolar MPPT 100/20 48V",
        0xA068 => "SmartSolar MPPT 250/60 rev2",
        0xA069 => "SmartSolar MPPT 250/70 rev2",
        0xA06A => "SmartSolar MPPT 150/45 rev2",
        0xA06B => "SmartSolar MPPT 150/60 rev2",
        0xA06C => "SmartSolar MPPT 150/70 rev2",
        0xA06D => "SmartSolar MPPT 150/85 rev3",
        0xA06E => "SmartSolar MPPT 150/100 rev3",
        0xA06F => "BlueSolar MPPT 150/45 rev2",
        0xA070 => "BlueSolar MPPT 150/60 rev2",
        0xA071 => "BlueSolar MPPT 150/70 rev2",
        0xA072 => "BlueSolar MPPT 150/45 rev3",
        0xA073 => "SmartSolar MPPT 150/45 rev3",
        0xA074 => "SmartSolar MPPT 75/10 rev2",
        0xA075 => "SmartSolar MPPT 75/15 rev2",
        0xA076 => "BlueSolar MPPT 100/30 rev3",
        0xA077 => "BlueSolar MPPT 100/50 rev3",
        0xA078 => "BlueSolar MPPT 150/35 rev3",
        0xA079 => "BlueSolar MPPT 75/10 rev2",
        0xA07A => "BlueSolar MPPT 75/15 rev2",
        0xA07B => "BlueSolar MPPT 100/15 rev2",
        0xA07C => "BlueSolar MPPT 75/10 rev3",
        0xA07D => "BlueSolar MPPT 75/15 rev3",
        0xA07E => "SmartSolar MPPT 100/30 12V",
        0xA07F => "All-In-1 SmartSolar MPPT 75/15 12V",
        0xA102 => "SmartSolar MPPT VE.Can 150/70",
        0xA103 => "SmartSolar MPPT VE.Can 150/45",
        0xA104 => "SmartSolar MPPT VE.Can 150/60",
        0xA105 => "SmartSolar MPPT VE.Can 150/85",
        0xA106 => "SmartSolar MPPT VE.Can 150/100",
        0xA107 => "SmartSolar MPPT VE.Can 250/45",
        0xA108 => "SmartSolar MPPT VE.Can 250/60",
        0xA109 => "SmartSolar MPPT VE.Can 250/70",
        0xA10A => "SmartSolar MPPT VE.Can 250/85",
        0xA10B => "SmartSolar MPPT VE.Can 250/100",
        0xA10C => "SmartSolar MPPT VE.Can 150/70 rev2",
        0xA10D => "SmartSolar MPPT VE.Can 150/85 rev2",
        0xA10E => "SmartSolar MPPT VE.Can 150/100 rev2",
        0xA10F => "BlueSolar MPPT VE.Can 150/100",
        0xA112 => "BlueSolar MPPT VE.Can 250/70",
        0xA113 => "BlueSolar MPPT VE.Can 250/100",
        0xA114 => "SmartSolar MPPT VE.Can 250/70 rev2",
        0xA115 => "SmartSolar MPPT VE.Can 250/100 rev2",
        0xA116 => "SmartSolar MPPT VE.Can 250/85 rev2",
        0xA117 => "BlueSolar MPPT VE.Can 150/100 rev2",
        0xA201 => "Phoenix Inverter 12V 250VA 230V",
        0xA202 => "Phoenix Inverter 24V 250VA 230V",
        0xA204 => "Phoenix Inverter 48V 250VA 230V",
        0xA211 => "Phoenix Inverter 12V 375VA 230V",
        0xA212 => "Phoenix Inverter 24V 375VA 230V",
        0xA214 => "Phoenix Inverter 48V 375VA 230V",
        0xA221 => "Phoenix Inverter 12V 500VA 230V",
        0xA222 => "Phoenix Inverter 24V 500VA 230V",
        0xA224 => "Phoenix Inverter 48V 500VA 230V",
        0xA231 => "Phoenix Inverter 12V 250VA 230V",
        0xA232 => "Phoenix Inverter 24V 250VA 230V",
        0xA234 => "Phoenix Inverter 48V 250VA 230V",
        0xA239 => "Phoenix Inverter 12V 250VA 120V",
        0xA23A => "Phoenix Inverter 24V 250VA 120V",
        0xA23C => "Phoenix Inverter 48V 250VA 120V",
        0xA241 => "Phoenix Inverter 12V 375VA 230V",
        0xA242 => "Phoenix Inverter 24V 375VA 230V",
        0xA244 => "Phoenix Inverter 48V 375VA 230V",
        0xA249 => "Phoenix Inverter 12V 375VA 120V",
        0xA24A => "Phoenix Inverter 24V 375VA 120V",
        0xA24C => "Phoenix Inverter 48V 375VA 120V",
        0xA251 => "Phoenix Inverter 12V 500VA 230V",
        0xA252 => "Phoenix Inverter 24V 500VA 230V",
        0xA254 => "Phoenix Inverter 48V 500VA 230V",
        0xA259 => "Phoenix Inverter 12V 500VA 120V",
        0xA25A => "Phoenix Inverter 24V 500VA 120V",
        0xA25C => "Phoenix Inverter 48V 500VA 120V",
        0xA261 => "Phoenix Inverter 12V 800VA 230V",
        0xA262 => "Phoenix Inverter 24V 800VA 230V",
        0xA264 => "Phoenix Inverter 48V 800VA 230V",
        0xA269 => "Phoenix Inverter 12V 800VA 120V",
        0xA26A => "Phoenix Inverter 24V 800VA 120V",
        0xA26C => "Phoenix Inverter 48V 800VA 120V",
        0xA271 => "Phoenix Inverter 12V 1200VA 230V",
        0xA272 => "Phoenix Inverter 24V 1200VA 230V",
        0xA274 => "Phoenix Inverter 48V 1200VA 230V",
        0xA279 => "Phoenix Inverter 12V 1200VA 120V",
        0xA27A => "Phoenix Inverter 24V 1200VA 120V",
        0xA27C => "Phoenix Inverter 48V 1200VA 120V",
        0xA281 => "Phoenix Inverter 12V 1600VA 230V",
        0xA282 => "Phoenix Inverter 24V 1600VA 230V",
        0xA284 => "Phoenix Inverter 48V 1600VA 230V",
        0xA291 => "Phoenix Inverter 12V 2000VA 230V",
        0xA292 => "Phoenix Inverter 24V 2000VA 230V",
        0xA294 => "Phoenix Inverter 48V 2000VA 230V",
        0xA2A1 => "Phoenix Inverter 12V 3000VA 230V",
        0xA2A2 => "Phoenix Inverter 24V 3000VA 230V",
        0xA2A4 => "Phoenix Inverter 48V 3000VA 230V",
        0xA340 => "Phoenix Smart IP43 Charger 12/50 (1+1)",
        0xA341 => "Phoenix Smart IP43 Charger 12/50 (3)",
        0xA342 => "Phoenix Smart IP43 Charger 24/25 (1+1)",
        0xA343 => "Phoenix Smart IP43 Charger 24/25 (3)",
        0xA344 => "Phoenix Smart IP43 Charger 12/30 (1+1)",
        0xA345 => "Phoenix Smart IP43 Charger 12/30 (3)",
        0xA346 => "Phoenix Smart IP43 Charger 24/16 (1+1)",
        0xA347 => "Phoenix Smart IP43 Charger 24/16 (3)",
        0xA381 => "BMV-712 Smart",
        0xA382 => "BMV-710H Smart",
        0xA383 => "BMV-712 Smart Rev2",
        0xA389 => "SmartShunt 500A/50mV",
        0xA38A => "SmartShunt 1000A/50mV",
        0xA38B => "SmartShunt 2000A/50mV",
        0xA3F0 => "Smart BuckBoost 12V/12V-50A",
        _ => return None,
    })
}

/// Parse a PID token such as `0xA042` / `0x203` (also without the prefix).
pub fn parse_pid(token: &str) -> Option<u16> {
    let t = token.trim();
    let hex = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    u16::from_str_radix(hex, 16).ok()
}

/// FW: "123" → "1.23", "0308" → "3.08", "C208" → "2.08-rcC" (release candidate C).
/// FWE: "0208FF" / "208FF" → "2.08", "020801" → "2.08-beta-01".
pub(crate) fn firmware_version(label: &str, token: &str) -> Option<String> {
    let t = token.trim();
    if !t.is_ascii() || t.is_empty() {
        return None;
    }
    if label == "FWE" {
        let (ver, build) = t.split_at(t.len().checked_sub(2)?);
        let v = firmware_version("FW", ver)?;
        return Some(if build.eq_ignore_ascii_case("FF") {
            v
        } else {
            format!("{v}-beta-{build}")
        });
    }
    let (rc, digits) = match t.as_bytes().first() {
        Some(c) if c.is_ascii_alphabetic() => t.split_at(1),
        _ => ("", t),
    };
    if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (major, minor) = digits.split_at(digits.len() - 2);
    let major = major.trim_start_matches('0');
    let major = if major.is_empty() { "0" } else { major };
    Some(if rc.is_empty() {
        format!("{major}.{minor}")
    } else {
        format!("{major}.{minor}-rc{rc}")
    })
}

pub(crate) fn parse_bool(token: &str) -> Option<bool> {
    let t = token.trim();
    if t.eq_ignore_ascii_case("on") {
        Some(true)
    } else if t.eq_ignore_ascii_case("off") {
        Some(false)
    } else {
        None
    }
}

fn parse_int(token: &str) -> Option<i64> {
    token.trim().parse().ok()
}

/// Decimal or 0x-hex token.
fn parse_bits(token: &str) -> Option<u32> {
    let t = token.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    }
}

fn bit_names(bits: u32, table: &[(u32, &str)]) -> String {
    if bits == 0 {
        return "none".to_owned();
    }
    let mut names: Vec<String> = table
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect();
    let unknown = bits & !table.iter().fold(0, |acc, (bit, _)| acc | bit);
    if unknown != 0 {
        names.push(format!("unknown {unknown:#x}"));
    }
    names.join(", ")
}

/// snake_case form of an unknown label: lowercase ASCII alphanumerics, runs of anything else
/// become one `_`; a leading digit gets a `field_` prefix.
pub fn sanitize_label(label: &str) -> String {
    let mut out = String::with_capacity(label.len() + 6);
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "field_");
        if out.ends_with('_') {
            out.push_str("unnamed");
        }
    }
    out
}

fn decode_one(label: &str, token: &str) -> Option<Field> {
    let Some((name, kind)) = spec(label) else {
        return Some(Field::new(sanitize_label(label), token));
    };
    // "---": the device has no value (no sensor, not synchronised, DC monitor mode). Omitted.
    if token.trim() == "---" {
        return None;
    }
    let raw_text = || Field::new(name, token).with_raw(token);
    let field = match kind {
        Kind::Scaled(div, unit) => match parse_int(token) {
            Some(v) => Field::new(name, v as f64 / div).with_unit(unit),
            None => raw_text(),
        },
        Kind::Int(unit) => match parse_int(token) {
            Some(v) => {
                let f = Field::new(name, v);
                match unit {
                    Some(u) => f.with_unit(u),
                    None => f,
                }
            }
            None => raw_text(),
        },
        Kind::Bool => match parse_bool(token) {
            Some(b) => Field::new(name, b),
            None => raw_text(),
        },
        Kind::Text => Field::new(name, token),
        Kind::Firmware => match firmware_version(label, token) {
            Some(v) => Field::new(name, v).with_raw(token),
            None => raw_text(),
        },
        Kind::Product => match parse_pid(token) {
            Some(pid) => {
                let model = product_name(pid)
                    .map(Cow::Borrowed)
                    .unwrap_or_else(|| Cow::Owned(format!("unknown product {pid:#06X}")));
                Field::new(name, model.into_owned()).with_raw(token)
            }
            None => raw_text(),
        },
        Kind::Enum(names) => match parse_int(token) {
            Some(v) => match names(v) {
                Some(n) => Field::new(name, n).with_raw(token),
                None => Field::new(name, format!("unknown ({v})")).with_raw(token),
            },
            None => raw_text(),
        },
        Kind::Bits(table) => match parse_bits(token) {
            Some(bits) => Field::new(name, bit_names(bits, table)).with_raw(token),
            None => raw_text(),
        },
    };
    Some(field)
}

/// Decode the records of one block or assembled record. Never fails (see the module docs).
pub fn decode_fields(fields: &[(String, String)]) -> Reading {
    let mut reading = Reading {
        fields: Vec::with_capacity(fields.len()),
    };
    for (label, token) in fields {
        if let Some(f) = decode_one(label, token) {
            reading.push(f);
        }
    }
    reading
}

/// The value of a decoded field as f64 (test and consumer convenience).
pub fn value_f64(reading: &Reading, name: &str) -> Option<f64> {
    reading.value(name).and_then(Value::as_f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vedirect::text::{RecordAssembler, TextEvent, TextParser};
    use proptest::prelude::*;

    fn block(stream: &[u8]) -> Vec<(String, String)> {
        let mut p = TextParser::new();
        let mut out = Vec::new();
        p.feed(stream, |e| {
            if let TextEvent::Block(b) = e {
                out.push(b);
            }
        });
        assert_eq!(out.len(), 1);
        out.remove(0).fields
    }

    fn f(r: &Reading, name: &str) -> f64 {
        value_f64(r, name).unwrap_or_else(|| panic!("{name} missing in {r:?}"))
    }

    fn field<'a>(r: &'a Reading, name: &str) -> &'a Field {
        r.get(name).unwrap_or_else(|| panic!("{name} missing"))
    }

    fn text<'a>(r: &'a Reading, name: &str) -> &'a str {
        r.value(name).and_then(Value::as_str).unwrap()
    }

    const T1: &[u8] = b"\r\nPID\t0xA042\r\nFW\t123\r\nSER#\tHQ1411MYIKN\r\nV\t12530\r\nI\t640\r\nVPV\t31390\r\nPPV\t8\r\nCS\t3\r\nERR\t0\r\nLOAD\tON\r\nIL\t0\r\nH19\t8272\r\nH20\t0\r\nH21\t11\r\nH22\t25\r\nH23\t119\r\nHSDS\t274\r\nChecksum\t\xB1";
    const T5: &[u8] = b"\r\nPID\t0x203\r\nV\t12164\r\nI\t-2674\r\nP\t-33\r\nCE\t-65887\r\nSOC\t837\r\nTTG\t2199\r\nAlarm\tOFF\r\nRelay\tOFF\r\nAR\t0\r\nBMV\t700\r\nFW\t0308\r\nChecksum\t:";
    const T6: &[u8] = b"\r\nPID\t0xA05F\r\nFW\t139\r\nSER#\tHQ18486U2B4\r\nV\t12810\r\nI\t-10\r\nVPV\t10\r\nPPV\t0\r\nCS\t0\r\nMPPT\t0\r\nERR\t0\r\nLOAD\tON\r\nIL\t0\r\nH19\t0\r\nH20\t0\r\nH21\t0\r\nH22\t0\r\nH23\t0\r\nHSDS\t0\r\nChecksum\t\xE4";
    const T8: &[u8] = b"\r\nPID\t0xA053\r\nFW\t156\r\nSER#\tHQ1942K7LJ8\r\nV\t12450\r\nI\t0\r\nVPV\t10\r\nPPV\t0\r\nCS\t0\r\nMPPT\t0\r\nOR\t0x00000001\r\nERR\t0\r\nLOAD\tON\r\nIL\t0\r\nH19\t3\r\nH20\t0\r\nH21\t24\r\nH22\t1\r\nH23\t15\r\nHSDS\t3\r\nChecksum\t\xE1";
    const T9: &[u8] = b"\r\nPID\t0xA056\r\nFW\t161\r\nSER#\tHQ19499RHC5\r\nV\t11880\r\nI\t0\r\nVPV\t10\r\nPPV\t0\r\nCS\t0\r\nMPPT\t0\r\nOR\t0x00000001\r\nERR\t0\r\nLOAD\tON\r\nH19\t4803\r\nH20\t0\r\nH21\t0\r\nH22\t0\r\nH23\t0\r\nHSDS\t280\r\nChecksum\t)";

    #[test]
    fn t1_bluesolar_values() {
        let r = decode_fields(&block(T1));
        let m = field(&r, "model");
        assert_eq!(m.value, Value::Text("BlueSolar MPPT 75/15".into()));
        assert_eq!(m.raw.as_deref(), Some("0xA042"));
        assert_eq!(text(&r, "firmware_version"), "1.23");
        assert_eq!(text(&r, "serial_number"), "HQ1411MYIKN");
        assert_eq!(f(&r, "battery_voltage"), 12.53);
        assert_eq!(field(&r, "battery_voltage").unit, Some("V"));
        assert_eq!(f(&r, "battery_current"), 0.64);
        assert_eq!(f(&r, "panel_voltage"), 31.39);
        assert_eq!(r.value("panel_power"), Some(&Value::Int(8)));
        let cs = field(&r, "charge_state");
        assert_eq!(
            (cs.value.as_str(), cs.raw.as_deref()),
            (Some("bulk"), Some("3"))
        );
        assert_eq!(text(&r, "error"), "no error");
        assert_eq!(r.value("load_output"), Some(&Value::Bool(true)));
        assert_eq!(f(&r, "load_current"), 0.0);
        assert_eq!(f(&r, "yield_total"), 82.72);
        assert_eq!(field(&r, "yield_total").unit, Some("kWh"));
        assert_eq!(f(&r, "yield_today"), 0.0);
        assert_eq!(r.value("max_power_today"), Some(&Value::Int(11)));
        assert_eq!(f(&r, "yield_yesterday"), 0.25);
        assert_eq!(r.value("max_power_yesterday"), Some(&Value::Int(119)));
        assert_eq!(r.value("day_sequence"), Some(&Value::Int(274)));
        assert_eq!(r.len(), 17);
        // wire order is kept
        assert_eq!(r.fields[0].name, "model");
        assert_eq!(r.fields[16].name, "day_sequence");
    }

    #[test]
    fn t3_t4_bmv_values_and_assembly() {
        use crate::vedirect::text::tests::{T3, T4};
        let mut asm = RecordAssembler::new();
        let mut p = TextParser::new();
        let mut records = Vec::new();
        p.feed(&[T3, T4].concat(), |e| {
            if let TextEvent::Block(b) = e
                && let Some(rec) = asm.push(b)
            {
                records.push(rec);
            }
        });
        assert_eq!(records.len(), 1);
        let r = decode_fields(&records[0].fields);
        assert_eq!(text(&r, "model"), "BMV-700");
        assert_eq!(f(&r, "battery_voltage"), 12.065);
        assert_eq!(f(&r, "battery_current"), -7.626);
        assert_eq!(r.value("battery_power"), Some(&Value::Int(-92)));
        assert_eq!(f(&r, "consumed_ah"), -65.476);
        assert_eq!(f(&r, "state_of_charge"), 83.9);
        assert_eq!(field(&r, "state_of_charge").unit, Some("%"));
        assert_eq!(r.value("time_to_go"), Some(&Value::Int(942)));
        assert_eq!(r.value("alarm"), Some(&Value::Bool(false)));
        assert_eq!(r.value("relay"), Some(&Value::Bool(false)));
        assert_eq!(text(&r, "alarm_reason"), "none");
        assert_eq!(text(&r, "bmv_model"), "700");
        let fw = field(&r, "firmware_version");
        assert_eq!(
            (fw.value.as_str(), fw.raw.as_deref()),
            (Some("3.08"), Some("0308"))
        );
        // T4
        assert_eq!(f(&r, "deepest_discharge"), -149.322);
        assert_eq!(f(&r, "last_discharge"), -82.854);
        assert_eq!(f(&r, "average_discharge"), 0.0);
        assert_eq!(r.value("charge_cycles"), Some(&Value::Int(0)));
        assert_eq!(r.value("full_discharges"), Some(&Value::Int(0)));
        assert_eq!(f(&r, "cumulative_ah_drawn"), -5526.294);
        assert_eq!(f(&r, "min_battery_voltage"), 11.733);
        assert_eq!(f(&r, "max_battery_voltage"), 16.161);
        assert_eq!(
            r.value("seconds_since_full_charge"),
            Some(&Value::Int(368003))
        );
        assert_eq!(r.value("automatic_syncs"), Some(&Value::Int(26)));
        assert_eq!(r.value("low_voltage_alarms"), Some(&Value::Int(0)));
        assert_eq!(r.value("high_voltage_alarms"), Some(&Value::Int(0)));
        assert_eq!(f(&r, "discharged_energy"), 68.43);
        assert_eq!(f(&r, "charged_energy"), 85.27);
    }

    #[test]
    fn t5_bmv_colon_checksum_values() {
        let r = decode_fields(&block(T5));
        assert_eq!(f(&r, "battery_voltage"), 12.164);
        assert_eq!(f(&r, "battery_current"), -2.674);
        assert_eq!(r.value("battery_power"), Some(&Value::Int(-33)));
        assert_eq!(f(&r, "consumed_ah"), -65.887);
        assert_eq!(f(&r, "state_of_charge"), 83.7);
        assert_eq!(r.value("time_to_go"), Some(&Value::Int(2199)));
    }

    #[test]
    fn t6_t8_t9_smartsolar_values() {
        let r = decode_fields(&block(T6));
        assert_eq!(text(&r, "model"), "SmartSolar MPPT 100/20");
        assert_eq!(f(&r, "battery_voltage"), 12.81);
        assert_eq!(f(&r, "battery_current"), -0.01);
        assert_eq!(f(&r, "panel_voltage"), 0.01);
        assert_eq!(text(&r, "charge_state"), "off");
        assert_eq!(text(&r, "tracker_mode"), "off");
        assert_eq!(field(&r, "tracker_mode").raw.as_deref(), Some("0"));
        let r = decode_fields(&block(T8));
        assert_eq!(f(&r, "battery_voltage"), 12.45);
        let or = field(&r, "off_reason");
        assert_eq!(
            (or.value.as_str(), or.raw.as_deref()),
            (Some("no input power"), Some("0x00000001"))
        );
        assert_eq!(f(&r, "yield_total"), 0.03);
        assert_eq!(r.value("max_power_today"), Some(&Value::Int(24)));
        assert_eq!(f(&r, "yield_yesterday"), 0.01);
        assert_eq!(r.value("max_power_yesterday"), Some(&Value::Int(15)));
        assert_eq!(r.value("day_sequence"), Some(&Value::Int(3)));
        let r = decode_fields(&block(T9));
        assert_eq!(f(&r, "yield_total"), 48.03);
        assert_eq!(text(&r, "model"), "SmartSolar MPPT 100/30");
        assert_eq!(text(&r, "firmware_version"), "1.61");
    }

    #[test]
    fn t10_bmv712_values() {
        use crate::vedirect::text::tests::T10;
        let mut asm = RecordAssembler::new();
        let mut p = TextParser::new();
        let mut rec = None;
        p.feed(T10, |e| {
            if let TextEvent::Block(b) = e {
                rec = asm.push(b).or(rec.take());
            }
        });
        let r = decode_fields(&rec.unwrap().fields);
        assert_eq!(text(&r, "model"), "BMV-712 Smart");
        assert_eq!(f(&r, "battery_voltage"), 12.282);
        assert_eq!(f(&r, "starter_voltage"), 0.029);
        assert_eq!(f(&r, "battery_current"), -2.288);
        assert_eq!(f(&r, "consumed_ah"), -74.9);
        assert_eq!(f(&r, "state_of_charge"), 91.6);
        assert_eq!(r.value("time_to_go"), Some(&Value::Int(10350)));
        assert_eq!(text(&r, "bmv_model"), "712 Smart");
        assert_eq!(text(&r, "firmware_version"), "4.03");
        assert_eq!(f(&r, "deepest_discharge"), -76.138);
        assert_eq!(f(&r, "min_battery_voltage"), 12.171);
        assert_eq!(f(&r, "max_battery_voltage"), 20.418);
        assert_eq!(
            r.value("seconds_since_full_charge"),
            Some(&Value::Int(1199744))
        );
        assert_eq!(f(&r, "min_starter_voltage"), 0.02);
        assert_eq!(f(&r, "max_starter_voltage"), 21.033);
        assert_eq!(f(&r, "discharged_energy"), 24.04);
        assert_eq!(f(&r, "charged_energy"), 24.15);
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(l, v)| ((*l).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn absent_bools_firmware_and_unknowns() {
        let r = decode_fields(&fields(&[
            ("T", "---"),
            ("SOC", "---"),
            ("TTG", "-1"),
            ("Alarm", "On"),
            ("Relay", "off"),
            ("LOAD", "oN"),
            ("FW", "C208"),
            ("FWE", "0208FF"),
            ("FWE", "020801"),
            ("AR", "5"),
            ("CS", "99"),
            ("V", "abc"),
            ("My Label#2", "x"),
            ("2X", "y"),
            ("DM", "-15"),
            ("MON", "-9"),
            ("MODE", "253"),
            ("PID", "0xFFFF"),
            ("T", "25"),
        ]));
        assert!(r.get("state_of_charge").is_none());
        assert_eq!(r.value("time_to_go"), Some(&Value::Int(-1)));
        assert_eq!(r.value("alarm"), Some(&Value::Bool(true)));
        assert_eq!(r.value("relay"), Some(&Value::Bool(false)));
        assert_eq!(r.value("load_output"), Some(&Value::Bool(true)));
        let fw: Vec<_> = r
            .iter()
            .filter(|f| f.name == "firmware_version")
            .map(|f| f.value.as_str().unwrap())
            .collect();
        assert_eq!(fw, ["2.08-rcC", "2.08", "2.08-beta-01"]);
        assert_eq!(text(&r, "alarm_reason"), "low voltage, low soc");
        assert_eq!(text(&r, "charge_state"), "unknown (99)");
        let v = field(&r, "battery_voltage");
        assert_eq!(
            (v.value.as_str(), v.raw.as_deref()),
            (Some("abc"), Some("abc"))
        );
        assert_eq!(text(&r, "my_label_2"), "x");
        assert_eq!(text(&r, "field_2x"), "y");
        assert_eq!(f(&r, "mid_point_deviation"), -1.5);
        assert_eq!(text(&r, "dc_monitor_mode"), "solar charger");
        assert_eq!(text(&r, "device_mode"), "hibernate");
        assert_eq!(text(&r, "model"), "unknown product 0xFFFF");
        // "---" omitted; the later real temperature is kept
        let temps: Vec<_> = r
            .iter()
            .filter(|f| f.name == "battery_temperature")
            .collect();
        assert_eq!(temps.len(), 1);
        assert_eq!(temps[0].value, Value::Int(25));
        assert_eq!(temps[0].unit, Some("°C"));
        assert_eq!(bit_names(0x4001, ALARM_BITS), "low voltage, unknown 0x4000");
        assert_eq!(sanitize_label("###"), "field_unnamed");
    }

    #[test]
    fn product_names_and_pid() {
        assert_eq!(product_name(0xA381), Some("BMV-712 Smart"));
        assert_eq!(product_name(0x0204), Some("BMV-702"));
        assert_eq!(product_name(0xA389), Some("SmartShunt 500A/50mV"));
        assert_eq!(product_name(0x1234), None);
        assert_eq!(parse_pid("0x203"), Some(0x203));
        assert_eq!(parse_pid("0XA05F"), Some(0xA05F));
        assert_eq!(parse_pid("zz"), None);
    }

    #[test]
    fn serializes_to_json() {
        let r = decode_fields(&block(T1));
        let json = serde_json::to_string(&r).unwrap();
        assert!(
            json.contains(r#""name":"battery_voltage","value":12.53,"unit":"V""#),
            "{json}"
        );
    }

    proptest! {
        #[test]
        fn decode_fields_never_panics(pairs in proptest::collection::vec(
            (prop_oneof![
                prop::sample::select(vec![
                    "PID", "FW", "FWE", "V", "I", "T", "SOC", "CS", "ERR", "AR", "OR", "MON",
                    "MODE", "LOAD", "Alarm", "H9", "H19", "CAP_BLE", "", "é#",
                ]).prop_map(String::from),
                any::<String>(),
            ], any::<String>()), 0..20)
        ) {
            let r = decode_fields(&pairs);
            prop_assert!(r.len() <= pairs.len());
            for f in r.iter() {
                prop_assert!(!f.name.is_empty());
            }
        }

        #[test]
        fn numbers_scale_exactly(mv in -100_000_000i64..100_000_000) {
            let r = decode_fields(&fields(&[("V", &mv.to_string())]));
            prop_assert_eq!(f(&r, "battery_voltage"), mv as f64 / 1000.0);
        }
    }
}
