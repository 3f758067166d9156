//! What the subscriber sees, checked: every numeric value of every state message against the
//! simulator's plausible ranges, availability, discovery configs, and when each device last
//! published a fresh state (for recovery after a fault).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde_json::Value as Json;
use sungate_sim::ranges::{self, FieldRange};
use tokio::time::Instant;

use crate::harness::{Control, Message};

/// At most this many failure lines are kept (all are counted).
const MAX_FAILURE_LINES: usize = 40;
/// A state's `timestamp` may be this far from the subscriber's clock (same machine).
const TIMESTAMP_SLACK_S: f64 = 5.0;

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Waiting for a device to come back after a fault was cleared.
#[derive(Debug, Clone, Copy)]
struct Watch {
    cleared_at: Instant,
    cleared_unix: f64,
    fresh_state: bool,
    recovered_at: Option<Instant>,
}

/// What the subscriber knows about one device.
#[derive(Debug)]
pub struct DeviceView {
    pub kind: String,
    pub ranges: Vec<FieldRange>,
    /// State messages received and numeric values checked.
    pub states: u64,
    pub values: u64,
    pub implausible: u64,
    /// Last availability message (`None` before the first).
    pub online: Option<bool>,
    /// Times it went from online to offline.
    pub offline_transitions: u32,
    pub last_state_at: Option<Instant>,
    /// What is being done to the device now (for failure messages).
    pub context: String,
    watch: Option<Watch>,
    /// The last value of each energy counter (a field with a `<field>_source`): they never
    /// go down.
    counters: std::collections::HashMap<String, f64>,
}

impl DeviceView {
    fn new(kind: String, ranges: Vec<FieldRange>) -> Self {
        DeviceView {
            kind,
            ranges,
            states: 0,
            values: 0,
            implausible: 0,
            online: None,
            offline_transitions: 0,
            last_state_at: None,
            context: "no fault".to_owned(),
            watch: None,
            counters: std::collections::HashMap::new(),
        }
    }
}

/// The checks over all messages.
#[derive(Debug)]
pub struct Monitor {
    pub devices: BTreeMap<String, DeviceView>,
    pub gateway_online: Option<bool>,
    pub discovery_configs: u64,
    pub messages: u64,
    /// Failure lines (the first MAX_FAILURE_LINES) and how many failures there were.
    pub failures: Vec<String>,
    pub failure_count: u64,
    started_unix: f64,
}

impl Monitor {
    /// Fetch the ranges of `devices` from the simulator's control API.
    pub async fn new(control: &Control, devices: &[&str]) -> Result<Monitor> {
        let mut views = BTreeMap::new();
        for name in devices {
            let json = control
                .call("GET", &format!("/devices/{name}/ranges"), None)
                .await?;
            let fields = json.get("fields").cloned().unwrap_or(Json::Null);
            let ranges = ranges::from_json(&fields)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("ranges of {name}"))?;
            let kind = json
                .get("kind")
                .and_then(Json::as_str)
                .unwrap_or("?")
                .to_owned();
            views.insert((*name).to_owned(), DeviceView::new(kind, ranges));
        }
        Ok(Monitor {
            devices: views,
            gateway_online: None,
            discovery_configs: 0,
            messages: 0,
            failures: Vec::new(),
            failure_count: 0,
            started_unix: unix_now(),
        })
    }

    /// Check the state of the bridge `name` too: it publishes what it forwards from `source`
    /// to `targets`, the same physical values, so the source's ranges apply to them; its
    /// `*_sent_at` fields are times within the run.
    pub fn add_bridge(&mut self, name: &str, source: &str, targets: &[&str]) -> Result<()> {
        let src = self
            .devices
            .get(source)
            .with_context(|| format!("the bridge's source {source} is not monitored"))?;
        let mut pairs = vec![
            ("source_temperature".to_owned(), "battery_temperature"),
            ("source_voltage".to_owned(), "battery_voltage"),
        ];
        for t in targets {
            pairs.push((format!("{t}_temperature_sent"), "battery_temperature"));
            pairs.push((format!("{t}_voltage_sent"), "battery_voltage"));
        }
        let mut ranges = Vec::new();
        for (field, from) in pairs {
            let mut range = src
                .ranges
                .iter()
                .find(|r| r.field == from)
                .cloned()
                .with_context(|| format!("{source} has no range for {from}"))?;
            range.field = field;
            ranges.push(range);
        }
        self.devices.insert(
            name.to_owned(),
            DeviceView::new("bridge".to_owned(), ranges),
        );
        Ok(())
    }

    pub fn fail(&mut self, line: String) {
        self.failure_count += 1;
        if self.failures.len() < MAX_FAILURE_LINES {
            eprintln!("FAIL: {line}");
            self.failures.push(line);
        }
    }

    /// Say what is being done to `device` (named in failure messages).
    pub fn set_context(&mut self, device: &str, context: String) {
        if let Some(d) = self.devices.get_mut(device) {
            d.context = context;
        }
    }

    /// Start waiting for `device` to be back: online and a state taken after now.
    pub fn watch_recovery(&mut self, device: &str) {
        if let Some(d) = self.devices.get_mut(device) {
            d.watch = Some(Watch {
                cleared_at: Instant::now(),
                cleared_unix: unix_now(),
                fresh_state: false,
                recovered_at: None,
            });
        }
    }

    /// How long after the watch started `device` was back, if it is.
    pub fn recovered(&self, device: &str) -> Option<Duration> {
        let w = self.devices.get(device)?.watch?;
        w.recovered_at.map(|at| at.duration_since(w.cleared_at))
    }

    pub fn stop_watch(&mut self, device: &str) {
        if let Some(d) = self.devices.get_mut(device) {
            d.watch = None;
        }
    }

    /// Whether every device is online and has published a state.
    pub fn all_up(&self) -> bool {
        self.devices
            .values()
            .all(|d| d.online == Some(true) && d.states > 0)
    }

    pub fn handle(&mut self, m: Message) {
        self.messages += 1;
        let parts: Vec<&str> = m.topic.split('/').collect();
        match parts.as_slice() {
            ["sungate", "gateway", "availability"] => {
                self.gateway_online = Some(m.payload == "online");
            }
            ["sungate", device, "availability"] => self.availability(device, &m),
            ["sungate", device, "state"] => self.state(device, &m),
            ["sungate", device, unit, "state"] if unit.starts_with("unit") => {
                // Parallel units: none in this site.
                let device = format!("{device}/{unit}");
                self.fail(format!(
                    "{}: state of {device}, which the site does not have",
                    m.topic
                ));
            }
            // An empty payload removes a config.
            ["homeassistant", .., "config"] if !m.payload.is_empty() => {
                match serde_json::from_str::<Json>(&m.payload) {
                    Ok(Json::Object(c)) if c.contains_key("state_topic") => {
                        self.discovery_configs += 1
                    }
                    _ => self.fail(format!(
                        "{}: a discovery config without a state_topic: {}",
                        m.topic, m.payload
                    )),
                }
            }
            _ => {}
        }
    }

    fn availability(&mut self, device: &str, m: &Message) {
        let Some(d) = self.devices.get_mut(device) else {
            self.fail(format!("{}: availability of an unknown device", m.topic));
            return;
        };
        let online = match m.payload.as_str() {
            "online" => true,
            "offline" => false,
            other => {
                let line = format!("{}: availability {other:?}", m.topic);
                self.fail(line);
                return;
            }
        };
        if d.online == Some(true) && !online {
            d.offline_transitions += 1;
        }
        d.online = Some(online);
        Self::update_watch(d, m.at);
    }

    fn update_watch(d: &mut DeviceView, at: Instant) {
        if let Some(w) = &mut d.watch {
            if w.recovered_at.is_none() && w.fresh_state && d.online == Some(true) {
                w.recovered_at = Some(at);
            }
        }
    }

    fn state(&mut self, device: &str, m: &Message) {
        let json: Json = match serde_json::from_str(&m.payload) {
            Ok(Json::Object(map)) => Json::Object(map),
            _ => {
                let line = format!("{}: not a JSON object: {}", m.topic, m.payload);
                self.fail(line);
                return;
            }
        };
        let Some(d) = self.devices.get_mut(device) else {
            let line = format!("{}: state of an unknown device", m.topic);
            self.fail(line);
            return;
        };
        d.states += 1;
        d.last_state_at = Some(m.at);
        let now = unix_now();
        let mut bad = Vec::new();
        let mut timestamp = None;
        if let Json::Object(map) = &json {
            for (field, value) in map {
                let Some(v) = value.as_f64() else { continue };
                // The bridge's `<target>_<value>_sent_at`: when it wrote, in Unix seconds.
                let a_time = field == "timestamp" || field.ends_with("_sent_at");
                if a_time {
                    if field == "timestamp" {
                        timestamp = Some(v);
                    }
                    if !(self.started_unix - TIMESTAMP_SLACK_S..=now + TIMESTAMP_SLACK_S)
                        .contains(&v)
                    {
                        bad.push(format!(
                            "{}: {field} {v} is not within the run ({:.3}..{now:.3})",
                            m.topic, self.started_unix
                        ));
                    }
                    continue;
                }
                d.values += 1;
                // An energy counter: never negative, never going down (there is no
                // simulator range for a total that grows for as long as the run).
                let source = map.get(&format!("{field}_source")).and_then(Json::as_str);
                if matches!(source, Some("device" | "integrated")) {
                    let before = d.counters.insert(format!("{}/{field}", m.topic), v);
                    if v < 0.0 || before.is_some_and(|b| v < b) {
                        d.implausible += 1;
                        bad.push(format!(
                            "{}: energy counter {field} went from {before:?} to {v}",
                            m.topic
                        ));
                    }
                    continue;
                }
                match d.ranges.iter().find(|r| r.field == *field) {
                    Some(range) if range.contains(v) => {}
                    Some(range) => {
                        d.implausible += 1;
                        bad.push(format!(
                            "{}: {field} = {v} is implausible: the simulated {} gives {range} \
                             (while: {}); payload: {}",
                            m.topic, d.kind, d.context, m.payload
                        ));
                    }
                    None => bad.push(format!(
                        "{}: {field} = {v}: the simulator has no range for this numeric field",
                        m.topic
                    )),
                }
            }
        }
        if let Some(w) = &mut d.watch {
            if timestamp.is_some_and(|t| t >= w.cleared_unix) && m.at >= w.cleared_at {
                w.fresh_state = true;
            }
        }
        Self::update_watch(d, m.at);
        for line in bad {
            self.fail(line);
        }
    }
}
