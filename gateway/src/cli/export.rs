//! `sungate export`: a device's stored snapshots from the history database, as CSV or JSON
//! lines on standard output.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use sungate::config::Config;
use sungate::config::history::parse_duration;
use sungate::history::time::{now_ms, parse_rfc3339, rfc3339};
use sungate::history::{ExportFormat, HistoryError, HistoryReader};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

/// A time on the command line as unix ms: RFC 3339 (`2026-11-29T10:00:00Z`, or a date),
/// unix seconds (`1795946400`), `now`, or before now (`-1h`, `-7d`, `-90m`).
pub fn parse_time(text: &str, now_ms: i64) -> Option<i64> {
    let t = text.trim();
    if t == "now" {
        return Some(now_ms);
    }
    if let Some(ago) = t.strip_prefix('-') {
        let d = parse_duration(ago)?;
        return Some(now_ms - i64::try_from(d.as_millis()).ok()?);
    }
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = t.parse().ok()?;
        return (secs.is_finite() && secs < 1e13).then(|| (secs * 1000.0).round() as i64);
    }
    parse_rfc3339(t)
}

fn time_arg(name: &str, text: &str, now: i64) -> Result<i64> {
    parse_time(text, now).with_context(|| {
        format!(
            "--{name} {text:?} is not a time: use RFC 3339 (2026-11-29T10:00:00Z), a date \
             (2026-11-29), unix seconds, now, or a time before now (-1h, -7d)"
        )
    })
}

pub fn export(
    config: &Path,
    device: &str,
    from: &str,
    to: Option<&str>,
    fields: &[String],
    format: Format,
) -> Result<()> {
    let mut out = BufWriter::new(io::stdout().lock());
    export_to(config, device, from, to, fields, format, &mut out)
}

fn export_to(
    config: &Path,
    device: &str,
    from: &str,
    to: Option<&str>,
    fields: &[String],
    format: Format,
    out: &mut dyn Write,
) -> Result<()> {
    let config = Config::load(config)?;
    let Some(history) = &config.history else {
        bail!(
            "{}: no [history] section, so the gateway stores no history to export \
             (add [history] path = \"...\")",
            config.file
        );
    };
    let now = now_ms();
    let from_ms = time_arg("from", from, now)?;
    let to_ms = match to {
        Some(t) => time_arg("to", t, now)?,
        None => now,
    };
    if to_ms <= from_ms {
        bail!(
            "--to ({}) is not after --from ({})",
            rfc3339(to_ms),
            rfc3339(from_ms)
        );
    }
    let reader = HistoryReader::open(&history.path)?;
    let fields: Vec<&str> = fields
        .iter()
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
        .collect();
    let format = match format {
        Format::Csv => ExportFormat::Csv,
        Format::Jsonl => ExportFormat::Jsonl,
    };
    let result = reader
        .export(
            device,
            (!fields.is_empty()).then_some(fields.as_slice()),
            from_ms,
            to_ms,
            format,
            out,
        )
        .and_then(|n| out.flush().map(|()| n).map_err(HistoryError::from));
    match result {
        Ok(rows) => {
            eprintln!(
                "{rows} snapshots of {device} from {} to {}",
                rfc3339(from_ms),
                rfc3339(to_ms)
            );
            Ok(())
        }
        // A reader that closed the pipe (`| head`) has what it wants.
        Err(HistoryError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(HistoryError::NoDevice(d)) => {
            let known = reader.devices().unwrap_or_default();
            if known.is_empty() {
                bail!("no history for device {d:?}: the database holds no device yet");
            }
            bail!(
                "no history for device {d:?} (devices with history: {})",
                known.join(", ")
            )
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};
    use sungate::config::HistoryConfig;
    use sungate::core::bus::Event;
    use sungate::core::health::Health;
    use sungate::history::{Writer, WriterConfig};
    use sungate_drivers::{Field, Reading};

    #[test]
    fn export_from_a_config() {
        let dir = std::env::temp_dir().join(format!("sungate-export-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("h.db");
        let mut w = Writer::new(
            WriterConfig {
                store: Some(HistoryConfig::at(&db)),
                log: None,
            },
            Arc::new(Health::default()),
        );
        w.manual_maintenance();
        let t0 = 1_795_946_400_000u64;
        for i in 0..3u64 {
            let mut r = Reading::new();
            r.push(Field::new("battery_voltage", 52.5 + i as f64).with_unit("V"));
            r.push(Field::new("load", i as i64));
            w.accept(&Event::Snapshot {
                device: "inverter".into(),
                at: UNIX_EPOCH + Duration::from_millis(t0 + i * 1000),
                reading: Arc::new(r),
                sections: None,
            });
        }
        w.flush();
        let base = "[[port]]\nname = \"p\"\nserial = \"/dev/x\"\n[[device]]\nname = \"inverter\"\ndriver = \"pi30\"\nport = \"p\"\n";
        let with = dir.join("with.toml");
        std::fs::write(
            &with,
            format!("{base}[history]\npath = {:?}\n", db.display().to_string()),
        )
        .unwrap();
        let without = dir.join("without.toml");
        std::fs::write(&without, base).unwrap();

        let run = |config: &Path, device: &str, fields: &[&str], format| {
            let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
            let mut out = Vec::new();
            export_to(
                config,
                device,
                "2026-11-29T10:00:00Z",
                Some("1795946402"),
                &fields,
                format,
                &mut out,
            )
            .map(|()| String::from_utf8(out).unwrap())
            .map_err(|e| format!("{e:#}"))
        };
        assert_eq!(
            run(&with, "inverter", &[], Format::Csv).unwrap(),
            "time,ts_ms,battery_voltage,load\n\
             2026-11-29T10:00:00.000Z,1795946400000,52.5,0\n\
             2026-11-29T10:00:01.000Z,1795946401000,53.5,1\n"
        );
        assert_eq!(
            run(&with, "inverter", &["load"], Format::Jsonl).unwrap(),
            "{\"time\":\"2026-11-29T10:00:00.000Z\",\"ts_ms\":1795946400000,\"load\":0}\n\
             {\"time\":\"2026-11-29T10:00:01.000Z\",\"ts_ms\":1795946401000,\"load\":1}\n"
        );
        let err = run(&with, "mppt", &[], Format::Csv).unwrap_err();
        assert_eq!(
            err,
            "no history for device \"mppt\" (devices with history: inverter)"
        );
        let err = run(&without, "inverter", &[], Format::Csv).unwrap_err();
        assert!(err.contains("without.toml: no [history] section"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn times_on_the_command_line() {
        let now = 1_795_946_400_000;
        assert_eq!(parse_time("2026-11-29T10:00:00Z", 0), Some(now));
        assert_eq!(parse_time("1795946400", 0), Some(now));
        assert_eq!(parse_time("1795946400.5", 0), Some(now + 500));
        assert_eq!(parse_time("-1h", now), Some(now - 3_600_000));
        assert_eq!(parse_time("-90m", now), Some(now - 5_400_000));
        assert_eq!(parse_time("now", now), Some(now));
        for bad in ["", "yesterday", "-1w", "1.2.3", "2026-11-29T10:00"] {
            assert_eq!(parse_time(bad, now), None, "{bad}");
        }
    }
}
