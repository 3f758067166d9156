//! What the simulated devices tell about energy, for tests of a gateway's cumulative counters.
//!
//! A gateway publishes an energy counter either from the device's own lifetime counter (PI30MAX
//! QET/QLT, MPPT H19, BMV H17/H18) or by integrating a power it reads from the device. It can
//! only integrate what the device reports: the power *after* the reply's rounding (integer
//! watts, a voltage in hundredths …). So each model keeps, from simulator start, the exact
//! integral of that reported power: after every model step the power the reply would carry at
//! that moment, times the step. `GET /devices/{name}/energy` serves them next to the device's
//! own (unrounded) counter, and `wall_integral_kwh` divides by the speed, because a gateway
//! integrates over wall-clock time and at speed 30 sees 1/30 of the simulated-time energy.
//!
//! The integrals are an outside observer's view: a device reset (a VE.Direct device goes back to
//! its seeded state) does not clear them, exactly as it would not clear the gateway's counter.

use serde_json::{Map, Value as Json, json};

/// Energy produced by PV (inverter: all PV inputs; MPPT: the charger output that H19 counts).
pub const PV_ENERGY: &str = "pv_energy";
/// Energy delivered to the inverter's AC output.
pub const LOAD_ENERGY: &str = "load_energy";
/// Energy into the battery.
pub const BATTERY_CHARGED_ENERGY: &str = "battery_charged_energy";
/// Energy out of the battery.
pub const BATTERY_DISCHARGED_ENERGY: &str = "battery_discharged_energy";
/// MPPT only: the panel power (text `PPV`), which is more than what H19 counts by the
/// charger's losses. For a gateway that integrates `panel_power`.
pub const PANEL_ENERGY: &str = "panel_energy";

const JOULES_PER_KWH: f64 = 3.6e6;

/// Running integrals of reported powers, in joules (W·s): a sum of `P × step` with integer
/// watts and whole-second steps stays an exact integer in an f64, so a test can compare it with
/// `P × t` to the last bit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Integrals {
    joules: Vec<(&'static str, f64)>,
}

impl Integrals {
    /// Add `watts` for `seconds` to the counter `name` (created at 0 on first use).
    pub fn add(&mut self, name: &'static str, watts: f64, seconds: f64) {
        let e = watts * seconds;
        match self.joules.iter_mut().find(|(n, _)| *n == name) {
            Some((_, j)) => *j += e,
            None => self.joules.push((name, e)),
        }
    }

    /// The counter in kWh (0 when it never ran).
    pub fn kwh(&self, name: &str) -> f64 {
        self.joules
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0.0, |(_, j)| j / JOULES_PER_KWH)
    }
}

/// One energy counter of a device as the control API shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counter {
    pub name: &'static str,
    /// The device's own counter (unrounded), `None` where the device keeps none.
    pub device_kwh: Option<f64>,
    /// Integral of the reported power since simulator start, simulated time.
    pub integral_kwh: f64,
}

impl Counter {
    pub fn new(name: &'static str, device_kwh: Option<f64>, integrals: &Integrals) -> Counter {
        Counter {
            name,
            device_kwh,
            integral_kwh: integrals.kwh(name),
        }
    }
}

/// `{"pv_energy": {"device_kwh": 1523.4, "integral_kwh": 0.81[, "wall_integral_kwh": 0.027]}}`;
/// the wall-clock value only with a `speed`.
pub fn to_json(counters: &[Counter], speed: Option<f64>) -> Json {
    let map: Map<String, Json> = counters
        .iter()
        .map(|c| {
            let mut v = json!({ "device_kwh": c.device_kwh, "integral_kwh": c.integral_kwh });
            if let (Some(speed), Some(obj)) = (speed, v.as_object_mut()) {
                obj.insert(
                    "wall_integral_kwh".to_owned(),
                    json!(c.integral_kwh / speed),
                );
            }
            (c.name.to_owned(), v)
        })
        .collect();
    Json::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_power_integrates_exactly() {
        let mut i = Integrals::default();
        for _ in 0..3600 {
            i.add(PV_ENERGY, 1234.0, 1.0);
        }
        assert_eq!(i.kwh(PV_ENERGY), 1.234);
        assert_eq!(i.kwh(LOAD_ENERGY), 0.0);
    }

    #[test]
    fn json_has_wall_values_only_with_a_speed() {
        let mut i = Integrals::default();
        i.add(LOAD_ENERGY, 3000.0, 3600.0);
        let counters = [
            Counter::new(LOAD_ENERGY, Some(412.5), &i),
            Counter::new(BATTERY_CHARGED_ENERGY, None, &i),
        ];
        assert_eq!(
            to_json(&counters, Some(30.0)),
            json!({
                "load_energy": {"device_kwh": 412.5, "integral_kwh": 3.0, "wall_integral_kwh": 0.1},
                "battery_charged_energy": {"device_kwh": null, "integral_kwh": 0.0, "wall_integral_kwh": 0.0},
            })
        );
        assert_eq!(
            to_json(&counters[..1], None),
            json!({"load_energy": {"device_kwh": 412.5, "integral_kwh": 3.0}})
        );
    }
}
