//! Reply bodies of the inquiry commands, spec section 2 of PI30_Communication-Protocol-20150924
//! (PI30 variant) and PI30MAX 20210217 (MAX variant). Field widths and zero padding follow the
//! real replies in reference/pi30/vectors.md (V01-V32): e.g. the PI30 QPIGS carries the PV
//! current as a 4-digit integer (V10) where the MAX carries `EE.E` (V11), power fields get five
//! digits above 9999 VA (V13, V20), the MAX QPIGS has 24 fields (V12, V14).
//!
//! Bodies include the leading `(`; the frame (CRC, CR) is added by `wire::frame`.

use super::clock;
use super::config::{InverterConfig, Variant};
use super::settings::{Flags, Settings};
use super::state::{ChargeStage, Env, Mode, Physics, UnitState};

/// Everything a reply is built from.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub cfg: &'a InverterConfig,
    pub settings: &'a Settings,
    pub phys: &'a Physics,
    pub env: &'a Env,
    pub config_changed: bool,
}

/// Conditions behind the QPIWS bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Warnings {
    pub pv_loss: bool,
    pub inverter_fault: bool,
    pub line_fail: bool,
    pub over_temperature: bool,
    pub battery_voltage_high: bool,
    pub battery_low: bool,
    pub battery_under_shutdown: bool,
    pub overload: bool,
}

/// Decimal with `prec` fraction digits, zero padded to `width`, clamped to what fits.
pub(super) fn fx(v: f64, width: usize, prec: usize) -> String {
    let int_digits = if prec > 0 { width - prec - 1 } else { width };
    let max = 10f64.powi(int_digits as i32) - 10f64.powi(-(prec as i32));
    let v = if v.is_finite() {
        v.clamp(0.0, max)
    } else {
        0.0
    };
    format!("{v:0width$.prec$}")
}

/// Integer (rounded), zero padded to `width`, clamped to what fits.
pub(super) fn ix(v: f64, width: usize) -> String {
    let max = 10f64.powi(width as i32) - 1.0;
    let n = if v.is_finite() {
        v.round().clamp(0.0, max) as u64
    } else {
        0
    };
    format!("{n:0width$}")
}

pub(super) fn bit(b: bool) -> char {
    if b { '1' } else { '0' }
}

/// A QET/QLT lifetime counter: eight digits of whole Wh (truncated: the unit counts the Wh it
/// completed), clamped to what fits.
pub(super) fn wh8(wh: f64) -> String {
    let n = if wh.is_finite() {
        wh.floor().clamp(0.0, 99_999_999.0) as u64
    } else {
        0
    };
    format!("{n:08}")
}

/// The tokens of a live-data reply that carry power, exactly as the reply sends them: QPIGS
/// (plus QPIGS2's PV2 power on MAX units) for PI30, GS for PI18. The reply builders format
/// these very strings, and the energy integrals (`energy.rs`) read their numbers back, so what a
/// gateway can integrate and what the simulator tells it to expect cannot drift apart.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PowerTokens {
    /// PV power (W): QPIGS's (PV1 only on MAX units) or GS's PV1.
    pub pv_w: String,
    /// The second PV input's power (W) where the reply set carries it (QPIGS2, GS).
    pub pv2_w: Option<String>,
    /// AC output active power (W).
    pub load_w: String,
    /// Battery voltage, in units of `1 / battery_v_divisor` V.
    pub battery_v: String,
    pub battery_v_divisor: f64,
    /// Battery charging and discharge current (A).
    pub charge_a: String,
    pub discharge_a: String,
}

impl PowerTokens {
    /// The numbers as a decoder reads them: (PV W, load W, battery V, charge A, discharge A).
    /// The tokens are this module's own digits, so they always parse.
    pub fn values(&self) -> (f64, f64, f64, f64, f64) {
        let n = |t: &str| t.parse::<f64>().unwrap_or(0.0);
        (
            n(&self.pv_w) + self.pv2_w.as_deref().map_or(0.0, n),
            n(&self.load_w),
            n(&self.battery_v) / self.battery_v_divisor,
            n(&self.charge_a),
            n(&self.discharge_a),
        )
    }
}

impl Ctx<'_> {
    fn power_width(&self) -> usize {
        if self.cfg.rated_va > 9999 { 5 } else { 4 }
    }

    /// Battery voltage as the unit shows it (with the BTA calibration).
    pub fn shown_battery_v(&self) -> f64 {
        self.phys.battery_v + 0.05 * f64::from(self.settings.battery_adjust_steps)
    }

    pub(super) fn unit(&self, i: usize) -> UnitState {
        self.phys.units.get(i).cloned().unwrap_or_default()
    }

    /// Rounded output watts / VA of one unit (the integers on the wire).
    pub(super) fn unit_power(&self, i: usize) -> (u64, u64) {
        let u = self.unit(i);
        let w = u.output_w.round().max(0.0) as u64;
        let va = (u.output_va.round().max(0.0) as u64).max(w);
        (w, va)
    }

    pub(super) fn load_percent(&self, w: u64, va: u64) -> u64 {
        let pw = w * 100 / u64::from(self.cfg.rated_w.max(1));
        let pva = va * 100 / u64::from(self.cfg.rated_va.max(1));
        pw.max(pva)
    }

    pub(super) fn unit_charge_a(&self, i: usize) -> u64 {
        self.unit(i).charge_a().round().max(0.0) as u64
    }

    pub fn warnings(&self) -> Warnings {
        let scale = self.cfg.battery_scale();
        let u0 = self.unit(0);
        let hottest = self
            .phys
            .units
            .iter()
            .map(|u| u.heat_sink_c)
            .fold(f64::MIN, f64::max);
        let under = Settings::volts(self.settings.under_dv);
        let discharging = self.phys.battery_a < 0.0;
        Warnings {
            pv_loss: u0.pv_available_w < 1.0,
            inverter_fault: self.phys.mode == Mode::Fault,
            line_fail: !self.env.grid_available,
            over_temperature: hottest > 80.0,
            battery_voltage_high: self.phys.battery_v
                > Settings::volts(self.settings.bulk_dv) + 2.0 * scale,
            battery_low: self.phys.low_battery_shutdown
                || (discharging && self.phys.battery_v < under + 2.0 * scale),
            battery_under_shutdown: self.phys.low_battery_shutdown,
            overload: self.env.load_w
                > f64::from(self.cfg.rated_w) * f64::from(self.cfg.parallel_units)
                || (self.phys.mode == Mode::Fault && self.phys.fault_code == 7),
        }
    }

    /// Answers an inquiry; `None` when the command is no inquiry this unit knows.
    pub fn query(&self, cmd: &str) -> Option<String> {
        let body = match cmd {
            "QPI" => "PI30".to_owned(),
            "QID" => self.cfg.unit_serial(0),
            "QSID" => format!("14{}000000", self.cfg.unit_serial(0)),
            "QVFW" => format!("VERFW:{}", self.cfg.firmware),
            "QVFW2" => format!("VERFW2:{}", self.cfg.firmware2),
            "QMN" => self.cfg.model_name.clone(),
            "QGMN" => self.cfg.general_model.clone(),
            "QPIRI" => self.qpiri(),
            "QFLAG" => self.qflag(),
            "QPIGS" => self.qpigs(),
            "QPIGS2" if self.cfg.variant == Variant::Max => self.qpigs2(),
            "QMOD" => self.phys.mode.letter().to_string(),
            "QPIWS" => self.qpiws(),
            "QDI" => self.qdi(),
            "QMCHGCR" => list(&self.cfg.max_charge_currents),
            "QMUCHGCR" => list(&self.cfg.max_ac_charge_currents),
            "QBOOT" => "0".to_owned(),
            "QOPM" => format!("{:02}", self.settings.unit0().output_mode),
            "QCST" => format!("{:02}", self.settings.charge_stage),
            "QCVT" => format!("{:03}", self.settings.cv_time_min),
            "QT" if self.cfg.variant == Variant::Max => clock::format_qt(self.phys.rtc_s),
            // Lifetime energy of the unit answering (PI30MAX §2.23, §2.27); plain PI30 NAKs.
            "QET" if self.cfg.variant == Variant::Max => wh8(self.unit(0).pv_energy_wh),
            "QLT" if self.cfg.variant == Variant::Max => wh8(self.unit(0).load_energy_wh),
            "Q1" => self.q1(),
            _ => {
                let n = cmd.strip_prefix("QPGS")?;
                if n.is_empty() || n.len() > 2 || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let i: usize = n.parse().ok()?;
                if i >= self.phys.units.len() {
                    return None;
                }
                self.qpgs(i)
            }
        };
        Some(format!("({body}"))
    }

    /// The power tokens of QPIGS (and of QPIGS2 on MAX units): unit 0, the unit answering.
    pub(super) fn qpigs_power_tokens(&self) -> PowerTokens {
        let u = self.unit(0);
        let (w, _) = self.unit_power(0);
        let (pv_w, pv2_w) = match self.cfg.variant {
            Variant::Pi30 => (u.pv_w(), None),
            Variant::Max => (u.pv1_w, Some(self.qpigs2_pv2_power())),
        };
        PowerTokens {
            pv_w: ix(pv_w, 5),
            pv2_w,
            load_w: ix(w as f64, self.power_width()),
            battery_v: fx(self.shown_battery_v(), 5, 2),
            battery_v_divisor: 1.0,
            charge_a: ix(self.unit_charge_a(0) as f64, 3),
            discharge_a: ix(u.discharge_a, 5),
        }
    }

    /// QPIGS2's PV2 power token.
    fn qpigs2_pv2_power(&self) -> String {
        ix(self.unit(0).pv2_w, 5)
    }

    fn qpigs(&self) -> String {
        let p = self.phys;
        let u = self.unit(0);
        let pw = self.power_width();
        let (w, va) = self.unit_power(0);
        let charge = self.unit_charge_a(0);
        let tokens = self.qpigs_power_tokens();
        let on = matches!(p.mode, Mode::Line | Mode::Battery);
        let floating = p.stage == ChargeStage::Float && charge > 0;
        let pv_a = match self.cfg.variant {
            Variant::Pi30 => ix(u.pv1_a, 4),
            Variant::Max => fx(u.pv1_a, 4, 1),
        };
        let scc_v = if u.pv_available_w > 0.0 && self.cfg.variant == Variant::Pi30 {
            self.shown_battery_v() + 0.05
        } else {
            0.0
        };
        let status: String = [
            false,
            self.config_changed,
            false,
            on,
            floating,
            charge > 0,
            u.scc_charge_a.round() > 0.0,
            u.ac_charge_a.round() > 0.0,
        ]
        .iter()
        .map(|&b| bit(b))
        .collect();
        let mut s = format!(
            "{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} 00 00 {} {}{}0",
            fx(p.grid_v, 5, 1),
            fx(p.grid_hz, 4, 1),
            fx(p.output_v, 5, 1),
            fx(p.output_hz, 4, 1),
            ix(va as f64, pw),
            tokens.load_w,
            ix(self.load_percent(w, va) as f64, 3),
            ix(p.bus_v, 3),
            tokens.battery_v,
            tokens.charge_a,
            ix(p.soc * 100.0, 3),
            ix(u.heat_sink_c, 4),
            pv_a,
            fx(u.pv1_v, 5, 1),
            fx(scc_v, 5, 2),
            tokens.discharge_a,
            status,
            tokens.pv_w,
            bit(floating),
            bit(p.mode != Mode::PowerOn),
        );
        if self.cfg.variant == Variant::Max {
            s.push_str(" 0 00 0000");
        }
        s
    }

    fn qpigs2(&self) -> String {
        let u = self.unit(0);
        format!(
            "{} {} {} ",
            fx(u.pv2_a, 4, 1),
            fx(u.pv2_v, 5, 1),
            self.qpigs2_pv2_power()
        )
    }

    fn qpiri(&self) -> String {
        let c = self.cfg;
        let s = self.settings;
        let u0 = s.unit0();
        let pw = self.power_width();
        let amps = (f64::from(c.rated_va) / c.rated_output_v * 10.0).floor() / 10.0;
        let nominal = f64::from(c.nominal_battery_v);
        let ac_w = match c.variant {
            Variant::Pi30 if u0.max_ac_charge_a <= 99 => 2,
            _ => 3,
        };
        let mut out = format!(
            "{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} 01 0 {} {} {} {}",
            fx(c.rated_output_v, 5, 1),
            fx(amps, 4, 1),
            fx(c.rated_output_v, 5, 1),
            fx(f64::from(s.frequency_hz), 4, 1),
            fx(amps, 4, 1),
            ix(f64::from(c.rated_va), pw),
            ix(f64::from(c.rated_w), pw),
            fx(nominal, 4, 1),
            fx(Settings::volts(s.recharge_dv), 4, 1),
            fx(Settings::volts(s.under_dv), 4, 1),
            fx(Settings::volts(s.bulk_dv), 4, 1),
            fx(Settings::volts(s.float_dv), 4, 1),
            s.battery_type,
            ix(f64::from(u0.max_ac_charge_a), ac_w),
            ix(f64::from(u0.max_charge_a), 3),
            s.input_range,
            s.output_priority,
            u0.charger_priority,
            c.parallel_max(),
            u0.output_mode,
            fx(Settings::volts(s.redischarge_dv), 4, 1),
            u8::from(s.pv_ok_all),
            u8::from(s.pv_power_balance),
        );
        if c.variant == Variant::Max {
            out.push_str(&format!(
                " {} 0 {}",
                ix(f64::from(s.cv_time_min), 3),
                ix(f64::from(s.max_discharge_a), 3)
            ));
        }
        out
    }

    fn qflag(&self) -> String {
        let flags = &self.settings.flags;
        let letters = Flags::letters(self.cfg.variant);
        let mut on = String::from("E");
        let mut off = String::from("D");
        for &l in letters {
            if flags.get(l) == Some(true) {
                on.push(char::from(l));
            } else {
                off.push(char::from(l));
            }
        }
        on + &off
    }

    fn qpiws(&self) -> String {
        let w = self.warnings();
        let n = match self.cfg.variant {
            Variant::Pi30 => 32,
            Variant::Max => 36,
        };
        let mut bits = vec![false; n];
        bits[0] = self.cfg.variant == Variant::Max && w.pv_loss;
        bits[1] = w.inverter_fault;
        bits[5] = w.line_fail;
        bits[9] = w.over_temperature;
        bits[11] = w.battery_voltage_high;
        bits[12] = w.battery_low;
        bits[14] = w.battery_under_shutdown;
        bits[16] = w.overload;
        bits.into_iter().map(bit).collect()
    }

    fn qdi(&self) -> String {
        let d = Settings::defaults(self.cfg);
        let u0 = d.unit0();
        let f = &d.flags;
        let mut out = format!(
            "{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}",
            fx(self.cfg.rated_output_v, 5, 1),
            fx(f64::from(d.frequency_hz), 4, 1),
            ix(f64::from(u0.max_ac_charge_a), 4),
            fx(Settings::volts(d.under_dv), 4, 1),
            fx(Settings::volts(d.float_dv), 4, 1),
            fx(Settings::volts(d.bulk_dv), 4, 1),
            fx(Settings::volts(d.recharge_dv), 4, 1),
            ix(
                f64::from(u0.max_charge_a),
                if u0.max_charge_a > 99 { 3 } else { 2 }
            ),
            d.input_range,
            d.output_priority,
            u0.charger_priority,
            d.battery_type,
            // QDI item 14: 0 = buzzer enabled.
            bit(!f.buzzer),
            bit(f.power_saving),
            bit(f.overload_restart),
            bit(f.over_temperature_restart),
            bit(f.backlight),
            bit(f.source_interrupt_alarm),
            bit(f.fault_record),
            bit(f.overload_bypass),
            bit(f.lcd_escape),
            u0.output_mode,
            fx(Settings::volts(d.redischarge_dv), 4, 1),
            u8::from(d.pv_ok_all),
            u8::from(d.pv_power_balance),
        );
        match self.cfg.variant {
            Variant::Pi30 => out.push_str(" 000"),
            Variant::Max => out.push_str(&format!(
                " {} {}",
                ix(f64::from(d.cv_time_min), 3),
                ix(f64::from(d.max_discharge_a), 3)
            )),
        }
        out
    }

    fn qpgs(&self, i: usize) -> String {
        let p = self.phys;
        let u = self.unit(i);
        let s = self.settings;
        let us = s.units.get(i).copied().unwrap_or_else(|| s.unit0());
        let pw = self.power_width();
        let n = p.units.len();
        let (w, va) = self.unit_power(i);
        let tot_w: u64 = (0..n).map(|k| self.unit_power(k).0).sum();
        let tot_va: u64 = (0..n).map(|k| self.unit_power(k).1).sum();
        let tot_chg: u64 = (0..n).map(|k| self.unit_charge_a(k)).sum();
        let tot_pct = tot_w * 100 / (u64::from(self.cfg.rated_w.max(1)) * n as u64);
        let warn = self.warnings();
        let status: String = [
            true,
            u.ac_charge_a.round() > 0.0,
            u.scc_charge_a.round() > 0.0,
            false,
            warn.battery_low,
            warn.line_fail,
            matches!(p.mode, Mode::Line | Mode::Battery),
            self.config_changed,
        ]
        .iter()
        .map(|&b| bit(b))
        .collect();
        let ac_w = match self.cfg.variant {
            Variant::Pi30 if us.max_ac_charge_a <= 99 => 2,
            _ => 3,
        };
        let mut out = format!(
            "{} {} {} {:02} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}",
            u8::from(n > 1),
            self.cfg.unit_serial(i as u32),
            p.mode.letter(),
            p.fault_code,
            fx(p.grid_v, 5, 1),
            fx(p.grid_hz, 5, 2),
            fx(p.output_v, 5, 1),
            fx(p.output_hz, 5, 2),
            ix(va as f64, pw),
            ix(w as f64, pw),
            ix(self.load_percent(w, va) as f64, 3),
            fx(self.shown_battery_v(), 4, 1),
            ix(self.unit_charge_a(i) as f64, 3),
            ix(p.soc * 100.0, 3),
            fx(u.pv1_v, 5, 1),
            ix(tot_chg as f64, 3),
            ix(tot_va as f64, 5),
            ix(tot_w as f64, 5),
            ix(tot_pct as f64, 3),
            status,
            us.output_mode,
            us.charger_priority,
            ix(f64::from(us.max_charge_a), 3),
            ix(f64::from(self.cfg.max_charge_range()), 3),
            ix(f64::from(us.max_ac_charge_a), ac_w),
            ix(u.pv1_a, 2),
            ix(u.discharge_a, 3),
        );
        if self.cfg.variant == Variant::Max {
            out.push_str(&format!(" {} {}", fx(u.pv2_v, 5, 1), ix(u.pv2_a, 2)));
        }
        out
    }

    fn q1(&self) -> String {
        let p = self.phys;
        let u = self.unit(0);
        let t = u.heat_sink_c;
        let charge = u.charge_a();
        let status = if charge < 0.5 {
            10
        } else if p.stage == ChargeStage::Float {
            13
        } else if p.cv_s > 0.0 {
            12
        } else {
            11
        };
        let fan = (30.0 + (t - 40.0).max(0.0) * 2.0).min(100.0);
        format!(
            "00000 00000 01 01 00 {} {} {} {} 00 00 000 {} {} 0000 {} {}",
            ix(t + 5.0, 3),
            ix(t, 3),
            ix(self.env.ambient_c + 3.0, 3),
            ix(t + 10.0, 3),
            ix(fan, 4),
            ix(u.scc_charge_a * p.battery_v, 4),
            fx(p.output_hz.max(f64::from(self.settings.frequency_hz)), 5, 2),
            status
        )
    }
}

fn list(values: &[u32]) -> String {
    values
        .iter()
        .map(|v| format!("{v:03}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_helpers_pad_and_clamp() {
        assert_eq!(fx(0.0, 5, 1), "000.0");
        assert_eq!(fx(57.5, 5, 2), "57.50");
        assert_eq!(fx(1234.0, 5, 1), "999.9");
        assert_eq!(fx(-3.0, 4, 1), "00.0");
        assert_eq!(ix(161.4, 4), "0161");
        assert_eq!(ix(123_456.0, 5), "99999");
        assert_eq!(ix(f64::NAN, 3), "000");
        assert_eq!(list(&[2, 10, 120]), "002 010 120");
        assert_eq!(wh8(238_800.9), "00238800");
        assert_eq!(wh8(0.4), "00000000");
        assert_eq!(wh8(123_456_789.0), "99999999");
        assert_eq!(wh8(-5.0), "00000000");
        assert_eq!(wh8(f64::NAN), "00000000");
    }
}
