//! Conformance: every PI30 reply frame in tests/fixtures/pi30/replies.tsv (real devices and the
//! peers' fixtures) passes its CRC and decodes, with the protocol variant it came from, and a
//! few values are the ones the sources decode.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sungate_drivers::pi30::codec::DecodeOptions;
use sungate_drivers::pi30::fields::{Variant, decode_frame};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/pi30/replies.tsv");

struct Vector {
    id: String,
    query: String,
    frame: Vec<u8>,
    origin: String,
}

fn vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(FILE)
        .unwrap_or_else(|e| panic!("{FILE} is missing or unreadable ({e}): it is required"));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 4, "{line}");
            let frame = cols[2]
                .split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect();
            Vector {
                id: cols[0].into(),
                query: cols[1].into(),
                frame,
                origin: cols[3].into(),
            }
        })
        .collect()
}

#[test]
fn every_fixture_reply_passes_its_crc_and_decodes() {
    let all = vectors();
    assert_eq!(all.len(), 32, "the fixture file lost or gained vectors");
    for v in &all {
        // The MAX protocol file of the sources decodes its own replies (PV2 fields).
        let variant = if v.origin.contains("pi30max") {
            Variant::Pi30Max
        } else {
            Variant::Pi30
        };
        let reading = decode_frame(&v.query, &v.frame, variant, DecodeOptions::default())
            .unwrap_or_else(|e| panic!("{} {}: {e}", v.id, v.query));
        assert!(!reading.is_empty(), "{} decoded to nothing", v.id);
    }
    let value = |id: &str, field: &str| {
        let v = all.iter().find(|v| v.id == id).unwrap();
        let r = decode_frame(&v.query, &v.frame, Variant::Pi30, DecodeOptions::default()).unwrap();
        r.value(field).cloned().unwrap()
    };
    assert_eq!(
        value("V10", "battery_voltage_from_scc").as_f64(),
        Some(57.45)
    );
    assert_eq!(value("V13", "ac_output_active_power").as_i64(), Some(3724));
    assert_eq!(value("V16", "battery_type").as_str(), Some("AGM"));
    assert_eq!(
        value("V02", "serial_number").as_str(),
        Some("9293333010501")
    );
}

#[test]
fn a_fixture_reply_with_one_bit_flipped_fails_its_crc() {
    for v in vectors() {
        let mut bad = v.frame.clone();
        // A bit of the payload (after '(' and before the CRC and CR).
        let i = 1 + (bad.len() - 4) / 2;
        bad[i] ^= 0x01;
        assert!(
            decode_frame(&v.query, &bad, Variant::Pi30, DecodeOptions::default()).is_err(),
            "{} accepted with a flipped bit",
            v.id
        );
    }
}
