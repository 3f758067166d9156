//! The MPPT's charge algorithm and electrical model (MPPT HEX protocol Rev 10: device state 0x0201
//! bulk/absorption/float, battery settings 0xEDF7/0xEDF6/0xEDF2/0xEDFB/0xEDE7/0xED2E, "Remote
//! sensor data": remote voltage used to compensate cable losses by up to ±2 V, accepted within
//! ±5 V of the terminal voltage; "VE.Direct Protocol" 3.33: CS, MPPT, OR values).

use serde::Serialize;

/// Charge stage, reported as text `CS` and register 0x0201.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Stage {
    Off,
    Fault,
    Bulk,
    Absorption,
    Float,
}

impl Stage {
    pub fn code(self) -> u8 {
        match self {
            Stage::Off => 0,
            Stage::Fault => 2,
            Stage::Bulk => 3,
            Stage::Absorption => 4,
            Stage::Float => 5,
        }
    }
}

/// Settings the algorithm uses, in physical units.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChargeSettings {
    pub absorption_v: f64,
    pub float_v: f64,
    /// Whole-system coefficient in mV/K (0xEDF2), relative to 25 °C.
    pub temp_comp_mv_per_k: f64,
    pub absorption_time_h: f64,
    pub tail_current_a: f64,
    pub rebulk_offset_v: f64,
    pub max_current_a: f64,
}

/// What the outside world supplies this second.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChargeInputs {
    pub pv_available_w: f64,
    /// Battery temperature the charger believes (remote sense or its internal estimate).
    pub battery_temp_c: f64,
    /// Remote voltage sense is in use: regulate the battery posts, not the terminals.
    pub vsense_in_use: bool,
    pub enabled: bool,
    pub error: u8,
    pub ambient_c: f64,
    /// Load output current (drawn through the charger's load terminals).
    pub load_output_a: f64,
    /// Other loads directly on the battery.
    pub battery_load_a: f64,
    pub panel_vmp_v: f64,
    pub panel_voc_v: f64,
}

/// The battery the charger is connected to and the charger's measured outputs.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Charger {
    pub stage: Stage,
    pub stage_time_s: f64,
    pub absorption_elapsed_s: f64,
    below_rebulk_s: f64,
    pub nominal_v: f64,
    pub capacity_ah: f64,
    pub soc: f64,
    pub internal_resistance_ohm: f64,
    pub cable_resistance_ohm: f64,
    pub target_v: f64,
    pub cable_compensation_v: f64,
    pub charger_current_a: f64,
    pub battery_current_a: f64,
    pub terminal_v: f64,
    pub battery_v: f64,
    pub output_power_w: f64,
    pub pv_power_w: f64,
    pub pv_voltage_v: f64,
    pub pv_current_a: f64,
    /// 0 off, 1 voltage/current limited, 2 MPP tracker active.
    pub tracker: u8,
    /// Off reason bits (text `OR`).
    pub off_reason: u32,
    pub internal_temp_c: f64,
}

/// Converter efficiency.
pub(crate) const EFFICIENCY: f64 = 0.97;
/// Below this much available PV power the charger is off ("no input power").
const MIN_PV_W: f64 = 1.0;

impl Charger {
    pub fn new(nominal_v: f64, capacity_ah: f64, soc: f64, r_int: f64, r_cable: f64) -> Self {
        let mut c = Charger {
            stage: Stage::Off,
            stage_time_s: 0.0,
            absorption_elapsed_s: 0.0,
            below_rebulk_s: 0.0,
            nominal_v,
            capacity_ah: capacity_ah.max(1.0),
            soc: soc.clamp(0.0, 1.0),
            internal_resistance_ohm: r_int * nominal_v / 12.0,
            cable_resistance_ohm: r_cable,
            target_v: 0.0,
            cable_compensation_v: 0.0,
            charger_current_a: 0.0,
            battery_current_a: 0.0,
            terminal_v: 0.0,
            battery_v: 0.0,
            output_power_w: 0.0,
            pv_power_w: 0.0,
            pv_voltage_v: super::mppt::VPV_DARK,
            pv_current_a: 0.0,
            tracker: 0,
            off_reason: 1,
            internal_temp_c: 25.0,
        };
        c.terminal_v = c.emf();
        c.battery_v = c.emf();
        c
    }

    fn n(&self) -> f64 {
        self.nominal_v / 12.0
    }

    /// Open-circuit voltage of a lead-acid style battery.
    pub fn emf(&self) -> f64 {
        self.n() * (super::battery::EMF_EMPTY + super::battery::EMF_SPAN * self.soc)
    }

    /// Internal resistance seen by a charge (+) or discharge (-) current: charge acceptance falls
    /// steeply towards full, which ends bulk near 85 % and tapers the absorption current.
    fn resistance(&self, battery_current: f64) -> f64 {
        if battery_current > 0.0 {
            self.internal_resistance_ohm * (1.0 + 106.0 * self.soc.powi(20))
        } else {
            self.internal_resistance_ohm
        }
    }

    /// Voltage set-point of a stage, temperature compensated (0xEDF2, relative to 25 °C).
    pub fn stage_target(s: &ChargeSettings, stage: Stage, temp_c: f64) -> f64 {
        let base = match stage {
            Stage::Float => s.float_v,
            _ => s.absorption_v,
        };
        base + s.temp_comp_mv_per_k / 1000.0 * (temp_c - 25.0)
    }

    /// Battery-post voltage for a charger current.
    fn posts_for(&self, charger_a: f64, loads_a: f64) -> f64 {
        let ib = charger_a - loads_a;
        self.emf() + ib * self.resistance(ib)
    }

    /// The charger current that holds the regulated voltage at `target`.
    fn current_for(&self, target: f64, loads_a: f64, regulate_posts: bool) -> f64 {
        let rc = if regulate_posts {
            0.0
        } else {
            self.cable_resistance_ohm
        };
        // Try the charging branch first, fall back to the discharging one.
        let r = self.resistance(1.0);
        let i = (target - self.emf() + loads_a * r) / (r + rc);
        if i - loads_a >= 0.0 {
            return i;
        }
        let r = self.resistance(-1.0);
        (target - self.emf() + loads_a * r) / (r + rc)
    }

    /// One simulated second.
    pub fn step(&mut self, dt_s: f64, s: &ChargeSettings, inp: &ChargeInputs) {
        let loads = inp.load_output_a.max(0.0) + inp.battery_load_a.max(0.0);
        let pv_avail = inp.pv_available_w.max(0.0);
        let previous = self.stage;
        self.off_reason = 0;
        if !inp.enabled {
            self.stage = Stage::Off;
            self.off_reason = 0x04;
        } else if inp.error != 0 {
            self.stage = Stage::Fault;
            self.off_reason = 0x10;
        } else if pv_avail < MIN_PV_W {
            self.stage = Stage::Off;
            self.off_reason = 0x01;
        } else if matches!(self.stage, Stage::Off | Stage::Fault) {
            self.stage = Stage::Bulk;
        }
        if self.stage != previous {
            self.stage_time_s = 0.0;
            if self.stage == Stage::Bulk {
                self.absorption_elapsed_s = 0.0;
            }
        }

        let charging = matches!(self.stage, Stage::Bulk | Stage::Absorption | Stage::Float);
        self.target_v = Self::stage_target(s, self.stage, inp.battery_temp_c);
        let v_est = self.terminal_v.max(self.n() * 8.0);
        let pv_limit_a = pv_avail * EFFICIENCY / v_est;
        let i_max = s.max_current_a.max(0.0).min(pv_limit_a);
        let mut current = 0.0;
        let mut tracker = 0;
        if charging {
            let regulated = self.current_for(self.target_v, loads, inp.vsense_in_use);
            if self.stage == Stage::Bulk && self.regulated_v(i_max, loads, inp) < self.target_v {
                current = i_max;
            } else {
                if self.stage == Stage::Bulk {
                    self.stage = Stage::Absorption;
                    self.stage_time_s = 0.0;
                }
                current = regulated.clamp(0.0, i_max);
            }
            tracker = if current >= pv_limit_a - 1e-9 && pv_limit_a <= s.max_current_a {
                2
            } else {
                1
            };
        }
        self.apply_current(current, loads, inp.vsense_in_use);
        self.integrate(dt_s);
        self.update_pv(pv_avail, tracker, charging, inp);
        self.advance_stage(dt_s, s, inp);
        self.update_internal_temp(dt_s, inp.ambient_c);
    }

    /// The voltage the charger regulates: battery posts with remote sense, else its terminals.
    fn regulated_v(&self, charger_a: f64, loads_a: f64, inp: &ChargeInputs) -> f64 {
        let posts = self.posts_for(charger_a, loads_a);
        if inp.vsense_in_use {
            posts
        } else {
            posts + charger_a * self.cable_resistance_ohm
        }
    }

    fn apply_current(&mut self, current: f64, loads: f64, vsense: bool) {
        self.charger_current_a = current.max(0.0);
        self.battery_current_a = self.charger_current_a - loads;
        self.battery_v = self.posts_for(self.charger_current_a, loads).max(0.0);
        let drop = self.charger_current_a * self.cable_resistance_ohm;
        self.cable_compensation_v = if vsense { drop.min(2.0) } else { 0.0 };
        self.terminal_v = self.battery_v + drop;
        self.output_power_w = self.terminal_v * self.charger_current_a;
    }

    fn integrate(&mut self, dt_s: f64) {
        let dah = self.battery_current_a * dt_s / 3600.0;
        let eff = if dah > 0.0 { 0.95 } else { 1.0 };
        self.soc = (self.soc + eff * dah / self.capacity_ah).clamp(0.0, 1.0);
    }

    /// Panel side: input power from the output power; panel voltage at the maximum power point
    /// while tracking, towards open circuit when the charger takes less than the panel could give.
    fn update_pv(&mut self, pv_avail: f64, tracker: u8, charging: bool, inp: &ChargeInputs) {
        self.tracker = tracker;
        if pv_avail < MIN_PV_W {
            self.pv_power_w = 0.0;
            self.pv_current_a = 0.0;
            self.pv_voltage_v = super::mppt::VPV_DARK;
            return;
        }
        self.pv_power_w = if charging && self.output_power_w > 0.0 {
            self.output_power_w / EFFICIENCY
        } else {
            0.0
        };
        let used = (self.pv_power_w / pv_avail).clamp(0.0, 1.0);
        let (vmp, voc) = (inp.panel_vmp_v, inp.panel_voc_v.max(inp.panel_vmp_v));
        self.pv_voltage_v = vmp + (voc - vmp) * (1.0 - used);
        self.pv_current_a = if self.pv_voltage_v > 0.0 {
            self.pv_power_w / self.pv_voltage_v
        } else {
            0.0
        };
    }

    fn advance_stage(&mut self, dt_s: f64, s: &ChargeSettings, inp: &ChargeInputs) {
        self.stage_time_s += dt_s;
        match self.stage {
            Stage::Absorption => {
                self.absorption_elapsed_s += dt_s;
                let limit_s = s.absorption_time_h.max(0.0) * 3600.0;
                let tail = s.tail_current_a > 0.0
                    && self.stage_time_s >= 60.0
                    && self.battery_current_a < s.tail_current_a;
                if self.absorption_elapsed_s >= limit_s || tail {
                    self.stage = Stage::Float;
                    self.stage_time_s = 0.0;
                }
            }
            Stage::Float => {
                let float_target = Self::stage_target(s, Stage::Float, inp.battery_temp_c);
                let v = if inp.vsense_in_use {
                    self.battery_v
                } else {
                    self.terminal_v
                };
                if v < float_target - s.rebulk_offset_v.max(0.0) {
                    self.below_rebulk_s += dt_s;
                } else {
                    self.below_rebulk_s = 0.0;
                }
                if self.below_rebulk_s >= 60.0 {
                    self.stage = Stage::Bulk;
                    self.stage_time_s = 0.0;
                    self.absorption_elapsed_s = 0.0;
                    self.below_rebulk_s = 0.0;
                }
            }
            _ => self.below_rebulk_s = 0.0,
        }
    }

    /// The heat sink warms with the conversion losses and cools towards ambient.
    fn update_internal_temp(&mut self, dt_s: f64, ambient_c: f64) {
        let loss_w = self.pv_power_w * (1.0 - EFFICIENCY);
        let equilibrium = ambient_c + loss_w * 0.8;
        let k = (dt_s / 300.0).min(1.0);
        self.internal_temp_c += (equilibrium - self.internal_temp_c) * k;
    }
}
