//! Independent check of the simulator: what it sends over its PTYs, written to a file and fed to
//! the `sungate decode` binary (a separate process, as a user would run it), decodes with zero
//! checksum failures and with the values the simulator says it has.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use sungate_drivers::link::{Link, StreamLink};
use sungate_drivers::pi30::codec::{EncodeOptions, encode_command};
use sungate_sim::config::SimConfig;
use sungate_sim::frontend::pty::FdStream;
use sungate_sim::sim::{Simulator, StartOptions};
use tokio::time::Instant;

async fn start(tag: &str) -> Simulator {
    let dir = std::env::temp_dir().join(format!("sungate-decode-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = StartOptions {
        pty_dir: dir.clone(),
        control: None,
        allow_remote_control: false,
        seed: 3,
        speed: 1.0,
    };
    let sim = Simulator::start(&SimConfig::default(), options)
        .await
        .unwrap();
    for name in ["inverter", "bmv", "mppt"] {
        for _ in 0..200 {
            if dir.join(name).exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    sim
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_vedirect_streams_decode_with_zero_checksum_failures() {
    let sim = start("ve").await;
    for device in ["bmv", "mppt"] {
        let mut link = StreamLink::new(FdStream::open_tty(&sim.pty_dir.join(device)).unwrap());
        let mut captured = Vec::new();
        let end = Instant::now() + Duration::from_millis(4200);
        // a HEX ping in the middle, so a reply is interleaved with the text blocks
        let mut pinged = false;
        while Instant::now() < end {
            if !pinged && Instant::now() + Duration::from_secs(2) > end {
                link.write_frame(b":154\n").await.unwrap();
                pinged = true;
            }
            if let Ok(chunk) = link
                .read_chunk(end.min(Instant::now() + Duration::from_millis(200)))
                .await
            {
                captured.extend_from_slice(&chunk);
            }
        }
        let file =
            std::env::temp_dir().join(format!("sungate-sim-{device}-{}.dump", std::process::id()));
        std::fs::write(&file, &captured).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_sungate"))
            .args(["decode", "vedirect"])
            .arg(&file)
            .output()
            .unwrap();
        let summary = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{device}: {summary}");
        assert!(
            summary.contains("checksum failures: 0,"),
            "{device}: {summary}"
        );
        assert!(summary.contains("(0 invalid)"), "{device}: {summary}");
        let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let texts: Vec<_> = lines.iter().filter(|l| l["kind"] == "text").collect();
        assert!(texts.len() >= 3, "{device}: {summary}");
        assert!(
            lines
                .iter()
                .any(|l| l["kind"] == "hex" && l["command"] == "ping_reply"),
            "{device}: no ping reply in {lines:?}"
        );
        // the values are the simulator's own
        let state = sim.device(device).unwrap().describe();
        let voltage_field = texts
            .iter()
            .rev()
            .find_map(|t| t["fields"]["battery_voltage"].as_f64())
            .unwrap();
        let text_v: f64 = match device {
            "bmv" => {
                state["state"]["text"]["main"]["V"]
                    .as_str()
                    .unwrap()
                    .parse::<f64>()
                    .unwrap()
                    / 1000.0
            }
            _ => {
                state["state"]["text"]["V"]
                    .as_str()
                    .unwrap()
                    .parse::<f64>()
                    .unwrap()
                    / 1000.0
            }
        };
        assert!(
            (voltage_field - text_v).abs() < 0.2,
            "{device}: decoded {voltage_field} V, simulator {text_v} V"
        );
        let _ = std::fs::remove_file(&file);
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_pi30_replies_decode_with_the_documented_values() {
    let sim = start("pi30").await;
    let mut link = StreamLink::new(FdStream::open_tty(&sim.pty_dir.join("inverter")).unwrap());
    let mut ask = async |q: &str| {
        link.discard_input().await.unwrap();
        link.write_frame(&encode_command(q, EncodeOptions::default()))
            .await
            .unwrap();
        let frame = link
            .read_until(b'\r', 512, Instant::now() + Duration::from_secs(2))
            .await
            .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_sungate"))
            .args(["decode", "pi30", q, &hex(&frame)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{q}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let state = sim.device("inverter").unwrap().describe();
    let config = &state["state"]["config"];
    assert_eq!(ask("QPI").await["protocol_id"], "PI30");
    assert_eq!(ask("QID").await["serial_number"], config["serial"]);
    let rated = ask("QPIRI").await;
    assert_eq!(rated["ac_output_apparent_power"], config["rated_va"]);
    assert_eq!(rated["ac_output_active_power"], config["rated_w"]);
    let status = ask("QPIGS").await;
    let soc = status["battery_capacity"].as_i64().unwrap();
    let sim_soc = sim.device("inverter").unwrap().describe()["state"]["soc_percent"]
        .as_f64()
        .unwrap();
    assert!(
        (soc as f64 - sim_soc).abs() <= 2.0,
        "QPIGS {soc} % vs simulator {sim_soc} %"
    );
    let mode = ask("QMOD").await;
    assert!(mode["device_mode"].is_string());
    sim.shutdown().await;
}
