//! The gateway core against the simulator over PTYs: scheduling, lock groups, faults and
//! recovery, and setters through `sungate set`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use serde_json::json;
mod common;

use common::simulator;
use sungate::app::Gateway;
use sungate::core::bus::Event;
use sungate_drivers::driver::Command as DeviceCommand;
use tokio::sync::broadcast::Receiver;
use tokio::time::Instant;

/// Collect events for `dur`.
async fn collect(rx: &mut Receiver<Event>, dur: Duration) -> Vec<Event> {
    let end = Instant::now() + dur;
    let mut out = Vec::new();
    while let Ok(Ok(e)) = tokio::time::timeout_at(end, rx.recv()).await {
        out.push(e);
    }
    out
}

fn snapshots<'a>(events: &'a [Event], device: &str) -> Vec<&'a sungate_drivers::Reading> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Snapshot {
                device: d, reading, ..
            } if d == device => Some(reading.as_ref()),
            _ => None,
        })
        .collect()
}

fn availability(events: &[Event], device: &str) -> Vec<bool> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Availability {
                device: d, online, ..
            } if d == device => Some(*online),
            _ => None,
        })
        .collect()
}

const THREE: &str = r#"
[[port]]
name = "inv"
serial = "DIR/inverter"
timeout = 1.0
[[port]]
name = "bmv"
serial = "DIR/bmv"
[[port]]
name = "mppt"
serial = "DIR/mppt"
[[device]]
name = "inverter"
driver = "pi30"
port = "inv"
poll_interval = 0.5
queries = ["QPIGS", "QMOD", "QPIRI"]
[[device]]
name = "bmv"
driver = "vedirect"
port = "bmv"
poll_interval = 1.0
[[device]]
name = "mppt"
driver = "vedirect"
port = "mppt"
poll_interval = 3.0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_devices_are_polled_at_their_own_intervals_with_the_simulators_values() {
    let sim = simulator("", "three", 1.0).await;
    let gw = Gateway::start(&common::config(&sim, THREE));
    let mut rx = gw.bus.subscribe();
    let events = collect(&mut rx, Duration::from_millis(7000)).await;
    let (inv, bmv, mppt) = (
        snapshots(&events, "inverter"),
        snapshots(&events, "bmv"),
        snapshots(&events, "mppt"),
    );
    // 0.5 s / 1 s / 3 s over 7 s (minus identification and waiting for whole records)
    assert!(inv.len() >= 7, "inverter: {}", inv.len());
    assert!((3..=8).contains(&bmv.len()), "bmv: {}", bmv.len());
    assert!((1..=3).contains(&mppt.len()), "mppt: {}", mppt.len());
    assert!(inv.len() > bmv.len() && bmv.len() > mppt.len());
    for d in ["inverter", "bmv", "mppt"] {
        assert_eq!(availability(&events, d), [true], "{d}");
    }
    // values are the simulator's
    let state = sim.device("inverter").unwrap().describe();
    let last = inv.last().unwrap();
    let v = last
        .value("battery_voltage")
        .and_then(|v| v.as_f64())
        .unwrap();
    assert!(
        (v - state["state"]["battery_voltage"].as_f64().unwrap()).abs() < 1.0,
        "{v} vs {state}"
    );
    assert_eq!(
        last.value("qpiri_battery_voltage").and_then(|v| v.as_f64()),
        Some(48.0)
    );
    assert!(last.value("ac_output_apparent_power").is_some());
    let bmv_state = sim.device("bmv").unwrap().describe();
    let soc = bmv
        .last()
        .unwrap()
        .value("state_of_charge")
        .and_then(|v| v.as_f64())
        .unwrap();
    let sim_soc: f64 = bmv_state["state"]["text"]["main"]["SOC"]
        .as_str()
        .unwrap()
        .parse::<f64>()
        .unwrap()
        / 10.0;
    assert!((soc - sim_soc).abs() < 0.5, "{soc} vs {sim_soc}");
    let ppv = mppt
        .last()
        .unwrap()
        .value("panel_power")
        .and_then(|v| v.as_i64());
    assert!(ppv.is_some(), "{:?}", mppt.last());
    gw.shutdown().await;
    sim.shutdown().await;
}

const TWO_INTERFACES_SIM: &str = r#"
[[device]]
name = "inverter"
kind = "inverter"
reply_delay_ms = 30
[[device.interface]]
name = "serial"
kind = "pty"
[[device.interface]]
name = "usb"
kind = "pty"
"#;

fn two_interfaces_gateway(unit: bool) -> String {
    let unit = if unit { "unit = \"axpert\"" } else { "" };
    format!(
        r#"
[[port]]
name = "rs232"
serial = "DIR/inverter"
timeout = 1.0
{unit}
[[port]]
name = "usb"
serial = "DIR/inverter-usb"
timeout = 1.0
{unit}
[[device]]
name = "via-rs232"
driver = "pi30"
port = "rs232"
poll_interval = 0.1
queries = ["QPIGS", "QPIRI"]
[[device]]
name = "via-usb"
driver = "pi30"
port = "usb"
poll_interval = 0.1
queries = ["QPIGS", "QMOD"]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_lock_group_keeps_the_multi_interface_lockup_away() {
    // with the unit key: heavy polling of both interfaces plus commands, and no lockup
    let sim = simulator(TWO_INTERFACES_SIM, "unit", 1.0).await;
    let gw = Gateway::start(&common::config(&sim, &two_interfaces_gateway(true)));
    let mut rx = gw.bus.subscribe();
    let end = Instant::now() + Duration::from_secs(5);
    let mut commands = 0;
    while Instant::now() < end {
        let value = if commands % 2 == 0 {
            "sbu_first"
        } else {
            "solar_first"
        };
        let cmd = DeviceCommand::Set {
            name: "output_source_priority".into(),
            value: value.into(),
        };
        gw.execute("via-usb", cmd).await.unwrap();
        commands += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let events = collect(&mut rx, Duration::from_millis(100)).await;
    assert!(commands >= 10, "{commands}");
    let state = sim.device("inverter").unwrap().describe();
    assert_eq!(state["locked"], false, "lock group failed: {state}");
    let polls: usize = snapshots(&events, "via-rs232").len() + snapshots(&events, "via-usb").len();
    assert!(polls >= 10, "{polls} polls");
    gw.shutdown().await;
    sim.shutdown().await;

    // the same setup without the unit key locks the simulated inverter up
    let sim = simulator(TWO_INTERFACES_SIM, "nounit", 1.0).await;
    let gw = Gateway::start(&common::config(&sim, &two_interfaces_gateway(false)));
    let mut locked = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if sim.device("inverter").unwrap().lock().locked {
            locked = true;
            break;
        }
    }
    assert!(
        locked,
        "two interfaces polled without a lock group never locked the unit up"
    );
    gw.shutdown().await;
    sim.shutdown().await;
}

const ONE_INVERTER: &str = r#"
[[port]]
name = "inv"
serial = "DIR/inverter"
timeout = 0.5
[[device]]
name = "inverter"
driver = "pi30"
port = "inv"
poll_interval = 0.3
queries = ["QPIGS"]
"#;

/// Every published battery voltage must be a real one (the simulator's is 40..60 V).
fn assert_plausible(events: &[Event]) {
    for r in snapshots(events, "inverter") {
        let v = r.value("battery_voltage").and_then(|v| v.as_f64()).unwrap();
        assert!(
            (40.0..=62.0).contains(&v),
            "implausible value published: {v}"
        );
        let p = r
            .value("ac_output_active_power")
            .and_then(|v| v.as_i64())
            .unwrap();
        assert!((0..=6000).contains(&p), "implausible value published: {p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_take_the_device_offline_without_wrong_values_and_it_recovers_by_itself() {
    let sim = simulator("", "faults", 1.0).await;
    let device = sim.device("inverter").unwrap().clone();
    let gw = Gateway::start(&common::config(&sim, ONE_INVERTER));
    let mut rx = gw.bus.subscribe();
    let events = collect(&mut rx, Duration::from_secs(2)).await;
    assert_eq!(availability(&events, "inverter"), [true]);

    for (fault, value) in [
        ("corrupt_checksum", json!(true)),
        ("garbage_rate", json!(1.0)),
        ("nak", json!(true)),
        ("pi18", json!(true)),
        ("silent", json!(true)),
    ] {
        let mut faults = serde_json::to_value(sungate_sim::faults::Faults::default()).unwrap();
        faults[fault] = value;
        device
            .set_faults(serde_json::from_value(faults).unwrap())
            .unwrap();
        let during = collect(&mut rx, Duration::from_secs(4)).await;
        assert_plausible(&during);
        // at most one poll that was already under way may still succeed
        assert!(
            snapshots(&during, "inverter").len() <= 1,
            "{fault}: data published during the fault"
        );
        assert_eq!(availability(&during, "inverter"), [false], "{fault}");
        device.set_faults(Default::default()).unwrap();
        let after = collect(&mut rx, Duration::from_secs(4)).await;
        assert_plausible(&after);
        assert_eq!(
            availability(&after, "inverter"),
            [true],
            "{fault}: did not come back"
        );
        assert!(!snapshots(&after, "inverter").is_empty(), "{fault}");
    }

    // unplugged and plugged back in (a new PTY behind the symlink)
    device.set_plugged(None, false).unwrap();
    let during = collect(&mut rx, Duration::from_secs(3)).await;
    assert_eq!(availability(&during, "inverter"), [false], "disconnect");
    device.set_plugged(None, true).unwrap();
    let after = collect(&mut rx, Duration::from_secs(6)).await;
    assert_eq!(availability(&after, "inverter"), [true], "reconnect");
    assert_plausible(&after);
    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sungate_set_changes_the_setting_and_refuses_bad_values_before_writing() {
    let sim = simulator("", "set", 1.0).await;
    let port = sim.pty_dir.join("inverter").display().to_string();
    let device = sim.device("inverter").unwrap().clone();
    let requests =
        |d: &sungate_sim::device::Device| d.describe()["state"]["requests"].as_u64().unwrap();
    let set = |name: &str, value: &str| {
        let port = port.clone();
        let (name, value) = (name.to_owned(), value.to_owned());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_sungate"))
                .args(["set", "--port", &port, &name, &value])
                .output()
                .unwrap()
        })
    };
    let out = set("output_source_priority", "sbu_first").await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(result["verified"], true, "{result}");
    assert_eq!(result["sent"], "POP02");
    let state = device.describe();
    assert_eq!(
        state["state"]["settings"]["output_priority"],
        json!(2),
        "{}",
        state["state"]["settings"]
    );

    // out of range: refused before the port is even opened
    let before = requests(&device);
    let out = set("battery_bulk_charge_voltage", "99.0").await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("refused before sending") && stderr.contains("out of range"),
        "{stderr}"
    );
    assert_eq!(
        requests(&device),
        before,
        "something was sent to the inverter"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sungate_set_refuses_a_read_only_vedirect_register_before_writing() {
    let sim = simulator("", "set-ro", 1.0).await;
    let port = sim.pty_dir.join("mppt").display().to_string();
    let device = sim.device("mppt").unwrap().clone();
    // Seconds since the simulated MPPT last received a valid HEX frame (null: never).
    let last_hex =
        |d: &sungate_sim::device::Device| d.describe()["state"]["link"]["last_hex_s_ago"].clone();
    let set = |name: &str, value: &str| {
        let port = port.clone();
        let (name, value) = (name.to_owned(), value.to_owned());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_sungate"))
                .args([
                    "set",
                    "--port",
                    &port,
                    "--protocol",
                    "vedirect",
                    &name,
                    &value,
                ])
                .output()
                .unwrap()
        })
    };

    // Issue 11 finding 4: this used to go out as `:8BCED00...` and only the device refused it.
    for name in ["panel_power", "0xEDBC"] {
        let out = set(name, "5").await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains("refused before sending")
                && stderr.contains("panel_power (0xEDBC) is read-only"),
            "{name}: {stderr}"
        );
    }
    assert_eq!(
        last_hex(&device),
        serde_json::Value::Null,
        "a HEX frame reached the MPPT"
    );

    // A writable setting still goes through, and the simulator sees it (so the check above can
    // tell "nothing sent" from "not noticed").
    let out = set("float_voltage", "13.5").await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(result["sent"], ":8F6ED0046051F", "{result}");
    let state = device.describe();
    assert_eq!(
        state["state"]["settings"]["float_voltage_v"],
        json!(13.5),
        "{state}"
    );
    assert!(last_hex(&device).is_number(), "{state}");
    sim.shutdown().await;
}
