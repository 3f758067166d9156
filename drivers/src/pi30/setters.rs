//! PI30 setters: validated setting commands (PI30 2015 customer spec §3, PI30MAX 2021 §3, HS/MS/MSX
//! 2014 §3, PIP-GK/MK §3; command syntax as mpp-solar sends it).
//!
//! Command layout: ASCII `<NAME><args>` (e.g. `POP02`, `PBCV56.4`, `MCHGC060`); the frame
//! (CRC + CR) is added by [`super::codec::encode_command`]. The unit answers `(ACK` or `(NAK`.
//!
//! A [`Setter`] can only be built through validating constructors (or [`parse_setter`] /
//! [`parse_command`]), so an out-of-range value never becomes a command string. Checks happen in
//! two steps:
//! 1. the constructor checks the documented range. Battery voltages are documented for 48 V
//!    units; the constructors accept the union of the 12/24/48 V ranges (a voltage is valid if
//!    it is valid for *some* system voltage) because the unit's voltage is not known there;
//! 2. [`Setter::check_limits`] checks against what the unit itself reports: the selectable
//!    currents (QMCHGCR/QMUCHGCR) and the nominal battery voltage (QPIRI `battery_voltage`),
//!    scaling the 48 V ranges by nominal/48.
//!
//! After the ACK, [`Setter::readback`] says which query and field should now show the new value.

use std::fmt;

pub use super::error::ValidationError;
use super::queries::Query;
use crate::reading::{Reading, Value};
use crate::voltronic::{
    check_current, check_listed, check_unit, out_of_range, parse_digits, pick, split_unit, words,
};

/// Output source priority (POP). PI30MAX names the same codes Utility-Solar-Battery,
/// Solar-Utility-Battery, Solar-Battery-Utility.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputSourcePriority {
    UtilityFirst = 0,
    SolarFirst = 1,
    SbuFirst = 2,
}

/// Charger source priority (PCP / PPCP). MKS and PI30MAX units refuse `UtilityFirst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargerSourcePriority {
    UtilityFirst = 0,
    SolarFirst = 1,
    SolarAndUtility = 2,
    SolarOnly = 3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputVoltageRange {
    Appliance = 0,
    Ups = 1,
}

/// Battery type (PBT), PI30MAX numbering; older units accept only AGM/Flooded/User.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatteryType {
    Agm = 0,
    Flooded = 1,
    User = 2,
    Pylontech = 3,
    Shinheung = 4,
    Weco = 5,
    Soltaro = 6,
    Bak = 7,
    Lib = 8,
    Lic = 9,
}

/// Output mode (POPM). Codes 5-7 exist only on split-phase (LV) models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    Single = 0,
    Parallel = 1,
    Phase1Of3 = 2,
    Phase2Of3 = 3,
    Phase3Of3 = 4,
    Phase1Of2 = 5,
    Phase2Of2Deg120 = 6,
    Phase2Of2Deg180 = 7,
}

/// Charging stage (PCST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargingStage {
    Auto = 0,
    TwoStage = 1,
    ThreeStage = 2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFrequency {
    Hz50,
    Hz60,
}

/// A PE/PD flag letter, named like the QFLAG field it controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Buzzer,
    OverloadBypass,
    SolarFeedToGrid,
    PowerSaving,
    LcdResetToDefault,
    DataLogPopup,
    OverloadRestart,
    OverTemperatureRestart,
    LcdBacklight,
    PrimarySourceInterruptAlarm,
    RecordFaultCode,
}

const FLAG_TABLE: &[(Flag, char, &str)] = &[
    (Flag::Buzzer, 'a', "buzzer"),
    (Flag::OverloadBypass, 'b', "overload_bypass"),
    (Flag::SolarFeedToGrid, 'd', "solar_feed_to_grid"),
    (Flag::PowerSaving, 'j', "power_saving"),
    (Flag::LcdResetToDefault, 'k', "lcd_reset_to_default"),
    (Flag::DataLogPopup, 'l', "data_log_popup"),
    (Flag::OverloadRestart, 'u', "overload_restart"),
    (
        Flag::OverTemperatureRestart,
        'v',
        "over_temperature_restart",
    ),
    (Flag::LcdBacklight, 'x', "lcd_backlight"),
    (
        Flag::PrimarySourceInterruptAlarm,
        'y',
        "primary_source_interrupt_alarm",
    ),
    (Flag::RecordFaultCode, 'z', "record_fault_code"),
];

impl Flag {
    fn entry(self) -> (char, &'static str) {
        FLAG_TABLE
            .iter()
            .find(|(f, _, _)| *f == self)
            .map_or(('?', "?"), |(_, c, n)| (*c, *n))
    }
    /// The PE/PD letter.
    pub fn letter(self) -> char {
        self.entry().0
    }
    /// The QFLAG field name.
    pub fn field_name(self) -> &'static str {
        self.entry().1
    }
}

/// A battery voltage setting, stored in tenths of a volt (the protocol has one decimal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Decivolts(pub u16);

impl Decivolts {
    pub fn volts(self) -> f64 {
        f64::from(self.0) / 10.0
    }
    /// `nn.n` as the protocol wants it (`56.4`, `00.0`).
    fn wire(self) -> String {
        format!("{:02}.{}", self.0 / 10, self.0 % 10)
    }
}

impl fmt::Display for Decivolts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} V", self.0 / 10, self.0 % 10)
    }
}

/// Which battery-voltage command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoltageSetting {
    /// PBCV: battery voltage at which the unit goes back to utility ("re-charge").
    Recharge,
    /// PBDV: battery voltage at which the unit goes back to battery; 0.0 = "battery full".
    Redischarge,
    /// PSDV: cut-off (under) voltage.
    UnderVoltage,
    /// PCVV: constant-voltage (bulk) charging voltage.
    BulkCharge,
    /// PBFT: float charging voltage.
    FloatCharge,
}

impl VoltageSetting {
    fn command(self) -> &'static str {
        match self {
            VoltageSetting::Recharge => "PBCV",
            VoltageSetting::Redischarge => "PBDV",
            VoltageSetting::UnderVoltage => "PSDV",
            VoltageSetting::BulkCharge => "PCVV",
            VoltageSetting::FloatCharge => "PBFT",
        }
    }
    /// The user-facing setting name = the QPIRI field it changes.
    pub fn name(self) -> &'static str {
        match self {
            VoltageSetting::Recharge => "battery_recharge_voltage",
            VoltageSetting::Redischarge => "battery_redischarge_voltage",
            VoltageSetting::UnderVoltage => "battery_under_voltage",
            VoltageSetting::BulkCharge => "battery_bulk_charge_voltage",
            VoltageSetting::FloatCharge => "battery_float_charge_voltage",
        }
    }
    /// Range for a 48 V unit, in decivolts, from the specs:
    /// PBCV 44-51 V; PBDV 48-58 V (or 0); PSDV 40-48 V; PCVV/PBFT 48.0-58.4 V in the 2015
    /// spec and 48-63 V in the PIP-GK/MK spec (the union is used; the unit NAKs what it can't do).
    fn range_48v(self) -> (u16, u16) {
        match self {
            VoltageSetting::Recharge => (440, 510),
            VoltageSetting::Redischarge => (480, 580),
            VoltageSetting::UnderVoltage => (400, 480),
            VoltageSetting::BulkCharge | VoltageSetting::FloatCharge => (480, 630),
        }
    }
    /// PBDV 00.0 means "battery full" and is valid for every system voltage.
    fn allows_zero(self) -> bool {
        self == VoltageSetting::Redischarge
    }
    fn range_for(self, nominal_v: f64) -> (u16, u16) {
        let (lo, hi) = self.range_48v();
        let scale = |dv: u16| {
            (f64::from(dv) * nominal_v / 48.0)
                .round()
                .clamp(0.0, 9999.0) as u16
        };
        (scale(lo), scale(hi))
    }
    fn describe_ranges(self, systems: &[f64]) -> String {
        let mut parts: Vec<String> = systems
            .iter()
            .map(|&n| {
                let (lo, hi) = self.range_for(n);
                format!(
                    "{}-{} ({} V system)",
                    Decivolts(lo),
                    Decivolts(hi),
                    n.round() as i64
                )
            })
            .collect();
        if self.allows_zero() {
            parts.push("0.0 V (battery full)".to_string());
        }
        parts.join(", ")
    }
}

const SYSTEM_VOLTAGES: [f64; 3] = [12.0, 24.0, 48.0];

/// A validated setting command. Build with the constructors, [`parse_setter`] or
/// [`parse_command`]; the variants' data are always in range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setter {
    /// `F50` / `F60`
    OutputFrequency(OutputFrequency),
    /// `POP0n`
    OutputSourcePriority(OutputSourcePriority),
    /// `PCP0n`
    ChargerSourcePriority(ChargerSourcePriority),
    /// `PGR0n`
    InputVoltageRange(InputVoltageRange),
    /// `PBT0n`
    BatteryType(BatteryType),
    /// `PBCVnn.n`, `PBDVnn.n`, `PSDVnn.n`, `PCVVnn.n`, `PBFTnn.n`
    BatteryVoltage(VoltageSetting, Decivolts),
    /// `MCHGCnnn` (2015 spec; on HS/MS firmware the first digit is the parallel unit)
    MaxChargingCurrent(u16),
    /// `MNCHGCmnnn`: m = parallel unit, nnn = amps (for currents of 100 A and more / MAX)
    MaxChargingCurrentParallel { unit: u8, amps: u16 },
    /// `MUCHGCnnn`
    MaxUtilityChargingCurrent(u16),
    /// `PEx` / `PDx`
    Flag { flag: Flag, enabled: bool },
    /// `POPMmn`: m = parallel unit, n = mode
    OutputMode { unit: u8, mode: OutputMode },
    /// `PPCPmNN`: m = parallel unit
    ParallelChargerPriority {
        unit: u8,
        priority: ChargerSourcePriority,
    },
    /// `PCST0n`
    ChargingStage(ChargingStage),
    /// `PCVTnnn`: minutes at the CV stage, 0 = automatic (MAX: 0-900 in steps of 5; 2015 spec
    /// lists 0..240 and 255, all multiples of 5)
    CvChargingTime(u16),
    /// `PBATMAXDISCnnn`: 0 = off, 30-150 A
    MaxDischargingCurrent(u16),
    /// `BTA+0n` / `BTA-0n`: battery voltage reading calibration in 0.05 V steps, -9..=9
    BatteryVoltageCalibration(i8),
    /// `DATyymmddhhmmss`
    DateTime {
        year: u8,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
    },
    /// `PSAVE`: save settings to EEPROM
    SaveSettings,
    /// `PF`: reset all settings to defaults
    ResetToDefaults,
}

/// How to verify a setter after the ACK: read `query` and compare `field` with `expected`.
///
/// For enumerations `expected` is the integer code (`Value::Int`), compared against the field's
/// raw token, because the human names differ between variants; use [`Readback::matches`].
#[derive(Debug, Clone, PartialEq)]
pub struct Readback {
    pub query: Query,
    pub field: &'static str,
    pub expected: Value,
}

impl Readback {
    /// Does `reading` (the decoded `query` reply) show the expected value?
    pub fn matches(&self, reading: &Reading) -> bool {
        let Some(field) = reading.get(self.field) else {
            return false;
        };
        match (&self.expected, &field.value) {
            (Value::Text(e), Value::Text(v)) => e == v,
            (Value::Bool(e), Value::Bool(v)) => e == v,
            (Value::Int(e), Value::Text(_)) => field
                .raw
                .as_deref()
                .and_then(|raw| raw.parse::<i64>().ok())
                .is_some_and(|raw| raw == *e),
            (e, v) => match (e.as_f64(), v.as_f64()) {
                // The unit reports one decimal: compare with half a step of tolerance.
                (Some(e), Some(v)) => (e - v).abs() < 0.05,
                _ => false,
            },
        }
    }
}

/// What the unit itself allows (from QMCHGCR, QMUCHGCR and QPIRI `battery_voltage`).
#[derive(Debug, Clone, Default)]
pub struct UnitLimits {
    pub max_charging_currents: Vec<u32>,
    pub max_utility_charging_currents: Vec<u32>,
    pub nominal_battery_voltage: Option<f64>,
}

impl Setter {
    /// A battery voltage from a float (e.g. 56.4). Refuses NaN, negatives, more than one
    /// decimal and values outside every system voltage's documented range.
    pub fn battery_voltage(setting: VoltageSetting, volts: f64) -> Result<Setter, ValidationError> {
        let allowed = setting.describe_ranges(&SYSTEM_VOLTAGES);
        if !volts.is_finite() || !(0.0..100.0).contains(&volts) {
            return Err(out_of_range(setting.name(), volts, &allowed));
        }
        let tenths = volts * 10.0;
        if (tenths - tenths.round()).abs() > 1e-6 {
            return Err(ValidationError::InvalidFormat {
                setting: setting.name(),
                value: volts.to_string(),
                expected: "at most one decimal (nn.n V)".to_string(),
            });
        }
        Self::battery_decivolts(setting, Decivolts(tenths.round() as u16))
    }

    /// A battery voltage in tenths of a volt (564 = 56.4 V).
    pub fn battery_decivolts(
        setting: VoltageSetting,
        dv: Decivolts,
    ) -> Result<Setter, ValidationError> {
        let ok = (setting.allows_zero() && dv.0 == 0)
            || SYSTEM_VOLTAGES.iter().any(|&n| {
                let (lo, hi) = setting.range_for(n);
                (lo..=hi).contains(&dv.0)
            });
        if !ok {
            return Err(out_of_range(
                setting.name(),
                dv,
                &setting.describe_ranges(&SYSTEM_VOLTAGES),
            ));
        }
        Ok(Setter::BatteryVoltage(setting, dv))
    }

    /// `MCHGCnnn`, 1-999 A (the unit's own list is checked by [`Setter::check_limits`]).
    pub fn max_charging_current(amps: u16) -> Result<Setter, ValidationError> {
        check_current("max_charging_current", amps)?;
        Ok(Setter::MaxChargingCurrent(amps))
    }

    /// `MNCHGCmnnn`, unit 0-9, 1-999 A.
    pub fn max_charging_current_parallel(unit: u8, amps: u16) -> Result<Setter, ValidationError> {
        check_unit("max_charging_current_parallel", unit)?;
        check_current("max_charging_current_parallel", amps)?;
        Ok(Setter::MaxChargingCurrentParallel { unit, amps })
    }

    /// `MUCHGCnnn`, 1-999 A.
    pub fn max_utility_charging_current(amps: u16) -> Result<Setter, ValidationError> {
        check_current("max_utility_charging_current", amps)?;
        Ok(Setter::MaxUtilityChargingCurrent(amps))
    }

    pub fn output_mode(unit: u8, mode: OutputMode) -> Result<Setter, ValidationError> {
        check_unit("output_mode", unit)?;
        Ok(Setter::OutputMode { unit, mode })
    }

    pub fn parallel_charger_priority(
        unit: u8,
        priority: ChargerSourcePriority,
    ) -> Result<Setter, ValidationError> {
        check_unit("parallel_charger_source_priority", unit)?;
        Ok(Setter::ParallelChargerPriority { unit, priority })
    }

    /// `PCVTnnn`: 0-900 minutes in steps of 5.
    pub fn cv_charging_time(minutes: u16) -> Result<Setter, ValidationError> {
        if minutes > 900 || minutes % 5 != 0 {
            return Err(out_of_range(
                "max_charging_time_for_cv_stage",
                format!("{minutes} min"),
                "0-900 min in steps of 5 (0 = automatic)",
            ));
        }
        Ok(Setter::CvChargingTime(minutes))
    }

    /// `PBATMAXDISCnnn`: 0 (off) or 30-150 A.
    pub fn max_discharging_current(amps: u16) -> Result<Setter, ValidationError> {
        if amps != 0 && !(30..=150).contains(&amps) {
            return Err(out_of_range(
                "max_discharging_current",
                format!("{amps} A"),
                "0 (disabled) or 30-150 A",
            ));
        }
        Ok(Setter::MaxDischargingCurrent(amps))
    }

    /// `BTA±0n`: -9..=9 steps of 0.05 V.
    pub fn battery_voltage_calibration(steps: i8) -> Result<Setter, ValidationError> {
        if !(-9..=9).contains(&steps) {
            return Err(out_of_range(
                "battery_voltage_calibration",
                steps,
                "-9..+9 steps of 0.05 V",
            ));
        }
        Ok(Setter::BatteryVoltageCalibration(steps))
    }

    /// `DATyymmddhhmmss` (year 2000-2099 given as 0-99).
    pub fn date_time(
        year: u8,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
    ) -> Result<Setter, ValidationError> {
        let leap = year % 4 == 0; // 2000-2099: every 4th year
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => 0,
        };
        let valid = year <= 99
            && (1..=days_in_month).contains(&day)
            && hour <= 23
            && minute <= 59
            && second <= 59;
        if !valid {
            return Err(out_of_range(
                "date_time",
                format!("{year:02}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}"),
                "a valid date/time in 2000-2099 (YYMMDDHHMMSS)",
            ));
        }
        Ok(Setter::DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// The command text, without CRC/CR.
    pub fn command(&self) -> String {
        match *self {
            Setter::OutputFrequency(OutputFrequency::Hz50) => "F50".to_string(),
            Setter::OutputFrequency(OutputFrequency::Hz60) => "F60".to_string(),
            Setter::OutputSourcePriority(p) => format!("POP{:02}", p as u8),
            Setter::ChargerSourcePriority(p) => format!("PCP{:02}", p as u8),
            Setter::InputVoltageRange(r) => format!("PGR{:02}", r as u8),
            Setter::BatteryType(t) => format!("PBT{:02}", t as u8),
            Setter::BatteryVoltage(s, dv) => format!("{}{}", s.command(), dv.wire()),
            Setter::MaxChargingCurrent(a) => format!("MCHGC{a:03}"),
            Setter::MaxChargingCurrentParallel { unit, amps } => format!("MNCHGC{unit}{amps:03}"),
            Setter::MaxUtilityChargingCurrent(a) => format!("MUCHGC{a:03}"),
            Setter::Flag { flag, enabled } => {
                format!("{}{}", if enabled { "PE" } else { "PD" }, flag.letter())
            }
            Setter::OutputMode { unit, mode } => format!("POPM{unit}{}", mode as u8),
            Setter::ParallelChargerPriority { unit, priority } => {
                format!("PPCP{unit}{:02}", priority as u8)
            }
            Setter::ChargingStage(s) => format!("PCST{:02}", s as u8),
            Setter::CvChargingTime(m) => format!("PCVT{m:03}"),
            Setter::MaxDischargingCurrent(a) => format!("PBATMAXDISC{a:03}"),
            Setter::BatteryVoltageCalibration(s) => {
                format!(
                    "BTA{}{:02}",
                    if s < 0 { '-' } else { '+' },
                    s.unsigned_abs()
                )
            }
            Setter::DateTime {
                year,
                month,
                day,
                hour,
                minute,
                second,
            } => format!("DAT{year:02}{month:02}{day:02}{hour:02}{minute:02}{second:02}"),
            Setter::SaveSettings => "PSAVE".to_string(),
            Setter::ResetToDefaults => "PF".to_string(),
        }
    }

    /// Which query/field shows this setting after the ACK. `None` when nothing reports it
    /// (PCST, BTA, DAT, PSAVE, PF). Parallel setters for unit 0 read QPIRI (the unit we talk
    /// to), other units read their QPGSn.
    pub fn readback(&self) -> Option<Readback> {
        let rb = |query, field, expected: Value| {
            Some(Readback {
                query,
                field,
                expected,
            })
        };
        let code = |c: u8| Value::Int(i64::from(c));
        match *self {
            Setter::OutputFrequency(f) => rb(
                Query::Qpiri,
                "ac_output_frequency",
                Value::Float(if f == OutputFrequency::Hz50 {
                    50.0
                } else {
                    60.0
                }),
            ),
            Setter::OutputSourcePriority(p) => {
                rb(Query::Qpiri, "output_source_priority", code(p as u8))
            }
            Setter::ChargerSourcePriority(p) => {
                rb(Query::Qpiri, "charger_source_priority", code(p as u8))
            }
            Setter::InputVoltageRange(r) => rb(Query::Qpiri, "input_voltage_range", code(r as u8)),
            Setter::BatteryType(t) => rb(Query::Qpiri, "battery_type", code(t as u8)),
            Setter::BatteryVoltage(s, dv) => rb(Query::Qpiri, s.name(), Value::Float(dv.volts())),
            Setter::MaxChargingCurrent(a) => rb(
                Query::Qpiri,
                "max_charging_current",
                Value::Int(i64::from(a)),
            ),
            Setter::MaxChargingCurrentParallel { unit: 0, amps } => rb(
                Query::Qpiri,
                "max_charging_current",
                Value::Int(i64::from(amps)),
            ),
            Setter::MaxChargingCurrentParallel { unit, amps } => rb(
                Query::Qpgs(unit),
                "max_charger_current",
                Value::Int(i64::from(amps)),
            ),
            Setter::MaxUtilityChargingCurrent(a) => rb(
                Query::Qpiri,
                "max_ac_charging_current",
                Value::Int(i64::from(a)),
            ),
            Setter::Flag { flag, enabled } => rb(
                Query::Qflag,
                flag.field_name(),
                Value::Text(if enabled { "enabled" } else { "disabled" }.to_string()),
            ),
            Setter::OutputMode { unit: 0, mode } => {
                rb(Query::Qpiri, "output_mode", code(mode as u8))
            }
            Setter::OutputMode { unit, mode } => {
                rb(Query::Qpgs(unit), "output_mode", code(mode as u8))
            }
            Setter::ParallelChargerPriority { unit, priority } => rb(
                Query::Qpgs(unit),
                "charger_source_priority",
                code(priority as u8),
            ),
            Setter::CvChargingTime(m) => rb(
                Query::Qpiri,
                "max_charging_time_for_cv_stage",
                Value::Int(i64::from(m)),
            ),
            Setter::MaxDischargingCurrent(a) => rb(
                Query::Qpiri,
                "max_discharging_current",
                Value::Int(i64::from(a)),
            ),
            Setter::ChargingStage(_)
            | Setter::BatteryVoltageCalibration(_)
            | Setter::DateTime { .. }
            | Setter::SaveSettings
            | Setter::ResetToDefaults => None,
        }
    }

    /// Check against the unit's own limits. Empty lists / `None` mean "unknown": not checked.
    pub fn check_limits(&self, limits: &UnitLimits) -> Result<(), ValidationError> {
        match *self {
            Setter::MaxChargingCurrent(a) => {
                check_listed("max_charging_current", a, &limits.max_charging_currents)
            }
            Setter::MaxChargingCurrentParallel { amps, .. } => check_listed(
                "max_charging_current_parallel",
                amps,
                &limits.max_charging_currents,
            ),
            Setter::MaxUtilityChargingCurrent(a) => check_listed(
                "max_utility_charging_current",
                a,
                &limits.max_utility_charging_currents,
            ),
            Setter::BatteryVoltage(s, dv) => {
                let Some(nominal) = limits.nominal_battery_voltage else {
                    return Ok(());
                };
                if !nominal.is_finite() || nominal <= 0.0 {
                    return Ok(());
                }
                let (lo, hi) = s.range_for(nominal);
                if (s.allows_zero() && dv.0 == 0) || (lo..=hi).contains(&dv.0) {
                    Ok(())
                } else {
                    Err(ValidationError::NotAllowedByUnit {
                        setting: s.name(),
                        value: dv.to_string(),
                        allowed: s.describe_ranges(&[nominal]),
                    })
                }
            }
            _ => Ok(()),
        }
    }
}

const SETTER_NAMES: &[&str] = &[
    "output_frequency",
    "output_source_priority",
    "charger_source_priority",
    "input_voltage_range",
    "battery_type",
    "battery_recharge_voltage",
    "battery_redischarge_voltage",
    "battery_under_voltage",
    "battery_bulk_charge_voltage",
    "battery_float_charge_voltage",
    "max_charging_current",
    "max_charging_current_parallel",
    "max_utility_charging_current",
    "buzzer",
    "overload_bypass",
    "solar_feed_to_grid",
    "power_saving",
    "lcd_reset_to_default",
    "data_log_popup",
    "overload_restart",
    "over_temperature_restart",
    "lcd_backlight",
    "primary_source_interrupt_alarm",
    "record_fault_code",
    "output_mode",
    "parallel_charger_source_priority",
    "charging_stage",
    "max_charging_time_for_cv_stage",
    "max_discharging_current",
    "battery_voltage_calibration",
    "date_time",
    "save_settings",
    "reset_to_defaults",
];

/// User-facing setting names accepted by [`parse_setter`]. They match the QPIRI/QFLAG field
/// the setting changes, so a read-back compares the same name.
pub fn setter_names() -> &'static [&'static str] {
    SETTER_NAMES
}

fn static_name(name: &str) -> &'static str {
    SETTER_NAMES
        .iter()
        .find(|n| **n == name)
        .copied()
        .unwrap_or("setting")
}

/// `nn` or `nn.n` volts, parsed without floating point.
fn parse_decivolts(setting: &'static str, value: &str) -> Result<Decivolts, ValidationError> {
    let v = value.trim();
    let v = v.strip_suffix(['V', 'v']).unwrap_or(v).trim_end();
    let bad = || ValidationError::InvalidFormat {
        setting,
        value: value.to_string(),
        expected: "a voltage like 56.4 (digits, at most one decimal)".to_string(),
    };
    let (whole, frac) = match v.split_once('.') {
        Some((w, f)) => (w, f),
        None => (v, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 2 || !digits(whole) || !digits(frac) || frac.len() > 1 {
        return Err(bad());
    }
    if v.ends_with('.') {
        return Err(bad());
    }
    let w: u16 = whole.parse().map_err(|_| bad())?;
    let f: u16 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    Ok(Decivolts(w * 10 + f))
}

const OSP: &[(&str, OutputSourcePriority)] = &[
    ("utility_first", OutputSourcePriority::UtilityFirst),
    ("solar_first", OutputSourcePriority::SolarFirst),
    ("sbu_first", OutputSourcePriority::SbuFirst),
    // PI30MAX names for the same codes.
    ("utility_solar_battery", OutputSourcePriority::UtilityFirst),
    ("solar_utility_battery", OutputSourcePriority::SolarFirst),
    ("solar_battery_utility", OutputSourcePriority::SbuFirst),
];
const CSP: &[(&str, ChargerSourcePriority)] = &[
    ("utility_first", ChargerSourcePriority::UtilityFirst),
    ("solar_first", ChargerSourcePriority::SolarFirst),
    ("solar_and_utility", ChargerSourcePriority::SolarAndUtility),
    ("solar_only", ChargerSourcePriority::SolarOnly),
];
const OUTPUT_MODES: &[(&str, OutputMode)] = &[
    ("single", OutputMode::Single),
    ("parallel", OutputMode::Parallel),
    ("phase_1_of_3", OutputMode::Phase1Of3),
    ("phase_2_of_3", OutputMode::Phase2Of3),
    ("phase_3_of_3", OutputMode::Phase3Of3),
    ("phase_1_of_2", OutputMode::Phase1Of2),
    ("phase_2_of_2_120", OutputMode::Phase2Of2Deg120),
    ("phase_2_of_2_180", OutputMode::Phase2Of2Deg180),
];
const BATTERY_TYPES: &[(&str, BatteryType)] = &[
    ("agm", BatteryType::Agm),
    ("flooded", BatteryType::Flooded),
    ("user", BatteryType::User),
    ("pylontech", BatteryType::Pylontech),
    ("shinheung", BatteryType::Shinheung),
    ("weco", BatteryType::Weco),
    ("soltaro", BatteryType::Soltaro),
    ("bak", BatteryType::Bak),
    ("lib", BatteryType::Lib),
    ("lic", BatteryType::Lic),
];
const ON_OFF: &[(&str, bool)] = &[
    ("enabled", true),
    ("enable", true),
    ("on", true),
    ("true", true),
    ("1", true),
    ("disabled", false),
    ("disable", false),
    ("off", false),
    ("false", false),
    ("0", false),
];

/// What a settings form needs to know of one setting: its values, or its range.
#[derive(Debug, Clone, PartialEq)]
pub enum SpecKind {
    /// One of these words.
    Choice(Vec<&'static str>),
    /// A number in `min..=max` in steps of `step`.
    Number {
        min: f64,
        max: f64,
        step: f64,
        unit: &'static str,
    },
}

/// A setting as a form shows it. `name` is also the QPIRI/QFLAG field holding its value.
#[derive(Debug, Clone, PartialEq)]
pub struct SetterSpec {
    pub name: &'static str,
    pub kind: SpecKind,
}

/// The first word of an option table whose value has the protocol code `code`.
fn word_of<T: Copy>(
    options: &[(&'static str, T)],
    code: usize,
    to_code: fn(T) -> usize,
) -> Option<&'static str> {
    options
        .iter()
        .find(|(_, v)| to_code(*v) == code)
        .map(|(n, _)| *n)
}

/// A setting's current value as a form's choice word, from the field QPIRI/QFLAG decode it
/// into ("SBU first" -> `sbu_first`, "Solar + Utility" -> `solar_and_utility`, a flag's
/// `true` -> `enabled`). None when the value is not one of the setting's choices.
pub fn current_choice(name: &str, value: &Value) -> Option<&'static str> {
    use super::enums::{
        BATTERY_TYPE, CHARGER_SOURCE_PRIORITY, CHARGER_SOURCE_PRIORITY_QPGS, INPUT_VOLTAGE_RANGE,
        OUTPUT_SOURCE_PRIORITY_MAX, OUTPUT_SOURCE_PRIORITY_PI30,
    };
    let code = |tables: &[&[&str]]| -> Option<usize> {
        match value {
            Value::Text(t) => tables
                .iter()
                .find_map(|table| table.iter().position(|x| x.eq_ignore_ascii_case(t.trim()))),
            Value::Int(i) => usize::try_from(*i).ok(),
            _ => None,
        }
    };
    match name {
        "output_source_priority" => word_of(
            OSP,
            code(&[OUTPUT_SOURCE_PRIORITY_PI30, OUTPUT_SOURCE_PRIORITY_MAX])?,
            |v| v as usize,
        ),
        "charger_source_priority" => word_of(
            CSP,
            code(&[CHARGER_SOURCE_PRIORITY, CHARGER_SOURCE_PRIORITY_QPGS])?,
            |v| v as usize,
        ),
        "battery_type" => word_of(BATTERY_TYPES, code(&[BATTERY_TYPE])?, |v| v as usize),
        "input_voltage_range" => match code(&[INPUT_VOLTAGE_RANGE])? {
            0 => Some("appliance"),
            1 => Some("ups"),
            _ => None,
        },
        _ if FLAG_TABLE.iter().any(|(_, _, n)| *n == name) => match value {
            Value::Bool(true) => Some("enabled"),
            Value::Bool(false) => Some("disabled"),
            _ => None,
        },
        _ => None,
    }
}

/// The everyday settings of a unit, for a settings page: the priorities, the battery voltages
/// (their range for the unit's nominal battery voltage when it is known, else the widest
/// documented one), the charging currents and the flags. Per-unit parallel settings, the clock
/// and the reset/save commands are left out (they stay available to `sungate set` and the API).
/// Every value a form offers from here passes [`parse_setter`].
pub fn setter_specs(nominal_battery_v: Option<f64>) -> Vec<SetterSpec> {
    let choice = |name, kind| SetterSpec { name, kind };
    let mut specs = vec![
        choice("output_source_priority", SpecKind::Choice(words(OSP))),
        choice("charger_source_priority", SpecKind::Choice(words(CSP))),
        choice(
            "input_voltage_range",
            SpecKind::Choice(vec!["appliance", "ups"]),
        ),
        choice("battery_type", SpecKind::Choice(words(BATTERY_TYPES))),
        choice("output_frequency", SpecKind::Choice(vec!["50", "60"])),
        choice(
            "charging_stage",
            SpecKind::Choice(vec!["auto", "two_stage", "three_stage"]),
        ),
    ];
    let systems: Vec<f64> = match nominal_battery_v {
        Some(v) if SYSTEM_VOLTAGES.contains(&v) => vec![v],
        _ => SYSTEM_VOLTAGES.to_vec(),
    };
    for setting in [
        VoltageSetting::BulkCharge,
        VoltageSetting::FloatCharge,
        VoltageSetting::Recharge,
        VoltageSetting::Redischarge,
        VoltageSetting::UnderVoltage,
    ] {
        let lo = systems.iter().map(|&n| setting.range_for(n).0).min();
        let hi = systems.iter().map(|&n| setting.range_for(n).1).max();
        if let (Some(lo), Some(hi)) = (lo, hi) {
            specs.push(SetterSpec {
                name: setting.name(),
                kind: SpecKind::Number {
                    min: Decivolts(lo).volts(),
                    max: Decivolts(hi).volts(),
                    step: 0.1,
                    unit: "V",
                },
            });
        }
    }
    let number = |name, min, max, step, unit| SetterSpec {
        name,
        kind: SpecKind::Number {
            min,
            max,
            step,
            unit,
        },
    };
    specs.push(number("max_charging_current", 1.0, 999.0, 1.0, "A"));
    specs.push(number("max_utility_charging_current", 1.0, 999.0, 1.0, "A"));
    specs.push(number(
        "max_charging_time_for_cv_stage",
        0.0,
        900.0,
        5.0,
        "min",
    ));
    let on_off = vec!["enabled", "disabled"];
    for (_, _, name) in FLAG_TABLE {
        specs.push(choice(name, SpecKind::Choice(on_off.clone())));
    }
    specs
}

/// Build a setter from a user-facing name (see [`setter_names`]) and value, e.g.
/// `("output_source_priority", "sbu_first")`, `("battery_bulk_charge_voltage", "56.4")`,
/// `("buzzer", "disabled")`, `("output_mode", "1:parallel")`, `("date_time", "240501123000")`,
/// `("reset_to_defaults", "confirm")`.
pub fn parse_setter(name: &str, value: &str) -> Result<Setter, ValidationError> {
    let key = name.trim().to_ascii_lowercase();
    let s = static_name(&key);
    let volts = |setting: VoltageSetting| -> Result<Setter, ValidationError> {
        Setter::battery_decivolts(setting, parse_decivolts(setting.name(), value)?)
    };
    match key.as_str() {
        "output_frequency" => {
            let v = value.trim().to_ascii_lowercase();
            match v.strip_suffix("hz").unwrap_or(&v).trim() {
                "50" => Ok(Setter::OutputFrequency(OutputFrequency::Hz50)),
                "60" => Ok(Setter::OutputFrequency(OutputFrequency::Hz60)),
                _ => Err(out_of_range(s, value, "50 or 60 (Hz)")),
            }
        }
        "output_source_priority" => Ok(Setter::OutputSourcePriority(pick(s, value, OSP)?)),
        "charger_source_priority" => Ok(Setter::ChargerSourcePriority(pick(s, value, CSP)?)),
        "input_voltage_range" => Ok(Setter::InputVoltageRange(pick(
            s,
            value,
            &[
                ("appliance", InputVoltageRange::Appliance),
                ("ups", InputVoltageRange::Ups),
            ],
        )?)),
        "battery_type" => Ok(Setter::BatteryType(pick(s, value, BATTERY_TYPES)?)),
        "battery_recharge_voltage" => volts(VoltageSetting::Recharge),
        "battery_redischarge_voltage" => volts(VoltageSetting::Redischarge),
        "battery_under_voltage" => volts(VoltageSetting::UnderVoltage),
        "battery_bulk_charge_voltage" => volts(VoltageSetting::BulkCharge),
        "battery_float_charge_voltage" => volts(VoltageSetting::FloatCharge),
        "max_charging_current" => Setter::max_charging_current(parse_digits(s, value, 3)?),
        "max_charging_current_parallel" => {
            let (unit, amps) = split_unit(s, value)?;
            Setter::max_charging_current_parallel(unit, parse_digits(s, amps, 3)?)
        }
        "max_utility_charging_current" => {
            Setter::max_utility_charging_current(parse_digits(s, value, 3)?)
        }
        "output_mode" => {
            let (unit, mode) = split_unit(s, value)?;
            Setter::output_mode(unit, pick(s, mode, OUTPUT_MODES)?)
        }
        "parallel_charger_source_priority" => {
            let (unit, p) = split_unit(s, value)?;
            Setter::parallel_charger_priority(unit, pick(s, p, CSP)?)
        }
        "charging_stage" => Ok(Setter::ChargingStage(pick(
            s,
            value,
            &[
                ("auto", ChargingStage::Auto),
                ("two_stage", ChargingStage::TwoStage),
                ("three_stage", ChargingStage::ThreeStage),
            ],
        )?)),
        "max_charging_time_for_cv_stage" => Setter::cv_charging_time(parse_digits(s, value, 3)?),
        "max_discharging_current" => Setter::max_discharging_current(parse_digits(s, value, 3)?),
        "battery_voltage_calibration" => {
            let v = value.trim();
            let (neg, digits) = match v.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, v.strip_prefix('+').unwrap_or(v)),
            };
            let steps = parse_digits(s, digits, 2)?;
            let steps = i8::try_from(steps).map_err(|_| out_of_range(s, value, "-9..+9"))?;
            Setter::battery_voltage_calibration(if neg { -steps } else { steps })
        }
        "date_time" => {
            let v = value.trim();
            if v.len() != 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ValidationError::InvalidFormat {
                    setting: s,
                    value: value.to_string(),
                    expected: "12 digits YYMMDDHHMMSS".to_string(),
                });
            }
            let two = |i: usize| -> u8 {
                v.as_bytes()
                    .get(i..i + 2)
                    .map_or(0, |p| p.iter().fold(0, |acc, b| acc * 10 + (b - b'0')))
            };
            Setter::date_time(two(0), two(2), two(4), two(6), two(8), two(10))
        }
        "save_settings" => {
            confirm(s, value)?;
            Ok(Setter::SaveSettings)
        }
        "reset_to_defaults" => {
            confirm(s, value)?;
            Ok(Setter::ResetToDefaults)
        }
        flag_name => match FLAG_TABLE.iter().find(|(_, _, n)| *n == flag_name) {
            Some((flag, _, _)) => Ok(Setter::Flag {
                flag: *flag,
                enabled: pick(s, value, ON_OFF)?,
            }),
            None => Err(ValidationError::UnknownSetting {
                name: name.to_string(),
                known: SETTER_NAMES.join(", "),
            }),
        },
    }
}

/// Commands without a value still need an explicit yes, so a stray call can't reset a unit.
fn confirm(setting: &'static str, value: &str) -> Result<(), ValidationError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "confirm" | "true" | "yes" => Ok(()),
        _ => Err(ValidationError::InvalidFormat {
            setting,
            value: value.to_string(),
            expected: "confirm".to_string(),
        }),
    }
}

/// Parse a raw setter command string (`POP02`, `PBCV46.0`, `PEa` ...) back into a validated
/// [`Setter`]. Useful for a "raw command" interface that must still validate.
pub fn parse_command(command: &str) -> Result<Setter, ValidationError> {
    let c = command.trim();
    let unknown = || ValidationError::UnknownCommand(command.to_string());
    // Exact-width numeric argument.
    let num = |arg: &str, width: usize| -> Result<u16, ValidationError> {
        if arg.len() != width || !arg.bytes().all(|b| b.is_ascii_digit()) {
            return Err(unknown());
        }
        arg.parse().map_err(|_| unknown())
    };
    let code = |arg: &str, width: usize, max: u16| -> Result<u8, ValidationError> {
        let n = num(arg, width)?;
        if n > max { Err(unknown()) } else { Ok(n as u8) }
    };
    // Longest prefixes first: PBATMAXDISC before PBT, MNCHGC before MCHGC, POPM before POP...
    if let Some(a) = c.strip_prefix("PBATMAXDISC") {
        return Setter::max_discharging_current(num(a, 3)?);
    }
    if let Some(a) = c.strip_prefix("MNCHGC") {
        let unit = code(a.get(..1).ok_or_else(unknown)?, 1, 9)?;
        return Setter::max_charging_current_parallel(
            unit,
            num(a.get(1..).ok_or_else(unknown)?, 3)?,
        );
    }
    if let Some(a) = c.strip_prefix("MUCHGC") {
        return Setter::max_utility_charging_current(num(a, 3)?);
    }
    if let Some(a) = c.strip_prefix("MCHGC") {
        return Setter::max_charging_current(num(a, 3)?);
    }
    if let Some(a) = c.strip_prefix("POPM") {
        let unit = code(a.get(..1).ok_or_else(unknown)?, 1, 9)?;
        let mode = code(a.get(1..).ok_or_else(unknown)?, 1, 7)?;
        let mode = OUTPUT_MODES
            .get(usize::from(mode))
            .map(|(_, m)| *m)
            .ok_or_else(unknown)?;
        return Setter::output_mode(unit, mode);
    }
    if let Some(a) = c.strip_prefix("PPCP") {
        let unit = code(a.get(..1).ok_or_else(unknown)?, 1, 9)?;
        let p = code(a.get(1..).ok_or_else(unknown)?, 2, 3)?;
        let p = CSP
            .get(usize::from(p))
            .map(|(_, p)| *p)
            .ok_or_else(unknown)?;
        return Setter::parallel_charger_priority(unit, p);
    }
    if let Some(a) = c.strip_prefix("POP") {
        let p = code(a, 2, 2)?;
        return OSP
            .get(usize::from(p))
            .map(|(_, p)| Setter::OutputSourcePriority(*p))
            .ok_or_else(unknown);
    }
    if let Some(a) = c.strip_prefix("PCP") {
        let p = code(a, 2, 3)?;
        return CSP
            .get(usize::from(p))
            .map(|(_, p)| Setter::ChargerSourcePriority(*p))
            .ok_or_else(unknown);
    }
    if let Some(a) = c.strip_prefix("PGR") {
        return match code(a, 2, 1)? {
            0 => Ok(Setter::InputVoltageRange(InputVoltageRange::Appliance)),
            _ => Ok(Setter::InputVoltageRange(InputVoltageRange::Ups)),
        };
    }
    if let Some(a) = c.strip_prefix("PBT") {
        let t = code(a, 2, 9)?;
        return BATTERY_TYPES
            .get(usize::from(t))
            .map(|(_, t)| Setter::BatteryType(*t))
            .ok_or_else(unknown);
    }
    if let Some(a) = c.strip_prefix("PCST") {
        return match code(a, 2, 2)? {
            0 => Ok(Setter::ChargingStage(ChargingStage::Auto)),
            1 => Ok(Setter::ChargingStage(ChargingStage::TwoStage)),
            _ => Ok(Setter::ChargingStage(ChargingStage::ThreeStage)),
        };
    }
    if let Some(a) = c.strip_prefix("PCVT") {
        return Setter::cv_charging_time(num(a, 3)?);
    }
    for s in [
        VoltageSetting::Recharge,
        VoltageSetting::Redischarge,
        VoltageSetting::UnderVoltage,
        VoltageSetting::BulkCharge,
        VoltageSetting::FloatCharge,
    ] {
        if let Some(a) = c.strip_prefix(s.command()) {
            // Exactly nn.n on the wire.
            let b = a.as_bytes();
            if b.len() != 4 || b.get(2) != Some(&b'.') {
                return Err(unknown());
            }
            return Setter::battery_decivolts(s, parse_decivolts(s.name(), a)?);
        }
    }
    if let Some(a) = c.strip_prefix("BTA") {
        let (sign, digits) = a.split_at_checked(1).ok_or_else(unknown)?;
        let n = num(digits, 2)?;
        let n = i8::try_from(n).map_err(|_| unknown())?;
        return match sign {
            "+" => Setter::battery_voltage_calibration(n),
            "-" => Setter::battery_voltage_calibration(-n),
            _ => Err(unknown()),
        };
    }
    if let Some(a) = c.strip_prefix("DAT") {
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            return Err(unknown());
        }
        return parse_setter("date_time", a);
    }
    if let Some(a) = c.strip_prefix("PE").or_else(|| c.strip_prefix("PD")) {
        let enabled = c.starts_with("PE");
        let mut chars = a.chars();
        let (Some(letter), None) = (chars.next(), chars.next()) else {
            return Err(unknown());
        };
        return FLAG_TABLE
            .iter()
            .find(|(_, l, _)| *l == letter.to_ascii_lowercase())
            .map(|(flag, _, _)| Setter::Flag {
                flag: *flag,
                enabled,
            })
            .ok_or_else(unknown);
    }
    match c {
        "F50" => Ok(Setter::OutputFrequency(OutputFrequency::Hz50)),
        "F60" => Ok(Setter::OutputFrequency(OutputFrequency::Hz60)),
        "PSAVE" => Ok(Setter::SaveSettings),
        "PF" => Ok(Setter::ResetToDefaults),
        _ => Err(unknown()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pi30::fields::{Variant, decode_payload};
    use crate::pi30::queries::parse_current_options;
    use proptest::prelude::*;

    fn cmd(name: &str, value: &str) -> String {
        parse_setter(name, value)
            .unwrap_or_else(|e| panic!("{name}={value}: {e}"))
            .command()
    }

    #[test]
    fn exact_command_strings() {
        let cases = [
            ("output_frequency", "50", "F50"),
            ("output_frequency", "60Hz", "F60"),
            ("output_source_priority", "utility_first", "POP00"),
            ("output_source_priority", "solar_first", "POP01"),
            ("output_source_priority", "sbu_first", "POP02"),
            ("output_source_priority", "Solar Battery Utility", "POP02"),
            ("charger_source_priority", "utility_first", "PCP00"),
            ("charger_source_priority", "solar_and_utility", "PCP02"),
            ("charger_source_priority", "solar_only", "PCP03"),
            ("input_voltage_range", "appliance", "PGR00"),
            ("input_voltage_range", "UPS", "PGR01"),
            ("battery_type", "agm", "PBT00"),
            ("battery_type", "user", "PBT02"),
            ("battery_type", "lic", "PBT09"),
            ("battery_recharge_voltage", "46", "PBCV46.0"),
            ("battery_recharge_voltage", "22.5", "PBCV22.5"),
            ("battery_redischarge_voltage", "0", "PBDV00.0"),
            ("battery_redischarge_voltage", "54.0", "PBDV54.0"),
            ("battery_under_voltage", "42.0", "PSDV42.0"),
            ("battery_bulk_charge_voltage", "56.4", "PCVV56.4"),
            ("battery_float_charge_voltage", "54.0 V", "PBFT54.0"),
            ("battery_float_charge_voltage", "13.5", "PBFT13.5"),
            ("max_charging_current", "60", "MCHGC060"),
            ("max_charging_current", "010", "MCHGC010"),
            ("max_charging_current_parallel", "120", "MNCHGC0120"),
            ("max_charging_current_parallel", "1:60", "MNCHGC1060"),
            ("max_utility_charging_current", "30", "MUCHGC030"),
            ("max_utility_charging_current", "2", "MUCHGC002"),
            ("buzzer", "enabled", "PEa"),
            ("buzzer", "disabled", "PDa"),
            ("overload_bypass", "on", "PEb"),
            ("power_saving", "disabled", "PDj"),
            ("lcd_reset_to_default", "enabled", "PEk"),
            ("overload_restart", "enabled", "PEu"),
            ("over_temperature_restart", "disabled", "PDv"),
            ("lcd_backlight", "enabled", "PEx"),
            ("primary_source_interrupt_alarm", "enabled", "PEy"),
            ("record_fault_code", "disabled", "PDz"),
            ("solar_feed_to_grid", "disabled", "PDd"),
            ("output_mode", "single", "POPM00"),
            ("output_mode", "1:parallel", "POPM11"),
            ("output_mode", "2:phase_3_of_3", "POPM24"),
            (
                "parallel_charger_source_priority",
                "1:solar_first",
                "PPCP101",
            ),
            ("parallel_charger_source_priority", "solar_only", "PPCP003"),
            ("charging_stage", "three_stage", "PCST02"),
            ("max_charging_time_for_cv_stage", "480", "PCVT480"),
            ("max_charging_time_for_cv_stage", "0", "PCVT000"),
            ("max_discharging_current", "0", "PBATMAXDISC000"),
            ("max_discharging_current", "70", "PBATMAXDISC070"),
            ("battery_voltage_calibration", "-1", "BTA-01"),
            ("battery_voltage_calibration", "+9", "BTA+09"),
            ("battery_voltage_calibration", "0", "BTA+00"),
            ("date_time", "240229235959", "DAT240229235959"),
            ("save_settings", "confirm", "PSAVE"),
            ("reset_to_defaults", "confirm", "PF"),
        ];
        for (name, value, expected) in cases {
            assert_eq!(cmd(name, value), expected, "{name}={value}");
        }
        assert!(setter_names().len() >= 30);
        assert_eq!(
            Setter::battery_voltage(VoltageSetting::BulkCharge, 56.4)
                .map(|s| s.command())
                .as_deref(),
            Ok("PCVV56.4")
        );
    }

    #[test]
    fn out_of_range_and_bad_formats_refused() {
        let bad = [
            ("output_frequency", "55"),
            ("output_source_priority", "grid_first"),
            ("charger_source_priority", "3"),
            ("battery_type", "lead"),
            ("battery_recharge_voltage", "52.0"),
            ("battery_recharge_voltage", "30.0"),
            ("battery_recharge_voltage", "NaN"),
            ("battery_recharge_voltage", "-46"),
            ("battery_recharge_voltage", "46.05"),
            ("battery_recharge_voltage", "46,0"),
            ("battery_recharge_voltage", "4.6e1"),
            ("battery_recharge_voltage", "46."),
            ("battery_recharge_voltage", ""),
            ("battery_redischarge_voltage", "59.0"),
            ("battery_under_voltage", "49.0"),
            ("battery_bulk_charge_voltage", "64.0"),
            ("battery_float_charge_voltage", "100.0"),
            ("max_charging_current", "0"),
            ("max_charging_current", "1000"),
            ("max_charging_current", "-10"),
            ("max_charging_current", "60.5"),
            ("max_charging_current_parallel", "10:60"),
            ("max_utility_charging_current", "abc"),
            ("buzzer", "maybe"),
            ("output_mode", "triple"),
            ("max_charging_time_for_cv_stage", "7"),
            ("max_charging_time_for_cv_stage", "905"),
            ("max_discharging_current", "20"),
            ("max_discharging_current", "151"),
            ("battery_voltage_calibration", "10"),
            ("battery_voltage_calibration", "--1"),
            ("date_time", "240230120000"),
            ("date_time", "2405011230"),
            ("date_time", "241301120000"),
            ("reset_to_defaults", ""),
            ("no_such_setting", "1"),
        ];
        for (name, value) in bad {
            assert!(
                parse_setter(name, value).is_err(),
                "{name}={value} accepted"
            );
        }
        let e = parse_setter("battery_recharge_voltage", "52.0").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("44.0 V-51.0 V (48 V system)"), "{msg}");
        assert!(Setter::battery_voltage(VoltageSetting::Recharge, f64::NAN).is_err());
        assert!(Setter::battery_voltage(VoltageSetting::Recharge, -46.0).is_err());
        assert!(Setter::battery_voltage(VoltageSetting::Recharge, 46.25).is_err());
        assert!(Setter::max_charging_current_parallel(10, 60).is_err());
    }

    #[test]
    fn check_limits_against_unit() {
        // mpp-solar pi30.py QMCHGCR / QMUCHGCR fixtures.
        let limits = UnitLimits {
            max_charging_currents: parse_current_options(
                "010 020 030 040 050 060 070 080 090 100 110 120",
            )
            .expect("list"),
            max_utility_charging_currents: parse_current_options(
                "002 010 020 030 040 050 060 070 080 090 100 110 120",
            )
            .expect("list"),
            nominal_battery_voltage: Some(48.0),
        };
        let ok = parse_setter("max_charging_current", "60").expect("valid");
        assert_eq!(ok.check_limits(&limits), Ok(()));
        let no = parse_setter("max_charging_current", "65").expect("valid syntax");
        let e = no.check_limits(&limits).unwrap_err();
        assert!(matches!(e, ValidationError::NotAllowedByUnit { .. }));
        assert!(e.to_string().contains("10 A, 20 A"), "{e}");
        let u = parse_setter("max_utility_charging_current", "2").expect("valid");
        assert_eq!(u.check_limits(&limits), Ok(()));
        assert!(
            parse_setter("max_utility_charging_current", "5")
                .expect("valid syntax")
                .check_limits(&limits)
                .is_err()
        );
        // Unknown limits are not checked.
        assert_eq!(no.check_limits(&UnitLimits::default()), Ok(()));

        // Voltage ranges scale with the nominal battery voltage.
        let v48 = parse_setter("battery_recharge_voltage", "46.0").expect("valid");
        let v24 = parse_setter("battery_recharge_voltage", "23.0").expect("valid");
        assert_eq!(v48.check_limits(&limits), Ok(()));
        assert!(v24.check_limits(&limits).is_err());
        let l24 = UnitLimits {
            nominal_battery_voltage: Some(24.0),
            ..UnitLimits::default()
        };
        assert_eq!(v24.check_limits(&l24), Ok(()));
        let e = v48.check_limits(&l24).unwrap_err();
        assert!(e.to_string().contains("22.0 V-25.5 V (24 V system)"), "{e}");
        let l12 = UnitLimits {
            nominal_battery_voltage: Some(12.0),
            ..UnitLimits::default()
        };
        let float12 = parse_setter("battery_float_charge_voltage", "13.5").expect("valid");
        assert_eq!(float12.check_limits(&l12), Ok(()));
        assert!(float12.check_limits(&limits).is_err());
        // PBDV 00.0 ("battery full") is fine for every system voltage.
        let full = parse_setter("battery_redischarge_voltage", "0").expect("valid");
        assert_eq!(full.check_limits(&l12), Ok(()));
    }

    #[test]
    fn readback_matches_decoded_replies() {
        // V17 QPIRI payload: output source priority 2 (SBU), bulk 58.4 V, max charging 60 A.
        let v17 = "120.0 25.0 120.0 60.0 25.0 3000 3000 48.0 46.0 44.0 58.4 54.4 2 30 060 1 2 0 9 01 0 6 54.0 0 1 000 0";
        let r = decode_payload("QPIRI", v17, Variant::Pi30).expect("decodes");
        let rm = decode_payload("QPIRI", v17, Variant::Pi30Max).expect("decodes");
        for (name, value, expect) in [
            ("output_source_priority", "sbu_first", true),
            ("output_source_priority", "utility_first", false),
            ("battery_bulk_charge_voltage", "58.4", true),
            ("battery_float_charge_voltage", "54.4", true),
            ("battery_float_charge_voltage", "54.5", false),
            ("max_charging_current", "60", true),
            ("max_utility_charging_current", "30", true),
            ("battery_type", "user", true),
            ("output_frequency", "60", true),
            ("input_voltage_range", "ups", true),
            ("output_mode", "phase_2_of_2_120", true),
            ("max_charging_time_for_cv_stage", "0", true),
        ] {
            let s = parse_setter(name, value).expect("valid");
            let rb = s.readback().expect("has readback");
            assert_eq!(rb.query, Query::Qpiri);
            let field = match name {
                "output_frequency" => "ac_output_frequency",
                "max_utility_charging_current" => "max_ac_charging_current",
                n => n,
            };
            assert_eq!(rb.field, field);
            assert_eq!(rb.matches(&r), expect, "{name}={value}");
            // Names differ between variants, codes don't.
            assert_eq!(rb.matches(&rm), expect, "{name}={value} (MAX)");
        }
        // QFLAG read-back (V30 payload).
        let flags = decode_payload("QFLAG", "EakxyDbjuvz", Variant::Pi30).expect("decodes");
        let rb = parse_setter("buzzer", "enabled")
            .expect("valid")
            .readback()
            .expect("rb");
        assert_eq!(rb.query, Query::Qflag);
        assert!(rb.matches(&flags));
        let rb = parse_setter("overload_bypass", "enabled")
            .expect("valid")
            .readback()
            .expect("rb");
        assert!(!rb.matches(&flags));
        // Parallel unit 1 reads its own QPGS1.
        let rb = parse_setter("parallel_charger_source_priority", "1:solar_only")
            .expect("valid")
            .readback()
            .expect("rb");
        assert_eq!(rb.query, Query::Qpgs(1));
        assert!(
            parse_setter("date_time", "240501123000")
                .expect("ok")
                .readback()
                .is_none()
        );
    }

    fn setter_strategy() -> impl Strategy<Value = (String, String)> {
        prop_oneof![
            (0u16..700).prop_map(|dv| (
                "battery_bulk_charge_voltage".to_string(),
                format!("{}.{}", dv / 10, dv % 10)
            )),
            (0u16..700).prop_map(|dv| (
                "battery_recharge_voltage".to_string(),
                format!("{}.{}", dv / 10, dv % 10)
            )),
            (0u16..700).prop_map(|dv| (
                "battery_redischarge_voltage".to_string(),
                format!("{}.{}", dv / 10, dv % 10)
            )),
            (0u16..700).prop_map(|dv| (
                "battery_under_voltage".to_string(),
                format!("{}.{}", dv / 10, dv % 10)
            )),
            (0u16..700).prop_map(|dv| (
                "battery_float_charge_voltage".to_string(),
                format!("{}.{}", dv / 10, dv % 10)
            )),
            (0u16..1200).prop_map(|a| ("max_charging_current".to_string(), a.to_string())),
            (0u16..1200).prop_map(|a| ("max_utility_charging_current".to_string(), a.to_string())),
            (0u8..12, 0u16..1200).prop_map(|(u, a)| (
                "max_charging_current_parallel".to_string(),
                format!("{u}:{a}")
            )),
            (0u16..1000)
                .prop_map(|m| ("max_charging_time_for_cv_stage".to_string(), m.to_string())),
            (0u16..200).prop_map(|a| ("max_discharging_current".to_string(), a.to_string())),
            (-12i8..12).prop_map(|s| ("battery_voltage_calibration".to_string(), s.to_string())),
            (0u8..10, 0usize..8).prop_map(|(u, m)| (
                "output_mode".to_string(),
                format!("{u}:{}", OUTPUT_MODES[m].0)
            )),
            (0usize..SETTER_NAMES.len(), "[a-z_0-9.:+-]{0,12}")
                .prop_map(|(i, v)| (SETTER_NAMES[i].to_string(), v)),
            "[0-9]{12}".prop_map(|d| ("date_time".to_string(), d)),
        ]
    }

    proptest! {
        /// Every accepted setter yields a command in the spec's syntax that parses back to itself
        /// and frames as a clean CRC'd ASCII command.
        #[test]
        fn setter_commands_roundtrip((name, value) in setter_strategy()) {
            if let Ok(s) = parse_setter(&name, &value) {
                let c = s.command();
                prop_assert!(c.len() <= 17, "{}", c);
                prop_assert!(c.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()
                    || b"+-.".contains(&b) || (c.starts_with('P') && b.is_ascii_lowercase())), "{}", c);
                prop_assert_eq!(parse_command(&c), Ok(s.clone()));
                let frame = crate::pi30::codec::encode_command(&c, Default::default());
                prop_assert_eq!(
                    crate::pi30::codec::decode_reply(&frame, Default::default()),
                    Ok(crate::pi30::codec::Reply::Echo(c.clone()))
                );
                if let Setter::BatteryVoltage(_, _) = s {
                    // nn.n exactly
                    let arg = &c[4..];
                    prop_assert_eq!(arg.len(), 4);
                    prop_assert_eq!(arg.as_bytes()[2], b'.');
                }
            }
        }

        #[test]
        fn parse_setter_and_command_never_panic(name in "[a-z_]{0,30}", value in "[ -~]{0,20}",
                                                raw in "[ -~]{0,20}") {
            let _ = parse_setter(&name, &value);
            let _ = parse_command(&raw);
        }
    }

    #[test]
    fn every_offered_setting_value_is_accepted() {
        for nominal in [None, Some(12.0), Some(24.0), Some(48.0)] {
            for spec in setter_specs(nominal) {
                let values: Vec<String> = match &spec.kind {
                    SpecKind::Choice(words) => words.iter().map(|w| (*w).to_owned()).collect(),
                    SpecKind::Number { min, max, .. } => {
                        vec![format!("{min:.1}"), format!("{max:.1}")]
                    }
                };
                for v in values {
                    let v = if spec.kind
                        == (SpecKind::Number {
                            min: 1.0,
                            max: 999.0,
                            step: 1.0,
                            unit: "A",
                        })
                        || spec.name == "max_charging_time_for_cv_stage"
                    {
                        v.trim_end_matches(".0").to_owned()
                    } else {
                        v
                    };
                    assert!(
                        parse_setter(spec.name, &v).is_ok(),
                        "{} = {v} ({nominal:?})",
                        spec.name
                    );
                }
            }
        }
        let specs48 = setter_specs(Some(48.0));
        let bulk = specs48
            .iter()
            .find(|s| s.name == "battery_bulk_charge_voltage")
            .unwrap();
        assert_eq!(
            bulk.kind,
            SpecKind::Number {
                min: 48.0,
                max: 63.0,
                step: 0.1,
                unit: "V"
            }
        );
    }

    #[test]
    fn current_values_map_to_the_choice_words() {
        let text = |t: &str| Value::Text(t.into());
        assert_eq!(
            current_choice("output_source_priority", &text("SBU first")),
            Some("sbu_first")
        );
        assert_eq!(
            current_choice("output_source_priority", &text("Solar Utility Battery")),
            Some("solar_first")
        );
        assert_eq!(
            current_choice("charger_source_priority", &text("Solar + Utility")),
            Some("solar_and_utility")
        );
        assert_eq!(
            current_choice(
                "charger_source_priority",
                &text("Only solar charging permitted")
            ),
            Some("solar_only")
        );
        assert_eq!(
            current_choice("battery_type", &text("Pylontech")),
            Some("pylontech")
        );
        assert_eq!(
            current_choice("buzzer", &Value::Bool(false)),
            Some("disabled")
        );
        assert_eq!(
            current_choice("output_source_priority", &text("Moon first")),
            None
        );
        let osp = setter_specs(None)
            .into_iter()
            .find(|s| s.name == "output_source_priority")
            .unwrap();
        assert_eq!(
            osp.kind,
            SpecKind::Choice(vec!["utility_first", "solar_first", "sbu_first"])
        );
    }
}
