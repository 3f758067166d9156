//! `[history]` (the SQLite history store) and `[log]` (daily CSV files); see the history module
//! for what is stored and how.
//!
//! ```toml
//! [history]                      # absent: no history store
//! path = "/var/lib/sungate/history.db"
//! raw_retention = "7d"           # every snapshot, at the poll interval
//! aggregate_step = 60            # seconds per min/avg/max bucket (>= 60, divides a day)
//! aggregate_retention = "730d"   # the buckets
//! flush_interval = 5             # seconds between batched commits
//! [log]                          # absent: no CSV files
//! dir = "/var/log/sungate"       # <dir>/<device>-YYYY-MM-DD.csv, one file per UTC day
//! ```
//!
//! Durations are seconds (a number) or a number with a unit: `"30s"`, `"90m"`, `"24h"`, `"7d"`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::source::{ConfigError, Source};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHistory {
    path: Spanned<String>,
    #[serde(default)]
    raw_retention: Option<Spanned<toml::Value>>,
    #[serde(default)]
    aggregate_step: Option<Spanned<toml::Value>>,
    #[serde(default)]
    aggregate_retention: Option<Spanned<toml::Value>>,
    #[serde(default)]
    flush_interval: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    dir: Spanned<String>,
}

/// A checked `[history]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryConfig {
    /// The SQLite database file (created with its directory's permission if missing).
    pub path: PathBuf,
    /// How long every snapshot is kept.
    pub raw_retention: Duration,
    /// Width of a min/avg/max bucket: whole seconds, at least a minute, dividing a day (so
    /// that buckets never straddle midnight UTC and daily energy adds up whole buckets).
    pub aggregate_step: Duration,
    pub aggregate_retention: Duration,
    /// Time between batched commits (SD cards prefer few, larger writes).
    pub flush_interval: Duration,
}

impl HistoryConfig {
    /// The defaults with a database at `path`.
    pub fn at(path: impl Into<PathBuf>) -> HistoryConfig {
        HistoryConfig {
            path: path.into(),
            raw_retention: Duration::from_secs(7 * DAY),
            aggregate_step: Duration::from_secs(60),
            aggregate_retention: Duration::from_secs(730 * DAY),
            flush_interval: Duration::from_secs(5),
        }
    }
}

/// A checked `[log]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Where the daily CSV files go.
    pub dir: PathBuf,
}

const DAY: u64 = 86_400;

/// `"7d"`, `"24h"`, `"90m"`, `"30s"`, `"1.5h"` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (number, scale) = match t.char_indices().last()? {
        (i, 's') => (&t[..i], 1.0),
        (i, 'm') => (&t[..i], 60.0),
        (i, 'h') => (&t[..i], 3600.0),
        (i, 'd') => (&t[..i], DAY as f64),
        _ => (t, 1.0),
    };
    let n: f64 = number.trim().parse().ok()?;
    let secs = n * scale;
    (0.0..1e12)
        .contains(&secs)
        .then(|| Duration::from_secs_f64(secs))
}

impl Source<'_> {
    /// An optional duration key within `min..=max`, or `default`.
    fn duration(
        &self,
        value: &Option<Spanned<toml::Value>>,
        default: Duration,
        (min, max): (Duration, Duration),
        what: &str,
    ) -> Result<Duration, ConfigError> {
        let Some(v) = value else {
            return Ok(default);
        };
        let parsed = match v.get_ref() {
            toml::Value::Integer(i) => u64::try_from(*i).ok().map(Duration::from_secs),
            toml::Value::Float(f) if f.is_finite() && *f >= 0.0 && *f < 1e12 => {
                Some(Duration::from_secs_f64(*f))
            }
            toml::Value::String(s) => parse_duration(s),
            _ => None,
        };
        let Some(d) = parsed else {
            return Err(self.at(
                v.span(),
                format!(
                    "{what} must be a duration: seconds (60) or a number with s, m, h or d \
                     (\"90m\", \"7d\"), got {}",
                    v.get_ref()
                ),
            ));
        };
        if d < min || d > max {
            return Err(self.at(
                v.span(),
                format!(
                    "{what} must be within {}..={}, got {}",
                    show(min),
                    show(max),
                    show(d)
                ),
            ));
        }
        Ok(d)
    }
}

/// A duration the way the config writes it.
fn show(d: Duration) -> String {
    let s = d.as_secs_f64();
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 {
        format!("{s}s")
    } else if secs != 0 && secs % DAY == 0 {
        format!("{}d", secs / DAY)
    } else if secs != 0 && secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs != 0 && secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

pub(super) fn parse(raw: &Spanned<RawHistory>, src: &Source) -> Result<HistoryConfig, ConfigError> {
    let h = raw.get_ref();
    let path = h.path.get_ref().trim();
    if path.is_empty() {
        return Err(src.at(h.path.span(), "history path is empty"));
    }
    if path.ends_with('/') {
        return Err(src.at(
            h.path.span(),
            format!("history path {path:?} is a directory: name the database file, e.g. {path}history.db"),
        ));
    }
    let defaults = HistoryConfig::at(path);
    let secs = Duration::from_secs;
    let raw_retention = src.duration(
        &h.raw_retention,
        defaults.raw_retention,
        (secs(60), secs(3650 * DAY)),
        "history raw_retention",
    )?;
    let aggregate_step = src.duration(
        &h.aggregate_step,
        defaults.aggregate_step,
        (secs(60), secs(DAY)),
        "history aggregate_step",
    )?;
    if let Some(v) = &h.aggregate_step {
        if aggregate_step.subsec_nanos() != 0 || DAY % aggregate_step.as_secs() != 0 {
            return Err(src.at(
                v.span(),
                format!(
                    "history aggregate_step must divide a day into whole buckets (60, 300, \
                     900, 3600 ...), got {}",
                    show(aggregate_step)
                ),
            ));
        }
    }
    let aggregate_retention = src.duration(
        &h.aggregate_retention,
        defaults.aggregate_retention,
        (secs(DAY), secs(100 * 365 * DAY)),
        "history aggregate_retention",
    )?;
    let flush_interval = src.duration(
        &h.flush_interval,
        defaults.flush_interval,
        (Duration::from_millis(100), secs(600)),
        "history flush_interval",
    )?;
    Ok(HistoryConfig {
        path: PathBuf::from(path),
        raw_retention,
        aggregate_step,
        aggregate_retention,
        flush_interval,
    })
}

pub(super) fn parse_log(raw: &RawLog, src: &Source) -> Result<LogConfig, ConfigError> {
    let dir = raw.dir.get_ref().trim();
    if dir.is_empty() {
        return Err(src.at(raw.dir.span(), "log dir is empty"));
    }
    Ok(LogConfig {
        dir: PathBuf::from(dir),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_duration;
    use crate::config::Config;

    const DEV: &str = "[[port]]\nname = \"p\"\nserial = \"/dev/x\"\n[[device]]\nname = \"inverter\"\ndriver = \"pi30\"\nport = \"p\"\n";

    #[test]
    fn durations_take_units_or_seconds() {
        for (text, secs) in [
            ("7d", 7 * 86_400),
            ("24h", 86_400),
            ("90m", 5_400),
            ("30s", 30),
            ("45", 45),
            (" 2 h ", 7_200),
        ] {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_secs(secs)),
                "{text}"
            );
        }
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5_400)));
        for bad in ["", "d", "7w", "-1h", "1e300d", "seven days", "7 days"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn history_defaults_and_values() {
        let c = Config::parse(&format!("{DEV}[history]\npath = \"/tmp/h.db\"\n"), "t").unwrap();
        let h = c.history.unwrap();
        assert_eq!(h.path, std::path::PathBuf::from("/tmp/h.db"));
        assert_eq!(h.raw_retention, Duration::from_secs(7 * 86_400));
        assert_eq!(h.aggregate_step, Duration::from_secs(60));
        assert_eq!(h.aggregate_retention, Duration::from_secs(730 * 86_400));
        assert_eq!(h.flush_interval, Duration::from_secs(5));
        assert!(c.log.is_none());

        let c = Config::parse(
            &format!(
                "{DEV}[history]\npath = \"h.db\"\nraw_retention = \"36h\"\naggregate_step = \"5m\"\n\
                 aggregate_retention = 864000\nflush_interval = 2.5\n[log]\ndir = \"/var/log/sg\"\n"
            ),
            "t",
        )
        .unwrap();
        let h = c.history.unwrap();
        assert_eq!(h.raw_retention, Duration::from_secs(36 * 3600));
        assert_eq!(h.aggregate_step, Duration::from_secs(300));
        assert_eq!(h.aggregate_retention, Duration::from_secs(10 * 86_400));
        assert_eq!(h.flush_interval, Duration::from_millis(2500));
        assert_eq!(c.log.unwrap().dir, std::path::PathBuf::from("/var/log/sg"));
    }

    #[test]
    fn history_refusals_name_their_line() {
        for (extra, line, needle) in [
            (
                "raw_retention = \"7w\"\n",
                10,
                "raw_retention must be a duration",
            ),
            (
                "raw_retention = \"10s\"\n",
                10,
                "raw_retention must be within 1m..=3650d, got 10s",
            ),
            (
                "aggregate_step = 30\n",
                10,
                "aggregate_step must be within 1m..=1d, got 30s",
            ),
            ("aggregate_step = \"7m\"\n", 10, "divide a day"),
            ("aggregate_step = true\n", 10, "must be a duration"),
            (
                "aggregate_retention = \"1h\"\n",
                10,
                "aggregate_retention must be within",
            ),
            ("flush_interval = 0\n", 10, "flush_interval must be within"),
            (
                "flush_interval = -5\n",
                10,
                "flush_interval must be a duration",
            ),
            ("retention = \"7d\"\n", 10, "unknown field `retention`"),
        ] {
            let err = Config::parse(&format!("{DEV}[history]\npath = \"h.db\"\n{extra}"), "t")
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{extra}: {err}");
            assert!(err.starts_with(&format!("t:{line}:")), "{extra}: {err}");
        }
        for (text, line, needle) in [
            (
                "[history]\nraw_retention = \"7d\"\n",
                8,
                "missing field `path`",
            ),
            ("[history]\npath = \"\"\n", 9, "history path is empty"),
            ("[history]\npath = \"/var/lib/\"\n", 9, "is a directory"),
            ("[log]\ndir = \" \"\n", 9, "log dir is empty"),
            (
                "[log]\ndir = \"/x\"\nrotate = true\n",
                10,
                "unknown field `rotate`",
            ),
        ] {
            let err = Config::parse(&format!("{DEV}{text}"), "t")
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(err.starts_with(&format!("t:{line}:")), "{text}: {err}");
        }
    }
}
