//! Small types shared by the configuration, the core and the command line: which driver a
//! device uses, and how a port reaches its device. One parser for ports written as a spec
//! (`/dev/ttyUSB0`, `tcp://HOST:PORT`, `hid:...`) and as config keys (`serial = ...`,
//! `tcp = ...`, `hid = ...`), so the CLI, `sungate bridge` and config files agree.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use sungate_drivers::driver::Driver;
use sungate_drivers::pi18::driver::{Pi18Driver, Pi18Options};
use sungate_drivers::pi30::driver::{Pi30Driver, Pi30Options};
use sungate_drivers::pi30::setters::SetterSpec;
use sungate_drivers::vedirect::driver::{VeDirectDriver, VeDirectOptions};
use sungate_drivers::{Value, pi18, pi30};

/// The protocol driver of a device.
///
/// This is the driver registry: everything the gateway needs to know per driver (config name,
/// serial speed, poll interval, queries, settings, how to build it) is answered by the methods
/// below, and the rest of the gateway asks them instead of matching on the kind. Adding a driver
/// means a variant here and an arm in each method.
/// The command line's `--protocol` takes the same names (`clap::ValueEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DriverKind {
    Pi30,
    Pi18,
    Vedirect,
}

/// The settings of a driver whose setters are named (the Voltronic drivers): the names, the
/// driver's own parser, and what a form offers.
#[derive(Debug, Clone, Copy)]
pub struct NamedSetters {
    pub names: fn() -> &'static [&'static str],
    /// Parses and checks `name = value` exactly as the driver will.
    pub validate: fn(&str, &str) -> Result<(), String>,
    /// What a form offers, given the nominal battery voltage when the driver needs it.
    pub specs: fn(Option<f64>) -> Vec<SetterSpec>,
    /// A setting's current value as one of the form's choice words.
    pub current_choice: fn(&str, &Value) -> Option<&'static str>,
}

/// How a driver's settings are named.
#[derive(Debug, Clone, Copy)]
pub enum Settings {
    /// Named setters (`output_source_priority`).
    Named(&'static NamedSetters),
    /// VE.Direct registers, by name or id (see `crate::setting`).
    VeDirectRegisters,
}

static PI30_SETTERS: NamedSetters = NamedSetters {
    names: pi30::setters::setter_names,
    validate: |name, value| {
        pi30::parse_setter(name, value)
            .map(|_| ())
            .map_err(|e| e.to_string())
    },
    specs: pi30::setter_specs,
    current_choice: pi30::current_choice,
};

static PI18_SETTERS: NamedSetters = NamedSetters {
    names: pi18::setters::setter_names,
    validate: |name, value| {
        pi18::parse_setter(name, value)
            .map(|_| ())
            .map_err(|e| e.to_string())
    },
    specs: |_| pi18::setter_specs(),
    current_choice: pi18::current_choice,
};

impl DriverKind {
    /// Every driver, in the order docs list them.
    pub const ALL: [DriverKind; 3] = [DriverKind::Pi30, DriverKind::Pi18, DriverKind::Vedirect];

    /// The name a config gives it (`driver = "pi30"`).
    pub fn name(self) -> &'static str {
        match self {
            DriverKind::Pi30 => "pi30",
            DriverKind::Pi18 => "pi18",
            DriverKind::Vedirect => "vedirect",
        }
    }

    /// Serial speed of the protocol (PI30/PI18 RS232: 2400 8N1; VE.Direct: 19200 8N1).
    pub fn default_baud(self) -> u32 {
        match self {
            DriverKind::Pi30 | DriverKind::Pi18 => 2400,
            DriverKind::Vedirect => 19200,
        }
    }

    /// Seconds between polls unless configured.
    pub fn default_poll_interval(self) -> f64 {
        match self {
            DriverKind::Pi30 | DriverKind::Pi18 => 5.0,
            DriverKind::Vedirect => 2.0,
        }
    }

    /// Whether a config may list `queries` (VE.Direct devices send by themselves).
    pub fn takes_queries(self) -> bool {
        !matches!(self, DriverKind::Vedirect)
    }

    /// The queries polled unless configured, by name.
    pub fn default_queries(self) -> Vec<String> {
        match self {
            DriverKind::Pi30 => Pi30Options::default()
                .queries
                .iter()
                .map(pi30::Query::command)
                .collect(),
            DriverKind::Pi18 => Pi18Options::default()
                .queries
                .iter()
                .map(|q| q.command().to_owned())
                .collect(),
            DriverKind::Vedirect => Vec::new(),
        }
    }

    /// A configured query's canonical name (`qpigs` -> `QPIGS`), or `None` when the driver has
    /// no such query.
    pub fn query_name(self, query: &str) -> Option<String> {
        match self {
            DriverKind::Pi30 => query.parse::<pi30::Query>().ok().map(|q| q.command()),
            DriverKind::Pi18 => query
                .parse::<pi18::Query>()
                .ok()
                .map(|q| q.command().to_owned()),
            DriverKind::Vedirect => None,
        }
    }

    /// How this driver's settings are named and checked.
    pub fn settings(self) -> Settings {
        match self {
            DriverKind::Pi30 => Settings::Named(&PI30_SETTERS),
            DriverKind::Pi18 => Settings::Named(&PI18_SETTERS),
            DriverKind::Vedirect => Settings::VeDirectRegisters,
        }
    }

    /// The PV power field, for energy per day by default.
    pub fn pv_power_field(self) -> &'static str {
        match self {
            DriverKind::Pi30 | DriverKind::Pi18 => "pv_input_power",
            DriverKind::Vedirect => "panel_power",
        }
    }

    /// The driver, polling `queries` (names as [`DriverKind::query_name`] gives them; unknown
    /// ones are skipped, the config has refused them already).
    pub fn build(self, queries: &[String], reply_timeout: Duration) -> Box<dyn Driver> {
        match self {
            DriverKind::Pi30 => Box::new(Pi30Driver::new(Pi30Options {
                queries: queries.iter().filter_map(|q| q.parse().ok()).collect(),
                reply_timeout,
                ..Pi30Options::default()
            })),
            DriverKind::Pi18 => Box::new(Pi18Driver::new(Pi18Options {
                queries: queries.iter().filter_map(|q| q.parse().ok()).collect(),
                reply_timeout,
                ..Pi18Options::default()
            })),
            DriverKind::Vedirect => Box::new(VeDirectDriver::new(VeDirectOptions::default())),
        }
    }
}

/// How a port reaches its device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// `baud` 0: not set yet (the config fills in the driver's default).
    Serial {
        path: String,
        baud: u32,
    },
    Tcp {
        addr: String,
    },
    Hid {
        spec: String,
    },
}

/// The config keys of a transport, in the order a port lists them.
pub const TRANSPORT_KEYS: [&str; 3] = ["serial", "tcp", "hid"];

impl Transport {
    /// A transport from its config key (`serial`, `tcp`, `hid`) and value.
    pub fn from_key(key: &str, value: &str, baud: u32) -> Result<Transport, String> {
        if value.is_empty() {
            return Err(format!("empty {key} address"));
        }
        match key {
            "serial" => Ok(Transport::Serial {
                path: value.to_owned(),
                baud,
            }),
            "tcp" => {
                // host:port, with the port a number: "nohost" or "host:" would never connect.
                let port_ok = value
                    .rsplit_once(':')
                    .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
                if !port_ok {
                    return Err(format!("tcp address {value:?} needs host:port"));
                }
                Ok(Transport::Tcp {
                    addr: value.to_owned(),
                })
            }
            "hid" => {
                // Checked now so that a typo is an error where it was written, not a port that
                // never opens.
                value
                    .parse::<sungate_drivers::transport::hid::HidSpec>()
                    .map_err(|e| e.to_string())?;
                Ok(Transport::Hid {
                    spec: value.to_owned(),
                })
            }
            other => Err(format!("unknown transport {other:?}")),
        }
    }

    /// A port spec as the command line takes it: a serial device path, `tcp://HOST:PORT` or
    /// `hid:...`; `baud` applies to serial paths.
    pub fn from_spec(spec: &str, baud: u32) -> Result<Transport, String> {
        let (key, value) = if let Some(addr) = spec.strip_prefix("tcp://") {
            ("tcp", addr)
        } else if let Some(hid) = spec.strip_prefix("hid:") {
            ("hid", hid)
        } else {
            ("serial", spec)
        };
        Transport::from_key(key, value, baud).map_err(|e| format!("port {spec:?}: {e}"))
    }

    /// The config key and value of this transport (`serial`, `/dev/ttyUSB0`).
    pub fn key_value(&self) -> (&'static str, &str) {
        match self {
            Transport::Serial { path, .. } => ("serial", path),
            Transport::Tcp { addr } => ("tcp", addr),
            Transport::Hid { spec } => ("hid", spec),
        }
    }

    /// For logs: `/dev/ttyUSB0 @ 2400 baud`, `tcp://host:port`, `hid:0665:5161`.
    pub fn describe(&self) -> String {
        match self {
            Transport::Serial { path, baud } => format!("{path} @ {baud} baud"),
            Transport::Tcp { addr } => format!("tcp://{addr}"),
            Transport::Hid { spec } => format!("hid:{spec}"),
        }
    }
}

/// Milliseconds since the Unix epoch (negative before it).
pub fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_answers_for_every_driver() {
        for kind in DriverKind::ALL {
            // The config name is the serde name.
            let parsed: DriverKind =
                serde::Deserialize::deserialize(serde::de::value::StrDeserializer::<
                    serde::de::value::Error,
                >::new(kind.name()))
                .unwrap();
            assert_eq!(parsed, kind);
            let queries = kind.default_queries();
            assert_eq!(queries.is_empty(), !kind.takes_queries(), "{kind:?}");
            for q in &queries {
                assert_eq!(kind.query_name(&q.to_lowercase()).as_ref(), Some(q));
            }
            let driver = kind.build(&queries, Duration::from_secs(1));
            assert!(!driver.fields().is_empty(), "{kind:?}");
            if let Settings::Named(setters) = kind.settings() {
                // What a form offers is settable.
                for spec in (setters.specs)(Some(48.0)) {
                    assert!(
                        (setters.names)().contains(&spec.name),
                        "{kind:?}: {}",
                        spec.name
                    );
                }
            }
        }
        assert_eq!(DriverKind::Pi18.query_name("qpigs"), None);
        assert_eq!(DriverKind::Pi30.query_name("GS"), None);
    }

    #[test]
    fn specs_and_keys_are_one_parser() {
        assert_eq!(
            Transport::from_spec("/dev/ttyUSB0", 2400),
            Ok(Transport::Serial {
                path: "/dev/ttyUSB0".into(),
                baud: 2400
            })
        );
        assert_eq!(
            Transport::from_spec("tcp://10.0.0.5:8899", 2400),
            Ok(Transport::Tcp {
                addr: "10.0.0.5:8899".into()
            })
        );
        for bad in [
            "tcp://nohost",
            "tcp://host:",
            "tcp://:80",
            "",
            "hid:",
            "hid:0665",
        ] {
            assert!(Transport::from_spec(bad, 2400).is_err(), "{bad}");
        }
        assert_eq!(
            Transport::from_spec("hid:/dev/hidraw0", 2400),
            Ok(Transport::Hid {
                spec: "/dev/hidraw0".into()
            })
        );
        // The same rules under a config key.
        assert!(Transport::from_key("tcp", "nohost", 0).is_err());
        assert!(Transport::from_key("hid", "0665", 0).is_err());
        let t = Transport::from_key("hid", "0665:5161", 0).unwrap();
        assert_eq!(t.key_value(), ("hid", "0665:5161"));
    }
}
