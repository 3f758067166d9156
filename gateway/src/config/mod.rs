//! Gateway configuration (TOML). Loading refuses anything doubtful with the file, the line and a
//! plain message: unknown keys, bad values, two ports on one device path, devices on ports that
//! do not exist, a port with no or several transports. One module per section, each with its
//! keys documented at its top:
//!
//! | section      | module          | what                                              |
//! |--------------|-----------------|---------------------------------------------------|
//! | `[gateway]`  | [`gateway`]     | site name, retry and offline timing               |
//! | `[[port]]`   | [`port`]        | a physical interface: serial, TCP bridge, USB HID |
//! | `[[device]]` | [`device`]      | a device on a port, its driver and poll interval  |
//! | `[[bridge]]` | [`bridge`]      | BMV -> MPPT remote sense                          |
//! | `[mqtt]`     | [`mqtt`]        | broker, topics, discovery, commands               |
//! | `[http]`     | [`http`]        | dashboard and HTTP API: address, writes, token    |
//! | `[history]`  | [`history`]     | SQLite history store: retention, batching         |
//! | `[log]`      | [`history`]     | daily CSV files per device                        |
//!
//! Parsing is pure: nothing here opens a file other than the config itself. Files a config
//! names (TLS certificates) are checked by [`crate::app::check_resources`], with the line of
//! their key.

pub mod bridge;
pub mod device;
pub mod gateway;
pub mod history;
pub mod http;
pub mod mqtt;
pub mod port;
mod source;

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

pub use source::{ConfigError, Secret};
use source::{Source, secret_key_at};

pub use bridge::{BridgeConfig, BridgeValue, MAX_BRIDGE_REFRESH};
pub use device::DeviceConfig;
pub use gateway::{GatewayConfig, PortTiming};
pub use history::{HistoryConfig, LogConfig};
pub use http::HttpConfig;
pub use mqtt::{MqttConfig, TlsFiles};
pub use port::PortConfig;

/// The whole file as serde reads it; each section is checked by its module.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    gateway: Option<Spanned<gateway::RawGateway>>,
    #[serde(default, rename = "port")]
    ports: Vec<port::RawPort>,
    #[serde(default, rename = "device")]
    devices: Vec<device::RawDevice>,
    #[serde(default)]
    mqtt: Option<Spanned<mqtt::RawMqtt>>,
    #[serde(default)]
    http: Option<Spanned<http::RawHttp>>,
    #[serde(default)]
    history: Option<Spanned<history::RawHistory>>,
    #[serde(default)]
    log: Option<history::RawLog>,
    #[serde(default, rename = "bridge")]
    bridges: Vec<bridge::RawBridge>,
}

/// A checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where it came from, for errors found later (files it names).
    pub file: String,
    pub gateway: GatewayConfig,
    pub ports: Vec<PortConfig>,
    pub devices: Vec<DeviceConfig>,
    pub bridges: Vec<BridgeConfig>,
    /// `[mqtt]`: publish to a broker (absent: no MQTT).
    pub mqtt: Option<MqttConfig>,
    /// `[http]`: the dashboard and API (absent: none).
    pub http: Option<HttpConfig>,
    /// `[history]`: the SQLite history store (absent: none).
    pub history: Option<HistoryConfig>,
    /// `[log]`: daily CSV files per device (absent: none).
    pub log: Option<LogConfig>,
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
        let src = Source { file, text };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = match secret_key_at(text, span.start) {
                // The parser's message quotes the value ("invalid type: integer `987654321`"):
                // a secret is never printed, so say what is wrong without it.
                Some(key) if e.span().is_some() => format!(
                    "{key}: invalid value (not shown: it is a secret); write it as a quoted \
                     string, e.g. {key} = \"...\""
                ),
                _ => e.message().trim().to_owned(),
            };
            src.at(span, message)
        })?;
        let gateway = gateway::parse(raw.gateway.as_ref(), &src)?;
        let mut ports = port::parse(&raw.ports, &src)?;
        let devices = device::parse(&raw.devices, &mut ports, &src)?;
        let bridges = bridge::parse(&raw.bridges, &devices, &src)?;
        let mqtt = match &raw.mqtt {
            Some(m) => Some(mqtt::parse(m, &gateway, &devices, &src)?),
            None => None,
        };
        let http = match &raw.http {
            Some(h) => Some(http::parse(h, &src)?),
            None => None,
        };
        let history = match &raw.history {
            Some(h) => Some(history::parse(h, &src)?),
            None => None,
        };
        let log = match &raw.log {
            Some(l) => Some(history::parse_log(l, &src)?),
            None => None,
        };
        Ok(Config {
            file: file.to_owned(),
            gateway,
            ports,
            devices,
            bridges,
            mqtt,
            http,
            history,
            log,
        })
    }

    pub fn port(&self, name: &str) -> Option<&PortConfig> {
        self.ports.iter().find(|p| p.name == name)
    }

    /// The devices configured on port `name`.
    pub fn devices_on<'a>(&'a self, port: &'a str) -> impl Iterator<Item = &'a DeviceConfig> {
        self.devices.iter().filter(move |d| d.port == port)
    }

    /// An error found after parsing, at `line` of this config's file.
    pub fn error_at(&self, line: usize, message: impl Into<String>) -> ConfigError {
        ConfigError::At {
            file: self.file.clone(),
            line,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: &str = "[[port]]\nname = \"p\"\nserial = \"/dev/x\"\n[[device]]\nname = \"inverter\"\ndriver = \"pi30\"\nport = \"p\"\n[gateway]\nname = \"cabin\"\n";

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

    #[test]
    fn the_demo_config_is_valid() {
        let c = Config::parse(
            include_str!("../../../config/demo.toml"),
            "config/demo.toml",
        )
        .unwrap();
        assert_eq!(c.devices.len(), 3);
        assert_eq!(c.bridges.len(), 1);
    }
}
