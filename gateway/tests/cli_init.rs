//! Issue 15, `sungate init` over the real binaries: against the simulator's inverter, BMV and
//! MPPT on PTYs, init finds every device with the right driver, writes a config that
//! `check-config` accepts (with a BMV -> MPPT bridge), `sungate run` polls every device from
//! it (console and HTTP API), and a second init without --force refuses and leaves the file
//! as it was. (The USB HID inverter is found the same way inside the qemu guest:
//! tests/hid-guest/checks.sh.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod e2e;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use e2e::{SimProcess, free_port, scratch};
use serde_json::Value as Json;
use sungate::config::Config;
use sungate::types::{DriverKind, Transport};
use sungate_tests::harness::{http_request, spawn_gateway};
use tokio::time::Instant;

fn sungate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sungate"))
        .args(args)
        .env_remove("SUNGATE_MQTT_PASSWORD")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Wait until `check` holds for the text of `file`.
async fn wait_file(file: &Path, secs: u64, check: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if check(&text) {
            return text;
        }
        assert!(
            Instant::now() < end,
            "{} did not get there within {secs} s:\n{text}",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_finds_every_simulated_device_and_the_gateway_polls_them() {
    let dir = scratch("init");
    // The default site: a PI30 inverter, a BMV-712 and a SmartSolar MPPT, each on a PTY.
    let sim = SimProcess::start(&dir, "").await;
    let file = dir.join("sungate.toml");
    let file_arg = file.display().to_string();
    let history = dir.join("history.db").display().to_string();
    let http_port = free_port();
    let http = format!("127.0.0.1:{http_port}");
    let pty_dir = sim.pty_dir.display().to_string();
    let init_args = [
        "init",
        "--serial-dir",
        &pty_dir,
        "--no-hid",
        "--output",
        &file_arg,
        "--name",
        "site",
        "--http",
        &http,
        "--history",
        &history,
    ];
    let started = Instant::now();
    let out = sungate(&init_args);
    let took = started.elapsed();
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("found 3 device(s)"), "{}", text(&out));
    assert!(
        stdout.contains("inverter: PI30") && stdout.contains("serial 92932309100452"),
        "{stdout}"
    );
    assert!(
        stdout.contains("battery monitor: VE.Direct BMV-712"),
        "{stdout}"
    );
    assert!(
        stdout.contains("solar charger: VE.Direct SmartSolar"),
        "{stdout}"
    );
    // Passive VE.Direct listening first, then queries: a few seconds, not a minute.
    assert!(took < Duration::from_secs(30), "init took {took:?}");

    // What was written: every device with the right driver on its own port.
    let written = std::fs::read_to_string(&file).unwrap();
    let config = Config::load(&file).unwrap_or_else(|e| panic!("{e}\n{written}"));
    let expect = [
        ("bmv", DriverKind::Vedirect),
        ("inverter", DriverKind::Pi30),
        ("mppt", DriverKind::Vedirect),
    ];
    assert_eq!(config.devices.len(), 3, "{written}");
    for (name, driver) in expect {
        let device = config
            .devices
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("no device {name}:\n{written}"));
        assert_eq!(device.driver, driver, "{name}");
        let port = config.port(&device.port).unwrap();
        match &port.transport {
            Transport::Serial { path, .. } => {
                assert_eq!(Path::new(path), sim.pty_dir.join(name), "{name}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    assert_eq!(config.bridges.len(), 1, "{written}");
    assert_eq!(config.bridges[0].source, "bmv");
    assert_eq!(config.bridges[0].targets, ["mppt"]);
    assert_eq!(config.gateway.name.as_deref(), Some("site"));
    assert!(config.mqtt.is_none(), "no --mqtt: no [mqtt]");
    assert_eq!(
        config.history.as_ref().unwrap().path,
        Path::new(&history),
        "{written}"
    );

    let check = sungate(&["check-config", &file_arg]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("ok (3 ports, 3 devices)"),
        "{}",
        text(&check)
    );

    // `sungate run` on the written file polls every device and runs the bridge.
    let console = dir.join("console.log");
    let log = dir.join("gateway.log");
    let mut gateway = spawn_gateway(
        Path::new(env!("CARGO_BIN_EXE_sungate")),
        &file,
        &log,
        Some(&console),
    )
    .unwrap();
    let lines = wait_file(&console, 30, |t| {
        [
            " inverter online",
            " bmv online",
            " mppt online",
            " inverter identified: PI30",
        ]
        .iter()
        .all(|n| t.contains(n))
            && t.lines()
                .any(|l| l.contains(" inverter ") && l.contains("ac_input_voltage="))
            && t.lines()
                .any(|l| l.contains(" bmv ") && l.contains("battery_voltage="))
            && t.lines()
                .any(|l| l.contains(" mppt ") && l.contains("panel_power="))
            && t.contains("battery-sense source_state=ok")
    })
    .await;
    assert!(!lines.contains("OFFLINE"), "{lines}");
    let addr: SocketAddr = http.parse().unwrap();
    let (status, body) = http_request(addr, "GET", "/api/devices", &[], "")
        .await
        .unwrap_or_else(|e| {
            panic!(
                "GET /api/devices: {e}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
    assert_eq!(status, 200, "{body}");
    let api: Json = serde_json::from_str(&body).unwrap();
    for (name, _) in expect {
        let device = api["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in /api/devices: {api}"));
        assert_eq!(device["online"], true, "{name}: {device}");
        assert_eq!(device["stale"], false, "{name}: {device}");
    }
    gateway.kill().await.unwrap();

    // A second init without --force refuses before probing and leaves the file alone.
    let before = std::fs::metadata(&file).unwrap().modified().unwrap();
    let again = sungate(&init_args);
    assert!(!again.status.success(), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("--force"),
        "{}",
        text(&again)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written);
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        before
    );

    // With --force it is written again, the same for the same devices.
    let mut forced: Vec<&str> = init_args.to_vec();
    forced.push("--force");
    let out = sungate(&forced);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_with_mqtt_and_named_ports_and_nothing_answering() {
    let dir = scratch("init-mqtt");
    let sim = SimProcess::start(&dir, "").await;
    let inverter = sim.pty_dir.join("inverter").display().to_string();
    // --port: only the ports named; --mqtt with a user, the password from the environment;
    // "-" prints the config.
    let out = Command::new(env!("CARGO_BIN_EXE_sungate"))
        .args([
            "init",
            "--port",
            &inverter,
            "--output",
            "-",
            "--mqtt",
            "broker.lan:1884",
            "--mqtt-username",
            "solar",
            "--no-history",
        ])
        .env("SUNGATE_MQTT_PASSWORD", "s3cret \"quoted\"")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let written = String::from_utf8_lossy(&out.stdout);
    let config = Config::parse(&written, "stdout").unwrap_or_else(|e| panic!("{e}\n{written}"));
    assert_eq!(config.devices.len(), 1);
    assert_eq!(config.devices[0].driver, DriverKind::Pi30);
    assert!(config.bridges.is_empty());
    assert!(config.history.is_none());
    let mqtt = config.mqtt.unwrap();
    assert_eq!((mqtt.host.as_str(), mqtt.port), ("broker.lan", 1884));
    assert_eq!(mqtt.username.as_deref(), Some("solar"));
    assert_eq!(mqtt.password.unwrap().expose(), "s3cret \"quoted\"");
    // what init says went to stderr, not into the config
    assert!(String::from_utf8_lossy(&out.stderr).contains("found 1 device(s)"));

    // A directory where nothing answers: an error, and no file.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let file = dir.join("none.toml");
    let out = sungate(&[
        "init",
        "--serial-dir",
        &empty.display().to_string(),
        "--no-hid",
        "--output",
        &file.display().to_string(),
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no device answered"),
        "{}",
        text(&out)
    );
    assert!(!file.exists());
}
