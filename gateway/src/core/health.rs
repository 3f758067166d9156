//! The gateway's own health, for `/metrics` and the API: counters each part of the gateway
//! updates as it works (lock-free atomics, never a lock on the polling path) and every sink may
//! read. Ports register here when the gateway starts; sinks set their own figures.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Counters of one port task.
#[derive(Debug, Default)]
pub struct PortHealth {
    pub polls_ok: AtomicU64,
    pub polls_failed: AtomicU64,
    /// Times the transport was opened again after it failed or closed.
    pub reopens: AtomicU64,
    /// Sum and count of successful poll latencies, in microseconds (a Prometheus summary).
    pub latency_sum_us: AtomicU64,
    pub latency_count: AtomicU64,
    pub last_latency_us: AtomicU64,
}

impl PortHealth {
    pub fn poll_done(&self, ok: bool, latency: Duration) {
        if ok {
            self.polls_ok.fetch_add(1, Ordering::Relaxed);
            let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
            self.latency_count.fetch_add(1, Ordering::Relaxed);
            self.last_latency_us.store(us, Ordering::Relaxed);
        } else {
            self.polls_failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Figures of the MQTT sink.
#[derive(Debug, Default)]
pub struct MqttHealth {
    pub configured: AtomicBool,
    pub connected: AtomicBool,
    pub connects: AtomicU64,
    pub published: AtomicU64,
    pub dropped: AtomicU64,
}

/// Figures of the history store's writer.
#[derive(Debug, Default)]
pub struct HistoryHealth {
    pub configured: AtomicBool,
    /// False while the database cannot be written (the gateway keeps polling meanwhile).
    pub writable: AtomicBool,
    /// Snapshots written since the start.
    pub snapshots_written: AtomicU64,
    pub write_errors: AtomicU64,
    /// Age of the oldest snapshot not yet committed, in milliseconds (0 when all is written).
    pub lag_ms: AtomicU64,
    /// Duration of the last batch commit, in microseconds.
    pub last_commit_us: AtomicU64,
}

/// Figures of the BMV -> MPPT bridges.
#[derive(Debug, Default)]
pub struct BridgeHealth {
    pub writes_ok: AtomicU64,
    pub writes_failed: AtomicU64,
}

/// Everything, shared by the gateway's tasks.
#[derive(Debug, Default)]
pub struct Health {
    ports: BTreeMap<String, Arc<PortHealth>>,
    pub mqtt: MqttHealth,
    pub history: HistoryHealth,
    pub bridge: BridgeHealth,
    pub started: Option<std::time::SystemTime>,
}

impl Health {
    /// One entry per port, fixed when the gateway starts.
    pub fn new<'a>(ports: impl IntoIterator<Item = &'a str>) -> Health {
        Health {
            ports: ports
                .into_iter()
                .map(|p| (p.to_owned(), Arc::new(PortHealth::default())))
                .collect(),
            started: Some(std::time::SystemTime::now()),
            ..Health::default()
        }
    }

    /// The counters of a port (a fresh, unregistered set for an unknown name, so that a port
    /// task never has to handle a missing entry).
    pub fn port(&self, name: &str) -> Arc<PortHealth> {
        self.ports.get(name).cloned().unwrap_or_default()
    }

    pub fn ports(&self) -> impl Iterator<Item = (&str, &PortHealth)> {
        self.ports.iter().map(|(n, p)| (n.as_str(), p.as_ref()))
    }
}

/// Read a counter (relaxed: figures for people, not synchronisation).
pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

pub fn set(counter: &AtomicU64, n: u64) {
    counter.store(n, Ordering::Relaxed);
}

pub fn flag(b: &AtomicBool) -> bool {
    b.load(Ordering::Relaxed)
}

pub fn set_flag(b: &AtomicBool, v: bool) {
    b.store(v, Ordering::Relaxed);
}
