//! MQTT output: state snapshots, availability, Home Assistant discovery and command topics.
//!
//! Three tasks, so that nothing here can slow the device polling down:
//! - the **publisher** follows the bus (a broadcast: if it lags it skips events, the port tasks
//!   never wait for it). Its decisions are made by [`publisher::Publisher`], a state machine
//!   that keeps the latest state, availability and identity of every configured device and
//!   bridge (one entry each, so it is bounded) and says what to publish; this task only hands
//!   its actions to the client with `try_publish`, never waiting for the broker.
//! - the **event loop** polls rumqttc; polling again after an error is how rumqttc reconnects.
//! - the **command** task validates and executes `<prefix>/<device>/set/<setting>` through the
//!   [`Router`], i.e. in the device's port task, never in parallel with a poll.

pub mod commands;
pub mod compat;
pub mod device;
pub mod discovery;
pub mod publisher;
pub mod tls;
pub mod topics;

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, LastWill, MqttOptions, Packet, QoS,
    TlsConfiguration, Transport,
};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;

use crate::config::MqttConfig;
use crate::core::bus::{Bus, Event};
use crate::core::health::{self, Health};
use crate::core::router::Router;
pub use device::MqttDevice;
use publisher::{Action, Publisher};
pub use topics::{gateway_availability_topic, qos};

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
    audit: Bus,
    health: Arc<Health>,
) {
    health::set_flag(&health.mqtt.configured, true);
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
    tasks.spawn(event_loop(
        cfg.clone(),
        eventloop,
        link_tx,
        cmd_tx,
        health.clone(),
    ));
    tasks.spawn(commands::run(
        cfg.clone(),
        devices
            .iter()
            .filter_map(|d| Some((d.name.clone(), d.driver?)))
            .collect(),
        router,
        client.clone(),
        cmd_rx,
        audit,
    ));
    let publisher = Publisher::new(cfg.clone(), devices);
    publish_loop(publisher, &client, qos(cfg.qos), bus, link_rx, &health).await;
}

/// Follow the bus and the connection; hand the publisher's actions to the client.
async fn publish_loop(
    mut publisher: Publisher,
    client: &AsyncClient,
    qos: QoS,
    mut bus: broadcast::Receiver<Event>,
    mut link: mpsc::Receiver<Link>,
    health: &Health,
) {
    loop {
        let actions = tokio::select! {
            event = bus.recv() => match event {
                Ok(event) => publisher.on_event(event),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    // Only the latest state matters; the next snapshot replaces what was lost.
                    tracing::debug!(skipped = n, "MQTT publisher lagged behind the bus");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            Some(l) = link.recv() => match l {
                Link::Connected => publisher.on_connected(),
                Link::Disconnected => {
                    publisher.on_disconnected();
                    continue;
                }
                Link::HaStatus(status) => publisher.on_ha_status(&status),
            },
        };
        for action in actions {
            match action {
                Action::Publish {
                    topic,
                    retain,
                    payload,
                } => {
                    // Never awaited: a stuck connection must not block the publisher.
                    match client.try_publish(topic.as_str(), qos, retain, payload) {
                        Ok(()) => health::add(&health.mqtt.published, 1),
                        Err(e) => {
                            health::add(&health.mqtt.dropped, 1);
                            tracing::warn!(%topic, error = %e, "MQTT publish dropped");
                        }
                    }
                }
                Action::Subscribe { topic } => {
                    if let Err(e) = client.try_subscribe(topic.as_str(), qos) {
                        tracing::warn!(%topic, error = %e, "MQTT subscribe failed");
                    }
                }
            }
        }
    }
}

async fn event_loop(
    cfg: Arc<MqttConfig>,
    mut eventloop: rumqttc::EventLoop,
    link: mpsc::Sender<Link>,
    commands: mpsc::Sender<commands::Received>,
    health: Arc<Health>,
) {
    let status_topic = format!("{}/status", cfg.discovery_prefix);
    let (backoff_min, backoff_max) = cfg.reconnect;
    let mut backoff = backoff_min;
    // A ConnAck since the last error: the broker accepted this connection.
    let mut connected = false;
    // Commands dropped since the queue last had room.
    let mut dropped = 0u64;
    loop {
        match eventloop.poll().await {
            Ok(rumqttc::Event::Incoming(Packet::ConnAck(ack))) => {
                tracing::info!(host = %cfg.host, port = cfg.port, session = ack.session_present, "MQTT connected");
                connected = true;
                health::set_flag(&health.mqtt.connected, true);
                health::add(&health.mqtt.connects, 1);
                backoff = backoff_min;
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
                health::set_flag(&health.mqtt.connected, false);
                if connected {
                    connected = false;
                    let _ = link.send(Link::Disconnected).await;
                }
                // Polling again is what reconnects; the pause keeps a dead broker from spinning.
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(backoff_max);
            }
        }
    }
}

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
