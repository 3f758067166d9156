//! Model tests through the frame level and the shared codecs of `sungate-drivers` (spec
//! sections 2 and 3, golden replies of reference/pi30/vectors.md).

use std::time::Duration;

use serde_json::json;
use sungate_drivers::Reading;
use sungate_drivers::pi30::codec::{
    DecodeOptions, EncodeOptions, Reply, crc_xmodem, decode_reply, encode_command,
};
use sungate_drivers::pi30::fields::{Variant as DecVariant, decode_frame};

use super::*;

const ALL_QUERIES: [&str; 21] = [
    "QPI", "QID", "QSID", "QVFW", "QVFW2", "QMN", "QGMN", "QPIRI", "QFLAG", "QPIGS", "QMOD",
    "QPIWS", "QDI", "QMCHGCR", "QMUCHGCR", "QPGS0", "QBOOT", "QOPM", "Q1", "QCST", "QCVT",
];

fn model() -> InverterModel {
    InverterModel::new(InverterConfig::default(), 7)
}

fn max_model(units: u32) -> InverterModel {
    InverterModel::new(
        InverterConfig {
            variant: Variant::Max,
            parallel_units: units,
            rated_va: 8000,
            rated_w: 8000,
            pv_peak_w: 6000.0,
            ..InverterConfig::default()
        },
        7,
    )
}

fn send_raw(m: &mut InverterModel, frame: &[u8]) -> Vec<u8> {
    match m.handle_request(frame) {
        Response::Reply(r) => r,
        Response::Silence => panic!("no reply to {:?}", String::from_utf8_lossy(frame)),
    }
}

fn send(m: &mut InverterModel, cmd: &str) -> Vec<u8> {
    send_raw(m, &encode_command(cmd, EncodeOptions::default()))
}

fn dec_variant(m: &InverterModel) -> DecVariant {
    match m.config().variant {
        Variant::Pi30 => DecVariant::Pi30,
        Variant::Max => DecVariant::Pi30Max,
    }
}

fn read(m: &mut InverterModel, cmd: &str) -> Reading {
    let frame = send(m, cmd);
    decode_frame(cmd, &frame, dec_variant(m), DecodeOptions::default()).unwrap_or_else(|e| {
        panic!("{cmd}: {e}: {:?}", String::from_utf8_lossy(&frame));
    })
}

fn payload(m: &mut InverterModel, cmd: &str) -> String {
    match decode_reply(&send(m, cmd), DecodeOptions::default()) {
        Ok(Reply::Data(p)) => p,
        other => panic!("{cmd}: {other:?}"),
    }
}

fn num(r: &Reading, name: &str) -> f64 {
    r.value(name)
        .and_then(|v| v.as_f64())
        .unwrap_or_else(|| panic!("no numeric {name} in {r:?}"))
}

fn text(r: &Reading, name: &str) -> String {
    r.value(name)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no text {name} in {r:?}"))
        .to_owned()
}

fn flag(r: &Reading, name: &str) -> bool {
    r.value(name)
        .and_then(|v| v.as_bool())
        .unwrap_or_else(|| panic!("no bool {name} in {r:?}"))
}

fn is_ack(m: &mut InverterModel, cmd: &str) -> bool {
    match decode_reply(&send(m, cmd), DecodeOptions::default()) {
        Ok(Reply::Ack) => true,
        Ok(Reply::Nak) => false,
        other => panic!("{cmd}: {other:?}"),
    }
}

/// CRC check of a reply frame, including the escaping rule (a raw reserved byte never appears).
fn assert_valid_frame(frame: &[u8]) {
    let (body, tail) = frame.split_at(frame.len() - 3);
    assert_eq!(tail[2], b'\r');
    let raw = crc_xmodem(body).to_be_bytes();
    for (got, want) in tail[..2].iter().zip(raw) {
        let escaped = matches!(want, 0x28 | 0x0D | 0x0A);
        assert_eq!(*got, if escaped { want + 1 } else { want }, "{frame:02x?}");
    }
}

#[test]
fn golden_control_replies_match_real_units() {
    let mut m = model();
    // vectors.md V01 and V33.
    assert_eq!(send(&mut m, "QPI"), b"(PI30\x9a\x0b\r");
    assert_eq!(send(&mut m, "POP02"), b"(ACK9 \r");
    assert_eq!(send(&mut m, "POP09"), b"(NAKss\r");
    assert_eq!(send(&mut m, "QXYZ"), b"(NAKss\r");
    // The request frames of vectors.md, byte for byte, are accepted.
    for frame in [
        &b"QPIGS\xb7\xa9\r"[..],
        b"QMODI\xc1\r",
        b"QPIRI\xf8T\r",
        b"QPGS0?\xda\r",
        b"QFLAG\x98t\r",
        b"QDIq\x1b\r",
        b"Q1\x1b\xfc\r",
        b"QVFW2\xc3\xf5\r",
    ] {
        assert_ne!(send_raw(&mut m, frame), b"(NAKss\r", "{frame:?}");
    }
    let cfg = InverterConfig {
        nak_with_crc: false,
        ..InverterConfig::default()
    };
    let mut bare = InverterModel::new(cfg, 1);
    assert_eq!(send(&mut bare, "QXYZ"), b"(NAK\r");
}

#[test]
fn every_query_has_a_valid_crc_and_decodes() {
    for mut m in [model(), max_model(1), max_model(3)] {
        m.advance(Duration::from_secs(30));
        let mut queries = ALL_QUERIES.to_vec();
        if m.config().variant == Variant::Max {
            queries.extend(["QPIGS2", "QT"]);
        }
        if m.config().parallel_units >= 3 {
            queries.push("QPGS2");
        }
        for q in queries {
            let frame = send(&mut m, q);
            assert_ne!(frame, b"(NAKss\r", "{q}");
            assert_valid_frame(&frame);
            // The shared decoder has no typed layout for QCST, QCVT and QT.
            if !["QCST", "QCVT", "QT"].contains(&q) {
                read(&mut m, q);
            }
        }
    }
}

#[test]
fn identity_replies() {
    let mut m = model();
    assert_eq!(
        text(&read(&mut m, "QID"), "serial_number"),
        "92932309100452"
    );
    assert_eq!(payload(&mut m, "QSID"), "1492932309100452000000");
    assert_eq!(payload(&mut m, "QVFW"), "VERFW:00072.70");
    assert_eq!(payload(&mut m, "QVFW2"), "VERFW2:00072.70");
    assert_eq!(payload(&mut m, "QMN"), "MKS2-5000");
    assert_eq!(
        payload(&mut m, "QMCHGCR"),
        "010 020 030 040 050 060 070 080 090 100 110 120"
    );
    assert_eq!(payload(&mut m, "QMUCHGCR"), "002 010 020 030 040 050 060");
    assert_eq!(payload(&mut m, "QOPM"), "00");
    assert_eq!(payload(&mut m, "QBOOT"), "0");
    assert_eq!(
        payload(&mut m, "QPIRI"),
        "230.0 21.7 230.0 50.0 21.7 5000 4000 48.0 46.0 42.0 56.4 54.0 0 30 060 0 0 2 6 01 0 0 \
         54.0 0 1"
    );
    assert_eq!(
        payload(&mut m, "QDI"),
        "230.0 50.0 0030 42.0 54.0 56.4 46.0 60 0 0 2 0 0 0 0 0 1 1 0 0 1 0 54.0 0 1 000"
    );
    assert_eq!(payload(&mut m, "QFLAG"), "EakxyDbjuvz");
    // QPIGS2 is a MAX command.
    assert_eq!(send(&mut m, "QPIGS2"), b"(NAKss\r");
}

#[test]
fn qpigs_layout_and_widths_follow_the_vectors() {
    let mut m = model();
    m.advance(Duration::from_secs(10));
    let p = payload(&mut m, "QPIGS");
    let t: Vec<&str> = p.split(' ').collect();
    assert_eq!(t.len(), 21, "{p}");
    let widths = [
        5, 4, 5, 4, 4, 4, 3, 3, 5, 3, 3, 4, 4, 5, 5, 5, 8, 2, 2, 5, 3,
    ];
    for (i, (tok, w)) in t.iter().zip(widths).enumerate() {
        assert_eq!(tok.len(), w, "field {} of {p}", i + 1);
    }
    // PI30 sends the PV current as an integer (V10), MAX as EE.E (V11).
    assert!(!t[12].contains('.'));

    let mut big = InverterModel::new(
        InverterConfig {
            variant: Variant::Max,
            rated_va: 11000,
            rated_w: 11000,
            ..InverterConfig::default()
        },
        3,
    );
    big.advance(Duration::from_secs(10));
    let p = payload(&mut big, "QPIGS");
    let t: Vec<&str> = p.split(' ').collect();
    assert_eq!(t.len(), 24, "{p}");
    assert_eq!((t[4].len(), t[5].len()), (5, 5), "{p}");
    assert_eq!(t[12].len(), 4);
    assert!(t[12].contains('.'));
    assert_eq!(&t[21..], ["0", "00", "0000"]);
    let piri = payload(&mut big, "QPIRI");
    assert!(piri.contains(" 11000 11000 "), "{piri}");
    assert_eq!(piri.split(' ').count(), 28);
    let q2 = payload(&mut big, "QPIGS2");
    assert!(q2.ends_with(' '), "{q2:?}");
}

#[test]
fn qpigs_values_match_the_model_and_are_consistent() {
    for mut m in [model(), max_model(1)] {
        m.set_env("time_of_day_h", &json!(12.0)).unwrap();
        m.set_env("load_w", &json!(1500)).unwrap();
        m.set_env("battery_soc", &json!(60)).unwrap();
        m.advance(Duration::from_secs(120));
        let r = read(&mut m, "QPIGS");
        let u = m.units()[0].clone();
        assert!((num(&r, "battery_voltage") - m.battery_voltage()).abs() < 0.006);
        assert_eq!(num(&r, "battery_capacity"), m.soc_percent().round());
        assert_eq!(num(&r, "ac_output_active_power"), u.output_w.round());
        let w = num(&r, "ac_output_active_power");
        let va = num(&r, "ac_output_apparent_power");
        assert!(va >= w && w > 1300.0, "{w} {va}");
        let cfg = m.config().clone();
        let pct = (w * 100.0 / f64::from(cfg.rated_w))
            .max(va * 100.0 / f64::from(cfg.rated_va))
            .floor();
        assert_eq!(num(&r, "ac_output_load"), pct);
        let (pv_v, pv_a, pv_w) = match cfg.variant {
            Variant::Pi30 => (
                num(&r, "pv_input_voltage"),
                num(&r, "pv_input_current_for_battery"),
                num(&r, "pv_input_power"),
            ),
            Variant::Max => (
                num(&r, "pv1_input_voltage"),
                num(&r, "pv1_input_current"),
                num(&r, "pv1_charging_power"),
            ),
        };
        assert!(pv_w > 100.0, "{r:?}");
        // Integer amps on PI30: half an amp of rounding.
        let tol = if cfg.variant == Variant::Pi30 {
            0.5 * pv_v + 1.0
        } else {
            0.05 * pv_v + 1.0
        };
        assert!(
            (pv_v * pv_a - pv_w).abs() <= tol,
            "{pv_v} V x {pv_a} A vs {pv_w} W"
        );
        assert_eq!(num(&r, "battery_charging_current"), u.charge_a().round());
        assert_eq!(num(&r, "battery_discharge_current"), u.discharge_a.round());
        assert!(flag(&r, "is_load_on"));
        assert!(flag(&r, "is_switched_on"));
        if cfg.variant == Variant::Max {
            let r2 = read(&mut m, "QPIGS2");
            let (v, a, w) = (
                num(&r2, "pv2_input_voltage"),
                num(&r2, "pv2_input_current"),
                num(&r2, "pv2_charging_power"),
            );
            assert!(w > 100.0 && (v * a - w).abs() <= 0.05 * v + 1.0, "{r2:?}");
        }
        let mode = text(&read(&mut m, "QMOD"), "device_mode");
        assert_eq!(&mode[..1], m.mode().letter().to_string());
    }
}

#[test]
fn reply_crc_bytes_that_need_escaping_are_escaped() {
    // Find a serial whose QID reply has a reserved byte in its CRC.
    let mut found = 0;
    for n in 0..2000u64 {
        let serial = format!("{:014}", 92_932_309_100_000 + n);
        let body = format!("({serial}");
        let raw = crc_xmodem(body.as_bytes()).to_be_bytes();
        if !raw.iter().any(|b| matches!(b, 0x28 | 0x0D | 0x0A)) {
            continue;
        }
        let cfg = InverterConfig {
            serial: serial.clone(),
            ..InverterConfig::default()
        };
        let mut m = InverterModel::new(cfg, 1);
        let frame = send(&mut m, "QID");
        assert_valid_frame(&frame);
        assert_eq!(
            frame.iter().filter(|&&b| b == b'\r').count(),
            1,
            "{frame:02x?}"
        );
        assert_eq!(text(&read(&mut m, "QID"), "serial_number"), serial);
        found += 1;
    }
    assert!(found > 0);
    // escape_zero_crc: a 0x00 CRC byte goes out as 0x01.
    for n in 0..5000u64 {
        let serial = format!("{:014}", 92_932_309_100_000 + n);
        let raw = crc_xmodem(format!("({serial}").as_bytes()).to_be_bytes();
        if !raw.contains(&0) {
            continue;
        }
        let cfg = InverterConfig {
            serial,
            escape_zero_crc: true,
            ..InverterConfig::default()
        };
        let mut m = InverterModel::new(cfg, 1);
        let frame = send(&mut m, "QID");
        assert!(!frame[frame.len() - 3..].contains(&0), "{frame:02x?}");
        read(&mut m, "QID");
        return;
    }
    panic!("no serial with a zero CRC byte found");
}

#[test]
fn requests_with_escaped_or_plain_crc_are_accepted_bad_crc_is_refused() {
    let mut m = model();
    // A command whose CRC holds a reserved byte, sent escaped and plain.
    let cmd = (0..100)
        .map(|i| format!("PBCV{}.0", 44 + i % 8))
        .chain((0..100).map(|i| format!("MCHGC{:03}", 10 * (1 + i % 12))))
        .chain(["QPGS1", "QMOD", "QPIGS", "QPIRI", "QID", "QFLAG", "QDI"].map(String::from))
        .find(|c| {
            crc_xmodem(c.as_bytes())
                .to_be_bytes()
                .iter()
                .any(|b| matches!(b, 0x28 | 0x0D | 0x0A))
        });
    if let Some(cmd) = cmd {
        let escaped = encode_command(&cmd, EncodeOptions::default());
        let mut plain = cmd.as_bytes().to_vec();
        plain.extend(crc_xmodem(cmd.as_bytes()).to_be_bytes());
        plain.push(b'\r');
        assert_ne!(escaped, plain);
        assert_ne!(send_raw(&mut m, &escaped), b"(NAKss\r", "{cmd}");
        assert_ne!(send_raw(&mut m, &plain), b"(NAKss\r", "{cmd}");
    }
    // "QPGS1" has CRC 2f fb? Whatever it is: zero-escaped requests are accepted too.
    let q = encode_command("QPIGS", EncodeOptions { escape_zero: true });
    assert_ne!(send_raw(&mut m, &q), b"(NAKss\r");
    // Bad CRC, no CRC, garbage: NAK.
    assert_eq!(send_raw(&mut m, b"QPIGS\xb7\xaa\r"), b"(NAKss\r");
    assert_eq!(send_raw(&mut m, b"QPIGS\r"), b"(NAKss\r");
    assert_eq!(send_raw(&mut m, b"\r"), b"(NAKss\r");
    assert_eq!(send_raw(&mut m, b""), b"(NAKss\r");
    let mut bad = encode_command("POP02", EncodeOptions::default());
    bad[3] = b'1';
    assert_eq!(send_raw(&mut m, &bad), b"(NAKss\r");
    assert_eq!(m.settings().output_priority, 0);
    // Unknown commands, QPGSn beyond the stack.
    for c in [
        "QXYZ", "QPGS1", "QPGS", "QPGSx", "QET", "HELLO", "QPIGS 2", "qpigs",
    ] {
        assert_eq!(send(&mut m, c), b"(NAKss\r", "{c}");
    }
}

#[test]
fn setters_change_later_replies() {
    let mut m = model();
    for cmd in [
        "POP02",
        "PCP03",
        "PGR01",
        "PBT02",
        "PBCV48.0",
        "PBDV52.0",
        "PSDV44.0",
        "PCVV57.6",
        "PBFT54.8",
        "MCHGC040",
        "MUCHGC010",
        "F60",
        "PDa",
        "PEbj",
        "POPM01",
    ] {
        assert!(is_ack(&mut m, cmd), "{cmd}");
    }
    let r = read(&mut m, "QPIRI");
    assert_eq!(text(&r, "output_source_priority"), "SBU first");
    assert_eq!(
        text(&r, "charger_source_priority"),
        "Only solar charging permitted"
    );
    assert_eq!(text(&r, "input_voltage_range"), "UPS");
    assert_eq!(text(&r, "battery_type"), "User");
    assert_eq!(num(&r, "battery_recharge_voltage"), 48.0);
    assert_eq!(num(&r, "battery_redischarge_voltage"), 52.0);
    assert_eq!(num(&r, "battery_under_voltage"), 44.0);
    assert_eq!(num(&r, "battery_bulk_charge_voltage"), 57.6);
    assert_eq!(num(&r, "battery_float_charge_voltage"), 54.8);
    assert_eq!(num(&r, "max_charging_current"), 40.0);
    assert_eq!(num(&r, "max_ac_charging_current"), 10.0);
    assert_eq!(num(&r, "ac_output_frequency"), 60.0);
    assert_eq!(payload(&mut m, "QFLAG"), "EbjkxyDauvz");
    assert_eq!(payload(&mut m, "QOPM"), "01");
    let f = read(&mut m, "QFLAG");
    assert_eq!(text(&f, "buzzer"), "disabled");
    // The "configuration changed" bit is reported once.
    assert!(flag(&read(&mut m, "QPIGS"), "is_configuration_changed"));
    assert!(!flag(&read(&mut m, "QPIGS"), "is_configuration_changed"));
    // PF restores the defaults (QDI).
    assert!(is_ack(&mut m, "PF"));
    let r = read(&mut m, "QPIRI");
    assert_eq!(text(&r, "output_source_priority"), "Utility first");
    assert_eq!(num(&r, "max_charging_current"), 60.0);
    assert_eq!(payload(&mut m, "QFLAG"), "EakxyDbjuvz");
}

#[test]
fn out_of_range_setters_nak_and_change_nothing() {
    let mut m = model();
    let before = (payload(&mut m, "QPIRI"), payload(&mut m, "QFLAG"));
    for cmd in [
        "POP03",
        "PCP04",
        "PGR02",
        "PBT03",
        "PBCV52.0",
        "PBCV46",
        "PBDV47.0",
        "PSDV39.0",
        "PSDV48.5",
        "PCVV58.5",
        "PBFT47.0",
        "MCHGC065",
        "MCHGC200",
        "MNCHGC1060",
        "MUCHGC025",
        "F55",
        "PEq",
        "PDA",
        "POPM05",
        "PPCP103",
        "PCST03",
        "PCVT030",
        "PBATMAXDISC050",
        "DAT991332000000",
        "BTA+10",
    ] {
        assert!(!is_ack(&mut m, cmd), "{cmd}");
    }
    assert_eq!((payload(&mut m, "QPIRI"), payload(&mut m, "QFLAG")), before);
    assert!(!flag(&read(&mut m, "QPIGS"), "is_configuration_changed"));
}

#[test]
fn output_source_priority_decides_between_grid_and_battery() {
    let mut m = model();
    m.set_env("time_of_day_h", &json!(22.0)).unwrap();
    m.set_env("battery_soc", &json!(95)).unwrap();
    m.set_env("load_w", &json!(1000)).unwrap();
    m.advance(Duration::from_secs(5));
    assert_eq!(m.mode(), Mode::Line, "utility first with grid");
    assert!(is_ack(&mut m, "POP02"));
    m.advance(Duration::from_secs(5));
    assert_eq!(m.mode(), Mode::Battery, "SBU with a full battery");
    let r = read(&mut m, "QPIGS");
    assert!(num(&r, "battery_discharge_current") > 15.0, "{r:?}");
    let soc0 = m.soc_percent();
    m.advance(Duration::from_secs(600));
    assert!(m.soc_percent() < soc0);
    // SBU returns to the grid below the re-charge voltage (PBCV).
    m.set_env("battery_soc", &json!(15)).unwrap();
    m.advance(Duration::from_secs(5));
    assert_eq!(m.mode(), Mode::Line);
    assert_eq!(text(&read(&mut m, "QMOD"), "device_mode"), "Line");
    // Solar first by day: PV covers the load, the unit inverts.
    assert!(is_ack(&mut m, "POP01"));
    m.set_env("battery_soc", &json!(80)).unwrap();
    m.set_env("pv_power_w", &json!(2500)).unwrap();
    m.set_env("load_w", &json!(800)).unwrap();
    m.advance(Duration::from_secs(5));
    assert_eq!(m.mode(), Mode::Battery);
    assert_eq!(m.units()[0].discharge_a.round(), 0.0);
    m.set_env("pv_power_w", &json!(100)).unwrap();
    m.advance(Duration::from_secs(5));
    assert_eq!(m.mode(), Mode::Line);
}

#[test]
fn charger_priority_and_limits_shape_charging() {
    let mut m = model();
    m.set_env("time_of_day_h", &json!(22.0)).unwrap();
    m.set_env("battery_soc", &json!(40)).unwrap();
    m.advance(Duration::from_secs(5));
    // Default Solar + Utility: the grid charges at night, capped by the utility limit (30 A).
    let r = read(&mut m, "QPIGS");
    assert!(flag(&r, "is_ac_charging_on"), "{r:?}");
    assert_eq!(num(&r, "battery_charging_current"), 30.0);
    assert!(is_ack(&mut m, "MUCHGC010"));
    m.advance(Duration::from_secs(2));
    assert_eq!(
        num(&read(&mut m, "QPIGS"), "battery_charging_current"),
        10.0
    );
    // Only solar: no AC charging at night.
    assert!(is_ack(&mut m, "PCP03"));
    m.advance(Duration::from_secs(2));
    let r = read(&mut m, "QPIGS");
    assert_eq!(num(&r, "battery_charging_current"), 0.0);
    assert!(!flag(&r, "is_ac_charging_on"));
    // Noon with plenty of PV: the max charging current caps the SCC.
    m.set_env("pv_power_w", &json!(4000)).unwrap();
    m.set_env("load_w", &json!(0)).unwrap();
    m.advance(Duration::from_secs(2));
    assert_eq!(
        num(&read(&mut m, "QPIGS"), "battery_charging_current"),
        60.0
    );
    assert!(is_ack(&mut m, "MCHGC020"));
    m.advance(Duration::from_secs(2));
    let r = read(&mut m, "QPIGS");
    assert_eq!(num(&r, "battery_charging_current"), 20.0);
    assert!(flag(&r, "is_scc_charging_on"));
    // The bulk voltage caps the battery voltage; a lower one reduces the current.
    m.set_env("battery_soc", &json!(97)).unwrap();
    assert!(is_ack(&mut m, "MCHGC120"));
    for bulk in ["PCVV56.4", "PCVV53.0"] {
        assert!(is_ack(&mut m, bulk));
        m.advance(Duration::from_secs(30));
        let v = num(&read(&mut m, "QPIGS"), "battery_voltage");
        let cap: f64 = bulk[4..].parse().unwrap();
        assert!(v <= cap + 0.005, "{v} > {cap}");
    }
}

#[test]
fn a_simulated_day_follows_the_sun() {
    let mut m = model();
    m.set_env("time_of_day_h", &json!(0.0)).unwrap();
    m.set_env("grid_available", &json!(false)).unwrap();
    m.set_env("load_w", &json!(300)).unwrap();
    m.set_env("battery_soc", &json!(70)).unwrap();
    let mut pv_by_hour = Vec::new();
    let mut soc_by_hour = Vec::new();
    for _ in 0..24 {
        let r = read(&mut m, "QPIGS");
        pv_by_hour.push(num(&r, "pv_input_power"));
        soc_by_hour.push(m.soc_percent());
        m.advance(Duration::from_secs(3600));
    }
    assert_eq!(pv_by_hour[2], 0.0);
    assert_eq!(pv_by_hour[22], 0.0);
    assert!(pv_by_hour[12] > 500.0, "{pv_by_hour:?}");
    assert!(
        soc_by_hour[5] < soc_by_hour[0],
        "night discharges: {soc_by_hour:?}"
    );
    assert!(
        soc_by_hour[14] > soc_by_hour[8],
        "day charges: {soc_by_hour:?}"
    );
    assert_eq!(m.env().day, 1);
    // Line fail while the grid is away.
    let w = read(&mut m, "QPIWS");
    assert!(flag(&w, "line_fail_warning"));
    assert_eq!(m.mode(), Mode::Battery);
}

#[test]
fn warnings_overload_fault_and_low_battery() {
    let mut m = model();
    m.set_env("load_w", &json!(4500)).unwrap();
    m.advance(Duration::from_secs(1));
    let w = read(&mut m, "QPIWS");
    assert!(flag(&w, "overload_fault"));
    assert!(!flag(&w, "line_fail_warning"));
    m.advance(Duration::from_secs(70));
    assert_eq!(m.mode(), Mode::Fault);
    let g = read(&mut m, "QPGS0");
    assert_eq!(text(&g, "work_mode"), "Fault Mode");
    assert_eq!(
        g.get("fault_code").and_then(|f| f.raw.clone()).as_deref(),
        Some("07")
    );
    assert!(flag(&read(&mut m, "QPIWS"), "inverter_fault"));
    // A power cycle clears it (P for two seconds), a sane load keeps it clear.
    m.set_env("load_w", &json!(500)).unwrap();
    m.reset();
    assert_eq!(payload(&mut m, "QMOD"), "P");
    m.advance(Duration::from_secs(3));
    assert_eq!(payload(&mut m, "QMOD"), "L");

    // Low battery without grid: alarm, then shutdown to standby.
    let mut m = model();
    m.set_env("grid_available", &json!(false)).unwrap();
    m.set_env("time_of_day_h", &json!(22.0)).unwrap();
    m.set_env("battery_soc", &json!(12)).unwrap();
    m.set_env("load_w", &json!(3000)).unwrap();
    m.advance(Duration::from_secs(1));
    assert!(flag(&read(&mut m, "QPIWS"), "battery_low_alarm_warning"));
    m.advance(Duration::from_secs(900));
    assert_eq!(m.mode(), Mode::Standby);
    let w = read(&mut m, "QPIWS");
    assert!(flag(&w, "battery_under_shutdown_warning"));
    let r = read(&mut m, "QPIGS");
    assert_eq!(num(&r, "ac_output_active_power"), 0.0);
    assert!(!flag(&r, "is_load_on"));
    // The grid comes back: line mode, the load is carried again.
    m.set_env("grid_available", &json!(true)).unwrap();
    m.advance(Duration::from_secs(2));
    assert_eq!(m.mode(), Mode::Line);
}

#[test]
fn parallel_units_answer_qpgs_with_totals_that_add_up() {
    for mut m in [
        InverterModel::new(
            InverterConfig {
                parallel_units: 3,
                ..InverterConfig::default()
            },
            11,
        ),
        max_model(2),
    ] {
        m.set_env("time_of_day_h", &json!(11.0)).unwrap();
        m.set_env("load_w", &json!(5000)).unwrap();
        m.set_env("battery_soc", &json!(50)).unwrap();
        m.advance(Duration::from_secs(60));
        let n = m.config().parallel_units as usize;
        let readings: Vec<Reading> = (0..n).map(|i| read(&mut m, &format!("QPGS{i}"))).collect();
        let sum = |name: &str| readings.iter().map(|r| num(r, name)).sum::<f64>();
        let mut serials = Vec::new();
        for r in &readings {
            serials.push(text(r, "serial_number"));
            assert_eq!(
                num(r, "total_output_active_power"),
                sum("ac_output_active_power")
            );
            assert_eq!(
                num(r, "total_ac_output_apparent_power"),
                sum("ac_output_apparent_power")
            );
            assert_eq!(
                num(r, "total_charging_current"),
                sum("battery_charging_current")
            );
            let pct = (sum("ac_output_active_power") * 100.0
                / (f64::from(m.config().rated_w) * n as f64))
                .floor();
            assert_eq!(num(r, "total_ac_output_percentage"), pct);
            assert_eq!(text(r, "parallel_instance_number"), "valid");
        }
        serials.dedup();
        assert_eq!(serials.len(), n);
        assert_eq!(serials[1], m.config().unit_serial(1));
        assert!(sum("ac_output_active_power") > 4500.0);
        assert_eq!(send(&mut m, &format!("QPGS{n}")), b"(NAKss\r");
        // Per-unit setters address one unit.
        assert!(is_ack(&mut m, "MNCHGC1020"));
        assert!(is_ack(&mut m, "PPCP103"));
        let r1 = read(&mut m, "QPGS1");
        assert_eq!(num(&r1, "max_charger_current"), 20.0);
        assert_eq!(text(&r1, "charger_source_priority"), "Solar only");
        let r0 = read(&mut m, "QPGS0");
        assert_eq!(num(&r0, "max_charger_current"), 60.0);
    }
    // A standalone unit answers QPGS0 as "not valid" (V27) and NAKs QPGS1.
    let mut m = model();
    assert_eq!(
        text(&read(&mut m, "QPGS0"), "parallel_instance_number"),
        "Not valid"
    );
    assert_eq!(send(&mut m, "QPGS1"), b"(NAKss\r");
}

#[test]
fn same_seed_and_inputs_give_identical_bytes() {
    let run = |seed: u64| {
        let mut m = InverterModel::new(InverterConfig::default(), seed);
        let mut out = Vec::new();
        for i in 0..50 {
            m.advance(Duration::from_millis(700 + 37 * i));
            if i == 20 {
                m.set_env("load_w", &json!(2000)).unwrap();
                out.extend(send(&mut m, "POP02"));
            }
            for q in ["QPIGS", "QPGS0", "QPIWS", "QMOD", "Q1"] {
                out.extend(send(&mut m, q));
            }
        }
        out
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn protocol_faults_on_and_off() {
    let mut m = model();
    m.set_fault(ProtocolFault::Nak, true);
    assert_eq!(send(&mut m, "QPIGS"), b"(NAKss\r");
    assert_eq!(send(&mut m, "POP02"), b"(NAKss\r");
    assert_eq!(m.settings().output_priority, 0);
    m.set_fault(ProtocolFault::Nak, false);
    m.set_fault(ProtocolFault::Pi18, true);
    // vectors.md V33: ^0 + CRC 0x1BE3.
    assert_eq!(send(&mut m, "QPI"), b"^0\x1b\xe3\r");
    assert!(matches!(
        decode_frame(
            "QPIGS",
            &send(&mut m, "QPIGS"),
            DecVariant::Pi30,
            DecodeOptions::default()
        ),
        Err(sungate_drivers::pi30::fields::Pi30Error::ProtocolMismatch(
            _
        ))
    ));
    m.set_fault(ProtocolFault::Pi18, false);
    m.set_fault(ProtocolFault::Silence, true);
    assert_eq!(
        m.handle_request(&encode_command("QPI", EncodeOptions::default())),
        Response::Silence
    );
    m.set_fault(ProtocolFault::Silence, false);
    m.set_fault(ProtocolFault::Echo, true);
    let q = encode_command("QPGS0", EncodeOptions::default());
    assert_eq!(send_raw(&mut m, &q), q);
    m.set_fault(ProtocolFault::Echo, false);
    m.set_fault(ProtocolFault::Lockup, true);
    assert_eq!(m.handle_request(&q), Response::Silence);
    m.reset();
    assert_eq!(send(&mut m, "QPI"), b"(PI30\x9a\x0b\r");
    // Settings survive a reset.
    assert!(is_ack(&mut m, "POP01"));
    m.set_fault(ProtocolFault::Nak, true);
    m.reset();
    assert_eq!(
        read(&mut m, "QPIRI")
            .value("output_source_priority")
            .and_then(|v| v.as_str()),
        Some("Solar first")
    );
}

#[test]
fn clock_battery_adjust_and_max_only_setters() {
    let mut m = max_model(1);
    assert!(is_ack(&mut m, "DAT240315083000"));
    assert_eq!(payload(&mut m, "QT"), "20240315083000");
    m.advance(Duration::from_secs(61));
    assert_eq!(payload(&mut m, "QT"), "20240315083101");
    assert!(is_ack(&mut m, "PBATMAXDISC100"));
    assert_eq!(
        num(&read(&mut m, "QPIRI"), "max_discharging_current"),
        100.0
    );
    assert!(!is_ack(&mut m, "PCP00"));
    let v0 = num(&read(&mut m, "QPIGS"), "battery_voltage");
    assert!(is_ack(&mut m, "BTA+04"));
    let v1 = num(&read(&mut m, "QPIGS"), "battery_voltage");
    assert!((v1 - v0 - 0.2).abs() < 0.011, "{v0} -> {v1}");
    // The PI30 variant has neither QT nor PBATMAXDISC.
    let mut p = model();
    assert_eq!(send(&mut p, "QT"), b"(NAKss\r");
    assert_eq!(send(&mut p, "PBATMAXDISC100"), b"(NAKss\r");
}

#[test]
fn control_api_validates_and_snapshots() {
    let mut m = model();
    assert_eq!(
        m.set_env("nope", &json!(1)),
        Err(SimError::UnknownKey("nope".into()))
    );
    assert!(m.set_env("load_w", &json!("x")).is_err());
    assert!(m.set_env("battery_soc", &json!(101)).is_err());
    assert!(m.set_env("grid_available", &json!(1)).is_err());
    m.set_env("pv_override", &json!(1234)).unwrap();
    assert_eq!(m.env().pv_override_w, Some(1234.0));
    m.set_env("pv_override", &json!(null)).unwrap();
    assert_eq!(m.env().pv_override_w, None);
    m.set_env("battery_voltage", &json!(50.0)).unwrap();
    // battery_voltage sets the open-circuit voltage (the state of charge behind it).
    let ocv = state::ocv(m.config(), m.soc_percent() / 100.0);
    assert!((ocv - 50.0).abs() < 0.01, "{ocv}");
    m.set_env("fault_code", &json!(8)).unwrap();
    assert_eq!(m.mode(), Mode::Fault);
    m.set_env("fault_code", &json!(0)).unwrap();
    assert_ne!(m.mode(), Mode::Fault);
    let s = m.snapshot();
    for key in [
        "config",
        "settings",
        "env",
        "state",
        "mode",
        "warnings",
        "protocol_faults",
    ] {
        assert!(s.get(key).is_some(), "{key} missing in {s}");
    }
    assert_eq!(s["config"]["serial"], "92932309100452");
    assert_eq!(s["settings"]["output_priority"], 0);
}

proptest::proptest! {
    #[test]
    fn arbitrary_requests_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
        let mut m = model();
        let _ = m.handle_request(&bytes);
    }

    #[test]
    fn any_crc_valid_command_gets_a_valid_frame(cmd in "[A-Z0-9.+-]{1,16}") {
        let mut m = model();
        let frame = send(&mut m, &cmd);
        assert_valid_frame(&frame);
    }
}
