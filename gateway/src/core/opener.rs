//! Opens what a port is configured with, and builds the driver a device is configured with.

use std::time::Duration;

use async_trait::async_trait;
use sungate_drivers::driver::{Driver, FieldSpec};
use sungate_drivers::link::{Link, LinkError};
use sungate_drivers::transport;

use super::port_task::Opener;
use crate::config::{Config, DeviceConfig, PortConfig};
use crate::types::Transport;

/// Opens the transport a port is configured with.
#[derive(Debug, Clone)]
pub struct TransportOpener {
    pub transport: Transport,
    pub timeout: Duration,
}

impl TransportOpener {
    pub fn for_port(port: &PortConfig) -> Self {
        TransportOpener {
            transport: port.transport.clone(),
            timeout: port.timeout,
        }
    }
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
        self.transport.describe()
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

/// The driver a device is configured with (the registry, [`crate::types::DriverKind`], builds it).
pub fn build_driver(device: &DeviceConfig, port: &PortConfig) -> Box<dyn Driver> {
    device.driver.build(&device.queries, port.timeout)
}

/// The fields a configured device's driver produces, and the energy counters the core adds,
/// with their units and classes (for the sinks' metadata: discovery, the API). Only the
/// counters when the device's port is not configured.
pub fn field_specs(config: &Config, device: &DeviceConfig) -> Vec<FieldSpec> {
    let mut specs = config
        .port(&device.port)
        .map(|port| build_driver(device, port).fields().to_vec())
        .unwrap_or_default();
    specs.extend_from_slice(&super::energy::COUNTER_FIELDS);
    specs
}

/// Open a port given as a spec on the command line (`/dev/ttyUSB0`, `tcp://HOST:PORT`,
/// `hid:...`), with wire tracing like the ports of a running gateway.
pub async fn open_spec(spec: &str, baud: u32, timeout: Duration) -> Result<Box<dyn Link>, String> {
    let transport = Transport::from_spec(spec, baud)?;
    let opener = TransportOpener { transport, timeout };
    let link = opener.open().await.map_err(|e| e.to_string())?;
    Ok(Box::new(sungate_drivers::wire::WireLog::new(spec, link)))
}
