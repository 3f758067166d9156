//! MPPT model tests against vectors.md (H9..H13, H18..H22, H25, H35, H42..H48; T6, T8, T9 layout)
//! and the remote-sense rules of the MPPT HEX protocol ("Remote sensor data", 60 s timeout).

use std::time::Duration;

use serde_json::json;
use sungate_drivers::vedirect::hex::decode_frame;
use sungate_drivers::vedirect::registers;

use super::tests_common::{
    ask, ask1, blocks, frame_value, get, hex_frames, labels, run, run_through_checks, segment,
};
use super::{FirmwareMode, MpptConfig, MpptModel, VeDevice};

fn mppt() -> MpptModel {
    MpptModel::new(MpptConfig::default(), 5)
}

fn u16_of(frame: &str) -> u16 {
    let (_, flags, v) = frame_value(frame);
    assert_eq!(flags, 0, "{frame}");
    u16::from_le_bytes([v[0], v[1]])
}

fn network_status(m: &mut MpptModel) -> u8 {
    let (id, flags, v) = frame_value(&ask1(m, ":70F20001F\n"));
    assert_eq!((id, flags), (0x200F, 0));
    v[0]
}

#[test]
fn text_block_like_smartsolar_100_30() {
    let mut m = mppt();
    let units = run(&mut m, 2);
    let b = blocks(&units);
    assert_eq!(b.len(), 2);
    // Vectors T9 (same model and firmware family).
    assert_eq!(
        labels(b[0]),
        [
            "PID", "FW", "SER#", "V", "I", "VPV", "PPV", "CS", "MPPT", "OR", "ERR", "LOAD", "H19",
            "H20", "H21", "H22", "H23", "HSDS"
        ]
    );
    assert_eq!(get(b[0], "PID"), Some("0xA056"));
    assert_eq!(get(b[0], "FW"), Some("161"));
    assert_eq!(get(b[0], "CS"), Some("3"));
    assert_eq!(get(b[0], "OR"), Some("0x00000000"));
    let ppv: i64 = get(b[0], "PPV").unwrap().parse().unwrap();
    assert!(ppv > 100, "noon sun: {ppv}");
}

#[test]
fn old_firmware_and_load_output_layout() {
    let cfg = MpptConfig {
        product_id: 0xA042,
        firmware: 123,
        load_output: true,
        ..MpptConfig::default()
    };
    let mut m = MpptModel::new(cfg, 1);
    let units = run(&mut m, 1);
    // Vectors T1: BlueSolar fw 1.23 has neither MPPT nor OR, but IL and HSDS.
    assert_eq!(
        labels(blocks(&units)[0]),
        [
            "PID", "FW", "SER#", "V", "I", "VPV", "PPV", "CS", "ERR", "LOAD", "IL", "H19", "H20",
            "H21", "H22", "H23", "HSDS"
        ]
    );
}

#[test]
fn split_record_is_two_valid_blocks() {
    let cfg = MpptConfig {
        split_text_block: true,
        ..MpptConfig::default()
    };
    let mut m = MpptModel::new(cfg, 1);
    let units = run(&mut m, 1);
    let b = blocks(&units);
    assert_eq!(b.len(), 2);
    assert_eq!(labels(b[0]).last(), Some(&"OR"));
    assert_eq!(labels(b[1]).first(), Some(&"ERR"));
}

#[test]
fn official_and_captured_hex_examples() {
    let cfg = MpptConfig {
        battery_max_current_a: 15.0,
        ..MpptConfig::default()
    };
    let mut m = MpptModel::new(cfg, 1);
    assert_eq!(ask1(&mut m, ":154\n"), ":56141AE");
    assert_eq!(ask1(&mut m, ":352\n"), ":16141B2");
    assert_eq!(ask1(&mut m, ":451\n"), ":156A05E"); // H18
    assert_eq!(ask1(&mut m, ":70001004D\n"), ":70001000056A0FF58"); // H19
    assert_eq!(ask1(&mut m, ":7F2ED006F\n"), ":7F2ED00ACF9CA"); // H20
    assert_eq!(
        ask1(&mut m, ":70B010042\n"),
        ":70B0100536D617274536F6C61722043686172676572204D505054203130302F333000BA"
    ); // H21
    assert_eq!(ask1(&mut m, ":777770060\n"), ":77777015F"); // H22
    assert_eq!(ask1(&mut m, ":7F0ED0071\n"), ":7F0ED009600DB"); // H12
    assert_eq!(ask1(&mut m, ":8F0ED0064000C\n"), ":8F0ED0064000C"); // H13
    assert_eq!(u16_of(&ask1(&mut m, ":7F0ED0071\n")), 100);
    assert_eq!(ask1(&mut m, ":253\n"), ":3020050"); // H14
    assert_eq!(ask1(&mut m, ":452\n"), ":4AAAAFD"); // H15
    assert!(ask(&mut m, ":64F\n").is_empty()); // H4
    // No BMV on the network: 0xEDEC not available (H25), 0x2002/0x2003 not available.
    assert_eq!(ask1(&mut m, ":7ECED0075\n"), ":7ECED00FFFF77");
    assert_eq!(ask1(&mut m, ":70220002C\n"), ":7022000FFFF2E");
    assert_eq!(ask1(&mut m, ":70320002B\n"), ":7032000FF7FAD");
    // Lowercase digits and a CR before the LF are framing errors for the device.
    assert_eq!(ask1(&mut m, ":7f0ed0071\n"), ":4AAAAFD");
    assert_eq!(ask1(&mut m, ":154\r\n"), ":4AAAAFD");
}

#[test]
fn settings_out_of_range_are_refused_with_the_nearest_value() {
    let mut m = mppt();
    // 0xEDF7 = 20.00 V on a 12 V system: parameter error, nearest valid 17.40 V, unchanged.
    let reply = ask1(&mut m, ":8F7ED00D00792\n");
    let (id, flags, v) = frame_value(&reply);
    assert_eq!((id, flags), (0xEDF7, 0x04));
    assert_eq!(u16::from_le_bytes([v[0], v[1]]), 1740);
    assert_eq!(u16_of(&ask1(&mut m, ":7F7ED006A\n")), 1440);
    // Read-only register: not supported.
    let (_, flags, _) = frame_value(&ask1(&mut m, ":8BBED00001095\n"));
    assert_eq!(flags, 0x02);
}

#[test]
fn remote_temperature_is_used_then_times_out() {
    let mut m = mppt();
    run(&mut m, 2);
    assert_eq!(network_status(&mut m), 0x04);
    // H42: set 0x2003 = 23.50 °C, echoed.
    assert_eq!(ask1(&mut m, ":80320002E09F3\n"), ":80320002E09F3");
    assert_eq!(network_status(&mut m) & 0x40, 0x40);
    assert_eq!(ask1(&mut m, ":70320002B\n"), ":70320002E09F4");
    // 0xEDEC reports the networked battery temperature: 296.65 K.
    assert_eq!(u16_of(&ask1(&mut m, ":7ECED0075\n")), 29665);
    assert_eq!(m.snapshot()["battery_temperature_used_c"], json!(23.5));
    m.advance(Duration::from_millis(59_900));
    m.take_output();
    assert_eq!(network_status(&mut m) & 0x40, 0x40);
    m.advance(Duration::from_millis(100));
    let out = m.take_output();
    let units = segment(&out).unwrap();
    // H48: the async "not available" at timeout.
    assert!(hex_frames(&units).contains(&":A032000FF7FAA"), "{units:?}");
    assert_eq!(network_status(&mut m) & 0x40, 0);
    assert_eq!(ask1(&mut m, ":70320002B\n"), ":7032000FF7FAD");
    assert_eq!(m.snapshot()["battery_temperature_used_c"], json!(25.0));
}

#[test]
fn refresh_keeps_remote_values_alive() {
    let mut m = mppt();
    for _ in 0..10 {
        ask1(&mut m, ":80320002E09F3\n");
        m.advance(Duration::from_secs(30));
    }
    assert_eq!(network_status(&mut m) & 0x40, 0x40);
    let units = segment(&m.take_output()).unwrap();
    assert!(!hex_frames(&units).contains(&":A032000FF7FAA"));
}

#[test]
fn remote_voltage_in_use_and_dropped_at_once_on_not_available() {
    let mut m = mppt();
    m.set_env("battery_soc_percent", &json!(50.0)).unwrap();
    m.set_env("pv_power_w", &json!(0.0)).unwrap();
    run(&mut m, 2);
    // H46: 13.18 V, within ±5 V of the terminal voltage.
    assert_eq!(ask1(&mut m, ":8022000260500\n"), ":8022000260500");
    assert_eq!(network_status(&mut m), 0x84);
    ask1(&mut m, ":80320002E09F3\n");
    assert_eq!(network_status(&mut m), 0xC4);
    // H47 / H45: "not available" drops them at once.
    assert_eq!(ask1(&mut m, ":8022000FFFF2D\n"), ":8022000FFFF2D");
    assert_eq!(network_status(&mut m), 0x44);
    assert_eq!(ask1(&mut m, ":8032000FF7FAC\n"), ":8032000FF7FAC");
    assert_eq!(network_status(&mut m), 0x04);
    // No timeout frame follows for values already withdrawn.
    let units = run(&mut m, 70);
    assert!(
        !hex_frames(&units)
            .iter()
            .any(|h| h.starts_with(":A0220") || h.starts_with(":A0320"))
    );
    // An implausible voltage (more than 5 V off) is echoed but not used.
    assert_eq!(ask1(&mut m, ":8022000D00754\n"), ":8022000D00754");
    assert_eq!(network_status(&mut m), 0x04);
}

#[test]
fn remote_voltage_timeout_sends_async() {
    let mut m = mppt();
    ask1(&mut m, ":8022000260500\n");
    let units = run(&mut m, 61);
    assert!(hex_frames(&units).contains(&":A022000FFFF2B")); // H27
}

#[test]
fn byte_swapped_ids_are_unknown() {
    let mut m = mppt();
    // H43 -> H35: the device reads id 0x0320 and answers Unknown Id, same check byte trick.
    assert_eq!(ask1(&mut m, ":82003002E09F3\n"), ":820030129");
    assert_eq!(ask1(&mut m, ":8200200260500\n"), ":82002012A");
    assert_eq!(network_status(&mut m), 0x04);
    assert_eq!(ask1(&mut m, ":72003002B\n"), ":72003012A");
}

#[test]
fn charge_voltage_follows_remote_temperature() {
    let mut m = mppt();
    let setpoint = |m: &mut MpptModel| f64::from(u16_of(&ask1(m, ":70120002D\n"))) / 100.0;
    assert!((setpoint(&mut m) - 14.40).abs() < 0.006);
    // 10.00 °C: 14.40 + 0.0162 * 15 = 14.643 V.
    ask1(&mut m, ":8032000E8033F\n");
    assert!(
        (setpoint(&mut m) - 14.64).abs() < 0.006,
        "{}",
        setpoint(&mut m)
    );
    // -5.00 °C (H44): 14.40 + 0.0162 * 30 = 14.886 V.
    ask1(&mut m, ":80320000CFE20\n");
    assert!((setpoint(&mut m) - 14.89).abs() < 0.006);
    // 40.00 °C: 14.157 V.
    ask1(&mut m, ":8032000A00F7B\n");
    assert!((setpoint(&mut m) - 14.16).abs() < 0.006);
    // Internal estimate once the remote value is withdrawn.
    m.set_env("ambient_temperature_c", &json!(35.0)).unwrap();
    ask1(&mut m, ":8032000FF7FAC\n");
    assert!((setpoint(&mut m) - 14.24).abs() < 0.006);
}

#[test]
fn compensation_shows_in_the_absorption_voltage() {
    let absorb = |temp: Option<&str>| {
        let mut m = MpptModel::new(MpptConfig::default(), 2);
        m.set_env("battery_soc_percent", &json!(97.0)).unwrap();
        m.set_env("pv_power_w", &json!(400.0)).unwrap();
        let mut v = 0.0;
        for _ in 0..30 {
            if let Some(t) = temp {
                ask1(&mut m, t);
            }
            let units = run(&mut m, 10);
            let b = blocks(&units);
            let last = b[b.len() - 1];
            assert_eq!(get(last, "CS"), Some("4"));
            v = get(last, "V").unwrap().parse::<f64>().unwrap() / 1000.0;
        }
        v
    };
    let cold = absorb(Some(":80320000CFE20\n"));
    let warm = absorb(None);
    assert!((warm - 14.40).abs() < 0.02, "{warm}");
    assert!((cold - warm - 0.486).abs() < 0.02, "{cold} vs {warm}");
}

#[test]
fn stages_bulk_absorption_float_and_night() {
    let cfg = MpptConfig {
        absorption_time_h: 0.5,
        initial_soc_percent: 70.0,
        ..MpptConfig::default()
    };
    let mut m = MpptModel::new(cfg, 9);
    m.set_env("pv_power_w", &json!(440.0)).unwrap();
    let mut seen = Vec::new();
    for _ in 0..(6 * 3600 / 60) {
        let units = run(&mut m, 60);
        for b in blocks(&units) {
            let cs = get(b, "CS").unwrap().to_owned();
            if seen.last() != Some(&cs) {
                seen.push(cs);
            }
        }
    }
    assert_eq!(seen, ["3", "4", "5"]);
    m.set_env("pv_power_w", &json!(0.0)).unwrap();
    let units = run(&mut m, 2);
    let b = blocks(&units)[1];
    assert_eq!(get(b, "CS"), Some("0"));
    assert_eq!(get(b, "MPPT"), Some("0"));
    assert_eq!(get(b, "OR"), Some("0x00000001"));
    assert_eq!(get(b, "PPV"), Some("0"));
    assert_eq!(get(b, "VPV"), Some("10"));
}

#[test]
fn day_curve_rolls_over_the_day() {
    let mut m = mppt();
    m.set_env("time_of_day_h", &json!(23.99)).unwrap();
    let first = run(&mut m, 1);
    let hsds0: u32 = get(blocks(&first)[0], "HSDS").unwrap().parse().unwrap();
    let units = run(&mut m, 60);
    let last = blocks(&units)[59];
    assert_eq!(
        get(last, "HSDS").unwrap().parse::<u32>().unwrap(),
        (hsds0 + 1) % 365
    );
    assert_eq!(get(last, "H20"), Some("0"));
    assert_eq!(get(last, "CS"), Some("0"));
}

#[test]
fn async_frames_follow_blocks_after_hex_traffic() {
    let mut m = mppt();
    let quiet = run(&mut m, 5);
    assert!(hex_frames(&quiet).is_empty());
    ask1(&mut m, ":154\n");
    let units = run(&mut m, 3);
    let frames = hex_frames(&units);
    assert!(frames.iter().any(|f| f.starts_with(":A0102")), "{frames:?}");
    for f in frames {
        let frame = decode_frame(f.as_bytes()).unwrap();
        let reg = frame.as_register().unwrap();
        let spec = registers::lookup(reg.id).unwrap();
        spec.decode(&reg.value).unwrap();
    }
    // Two minutes without HEX traffic: asyncs stop.
    run(&mut m, 121);
    assert!(hex_frames(&run(&mut m, 5)).is_empty());
}

#[test]
fn the_shared_table_marks_writable_what_the_simulated_devices_let_you_write() {
    use super::hexcmd::{HexTarget, RegWrite};
    use sungate_drivers::vedirect::registers::Access;
    let mut m = mppt();
    run(&mut m, 3);
    let mut bmv = super::BmvModel::new(super::BmvConfig::default(), 1);
    run(&mut bmv, 3);
    let mut accepted = 0;
    for reg in registers::all() {
        // Write back what the device holds: a valid value wherever writing is allowed.
        let results = [
            m.read_register(reg.id).map(|v| m.set_register(reg.id, &v)),
            bmv.read_register(reg.id)
                .map(|v| bmv.set_register(reg.id, &v)),
        ];
        for result in results.into_iter().flatten() {
            match (reg.access, &result) {
                (Access::ReadWrite, _) => {}
                (_, RegWrite::Accepted(_)) => {
                    panic!(
                        "{} ({:#06x}) is writable on the simulator",
                        reg.name, reg.id
                    )
                }
                (Access::ReadOnly, RegWrite::ReadOnly(_) | RegWrite::Unknown) => {}
                other => panic!("{} ({:#06x}): {other:?}", reg.name, reg.id),
            }
            accepted += usize::from(matches!(result, RegWrite::Accepted(_)));
        }
    }
    assert!(accepted > 10, "{accepted}");
}

#[test]
fn every_register_answer_decodes_with_the_shared_table() {
    let mut m = mppt();
    run(&mut m, 3);
    let mut bmv = super::BmvModel::new(super::BmvConfig::default(), 1);
    run(&mut bmv, 3);
    let mut checked = 0;
    for id in 0..=u16::MAX {
        for value in [m.read_register(id), bmv.read_register(id)]
            .into_iter()
            .flatten()
        {
            if let Some(spec) = registers::lookup(id) {
                spec.decode(&value)
                    .unwrap_or_else(|e| panic!("{id:#06x} {value:02X?}: {e}"));
                checked += 1;
            }
        }
    }
    assert!(checked > 60, "{checked}");
}

#[test]
fn new_firmware_never_puts_replies_inside_blocks() {
    let mut m = mppt();
    let mut all = Vec::new();
    let requests: [&[u8]; 4] = [
        b":154\n",
        b":7D5ED008C\n",
        b":80320002E09F3\n",
        b":70F20001F\n",
    ];
    for k in 0..2000usize {
        m.advance(Duration::from_millis(170 + (k as u64 * 37) % 200));
        let req = requests[k % requests.len()];
        let cut = k % req.len();
        m.receive(&req[..cut]);
        all.extend(m.take_output());
        m.receive(&req[cut..]);
        if k % 3 == 0 {
            all.extend(m.take_output());
        }
    }
    all.extend(m.take_output());
    let units = segment(&all).unwrap();
    assert!(blocks(&units).len() > 300);
    assert!(hex_frames(&units).len() > 2000);
    // Some replies directly follow a checksum byte (vectors T9).
    assert!(
        all.windows(12)
            .any(|w| w.starts_with(b"Checksum\t") && w[10] == b':')
    );
}

#[test]
fn old_firmware_pauses_text_and_resumes() {
    let cfg = MpptConfig {
        firmware_mode: FirmwareMode::Old,
        firmware: 115,
        ..MpptConfig::default()
    };
    let mut m = MpptModel::new(cfg, 4);
    assert_eq!(blocks(&run(&mut m, 3)).len(), 3);
    let mut all = Vec::new();
    for _ in 0..20 {
        m.receive(b":7F0ED0071\n");
        m.advance(Duration::from_millis(500));
        all.extend(m.take_output());
    }
    let units = segment(&all).unwrap();
    assert!(blocks(&units).is_empty());
    assert_eq!(hex_frames(&units).len(), 20);
    let units = run(&mut m, 6);
    let b = blocks(&units);
    assert!((3..=4).contains(&b.len()), "{}", b.len());
}

#[test]
fn restart_forgets_remote_values() {
    let mut m = mppt();
    ask1(&mut m, ":80320002E09F3\n");
    assert!(ask(&mut m, ":64F\n").is_empty());
    assert_eq!(network_status(&mut m), 0x04);
}

#[test]
fn same_seed_same_bytes() {
    let bytes = |seed| {
        let mut m = MpptModel::new(MpptConfig::default(), seed);
        let mut all = Vec::new();
        for k in 0..300 {
            m.advance(Duration::from_millis(900));
            if k % 11 == 0 {
                m.receive(b":7BCED00A5\n");
            }
            all.extend(m.take_output());
        }
        all
    };
    assert_eq!(bytes(3), bytes(3));
    assert_ne!(bytes(3), bytes(4));
}

#[test]
fn env_keys_are_validated() {
    let mut m = mppt();
    assert!(m.set_env("pv_power_w", &json!(-1.0)).is_err());
    assert!(m.set_env("pv_power_w", &json!(null)).is_ok());
    assert!(m.set_env("irradiance_w_m2", &json!(800)).is_ok());
    assert!(m.set_env("nope", &json!(1)).is_err());
    let snap = m.snapshot();
    assert_eq!(snap["device"], json!("mppt"));
    assert!(snap["remote"]["temperature_in_use"] == json!(false));
}

#[test]
fn a_day_of_output_passes_the_gateways_checks() {
    // A whole day (night, sunrise, bulk, absorption, float, sunset, the day counter rolling
    // over) for 12/24/48 V systems, one block and split records: not one block rejected.
    for (nominal, split) in [(12.0, false), (24.0, true), (48.0, false)] {
        let cfg = MpptConfig {
            nominal_voltage: nominal,
            split_text_block: split,
            time_of_day_h: 0.0,
            ..MpptConfig::default()
        };
        let mut m = MpptModel::new(cfg, 3);
        let (blocks, rejected) = run_through_checks(&mut m, 86_400 + 3600, 600, |_, _| {});
        assert!(blocks >= 86_400, "{nominal} V: {blocks}");
        assert!(
            rejected.is_empty(),
            "{nominal} V split {split}: {rejected:#?}"
        );
    }
}
