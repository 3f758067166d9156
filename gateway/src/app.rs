//! The running gateway, assembled from a checked [`Config`]: the core (one port task per port
//! with its opener, the devices scheduled on it with their drivers, one lock group per physical
//! `unit`), then what follows the core: the bridges and the sinks (MQTT). This is the one
//! place that knows all the layers; the layers below never import what is above them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use sungate_drivers::driver::{Command, DriverError, Outcome};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use crate::config::{Config, ConfigError, PortConfig};
use crate::core::bus::Bus;
use crate::core::energy::EnergyMeter;
use crate::core::health::Health;
use crate::core::opener::{TransportOpener, build_driver, field_specs};
use crate::core::port_task::{DeviceSlot, LockGroup, Opener, PortTask};
use crate::core::router::Router;
use crate::http::live::Live;

/// Load a config file and check what it refers to (TLS files), as `run` and `check-config` do.
pub fn load_config(path: &Path) -> Result<Config, ConfigError> {
    let config = Config::load(path)?;
    check_resources(&config)?;
    Ok(config)
}

/// Checks that need more than the config text: files it names must exist and parse. Errors
/// name the file and line of the key, like every other config error.
pub fn check_resources(config: &Config) -> Result<(), ConfigError> {
    if let Some(tls) = config.mqtt.as_ref().and_then(|m| m.tls.as_ref()) {
        crate::mqtt::tls::client_config(tls)
            .map_err(|e| config.error_at(tls.line_of(e.path()), format!("mqtt TLS: {e}")))?;
    }
    if let Some(http) = &config.http {
        let line = http.token_file.as_ref().map_or(1, |(_, line)| *line);
        http.read_token()
            .map_err(|e| config.error_at(line, e.to_string()))?;
    }
    Ok(())
}

/// The last stored snapshot of each device, where the energy counters go on from. Without a
/// history store the counters live in memory only: the integrated ones start again from zero
/// at each start (the device's own counters are the device's).
fn restore_energy(config: &Config) -> HashMap<String, (i64, sungate_drivers::Reading)> {
    let mut out = HashMap::new();
    let Some(history) = &config.history else {
        tracing::info!(
            "no [history]: energy counters integrated by the gateway start from zero at each start"
        );
        return out;
    };
    if !history.path.exists() {
        return out;
    }
    let reader = match crate::history::HistoryReader::open(&history.path) {
        Ok(reader) => reader,
        Err(err) => {
            tracing::error!(%err, "cannot read the history: energy counters integrated by the gateway start from zero");
            return out;
        }
    };
    for device in &config.devices {
        match reader.last_snapshot(&device.name) {
            Ok(Some(last)) => {
                tracing::info!(device = %device.name, at_ms = last.0, "energy counters restored from the history");
                out.insert(device.name.clone(), last);
            }
            Ok(None) => {}
            Err(err) => {
                tracing::error!(device = %device.name, %err, "cannot restore the energy counters: integrated ones start from zero");
            }
        }
    }
    out
}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    pub bus: Bus,
    /// The gateway's own counters (polls, latency, sinks).
    pub health: Arc<Health>,
    router: Arc<Router>,
    tasks: JoinSet<()>,
    /// What the dashboard needs, when `[http]` is configured: served by [`Gateway::serve_http`].
    http: Option<Arc<crate::http::Context>>,
    /// Tasks that must finish their work when the gateway stops (told by `stop`).
    flushing: JoinSet<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

/// How long a stopping gateway waits for its last history batch.
pub const FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

impl Gateway {
    /// Start with the transports from the config.
    pub fn start(config: &Config) -> Gateway {
        Gateway::start_with(config, |port| Box::new(TransportOpener::for_port(port)))
    }

    /// Start with custom openers (tests connect in-memory links to a simulator).
    pub fn start_with(config: &Config, opener: impl Fn(&PortConfig) -> Box<dyn Opener>) -> Gateway {
        let bus = Bus::default();
        let health = Arc::new(Health::new(config.ports.iter().map(|p| p.name.as_str())));
        // Subscribed before any port task runs, so that no Identified event is missed.
        let live_rx = config.http.as_ref().map(|_| bus.subscribe());
        // Subscribed before any port task runs, so that no Identified event is missed.
        let mqtt_rx = config.mqtt.as_ref().map(|_| bus.subscribe());
        let mut groups: HashMap<String, LockGroup> = HashMap::new();
        let mut tasks = JoinSet::new();
        let mut flushing = JoinSet::new();
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        // The history writer (and the daily CSV logs): subscribed before any port task runs,
        // and told to write its last batch when the gateway stops.
        if let Some(writer) = crate::history::WriterConfig::from_config(config) {
            flushing.spawn(crate::history::run(
                writer,
                bus.subscribe(),
                health.clone(),
                stop_rx,
            ));
        }
        let mut restored = restore_energy(config);
        let mut router = Router::new();
        for port in &config.ports {
            let devices: Vec<_> = config.devices_on(&port.name).collect();
            if devices.is_empty() {
                continue;
            }
            let slots = devices
                .iter()
                .map(|d| {
                    let slot =
                        DeviceSlot::new(d.name.clone(), build_driver(d, port), d.poll_interval);
                    match restored.remove(&d.name) {
                        Some((at_ms, stored)) => {
                            let mut meter = EnergyMeter::new(d.poll_interval);
                            meter.restore(at_ms, &stored);
                            slot.with_energy(meter)
                        }
                        None => slot,
                    }
                })
                .collect();
            let lock = port.unit.as_ref().map(|unit| {
                groups
                    .entry(unit.clone())
                    .or_insert_with(|| Arc::new(Mutex::new(())))
                    .clone()
            });
            let (task, handle) =
                PortTask::new(port.name.clone(), opener(port), lock, slots, bus.clone());
            tasks.spawn(
                task.with_timing(config.gateway.timing)
                    .with_health(health.port(&port.name))
                    .run(),
            );
            for d in &devices {
                router.add(&d.name, &handle);
            }
        }
        let router = Arc::new(router);
        for bridge in &config.bridges {
            tasks.spawn(crate::bridge::run(
                bridge.clone(),
                router.clone(),
                bus.clone(),
                health.clone(),
            ));
        }
        if let (Some(mqtt), Some(rx)) = (&config.mqtt, mqtt_rx) {
            let mut sources: Vec<crate::mqtt::MqttDevice> = config
                .devices
                .iter()
                .map(|d| crate::mqtt::MqttDevice::device(d, &field_specs(config, d)))
                .collect();
            sources.extend(config.bridges.iter().map(crate::mqtt::MqttDevice::bridge));
            tasks.spawn(crate::mqtt::run(
                mqtt.clone(),
                sources,
                router.clone(),
                rx,
                bus.clone(),
                health.clone(),
            ));
        }
        let http = match (&config.http, live_rx) {
            (Some(cfg), Some(rx)) => {
                let entries = crate::http::entries(config);
                let live = Arc::new(Live::new(entries.iter().map(|e| e.name.as_str())));
                tasks.spawn(crate::http::live::follow(live.clone(), rx));
                // Checked when the config was loaded; unreadable since then: no writes.
                let token = cfg.read_token().unwrap_or_else(|e| {
                    tracing::error!(error = %e, "HTTP writes refused: cannot read the token");
                    None
                });
                Some(Arc::new(crate::http::Context {
                    cfg: cfg.clone(),
                    token,
                    gateway_name: config
                        .gateway
                        .name
                        .clone()
                        .unwrap_or_else(|| "sungate".into()),
                    devices: entries,
                    live,
                    router: router.clone(),
                    health: health.clone(),
                    bus: bus.clone(),
                    history: config
                        .history
                        .as_ref()
                        .map(|h| crate::history::HistoryReader::lazy(&h.path)),
                    limits: Default::default(),
                }))
            }
            _ => None,
        };
        Gateway {
            bus,
            health,
            router,
            tasks,
            http,
            flushing,
            stop,
        }
    }

    /// Execute a command on a device, through its port task (never in parallel with a poll).
    pub async fn execute(&self, device: &str, command: Command) -> Result<Outcome, DriverError> {
        self.router.execute(device, command).await
    }

    pub fn devices(&self) -> impl Iterator<Item = &str> {
        self.router.devices()
    }

    /// Serve the dashboard and API on `listener` (see [`crate::http::bind`]); nothing when the
    /// config has no `[http]` section.
    pub fn serve_http(&mut self, listener: std::net::TcpListener) {
        if let Some(ctx) = &self.http {
            self.tasks.spawn(crate::http::serve(ctx.clone(), listener));
        }
    }

    /// Stop: the tasks that keep data (the history writer's last batch) finish their work
    /// first, for at most [`FLUSH_LIMIT`]; then every task is stopped.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let flushed = tokio::time::timeout(FLUSH_LIMIT, async {
            while self.flushing.join_next().await.is_some() {}
        })
        .await;
        if flushed.is_err() {
            tracing::warn!(limit = ?FLUSH_LIMIT, "stopping without the last history batch: it took too long");
        }
        self.flushing.shutdown().await;
        self.tasks.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: &str = "[[port]]\nname = \"p\"\nserial = \"/dev/x\"\n[[device]]\nname = \"inverter\"\ndriver = \"pi30\"\nport = \"p\"\n[gateway]\nname = \"cabin\"\n";

    #[test]
    fn tls_files_are_checked_with_the_line_of_their_key() {
        for (extra, line, needle) in [
            (
                "tls_ca_file = \"/nonexistent/ca.pem\"\n",
                12,
                "/nonexistent/ca.pem",
            ),
            ("tls_ca_file = \"/etc/hostname\"\n", 12, "no CERTIFICATE"),
            (
                "tls_ca_file = \"/etc/hostname\"\nclient_cert = \"/etc/hostname\"\nclient_key = \"/nonexistent/key.pem\"\n",
                12,
                "no CERTIFICATE",
            ),
        ] {
            let config =
                Config::parse(&format!("{DEV}[mqtt]\nhost = \"broker\"\n{extra}"), "t").unwrap();
            let err = check_resources(&config).unwrap_err().to_string();
            assert!(err.contains(needle), "{extra}: {err}");
            assert!(
                err.starts_with(&format!("t:{line}: mqtt TLS")),
                "{extra}: {err}"
            );
        }
        let plain = Config::parse(&format!("{DEV}[mqtt]\nhost = \"broker\"\n"), "t").unwrap();
        assert!(check_resources(&plain).is_ok());
    }
}
