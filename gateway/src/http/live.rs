//! The latest state of every configured device and bridge, as the dashboard and the API show
//! it: kept by a task that follows the bus (one entry per configured name, so it is bounded),
//! read by the request handlers under a short read lock.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use sungate_drivers::Reading;
use sungate_drivers::driver::{DeviceInfo, Snapshot};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::core::bus::Event;

/// What is known of one device now.
#[derive(Debug, Clone, Default)]
pub struct DeviceState {
    pub online: Option<bool>,
    pub reason: Option<String>,
    pub info: Option<DeviceInfo>,
    pub reading: Option<Arc<Reading>>,
    pub sections: Option<Arc<Snapshot>>,
    pub updated: Option<SystemTime>,
}

impl DeviceState {
    /// The section (query) a field of the flattened reading came from, when known.
    pub fn section_of(&self, field: &str) -> Option<&str> {
        let sections = self.sections.as_ref()?;
        sections
            .sections
            .iter()
            .find(|(name, reading)| {
                reading.get(field).is_some()
                    || field
                        .strip_prefix(&format!("{}_", name.to_ascii_lowercase()))
                        .is_some_and(|f| reading.get(f).is_some())
            })
            .map(|(name, _)| name.as_str())
    }
}

/// Every configured device's state.
#[derive(Debug, Default)]
pub struct Live {
    devices: RwLock<BTreeMap<String, DeviceState>>,
}

impl Live {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Live {
        Live {
            devices: RwLock::new(
                names
                    .into_iter()
                    .map(|n| (n.to_owned(), DeviceState::default()))
                    .collect(),
            ),
        }
    }

    /// A copy of one device's state (cheap: the readings are shared).
    pub fn get(&self, name: &str) -> Option<DeviceState> {
        self.devices.read().ok()?.get(name).cloned()
    }

    pub fn apply(&self, event: &Event) {
        let Ok(mut devices) = self.devices.write() else {
            return;
        };
        let Some(state) = devices.get_mut(event.device()) else {
            return;
        };
        match event {
            Event::Snapshot {
                at,
                reading,
                sections,
                ..
            } => {
                state.reading = Some(reading.clone());
                state.sections = sections.clone();
                state.updated = Some(*at);
            }
            Event::Availability { online, reason, .. } => {
                state.online = Some(*online);
                state.reason = reason.clone();
            }
            Event::Identified { info, .. } => state.info = Some(info.clone()),
            Event::Command(_) => {}
        }
    }
}

/// Keep `live` up to date until the bus closes.
pub async fn follow(live: Arc<Live>, mut bus: broadcast::Receiver<Event>) {
    loop {
        match bus.recv().await {
            Ok(event) => live.apply(&event),
            // The next snapshot replaces what was missed.
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        }
    }
}

/// A value is stale when no snapshot came for three poll intervals (and at least 10 s).
pub fn stale_after(poll_interval: Duration) -> Duration {
    (poll_interval * 3).max(Duration::from_secs(10))
}
