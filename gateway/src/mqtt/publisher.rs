//! The MQTT publisher as a state machine (like rumqttc's `state.rs`): bus events, connection
//! changes and Home Assistant's birth message in, [`Action`]s out. The task in `mod.rs` only
//! carries the actions out with the client, without ever waiting for the broker.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use sungate_drivers::Reading;
use sungate_drivers::driver::{DeviceInfo, FieldSpec, Snapshot};

use super::device::MqttDevice;
use super::topics::gateway_availability_topic;
use super::{compat, discovery};
use crate::config::MqttConfig;
use crate::core::bus::Event;
use crate::core::energy;

#[derive(Debug)]
struct View {
    /// (QPGS index, the serial number that unit reported)
    unit: Option<(u8, Option<String>)>,
    reading: Arc<Reading>,
}

#[derive(Debug)]
struct Latest {
    at: SystemTime,
    views: Vec<View>,
    sections: Option<Arc<Snapshot>>,
}

/// `QPGS3` -> 3: the sections that describe one unit of a parallel stack.
fn parallel_unit(section: &str) -> Option<u8> {
    let n = section.strip_prefix("QPGS")?;
    match n.as_bytes() {
        [d @ b'0'..=b'9'] => Some(d - b'0'),
        _ => None,
    }
}

/// Split a snapshot into the device's own view and one view per parallel unit (QPGSn), so that
/// every unit is its own HA device instead of `qpgs1_battery_voltage`-style fields.
fn views(reading: Arc<Reading>, sections: Option<&Snapshot>) -> Vec<View> {
    let Some(sections) = sections.filter(|s| {
        s.sections
            .iter()
            .any(|(name, _)| parallel_unit(name).is_some())
    }) else {
        return vec![View {
            unit: None,
            reading,
        }];
    };
    let own = Snapshot {
        sections: sections
            .sections
            .iter()
            .filter(|(name, _)| parallel_unit(name).is_none())
            .cloned()
            .collect(),
    };
    let mut out = Vec::new();
    if !own.sections.is_empty() {
        out.push(View {
            unit: None,
            reading: Arc::new(own.flatten()),
        });
    }
    for (name, r) in &sections.sections {
        if let Some(n) = parallel_unit(name) {
            let serial = r
                .value("serial_number")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            out.push(View {
                unit: Some((n, serial)),
                reading: Arc::new(r.clone()),
            });
        }
    }
    out
}

#[derive(Debug, Default)]
struct DeviceState {
    fields: Vec<FieldSpec>,
    info: Option<DeviceInfo>,
    online: Option<bool>,
    latest: Option<Latest>,
    /// `<view key>/<field>` whose discovery config went out since the last (re)connect.
    announced: HashSet<String>,
}

impl DeviceState {
    fn ha_device(&self, cfg: &MqttConfig, name: &str, view: &View) -> discovery::HaDevice {
        match &view.unit {
            None => discovery::HaDevice::main(cfg, name, self.info.as_ref()),
            Some((n, serial)) => {
                discovery::HaDevice::unit(cfg, name, self.info.as_ref(), *n, serial.as_deref())
            }
        }
    }
}

/// What the publisher decided to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Publish {
        topic: String,
        retain: bool,
        payload: Vec<u8>,
    },
    Subscribe {
        topic: String,
    },
}

/// The publisher's decisions: what to send on a bus event, on (re)connect and on Home
/// Assistant's birth message, and what to keep while the broker is away (the latest state,
/// availability and identity of each device: bounded, one entry each). No I/O: every method
/// returns the actions to carry out.
#[derive(Debug)]
pub struct Publisher {
    cfg: Arc<MqttConfig>,
    devices: HashMap<String, DeviceState>,
    connected: bool,
    out: Vec<Action>,
}

impl Publisher {
    pub fn new(cfg: Arc<MqttConfig>, devices: Vec<MqttDevice>) -> Self {
        let devices = devices
            .into_iter()
            .map(|d| {
                (
                    d.name,
                    DeviceState {
                        fields: d.fields,
                        info: d.info,
                        ..DeviceState::default()
                    },
                )
            })
            .collect();
        Publisher {
            cfg,
            devices,
            connected: false,
            out: Vec::new(),
        }
    }

    fn publish(&mut self, topic: String, retain: bool, payload: Vec<u8>) {
        self.out.push(Action::Publish {
            topic,
            retain,
            payload,
        });
    }

    fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }

    /// Every configured source, sorted (so that what goes out is in a stable order).
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.devices.keys().cloned().collect();
        names.sort();
        names
    }

    /// The broker accepted the connection (a fresh session): subscribe, and send everything.
    pub fn on_connected(&mut self) -> Vec<Action> {
        self.connected = true;
        for topic in [
            format!("{}/+/set/+", self.cfg.prefix),
            format!("{}/status", self.cfg.discovery_prefix),
        ] {
            self.out.push(Action::Subscribe { topic });
        }
        self.publish(
            gateway_availability_topic(&self.cfg),
            true,
            b"online".to_vec(),
        );
        for name in self.names() {
            self.publish_availability(&name);
            self.announce(&name, true);
            self.publish_state(&name);
        }
        self.take()
    }

    /// The connection is gone: keep the latest state, send nothing until the next ConnAck.
    pub fn on_disconnected(&mut self) {
        self.connected = false;
        tracing::debug!("MQTT disconnected: keeping the latest state per device");
    }

    /// Home Assistant's status message (`online` after it restarted): discovery again.
    pub fn on_ha_status(&mut self, status: &str) -> Vec<Action> {
        if status == "online" {
            tracing::info!("Home Assistant came online: publishing discovery again");
            for name in self.names() {
                self.announce(&name, true);
            }
        }
        self.take()
    }

    /// An event from the bus.
    pub fn on_event(&mut self, event: Event) -> Vec<Action> {
        self.apply(event);
        self.take()
    }

    fn apply(&mut self, event: Event) {
        let Some(state) = self.devices.get_mut(event.device()) else {
            return;
        };
        let name = event.device().to_owned();
        match event {
            Event::Snapshot {
                at,
                reading,
                sections,
                ..
            } => {
                state.latest = Some(Latest {
                    at,
                    views: views(reading, sections.as_deref()),
                    sections,
                });
                self.announce(&name, false);
                self.publish_state(&name);
            }
            Event::Availability { online, reason, .. } => {
                if state.online != Some(online) {
                    tracing::debug!(device = %name, online, reason = reason.as_deref().unwrap_or(""), "availability");
                }
                state.online = Some(online);
                self.publish_availability(&name);
            }
            Event::Identified { info, .. } => {
                let changed = state.info.as_ref() != Some(&info);
                state.info = Some(info);
                if changed {
                    // The device block (serial, firmware) changed: every config goes out again.
                    self.announce(&name, true);
                }
            }
            // Commands are answered on their result topic by the command task.
            Event::Command(_) => {}
        }
    }

    fn publish_availability(&mut self, name: &str) {
        let Some(online) = self.devices.get(name).and_then(|s| s.online) else {
            return;
        };
        if self.connected {
            let payload = if online { "online" } else { "offline" };
            self.publish(
                format!("{}/{name}/availability", self.cfg.prefix),
                true,
                payload.as_bytes().to_vec(),
            );
        }
    }

    fn publish_state(&mut self, name: &str) {
        if !self.connected {
            return;
        }
        let Some(state) = self.devices.get(name) else {
            return;
        };
        let Some(latest) = &state.latest else {
            return;
        };
        let mut out = Vec::new();
        for view in &latest.views {
            let topic = discovery::state_topic(&self.cfg, name, view.unit.as_ref().map(|u| u.0));
            out.push((topic, state_payload(&view.reading, latest.at)));
        }
        if self.cfg.compat_axpert.as_deref() == Some(name) {
            if let Some(sections) = &latest.sections {
                out.extend(compat_messages(state, sections));
            }
        }
        for (topic, payload) in out {
            self.publish(topic, self.cfg.retain, payload);
        }
    }

    /// Send discovery configs for the fields of the latest snapshot not announced yet (`all`:
    /// every field again).
    fn announce(&mut self, name: &str, all: bool) {
        let Some(state) = self.devices.get_mut(name) else {
            return;
        };
        if all {
            state.announced.clear();
        }
        if !self.cfg.discovery || !self.connected {
            return;
        }
        let Some(latest) = &state.latest else {
            return;
        };
        let mut out = Vec::new();
        for view in &latest.views {
            let target = state.ha_device(&self.cfg, name, view);
            for field in view.reading.iter() {
                // An energy counter's source is its entity's attribute, not an entity.
                if energy::counter_of_source(&field.name).is_some() {
                    continue;
                }
                let key = format!("{}/{}", target.key, field.name);
                if state.announced.contains(&key) {
                    continue;
                }
                let spec = state.fields.iter().find(|s| s.name == field.name);
                out.push(discovery::config_for(&self.cfg, &target, field, spec));
                state.announced.insert(key);
            }
        }
        for (topic, payload) in out {
            self.publish(topic, true, payload);
        }
    }
}

/// The seeds' `power/axpert` topics (see compat.rs).
fn compat_messages(state: &DeviceState, sections: &Snapshot) -> Vec<(String, Vec<u8>)> {
    let json = |j: &Json| serde_json::to_vec(j).unwrap_or_default();
    let mut out = Vec::new();
    if let Some(p) = compat::parallel(sections) {
        out.push((compat::PARALLEL_TOPIC.to_owned(), json(&p)));
    }
    // The add-on names the topic after the connected unit's serial: without one (QSID and
    // QID refused) there is no topic to publish on.
    let serial = state.info.as_ref().and_then(|i| i.serial.as_deref());
    if let Some((topic, u)) = serial.and_then(|s| compat::unit(sections, s)) {
        out.push((topic, json(&u)));
    }
    out
}

/// Unix seconds with milliseconds.
fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as f64 / 1000.0)
        .unwrap_or(0.0)
}

/// `{"field": value, ..., "timestamp": unix seconds}`: numbers as numbers.
pub fn state_payload(reading: &Reading, at: SystemTime) -> Vec<u8> {
    let mut json = crate::decode::reading_json(reading, crate::decode::JsonStyle::Plain);
    if let Json::Object(m) = &mut json {
        m.insert("timestamp".into(), Json::from(unix_seconds(at)));
    }
    serde_json::to_vec(&json).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::config::Config;
    use sungate_drivers::reading::Field;

    const CONFIG: &str = "[gateway]\nname = \"cabin\"\n[[port]]\nname = \"p\"\nserial = \"/dev/x\"\n[[port]]\nname = \"q\"\nserial = \"/dev/y\"\n[[port]]\nname = \"r\"\nserial = \"/dev/z\"\n\
        [[device]]\nname = \"bmv\"\ndriver = \"vedirect\"\nport = \"p\"\n[[device]]\nname = \"mppt\"\ndriver = \"vedirect\"\nport = \"q\"\n\
        [[bridge]]\nname = \"sense\"\nsource = \"bmv\"\ntargets = [\"mppt\"]\n[mqtt]\nhost = \"broker\"\n";

    fn publisher() -> Publisher {
        let config = Config::parse(CONFIG, "t").unwrap();
        let mut sources: Vec<MqttDevice> = config
            .devices
            .iter()
            .map(|d| MqttDevice::device(d, &[]))
            .collect();
        sources.extend(config.bridges.iter().map(MqttDevice::bridge));
        Publisher::new(Arc::new(config.mqtt.unwrap()), sources)
    }

    fn snapshot(device: &str, volts: f64, at: u64) -> Event {
        let mut r = Reading::new();
        r.push(Field::new("battery_voltage", volts).with_unit("V"));
        Event::Snapshot {
            device: device.into(),
            at: UNIX_EPOCH + std::time::Duration::from_secs(at),
            reading: Arc::new(r),
            sections: None,
        }
    }

    fn availability(device: &str, online: bool) -> Event {
        Event::Availability {
            device: device.into(),
            online,
            reason: None,
        }
    }

    /// (topic, payload as text) of the publishes among `actions`.
    fn published(actions: &[Action]) -> Vec<(String, String)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Publish { topic, payload, .. } => {
                    Some((topic.clone(), String::from_utf8_lossy(payload).into_owned()))
                }
                Action::Subscribe { .. } => None,
            })
            .collect()
    }

    fn topics(actions: &[Action]) -> Vec<String> {
        published(actions).into_iter().map(|(t, _)| t).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn while_the_broker_is_away_only_the_latest_state_is_kept_and_sent_on_connect() {
        let mut p = publisher();
        assert!(p.on_event(availability("bmv", true)).is_empty());
        assert!(p.on_event(snapshot("bmv", 12.5, 100)).is_empty());
        assert!(p.on_event(snapshot("bmv", 12.6, 101)).is_empty());
        let actions = p.on_connected();
        assert_eq!(
            actions[..2],
            [
                Action::Subscribe {
                    topic: "sungate/+/set/+".into()
                },
                Action::Subscribe {
                    topic: "homeassistant/status".into()
                },
            ]
        );
        let sent = published(&actions);
        assert_eq!(
            sent[0],
            ("sungate/gateway/availability".into(), "online".into())
        );
        assert!(sent.contains(&("sungate/bmv/availability".into(), "online".into())));
        // One state of the bmv, the latest, and its discovery config before it.
        let states: Vec<&(String, String)> = sent
            .iter()
            .filter(|(t, _)| t == "sungate/bmv/state")
            .collect();
        assert_eq!(states.len(), 1, "{sent:?}");
        let state: serde_json::Value = serde_json::from_str(&states[0].1).unwrap();
        assert_eq!(state["battery_voltage"], 12.6);
        assert_eq!(state["timestamp"], 101.0);
        let config_at = topics(&actions)
            .iter()
            .position(|t| {
                t.starts_with("homeassistant/sensor/") && t.ends_with("battery_voltage/config")
            })
            .unwrap();
        let state_at = topics(&actions)
            .iter()
            .position(|t| t == "sungate/bmv/state")
            .unwrap();
        assert!(config_at < state_at);
        // Nothing was ever heard of the mppt: nothing is made up for it.
        assert!(
            !topics(&actions).iter().any(|t| t.contains("mppt")),
            "{sent:?}"
        );
        // After a disconnect, nothing goes out until the next ConnAck.
        p.on_disconnected();
        assert!(p.on_event(snapshot("bmv", 12.7, 102)).is_empty());
        let again = p.on_connected();
        assert!(
            published(&again)
                .iter()
                .any(|(t, s)| t == "sungate/bmv/state" && s.contains("12.7"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn discovery_goes_out_once_per_field_and_again_on_ha_birth_or_a_new_identity() {
        let mut p = publisher();
        p.on_connected();
        let first = p.on_event(snapshot("bmv", 12.5, 100));
        assert_eq!(topics(&first).len(), 2, "{first:?}");
        // The same fields again: just the state.
        let second = p.on_event(snapshot("bmv", 12.6, 101));
        assert_eq!(topics(&second), ["sungate/bmv/state"]);
        // Home Assistant restarted: every config again (retained), no state needed.
        let birth = p.on_ha_status("online");
        assert_eq!(topics(&birth).len(), 1);
        assert!(matches!(&birth[0], Action::Publish { retain: true, .. }));
        assert!(p.on_ha_status("offline").is_empty());
        // A new serial number: the device block changed, so the configs go out again.
        let identified = p.on_event(Event::Identified {
            device: "bmv".into(),
            info: DeviceInfo {
                protocol: "VE.Direct".into(),
                serial: Some("HQ1234".into()),
                ..DeviceInfo::default()
            },
        });
        let configs = published(&identified);
        assert_eq!(configs.len(), 1);
        assert!(configs[0].1.contains("HQ1234"), "{configs:?}");
        // Events of something not configured are ignored.
        assert!(p.on_event(snapshot("ghost", 1.0, 1)).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_energy_counter_is_announced_for_the_energy_dashboard_with_its_source() {
        let mut p = publisher();
        p.on_connected();
        let mut r = Reading::new();
        r.push(Field::new("pv_energy", 82.72).with_unit("kWh"));
        r.push(Field::new(energy::source_field("pv_energy"), "device"));
        let out = published(&p.on_event(Event::Snapshot {
            device: "mppt".into(),
            at: UNIX_EPOCH + std::time::Duration::from_secs(100),
            reading: Arc::new(r),
            sections: None,
        }));
        // One config (the counter), none for its source, and the state with both.
        let configs: Vec<&(String, String)> =
            out.iter().filter(|(t, _)| t.ends_with("/config")).collect();
        assert_eq!(configs.len(), 1, "{out:?}");
        assert_eq!(
            configs[0].0,
            "homeassistant/sensor/sungate_cabin_mppt/pv_energy/config"
        );
        let c: Json = serde_json::from_str(&configs[0].1).unwrap();
        assert_eq!(c["device_class"], "energy");
        assert_eq!(c["state_class"], "total_increasing");
        assert_eq!(c["unit_of_measurement"], "kWh");
        assert_eq!(c["json_attributes_topic"], "sungate/mppt/state");
        assert_eq!(
            c["json_attributes_template"],
            "{{ {'source': value_json['pv_energy_source']} | tojson }}"
        );
        let state = out.iter().find(|(t, _)| t == "sungate/mppt/state").unwrap();
        let state: Json = serde_json::from_str(&state.1).unwrap();
        assert_eq!(state["pv_energy"], 82.72);
        assert_eq!(state["pv_energy_source"], "device");
    }

    #[tokio::test(start_paused = true)]
    async fn a_bridge_is_a_device_of_its_own() {
        let mut p = publisher();
        p.on_connected();
        assert_eq!(
            published(&p.on_event(availability("sense", true))),
            [("sungate/sense/availability".to_owned(), "online".to_owned())]
        );
        let mut r = Reading::new();
        r.push(Field::new("source_state", "ok"));
        r.push(Field::new("mppt_temperature_in_use", true));
        let actions = p.on_event(Event::Snapshot {
            device: "sense".into(),
            at: UNIX_EPOCH,
            reading: Arc::new(r),
            sections: None,
        });
        let sent = published(&actions);
        let state = sent
            .iter()
            .find(|(t, _)| t == "sungate/sense/state")
            .unwrap();
        assert!(state.1.contains("\"source_state\":\"ok\""), "{state:?}");
        let binary = sent
            .iter()
            .find(|(t, _)| t.starts_with("homeassistant/binary_sensor/"))
            .unwrap();
        assert!(
            binary.1.contains("\"manufacturer\":\"sungate\""),
            "{binary:?}"
        );
        assert!(binary.1.contains("mppt"), "{binary:?}");
    }
}
