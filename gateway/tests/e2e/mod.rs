//! End-to-end harness: the real `sungate` and `sungate-sim` binaries as child processes, an MQTT
//! broker, and a subscriber that sees what Home Assistant would see.
//!
//! The broker is chosen by `SUNGATE_TEST_BROKER`:
//! - unset or `embedded`: rumqttd inside the test process (`cargo test` needs nothing but Rust),
//!   reached through a relay on the public port so that "stopping the broker" cuts every
//!   connection and refuses new ones, as a stopped broker does;
//! - `mosquitto`: Debian's mosquitto as a child process, really stopped and started again
//!   (`.ci/run` installs it and runs these tests against it).
//!
//! Every child is killed when its handle is dropped, so a failing test leaves nothing behind.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value as Json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A fresh scratch directory for one test.
pub fn scratch(tag: &str) -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("sungate-e2e-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_tcp(port: u16, what: &str) {
    let end = Instant::now() + Duration::from_secs(15);
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} is not listening on 127.0.0.1:{port}");
}

/// A binary built beside `sungate` (the workspace's target directory).
fn sibling_binary(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_sungate")).with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (cargo test at the workspace root does, \
         or cargo build -p sungate-sim)",
        path.display()
    );
    path
}

/// A program from PATH or the sbin directories (Debian puts mosquitto in /usr/sbin).
fn system_program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not installed (SUNGATE_TEST_BROKER=mosquitto needs apt-get install mosquitto)")
        })
}

// ---------------------------------------------------------------------------------------------
// Broker

#[derive(Debug, Clone, Default)]
pub struct BrokerOptions {
    /// Require this user name and password (anonymous clients refused).
    pub user: Option<(String, String)>,
    /// Serve MQTT over TLS with a fresh CA (mosquitto only).
    pub tls: bool,
}

/// The files of a test PKI: a CA and a server certificate for 127.0.0.1 signed by it.
#[derive(Debug, Clone)]
pub struct TestPki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A second CA that did not sign the server certificate.
    pub other_ca: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl is needed for the TLS test: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestPki {
    pub fn create(dir: &Path) -> TestPki {
        for ca in ["ca", "other-ca"] {
            openssl(
                dir,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    &format!("/CN=sungate test {ca}"),
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.pem"),
                ],
            );
        }
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
        );
        TestPki {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            other_ca: dir.join("other-ca.pem"),
        }
    }
}

enum Kind {
    Embedded {
        /// rumqttd's own port (behind the relay).
        inner: u16,
        relay: Option<JoinHandle<()>>,
    },
    Mosquitto {
        conf: PathBuf,
        log: PathBuf,
        child: Option<Box<Child>>,
    },
}

pub struct Broker {
    pub port: u16,
    pub options: BrokerOptions,
    pub pki: Option<TestPki>,
    kind: Kind,
}

pub fn use_mosquitto() -> bool {
    match std::env::var("SUNGATE_TEST_BROKER").as_deref() {
        Err(_) | Ok("" | "embedded") => false,
        Ok("mosquitto") => true,
        Ok(other) => panic!("SUNGATE_TEST_BROKER={other:?}: use embedded or mosquitto"),
    }
}

impl Broker {
    /// The broker this run is configured for (see the module header).
    pub async fn start(dir: &Path, options: BrokerOptions) -> Broker {
        if use_mosquitto() || options.tls {
            Broker::mosquitto(dir, options).await
        } else {
            Broker::embedded(options).await
        }
    }

    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Embedded { .. } => "rumqttd",
            Kind::Mosquitto { .. } => "mosquitto",
        }
    }

    async fn embedded(options: BrokerOptions) -> Broker {
        let inner = free_port();
        let listen: SocketAddr = format!("127.0.0.1:{inner}").parse().unwrap();
        let auth = options.user.clone().map(|(u, p)| HashMap::from([(u, p)]));
        let server = rumqttd::ServerSettings {
            name: "v4".into(),
            listen,
            tls: None,
            next_connection_delay_ms: 1,
            connections: rumqttd::ConnectionSettings {
                connection_timeout_ms: 60_000,
                max_payload_size: 256 * 1024,
                max_inflight_count: 500,
                auth,
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
        // rumqttd runs on its own threads until the test process exits.
        std::thread::spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            let _ = broker.start();
        });
        wait_tcp(inner, "rumqttd").await;
        let mut broker = Broker {
            port: free_port(),
            options,
            pki: None,
            kind: Kind::Embedded { inner, relay: None },
        };
        broker.resume().await;
        broker
    }

    async fn mosquitto(dir: &Path, options: BrokerOptions) -> Broker {
        let port = free_port();
        let user = std::process::Command::new("id")
            .arg("-un")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let mut conf = format!(
            "# sungate e2e test broker\npersistence false\nlog_dest stderr\nlog_type all\n\
             user {user}\nlistener {port} 127.0.0.1\n"
        );
        match &options.user {
            Some((u, p)) => {
                let file = dir.join("passwd");
                let out = std::process::Command::new(system_program("mosquitto_passwd"))
                    .args(["-c", "-b"])
                    .arg(&file)
                    .args([u, p])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "mosquitto_passwd: {out:?}");
                conf += &format!("allow_anonymous false\npassword_file {}\n", file.display());
            }
            None => conf += "allow_anonymous true\n",
        }
        let pki = options.tls.then(|| TestPki::create(dir));
        if let Some(pki) = &pki {
            conf += &format!(
                "cafile {}\ncertfile {}\nkeyfile {}\n",
                pki.ca.display(),
                pki.server_cert.display(),
                pki.server_key.display()
            );
        }
        let conf_path = dir.join("mosquitto.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut broker = Broker {
            port,
            options,
            pki,
            kind: Kind::Mosquitto {
                conf: conf_path,
                log: dir.join("mosquitto.log"),
                child: None,
            },
        };
        broker.resume().await;
        broker
    }

    /// Stop the broker: every client connection is cut and new ones are refused.
    pub async fn stop(&mut self) {
        match &mut self.kind {
            Kind::Embedded { relay, .. } => {
                if let Some(r) = relay.take() {
                    r.abort();
                    let _ = r.await;
                }
            }
            Kind::Mosquitto { child, .. } => {
                if let Some(mut c) = child.take() {
                    let _ = c.kill().await;
                }
            }
        }
    }

    /// Start it again on the same port.
    pub async fn resume(&mut self) {
        let port = self.port;
        match &mut self.kind {
            Kind::Embedded { inner, relay } => {
                *relay = Some(start_relay(port, *inner).await);
            }
            Kind::Mosquitto { conf, log, child } => {
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .unwrap();
                *child = Some(Box::new(
                    Command::new(system_program("mosquitto"))
                        .arg("-c")
                        .arg(&conf)
                        .stdout(Stdio::null())
                        .stderr(log)
                        .kill_on_drop(true)
                        .spawn()
                        .unwrap(),
                ));
            }
        }
        wait_tcp(port, self.name()).await;
    }

    /// mosquitto's log (empty for the embedded broker).
    pub fn log(&self) -> String {
        match &self.kind {
            Kind::Mosquitto { log, .. } => std::fs::read_to_string(log).unwrap_or_default(),
            Kind::Embedded { .. } => String::new(),
        }
    }

    /// Client options that this broker accepts (credentials, TLS).
    pub fn client_options(&self, client_id: &str) -> MqttOptions {
        let mut o = MqttOptions::new(client_id, "127.0.0.1", self.port);
        o.set_max_packet_size(256 * 1024, 256 * 1024);
        if let Some((u, p)) = &self.options.user {
            o.set_credentials(u, p);
        }
        if let Some(pki) = &self.pki {
            let files = sungate::mqtt::tls::TlsFiles::ca(pki.ca.clone());
            let config = sungate::mqtt::tls::client_config(&files).unwrap();
            o.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(config),
            ));
        }
        o
    }

    /// The `[mqtt]` lines a gateway needs for this broker (host, port, TLS; no credentials).
    pub fn gateway_mqtt(&self) -> String {
        let mut s = format!("host = \"127.0.0.1\"\nport = {}\n", self.port);
        if let Some(pki) = &self.pki {
            s += &format!("tls_ca_file = \"{}\"\n", pki.ca.display());
        }
        s
    }
}

/// Accept on `port` and pipe every connection to `inner`; aborting the returned task closes the
/// listener and every piped connection (the JoinSet inside is dropped with it).
async fn start_relay(port: u16, inner: u16) -> JoinHandle<()> {
    let mut listener = None;
    for _ in 0..100 {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => {
                listener = Some(l);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let listener = listener.unwrap_or_else(|| panic!("cannot listen on 127.0.0.1:{port} again"));
    tokio::spawn(async move {
        let mut pipes = tokio::task::JoinSet::new();
        loop {
            let Ok((mut outer, _)) = listener.accept().await else {
                continue;
            };
            pipes.spawn(async move {
                if let Ok(mut to_broker) = TcpStream::connect(("127.0.0.1", inner)).await {
                    let _ = tokio::io::copy_bidirectional(&mut outer, &mut to_broker).await;
                }
            });
            while pipes.try_join_next().is_some() {}
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Subscriber

/// Every message of a subscriber on `#` that no wait has consumed yet.
pub struct Inbox {
    rx: mpsc::UnboundedReceiver<(String, String)>,
    seen: Vec<(String, String)>,
}

/// A subscriber on `#` (it reconnects by itself when the broker comes back).
pub async fn subscriber(broker: &Broker) -> Inbox {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let (client, mut eventloop) =
        AsyncClient::new(broker.client_options(&format!("test-subscriber-{n}")), 64);
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, mut ready) = mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    // clean session: subscribe again after every connect
                    let _ = client.subscribe("#", QoS::AtLeastOnce).await;
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = ready_tx.try_send(());
                }
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
    tokio::time::timeout(Duration::from_secs(15), ready.recv())
        .await
        .expect("the test subscriber could not subscribe");
    Inbox {
        rx,
        seen: Vec::new(),
    }
}

impl Inbox {
    /// Forget what arrived so far (before a change whose effect the test waits for).
    pub fn clear(&mut self) {
        while self.rx.try_recv().is_ok() {}
        self.seen.clear();
    }

    /// The first message on `topic` whose payload passes `pred`, already seen or within `secs`.
    pub async fn wait_for(
        &mut self,
        topic: &str,
        secs: u64,
        pred: impl Fn(&str) -> bool,
    ) -> String {
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

    /// Like [`Inbox::wait_for`], parsed as JSON.
    pub async fn wait_json(&mut self, topic: &str, secs: u64) -> Json {
        let text = self.wait_for(topic, secs, |_| true).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{topic}: {e}: {text}"))
    }

    /// Every message received so far (and within `secs` more) on topics starting with `prefix`.
    pub async fn collect(&mut self, prefix: &str, secs: u64) -> Vec<(String, String)> {
        let end = Instant::now() + Duration::from_secs(secs);
        while let Ok(Some(m)) = tokio::time::timeout_at(end, self.rx.recv()).await {
            self.seen.push(m);
        }
        self.seen
            .iter()
            .filter(|(t, _)| t.starts_with(prefix))
            .cloned()
            .collect()
    }
}

/// A client that publishes test commands.
pub async fn commander(broker: &Broker) -> AsyncClient {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let (client, mut eventloop) =
        AsyncClient::new(broker.client_options(&format!("test-commander-{n}")), 256);
    tokio::spawn(async move {
        loop {
            if eventloop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    client
}

// ---------------------------------------------------------------------------------------------
// The simulator and the gateway as processes

pub struct SimProcess {
    pub pty_dir: PathBuf,
    pub control: SocketAddr,
    _child: Child,
}

impl SimProcess {
    /// `sungate-sim` with `config` (TOML; empty: the default inverter, BMV and MPPT).
    pub async fn start(dir: &Path, config: &str) -> SimProcess {
        let pty_dir = dir.join("pty");
        let control: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut cmd = Command::new(sibling_binary("sungate-sim"));
        cmd.arg("--pty-dir")
            .arg(&pty_dir)
            .arg("--control")
            .arg(control.to_string())
            .args(["--seed", "11"]);
        if !config.is_empty() {
            let path = dir.join("sim.toml");
            std::fs::write(&path, config).unwrap();
            cmd.arg("--config").arg(path);
        }
        let log = std::fs::File::create(dir.join("sim.log")).unwrap();
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let sim = SimProcess {
            pty_dir,
            control,
            _child: child,
        };
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok((200, _)) = sim.try_http("GET", "/health", None).await {
                return sim;
            }
            assert!(
                Instant::now() < end,
                "sungate-sim did not start: {}",
                std::fs::read_to_string(dir.join("sim.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn try_http(
        &self,
        method: &str,
        path: &str,
        body: Option<&Json>,
    ) -> std::io::Result<(u16, Json)> {
        let mut stream = TcpStream::connect(self.control).await?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.control,
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        let text = String::from_utf8_lossy(&response);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
        Ok((status, serde_json::from_str(body).unwrap_or(Json::Null)))
    }

    /// A control API call that must succeed.
    pub async fn call(&self, method: &str, path: &str, body: Option<Json>) -> Json {
        let (status, json) = self.try_http(method, path, body.as_ref()).await.unwrap();
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {json}"
        );
        json
    }

    /// `GET /devices/<name>`: the device's state as the simulator sees it.
    pub async fn device(&self, name: &str) -> Json {
        self.call("GET", &format!("/devices/{name}"), None).await
    }
}

pub struct GatewayProcess {
    pub log: PathBuf,
    _child: Child,
}

impl GatewayProcess {
    /// `sungate run --config` with `config`, whose `DIR` stands for the simulator's PTYs.
    pub fn start(dir: &Path, sim: &SimProcess, config: &str, tag: &str) -> GatewayProcess {
        let path = dir.join(format!("gateway-{tag}.toml"));
        let text = config.replace("DIR", &sim.pty_dir.display().to_string());
        std::fs::write(&path, text).unwrap();
        let log = dir.join(format!("gateway-{tag}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_sungate"))
            .arg("run")
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        GatewayProcess { log, _child: child }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the gateway's log has a line containing every one of `needles`.
    pub async fn wait_log(&self, needles: &[&str], secs: u64) -> String {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self.log_text();
            if let Some(line) = text.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < end,
                "no gateway log line with {needles:?} within {secs} s:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
