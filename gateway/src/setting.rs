//! Settings as users name them (CLI `sungate set`, MQTT `<prefix>/<device>/set/<name>`, the
//! MQTT allow-list): one check for all of them, run before anything is sent to a device.

use sungate_drivers::vedirect::registers::{self, Register};

use std::time::Duration;

use tokio::time::Instant;

use crate::types::{DriverKind, Settings};

/// The rate limit of user commands on one device (MQTT, HTTP): a token bucket, `burst`
/// commands at once, then one per `interval`.
#[derive(Debug, Clone)]
pub struct RateLimit {
    burst: u32,
    interval: Duration,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    /// A full bucket.
    pub fn new(burst: u32, interval: Duration, now: Instant) -> RateLimit {
        RateLimit {
            burst,
            interval,
            tokens: f64::from(burst),
            last: now,
        }
    }

    /// Take a token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let refill = now.duration_since(self.last).as_secs_f64()
            / self.interval.as_secs_f64().max(f64::MIN_POSITIVE);
        self.tokens = (self.tokens + refill).min(f64::from(self.burst));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// What a refusal says.
    pub fn describe(&self) -> String {
        format!(
            "rate limited: at most {} commands at once, then one every {:?}",
            self.burst, self.interval
        )
    }
}

/// Why a name cannot be set on a kind of device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotSettable {
    /// Not a setting of this kind of device at all.
    #[error("no setting {0:?}")]
    Unknown(String),
    /// Known, but never written: a read-only VE.Direct register, a write-only command, text.
    #[error("{0}")]
    Refused(String),
}

fn vedirect_register(name: &str) -> Result<&'static Register, NotSettable> {
    registers::find(name).ok_or_else(|| NotSettable::Unknown(name.to_owned()))
}

/// Whether `name` can be set on this kind of device: a PI30/PI18 setter, or a VE.Direct register
/// (name or id) that is a writable numeric setting ("panel_power (0xEDBC) is read-only" when
/// not). What `[mqtt.allow]` may list.
pub fn check_settable(driver: DriverKind, name: &str) -> Result<(), NotSettable> {
    match driver.settings() {
        Settings::Named(setters) if (setters.names)().contains(&name) => Ok(()),
        Settings::Named(_) => Err(NotSettable::Unknown(name.to_owned())),
        Settings::VeDirectRegisters => vedirect_register(name)?
            .check_settable()
            .map_err(|e| NotSettable::Refused(e.to_string())),
    }
}

/// Validate `name = value` exactly as the driver will, without touching the device.
pub fn validate(driver: DriverKind, name: &str, value: &str) -> Result<(), String> {
    match driver.settings() {
        Settings::Named(setters) => (setters.validate)(name, value),
        Settings::VeDirectRegisters => {
            let reg = vedirect_register(name).map_err(|_| {
                format!(
                    "unknown VE.Direct register {name:?} (a register name or an id like 0xEDEC)"
                )
            })?;
            // Read-only first: whatever the value, nothing may be written there.
            reg.check_settable().map_err(|e| e.to_string())?;
            let number: f64 = value
                .trim()
                .parse()
                .map_err(|_| format!("{value:?} is not a number"))?;
            reg.encode_setting(number)
                .map(|_| ())
                .map_err(|e| e.to_string())
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
        assert!(validate(DriverKind::Vedirect, "float_voltage", "warm").is_err());
        assert!(check_settable(DriverKind::Vedirect, "0x2003").is_ok());
        assert_eq!(
            check_settable(DriverKind::Pi30, "volume"),
            Err(NotSettable::Unknown("volume".into()))
        );
        assert!(check_settable(DriverKind::Pi30, "output_source_priority").is_ok());
        // PI18: the same names, its own codes (no utility-first output priority).
        assert!(check_settable(DriverKind::Pi18, "max_charging_current").is_ok());
        assert!(check_settable(DriverKind::Pi18, "battery_bulk_charge_voltage").is_err());
        assert!(validate(DriverKind::Pi18, "output_source_priority", "sbu_first").is_ok());
        assert!(validate(DriverKind::Pi18, "output_source_priority", "utility_first").is_err());
    }

    #[test]
    fn read_only_vedirect_registers_are_refused_by_name_and_by_id() {
        for name in ["panel_power", "0xEDBC", "0xedbc"] {
            assert_eq!(
                validate(DriverKind::Vedirect, name, "5"),
                Err("panel_power (0xEDBC) is read-only".into()),
                "{name}"
            );
            assert_eq!(
                check_settable(DriverKind::Vedirect, name),
                Err(NotSettable::Refused(
                    "panel_power (0xEDBC) is read-only".into()
                )),
                "{name}"
            );
        }
        // whatever the value
        let err = validate(DriverKind::Vedirect, "battery_temperature", "warm").unwrap_err();
        assert!(err.contains("read-only"), "{err}");
        let err = validate(DriverKind::Vedirect, "clear_history", "1").unwrap_err();
        assert!(err.contains("write-only command"), "{err}");
        assert!(matches!(
            check_settable(DriverKind::Vedirect, "model_name"),
            Err(NotSettable::Refused(_))
        ));
        assert_eq!(
            check_settable(DriverKind::Vedirect, "moonlight"),
            Err(NotSettable::Unknown("moonlight".into()))
        );
    }

    #[test]
    fn writable_vedirect_settings_are_range_checked() {
        assert_eq!(
            validate(DriverKind::Vedirect, "absorption_voltage", "14.4"),
            Ok(())
        );
        assert_eq!(validate(DriverKind::Vedirect, "0x1000", "9999"), Ok(()));
        assert_eq!(
            validate(DriverKind::Vedirect, "battery_voltage_sense", "13.18"),
            Ok(())
        );
        assert_eq!(
            validate(DriverKind::Vedirect, "absorption_voltage", "99"),
            Err("absorption_voltage: 99 V is outside 8..=69.6 V".into())
        );
        assert_eq!(
            validate(DriverKind::Vedirect, "battery_capacity", "10000"),
            Err("battery_capacity: 10000 Ah is outside 1..=9999 Ah".into())
        );
        assert_eq!(
            validate(DriverKind::Vedirect, "peukert_coefficient", "1.6"),
            Err("peukert_coefficient: 1.6 is outside 1..=1.5".into())
        );
    }

    #[test]
    fn the_rate_limit_allows_a_burst_then_one_per_interval() {
        let t0 = Instant::now();
        let interval = Duration::from_secs(2);
        let mut b = RateLimit::new(5, interval, t0);
        let taken = (0..20).filter(|_| b.take(t0)).count();
        assert_eq!(taken, 5);
        assert!(!b.take(t0 + interval / 2));
        assert!(b.take(t0 + interval * 3 / 2));
    }
}
