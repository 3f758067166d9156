//! Conformance: the real VE.Direct captures in tests/fixtures/vedirect decode completely.
//!
//! Each capture is fed through `TextParser` (whole, and in awkward chunk sizes), every committed
//! block passes the structural checks of `TextValidator` (the captures are clean real data: a
//! check that rejects any of their blocks is wrong), is decoded with `decode_fields`, records are
//! assembled with `RecordAssembler`, and every HEX frame found between blocks decodes with a
//! valid check byte. A missing capture fails the test: it never silently skips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sungate_drivers::vedirect::fields::decode_fields;
use sungate_drivers::vedirect::hex::decode_frame;
use sungate_drivers::vedirect::registers::lookup;
use sungate_drivers::vedirect::text::{
    RecordAssembler, TextBlock, TextEvent, TextParser, TextStats,
};
use sungate_drivers::vedirect::validate::TextValidator;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/vedirect/");

fn read_capture(name: &str) -> Vec<u8> {
    let path = format!("{DIR}{name}");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "VE.Direct capture {path} is missing or unreadable ({e}); it is required for this test"
        )
    })
}

struct Outcome {
    stats: TextStats,
    blocks: Vec<TextBlock>,
    hex: Vec<Vec<u8>>,
    events: Vec<TextEvent>,
}

fn parse(bytes: &[u8], chunk: usize) -> Outcome {
    let mut p = TextParser::new();
    let mut events = Vec::new();
    for c in bytes.chunks(chunk.max(1)) {
        p.feed(c, |e| events.push(e));
    }
    let blocks = events
        .iter()
        .filter_map(|e| match e {
            TextEvent::Block(b) => Some(b.clone()),
            _ => None,
        })
        .collect();
    let hex = events
        .iter()
        .filter_map(|e| match e {
            TextEvent::Hex(h) => Some(h.clone()),
            _ => None,
        })
        .collect();
    Outcome {
        stats: p.stats(),
        blocks,
        hex,
        events,
    }
}

/// Parse, check counts, decode everything; returns the assembled records.
fn check_capture(name: &str, blocks_ok: u64, expect_hex: bool) -> Vec<TextBlock> {
    let bytes = read_capture(name);
    let out = parse(&bytes, bytes.len());
    println!(
        "{name}: {} bytes, blocks_ok {}, checksum_failures {}, hex_frames {}, bytes_skipped {}",
        bytes.len(),
        out.stats.blocks_ok,
        out.stats.checksum_failures,
        out.stats.hex_frames,
        out.stats.bytes_skipped
    );
    assert_eq!(out.stats.blocks_ok, blocks_ok, "{name}: {:?}", out.stats);
    assert!(
        out.stats.checksum_failures <= 1,
        "{name}: at most the block cut at the start may fail: {:?}",
        out.stats
    );
    if expect_hex {
        assert!(
            out.stats.hex_frames > 0,
            "{name}: expected async HEX frames"
        );
    }

    // Same events whatever the chunking.
    for chunk in [1, 7, 64, 4096] {
        let again = parse(&bytes, chunk);
        assert_eq!(again.events, out.events, "{name}: chunk size {chunk}");
        assert_eq!(again.stats, out.stats, "{name}: chunk size {chunk}");
    }

    // Every HEX frame is well formed and its register known.
    for h in &out.hex {
        let frame = decode_frame(h).unwrap_or_else(|e| {
            panic!(
                "{name}: HEX frame {} fails: {e}",
                String::from_utf8_lossy(h)
            )
        });
        if let Some(r) = frame.as_register() {
            let reg =
                lookup(r.id).unwrap_or_else(|| panic!("{name}: unknown register {:#06x}", r.id));
            reg.decode(&r.value)
                .unwrap_or_else(|e| panic!("{name}: register {:#06x}: {e}", r.id));
        }
    }

    // Every block passes the structural and plausibility checks, as the gateway runs them (one
    // validator for the whole stream), and again after a reset in the middle (a reconnect).
    let mut validator = TextValidator::new();
    for (i, b) in out.blocks.iter().enumerate() {
        if i == out.blocks.len() / 2 {
            validator.reset();
        }
        if let Err(reason) = validator.validate(b) {
            panic!("{name}: block {i} rejected: {reason}: {b:?}");
        }
    }
    let checks = validator.stats();
    println!(
        "{name}: checks accepted {}, rejected {}",
        checks.accepted, checks.rejected
    );
    assert_eq!((checks.accepted, checks.rejected), (blocks_ok, 0), "{name}");

    // Every block decodes, with no field left as an unparsed token.
    for b in &out.blocks {
        let reading = decode_fields(&b.fields);
        assert!(!reading.is_empty(), "{name}: empty reading for {b:?}");
        for f in reading.iter() {
            if let (Some(raw), Some(text)) = (&f.raw, f.value.as_str()) {
                assert_ne!(raw, text, "{name}: field {} left undecoded", f.name);
            }
        }
    }

    let mut asm = RecordAssembler::new();
    let mut records: Vec<TextBlock> = out.blocks.into_iter().filter_map(|b| asm.push(b)).collect();
    records.extend(asm.flush());
    println!("{name}: {} records", records.len());
    records
}

#[test]
fn bluesolar_1_23() {
    let records = check_capture("karioja_bluesolar_1.23.dump", 248, true);
    // single-block MPPT: one record per block
    assert!(records.len() >= 247);
    let r = decode_fields(&records[0].fields);
    assert_eq!(
        r.value("model").and_then(|v| v.as_str()),
        Some("BlueSolar MPPT 75/15")
    );
    assert!(r.get("yield_total").is_some() && r.get("day_sequence").is_some());
}

#[test]
fn bmv702() {
    let records = check_capture("karioja_bvm702.dump", 906, false);
    // BMV: PID block + H block per record
    assert!(records.len() >= 450, "{} records", records.len());
    let full = records
        .iter()
        .filter(|r| r.get("PID").is_some() && r.get("H18").is_some())
        .count();
    assert!(full >= 450, "{full} complete BMV records");
    for rec in &records {
        assert!(rec.get("PID").is_some(), "record without PID: {rec:?}");
    }
    let r = decode_fields(&records[1].fields);
    assert_eq!(r.value("model").and_then(|v| v.as_str()), Some("BMV-700"));
    for name in [
        "battery_voltage",
        "battery_current",
        "state_of_charge",
        "consumed_ah",
        "deepest_discharge",
        "charged_energy",
    ] {
        assert!(r.value(name).and_then(|v| v.as_f64()).is_some(), "{name}");
    }
}

#[test]
fn smartsolar_1_39() {
    let records = check_capture("karioja_smartsolar_1.39.dump", 493, true);
    assert!(records.len() >= 492);
    let r = decode_fields(&records[0].fields);
    assert_eq!(
        r.value("model").and_then(|v| v.as_str()),
        Some("SmartSolar MPPT 100/20")
    );
    assert_eq!(
        r.value("firmware_version").and_then(|v| v.as_str()),
        Some("1.39")
    );
}
