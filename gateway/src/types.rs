//! Small types shared by the configuration, the core and the command line: which driver a
//! device uses, and how a port reaches its device. One parser for ports written as a spec
//! (`/dev/ttyUSB0`, `tcp://HOST:PORT`, `hid:...`) and as config keys (`serial = ...`,
//! `tcp = ...`, `hid = ...`), so the CLI, `sungate bridge` and config files agree.

use serde::Deserialize;

/// The protocol driver of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriverKind {
    Pi30,
    Vedirect,
}

impl DriverKind {
    /// The name a config gives it (`driver = "pi30"`).
    pub fn name(self) -> &'static str {
        match self {
            DriverKind::Pi30 => "pi30",
            DriverKind::Vedirect => "vedirect",
        }
    }

    /// Serial speed of the protocol (PI30 RS232: 2400 8N1; VE.Direct: 19200 8N1).
    pub fn default_baud(self) -> u32 {
        match self {
            DriverKind::Pi30 => 2400,
            DriverKind::Vedirect => 19200,
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

#[cfg(test)]
mod tests {
    use super::*;

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
