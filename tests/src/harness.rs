//! Running the real binaries as children: `sungate-sim` with its control API, `sungate run`,
//! Debian's mosquitto, and an MQTT subscriber that sees what Home Assistant would see. Shared by
//! the soak tool (`sungate-soak`) and the gateway's end-to-end tests (gateway/tests/e2e), which
//! wrap these in their own panicking helpers.
//!
//! Every child is spawned with `kill_on_drop`, so dropping its handle (also on an error path)
//! kills it. Everything listens and connects on 127.0.0.1 only.

use std::fs::{File, OpenOptions};
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value as Json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A loopback TCP port that was free a moment ago.
pub fn free_port() -> io::Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Wait until something accepts connections on 127.0.0.1:`port`.
pub async fn wait_tcp(port: u16, what: &str, within: Duration) -> Result<()> {
    let end = Instant::now() + within;
    loop {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        if Instant::now() >= end {
            bail!("{what} is not listening on 127.0.0.1:{port} after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A program from PATH or the sbin directories (Debian puts mosquitto in /usr/sbin).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A log file for a child's stderr, appended to (a restarted child keeps its history).
pub fn log_file(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The start of a mosquitto configuration: one anonymous-or-not listener on 127.0.0.1:`port`,
/// no persistence, everything logged to stderr, and the current user (mosquitto started as
/// root would otherwise switch to a `mosquitto` user that may not exist).
pub fn mosquitto_conf(port: u16) -> String {
    let user = std::process::Command::new("id")
        .arg("-un")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let mut conf =
        format!("persistence false\nlog_dest stderr\nlog_type all\nlistener {port} 127.0.0.1\n");
    if !user.is_empty() {
        conf += &format!("user {user}\n");
    }
    conf
}

/// Start `mosquitto -c conf` with its stderr appended to `log`.
pub fn spawn_mosquitto(conf: &Path, log: &Path) -> Result<Child> {
    let program = find_program("mosquitto").ok_or_else(|| {
        anyhow!("mosquitto is not installed (apt-get install mosquitto; .ci/run does)")
    })?;
    Command::new(&program)
        .arg("-c")
        .arg(conf)
        .stdout(Stdio::null())
        .stderr(log_file(log)?)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))
}

/// The simulator's control API (HTTP + JSON on loopback).
#[derive(Debug, Clone, Copy)]
pub struct Control {
    pub addr: SocketAddr,
}

impl Control {
    /// One request; the status and the JSON body (`null` if it is not JSON).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Json>,
    ) -> io::Result<(u16, Json)> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, text) = http_request(self.addr, method, path, &[], &body).await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Json::Null)))
    }

    /// A request that must succeed (2xx).
    pub async fn call(&self, method: &str, path: &str, body: Option<&Json>) -> Result<Json> {
        let (status, json) = self
            .request(method, path, body)
            .await
            .with_context(|| format!("control API {method} {path}"))?;
        if !(200..300).contains(&status) {
            bail!("control API {method} {path}: {status} {json}");
        }
        Ok(json)
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), with extra `headers`
/// and a JSON `body`: the status and the body as text. Small enough to need no client crate;
/// used for the simulator's control API and the gateway's own API.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..split]);
    let body = response.get(split + 4..).unwrap_or_default();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The body of a `Transfer-Encoding: chunked` response.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
        let rest = &body[end + 2..];
        match size {
            Some(size) if size > 0 && rest.len() >= size => {
                out.extend_from_slice(&rest[..size]);
                body = rest[size..].strip_prefix(b"\r\n").unwrap_or(&rest[size..]);
            }
            _ => break,
        }
    }
    out
}

/// `sungate-sim` as a child process.
#[derive(Debug)]
pub struct SimChild {
    pub child: Child,
    pub pty_dir: PathBuf,
    pub control: Control,
    pub log: PathBuf,
}

impl SimChild {
    /// Start `binary` with its PTYs in `dir/pty`, the control API on a free loopback port and
    /// `config` (TOML; empty: the default inverter, BMV and MPPT); wait for `/health`.
    pub async fn start(binary: &Path, dir: &Path, config: &str, seed: u64) -> Result<SimChild> {
        let pty_dir = dir.join("pty");
        let control = Control {
            addr: SocketAddr::from(([127, 0, 0, 1], free_port()?)),
        };
        let mut cmd = Command::new(binary);
        cmd.arg("--pty-dir")
            .arg(&pty_dir)
            .arg("--control")
            .arg(control.addr.to_string())
            .arg("--seed")
            .arg(seed.to_string());
        if !config.is_empty() {
            let path = dir.join("sim.toml");
            std::fs::write(&path, config)?;
            cmd.arg("--config").arg(path);
        }
        let log = dir.join("sim.log");
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log_file(&log)?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut sim = SimChild {
            child,
            pty_dir,
            control,
            log,
        };
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok((200, _)) = sim.control.request("GET", "/health", None).await {
                return Ok(sim);
            }
            if let Some(status) = sim.child.try_wait()? {
                bail!(
                    "sungate-sim exited ({status}): {}",
                    std::fs::read_to_string(&sim.log).unwrap_or_default()
                );
            }
            if Instant::now() >= end {
                bail!(
                    "sungate-sim did not answer on {} within 15 s: {}",
                    sim.control.addr,
                    std::fs::read_to_string(&sim.log).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `sungate run --config <config>` with `RUST_LOG=info` and its stderr appended to `log`
/// (stdout, the console lines, goes to `console` or nowhere).
pub fn spawn_gateway(
    binary: &Path,
    config: &Path,
    log: &Path,
    console: Option<&Path>,
) -> Result<Child> {
    let stdout = match console {
        Some(path) => Stdio::from(log_file(path)?),
        None => Stdio::null(),
    };
    Command::new(binary)
        .arg("run")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(stdout)
        .stderr(log_file(log)?)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))
}

/// One message a subscriber received, with the moment it arrived.
#[derive(Debug, Clone)]
pub struct Message {
    pub at: Instant,
    pub topic: String,
    pub payload: String,
}

/// Subscribe to `topics` (QoS 1) with `options` and return what arrives. The subscriber
/// reconnects by itself (subscribing again after every connect, since its session is clean);
/// this returns once the first subscription is acknowledged.
pub async fn subscribe(
    options: MqttOptions,
    topics: &[&str],
) -> Result<mpsc::UnboundedReceiver<Message>> {
    let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, mut ready) = mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    for t in &topics {
                        let _ = client.subscribe(t.as_str(), QoS::AtLeastOnce).await;
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = ready_tx.try_send(());
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let message = Message {
                        at: Instant::now(),
                        topic: p.topic,
                        payload: String::from_utf8_lossy(&p.payload).into_owned(),
                    };
                    if tx.send(message).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    match tokio::time::timeout(Duration::from_secs(15), ready.recv()).await {
        Ok(Some(())) => Ok(rx),
        _ => Err(anyhow!(
            "the MQTT subscriber could not subscribe within 15 s"
        )),
    }
}
