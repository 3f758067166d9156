//! UTC calendar arithmetic for the store (daily buckets, CSV file names, export times): the
//! days-from-civil algorithm (H. Hinnant), a few lines instead of a date crate.

use std::time::SystemTime;

pub const DAY_MS: i64 = 86_400_000;

pub use crate::types::unix_ms;

pub fn now_ms() -> i64 {
    unix_ms(SystemTime::now())
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYY-MM-DD` of the UTC day that holds `ms`.
pub fn date(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// RFC 3339 UTC with milliseconds: `2026-11-29T10:00:00.000Z`.
pub fn rfc3339(ms: i64) -> String {
    let day_ms = ms.rem_euclid(DAY_MS);
    let s = day_ms / 1000;
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        date(ms),
        s / 3600,
        s / 60 % 60,
        s % 60,
        day_ms % 1000
    )
}

/// An RFC 3339 time (`2026-11-29T10:00:00Z`, `2026-11-29T10:00:00.250+01:00`, a space instead of
/// the `T`, or a bare date `2026-11-29` for its midnight UTC) as unix milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let t = text.trim();
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, mo as u32, d as u32);
    // A date that does not exist (Feb 30) comes back as another one.
    if civil_from_days(days) != (y, mo as u32, d as u32) {
        return None;
    }
    if b.len() == 10 {
        return Some(days * DAY_MS);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &t[19..];
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..digits.min(3)]);
        ms = padded.parse::<i64>().ok()?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || rb[3] != b':' || !matches!(rb[0], b'+' | b'-') {
                return None;
            }
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            let sign = if rb[0] == b'-' { -1 } else { 1 };
            sign * (oh * 60 + om)
        }
    };
    Some(days * DAY_MS + ((h * 60 + mi - offset_min) * 60 + s) * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for z in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn rfc3339_both_ways() {
        let t = parse_rfc3339("2026-11-29T10:00:00Z").unwrap();
        assert_eq!(t, 1_795_946_400_000);
        assert_eq!(rfc3339(t), "2026-11-29T10:00:00.000Z");
        assert_eq!(date(t), "2026-11-29");
        assert_eq!(parse_rfc3339("2026-11-29T11:00:00.25+01:00"), Some(t + 250));
        assert_eq!(parse_rfc3339("2026-11-29 10:00:00z"), Some(t));
        assert_eq!(parse_rfc3339("2026-11-29"), Some(t - 10 * 3_600_000));
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z").map(date).as_deref(),
            Some("2024-02-29")
        );
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-11-29T10:00:00",
            "2026-11-29T24:00:00Z",
            "2026-13-01",
            "29.11.2026",
            "2026-11-29T10:00:00.Z",
            "+026-11-29",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
