//! The bridge's decisions, as a state machine without I/O: it is told what the source said,
//! whether the source is online, what came of each write, and what time it is; it answers with
//! the writes to make. The task in `mod.rs` carries them out through the router.
//!
//! Decisions:
//! - **What to write**: the source's values while they are fresh, plausible and available; the
//!   "not available" values (0x7FFF / 0xFFFF) otherwise, so the MPPT falls back to its own
//!   sensing at once. A value outside the register's range is sent as "not available" too.
//! - **When**: at once on a change (at most once per `MIN_WRITE_GAP` per target), and every
//!   `refresh_interval` anyway (the MPPT forgets remote values 60 s after the last write).
//!   "Not available" is written once, not refreshed: the MPPT has fallen back already.
//! - **Refusals**: a register the target refuses (Unknown Id: older firmware) is never written
//!   again; other failures are retried at the next refresh.
//! - **Waking up**: for the refresh, and for the moment the source goes stale, but only while
//!   that moment is still ahead (a moment in the past would wake the task again at once,
//!   forever).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sungate_drivers::reading::{Field, Reading};
use sungate_drivers::vedirect::registers::{self, NetworkStatus};
use tokio::time::Instant;

use crate::config::{BridgeConfig, BridgeValue};

pub const REG_VOLTAGE: u16 = 0x2002;
pub const REG_TEMPERATURE: u16 = 0x2003;
/// A change smaller than the registers' resolution is not a change.
const RESOLUTION: f64 = 0.005;
/// Do not write one target more often than this, however fast the source changes.
pub const MIN_WRITE_GAP: Duration = Duration::from_millis(900);

/// Why the source values are (not) forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceState {
    Ok,
    Waiting,
    Stale,
    Offline,
    NotAvailable,
    Implausible,
}

impl SourceState {
    pub fn name(self) -> &'static str {
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

/// What the source reported: battery temperature (°C) and voltage (V), when it has them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SourceValues {
    pub temperature: Option<f64>,
    pub voltage: Option<f64>,
}

impl SourceValues {
    /// From a BMV snapshot (`T` and `V` of its text protocol, decoded).
    pub fn from_reading(reading: &Reading) -> Self {
        let number = |name: &str| reading.value(name).and_then(|v| v.as_f64());
        SourceValues {
            temperature: number("battery_temperature"),
            voltage: number("battery_voltage"),
        }
    }
}

/// Something to do for the bridge.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Set `register` of `target` to `bytes`: `value` encoded, or "not available" (`None`).
    Write {
        target: String,
        register: u16,
        value: Option<f64>,
        bytes: Vec<u8>,
    },
    /// Read 0x200F of `target`: does it use the remote values?
    ReadStatus { target: String },
}

/// What came of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteResult {
    Acknowledged,
    /// The target does not have the register (Unknown Id): never retried.
    Refused(String),
    /// Anything else (timeout, port closed): retried at the next refresh.
    Failed(String),
}

/// What came of reading 0x200F.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusResult {
    Value(NetworkStatus),
    /// The firmware lacks the register: stop asking.
    Unsupported,
    Failed,
}

/// Per target and value: what was last sent and what came of it.
#[derive(Debug, Clone, Default)]
struct Sent {
    /// `Some(None)`: "not available" was sent.
    value: Option<Option<f64>>,
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

impl TargetState {
    fn sent(&self, register: u16) -> &Sent {
        if register == REG_TEMPERATURE {
            &self.temperature
        } else {
            &self.voltage
        }
    }

    fn sent_mut(&mut self, register: u16) -> &mut Sent {
        if register == REG_TEMPERATURE {
            &mut self.temperature
        } else {
            &mut self.voltage
        }
    }
}

#[derive(Debug)]
pub struct BridgeLogic {
    config: BridgeConfig,
    values: SourceValues,
    /// When the source values were read.
    fresh_at: Option<Instant>,
    source_online: bool,
    state: SourceState,
    targets: HashMap<String, TargetState>,
    next_refresh: Instant,
}

impl BridgeLogic {
    pub fn new(config: BridgeConfig, now: Instant) -> Self {
        let targets = config
            .targets
            .iter()
            .map(|t| (t.clone(), TargetState::default()))
            .collect();
        BridgeLogic {
            next_refresh: now + config.refresh_interval,
            config,
            values: SourceValues::default(),
            fresh_at: None,
            source_online: true,
            state: SourceState::Waiting,
            targets,
        }
    }

    pub fn config(&self) -> &BridgeConfig {
        &self.config
    }

    pub fn state(&self) -> SourceState {
        self.state
    }

    fn wants(&self, value: BridgeValue) -> bool {
        self.config.values.contains(&value)
    }

    /// The source's text has no temperature (aux input used for something else, an older
    /// BMV): it must be read by HEX (0xEDEC) before [`BridgeLogic::on_source`].
    pub fn needs_hex_temperature(&self, values: &SourceValues) -> bool {
        values.temperature.is_none() && self.wants(BridgeValue::Temperature)
    }

    /// The source sent a snapshot.
    pub fn on_source(&mut self, values: SourceValues, now: Instant) -> Option<Vec<Action>> {
        let changed = differs(values.temperature, self.values.temperature)
            || differs(values.voltage, self.values.voltage);
        self.values = values;
        self.fresh_at = Some(now);
        self.source_online = true;
        self.step(now, changed)
    }

    /// The source went online or offline.
    pub fn on_source_availability(&mut self, online: bool, now: Instant) -> Option<Vec<Action>> {
        self.source_online = online;
        self.step(now, true)
    }

    /// The moment [`BridgeLogic::next_wake`] asked for has come.
    pub fn on_wake(&mut self, now: Instant) -> Option<Vec<Action>> {
        self.step(now, false)
    }

    /// When to call [`BridgeLogic::on_wake`]: the next refresh, or the moment the source goes
    /// stale if that is still ahead.
    pub fn next_wake(&self, now: Instant) -> Instant {
        let stale_at = self
            .fresh_at
            .map(|t| t + self.config.max_source_age)
            .filter(|&s| s > now);
        stale_at.map_or(self.next_refresh, |s| s.min(self.next_refresh))
    }

    /// Re-evaluate; the writes to make now (an empty list still means: publish the status),
    /// or None when nothing changed and no refresh is due.
    fn step(&mut self, now: Instant, mut changed: bool) -> Option<Vec<Action>> {
        let state = self.evaluate(now);
        let refresh_due = now >= self.next_refresh;
        if state != self.state {
            tracing::info!(bridge = %self.config.name, from = self.state.name(), to = state.name(), "source state changed");
            self.state = state;
            changed = true;
        }
        if refresh_due {
            self.next_refresh = now + self.config.refresh_interval;
        }
        (changed || refresh_due).then(|| self.plan_writes(now, refresh_due))
    }

    fn evaluate(&self, now: Instant) -> SourceState {
        if !self.source_online {
            return SourceState::Offline;
        }
        let Some(at) = self.fresh_at else {
            return SourceState::Waiting;
        };
        // `>=`, matching `next_wake`: at `fresh_at + max_source_age` the source is stale, so
        // the wake-up there changes the state.
        if now.duration_since(at) >= self.config.max_source_age {
            return SourceState::Stale;
        }
        let SourceValues {
            temperature,
            voltage,
        } = self.values;
        let (tlo, thi) = self.config.temperature_range;
        let (vlo, vhi) = self.config.voltage_range;
        let t_wanted = self.wants(BridgeValue::Temperature);
        let v_wanted = self.wants(BridgeValue::Voltage);
        if (t_wanted && temperature.is_none()) && (!v_wanted || voltage.is_none()) {
            return SourceState::NotAvailable;
        }
        if temperature.is_some_and(|t| !(tlo..=thi).contains(&t))
            || voltage.is_some_and(|v| !(vlo..=vhi).contains(&v))
        {
            return SourceState::Implausible;
        }
        SourceState::Ok
    }

    /// The writes due now. `refresh` re-sends unchanged values (keeps them from expiring).
    fn plan_writes(&mut self, now: Instant, refresh: bool) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.state == SourceState::Waiting {
            return actions;
        }
        // A number while the source is good, else "not available".
        let (temperature, voltage) = if self.state == SourceState::Ok {
            (self.values.temperature, self.values.voltage)
        } else {
            (None, None)
        };
        let registers_wanted = [
            (
                temperature,
                REG_TEMPERATURE,
                self.wants(BridgeValue::Temperature),
            ),
            (voltage, REG_VOLTAGE, self.wants(BridgeValue::Voltage)),
        ];
        for target in &self.config.targets {
            let Some(ts) = self.targets.get_mut(target) else {
                continue;
            };
            if !refresh
                && ts
                    .last_write
                    .is_some_and(|w| now.duration_since(w) < MIN_WRITE_GAP)
            {
                continue;
            }
            let mut wrote = false;
            for (value, register, wanted) in registers_wanted {
                let sent = ts.sent(register);
                if !wanted || sent.unsupported {
                    continue;
                }
                let same = sent.value.is_some_and(|v| !differs(v, value));
                if same && (!refresh || value.is_none()) && sent.acknowledged {
                    continue;
                }
                let (value, bytes) = encode(&self.config.name, target, register, value);
                actions.push(Action::Write {
                    target: target.clone(),
                    register,
                    value,
                    bytes,
                });
                wrote = true;
            }
            if wrote {
                ts.last_write = Some(now);
                if !ts.status_unsupported {
                    actions.push(Action::ReadStatus {
                        target: target.clone(),
                    });
                }
            }
        }
        actions
    }

    /// What came of an [`Action::Write`].
    pub fn on_write(
        &mut self,
        target: &str,
        register: u16,
        value: Option<f64>,
        result: WriteResult,
        at: SystemTime,
    ) {
        let name = &self.config.name;
        let Some(ts) = self.targets.get_mut(target) else {
            return;
        };
        let sent = ts.sent_mut(register);
        sent.value = Some(value);
        sent.at = Some(at);
        match result {
            WriteResult::Acknowledged => {
                sent.acknowledged = true;
                sent.last_error = None;
                tracing::debug!(bridge = %name, %target, register = format_args!("0x{register:04X}"), ?value, "written");
            }
            WriteResult::Refused(reason) => {
                tracing::warn!(bridge = %name, %target, register = format_args!("0x{register:04X}"), %reason, "target refuses the register; not retrying");
                sent.acknowledged = false;
                sent.unsupported = true;
                sent.last_error = Some(reason);
            }
            WriteResult::Failed(error) => {
                tracing::warn!(bridge = %name, %target, register = format_args!("0x{register:04X}"), %error, "write failed; retrying at the next refresh");
                sent.acknowledged = false;
                sent.last_error = Some(error);
            }
        }
    }

    /// What came of an [`Action::ReadStatus`].
    pub fn on_status(&mut self, target: &str, result: StatusResult) {
        let Some(ts) = self.targets.get_mut(target) else {
            return;
        };
        ts.status = match result {
            StatusResult::Value(s) => Some(s),
            StatusResult::Unsupported => {
                ts.status_unsupported = true;
                None
            }
            StatusResult::Failed => None,
        };
    }

    /// The bridge's status, published as a snapshot of its own (MQTT, console).
    pub fn status(&self) -> Reading {
        let mut r = Reading::new();
        r.push(Field::new("source_state", self.state.name()));
        if let Some(t) = self.values.temperature {
            r.push(Field::new("source_temperature", t).with_unit("°C"));
        }
        if let Some(v) = self.values.voltage {
            r.push(Field::new("source_voltage", v).with_unit("V"));
        }
        for target in &self.config.targets {
            let Some(ts) = self.targets.get(target) else {
                continue;
            };
            for (label, unit, register, value, in_use) in [
                (
                    "temperature",
                    "°C",
                    REG_TEMPERATURE,
                    BridgeValue::Temperature,
                    ts.status.map(|s| s.uses_tsense()),
                ),
                (
                    "voltage",
                    "V",
                    REG_VOLTAGE,
                    BridgeValue::Voltage,
                    ts.status.map(|s| s.uses_vsense()),
                ),
            ] {
                if !self.wants(value) {
                    continue;
                }
                let sent = ts.sent(register);
                let key = |what: &str| format!("{target}_{label}_{what}");
                match sent.value {
                    Some(Some(v)) => r.push(Field::new(key("sent"), v).with_unit(unit)),
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
        r
    }
}

/// The bytes for `value` in `register`: the value encoded, or "not available" for no value or
/// one outside the register's range. Returns what really goes out, and the bytes.
fn encode(bridge: &str, target: &str, register: u16, value: Option<f64>) -> (Option<f64>, Vec<u8>) {
    let Some(spec) = registers::lookup(register) else {
        return (None, Vec::new());
    };
    let not_available = || spec.not_available_bytes().unwrap_or_default();
    match value {
        None => (None, not_available()),
        Some(v) => match spec.encode_setting(v) {
            Ok(bytes) => (Some(v), bytes),
            Err(err) => {
                tracing::warn!(%bridge, %target, value = v, %err, "value out of the register's range: sending not available");
                (None, not_available())
            }
        },
    }
}

fn differs(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => (x - y).abs() > RESOLUTION,
        (None, None) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn config(targets: &[&str]) -> BridgeConfig {
        BridgeConfig {
            name: "sense".into(),
            source: "bmv".into(),
            targets: targets.iter().map(|t| (*t).to_owned()).collect(),
            values: vec![BridgeValue::Temperature, BridgeValue::Voltage],
            refresh_interval: Duration::from_secs(15),
            max_source_age: Duration::from_secs(10),
            temperature_range: (-30.0, 60.0),
            voltage_range: (5.0, 70.0),
        }
    }

    fn values(t: f64, v: f64) -> SourceValues {
        SourceValues {
            temperature: Some(t),
            voltage: Some(v),
        }
    }

    /// (target, register, value) of the writes among `actions`.
    fn writes(actions: &[Action]) -> Vec<(String, u16, Option<f64>)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Write {
                    target,
                    register,
                    value,
                    ..
                } => Some((target.clone(), *register, *value)),
                Action::ReadStatus { .. } => None,
            })
            .collect()
    }

    /// Carry the writes out as acknowledged, the status reads as "stand-alone, uses the remote temperature and voltage" (0xC4).
    fn acknowledge(logic: &mut BridgeLogic, actions: &[Action]) {
        answer(
            logic,
            actions,
            |_| WriteResult::Acknowledged,
            StatusResult::Value(NetworkStatus(0xC4)),
        );
    }

    /// Carry the actions out: each write answered by `write(target)`, each status read by
    /// `status`.
    fn answer(
        logic: &mut BridgeLogic,
        actions: &[Action],
        write: impl Fn(&str) -> WriteResult,
        status: StatusResult,
    ) {
        for a in actions {
            match a {
                Action::Write {
                    target,
                    register,
                    value,
                    ..
                } => logic.on_write(target, *register, *value, write(target), SystemTime::now()),
                Action::ReadStatus { target } => logic.on_status(target, status),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn fresh_values_are_written_at_once_with_their_bytes() {
        let t0 = Instant::now();
        let mut logic = BridgeLogic::new(config(&["mppt"]), t0);
        // Nothing known yet: no writes, nothing to wake for but the refresh.
        assert_eq!(logic.next_wake(t0), t0 + Duration::from_secs(15));
        let actions = logic.on_source(values(23.5, 13.18), t0).unwrap();
        assert_eq!(
            actions,
            [
                Action::Write {
                    target: "mppt".into(),
                    register: REG_TEMPERATURE,
                    value: Some(23.5),
                    // 2350 little-endian (vectors H42)
                    bytes: vec![0x2E, 0x09],
                },
                Action::Write {
                    target: "mppt".into(),
                    register: REG_VOLTAGE,
                    value: Some(13.18),
                    bytes: 1318u16.to_le_bytes().to_vec(),
                },
                Action::ReadStatus {
                    target: "mppt".into()
                },
            ]
        );
        acknowledge(&mut logic, &actions);
        assert_eq!(logic.state(), SourceState::Ok);
        let status = logic.status();
        assert_eq!(
            status
                .value("mppt_temperature_sent")
                .and_then(|v| v.as_f64()),
            Some(23.5)
        );
        assert_eq!(
            status
                .value("mppt_voltage_in_use")
                .and_then(|v| v.as_bool()),
            Some(true)
        );
        // The same values again within the write gap: nothing to do.
        assert_eq!(
            logic.on_source(values(23.5, 13.18), t0 + Duration::from_millis(500)),
            None
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_is_written_but_never_faster_than_the_write_gap() {
        let t0 = Instant::now();
        let mut logic = BridgeLogic::new(config(&["mppt"]), t0);
        let first = logic.on_source(values(20.0, 13.0), t0).unwrap();
        acknowledge(&mut logic, &first);
        // A change 0.3 s later: decided (the status is published), but no write yet.
        let early = logic
            .on_source(values(21.0, 13.0), t0 + Duration::from_millis(300))
            .unwrap();
        assert!(writes(&early).is_empty(), "{early:?}");
        // After the gap the changed value goes out (the unchanged voltage does not).
        let later = logic
            .on_source(values(21.0, 13.0), t0 + Duration::from_secs(1))
            .unwrap_or_default();
        assert!(
            later.is_empty(),
            "the value did not change since the last snapshot"
        );
        let changed = logic
            .on_source(values(22.0, 13.0), t0 + Duration::from_secs(2))
            .unwrap();
        assert_eq!(
            writes(&changed),
            [("mppt".to_owned(), REG_TEMPERATURE, Some(22.0))]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn every_refresh_rewrites_the_values_before_the_mppt_forgets_them() {
        let t0 = Instant::now();
        let mut logic = BridgeLogic::new(config(&["mppt"]), t0);
        let first = logic.on_source(values(20.0, 13.0), t0).unwrap();
        acknowledge(&mut logic, &first);
        let mut now = t0;
        for _ in 0..4 {
            // Fresh values every 2 s keep the source from going stale.
            while logic.next_wake(now) > now + Duration::from_secs(2) {
                now += Duration::from_secs(2);
                assert!(logic.on_source(values(20.0, 13.0), now).is_none());
            }
            now = logic.next_wake(now);
            let actions = logic.on_wake(now).unwrap();
            assert_eq!(writes(&actions).len(), 2, "{actions:?}");
            acknowledge(&mut logic, &actions);
        }
        // Four refreshes in 60 s: every 15 s.
        assert_eq!(now, t0 + Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stale_or_offline_source_sends_not_available_once_and_the_task_sleeps() {
        let t0 = Instant::now();
        let mut logic = BridgeLogic::new(config(&["mppt"]), t0);
        let first = logic.on_source(values(20.0, 13.0), t0).unwrap();
        acknowledge(&mut logic, &first);
        // It wakes when the source goes stale, and writes "not available" with the N/A bytes.
        let stale_at = t0 + Duration::from_secs(10);
        assert_eq!(logic.next_wake(t0), stale_at);
        let actions = logic.on_wake(stale_at).unwrap();
        assert_eq!(logic.state(), SourceState::Stale);
        assert_eq!(
            writes(&actions),
            [
                ("mppt".to_owned(), REG_TEMPERATURE, None),
                ("mppt".to_owned(), REG_VOLTAGE, None)
            ]
        );
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::Write { bytes, .. } if bytes == &[0xFF, 0x7F]))
        );
        acknowledge(&mut logic, &actions);
        // The spin of issue 11: once stale, the stale moment is in the past and must not be
        // slept until again. Drive the task as it runs for 10 minutes: every wake-up is ahead
        // of its caller, one per refresh, and "not available" is not written again.
        let offline = logic.on_source_availability(false, stale_at).unwrap();
        assert!(writes(&offline).is_empty(), "{offline:?}");
        let mut now = stale_at;
        let mut wakes = 0;
        while now < stale_at + Duration::from_secs(600) {
            let wake = logic.next_wake(now);
            assert!(wake > now, "a wake-up in the past spins the task");
            now = wake;
            wakes += 1;
            let actions = logic.on_wake(now).unwrap_or_default();
            assert!(writes(&actions).is_empty(), "{actions:?}");
        }
        assert!(wakes <= 41, "{wakes} wake-ups in 10 minutes");
        // Back online with fresh values: written at once.
        let back = logic.on_source(values(21.0, 13.1), now).unwrap();
        assert_eq!(writes(&back).len(), 2);
        assert_eq!(logic.state(), SourceState::Ok);
    }

    #[tokio::test(start_paused = true)]
    async fn implausible_or_missing_values_fall_back_to_not_available() {
        let t0 = Instant::now();
        let mut logic = BridgeLogic::new(config(&["mppt"]), t0);
        let actions = logic.on_source(values(85.0, 13.0), t0).unwrap();
        assert_eq!(logic.state(), SourceState::Implausible);
        assert!(writes(&actions).iter().all(|(_, _, v)| v.is_none()));
        let mut logic = BridgeLogic::new(config(&["mppt"]), t0);
        let none = SourceValues::default();
        assert!(logic.needs_hex_temperature(&none));
        logic.on_source(none, t0).unwrap();
        assert_eq!(logic.state(), SourceState::NotAvailable);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_register_is_never_written_again_a_failed_one_at_the_next_refresh() {
        let t0 = Instant::now();
        let mut logic = BridgeLogic::new(config(&["old", "new"]), t0);
        let actions = logic.on_source(values(20.0, 13.0), t0).unwrap();
        answer(
            &mut logic,
            &actions,
            |target| {
                if target == "old" {
                    WriteResult::Refused("Unknown Id".into())
                } else {
                    WriteResult::Failed("timeout".into())
                }
            },
            StatusResult::Unsupported,
        );
        let status = logic.status();
        assert_eq!(
            status
                .value("old_temperature_supported")
                .and_then(|v| v.as_bool()),
            Some(false)
        );
        assert_eq!(
            status.value("new_voltage_error").and_then(|v| v.as_str()),
            Some("timeout")
        );
        let refresh = t0 + Duration::from_secs(15);
        let actions = logic.on_source(values(20.0, 13.0), refresh).unwrap();
        // "new" retried, "old" never again, and nobody asked for 0x200F again.
        assert_eq!(
            writes(&actions),
            [
                ("new".to_owned(), REG_TEMPERATURE, Some(20.0)),
                ("new".to_owned(), REG_VOLTAGE, Some(13.0))
            ]
        );
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::ReadStatus { .. }))
        );
    }
}
