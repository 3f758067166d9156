//! Simulated BMV-712 Smart battery monitor: configuration, state and the two text blocks it sends
//! every second ("VE.Direct Protocol" 3.33, field table and "Fields"; vectors T3, T4, T10: main
//! block PID V [VS|VM DM|T] I P CE SOC TTG Alarm Relay AR BMV FW [MON], then H1..H18).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::battery::{Battery, MonitorSettings};
use super::bmv_regs::Settings;
use super::error::{SimError, number_in, optional_number_in};
use super::link::Link;
use super::wire::{round_i64, text_block, version_word};
use super::{FirmwareMode, VeDevice};
use crate::energy::{BATTERY_CHARGED_ENERGY, BATTERY_DISCHARGED_ENERGY, Counter, Integrals};
use crate::rng::SimRng;

/// What the BMV's auxiliary input measures (BMV700 HEX register 0xEEF8: START, MID, TEMP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuxInput {
    /// No auxiliary input (BMV-700).
    None,
    /// Starter battery voltage: text `VS`, history H15/H16.
    Starter,
    /// Mid-point voltage: text `VM` and `DM`.
    Midpoint,
    /// Battery temperature: text `T` (`---` without a sensor), register 0xEDEC.
    Temperature,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BmvConfig {
    /// Product id (text `PID`, HEX command 4): 0xA381 = BMV-712 Smart.
    pub product_id: u16,
    /// Serial number (register 0x010A; not in the BMV text output).
    pub serial: String,
    /// Model name (register 0x010B).
    pub model_name: String,
    /// Text field `BMV` (deprecated model description).
    pub model_text: String,
    /// Firmware as in text `FW` without leading zeros: 413 = v4.13 (MON field from 4.08).
    pub firmware: u16,
    pub firmware_mode: FirmwareMode,
    /// Older implementations resume Text mode this long after the last valid HEX frame.
    pub text_resume_after_s: f64,
    /// Send the H1..H18 history block after the main block. `history_block = false` in
    /// `[device.bmv]`: the main block only, so a client sees no H17/H18 energy counters and has
    /// to integrate `P` instead.
    pub history_block: bool,
    /// Lifetime charged (H18) and discharged (H17) energy at start, instead of a seeded used
    /// battery's (`sungate demo` hands over what its history backfill ended with).
    pub initial_charged_kwh: Option<f64>,
    pub initial_discharged_kwh: Option<f64>,
    pub nominal_voltage: f64,
    pub capacity_ah: u16,
    pub initial_soc_percent: f64,
    pub aux_input: AuxInput,
    /// `None` = no temperature sensor connected.
    pub battery_temperature_c: Option<f64>,
    pub load_current_a: f64,
    pub charge_current_a: f64,
    pub starter_voltage_v: f64,
    /// Internal resistance of a 12 V battery (scaled with the nominal voltage).
    pub internal_resistance_ohm: f64,
}

impl Default for BmvConfig {
    fn default() -> Self {
        BmvConfig {
            product_id: 0xA381,
            serial: "HQ2145XYZ7Q".into(),
            model_name: "BMV-712 Smart".into(),
            model_text: "712 Smart".into(),
            firmware: 413,
            firmware_mode: FirmwareMode::New,
            text_resume_after_s: 3.0,
            history_block: true,
            initial_charged_kwh: None,
            initial_discharged_kwh: None,
            nominal_voltage: 12.0,
            capacity_ah: 200,
            initial_soc_percent: 85.0,
            aux_input: AuxInput::Temperature,
            battery_temperature_c: Some(25.0),
            load_current_a: 4.0,
            charge_current_a: 0.0,
            starter_voltage_v: 12.7,
            internal_resistance_ohm: 0.01,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BmvModel {
    pub(crate) config: BmvConfig,
    seed: u64,
    pub(crate) rng: SimRng,
    pub(crate) link: Link,
    pub(crate) battery: Battery,
    pub(crate) settings: Settings,
    pub(crate) aux: AuxInput,
    pub(crate) uptime_s: u64,
    blocks_sent: u64,
    /// Integrals of the reported battery power since start ([`crate::energy`]); kept by a reset.
    energy: Integrals,
}

impl BmvModel {
    pub fn new(config: BmvConfig, seed: u64) -> Self {
        let mut rng = SimRng::derive(seed, "bmv");
        let nominal = if config.nominal_voltage.is_finite() && config.nominal_voltage > 0.0 {
            config.nominal_voltage
        } else {
            12.0
        };
        let capacity = config.capacity_ah.clamp(1, 9999);
        let mut settings = Settings::default();
        settings.set_raw(0x1000, capacity);
        let mut battery = Battery::new(
            nominal,
            config.initial_soc_percent / 100.0,
            f64::from(capacity),
            config.internal_resistance_ohm.max(0.0) * nominal / 12.0,
            &mut rng,
        );
        battery.load_a = config.load_current_a.max(0.0);
        battery.charge_a = config.charge_current_a.max(0.0);
        battery.temperature_c = config.battery_temperature_c;
        battery.aux_voltage_v = config.starter_voltage_v;
        let start = |k: Option<f64>| k.filter(|k| k.is_finite() && *k >= 0.0);
        if let Some(kwh) = start(config.initial_charged_kwh) {
            battery.history.charged_kwh = kwh;
        }
        if let Some(kwh) = start(config.initial_discharged_kwh) {
            battery.history.discharged_kwh = kwh;
        }
        BmvModel {
            link: Link::new(config.firmware_mode, config.text_resume_after_s),
            aux: config.aux_input,
            config,
            seed,
            rng,
            battery,
            settings,
            uptime_s: 0,
            blocks_sent: 0,
            energy: Integrals::default(),
        }
    }

    pub fn config(&self) -> &BmvConfig {
        &self.config
    }

    /// Read a register as the device would answer a HEX get (for the control API).
    pub fn read_register(&self, id: u16) -> Option<Vec<u8>> {
        match super::hexcmd::HexTarget::get_register(self, id) {
            super::hexcmd::RegRead::Value(v) => Some(v),
            super::hexcmd::RegRead::Unknown => None,
        }
    }

    pub(crate) fn monitor_settings(&self) -> MonitorSettings {
        self.settings.monitor()
    }

    pub(crate) fn version_word(&self) -> u16 {
        version_word(self.config.firmware)
    }

    fn tick(&mut self) {
        self.uptime_s += 1;
        let s = self.monitor_settings();
        self.battery.step(1.0, &s, &mut self.rng);
        // Every second, whether or not the block goes out (HEX traffic may pause the text): the
        // integral is of what the device measures and would report.
        let p = self.text_power_w() as f64;
        self.energy.add(BATTERY_CHARGED_ENERGY, p.max(0.0), 1.0);
        self.energy
            .add(BATTERY_DISCHARGED_ENERGY, (-p).max(0.0), 1.0);
        if self.link.text_active() {
            let main = text_block(&self.main_fields());
            self.link.push(main);
            if self.config.history_block {
                let hist = text_block(&self.history_fields());
                self.link.push(hist);
            }
            self.blocks_sent += 1;
        }
    }

    /// The main block, in the order the BMV-712 sends it.
    pub(crate) fn main_fields(&self) -> Vec<(&'static str, String)> {
        let b = &self.battery;
        let s = self.monitor_settings();
        let mut f: Vec<(&'static str, String)> = Vec::with_capacity(16);
        f.push(("PID", format!("0x{:X}", self.config.product_id)));
        f.push(("V", round_i64(b.voltage_v * 1000.0).to_string()));
        match self.aux {
            AuxInput::None => {}
            AuxInput::Starter => f.push(("VS", round_i64(b.aux_voltage_v * 1000.0).to_string())),
            AuxInput::Midpoint => {
                let vm = b.voltage_v / 2.0 * (1.0 + b.midpoint_deviation / 100.0);
                f.push(("VM", round_i64(vm * 1000.0).to_string()));
                f.push(("DM", round_i64(b.midpoint_deviation * 10.0).to_string()));
            }
            AuxInput::Temperature => f.push((
                "T",
                b.temperature_c
                    .map_or_else(|| "---".to_owned(), |t| round_i64(t).to_string()),
            )),
        }
        f.push(("I", round_i64(b.current_a * 1000.0).to_string()));
        f.push(("P", self.text_power_w().to_string()));
        f.push(("CE", round_i64(b.consumed_ah * 1000.0).to_string()));
        f.push(("SOC", round_i64(b.soc * 1000.0).to_string()));
        f.push((
            "TTG",
            b.time_to_go_min(&s)
                .map_or_else(|| "-1".to_owned(), |m| round_i64(m).to_string()),
        ));
        f.push(("Alarm", on_off(b.alarm_reason != 0)));
        f.push(("Relay", on_off(b.relay_on)));
        f.push(("AR", b.alarm_reason.to_string()));
        f.push(("BMV", self.config.model_text.clone()));
        f.push(("FW", format!("{:04}", self.config.firmware)));
        if self.config.firmware >= 408 {
            f.push(("MON", "0".to_owned()));
        }
        f
    }

    /// Text `P`: battery power in whole watts, + = charging.
    fn text_power_w(&self) -> i64 {
        round_i64(self.battery.voltage_v * self.battery.current_a)
    }

    /// The energy counters: the integrals of `P` split by sign, next to H18 (charged) and H17
    /// (discharged), which the device keeps in kWh.
    pub fn energy(&self) -> Vec<Counter> {
        let h = &self.battery.history;
        vec![
            Counter::new(BATTERY_CHARGED_ENERGY, Some(h.charged_kwh), &self.energy),
            Counter::new(
                BATTERY_DISCHARGED_ENERGY,
                Some(h.discharged_kwh),
                &self.energy,
            ),
        ]
    }

    /// The history block H1..H18 (H13/H14 are BMV-60x only; H15/H16 need a starter input).
    pub(crate) fn history_fields(&self) -> Vec<(&'static str, String)> {
        let h = &self.battery.history;
        let mah = |ah: f64| round_i64(ah * 1000.0).to_string();
        let mv = |v: f64| round_i64(v * 1000.0).to_string();
        let mut f: Vec<(&'static str, String)> = vec![
            ("H1", mah(h.deepest_discharge_ah)),
            ("H2", mah(h.last_discharge_ah)),
            ("H3", mah(h.average_discharge_ah)),
            ("H4", h.cycles.to_string()),
            ("H5", h.full_discharges.to_string()),
            ("H6", mah(h.cumulative_ah)),
            ("H7", mv(h.min_voltage_v)),
            ("H8", mv(h.max_voltage_v)),
            ("H9", h.seconds_since_full.to_string()),
            ("H10", h.synchronisations.to_string()),
            ("H11", h.low_voltage_alarms.to_string()),
            ("H12", h.high_voltage_alarms.to_string()),
        ];
        if self.aux == AuxInput::Starter {
            f.push(("H15", mv(h.min_aux_voltage_v)));
            f.push(("H16", mv(h.max_aux_voltage_v)));
        }
        f.push(("H17", round_i64(h.discharged_kwh * 100.0).to_string()));
        f.push(("H18", round_i64(h.charged_kwh * 100.0).to_string()));
        f
    }

    /// HEX restart: volatile state is lost, measurements and settings stay.
    pub(crate) fn restart_device(&mut self) {
        self.link.restart();
        self.uptime_s = 0;
    }
}

fn on_off(on: bool) -> String {
    if on { "ON" } else { "OFF" }.to_owned()
}

fn fields_json(fields: &[(&'static str, String)]) -> Json {
    let map: serde_json::Map<String, Json> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Json::from(v.as_str())))
        .collect();
    Json::Object(map)
}

impl VeDevice for BmvModel {
    fn advance(&mut self, dt: Duration) {
        let target = self.link.target(dt);
        while self.link.next_tick(target).is_some() {
            self.tick();
        }
        self.link.finish(target);
    }

    fn receive(&mut self, bytes: &[u8]) {
        super::hexcmd::receive_hex(self, bytes);
    }

    fn take_output(&mut self) -> Vec<u8> {
        self.link.take()
    }

    fn snapshot(&self) -> Json {
        let s = self.monitor_settings();
        json!({
            "device": "bmv",
            "product_id": format!("0x{:04X}", self.config.product_id),
            "serial": self.config.serial,
            "firmware": self.config.firmware,
            "uptime_s": self.uptime_s,
            "blocks_sent": self.blocks_sent,
            "link": self.link.snapshot(),
            "aux_input": self.aux,
            "battery": self.battery,
            "capacity_ah": s.capacity_ah,
            "time_to_go_min": self.battery.time_to_go_min(&s),
            "settings": self.settings.snapshot(),
            "text": {
                "main": fields_json(&self.main_fields()),
                "history": fields_json(&self.history_fields()),
            },
        })
    }

    fn set_env(&mut self, key: &str, value: &Json) -> Result<(), SimError> {
        let b = &mut self.battery;
        match key {
            "battery_temperature_c" => {
                b.temperature_c = optional_number_in(key, value, -60.0, 150.0)?;
            }
            "load_current_a" => b.load_a = number_in(key, value, 0.0, 10_000.0)?,
            "charge_current_a" => b.charge_a = number_in(key, value, 0.0, 10_000.0)?,
            "current_a" => {
                let i = number_in(key, value, -10_000.0, 10_000.0)?;
                b.charge_a = i.max(0.0);
                b.load_a = (-i).max(0.0);
            }
            "soc_percent" => {
                let soc = number_in(key, value, 0.0, 100.0)? / 100.0;
                let cap = self.settings.monitor().capacity_ah;
                b.soc = soc;
                b.consumed_ah = -(1.0 - soc) * cap;
            }
            "starter_voltage_v" => b.aux_voltage_v = number_in(key, value, 0.0, 100.0)?,
            "aux_input" => {
                self.aux = serde_json::from_value(value.clone())
                    .map_err(|e| SimError::invalid(key, e.to_string()))?;
            }
            "synchronise" => b.synchronise(),
            _ => return Err(SimError::UnknownKey(key.to_owned())),
        }
        Ok(())
    }

    fn reset(&mut self) {
        let energy = std::mem::take(&mut self.energy);
        *self = BmvModel::new(self.config.clone(), self.seed);
        self.energy = energy;
    }
}
