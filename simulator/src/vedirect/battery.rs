//! The battery behind the simulated BMV: state of charge, consumed Ah, terminal voltage from SOC
//! and current, time-to-go and the history counters H1..H18 ("VE.Direct Protocol" 3.33, field
//! table; BMV700 HEX protocol Rev 6, "Historic data registers" 0x0300..0x0311).

use serde::Serialize;

use crate::rng::SimRng;

/// The battery monitor settings the physics needs (BMV700 HEX, "Monitor settings registers").
#[derive(Debug, Clone, Copy)]
pub(crate) struct MonitorSettings {
    pub capacity_ah: f64,
    pub charge_efficiency: f64,
    pub current_threshold_a: f64,
    pub discharge_floor: f64,
    pub relay_low_soc_set: f64,
    pub relay_low_soc_clear: f64,
    pub alarm_low_v: Option<(f64, f64)>,
    pub alarm_high_v: Option<(f64, f64)>,
    pub alarm_low_soc: Option<(f64, f64)>,
}

/// History counters, kept in the units of the text fields.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct History {
    pub deepest_discharge_ah: f64,
    pub last_discharge_ah: f64,
    pub average_discharge_ah: f64,
    pub cycles: u32,
    pub full_discharges: u32,
    pub cumulative_ah: f64,
    pub min_voltage_v: f64,
    pub max_voltage_v: f64,
    pub seconds_since_full: u64,
    pub synchronisations: u32,
    pub low_voltage_alarms: u32,
    pub high_voltage_alarms: u32,
    pub min_aux_voltage_v: f64,
    pub max_aux_voltage_v: f64,
    pub discharged_kwh: f64,
    pub charged_kwh: f64,
    #[serde(skip)]
    discharges_recorded: u32,
    #[serde(skip)]
    below_cycle_mark: bool,
}

impl History {
    /// A plausible used battery (values in the range of vectors T4/T10), deterministic per seed.
    fn seeded(rng: &mut SimRng, capacity_ah: f64, n: f64) -> Self {
        let cycles = rng.range(5.0, 60.0).floor() as u32;
        let deepest = -capacity_ah * rng.range(0.35, 0.7);
        History {
            deepest_discharge_ah: deepest,
            last_discharge_ah: deepest * rng.range(0.3, 0.9),
            average_discharge_ah: deepest * rng.range(0.3, 0.6),
            cycles,
            full_discharges: 0,
            cumulative_ah: -capacity_ah * 0.5 * f64::from(cycles + 1) * rng.range(0.8, 1.2),
            min_voltage_v: n * rng.range(11.6, 12.1),
            max_voltage_v: n * rng.range(14.2, 14.6),
            seconds_since_full: rng.range(3600.0, 86400.0).floor() as u64,
            synchronisations: cycles + rng.range(0.0, 10.0).floor() as u32,
            low_voltage_alarms: 0,
            high_voltage_alarms: 0,
            min_aux_voltage_v: rng.range(0.01, 0.05),
            max_aux_voltage_v: rng.range(12.6, 14.4),
            discharged_kwh: 0.0,
            charged_kwh: 0.0,
            discharges_recorded: cycles,
            below_cycle_mark: false,
        }
        .with_energy(capacity_ah, n, cycles)
    }

    fn with_energy(mut self, capacity_ah: f64, n: f64, cycles: u32) -> Self {
        let e = f64::from(cycles) * capacity_ah * 0.5 * 12.2 * n / 1000.0;
        self.discharged_kwh = e;
        self.charged_kwh = e * 1.08;
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Battery {
    /// Nominal system voltage (12, 24, 48 V).
    pub nominal_v: f64,
    /// State of charge, 0..=1.
    pub soc: f64,
    /// Consumed Ah since the last full charge (<= 0).
    pub consumed_ah: f64,
    pub load_a: f64,
    pub charge_a: f64,
    pub temperature_c: Option<f64>,
    pub aux_voltage_v: f64,
    pub internal_resistance_ohm: f64,
    /// Measured values (with sensor noise), updated every second.
    pub voltage_v: f64,
    pub current_a: f64,
    pub midpoint_deviation: f64,
    pub synchronised: bool,
    pub alarm_reason: u32,
    pub relay_on: bool,
    pub history: History,
}

impl Battery {
    pub fn new(
        nominal_v: f64,
        soc: f64,
        capacity_ah: f64,
        internal_resistance_ohm: f64,
        rng: &mut SimRng,
    ) -> Self {
        let n = nominal_v / 12.0;
        let soc = soc.clamp(0.0, 1.0);
        let mut b = Battery {
            nominal_v,
            soc,
            consumed_ah: -(1.0 - soc) * capacity_ah,
            load_a: 0.0,
            charge_a: 0.0,
            temperature_c: None,
            aux_voltage_v: 12.7,
            internal_resistance_ohm,
            voltage_v: 0.0,
            current_a: 0.0,
            midpoint_deviation: 0.0,
            synchronised: true,
            alarm_reason: 0,
            relay_on: false,
            history: History::seeded(rng, capacity_ah, n),
        };
        b.measure(rng);
        b
    }

    fn n(&self) -> f64 {
        self.nominal_v / 12.0
    }

    /// Open-circuit voltage of a lead-acid style battery.
    pub fn emf(&self) -> f64 {
        self.n() * (11.9 + 0.9 * self.soc)
    }

    /// Net battery current, + = charging.
    pub fn net_current(&self) -> f64 {
        self.charge_a - self.load_a
    }

    /// Terminal voltage: open-circuit voltage plus the drop over the internal resistance, which
    /// rises towards full charge while charging.
    fn terminal_voltage(&self, current: f64) -> f64 {
        let r = if current > 0.0 {
            self.internal_resistance_ohm * (1.0 + 4.0 * self.soc.powi(8))
        } else {
            self.internal_resistance_ohm
        };
        (self.emf() + current * r).max(0.0)
    }

    fn measure(&mut self, rng: &mut SimRng) {
        let i = self.net_current();
        let noise_i = if i.abs() > 0.05 {
            rng.range(-0.004, 0.004)
        } else {
            0.0
        };
        self.current_a = i + noise_i;
        self.voltage_v = self.terminal_voltage(i) + rng.range(-0.002, 0.002);
        self.midpoint_deviation = rng.range(-0.3, 0.3);
    }

    /// One simulated second.
    pub fn step(&mut self, dt_s: f64, s: &MonitorSettings, rng: &mut SimRng) {
        let i = self.net_current();
        let dah = i * dt_s / 3600.0;
        let cap = s.capacity_ah.max(1.0);
        if i < 0.0 {
            self.soc = (self.soc + dah / cap).max(0.0);
            self.consumed_ah = (self.consumed_ah + dah).max(-cap);
            self.history.cumulative_ah += dah;
            self.history.discharged_kwh += -dah * self.voltage_v / 1000.0;
            self.history.last_discharge_ah = self.history.last_discharge_ah.min(self.consumed_ah);
            self.history.deepest_discharge_ah =
                self.history.deepest_discharge_ah.min(self.consumed_ah);
            if self.soc <= 0.0 && self.consumed_ah > -cap + 1e-9 {
                self.history.full_discharges += 1;
            }
        } else if i > 0.0 {
            self.soc = (self.soc + s.charge_efficiency * dah / cap).min(1.0);
            self.consumed_ah = (self.consumed_ah + dah).min(0.0);
            self.history.charged_kwh += dah * self.voltage_v / 1000.0;
            if self.soc >= 1.0 {
                self.synchronise();
            }
        }
        if self.soc < 0.65 {
            self.history.below_cycle_mark = true;
        } else if self.soc > 0.9 && self.history.below_cycle_mark {
            self.history.below_cycle_mark = false;
            self.history.cycles += 1;
        }
        self.history.seconds_since_full += dt_s as u64;
        self.measure(rng);
        self.update_extremes();
        self.update_alarms(s);
    }

    /// Full charge detected: SOC 100 %, consumed Ah 0, history updated.
    pub fn synchronise(&mut self) {
        if self.history.last_discharge_ah < 0.0 {
            let k = f64::from(self.history.discharges_recorded);
            self.history.average_discharge_ah = (self.history.average_discharge_ah * k
                + self.history.last_discharge_ah)
                / (k + 1.0);
            self.history.discharges_recorded += 1;
        }
        self.soc = 1.0;
        self.consumed_ah = 0.0;
        self.synchronised = true;
        self.history.seconds_since_full = 0;
        self.history.synchronisations += 1;
        self.history.last_discharge_ah = 0.0;
    }

    fn update_extremes(&mut self) {
        let h = &mut self.history;
        h.min_voltage_v = h.min_voltage_v.min(self.voltage_v);
        h.max_voltage_v = h.max_voltage_v.max(self.voltage_v);
        h.min_aux_voltage_v = h.min_aux_voltage_v.min(self.aux_voltage_v);
        h.max_aux_voltage_v = h.max_aux_voltage_v.max(self.aux_voltage_v);
    }

    /// Alarm reason bits (AR): 1 low voltage, 2 high voltage, 4 low SOC; relay in default mode
    /// follows the discharge floor (relay low SOC set/clear).
    fn update_alarms(&mut self, s: &MonitorSettings) {
        let before = self.alarm_reason;
        let mut ar = before;
        let v = self.voltage_v;
        let soc_pct = self.soc * 100.0;
        ar = hysteresis(ar, 1, s.alarm_low_v, |(set, clear)| (v < set, v > clear));
        ar = hysteresis(ar, 2, s.alarm_high_v, |(set, clear)| (v > set, v < clear));
        ar = hysteresis(ar, 4, s.alarm_low_soc, |(set, clear)| {
            (soc_pct < set, soc_pct > clear)
        });
        if ar & 1 != 0 && before & 1 == 0 {
            self.history.low_voltage_alarms += 1;
        }
        if ar & 2 != 0 && before & 2 == 0 {
            self.history.high_voltage_alarms += 1;
        }
        self.alarm_reason = ar;
        if soc_pct < s.relay_low_soc_set {
            self.relay_on = true;
        } else if soc_pct > s.relay_low_soc_clear {
            self.relay_on = false;
        }
    }

    /// Time to go in minutes until the discharge floor, `None` while not discharging.
    pub fn time_to_go_min(&self, s: &MonitorSettings) -> Option<f64> {
        let i = self.current_a;
        if i >= -s.current_threshold_a || i >= 0.0 {
            return None;
        }
        let remaining = ((self.soc - s.discharge_floor / 100.0) * s.capacity_ah).max(0.0);
        Some((remaining / -i * 60.0).min(f64::from(u16::MAX - 1)))
    }
}

/// Set or clear `bit` with a set/clear threshold pair; `None` = alarm disabled.
fn hysteresis(
    ar: u32,
    bit: u32,
    thresholds: Option<(f64, f64)>,
    test: impl Fn((f64, f64)) -> (bool, bool),
) -> u32 {
    match thresholds {
        None => ar & !bit,
        Some(t) => {
            let (set, clear) = test(t);
            if set {
                ar | bit
            } else if clear {
                ar & !bit
            } else {
                ar
            }
        }
    }
}
