//! Device-side parsing and range checks of the setter commands, spec section 3 of
//! PI30_Communication-Protocol-20150924 (PI30 variant) and PI30MAX 20210217 (MAX variant),
//! with the ranges of PI30_PIP-GK_MK where the MAX document gives none; BTA and PSAVE follow
//! mpp-solar's command table (no Voltronic document covers them).
//!
//! Deliberately independent of the host-side builders in `sungate_drivers::pi30::setters`:
//! the syntax is parsed strictly (exact digit counts, `nn.n` voltages) so that host bugs show.
//! A refused command changes nothing.

use super::clock;
use super::config::{InverterConfig, Variant};
use super::settings::Settings;

/// Result of a setter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted and the settings changed (QPIGS "configuration changed").
    Changed,
    /// Accepted without a settings change (DAT, PSAVE).
    Accepted,
    /// Refused: `(NAK`.
    Refused,
}

/// Exactly `n` ASCII digits.
fn digits(s: &str, n: usize) -> Option<u32> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// A voltage written `nn.n`, in tenths of a volt.
fn tenths(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() == 4 && b[2] == b'.' && [b[0], b[1], b[3]].iter().all(u8::is_ascii_digit) {
        Some(u32::from(b[0] - b'0') * 100 + u32::from(b[1] - b'0') * 10 + u32::from(b[3] - b'0'))
    } else {
        None
    }
}

/// PBCV choices (tenths) for the nominal battery voltage (spec 3.9).
fn recharge_choices(nominal: u32) -> Vec<u32> {
    match nominal {
        12 => vec![110, 113, 115, 118, 120, 123, 125, 128],
        24 => (0..8).map(|i| 220 + 5 * i).collect(),
        _ => (0..8).map(|i| 440 + 10 * i).collect(),
    }
}

/// PBDV choices (tenths); 0 means "battery full" (spec 3.10).
fn redischarge_choices(nominal: u32) -> Vec<u32> {
    let mut v = vec![0];
    match nominal {
        12 => v.extend([120, 123, 125, 128, 130, 133, 135, 138, 140, 143, 145]),
        24 => v.extend((0..11).map(|i| 240 + 5 * i)),
        _ => v.extend((0..11).map(|i| 480 + 10 * i)),
    }
    v
}

/// Scales a 48 V range bound (tenths) to the nominal voltage.
fn scaled(tenths48: u32, nominal: u32) -> u32 {
    tenths48 * nominal / 48
}

/// PCVT choices (spec 3.20; MAX 3.28: 0..=900 in steps of 5).
fn cv_time_ok(variant: Variant, minutes: u32) -> bool {
    match variant {
        Variant::Pi30 => [0, 10, 20, 40, 60, 90, 120, 150, 180, 210, 240, 255].contains(&minutes),
        Variant::Max => minutes <= 900 && minutes % 5 == 0,
    }
}

fn charger_priority_ok(variant: Variant, p: u32) -> bool {
    match variant {
        Variant::Pi30 => p <= 3,
        Variant::Max => (1..=3).contains(&p),
    }
}

/// Applies one setter command (without CRC) to the settings and clock.
pub fn apply(cmd: &str, cfg: &InverterConfig, s: &mut Settings, clock_s: &mut f64) -> Outcome {
    let mut next = s.clone();
    let mut new_clock = None;
    let ok = parse_into(cmd, cfg, &mut next, &mut new_clock);
    if !ok {
        return Outcome::Refused;
    }
    if let Some(c) = new_clock {
        *clock_s = c;
    }
    if next == *s {
        Outcome::Accepted
    } else {
        *s = next;
        Outcome::Changed
    }
}

fn parse_into(
    cmd: &str,
    cfg: &InverterConfig,
    s: &mut Settings,
    clock_s: &mut Option<f64>,
) -> bool {
    let nominal = cfg.nominal_battery_v;
    let variant = cfg.variant;
    let units = s.units.len() as u32;
    let b = |tenths48: u32| scaled(tenths48, nominal);

    if cmd == "PF" {
        *s = Settings::defaults(cfg);
        return true;
    }
    if cmd == "PSAVE" {
        return true;
    }
    if let Some(v) = cmd.strip_prefix("PBATMAXDISC") {
        return match (variant, digits(v, 3)) {
            (Variant::Max, Some(a)) if a == 0 || (30..=150).contains(&a) => {
                s.max_discharge_a = a;
                true
            }
            _ => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("PBCV") {
        return match tenths(v) {
            Some(t) if recharge_choices(nominal).contains(&t) => {
                s.recharge_dv = t;
                true
            }
            _ => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("PBDV") {
        return match tenths(v) {
            Some(t) if redischarge_choices(nominal).contains(&t) => {
                s.redischarge_dv = t;
                true
            }
            _ => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("PSDV") {
        return match tenths(v) {
            Some(t) if (b(400)..=b(480)).contains(&t) => {
                s.under_dv = t;
                true
            }
            _ => false,
        };
    }
    let cv_hi = match variant {
        Variant::Pi30 => b(584),
        Variant::Max => b(630),
    };
    if let Some(v) = cmd.strip_prefix("PCVV") {
        return match tenths(v) {
            Some(t) if (b(480)..=cv_hi).contains(&t) => {
                s.bulk_dv = t;
                true
            }
            _ => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("PBFT") {
        return match tenths(v) {
            Some(t) if (b(480)..=cv_hi).contains(&t) => {
                s.float_dv = t;
                true
            }
            _ => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("PBT") {
        let max = match variant {
            Variant::Pi30 => 2,
            Variant::Max => 9,
        };
        return match digits(v, 2) {
            Some(t) if t <= max => {
                s.battery_type = t as u8;
                true
            }
            _ => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("POPM") {
        let max = match variant {
            Variant::Pi30 => 4,
            Variant::Max => 7,
        };
        return match digits(v, 2) {
            Some(m) if m <= max => {
                if let Some(u) = s.units.first_mut() {
                    u.output_mode = m as u8;
                }
                true
            }
            _ => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("POP") {
        return match digits(v, 2) {
            Some(p) if p <= 2 => {
                s.output_priority = p as u8;
                true
            }
            _ => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("PPCP") {
        let (m, p) = (
            digits(v.get(..1).unwrap_or(""), 1),
            v.get(1..).and_then(|r| digits(r, 2)),
        );
        return match (m, p) {
            (Some(m), Some(p)) if m < units && charger_priority_ok(variant, p) => {
                if let Some(u) = s.units.get_mut(m as usize) {
                    u.charger_priority = p as u8;
                }
                true
            }
            _ => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("PPVOKC") {
        return match digits(v, 1) {
            Some(x) if x <= 1 => {
                s.pv_ok_all = x == 1;
                true
            }
            _ => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("PSPB") {
        return match digits(v, 1) {
            Some(x) if x <= 1 => {
                s.pv_power_balance = x == 1;
                true
            }
            _ => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("PCP") {
        return match digits(v, 2) {
            Some(p) if charger_priority_ok(variant, p) => {
                for u in &mut s.units {
                    u.charger_priority = p as u8;
                }
                true
            }
            _ => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("PCST") {
        return match digits(v, 2) {
            Some(x) if x <= 2 => {
                s.charge_stage = x as u8;
                true
            }
            _ => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("PCVT") {
        return match digits(v, 3) {
            Some(m) if cv_time_ok(variant, m) => {
                s.cv_time_min = m;
                true
            }
            _ => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("PGR") {
        return match digits(v, 2) {
            Some(x) if x <= 1 => {
                s.input_range = x as u8;
                true
            }
            _ => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("MNCHGC") {
        let (m, a) = (
            digits(v.get(..1).unwrap_or(""), 1),
            v.get(1..).and_then(|r| digits(r, 3)),
        );
        return match (m, a) {
            (Some(m), Some(a)) if m < units && cfg.max_charge_currents.contains(&a) => {
                if let Some(u) = s.units.get_mut(m as usize) {
                    u.max_charge_a = a;
                }
                true
            }
            _ => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("MCHGC") {
        return match digits(v, 3) {
            Some(a) if cfg.max_charge_currents.contains(&a) => {
                for u in &mut s.units {
                    u.max_charge_a = a;
                }
                true
            }
            _ => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("MUCHGC") {
        let allowed = &cfg.max_ac_charge_currents;
        return match variant {
            // PI30 3.5: MUCHGC<nnn>, the whole system.
            Variant::Pi30 => match digits(v, 3) {
                Some(a) if allowed.contains(&a) => {
                    for u in &mut s.units {
                        u.max_ac_charge_a = a;
                    }
                    true
                }
                _ => false,
            },
            // MAX 3.6: MUCHGC<mnn>, or <mnnn> above 99 A; m is the unit.
            Variant::Max => {
                let m = digits(v.get(..1).unwrap_or(""), 1);
                let a = v.get(1..).and_then(|r| match r.len() {
                    2 => digits(r, 2),
                    3 => digits(r, 3),
                    _ => None,
                });
                match (m, a) {
                    (Some(m), Some(a)) if m < units && allowed.contains(&a) => {
                        if let Some(u) = s.units.get_mut(m as usize) {
                            u.max_ac_charge_a = a;
                        }
                        true
                    }
                    _ => false,
                }
            }
        };
    }
    if let Some(v) = cmd.strip_prefix("BTA") {
        let b = v.as_bytes();
        if b.len() == 3 && (b[0] == b'+' || b[0] == b'-') && b[1] == b'0' && b[2].is_ascii_digit() {
            let step = i32::from(b[2] - b'0');
            let next = s.battery_adjust_steps + if b[0] == b'-' { -step } else { step };
            if next.abs() <= 20 {
                s.battery_adjust_steps = next;
                return true;
            }
        }
        return false;
    }
    if let Some(v) = cmd.strip_prefix("DAT") {
        return match clock::parse_dat(v) {
            Some(c) => {
                *clock_s = Some(c);
                true
            }
            None => false,
        };
    }
    if let Some(v) = cmd.strip_prefix("PE").or_else(|| cmd.strip_prefix("PD")) {
        let on = cmd.starts_with("PE");
        let known = super::settings::Flags::letters(variant);
        if v.is_empty() || !v.bytes().all(|l| known.contains(&l)) {
            return false;
        }
        for l in v.bytes() {
            s.flags.set(l, on);
        }
        return true;
    }
    if let Some(v) = cmd.strip_prefix('F') {
        return match digits(v, 2) {
            Some(f @ (50 | 60)) => {
                s.frequency_hz = f;
                true
            }
            _ => false,
        };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cfg: &InverterConfig, cmd: &str) -> (Outcome, Settings) {
        let mut s = Settings::defaults(cfg);
        let mut clock = 0.0;
        let o = apply(cmd, cfg, &mut s, &mut clock);
        (o, s)
    }

    #[test]
    fn strict_syntax_and_ranges_48v_pi30() {
        let cfg = InverterConfig::default();
        let accepted = [
            "POP02",
            "PCP03",
            "PGR01",
            "PBT02",
            "PBCV44.0",
            "PBCV51.0",
            "PBDV00.0",
            "PBDV58.0",
            "PSDV40.0",
            "PSDV48.0",
            "PCVV58.4",
            "PBFT48.0",
            "MCHGC120",
            "MNCHGC0010",
            "MUCHGC002",
            "PEa",
            "PDabjkuvxyz",
            "POPM04",
            "PPCP003",
            "PCST02",
            "PCVT255",
            "F60",
            "PF",
            "PSAVE",
            "BTA-01",
            "BTA+09",
            "DAT240101120000",
        ];
        for c in accepted {
            assert_ne!(run(&cfg, c).0, Outcome::Refused, "{c}");
        }
        let refused = [
            "POP03",
            "POP2",
            "POP002",
            "PCP04",
            "PGR02",
            "PBT03",
            "PBCV43.0",
            "PBCV46",
            "PBCV46.5",
            "PBDV47.0",
            "PSDV39.9",
            "PSDV48.1",
            "PCVV58.5",
            "PBFT47.9",
            "MCHGC065",
            "MCHGC60",
            "MNCHGC1060",
            "MUCHGC025",
            "MUCHGC0030",
            "PEq",
            "PE",
            "PEA",
            "POPM05",
            "PPCP103",
            "PPCP004",
            "PCST03",
            "PCVT030",
            "F55",
            "BTA+10",
            "BTA9",
            "DAT20240101120000",
            "DAT241301120000",
            "PBATMAXDISC100",
            "QXYZ",
            "V230",
        ];
        for c in refused {
            assert_eq!(run(&cfg, c).0, Outcome::Refused, "{c}");
        }
    }

    #[test]
    fn max_variant_ranges_differ() {
        let cfg = InverterConfig {
            variant: Variant::Max,
            parallel_units: 2,
            ..InverterConfig::default()
        };
        for c in [
            "PBATMAXDISC000",
            "PBATMAXDISC030",
            "PBATMAXDISC150",
            "PCVV63.0",
            "PBT09",
        ] {
            assert_ne!(run(&cfg, c).0, Outcome::Refused, "{c}");
        }
        for c in [
            "PBATMAXDISC029",
            "PBATMAXDISC151",
            "PCP00",
            "PCVV63.1",
            "PEj",
            "MUCHGC230",
        ] {
            assert_eq!(run(&cfg, c).0, Outcome::Refused, "{c}");
        }
        let (o, s) = run(&cfg, "MUCHGC110");
        assert_eq!(o, Outcome::Changed);
        assert_eq!(s.units[1].max_ac_charge_a, 10);
        assert_eq!(s.units[0].max_ac_charge_a, 30);
        let (_, s) = run(&cfg, "PCVT905");
        assert_eq!(s.cv_time_min, 0);
        let (o, s) = run(&cfg, "PCVT480");
        assert_eq!((o, s.cv_time_min), (Outcome::Changed, 480));
    }

    #[test]
    fn scaled_ranges_for_24v() {
        let cfg = InverterConfig {
            nominal_battery_v: 24,
            ..InverterConfig::default()
        };
        assert_eq!(run(&cfg, "PBCV22.5").0, Outcome::Changed);
        assert_eq!(run(&cfg, "PBCV44.0").0, Outcome::Refused);
        assert_eq!(run(&cfg, "PSDV20.0").0, Outcome::Changed);
        assert_eq!(run(&cfg, "PCVV29.2").0, Outcome::Changed);
        assert_eq!(run(&cfg, "PCVV29.3").0, Outcome::Refused);
    }

    #[test]
    fn refused_changes_nothing_and_noop_is_accepted() {
        let cfg = InverterConfig::default();
        let (o, s) = run(&cfg, "PBCV99.9");
        assert_eq!(o, Outcome::Refused);
        assert_eq!(s, Settings::defaults(&cfg));
        assert_eq!(run(&cfg, "PEa").0, Outcome::Accepted);
        assert_eq!(run(&cfg, "PDa").0, Outcome::Changed);
    }
}
