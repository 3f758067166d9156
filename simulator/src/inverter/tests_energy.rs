//! The inverter's energy: QET/QLT over the PI30 protocol (PI30MAX §2.23, §2.27; NAK from plain
//! PI30 firmware) and the integrals the control API tells (`energy.rs`), checked against the
//! replies as the drivers' decoders read them.

use std::time::Duration;

use serde_json::json;
use sungate_drivers::Reading;
use sungate_drivers::pi30::codec::{DecodeOptions, EncodeOptions, Reply, decode_reply};
use sungate_drivers::pi30::fields::{Variant as DecVariant, decode_frame};

use super::*;
use crate::energy::{
    BATTERY_CHARGED_ENERGY, BATTERY_DISCHARGED_ENERGY, Counter, LOAD_ENERGY, PV_ENERGY,
};

fn unit(protocol: Protocol, seed: u64) -> InverterModel {
    InverterModel::new(
        InverterConfig {
            protocol,
            start_time_of_day_h: 11.0,
            ..InverterConfig::default()
        },
        seed,
    )
}

fn request(m: &mut InverterModel, frame: &[u8]) -> Vec<u8> {
    match m.handle_request(frame) {
        Response::Reply(r) => r,
        Response::Silence => panic!("no reply to {:?}", String::from_utf8_lossy(frame)),
    }
}

fn pi30(m: &mut InverterModel, cmd: &str) -> Vec<u8> {
    request(
        m,
        &sungate_drivers::pi30::codec::encode_command(cmd, EncodeOptions::default()),
    )
}

fn read(m: &mut InverterModel, cmd: &str) -> Reading {
    let variant = match m.config().variant {
        Variant::Pi30 => DecVariant::Pi30,
        Variant::Max => DecVariant::Pi30Max,
    };
    let frame = pi30(m, cmd);
    decode_frame(cmd, &frame, variant, DecodeOptions::default())
        .unwrap_or_else(|e| panic!("{cmd}: {e}: {:?}", String::from_utf8_lossy(&frame)))
}

fn gs(m: &mut InverterModel) -> Reading {
    use sungate_drivers::pi18::Query;
    let frame = request(m, &Query::Gs.request());
    sungate_drivers::pi18::decode_frame(
        "GS",
        &frame,
        sungate_drivers::pi18::codec::DecodeOptions::default(),
    )
    .unwrap_or_else(|e| panic!("GS: {e}"))
}

fn num(r: &Reading, name: &str) -> f64 {
    r.value(name)
        .and_then(|v| v.as_f64())
        .unwrap_or_else(|| panic!("no numeric {name} in {r:?}"))
}

fn counter(m: &InverterModel, name: &str) -> Counter {
    m.energy()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no counter {name}"))
}

fn integral(m: &InverterModel, name: &str) -> f64 {
    counter(m, name).integral_kwh
}

fn device_kwh(m: &InverterModel, name: &str) -> f64 {
    counter(m, name)
        .device_kwh
        .unwrap_or_else(|| panic!("{name} has no device counter"))
}

/// Equal to floating-point accuracy (1e-9 relative).
fn assert_close(got: f64, want: f64, what: &str) {
    let tol = 1e-9 * got.abs().max(want.abs()) + 1e-15;
    assert!((got - want).abs() <= tol, "{what}: {got} != {want}");
}

/// The powers a gateway reads now, decoded from the personality's live-data replies: (PV W,
/// load W, charge W, discharge W).
fn reported(m: &mut InverterModel) -> (f64, f64, f64, f64) {
    let (pv, load, v, charge, discharge) = match m.protocol() {
        Protocol::Pi18 => {
            let r = gs(m);
            (
                num(&r, "pv1_input_power") + num(&r, "pv2_input_power"),
                num(&r, "ac_output_active_power"),
                num(&r, "battery_voltage"),
                num(&r, "battery_charging_current"),
                num(&r, "battery_discharge_current"),
            )
        }
        _ => {
            let r = read(m, "QPIGS");
            let pv = if m.config().variant == Variant::Max {
                num(&r, "pv1_charging_power") + num(&read(m, "QPIGS2"), "pv2_charging_power")
            } else {
                num(&r, "pv_input_power")
            };
            (
                pv,
                num(&r, "ac_output_active_power"),
                num(&r, "battery_voltage"),
                num(&r, "battery_charging_current"),
                num(&r, "battery_discharge_current"),
            )
        }
    };
    (pv, load, v * charge, v * discharge)
}

/// Batteries discharging into a 3 kW load with 1 kW of fixed PV: all the PV goes to the load,
/// so every reply shows exactly 1000 W of PV.
fn fixed_pv(protocol: Protocol) -> InverterModel {
    let mut m = unit(protocol, 3);
    m.set_env("grid_available", &json!(false)).unwrap();
    m.set_env("load_w", &json!(3000.0)).unwrap();
    m.set_env("pv_power_w", &json!(1000.0)).unwrap();
    m
}

#[test]
fn a_fixed_pv_power_integrates_to_p_times_t() {
    for protocol in [Protocol::Pi30, Protocol::Pi30Max, Protocol::Pi18] {
        // Whole-second steps, and the front end's 20 ms ticks.
        for (step, steps) in [
            (Duration::from_secs(1), 600u32),
            (Duration::from_millis(20), 30_000),
        ] {
            let mut m = fixed_pv(protocol);
            let qet_before = device_kwh(&m, PV_ENERGY);
            for i in 0..steps {
                m.advance(step);
                if i % 1000 == 0 {
                    assert_eq!(reported(&mut m).0, 1000.0, "{protocol:?} step {i}");
                }
            }
            let what = format!("{protocol:?} in steps of {step:?}");
            // 1000 W for 600 s.
            assert_close(integral(&m, PV_ENERGY), 1000.0 * 600.0 / 3.6e6, &what);
            // The unit's own counter runs on the true (unrounded) power: the same here, up to
            // the float error of adding small steps to a large lifetime count.
            let grown = device_kwh(&m, PV_ENERGY) - qet_before;
            let want = 1000.0 * 600.0 / 3.6e6;
            assert!((grown - want).abs() < 1e-6 * want, "{what}: {grown}");
            assert!(integral(&m, BATTERY_DISCHARGED_ENERGY) > 0.0, "{what}");
            assert_eq!(integral(&m, BATTERY_CHARGED_ENERGY), 0.0, "{what}");
            assert!(m.mode() == Mode::Battery, "{what}");
        }
    }
}

#[test]
fn each_integral_is_the_sum_of_the_reported_powers_of_the_steps() {
    for protocol in [
        Protocol::Pi30,
        Protocol::Pi30Max,
        Protocol::Pi18,
        Protocol::Pi17,
    ] {
        let mut m = unit(protocol, 5);
        let mut sums = [0.0f64; 4];
        let mut add = |p: (f64, f64, f64, f64), h: f64| {
            for (s, w) in sums.iter_mut().zip([p.0, p.1, p.2, p.3]) {
                *s += w * h;
            }
        };
        // Charging from PV and grid around noon, steps of different lengths; then the grid
        // fails and the battery carries the load.
        for i in 0..400u32 {
            let step = match i % 3 {
                0 => Duration::from_secs(1),
                1 => Duration::from_millis(370),
                _ => Duration::from_millis(20),
            };
            if i == 200 {
                m.set_env("grid_available", &json!(false)).unwrap();
                m.set_env("load_w", &json!(2500.0)).unwrap();
            }
            m.advance(step);
            // PI17 answers no live data: its integral follows what QPIGS would say.
            let p = if protocol == Protocol::Pi17 {
                let r = m.ctx().reported_powers();
                (r.pv_w, r.load_w, r.charged_w, r.discharged_w)
            } else {
                reported(&mut m)
            };
            add(p, step.as_secs_f64());
        }
        for (name, sum) in [
            PV_ENERGY,
            LOAD_ENERGY,
            BATTERY_CHARGED_ENERGY,
            BATTERY_DISCHARGED_ENERGY,
        ]
        .into_iter()
        .zip(sums)
        {
            assert!(sum > 0.0, "{protocol:?} {name}: nothing flowed");
            assert_close(
                integral(&m, name),
                sum / 3.6e6,
                &format!("{protocol:?} {name}"),
            );
        }
    }
}

#[test]
fn device_counters_follow_the_true_powers() {
    // Two hours around noon: the unit's counters (true powers) and the integrals (rounded
    // replies) differ by the rounding only.
    let mut m = unit(Protocol::Pi30Max, 9);
    let start = [device_kwh(&m, PV_ENERGY), device_kwh(&m, LOAD_ENERGY)];
    m.advance(Duration::from_secs(7200));
    for (i, name) in [PV_ENERGY, LOAD_ENERGY].into_iter().enumerate() {
        let grown = device_kwh(&m, name) - start[i];
        let integral = integral(&m, name);
        assert!(integral > 0.5, "{name}: {integral}");
        // Integer watts: at most half a watt per reading (two readings for PV on MAX).
        assert!(
            (grown - integral).abs() <= 2.0 * 0.5 * 7200.0 / 3.6e6,
            "{name}: device {grown} vs integral {integral}"
        );
    }
}

fn qet_kwh(m: &mut InverterModel, cmd: &str) -> f64 {
    let field = if cmd == "QET" {
        "pv_energy_total"
    } else {
        "load_energy_total"
    };
    num(&read(m, cmd), field)
}

#[test]
fn pi30max_answers_qet_and_qlt_with_its_counters() {
    let mut m = unit(Protocol::Pi30Max, 11);
    for (cmd, name, seeded) in [
        ("QET", PV_ENERGY, super::state::SEED_PV_ENERGY_KWH),
        ("QLT", LOAD_ENERGY, super::state::SEED_LOAD_ENERGY_KWH),
    ] {
        let kwh = qet_kwh(&mut m, cmd);
        // Whole Wh, truncated.
        assert_eq!(
            kwh,
            (device_kwh(&m, name) * 1000.0).floor() / 1000.0,
            "{cmd}"
        );
        assert!((seeded.0..seeded.1).contains(&kwh), "{cmd}: {kwh}");
        let Ok(Reply::Data(payload)) = decode_reply(&pi30(&mut m, cmd), DecodeOptions::default())
        else {
            panic!("{cmd}: no data")
        };
        assert_eq!(payload.len(), 8, "{payload:?}");
    }
    // An hour of 2 kW PV into a 1 kW load with the grid on: both counters grow.
    let (pv0, load0) = (qet_kwh(&mut m, "QET"), qet_kwh(&mut m, "QLT"));
    m.set_env("pv_power_w", &json!(2000.0)).unwrap();
    m.set_env("load_w", &json!(1000.0)).unwrap();
    m.advance(Duration::from_secs(3600));
    let pv = qet_kwh(&mut m, "QET") - pv0;
    let load = qet_kwh(&mut m, "QLT") - load0;
    assert!((0.5..=2.0).contains(&pv), "PV grew {pv} kWh");
    assert!((0.9..=1.1).contains(&load), "load grew {load} kWh");
    // Nothing more without PV at night.
    m.set_env("pv_power_w", &json!(0.0)).unwrap();
    let before = qet_kwh(&mut m, "QET");
    m.advance(Duration::from_secs(600));
    assert_eq!(qet_kwh(&mut m, "QET"), before);
}

#[test]
fn qet_and_qlt_differ_per_seed_and_replay_per_seed() {
    let kwh = |seed| qet_kwh(&mut unit(Protocol::Pi30Max, seed), "QET");
    assert_eq!(kwh(1), kwh(1));
    assert_ne!(kwh(1), kwh(2));
}

#[test]
fn other_personalities_refuse_qet_and_qlt_as_before() {
    for (protocol, want) in [
        (Protocol::Pi30, &b"(NAKss\r"[..]),
        (Protocol::Pi18, b"^0\x1b\xe3\r"),
        (Protocol::Pi17, b"^0\x1b\xe3\r"),
        (Protocol::Pi16, b"(NAKss\r"),
    ] {
        let mut m = unit(protocol, 1);
        m.advance(Duration::from_secs(60));
        for cmd in ["QET", "QLT"] {
            assert_eq!(pi30(&mut m, cmd), want, "{protocol:?} {cmd}");
        }
        // Their unit still keeps the counters (the control API tells them).
        assert!(device_kwh(&m, PV_ENERGY) > 0.0);
    }
}

#[test]
fn a_parallel_stack_tells_the_counters_of_the_unit_that_answers() {
    let mut m = InverterModel::new(
        InverterConfig {
            protocol: Protocol::Pi30Max,
            parallel_units: 2,
            start_time_of_day_h: 12.0,
            ..InverterConfig::default()
        },
        2,
    );
    m.advance(Duration::from_secs(60));
    let u0 = &m.units()[0];
    assert_eq!(device_kwh(&m, PV_ENERGY), u0.pv_energy_wh / 1000.0);
    assert_eq!(device_kwh(&m, LOAD_ENERGY), u0.load_energy_wh / 1000.0);
    assert_ne!(u0.pv_energy_wh, m.units()[1].pv_energy_wh);
    let qlt = qet_kwh(&mut m, "QLT");
    assert_eq!(qlt, (m.units()[0].load_energy_wh).floor() / 1000.0);
}
