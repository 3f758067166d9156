//! The unit's real-time clock: DAT<YYMMDDHHMMSS> (MAX spec 3.29) sets it, QT (MAX spec 2.19)
//! reads it as YYYYMMDDHHMMSS. Seconds are counted from 2000-01-01 00:00:00.

/// Days since 2000-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 - 10_957
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468 + 10_957;
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

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses the 12 digits of DAT (YYMMDDHHMMSS, years 2000..2099) into clock seconds.
pub fn parse_dat(digits: &str) -> Option<f64> {
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |i: usize| digits.get(i..i + 2).and_then(|s| s.parse::<u32>().ok());
    let (yy, mo, dd, hh, mi, ss) = (n(0)?, n(2)?, n(4)?, n(6)?, n(8)?, n(10)?);
    let y = 2000 + i64::from(yy);
    if !(1..=12).contains(&mo) || dd == 0 || dd > days_in_month(y, mo) {
        return None;
    }
    if hh > 23 || mi > 59 || ss > 59 {
        return None;
    }
    let days = days_from_civil(y, mo, dd);
    Some((days * 86_400 + i64::from(hh * 3600 + mi * 60 + ss)) as f64)
}

/// Formats clock seconds as YYYYMMDDHHMMSS.
pub fn format_qt(clock_s: f64) -> String {
    let secs = clock_s.max(0.0).floor() as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        t / 3600,
        (t / 60) % 60,
        t % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dat_round_trips_through_qt() {
        let s = parse_dat("240229235958").unwrap();
        assert_eq!(format_qt(s), "20240229235958");
        assert_eq!(format_qt(0.0), "20000101000000");
        assert!(parse_dat("230229000000").is_none());
        assert!(parse_dat("241301000000").is_none());
        assert!(parse_dat("2402292359").is_none());
    }
}
