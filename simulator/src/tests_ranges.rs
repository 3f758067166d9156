//! The plausible ranges hold what the models really send: each model runs through simulated days
//! (day and night, charging and discharging, a power cycle, the grid failing), its output is
//! decoded with the codecs of `sungate-drivers` as the gateway decodes it, and every numeric
//! field must have a range that contains its value. Every range must also name a field that
//! really occurs (no stale names).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use sungate_drivers::Reading;
use sungate_drivers::pi30::codec::{DecodeOptions, EncodeOptions, encode_command};
use sungate_drivers::pi30::fields::{Variant as DecVariant, decode_frame};
use sungate_drivers::reading::Value;
use sungate_drivers::vedirect::fields::decode_fields;
use sungate_drivers::vedirect::text::{TextEvent, TextParser};

use crate::inverter::{InverterConfig, InverterModel, Response};
use crate::ranges::FieldRange;
use crate::vedirect::{AuxInput, BmvConfig, BmvModel, MpptConfig, MpptModel, VeDevice};

/// Checks readings against ranges and remembers which fields were seen.
#[derive(Default)]
struct Checker {
    seen: BTreeSet<String>,
    checked: usize,
}

impl Checker {
    fn check(&mut self, what: &str, reading: &Reading, ranges: &[FieldRange]) {
        for field in reading.iter() {
            let v = match &field.value {
                Value::Int(i) => *i as f64,
                Value::Float(f) => *f,
                _ => continue,
            };
            let range = ranges
                .iter()
                .find(|r| r.field == field.name)
                .unwrap_or_else(|| panic!("{what}: no range for the numeric field {}", field.name));
            assert!(
                range.contains(v),
                "{what}: {} = {v} is outside {range}",
                field.name
            );
            self.seen.insert(field.name.to_string());
            self.checked += 1;
        }
    }

    fn all_ranges_seen(&self, what: &str, ranges: &[FieldRange]) {
        for r in ranges {
            assert!(
                self.seen.contains(&r.field),
                "{what}: the range for {} names a field that never occurred",
                r.field
            );
        }
    }
}

fn qpigs(m: &mut InverterModel, query: &str) -> Reading {
    let Response::Reply(frame) = m.handle_request(&encode_command(query, EncodeOptions::default()))
    else {
        panic!("{query}: no reply");
    };
    decode_frame(query, &frame, DecVariant::Pi30, DecodeOptions::default())
        .unwrap_or_else(|e| panic!("{query}: {e}"))
}

/// Run an inverter for `hours` simulated hours in steps of `step`, reading QPIGS, QMOD and QPIWS
/// every `every` steps.
fn run_inverter(m: &mut InverterModel, c: &mut Checker, hours: f64, step: Duration, every: u32) {
    let ranges = m.ranges();
    let steps = (hours * 3600.0 / step.as_secs_f64()) as u64;
    for i in 0..steps {
        m.advance(step);
        if i % u64::from(every) == 0 {
            for q in ["QPIGS", "QMOD", "QPIWS"] {
                let r = qpigs(m, q);
                c.check(&format!("inverter {q} at step {i}"), &r, &ranges);
            }
        }
    }
}

#[test]
fn inverter_values_stay_in_their_ranges() {
    let mut c = Checker::default();
    let mut m = InverterModel::new(InverterConfig::default(), 11);
    // Two days in one-second slices, a reading a minute.
    run_inverter(&mut m, &mut c, 48.0, Duration::from_secs(1), 60);
    // The front end's 20 ms ticks (noise with small steps), a reading a second.
    run_inverter(&mut m, &mut c, 0.5, Duration::from_millis(20), 50);
    // A power cycle: power-on mode, then back.
    m.reset();
    run_inverter(&mut m, &mut c, 0.05, Duration::from_millis(100), 1);
    // The grid fails for a day and a half: the battery runs down, the unit shuts down.
    m.set_env("grid_available", &json!(false)).unwrap();
    run_inverter(&mut m, &mut c, 36.0, Duration::from_secs(1), 60);
    m.set_env("grid_available", &json!(true)).unwrap();
    run_inverter(&mut m, &mut c, 24.0, Duration::from_secs(1), 60);
    c.all_ranges_seen("inverter", &m.ranges());
    assert!(c.checked > 10_000);
}

#[test]
fn max_energy_counters_stay_in_their_ranges() {
    let mut c = Checker::default();
    let mut m = InverterModel::new(
        InverterConfig {
            protocol: crate::inverter::Protocol::Pi30Max,
            ..InverterConfig::default()
        },
        11,
    );
    let ranges: Vec<FieldRange> = m
        .ranges()
        .into_iter()
        .filter(|r| r.field.ends_with("_energy_total"))
        .collect();
    assert_eq!(ranges.len(), 2);
    // A day and a half, both counters read every ten minutes.
    for i in 0..(36 * 6) {
        m.advance(Duration::from_secs(600));
        for q in ["QET", "QLT"] {
            let Response::Reply(frame) =
                m.handle_request(&encode_command(q, EncodeOptions::default()))
            else {
                panic!("{q}: no reply");
            };
            let r = decode_frame(q, &frame, DecVariant::Pi30Max, DecodeOptions::default())
                .unwrap_or_else(|e| panic!("{q}: {e}"));
            c.check(&format!("inverter {q} at step {i}"), &r, &ranges);
        }
    }
    c.all_ranges_seen("inverter energy", &ranges);
    // A plain PI30 unit has no such fields, so no such ranges.
    let plain = InverterModel::new(InverterConfig::default(), 11).ranges();
    assert!(!plain.iter().any(|r| r.field.ends_with("_energy_total")));
}

/// Feed a VE.Direct device's output through the text parser and decode each block.
fn run_ve(
    m: &mut dyn VeDevice,
    ranges: &[FieldRange],
    c: &mut Checker,
    what: &str,
    hours: f64,
    step: Duration,
) {
    let mut parser = TextParser::new();
    let steps = (hours * 3600.0 / step.as_secs_f64()) as u64;
    for i in 0..steps {
        m.advance(step);
        let out = m.take_output();
        parser.feed(&out, |ev| {
            if let TextEvent::Block(block) = ev {
                let reading = decode_fields(&block.fields);
                c.check(&format!("{what} at step {i}"), &reading, ranges);
            }
        });
    }
    assert_eq!(parser.stats().checksum_failures, 0, "{what}");
}

#[test]
fn bmv_values_stay_in_their_ranges() {
    let mut c = Checker::default();
    let mut m = BmvModel::new(BmvConfig::default(), 11);
    let ranges = m.ranges();
    run_ve(&mut m, &ranges, &mut c, "bmv", 26.0, Duration::from_secs(1));
    c.all_ranges_seen("bmv", &ranges);
    // Charging up to full (the charge resistance, synchronisation), then idle.
    m.set_env("charge_current_a", &json!(40.0)).unwrap();
    let ranges = m.ranges();
    run_ve(
        &mut m,
        &ranges,
        &mut c,
        "bmv charging",
        5.0,
        Duration::from_secs(1),
    );
    m.set_env("charge_current_a", &json!(4.0)).unwrap();
    let ranges = m.ranges();
    run_ve(
        &mut m,
        &ranges,
        &mut c,
        "bmv idle",
        1.0,
        Duration::from_secs(1),
    );
    // The other auxiliary inputs.
    for aux in [AuxInput::Starter, AuxInput::Midpoint, AuxInput::None] {
        let mut m = BmvModel::new(
            BmvConfig {
                aux_input: aux,
                ..BmvConfig::default()
            },
            5,
        );
        let ranges = m.ranges();
        let mut c = Checker::default();
        let what = format!("bmv {aux:?}");
        run_ve(&mut m, &ranges, &mut c, &what, 2.0, Duration::from_secs(1));
        c.all_ranges_seen(&what, &ranges);
    }
}

#[test]
fn mppt_values_stay_in_their_ranges() {
    let mut c = Checker::default();
    let mut m = MpptModel::new(MpptConfig::default(), 11);
    // A day and more: bulk, absorption, float, night (the charger off), a new day.
    let ranges = m.ranges(&[25.0]);
    run_ve(
        &mut m,
        &ranges,
        &mut c,
        "mppt",
        26.0,
        Duration::from_secs(1),
    );
    c.all_ranges_seen("mppt", &ranges);
    // A load on the battery at night and a fixed PV power.
    m.set_env("battery_load_a", &json!(10.0)).unwrap();
    m.set_env("pv_power_w", &json!(0.0)).unwrap();
    let ranges = m.ranges(&[25.0]);
    run_ve(
        &mut m,
        &ranges,
        &mut c,
        "mppt night load",
        2.0,
        Duration::from_secs(1),
    );
    m.set_env("pv_power_w", &json!(400.0)).unwrap();
    let ranges = m.ranges(&[25.0]);
    run_ve(
        &mut m,
        &ranges,
        &mut c,
        "mppt fixed pv",
        2.0,
        Duration::from_secs(1),
    );
    // A model with a load output.
    let mut m = MpptModel::new(
        MpptConfig {
            load_output: true,
            ..MpptConfig::default()
        },
        3,
    );
    m.set_env("load_output_a", &json!(5.0)).unwrap();
    let ranges = m.ranges(&[]);
    let mut c = Checker::default();
    run_ve(
        &mut m,
        &ranges,
        &mut c,
        "mppt load output",
        12.0,
        Duration::from_secs(1),
    );
    c.all_ranges_seen("mppt load output", &ranges);
}

#[test]
fn ranges_catch_a_lost_digit_and_a_flipped_sign() {
    let m = InverterModel::new(InverterConfig::default(), 11);
    let bmv = BmvModel::new(BmvConfig::default(), 11);
    let mppt = MpptModel::new(MpptConfig::default(), 11);
    let find = |rs: &[FieldRange], name: &str| {
        rs.iter()
            .find(|r| r.field == name)
            .cloned()
            .unwrap_or_else(|| panic!("no range for {name}"))
    };
    let inv = m.ranges();
    let bmv = bmv.ranges();
    let mppt = mppt.ranges(&[25.0]);
    for (range, good) in [
        (find(&inv, "ac_output_voltage"), 230.1),
        (find(&inv, "battery_voltage"), 52.4),
        (find(&inv, "bus_voltage"), 440.0),
        (find(&bmv, "battery_voltage"), 12.62),
        (find(&bmv, "battery_current"), -4.002),
        (find(&mppt, "battery_voltage"), 13.04),
    ] {
        assert!(range.contains(good), "{} {good}: {range}", range.field);
        for bad in [good / 10.0, good * 10.0, -good] {
            assert!(
                !range.contains(bad),
                "{} {bad} passes: {range}",
                range.field
            );
        }
    }
}
