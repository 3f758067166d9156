//! The VE.Direct devices' energy counters ([`crate::energy`]): the integrals equal the sums of
//! the text fields a client receives, one block per second, and sit next to the devices' own
//! counters (BMV H17/H18, MPPT H19).

use serde_json::json;

use super::tests_common::{Unit, blocks, get, labels, run};
use super::{BmvConfig, BmvModel, MpptConfig, MpptModel, VeDevice};
use crate::energy::{
    BATTERY_CHARGED_ENERGY, BATTERY_DISCHARGED_ENERGY, Counter, PANEL_ENERGY, PV_ENERGY,
};

fn find(counters: &[Counter], name: &str) -> Counter {
    counters
        .iter()
        .find(|c| c.name == name)
        .copied()
        .unwrap_or_else(|| panic!("no counter {name} in {counters:?}"))
}

fn field(block: &[(String, String)], label: &str) -> f64 {
    get(block, label)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no numeric {label} in {block:?}"))
}

/// `seconds` of output, read a minute at a time (the device's output queue is bounded, like a
/// serial driver's buffer).
fn run_long(dev: &mut impl VeDevice, seconds: u64) -> Vec<Unit> {
    (0..seconds.div_ceil(60))
        .flat_map(|i| run(dev, 60.min(seconds - 60 * i)))
        .collect()
}

/// The main blocks (those with `P` for a BMV, `V` for an MPPT).
fn main_blocks(units: &[Unit], label: &str) -> Vec<Vec<(String, String)>> {
    blocks(units)
        .into_iter()
        .filter(|b| get(b, label).is_some())
        .cloned()
        .collect()
}

/// Sum over the blocks of (charging W, discharging W), from `P`, times one second each.
fn bmv_sums(blocks: &[Vec<(String, String)>]) -> (f64, f64) {
    blocks.iter().fold((0.0, 0.0), |(c, d), b| {
        let p = field(b, "P");
        (c + p.max(0.0), d + (-p).max(0.0))
    })
}

#[test]
fn bmv_integrals_are_the_sums_of_p() {
    for history_block in [true, false] {
        let mut m = BmvModel::new(
            BmvConfig {
                history_block,
                ..BmvConfig::default()
            },
            4,
        );
        let before = m.energy();
        // Discharging at the default 4 A, then charging at 20 A.
        let mut units = run_long(&mut m, 600);
        m.set_env("charge_current_a", &json!(24.0)).unwrap();
        units.extend(run_long(&mut m, 600));
        let main = main_blocks(&units, "P");
        assert_eq!(main.len(), 1200, "one main block per second");
        let has_history = blocks(&units).iter().any(|b| labels(b).contains(&"H18"));
        assert_eq!(has_history, history_block);
        let (charged_j, discharged_j) = bmv_sums(&main);
        let after = m.energy();
        for (name, joules) in [
            (BATTERY_CHARGED_ENERGY, charged_j),
            (BATTERY_DISCHARGED_ENERGY, discharged_j),
        ] {
            assert!(joules > 0.0, "{name}");
            // Whole watts for whole seconds: exact.
            assert_eq!(find(&after, name).integral_kwh, joules / 3.6e6, "{name}");
            // H17/H18 (kWh, in the device) grew by about as much.
            let grown = find(&after, name).device_kwh.unwrap_or_default()
                - find(&before, name).device_kwh.unwrap_or_default();
            let integral = find(&after, name).integral_kwh;
            assert!(
                (grown - integral).abs() < 0.02 * integral,
                "{name}: device {grown} vs integral {integral}"
            );
        }
    }
}

#[test]
fn a_reset_restores_the_device_but_not_the_observers_integrals() {
    let mut m = BmvModel::new(BmvConfig::default(), 4);
    let seeded = find(&m.energy(), BATTERY_DISCHARGED_ENERGY).device_kwh;
    run(&mut m, 300);
    let integral = find(&m.energy(), BATTERY_DISCHARGED_ENERGY).integral_kwh;
    assert!(integral > 0.0);
    m.reset();
    let after = find(&m.energy(), BATTERY_DISCHARGED_ENERGY);
    assert_eq!(after.device_kwh, seeded);
    assert_eq!(after.integral_kwh, integral);

    let mut m = MpptModel::new(MpptConfig::default(), 4);
    run(&mut m, 300);
    let integral = find(&m.energy(), PV_ENERGY).integral_kwh;
    assert!(integral > 0.0);
    m.reset();
    assert_eq!(find(&m.energy(), PV_ENERGY).integral_kwh, integral);
}

#[test]
fn mppt_integrals_are_the_sums_of_the_text_fields() {
    for load_output in [false, true] {
        let mut m = MpptModel::new(
            MpptConfig {
                load_output,
                ..MpptConfig::default()
            },
            6,
        );
        if load_output {
            m.set_env("load_output_a", &json!(5.0)).unwrap();
        }
        let before = m.energy();
        let units = run_long(&mut m, 1800);
        let main = main_blocks(&units, "V");
        assert_eq!(main.len(), 1800);
        // Charger output: V × (I + IL), as the text shows them.
        let out_j: f64 = main
            .iter()
            .map(|b| {
                let il = get(b, "IL").map_or(0.0, |_| field(b, "IL"));
                field(b, "V") / 1000.0 * ((field(b, "I") + il) / 1000.0)
            })
            .sum();
        let ppv_j: f64 = main.iter().map(|b| field(b, "PPV")).sum();
        let after = m.energy();
        let pv = find(&after, PV_ENERGY);
        let what = format!("load output {load_output}");
        assert!(out_j > 0.0, "{what}");
        let tol = 1e-9 * out_j / 3.6e6;
        assert!(
            (pv.integral_kwh - out_j / 3.6e6).abs() <= tol,
            "{what}: {} vs {}",
            pv.integral_kwh,
            out_j / 3.6e6
        );
        assert_eq!(find(&after, PANEL_ENERGY).integral_kwh, ppv_j / 3.6e6);
        assert_eq!(find(&after, PANEL_ENERGY).device_kwh, None);
        // H19 is the device counter in hundredths of kWh, and it counts what the integral
        // integrates (measurement noise and rounding aside).
        let last = main.last().unwrap_or_else(|| panic!("no block"));
        let device = pv.device_kwh.unwrap_or_default();
        assert_eq!(field(last, "H19"), (device * 100.0).round());
        let grown = device - find(&before, PV_ENERGY).device_kwh.unwrap_or_default();
        assert!(
            (grown - pv.integral_kwh).abs() < 0.01 * grown,
            "{what}: H19 grew {grown}, integral {}",
            pv.integral_kwh
        );
        // The panel gives more than the charger delivers (its losses).
        assert!(find(&after, PANEL_ENERGY).integral_kwh > pv.integral_kwh);
    }
}
