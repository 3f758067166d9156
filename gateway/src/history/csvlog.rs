//! `[log] dir`: one plain CSV file per device and UTC day, `<dir>/<device>-YYYY-MM-DD.csv`, for
//! people who want files like the old logging scripts wrote. A header row of field names (with
//! units) starts each file, and again wherever the device's field set changes (also when the
//! gateway restarts and appends to today's file: a reader never has to guess the columns).
//! One row per snapshot: `time` (RFC 3339 UTC), then every field, text included.
//!
//! Written by the history writer, buffered, flushed with its batches. A directory that cannot
//! be written is reported once (again after it recovered and failed anew); the rest goes on.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sungate_drivers::{Reading, Value};

use super::time::{DAY_MS, date, rfc3339};

/// Time between attempts to open a file that could not be opened.
const RETRY: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct CsvLogs {
    dir: PathBuf,
    files: HashMap<String, LogFile>,
    /// Devices whose file failed, and when to try again.
    retry_at: HashMap<String, Instant>,
}

#[derive(Debug)]
struct LogFile {
    day: i64,
    path: PathBuf,
    out: BufWriter<File>,
    /// (name, unit) of the columns of the last header written.
    header: Vec<(String, Option<&'static str>)>,
}

impl CsvLogs {
    pub fn new(dir: &Path) -> CsvLogs {
        CsvLogs {
            dir: dir.to_owned(),
            files: HashMap::new(),
            retry_at: HashMap::new(),
        }
    }

    /// The file of `device` for the day of `at_ms`.
    pub fn path_of(&self, device: &str, at_ms: i64) -> PathBuf {
        let safe: String = device
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{safe}-{}.csv", date(at_ms)))
    }

    /// Append one snapshot (buffered until [`CsvLogs::flush`]).
    pub fn write(&mut self, device: &str, at_ms: i64, reading: &Reading) {
        let day = at_ms.div_euclid(DAY_MS);
        if self.files.get(device).is_some_and(|f| f.day != day) {
            // A new UTC day: the old file is complete.
            if let Some(mut old) = self.files.remove(device) {
                if let Err(e) = old.out.flush() {
                    self.failed(device, &old.path, &e);
                }
            }
        }
        if !self.files.contains_key(device) {
            if self
                .retry_at
                .get(device)
                .is_some_and(|t| Instant::now() < *t)
            {
                return;
            }
            let path = self.path_of(device, at_ms);
            match open(&self.dir, &path) {
                Ok(out) => {
                    if self.retry_at.remove(device).is_some() {
                        tracing::info!(path = %path.display(), "CSV log writable again");
                    }
                    self.files.insert(
                        device.to_owned(),
                        LogFile {
                            day,
                            path,
                            out,
                            header: Vec::new(),
                        },
                    );
                }
                Err(e) => {
                    self.failed(device, &path, &e);
                    return;
                }
            }
        }
        let Some(file) = self.files.get_mut(device) else {
            return;
        };
        let mut line = String::with_capacity(512);
        let same_columns = file.header.len() == reading.len()
            && file
                .header
                .iter()
                .zip(reading.iter())
                .all(|((n, u), f)| *n == f.name && *u == f.unit);
        if !same_columns {
            file.header = reading
                .iter()
                .map(|f| (f.name.to_string(), f.unit))
                .collect();
            line.push_str("time");
            for (name, unit) in &file.header {
                line.push(',');
                match unit {
                    Some(u) => push_cell(&mut line, &format!("{name} ({u})")),
                    None => push_cell(&mut line, name),
                }
            }
            line.push('\n');
        }
        line.push_str(&rfc3339(at_ms));
        for f in reading.iter() {
            line.push(',');
            match &f.value {
                Value::Int(i) => line.push_str(&i.to_string()),
                Value::Float(x) if x.is_finite() => line.push_str(&x.to_string()),
                Value::Float(_) => {}
                Value::Bool(b) => line.push(if *b { '1' } else { '0' }),
                Value::Text(t) => push_cell(&mut line, t),
            }
        }
        line.push('\n');
        if let Err(e) = file.out.write_all(line.as_bytes()) {
            let path = file.path.clone();
            self.files.remove(device);
            self.failed(device, &path, &e);
        }
    }

    /// Write what is buffered to the files.
    pub fn flush(&mut self) {
        let mut broken = Vec::new();
        for (device, f) in &mut self.files {
            if let Err(e) = f.out.flush() {
                broken.push((device.clone(), f.path.clone(), e));
            }
        }
        for (device, path, e) in broken {
            self.files.remove(&device);
            self.failed(&device, &path, &e);
        }
    }

    fn failed(&mut self, device: &str, path: &Path, e: &std::io::Error) {
        let first = self
            .retry_at
            .insert(device.to_owned(), Instant::now() + RETRY)
            .is_none();
        if first {
            tracing::error!(path = %path.display(), device, error = %e, "cannot write the CSV log (retrying every 30 s; polling goes on)");
        }
    }
}

fn open(dir: &Path, path: &Path) -> std::io::Result<BufWriter<File>> {
    std::fs::create_dir_all(dir)?;
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    Ok(BufWriter::with_capacity(64 * 1024, file))
}

/// A CSV cell, quoted when it holds a separator, a quote, a line break or edge spaces.
fn push_cell(line: &mut String, text: &str) {
    let quote = text.contains([',', '"', '\n', '\r']) || text.trim() != text;
    if quote {
        line.push('"');
        line.push_str(&text.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sungate_drivers::Field;

    fn reading(v: f64, extra: bool) -> Reading {
        let mut r = Reading::new();
        r.push(Field::new("battery_voltage", v).with_unit("V"));
        r.push(Field::new("mode", "Battery, \"eco\""));
        r.push(Field::new("fault", false));
        if extra {
            r.push(Field::new("load", 120i64).with_unit("W"));
        }
        r
    }

    #[test]
    fn daily_files_with_headers_and_rotation() {
        let dir = std::env::temp_dir().join(format!("sungate-csv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut logs = CsvLogs::new(&dir.join("sub"));
        let t = 1_795_946_400_000; // 2026-11-29T10:00:00Z
        logs.write("inv", t, &reading(52.1, false));
        logs.write("inv", t + 1000, &reading(52.2, false));
        logs.write("inv", t + 2000, &reading(52.3, true));
        logs.write("inv", t + 14 * 3_600_000, &reading(51.0, false));
        logs.flush();
        let day1 = std::fs::read_to_string(dir.join("sub/inv-2026-11-29.csv")).unwrap();
        assert_eq!(
            day1,
            "time,battery_voltage (V),mode,fault\n\
             2026-11-29T10:00:00.000Z,52.1,\"Battery, \"\"eco\"\"\",0\n\
             2026-11-29T10:00:01.000Z,52.2,\"Battery, \"\"eco\"\"\",0\n\
             time,battery_voltage (V),mode,fault,load (W)\n\
             2026-11-29T10:00:02.000Z,52.3,\"Battery, \"\"eco\"\"\",0,120\n"
        );
        let day2 = std::fs::read_to_string(dir.join("sub/inv-2026-11-30.csv")).unwrap();
        assert!(
            day2.starts_with("time,battery_voltage (V),mode,fault\n2026-11-30T00:00:00.000Z,51,"),
            "{day2}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unwritable_dir_is_skipped() {
        let file = std::env::temp_dir().join(format!("sungate-csv-file-{}", std::process::id()));
        std::fs::write(&file, b"x").unwrap();
        // A directory below a regular file can never be created.
        let mut logs = CsvLogs::new(&file.join("logs"));
        logs.write("inv", 0, &reading(1.0, false));
        logs.flush();
        assert!(logs.files.is_empty());
        assert!(logs.retry_at.contains_key("inv"));
        let _ = std::fs::remove_file(&file);
    }
}
