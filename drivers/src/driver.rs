//! The one driver trait every device goes through, and the types it exchanges with the gateway.
//!
//! A driver borrows a [`Link`] for one call and never owns it: the port task that owns the
//! transport decides when a driver may talk (one transaction at a time, lock groups across the
//! interfaces of one unit) and handles timeouts, retries and reopening. A driver only turns
//! requests into frames and frames into checked readings.

use std::fmt;

use async_trait::async_trait;
use serde::Serialize;
use thiserror::Error;

use crate::link::{Link, LinkError};
use crate::reading::Reading;

/// Home Assistant-style metadata of a field a driver can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FieldSpec {
    pub name: &'static str,
    pub unit: Option<&'static str>,
    /// e.g. `voltage`, `current`, `power`, `energy`, `temperature`, `battery`, `frequency`.
    pub device_class: Option<&'static str>,
    /// `measurement`, `total`, `total_increasing`.
    pub state_class: Option<&'static str>,
}

impl FieldSpec {
    pub const fn new(
        name: &'static str,
        unit: Option<&'static str>,
        device_class: Option<&'static str>,
        state_class: Option<&'static str>,
    ) -> FieldSpec {
        FieldSpec {
            name,
            unit,
            device_class,
            state_class,
        }
    }

    /// A field with a unit and a Home Assistant device class, measured (not a total).
    pub const fn measurement(
        name: &'static str,
        unit: Option<&'static str>,
        device_class: Option<&'static str>,
    ) -> FieldSpec {
        FieldSpec::new(name, unit, device_class, Some("measurement"))
    }

    /// A counter that only grows (lifetime energy): Home Assistant's long-term statistics treat
    /// a drop as a meter reset, not as negative consumption.
    pub const fn total_increasing(
        name: &'static str,
        unit: Option<&'static str>,
        device_class: Option<&'static str>,
    ) -> FieldSpec {
        FieldSpec::new(name, unit, device_class, Some("total_increasing"))
    }
}

/// What a device says about itself when the gateway connects.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeviceInfo {
    /// "PI30", "PI30 MAX", "VE.Direct".
    pub protocol: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware: Option<String>,
    pub manufacturer: Option<String>,
}

/// One poll's worth of checked values. Values that did not pass their checks are never in here.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// One section per query or record, in poll order, e.g. ("QPIGS", fields).
    pub sections: Vec<(String, Reading)>,
}

impl Snapshot {
    /// All fields under one namespace. The first field with a name keeps it; a later field from
    /// another section with the same name (QPIRI's rated `battery_voltage` after QPIGS's live one)
    /// is prefixed with its section, e.g. `qpiri_battery_voltage`, so nothing is overwritten.
    pub fn flatten(&self) -> Reading {
        let mut out = Reading::new();
        for (section, reading) in &self.sections {
            for field in reading.iter() {
                let mut field = field.clone();
                if out.get(&field.name).is_some() {
                    field.name = format!("{}_{}", section.to_ascii_lowercase(), field.name).into();
                }
                out.push(field);
            }
        }
        out
    }
}

/// A command from a user (CLI, MQTT, HTTP), validated by the driver before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Change a setting, e.g. `output_source_priority` = `solar_first`.
    Set { name: String, value: String },
    /// VE.Direct: read a register (the value comes back in [`Outcome::data`]).
    HexGet { id: u16 },
    /// VE.Direct: write raw little-endian value bytes, including "not available" patterns; the
    /// device's echo comes back in [`Outcome::data`]. Only writable registers of the table, with
    /// values in their range, are sent.
    HexSet { id: u16, value: Vec<u8> },
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Set { name, value } => write!(f, "set {name} = {value}"),
            Command::HexGet { id } => write!(f, "get 0x{id:04X}"),
            Command::HexSet { id, value } => write!(f, "set 0x{id:04X} = {value:02X?}"),
        }
    }
}

/// The result of an executed command.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The frame that was sent, for logs.
    pub sent: String,
    /// The setting read back after the device acknowledged, when the protocol allows it.
    pub verified: bool,
    pub detail: String,
    /// Raw data returned (a HEX get's value, a HEX set's echo).
    pub data: Vec<u8>,
}

#[derive(Debug, Error)]
pub enum DriverError {
    /// The transport failed or timed out.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// A reply failed its checks (CRC, checksum, layout). Transient: retry.
    #[error("bad reply to {request}: {reason}")]
    BadReply { request: String, reason: String },
    /// The device refused a request (NAK, HEX error flags).
    #[error("the device refused {request}: {reason}")]
    Refused { request: String, reason: String },
    /// The device speaks another protocol (a PI17/PI18 inverter on a PI30 driver).
    #[error("protocol mismatch: {0}")]
    ProtocolMismatch(String),
    /// A command was refused before anything was sent.
    #[error("invalid command: {0}")]
    Invalid(String),
    /// The device acknowledged a setting but reads back something else.
    #[error("{setting} was acknowledged but reads back {got} (expected {expected})")]
    NotVerified {
        setting: String,
        expected: String,
        got: String,
    },
}

impl DriverError {
    /// Whether the port must be closed and reopened.
    pub fn is_fatal(&self) -> bool {
        match self {
            DriverError::Link(e) => e.is_fatal(),
            _ => false,
        }
    }

    /// Whether the device is unreachable or talking garbage (as opposed to refusing politely):
    /// repeated transient errors take a device offline.
    pub fn is_communication_failure(&self) -> bool {
        matches!(
            self,
            DriverError::Link(_) | DriverError::BadReply { .. } | DriverError::ProtocolMismatch(_)
        )
    }
}

#[async_trait]
pub trait Driver: Send {
    /// Names, units and Home Assistant classes of the fields this driver produces.
    fn fields(&self) -> &[FieldSpec];
    /// Find out what is on the other end (run on every (re)connect).
    async fn identify(&mut self, io: &mut dyn Link) -> Result<DeviceInfo, DriverError>;
    /// One poll: the configured queries, or the next complete record of a streaming device.
    async fn poll(&mut self, io: &mut dyn Link) -> Result<Snapshot, DriverError>;
    /// Execute a validated command and verify it where the protocol allows.
    async fn execute(&mut self, io: &mut dyn Link, cmd: &Command) -> Result<Outcome, DriverError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::Field;

    #[test]
    fn flatten_prefixes_colliding_names_only() {
        let mut live = Reading::new();
        live.push(Field::new("battery_voltage", 54.5));
        live.push(Field::new("ac_output_active_power", 751i64));
        let mut rated = Reading::new();
        rated.push(Field::new("battery_voltage", 48.0));
        rated.push(Field::new("battery_type", "AGM"));
        let snap = Snapshot {
            sections: vec![("QPIGS".into(), live), ("QPIRI".into(), rated)],
        };
        let flat = snap.flatten();
        assert_eq!(flat.value("battery_voltage"), Some(&54.5.into()));
        assert_eq!(flat.value("qpiri_battery_voltage"), Some(&48.0.into()));
        assert_eq!(flat.value("battery_type"), Some(&"AGM".into()));
        assert_eq!(flat.len(), 4);
    }
}
