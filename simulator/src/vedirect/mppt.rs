//! Simulated SmartSolar MPPT 100/30: configuration, environment (PV day curve), yields, text
//! block ("VE.Direct Protocol" 3.33 field table; vectors T1, T6, T8, T9: PID FW SER# V I VPV PPV CS
//! MPPT OR ERR LOAD [IL] H19..H23 HSDS) and async frames (MPPT HEX protocol Rev 10, 1.2
//! "Asynchronous items": from fw 1.17 registers are sent when they change while HEX traffic was
//! seen in the last 2 minutes; from 1.26 0x2002/0x2003 are sent as N/A at timeout).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::charger::{ChargeInputs, Charger};
use super::error::{SimError, number_in, optional_number_in};
use super::hexcmd::{HexTarget, RegRead, async_frame};
use super::link::Link;
use super::mppt_regs::{MpptSettings, REG_TSENSE, REG_VSENSE};
use super::remote::{RemoteSense, TSENSE_NA, VSENSE_NA};
use super::wire::{le_i16, le_u16, round_i64, text_block, version_word};
use super::{FirmwareMode, VeDevice};
use crate::energy::{Counter, Integrals, PANEL_ENERGY, PV_ENERGY};
use crate::rng::SimRng;

/// Text fields in wire order.
pub(crate) type Fields = Vec<(&'static str, String)>;

/// Measurement noise (uniform, +-) of the text values: battery volts, charger amps (while
/// charging), panel volts (while the panel has voltage).
pub(crate) const NOISE_V: f64 = 0.004;
pub(crate) const NOISE_A: f64 = 0.02;
pub(crate) const NOISE_VPV: f64 = 0.12;
/// The panel voltage shown without input power.
pub(crate) const VPV_DARK: f64 = 0.01;
/// The seeded history of a used charger (drawn from these ranges).
pub(crate) const SEED_TOTAL_KWH: (f64, f64) = (20.0, 400.0);
pub(crate) const SEED_YESTERDAY_KWH: (f64, f64) = (0.3, 1.8);
pub(crate) const SEED_MAX_POWER_YESTERDAY_W: (f64, f64) = (150.0, 420.0);
pub(crate) const SEED_DAY_SEQUENCE: (f64, f64) = (0.0, 300.0);
/// The day sequence number wraps after a year.
pub(crate) const DAYS_PER_SEQUENCE: u16 = 365;

/// Async messages stop this long after the last HEX message (fw 1.17 rule).
const ASYNC_WINDOW_MS: u64 = 120_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MpptConfig {
    /// Product id (text `PID`, HEX command 4): 0xA056 = SmartSolar MPPT 100/30.
    pub product_id: u16,
    pub serial: String,
    pub model_name: String,
    /// Firmware as in text `FW`: 161 = v1.61.
    pub firmware: u16,
    pub firmware_mode: FirmwareMode,
    /// Older implementations resume Text mode this long after the last valid HEX frame.
    pub text_resume_after_s: f64,
    /// Lifetime yield (H19) at start, instead of a seeded used unit's (`sungate demo` hands
    /// over what its history backfill ended with).
    pub initial_yield_total_kwh: Option<f64>,
    /// Send the record as two blocks (PID..OR, ERR..HSDS) like some SmartSolar units (vectors H35b).
    pub split_text_block: bool,
    /// Send async `:A` frames (fw >= 1.17 behaviour).
    pub async_frames: bool,
    /// The network remote-sense registers 0x2002/0x2003 exist (false: older firmware, which
    /// answers them with flags 0x01 Unknown Id).
    pub remote_sense: bool,
    /// A load output is present (text `IL`, 10/15/20 A models).
    pub load_output: bool,
    pub nominal_voltage: f64,
    pub charger_max_current_a: f64,
    /// 0xEDF0.
    pub battery_max_current_a: f64,
    /// 0xEDF7 and 0xEDF6 (for the nominal voltage).
    pub absorption_voltage_v: f64,
    pub float_voltage_v: f64,
    /// 0xEDF2, mV/K for the whole battery, relative to 25 °C (-16.20 for 12 V lead-acid).
    pub temp_comp_mv_per_k: f64,
    /// 0xEDFB.
    pub absorption_time_h: f64,
    /// 0xEDE7.
    pub tail_current_a: f64,
    /// 0xED2E.
    pub rebulk_offset_v: f64,
    pub panel_peak_w: f64,
    pub panel_vmp_v: f64,
    pub panel_voc_v: f64,
    pub battery_capacity_ah: f64,
    pub initial_soc_percent: f64,
    /// Internal resistance of a 12 V battery (scaled with the nominal voltage).
    pub battery_internal_resistance_ohm: f64,
    pub cable_resistance_ohm: f64,
    pub ambient_temperature_c: f64,
    /// Simulated local time at start (drives the PV day curve).
    pub time_of_day_h: f64,
    pub sunrise_h: f64,
    pub sunset_h: f64,
}

impl Default for MpptConfig {
    fn default() -> Self {
        MpptConfig {
            product_id: 0xA056,
            serial: "HQ2207K4R2M".into(),
            model_name: "SmartSolar Charger MPPT 100/30".into(),
            firmware: 161,
            firmware_mode: FirmwareMode::New,
            text_resume_after_s: 3.0,
            initial_yield_total_kwh: None,
            split_text_block: false,
            async_frames: true,
            remote_sense: true,
            load_output: false,
            nominal_voltage: 12.0,
            charger_max_current_a: 30.0,
            battery_max_current_a: 30.0,
            absorption_voltage_v: 14.40,
            float_voltage_v: 13.80,
            temp_comp_mv_per_k: -16.20,
            absorption_time_h: 6.0,
            tail_current_a: 2.0,
            rebulk_offset_v: 0.10,
            panel_peak_w: 440.0,
            panel_vmp_v: 36.0,
            panel_voc_v: 44.0,
            battery_capacity_ah: 200.0,
            initial_soc_percent: 60.0,
            battery_internal_resistance_ohm: 0.01,
            cable_resistance_ohm: 0.01,
            ambient_temperature_c: 25.0,
            time_of_day_h: 12.0,
            sunrise_h: 6.0,
            sunset_h: 20.0,
        }
    }
}

/// Daily history (text H19..H23, HSDS; registers 0xEDD0..0xEDDD).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Yields {
    pub total_kwh: f64,
    pub today_kwh: f64,
    pub max_power_today_w: f64,
    pub yesterday_kwh: f64,
    pub max_power_yesterday_w: f64,
    pub day_sequence: u16,
}

/// The simulated surroundings: sun, loads, temperatures.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Environment {
    pub time_of_day_h: f64,
    pub pv_power_override_w: Option<f64>,
    pub irradiance_w_m2: Option<f64>,
    pub ambient_c: f64,
    pub battery_load_a: f64,
    pub load_output_a: f64,
    pub load_on: bool,
    pub error: u8,
    /// Slow random cloud factor (0.85..=1).
    pub clouds: f64,
    pub pv_available_w: f64,
}

#[derive(Debug, Clone)]
pub struct MpptModel {
    pub(crate) config: MpptConfig,
    seed: u64,
    rng: SimRng,
    pub(crate) link: Link,
    pub(crate) charger: Charger,
    pub(crate) settings: MpptSettings,
    pub(crate) env: Environment,
    pub(crate) yields: Yields,
    pub(crate) remote: RemoteSense,
    pub(crate) uptime_s: u64,
    async_sent: BTreeMap<u16, Vec<u8>>,
    blocks_sent: u64,
    /// Measurement noise of this second (battery volts, amps, panel volts).
    noise: (f64, f64, f64),
    /// Integrals of the reported powers since start ([`crate::energy`]); kept by a reset.
    energy: Integrals,
}

impl MpptModel {
    pub fn new(config: MpptConfig, seed: u64) -> Self {
        let mut rng = SimRng::derive(seed, "mppt");
        let nominal = if config.nominal_voltage.is_finite() && config.nominal_voltage > 0.0 {
            config.nominal_voltage
        } else {
            12.0
        };
        let charger = Charger::new(
            nominal,
            config.battery_capacity_ah,
            config.initial_soc_percent / 100.0,
            config.battery_internal_resistance_ohm.max(0.0),
            config.cable_resistance_ohm.max(0.0),
        );
        let seeded_total = rng.range(SEED_TOTAL_KWH.0, SEED_TOTAL_KWH.1);
        let yields = Yields {
            total_kwh: config
                .initial_yield_total_kwh
                .filter(|k| k.is_finite() && *k >= 0.0)
                .unwrap_or(seeded_total),
            today_kwh: 0.0,
            max_power_today_w: 0.0,
            yesterday_kwh: rng.range(SEED_YESTERDAY_KWH.0, SEED_YESTERDAY_KWH.1),
            max_power_yesterday_w: rng
                .range(SEED_MAX_POWER_YESTERDAY_W.0, SEED_MAX_POWER_YESTERDAY_W.1)
                .round(),
            day_sequence: rng.range(SEED_DAY_SEQUENCE.0, SEED_DAY_SEQUENCE.1).floor() as u16,
        };
        let env = Environment {
            time_of_day_h: if config.time_of_day_h.is_finite() {
                config.time_of_day_h.rem_euclid(24.0)
            } else {
                12.0
            },
            pv_power_override_w: None,
            irradiance_w_m2: None,
            ambient_c: config.ambient_temperature_c,
            battery_load_a: 0.0,
            load_output_a: 0.0,
            load_on: true,
            error: 0,
            clouds: 1.0,
            pv_available_w: 0.0,
        };
        let mut m = MpptModel {
            link: Link::new(config.firmware_mode, config.text_resume_after_s),
            settings: MpptSettings::from_config(&config, nominal),
            config,
            seed,
            rng,
            charger,
            env,
            yields,
            remote: RemoteSense::default(),
            uptime_s: 0,
            async_sent: BTreeMap::new(),
            blocks_sent: 0,
            noise: (0.0, 0.0, 0.0),
            energy: Integrals::default(),
        };
        m.charger.internal_temp_c = m.env.ambient_c;
        m.env.pv_available_w = m.pv_available();
        m
    }

    pub fn config(&self) -> &MpptConfig {
        &self.config
    }

    /// Read a register as the device would answer a HEX get (for the control API).
    pub fn read_register(&self, id: u16) -> Option<Vec<u8>> {
        match self.get_register(id) {
            RegRead::Value(v) => Some(v),
            RegRead::Unknown => None,
        }
    }

    pub(crate) fn fw(&self) -> u16 {
        self.config.firmware
    }

    pub(crate) fn version_word(&self) -> u16 {
        version_word(self.config.firmware)
    }

    /// Remote temperature is in use while fresh.
    pub(crate) fn tsense_in_use(&self) -> bool {
        self.remote.temperature.raw.is_some()
    }

    /// Remote voltage is in use while fresh and within ±5 V of the terminal voltage.
    pub(crate) fn vsense_in_use(&self) -> bool {
        self.remote
            .voltage_v()
            .is_some_and(|v| (v - self.charger.terminal_v).abs() <= 5.0)
    }

    /// The battery temperature the charge algorithm uses.
    pub(crate) fn battery_temp_used_c(&self) -> f64 {
        self.remote.temperature_c().unwrap_or(self.env.ambient_c)
    }

    /// Charge voltage set-point now (0x2001): the stage target, temperature compensated.
    pub(crate) fn charge_setpoint_v(&self) -> f64 {
        let s = self.settings.charge();
        let stage = match self.charger.stage {
            super::charger::Stage::Float => super::charger::Stage::Float,
            _ => super::charger::Stage::Absorption,
        };
        Charger::stage_target(&s, stage, self.battery_temp_used_c())
    }

    fn pv_available(&self) -> f64 {
        let peak = self.config.panel_peak_w.max(0.0);
        if let Some(p) = self.env.pv_power_override_w {
            return p;
        }
        if let Some(irr) = self.env.irradiance_w_m2 {
            return peak * irr / 1000.0;
        }
        let (rise, set) = (self.config.sunrise_h, self.config.sunset_h);
        let t = self.env.time_of_day_h;
        if set <= rise || t <= rise || t >= set {
            return 0.0;
        }
        let elevation = (std::f64::consts::PI * (t - rise) / (set - rise)).sin();
        peak * elevation.powf(1.3) * self.env.clouds
    }

    fn tick(&mut self) {
        self.uptime_s += 1;
        self.step_environment(1.0);
        let inputs = ChargeInputs {
            pv_available_w: self.env.pv_available_w,
            battery_temp_c: self.battery_temp_used_c(),
            vsense_in_use: self.vsense_in_use(),
            enabled: self.settings.device_on(),
            error: self.env.error,
            ambient_c: self.env.ambient_c,
            load_output_a: if self.config.load_output && self.env.load_on {
                self.env.load_output_a
            } else {
                0.0
            },
            battery_load_a: self.env.battery_load_a,
            panel_vmp_v: self.config.panel_vmp_v,
            panel_voc_v: self.config.panel_voc_v,
        };
        let settings = self.settings.charge();
        self.charger.step(1.0, &settings, &inputs);
        let charging = self.charger.charger_current_a > 0.0;
        self.noise = (
            self.rng.range(-NOISE_V, NOISE_V),
            if charging {
                self.rng.range(-NOISE_A, NOISE_A)
            } else {
                0.0
            },
            if self.charger.pv_voltage_v > 1.0 {
                self.rng.range(-NOISE_VPV, NOISE_VPV)
            } else {
                0.0
            },
        );
        self.add_yield(1.0);
        self.integrate_energy(1.0);
        if self.link.text_active() {
            self.push_text();
        }
        self.push_asyncs();
    }

    fn step_environment(&mut self, dt_s: f64) {
        let before = self.env.time_of_day_h;
        let after = before + dt_s / 3600.0;
        if after >= 24.0 {
            self.new_day();
        }
        self.env.time_of_day_h = after.rem_euclid(24.0);
        let drift = self.rng.range(-0.004, 0.004);
        self.env.clouds = (self.env.clouds + drift).clamp(0.85, 1.0);
        self.env.pv_available_w = self.pv_available();
    }

    fn new_day(&mut self) {
        let y = &mut self.yields;
        y.yesterday_kwh = y.today_kwh;
        y.max_power_yesterday_w = y.max_power_today_w;
        y.today_kwh = 0.0;
        y.max_power_today_w = 0.0;
        y.day_sequence = (y.day_sequence + 1) % DAYS_PER_SEQUENCE;
    }

    fn add_yield(&mut self, dt_s: f64) {
        let p = self.charger.output_power_w;
        let kwh = p * dt_s / 3.6e6;
        let y = &mut self.yields;
        y.today_kwh += kwh;
        y.total_kwh += kwh;
        y.max_power_today_w = y.max_power_today_w.max(p);
    }

    /// Text `V`, mV.
    fn text_v_mv(&self) -> i64 {
        round_i64(self.measured_v() * 1000.0)
    }

    /// Text `I`, mA.
    fn text_i_ma(&self) -> i64 {
        round_i64(self.output_battery_current() * 1000.0)
    }

    /// Text `IL`, mA (sent only by models with a load output).
    fn text_il_ma(&self) -> Option<i64> {
        self.config
            .load_output
            .then(|| round_i64(self.load_output_current() * 1000.0))
    }

    /// Text `PPV`, W.
    fn text_ppv_w(&self) -> i64 {
        round_i64(self.charger.pv_power_w)
    }

    /// One second of the integrals, from the text fields as sent after this second's step. H19
    /// counts the charger output, which the text shows as `V × (I + IL)` (`I` is the battery
    /// current, the charger output less the load output).
    fn integrate_energy(&mut self, seconds: f64) {
        let v = self.text_v_mv() as f64 / 1000.0;
        let i = (self.text_i_ma() + self.text_il_ma().unwrap_or(0)) as f64 / 1000.0;
        let ppv = self.text_ppv_w() as f64;
        self.energy.add(PV_ENERGY, v * i, seconds);
        self.energy.add(PANEL_ENERGY, ppv, seconds);
    }

    /// The energy counters: `pv_energy` (charger output, next to H19's total) and
    /// `panel_energy` (`PPV`, no device counter: the charger's losses lie between the two).
    pub fn energy(&self) -> Vec<Counter> {
        vec![
            Counter::new(PV_ENERGY, Some(self.yields.total_kwh), &self.energy),
            Counter::new(PANEL_ENERGY, None, &self.energy),
        ]
    }

    pub(crate) fn text_fields(&self) -> (Fields, Fields) {
        let c = &self.charger;
        let fw = self.fw();
        let mut a: Vec<(&'static str, String)> = vec![
            ("PID", format!("0x{:X}", self.config.product_id)),
            ("FW", fw.to_string()),
            ("SER#", self.config.serial.clone()),
            ("V", self.text_v_mv().to_string()),
            ("I", self.text_i_ma().to_string()),
            ("VPV", round_i64(self.measured_vpv() * 1000.0).to_string()),
            ("PPV", self.text_ppv_w().to_string()),
            ("CS", c.stage.code().to_string()),
        ];
        if fw >= 137 {
            a.push(("MPPT", c.tracker.to_string()));
        }
        if fw >= 144 {
            a.push(("OR", format!("0x{:08X}", c.off_reason)));
        }
        let y = &self.yields;
        let mut b: Vec<(&'static str, String)> = vec![("ERR", self.env.error.to_string())];
        b.push((
            "LOAD",
            if self.env.load_on { "ON" } else { "OFF" }.to_owned(),
        ));
        if let Some(il) = self.text_il_ma() {
            b.push(("IL", il.to_string()));
        }
        b.push(("H19", round_i64(y.total_kwh * 100.0).to_string()));
        b.push(("H20", round_i64(y.today_kwh * 100.0).to_string()));
        b.push(("H21", round_i64(y.max_power_today_w).to_string()));
        b.push(("H22", round_i64(y.yesterday_kwh * 100.0).to_string()));
        b.push(("H23", round_i64(y.max_power_yesterday_w).to_string()));
        if fw >= 116 {
            b.push(("HSDS", y.day_sequence.to_string()));
        }
        (a, b)
    }

    fn push_text(&mut self) {
        let (mut a, b) = self.text_fields();
        if self.config.split_text_block {
            self.link.push(text_block(&a));
            self.link.push(text_block(&b));
        } else {
            a.extend(b);
            self.link.push(text_block(&a));
        }
        self.blocks_sent += 1;
    }

    pub(crate) fn load_output_current(&self) -> f64 {
        if self.config.load_output && self.env.load_on {
            self.env.load_output_a
        } else {
            0.0
        }
    }

    /// Text `I`: battery current = charger current minus the load output.
    pub(crate) fn output_battery_current(&self) -> f64 {
        self.measured_charger_current() - self.load_output_current()
    }

    /// Battery voltage at the charger terminals as measured (0xEDD5, text `V`).
    pub(crate) fn measured_v(&self) -> f64 {
        self.charger.terminal_v + self.noise.0
    }

    /// Charger output current as measured (0xEDD7).
    pub(crate) fn measured_charger_current(&self) -> f64 {
        (self.charger.charger_current_a + self.noise.1).max(0.0)
    }

    /// Panel voltage as measured (0xEDBB, text `VPV`).
    pub(crate) fn measured_vpv(&self) -> f64 {
        (self.charger.pv_voltage_v + self.noise.2).max(0.0)
    }

    /// Registers sent as `:A` frames when they change.
    fn async_registers(&self) -> Vec<u16> {
        let mut ids = vec![0x0201, 0xEDBB, 0xEDBC, 0xEDDB, 0xEDD7];
        if self.fw() >= 126 {
            ids.extend([0xEDD5, 0xED8D]);
        }
        ids
    }

    fn push_asyncs(&mut self) {
        if !self.config.async_frames || self.fw() < 117 {
            return;
        }
        let recent = self
            .link
            .since_last_hex_ms()
            .is_some_and(|ms| ms < ASYNC_WINDOW_MS);
        if !recent {
            return;
        }
        for id in self.async_registers() {
            if let Some(value) = self.read_register(id) {
                if self.async_sent.get(&id) != Some(&value) {
                    self.link.push(async_frame(id, &value));
                    self.async_sent.insert(id, value);
                }
            }
        }
    }

    /// Remote values time out 60 s after the last write; fw >= 1.26 reports it (vectors H27, H48).
    fn expire_remote(&mut self) {
        let now = self.link.now_ms;
        let report = self.config.async_frames && self.fw() >= 126;
        if self.remote.voltage.expire(now) && report {
            self.link.push(async_frame(REG_VSENSE, &le_u16(VSENSE_NA)));
        }
        if self.remote.temperature.expire(now) && report {
            self.link.push(async_frame(REG_TSENSE, &le_i16(TSENSE_NA)));
        }
    }

    /// HEX restart: remote values, async state and HEX mode are lost; charging state stays.
    pub(crate) fn restart_device(&mut self) {
        self.link.restart();
        self.remote = RemoteSense::default();
        self.async_sent.clear();
        self.uptime_s = 0;
    }
}

impl VeDevice for MpptModel {
    fn advance(&mut self, dt: Duration) {
        let target = self.link.target(dt);
        while self.link.next_tick(target).is_some() {
            self.expire_remote();
            self.tick();
        }
        self.link.finish(target);
        self.expire_remote();
    }

    fn receive(&mut self, bytes: &[u8]) {
        super::hexcmd::receive_hex(self, bytes);
    }

    fn take_output(&mut self) -> Vec<u8> {
        self.link.take()
    }

    fn snapshot(&self) -> Json {
        let now = self.link.now_ms;
        let (a, b) = self.text_fields();
        let text: serde_json::Map<String, Json> = a
            .iter()
            .chain(b.iter())
            .map(|(k, v)| ((*k).to_owned(), Json::from(v.as_str())))
            .collect();
        json!({
            "device": "mppt",
            "product_id": format!("0x{:04X}", self.config.product_id),
            "serial": self.config.serial,
            "firmware": self.config.firmware,
            "uptime_s": self.uptime_s,
            "blocks_sent": self.blocks_sent,
            "link": self.link.snapshot(),
            "environment": self.env,
            "charger": self.charger,
            "charge_setpoint_v": self.charge_setpoint_v(),
            "battery_temperature_used_c": self.battery_temp_used_c(),
            "yields": self.yields,
            "remote": {
                "voltage_v": self.remote.voltage_v(),
                "voltage_in_use": self.vsense_in_use(),
                "voltage_age_s": self.remote.voltage.age_s(now),
                "voltage_expires_in_s": self.remote.voltage.remaining_s(now),
                "temperature_c": self.remote.temperature_c(),
                "temperature_in_use": self.tsense_in_use(),
                "temperature_age_s": self.remote.temperature.age_s(now),
                "temperature_expires_in_s": self.remote.temperature.remaining_s(now),
            },
            "settings": self.settings.snapshot(),
            "text": Json::Object(text),
        })
    }

    fn set_env(&mut self, key: &str, value: &Json) -> Result<(), SimError> {
        let env = &mut self.env;
        match key {
            "pv_power_w" => env.pv_power_override_w = optional_number_in(key, value, 0.0, 1e6)?,
            "irradiance_w_m2" => env.irradiance_w_m2 = optional_number_in(key, value, 0.0, 2000.0)?,
            "time_of_day_h" => {
                env.time_of_day_h = number_in(key, value, 0.0, 24.0)?.rem_euclid(24.0)
            }
            "ambient_temperature_c" => env.ambient_c = number_in(key, value, -60.0, 100.0)?,
            "battery_load_a" => env.battery_load_a = number_in(key, value, 0.0, 10_000.0)?,
            "load_output_a" => env.load_output_a = number_in(key, value, 0.0, 1_000.0)?,
            "load_on" => {
                env.load_on = value
                    .as_bool()
                    .ok_or_else(|| SimError::invalid(key, "expected a boolean"))?;
            }
            "error_code" => {
                let v = number_in(key, value, 0.0, 255.0)?;
                env.error = v as u8;
            }
            "battery_soc_percent" => {
                self.charger.soc = number_in(key, value, 0.0, 100.0)? / 100.0;
            }
            _ => return Err(SimError::UnknownKey(key.to_owned())),
        }
        self.env.pv_available_w = self.pv_available();
        Ok(())
    }

    fn reset(&mut self) {
        let energy = std::mem::take(&mut self.energy);
        *self = MpptModel::new(self.config.clone(), self.seed);
        self.energy = energy;
    }
}
