//! `[mqtt]`: publish to a broker (see the mqtt module for topics and payloads).
//!
//! ```toml
//! [mqtt]
//! host = "192.168.1.2"
//! port = 1883                          # default 1883, or 8883 with TLS
//! client_id = "sungate-cabin"          # default sungate-<gateway name>
//! keep_alive = 30.0                    # seconds
//! reconnect_min = 0.5                  # seconds before reconnecting, doubling ...
//! reconnect_max = 10.0                 # ... up to this
//! username = "sungate"
//! password = "secret"
//! tls_ca_file = "/etc/sungate/ca.pem"  # TLS: the CA that signed the broker's certificate
//! client_cert = "/etc/sungate/client.pem"  # optional client certificate and key
//! client_key = "/etc/sungate/client.key"
//! prefix = "sungate"                   # state, availability, commands
//! discovery_prefix = "homeassistant"   # Home Assistant discovery
//! discovery = true
//! qos = 1                              # 0, 1 or 2
//! retain = false                       # retain state messages
//! compat_axpert = "inverter"           # also publish power/axpert and power/axpert<serial>
//! writes = false                       # accept <prefix>/<device>/set/<setting>
//! command_burst = 5                    # commands per device at once ...
//! command_interval = 2.0               # ... then one per this many seconds
//! [mqtt.allow]                         # settings each device accepts over MQTT
//! inverter = ["output_source_priority", "charger_source_priority"]
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sungate_drivers::pi30::queries::Query;
use toml::Spanned;

use super::device::DeviceConfig;
use super::gateway::GatewayConfig;
use super::source::{ConfigError, Secret, Source};
use crate::setting::NotSettable;
use crate::types::DriverKind;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMqtt {
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
    reconnect_min: Option<Spanned<f64>>,
    #[serde(default)]
    reconnect_max: Option<Spanned<f64>>,
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

/// The PEM files of `[mqtt]`, with the config line of each key (the files are read later, by
/// the TLS setup, and its errors point back here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca_file: PathBuf,
    /// (certificate chain, private key)
    pub client: Option<(PathBuf, PathBuf)>,
    /// Config lines of `tls_ca_file`, and of `client_cert` and `client_key` (0: unknown).
    pub lines: (usize, Option<(usize, usize)>),
}

impl TlsFiles {
    /// Just a CA file (the key's line unknown).
    pub fn ca(ca_file: impl Into<PathBuf>) -> Self {
        TlsFiles {
            ca_file: ca_file.into(),
            client: None,
            lines: (0, None),
        }
    }

    /// The config line that names `path` (1 when unknown).
    pub fn line_of(&self, path: &str) -> usize {
        let (ca_line, client_lines) = self.lines;
        let mut files = vec![(&self.ca_file, ca_line)];
        if let (Some((cert, key)), Some((cert_line, key_line))) = (&self.client, client_lines) {
            files.extend([(cert, cert_line), (key, key_line)]);
        }
        files
            .into_iter()
            .find(|(p, _)| p.as_os_str() == path)
            .map_or(1, |(_, line)| line.max(1))
    }
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
    /// Reconnect backoff: from the first to the second, doubling.
    pub reconnect: (Duration, Duration),
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// TLS to the broker (absent: plain TCP).
    pub tls: Option<TlsFiles>,
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

pub(super) fn parse(
    raw: &Spanned<RawMqtt>,
    gateway: &GatewayConfig,
    devices: &[DeviceConfig],
    src: &Source,
) -> Result<MqttConfig, ConfigError> {
    let m = raw.get_ref();
    let host = m.host.get_ref().trim().to_owned();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(src.at(
            m.host.span(),
            format!("mqtt host {host:?} is not a host name"),
        ));
    }
    let gateway_name = gateway.name.clone().unwrap_or_else(|| "gateway".to_owned());
    let client_id = match &m.client_id {
        Some(c) if c.get_ref().is_empty() || c.get_ref().len() > 64 => {
            return Err(src.at(c.span(), "mqtt client_id must be 1-64 characters"));
        }
        Some(c) => c.get_ref().clone(),
        None => format!("sungate-{gateway_name}"),
    };
    let (username, password) = credentials(m, src)?;
    let tls = tls_files(m, src)?;
    let port = match &m.port {
        Some(p) if *p.get_ref() == 0 => return Err(src.at(p.span(), "mqtt port 0 is not a port")),
        Some(p) => *p.get_ref(),
        // 8883 is the registered port of MQTT over TLS.
        None if tls.is_some() => 8883,
        None => 1883,
    };
    let reconnect_min = src.seconds(&m.reconnect_min, 0.5, 0.1..=60.0, "mqtt reconnect_min")?;
    let reconnect_max = src.seconds(&m.reconnect_max, 10.0, 0.5..=3600.0, "mqtt reconnect_max")?;
    if reconnect_max < reconnect_min {
        return Err(src.at(raw.span(), "mqtt reconnect_max is below reconnect_min"));
    }
    let topic = |v: &Option<Spanned<String>>, default: &str, what: &str| {
        match v {
        None => Ok(default.to_owned()),
        Some(t) if valid_topic_part(t.get_ref()) => Ok(t.get_ref().clone()),
        Some(t) => Err(src.at(
            t.span(),
            format!(
                "mqtt {what} {:?} must be a topic without wildcards, spaces or leading/trailing '/'",
                t.get_ref()
            ),
        )),
    }
    };
    Ok(MqttConfig {
        host,
        port,
        client_id,
        gateway_name,
        prefix: topic(&m.prefix, "sungate", "prefix")?,
        discovery_prefix: topic(&m.discovery_prefix, "homeassistant", "discovery_prefix")?,
        discovery: m.discovery.unwrap_or(true),
        qos: src.within(&m.qos, 1, 0..=2, "mqtt qos")?,
        retain: m.retain.unwrap_or(false),
        keep_alive: src.seconds(&m.keep_alive, 30.0, 5.0..=3600.0, "mqtt keep_alive")?,
        reconnect: (reconnect_min, reconnect_max),
        username,
        password,
        tls,
        compat_axpert: compat_axpert(m, devices, src)?,
        writes: m.writes.unwrap_or(false),
        allow: allow_list(m, devices, src)?,
        command_burst: src.within(&m.command_burst, 5, 1..=100, "mqtt command_burst")?,
        command_interval: src.seconds(
            &m.command_interval,
            2.0,
            0.1..=3600.0,
            "mqtt command_interval",
        )?,
    })
}

fn credentials(m: &RawMqtt, src: &Source) -> Result<(Option<String>, Option<Secret>), ConfigError> {
    match (&m.username, &m.password) {
        (None, Some(p)) => Err(src.at(p.span(), "mqtt password without a username")),
        (Some(u), _) if u.get_ref().is_empty() => Err(src.at(u.span(), "mqtt username is empty")),
        (u, p) => Ok((
            u.as_ref().map(|u| u.get_ref().clone()),
            p.as_ref().map(|p| Secret::new(p.get_ref().as_str())),
        )),
    }
}

/// Which TLS files go together. Reading them is left to the TLS setup (see `TlsFiles`).
fn tls_files(m: &RawMqtt, src: &Source) -> Result<Option<TlsFiles>, ConfigError> {
    let line = |f: &Spanned<String>| src.line(f.span());
    match (&m.tls_ca_file, &m.client_cert, &m.client_key) {
        (None, None, None) => Ok(None),
        (None, Some(c), _) | (None, None, Some(c)) => {
            Err(src.at(c.span(), "mqtt client_cert/client_key need tls_ca_file"))
        }
        (Some(_), Some(one), None) | (Some(_), None, Some(one)) => {
            Err(src.at(one.span(), "mqtt client_cert and client_key go together"))
        }
        (Some(ca), cert, key) => {
            let (client, client_lines) = match (cert, key) {
                (Some(c), Some(k)) => (
                    Some((PathBuf::from(c.get_ref()), PathBuf::from(k.get_ref()))),
                    Some((line(c), line(k))),
                ),
                _ => (None, None),
            };
            Ok(Some(TlsFiles {
                ca_file: PathBuf::from(ca.get_ref()),
                client,
                lines: (line(ca), client_lines),
            }))
        }
    }
}

/// `compat_axpert`: a pi30 device that answers what the seeds' topics are made of.
fn compat_axpert(
    m: &RawMqtt,
    devices: &[DeviceConfig],
    src: &Source,
) -> Result<Option<String>, ConfigError> {
    let Some(c) = &m.compat_axpert else {
        return Ok(None);
    };
    let name = c.get_ref();
    let d = match devices.iter().find(|d| &d.name == name) {
        None => {
            return Err(src.at(
                c.span(),
                format!("mqtt compat_axpert: {name:?} is not a configured device"),
            ));
        }
        Some(d) if d.driver != DriverKind::Pi30 => {
            return Err(src.at(
                c.span(),
                format!("mqtt compat_axpert: {name:?} is not a pi30 inverter"),
            ));
        }
        Some(d) => d,
    };
    // power/axpert is QPGS0's parallel data, power/axpert<serial> QPIGS.
    for (q, why) in [
        (Query::Qpgs(0), "power/axpert"),
        (Query::Qpigs, "power/axpert<serial>"),
    ] {
        if !d.queries.contains(&q.command()) {
            return Err(src.at(
                c.span(),
                format!(
                    "mqtt compat_axpert: {why} needs \"{}\" in the queries of {:?}",
                    q.command(),
                    d.name
                ),
            ));
        }
    }
    Ok(Some(d.name.clone()))
}

/// `[mqtt.allow]`: per device, the settings MQTT may change. A setting that cannot be set (a
/// read-only register) is a mistake in the config, refused here rather than on every command.
fn allow_list(
    m: &RawMqtt,
    devices: &[DeviceConfig],
    src: &Source,
) -> Result<HashMap<String, Vec<String>>, ConfigError> {
    let mut allow = HashMap::new();
    let Some(a) = &m.allow else {
        return Ok(allow);
    };
    for (device, settings) in a.get_ref() {
        let Some(d) = devices.iter().find(|d| &d.name == device) else {
            return Err(src.at(
                a.span(),
                format!("mqtt allow: {device:?} is not a configured device"),
            ));
        };
        for s in settings {
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
            return Err(src.at(s.span(), message));
        }
        allow.insert(
            device.clone(),
            settings.iter().map(|s| s.get_ref().clone()).collect(),
        );
    }
    Ok(allow)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

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
        assert_eq!(
            m.reconnect,
            (
                std::time::Duration::from_millis(500),
                std::time::Duration::from_secs(10)
            )
        );
    }

    #[test]
    fn mqtt_refusals_name_their_line() {
        for (extra, line, needle) in [
            ("qos = 3\n", 12, "qos"),
            ("prefix = \"a/+\"\n", 12, "wildcards"),
            ("password = \"x\"\n", 12, "without a username"),
            ("client_cert = \"/etc/hostname\"\n", 12, "need tls_ca_file"),
            (
                "tls_ca_file = \"/ca.pem\"\nclient_key = \"/k.pem\"\n",
                13,
                "go together",
            ),
            ("compat_axpert = \"nope\"\n", 12, "not a configured device"),
            (
                "compat_axpert = \"inverter\"\n",
                12,
                "needs \"QPGS0\" in the queries",
            ),
            ("hots = \"x\"\n", 12, "hots"),
            ("reconnect_min = 0.0\n", 12, "reconnect_min"),
            ("keep_alive = 1.0\n", 12, "keep_alive"),
            ("command_burst = 0\n", 12, "command_burst"),
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

    #[test]
    fn tls_files_keep_the_lines_of_their_keys() {
        let c = Config::parse(
            &format!(
                "{DEV}[mqtt]\nhost = \"broker\"\ntls_ca_file = \"/ca.pem\"\nclient_cert = \"/c.pem\"\nclient_key = \"/k.pem\"\n"
            ),
            "t",
        )
        .unwrap();
        let m = c.mqtt.unwrap();
        assert_eq!(m.port, 8883);
        let tls = m.tls.unwrap();
        assert_eq!(tls.line_of("/ca.pem"), 12);
        assert_eq!(tls.line_of("/k.pem"), 14);
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
}
