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

/// The seeded history of a used battery: each value is drawn from its range (per 12 V block for
/// voltages, per capacity for Ah). Public to the crate so the plausible ranges follow them.
pub(crate) const SEED_CYCLES: (f64, f64) = (5.0, 60.0);
pub(crate) const SEED_DEEPEST_OF_CAPACITY: (f64, f64) = (0.35, 0.7);
pub(crate) const SEED_CUMULATIVE_FACTOR: (f64, f64) = (0.8, 1.2);
pub(crate) const SEED_MIN_V_PER_BLOCK: (f64, f64) = (11.6, 12.1);
pub(crate) const SEED_MAX_V_PER_BLOCK: (f64, f64) = (14.2, 14.6);
pub(crate) const SEED_SECONDS_SINCE_FULL: (f64, f64) = (3600.0, 86400.0);
pub(crate) const SEED_EXTRA_SYNCS: (f64, f64) = (0.0, 10.0);
pub(crate) const SEED_MIN_AUX_V: (f64, f64) = (0.01, 0.05);
pub(crate) const SEED_MAX_AUX_V: (f64, f64) = (12.6, 14.4);
/// Energy of one seeded cycle: half the capacity at this voltage per 12 V block; charged energy
/// is this factor more than discharged.
pub(crate) const SEED_CYCLE_V_PER_BLOCK: f64 = 12.2;
pub(crate) const SEED_CHARGED_FACTOR: f64 = 1.08;
/// Sensor noise (uniform, +-): current above 50 mA, voltage, mid-point deviation (%).
pub(crate) const CURRENT_NOISE_A: f64 = 0.004;
pub(crate) const VOLTAGE_NOISE_V: f64 = 0.002;
pub(crate) const MIDPOINT_DEVIATION_PCT: f64 = 0.3;
/// Open-circuit voltage per 12 V block: `EMF_EMPTY + EMF_SPAN * soc`.
pub(crate) const EMF_EMPTY: f64 = 11.9;
pub(crate) const EMF_SPAN: f64 = 0.9;
/// While charging the internal resistance rises up to this factor near full.
pub(crate) const CHARGE_RESISTANCE_MAX_FACTOR: f64 = 5.0;

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
        let r = |rng: &mut SimRng, (lo, hi): (f64, f64)| rng.range(lo, hi);
        let cycles = r(rng, SEED_CYCLES).floor() as u32;
        let deepest = -capacity_ah * r(rng, SEED_DEEPEST_OF_CAPACITY);
        History {
            deepest_discharge_ah: deepest,
            last_discharge_ah: deepest * rng.range(0.3, 0.9),
            average_discharge_ah: deepest * rng.range(0.3, 0.6),
            cycles,
            full_discharges: 0,
            cumulative_ah: -capacity_ah
                * 0.5
                * f64::from(cycles + 1)
                * r(rng, SEED_CUMULATIVE_FACTOR),
            min_voltage_v: n * r(rng, SEED_MIN_V_PER_BLOCK),
            max_voltage_v: n * r(rng, SEED_MAX_V_PER_BLOCK),
            seconds_since_full: r(rng, SEED_SECONDS_SINCE_FULL).floor() as u64,
            synchronisations: cycles + r(rng, SEED_EXTRA_SYNCS).floor() as u32,
            low_voltage_alarms: 0,
            high_voltage_alarms: 0,
            min_aux_voltage_v: r(rng, SEED_MIN_AUX_V),
            max_aux_voltage_v: r(rng, SEED_MAX_AUX_V),
            discharged_kwh: 0.0,
            charged_kwh: 0.0,
            discharges_recorded: cycles,
            below_cycle_mark: false,
        }
        .with_energy(capacity_ah, n, cycles)
    }

    fn with_energy(mut self, capacity_ah: f64, n: f64, cycles: u32) -> Self {
        let e = f64::from(cycles) * capacity_ah * 0.5 * SEED_CYCLE_V_PER_BLOCK * n / 1000.0;
        self.discharged_kwh = e;
        self.charged_kwh = e * SEED_CHARGED_FACTOR;
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
        self.n() * (EMF_EMPTY + EMF_SPAN * self.soc)
    }

    /// Net battery current, + = charging.
    pub fn net_current(&self) -> f64 {
        self.charge_a - self.load_a
    }

    /// Terminal voltage: open-circuit voltage plus the drop over the internal resistance, which
    /// rises towards full charge while charging.
    fn terminal_voltage(&self, current: f64) -> f64 {
        let r = if current > 0.0 {
            self.internal_resistance_ohm
                * (1.0 + (CHARGE_RESISTANCE_MAX_FACTOR - 1.0) * self.soc.powi(8))
        } else {
            self.internal_resistance_ohm
        };
        (self.emf() + current * r).max(0.0)
    }

    fn measure(&mut self, rng: &mut SimRng) {
        let i = self.net_current();
        let noise_i = if i.abs() > 0.05 {
            rng.range(-CURRENT_NOISE_A, CURRENT_NOISE_A)
        } else {
            0.0
        };
        self.current_a = i + noise_i;
        self.voltage_v = self.terminal_voltage(i) + rng.range(-VOLTAGE_NOISE_V, VOLTAGE_NOISE_V);
        self.midpoint_deviation = rng.range(-MIDPOINT_DEVIATION_PCT, MIDPOINT_DEVIATION_PCT);
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
