//! Shared helpers for the simulator's integration tests: start a simulator from a TOML text in a
//! fresh PTY directory, open its PTYs as a client would, and call the control API over HTTP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use sungate_drivers::link::{Link, StreamLink};
use sungate_sim::config::SimConfig;
use sungate_sim::frontend::pty::FdStream;
use sungate_sim::sim::{Simulator, StartOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

static NEXT: AtomicUsize = AtomicUsize::new(0);

pub fn fresh_dir(tag: &str) -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("sungate-sim-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

pub async fn start(toml: &str, tag: &str, speed: f64) -> Simulator {
    let config = if toml.is_empty() {
        SimConfig::default()
    } else {
        SimConfig::parse(toml, tag).unwrap()
    };
    let options = StartOptions {
        pty_dir: fresh_dir(tag),
        control: Some("127.0.0.1:0".parse().unwrap()),
        allow_remote_control: false,
        seed: 7,
        speed,
    };
    Simulator::start(&config, options).await.unwrap()
}

pub async fn wait_for_path(path: &Path) {
    for _ in 0..200 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} did not appear", path.display());
}

/// Open `DIR/<link>` as a client.
pub fn open(sim: &Simulator, link: &str) -> StreamLink<FdStream> {
    StreamLink::new(FdStream::open_tty(&sim.pty_dir.join(link)).unwrap())
}

/// One PI30 exchange: send `command`, return the raw reply frame (or the link error).
pub async fn pi30_raw(
    link: &mut StreamLink<FdStream>,
    command: &str,
    timeout: Duration,
) -> Result<Vec<u8>, sungate_drivers::link::LinkError> {
    use sungate_drivers::pi30::codec::{EncodeOptions, encode_command};
    link.discard_input().await?;
    link.write_frame(&encode_command(command, EncodeOptions::default()))
        .await?;
    link.read_until(b'\r', 1024, Instant::now() + timeout).await
}

/// Minimal HTTP/1.1 client for the control API (no extra dependency for tests).
pub async fn http(sim: &Simulator, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let addr = sim.control_addr.unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let json = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .and_then(|b| serde_json::from_str(b.trim()).ok())
        .unwrap_or(Value::Null);
    (status, json)
}
