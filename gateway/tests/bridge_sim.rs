//! The BMV -> MPPT bridge end to end: gateway and simulator over PTYs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

mod common;

use common::simulator;
use serde_json::{Value, json};
use sungate::app::Gateway;
use sungate_sim::device::Device;
use tokio::time::Instant;

fn gateway(sim: &sungate_sim::sim::Simulator, body: &str) -> Gateway {
    Gateway::start(&common::config(sim, body))
}

fn remote(device: &Device) -> Value {
    device.describe()["state"]["remote"].clone()
}

fn in_use(device: &Device) -> bool {
    let r = remote(device);
    r["temperature_in_use"] == true && r["voltage_in_use"] == true
}

/// Poll `cond` every 50 ms until it holds or `limit` passes; returns the time it took.
async fn within(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() <= limit {
        if cond() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

const BRIDGE: &str = r#"
[[port]]
name = "bmv"
serial = "DIR/bmv"
[[port]]
name = "mppt"
serial = "DIR/mppt"
[[device]]
name = "bmv"
driver = "vedirect"
port = "bmv"
poll_interval = 1.0
[[device]]
name = "mppt"
driver = "vedirect"
port = "mppt"
poll_interval = 5.0
[[bridge]]
name = "sense"
source = "bmv"
targets = ["mppt"]
refresh_interval = REFRESH
max_source_age = AGE
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mppt_uses_the_bmv_values_within_2_s_and_follows_a_temperature_change() {
    let sim = simulator("", "follow", 1.0).await;
    let bmv = sim.device("bmv").unwrap().clone();
    let mppt = sim.device("mppt").unwrap().clone();
    // the BMV's text reports T in whole °C; the bridge forwards what the BMV reports
    bmv.set_env("battery_temperature_c", &json!(18.0)).unwrap();
    let start = Instant::now();
    let gw = gateway(
        &sim,
        &BRIDGE.replace("REFRESH", "5.0").replace("AGE", "5.0"),
    );
    let took = within(Duration::from_secs(4), || in_use(&mppt)).await;
    assert!(
        took.is_some(),
        "remote values never in use: {}",
        remote(&mppt)
    );
    let elapsed = start.elapsed();
    eprintln!("remote values in use {elapsed:?} after start");
    assert!(
        elapsed <= Duration::from_secs(2),
        "in use after {elapsed:?}"
    );
    // equal to the BMV's values within the registers' resolution (0.01)
    let r = remote(&mppt);
    let bmv_t: f64 = bmv.describe()["state"]["text"]["main"]["T"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (r["temperature_c"].as_f64().unwrap() - bmv_t).abs() < 0.011,
        "{r} vs {bmv_t}"
    );
    let bmv_v: f64 = bmv.describe()["state"]["text"]["main"]["V"]
        .as_str()
        .unwrap()
        .parse::<f64>()
        .unwrap()
        / 1000.0;
    assert!(
        (r["voltage_v"].as_f64().unwrap() - bmv_v).abs() < 0.02,
        "{r} vs {bmv_v}"
    );

    // a change of the BMV's temperature reaches the MPPT within one refresh interval, and the
    // compensated charge voltage moves (colder battery: higher charge voltage)
    let before = mppt.describe()["state"]["charge_setpoint_v"]
        .as_f64()
        .unwrap();
    bmv.set_env("battery_temperature_c", &json!(1.0)).unwrap();
    let took = within(Duration::from_secs(5), || {
        (remote(&mppt)["temperature_c"].as_f64().unwrap_or(99.0) - 1.0).abs() < 0.011
    })
    .await;
    assert!(
        took.is_some(),
        "temperature change did not arrive: {}",
        remote(&mppt)
    );
    let after = mppt.describe()["state"]["charge_setpoint_v"]
        .as_f64()
        .unwrap();
    // -16.2 mV/K x -17 K ≈ +0.28 V
    assert!(after - before > 0.2, "charge voltage {before} -> {after}");
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_stay_fresh_for_10_simulated_minutes() {
    // 30 simulated seconds per real second: refresh every 1 s real = 30 s simulated, inside the
    // MPPT's 60 s timeout; 20 s real = 10 simulated minutes.
    let sim = simulator("", "fresh", 30.0).await;
    let mppt = sim.device("mppt").unwrap().clone();
    let gw = gateway(
        &sim,
        &BRIDGE.replace("REFRESH", "1.0").replace("AGE", "3.0"),
    );
    assert!(
        within(Duration::from_secs(4), || in_use(&mppt))
            .await
            .is_some(),
        "{}",
        remote(&mppt)
    );
    let sim_start = mppt.lock().sim_time;
    let mut samples = 0;
    while mppt.lock().sim_time - sim_start < Duration::from_secs(600) {
        let r = remote(&mppt);
        assert!(
            in_use(&mppt),
            "remote values expired at {:?} simulated: {r}",
            mppt.lock().sim_time - sim_start
        );
        samples += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(samples >= 60, "{samples}");
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bmv_unplugged_the_mppt_falls_back_and_the_bridge_resumes_by_itself() {
    let sim = simulator("", "unplug", 1.0).await;
    let bmv = sim.device("bmv").unwrap().clone();
    let mppt = sim.device("mppt").unwrap().clone();
    let gw = gateway(
        &sim,
        &BRIDGE.replace("REFRESH", "5.0").replace("AGE", "3.0"),
    );
    assert!(
        within(Duration::from_secs(4), || in_use(&mppt))
            .await
            .is_some()
    );
    let mut rx = gw.bus.subscribe();
    bmv.set_plugged(None, false).unwrap();
    // "not available" within the max age (3 s), long before the MPPT's own 60 s timeout
    let took = within(Duration::from_secs(5), || {
        let r = remote(&mppt);
        r["temperature_in_use"] == false && r["voltage_in_use"] == false
    })
    .await;
    assert!(
        took.is_some(),
        "MPPT still uses stale values: {}",
        remote(&mppt)
    );
    // the bridge says why
    let mut saw_state = false;
    while let Ok(e) = rx.try_recv() {
        if let sungate::core::bus::Event::Snapshot {
            device, reading, ..
        } = e
        {
            if device == "sense" {
                let state = reading
                    .value("source_state")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned();
                saw_state |= state == "stale" || state == "offline";
            }
        }
    }
    assert!(saw_state, "no stale/offline status published");
    bmv.set_plugged(None, true).unwrap();
    let took = within(Duration::from_secs(12), || in_use(&mppt)).await;
    assert!(took.is_some(), "bridge did not resume: {}", remote(&mppt));
    gw.shutdown().await;
    sim.shutdown().await;
}

const TWO_MPPTS_SIM: &str = r#"
[[device]]
name = "bmv"
kind = "bmv"
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
name = "mppt2"
kind = "mppt"
[device.mppt]
serial = "HQ2207XXXXX"
[[device.interface]]
name = "serial"
kind = "pty"
[[device]]
name = "old-mppt"
kind = "mppt"
[device.mppt]
remote_sense = false
firmware = 115
[[device.interface]]
name = "serial"
kind = "pty"
"#;

const TWO_MPPTS: &str = r#"
[[port]]
name = "bmv"
serial = "DIR/bmv"
[[port]]
name = "mppt"
serial = "DIR/mppt"
[[port]]
name = "mppt2"
serial = "DIR/mppt2"
[[port]]
name = "old"
serial = "DIR/old-mppt"
[[device]]
name = "bmv"
driver = "vedirect"
port = "bmv"
poll_interval = 1.0
[[device]]
name = "mppt"
driver = "vedirect"
port = "mppt"
[[device]]
name = "mppt2"
driver = "vedirect"
port = "mppt2"
[[device]]
name = "old-mppt"
driver = "vedirect"
port = "old"
[[bridge]]
name = "sense"
source = "bmv"
targets = ["mppt", "mppt2", "old-mppt"]
refresh_interval = 2.0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bmv_feeds_two_mppts_and_a_refusing_one_is_reported_not_retried() {
    let sim = simulator(TWO_MPPTS_SIM, "two", 1.0).await;
    let (m1, m2) = (
        sim.device("mppt").unwrap().clone(),
        sim.device("mppt2").unwrap().clone(),
    );
    let gw = gateway(&sim, TWO_MPPTS);
    let mut rx = gw.bus.subscribe();
    assert!(
        within(Duration::from_secs(5), || in_use(&m1) && in_use(&m2))
            .await
            .is_some()
    );
    // watch the bridge's status for a few refreshes
    let end = Instant::now() + Duration::from_secs(7);
    let mut statuses = Vec::new();
    while let Ok(Ok(e)) = tokio::time::timeout_at(end, rx.recv()).await {
        if let sungate::core::bus::Event::Snapshot {
            device, reading, ..
        } = e
        {
            if device == "sense" {
                statuses.push(reading);
            }
        }
    }
    let last = statuses.last().expect("no bridge status");
    for t in ["mppt", "mppt2"] {
        assert_eq!(
            last.value(&format!("{t}_temperature_acknowledged"))
                .and_then(|v| v.as_bool()),
            Some(true),
            "{last:?}"
        );
        assert_eq!(
            last.value(&format!("{t}_temperature_in_use"))
                .and_then(|v| v.as_bool()),
            Some(true),
            "{last:?}"
        );
    }
    assert_eq!(
        last.value("old-mppt_temperature_supported")
            .and_then(|v| v.as_bool()),
        Some(false),
        "{last:?}"
    );
    assert_eq!(
        last.value("old-mppt_voltage_supported")
            .and_then(|v| v.as_bool()),
        Some(false),
        "{last:?}"
    );
    // not retried: its "sent_at" never moves while the others' keeps being refreshed
    let sent_at = |r: &sungate_drivers::Reading, k: &str| r.value(k).and_then(|v| v.as_i64());
    let olds: Vec<_> = statuses
        .iter()
        .filter_map(|r| sent_at(r, "old-mppt_temperature_sent_at"))
        .collect();
    assert!(
        olds.windows(2).all(|w| w[0] == w[1]),
        "refusing target retried: {olds:?}"
    );
    let goods: Vec<_> = statuses
        .iter()
        .filter_map(|r| sent_at(r, "mppt_temperature_sent_at"))
        .collect();
    assert!(
        goods.first() < goods.last(),
        "good target not refreshed: {goods:?}"
    );
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sungate_bridge_command_runs_the_bridge_without_a_config_file() {
    let sim = simulator("", "cli", 1.0).await;
    let mppt = sim.device("mppt").unwrap().clone();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sungate"))
        .arg("bridge")
        .arg("--bmv")
        .arg(sim.pty_dir.join("bmv"))
        .arg("--mppt")
        .arg(sim.pty_dir.join("mppt"))
        .arg("--refresh")
        .arg("5")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let took = within(Duration::from_secs(5), || in_use(&mppt)).await;
    let _ = child.kill().await;
    assert!(
        took.is_some(),
        "sungate bridge did not make the MPPT use remote values: {}",
        remote(&mppt)
    );
    sim.shutdown().await;
}
