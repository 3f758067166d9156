//! The seeds' topics, for people migrating from the Hass.io "axpert" add-on (seed 004):
//! - `power/axpert`: the parallel data of QPGS0, CamelCase names;
//! - `power/axpert<serial>`: QPIGS of the connected unit, `<serial>` being its serial number.
//!
//! Numbers stay numbers; enumerations are sent as the inverter's raw code (a number where the
//! code is one), which is what that add-on's templates compare against. The add-on's two derived
//! flags: `Gridmode` is 1 in line mode (QPGS work mode `L`), `Solarmode` is 1 while the solar
//! charger charges (QPGS status bit "SCC charging"). A value our decoders left out (a `-`
//! placeholder) is left out here too, never sent as 0.

use serde_json::{Map, Value as Json};
use sungate_drivers::driver::Snapshot;
use sungate_drivers::pi30::fields::QPIGS_STATUS;
use sungate_drivers::reading::Field;
use sungate_drivers::{Reading, Value};

pub const PARALLEL_TOPIC: &str = "power/axpert";

/// `power/axpert` key <- QPGS0 field (the first one present: PI30MAX names PV1 differently).
const PARALLEL: &[(&str, &[&str])] = &[
    ("SerialNumber", &["serial_number"]),
    ("TotalAcOutputActivePower", &["total_output_active_power"]),
    (
        "TotalAcOutputApparentPower",
        &["total_ac_output_apparent_power"],
    ),
    ("TotalAcOutputPercentage", &["total_ac_output_percentage"]),
    ("BatteryChargingCurrent", &["battery_charging_current"]),
    ("BatteryDischargeCurrent", &["battery_discharge_current"]),
    ("TotalChargingCurrent", &["total_charging_current"]),
    ("GridVoltage", &["grid_voltage"]),
    ("GridFrequency", &["grid_frequency"]),
    ("OutputVoltage", &["ac_output_voltage"]),
    ("OutputFrequency", &["ac_output_frequency"]),
    // sic: the add-on's spelling, which existing templates use
    ("OutputAparentPower", &["ac_output_apparent_power"]),
    ("OutputActivePower", &["ac_output_active_power"]),
    ("LoadPercentage", &["load_percentage"]),
    ("BatteryVoltage", &["battery_voltage"]),
    ("BatteryCapacity", &["battery_capacity"]),
    ("PvInputVoltage", &["pv_input_voltage", "pv1_input_voltage"]),
    ("OutputMode", &["output_mode"]),
    ("ChargerSourcePriority", &["charger_source_priority"]),
    ("MaxChargeCurrent", &["max_charger_current"]),
    ("MaxChargerRange", &["max_charger_range"]),
    ("MaxAcChargerCurrent", &["max_ac_charger_current"]),
    (
        "PvInputCurrentForBattery",
        &["pv_input_current", "pv1_input_current"],
    ),
];

/// `power/axpert<serial>` key <- QPIGS field.
const UNIT: &[(&str, &[&str])] = &[
    ("BusVoltage", &["bus_voltage"]),
    (
        "InverterHeatsinkTemperature",
        &["inverter_heat_sink_temperature"],
    ),
    ("BatteryVoltageFromScc", &["battery_voltage_from_scc"]),
    (
        "PvInputCurrent",
        &["pv_input_current_for_battery", "pv1_input_current"],
    ),
    ("PvInputVoltage", &["pv_input_voltage", "pv1_input_voltage"]),
    ("PvInputPower", &["pv_input_power", "pv1_input_power"]),
    ("BatteryChargingCurrent", &["battery_charging_current"]),
    ("BatteryDischargeCurrent", &["battery_discharge_current"]),
];

/// A field as the add-on sent it: the raw code of an enumeration, else the value.
fn compat_value(field: &Field) -> Json {
    match (&field.value, field.raw.as_deref()) {
        (Value::Text(_), Some(raw)) if field.name != "serial_number" => raw
            .parse::<i64>()
            .map(Json::from)
            .unwrap_or_else(|_| Json::from(raw)),
        (Value::Int(i), _) => Json::from(*i),
        (Value::Float(f), _) => Json::from(*f),
        (Value::Bool(b), _) => Json::from(i64::from(*b)),
        (Value::Text(t), _) => Json::from(t.as_str()),
    }
}

fn mapped(reading: &Reading, table: &[(&str, &[&str])]) -> Map<String, Json> {
    let mut out = Map::new();
    for (key, sources) in table {
        if let Some(field) = sources.iter().find_map(|s| reading.get(s)) {
            out.insert((*key).to_owned(), compat_value(field));
        }
    }
    out
}

fn section<'a>(snapshot: &'a Snapshot, name: &str) -> Option<&'a Reading> {
    snapshot
        .sections
        .iter()
        .find(|(s, _)| s.eq_ignore_ascii_case(name))
        .map(|(_, r)| r)
}

/// The `power/axpert` payload, from the QPGS0 section (None without one).
pub fn parallel(snapshot: &Snapshot) -> Option<Json> {
    let qpgs = section(snapshot, "QPGS0")?;
    let mut out = mapped(qpgs, PARALLEL);
    if let Some(mode) = qpgs.get("work_mode").and_then(|f| f.raw.as_deref()) {
        out.insert("Gridmode".into(), Json::from(i64::from(mode == "L")));
    }
    if let Some(Value::Bool(charging)) = qpgs.value("is_scc_charging") {
        out.insert("Solarmode".into(), Json::from(i64::from(*charging)));
    }
    Some(Json::Object(out))
}

/// The `power/axpert<serial>` topic and payload, from the QPIGS section.
pub fn unit(snapshot: &Snapshot, serial: &str) -> Option<(String, Json)> {
    let qpigs = section(snapshot, "QPIGS")?;
    let mut out = mapped(qpigs, UNIT);
    let bits: Option<String> = QPIGS_STATUS
        .iter()
        .map(|name| match qpigs.value(name) {
            Some(Value::Bool(b)) => Some(if *b { '1' } else { '0' }),
            _ => None,
        })
        .collect();
    if let Some(bits) = bits {
        out.insert("DeviceStatus".into(), Json::from(bits));
    }
    Some((format!("{PARALLEL_TOPIC}{serial}"), Json::Object(out)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use sungate_drivers::pi30::{DecodeOptions, Variant, decode_frame};

    /// vectors.md V10 (QPIGS) and V25 (QPGS0 of a parallel 48 V stack), as frames with CRC.
    const QPIGS: &[u8] =
        b"(000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 00000 00110110 00 00 00856 010\x24\x8c\r";
    const QPGS0: &[u8] =
        b"(1 92931701100510 B 00 000.0 00.00 230.6 50.00 0275 0141 005 51.4 001 100 083.3 002 00574 00312 003 10100110 1 2 060 120 10 04 000\xcc#\r";

    fn snapshot() -> Snapshot {
        let section = |q: &str, frame: &[u8]| {
            let reading = decode_frame(q, frame, Variant::Pi30, DecodeOptions::default());
            (q.to_owned(), reading.unwrap())
        };
        Snapshot {
            sections: vec![section("QPIGS", QPIGS), section("QPGS0", QPGS0)],
        }
    }

    #[test]
    fn parallel_topic_has_the_addon_names_and_raw_codes() {
        let p = parallel(&snapshot()).unwrap();
        assert_eq!(p["SerialNumber"], "92931701100510");
        assert_eq!(p["TotalAcOutputActivePower"], 312);
        assert_eq!(p["TotalAcOutputApparentPower"], 574);
        assert_eq!(p["OutputAparentPower"], 275);
        assert_eq!(p["BatteryVoltage"], 51.4);
        assert_eq!(p["OutputMode"], 1);
        assert_eq!(p["ChargerSourcePriority"], 2);
        assert_eq!(p["MaxChargerRange"], 120);
        assert_eq!(p["PvInputCurrentForBattery"], 4);
        // battery mode, SCC charging
        assert_eq!(p["Gridmode"], 0);
        assert_eq!(p["Solarmode"], 1);
        assert_eq!(p.as_object().unwrap().len(), 25, "{p}");
    }

    #[test]
    fn unit_topic_carries_the_serial_and_status_bits() {
        let (topic, u) = unit(&snapshot(), "92932105105335").unwrap();
        assert_eq!(topic, "power/axpert92932105105335");
        assert_eq!(u["BusVoltage"], 460);
        assert_eq!(u["InverterHeatsinkTemperature"], 69);
        assert_eq!(u["BatteryVoltageFromScc"], 57.45);
        assert_eq!(u["PvInputCurrent"], 14.0);
        assert_eq!(u["PvInputPower"], 856);
        assert_eq!(u["DeviceStatus"], "00110110");
        assert_eq!(u.as_object().unwrap().len(), 9, "{u}");
    }

    #[test]
    fn without_the_sections_nothing_is_made_up() {
        let empty = Snapshot::default();
        assert!(parallel(&empty).is_none());
        assert!(unit(&empty, "1").is_none());
    }
}
