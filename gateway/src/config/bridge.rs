//! `[[bridge]]`: forward a BMV's battery temperature and voltage to MPPTs (see the bridge module).
//!
//! ```toml
//! [[bridge]]
//! name = "battery-sense"                # default bridge-<source>
//! source = "bmv"
//! targets = ["mppt"]
//! values = ["temperature", "voltage"]   # default: both
//! refresh_interval = 15.0               # seconds, at most 45 (the MPPT forgets after 60)
//! max_source_age = 10.0                 # older source values are not forwarded
//! temperature_range = [-30.0, 60.0]     # plausible °C; outside: "not available" is sent
//! voltage_range = [5.0, 70.0]           # plausible V
//! ```

use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::device::DeviceConfig;
use super::source::{ConfigError, Source};
use crate::types::DriverKind;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBridge {
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

pub(super) fn parse(
    raw: &[RawBridge],
    devices: &[DeviceConfig],
    src: &Source,
) -> Result<Vec<BridgeConfig>, ConfigError> {
    let mut bridges: Vec<BridgeConfig> = Vec::with_capacity(raw.len());
    for b in raw {
        let vedirect = |name: &str, span: Range<usize>, role: &str| -> Result<(), ConfigError> {
            match devices.iter().find(|d| d.name == name) {
                None => Err(src.at(span, format!("bridge {role} {name:?} is not a configured device"))),
                Some(d) if d.driver != DriverKind::Vedirect => Err(src.at(
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
            return Err(src.at(b.targets.span(), "bridge has no targets"));
        }
        for t in b.targets.get_ref() {
            vedirect(t, b.targets.span(), "target")?;
            if t == b.source.get_ref() {
                return Err(src.at(
                    b.targets.span(),
                    format!("bridge target {t:?} is also its source"),
                ));
            }
        }
        let refresh_interval = match &b.refresh_interval {
            Some(r) if *r.get_ref() > MAX_BRIDGE_REFRESH => {
                return Err(src.at(
                    r.span(),
                    format!(
                        "refresh_interval {} s is too long: the MPPT drops remote values 60 s after the last write; use at most {MAX_BRIDGE_REFRESH} s (10-30 s is typical)",
                        r.get_ref()
                    ),
                ));
            }
            other => src.seconds(other, 15.0, 0.2..=MAX_BRIDGE_REFRESH, "refresh_interval")?,
        };
        let max_source_age = src.seconds(&b.max_source_age, 10.0, 0.5..=300.0, "max_source_age")?;
        let range = |r: &Option<Spanned<[f64; 2]>>, default: (f64, f64), what: &str| match r {
            None => Ok(default),
            Some(s) => {
                let [lo, hi] = *s.get_ref();
                if lo.is_finite() && hi.is_finite() && lo < hi {
                    Ok((lo, hi))
                } else {
                    Err(src.at(
                        s.span(),
                        format!("{what} must be [low, high] with low < high"),
                    ))
                }
            }
        };
        let values = match &b.values {
            None => vec![BridgeValue::Temperature, BridgeValue::Voltage],
            Some(v) if v.get_ref().is_empty() => {
                return Err(src.at(v.span(), "bridge values is empty"));
            }
            Some(v) => v.get_ref().clone(),
        };
        let name = match &b.name {
            Some(n) => src.name(n, "bridge")?,
            None => format!("bridge-{}", b.source.get_ref()),
        };
        if devices.iter().any(|d| d.name == name) || bridges.iter().any(|x| x.name == name) {
            return Err(src.at(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

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
            (
                "name = \"mppt\"\nsource = \"bmv\"\ntargets = [\"mppt\"]\n",
                "already used",
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
