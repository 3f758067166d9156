//! Energy accounting: cumulative kWh counters per device (PV yield, load, battery charged and
//! discharged), added to every snapshot as its `energy` section, for the energy dashboard of
//! Home Assistant and our own energy per day.
//!
//! Each counter comes from the device where it has one (`source = device`: VE.Direct H19 yield
//! total, BMV H18/H17 charged/discharged energy, PI30 MAX QET/QLT) and is otherwise the
//! integral of a power the device reports (`source = integrated`: trapezoids between two
//! snapshots; a gap longer than [`EnergyMeter::max_gap`] is not bridged, since nobody knows what
//! happened in it). The rules that keep the counter trustworthy:
//!
//! - it never decreases: a device counter that goes down (reset by the user, a replaced unit) is
//!   followed from its new value on, without subtracting anything;
//! - a device counter step larger than [`MAX_SITE_POWER_W`] could produce in the time since the
//!   last value is not counted (a reading that passed its checksum by chance, another device on
//!   the port): the counter re-bases on the new value;
//! - when a device counter appears after the counter was integrated (a restored state, a query
//!   the unit answers again) the counter goes on from where it was and only the device's steps
//!   from then on are added, so nothing is counted twice;
//! - the state is nothing but the last snapshot (the counters, the device counters and the
//!   powers, and its time), so a restart restores it from the last stored snapshot
//!   ([`EnergyMeter::restore`]), and a restart quicker than the gap limit is bridged.

use std::time::Duration;

use sungate_drivers::driver::{FieldSpec, Snapshot};
use sungate_drivers::reading::{Field, Reading};

/// The section name of the counters in a snapshot.
pub const SECTION: &str = "energy";

/// A device counter step above what this power could produce in the elapsed time is not
/// counted (100 kW: far beyond any site a gateway on a Pi watches).
pub const MAX_SITE_POWER_W: f64 = 100_000.0;

/// Slack on that bound for the devices' own rounding (0.01 kWh for VE.Direct).
const STEP_SLACK_KWH: f64 = 0.05;

/// Where a counter's value came from in the last snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Device,
    Integrated,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Device => "device",
            Source::Integrated => "integrated",
        }
    }
}

/// The power a counter integrates, from the fields of a snapshot (W).
#[derive(Debug, Clone, Copy)]
enum Power {
    /// The first field (which must be there: it tells the family of fields) plus those of the
    /// others the snapshot has (more PV trackers).
    Sum(&'static [&'static str]),
    /// The positive part of a signed power (a BMV's `P` while charging).
    Positive(&'static str),
    /// The negative part, as a positive number (discharging).
    Negative(&'static str),
    /// Voltage times current (PI30's battery current in one direction).
    Product(&'static str, &'static str),
}

impl Power {
    fn of(self, value: &impl Fn(&str) -> Option<f64>) -> Option<f64> {
        match self {
            Power::Sum(names) => {
                let (first, more) = names.split_first()?;
                Some(value(first)? + more.iter().filter_map(|n| value(n)).sum::<f64>())
            }
            Power::Positive(name) => value(name).map(|p| p.max(0.0)),
            Power::Negative(name) => value(name).map(|p| (-p).max(0.0)),
            Power::Product(v, i) => Some(value(v)? * value(i)?),
        }
    }
}

/// One energy counter: its name, the device counters that are it (kWh), and the powers it
/// integrates otherwise (the first one a snapshot has).
#[derive(Debug)]
pub struct CounterSpec {
    pub name: &'static str,
    device: &'static [&'static str],
    powers: &'static [Power],
}

/// The counters, for every driver: a device gets those its snapshots have inputs for.
pub static COUNTERS: &[CounterSpec] = &[
    CounterSpec {
        name: "pv_energy",
        // PI30 MAX QET; VE.Direct MPPT H19.
        device: &["pv_energy_total", "yield_total"],
        // One family of PV fields per protocol, the first a snapshot has: the families overlap
        // (PI18's `pv_input_power` is already the sum of its strings, PI30's is PV1 only).
        powers: &[
            // PI18 GS: the strings.
            Power::Sum(&["pv1_input_power", "pv2_input_power"]),
            // PI30 MAX: QPIGS PV1 and QPIGS2 PV2.
            Power::Sum(&["pv1_charging_power", "pv2_charging_power"]),
            // PI30: QPIGS PV1, and PV2/PV3 from the 2015 QPIGS2.
            Power::Sum(&["pv_input_power", "pv2_charging_power", "pv3_charging_power"]),
            // VE.Direct MPPT (only without H19).
            Power::Sum(&["panel_power"]),
        ],
    },
    CounterSpec {
        name: "load_energy",
        // PI30 MAX QLT.
        device: &["load_energy_total"],
        powers: &[Power::Sum(&["ac_output_active_power"])],
    },
    CounterSpec {
        name: "battery_charged_energy",
        // BMV/SmartShunt H18.
        device: &["charged_energy"],
        powers: &[
            Power::Positive("battery_power"),
            Power::Product("battery_voltage", "battery_charging_current"),
        ],
    },
    CounterSpec {
        name: "battery_discharged_energy",
        // BMV/SmartShunt H17.
        device: &["discharged_energy"],
        powers: &[
            Power::Negative("battery_power"),
            Power::Product("battery_voltage", "battery_discharge_current"),
        ],
    },
];

/// The discovery and API metadata of the counters.
pub static COUNTER_FIELDS: [FieldSpec; 4] = [
    kwh_total("pv_energy"),
    kwh_total("load_energy"),
    kwh_total("battery_charged_energy"),
    kwh_total("battery_discharged_energy"),
];

const fn kwh_total(name: &'static str) -> FieldSpec {
    FieldSpec::total_increasing(name, Some("kWh"), Some("energy"))
}

/// The name of the text field that tells a counter's source (`pv_energy_source`).
pub fn source_field(counter: &str) -> String {
    format!("{counter}_source")
}

/// Whether `name` is one of the energy counters.
pub fn is_counter(name: &str) -> bool {
    COUNTERS.iter().any(|c| c.name == name)
}

/// The counter a `*_source` text field belongs to.
pub fn counter_of_source(name: &str) -> Option<&'static str> {
    let stem = name.strip_suffix("_source")?;
    COUNTERS.iter().map(|c| c.name).find(|c| *c == stem)
}

#[derive(Debug, Clone)]
struct Counter {
    spec: &'static CounterSpec,
    kwh: f64,
    source: Source,
    /// The device counter's last value, while the device keeps sending it.
    last_device: Option<f64>,
    /// The last power and its time (unix ms), for the next trapezoid.
    last_power: Option<(i64, f64)>,
}

/// The counters of one device.
#[derive(Debug, Clone)]
pub struct EnergyMeter {
    max_gap_ms: i64,
    counters: Vec<Counter>,
    /// Time of the last snapshot (unix ms), for the device counters' step bound.
    last_at_ms: Option<i64>,
}

/// Counter values are published to the milli-watt-hour.
fn round_kwh(kwh: f64) -> f64 {
    (kwh * 1e6).round() / 1e6
}

impl EnergyMeter {
    /// The counters of a device polled every `poll_interval`: a gap of more than three poll
    /// intervals (at least 5 s, for a quick restart) is not bridged.
    pub fn new(poll_interval: Duration) -> Self {
        EnergyMeter::with_max_gap(Self::max_gap(poll_interval))
    }

    /// The longest gap bridged by a trapezoid for a device polled every `poll_interval`.
    pub fn max_gap(poll_interval: Duration) -> Duration {
        (poll_interval * 3).max(Duration::from_secs(5))
    }

    pub fn with_max_gap(max_gap: Duration) -> Self {
        EnergyMeter {
            max_gap_ms: i64::try_from(max_gap.as_millis()).unwrap_or(i64::MAX),
            counters: Vec::new(),
            last_at_ms: None,
        }
    }

    /// Take up the counters where a stored snapshot (`stored`, flattened, taken at `at_ms`)
    /// left them: their values, the device counters and the powers of that moment.
    pub fn restore(&mut self, at_ms: i64, stored: &Reading) {
        let value = |name: &str| finite(stored.value(name).and_then(|v| v.as_f64()));
        self.counters.clear();
        for spec in COUNTERS {
            let Some(kwh) = value(spec.name).filter(|v| *v >= 0.0) else {
                continue;
            };
            let last_device = spec.device.iter().find_map(|n| value(n));
            self.counters.push(Counter {
                spec,
                kwh,
                source: if last_device.is_some() {
                    Source::Device
                } else {
                    Source::Integrated
                },
                last_device,
                last_power: spec
                    .powers
                    .iter()
                    .find_map(|p| p.of(&value))
                    .map(|p| (at_ms, p)),
            });
        }
        self.last_at_ms = Some(at_ms);
    }

    /// The counters after a snapshot taken at `at_ms`: the `energy` section to add to it
    /// (`<counter>` in kWh and `<counter>_source`), empty when the device has no counter.
    pub fn update(&mut self, at_ms: i64, snapshot: &Snapshot) -> Reading {
        // The first field of a name, as the flattened reading has it.
        let value = |name: &str| {
            finite(
                snapshot
                    .sections
                    .iter()
                    .find_map(|(_, r)| r.value(name))
                    .and_then(|v| v.as_f64()),
            )
        };
        let since_last_s = self
            .last_at_ms
            .map(|t| (at_ms - t) as f64 / 1000.0)
            .filter(|dt| *dt >= 0.0);
        for spec in COUNTERS {
            let device = spec
                .device
                .iter()
                .find_map(|n| value(n))
                .filter(|v| *v >= 0.0);
            let power = spec.powers.iter().find_map(|p| p.of(&value));
            let index = match self.counters.iter().position(|c| c.spec.name == spec.name) {
                Some(i) => i,
                None if device.is_some() || power.is_some() => {
                    // A new counter: a device counter is taken as it is (its lifetime total),
                    // an integral starts at zero.
                    self.counters.push(Counter {
                        spec,
                        kwh: device.unwrap_or(0.0),
                        source: Source::Integrated,
                        last_device: device,
                        last_power: None,
                    });
                    self.counters.len() - 1
                }
                None => continue,
            };
            let counter = &mut self.counters[index];
            if let Some(now) = device {
                if let Some(before) = counter.last_device {
                    let step = now - before;
                    let bound = since_last_s
                        .map_or(0.0, |dt| MAX_SITE_POWER_W * dt / 3.6e6 + STEP_SLACK_KWH);
                    if step > 0.0 && step <= bound {
                        counter.kwh += step;
                    } else if step != 0.0 {
                        tracing::warn!(
                            counter = spec.name,
                            before,
                            now,
                            "device energy counter went down or jumped: followed from its new value, nothing counted"
                        );
                    }
                }
                counter.last_device = Some(now);
                counter.source = Source::Device;
            } else {
                counter.last_device = None;
                if let (Some(p1), Some((t0, p0))) = (power, counter.last_power) {
                    let dt_ms = at_ms - t0;
                    if dt_ms > 0 && dt_ms <= self.max_gap_ms {
                        counter.kwh += (p0 + p1) / 2.0 * dt_ms as f64 / 3.6e9;
                    }
                }
                if power.is_some() {
                    counter.source = Source::Integrated;
                }
            }
            counter.last_power = power.map(|p| (at_ms, p));
        }
        self.last_at_ms = Some(at_ms);
        let mut out = Reading::new();
        for c in &self.counters {
            out.push(Field::new(c.spec.name, round_kwh(c.kwh)).with_unit("kWh"));
            out.push(Field::new(source_field(c.spec.name), c.source.as_str()));
        }
        out
    }

    /// Add the counters to a snapshot taken at `at_ms`, as its last section.
    pub fn account(&mut self, at_ms: i64, snapshot: &mut Snapshot) {
        let section = self.update(at_ms, snapshot);
        if !section.is_empty() {
            snapshot.sections.push((SECTION.to_owned(), section));
        }
    }
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::float_cmp)]
    use super::*;
    use sungate_drivers::Value;

    fn snapshot(fields: &[(&'static str, f64)]) -> Snapshot {
        let mut r = Reading::new();
        for (n, v) in fields {
            r.push(Field::new(*n, *v));
        }
        Snapshot {
            sections: vec![("QPIGS".into(), r)],
        }
    }

    fn kwh(r: &Reading, name: &str) -> f64 {
        r.value(name).and_then(Value::as_f64).unwrap()
    }

    fn source(r: &Reading, name: &str) -> String {
        r.value(&source_field(name))
            .and_then(|v| v.as_str())
            .unwrap()
            .to_owned()
    }

    #[test]
    fn powers_are_integrated_with_trapezoids_and_long_gaps_are_not_bridged() {
        let mut m = EnergyMeter::new(Duration::from_secs(1));
        let r = m.update(0, &snapshot(&[("pv_input_power", 1000.0)]));
        assert_eq!(kwh(&r, "pv_energy"), 0.0);
        assert_eq!(source(&r, "pv_energy"), "integrated");
        // 1 h from 1000 W to 2000 W in 3600 one-second steps: 1.5 kWh.
        let mut r = Reading::new();
        for s in 1..=3600i64 {
            let p = 1000.0 + 1000.0 * s as f64 / 3600.0;
            r = m.update(s * 1000, &snapshot(&[("pv_input_power", p)]));
        }
        assert!((kwh(&r, "pv_energy") - 1.5).abs() < 1e-6, "{r:?}");
        // A 6 s gap (more than 5 s) is not bridged; the next step is.
        let r = m.update(3_606_000, &snapshot(&[("pv_input_power", 2000.0)]));
        assert!((kwh(&r, "pv_energy") - 1.5).abs() < 1e-6);
        let r = m.update(3_607_800, &snapshot(&[("pv_input_power", 2000.0)]));
        assert!((kwh(&r, "pv_energy") - 1.501).abs() < 1e-6, "{r:?}");
        // A clock that went back: nothing.
        let r = m.update(3_000_000, &snapshot(&[("pv_input_power", 2000.0)]));
        assert!((kwh(&r, "pv_energy") - 1.501).abs() < 1e-6);
    }

    #[test]
    fn pv_strings_are_counted_once_per_protocol() {
        let mut m = EnergyMeter::new(Duration::from_secs(1));
        // PI18 GS: both strings and their sum, `pv_input_power`.
        let gs = snapshot(&[
            ("pv1_input_power", 1000.0),
            ("pv2_input_power", 800.0),
            ("pv_input_power", 1800.0),
        ]);
        m.update(0, &gs);
        let r = m.update(2000, &gs);
        assert!((kwh(&r, "pv_energy") - 0.001).abs() < 1e-9, "{r:?}");
        // PI30 MAX: QPIGS PV1 and QPIGS2 PV2.
        let mut m = EnergyMeter::new(Duration::from_secs(1));
        let max = snapshot(&[
            ("pv1_charging_power", 1000.0),
            ("pv2_charging_power", 800.0),
        ]);
        m.update(0, &max);
        let r = m.update(2000, &max);
        assert!((kwh(&r, "pv_energy") - 0.001).abs() < 1e-9, "{r:?}");
        // PI30 with a 2015 QPIGS2: PV1 from QPIGS, PV2 from QPIGS2.
        let mut m = EnergyMeter::new(Duration::from_secs(1));
        let pi30 = snapshot(&[("pv_input_power", 1000.0), ("pv2_charging_power", 800.0)]);
        m.update(0, &pi30);
        let r = m.update(2000, &pi30);
        assert!((kwh(&r, "pv_energy") - 0.001).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn battery_power_splits_into_charged_and_discharged() {
        let mut m = EnergyMeter::new(Duration::from_secs(10));
        m.update(0, &snapshot(&[("battery_power", 360.0)]));
        m.update(10_000, &snapshot(&[("battery_power", 360.0)]));
        m.update(20_000, &snapshot(&[("battery_power", -720.0)]));
        let r = m.update(30_000, &snapshot(&[("battery_power", -720.0)]));
        // 10 s at 360 W, then 10 s from 360 to -720 (5 s of each sign in the trapezoid rule
        // splits as (360 + 0)/2 * 10 s and (0 + 720)/2 * 10 s), then 10 s at -720 W.
        assert!(
            (kwh(&r, "battery_charged_energy") - (3600.0 + 1800.0) / 3.6e6).abs() < 1e-9,
            "{r:?}"
        );
        assert!((kwh(&r, "battery_discharged_energy") - (3600.0 + 7200.0) / 3.6e6).abs() < 1e-9);
        // PI30's currents times the battery voltage.
        let mut m = EnergyMeter::new(Duration::from_secs(5));
        let s = |i: f64| {
            snapshot(&[
                ("battery_voltage", 50.0),
                ("battery_charging_current", i),
                ("battery_discharge_current", 0.0),
            ])
        };
        m.update(0, &s(10.0));
        let r = m.update(3_600, &s(10.0));
        assert!(
            (kwh(&r, "battery_charged_energy") - 0.0005).abs() < 1e-9,
            "{r:?}"
        );
        assert_eq!(kwh(&r, "battery_discharged_energy"), 0.0);
        assert!(
            r.value("load_energy").is_none(),
            "no load power, no counter"
        );
    }

    #[test]
    fn device_counters_are_followed_never_backwards_and_implausible_steps_are_not_counted() {
        let mut m = EnergyMeter::new(Duration::from_secs(1));
        let r = m.update(
            0,
            &snapshot(&[("yield_total", 82.72), ("panel_power", 300.0)]),
        );
        assert_eq!(kwh(&r, "pv_energy"), 82.72);
        assert_eq!(source(&r, "pv_energy"), "device");
        let r = m.update(
            1000,
            &snapshot(&[("yield_total", 82.73), ("panel_power", 300.0)]),
        );
        assert!((kwh(&r, "pv_energy") - 82.73).abs() < 1e-9);
        // Reset on the device: followed from 0 on, the counter stays.
        let r = m.update(2000, &snapshot(&[("yield_total", 0.0)]));
        assert!((kwh(&r, "pv_energy") - 82.73).abs() < 1e-9);
        let r = m.update(3000, &snapshot(&[("yield_total", 0.01)]));
        assert!((kwh(&r, "pv_energy") - 82.74).abs() < 1e-9);
        // A glitch 50 kWh up within a second is not counted, nor the way back.
        let r = m.update(4000, &snapshot(&[("yield_total", 50.01)]));
        assert!((kwh(&r, "pv_energy") - 82.74).abs() < 1e-9);
        let r = m.update(5000, &snapshot(&[("yield_total", 0.02)]));
        assert!((kwh(&r, "pv_energy") - 82.74).abs() < 1e-9);
        // The device counter goes missing: the power is integrated meanwhile; when the device
        // counter comes back, only its steps from then on count.
        m.update(6000, &snapshot(&[("panel_power", 3600.0)]));
        let r = m.update(7000, &snapshot(&[("panel_power", 3600.0)]));
        assert!((kwh(&r, "pv_energy") - 82.741).abs() < 1e-9, "{r:?}");
        assert_eq!(source(&r, "pv_energy"), "integrated");
        let r = m.update(8000, &snapshot(&[("yield_total", 9.0)]));
        assert!((kwh(&r, "pv_energy") - 82.741).abs() < 1e-9, "{r:?}");
        let r = m.update(9000, &snapshot(&[("yield_total", 9.01)]));
        assert!((kwh(&r, "pv_energy") - 82.751).abs() < 1e-9, "{r:?}");
        assert_eq!(source(&r, "pv_energy"), "device");
    }

    #[test]
    fn a_restored_meter_goes_on_without_a_drop_or_a_double_count() {
        let mut before = snapshot(&[
            ("ac_output_active_power", 3600.0),
            ("yield_total", 10.5),
            ("pv_input_power", 1800.0),
        ]);
        let mut m = EnergyMeter::new(Duration::from_secs(1));
        m.account(0, &mut before);
        assert_eq!(before.sections.last().unwrap().0, SECTION);
        let mut stored = before.flatten();
        // What the history keeps: numbers only.
        stored.fields.retain(|f| f.value.as_f64().is_some());
        let mut restored = EnergyMeter::new(Duration::from_secs(1));
        restored.restore(0, &stored);
        // 2 s later (a quick restart): bridged; the device counter's step is added once.
        let r = restored.update(
            2000,
            &snapshot(&[("ac_output_active_power", 3600.0), ("yield_total", 10.6)]),
        );
        assert!((kwh(&r, "load_energy") - 0.002).abs() < 1e-9, "{r:?}");
        assert!((kwh(&r, "pv_energy") - 10.6).abs() < 1e-9, "{r:?}");
        assert_eq!(source(&r, "pv_energy"), "device");
        // A restart after a long gap: not bridged.
        let mut late = EnergyMeter::new(Duration::from_secs(1));
        late.restore(0, &stored);
        let r = late.update(600_000, &snapshot(&[("ac_output_active_power", 3600.0)]));
        assert_eq!(kwh(&r, "load_energy"), 0.0);
    }

    #[test]
    fn specs_cover_every_counter_and_source_names_round_trip() {
        for c in COUNTERS {
            assert!(COUNTER_FIELDS.iter().any(|f| f.name == c.name));
            assert_eq!(counter_of_source(&source_field(c.name)), Some(c.name));
            assert!(is_counter(c.name));
        }
        assert_eq!(counter_of_source("pv_energy"), None);
        assert_eq!(counter_of_source("x_source"), None);
        assert_eq!(
            EnergyMeter::max_gap(Duration::from_secs(5)),
            Duration::from_secs(15)
        );
    }
}
