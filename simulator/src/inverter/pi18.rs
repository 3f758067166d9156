//! The PI18 personality (`protocol = "pi18"`): the same simulated unit answering in the
//! InfiniSolar-V protocol, `PI18_InfiniSolar-V-protocol-20170926`, as restated in
//! `../shared/reference/pi18/README.md` (§1 framing, §2 queries, §3 setters, §6 simulator notes).
//!
//! Requests: `^P<nnn><query>` / `^S<nnn><setter>` + CRC-16/XMODEM (over the header too, reserved
//! bytes 0x28/0x0D/0x0A sent +1; the unbumped byte and 0x00 sent as 0x01 are accepted, as on the
//! PI30 side) + CR, `nnn` = text + 3. The spec's literal `^P005FWS`, `^P005ACCT`, `^P005ACLT` are
//! accepted too (§1.2). Replies: `^D<nnn><comma-separated fixed-width integers>` + CRC + CR;
//! setters answer `^1` / `^0`. Everything else gets `^0` (§6): a bad CRC, a length mismatch
//! (`^P003PI` + CRC, V03), an unknown command, and PI30 words such as `QPI` ([U] in §4.2; `^0`
//! by analogy with PI17, as §6 advises).
//!
//! Values come from the same [`Ctx`] as the PI30 replies, scaled as PI18 sends them: voltages and
//! frequencies in tenths without a decimal point, currents in whole amperes (PIRI's rated
//! currents in tenths). Settings are stored in PI30 terms: PI18 `POP0`/`POP1` are PI30's output
//! priorities 1 (solar first) / 2 (SBU), PI18 `PCPm,0..2` PI30's charger priorities 1..3; PI30's
//! "utility first" (0) has no PI18 code and is shown as the nearest one.

use sungate_drivers::pi18::codec::{ACCEPT, REFUSE, encode_reply};

use super::config::{InverterConfig, Variant};
use super::replies::{Ctx, PowerTokens, bit};
use super::settings::Settings;
use super::state::{Mode, UnitState};
use super::wire;

/// What a PI18 request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `^P…`: a query (command text).
    Query(String),
    /// `^S…`: a setter (command text).
    Set(String),
    /// Anything else: answered `^0`.
    Refused,
}

/// The accept frame `^1` + CRC + CR.
pub fn accept() -> Vec<u8> {
    ACCEPT.to_vec()
}

/// The refuse frame `^0` + CRC + CR.
pub fn refuse() -> Vec<u8> {
    REFUSE.to_vec()
}

/// A data reply `^Dnnn<payload>` + CRC + CR.
pub fn data(payload: &str) -> Vec<u8> {
    // Payloads are short printable ASCII; an encoding error cannot happen, `^0` if it did.
    encode_reply(payload).unwrap_or_else(|_| refuse())
}

/// Header lengths the spec prints that differ from the rule (README §1.2).
fn literal_length_ok(command: &str, declared: usize) -> bool {
    declared == 5 && matches!(command, "FWS" | "ACCT" | "ACLT")
}

/// Checks one complete request frame (CRC, header, length field).
pub fn parse(frame: &[u8]) -> Request {
    let Ok(body) = wire::parse_request(frame) else {
        return Request::Refused;
    };
    let Some(rest) = body.strip_prefix('^') else {
        return Request::Refused;
    };
    let mut chars = rest.chars();
    let kind = chars.next();
    let rest = chars.as_str();
    let (Some(digits), Some(text)) = (rest.get(..3), rest.get(3..)) else {
        return Request::Refused;
    };
    let Some(declared) = digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse::<usize>().ok())
        .flatten()
    else {
        return Request::Refused;
    };
    if text.is_empty() || (declared != text.len() + 3 && !literal_length_ok(text, declared)) {
        return Request::Refused;
    }
    match kind {
        Some('P') => Request::Query(text.to_owned()),
        Some('S') => Request::Set(text.to_owned()),
        _ => Request::Refused,
    }
}

/// Integer (rounded, non-negative) zero padded to at least `width` digits; unlike PI30's fixed
/// fields a larger value keeps its digits (a field is split on commas, never sliced).
fn iw(v: f64, width: usize) -> String {
    let n = if v.is_finite() {
        v.round().clamp(0.0, 99_999.0) as u64
    } else {
        0
    };
    format!("{n:0width$}")
}

/// Tenths of `v`, zero padded to `width`.
fn tenths(v: f64, width: usize) -> String {
    iw(v * 10.0, width)
}

/// PIRI 17 / POP code of a PI30 output priority (0 utility, 1 solar, 2 SBU).
pub fn output_priority_code(pi30: u8) -> u8 {
    u8::from(pi30 == 2)
}

/// PIRI 18 / PCP code of a PI30 charger priority (0 utility, 1 solar, 2 solar + utility,
/// 3 solar only).
pub fn charger_priority_code(pi30: u8) -> u8 {
    match pi30 {
        1 => 0,
        3 => 2,
        _ => 1,
    }
}

/// MOD code of a mode (PI18 05 = "hybrid (line) mode").
pub fn mode_code(mode: Mode) -> &'static str {
    match mode {
        Mode::PowerOn => "00",
        Mode::Standby => "01",
        Mode::Battery => "03",
        Mode::Fault => "04",
        Mode::Line => "05",
    }
}

/// 5-digit VFW version from a PI30 `NNNNN.NN` firmware string: its integer part.
fn version5(firmware: &str) -> String {
    let digits: String = firmware
        .split('.')
        .next()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let n: u64 = digits.parse().unwrap_or(0);
    format!("{:05}", n % 100_000)
}

fn list(values: &[u32]) -> String {
    values
        .iter()
        .map(|v| format!("{v:03}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl Ctx<'_> {
    /// The payload of a PI18 query; `None` when this unit does not answer it (`^0`).
    pub fn pi18_query(&self, cmd: &str) -> Option<String> {
        Some(match cmd {
            "PI" => "18".to_owned(),
            "ID" => format!("14{}000000", self.cfg.unit_serial(0)),
            "VFW" => format!(
                "{},{},00000",
                version5(&self.cfg.firmware),
                version5(&self.cfg.firmware2)
            ),
            "PIRI" => self.piri(),
            "GS" => self.gs(),
            "MOD" => mode_code(self.phys.mode).to_owned(),
            "FWS" => self.fws(),
            "FLAG" => self.flag(),
            "MCHGCR" => list(&self.cfg.max_charge_currents),
            "MUCHGCR" => list(&self.cfg.max_ac_charge_currents),
            _ => return None,
        })
    }

    /// The power tokens of GS, as [`Ctx::gs`] sends them (battery voltage in tenths).
    pub(super) fn gs_power_tokens(&self) -> PowerTokens {
        let u = self.unit(0);
        let (w, _) = self.unit_power(0);
        PowerTokens {
            pv_w: iw(u.pv1_w, 4),
            pv2_w: Some(iw(u.pv2_w, 4)),
            load_w: iw(w as f64, 4),
            battery_v: tenths(self.shown_battery_v(), 3),
            battery_v_divisor: 10.0,
            charge_a: iw(self.unit_charge_a(0) as f64, 3),
            discharge_a: iw(Self::gs_discharge_a(&u) as f64, 3),
        }
    }

    /// GS's discharge current: whole amps.
    fn gs_discharge_a(u: &UnitState) -> u64 {
        u.discharge_a.round().max(0.0) as u64
    }

    /// GS: 28 fields (README §2.2).
    fn gs(&self) -> String {
        let p = self.phys;
        let u = self.unit(0);
        let (w, va) = self.unit_power(0);
        let charge = self.unit_charge_a(0);
        let discharge = Self::gs_discharge_a(&u);
        let tokens = self.gs_power_tokens();
        let battery_v = self.shown_battery_v();
        let scc1_v = if u.pv1_w >= 0.5 { battery_v } else { 0.0 };
        let scc2_v = if u.pv2_w >= 0.5 { battery_v } else { 0.0 };
        let mppt = |pv_w: f64| if pv_w >= 0.5 { '2' } else { '1' };
        let battery_dir = if charge > 0 {
            1
        } else if discharge > 0 {
            2
        } else {
            0
        };
        let dc_ac_dir = if p.mode == Mode::Battery && w > 0 {
            2
        } else if u.ac_charge_a.round() > 0.0 {
            1
        } else {
            0
        };
        let line_dir = u8::from(p.mode == Mode::Line && self.env.grid_available);
        let fields = [
            tenths(p.grid_v, 4),
            tenths(p.grid_hz, 3),
            tenths(p.output_v, 4),
            tenths(p.output_hz, 3),
            iw(va as f64, 4),
            tokens.load_w,
            iw(self.load_percent(w, va) as f64, 3),
            tokens.battery_v,
            tenths(scc1_v, 3),
            tenths(scc2_v, 3),
            tokens.discharge_a,
            tokens.charge_a,
            iw(p.soc * 100.0, 3),
            iw(u.heat_sink_c, 3),
            // MPPT temperatures: 000 in every real frame (README §2.2 observations).
            "000".to_owned(),
            "000".to_owned(),
            tokens.pv_w,
            tokens.pv2_w.unwrap_or_default(),
            tenths(u.pv1_v, 4),
            tenths(u.pv2_v, 4),
            bit(self.config_changed).to_string(),
            mppt(u.pv1_w).to_string(),
            mppt(u.pv2_w).to_string(),
            bit(matches!(p.mode, Mode::Line | Mode::Battery)).to_string(),
            battery_dir.to_string(),
            dc_ac_dir.to_string(),
            line_dir.to_string(),
            "0".to_owned(),
        ];
        fields.join(",")
    }

    /// PIRI: the 26 fields of real units (the spec's 25 + a trailing `00`).
    fn piri(&self) -> String {
        let c = self.cfg;
        let s = self.settings;
        let u0 = s.unit0();
        let amps = (f64::from(c.rated_va) / c.rated_output_v * 10.0).floor() / 10.0;
        let ac_width = if u0.max_ac_charge_a > 99 { 3 } else { 2 };
        let fields = [
            tenths(c.rated_output_v, 4),
            tenths(amps, 3),
            tenths(c.rated_output_v, 4),
            tenths(f64::from(s.frequency_hz), 3),
            tenths(amps, 3),
            iw(f64::from(c.rated_va), 4),
            iw(f64::from(c.rated_w), 4),
            iw(f64::from(c.nominal_battery_v) * 10.0, 3),
            iw(f64::from(s.recharge_dv), 3),
            iw(f64::from(s.redischarge_dv), 3),
            iw(f64::from(s.under_dv), 3),
            iw(f64::from(s.bulk_dv), 3),
            iw(f64::from(s.float_dv), 3),
            s.battery_type.to_string(),
            iw(f64::from(u0.max_ac_charge_a), ac_width),
            iw(f64::from(u0.max_charge_a), 3),
            s.input_range.to_string(),
            output_priority_code(s.output_priority).to_string(),
            charger_priority_code(u0.charger_priority).to_string(),
            c.parallel_max().to_string(),
            // Machine type off-grid, transformerless.
            "0".to_owned(),
            "0".to_owned(),
            u0.output_mode.to_string(),
            // Solar power priority: Load-Battery-Utility (not modelled).
            "1".to_owned(),
            // MPPT strings.
            if self.cfg.variant == Variant::Max {
                "2".to_owned()
            } else {
                "1".to_owned()
            },
            "00".to_owned(),
        ];
        fields.join(",")
    }

    /// FWS: fault code + the spec's 16 flags + the 17th flag of real units (always 0 here).
    fn fws(&self) -> String {
        let w = self.warnings();
        let code = if self.phys.mode == Mode::Fault {
            self.phys.fault_code
        } else {
            0
        };
        let flags = [
            w.line_fail,
            false,
            w.over_temperature,
            false,
            w.battery_voltage_high,
            w.battery_low,
            w.battery_under_shutdown,
            w.overload,
            false,
            false,
            false,
            false,
            false,
            false,
            false,
            false,
            false,
        ];
        let mut out = format!("{code:02}");
        for f in flags {
            out.push(',');
            out.push(bit(f));
        }
        out
    }

    /// FLAG: 8 flags in the spec's order + a reserved `0`.
    fn flag(&self) -> String {
        let f = &self.settings.flags;
        [
            f.buzzer,
            f.overload_bypass,
            f.lcd_escape,
            f.overload_restart,
            f.over_temperature_restart,
            f.backlight,
            f.source_interrupt_alarm,
            f.fault_record,
            false,
        ]
        .iter()
        .map(|&b| bit(b).to_string())
        .collect::<Vec<_>>()
        .join(",")
    }
}

/// Result of a PI18 setter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    /// `^1`, a setting changed.
    Changed,
    /// `^1`, nothing changed (the value was already set).
    Unchanged,
    /// `^0`.
    Refused,
}

/// Exactly `n` ASCII digits.
fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `m,rest`: a one-digit parallel id below `units` and the rest.
fn unit_and(args: &str, units: usize) -> Option<(usize, &str)> {
    let (m, rest) = args.split_once(',')?;
    let m = digits(m, 1)? as usize;
    (m < units).then_some((m, rest))
}

/// Applies a PI18 setter (README §3: POP, PCP, MCHGC, MUCHGC) to the PI30-terms settings.
/// Strict syntax (exact digit counts) and the unit's own MCHGCR / MUCHGCR lists.
pub fn apply(cmd: &str, cfg: &InverterConfig, s: &mut Settings) -> SetOutcome {
    let mut next = s.clone();
    let units = next.units.len();
    let ok = if let Some(a) = cmd.strip_prefix("MUCHGC") {
        match unit_and(a, units).and_then(|(m, n)| Some((m, digits(n, 3)?))) {
            Some((m, amps)) if cfg.max_ac_charge_currents.contains(&amps) => {
                if let Some(u) = next.units.get_mut(m) {
                    u.max_ac_charge_a = amps;
                }
                true
            }
            _ => false,
        }
    } else if let Some(a) = cmd.strip_prefix("MCHGC") {
        match unit_and(a, units).and_then(|(m, n)| Some((m, digits(n, 3)?))) {
            Some((m, amps)) if cfg.max_charge_currents.contains(&amps) => {
                if let Some(u) = next.units.get_mut(m) {
                    u.max_charge_a = amps;
                }
                true
            }
            _ => false,
        }
    } else if let Some(a) = cmd.strip_prefix("PCP") {
        match unit_and(a, units).and_then(|(m, n)| Some((m, digits(n, 1)?))) {
            Some((m, code)) if code <= 2 => {
                if let Some(u) = next.units.get_mut(m) {
                    u.charger_priority = code as u8 + 1;
                }
                true
            }
            _ => false,
        }
    } else if let Some(a) = cmd.strip_prefix("POP") {
        match digits(a, 1) {
            Some(code) if code <= 1 => {
                next.output_priority = code as u8 + 1;
                true
            }
            _ => false,
        }
    } else {
        false
    };
    if !ok {
        SetOutcome::Refused
    } else if next == *s {
        SetOutcome::Unchanged
    } else {
        *s = next;
        SetOutcome::Changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_checks_crc_header_and_length() {
        let q = |t: &str| sungate_drivers::pi18::encode_query(t).unwrap();
        assert_eq!(parse(&q("GS")), Request::Query("GS".into()));
        assert_eq!(
            parse(&sungate_drivers::pi18::encode_set("POP1").unwrap()),
            Request::Set("POP1".into())
        );
        // The spec's literal `^P005FWS` (README §2.1 bytes) and the computed `^P006FWS`.
        let literal = b"\x5e\x50\x30\x30\x35\x46\x57\x53\x5e\x9f\x0d";
        let computed = b"\x5e\x50\x30\x30\x36\x46\x57\x53\xc5\x43\x0d";
        assert_eq!(parse(literal), Request::Query("FWS".into()));
        assert_eq!(parse(computed), Request::Query("FWS".into()));
        // PI17-form `^P003PI` with a valid CRC (V03): refused.
        let mut pi17 = b"^P003PI".to_vec();
        pi17.extend_from_slice(&sungate_drivers::pi18::codec::crc_bytes(b"^P003PI"));
        pi17.push(b'\r');
        assert_eq!(parse(&pi17), Request::Refused);
        // No CRC, bad CRC, not a `^P`/`^S` frame.
        assert_eq!(parse(b"^P003PI\r"), Request::Refused);
        let mut bad = q("GS");
        bad[7] ^= 1;
        assert_eq!(parse(&bad), Request::Refused);
        assert_eq!(parse(b"QPI\xbe\xac\r"), Request::Refused);
    }

    #[test]
    fn code_mappings() {
        assert_eq!(
            [0, 1, 2].map(output_priority_code),
            [0, 0, 1],
            "PI30 utility/solar/SBU"
        );
        assert_eq!([0, 1, 2, 3].map(charger_priority_code), [1, 0, 1, 2]);
        assert_eq!(version5("00072.70"), "00072");
        assert_eq!(version5("05220"), "05220");
        assert_eq!(iw(12_345.0, 4), "12345");
        assert_eq!(tenths(53.96, 3), "540");
    }
}
