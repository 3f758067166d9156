//! Settings as users name them (CLI `sungate set`, MQTT `<prefix>/<device>/set/<name>`, the
//! MQTT allow-list): one check for all of them, run before anything is sent to a device.

use sungate_drivers::pi30::commands::{parse_setter, setter_names};
use sungate_drivers::vedirect::registers;

use crate::config::DriverKind;

/// Whether `name` is a setting of this kind of device (a PI30 setter, a VE.Direct register
/// name or id).
pub fn is_known(driver: DriverKind, name: &str) -> bool {
    match driver {
        DriverKind::Pi30 => setter_names().contains(&name),
        DriverKind::Vedirect => registers::find(name).is_some(),
    }
}

/// Validate `name = value` exactly as the driver will, without touching the device.
pub fn validate(driver: DriverKind, name: &str, value: &str) -> Result<(), String> {
    match driver {
        DriverKind::Pi30 => parse_setter(name, value)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        DriverKind::Vedirect => {
            let reg = registers::find(name).ok_or_else(|| {
                format!(
                    "unknown VE.Direct register {name:?} (a register name or an id like 0xEDEC)"
                )
            })?;
            let number: f64 = value
                .trim()
                .parse()
                .map_err(|_| format!("{value:?} is not a number"))?;
            reg.encode(number).map(|_| ()).map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_check_for_both_protocols() {
        assert!(validate(DriverKind::Pi30, "output_source_priority", "solar_first").is_ok());
        assert!(validate(DriverKind::Pi30, "output_source_priority", "moon_first").is_err());
        assert!(validate(DriverKind::Pi30, "battery_bulk_charge_voltage", "99.0").is_err());
        assert!(validate(DriverKind::Vedirect, "0xEDF0", "10.0").is_ok());
        assert!(validate(DriverKind::Vedirect, "battery_temperature", "warm").is_err());
        assert!(is_known(DriverKind::Vedirect, "0x2003"));
        assert!(!is_known(DriverKind::Pi30, "volume"));
    }
}
