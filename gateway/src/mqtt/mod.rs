//! MQTT output: state snapshots, availability, Home Assistant discovery and command topics.
//!
//! Three tasks, so that nothing here can slow the device polling down:
//! - the **publisher** follows the bus (a broadcast: if it lags it skips events, the port tasks
//!   never wait for it) and keeps the latest state, availability and identity of every configured
//!   device. While the broker is away it only updates that memory (one entry per device, so it is
//!   bounded) and publishes it all again on reconnect.
//! - the **event loop** polls rumqttc; polling again after an error is how rumqttc reconnects.
//! - the **command** task validates and executes `<prefix>/<device>/set/<setting>` through the
//!   [`Router`], i.e. in the device's port task, never in parallel with a poll.

pub mod commands;
pub mod compat;
pub mod discovery;
pub mod tls;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, LastWill, MqttOptions, Packet, QoS,
    TlsConfiguration, Transport,
};
use serde_json::Value as Json;
use sungate_drivers::Reading;
use sungate_drivers::driver::{DeviceInfo, FieldSpec, Snapshot};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;

use crate::bus::Event;
use crate::config::{DriverKind, MqttConfig};
use crate::runtime::Router;

/// What the MQTT tasks need to know about a configured device.
#[derive(Debug, Clone)]
pub struct MqttDevice {
    pub name: String,
    pub driver: DriverKind,
    /// The driver's field metadata, for discovery.
    pub fields: Vec<FieldSpec>,
}

/// From the event loop to the publisher.
#[derive(Debug)]
enum Link {
    Connected,
    Disconnected,
    /// Home Assistant's birth/will message on `<discovery_prefix>/status`.
    HaStatus(String),
}

/// The largest "remaining length" an MQTT 3.1.1 packet can announce (four length bytes).
const MQTT_MAX_REMAINING_LENGTH: usize = 268_435_455;

pub fn qos(level: u8) -> QoS {
    match level {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

pub fn gateway_availability_topic(cfg: &MqttConfig) -> String {
    format!("{}/gateway/availability", cfg.prefix)
}

fn options(cfg: &MqttConfig) -> Result<MqttOptions, tls::TlsError> {
    let mut o = MqttOptions::new(cfg.client_id.clone(), cfg.host.clone(), cfg.port);
    o.set_keep_alive(cfg.keep_alive);
    // A fresh session on every connect: subscriptions are made again on each ConnAck, and
    // nothing stale is replayed from a previous session.
    o.set_clean_session(true);
    // Incoming: anything the broker may deliver. rumqttc treats a packet above its limit as a
    // protocol error and drops the connection; then one oversize (worse: retained) message on
    // a command topic would cut the gateway off the broker again and again. So the limit is
    // MQTT's own maximum, and commands.rs refuses such payloads at once (nothing is queued or
    // copied). The broker's `message_size_limit` bounds the memory this can take.
    // Outgoing: discovery configs with a device block are well below 64 KiB.
    o.set_max_packet_size(MQTT_MAX_REMAINING_LENGTH, 64 * 1024);
    if let (Some(user), Some(pass)) = (&cfg.username, &cfg.password) {
        o.set_credentials(user.clone(), pass.expose());
    } else if let Some(user) = &cfg.username {
        o.set_credentials(user.clone(), "");
    }
    if let Some(files) = &cfg.tls {
        // Checked when the config was loaded; a file broken since then is reported by `run`.
        let config = tls::client_config(files)?;
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
    }
    o.set_last_will(LastWill::new(
        gateway_availability_topic(cfg),
        "offline",
        qos(cfg.qos),
        true,
    ));
    Ok(o)
}

/// Run the MQTT output until the gateway stops (the task is aborted with the gateway's tasks;
/// the broker then publishes the last will).
pub async fn run(
    cfg: MqttConfig,
    devices: Vec<MqttDevice>,
    router: Arc<Router>,
    bus: broadcast::Receiver<Event>,
) {
    let cfg = Arc::new(cfg);
    // Room for a full discovery round of every device plus states; publishing never waits for
    // room (try_publish) so a stuck broker connection cannot block the publisher.
    let options = match options(&cfg) {
        Ok(o) => o,
        Err(e) => {
            // Never a silent downgrade to plain TCP: no MQTT at all, said loudly; polling goes on.
            tracing::error!(error = %e, "MQTT TLS setup failed: not connecting to the broker");
            return;
        }
    };
    let (client, eventloop) = AsyncClient::new(options, 4096);
    let (link_tx, link_rx) = mpsc::channel(64);
    let (cmd_tx, cmd_rx) = mpsc::channel(32);
    // Dropped (and so aborted) with this task.
    let mut tasks = JoinSet::new();
    tasks.spawn(event_loop(cfg.clone(), eventloop, link_tx, cmd_tx));
    tasks.spawn(commands::run(
        cfg.clone(),
        devices.iter().map(|d| (d.name.clone(), d.driver)).collect(),
        router,
        client.clone(),
        cmd_rx,
    ));
    let mut publisher = Publisher::new(cfg, client, devices);
    publisher.run(bus, link_rx).await;
}

async fn event_loop(
    cfg: Arc<MqttConfig>,
    mut eventloop: rumqttc::EventLoop,
    link: mpsc::Sender<Link>,
    commands: mpsc::Sender<commands::Received>,
) {
    let status_topic = format!("{}/status", cfg.discovery_prefix);
    let mut backoff = Duration::from_millis(500);
    // A ConnAck since the last error: the broker accepted this connection.
    let mut connected = false;
    // Commands dropped since the queue last had room.
    let mut dropped = 0u64;
    loop {
        match eventloop.poll().await {
            Ok(rumqttc::Event::Incoming(Packet::ConnAck(ack))) => {
                tracing::info!(host = %cfg.host, port = cfg.port, session = ack.session_present, "MQTT connected");
                connected = true;
                backoff = Duration::from_millis(500);
                let _ = link.send(Link::Connected).await;
            }
            Ok(rumqttc::Event::Incoming(Packet::Publish(p))) => {
                if p.topic == status_topic {
                    // "online" / "offline"; anything longer is not Home Assistant talking.
                    if p.payload.len() <= 16 {
                        let status = String::from_utf8_lossy(&p.payload).trim().to_owned();
                        let _ = link.send(Link::HaStatus(status)).await;
                    }
                } else if commands.try_send(commands::Received::from(p)).is_ok() {
                    dropped = 0;
                } else {
                    // A flood: the command task is behind. Dropping is the rate limit of last
                    // resort; the per-device limit answers the ones that get through. One log
                    // line per flood, not one per dropped message.
                    dropped += 1;
                    if dropped == 1 {
                        tracing::warn!(
                            "MQTT command flood: queue full, commands dropped unanswered"
                        );
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                report_connection_error(&cfg, &e, connected, backoff);
                if connected {
                    connected = false;
                    let _ = link.send(Link::Disconnected).await;
                }
                // Polling again is what reconnects; the pause keeps a dead broker from spinning.
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// One state topic of a device: the device itself, or unit `n` of its parallel stack.
/// One log line per failed connection, saying what to fix where we can tell.
fn report_connection_error(
    cfg: &MqttConfig,
    e: &ConnectionError,
    accepted: bool,
    retry_in: Duration,
) {
    let user = cfg.username.as_deref().unwrap_or("");
    match e {
        ConnectionError::ConnectionRefused(
            code @ (ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized),
        ) => tracing::error!(
            host = %cfg.host,
            user,
            ?code,
            "MQTT broker refused the user name or password; check [mqtt] username/password"
        ),
        // Some brokers (rumqttd, some cloud brokers) refuse credentials by closing the
        // connection without a ConnAck: with credentials set, that is the likely cause.
        ConnectionError::MqttState(rumqttc::StateError::ConnectionAborted)
            if !accepted && cfg.username.is_some() =>
        {
            tracing::error!(
                host = %cfg.host,
                port = cfg.port,
                user,
                ?retry_in,
                "MQTT broker closed the connection before accepting it: most likely a wrong user \
                 name or password; check [mqtt] username/password"
            )
        }
        ConnectionError::Tls(tls) => tracing::error!(
            host = %cfg.host,
            port = cfg.port,
            error = %tls,
            ?retry_in,
            "MQTT TLS handshake failed; check [mqtt] tls_ca_file (the CA that signed the \
             broker's certificate) and that host matches the certificate"
        ),
        _ => tracing::warn!(
            host = %cfg.host,
            port = cfg.port,
            error = %e,
            ?retry_in,
            "MQTT connection failed"
        ),
    }
}

#[derive(Debug)]
struct View {
    /// (QPGS index, the serial number that unit reported)
    unit: Option<(u8, Option<String>)>,
    reading: Arc<Reading>,
}

#[derive(Debug)]
struct Latest {
    at: SystemTime,
    views: Vec<View>,
    sections: Option<Arc<Snapshot>>,
}

/// `QPGS3` -> 3: the sections that describe one unit of a parallel stack.
fn parallel_unit(section: &str) -> Option<u8> {
    let n = section.strip_prefix("QPGS")?;
    match n.as_bytes() {
        [d @ b'0'..=b'9'] => Some(d - b'0'),
        _ => None,
    }
}

/// Split a snapshot into the device's own view and one view per parallel unit (QPGSn), so that
/// every unit is its own HA device instead of `qpgs1_battery_voltage`-style fields.
fn views(reading: Arc<Reading>, sections: Option<&Snapshot>) -> Vec<View> {
    let Some(sections) = sections.filter(|s| {
        s.sections
            .iter()
            .any(|(name, _)| parallel_unit(name).is_some())
    }) else {
        return vec![View {
            unit: None,
            reading,
        }];
    };
    let own = Snapshot {
        sections: sections
            .sections
            .iter()
            .filter(|(name, _)| parallel_unit(name).is_none())
            .cloned()
            .collect(),
    };
    let mut out = Vec::new();
    if !own.sections.is_empty() {
        out.push(View {
            unit: None,
            reading: Arc::new(own.flatten()),
        });
    }
    for (name, r) in &sections.sections {
        if let Some(n) = parallel_unit(name) {
            let serial = r
                .value("serial_number")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            out.push(View {
                unit: Some((n, serial)),
                reading: Arc::new(r.clone()),
            });
        }
    }
    out
}

#[derive(Debug, Default)]
struct DeviceState {
    fields: Vec<FieldSpec>,
    info: Option<DeviceInfo>,
    online: Option<bool>,
    latest: Option<Latest>,
    /// `<view key>/<field>` whose discovery config went out since the last (re)connect.
    announced: HashSet<String>,
}

impl DeviceState {
    fn ha_device(&self, cfg: &MqttConfig, name: &str, view: &View) -> discovery::HaDevice {
        match &view.unit {
            None => discovery::HaDevice::main(cfg, name, self.info.as_ref()),
            Some((n, serial)) => {
                discovery::HaDevice::unit(cfg, name, self.info.as_ref(), *n, serial.as_deref())
            }
        }
    }
}

struct Publisher {
    cfg: Arc<MqttConfig>,
    client: AsyncClient,
    devices: HashMap<String, DeviceState>,
    connected: bool,
}

impl Publisher {
    fn new(cfg: Arc<MqttConfig>, client: AsyncClient, devices: Vec<MqttDevice>) -> Self {
        let devices = devices
            .into_iter()
            .map(|d| {
                (
                    d.name,
                    DeviceState {
                        fields: d.fields,
                        ..DeviceState::default()
                    },
                )
            })
            .collect();
        Publisher {
            cfg,
            client,
            devices,
            connected: false,
        }
    }

    async fn run(&mut self, mut bus: broadcast::Receiver<Event>, mut link: mpsc::Receiver<Link>) {
        loop {
            tokio::select! {
                event = bus.recv() => match event {
                    Ok(event) => self.on_event(event),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        // Only the latest state matters; the next snapshot replaces what was lost.
                        tracing::debug!(skipped = n, "MQTT publisher lagged behind the bus");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                Some(l) = link.recv() => self.on_link(l),
            }
        }
    }

    fn publish(&self, topic: String, retain: bool, payload: Vec<u8>) {
        if let Err(e) = self
            .client
            .try_publish(topic.as_str(), qos(self.cfg.qos), retain, payload)
        {
            tracing::warn!(%topic, error = %e, "MQTT publish dropped");
        }
    }

    fn on_link(&mut self, l: Link) {
        match l {
            Link::Connected => {
                self.connected = true;
                let q = qos(self.cfg.qos);
                for topic in [
                    format!("{}/+/set/+", self.cfg.prefix),
                    format!("{}/status", self.cfg.discovery_prefix),
                ] {
                    if let Err(e) = self.client.try_subscribe(topic.as_str(), q) {
                        tracing::warn!(%topic, error = %e, "MQTT subscribe failed");
                    }
                }
                self.publish(
                    gateway_availability_topic(&self.cfg),
                    true,
                    b"online".to_vec(),
                );
                let names: Vec<String> = self.devices.keys().cloned().collect();
                for name in names {
                    self.publish_availability(&name);
                    self.announce(&name, true);
                    self.publish_state(&name);
                }
            }
            Link::Disconnected => {
                self.connected = false;
                tracing::debug!("MQTT disconnected: keeping the latest state per device");
            }
            Link::HaStatus(status) => {
                if status == "online" {
                    tracing::info!("Home Assistant came online: publishing discovery again");
                    let names: Vec<String> = self.devices.keys().cloned().collect();
                    for name in names {
                        self.announce(&name, true);
                    }
                }
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        let Some(state) = self.devices.get_mut(event.device()) else {
            return;
        };
        let name = event.device().to_owned();
        match event {
            Event::Snapshot {
                at,
                reading,
                sections,
                ..
            } => {
                state.latest = Some(Latest {
                    at,
                    views: views(reading, sections.as_deref()),
                    sections,
                });
                self.announce(&name, false);
                self.publish_state(&name);
            }
            Event::Availability { online, reason, .. } => {
                if state.online != Some(online) {
                    tracing::debug!(device = %name, online, reason = reason.as_deref().unwrap_or(""), "availability");
                }
                state.online = Some(online);
                self.publish_availability(&name);
            }
            Event::Identified { info, .. } => {
                let changed = state.info.as_ref() != Some(&info);
                state.info = Some(info);
                if changed {
                    // The device block (serial, firmware) changed: every config goes out again.
                    self.announce(&name, true);
                }
            }
        }
    }

    fn publish_availability(&self, name: &str) {
        let Some(online) = self.devices.get(name).and_then(|s| s.online) else {
            return;
        };
        if self.connected {
            let payload = if online { "online" } else { "offline" };
            self.publish(
                format!("{}/{name}/availability", self.cfg.prefix),
                true,
                payload.as_bytes().to_vec(),
            );
        }
    }

    fn publish_state(&self, name: &str) {
        if !self.connected {
            return;
        }
        let Some(state) = self.devices.get(name) else {
            return;
        };
        let Some(latest) = &state.latest else {
            return;
        };
        for view in &latest.views {
            let topic = discovery::state_topic(&self.cfg, name, view.unit.as_ref().map(|u| u.0));
            let payload = state_payload(&view.reading, latest.at);
            self.publish(topic, self.cfg.retain, payload);
        }
        if self.cfg.compat_axpert.as_deref() == Some(name) {
            if let Some(sections) = &latest.sections {
                self.publish_compat(state, sections);
            }
        }
    }

    /// The seeds' `power/axpert` topics (see compat.rs).
    fn publish_compat(&self, state: &DeviceState, sections: &Snapshot) {
        let json = |j: &Json| serde_json::to_vec(j).unwrap_or_default();
        if let Some(p) = compat::parallel(sections) {
            self.publish(compat::PARALLEL_TOPIC.to_owned(), self.cfg.retain, json(&p));
        }
        // The add-on names the topic after the connected unit's serial: without one (QSID and
        // QID refused) there is no topic to publish on.
        let serial = state.info.as_ref().and_then(|i| i.serial.as_deref());
        if let Some((topic, u)) = serial.and_then(|s| compat::unit(sections, s)) {
            self.publish(topic, self.cfg.retain, json(&u));
        }
    }

    /// Send discovery configs for the fields of the latest snapshot not announced yet (`all`:
    /// every field again).
    fn announce(&mut self, name: &str, all: bool) {
        let Some(state) = self.devices.get_mut(name) else {
            return;
        };
        if all {
            state.announced.clear();
        }
        if !self.cfg.discovery || !self.connected {
            return;
        }
        let Some(latest) = &state.latest else {
            return;
        };
        let mut out = Vec::new();
        for view in &latest.views {
            let target = state.ha_device(&self.cfg, name, view);
            for field in view.reading.iter() {
                let key = format!("{}/{}", target.key, field.name);
                if state.announced.contains(&key) {
                    continue;
                }
                let spec = state.fields.iter().find(|s| s.name == field.name);
                out.push(discovery::config_for(&self.cfg, &target, field, spec));
                state.announced.insert(key);
            }
        }
        for (topic, payload) in out {
            self.publish(topic, true, payload);
        }
    }
}

/// Unix seconds with milliseconds.
fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as f64 / 1000.0)
        .unwrap_or(0.0)
}

/// `{"field": value, ..., "timestamp": unix seconds}`: numbers as numbers.
pub fn state_payload(reading: &Reading, at: SystemTime) -> Vec<u8> {
    let mut json = crate::decode::reading_json(reading, crate::decode::JsonStyle::Plain);
    if let Json::Object(m) = &mut json {
        m.insert("timestamp".into(), Json::from(unix_seconds(at)));
    }
    serde_json::to_vec(&json).unwrap_or_default()
}
