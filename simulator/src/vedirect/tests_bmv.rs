//! BMV model tests against vectors.md (H1..H8, H14, H15, H22, H25, H39; T3, T4, T10 layout).

use std::time::Duration;

use serde_json::json;

use super::tests_common::{
    Unit, ask, ask1, blocks, frame_value, get, labels, run, run_through_checks, segment,
};
use super::{AuxInput, BmvConfig, BmvModel, FirmwareMode, VeDevice};

fn bmv() -> BmvModel {
    BmvModel::new(BmvConfig::default(), 7)
}

#[test]
fn two_blocks_per_second_in_bmv712_order() {
    let mut m = bmv();
    let units = run(&mut m, 3);
    let b = blocks(&units);
    assert_eq!(b.len(), 6);
    assert_eq!(
        labels(b[0]),
        [
            "PID", "V", "T", "I", "P", "CE", "SOC", "TTG", "Alarm", "Relay", "AR", "BMV", "FW",
            "MON"
        ]
    );
    assert_eq!(
        labels(b[1]),
        [
            "H1", "H2", "H3", "H4", "H5", "H6", "H7", "H8", "H9", "H10", "H11", "H12", "H17", "H18"
        ]
    );
    assert_eq!(get(b[0], "PID"), Some("0xA381"));
    assert_eq!(get(b[0], "BMV"), Some("712 Smart"));
    assert_eq!(get(b[0], "FW"), Some("0413"));
    assert_eq!(get(b[0], "T"), Some("25"));
    assert_eq!(get(b[0], "Alarm"), Some("OFF"));
    let v: i64 = get(b[0], "V").unwrap().parse().unwrap();
    assert!((11_000..14_000).contains(&v), "V {v}");
    let i: i64 = get(b[0], "I").unwrap().parse().unwrap();
    assert!((-4_100..-3_900).contains(&i), "I {i}");
    let ttg: i64 = get(b[0], "TTG").unwrap().parse().unwrap();
    assert!(ttg > 0);
}

#[test]
fn starter_aux_and_old_firmware_layout() {
    let cfg = BmvConfig {
        aux_input: AuxInput::Starter,
        firmware: 403,
        ..BmvConfig::default()
    };
    let mut m = BmvModel::new(cfg, 1);
    let units = run(&mut m, 1);
    let b = blocks(&units);
    // Vectors T10: no MON before 4.08, VS after V, H15/H16 present.
    assert_eq!(labels(b[0])[..3], ["PID", "V", "VS"]);
    assert!(get(b[0], "MON").is_none());
    assert_eq!(get(b[0], "FW"), Some("0403"));
    assert!(get(b[1], "H15").is_some() && get(b[1], "H16").is_some());
    assert_eq!(ask1(&mut m, ":7ECED0075\n"), ":7ECED00FFFF77");
}

#[test]
fn official_hex_examples() {
    let cfg = BmvConfig {
        firmware: 401,
        ..BmvConfig::default()
    };
    let mut m = BmvModel::new(cfg, 1);
    assert_eq!(ask1(&mut m, ":154\n"), ":501440B"); // H1
    assert_eq!(ask1(&mut m, ":352\n"), ":101440F"); // H2
    assert_eq!(ask1(&mut m, ":451\n"), ":181A330"); // H3
    assert!(ask(&mut m, ":64F\n").is_empty()); // H4
    assert_eq!(ask1(&mut m, ":70010003E\n"), ":7001000C80076"); // H5
    assert_eq!(ask1(&mut m, ":8001000F40148\n"), ":8001000F40148"); // H6
    assert_eq!(ask1(&mut m, ":800100000003D\n"), ":8001004010038"); // H7
    assert_eq!(ask1(&mut m, ":70010003E\n"), ":7001000F40149"); // H8
    assert_eq!(ask1(&mut m, ":253\n"), ":3020050"); // H14
    assert_eq!(ask1(&mut m, ":452\n"), ":4AAAAFD"); // H15
    assert_eq!(ask1(&mut m, ":777770060\n"), ":77777015F"); // H22
}

#[test]
fn temperature_register_and_text_follow_the_sensor() {
    let mut m = bmv();
    // H36 / H39: 25.00 °C = 298.15 K = 0x7477.
    assert_eq!(ask1(&mut m, ":7ECED0075\n"), ":7ECED0077748A");
    m.set_env("battery_temperature_c", &json!(null)).unwrap();
    // H25: no sensor.
    assert_eq!(ask1(&mut m, ":7ECED0075\n"), ":7ECED00FFFF77");
    let units = run(&mut m, 1);
    assert_eq!(get(blocks(&units)[0], "T"), Some("---"));
    m.set_env("battery_temperature_c", &json!(-5.5)).unwrap();
    let (id, flags, v) = frame_value(&ask1(&mut m, ":7ECED0075\n"));
    assert_eq!((id, flags), (0xEDEC, 0));
    assert_eq!(u16::from_le_bytes([v[0], v[1]]), 26765);
    assert!(m.set_env("battery_temperature_c", &json!("hot")).is_err());
    assert!(m.set_env("no_such_key", &json!(1)).is_err());
}

#[test]
fn voltage_current_soc_registers_match_text() {
    let mut m = bmv();
    m.set_env("load_current_a", &json!(20.0)).unwrap();
    let units = run(&mut m, 1);
    let b = blocks(&units)[0].clone();
    let v_text: f64 = get(&b, "V").unwrap().parse::<f64>().unwrap() / 1000.0;
    let (_, _, v) = frame_value(&ask1(&mut m, ":78DED00D4\n")); // H37
    let v_reg = f64::from(i16::from_le_bytes([v[0], v[1]])) / 100.0;
    assert!((v_text - v_reg).abs() < 0.006, "{v_text} vs {v_reg}");
    let (_, _, i) = frame_value(&ask1(&mut m, ":78FED00D2\n")); // H38
    assert_eq!(i16::from_le_bytes([i[0], i[1]]), -200);
    let (_, _, soc) = frame_value(&ask1(&mut m, ":7FF0F0040\n")); // H17
    let soc_reg = u16::from_le_bytes([soc[0], soc[1]]);
    let soc_text: u16 = get(&b, "SOC").unwrap().parse().unwrap();
    assert_eq!(soc_reg / 10, soc_text);
}

#[test]
fn discharge_lowers_soc_and_charge_synchronises() {
    let mut m = bmv();
    m.set_env("load_current_a", &json!(100.0)).unwrap();
    let first = run(&mut m, 1);
    let soc0: i64 = get(blocks(&first)[0], "SOC").unwrap().parse().unwrap();
    let later = run(&mut m, 600);
    let last = blocks(&later)[blocks(&later).len() - 2];
    let soc1: i64 = get(last, "SOC").unwrap().parse().unwrap();
    assert!(soc1 < soc0 - 30, "{soc0} -> {soc1}");
    let ce: i64 = get(last, "CE").unwrap().parse().unwrap();
    assert!(ce < -40_000);
    m.set_env("current_a", &json!(150.0)).unwrap();
    let units = run(&mut m, 3600);
    let b = blocks(&units);
    let last = b[b.len() - 2];
    assert_eq!(get(last, "SOC"), Some("1000"));
    assert_eq!(get(last, "CE"), Some("0"));
    assert_eq!(get(last, "TTG"), Some("-1"));
}

#[test]
fn old_firmware_pauses_text_during_hex_traffic() {
    let cfg = BmvConfig {
        firmware_mode: FirmwareMode::Old,
        ..BmvConfig::default()
    };
    let mut m = BmvModel::new(cfg, 3);
    assert_eq!(blocks(&run(&mut m, 2)).len(), 4);
    m.receive(b":154\n");
    let units = run(&mut m, 2);
    assert!(blocks(&units).is_empty());
    assert_eq!(units.len(), 1, "only the ping reply: {units:?}");
    m.receive(b":451\n");
    assert!(blocks(&run(&mut m, 2)).is_empty());
    let resumed = run(&mut m, 3);
    assert!(!blocks(&resumed).is_empty());
}

#[test]
fn split_requests_and_garbage_between_them() {
    let mut m = bmv();
    m.receive(b"garbage\r\n\x00\xff:7ECE");
    assert!(m.take_output().is_empty());
    m.receive(b"D0075");
    m.receive(b"\n:15");
    let out = m.take_output();
    assert_eq!(out, b":7ECED0077748A\n");
    m.receive(b"4\n");
    let units = segment(&m.take_output()).unwrap();
    assert_eq!(units, [Unit::Hex(":51344F9".into())]);
}

#[test]
fn same_seed_same_bytes() {
    let run_bytes = |seed| {
        let mut m = BmvModel::new(BmvConfig::default(), seed);
        let mut all = Vec::new();
        for k in 0..50 {
            m.advance(Duration::from_millis(700));
            if k % 7 == 0 {
                m.receive(b":78DED00D4\n");
            }
            all.extend(m.take_output());
        }
        all
    };
    assert_eq!(run_bytes(11), run_bytes(11));
    assert_ne!(run_bytes(11), run_bytes(12));
}

#[test]
fn reset_returns_to_the_initial_state() {
    let mut m = bmv();
    let first = run(&mut m, 5);
    m.set_env("load_current_a", &json!(50.0)).unwrap();
    run(&mut m, 100);
    m.reset();
    assert_eq!(run(&mut m, 5), first);
}

#[test]
fn long_run_has_valid_checksums_with_hex_interleaved() {
    let mut m = bmv();
    m.set_env("load_current_a", &json!(12.5)).unwrap();
    let mut all = Vec::new();
    for k in 0..3000u64 {
        m.advance(Duration::from_millis(333));
        if k % 5 == 0 {
            m.receive(b":7FF0F0040\n:78DED00D4\n");
        }
        all.extend(m.take_output());
    }
    let units = segment(&all).unwrap();
    assert!(blocks(&units).len() >= 1990);
}

#[test]
fn checksum_bytes_that_trip_naive_parsers_still_parse() {
    // Vectors T5: a checksum byte of ':' looks like a HEX frame start.
    let mut checksums = Vec::new();
    for seed in 0..600u64 {
        let mut m = BmvModel::new(BmvConfig::default(), seed);
        m.set_env("soc_percent", &json!(seed % 100)).unwrap();
        m.set_env("load_current_a", &json!(seed as f64 / 7.0))
            .unwrap();
        m.advance(Duration::from_secs(1));
        let out = m.take_output();
        // Each block directly followed by a HEX frame, as in vectors T9/H33.
        let mut interleaved = Vec::new();
        for unit in segment(&out).unwrap() {
            if let Unit::Block(fields) = unit {
                let f: Vec<(&str, String)> = fields
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.clone()))
                    .collect();
                interleaved.extend(super::wire::text_block(&f));
                interleaved.extend_from_slice(b":A0102000543\n");
            }
        }
        assert_eq!(segment(&interleaved).unwrap().len(), 4);
        checksums.extend(
            out.windows(10)
                .filter(|w| w.starts_with(b"Checksum\t"))
                .map(|w| w[9]),
        );
    }
    assert!(checksums.contains(&b':'));
    assert!(checksums.contains(&b'\r') || checksums.contains(&b'\n') || checksums.contains(&0));
    assert!(checksums.iter().any(|b| *b >= 0x80));
}

#[test]
fn hours_of_output_pass_the_gateways_checks_in_every_configuration() {
    // Every aux input, 12/24/48 V, discharge and charge through full (synchronisation resets
    // CE and the discharge history): not one block may be rejected by the gateway.
    for aux in [
        AuxInput::None,
        AuxInput::Starter,
        AuxInput::Midpoint,
        AuxInput::Temperature,
    ] {
        for nominal in [12.0, 24.0, 48.0] {
            let cfg = BmvConfig {
                aux_input: aux,
                nominal_voltage: nominal,
                capacity_ah: 400,
                initial_soc_percent: 60.0,
                ..BmvConfig::default()
            };
            let mut m = BmvModel::new(cfg, 11);
            let (blocks, rejected) = run_through_checks(&mut m, 5 * 3600, 300, |m, t| {
                // discharge hard for an hour, then charge at 0.25 C past full, then idle
                let (load, charge) = match t {
                    0..3600 => (120.0, 0.0),
                    3600..16200 => (2.0, 100.0),
                    _ => (0.0, 0.0),
                };
                m.set_env("load_current_a", &json!(load)).unwrap();
                m.set_env("charge_current_a", &json!(charge)).unwrap();
            });
            assert!(blocks >= 2 * 5 * 3600 - 2, "{aux:?} {nominal} V: {blocks}");
            assert_eq!(m.battery.soc, 1.0, "charged to full (synchronised)");
            assert!(rejected.is_empty(), "{aux:?} {nominal} V: {rejected:#?}");
        }
    }
}
