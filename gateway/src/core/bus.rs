//! The event bus: everything the port tasks learn, for every sink (console, MQTT, HTTP, history,
//! bridge) to subscribe to. A snapshot is only ever published from a reply that passed its checks.

use std::sync::Arc;
use std::time::SystemTime;

use sungate_drivers::Reading;
use sungate_drivers::driver::{DeviceInfo, Snapshot};
use tokio::sync::broadcast;

#[derive(Debug, Clone)]
pub enum Event {
    /// A checked poll result, flattened to one namespace.
    Snapshot {
        device: String,
        at: SystemTime,
        reading: Arc<Reading>,
        /// The per-query sections `reading` was flattened from, for sinks that need them apart
        /// (MQTT's parallel units and compatibility topics). None for a single-section source.
        sections: Option<Arc<Snapshot>>,
    },
    /// The device became reachable or unreachable.
    Availability {
        device: String,
        online: bool,
        reason: Option<String>,
    },
    /// What the device said about itself after a (re)connect.
    Identified { device: String, info: DeviceInfo },
    /// A user's command (MQTT, HTTP) and what became of it, executed or refused: the audit log.
    Command(Arc<CommandRecord>),
}

/// Who asked what of which device, and the result.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRecord {
    pub device: String,
    pub setting: String,
    /// The value as received (cut to a printable length by the sink that received it).
    pub value: String,
    /// `mqtt`, `http`.
    pub origin: &'static str,
    /// Who, as far as the sink knows: the HTTP peer address, the MQTT topic.
    pub who: String,
    pub ok: bool,
    /// The read-back on success, the reason on refusal.
    pub detail: String,
    pub at: SystemTime,
}

impl Event {
    pub fn device(&self) -> &str {
        match self {
            Event::Snapshot { device, .. }
            | Event::Availability { device, .. }
            | Event::Identified { device, .. } => device,
            Event::Command(record) => &record.device,
        }
    }
}

/// Sender side of the bus. Slow subscribers lag and miss events rather than slowing polling.
#[derive(Debug, Clone)]
pub struct Bus {
    tx: broadcast::Sender<Event>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new(256)
    }
}

impl Bus {
    pub fn new(capacity: usize) -> Self {
        Bus {
            tx: broadcast::channel(capacity).0,
        }
    }

    pub fn publish(&self, event: Event) {
        // No subscriber is not an error: nobody is listening yet.
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}
