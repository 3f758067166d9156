//! `[[device]]`: a device on a port, with its driver.
//!
//! ```toml
//! [[device]]
//! name = "inverter"
//! driver = "pi30"                # pi30 | pi18 | vedirect
//! port = "inverter-serial"
//! poll_interval = 5.0            # seconds (default 5 for pi30/pi18, 2 for vedirect)
//! queries = ["QPIGS", "QMOD", "QPIWS"]   # pi30 and pi18 (e.g. ["GS", "MOD", "FWS", "PIRI"])
//! ```
//!
//! What differs per driver (defaults, which queries exist) is asked of [`DriverKind`], the
//! driver registry.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::port::PortConfig;
use super::source::{ConfigError, Source};
use crate::types::{DriverKind, Transport};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDevice {
    name: Spanned<String>,
    driver: Spanned<DriverKind>,
    port: Spanned<String>,
    #[serde(default)]
    poll_interval: Option<Spanned<f64>>,
    #[serde(default)]
    queries: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceConfig {
    pub name: String,
    pub driver: DriverKind,
    pub port: String,
    pub poll_interval: Duration,
    /// Queries per poll by canonical name, as [`DriverKind::query_name`] gives them (empty for
    /// VE.Direct).
    pub queries: Vec<String>,
}

/// Check the devices; a serial port without a `baud` gets its device's protocol speed.
pub(super) fn parse(
    raw: &[RawDevice],
    ports: &mut [PortConfig],
    src: &Source,
) -> Result<Vec<DeviceConfig>, ConfigError> {
    let mut devices: Vec<DeviceConfig> = Vec::with_capacity(raw.len());
    for d in raw {
        let name = src.name(&d.name, "device")?;
        if devices.iter().any(|other| other.name == name) {
            return Err(src.at(d.name.span(), format!("two devices are named {name:?}")));
        }
        let port_name = d.port.get_ref();
        let known: Vec<String> = ports.iter().map(|p| p.name.clone()).collect();
        let Some(port) = ports.iter_mut().find(|p| &p.name == port_name) else {
            return Err(src.at(
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
                *baud = driver.default_baud();
            }
        }
        let default_interval = driver.default_poll_interval();
        let poll_interval = src.seconds(
            &d.poll_interval,
            default_interval,
            0.1..=86_400.0,
            &format!("device {name:?}: poll_interval"),
        )?;
        let queries = match &d.queries {
            None => driver.default_queries(),
            Some(q) if !driver.takes_queries() => {
                return Err(src.at(
                    q.span(),
                    format!(
                        "device {name:?}: queries are not for {} devices: they send their data by themselves",
                        driver.name()
                    ),
                ));
            }
            Some(q) => {
                let parsed = q
                    .get_ref()
                    .iter()
                    .map(|s| {
                        driver.query_name(s).ok_or_else(|| {
                            src.at(
                                q.span(),
                                format!("device {name:?}: unknown {} query {s:?}", driver.name()),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if parsed.is_empty() {
                    return Err(src.at(q.span(), format!("device {name:?}: queries is empty")));
                }
                parsed
            }
        };
        devices.push(DeviceConfig {
            name,
            driver,
            port: port_name.clone(),
            poll_interval,
            queries,
        });
    }
    if devices.is_empty() {
        return Err(src.top("no [[device]] configured: nothing to do"));
    }
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::config::port::tests::err;

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
        assert_eq!(c.devices[0].queries, ["QPIGS", "QMOD", "QPIWS"]);
        assert_eq!(c.devices[0].poll_interval, Duration::from_secs(5));
        assert_eq!(c.devices[1].poll_interval, Duration::from_millis(1500));
    }

    #[test]
    fn device_refusals_name_their_line() {
        // bad value type
        let (line, msg) = err(&format!(
            "{PORTS}\n[[device]]\nname = \"i\"\ndriver = \"pi30\"\nport = \"inv\"\npoll_interval = \"fast\"\n"
        ));
        assert_eq!(line, 16, "{msg}");
        let (line, msg) = err(&format!(
            "{PORTS}\n[[device]]\nname = \"i\"\ndriver = \"pi30\"\nport = \"inv\"\npoll_interval = 0.01\n"
        ));
        assert_eq!(line, 16, "{msg}");
        assert!(
            msg.contains("poll_interval must be within 0.1..=86400"),
            "{msg}"
        );
        // unknown driver
        let (line, msg) = err(&format!(
            "{PORTS}\n[[device]]\nname = \"i\"\ndriver = \"modbus\"\nport = \"inv\"\n"
        ));
        assert_eq!(line, 14, "{msg}");
        assert!(msg.contains("modbus") || msg.contains("variant"), "{msg}");
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
        // nothing to do
        let (_, msg) = err(PORTS);
        assert!(msg.contains("no [[device]]"), "{msg}");
    }

    #[test]
    fn a_pi18_device() {
        let c = Config::parse(
            &format!("{PORTS}\n[[device]]\nname = \"v\"\ndriver = \"pi18\"\nport = \"inv\"\n\n[[device]]\nname = \"w\"\ndriver = \"pi18\"\nport = \"inv-usb\"\nqueries = [\"gs\", \"PIRI\"]\n"),
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.devices[0].driver, DriverKind::Pi18);
        assert_eq!(c.devices[0].queries, ["GS", "MOD", "FWS"]);
        assert_eq!(c.devices[0].poll_interval, Duration::from_secs(5));
        assert_eq!(c.devices[1].queries, ["GS", "PIRI"]);
        assert_eq!(
            c.ports[0].transport,
            Transport::Serial {
                path: "/dev/ttyUSB0".into(),
                baud: 2400
            }
        );
        // A PI30 word is no PI18 query.
        let (line, msg) = err(&format!(
            "{PORTS}\n[[device]]\nname = \"v\"\ndriver = \"pi18\"\nport = \"inv\"\nqueries = [\"QPIGS\"]\n"
        ));
        assert_eq!(line, 16, "{msg}");
        assert!(msg.contains("unknown pi18 query \"QPIGS\""), "{msg}");
    }
}
