//! Property tests: whatever the host writes, in whatever pieces and at whatever times, the devices
//! never panic and their output stays a clean sequence of valid text blocks and HEX frames
//! ("VE.Direct Protocol" 3.33 "Data integrity"; HEX protocol section 1 framing).

use std::time::Duration;

use proptest::prelude::*;

use super::tests_common::{segment, segment_framing};
use super::{BmvConfig, BmvModel, FirmwareMode, MpptConfig, MpptModel, VeDevice};

/// Host input: random bytes biased towards HEX-looking frames.
fn host_bytes() -> impl Strategy<Value = Vec<u8>> {
    let chunk = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        proptest::collection::vec(
            prop_oneof![
                Just(b':'),
                Just(b'\n'),
                Just(b'\r'),
                proptest::sample::select(b"0123456789ABCDEF".to_vec()),
            ],
            0..40,
        ),
        Just(b":80320002E09F3\n".to_vec()),
        Just(b":8022000260500\n".to_vec()),
        Just(b":8032000FF7FAC\n".to_vec()),
        Just(b":64F\n".to_vec()),
        Just(b":154\n".to_vec()),
    ];
    proptest::collection::vec(chunk, 0..8).prop_map(|c| c.concat())
}

/// Run the steps; the output must frame cleanly and (in normal configurations) pass the
/// gateway's value checks.
fn exercise(dev: &mut impl VeDevice, steps: &[(Vec<u8>, u16)]) {
    run_steps(dev, steps, segment);
}

/// Like [`exercise`] for absurd configurations or environments set on purpose: the output must
/// still frame cleanly, but its values need not be physical.
fn exercise_absurd(dev: &mut impl VeDevice, steps: &[(Vec<u8>, u16)]) {
    run_steps(dev, steps, segment_framing);
}

fn run_steps(
    dev: &mut impl VeDevice,
    steps: &[(Vec<u8>, u16)],
    check: fn(&[u8]) -> Result<Vec<super::tests_common::Unit>, String>,
) {
    let mut out = Vec::new();
    for (bytes, ms) in steps {
        dev.receive(bytes);
        dev.advance(Duration::from_millis(u64::from(*ms)));
        out.extend(dev.take_output());
    }
    if let Err(e) = check(&out) {
        panic!("{e}");
    }
    let _ = dev.snapshot();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn bmv_survives_garbage(steps in proptest::collection::vec((host_bytes(), 0u16..3000), 1..20),
                            old in any::<bool>(), seed in any::<u64>()) {
        let cfg = BmvConfig {
            firmware_mode: if old { FirmwareMode::Old } else { FirmwareMode::New },
            ..BmvConfig::default()
        };
        exercise(&mut BmvModel::new(cfg, seed), &steps);
    }

    #[test]
    fn mppt_survives_garbage(steps in proptest::collection::vec((host_bytes(), 0u16..30000), 1..20),
                             old in any::<bool>(), seed in any::<u64>()) {
        let cfg = MpptConfig {
            firmware_mode: if old { FirmwareMode::Old } else { FirmwareMode::New },
            ..MpptConfig::default()
        };
        exercise(&mut MpptModel::new(cfg, seed), &steps);
    }

    #[test]
    fn env_values_never_panic(key in proptest::sample::select(vec![
        "battery_temperature_c", "load_current_a", "charge_current_a", "current_a", "soc_percent",
        "pv_power_w", "irradiance_w_m2", "time_of_day_h", "ambient_temperature_c",
        "battery_load_a", "battery_soc_percent", "error_code", "load_on", "aux_input", "x",
    ]), v in prop_oneof![
        any::<f64>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        ".*".prop_map(serde_json::Value::from),
    ]) {
        let mut b = BmvModel::new(BmvConfig::default(), 1);
        let mut m = MpptModel::new(MpptConfig::default(), 1);
        let _ = b.set_env(key, &v);
        let _ = m.set_env(key, &v);
        exercise_absurd(&mut b, &[(Vec::new(), 2000)]);
        exercise_absurd(&mut m, &[(Vec::new(), 2000)]);
    }
}

#[test]
fn configs_deserialize_with_defaults_and_refuse_unknown_fields() {
    let b: BmvConfig =
        serde_json::from_str(r#"{"capacity_ah": 100, "aux_input": "starter"}"#).unwrap();
    assert_eq!(b.capacity_ah, 100);
    assert_eq!(b.product_id, 0xA381);
    let m: MpptConfig = serde_json::from_str(r#"{"firmware_mode": "old"}"#).unwrap();
    assert_eq!(m.firmware_mode, FirmwareMode::Old);
    assert!(serde_json::from_str::<MpptConfig>(r#"{"bogus": 1}"#).is_err());
    assert!(serde_json::from_str::<BmvConfig>(r#"{"bogus": 1}"#).is_err());
}

#[test]
fn absurd_configs_do_not_panic() {
    let b = BmvConfig {
        nominal_voltage: f64::NAN,
        capacity_ah: 0,
        initial_soc_percent: 1e9,
        internal_resistance_ohm: -1.0,
        ..BmvConfig::default()
    };
    exercise_absurd(&mut BmvModel::new(b, 0), &[(b":154\n".to_vec(), 5000)]);
    let m = MpptConfig {
        nominal_voltage: 0.0,
        battery_capacity_ah: 0.0,
        panel_peak_w: f64::INFINITY,
        charger_max_current_a: -5.0,
        time_of_day_h: f64::NAN,
        firmware: 0,
        ..MpptConfig::default()
    };
    exercise_absurd(&mut MpptModel::new(m, 0), &[(b":154\n".to_vec(), 5000)]);
}
