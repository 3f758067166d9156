//! Energy over the real binaries' paths: the PI30 driver polls QET/QLT from a `pi30max` unit
//! through its PTY (and is refused by a plain `pi30` one), and `GET /devices/{name}/energy`
//! tells the counters and the integrals, with the wall-clock share at the simulator's speed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{http, open, start};
use serde_json::Value;
use sungate_drivers::driver::Driver;
use sungate_drivers::pi30::Query;
use sungate_drivers::pi30::driver::{Pi30Driver, Pi30Options};

const FIVE: &str = include_str!("../../config/sim-protocols.toml");
const SPEED: f64 = 30.0;

fn driver() -> Pi30Driver {
    Pi30Driver::new(Pi30Options {
        queries: vec![Query::Qpigs, Query::Qet, Query::Qlt],
        reply_timeout: Duration::from_secs(2),
        ..Pi30Options::default()
    })
}

async fn counters(sim: &sungate_sim::sim::Simulator, name: &str) -> Value {
    let (status, body) = http(sim, "GET", &format!("/devices/{name}/energy"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], name);
    assert_eq!(body["speed"], SPEED);
    assert!(body["sim_time_s"].as_f64().unwrap() >= 0.0, "{body}");
    body["counters"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pi30max_counters_reach_the_driver_and_the_control_api() {
    let sim = start(FIVE, "energy", SPEED).await;

    // The MAX unit answers both counters; they are what the control API calls device_kwh.
    let mut link = open(&sim, "pi30max");
    let mut d = driver();
    d.identify(&mut link).await.unwrap();
    let flat = d.poll(&mut link).await.unwrap().flatten();
    let pv = flat.value("pv_energy_total").unwrap().as_f64().unwrap();
    let load = flat.value("load_energy_total").unwrap().as_f64().unwrap();
    assert_eq!(flat.get("pv_energy_total").unwrap().unit, Some("kWh"));
    let c = counters(&sim, "pi30max").await;
    for (name, polled) in [("pv_energy", pv), ("load_energy", load)] {
        let device = c[name]["device_kwh"].as_f64().unwrap();
        // Polled first, truncated to whole Wh; the counter only grows since.
        assert!(
            polled <= device && device - polled < 1.0,
            "{name}: {polled} {device}"
        );
    }
    for name in [
        "pv_energy",
        "load_energy",
        "battery_charged_energy",
        "battery_discharged_energy",
    ] {
        let integral = c[name]["integral_kwh"].as_f64().unwrap();
        let wall = c[name]["wall_integral_kwh"].as_f64().unwrap();
        assert!(integral >= 0.0, "{name}: {c}");
        // serde_json's default float parsing may be off by an ulp: not a bit-exact compare.
        assert!(
            (wall - integral / SPEED).abs() <= 1e-12 * wall.abs(),
            "{name}: {wall} vs {integral} / {SPEED}"
        );
    }
    assert_eq!(c["battery_charged_energy"]["device_kwh"], Value::Null);

    // The load keeps flowing: a later poll shows a grown load counter.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let flat = d.poll(&mut link).await.unwrap().flatten();
    let later = flat.value("load_energy_total").unwrap().as_f64().unwrap();
    assert!(later > load, "{load} -> {later}");
    let c = counters(&sim, "pi30max").await;
    assert!(
        c["load_energy"]["integral_kwh"].as_f64().unwrap() > 0.0,
        "{c}"
    );

    // The same counters in the device description (without the wall-clock values).
    let (_, body) = http(&sim, "GET", "/devices/pi30max", None).await;
    assert!(
        body["energy"]["pv_energy"]["integral_kwh"].is_number(),
        "{body}"
    );
    assert!(
        body["energy"]["pv_energy"]
            .get("wall_integral_kwh")
            .is_none()
    );

    // Plain PI30 firmware refuses both: published without them, then no longer asked.
    let mut link = open(&sim, "pi30");
    let mut d = driver();
    for _ in 0..3 {
        let flat = d.poll(&mut link).await.unwrap().flatten();
        assert!(flat.get("battery_voltage").is_some());
        assert!(flat.get("pv_energy_total").is_none());
    }
    assert_eq!(d.unsupported_queries(), [Query::Qet, Query::Qlt]);

    let (status, _) = http(&sim, "GET", "/devices/nothing/energy", None).await;
    assert_eq!(status, 404);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vedirect_devices_tell_their_counters() {
    let sim = start("", "energy-ve", SPEED).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bmv = counters(&sim, "bmv").await;
    for name in ["battery_charged_energy", "battery_discharged_energy"] {
        assert!(bmv[name]["device_kwh"].as_f64().unwrap() > 0.0, "{bmv}");
    }
    // The default BMV discharges at 4 A.
    assert!(
        bmv["battery_discharged_energy"]["integral_kwh"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let mppt = counters(&sim, "mppt").await;
    assert!(
        mppt["pv_energy"]["device_kwh"].as_f64().unwrap() > 0.0,
        "{mppt}"
    );
    assert_eq!(mppt["panel_energy"]["device_kwh"], Value::Null);
    sim.shutdown().await;
}
