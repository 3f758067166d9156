//! `sungate decode` as a user runs it: the real binary, its stdout, stderr and exit status.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn sungate(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sungate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

// PI30 vectors V01 (QPI) and V10 (QPIGS, 5 kVA unit, firmware 72.70), reply hex as in vectors.md.
const QPI: &str = "28 50 49 33 30 9a 0b 0d";
const QPIGS: &str = "28 30 30 30 2e 30 20 30 30 2e 30 20 32 33 30 2e 30 20 34 39 2e 39 20 30 31 36 31 20 30 31 31 39 20 30 30 33 20 34 36 30 20 35 37 2e 35 30 20 30 31 32 20 31 30 30 20 30 30 36 39 20 30 30 31 34 20 31 30 33 2e 38 20 35 37 2e 34 35 20 30 30 30 30 30 20 30 30 31 31 30 31 31 30 20 30 30 20 30 30 20 30 30 38 35 36 20 30 31 30 24 8c 0d";

#[test]
fn pi30_reply_prints_one_json_object() {
    let out = json(&sungate(&["decode", "pi30", "QPI", QPI], b""));
    assert_eq!(out, serde_json::json!({"protocol_id": "PI30"}));

    let out = json(&sungate(&["decode", "pi30", "QPIGS", QPIGS], b""));
    assert_eq!(out["ac_output_voltage"], 230.0);
    assert_eq!(out["ac_output_active_power"], 119);
    assert_eq!(out["battery_voltage_from_scc"], 57.45);
    assert_eq!(out["pv_input_power"], 856);
    assert_eq!(out["is_load_on"], true);
}

#[test]
fn pi30_hex_may_be_split_over_arguments_and_units_are_optional() {
    let mut args = vec!["decode", "pi30", "--units", "qpigs"];
    args.extend(QPIGS.split(' '));
    let out = json(&sungate(&args, b""));
    assert_eq!(out["battery_voltage"]["value"], 57.5);
    assert_eq!(out["battery_voltage"]["unit"], "V");
    // QMOD (V08): the enumeration keeps its raw token
    let out = json(&sungate(
        &["decode", "pi30", "--units", "QMOD", "28 42 e7 c9 0d"],
        b"",
    ));
    let mode = out.as_object().unwrap().values().next().unwrap();
    assert_eq!(mode["value"], "Battery");
    assert_eq!(mode["raw"], "B");
}

#[test]
fn pi30_bad_input_is_a_clear_error_not_a_panic() {
    // wrong CRC (V10 with the low CRC byte changed)
    let bad = QPIGS.replace("24 8c 0d", "24 8d 0d");
    let out = sungate(&["decode", "pi30", "QPIGS", &bad], b"");
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    assert!(err.contains("crc"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    for (args, what) in [
        (
            vec!["decode", "pi30", "QPIGS", "28 4e 41 4b 73 73 0d"],
            "nak",
        ),
        (
            vec!["decode", "pi30", "QPIGS", "5e 30 1b e3 0d 00 00 00"],
            "pi1",
        ),
        (vec!["decode", "pi30", "QPIGS", "zz"], "hex"),
        (vec!["decode", "pi30", "QPIGS", "28 30"], ""),
        (vec!["decode", "pi30", "QNOPE", QPI], ""),
    ] {
        let out = sungate(&args, b"");
        let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(what), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

// VE.Direct vectors T1 (BlueSolar block) and H16 (async device state frame).
const T1: &[u8] = b"\r\nPID\t0xA042\r\nFW\t123\r\nSER#\tHQ1411MYIKN\r\nV\t12530\r\nI\t640\r\nVPV\t31390\r\nPPV\t8\r\nCS\t3\r\nERR\t0\r\nLOAD\tON\r\nIL\t0\r\nH19\t8272\r\nH20\t0\r\nH21\t11\r\nH22\t25\r\nH23\t119\r\nHSDS\t274\r\nChecksum\t\xB1";
const H16: &[u8] = b":A0102000543\n";

#[test]
fn vedirect_stream_prints_json_lines_and_a_summary() {
    let mut stream = b"garbage".to_vec();
    stream.extend_from_slice(T1);
    stream.extend_from_slice(H16);
    stream.extend_from_slice(T1);
    let mut corrupted = T1.to_vec();
    corrupted[30] ^= 0x01; // one bit flipped in a value: the block must not be committed
    stream.extend_from_slice(&corrupted);
    stream.extend_from_slice(T1);

    for args in [
        &["decode", "vedirect"][..],
        &["decode", "vedirect", "-"][..],
    ] {
        let out = sungate(args, &stream);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4, "3 blocks and 1 hex frame: {lines:?}");
        assert_eq!(lines.iter().filter(|l| l["kind"] == "text").count(), 3);
        assert_eq!(lines.iter().filter(|l| l["kind"] == "hex").count(), 1);
        let first = &lines[0]["fields"];
        assert_eq!(first["battery_voltage"], 12.53);
        assert!(stderr.contains("blocks ok: 3"), "{stderr}");
        assert!(stderr.contains("checksum failures: 1"), "{stderr}");
        assert!(stderr.contains("hex frames: 1 (0 invalid)"), "{stderr}");
    }
}

#[test]
fn vedirect_raw_keeps_labels() {
    let out = sungate(&["decode", "vedirect", "--raw"], T1);
    assert!(out.status.success());
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["fields"]["V"], "12530");
    assert_eq!(line["fields"]["PID"], "0xA042");
}

#[test]
fn vedirect_bad_input_is_a_clear_error() {
    let out = sungate(&["decode", "vedirect"], b"this is not a VE.Direct stream\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no VE.Direct"), "{err}");

    let out = sungate(&["decode", "vedirect", "/nonexistent/capture.dump"], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot open /nonexistent/capture.dump"),
        "{err}"
    );
}

/// A VE.Direct block with its checksum byte computed.
fn block(records: &[(&str, &str)]) -> Vec<u8> {
    sungate_drivers::vedirect::text::encode_block(records)
}

/// T1's records, with `label` set to `value`.
fn t1_with(label: &str, value: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(&T1[..T1.len() - b"\r\nChecksum\t\xB1".len()]).into_owned();
    let records: Vec<(String, String)> = text
        .split("\r\n")
        .filter(|r| !r.is_empty())
        .map(|r| {
            let (l, v) = r.split_once('\t').unwrap();
            let v = if l == label { value } else { v };
            (l.to_owned(), v.to_owned())
        })
        .collect();
    let pairs: Vec<(&str, &str)> = records
        .iter()
        .map(|(l, v)| (l.as_str(), v.as_str()))
        .collect();
    block(&pairs)
}

#[test]
fn vedirect_blocks_failing_the_checks_are_counted_and_not_printed() {
    // The builder is right: T1 rebuilt is T1.
    assert_eq!(t1_with("V", "12530"), T1);
    let mut stream = T1.to_vec();
    // a valid checksum, an impossible battery voltage (issue 11 finding 5)
    stream.extend_from_slice(&t1_with("V", "-99999999999"));
    // a valid checksum, the serial number lost a character
    stream.extend_from_slice(&t1_with("SER#", "HQ1411MYIK"));
    stream.extend_from_slice(&t1_with("V", "12540"));
    let out = sungate(&["decode", "vedirect"], &stream);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let volts: Vec<f64> = lines
        .iter()
        .map(|l| l["fields"]["battery_voltage"].as_f64().unwrap())
        .collect();
    assert_eq!(volts, [12.53, 12.54]);
    assert!(
        stderr.trim_end().ends_with(
            "blocks ok: 2, checksum failures: 0, hex frames: 0 (0 invalid), bytes skipped: 0, \
             bytes read: 662, rejected: 2"
        ),
        "{stderr}"
    );
    // the real captures' summaries are checked by .ci/run and tests/tests/vedirect_captures.rs
}

#[test]
fn pi30_absurd_or_implausible_number_is_an_error_never_null() {
    use sungate_drivers::pi30::codec::{EncodeOptions, encode_frame};
    let hex = |payload: String| -> String {
        encode_frame(format!("({payload}").as_bytes(), EncodeOptions::default())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let v10 = "000.0 00.0 230.0 49.9 0161 0119 003 460 57.50 012 100 0069 0014 103.8 57.45 00000 00110110 00 00 00856 010";
    // the builder reproduces V10 exactly
    assert_eq!(hex(v10.to_owned()), QPIGS);
    // finding 7: a field of 401 digits (valid CRC) was printed as null with exit 0
    let long = v10.replacen("000.0", &"9".repeat(401), 1);
    // an impossible battery voltage with a valid CRC
    let volts = v10.replacen("57.50", "999.9", 1);
    for (payload, what) in [
        (long, "ac_input_voltage is not a number"),
        (volts, "battery_voltage = 999.9 is implausible"),
    ] {
        let out = sungate(&["decode", "pi30", "QPIGS", &hex(payload)], b"");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(err.contains(what), "{err}");
    }
}
