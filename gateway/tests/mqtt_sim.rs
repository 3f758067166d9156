//! MQTT end to end, needing nothing but Rust: an embedded broker (rumqttd) on 127.0.0.1, the
//! simulator over PTYs, the gateway with `[mqtt]`, and a subscriber that sees what HA would see.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::simulator;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value as Json;
use sungate::runtime::Gateway;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Start rumqttd on a free port; it runs on its own threads until the test process exits.
fn broker() -> u16 {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = rumqttd::ServerSettings {
        name: "v4".into(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: rumqttd::ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 64 * 1024,
            max_inflight_count: 500,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 50,
            max_outgoing_packet_count: 1000,
            max_segment_size: 1024 * 1024,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some(HashMap::from([("v4".to_owned(), server)])),
        ..Default::default()
    };
    std::thread::spawn(move || {
        let mut broker = rumqttd::Broker::new(config);
        let _ = broker.start();
    });
    for _ in 0..100 {
        if TcpStream::connect(listen).is_ok() {
            return port;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("rumqttd did not start on {listen}");
}

/// A subscriber on `#`: every message as (topic, payload, retained).
async fn subscriber(port: u16) -> Inbox {
    let mut o = MqttOptions::new("test-subscriber", "127.0.0.1", port);
    o.set_max_packet_size(256 * 1024, 256 * 1024);
    let (client, mut eventloop) = AsyncClient::new(o, 64);
    client.subscribe("#", QoS::AtLeastOnce).await.unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let _client = client;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let payload = String::from_utf8_lossy(&p.payload).into_owned();
                    if tx.send((p.topic, payload)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    Inbox {
        rx,
        seen: Vec::new(),
    }
}

/// A client that publishes test commands.
async fn publisher(port: u16) -> AsyncClient {
    let (client, mut eventloop) =
        AsyncClient::new(MqttOptions::new("test-commander", "127.0.0.1", port), 16);
    tokio::spawn(async move {
        loop {
            if eventloop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    client
}

/// Every message the subscriber saw that no wait has consumed yet.
struct Inbox {
    rx: mpsc::UnboundedReceiver<(String, String)>,
    seen: Vec<(String, String)>,
}

impl Inbox {
    /// Forget what arrived so far (before a change whose effect the test waits for).
    fn clear(&mut self) {
        while let Ok(m) = self.rx.try_recv() {
            self.seen.push(m);
        }
        self.seen.clear();
    }

    /// The first message on `topic` whose payload passes `pred`, already seen or within `secs`.
    async fn wait_for(&mut self, topic: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        if let Some(i) = self.seen.iter().position(|(t, p)| t == topic && pred(p)) {
            return self.seen.remove(i).1;
        }
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            match tokio::time::timeout_at(end, self.rx.recv()).await {
                Ok(Some((t, p))) if t == topic && pred(&p) => return p,
                Ok(Some(m)) => self.seen.push(m),
                _ => panic!("nothing matching on {topic} within {secs} s"),
            }
        }
    }
}

fn gateway_config(port: u16, mqtt_extra: &str) -> String {
    format!(
        r#"
[gateway]
name = "test"
[[port]]
name = "inv"
serial = "DIR/inverter"
timeout = 1.0
[[device]]
name = "inverter"
driver = "pi30"
port = "inv"
poll_interval = 0.5
queries = ["QPIGS", "QMOD", "QPIRI"]
[mqtt]
host = "127.0.0.1"
port = {port}
{mqtt_extra}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_discovery_state_and_availability() {
    let port = broker();
    let mut rx = subscriber(port).await;
    let sim = simulator("", "mqtt-disc", 1.0).await;
    let gw = Gateway::start(&common::config(&sim, &gateway_config(port, "")));

    rx.wait_for("sungate/gateway/availability", 10, |p| p == "online")
        .await;
    let disc = rx
        .wait_for(
            "homeassistant/sensor/sungate_test_inverter/battery_voltage/config",
            15,
            |_| true,
        )
        .await;
    let disc: Json = serde_json::from_str(&disc).unwrap();
    assert_eq!(disc["unit_of_measurement"], "V", "{disc}");
    assert_eq!(disc["device_class"], "voltage", "{disc}");
    assert_eq!(disc["state_class"], "measurement", "{disc}");
    assert_eq!(disc["state_topic"], "sungate/inverter/state", "{disc}");
    assert!(disc["device"]["identifiers"][0].is_string(), "{disc}");
    assert_eq!(
        disc["availability"][1]["topic"],
        "sungate/inverter/availability"
    );

    let state = rx.wait_for("sungate/inverter/state", 10, |_| true).await;
    let state: Json = serde_json::from_str(&state).unwrap();
    let v = state["battery_voltage"].as_f64().expect("a number");
    let sim_state = sim.device("inverter").unwrap().describe();
    let sim_v = sim_state["state"]["battery_voltage"].as_f64().unwrap();
    assert!((v - sim_v).abs() < 1.0, "{v} vs {sim_v}");
    assert!(state["timestamp"].as_f64().unwrap() > 1.0e9, "{state}");

    rx.wait_for("sungate/inverter/availability", 10, |p| p == "online")
        .await;
    let device = sim.device("inverter").unwrap().clone();
    rx.clear();
    device.set_plugged(None, false).unwrap();
    rx.wait_for("sungate/inverter/availability", 30, |p| p == "offline")
        .await;
    rx.clear();
    device.set_plugged(None, true).unwrap();
    rx.wait_for("sungate/inverter/availability", 30, |p| p == "online")
        .await;

    gw.shutdown().await;
    sim.shutdown().await;
}

fn source_priority(sim: &sungate_sim::sim::Simulator) -> Json {
    sim.device("inverter").unwrap().describe()["state"]["settings"]["output_priority"].clone()
}

async fn command(client: &AsyncClient, rx: &mut Inbox, setting: &str, value: &str) -> Json {
    client
        .publish(
            format!("sungate/inverter/set/{setting}"),
            QoS::AtLeastOnce,
            false,
            value.as_bytes().to_vec(),
        )
        .await
        .unwrap();
    let answer = rx
        .wait_for("sungate/inverter/result", 20, |p| p.contains(setting))
        .await;
    serde_json::from_str(&answer).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_commands_are_checked_then_executed() {
    let port = broker();
    let mut rx = subscriber(port).await;
    let sim = simulator("", "mqtt-cmd", 1.0).await;
    let extra = "writes = true\n[mqtt.allow]\ninverter = [\"output_source_priority\"]\n";
    let gw = Gateway::start(&common::config(&sim, &gateway_config(port, extra)));
    rx.wait_for("sungate/inverter/availability", 15, |p| p == "online")
        .await;
    let client = publisher(port).await;

    let before = source_priority(&sim);
    // 0 utility first, 1 solar first, 2 SBU first
    let target = if before == 2 {
        "solar_first"
    } else {
        "sbu_first"
    };
    let ok = command(&client, &mut rx, "output_source_priority", target).await;
    assert_eq!(ok["ok"], true, "{ok}");
    let changed = source_priority(&sim);
    assert_ne!(changed, before, "{ok}");

    // out of range: refused before sending
    let bad = command(&client, &mut rx, "output_source_priority", "moon_first").await;
    assert_eq!(bad["ok"], false, "{bad}");
    assert!(
        bad["reason"]
            .as_str()
            .unwrap()
            .contains("refused before sending"),
        "{bad}"
    );
    // not in the allow-list
    let denied = command(&client, &mut rx, "charger_source_priority", "solar_only").await;
    assert_eq!(denied["ok"], false, "{denied}");
    assert!(
        denied["reason"].as_str().unwrap().contains("allow-list"),
        "{denied}"
    );
    // malformed payload
    let empty = command(&client, &mut rx, "output_source_priority", "  ").await;
    assert!(
        empty["reason"].as_str().unwrap().contains("malformed"),
        "{empty}"
    );
    assert_eq!(source_priority(&sim), changed);

    gw.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_commands_with_writes_disabled_change_nothing() {
    let port = broker();
    let mut rx = subscriber(port).await;
    let sim = simulator("", "mqtt-ro", 1.0).await;
    let extra = "[mqtt.allow]\ninverter = [\"output_source_priority\"]\n";
    let gw = Gateway::start(&common::config(&sim, &gateway_config(port, extra)));
    rx.wait_for("sungate/inverter/availability", 15, |p| p == "online")
        .await;
    let client = publisher(port).await;
    let before = source_priority(&sim);
    let answer = command(&client, &mut rx, "output_source_priority", "sbu_first").await;
    assert_eq!(answer["ok"], false, "{answer}");
    assert!(
        answer["reason"]
            .as_str()
            .unwrap()
            .contains("writes are disabled"),
        "{answer}"
    );
    assert_eq!(source_priority(&sim), before);
    gw.shutdown().await;
    sim.shutdown().await;
}
