//! Issue 14, item 1, over the real binaries: a simulated hour at 40 times real speed, with a
//! gateway restart (SIGTERM, start again on the same history) in the middle. Every energy
//! counter the gateway publishes over MQTT is compared with what the simulator's control API
//! tells (`GET /devices/{name}/energy`): a device's own counter with the simulator's exact
//! internal counter, an integrated counter's growth with the simulator's integral of the power
//! the device reports over the same wall-clock span. Counters never decrease, across the
//! restart too; discovery announces them for Home Assistant's energy dashboard; the dashboard's
//! energy per day comes from them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod e2e;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e::{Broker, BrokerOptions, GatewayProcess, SimProcess, subscriber};
use serde_json::Value as Json;
use sungate_tests::harness::http_request;

const SPEED: f64 = 40.0;
/// Real seconds before and after the restart: together a simulated hour.
const HALF: Duration = Duration::from_secs(45);

/// A PI30 MAX (QET/QLT: PV and load from the device) carrying a heavy load off grid (the
/// battery discharges), a plain PI30 (everything integrated) with a light one (the battery charges), an
/// MPPT (H19), a BMV (H17/H18) and a SmartShunt-like BMV without the history block (battery
/// energy integrated from its power).
fn site() -> String {
    format!(
        r#"speed = {SPEED}
[[device]]
name = "max"
kind = "inverter"
[device.inverter]
protocol = "pi30max"
serial = "96332309100452"
[[device.interface]]
name = "serial"
kind = "pty"

[[device]]
name = "axpert"
kind = "inverter"
[device.inverter]
protocol = "pi30"
serial = "92932004102453"
[[device.interface]]
name = "serial"
kind = "pty"

[[device]]
name = "mppt"
kind = "mppt"
[[device.interface]]
name = "serial"
kind = "pty"

[[device]]
name = "bmv"
kind = "bmv"
[[device.interface]]
name = "serial"
kind = "pty"

[[device]]
name = "shunt"
kind = "bmv"
[device.bmv]
history_block = false
[[device.interface]]
name = "serial"
kind = "pty"
"#
    )
}

fn gateway_config(broker: &Broker, dir: &std::path::Path, http_port: u16) -> String {
    let mut c = String::from("[gateway]\nname = \"test\"\n");
    for name in ["max", "axpert", "mppt", "bmv", "shunt"] {
        c.push_str(&format!(
            "[[port]]\nname = \"{name}\"\nserial = \"DIR/{name}\"\ntimeout = 1.0\n"
        ));
    }
    for (name, queries) in [
        ("max", r#"["QPIGS", "QPIGS2", "QET", "QLT"]"#),
        ("axpert", r#"["QPIGS", "QET", "QLT"]"#),
    ] {
        c.push_str(&format!(
            "[[device]]\nname = \"{name}\"\ndriver = \"pi30\"\nport = \"{name}\"\npoll_interval = 0.5\nqueries = {queries}\n"
        ));
    }
    for name in ["mppt", "bmv", "shunt"] {
        c.push_str(&format!(
            "[[device]]\nname = \"{name}\"\ndriver = \"vedirect\"\nport = \"{name}\"\npoll_interval = 0.5\n"
        ));
    }
    c.push_str(&format!(
        "[mqtt]\n{}\n[http]\nbind = \"127.0.0.1:{http_port}\"\n[history]\npath = \"{}\"\nflush_interval = 1\n",
        broker.gateway_mqtt(),
        dir.join("history.db").display()
    ));
    c
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64
}

/// The simulator's counters over time: (unix ms, device -> counter -> its JSON).
type Samples = Vec<(f64, BTreeMap<String, Json>)>;

/// `key` of `counter` of `device` at `t_ms`, interpolated between the samples around it.
fn sim_at(samples: &Samples, device: &str, counter: &str, key: &str, t_ms: f64) -> f64 {
    let value = |s: &(f64, BTreeMap<String, Json>)| {
        s.1[device]["counters"][counter][key]
            .as_f64()
            .unwrap_or_else(|| panic!("{device}/{counter}/{key}: {}", s.1[device]))
    };
    let after = samples
        .iter()
        .position(|s| s.0 >= t_ms)
        .unwrap_or_else(|| panic!("no simulator sample after {t_ms}"));
    assert!(after > 0, "no simulator sample before {t_ms}");
    let (a, b) = (&samples[after - 1], &samples[after]);
    let f = if b.0 > a.0 {
        (t_ms - a.0) / (b.0 - a.0)
    } else {
        0.0
    };
    value(a) + (value(b) - value(a)) * f
}

/// One published state: its time (unix ms) and the message.
fn states(messages: &[(String, String)], device: &str) -> Vec<(f64, Json)> {
    let topic = format!("sungate/{device}/state");
    let mut out: Vec<(f64, Json)> = messages
        .iter()
        .filter(|(t, _)| *t == topic)
        .map(|(_, p)| {
            let j: Json = serde_json::from_str(p).unwrap();
            (j["timestamp"].as_f64().unwrap() * 1000.0, j)
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn energy_counters_match_the_simulator_across_a_restart() {
    let dir = e2e::scratch("energy");
    let broker = Broker::start(&dir, BrokerOptions::default()).await;
    let mut rx = subscriber(&broker).await;
    let sim = Arc::new(SimProcess::start(&dir, &site()).await);
    // Heavy load on the MAX, off grid (its battery discharges), light load on the plain PI30
    // before noon (its battery charges).
    sim.call(
        "POST",
        "/devices/max/env",
        Some(serde_json::json!({"load_w": 3500.0, "grid_available": false})),
    )
    .await;
    sim.call(
        "POST",
        "/devices/axpert/env",
        Some(serde_json::json!({"load_w": 300.0, "time_of_day_h": 11.0})),
    )
    .await;
    // The simulator's counters, sampled every 100 ms until the end.
    let samples: Arc<Mutex<Samples>> = Arc::default();
    let sampling = {
        let (sim, samples) = (sim.clone(), samples.clone());
        tokio::spawn(async move {
            loop {
                let mut all = BTreeMap::new();
                for d in ["max", "axpert", "mppt", "bmv", "shunt"] {
                    all.insert(
                        d.to_owned(),
                        sim.call("GET", &format!("/devices/{d}/energy"), None).await,
                    );
                }
                samples.lock().unwrap().push((now_ms(), all));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let http_port = e2e::free_port();
    let config = gateway_config(&broker, &dir, http_port);
    let mut first = GatewayProcess::start(&dir, &sim, &config, "energy-1");
    tokio::time::sleep(HALF).await;
    let status = first.terminate().await;
    assert!(status.success(), "{status}: {}", first.log_text());
    let restarted_at = now_ms();
    let second = GatewayProcess::start(&dir, &sim, &config, "energy-2");
    tokio::time::sleep(HALF).await;
    // What the dashboard gets: energy per day from the counters.
    let addr = format!("127.0.0.1:{http_port}").parse().unwrap();
    let (code, body) = http_request(addr, "GET", "/api/devices/max/energy?days=2", &[], "")
        .await
        .unwrap();
    assert_eq!(code, 200, "{body}");
    let day: Json = serde_json::from_str(&body).unwrap();
    let messages = rx.collect("sungate/", 2).await;
    let discovery = rx.collect("homeassistant/", 0).await;
    sampling.abort();
    let samples = samples.lock().unwrap().clone();
    let log = second.log_text();
    assert!(
        log.contains("energy counters restored from the history"),
        "{log}"
    );

    let expected: &[(&str, &[(&str, &str)])] = &[
        (
            "max",
            &[
                ("pv_energy", "device"),
                ("load_energy", "device"),
                ("battery_charged_energy", "integrated"),
                ("battery_discharged_energy", "integrated"),
            ],
        ),
        (
            "axpert",
            &[
                ("pv_energy", "integrated"),
                ("load_energy", "integrated"),
                ("battery_charged_energy", "integrated"),
                ("battery_discharged_energy", "integrated"),
            ],
        ),
        ("mppt", &[("pv_energy", "device")]),
        (
            "bmv",
            &[
                ("battery_charged_energy", "device"),
                ("battery_discharged_energy", "device"),
            ],
        ),
        (
            "shunt",
            &[
                ("battery_charged_energy", "integrated"),
                ("battery_discharged_energy", "integrated"),
            ],
        ),
    ];
    let mut report = String::new();
    for (device, counters) in expected {
        let published = states(&messages, device);
        assert!(
            published.len() > 100,
            "{device}: {} states",
            published.len()
        );
        let before = published.iter().filter(|(t, _)| *t < restarted_at).count();
        assert!(
            before > 40 && published.len() - before > 40,
            "{device}: states on both sides of the restart"
        );
        for (counter, source) in *counters {
            // Every state has the counter, with its source; it never decreases.
            let values: Vec<(f64, f64)> = published
                .iter()
                .filter(|(_, s)| s.get(*counter).is_some())
                .map(|(t, s)| {
                    assert_eq!(
                        s[format!("{counter}_source")],
                        *source,
                        "{device}/{counter}: {s}"
                    );
                    (*t, s[*counter].as_f64().unwrap())
                })
                .collect();
            assert!(
                values.len() + 3 >= published.len(),
                "{device}/{counter} missing from states"
            );
            for w in values.windows(2) {
                assert!(
                    w[1].1 >= w[0].1,
                    "{device}/{counter} went down from {} to {} at {}",
                    w[0].1,
                    w[1].1,
                    w[1].0
                );
            }
            // Across the restart: what the simulator says happened in the gap, neither lost
            // nor counted twice (the device's counter to its resolution; the integral
            // bridged by one trapezoid).
            let after = values.iter().position(|(t, _)| *t > restarted_at).unwrap();
            let ((ta, va), (tb, vb)) = (values[after - 1], values[after]);
            let key = if *source == "device" {
                "device_kwh"
            } else {
                "wall_integral_kwh"
            };
            let sim_gap = sim_at(&samples, device, counter, key, tb)
                - sim_at(&samples, device, counter, key, ta);
            let slack = if *source == "device" { 0.011 } else { 2e-5 };
            assert!(
                ((vb - va) - sim_gap).abs() <= (sim_gap * 0.05).max(slack),
                "{device}/{counter} across the restart ({:.1} s): {va} -> {vb}, the simulator {sim_gap}",
                (tb - ta) / 1000.0
            );
            let (t0, v0) = values[0];
            let (t1, v1) = values[values.len() - 1];
            let grew = v1 - v0;
            if *source == "device" {
                // The device's own counter: the simulator's exact internal one, to the device's
                // resolution (0.01 kWh for VE.Direct, 1 Wh for QET/QLT).
                let exact = sim_at(&samples, device, counter, "device_kwh", t1);
                let exact0 = sim_at(&samples, device, counter, "device_kwh", t0);
                let resolution = if device.starts_with("max") {
                    0.001
                } else {
                    0.01
                };
                // The counter was read during the poll that ended at the state's timestamp
                // (at most a poll interval, 0.5 s, before it).
                let poll_start = sim_at(&samples, device, counter, "device_kwh", t1 - 500.0);
                assert!(
                    (v1 - exact).abs() <= exact * 0.01
                        && v1 >= poll_start - resolution - 1e-9
                        && v1 <= exact + resolution + 1e-9,
                    "{device}/{counter}: published {v1} vs simulator {poll_start}..{exact}"
                );
                let sim_grew = exact - exact0;
                assert!(
                    (grew - sim_grew).abs() <= (sim_grew * 0.01).max(2.0 * resolution),
                    "{device}/{counter}: grew {grew} vs simulator {sim_grew}"
                );
                report.push_str(&format!(
                    "{device}/{counter} (device): {v1:.4} kWh vs {exact:.4}, grew {grew:.4} vs {sim_grew:.4}\n"
                ));
            } else {
                // Integrated over wall-clock time: the simulator's integral of the reported
                // power over the same span, restart included.
                let sim_grew = sim_at(&samples, device, counter, "wall_integral_kwh", t1)
                    - sim_at(&samples, device, counter, "wall_integral_kwh", t0);
                let error = (grew - sim_grew).abs();
                // 1 % (a counter that does not move: 10 mWh).
                assert!(
                    error <= (sim_grew * 0.01).max(1e-5),
                    "{device}/{counter}: grew {grew} kWh vs the simulator's {sim_grew} kWh"
                );
                report.push_str(&format!(
                    "{device}/{counter} (integrated): grew {grew:.6} kWh vs {sim_grew:.6} ({:+.3} %)\n",
                    if sim_grew > 0.0 {
                        (grew - sim_grew) / sim_grew * 100.0
                    } else {
                        0.0
                    }
                ));
            }
            // Discovery: what Home Assistant's energy dashboard needs, and the source as an
            // attribute (not an entity of its own).
            let topic = format!("homeassistant/sensor/sungate_test_{device}/{counter}/config");
            let config: Json = discovery
                .iter()
                .find(|(t, _)| *t == topic)
                .map(|(_, p)| serde_json::from_str(p).unwrap())
                .unwrap_or_else(|| panic!("no discovery on {topic}"));
            assert_eq!(config["device_class"], "energy", "{config}");
            assert_eq!(config["state_class"], "total_increasing", "{config}");
            assert_eq!(config["unit_of_measurement"], "kWh", "{config}");
            assert_eq!(
                config["json_attributes_topic"],
                format!("sungate/{device}/state"),
                "{config}"
            );
            assert!(
                config["json_attributes_template"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("{counter}_source")),
                "{config}"
            );
            assert!(
                !discovery
                    .iter()
                    .any(|(t, _)| t.ends_with(&format!("/{counter}_source/config"))),
                "the source is an attribute, not an entity"
            );
        }
    }
    // A significant amount went through the counters that matter (not zero against zero).
    let last = |device: &str, counter: &str| {
        sim_at(
            &samples,
            device,
            counter,
            "wall_integral_kwh",
            samples[samples.len() - 1].0,
        ) - sim_at(&samples, device, counter, "wall_integral_kwh", samples[1].0)
    };
    assert!(last("max", "battery_discharged_energy") > 0.01, "{report}");
    assert!(last("axpert", "pv_energy") > 0.005, "{report}");
    assert!(last("axpert", "load_energy") > 0.005, "{report}");
    // The dashboard's energy per day: today's bar is what the PV counter grew by today.
    assert_eq!(day["field"], "pv_energy", "{day}");
    let today = day["days"].as_array().unwrap().last().cloned().unwrap();
    assert!(today["kwh"].as_f64().unwrap() > 0.0, "{day}");
    println!("{report}");
}
