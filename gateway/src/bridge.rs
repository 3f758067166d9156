//! The BMV -> MPPT remote-sense bridge (seed 003's job, done right).
//!
//! A BMV or SmartShunt knows the battery's real temperature and voltage; an MPPT charger that
//! gets them compensates its charge voltage for temperature and for cable losses. The bridge
//! reads the source from its text snapshots (`T` in °C, `V` in mV; or a HEX get of 0xEDEC when the
//! text has no `T`) and writes the MPPT's network registers through the MPPT's port task:
//!
//! ```text
//! 0x2003 battery temperature  sn16, 0.01 °C   N/A 0x7FFF   :8 0320 00 <lo hi> <check>
//! 0x2002 battery voltage      un16, 0.01 V    N/A 0xFFFF   :8 0220 00 <lo hi> <check>
//! ```
//! Register ids are little-endian on the wire (`03 20`); a byte-swapped id gets "Unknown Id".
//! The MPPT forgets these values 60 s after the last write, so they are refreshed every
//! `refresh_interval`, and written at once when the source changes. When the source is stale,
//! offline, "not available" or implausible, the bridge writes the "not available" values so the
//! MPPT falls back to its own sensing at once instead of trusting old data, and resumes when the
//! source is good again. After writing it reads 0x200F (where the firmware has it) to report
//! whether the MPPT really uses the remote values. Only these RAM registers are written.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sungate_drivers::driver::{Command, DriverError};
use sungate_drivers::reading::{Field, Reading};
use sungate_drivers::vedirect::registers::{self, NetworkStatus};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::bus::{Bus, Event};
use crate::config::{BridgeConfig, BridgeValue};
use crate::runtime::Router;

pub const REG_VOLTAGE: u16 = 0x2002;
pub const REG_TEMPERATURE: u16 = 0x2003;
const REG_NETWORK_STATUS: u16 = 0x200F;
const REG_BMV_TEMPERATURE: u16 = 0xEDEC;
/// A change smaller than the registers' resolution is not a change.
const RESOLUTION: f64 = 0.005;
/// Do not write one target more often than this, however fast the source changes.
const MIN_WRITE_GAP: Duration = Duration::from_millis(900);

/// Why the source values are (not) forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceState {
    Ok,
    Waiting,
    Stale,
    Offline,
    NotAvailable,
    Implausible,
}

impl SourceState {
    fn name(self) -> &'static str {
        match self {
            SourceState::Ok => "ok",
            SourceState::Waiting => "waiting",
            SourceState::Stale => "stale",
            SourceState::Offline => "offline",
            SourceState::NotAvailable => "not_available",
            SourceState::Implausible => "implausible",
        }
    }
}

/// What is written for one value: a number, or "not available".
type Target = Option<f64>;

/// Per target and value: what was last sent and what came of it.
#[derive(Debug, Clone, Default)]
struct Sent {
    value: Option<Target>,
    at: Option<SystemTime>,
    acknowledged: bool,
    /// The target refused the register (Unknown Id): never retried.
    unsupported: bool,
    last_error: Option<String>,
}

#[derive(Debug, Default)]
struct TargetState {
    temperature: Sent,
    voltage: Sent,
    last_write: Option<Instant>,
    /// From 0x200F; None when unknown or the firmware lacks it.
    status: Option<NetworkStatus>,
    status_unsupported: bool,
}

#[derive(Debug)]
struct Bridge {
    config: BridgeConfig,
    router: Arc<Router>,
    bus: Bus,
    temperature: Option<f64>,
    voltage: Option<f64>,
    /// When the source values were read.
    fresh_at: Option<Instant>,
    source_online: bool,
    state: SourceState,
    targets: HashMap<String, TargetState>,
}

/// Run a bridge until the gateway stops.
pub async fn run(config: BridgeConfig, router: Arc<Router>, bus: Bus) {
    let targets = config
        .targets
        .iter()
        .map(|t| (t.clone(), TargetState::default()))
        .collect();
    let mut bridge = Bridge {
        config,
        router,
        bus: bus.clone(),
        temperature: None,
        voltage: None,
        fresh_at: None,
        source_online: true,
        state: SourceState::Waiting,
        targets,
    };
    let mut events = bus.subscribe();
    let mut next_refresh = Instant::now() + bridge.config.refresh_interval;
    loop {
        // Wake up for the refresh, or when the source would become stale. Only a moment still
        // ahead counts: once the source is stale (or offline) its stale moment lies in the past,
        // and sleeping until it would return at once, every time, spinning a whole core.
        let now = Instant::now();
        let stale_at = bridge
            .fresh_at
            .map(|t| t + bridge.config.max_source_age)
            .filter(|&s| s > now);
        let wake = stale_at.map_or(next_refresh, |s| s.min(next_refresh));
        let mut changed = false;
        tokio::select! {
            event = events.recv() => match event {
                Ok(Event::Snapshot { device, reading, .. }) if device == bridge.config.source => {
                    changed = bridge.take_source(&reading).await;
                }
                Ok(Event::Availability { device, online, .. }) if device == bridge.config.source => {
                    bridge.source_online = online;
                    changed = true;
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
            _ = tokio::time::sleep_until(wake) => {}
        }
        let now = Instant::now();
        let state = bridge.evaluate(now);
        let refresh_due = now >= next_refresh;
        if state != bridge.state {
            tracing::info!(bridge = %bridge.config.name, from = bridge.state.name(), to = state.name(), "source state changed");
            bridge.state = state;
            changed = true;
        }
        if changed || refresh_due {
            bridge.write_all(refresh_due).await;
            bridge.publish();
        }
        if refresh_due {
            next_refresh = now + bridge.config.refresh_interval;
        }
    }
}

impl Bridge {
    /// Take the source values from a snapshot; true when they changed.
    async fn take_source(&mut self, reading: &Reading) -> bool {
        let number = |name: &str| reading.value(name).and_then(|v| v.as_f64());
        let voltage = number("battery_voltage");
        let mut temperature = number("battery_temperature");
        if temperature.is_none() && self.wants(BridgeValue::Temperature) {
            // No `T` in the text (aux input used for something else, or an older BMV): ask.
            temperature = self.source_temperature_by_hex().await;
        }
        let changed = differs(temperature, self.temperature) || differs(voltage, self.voltage);
        self.temperature = temperature;
        self.voltage = voltage;
        self.fresh_at = Some(Instant::now());
        self.source_online = true;
        changed
    }

    async fn source_temperature_by_hex(&self) -> Option<f64> {
        let outcome = self
            .router
            .execute(
                &self.config.source,
                Command::HexGet {
                    id: REG_BMV_TEMPERATURE,
                },
            )
            .await
            .ok()?;
        let spec = registers::lookup(REG_BMV_TEMPERATURE)?;
        spec.decode(&outcome.data)
            .ok()
            .flatten()
            .and_then(|v| v.as_f64())
    }

    fn wants(&self, value: BridgeValue) -> bool {
        self.config.values.contains(&value)
    }

    fn evaluate(&self, now: Instant) -> SourceState {
        if !self.source_online {
            return SourceState::Offline;
        }
        let Some(at) = self.fresh_at else {
            return SourceState::Waiting;
        };
        // `>=`, matching the wake-up moment in `run`: at `fresh_at + max_source_age` the
        // source is stale, so the wake-up there changes the state.
        if now.duration_since(at) >= self.config.max_source_age {
            return SourceState::Stale;
        }
        let (tlo, thi) = self.config.temperature_range;
        let (vlo, vhi) = self.config.voltage_range;
        let t_wanted = self.wants(BridgeValue::Temperature);
        let v_wanted = self.wants(BridgeValue::Voltage);
        if (t_wanted && self.temperature.is_none()) && (!v_wanted || self.voltage.is_none()) {
            return SourceState::NotAvailable;
        }
        if self.temperature.is_some_and(|t| !(tlo..=thi).contains(&t))
            || self.voltage.is_some_and(|v| !(vlo..=vhi).contains(&v))
        {
            return SourceState::Implausible;
        }
        SourceState::Ok
    }

    /// What to write now for each value: a number when the source is good, else "not available".
    fn targets_now(&self) -> (Target, Target) {
        if self.state != SourceState::Ok {
            return (None, None);
        }
        (self.temperature, self.voltage)
    }

    /// Write every target. `refresh` re-sends unchanged values (keeps them from expiring).
    async fn write_all(&mut self, refresh: bool) {
        if self.state == SourceState::Waiting {
            return;
        }
        let (temperature, voltage) = self.targets_now();
        let names: Vec<String> = self.config.targets.clone();
        for target in names {
            let Some(ts) = self.targets.get(&target) else {
                continue;
            };
            if !refresh && ts.last_write.is_some_and(|w| w.elapsed() < MIN_WRITE_GAP) {
                continue;
            }
            let mut wrote = false;
            for (value, reg, wanted) in [
                (
                    temperature,
                    REG_TEMPERATURE,
                    self.wants(BridgeValue::Temperature),
                ),
                (voltage, REG_VOLTAGE, self.wants(BridgeValue::Voltage)),
            ] {
                if !wanted {
                    continue;
                }
                let sent = self.sent(&target, reg);
                if sent.unsupported {
                    continue;
                }
                // "not available" once is enough: the MPPT has fallen back already.
                let same = sent.value.is_some_and(|v| !differs(v, value));
                if same && (!refresh || value.is_none()) && sent.acknowledged {
                    continue;
                }
                self.write_one(&target, reg, value).await;
                wrote = true;
            }
            if wrote {
                if let Some(ts) = self.targets.get_mut(&target) {
                    ts.last_write = Some(Instant::now());
                }
                self.read_status(&target).await;
            }
        }
    }

    fn sent(&self, target: &str, reg: u16) -> Sent {
        self.targets
            .get(target)
            .map(|t| {
                if reg == REG_TEMPERATURE {
                    t.temperature.clone()
                } else {
                    t.voltage.clone()
                }
            })
            .unwrap_or_default()
    }

    fn sent_mut(&mut self, target: &str, reg: u16) -> Option<&mut Sent> {
        self.targets.get_mut(target).map(|t| {
            if reg == REG_TEMPERATURE {
                &mut t.temperature
            } else {
                &mut t.voltage
            }
        })
    }

    async fn write_one(&mut self, target: &str, reg: u16, value: Target) {
        let Some(spec) = registers::lookup(reg) else {
            return;
        };
        let bytes = match value {
            Some(v) => match spec.encode_setting(v) {
                Ok(b) => b,
                Err(err) => {
                    tracing::warn!(bridge = %self.config.name, %target, value = v, %err, "value out of the register's range: sending not available");
                    spec.not_available_bytes().unwrap_or_default()
                }
            },
            None => spec.not_available_bytes().unwrap_or_default(),
        };
        let result = self
            .router
            .execute(
                target,
                Command::HexSet {
                    id: reg,
                    value: bytes,
                },
            )
            .await;
        let name = self.config.name.clone();
        let Some(sent) = self.sent_mut(target, reg) else {
            return;
        };
        sent.value = Some(value);
        sent.at = Some(SystemTime::now());
        match result {
            Ok(_) => {
                sent.acknowledged = true;
                sent.last_error = None;
                tracing::debug!(bridge = %name, %target, register = format_args!("0x{reg:04X}"), ?value, "written");
            }
            Err(DriverError::Refused { reason, .. }) => {
                // Unknown Id: this MPPT's firmware has no such register. Retrying is pointless.
                sent.acknowledged = false;
                sent.unsupported = true;
                sent.last_error = Some(reason.clone());
                tracing::warn!(bridge = %name, %target, register = format_args!("0x{reg:04X}"), %reason, "target refuses the register; not retrying");
            }
            Err(err) => {
                sent.acknowledged = false;
                sent.last_error = Some(err.to_string());
                tracing::warn!(bridge = %name, %target, register = format_args!("0x{reg:04X}"), %err, "write failed; retrying at the next refresh");
            }
        }
    }

    /// 0x200F: does the MPPT use the remote values? (Firmware without it: stop asking.)
    async fn read_status(&mut self, target: &str) {
        if self
            .targets
            .get(target)
            .is_none_or(|t| t.status_unsupported)
        {
            return;
        }
        let result = self
            .router
            .execute(
                target,
                Command::HexGet {
                    id: REG_NETWORK_STATUS,
                },
            )
            .await;
        let Some(ts) = self.targets.get_mut(target) else {
            return;
        };
        match result {
            Ok(o) => ts.status = o.data.first().map(|&b| NetworkStatus(b)),
            Err(DriverError::Refused { .. }) => {
                ts.status_unsupported = true;
                ts.status = None;
            }
            Err(_) => ts.status = None,
        }
    }

    /// The bridge's status as a snapshot of its own, for MQTT and the API.
    fn publish(&self) {
        let mut r = Reading::new();
        r.push(Field::new("source_state", self.state.name()));
        if let Some(t) = self.temperature {
            r.push(Field::new("source_temperature", t).with_unit("°C"));
        }
        if let Some(v) = self.voltage {
            r.push(Field::new("source_voltage", v).with_unit("V"));
        }
        for target in &self.config.targets {
            let Some(ts) = self.targets.get(target) else {
                continue;
            };
            for (label, sent, wanted, in_use) in [
                (
                    "temperature",
                    &ts.temperature,
                    self.wants(BridgeValue::Temperature),
                    ts.status.map(|s| s.uses_tsense()),
                ),
                (
                    "voltage",
                    &ts.voltage,
                    self.wants(BridgeValue::Voltage),
                    ts.status.map(|s| s.uses_vsense()),
                ),
            ] {
                if !wanted {
                    continue;
                }
                let key = |what: &str| format!("{target}_{label}_{what}");
                match sent.value {
                    Some(Some(v)) => r.push(
                        Field::new(key("sent"), v).with_unit(if label == "temperature" {
                            "°C"
                        } else {
                            "V"
                        }),
                    ),
                    Some(None) => r.push(Field::new(key("sent"), "not available")),
                    None => {}
                }
                if let Some(at) = sent.at {
                    let secs = at
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    r.push(Field::new(key("sent_at"), secs as i64).with_unit("s"));
                }
                r.push(Field::new(key("acknowledged"), sent.acknowledged));
                r.push(Field::new(key("supported"), !sent.unsupported));
                if let Some(in_use) = in_use {
                    r.push(Field::new(key("in_use"), in_use));
                }
                if let Some(err) = &sent.last_error {
                    r.push(Field::new(key("error"), err.clone()));
                }
            }
        }
        self.bus.publish(Event::Snapshot {
            device: self.config.name.clone(),
            at: SystemTime::now(),
            reading: Arc::new(r),
            sections: None,
        });
    }
}

fn differs(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => (x - y).abs() > RESOLUTION,
        (None, None) => false,
        _ => true,
    }
}
