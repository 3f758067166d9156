//! Static description of the simulated unit (what a TOML `[inverter]` table sets).
//!
//! Follows the identity and rating fields of the PI30 specs: QID (14-digit serial, spec 2.2),
//! QSID (MAX spec 2.3), QVFW/QVFW2 (2.3/2.4), QMN/QGMN (MAX spec 2.21/2.22), QPIRI ratings (2.7),
//! QMCHGCR/QMUCHGCR selectable currents (2.16/2.17) and the PI30 vs MAX reply layouts.

use serde::{Deserialize, Serialize};

use super::SimError;

/// Reply layout family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// Classic PI30 (Axpert MKS/KS, firmware 72.70): 21-field QPIGS, 25-field QPIRI, no PV2.
    #[default]
    Pi30,
    /// PI30 MAX (Axpert MAX, PIP-MAX): 24-field QPIGS, 28-field QPIRI, QPIGS2 for PV2.
    Max,
}

/// Protocol personality: which Voltronic protocol family the unit speaks on the wire
/// (`../shared/reference/pi18/README.md` §4). `pi30` and `pi30max` are the full PI30 model
/// (`pi30max` is the same as `variant = "max"`); `pi18` is a full PI18 model of the same unit
/// (`pi18.rs`); `pi17` and `pi16` only answer the identification probes (`families.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Pi30,
    Pi30Max,
    Pi18,
    Pi17,
    Pi16,
}

impl Protocol {
    /// The config / API spelling (`pi30max`).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Pi30 => "pi30",
            Protocol::Pi30Max => "pi30max",
            Protocol::Pi18 => "pi18",
            Protocol::Pi17 => "pi17",
            Protocol::Pi16 => "pi16",
        }
    }
}

/// Configuration of one simulated inverter (or parallel stack of identical units).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct InverterConfig {
    /// 14-digit serial number of unit 0; unit i of a parallel stack gets serial + i.
    pub serial: String,
    /// QMN reply text (model name and rated VA).
    pub model_name: String,
    /// QGMN reply text (general model number).
    pub general_model: String,
    /// Main CPU firmware, `NNNNN.NN` (QVFW answers `VERFW:` + this).
    pub firmware: String,
    /// Secondary CPU firmware, `NNNNN.NN` (QVFW2 answers `VERFW2:` + this).
    pub firmware2: String,
    pub variant: Variant,
    /// Protocol personality (default `pi30`). `pi30max` implies `variant = "max"`, and a
    /// `variant = "max"` unit left at the default `pi30` is reported as `pi30max`; `pi18`,
    /// `pi17` and `pi16` keep `variant` for the physics (PV2 exists with `max`).
    pub protocol: Protocol,
    /// Rated apparent power (VA); above 9999 the power fields get 5 digits.
    pub rated_va: u32,
    /// Rated active power (W).
    pub rated_w: u32,
    /// Nominal battery voltage: 12, 24 or 48.
    pub nominal_battery_v: u32,
    /// Number of units in parallel (1 = standalone).
    pub parallel_units: u32,
    /// Capacity of the (shared) battery bank.
    pub battery_capacity_ah: f64,
    /// Also escape CRC bytes equal to 0x00 in replies (some firmware).
    pub escape_zero_crc: bool,
    /// `(NAK` carries a CRC (`(NAKss\r`); false gives the bare `(NAK\r` of some firmware.
    pub nak_with_crc: bool,
    /// AC output / grid rating voltage (230.0 for HV models, 120.0 for LV models).
    pub rated_output_v: f64,
    /// Default AC output frequency (50 or 60).
    pub rated_frequency_hz: u32,
    /// QMCHGCR list (A).
    pub max_charge_currents: Vec<u32>,
    /// QMUCHGCR list (A).
    pub max_ac_charge_currents: Vec<u32>,
    /// Default max charging current (A), restored by PF; must be in `max_charge_currents`.
    pub default_max_charge_a: u32,
    /// Default max utility charging current (A); must be in `max_ac_charge_currents`.
    pub default_max_ac_charge_a: u32,
    /// Peak PV power per unit at noon on a clear day (W), PV1 + PV2.
    pub pv_peak_w: f64,
    /// PV maximum-power-point voltage (V); default 105 V (PI30) or 320 V (MAX).
    pub pv_vmp_v: Option<f64>,
    /// PV open-circuit voltage (V); default 130 V (PI30) or 400 V (MAX).
    pub pv_voc_v: Option<f64>,
    /// Share of the PV power on the second tracker (MAX only).
    pub pv2_fraction: f64,
    /// Sunrise and sunset (hours of the day).
    pub sunrise_h: f64,
    pub sunset_h: f64,
    /// Start conditions.
    pub start_time_of_day_h: f64,
    pub start_soc_percent: f64,
    /// Lifetime PV and load energy (QET/QLT) of unit 0 at start, instead of a seeded used
    /// unit's (`sungate demo` hands over what its history backfill ended with).
    pub start_pv_energy_kwh: Option<f64>,
    pub start_load_energy_kwh: Option<f64>,
    pub base_load_w: f64,
    pub load_power_factor: f64,
    pub ambient_c: f64,
    pub grid_available: bool,
}

impl Default for InverterConfig {
    fn default() -> Self {
        InverterConfig {
            serial: "92932309100452".to_owned(),
            model_name: "MKS2-5000".to_owned(),
            general_model: "044".to_owned(),
            firmware: "00072.70".to_owned(),
            firmware2: "00072.70".to_owned(),
            variant: Variant::Pi30,
            protocol: Protocol::Pi30,
            rated_va: 5000,
            rated_w: 4000,
            nominal_battery_v: 48,
            parallel_units: 1,
            battery_capacity_ah: 200.0,
            escape_zero_crc: false,
            nak_with_crc: true,
            rated_output_v: 230.0,
            rated_frequency_hz: 50,
            max_charge_currents: vec![10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120],
            max_ac_charge_currents: vec![2, 10, 20, 30, 40, 50, 60],
            default_max_charge_a: 60,
            default_max_ac_charge_a: 30,
            pv_peak_w: 3000.0,
            pv_vmp_v: None,
            pv_voc_v: None,
            pv2_fraction: 0.5,
            sunrise_h: 6.0,
            sunset_h: 18.0,
            start_time_of_day_h: 10.0,
            start_soc_percent: 80.0,
            start_pv_energy_kwh: None,
            start_load_energy_kwh: None,
            base_load_w: 400.0,
            load_power_factor: 0.85,
            ambient_c: 25.0,
            grid_available: true,
        }
    }
}

fn invalid(key: &str, reason: impl Into<String>) -> SimError {
    SimError::InvalidValue {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

impl InverterConfig {
    /// Checks the configuration; `InverterModel::new` also accepts invalid ones (it repairs them),
    /// so a front end should call this first to report mistakes.
    pub fn validate(&self) -> Result<(), SimError> {
        if self.serial.len() != 14 || !self.serial.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("serial", "must be 14 digits"));
        }
        if ![12, 24, 48].contains(&self.nominal_battery_v) {
            return Err(invalid("nominal_battery_v", "must be 12, 24 or 48"));
        }
        if !(1..=9).contains(&self.parallel_units) {
            return Err(invalid("parallel_units", "must be 1..=9"));
        }
        if self.rated_va == 0 || self.rated_w == 0 || self.rated_w > self.rated_va {
            return Err(invalid("rated_w", "need 0 < rated_w <= rated_va"));
        }
        if self.rated_va > 99_999 {
            return Err(invalid("rated_va", "at most 99999"));
        }
        if ![50, 60].contains(&self.rated_frequency_hz) {
            return Err(invalid("rated_frequency_hz", "must be 50 or 60"));
        }
        if !self
            .max_charge_currents
            .contains(&self.default_max_charge_a)
        {
            return Err(invalid(
                "default_max_charge_a",
                "must be one of max_charge_currents",
            ));
        }
        if !self
            .max_ac_charge_currents
            .contains(&self.default_max_ac_charge_a)
        {
            return Err(invalid(
                "default_max_ac_charge_a",
                "must be one of max_ac_charge_currents",
            ));
        }
        if self.max_charge_currents.iter().any(|&a| a > 999)
            || self.max_ac_charge_currents.iter().any(|&a| a > 999)
        {
            return Err(invalid("max_charge_currents", "values up to 999 A"));
        }
        if !self.battery_capacity_ah.is_finite() || self.battery_capacity_ah <= 0.0 {
            return Err(invalid("battery_capacity_ah", "must be > 0"));
        }
        if !(self.sunrise_h >= 0.0 && self.sunrise_h < self.sunset_h && self.sunset_h <= 24.0) {
            return Err(invalid("sunrise_h", "need 0 <= sunrise < sunset <= 24"));
        }
        if !(0.1..=1.0).contains(&self.load_power_factor) {
            return Err(invalid("load_power_factor", "must be in 0.1..=1"));
        }
        Ok(())
    }

    /// A copy with every invalid field replaced by its default (what `new` runs on).
    pub(crate) fn repaired(mut self) -> Self {
        let d = InverterConfig::default();
        match (self.protocol, self.variant) {
            (Protocol::Pi30Max, _) => self.variant = Variant::Max,
            (Protocol::Pi30, Variant::Max) => self.protocol = Protocol::Pi30Max,
            _ => {}
        }
        if self.serial.len() != 14 || !self.serial.bytes().all(|b| b.is_ascii_digit()) {
            self.serial = d.serial;
        }
        if ![12, 24, 48].contains(&self.nominal_battery_v) {
            self.nominal_battery_v = 48;
        }
        self.parallel_units = self.parallel_units.clamp(1, 9);
        self.rated_va = self.rated_va.clamp(100, 99_999);
        self.rated_w = self.rated_w.clamp(100, self.rated_va);
        if ![50, 60].contains(&self.rated_frequency_hz) {
            self.rated_frequency_hz = 50;
        }
        self.max_charge_currents.retain(|&a| (1..=999).contains(&a));
        if self.max_charge_currents.is_empty() {
            self.max_charge_currents = d.max_charge_currents;
        }
        self.max_ac_charge_currents
            .retain(|&a| (1..=999).contains(&a));
        if self.max_ac_charge_currents.is_empty() {
            self.max_ac_charge_currents = d.max_ac_charge_currents;
        }
        if !self
            .max_charge_currents
            .contains(&self.default_max_charge_a)
        {
            self.default_max_charge_a = self.max_charge_currents[0];
        }
        if !self
            .max_ac_charge_currents
            .contains(&self.default_max_ac_charge_a)
        {
            self.default_max_ac_charge_a = self.max_ac_charge_currents[0];
        }
        if !self.battery_capacity_ah.is_finite() || self.battery_capacity_ah <= 0.0 {
            self.battery_capacity_ah = d.battery_capacity_ah;
        }
        if !(self.sunrise_h >= 0.0 && self.sunrise_h < self.sunset_h && self.sunset_h <= 24.0) {
            self.sunrise_h = d.sunrise_h;
            self.sunset_h = d.sunset_h;
        }
        if !(0.1..=1.0).contains(&self.load_power_factor) {
            self.load_power_factor = d.load_power_factor;
        }
        if !self.pv_peak_w.is_finite() || self.pv_peak_w < 0.0 {
            self.pv_peak_w = d.pv_peak_w;
        }
        self.pv2_fraction = if self.pv2_fraction.is_finite() {
            self.pv2_fraction.clamp(0.0, 1.0)
        } else {
            d.pv2_fraction
        };
        if !self.rated_output_v.is_finite() || !(90.0..=260.0).contains(&self.rated_output_v) {
            self.rated_output_v = d.rated_output_v;
        }
        self.start_time_of_day_h = if self.start_time_of_day_h.is_finite() {
            self.start_time_of_day_h.rem_euclid(24.0)
        } else {
            d.start_time_of_day_h
        };
        self.start_soc_percent = if self.start_soc_percent.is_finite() {
            self.start_soc_percent.clamp(0.0, 100.0)
        } else {
            d.start_soc_percent
        };
        if !self.base_load_w.is_finite() || self.base_load_w < 0.0 {
            self.base_load_w = d.base_load_w;
        }
        if !self.ambient_c.is_finite() {
            self.ambient_c = d.ambient_c;
        }
        self
    }

    /// Battery voltage scale relative to a 48 V unit (0.25, 0.5 or 1).
    pub fn battery_scale(&self) -> f64 {
        f64::from(self.nominal_battery_v) / 48.0
    }

    pub fn pv_vmp(&self) -> f64 {
        self.pv_vmp_v.unwrap_or(match self.variant {
            Variant::Pi30 => 105.0,
            Variant::Max => 320.0,
        })
    }

    pub fn pv_voc(&self) -> f64 {
        let voc = self.pv_voc_v.unwrap_or(match self.variant {
            Variant::Pi30 => 130.0,
            Variant::Max => 400.0,
        });
        voc.max(self.pv_vmp())
    }

    /// Serial number of unit `i` of the stack.
    pub fn unit_serial(&self, i: u32) -> String {
        let base: u64 = self.serial.parse().unwrap_or(0);
        format!("{:014}", (base + u64::from(i)) % 100_000_000_000_000)
    }

    /// "Max charger range" of QPGS: the largest selectable charging current.
    pub fn max_charge_range(&self) -> u32 {
        self.max_charge_currents.iter().copied().max().unwrap_or(0)
    }

    /// Parallel max num field of QPIRI.
    pub fn parallel_max(&self) -> u32 {
        match self.variant {
            Variant::Pi30 => 6,
            Variant::Max => 9,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_partial_json_overrides() {
        InverterConfig::default().validate().unwrap();
        let c: InverterConfig =
            serde_json::from_str(r#"{"variant":"max","rated_va":11000,"rated_w":11000}"#).unwrap();
        assert_eq!(c.variant, Variant::Max);
        assert_eq!(c.rated_va, 11000);
        assert_eq!(c.serial, InverterConfig::default().serial);
        assert!(serde_json::from_str::<InverterConfig>(r#"{"bogus":1}"#).is_err());
    }

    #[test]
    fn protocol_key_parses_and_agrees_with_variant() {
        assert_eq!(InverterConfig::default().protocol, Protocol::Pi30);
        for (text, p) in [
            ("pi30", Protocol::Pi30),
            ("pi30max", Protocol::Pi30Max),
            ("pi18", Protocol::Pi18),
            ("pi17", Protocol::Pi17),
            ("pi16", Protocol::Pi16),
        ] {
            let c: InverterConfig =
                serde_json::from_str(&format!(r#"{{"protocol":"{text}"}}"#)).unwrap();
            assert_eq!(c.protocol, p);
            assert_eq!(p.name(), text);
        }
        assert!(serde_json::from_str::<InverterConfig>(r#"{"protocol":"pi41"}"#).is_err());
        let max: InverterConfig = serde_json::from_str(r#"{"protocol":"pi30max"}"#).unwrap();
        assert_eq!(max.repaired().variant, Variant::Max);
        let by_variant: InverterConfig = serde_json::from_str(r#"{"variant":"max"}"#).unwrap();
        assert_eq!(by_variant.repaired().protocol, Protocol::Pi30Max);
        let pi18: InverterConfig =
            serde_json::from_str(r#"{"protocol":"pi18","variant":"max"}"#).unwrap();
        let pi18 = pi18.repaired();
        assert_eq!(
            (pi18.protocol, pi18.variant),
            (Protocol::Pi18, Variant::Max)
        );
    }

    #[test]
    fn repaired_fixes_invalid_fields() {
        let c = InverterConfig {
            serial: "12".into(),
            nominal_battery_v: 36,
            parallel_units: 0,
            ..InverterConfig::default()
        };
        assert!(c.validate().is_err());
        let r = c.repaired();
        r.validate().unwrap();
        assert_eq!(r.unit_serial(2), "92932309100454");
    }
}
