//! Shared by the gateway's integration tests: a simulator in a fresh PTY directory, and gateway
//! configs whose `DIR` placeholder points at it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sungate::config::Config;
use sungate_sim::config::SimConfig;
use sungate_sim::sim::{Simulator, StartOptions};

/// Start a simulator (`toml` empty: the default inverter, BMV and MPPT).
pub async fn simulator(toml: &str, tag: &str, speed: f64) -> Simulator {
    let dir = std::env::temp_dir().join(format!("sungate-gw-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = if toml.is_empty() {
        SimConfig::default()
    } else {
        SimConfig::parse(toml, tag).unwrap()
    };
    let options = StartOptions {
        pty_dir: dir,
        control: None,
        allow_remote_control: false,
        seed: 11,
        speed,
    };
    Simulator::start(&config, options).await.unwrap()
}

/// A gateway config with `DIR` replaced by the simulator's PTY directory.
pub fn config(sim: &Simulator, body: &str) -> Config {
    let text = body.replace("DIR", &sim.pty_dir.display().to_string());
    Config::parse(&text, "test.toml").unwrap()
}
