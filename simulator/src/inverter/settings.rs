//! The unit's EEPROM settings: what QPIRI (spec 2.7), QFLAG (2.8), QOPM (2.20), QCST/QCVT
//! (2.21/2.22) report and what the setters of spec section 3 change. Defaults follow QDI (2.15)
//! and PF (3.2): they survive `reset()` (a power cycle) and are restored only by `PF`.
//!
//! Voltages are stored in tenths of a volt so that setter validation is exact.

use serde::Serialize;

use super::config::{InverterConfig, Protocol, Variant};

/// Enable/disable flags of QFLAG / PE / PD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Flags {
    /// a: buzzer.
    pub buzzer: bool,
    /// b: overload bypass.
    pub overload_bypass: bool,
    /// d: solar feed to grid (MAX only).
    pub solar_feed_to_grid: bool,
    /// j: power saving (PI30 only).
    pub power_saving: bool,
    /// k: LCD returns to the default page after 1 min.
    pub lcd_escape: bool,
    /// l: data log pop-up (PI30 only).
    pub data_log_popup: bool,
    /// u: overload restart.
    pub overload_restart: bool,
    /// v: over-temperature restart.
    pub over_temperature_restart: bool,
    /// x: LCD backlight.
    pub backlight: bool,
    /// y: alarm on primary source interrupt.
    pub source_interrupt_alarm: bool,
    /// z: fault code record.
    pub fault_record: bool,
}

impl Flags {
    fn defaults() -> Self {
        Flags {
            buzzer: true,
            overload_bypass: false,
            solar_feed_to_grid: false,
            power_saving: false,
            lcd_escape: true,
            data_log_popup: false,
            overload_restart: false,
            over_temperature_restart: false,
            backlight: true,
            source_interrupt_alarm: true,
            fault_record: false,
        }
    }

    /// The flag letters this variant knows, in QFLAG order.
    pub fn letters(variant: Variant) -> &'static [u8] {
        match variant {
            Variant::Pi30 => b"abjkuvxyz",
            Variant::Max => b"abdkuvxyz",
        }
    }

    pub fn get(&self, letter: u8) -> Option<bool> {
        Some(match letter {
            b'a' => self.buzzer,
            b'b' => self.overload_bypass,
            b'd' => self.solar_feed_to_grid,
            b'j' => self.power_saving,
            b'k' => self.lcd_escape,
            b'l' => self.data_log_popup,
            b'u' => self.overload_restart,
            b'v' => self.over_temperature_restart,
            b'x' => self.backlight,
            b'y' => self.source_interrupt_alarm,
            b'z' => self.fault_record,
            _ => return None,
        })
    }

    pub fn set(&mut self, letter: u8, on: bool) -> bool {
        let slot = match letter {
            b'a' => &mut self.buzzer,
            b'b' => &mut self.overload_bypass,
            b'd' => &mut self.solar_feed_to_grid,
            b'j' => &mut self.power_saving,
            b'k' => &mut self.lcd_escape,
            b'l' => &mut self.data_log_popup,
            b'u' => &mut self.overload_restart,
            b'v' => &mut self.over_temperature_restart,
            b'x' => &mut self.backlight,
            b'y' => &mut self.source_interrupt_alarm,
            b'z' => &mut self.fault_record,
            _ => return false,
        };
        *slot = on;
        true
    }
}

/// Settings that exist once per unit of a parallel stack (MNCHGC, MUCHGC, PPCP, POPM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UnitSettings {
    pub max_charge_a: u32,
    pub max_ac_charge_a: u32,
    /// 0 utility first, 1 solar first, 2 solar + utility, 3 solar only.
    pub charger_priority: u8,
    /// 0 single, 1 parallel, 2..4 phase 1..3 of 3, 5..7 two-phase (MAX).
    pub output_mode: u8,
}

/// Everything the EEPROM holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Output rating frequency (F<nn>).
    pub frequency_hz: u32,
    /// Tenths of a volt.
    pub recharge_dv: u32,
    pub under_dv: u32,
    pub bulk_dv: u32,
    pub float_dv: u32,
    pub redischarge_dv: u32,
    /// 0 AGM, 1 flooded, 2 user (MAX: up to 9).
    pub battery_type: u8,
    /// 0 appliance, 1 UPS.
    pub input_range: u8,
    /// 0 utility first, 1 solar first, 2 SBU.
    pub output_priority: u8,
    /// 0 auto, 1 two-stage, 2 three-stage.
    pub charge_stage: u8,
    /// Minutes; 255 auto (PI30), 0 auto (MAX).
    pub cv_time_min: u32,
    /// 0 disabled or 30..=150 A (MAX only).
    pub max_discharge_a: u32,
    /// Battery voltage calibration (BTA), in steps of 0.05 V.
    pub battery_adjust_steps: i32,
    pub pv_ok_all: bool,
    pub pv_power_balance: bool,
    pub flags: Flags,
    /// Unit 0 is the unit this port talks to; QPIRI shows its values.
    pub units: Vec<UnitSettings>,
}

impl Settings {
    /// Factory defaults (QDI, PF).
    pub fn defaults(cfg: &InverterConfig) -> Self {
        let s = cfg.battery_scale();
        let dv = |v48: f64| (v48 * 10.0 * s).round() as u32;
        let charger_priority = match cfg.variant {
            Variant::Pi30 => 2,
            Variant::Max => 2,
        };
        let output_mode = u8::from(cfg.parallel_units > 1);
        Settings {
            frequency_hz: cfg.rated_frequency_hz,
            recharge_dv: dv(46.0),
            under_dv: dv(42.0),
            bulk_dv: dv(56.4),
            float_dv: dv(54.0),
            redischarge_dv: dv(54.0),
            battery_type: 0,
            input_range: 0,
            // PI18 has no utility-first output priority: its units default to solar first
            // (PI18 POP0, Solar-Utility-Battery).
            output_priority: u8::from(cfg.protocol == Protocol::Pi18),
            charge_stage: 0,
            cv_time_min: match cfg.variant {
                Variant::Pi30 => 255,
                Variant::Max => 0,
            },
            max_discharge_a: 0,
            battery_adjust_steps: 0,
            pv_ok_all: false,
            pv_power_balance: true,
            flags: Flags::defaults(),
            units: (0..cfg.parallel_units)
                .map(|_| UnitSettings {
                    max_charge_a: cfg.default_max_charge_a,
                    max_ac_charge_a: cfg.default_max_ac_charge_a,
                    charger_priority,
                    output_mode,
                })
                .collect(),
        }
    }

    /// Unit 0's per-unit settings (a stack always has at least one unit).
    pub fn unit0(&self) -> UnitSettings {
        self.units.first().copied().unwrap_or(UnitSettings {
            max_charge_a: 0,
            max_ac_charge_a: 0,
            charger_priority: 3,
            output_mode: 0,
        })
    }

    /// Sum of the max charging currents over the stack.
    pub fn total_max_charge_a(&self) -> f64 {
        self.units.iter().map(|u| f64::from(u.max_charge_a)).sum()
    }

    pub fn total_max_ac_charge_a(&self) -> f64 {
        self.units
            .iter()
            .map(|u| f64::from(u.max_ac_charge_a))
            .sum()
    }

    pub fn volts(dv: u32) -> f64 {
        f64::from(dv) / 10.0
    }
}
