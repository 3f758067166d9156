//! `[[port]]`: one physical interface, reached by exactly one transport.
//!
//! ```toml
//! [[port]]
//! name = "inverter-serial"
//! serial = "/dev/ttyUSB0"        # or tcp = "192.168.1.50:8899" (a serial bridge),
//!                                # or hid = "/dev/hidraw0" / "0665:5161[:serial]"
//! baud = 2400                    # serial only; default: 2400 for pi30, 19200 for vedirect
//! unit = "axpert"                # interfaces of one physical unit share a lock
//! timeout = 1.5                  # seconds per reply
//! ```

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::source::{ConfigError, Source};
use crate::types::{TRANSPORT_KEYS, Transport};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPort {
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

#[derive(Debug, Clone, PartialEq)]
pub struct PortConfig {
    pub name: String,
    pub transport: Transport,
    /// Lock group: every port with the same unit is one physical device.
    pub unit: Option<String>,
    pub timeout: Duration,
}

pub(super) fn parse(raw: &[RawPort], src: &Source) -> Result<Vec<PortConfig>, ConfigError> {
    let mut ports: Vec<PortConfig> = Vec::with_capacity(raw.len());
    // "kind:address" -> port, so that one interface has one port only.
    let mut claimed: HashMap<String, String> = HashMap::new();
    for p in raw {
        let name = src.name(&p.name, "port")?;
        if ports.iter().any(|other| other.name == name) {
            return Err(src.at(p.name.span(), format!("two ports are named {name:?}")));
        }
        let given: Vec<(&str, &Spanned<String>)> = TRANSPORT_KEYS
            .into_iter()
            .zip([&p.serial, &p.tcp, &p.hid])
            .filter_map(|(key, value)| value.as_ref().map(|v| (key, v)))
            .collect();
        let (key, value) = match given.as_slice() {
            [one] => *one,
            [] => {
                return Err(src.at(
                    p.name.span(),
                    format!(
                        "port {name:?} needs one of serial = \"/dev/...\", tcp = \"host:port\" or hid = \"...\""
                    ),
                ));
            }
            [_, second, ..] => {
                return Err(src.at(
                    second.1.span(),
                    format!("port {name:?} has more than one of serial / tcp / hid"),
                ));
            }
        };
        let baud = match &p.baud {
            Some(b) if key != "serial" => {
                return Err(src.at(
                    b.span(),
                    format!("port {name:?}: baud is only for serial ports"),
                ));
            }
            Some(b) if !(300..=921_600).contains(b.get_ref()) => {
                return Err(src.at(
                    b.span(),
                    format!("port {name:?}: baud {} is not a serial speed", b.get_ref()),
                ));
            }
            Some(b) => *b.get_ref(),
            // Filled in with the driver's speed once the devices on the port are known.
            None => 0,
        };
        let transport = Transport::from_key(key, value.get_ref(), baud)
            .map_err(|e| src.at(value.span(), format!("port {name:?}: {e}")))?;
        if let Some(other) = claimed.insert(format!("{key}:{}", value.get_ref()), name.clone()) {
            return Err(src.at(
                value.span(),
                format!(
                    "ports {other:?} and {name:?} both claim {key} {:?}: one physical interface can have one port only",
                    value.get_ref()
                ),
            ));
        }
        let timeout = match &p.timeout {
            Some(t) if !(t.get_ref().is_finite() && *t.get_ref() > 0.0 && *t.get_ref() <= 30.0) => {
                return Err(src.at(
                    t.span(),
                    format!("port {name:?}: timeout must be within (0, 30] seconds"),
                ));
            }
            Some(t) => Duration::from_secs_f64(*t.get_ref()),
            None => Duration::from_millis(1500),
        };
        ports.push(PortConfig {
            name,
            transport,
            unit: p.unit.clone(),
            timeout,
        });
    }
    Ok(ports)
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::config::{Config, ConfigError};
    use crate::types::Transport;

    pub(crate) fn err(text: &str) -> (usize, String) {
        match Config::parse(text, "t.toml") {
            Err(ConfigError::At { line, message, .. }) => (line, message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn port_refusals_name_their_line() {
        // unknown key
        let (line, msg) = err("[[port]]\nname = \"a\"\nserial = \"/dev/x\"\nbaudrate = 9600\n");
        assert_eq!(line, 4, "{msg}");
        assert!(msg.contains("baudrate"), "{msg}");
        // two ports on one path
        let (line, msg) = err(
            "[[port]]\nname = \"a\"\nserial = \"/dev/ttyUSB0\"\n[[port]]\nname = \"b\"\nserial = \"/dev/ttyUSB0\"\n[[device]]\nname = \"d\"\ndriver = \"pi30\"\nport = \"a\"\n",
        );
        assert_eq!(line, 6, "{msg}");
        assert!(msg.contains("both claim"), "{msg}");
        // a port with two transports / none
        let (_, msg) = err("[[port]]\nname = \"a\"\nserial = \"/dev/x\"\ntcp = \"h:1\"\n");
        assert!(msg.contains("more than one"), "{msg}");
        let (_, msg) = err("[[port]]\nname = \"a\"\n");
        assert!(msg.contains("needs one of"), "{msg}");
        // a HID spec that cannot be a device, a TCP address without a port
        let (line, msg) = err("[[port]]\nname = \"a\"\nhid = \"0665:zz\"\n");
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains("port \"a\""), "{msg}");
        let (line, msg) = err("[[port]]\nname = \"a\"\ntcp = \"bridge.local\"\n");
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains("host:port"), "{msg}");
        let (_, msg) = err("[[port]]\nname = \"a\"\ntcp = \"h:1\"\nbaud = 2400\n");
        assert!(msg.contains("only for serial"), "{msg}");
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
}
