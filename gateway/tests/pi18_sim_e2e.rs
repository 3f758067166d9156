//! Issue 14, items 2 and 3, over the real binaries: `sungate query … identify` names the
//! protocol of simulated PI30, PI30 MAX, PI18, PI17 and PI16 units (and calls a VE.Direct port
//! unknown rather than guessing), and a PI18 inverter runs end to end: `sungate run` polls the
//! simulator's PI18 model, publishes its state over MQTT, and a setter sent over MQTT reaches
//! the simulated unit and is verified by read-back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod e2e;

use std::process::Command;

use e2e::{Broker, BrokerOptions, GatewayProcess, SimProcess, commander, subscriber};
use rumqttc::QoS;
use serde_json::Value as Json;

/// One simulated inverter per protocol (the example site in config/)...
const PROTOCOLS: &str = include_str!("../../config/sim-protocols.toml");
/// ...and a BMV, which no Voltronic probe may take for an inverter.
const BMV: &str = "[[device]]\nname = \"bmv\"\nkind = \"bmv\"\n[[device.interface]]\nname = \"serial\"\nkind = \"pty\"\n";

fn identify(port: &std::path::Path) -> Json {
    let out = Command::new(env!("CARGO_BIN_EXE_sungate"))
        .args(["query", "--port"])
        .arg(port)
        .arg("identify")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "identify {}: {e}: {text} {}",
            port.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_protocol_is_named_and_an_unknown_device_is_not_guessed() {
    let dir = e2e::scratch("identify");
    let sim = SimProcess::start(&dir, &format!("{PROTOCOLS}{BMV}")).await;
    for (device, protocol, supported, verdict) in [
        ("pi30", "PI30", true, "this unit speaks PI30: supported"),
        (
            "pi30max",
            "PI30 MAX",
            true,
            "this unit speaks PI30 MAX: supported",
        ),
        ("pi18", "PI18", true, "this unit speaks PI18: supported"),
        (
            "pi17",
            "PI17",
            false,
            "this unit speaks PI17: not supported yet",
        ),
        (
            "pi16",
            "PI16",
            false,
            "this unit speaks PI16: not supported yet",
        ),
    ] {
        let answer = identify(&sim.pty_dir.join(device));
        assert_eq!(answer["protocol"], protocol, "{device}: {answer}");
        assert_eq!(answer["supported"], supported, "{device}: {answer}");
        assert_eq!(answer["verdict"], verdict, "{device}: {answer}");
        // Only queries were sent: no setter while probing.
        for step in answer["transcript"].as_array().unwrap() {
            let probe = step["probe"].as_str().unwrap();
            assert!(
                ["^P005PI", "QPI", "QPIGS2", "^P003PI"]
                    .iter()
                    .any(|q| probe.starts_with(q)),
                "{device}: probe {probe}"
            );
        }
    }
    let bmv = identify(&sim.pty_dir.join("bmv"));
    assert_eq!(bmv["supported"], false, "{bmv}");
    assert!(
        bmv["verdict"].as_str().unwrap().starts_with("unknown"),
        "{bmv}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pi18_inverter_end_to_end() {
    let dir = e2e::scratch("pi18");
    let broker = Broker::start(&dir, BrokerOptions::default()).await;
    let mut rx = subscriber(&broker).await;
    let sim = SimProcess::start(
        &dir,
        "[[device]]\nname = \"inverter\"\nkind = \"inverter\"\n[device.inverter]\nprotocol = \"pi18\"\n[[device.interface]]\nname = \"serial\"\nkind = \"pty\"\n",
    )
    .await;
    let config = format!(
        r#"
[gateway]
name = "test"
[[port]]
name = "inv"
serial = "DIR/inverter"
timeout = 1.0
[[device]]
name = "inverter"
driver = "pi18"
port = "inv"
poll_interval = 0.5
queries = ["GS", "MOD", "FWS", "PIRI"]
[mqtt]
{}writes = true
[mqtt.allow]
inverter = ["output_source_priority"]
"#,
        broker.gateway_mqtt()
    );
    let _gw = GatewayProcess::start(&dir, &sim, &config, "pi18");
    // State: the simulator's PI18 model's values.
    let state = rx.wait_json("sungate/inverter/state", 20).await;
    let volts = state["battery_voltage"].as_f64().expect("a number");
    let sim_state = sim.device("inverter").await;
    let sim_volts = sim_state["state"]["battery_voltage"].as_f64().unwrap();
    assert!((volts - sim_volts).abs() < 0.5, "{volts} vs {sim_volts}");
    assert!(state["ac_output_active_power"].is_number(), "{state}");
    let disc = rx
        .wait_json(
            "homeassistant/sensor/sungate_test_inverter/battery_voltage/config",
            20,
        )
        .await;
    assert_eq!(disc["device"]["serial_number"], "92932309100452", "{disc}");

    // A setter over MQTT: validated, sent as POP, verified by PIRI, and the unit changed.
    let priority = |s: &Json| s["state"]["settings"]["output_priority"].as_u64().unwrap();
    let before = priority(&sim_state);
    // PI18 has solar_first (PI30 code 1) and sbu_first (2).
    let (word, code) = if before == 2 {
        ("solar_first", 1)
    } else {
        ("sbu_first", 2)
    };
    let client = commander(&broker).await;
    client
        .publish(
            "sungate/inverter/set/output_source_priority",
            QoS::AtLeastOnce,
            false,
            word,
        )
        .await
        .unwrap();
    let result = rx.wait_json("sungate/inverter/result", 20).await;
    assert_eq!(result["ok"], true, "{result}");
    assert!(
        result["detail"].as_str().unwrap().contains("verified"),
        "{result}"
    );
    assert_eq!(priority(&sim.device("inverter").await), code);
    // A value PI18 does not have is refused before anything is sent.
    client
        .publish(
            "sungate/inverter/set/output_source_priority",
            QoS::AtLeastOnce,
            false,
            "utility_first",
        )
        .await
        .unwrap();
    let refused = rx.wait_json("sungate/inverter/result", 20).await;
    assert_eq!(refused["ok"], false, "{refused}");
    assert_eq!(priority(&sim.device("inverter").await), code);
}
