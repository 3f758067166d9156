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
//! Starting the binaries, mosquitto and the subscriber is shared with the soak tool
//! (`sungate_tests::harness`); this wraps it in panicking helpers for tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, MqttOptions};
use serde_json::Value as Json;
use sungate_tests::harness::{self, Control, Message, SimChild};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Child;
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
    harness::free_port().unwrap()
}

async fn wait_tcp(port: u16, what: &str) {
    harness::wait_tcp(port, what, Duration::from_secs(15))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
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
    harness::find_program(name).unwrap_or_else(|| {
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
        let mut conf = format!(
            "# sungate e2e test broker\n{}",
            harness::mosquitto_conf(port)
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
                *child = Some(Box::new(
                    harness::spawn_mosquitto(conf, log).unwrap_or_else(|e| panic!("{e:#}")),
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
    rx: mpsc::UnboundedReceiver<Message>,
    seen: Vec<(String, String)>,
}

/// A subscriber on `#` (it reconnects by itself when the broker comes back).
pub async fn subscriber(broker: &Broker) -> Inbox {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let options = broker.client_options(&format!("test-subscriber-{n}"));
    let rx = harness::subscribe(options, &["#"])
        .await
        .unwrap_or_else(|e| panic!("the test subscriber: {e:#}"));
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

    async fn next(&mut self, until: Instant) -> Option<(String, String)> {
        match tokio::time::timeout_at(until, self.rx.recv()).await {
            Ok(Some(m)) => Some((m.topic, m.payload)),
            _ => None,
        }
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
            match self.next(end).await {
                Some((t, p)) if t == topic && pred(&p) => return p,
                Some(m) => self.seen.push(m),
                None => panic!("nothing matching on {topic} within {secs} s"),
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
        while let Some(m) = self.next(end).await {
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
    api: Control,
    _child: SimChild,
}

impl SimProcess {
    /// `sungate-sim` with `config` (TOML; empty: the default inverter, BMV and MPPT).
    pub async fn start(dir: &Path, config: &str) -> SimProcess {
        let sim = SimChild::start(&sibling_binary("sungate-sim"), dir, config, 11)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        SimProcess {
            pty_dir: sim.pty_dir.clone(),
            control: sim.control.addr,
            api: sim.control,
            _child: sim,
        }
    }

    /// A control API call that must succeed.
    pub async fn call(&self, method: &str, path: &str, body: Option<Json>) -> Json {
        self.api
            .call(method, path, body.as_ref())
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// `GET /devices/<name>`: the device's state as the simulator sees it.
    pub async fn device(&self, name: &str) -> Json {
        self.call("GET", &format!("/devices/{name}"), None).await
    }
}

pub struct GatewayProcess {
    pub log: PathBuf,
    child: Child,
}

impl GatewayProcess {
    /// `sungate run --config` with `config`, whose `DIR` stands for the simulator's PTYs.
    pub fn start(dir: &Path, sim: &SimProcess, config: &str, tag: &str) -> GatewayProcess {
        let path = dir.join(format!("gateway-{tag}.toml"));
        let text = config.replace("DIR", &sim.pty_dir.display().to_string());
        std::fs::write(&path, text).unwrap();
        let log = dir.join(format!("gateway-{tag}.log"));
        let child =
            harness::spawn_gateway(Path::new(env!("CARGO_BIN_EXE_sungate")), &path, &log, None)
                .unwrap_or_else(|e| panic!("{e:#}"));
        GatewayProcess { log, child }
    }

    /// SIGTERM, as systemd stops a service; the exit status once it has stopped.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("the gateway is still running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("the gateway did not stop within 15 s of SIGTERM"))
            .unwrap()
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
