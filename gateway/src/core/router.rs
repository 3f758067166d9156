//! Routes commands to the port task of a device, so that a command always runs inside that
//! port's transaction order (never in parallel with a poll, under the unit's lock group).

use std::collections::HashMap;

use sungate_drivers::driver::{Command, DriverError, Outcome};

use super::port_task::PortHandle;

#[derive(Debug, Default)]
pub struct Router {
    ports: HashMap<String, PortHandle>,
    /// device -> port
    device_ports: HashMap<String, String>,
}

impl Router {
    pub fn new() -> Self {
        Router::default()
    }

    /// Route `device`'s commands to the port task behind `port`.
    pub fn add(&mut self, device: &str, port: &PortHandle) {
        self.device_ports
            .insert(device.to_owned(), port.name.clone());
        self.ports
            .entry(port.name.clone())
            .or_insert_with(|| port.clone());
    }

    /// Execute a command on a device, through its port task (never in parallel with a poll).
    pub async fn execute(&self, device: &str, command: Command) -> Result<Outcome, DriverError> {
        let port = self
            .device_ports
            .get(device)
            .and_then(|p| self.ports.get(p))
            .ok_or_else(|| DriverError::Invalid(format!("no device named {device:?}")))?;
        port.execute(device, command).await
    }

    /// The devices commands can be routed to.
    pub fn devices(&self) -> impl Iterator<Item = &str> {
        self.device_ports.keys().map(String::as_str)
    }
}
