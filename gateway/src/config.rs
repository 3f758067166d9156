//! Gateway configuration (TOML). Loading refuses anything doubtful with the file, the line and a
//! plain message: unknown keys, bad values, two ports on one device path, devices on ports that do
//! not exist, a port with no or several transports.
//!
//! ```toml
//! [gateway]
//! name = "cabin"                 # used in MQTT client ids and topics later
//!
//! [[port]]
//! name = "inverter-serial"
//! serial = "/dev/ttyUSB0"        # or tcp = "192.168.1.50:8899" (a serial bridge)
//! baud = 2400                    # default: 2400 for pi30, 19200 for vedirect
//! unit = "axpert"                # interfaces of one physical unit share a lock
//!
//! [[device]]
//! name = "inverter"
//! driver = "pi30"                # pi30 | vedirect
//! port = "inverter-serial"
//! poll_interval = 5.0            # seconds
//! queries = ["QPIGS", "QMOD", "QPIWS"]
//! ```
//! A `[[bridge]]` forwards a BMV's battery temperature and voltage to MPPTs (see bridge.rs):
//! ```toml
//! [[bridge]]
//! source = "bmv"
//! targets = ["mppt"]
//! values = ["temperature", "voltage"]   # default: both
//! refresh_interval = 15.0               # seconds, at most 45 (the MPPT forgets after 60)
//! max_source_age = 10.0                 # older source values are not forwarded
//! ```
//! `[mqtt]` publishes to a broker (see mqtt/mod.rs):
//! ```toml
//! [mqtt]
//! host = "192.168.1.2"
//! port = 1883                          # default 1883
//! client_id = "sungate-cabin"          # default sungate-<gateway name>
//! prefix = "sungate"                   # state, availability, commands
//! discovery_prefix = "homeassistant"   # Home Assistant discovery
//! qos = 1                              # 0, 1 or 2
//! retain = false                       # retain state messages
//! username = "sungate"
//! password = "secret"
//! tls_ca_file = "/etc/sungate/ca.pem"  # TLS (port default 8883); the broker's CA
//! client_cert = "/etc/sungate/client.pem"  # optional client certificate
//! client_key = "/etc/sungate/client.key"
//! compat_axpert = "inverter"           # also publish power/axpert and power/axpert<serial>
//! writes = false                       # accept <prefix>/<device>/set/<setting>
//! [mqtt.allow]                         # settings each device accepts over MQTT
//! inverter = ["output_source_priority", "charger_source_priority"]
//! ```
//! `[http]` is reserved for its milestone.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use sungate_drivers::pi30::commands::Query;
use thiserror::Error;
use toml::Spanned;

use crate::setting::NotSettable;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {cause}")]
    Read { path: String, cause: std::io::Error },
    /// `file:line: message`
    #[error("{file}:{line}: {message}")]
    At {
        file: String,
        line: usize,
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    gateway: GatewaySettings,
    #[serde(default, rename = "port")]
    ports: Vec<RawPort>,
    #[serde(default, rename = "device")]
    devices: Vec<RawDevice>,
    #[serde(default)]
    mqtt: Option<Spanned<RawMqtt>>,
    #[serde(default)]
    http: Option<toml::Table>,
    #[serde(default, rename = "bridge")]
    bridges: Vec<RawBridge>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBridge {
    #[serde(default)]
    name: Option<Spanned<String>>,
    source: Spanned<String>,
    targets: Spanned<Vec<String>>,
    #[serde(default)]
    values: Option<Spanned<Vec<BridgeValue>>>,
    #[serde(default)]
    refresh_interval: Option<Spanned<f64>>,
    #[serde(default)]
    max_source_age: Option<Spanned<f64>>,
    #[serde(default)]
    temperature_range: Option<Spanned<[f64; 2]>>,
    #[serde(default)]
    voltage_range: Option<Spanned<[f64; 2]>>,
}

/// What a bridge forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BridgeValue {
    Temperature,
    Voltage,
}

/// A BMV -> MPPT remote-sense bridge.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeConfig {
    pub name: String,
    /// The BMV / SmartShunt device.
    pub source: String,
    /// The MPPT devices.
    pub targets: Vec<String>,
    pub values: Vec<BridgeValue>,
    /// How often the values are written again (the MPPT drops them 60 s after the last write).
    pub refresh_interval: Duration,
    /// Source values older than this are not forwarded; "not available" is written instead.
    pub max_source_age: Duration,
    /// Plausible battery temperatures (°C) and voltages (V); outside: "not available".
    pub temperature_range: (f64, f64),
    pub voltage_range: (f64, f64),
}

/// The MPPT forgets remote values 60 s after the last write; refreshing later than this leaves
/// gaps, so the configuration refuses it.
pub const MAX_BRIDGE_REFRESH: f64 = 45.0;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// A name for this site (MQTT client id, topics).
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    name: Spanned<String>,
    #[serde(default)]
    serial: Option<Spanned<String>>,
    #[serde(default)]
    tcp: Option<Spanned<String>>,
    #[serde(default)]
    hid: Option<Spanned<String>>,
    #[serde(default)]
    baud: Option<Spanned<u32>>,
    #[serde(default)]
    unit: Option<String>,
    /// Reply timeout per request, seconds.
    #[serde(default)]
    timeout: Option<Spanned<f64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    name: Spanned<String>,
    driver: Spanned<DriverKind>,
    port: Spanned<String>,
    #[serde(default)]
    poll_interval: Option<Spanned<f64>>,
    #[serde(default)]
    queries: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriverKind {
    Pi30,
    Vedirect,
}

/// How a port reaches its device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Serial { path: String, baud: u32 },
    Tcp { addr: String },
    Hid { spec: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct PortConfig {
    pub name: String,
    pub transport: Transport,
    /// Lock group: every port with the same unit is one physical device.
    pub unit: Option<String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceConfig {
    pub name: String,
    pub driver: DriverKind,
    pub port: String,
    pub poll_interval: Duration,
    /// PI30 queries per poll (empty for VE.Direct).
    pub queries: Vec<Query>,
}

/// A checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub gateway: GatewaySettings,
    pub ports: Vec<PortConfig>,
    pub devices: Vec<DeviceConfig>,
    pub bridges: Vec<BridgeConfig>,
    /// `[mqtt]`: publish to a broker (absent: no MQTT).
    pub mqtt: Option<MqttConfig>,
}

pub const DEFAULT_PI30_QUERIES: [Query; 3] = [Query::Qpigs, Query::Qmod, Query::Qpiws];

fn line_of(text: &str, span: Range<usize>) -> usize {
    let end = span.start.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Keys whose values are secrets: never echoed in an error message or a log line.
const SECRET_KEYS: &[&str] = &["password"];

/// The secret key whose value is at byte `pos` of `text`, if any: a secret key before `pos` on
/// the same line (errors point at the value).
fn secret_key_at(text: &str, pos: usize) -> Option<&'static str> {
    let before = text.get(..pos.min(text.len()))?;
    let line = before.rsplit('\n').next().unwrap_or(before);
    SECRET_KEYS.iter().copied().find(|key| line.contains(key))
}

/// A secret from the config (a password): usable, but never shown by `Debug`, so that no log
/// line or error message that prints a config can leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let read_error = |cause| ConfigError::Read {
            path: file.clone(),
            cause,
        };
        if path.is_dir() {
            return Err(read_error(std::io::Error::other(
                "it is a directory, not a config file",
            )));
        }
        let bytes = std::fs::read(path).map_err(read_error)?;
        let text = String::from_utf8(bytes).map_err(|e| {
            // Say where: the line and column of the first byte that is not UTF-8.
            let bytes = e.as_bytes();
            let valid = e.utf8_error().valid_up_to();
            let before = bytes.get(..valid).unwrap_or_default();
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let column = valid
                - before
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1)
                + 1;
            ConfigError::At {
                file: file.clone(),
                line,
                message: format!(
                    "column {column}: byte 0x{:02X} is not UTF-8 text (save the file as UTF-8)",
                    bytes.get(valid).copied().unwrap_or_default()
                ),
            }
        })?;
        Config::parse(&text, &file)
    }

    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let at = |span: Range<usize>, message: String| ConfigError::At {
            file: file.to_owned(),
            line: line_of(text, span),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(text, s.clone()));
            let message = match e.span().and_then(|s| secret_key_at(text, s.start)) {
                // The parser's message quotes the value ("invalid type: integer `987654321`"):
                // a secret is never printed, so say what is wrong without it.
                Some(key) => format!(
                    "{key}: invalid value (not shown: it is a secret); write it as a quoted \
                     string, e.g. {key} = \"...\""
                ),
                None => e.message().trim().to_owned(),
            };
            ConfigError::At {
                file: file.to_owned(),
                line,
                message,
            }
        })?;
        if raw.http.is_some() {
            tracing::warn!(
                section = "[http]",
                "section not supported yet by this version: ignored"
            );
        }

        let mut ports = Vec::with_capacity(raw.ports.len());
        let mut port_names: HashMap<String, DriverKindHint> = HashMap::new();
        let mut paths: HashMap<String, String> = HashMap::new();
        for p in &raw.ports {
            let name = p.name.get_ref();
            if !valid_name(name) {
                return Err(at(
                    p.name.span(),
                    format!("port name {name:?} must be 1-64 letters, digits, '-' or '_'"),
                ));
            }
            if port_names.insert(name.clone(), DriverKindHint).is_some() {
                return Err(at(p.name.span(), format!("two ports are named {name:?}")));
            }
            let transports: Vec<(&Spanned<String>, &str)> = [
                (p.serial.as_ref(), "serial"),
                (p.tcp.as_ref(), "tcp"),
                (p.hid.as_ref(), "hid"),
            ]
            .into_iter()
            .filter_map(|(v, k)| v.map(|v| (v, k)))
            .collect();
            let (value, kind) = match transports.as_slice() {
                [one] => *one,
                [] => {
                    return Err(at(
                        p.name.span(),
                        format!(
                            "port {name:?} needs one of serial = \"/dev/...\", tcp = \"host:port\" or hid = \"...\""
                        ),
                    ));
                }
                [_, second, ..] => {
                    return Err(at(
                        second.0.span(),
                        format!("port {name:?} has more than one of serial / tcp / hid"),
                    ));
                }
            };
            let target = value.get_ref().clone();
            if target.is_empty() {
                return Err(at(
                    value.span(),
                    format!("port {name:?}: empty {kind} address"),
                ));
            }
            if let Some(other) = paths.insert(format!("{kind}:{target}"), name.clone()) {
                return Err(at(
                    value.span(),
                    format!(
                        "ports {other:?} and {name:?} both claim {kind} {target:?}: one physical interface can have one port only"
                    ),
                ));
            }
            let baud = match &p.baud {
                Some(b) if kind != "serial" => {
                    return Err(at(
                        b.span(),
                        format!("port {name:?}: baud is only for serial ports"),
                    ));
                }
                Some(b) if !(300..=921_600).contains(b.get_ref()) => {
                    return Err(at(
                        b.span(),
                        format!("port {name:?}: baud {} is not a serial speed", b.get_ref()),
                    ));
                }
                Some(b) => Some(*b.get_ref()),
                None => None,
            };
            let transport = match kind {
                "serial" => Transport::Serial {
                    path: target,
                    baud: baud.unwrap_or(0),
                },
                "tcp" => {
                    if !target.contains(':') {
                        return Err(at(
                            value.span(),
                            format!("port {name:?}: tcp address {target:?} needs host:port"),
                        ));
                    }
                    Transport::Tcp { addr: target }
                }
                _ => {
                    // Checked now so that a typo is a config error with its line, not a port
                    // that never opens.
                    if let Err(e) = target.parse::<sungate_drivers::transport::hid::HidSpec>() {
                        return Err(at(value.span(), format!("port {name:?}: {e}")));
                    }
                    Transport::Hid { spec: target }
                }
            };
            let timeout = match &p.timeout {
                Some(t)
                    if !(t.get_ref().is_finite() && *t.get_ref() > 0.0 && *t.get_ref() <= 30.0) =>
                {
                    return Err(at(
                        t.span(),
                        format!("port {name:?}: timeout must be within (0, 30] seconds"),
                    ));
                }
                Some(t) => Duration::from_secs_f64(*t.get_ref()),
                None => Duration::from_millis(1500),
            };
            ports.push(PortConfig {
                name: name.clone(),
                transport,
                unit: p.unit.clone(),
                timeout,
            });
        }

        let mut devices = Vec::with_capacity(raw.devices.len());
        let mut device_names = HashMap::new();
        for d in &raw.devices {
            let name = d.name.get_ref();
            if !valid_name(name) {
                return Err(at(
                    d.name.span(),
                    format!("device name {name:?} must be 1-64 letters, digits, '-' or '_'"),
                ));
            }
            if device_names.insert(name.clone(), ()).is_some() {
                return Err(at(d.name.span(), format!("two devices are named {name:?}")));
            }
            let port_name = d.port.get_ref();
            let Some(port) = ports.iter_mut().find(|p| &p.name == port_name) else {
                let known: Vec<&str> = raw
                    .ports
                    .iter()
                    .map(|p| p.name.get_ref().as_str())
                    .collect();
                return Err(at(
                    d.port.span(),
                    format!(
                        "device {name:?} uses port {port_name:?}, which is not defined (ports: {})",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            };
            let driver = *d.driver.get_ref();
            if let Transport::Serial { baud, .. } = &mut port.transport {
                if *baud == 0 {
                    *baud = match driver {
                        DriverKind::Pi30 => 2400,
                        DriverKind::Vedirect => 19200,
                    };
                }
            }
            let poll_interval = match &d.poll_interval {
                Some(s)
                    if !(s.get_ref().is_finite()
                        && *s.get_ref() >= 0.1
                        && *s.get_ref() <= 86_400.0) =>
                {
                    return Err(at(
                        s.span(),
                        format!(
                            "device {name:?}: poll_interval must be within 0.1..=86400 seconds"
                        ),
                    ));
                }
                Some(s) => Duration::from_secs_f64(*s.get_ref()),
                None => Duration::from_secs(match driver {
                    DriverKind::Pi30 => 5,
                    DriverKind::Vedirect => 2,
                }),
            };
            let queries = match (&d.queries, driver) {
                (None, DriverKind::Pi30) => DEFAULT_PI30_QUERIES.to_vec(),
                (None, DriverKind::Vedirect) => Vec::new(),
                (Some(q), DriverKind::Vedirect) => {
                    return Err(at(
                        q.span(),
                        format!(
                            "device {name:?}: queries are for pi30 devices; VE.Direct devices send their data by themselves"
                        ),
                    ));
                }
                (Some(q), DriverKind::Pi30) => {
                    let mut parsed = Vec::new();
                    for s in q.get_ref() {
                        let query: Query = s.parse().map_err(|_| {
                            at(q.span(), format!("device {name:?}: unknown query {s:?}"))
                        })?;
                        parsed.push(query);
                    }
                    if parsed.is_empty() {
                        return Err(at(q.span(), format!("device {name:?}: queries is empty")));
                    }
                    parsed
                }
            };
            devices.push(DeviceConfig {
                name: name.clone(),
                driver,
                port: port_name.clone(),
                poll_interval,
                queries,
            });
        }
        if devices.is_empty() {
            return Err(ConfigError::At {
                file: file.to_owned(),
                line: 1,
                message: "no [[device]] configured: nothing to do".into(),
            });
        }
        let bridges = parse_bridges(&raw.bridges, &devices, &at)?;
        let mqtt = match &raw.mqtt {
            Some(m) => Some(parse_mqtt(m, &raw.gateway, &devices, &at)?),
            None => None,
        };
        Ok(Config {
            gateway: raw.gateway,
            ports,
            devices,
            bridges,
            mqtt,
        })
    }

    pub fn port(&self, name: &str) -> Option<&PortConfig> {
        self.ports.iter().find(|p| p.name == name)
    }
}

#[derive(Debug, Clone, Copy)]
struct DriverKindHint;

fn parse_bridges(
    raw: &[RawBridge],
    devices: &[DeviceConfig],
    at: &dyn Fn(Range<usize>, String) -> ConfigError,
) -> Result<Vec<BridgeConfig>, ConfigError> {
    let mut bridges: Vec<BridgeConfig> = Vec::with_capacity(raw.len());
    for b in raw {
        let vedirect = |name: &str, span: Range<usize>, role: &str| -> Result<(), ConfigError> {
            match devices.iter().find(|d| d.name == name) {
                None => Err(at(
                    span,
                    format!("bridge {role} {name:?} is not a configured device"),
                )),
                Some(d) if d.driver != DriverKind::Vedirect => Err(at(
                    span,
                    format!(
                        "bridge {role} {name:?} is a {:?} device; bridges connect VE.Direct devices",
                        d.driver
                    ),
                )),
                Some(_) => Ok(()),
            }
        };
        vedirect(b.source.get_ref(), b.source.span(), "source")?;
        if b.targets.get_ref().is_empty() {
            return Err(at(b.targets.span(), "bridge has no targets".into()));
        }
        for t in b.targets.get_ref() {
            vedirect(t, b.targets.span(), "target")?;
            if t == b.source.get_ref() {
                return Err(at(
                    b.targets.span(),
                    format!("bridge target {t:?} is also its source"),
                ));
            }
        }
        let secs = |v: &Option<Spanned<f64>>,
                    default: f64,
                    lo: f64,
                    hi: f64,
                    what: &str|
         -> Result<Duration, ConfigError> {
            match v {
                None => Ok(Duration::from_secs_f64(default)),
                Some(s) if s.get_ref().is_finite() && *s.get_ref() >= lo && *s.get_ref() <= hi => {
                    Ok(Duration::from_secs_f64(*s.get_ref()))
                }
                Some(s) => Err(at(
                    s.span(),
                    format!(
                        "{what} must be within {lo}..={hi} seconds, got {}",
                        s.get_ref()
                    ),
                )),
            }
        };
        let refresh_interval = match &b.refresh_interval {
            Some(r) if *r.get_ref() > MAX_BRIDGE_REFRESH => {
                return Err(at(
                    r.span(),
                    format!(
                        "refresh_interval {} s is too long: the MPPT drops remote values 60 s after the last write; use at most {MAX_BRIDGE_REFRESH} s (10-30 s is typical)",
                        r.get_ref()
                    ),
                ));
            }
            other => secs(other, 15.0, 0.2, MAX_BRIDGE_REFRESH, "refresh_interval")?,
        };
        let max_source_age = secs(&b.max_source_age, 10.0, 0.5, 300.0, "max_source_age")?;
        let range = |r: &Option<Spanned<[f64; 2]>>,
                     default: (f64, f64),
                     what: &str|
         -> Result<(f64, f64), ConfigError> {
            match r {
                None => Ok(default),
                Some(s) => {
                    let [lo, hi] = *s.get_ref();
                    if lo.is_finite() && hi.is_finite() && lo < hi {
                        Ok((lo, hi))
                    } else {
                        Err(at(
                            s.span(),
                            format!("{what} must be [low, high] with low < high"),
                        ))
                    }
                }
            }
        };
        let values = match &b.values {
            None => vec![BridgeValue::Temperature, BridgeValue::Voltage],
            Some(v) if v.get_ref().is_empty() => {
                return Err(at(v.span(), "bridge values is empty".into()));
            }
            Some(v) => v.get_ref().clone(),
        };
        let name = match &b.name {
            Some(n) if !valid_name(n.get_ref()) => {
                return Err(at(
                    n.span(),
                    format!(
                        "bridge name {:?} must be 1-64 letters, digits, '-' or '_'",
                        n.get_ref()
                    ),
                ));
            }
            Some(n) => n.get_ref().clone(),
            None => format!("bridge-{}", b.source.get_ref()),
        };
        if devices.iter().any(|d| d.name == name) || bridges.iter().any(|x| x.name == name) {
            return Err(at(
                b.source.span(),
                format!("bridge name {name:?} is already used"),
            ));
        }
        bridges.push(BridgeConfig {
            name,
            source: b.source.get_ref().clone(),
            targets: b.targets.get_ref().clone(),
            values,
            refresh_interval,
            max_source_age,
            temperature_range: range(&b.temperature_range, (-30.0, 60.0), "temperature_range")?,
            voltage_range: range(&b.voltage_range, (5.0, 70.0), "voltage_range")?,
        });
    }
    Ok(bridges)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMqtt {
    host: Spanned<String>,
    #[serde(default)]
    port: Option<Spanned<u16>>,
    #[serde(default)]
    client_id: Option<Spanned<String>>,
    #[serde(default)]
    prefix: Option<Spanned<String>>,
    #[serde(default)]
    discovery_prefix: Option<Spanned<String>>,
    #[serde(default)]
    discovery: Option<bool>,
    #[serde(default)]
    qos: Option<Spanned<u8>>,
    #[serde(default)]
    retain: Option<bool>,
    #[serde(default)]
    keep_alive: Option<Spanned<f64>>,
    #[serde(default)]
    username: Option<Spanned<String>>,
    #[serde(default)]
    password: Option<Spanned<String>>,
    #[serde(default)]
    tls_ca_file: Option<Spanned<String>>,
    #[serde(default)]
    client_cert: Option<Spanned<String>>,
    #[serde(default)]
    client_key: Option<Spanned<String>>,
    #[serde(default)]
    writes: Option<bool>,
    #[serde(default)]
    allow: Option<Spanned<HashMap<String, Vec<Spanned<String>>>>>,
    #[serde(default)]
    command_burst: Option<Spanned<u32>>,
    #[serde(default)]
    command_interval: Option<Spanned<f64>>,
    #[serde(default)]
    compat_axpert: Option<Spanned<String>>,
}

/// A checked `[mqtt]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    /// Used in node ids and unique ids, so that two gateways on one broker do not collide.
    pub gateway_name: String,
    pub prefix: String,
    pub discovery_prefix: String,
    pub discovery: bool,
    pub qos: u8,
    /// Retain state messages (availability and discovery are always retained).
    pub retain: bool,
    pub keep_alive: Duration,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// TLS to the broker (absent: plain TCP).
    pub tls: Option<crate::mqtt::tls::TlsFiles>,
    /// The pi30 device whose data also goes to the seeds' `power/axpert` topics.
    pub compat_axpert: Option<String>,
    /// Accept commands at all. Off unless the config says so.
    pub writes: bool,
    /// device -> settings accepted over MQTT.
    pub allow: HashMap<String, Vec<String>>,
    /// Commands per device: a burst of this many, then one per `command_interval`.
    pub command_burst: u32,
    pub command_interval: Duration,
}

/// A topic level we build topics from: no wildcards, no separators, nothing invisible.
fn valid_topic_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('/')
        && !s.ends_with('/')
        && !s.contains("//")
        && !s
            .chars()
            .any(|c| matches!(c, '+' | '#') || c.is_control() || c == ' ')
}

fn parse_mqtt(
    m: &Spanned<RawMqtt>,
    gateway: &GatewaySettings,
    devices: &[DeviceConfig],
    at: &dyn Fn(Range<usize>, String) -> ConfigError,
) -> Result<MqttConfig, ConfigError> {
    let span = m.span();
    let m = m.get_ref();
    let host = m.host.get_ref().trim().to_owned();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(at(
            m.host.span(),
            format!("mqtt host {host:?} is not a host name"),
        ));
    }
    let gateway_name = gateway.name.clone().unwrap_or_else(|| "gateway".to_owned());
    if !valid_name(&gateway_name) {
        return Err(at(
            span,
            format!(
                "gateway name {gateway_name:?} must be 1-64 letters, digits, '-' or '_' for MQTT"
            ),
        ));
    }
    let client_id = match &m.client_id {
        Some(c) if c.get_ref().is_empty() || c.get_ref().len() > 64 => {
            return Err(at(
                c.span(),
                "mqtt client_id must be 1-64 characters".into(),
            ));
        }
        Some(c) => c.get_ref().clone(),
        None => format!("sungate-{gateway_name}"),
    };
    let topic = |v: &Option<Spanned<String>>, default: &str, what: &str| match v {
        None => Ok(default.to_owned()),
        Some(t) if valid_topic_part(t.get_ref()) => Ok(t.get_ref().clone()),
        Some(t) => Err(at(
            t.span(),
            format!(
                "mqtt {what} {:?} must be a topic without wildcards, spaces or leading/trailing '/'",
                t.get_ref()
            ),
        )),
    };
    let prefix = topic(&m.prefix, "sungate", "prefix")?;
    let discovery_prefix = topic(&m.discovery_prefix, "homeassistant", "discovery_prefix")?;
    let qos = match &m.qos {
        Some(q) if *q.get_ref() > 2 => {
            return Err(at(
                q.span(),
                format!("mqtt qos {} must be 0, 1 or 2", q.get_ref()),
            ));
        }
        Some(q) => *q.get_ref(),
        None => 1,
    };
    let keep_alive = match &m.keep_alive {
        Some(k) if !(k.get_ref().is_finite() && (5.0..=3600.0).contains(k.get_ref())) => {
            return Err(at(
                k.span(),
                "mqtt keep_alive must be within 5..=3600 seconds".into(),
            ));
        }
        Some(k) => Duration::from_secs_f64(*k.get_ref()),
        None => Duration::from_secs(30),
    };
    let (username, password) = match (&m.username, &m.password) {
        (None, Some(p)) => {
            return Err(at(p.span(), "mqtt password without a username".into()));
        }
        (Some(u), _) if u.get_ref().is_empty() => {
            return Err(at(u.span(), "mqtt username is empty".into()));
        }
        (u, p) => (
            u.as_ref().map(|u| u.get_ref().clone()),
            p.as_ref().map(|p| Secret::new(p.get_ref().as_str())),
        ),
    };
    // Checked at load time so that a wrong path is a config error with its line, not a gateway
    // that silently never connects.
    let readable = |f: &Spanned<String>, what: &str| -> Result<String, ConfigError> {
        std::fs::metadata(f.get_ref())
            .map_err(|e| at(f.span(), format!("mqtt {what} {:?}: {e}", f.get_ref())))
            .and_then(|meta| {
                if meta.is_file() {
                    Ok(f.get_ref().clone())
                } else {
                    Err(at(
                        f.span(),
                        format!("mqtt {what} {:?} is not a file", f.get_ref()),
                    ))
                }
            })
    };
    let tls = match (&m.tls_ca_file, &m.client_cert, &m.client_key) {
        (None, None, None) => None,
        (None, Some(c), _) | (None, None, Some(c)) => {
            return Err(at(
                c.span(),
                "mqtt client_cert/client_key need tls_ca_file".into(),
            ));
        }
        (Some(ca), cert, key) => {
            let ca_file = readable(ca, "tls_ca_file")?;
            let client = match (cert, key) {
                (None, None) => None,
                (Some(c), Some(k)) => Some((
                    readable(c, "client_cert")?.into(),
                    readable(k, "client_key")?.into(),
                )),
                (Some(one), None) | (None, Some(one)) => {
                    return Err(at(
                        one.span(),
                        "mqtt client_cert and client_key go together".into(),
                    ));
                }
            };
            let files = crate::mqtt::tls::TlsFiles {
                ca_file: ca_file.into(),
                client,
            };
            // Loaded now so that a bad PEM file is reported here, with its line.
            crate::mqtt::tls::client_config(&files)
                .map_err(|e| at(ca.span(), format!("mqtt TLS: {e}")))?;
            Some(files)
        }
    };
    let compat_axpert = match &m.compat_axpert {
        None => None,
        Some(c) => match devices.iter().find(|d| &d.name == c.get_ref()) {
            Some(d) if d.driver == DriverKind::Pi30 => {
                // power/axpert is QPGS0's parallel data, power/axpert<serial> QPIGS.
                for (q, why) in [
                    (Query::Qpgs(0), "power/axpert"),
                    (Query::Qpigs, "power/axpert<serial>"),
                ] {
                    if !d.queries.contains(&q) {
                        return Err(at(
                            c.span(),
                            format!(
                                "mqtt compat_axpert: {why} needs \"{}\" in the queries of {:?}",
                                q.command(),
                                d.name
                            ),
                        ));
                    }
                }
                Some(d.name.clone())
            }
            Some(_) => {
                return Err(at(
                    c.span(),
                    format!(
                        "mqtt compat_axpert: {:?} is not a pi30 inverter",
                        c.get_ref()
                    ),
                ));
            }
            None => {
                return Err(at(
                    c.span(),
                    format!(
                        "mqtt compat_axpert: {:?} is not a configured device",
                        c.get_ref()
                    ),
                ));
            }
        },
    };
    let port = match &m.port {
        Some(p) if *p.get_ref() == 0 => {
            return Err(at(p.span(), "mqtt port 0 is not a port".into()));
        }
        Some(p) => *p.get_ref(),
        // 8883 is the registered port of MQTT over TLS.
        None if tls.is_some() => 8883,
        None => 1883,
    };
    let mut allow = HashMap::new();
    if let Some(a) = &m.allow {
        for (device, settings) in a.get_ref() {
            let Some(d) = devices.iter().find(|d| &d.name == device) else {
                return Err(at(
                    a.span(),
                    format!("mqtt allow: {device:?} is not a configured device"),
                ));
            };
            for s in settings {
                // Refused here, not only when a command arrives: a read-only register in the
                // list is a mistake in the config.
                let message = match crate::setting::check_settable(d.driver, s.get_ref()) {
                    Ok(()) => continue,
                    Err(NotSettable::Unknown(_)) => {
                        format!("mqtt allow: {device:?} has no setting {:?}", s.get_ref())
                    }
                    Err(NotSettable::Refused(reason)) => {
                        format!(
                            "mqtt allow: {device:?} cannot set {:?}: {reason}",
                            s.get_ref()
                        )
                    }
                };
                return Err(at(s.span(), message));
            }
            allow.insert(
                device.clone(),
                settings.iter().map(|s| s.get_ref().clone()).collect(),
            );
        }
    }
    let command_burst = match &m.command_burst {
        Some(b) if !(1..=100).contains(b.get_ref()) => {
            return Err(at(
                b.span(),
                "mqtt command_burst must be within 1..=100".into(),
            ));
        }
        Some(b) => *b.get_ref(),
        None => 5,
    };
    let command_interval = match &m.command_interval {
        Some(i) if !(i.get_ref().is_finite() && (0.1..=3600.0).contains(i.get_ref())) => {
            return Err(at(
                i.span(),
                "mqtt command_interval must be within 0.1..=3600 seconds".into(),
            ));
        }
        Some(i) => Duration::from_secs_f64(*i.get_ref()),
        None => Duration::from_secs(2),
    };
    Ok(MqttConfig {
        host,
        port,
        client_id,
        gateway_name,
        prefix,
        discovery_prefix,
        discovery: m.discovery.unwrap_or(true),
        qos,
        retain: m.retain.unwrap_or(false),
        keep_alive,
        username,
        password,
        tls,
        compat_axpert,
        writes: m.writes.unwrap_or(false),
        allow,
        command_burst,
        command_interval,
    })
}

#[cfg(test)]
mod mqtt_config_tests {
    use super::*;

    const DEV: &str = "[[port]]\nname = \"p\"\nserial = \"/dev/x\"\n[[device]]\nname = \"inverter\"\ndriver = \"pi30\"\nport = \"p\"\n[gateway]\nname = \"cabin\"\n";

    #[test]
    fn mqtt_defaults() {
        let c = Config::parse(&format!("{DEV}[mqtt]\nhost = \"broker\"\n"), "t").unwrap();
        let m = c.mqtt.unwrap();
        assert_eq!(m.port, 1883);
        assert_eq!(m.client_id, "sungate-cabin");
        assert_eq!(m.prefix, "sungate");
        assert_eq!(m.discovery_prefix, "homeassistant");
        assert_eq!(m.qos, 1);
        assert!(!m.writes && !m.retain);
        assert!(m.allow.is_empty());
    }

    #[test]
    fn mqtt_refusals_name_their_line() {
        for (extra, line, needle) in [
            ("qos = 3\n", 12, "qos"),
            ("prefix = \"a/+\"\n", 12, "wildcards"),
            ("password = \"x\"\n", 12, "without a username"),
            ("tls_ca_file = \"/nonexistent/ca.pem\"\n", 12, "tls_ca_file"),
            ("client_cert = \"/etc/hostname\"\n", 12, "need tls_ca_file"),
            ("tls_ca_file = \"/etc/hostname\"\n", 12, "no CERTIFICATE"),
            ("compat_axpert = \"nope\"\n", 12, "not a configured device"),
            (
                "compat_axpert = \"inverter\"\n",
                12,
                "needs \"QPGS0\" in the queries",
            ),
            ("hots = \"x\"\n", 12, "hots"),
            // the line of the entry, not of the table header
            ("[mqtt.allow]\ninverter = [\"volume\"]\n", 13, "no setting"),
            (
                "[mqtt.allow]\nshunt = [\"output_source_priority\"]\n",
                12,
                "not a configured device",
            ),
        ] {
            let err = Config::parse(&format!("{DEV}[mqtt]\nhost = \"broker\"\n{extra}"), "t")
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{extra}: {err}");
            assert!(err.starts_with(&format!("t:{line}:")), "{extra}: {err}");
        }
        let c = Config::parse(
            &format!("{DEV}[mqtt]\nhost = \"broker\"\nwrites = true\n[mqtt.allow]\ninverter = [\"output_source_priority\"]\n"),
            "t",
        )
        .unwrap();
        let m = c.mqtt.unwrap();
        assert!(m.writes);
        assert_eq!(m.allow["inverter"], ["output_source_priority"]);
    }

    const MPPT: &str = "[[port]]\nname = \"p\"\nserial = \"/dev/x\"\n[[device]]\nname = \"mppt\"\ndriver = \"vedirect\"\nport = \"p\"\n[mqtt]\nhost = \"broker\"\nwrites = true\n[mqtt.allow]\n";

    #[test]
    fn mqtt_allow_refuses_read_only_vedirect_registers_at_their_line() {
        for (entry, line, needle) in [
            (
                "mppt = [\"panel_power\"]\n",
                12,
                "mqtt allow: \"mppt\" cannot set \"panel_power\": panel_power (0xEDBC) is read-only",
            ),
            (
                "mppt = [\n  \"absorption_voltage\",\n  \"0xEDBB\",\n]\n",
                14,
                "panel_voltage (0xEDBB) is read-only",
            ),
            (
                "mppt = [\"restore_defaults\"]\n",
                12,
                "restore_defaults (0x0004) is a write-only command",
            ),
            (
                "mppt = [\"moonlight\"]\n",
                12,
                "has no setting \"moonlight\"",
            ),
        ] {
            let err = Config::parse(&format!("{MPPT}{entry}"), "t")
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{entry}: {err}");
            assert!(err.starts_with(&format!("t:{line}:")), "{entry}: {err}");
        }
        let c = Config::parse(
            &format!("{MPPT}mppt = [\"absorption_voltage\", \"0x2003\"]\n"),
            "t",
        )
        .unwrap();
        assert_eq!(
            c.mqtt.unwrap().allow["mppt"],
            ["absorption_voltage", "0x2003"]
        );
    }

    #[test]
    fn a_secret_is_never_echoed() {
        for value in [
            "987654321",
            "true",
            "[\"hunter2-x\"]",
            "{ a = \"hunter2-x\" }",
        ] {
            let text =
                format!("{DEV}[mqtt]\nhost = \"broker\"\nusername = \"u\"\npassword = {value}\n");
            let err = Config::parse(&text, "t").unwrap_err().to_string();
            assert!(err.starts_with("t:13: password"), "{err}");
            assert!(err.contains("not shown"), "{err}");
            for secret in ["987654321", "hunter2"] {
                assert!(!err.contains(secret), "{err}");
            }
        }
        let c = Config::parse(
            &format!("{DEV}[mqtt]\nhost = \"b\"\nusername = \"u\"\npassword = \"hunter2-y\"\n"),
            "t",
        )
        .unwrap();
        let m = c.mqtt.as_ref().unwrap();
        assert_eq!(m.password.as_ref().map(Secret::expose), Some("hunter2-y"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}

#[cfg(test)]
mod load_tests {
    use super::*;

    fn load_error(path: &Path) -> String {
        let err = Config::load(path).unwrap_err();
        // What `sungate` prints: the whole chain.
        format!("{:#}", anyhow::Error::from(err))
    }

    #[test]
    fn unreadable_files_say_why_once() {
        let dir = std::env::temp_dir().join(format!("sungate-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = load_error(&dir);
        assert!(
            err.ends_with("it is a directory, not a config file"),
            "{err}"
        );
        let missing = dir.join("missing.toml");
        let err = load_error(&missing);
        assert_eq!(err.matches("No such file").count(), 1, "{err}");
        let latin1 = dir.join("latin1.toml");
        std::fs::write(&latin1, b"[gateway]\nname = \"caf\xe9\"\n").unwrap();
        let err = load_error(&latin1);
        assert!(
            err.contains("latin1.toml:2: column 12: byte 0xE9 is not UTF-8"),
            "{err}"
        );
        assert_eq!(err.matches("not UTF-8").count(), 1, "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> (usize, String) {
        match Config::parse(text, "t.toml") {
            Err(ConfigError::At { line, message, .. }) => (line, message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    const PORTS: &str = r#"
[[port]]
name = "inv"
serial = "/dev/ttyUSB0"
unit = "axpert"

[[port]]
name = "inv-usb"
tcp = "127.0.0.1:8899"
unit = "axpert"
"#;

    #[test]
    fn a_good_config_with_defaults() {
        let c = Config::parse(
            &format!("{PORTS}\n[[device]]\nname = \"inverter\"\ndriver = \"pi30\"\nport = \"inv\"\n\n[[device]]\nname = \"bmv\"\ndriver = \"vedirect\"\nport = \"inv-usb\"\npoll_interval = 1.5\n"),
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            c.ports[0].transport,
            Transport::Serial {
                path: "/dev/ttyUSB0".into(),
                baud: 2400
            }
        );
        assert_eq!(c.ports[0].unit.as_deref(), Some("axpert"));
        assert_eq!(c.devices[0].queries, DEFAULT_PI30_QUERIES.to_vec());
        assert_eq!(c.devices[0].poll_interval, Duration::from_secs(5));
        assert_eq!(c.devices[1].poll_interval, Duration::from_millis(1500));
    }

    #[test]
    fn unknown_keys_bad_values_duplicates_and_undefined_ports_name_their_line() {
        // unknown key
        let (line, msg) = err("[[port]]\nname = \"a\"\nserial = \"/dev/x\"\nbaudrate = 9600\n");
        assert_eq!(line, 4, "{msg}");
        assert!(msg.contains("baudrate"), "{msg}");
        // bad value type
        let (line, msg) = err(&format!(
            "{PORTS}\n[[device]]\nname = \"i\"\ndriver = \"pi30\"\nport = \"inv\"\npoll_interval = \"fast\"\n"
        ));
        assert_eq!(line, 16, "{msg}");
        // unknown driver
        let (line, msg) = err(&format!(
            "{PORTS}\n[[device]]\nname = \"i\"\ndriver = \"modbus\"\nport = \"inv\"\n"
        ));
        assert_eq!(line, 14, "{msg}");
        assert!(msg.contains("modbus") || msg.contains("variant"), "{msg}");
        // two ports on one path
        let (line, msg) = err(
            "[[port]]\nname = \"a\"\nserial = \"/dev/ttyUSB0\"\n[[port]]\nname = \"b\"\nserial = \"/dev/ttyUSB0\"\n[[device]]\nname = \"d\"\ndriver = \"pi30\"\nport = \"a\"\n",
        );
        assert_eq!(line, 6, "{msg}");
        assert!(msg.contains("both claim"), "{msg}");
        // device on an undefined port
        let (line, msg) = err(&format!(
            "{PORTS}\n[[device]]\nname = \"i\"\ndriver = \"pi30\"\nport = \"inverter\"\n"
        ));
        assert_eq!(line, 15, "{msg}");
        assert!(
            msg.contains("not defined") && msg.contains("inv, inv-usb"),
            "{msg}"
        );
        // unknown query
        let (_, msg) = err(&format!(
            "{PORTS}\n[[device]]\nname = \"i\"\ndriver = \"pi30\"\nport = \"inv\"\nqueries = [\"QPIGS\", \"QWHAT\"]\n"
        ));
        assert!(msg.contains("QWHAT"), "{msg}");
        // a port with two transports / none
        let (_, msg) = err("[[port]]\nname = \"a\"\nserial = \"/dev/x\"\ntcp = \"h:1\"\n");
        assert!(msg.contains("more than one"), "{msg}");
        let (_, msg) = err("[[port]]\nname = \"a\"\n");
        assert!(msg.contains("needs one of"), "{msg}");
        // a HID spec that cannot be a device
        let (line, msg) = err("[[port]]\nname = \"a\"\nhid = \"0665:zz\"\n");
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains("port \"a\""), "{msg}");
        // nothing to do
        let (_, msg) = err(PORTS);
        assert!(msg.contains("no [[device]]"), "{msg}");
    }

    #[test]
    fn hid_ports_by_path_or_by_id_and_serial() {
        let c = Config::parse(
            "[[port]]\nname = \"usb\"\nhid = \"0665:5161:92932309100452\"\nunit = \"axpert\"\n[[port]]\nname = \"usb2\"\nhid = \"/dev/hidraw1\"\n[[device]]\nname = \"i\"\ndriver = \"pi30\"\nport = \"usb\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            c.ports[0].transport,
            Transport::Hid {
                spec: "0665:5161:92932309100452".into()
            }
        );
        assert_eq!(
            c.ports[1].transport,
            Transport::Hid {
                spec: "/dev/hidraw1".into()
            }
        );
    }

    #[test]
    fn the_demo_config_is_valid() {
        let c = Config::parse(include_str!("../../config/demo.toml"), "config/demo.toml").unwrap();
        assert_eq!(c.devices.len(), 3);
    }
}

#[cfg(test)]
mod bridge_tests {
    use super::*;

    const DEVICES: &str = r#"
[[port]]
name = "bmv"
serial = "/dev/ttyUSB0"
[[port]]
name = "mppt"
serial = "/dev/ttyUSB1"
[[port]]
name = "inv"
serial = "/dev/ttyUSB2"
[[device]]
name = "bmv"
driver = "vedirect"
port = "bmv"
[[device]]
name = "mppt"
driver = "vedirect"
port = "mppt"
[[device]]
name = "inverter"
driver = "pi30"
port = "inv"
"#;

    #[test]
    fn bridge_defaults_and_refusals() {
        let c = Config::parse(
            &format!("{DEVICES}[[bridge]]\nsource = \"bmv\"\ntargets = [\"mppt\"]\n"),
            "t",
        )
        .unwrap();
        let b = &c.bridges[0];
        assert_eq!(b.name, "bridge-bmv");
        assert_eq!(b.refresh_interval, Duration::from_secs(15));
        assert_eq!(b.values, [BridgeValue::Temperature, BridgeValue::Voltage]);
        for (extra, needle) in [
            (
                "source = \"bmv\"\ntargets = [\"mppt\"]\nrefresh_interval = 60.0\n",
                "60 s after the last write",
            ),
            (
                "source = \"bmv\"\ntargets = [\"inverter\"]\n",
                "bridges connect VE.Direct devices",
            ),
            (
                "source = \"shunt\"\ntargets = [\"mppt\"]\n",
                "not a configured device",
            ),
            ("source = \"bmv\"\ntargets = []\n", "no targets"),
            ("source = \"bmv\"\ntargets = [\"bmv\"]\n", "also its source"),
            (
                "source = \"bmv\"\ntargets = [\"mppt\"]\nvalues = [\"current\"]\n",
                "current",
            ),
            (
                "source = \"bmv\"\ntargets = [\"mppt\"]\ntemperature_range = [50.0, 10.0]\n",
                "low < high",
            ),
        ] {
            let err = Config::parse(&format!("{DEVICES}[[bridge]]\n{extra}"), "t")
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{extra}: {err}");
            assert!(err.starts_with("t:"), "{err}");
        }
    }
}
