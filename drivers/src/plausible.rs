//! Plausibility ranges: the physical limits of real equipment, per decoded field name, shared by
//! both protocols. A reading with a numeric value outside its field's range (or not finite) never
//! becomes a snapshot: VE.Direct drops the block ([`crate::vedirect::validate`]), PI30 fails the
//! reply with `DecodeError::Implausible` (→ `DriverError::BadReply`).
//!
//! Why both: VE.Direct's 8-bit block checksum lets one damaged block in 256 through, and PI30's
//! CRC-16 protects the line but not a firmware that sends garbage. The ranges are generous on
//! purpose (every real capture and reference vector passes with a wide margin); they exist to
//! stop nonsense such as `V -99999999999` decoding to a battery of −99,999,999 V, not to judge a
//! reading. Names follow the decoders: [`crate::vedirect::fields`] (VE.Direct "VE.Direct
//! Protocol" 3.33, table "Fields"), [`crate::pi30::fields`] (PI30 QPIGS/QPIGS2/QPGSn/QPIRI/Q1/QET/QLT)
//! and [`crate::pi18::fields`] (PI18 GS/PIRI, which reuse PI30's names where the meaning is the
//! same).
//! Where both protocols decode a field to the same name (`battery_voltage`,
//! `ac_output_voltage` …) the name means the same quantity in the same unit, so one range serves.
//!
//! Units are those of the decoded [`Value`](crate::Value): V, A, W, VA, Hz, %, °C, Ah, kWh, min, s.

use thiserror::Error;

use crate::reading::Reading;

/// The allowed interval of one field, both ends included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub name: &'static str,
    pub min: f64,
    pub max: f64,
}

const fn r(name: &'static str, min: f64, max: f64) -> Range {
    Range { name, min, max }
}

/// A numeric value outside its field's range, or not a finite number.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{field} = {value} is implausible (allowed {min} ..= {max})")]
pub struct Implausible {
    pub field: String,
    pub value: f64,
    pub min: f64,
    pub max: f64,
}

/// The table. One line of reasoning per range; VE.Direct system voltages are 12/24/48 V nominal,
/// PI30 inverters 12/24/48 V battery and 120/230 V AC.
pub const RANGES: &[Range] = &[
    // --- battery side, both protocols ---
    // 48 V nominal systems charge/equalise below 70 V; BMV inputs are rated to 95 V.
    r("battery_voltage", 0.0, 100.0),
    r("battery_voltage_2", 0.0, 100.0), // Phoenix Smart charger outputs 2/3: same systems.
    r("battery_voltage_3", 0.0, 100.0),
    r("battery_voltage_from_scc", 0.0, 100.0), // PI30 charge controller sees the same battery.
    r("battery_voltage_from_scc2", 0.0, 100.0),
    r("battery_voltage_from_scc3", 0.0, 100.0),
    r("min_battery_voltage", 0.0, 100.0), // BMV H7/H8: extremes of the same input (T10: 20.4 V).
    r("max_battery_voltage", 0.0, 100.0),
    // BMV aux input, rated like the main one; a reversed or absent starter reads ≤ 0.
    r("starter_voltage", -100.0, 100.0),
    r("min_starter_voltage", -100.0, 100.0),
    r("max_starter_voltage", -100.0, 100.0),
    r("mid_point_voltage", 0.0, 100.0), // half of a ≤ 100 V bank.
    r("mid_point_deviation", -100.0, 100.0), // a deviation in % of the half-bank voltage.
    // Largest SmartShunt is 2000 A; ×5 leaves room for surge currents.
    r("battery_current", -10_000.0, 10_000.0),
    r("battery_current_2", -1000.0, 1000.0), // Phoenix Smart chargers deliver ≤ 50 A per output.
    r("battery_current_3", -1000.0, 1000.0),
    r("battery_power", -1_000_000.0, 1_000_000.0), // |V| ≤ 100 V × |I| ≤ 10 kA.
    r("battery_temperature", -50.0, 100.0), // a battery outside this is destroyed or on fire.
    r("state_of_charge", 0.0, 100.0),       // a percentage.
    r("battery_capacity", 0.0, 100.0),      // PI30: SOC in %.
    // BMV capacity setting is at most 9999 Ah; ×10 for counters that ran past it.
    r("consumed_ah", -100_000.0, 100_000.0),
    r("deepest_discharge", -100_000.0, 0.0), // H1..H3: discharge depths, sent ≤ 0 (T4, T10).
    r("last_discharge", -100_000.0, 0.0),
    r("average_discharge", -100_000.0, 0.0),
    r("cumulative_ah_drawn", -1.0e9, 0.0), // H6: lifetime Ah drawn, sent ≤ 0 (T4: −5526 Ah).
    r("time_to_go", -1.0, 1_000_000.0),    // −1 = infinite; BMV registers hold ≤ 65535 min.
    r("seconds_since_full_charge", 0.0, 4_294_967_295.0), // a u32 seconds counter.
    r("charge_cycles", 0.0, 1_000_000.0),  // counters of events: never negative.
    r("full_discharges", 0.0, 1_000_000.0),
    r("automatic_syncs", 0.0, 1_000_000.0),
    r("low_voltage_alarms", 0.0, 1_000_000.0),
    r("high_voltage_alarms", 0.0, 1_000_000.0),
    r("low_starter_voltage_alarms", 0.0, 1_000_000.0),
    r("high_starter_voltage_alarms", 0.0, 1_000_000.0),
    r("discharged_energy", 0.0, 1_000_000.0), // H17/H18 lifetime kWh counters (T4: 68 kWh).
    r("charged_energy", 0.0, 1_000_000.0),
    // --- VE.Direct MPPT ---
    r("panel_voltage", 0.0, 450.0), // the highest-voltage Victron MPPT (RS 450) is rated 450 V.
    r("panel_power", 0.0, 20_000.0), // largest MPPTs: 250/100 at 48 V ≈ 5.8 kW, RS 450/200 11.5 kW.
    r("load_current", 0.0, 1000.0), // load outputs are ≤ 50 A.
    r("yield_total", 0.0, 10_000_000.0), // lifetime kWh counter.
    r("yield_today", 0.0, 1000.0),  // 20 kW × 24 h < 500 kWh.
    r("yield_yesterday", 0.0, 1000.0),
    r("max_power_today", 0.0, 20_000.0), // like panel_power.
    r("max_power_yesterday", 0.0, 20_000.0),
    r("day_sequence", 0.0, 364.0), // HSDS: the spec's range is 0..364.
    // --- AC side: VE.Direct Phoenix inverters and PI30 inverters ---
    r("ac_output_voltage", 0.0, 400.0), // 120/230 V units; 400 V is beyond any overvoltage trip.
    r("ac_output_current", 0.0, 500.0), // largest single units draw < 100 A.
    r("ac_output_frequency", 0.0, 100.0), // 50/60 Hz nominal, 0 when off.
    r("ac_output_apparent_power", 0.0, 50_000.0), // single units ≤ 11 kVA; ×2 overload, margin.
    r("ac_output_active_power", 0.0, 50_000.0),
    r("ac_output_load", 0.0, 500.0), // % of rating; overload reads > 100.
    r("ac_input_voltage", 0.0, 400.0), // mains input of 120/230 V units, 0 without grid.
    r("ac_input_frequency", 0.0, 100.0),
    r("grid_voltage", 0.0, 400.0), // QPGSn: the same as ac_input_*.
    r("grid_frequency", 0.0, 100.0),
    r("load_percentage", 0.0, 500.0),
    // --- VE.Direct Smart BuckBoost input ---
    r("dc_input_voltage", 0.0, 100.0), // a 12 V/12 V converter: its input is a battery.
    r("dc_input_current", -1000.0, 1000.0),
    r("dc_input_power", -100_000.0, 100_000.0),
    // --- PI30 live fields (QPIGS, QPIGS2, QPGSn, Q1) ---
    r("bus_voltage", 0.0, 1000.0), // DC bus of a 230 V inverter: ~350–460 V.
    r("battery_charging_current", 0.0, 1000.0), // ≤ 200 A per unit.
    r("battery_discharge_current", 0.0, 2000.0), // 11 kW at 40 V ≈ 275 A, surges more.
    r("pv_input_voltage", 0.0, 1000.0), // Voltronic PV inputs are rated ≤ 500 V.
    r("pv1_input_voltage", 0.0, 1000.0),
    r("pv2_input_voltage", 0.0, 1000.0),
    r("pv3_input_voltage", 0.0, 1000.0),
    r("pv_input_current_for_battery", 0.0, 1000.0), // PV current at battery side, ≤ 200 A.
    r("pv_input_current", 0.0, 1000.0),
    r("pv1_input_current", 0.0, 1000.0),
    r("pv2_input_current", 0.0, 1000.0),
    r("pv3_input_current", 0.0, 1000.0),
    r("pv_input_power", 0.0, 50_000.0), // ≤ 11 kW of PV per unit, margin.
    r("pv1_charging_power", 0.0, 50_000.0),
    r("pv2_charging_power", 0.0, 50_000.0),
    r("pv3_charging_power", 0.0, 50_000.0),
    r("pv_total_charging_power", 0.0, 50_000.0),
    r("scc_charge_power", 0.0, 50_000.0),
    r("solar_feed_to_grid_power", 0.0, 50_000.0),
    r("ac_charging_current", 0.0, 1000.0),
    r("ac_charging_power", 0.0, 50_000.0),
    r("inverter_heat_sink_temperature", -50.0, 150.0), // heat sinks trip near 100 °C.
    r("scc_pwm_temperature", -50.0, 150.0),
    r("inverter_temperature", -50.0, 150.0),
    r("transformer_temperature", -50.0, 150.0),
    r("fan_pwm_speed", 0.0, 100.0), // a duty cycle in %.
    r("sync_frequency", 0.0, 100.0),
    // PI30MAX QET/QLT lifetime kWh counters (8 digits of Wh cap them at 99,999.999 kWh); like
    // yield_total, the bound only refuses garbage.
    r("pv_energy_total", 0.0, 10_000_000.0),
    r("load_energy_total", 0.0, 10_000_000.0),
    // QPGSn totals over up to 9 parallel units.
    r("total_charging_current", 0.0, 10_000.0),
    r("total_ac_output_apparent_power", 0.0, 500_000.0),
    r("total_output_active_power", 0.0, 500_000.0),
    r("total_ac_output_percentage", 0.0, 500.0),
    // --- PI18 GS / PIRI fields without a PI30 twin ---
    r("pv1_input_power", 0.0, 50_000.0), // per string, like pv_input_power.
    r("pv2_input_power", 0.0, 50_000.0),
    r("mppt1_charger_temperature", -50.0, 150.0), // charger heat sinks, like the inverter's.
    r("mppt2_charger_temperature", -50.0, 150.0),
    r("ac_input_current", 0.0, 500.0), // PIRI rated input current, like ac_output_current.
    // QPIRI/QDI battery set points: the same batteries.
    r("battery_recharge_voltage", 0.0, 100.0),
    r("battery_under_voltage", 0.0, 100.0),
    r("battery_bulk_charge_voltage", 0.0, 100.0),
    r("battery_float_charge_voltage", 0.0, 100.0),
    r("battery_redischarge_voltage", 0.0, 100.0),
];

/// The range of a field, if it has one.
pub fn range_of(name: &str) -> Option<&'static Range> {
    RANGES.iter().find(|r| r.name == name)
}

/// Check one numeric value of a named field. Non-finite values are implausible whatever the
/// field; fields without a range accept every finite value.
pub fn check_value(name: &str, value: f64) -> Result<(), Implausible> {
    let (min, max) = match range_of(name) {
        Some(range) => (range.min, range.max),
        None => (f64::NEG_INFINITY, f64::INFINITY),
    };
    if value.is_finite() && value >= min && value <= max {
        Ok(())
    } else {
        Err(Implausible {
            field: name.to_owned(),
            value,
            min,
            max,
        })
    }
}

/// Check every numeric field of a reading; the first implausible one is the error.
pub fn check_reading(reading: &Reading) -> Result<(), Implausible> {
    for field in reading.iter() {
        if let Some(v) = field.value.as_f64() {
            check_value(&field.name, v)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::Field;

    #[test]
    fn table_is_well_formed() {
        for (i, range) in RANGES.iter().enumerate() {
            assert!(range.min < range.max, "{range:?}");
            assert!(
                RANGES[..i].iter().all(|other| other.name != range.name),
                "{} listed twice",
                range.name
            );
        }
    }

    #[test]
    fn bounds_are_inclusive_and_non_finite_is_refused() {
        assert!(check_value("state_of_charge", 0.0).is_ok());
        assert!(check_value("state_of_charge", 100.0).is_ok());
        assert!(check_value("state_of_charge", 100.1).is_err());
        assert!(check_value("time_to_go", -1.0).is_ok());
        assert!(check_value("time_to_go", -2.0).is_err());
        // no range: any finite value, never a non-finite one
        assert!(check_value("unknown_field", 1e300).is_ok());
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(check_value("unknown_field", v).is_err());
            assert!(check_value("battery_voltage", v).is_err());
        }
    }

    #[test]
    fn the_issue_value_is_refused_with_field_and_value() {
        let mut r = Reading::new();
        r.push(Field::new("model", "BMV-712 Smart"));
        r.push(Field::new("battery_voltage", -99_999_999.999));
        let err = check_reading(&r).unwrap_err();
        assert_eq!(err.field, "battery_voltage");
        assert_eq!(err.value, -99_999_999.999);
        assert!(
            err.to_string().contains("battery_voltage = -99999999.999"),
            "{err}"
        );
    }
}
