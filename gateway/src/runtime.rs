//! Builds the running gateway from a checked [`Config`]: one port task per port with its
//! transport opener, the devices scheduled on it with their drivers, and one lock group per
//! physical `unit`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sungate_drivers::driver::{Command, Driver, DriverError, Outcome};
use sungate_drivers::link::{Link, LinkError};
use sungate_drivers::pi30::driver::{Pi30Driver, Pi30Options};
use sungate_drivers::transport;
use sungate_drivers::vedirect::driver::{VeDirectDriver, VeDirectOptions};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use crate::bus::Bus;
use crate::config::{Config, DeviceConfig, DriverKind, PortConfig, Transport};
use crate::port::{DeviceSlot, LockGroup, Opener, PortHandle, PortTask};

/// Opens the transport a port is configured with.
#[derive(Debug, Clone)]
pub struct TransportOpener {
    pub transport: Transport,
    pub timeout: Duration,
}

#[async_trait]
impl Opener for TransportOpener {
    async fn open(&self) -> Result<Box<dyn Link>, LinkError> {
        match &self.transport {
            Transport::Serial { path, baud } => Ok(Box::new(transport::serial::open(path, *baud)?)),
            Transport::Tcp { addr } => {
                Ok(Box::new(transport::tcp::connect(addr, self.timeout).await?))
            }
            Transport::Hid { spec } => open_hid(spec, self.timeout).await,
        }
    }

    fn describe(&self) -> String {
        match &self.transport {
            Transport::Serial { path, baud } => format!("{path} @ {baud} baud"),
            Transport::Tcp { addr } => format!("tcp://{addr}"),
            Transport::Hid { spec } => format!("hid:{spec}"),
        }
    }
}

/// Open a HID port: a hidraw path, or discovery by VID:PID[:serial] (run again on every reopen,
/// so a device that re-enumerated under another hidraw number is found again).
#[cfg(feature = "hid")]
async fn open_hid(spec: &str, timeout: Duration) -> Result<Box<dyn Link>, LinkError> {
    use sungate_drivers::transport::hid::{HidSpec, open_spec};
    let spec: HidSpec = spec
        .parse()
        .map_err(|e| LinkError::Closed(format!("hid port {spec:?}: {e}")))?;
    let (path, link) = open_spec(&spec, timeout).await?;
    tracing::info!(%spec, %path, "HID device opened");
    Ok(Box::new(link))
}

#[cfg(not(feature = "hid"))]
async fn open_hid(spec: &str, _timeout: Duration) -> Result<Box<dyn Link>, LinkError> {
    Err(LinkError::Closed(format!(
        "hid port {spec:?}: this sungate was built without the `hid` feature"
    )))
}

/// The driver a device is configured with.
pub fn build_driver(device: &DeviceConfig, port: &PortConfig) -> Box<dyn Driver> {
    match device.driver {
        DriverKind::Pi30 => Box::new(Pi30Driver::new(Pi30Options {
            queries: device.queries.clone(),
            reply_timeout: port.timeout,
            ..Pi30Options::default()
        })),
        DriverKind::Vedirect => Box::new(VeDirectDriver::new(VeDirectOptions::default())),
    }
}

/// Routes commands to the port task of a device.
#[derive(Debug, Default)]
pub struct Router {
    ports: HashMap<String, PortHandle>,
    /// device -> port
    device_ports: HashMap<String, String>,
}

impl Router {
    /// Execute a command on a device, through its port task (never in parallel with a poll).
    pub async fn execute(&self, device: &str, command: Command) -> Result<Outcome, DriverError> {
        let port = self
            .device_ports
            .get(device)
            .and_then(|p| self.ports.get(p))
            .ok_or_else(|| DriverError::Invalid(format!("no device named {device:?}")))?;
        port.execute(device, command).await
    }
}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    pub bus: Bus,
    router: Arc<Router>,
    tasks: JoinSet<()>,
}

impl Gateway {
    /// Start with the transports from the config.
    pub fn start(config: &Config) -> Gateway {
        Gateway::start_with(config, |port| {
            Box::new(TransportOpener {
                transport: port.transport.clone(),
                timeout: port.timeout,
            })
        })
    }

    /// Start with custom openers (tests connect in-memory links to a simulator).
    pub fn start_with(config: &Config, opener: impl Fn(&PortConfig) -> Box<dyn Opener>) -> Gateway {
        let bus = Bus::default();
        // Subscribed before any port task runs, so that no Identified event is missed.
        let mqtt_rx = config.mqtt.as_ref().map(|_| bus.subscribe());
        let mut groups: HashMap<String, LockGroup> = HashMap::new();
        let mut tasks = JoinSet::new();
        let mut ports = HashMap::new();
        let mut device_ports = HashMap::new();
        for port in &config.ports {
            let slots: Vec<DeviceSlot> = config
                .devices
                .iter()
                .filter(|d| d.port == port.name)
                .map(|d| {
                    device_ports.insert(d.name.clone(), port.name.clone());
                    DeviceSlot::new(d.name.clone(), build_driver(d, port), d.poll_interval)
                })
                .collect();
            if slots.is_empty() {
                continue;
            }
            let lock = port.unit.as_ref().map(|unit| {
                groups
                    .entry(unit.clone())
                    .or_insert_with(|| Arc::new(Mutex::new(())))
                    .clone()
            });
            let (task, handle) =
                PortTask::new(port.name.clone(), opener(port), lock, slots, bus.clone());
            tasks.spawn(task.run());
            ports.insert(port.name.clone(), handle);
        }
        let router = Arc::new(Router {
            ports,
            device_ports,
        });
        for bridge in &config.bridges {
            tasks.spawn(crate::bridge::run(
                bridge.clone(),
                router.clone(),
                bus.clone(),
            ));
        }
        if let (Some(mqtt), Some(rx)) = (&config.mqtt, mqtt_rx) {
            let devices = config
                .devices
                .iter()
                .filter_map(|d| {
                    let port = config.port(&d.port)?;
                    Some(crate::mqtt::MqttDevice {
                        name: d.name.clone(),
                        driver: d.driver,
                        fields: build_driver(d, port).fields().to_vec(),
                    })
                })
                .collect();
            tasks.spawn(crate::mqtt::run(mqtt.clone(), devices, router.clone(), rx));
        }
        Gateway { bus, router, tasks }
    }

    /// Execute a command on a device, through its port task (never in parallel with a poll).
    pub async fn execute(&self, device: &str, command: Command) -> Result<Outcome, DriverError> {
        self.router.execute(device, command).await
    }

    pub fn devices(&self) -> impl Iterator<Item = &str> {
        self.router.device_ports.keys().map(String::as_str)
    }

    /// Stop every port task.
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
    }
}
