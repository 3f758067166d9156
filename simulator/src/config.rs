//! Simulator configuration (TOML). Without a file the default site is one inverter, one BMV and
//! one MPPT, each on a PTY named after the device.
//!
//! ```toml
//! seed = 42
//! speed = 10.0                # simulated seconds per real second
//!
//! [[device]]
//! name = "inverter"
//! kind = "inverter"           # inverter | bmv | mppt
//! [device.inverter]           # model settings (see the model's config); any subset
//! parallel_units = 2
//! [[device.interface]]
//! name = "serial"             # the "serial" interface appears as DIR/<device>
//! kind = "pty"
//! [[device.interface]]
//! name = "tcp"                # other interfaces appear as DIR/<device>-<interface> (PTYs)
//! kind = "tcp"                # or listen on a TCP port, like a ser2net / Elfin serial bridge
//! listen = "127.0.0.1:8899"
//! [device.faults]             # initial faults (see faults.rs)
//! slow_ms = 200
//!
//! [[device]]
//! name = "shunt"
//! kind = "bmv"
//! [device.bmv]                # BmvConfig (vedirect/bmv.rs); any subset
//! history_block = false       # main block only: no H1..H18, so no H17/H18 energy counters
//! [[device.interface]]
//! name = "serial"
//! kind = "pty"
//! ```
//!
//! The other model sections are `[device.inverter]` (inverter/config.rs, e.g. `protocol =
//! "pi30max"`, whose unit answers the QET/QLT energy counters) and `[device.mppt]`
//! (vedirect/mppt.rs).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;
use thiserror::Error;

use crate::faults::Faults;
use crate::inverter::InverterConfig;
use crate::vedirect::{BmvConfig, MpptConfig};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {cause}")]
    Read { path: String, cause: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Seed of every random stream (noise, faults); the command line's --seed overrides it.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Simulated seconds per real second; the command line's --speed overrides it.
    #[serde(default)]
    pub speed: Option<f64>,
    #[serde(default, rename = "device")]
    pub devices: Vec<DeviceConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Inverter,
    Bmv,
    Mppt,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    pub name: String,
    pub kind: DeviceKind,
    #[serde(default)]
    pub inverter: Option<InverterConfig>,
    #[serde(default)]
    pub bmv: Option<BmvConfig>,
    #[serde(default)]
    pub mppt: Option<MpptConfig>,
    #[serde(default, rename = "interface")]
    pub interfaces: Vec<InterfaceConfig>,
    #[serde(default)]
    pub faults: Faults,
    /// Real time an inverter takes before it answers, in milliseconds.
    #[serde(default = "default_reply_delay_ms")]
    pub reply_delay_ms: u64,
}

fn default_reply_delay_ms() -> u64 {
    20
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InterfaceKind {
    Pty,
    Tcp,
    /// The inverter's USB HID bridge (0665:5161) exported over USB/IP.
    Usbip,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceConfig {
    pub name: String,
    pub kind: InterfaceKind,
    /// TCP listen address (loopback only by default; a simulator has no business on a LAN).
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// USB/IP bus id the device is exported under (default "1-1").
    #[serde(default)]
    pub busid: Option<String>,
}

impl DeviceConfig {
    fn default_for(name: &str, kind: DeviceKind) -> Self {
        DeviceConfig {
            name: name.to_owned(),
            kind,
            inverter: None,
            bmv: None,
            mppt: None,
            interfaces: vec![InterfaceConfig {
                name: "serial".into(),
                kind: InterfaceKind::Pty,
                listen: None,
                busid: None,
            }],
            faults: Faults::default(),
            reply_delay_ms: default_reply_delay_ms(),
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: None,
            speed: None,
            devices: vec![
                DeviceConfig::default_for("inverter", DeviceKind::Inverter),
                DeviceConfig::default_for("bmv", DeviceKind::Bmv),
                DeviceConfig::default_for("mppt", DeviceKind::Mppt),
            ],
        }
    }
}

impl SimConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            cause: source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: SimConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.devices.is_empty() {
            return invalid("no [[device]] configured".into());
        }
        if let Some(speed) = self.speed {
            if !(speed > 0.0 && speed <= 10_000.0) {
                return invalid(format!("speed must be within (0, 10000], got {speed}"));
            }
        }
        let mut names = HashSet::new();
        for d in &self.devices {
            if d.name.is_empty()
                || !d
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return invalid(format!(
                    "device name '{}' must be non-empty letters, digits, '-' or '_'",
                    d.name
                ));
            }
            if !names.insert(d.name.as_str()) {
                return invalid(format!("two devices are named '{}'", d.name));
            }
            let settings_for_other_kind = match d.kind {
                DeviceKind::Inverter => d.bmv.is_some() || d.mppt.is_some(),
                DeviceKind::Bmv => d.inverter.is_some() || d.mppt.is_some(),
                DeviceKind::Mppt => d.inverter.is_some() || d.bmv.is_some(),
            };
            if settings_for_other_kind {
                return invalid(format!(
                    "device '{}' is a {:?} but has settings for another kind",
                    d.name, d.kind
                ));
            }
            if d.interfaces.is_empty() {
                return invalid(format!("device '{}' has no [[device.interface]]", d.name));
            }
            let mut ifaces = HashSet::new();
            for i in &d.interfaces {
                if !ifaces.insert(i.name.as_str()) {
                    return invalid(format!(
                        "device '{}' has two interfaces '{}'",
                        d.name, i.name
                    ));
                }
                if i.kind == InterfaceKind::Usbip && d.kind != DeviceKind::Inverter {
                    return invalid(format!(
                        "interface '{}' of '{}': usbip is the inverter's USB HID interface",
                        i.name, d.name
                    ));
                }
                if i.busid
                    .as_ref()
                    .is_some_and(|b| b.is_empty() || b.len() > 31)
                {
                    return invalid(format!(
                        "interface '{}' of '{}': busid must be 1-31 characters",
                        i.name, d.name
                    ));
                }
                match (i.kind, i.listen) {
                    (InterfaceKind::Tcp | InterfaceKind::Usbip, None) => {
                        return invalid(format!(
                            "interface '{}' of '{}' is {:?} but has no listen address",
                            i.name, d.name, i.kind
                        ));
                    }
                    (InterfaceKind::Pty, Some(_)) => {
                        return invalid(format!(
                            "interface '{}' of '{}' is a pty; listen is for tcp",
                            i.name, d.name
                        ));
                    }
                    _ => {}
                }
            }
            d.faults
                .validate()
                .map_err(|m| ConfigError::Invalid(format!("{}: {m}", d.name)))?;
        }
        Ok(())
    }
}

/// The file name of an interface's PTY symlink: the "serial" interface is named after the device,
/// others `<device>-<interface>`.
pub fn pty_link_name(device: &str, interface: &str) -> String {
    if interface == "serial" {
        device.to_owned()
    } else {
        format!("{device}-{interface}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_site_has_three_devices_on_ptys() {
        let c = SimConfig::default();
        assert!(c.validate().is_ok());
        let names: Vec<_> = c.devices.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["inverter", "bmv", "mppt"]);
        assert_eq!(pty_link_name("inverter", "serial"), "inverter");
        assert_eq!(pty_link_name("inverter", "usb"), "inverter-usb");
    }

    #[test]
    fn parses_a_full_config() {
        let c = SimConfig::parse(
            r#"
            seed = 3
            speed = 60.0
            [[device]]
            name = "inv"
            kind = "inverter"
            [[device.interface]]
            name = "serial"
            kind = "pty"
            [[device.interface]]
            name = "tcp"
            kind = "tcp"
            listen = "127.0.0.1:0"
            [device.faults]
            slow_ms = 100
            "#,
            "test.toml",
        )
        .unwrap();
        assert_eq!(c.seed, Some(3));
        assert_eq!(c.devices[0].interfaces.len(), 2);
        assert_eq!(c.devices[0].faults.slow_ms, 100);
    }

    #[test]
    fn a_bmv_without_the_history_block_is_configurable() {
        let c = SimConfig::parse(
            r#"
            [[device]]
            name = "shunt"
            kind = "bmv"
            [device.bmv]
            history_block = false
            [[device.interface]]
            name = "serial"
            kind = "pty"
            "#,
            "test.toml",
        )
        .unwrap();
        let bmv = c.devices[0].bmv.clone().unwrap();
        assert!(!bmv.history_block);
        assert_eq!(
            bmv.capacity_ah,
            crate::vedirect::BmvConfig::default().capacity_ah
        );
        assert!(crate::vedirect::BmvConfig::default().history_block);
    }

    #[test]
    fn refuses_bad_configs_with_a_reason() {
        for (text, needle) in [
            ("[[device]]\nname = \"a\"\nkind = \"toaster\"\n", "toaster"),
            (
                "[[device]]\nname = \"a\"\nkind = \"bmv\"\ncolour = 1\n",
                "colour",
            ),
            (
                "[[device]]\nname = \"a\"\nkind = \"bmv\"\n[[device.interface]]\nname = \"x\"\nkind = \"tcp\"\n",
                "listen",
            ),
            (
                "[[device]]\nname = \"a\"\nkind = \"bmv\"\n[[device.interface]]\nname = \"serial\"\nkind = \"pty\"\n[[device]]\nname = \"a\"\nkind = \"mppt\"\n[[device.interface]]\nname = \"serial\"\nkind = \"pty\"\n",
                "two devices",
            ),
            (
                "speed = -1.0\n[[device]]\nname = \"a\"\nkind = \"bmv\"\n",
                "speed",
            ),
        ] {
            let err = SimConfig::parse(text, "t.toml").unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}

#[cfg(test)]
mod example_config {
    use super::*;

    /// The example in config/ must stay valid.
    #[test]
    fn example_sim_config_parses() {
        let c = SimConfig::parse(include_str!("../../config/sim.toml"), "config/sim.toml").unwrap();
        assert_eq!(c.devices.len(), 3);
        assert_eq!(c.devices[0].interfaces.len(), 2);
    }
}
