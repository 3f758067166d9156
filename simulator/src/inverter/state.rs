//! Physics of the simulated inverter (docs/architecture.md §7): PV day curve, load with noise,
//! battery state of charge and terminal voltage, charger stages, heat sink temperature, the
//! operating mode (QMOD, spec 2.13), the conditions behind the QPIWS warning bits (spec 2.14) and
//! each unit's lifetime PV and load energy counters (PI30MAX QET/QLT).
//!
//! The model works on a whole parallel stack: one shared battery bank, the load shared by the
//! units, one PV array per unit. It steps in slices of at most one simulated second; every slice
//! draws the same number of values from the PRNG, so a seed and a sequence of inputs replay
//! exactly.

use serde::Serialize;

use super::config::InverterConfig;
use super::settings::Settings;
use crate::rng::SimRng;

/// Operating mode (QMOD letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Mode {
    PowerOn,
    Standby,
    Line,
    Battery,
    Fault,
}

impl Mode {
    pub fn letter(self) -> char {
        match self {
            Mode::PowerOn => 'P',
            Mode::Standby => 'S',
            Mode::Line => 'L',
            Mode::Battery => 'B',
            Mode::Fault => 'F',
        }
    }

    fn output_on(self) -> bool {
        matches!(self, Mode::Line | Mode::Battery)
    }
}

/// Charger stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ChargeStage {
    Bulk,
    Float,
}

/// The world around the unit, set through the control API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Env {
    /// Seconds since midnight.
    pub time_of_day_s: f64,
    pub day: u64,
    /// Fixed PV power available per unit (W), replacing the day curve.
    pub pv_override_w: Option<f64>,
    /// Peak PV power per unit for the day curve (W).
    pub pv_peak_w: f64,
    /// Total AC load of the system (W) before noise.
    pub load_w: f64,
    pub load_pf: f64,
    pub grid_available: bool,
    pub grid_voltage: f64,
    pub grid_frequency: f64,
    pub ambient_c: f64,
    /// A device fault forced from outside (QPGS fault code); 0 = none.
    pub forced_fault_code: u8,
}

/// What one unit of the stack is doing right now.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UnitState {
    pub pv_available_w: f64,
    pub pv1_v: f64,
    pub pv1_a: f64,
    pub pv1_w: f64,
    pub pv2_v: f64,
    pub pv2_a: f64,
    pub pv2_w: f64,
    pub output_w: f64,
    pub output_va: f64,
    pub scc_charge_a: f64,
    pub ac_charge_a: f64,
    pub discharge_a: f64,
    pub heat_sink_c: f64,
    /// Lifetime PV energy of this unit (all PV inputs), Wh: what QET reports (PI30MAX §2.23).
    pub pv_energy_wh: f64,
    /// Lifetime energy delivered to this unit's AC output, Wh: what QLT reports (§2.27).
    pub load_energy_wh: f64,
}

impl UnitState {
    pub fn charge_a(&self) -> f64 {
        self.scc_charge_a + self.ac_charge_a
    }

    pub fn pv_w(&self) -> f64 {
        self.pv1_w + self.pv2_w
    }
}

/// Evolving state.
#[derive(Debug, Clone, Serialize)]
pub struct Physics {
    #[serde(skip)]
    rng: SimRng,
    /// 0..=1.
    pub soc: f64,
    /// True terminal voltage.
    pub battery_v: f64,
    /// Net battery current, positive when charging.
    pub battery_a: f64,
    pub stage: ChargeStage,
    pub mode: Mode,
    pub fault_code: u8,
    pub low_battery_shutdown: bool,
    pub sbu_on_grid: bool,
    pub overload_s: f64,
    pub fault_s: f64,
    pub power_on_s: f64,
    pub cv_s: f64,
    pub load_noise: f64,
    pub pv_noise: f64,
    pub volt_noise: f64,
    pub freq_noise: f64,
    pub pf_noise: f64,
    pub output_v: f64,
    pub output_hz: f64,
    pub grid_v: f64,
    pub grid_hz: f64,
    pub bus_v: f64,
    /// Real-time clock (seconds since 2000-01-01 00:00:00), set by DAT.
    pub rtc_s: f64,
    pub units: Vec<UnitState>,
}

const MPPT_EFF: f64 = 0.97;
pub(crate) const INV_EFF: f64 = 0.93;
const CHARGE_EFF: f64 = 0.95;

/// Stationary standard deviations of the slow random processes (see [`ou`]): relative load and
/// PV power, volts on the AC side (the DC bus shows 8x), hertz, power factor. The plausible
/// ranges (crate::ranges) are derived from these.
pub(crate) const LOAD_NOISE_SD: f64 = 0.03;
pub(crate) const PV_NOISE_SD: f64 = 0.02;
pub(crate) const VOLT_NOISE_SD: f64 = 0.6;
pub(crate) const FREQ_NOISE_SD: f64 = 0.03;
pub(crate) const PF_NOISE_SD: f64 = 0.02;
/// The DC bus voltage moves this many times the AC voltage noise.
pub(crate) const BUS_NOISE_GAIN: f64 = 8.0;
/// Heat sink: ambient plus this much idle, plus `HEAT_SINK_PER_RATED_C` at rated throughput.
pub(crate) const HEAT_SINK_IDLE_C: f64 = 8.0;
pub(crate) const HEAT_SINK_PER_RATED_C: f64 = 40.0;
/// At power-up the heat sink is this much above ambient.
pub(crate) const HEAT_SINK_START_C: f64 = 5.0;
/// The PV maximum-power-point voltage is `vmp * (MPP_LOW + MPP_SPAN * irradiance)`.
pub(crate) const MPP_LOW: f64 = 0.93;
const MPP_SPAN: f64 = 0.07;
/// Without load the output still shows this share of the rated VA (magnetising power).
pub(crate) const IDLE_VA_SHARE: f64 = 0.008;
/// The lifetime energy counters of a used unit at start (kWh), drawn per unit from these ranges.
pub(crate) const SEED_PV_ENERGY_KWH: (f64, f64) = (500.0, 3000.0);
pub(crate) const SEED_LOAD_ENERGY_KWH: (f64, f64) = (400.0, 2500.0);

/// Share of the stack's AC load that unit `i` of `n` carries (the units differ by 2 %).
pub(crate) fn unit_share(n: usize, i: usize) -> f64 {
    let n = n.max(1);
    let share = |k: usize| 1.0 + 0.02 * (k as f64 - (n as f64 - 1.0) / 2.0);
    share(i) / (0..n).map(share).sum::<f64>()
}

/// Share of the PV array of unit 0 that unit `i` has (each further array 4 % less).
pub(crate) fn pv_share(i: usize) -> f64 {
    1.0 - 0.04 * i as f64
}

/// The DC bus voltage of a unit with this AC rating.
pub(crate) fn bus_base_v(cfg: &InverterConfig) -> f64 {
    if cfg.rated_output_v > 160.0 {
        440.0
    } else {
        220.0
    }
}

/// One draw with unit variance (uniform), from the PRNG.
fn unit_noise(rng: &mut SimRng) -> f64 {
    rng.range(-1.0, 1.0) * 3f64.sqrt()
}

/// Ornstein-Uhlenbeck step: mean 0, stationary standard deviation `sd`, time constant `tau`.
fn ou(x: f64, dt: f64, tau: f64, sd: f64, rng: &mut SimRng) -> f64 {
    let a = (-dt / tau).exp();
    x * a + sd * (1.0 - a * a).sqrt() * unit_noise(rng)
}

/// Open-circuit voltage of the bank at a state of charge (lead-acid shape).
pub fn ocv(cfg: &InverterConfig, soc: f64) -> f64 {
    let blocks = f64::from(cfg.nominal_battery_v) / 12.0;
    let s = soc.clamp(0.0, 1.0);
    blocks * (11.5 + 1.3 * s - 1.5 * (1.0 - s).powi(8))
}

/// State of charge giving this open-circuit voltage.
pub fn soc_for_ocv(cfg: &InverterConfig, v: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1.0);
    for _ in 0..50 {
        let mid = (lo + hi) / 2.0;
        if ocv(cfg, mid) < v {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

pub(crate) fn r_base(cfg: &InverterConfig) -> f64 {
    let blocks = f64::from(cfg.nominal_battery_v) / 12.0;
    0.006 * blocks * 200.0 / cfg.battery_capacity_ah
}

/// Effective resistance while charging: rises steeply near full (absorption).
fn r_charge(cfg: &InverterConfig, soc: f64) -> f64 {
    r_base(cfg) * (1.0 + 60.0 * soc.clamp(0.0, 1.0).powi(8))
}

/// Clear-sky fraction of the peak PV power at a time of day.
pub fn irradiance(cfg: &InverterConfig, time_of_day_s: f64) -> f64 {
    let h = time_of_day_s / 3600.0;
    if h <= cfg.sunrise_h || h >= cfg.sunset_h {
        return 0.0;
    }
    let x = (h - cfg.sunrise_h) / (cfg.sunset_h - cfg.sunrise_h);
    (std::f64::consts::PI * x).sin().max(0.0).powf(1.2)
}

impl Env {
    pub fn new(cfg: &InverterConfig) -> Self {
        Env {
            time_of_day_s: cfg.start_time_of_day_h * 3600.0,
            day: 0,
            pv_override_w: None,
            pv_peak_w: cfg.pv_peak_w,
            load_w: cfg.base_load_w,
            load_pf: cfg.load_power_factor,
            grid_available: cfg.grid_available,
            grid_voltage: cfg.rated_output_v,
            grid_frequency: f64::from(cfg.rated_frequency_hz),
            ambient_c: cfg.ambient_c,
            forced_fault_code: 0,
        }
    }
}

/// Power flows of one slice for the whole stack.
#[derive(Debug, Default)]
struct Flows {
    load_w: f64,
    pv_used_w: f64,
    scc_a: f64,
    ac_a: f64,
    discharge_a: f64,
}

impl Physics {
    pub fn new(cfg: &InverterConfig, env: &Env, seed: u64) -> Self {
        let soc = cfg.start_soc_percent / 100.0;
        let n = cfg.parallel_units as usize;
        let mut p = Physics {
            rng: SimRng::derive(seed, "inverter"),
            soc,
            battery_v: ocv(cfg, soc),
            battery_a: 0.0,
            stage: ChargeStage::Bulk,
            mode: Mode::Standby,
            fault_code: 0,
            low_battery_shutdown: false,
            sbu_on_grid: false,
            overload_s: 0.0,
            fault_s: 0.0,
            power_on_s: 0.0,
            cv_s: 0.0,
            load_noise: 0.0,
            pv_noise: 0.0,
            volt_noise: 0.0,
            freq_noise: 0.0,
            pf_noise: 0.0,
            output_v: 0.0,
            output_hz: 0.0,
            grid_v: 0.0,
            grid_hz: 0.0,
            bus_v: 0.0,
            // 2024-06-01 plus the start time of day.
            rtc_s: 770_428_800.0 + env.time_of_day_s,
            units: Self::seeded_units(n.max(1), env, seed),
        };
        let start = |k: Option<f64>| k.filter(|k| k.is_finite() && *k >= 0.0);
        if let Some(unit) = p.units.first_mut() {
            if let Some(kwh) = start(cfg.start_pv_energy_kwh) {
                unit.pv_energy_wh = kwh * 1000.0;
            }
            if let Some(kwh) = start(cfg.start_load_energy_kwh) {
                unit.load_energy_wh = kwh * 1000.0;
            }
        }
        p.mode = p.choose_mode(cfg, &Settings::defaults(cfg), env, 0.0);
        p.refresh(cfg, &Settings::defaults(cfg), env, 0.0);
        p
    }

    /// The units at start, each with the energy counters of a used unit. Their own PRNG stream,
    /// so that the noise of a seed stays what it was before the counters existed.
    fn seeded_units(n: usize, env: &Env, seed: u64) -> Vec<UnitState> {
        let mut rng = SimRng::derive(seed, "inverter/energy");
        (0..n)
            .map(|_| UnitState {
                heat_sink_c: env.ambient_c + HEAT_SINK_START_C,
                pv_energy_wh: rng.range(SEED_PV_ENERGY_KWH.0, SEED_PV_ENERGY_KWH.1) * 1000.0,
                load_energy_wh: rng.range(SEED_LOAD_ENERGY_KWH.0, SEED_LOAD_ENERGY_KWH.1) * 1000.0,
                ..UnitState::default()
            })
            .collect()
    }

    /// A power cycle: the unit restarts, forgets latched faults and shutdowns.
    pub fn power_cycle(&mut self) {
        self.fault_code = 0;
        self.fault_s = 0.0;
        self.overload_s = 0.0;
        self.low_battery_shutdown = false;
        self.sbu_on_grid = false;
        self.power_on_s = 2.0;
        self.mode = Mode::PowerOn;
    }

    pub fn set_soc(&mut self, cfg: &InverterConfig, soc: f64) {
        self.soc = soc.clamp(0.0, 1.0);
        self.battery_v = ocv(cfg, self.soc);
        self.battery_a = 0.0;
        if self.soc < 0.9 {
            self.stage = ChargeStage::Bulk;
        }
    }

    /// Load fraction of the stack rating above which the unit is overloaded.
    fn overloaded(cfg: &InverterConfig, env: &Env) -> bool {
        env.load_w > f64::from(cfg.rated_w) * f64::from(cfg.parallel_units)
    }

    /// Advances the state by `dt` seconds (at most one second per call for stability).
    pub fn step(&mut self, cfg: &InverterConfig, settings: &Settings, env: &mut Env, dt: f64) {
        env.time_of_day_s += dt;
        while env.time_of_day_s >= 86_400.0 {
            env.time_of_day_s -= 86_400.0;
            env.day += 1;
        }
        self.rtc_s += dt;
        // A fixed number of PRNG draws per slice keeps runs reproducible.
        self.load_noise = ou(self.load_noise, dt, 30.0, LOAD_NOISE_SD, &mut self.rng);
        self.pv_noise = ou(self.pv_noise, dt, 60.0, PV_NOISE_SD, &mut self.rng);
        self.volt_noise = ou(self.volt_noise, dt, 10.0, VOLT_NOISE_SD, &mut self.rng);
        self.freq_noise = ou(self.freq_noise, dt, 10.0, FREQ_NOISE_SD, &mut self.rng);
        self.pf_noise = ou(self.pf_noise, dt, 60.0, PF_NOISE_SD, &mut self.rng);

        // Faults.
        if self.power_on_s > 0.0 {
            self.power_on_s = (self.power_on_s - dt).max(0.0);
        }
        if Self::overloaded(cfg, env) && self.mode.output_on() {
            self.overload_s += dt;
        } else {
            self.overload_s = (self.overload_s - dt).max(0.0);
        }
        let hottest = self
            .units
            .iter()
            .map(|u| u.heat_sink_c)
            .fold(f64::MIN, f64::max);
        if env.forced_fault_code != 0 {
            self.fault_code = env.forced_fault_code;
        } else if self.fault_code == 0 && hottest > 95.0 {
            self.fault_code = 2;
        } else if self.fault_code == 0 && self.overload_s > 60.0 {
            if settings.flags.overload_bypass && env.grid_available {
                // Bypass: the grid carries the load instead of tripping.
                self.sbu_on_grid = true;
            } else {
                self.fault_code = 7;
            }
        }
        if self.fault_code != 0 {
            self.fault_s += dt;
            let restart = match self.fault_code {
                7 => settings.flags.overload_restart && self.fault_s > 60.0,
                2 => settings.flags.over_temperature_restart && hottest < 70.0,
                _ => false,
            };
            if restart && env.forced_fault_code == 0 {
                self.fault_code = 0;
                self.fault_s = 0.0;
                self.overload_s = 0.0;
            }
        } else {
            self.fault_s = 0.0;
        }

        self.mode = self.choose_mode(cfg, settings, env, self.pv_available_total(cfg, env));
        self.refresh(cfg, settings, env, dt);
    }

    /// Re-evaluates mode and readings without letting time pass (after a setter or an
    /// environment change).
    pub fn settle(&mut self, cfg: &InverterConfig, s: &Settings, env: &Env) {
        let pv = self.pv_available_total(cfg, env);
        self.mode = self.choose_mode(cfg, s, env, pv);
        self.refresh(cfg, s, env, 0.0);
    }

    fn pv_available_unit(&self, cfg: &InverterConfig, env: &Env, unit: usize) -> f64 {
        match env.pv_override_w {
            Some(w) => w.max(0.0),
            None => {
                let share = pv_share(unit);
                (env.pv_peak_w * irradiance(cfg, env.time_of_day_s) * (1.0 + self.pv_noise) * share)
                    .max(0.0)
            }
        }
    }

    fn pv_available_total(&self, cfg: &InverterConfig, env: &Env) -> f64 {
        (0..self.units.len())
            .map(|i| self.pv_available_unit(cfg, env, i))
            .sum()
    }

    fn choose_mode(&mut self, cfg: &InverterConfig, s: &Settings, env: &Env, pv: f64) -> Mode {
        if self.fault_code != 0 {
            return Mode::Fault;
        }
        if self.power_on_s > 0.0 {
            return Mode::PowerOn;
        }
        let cutoff = Settings::volts(s.under_dv);
        let recharge = Settings::volts(s.recharge_dv);
        let redischarge = Settings::volts(s.redischarge_dv);
        if self.mode == Mode::Battery && self.battery_v <= cutoff {
            self.low_battery_shutdown = true;
        }
        if self.low_battery_shutdown && (self.battery_v >= recharge || self.soc > 0.3) {
            self.low_battery_shutdown = false;
        }
        if !env.grid_available {
            self.sbu_on_grid = false;
            return if self.low_battery_shutdown {
                Mode::Standby
            } else {
                Mode::Battery
            };
        }
        if self.low_battery_shutdown {
            self.sbu_on_grid = true;
            return Mode::Line;
        }
        let load = env.load_w * (1.0 + self.load_noise);
        let limit_a = f64::from(s.max_discharge_a) * f64::from(cfg.parallel_units);
        let over_limit = cfg.variant == super::config::Variant::Max
            && limit_a > 0.0
            && (load - pv * MPPT_EFF * INV_EFF).max(0.0) / INV_EFF / self.battery_v.max(1.0)
                > limit_a;
        match s.output_priority {
            0 => Mode::Line,
            1 => {
                let on_battery = self.mode == Mode::Battery;
                let enough = if on_battery {
                    pv * MPPT_EFF * INV_EFF >= load * 0.95
                } else {
                    pv * MPPT_EFF * INV_EFF >= load * 1.1 + 20.0
                };
                if enough && !over_limit && self.battery_v > cutoff {
                    Mode::Battery
                } else {
                    Mode::Line
                }
            }
            _ => {
                if self.battery_v < recharge || over_limit {
                    self.sbu_on_grid = true;
                }
                let back = if redischarge <= 0.0 {
                    self.stage == ChargeStage::Float
                } else {
                    self.battery_v >= redischarge
                };
                if self.sbu_on_grid && back && !over_limit {
                    self.sbu_on_grid = false;
                }
                if self.sbu_on_grid {
                    Mode::Line
                } else {
                    Mode::Battery
                }
            }
        }
    }

    /// Computes the flows for the current mode, integrates the battery over `dt` and fills in
    /// the per-unit readings.
    fn refresh(&mut self, cfg: &InverterConfig, s: &Settings, env: &Env, dt: f64) {
        let n = self.units.len().max(1);
        let pv_avail: Vec<f64> = (0..n)
            .map(|i| self.pv_available_unit(cfg, env, i))
            .collect();
        let pv_total: f64 = pv_avail.iter().sum();
        let v_batt = self.battery_v.max(1.0);
        let mut f = Flows::default();

        // AC side.
        if self.mode.output_on() {
            f.load_w = (env.load_w * (1.0 + self.load_noise)).max(0.0);
        }
        let mut pv_left = pv_total * MPPT_EFF;
        if self.mode == Mode::Battery {
            let from_pv = (pv_left * INV_EFF).min(f.load_w);
            pv_left -= from_pv / INV_EFF;
            f.pv_used_w += from_pv / INV_EFF / MPPT_EFF;
            f.discharge_a = (f.load_w - from_pv) / INV_EFF / v_batt;
        }

        // Charger.
        let unit0 = s.unit0();
        let csp = unit0.charger_priority;
        let pv_ok = csp != 0 || self.mode != Mode::Line;
        let ac_ok = env.grid_available
            && self.mode == Mode::Line
            && match csp {
                0 | 2 => true,
                1 => pv_total < 50.0,
                _ => false,
            };
        // The float voltage never exceeds the bulk (C.V.) voltage.
        let target = Settings::volts(if self.stage == ChargeStage::Float {
            s.float_dv.min(s.bulk_dv)
        } else {
            s.bulk_dv
        });
        let ocv_now = ocv(cfg, self.soc);
        let r_c = r_charge(cfg, self.soc);
        let accept = ((target - ocv_now) / r_c).max(0.0);
        let pv_a = if pv_ok { pv_left / v_batt } else { 0.0 };
        let ac_cap = f64::from(cfg.rated_w) * f64::from(cfg.parallel_units) * 0.8 / v_batt;
        let ac_a = if ac_ok {
            s.total_max_ac_charge_a().min(ac_cap)
        } else {
            0.0
        };
        let max_total = s.total_max_charge_a().min(accept);
        if f.discharge_a <= 0.0 {
            f.scc_a = pv_a.min(max_total);
            f.ac_a = ac_a.min(max_total - f.scc_a).max(0.0);
            f.pv_used_w += f.scc_a * v_batt / MPPT_EFF;
        }

        // Battery.
        let charge = f.scc_a + f.ac_a;
        self.battery_a = charge - f.discharge_a;
        let cap = cfg.battery_capacity_ah;
        let ah = if self.battery_a > 0.0 {
            self.battery_a * CHARGE_EFF
        } else {
            self.battery_a
        };
        self.soc = (self.soc + ah * dt / 3600.0 / cap).clamp(0.0, 1.0);
        let ocv_new = ocv(cfg, self.soc);
        self.battery_v = if self.battery_a > 0.0 {
            (ocv_new + self.battery_a * r_charge(cfg, self.soc)).min(target)
        } else {
            ocv_new + self.battery_a * r_base(cfg)
        };
        match self.stage {
            ChargeStage::Bulk => {
                if charge > 0.0 && self.battery_v >= target - 0.05 {
                    self.cv_s += dt;
                } else if charge <= 0.0 {
                    self.cv_s = 0.0;
                }
                let cv_limit = match s.cv_time_min {
                    0 | 255 => f64::INFINITY,
                    m => f64::from(m) * 60.0,
                };
                let tail = charge > 0.0 && charge < 0.02 * cap && self.battery_v >= target - 0.05;
                if s.charge_stage != 1 && (tail || self.cv_s >= cv_limit || self.soc >= 0.999) {
                    self.stage = ChargeStage::Float;
                    self.cv_s = 0.0;
                }
            }
            ChargeStage::Float => {
                if self.soc < 0.9 {
                    self.stage = ChargeStage::Bulk;
                }
            }
        }

        // AC readings.
        match self.mode {
            Mode::Line => {
                self.output_v = env.grid_voltage + self.volt_noise;
                self.output_hz = env.grid_frequency + self.freq_noise * 0.3;
            }
            Mode::Battery => {
                self.output_v = cfg.rated_output_v + self.volt_noise * 0.3;
                self.output_hz = f64::from(s.frequency_hz) + self.freq_noise * 0.1;
            }
            _ => {
                self.output_v = 0.0;
                self.output_hz = 0.0;
            }
        }
        if env.grid_available {
            self.grid_v = env.grid_voltage + self.volt_noise;
            self.grid_hz = env.grid_frequency + self.freq_noise * 0.3;
        } else {
            self.grid_v = 0.0;
            self.grid_hz = 0.0;
        }
        self.bus_v = if self.mode == Mode::PowerOn {
            0.0
        } else {
            bus_base_v(cfg) + BUS_NOISE_GAIN * self.volt_noise
        };

        // Split over the units.
        let pf = (env.load_pf + self.pf_noise).clamp(0.1, 1.0);
        let pv_used_frac = if pv_total > 0.0 {
            (f.pv_used_w / pv_total).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let vmp = cfg.pv_vmp();
        let voc = cfg.pv_voc();
        let rated_va = f64::from(cfg.rated_va);
        for (i, u) in self.units.iter_mut().enumerate() {
            let share = unit_share(n, i);
            u.pv_available_w = pv_avail[i];
            u.output_w = f.load_w * share;
            u.output_va = if self.mode.output_on() {
                (u.output_w / pf).max(rated_va * IDLE_VA_SHARE)
            } else {
                0.0
            };
            u.discharge_a = f.discharge_a * share;
            u.ac_charge_a = f.ac_a / n as f64;
            u.scc_charge_a = if pv_total > 0.0 {
                f.scc_a * pv_avail[i] / pv_total
            } else {
                0.0
            };
            let used = pv_avail[i] * pv_used_frac;
            let (v1, v2) = if pv_avail[i] > 0.0 {
                let irr = if env.pv_peak_w > 0.0 {
                    (pv_avail[i] / env.pv_peak_w).min(1.0)
                } else {
                    1.0
                };
                let v_mpp = vmp * (MPP_LOW + MPP_SPAN * irr);
                let v = v_mpp + (voc - v_mpp) * (1.0 - pv_used_frac).powi(2);
                (v, v * 0.97)
            } else {
                (0.0, 0.0)
            };
            let frac2 = if cfg.variant == super::config::Variant::Max {
                cfg.pv2_fraction
            } else {
                0.0
            };
            u.pv1_v = v1;
            u.pv2_v = if frac2 > 0.0 { v2 } else { 0.0 };
            u.pv1_w = used * (1.0 - frac2);
            u.pv2_w = used * frac2;
            u.pv1_a = if v1 > 0.0 { u.pv1_w / v1 } else { 0.0 };
            u.pv2_a = if v2 > 0.0 && frac2 > 0.0 {
                u.pv2_w / v2
            } else {
                0.0
            };
            // The lifetime counters run on the true powers of this slice (the firmware counts
            // what flows, not what it displays).
            u.pv_energy_wh += u.pv_w() * dt / 3600.0;
            u.load_energy_wh += u.output_w * dt / 3600.0;
            let throughput = u.output_w + u.charge_a() * v_batt;
            let target_c = env.ambient_c
                + HEAT_SINK_IDLE_C
                + HEAT_SINK_PER_RATED_C * throughput / f64::from(cfg.rated_w);
            let a = (-dt / 300.0).exp();
            u.heat_sink_c = u.heat_sink_c * a + target_c * (1.0 - a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ocv_is_monotonic_and_invertible() {
        let cfg = InverterConfig::default();
        let mut last = 0.0;
        for i in 0..=100 {
            let v = ocv(&cfg, f64::from(i) / 100.0);
            assert!(v > last);
            last = v;
        }
        let soc = soc_for_ocv(&cfg, ocv(&cfg, 0.42));
        assert!((soc - 0.42).abs() < 1e-6);
    }

    #[test]
    fn irradiance_zero_at_night_peak_at_noon() {
        let cfg = InverterConfig::default();
        assert_eq!(irradiance(&cfg, 2.0 * 3600.0), 0.0);
        assert_eq!(irradiance(&cfg, 20.0 * 3600.0), 0.0);
        assert!((irradiance(&cfg, 12.0 * 3600.0) - 1.0).abs() < 1e-9);
    }
}
