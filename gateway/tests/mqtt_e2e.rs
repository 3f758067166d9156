//! MQTT end to end: the `sungate` and `sungate-sim` binaries, a broker (embedded rumqttd, or
//! mosquitto with SUNGATE_TEST_BROKER=mosquitto as `.ci/run` does) and a subscriber that sees
//! what Home Assistant would see. See e2e/mod.rs for the harness.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod e2e;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e::{Broker, BrokerOptions, GatewayProcess, Inbox, SimProcess, commander, subscriber};
use rumqttc::{AsyncClient, QoS};
use serde_json::{Value as Json, json};

const INVERTER_SERIAL: &str = "92932309100452";

/// A gateway config: the simulated inverter and BMV, `[mqtt]` for `broker` plus `mqtt_extra`.
fn gateway_config(broker: &Broker, queries: &str, mqtt_extra: &str) -> String {
    format!(
        r#"
[gateway]
name = "test"
[[port]]
name = "inv"
serial = "DIR/inverter"
timeout = 1.0
[[port]]
name = "bmv"
serial = "DIR/bmv"
[[device]]
name = "inverter"
driver = "pi30"
port = "inv"
poll_interval = 0.5
queries = [{queries}]
[[device]]
name = "bmv"
driver = "vedirect"
port = "bmv"
[mqtt]
{}{mqtt_extra}
"#,
        broker.gateway_mqtt()
    )
}

const QUERIES: &str = r#""QPIGS", "QMOD", "QPIRI", "QPIWS""#;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

struct Site {
    dir: std::path::PathBuf,
    broker: Broker,
    rx: Inbox,
    sim: SimProcess,
}

async fn site(tag: &str, options: BrokerOptions, sim_config: &str) -> Site {
    let dir = e2e::scratch(tag);
    let broker = Broker::start(&dir, options).await;
    let rx = subscriber(&broker).await;
    let sim = SimProcess::start(&dir, sim_config).await;
    Site {
        dir,
        broker,
        rx,
        sim,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_state_and_availability_follow_the_devices() {
    let mut s = site("disc", BrokerOptions::default(), "").await;
    let gw = GatewayProcess::start(&s.dir, &s.sim, &gateway_config(&s.broker, QUERIES, ""), "a");
    let rx = &mut s.rx;
    rx.wait_for("sungate/gateway/availability", 20, |p| p == "online")
        .await;

    // A voltage sensor with its classes and the device block from QSID/QVFW/QMN.
    let disc = rx
        .wait_json(
            "homeassistant/sensor/sungate_test_inverter/battery_voltage/config",
            20,
        )
        .await;
    assert_eq!(disc["unit_of_measurement"], "V", "{disc}");
    assert_eq!(disc["device_class"], "voltage", "{disc}");
    assert_eq!(disc["state_class"], "measurement", "{disc}");
    assert_eq!(disc["state_topic"], "sungate/inverter/state", "{disc}");
    assert_eq!(
        disc["default_entity_id"], "sensor.inverter_battery_voltage",
        "{disc}"
    );
    assert_eq!(
        disc["device"]["identifiers"][0],
        format!("sungate_{INVERTER_SERIAL}"),
        "{disc}"
    );
    assert_eq!(disc["device"]["serial_number"], INVERTER_SERIAL, "{disc}");
    assert_eq!(disc["device"]["model"], "MKS2-5000", "{disc}");
    assert_eq!(disc["device"]["manufacturer"], "Voltronic", "{disc}");
    assert_eq!(disc["device"]["sw_version"], "00072.70", "{disc}");
    assert_eq!(
        disc["availability"][1]["topic"], "sungate/inverter/availability",
        "{disc}"
    );
    // A warning bit is a binary sensor.
    let warning = rx
        .wait_json(
            "homeassistant/binary_sensor/sungate_test_inverter/is_load_on/config",
            20,
        )
        .await;
    assert!(
        warning["value_template"].as_str().unwrap().contains("'ON'"),
        "{warning}"
    );
    // An energy counter the energy dashboard accepts.
    let energy = rx
        .wait_json(
            "homeassistant/sensor/sungate_test_bmv/charged_energy/config",
            20,
        )
        .await;
    assert_eq!(energy["device_class"], "energy", "{energy}");
    assert_eq!(energy["state_class"], "total_increasing", "{energy}");
    assert_eq!(energy["unit_of_measurement"], "kWh", "{energy}");

    // State: the simulator's values, numbers as numbers.
    let state = rx.wait_json("sungate/inverter/state", 20).await;
    let v = state["battery_voltage"].as_f64().expect("a number");
    let sim_v = s.sim.device("inverter").await["state"]["battery_voltage"]
        .as_f64()
        .unwrap();
    assert!((v - sim_v).abs() < 1.0, "{v} vs the simulator's {sim_v}");
    assert!(state["timestamp"].as_f64().unwrap() > 1.0e9, "{state}");
    assert!(state["ac_output_active_power"].is_i64(), "{state}");
    let bmv = rx.wait_json("sungate/bmv/state", 20).await;
    let bmv_v = bmv["battery_voltage"].as_f64().expect("a number");
    let sim_bmv_v = s.sim.device("bmv").await["state"]["battery"]["voltage_v"]
        .as_f64()
        .unwrap();
    assert!(
        (bmv_v - sim_bmv_v).abs() < 0.5,
        "{bmv_v} vs the simulator's {sim_bmv_v}"
    );

    // Availability follows the device: unplugged, then back.
    rx.wait_for("sungate/inverter/availability", 20, |p| p == "online")
        .await;
    rx.clear();
    s.sim
        .call("POST", "/devices/inverter/disconnect", None)
        .await;
    rx.wait_for("sungate/inverter/availability", 40, |p| p == "offline")
        .await;
    rx.clear();
    s.sim
        .call("POST", "/devices/inverter/reconnect", None)
        .await;
    rx.wait_for("sungate/inverter/availability", 40, |p| p == "online")
        .await;

    // Home Assistant restarting (birth message): discovery goes out again.
    rx.clear();
    let client = commander(&s.broker).await;
    client
        .publish("homeassistant/status", QoS::AtLeastOnce, false, "online")
        .await
        .unwrap();
    rx.wait_for(
        "homeassistant/sensor/sungate_test_inverter/battery_voltage/config",
        20,
        |_| true,
    )
    .await;
    drop(gw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_units_are_devices_and_the_compat_topics_carry_the_seed_names() {
    let sim_config = r#"
[[device]]
name = "inverter"
kind = "inverter"
[device.inverter]
parallel_units = 2
[[device.interface]]
name = "serial"
kind = "pty"
[[device]]
name = "bmv"
kind = "bmv"
[[device.interface]]
name = "serial"
kind = "pty"
"#;
    let mut s = site("parallel", BrokerOptions::default(), sim_config).await;
    let config = gateway_config(
        &s.broker,
        r#""QPIGS", "QMOD", "QPGS0", "QPGS1""#,
        "compat_axpert = \"inverter\"\n",
    );
    let _gw = GatewayProcess::start(&s.dir, &s.sim, &config, "a");
    let rx = &mut s.rx;

    let u0 = rx.wait_json("sungate/inverter/unit0/state", 30).await;
    let u1 = rx.wait_json("sungate/inverter/unit1/state", 30).await;
    let serial0 = u0["serial_number"].as_str().unwrap().to_owned();
    let serial1 = u1["serial_number"].as_str().unwrap().to_owned();
    assert_ne!(serial0, serial1);
    // Each unit reports the stack's total, which includes its own output.
    for u in [&u0, &u1] {
        let total = u["total_output_active_power"].as_i64().unwrap();
        let own = u["ac_output_active_power"].as_i64().unwrap();
        assert!(total >= own, "{u}");
    }
    // The device's own state has its own sections only, not qpgs-prefixed copies.
    let own = rx.wait_json("sungate/inverter/state", 30).await;
    assert!(own.get("battery_voltage").is_some(), "{own}");
    assert!(
        own.as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("qpgs")),
        "{own}"
    );
    // Each unit is its own HA device, identified by its serial, via the inverter we talk to.
    let disc = rx
        .wait_json(
            "homeassistant/sensor/sungate_test_inverter_unit1/ac_output_active_power/config",
            30,
        )
        .await;
    assert_eq!(
        disc["device"]["identifiers"][0],
        format!("sungate_{serial1}"),
        "{disc}"
    );
    assert_eq!(disc["state_topic"], "sungate/inverter/unit1/state");
    assert_eq!(
        disc["device"]["via_device"],
        format!("sungate_{INVERTER_SERIAL}"),
        "{disc}"
    );

    // The seeds' topics: power/axpert (QPGS0) and power/axpert<serial> (QPIGS).
    let compat = rx.wait_json("power/axpert", 30).await;
    for key in [
        "SerialNumber",
        "TotalAcOutputActivePower",
        "TotalAcOutputApparentPower",
        "BatteryVoltage",
        "OutputMode",
        "ChargerSourcePriority",
        "Gridmode",
        "Solarmode",
    ] {
        assert!(compat.get(key).is_some(), "{key} missing: {compat}");
    }
    assert_eq!(compat["SerialNumber"], serial0, "{compat}");
    assert_eq!(compat["OutputMode"], 1, "parallel output: {compat}");
    let unit = rx
        .wait_json(&format!("power/axpert{INVERTER_SERIAL}"), 30)
        .await;
    assert!(unit["BusVoltage"].as_f64().unwrap() > 300.0, "{unit}");
    assert_eq!(unit["DeviceStatus"].as_str().unwrap().len(), 8, "{unit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_publishing_resumes_and_polling_never_stops() {
    let mut s = site("restart", BrokerOptions::default(), "").await;
    // Slow polling, so that the state published right on reconnect is the one kept in memory,
    // not a fresh poll; retained, so that the subscriber sees it even when the gateway gets
    // back to the broker before the subscriber does.
    let config = gateway_config(&s.broker, QUERIES, "retain = true\n")
        .replace("poll_interval = 0.5", "poll_interval = 2.0");
    let gw = GatewayProcess::start(&s.dir, &s.sim, &config, "a");
    s.rx.wait_json("sungate/inverter/state", 20).await;

    s.broker.stop().await;
    let stopped = now();
    gw.wait_log(&["MQTT connection failed"], 20).await;
    let before = s.sim.device("inverter").await["state"]["requests"]
        .as_u64()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = s.sim.device("inverter").await["state"]["requests"]
        .as_u64()
        .unwrap();
    // 4 queries every 2 s: at least two polls while the broker is away.
    assert!(
        during >= before + 8,
        "polling stalled while the broker was down: {before} -> {during} requests"
    );

    s.rx.clear();
    s.broker.resume().await;
    let resumed = now();
    s.rx.wait_for("sungate/gateway/availability", 30, |p| p == "online")
        .await;
    let online_at = now();
    // Published with the reconnect: the latest state, read while the broker was away (after
    // the stop, before the gateway was back). A broker that kept its retained messages may
    // first replay the one from before the stop; that one does not count.
    let kept =
        s.rx.wait_for("sungate/inverter/state", 3, |p| {
            serde_json::from_str::<Json>(p)
                .ok()
                .and_then(|j| j["timestamp"].as_f64())
                .is_some_and(|t| t > stopped && t < online_at)
        })
        .await;
    assert!(kept.contains("battery_voltage"), "{kept}");
    // ...and then fresh polls again.
    let fresh =
        s.rx.wait_for("sungate/inverter/state", 30, |p| {
            serde_json::from_str::<Json>(p)
                .ok()
                .and_then(|j| j["timestamp"].as_f64())
                .is_some_and(|t| t >= resumed)
        })
        .await;
    assert!(fresh.contains("battery_voltage"), "{fresh}");
    assert!(
        gw.log_text().matches("MQTT connected").count() >= 2,
        "{}",
        gw.log_text()
    );
}

fn output_priority(device: &Json) -> Json {
    device["state"]["settings"]["output_priority"].clone()
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
        .wait_for("sungate/inverter/result", 30, |p| p.contains(setting))
        .await;
    serde_json::from_str(&answer).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_checked_then_executed_and_floods_change_nothing() {
    let mut s = site("cmd", BrokerOptions::default(), "").await;
    let extra = "writes = true\ncommand_burst = 3\ncommand_interval = 5.0\n\
                 [mqtt.allow]\ninverter = [\"output_source_priority\"]\n";
    let _gw = GatewayProcess::start(
        &s.dir,
        &s.sim,
        &gateway_config(&s.broker, QUERIES, extra),
        "a",
    );
    s.rx.wait_for("sungate/inverter/availability", 20, |p| p == "online")
        .await;
    let client = commander(&s.broker).await;
    let rx = &mut s.rx;

    // 0 utility first, 1 solar first, 2 SBU first
    let before = output_priority(&s.sim.device("inverter").await);
    let (target, expected) = if before == 2 {
        ("solar_first", json!(1))
    } else {
        ("sbu_first", json!(2))
    };
    let ok = command(&client, rx, "output_source_priority", target).await;
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(
        output_priority(&s.sim.device("inverter").await),
        expected,
        "{ok}"
    );

    // Out of range: refused before sending.
    let bad = command(&client, rx, "output_source_priority", "moon_first").await;
    assert_eq!(bad["ok"], false, "{bad}");
    let reason = bad["reason"].as_str().unwrap();
    assert!(reason.contains("refused before sending"), "{bad}");
    // Not in the allow-list.
    let denied = command(&client, rx, "charger_source_priority", "solar_only").await;
    assert_eq!(denied["ok"], false, "{denied}");
    assert!(
        denied["reason"].as_str().unwrap().contains("allow-list"),
        "{denied}"
    );
    assert_eq!(output_priority(&s.sim.device("inverter").await), expected);

    // A flood: 40 commands at once. The bucket is empty after the three above, so every one
    // is answered "rate limited" (or dropped when the queue is full) and nothing changes.
    rx.clear();
    let flip = if expected == 2 {
        "utility_first"
    } else {
        "sbu_first"
    };
    for _ in 0..40 {
        client
            .publish(
                "sungate/inverter/set/output_source_priority",
                QoS::AtMostOnce,
                false,
                flip,
            )
            .await
            .unwrap();
    }
    let answers = rx.collect("sungate/inverter/result", 5).await;
    assert!(!answers.is_empty(), "a flood got no answer at all");
    for (_, a) in &answers {
        let a: Json = serde_json::from_str(a).unwrap();
        assert_eq!(a["ok"], false, "{a}");
        assert!(
            a["reason"].as_str().unwrap().contains("rate limited"),
            "{a}"
        );
    }
    assert_eq!(output_priority(&s.sim.device("inverter").await), expected);
    // ...and polling went on.
    let t = now();
    rx.wait_for("sungate/inverter/state", 20, |p| {
        serde_json::from_str::<Json>(p)
            .ok()
            .and_then(|j| j["timestamp"].as_f64())
            .is_some_and(|ts| ts >= t)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_with_writes_disabled_change_nothing() {
    let mut s = site("ro", BrokerOptions::default(), "").await;
    let extra = "[mqtt.allow]\ninverter = [\"output_source_priority\"]\n";
    let _gw = GatewayProcess::start(
        &s.dir,
        &s.sim,
        &gateway_config(&s.broker, QUERIES, extra),
        "a",
    );
    s.rx.wait_for("sungate/inverter/availability", 20, |p| p == "online")
        .await;
    let client = commander(&s.broker).await;
    let before = output_priority(&s.sim.device("inverter").await);
    let value = if before == 2 {
        "solar_first"
    } else {
        "sbu_first"
    };
    let answer = command(&client, &mut s.rx, "output_source_priority", value).await;
    assert_eq!(answer["ok"], false, "{answer}");
    assert!(
        answer["reason"]
            .as_str()
            .unwrap()
            .contains("writes are disabled"),
        "{answer}"
    );
    assert_eq!(output_priority(&s.sim.device("inverter").await), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_with_a_clear_log_line_and_the_right_one_works() {
    let options = BrokerOptions {
        user: Some(("sungate".into(), "right-horse".into())),
        tls: false,
    };
    let mut s = site("auth", options, "").await;
    let wrong = gateway_config(
        &s.broker,
        QUERIES,
        "username = \"sungate\"\npassword = \"wrong-horse\"\n",
    );
    let gw = GatewayProcess::start(&s.dir, &s.sim, &wrong, "wrong");
    let line = gw.wait_log(&["user name or password"], 30).await;
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("sungate"), "names the user: {line}");
    // Nothing got through, and the devices were polled all the same.
    let seen = s.rx.collect("sungate/", 2).await;
    assert!(seen.is_empty(), "published with a wrong password: {seen:?}");
    assert!(
        s.sim.device("inverter").await["state"]["requests"]
            .as_u64()
            .unwrap()
            > 0
    );
    drop(gw);

    let right = gateway_config(
        &s.broker,
        QUERIES,
        "username = \"sungate\"\npassword = \"right-horse\"\n",
    );
    let gw = GatewayProcess::start(&s.dir, &s.sim, &right, "right");
    s.rx.wait_json("sungate/inverter/state", 30).await;
    assert!(!gw.log_text().contains("refused"), "{}", gw.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs mosquitto and openssl: .ci/run runs it with --include-ignored"]
async fn tls_with_the_right_ca_works_and_a_wrong_ca_is_refused() {
    let options = BrokerOptions {
        user: None,
        tls: true,
    };
    let mut s = site("tls", options, "").await;
    let pki = s.broker.pki.clone().unwrap();
    let config = gateway_config(&s.broker, QUERIES, "");
    assert!(config.contains("tls_ca_file"), "{config}");
    let gw = GatewayProcess::start(&s.dir, &s.sim, &config, "right");
    s.rx.wait_json("sungate/inverter/state", 30).await;
    drop(gw);

    // A CA that did not sign the broker's certificate: no connection, said in the log.
    let wrong = config.replace(
        &pki.ca.display().to_string(),
        &pki.other_ca.display().to_string(),
    );
    let gw = GatewayProcess::start(&s.dir, &s.sim, &wrong, "wrong");
    let line = gw.wait_log(&["MQTT TLS handshake failed"], 30).await;
    assert!(line.contains("ERROR"), "{line}");
    s.rx.clear();
    let seen = s.rx.collect("sungate/inverter/state", 3).await;
    assert!(seen.is_empty(), "published over an untrusted TLS link");
}

/// States of `device` published at or after `since` (their own timestamp) among `messages`.
fn states_since(messages: &[(String, String)], device: &str, since: f64) -> usize {
    let topic = format!("sungate/{device}/state");
    messages
        .iter()
        .filter(|(t, p)| {
            *t == topic
                && serde_json::from_str::<Json>(p)
                    .ok()
                    .and_then(|j| j["timestamp"].as_f64())
                    .is_some_and(|ts| ts >= since)
        })
        .count()
}

/// Issue 11, finding 2: a 200 KiB message on a command topic made rumqttc drop the connection
/// (its packet limit was 64 KiB); retained, it came back on every subscribe: dozens of
/// reconnects and last-will `offline` messages. Now it is refused like any bad payload and the
/// connection stays up, also after a restart that gets the message again from the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_command_is_refused_and_never_costs_the_connection() {
    let mut s = site("big", BrokerOptions::default(), "").await;
    let extra = "writes = true\n[mqtt.allow]\ninverter = [\"output_source_priority\"]\n";
    let config = gateway_config(&s.broker, QUERIES, extra);
    let gw = GatewayProcess::start(&s.dir, &s.sim, &config, "a");
    s.rx.wait_for("sungate/inverter/availability", 20, |p| p == "online")
        .await;
    let before = output_priority(&s.sim.device("inverter").await);
    let client = commander(&s.broker).await;
    s.rx.clear();
    let t0 = now();
    client
        .publish(
            "sungate/inverter/set/output_source_priority",
            QoS::AtLeastOnce,
            true,
            vec![b'1'; 200 * 1024],
        )
        .await
        .unwrap();
    let answer =
        s.rx.wait_for("sungate/inverter/result", 20, |p| {
            p.contains("output_source_priority")
        })
        .await;
    let answer: Json = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["ok"], false, "{answer}");
    let reason = answer["reason"].as_str().unwrap();
    // Live delivery of a retained publish carries no retain flag: refused for its size.
    assert!(
        reason.contains("204800 bytes") || reason.contains("retained"),
        "{answer}"
    );
    // 8 s of watching: no last will, no reconnect ("online" again), states keep coming.
    let seen = s.rx.collect("sungate/", 8).await;
    let availability: Vec<&String> = seen
        .iter()
        .filter(|(t, _)| t == "sungate/gateway/availability")
        .map(|(_, p)| p)
        .collect();
    assert!(
        availability.is_empty(),
        "the gateway lost its connection: {availability:?}\n{}",
        gw.log_text()
    );
    assert!(
        states_since(&seen, "inverter", t0) >= 8,
        "state publishing stalled: {} inverter states in 8 s",
        states_since(&seen, "inverter", t0)
    );
    assert_eq!(gw.log_text().matches("MQTT connected").count(), 1);

    // A restart: the broker hands the stored message over on subscribe (retain flag set).
    drop(gw);
    s.rx.wait_for("sungate/gateway/availability", 20, |p| p == "offline")
        .await;
    let gw = GatewayProcess::start(&s.dir, &s.sim, &config, "b");
    let answer =
        s.rx.wait_for("sungate/inverter/result", 20, |p| p.contains("retained"))
            .await;
    assert!(answer.contains("\"ok\":false"), "{answer}");
    s.rx.wait_for("sungate/gateway/availability", 20, |p| p == "online")
        .await;
    s.rx.clear();
    let t1 = now();
    let seen = s.rx.collect("sungate/", 6).await;
    let offline = seen
        .iter()
        .filter(|(t, p)| t == "sungate/gateway/availability" && p == "offline")
        .count();
    assert_eq!(offline, 0, "{}", gw.log_text());
    assert!(
        states_since(&seen, "inverter", t1) >= 5,
        "{}",
        gw.log_text()
    );
    assert_eq!(gw.log_text().matches("MQTT connected").count(), 1);
    assert_eq!(output_priority(&s.sim.device("inverter").await), before);
}

/// Issue 11, finding 3: a retained command was executed at every start. A command is a fresh
/// action: the retained one is answered "retained", never sent to the unit, at start and after
/// a restart; the same command sent fresh works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_command_is_refused_at_every_start() {
    let mut s = site("retained", BrokerOptions::default(), "").await;
    let before = output_priority(&s.sim.device("inverter").await);
    let (value, changed) = if before == 2 {
        ("solar_first", json!(1))
    } else {
        ("sbu_first", json!(2))
    };
    let client = commander(&s.broker).await;
    client
        .publish(
            "sungate/inverter/set/output_source_priority",
            QoS::AtLeastOnce,
            true,
            value.as_bytes().to_vec(),
        )
        .await
        .unwrap();
    // The broker has stored it once the subscriber sees it.
    s.rx.wait_for("sungate/inverter/set/output_source_priority", 10, |p| {
        p == value
    })
    .await;
    let extra = "writes = true\n[mqtt.allow]\ninverter = [\"output_source_priority\"]\n";
    let config = gateway_config(&s.broker, QUERIES, extra);
    for tag in ["a", "b"] {
        let gw = GatewayProcess::start(&s.dir, &s.sim, &config, tag);
        let answer = s.rx.wait_json("sungate/inverter/result", 30).await;
        assert_eq!(answer["ok"], false, "{answer}");
        assert!(
            answer["reason"].as_str().unwrap().contains("retained"),
            "{answer}"
        );
        // Polling went on for a while and the unit's setting never changed.
        s.rx.wait_for("sungate/inverter/availability", 20, |p| p == "online")
            .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            output_priority(&s.sim.device("inverter").await),
            before,
            "{}",
            gw.log_text()
        );
        drop(gw);
        s.rx.wait_for("sungate/gateway/availability", 20, |p| p == "offline")
            .await;
    }
    // The same command, fresh, is executed.
    let _gw = GatewayProcess::start(&s.dir, &s.sim, &config, "c");
    s.rx.wait_for("sungate/inverter/availability", 20, |p| p == "online")
        .await;
    s.rx.clear();
    let answer = command(&client, &mut s.rx, "output_source_priority", value).await;
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(output_priority(&s.sim.device("inverter").await), changed);
}

/// Issue 11, finding 6: with QPIGS2 in the query list and a unit that NAKs it (the simulated
/// inverter is a non-MAX unit), every poll failed and no state at all was published. Now the
/// refused query is reported once and skipped; the rest is published, with the refusal as a
/// field users can see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_the_unit_refuses_is_skipped_and_the_rest_is_published() {
    let mut s = site("nakq", BrokerOptions::default(), "").await;
    let queries = r#""QPIGS", "QMOD", "QPIRI", "QPIWS", "QPIGS2""#;
    let gw = GatewayProcess::start(&s.dir, &s.sim, &gateway_config(&s.broker, queries, ""), "a");
    // The first polls go without QPIGS2 (refused, not yet taken as unsupported) ...
    let first = s.rx.wait_json("sungate/inverter/state", 20).await;
    assert!(first["battery_voltage"].as_f64().is_some(), "{first}");
    s.rx.wait_for("sungate/inverter/state", 20, |p| {
        p.contains("unsupported_queries")
    })
    .await;
    // ... then it is reported and skipped, and every state has the rest.
    for _ in 0..4 {
        let state = s.rx.wait_json("sungate/inverter/state", 20).await;
        assert!(state["battery_voltage"].as_f64().is_some(), "{state}");
        assert!(state["device_mode"].is_string(), "{state}");
        assert_eq!(state["unsupported_queries"], "QPIGS2", "{state}");
    }
    let log = gw.log_text();
    assert_eq!(
        log.matches("refuses this query").count(),
        1,
        "reported once, not on every poll:\n{log}"
    );
    assert!(!log.contains("offline"), "{log}");
}

/// Issue 12: the bridge's status reached the bus but never MQTT. Now it is a Home Assistant
/// device of its own: state (is the MPPT using the BMV's values, what was sent, when),
/// availability and discovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_is_published_with_state_availability_and_discovery() {
    let mut s = site("bridge", BrokerOptions::default(), "").await;
    let config = format!(
        r#"
[gateway]
name = "test"
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
[[bridge]]
name = "battery-sense"
source = "bmv"
targets = ["mppt"]
refresh_interval = 5.0
[mqtt]
{}"#,
        s.broker.gateway_mqtt()
    );
    let _gw = GatewayProcess::start(&s.dir, &s.sim, &config, "a");
    s.rx.wait_for("sungate/battery-sense/availability", 20, |p| p == "online")
        .await;
    let state =
        s.rx.wait_for("sungate/battery-sense/state", 30, |p| {
            p.contains("\"source_state\":\"ok\"") && p.contains("mppt_temperature_sent_at")
        })
        .await;
    let state: Json = serde_json::from_str(&state).unwrap();
    // What was sent is the BMV's reading (the simulated BMV is a 12 V bank).
    let sent_v = state["mppt_voltage_sent"].as_f64().unwrap();
    assert!((10.0..16.0).contains(&sent_v), "{state}");
    assert_eq!(state["mppt_voltage_acknowledged"], true, "{state}");
    assert!(state["timestamp"].as_f64().unwrap() > 0.0);
    // Discovery: the bridge is its own HA device, made by sungate.
    let node = "homeassistant/sensor/sungate_test_battery_sense";
    let discovery =
        s.rx.wait_for(&format!("{node}/source_state/config"), 20, |_| true)
            .await;
    let discovery: Json = serde_json::from_str(&discovery).unwrap();
    assert_eq!(
        discovery["state_topic"], "sungate/battery-sense/state",
        "{discovery}"
    );
    assert_eq!(
        discovery["device"]["manufacturer"], "sungate",
        "{discovery}"
    );
    let in_use =
        s.rx.wait_for(
            "homeassistant/binary_sensor/sungate_test_battery_sense/mppt_temperature_in_use/config",
            20,
            |_| true,
        )
        .await;
    assert!(in_use.contains("battery-sense"), "{in_use}");
}
