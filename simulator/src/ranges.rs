//! Plausible ranges: for every numeric field a client decodes from a simulated device (named as
//! the decoders of `sungate-drivers` name them, i.e. as the gateway publishes them), the values
//! the device's model can produce. They are derived from the models' own limits (battery
//! open-circuit curves, charge set-points, PV peak, noise amplitudes, seeded history), so that a
//! client that mangles a value (a digit lost, a sign flipped, a field swapped) shows up as a
//! value outside its range, while everything the simulator really sends stays inside.
//!
//! The ranges hold for the device's configuration and environment at the time they are computed
//! (changing the environment through the control API, e.g. the load, changes them) and for any
//! time of day, state of charge, charge stage and power cycle the model goes through by itself.
//! Every value is widened by the resolution it is sent with. Slow random processes are bounded
//! at [`NOISE_SIGMAS`] standard deviations. Counters that only grow (history, yields) are allowed
//! [`HISTORY_ALLOWANCE_DAYS`] days of growth beyond their seeded values.
//!
//! `GET /devices/{name}/ranges` on the control API serves them (see [`crate::control`]).

use std::fmt;

use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::device::{Device, Model};

/// Slow noise processes are bounded at this many standard deviations (Gaussian-like sums of
/// uniform draws: beyond 6 sigma is about one in 10^9 per independent sample).
pub const NOISE_SIGMAS: f64 = 6.0;

/// Growth allowed to monotonic counters (BMV history, MPPT yields), in days of the device's
/// maximum activity: a soak runs for minutes, this leaves a wide margin without letting a value
/// with an extra digit through.
pub const HISTORY_ALLOWANCE_DAYS: f64 = 10.0;

/// The plausible values of one field: the union of closed intervals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldRange {
    /// The decoder's field name (`battery_voltage`, `ac_output_active_power` ...).
    pub field: String,
    /// Unit of the values ("" for counts).
    pub unit: String,
    /// Sorted, non-overlapping `[lo, hi]` intervals.
    pub allowed: Vec<[f64; 2]>,
}

impl FieldRange {
    /// `lo..=hi` (swapped if given the wrong way round).
    pub fn new(field: &str, unit: &str, lo: f64, hi: f64) -> FieldRange {
        FieldRange {
            field: field.to_owned(),
            unit: unit.to_owned(),
            allowed: vec![[lo.min(hi), lo.max(hi)]],
        }
    }

    /// Exactly `v`.
    pub fn exactly(field: &str, unit: &str, v: f64) -> FieldRange {
        FieldRange::new(field, unit, v, v)
    }

    /// Also allow `lo..=hi`.
    pub fn or(mut self, lo: f64, hi: f64) -> FieldRange {
        self.allowed.push([lo.min(hi), lo.max(hi)]);
        self.normalise();
        self
    }

    /// Also allow exactly 0 (the device's "off" reading).
    pub fn or_zero(self) -> FieldRange {
        self.or(0.0, 0.0)
    }

    /// Widen every interval by `by` on both sides (the resolution a value is sent with).
    pub fn widen(mut self, by: f64) -> FieldRange {
        for iv in &mut self.allowed {
            iv[0] -= by;
            iv[1] += by;
        }
        self.normalise();
        self
    }

    /// Clip every interval to `lo..=hi` (dropping the ones outside), e.g. to keep widened
    /// intervals of values that cannot be negative above zero.
    pub fn clip(mut self, lo: f64, hi: f64) -> FieldRange {
        self.allowed = self
            .allowed
            .iter()
            .filter(|iv| iv[1] >= lo && iv[0] <= hi)
            .map(|iv| [iv[0].max(lo), iv[1].min(hi)])
            .collect();
        self
    }

    fn normalise(&mut self) {
        self.allowed
            .sort_by(|a, b| a[0].partial_cmp(&b[0]).unwrap_or(std::cmp::Ordering::Equal));
        let mut merged: Vec<[f64; 2]> = Vec::with_capacity(self.allowed.len());
        for iv in self.allowed.drain(..) {
            match merged.last_mut() {
                Some(last) if iv[0] <= last[1] => last[1] = last[1].max(iv[1]),
                _ => merged.push(iv),
            }
        }
        self.allowed = merged;
    }

    /// Whether `v` is plausible (a small tolerance absorbs decimal rounding of the bounds).
    pub fn contains(&self, v: f64) -> bool {
        const EPS: f64 = 1e-9;
        v.is_finite()
            && self.allowed.iter().any(|[lo, hi]| {
                v >= lo - EPS * lo.abs().max(1.0) && v <= hi + EPS * hi.abs().max(1.0)
            })
    }
}

impl fmt::Display for FieldRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", self.unit)
        };
        let parts: Vec<String> = self
            .allowed
            .iter()
            .map(|[lo, hi]| {
                if lo == hi {
                    format!("{}", round6(*lo))
                } else {
                    format!("{}..={}", round6(*lo), round6(*hi))
                }
            })
            .collect();
        write!(f, "{}{unit}", parts.join(" or "))
    }
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// The ranges of one device, with the others of the same simulator as context (an MPPT may be
/// fed the temperature of any BMV by a remote-sense bridge).
pub fn for_device(device: &Device, site: &[Device]) -> Vec<FieldRange> {
    // The battery temperatures a bridge could forward to an MPPT: every BMV's sensor. Taken
    // before locking `device`, so that no two device locks are ever held at once.
    let temperatures: Vec<f64> = site
        .iter()
        .filter(|d| d.name != device.name)
        .filter_map(|d| match &d.lock().model {
            Model::Bmv(b) => b.battery_temperature_c(),
            _ => None,
        })
        .collect();
    let st = device.lock();
    match &st.model {
        Model::Inverter(m) => m.ranges(),
        Model::Bmv(m) => m.ranges(),
        Model::Mppt(m) => m.ranges(&temperatures),
    }
}

/// The ranges as JSON: `{"field": {"unit": "V", "allowed": [[lo, hi], ...]}, ...}`.
pub fn to_json(ranges: &[FieldRange]) -> Json {
    let map: serde_json::Map<String, Json> = ranges
        .iter()
        .map(|r| {
            (
                r.field.clone(),
                json!({ "unit": r.unit, "allowed": r.allowed }),
            )
        })
        .collect();
    Json::Object(map)
}

/// Parse what [`to_json`] produced (for clients of the control API).
pub fn from_json(json: &Json) -> Result<Vec<FieldRange>, String> {
    let map = json
        .as_object()
        .ok_or_else(|| format!("ranges: expected an object, got {json}"))?;
    map.iter()
        .map(|(field, spec)| {
            let allowed = spec
                .get("allowed")
                .and_then(Json::as_array)
                .ok_or_else(|| format!("ranges: {field}: no \"allowed\" list"))?
                .iter()
                .map(|iv| match iv.as_array().map(|a| a.as_slice()) {
                    Some([lo, hi]) => match (lo.as_f64(), hi.as_f64()) {
                        (Some(lo), Some(hi)) => Ok([lo, hi]),
                        _ => Err(format!("ranges: {field}: bad interval {iv}")),
                    },
                    _ => Err(format!("ranges: {field}: bad interval {iv}")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let unit = spec
                .get("unit")
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_owned();
            Ok(FieldRange {
                field: field.clone(),
                unit,
                allowed,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_merge_widen_and_print() {
        let r = FieldRange::new("v", "V", 226.4, 233.6).or_zero().widen(0.1);
        assert_eq!(r.allowed, vec![[-0.1, 0.1], [226.3, 233.7]]);
        let r = r.clip(0.0, f64::INFINITY);
        assert_eq!(r.allowed[0], [0.0, 0.1]);
        assert!(r.contains(0.0) && r.contains(230.0) && !r.contains(23.0) && !r.contains(-230.0));
        assert_eq!(r.to_string(), "0..=0.1 or 226.3..=233.7 V");
        let merged = FieldRange::new("x", "", 0.0, 2.0).or(1.0, 3.0);
        assert_eq!(merged.allowed, vec![[0.0, 3.0]]);
        let back = from_json(&to_json(std::slice::from_ref(&r))).unwrap();
        assert_eq!(back, vec![r]);
    }
}
