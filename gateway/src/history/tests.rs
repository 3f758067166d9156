//! The store over real SQLite files in temporary directories.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use sungate_drivers::driver::Snapshot;
use sungate_drivers::{Field, Reading};

use super::time::{DAY_MS, parse_rfc3339};
use super::*;
use crate::config::{HistoryConfig, LogConfig};
use crate::core::bus::{Bus, CommandRecord, Event};
use crate::core::health::{Health, flag, get};

/// A fresh directory per test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sungate-history-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("history.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// 2026-11-29T10:00:00Z
const HOUR: i64 = 1_795_946_400_000;

fn writer(path: &Path) -> (Writer, Arc<Health>) {
    let health = Arc::new(Health::default());
    let cfg = WriterConfig {
        store: Some(HistoryConfig::at(path)),
        log: None,
    };
    let mut w = Writer::new(cfg, health.clone());
    w.manual_maintenance();
    (w, health)
}

fn snapshot(device: &str, at_ms: i64, reading: Reading) -> Event {
    Event::Snapshot {
        device: device.into(),
        at: UNIX_EPOCH + Duration::from_millis(at_ms as u64),
        reading: Arc::new(reading),
        sections: None,
    }
}

/// The simulated inverter's second `i` of the hour: power climbs 1 W a second, the voltage
/// cycles 50.00, 50.25, 50.50, 50.75 (exact in binary, so sums are exact too).
fn inverter(i: i64) -> Reading {
    let mut r = Reading::new();
    r.push(Field::new("pv_input_power", i).with_unit("W"));
    r.push(Field::new("battery_voltage", 50.0 + (i % 4) as f64 * 0.25).with_unit("V"));
    r.push(Field::new("mode", "Battery"));
    r.push(Field::new("charging", i % 2 == 0));
    r
}

/// One hour of 1 s snapshots, committed in batches of ten minutes.
fn write_hour(w: &mut Writer) {
    for i in 0..3600 {
        w.accept(&snapshot("inverter", HOUR + i * 1000, inverter(i)));
        if i % 600 == 599 {
            w.flush();
        }
    }
    w.flush();
}

#[test]
fn a_known_hour_gives_exact_buckets() {
    let dir = TempDir::new("hour");
    let (mut w, health) = writer(&dir.db());
    write_hour(&mut w);
    assert_eq!(get(&health.history.snapshots_written), 3600);
    assert_eq!(get(&health.history.write_errors), 0);
    assert!(flag(&health.history.writable));

    let r = HistoryReader::open(&dir.db()).unwrap();
    assert_eq!(
        r.fields("inverter").unwrap(),
        ["pv_input_power", "battery_voltage", "charging"]
    );
    // Minute buckets, from the aggregates.
    let s = r
        .query(
            "inverter",
            &["pv_input_power", "battery_voltage"],
            HOUR,
            HOUR + 3_600_000,
            60_000,
        )
        .unwrap();
    assert_eq!(s[0].unit.as_deref(), Some("W"));
    assert_eq!(s[0].points.len(), 60);
    for (k, p) in s[0].points.iter().enumerate() {
        let k = k as f64;
        assert_eq!(p.t_ms, HOUR + k as i64 * 60_000);
        assert_eq!(
            (p.min, p.avg, p.max),
            (60.0 * k, 60.0 * k + 29.5, 60.0 * k + 59.0)
        );
    }
    for p in &s[1].points {
        assert_eq!((p.min, p.avg, p.max), (50.0, 50.375, 50.75));
    }
    // Quarter hours from minute buckets; the aggregate table alone answers.
    let s = r
        .query(
            "inverter",
            &["pv_input_power"],
            HOUR,
            HOUR + 3_600_000,
            900_000,
        )
        .unwrap();
    let q: Vec<_> = s[0].points.iter().map(|p| (p.min, p.avg, p.max)).collect();
    assert_eq!(
        q,
        [
            (0.0, 449.5, 899.0),
            (900.0, 1349.5, 1799.0),
            (1800.0, 2249.5, 2699.0),
            (2700.0, 3149.5, 3599.0)
        ]
    );
    // Every snapshot at the raw step; 10 s buckets from the raw rows.
    let s = r
        .query(
            "inverter",
            &["battery_voltage", "charging"],
            HOUR,
            HOUR + 3_600_000,
            1000,
        )
        .unwrap();
    assert_eq!(s[0].points.len(), 3600);
    assert_eq!(s[0].points[3].avg, 50.75);
    assert_eq!(s[1].points[1].max, 0.0);
    assert_eq!(s[1].points[2].max, 1.0);
    let s = r
        .query(
            "inverter",
            &["pv_input_power"],
            HOUR + 5000,
            HOUR + 25_000,
            10_000,
        )
        .unwrap();
    let q: Vec<_> = s[0]
        .points
        .iter()
        .map(|p| (p.t_ms, p.min, p.avg, p.max))
        .collect();
    assert_eq!(
        q,
        [
            (HOUR, 5.0, 7.0, 9.0),
            (HOUR + 10_000, 10.0, 14.5, 19.0),
            (HOUR + 20_000, 20.0, 22.0, 24.0)
        ]
    );
    // Unknown things.
    assert!(matches!(
        r.query("nope", &["x"], HOUR, HOUR + 1, 1000),
        Err(HistoryError::NoDevice(_))
    ));
    let s = r
        .query("inverter", &["nothing"], HOUR, HOUR + 3_600_000, 60_000)
        .unwrap();
    assert!(s[0].points.is_empty() && s[0].unit.is_none());
    assert!(matches!(
        r.query("inverter", &["x"], HOUR, HOUR + 1, 0),
        Err(HistoryError::Invalid(_))
    ));
}

#[test]
fn export_gives_back_what_was_written() {
    let dir = TempDir::new("export");
    let (mut w, _) = writer(&dir.db());
    write_hour(&mut w);
    let r = HistoryReader::open(&dir.db()).unwrap();

    let mut csv = Vec::new();
    let n = r
        .export(
            "inverter",
            None,
            HOUR,
            HOUR + 3_600_000,
            ExportFormat::Csv,
            &mut csv,
        )
        .unwrap();
    assert_eq!(n, 3600);
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3601);
    assert_eq!(
        lines[0],
        "time,ts_ms,pv_input_power,battery_voltage,charging"
    );
    for (i, line) in lines[1..].iter().enumerate() {
        let i = i as i64;
        let expected = format!(
            "{},{},{},{},{}",
            time::rfc3339(HOUR + i * 1000),
            HOUR + i * 1000,
            i,
            50.0 + (i % 4) as f64 * 0.25,
            i64::from(i % 2 == 0)
        );
        assert_eq!(*line, expected);
    }
    assert_eq!(lines[1], "2026-11-29T10:00:00.000Z,1795946400000,0,50,1");

    let mut jsonl = Vec::new();
    let fields = ["charging", "pv_input_power"];
    let n = r
        .export(
            "inverter",
            Some(&fields),
            HOUR + 1_800_000,
            HOUR + 1_810_000,
            ExportFormat::Jsonl,
            &mut jsonl,
        )
        .unwrap();
    assert_eq!(n, 10);
    for (k, line) in String::from_utf8(jsonl).unwrap().lines().enumerate() {
        let i = 1800 + k as i64;
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "time": time::rfc3339(HOUR + i * 1000),
                "ts_ms": HOUR + i * 1000,
                "charging": i % 2 == 0,
                "pv_input_power": i,
            })
        );
        // Integers stay integers.
        assert!(
            line.contains(&format!("\"pv_input_power\":{i}}}")),
            "{line}"
        );
    }
    let err = r
        .export(
            "inverter",
            Some(&["volts"]),
            HOUR,
            HOUR + 1,
            ExportFormat::Csv,
            &mut Vec::new(),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no stored field \"volts\"") && err.contains("battery_voltage"),
        "{err}"
    );
}

#[test]
fn retention_deletes_what_is_old() {
    let dir = TempDir::new("retention");
    let health = Arc::new(Health::default());
    let mut cfg = HistoryConfig::at(dir.db());
    cfg.raw_retention = Duration::from_secs(86_400);
    cfg.aggregate_retention = Duration::from_secs(3 * 86_400);
    let mut w = Writer::new(
        WriterConfig {
            store: Some(cfg),
            log: None,
        },
        health.clone(),
    );
    w.manual_maintenance();
    let now = HOUR;
    // Snapshots 4 days, 2 days and 1 hour old; an event 100 days old and a recent one.
    for age in [4 * DAY_MS, 2 * DAY_MS, 3_600_000] {
        for i in 0..10 {
            w.accept(&snapshot("inverter", now - age + i * 1000, inverter(i)));
        }
    }
    w.flush();
    let r = HistoryReader::open(&dir.db()).unwrap();
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    conn.execute(
        "INSERT INTO event (ts_ms, device, kind, message, detail) VALUES (?1, 'inverter', 'online', 'online', '{}'), (?2, 'inverter', 'online', 'online', '{}')",
        [now - 100 * DAY_MS, now - DAY_MS],
    )
    .unwrap();
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!((count("raw"), count("agg"), count("event")), (30, 3, 2));
    w.maintain(now);
    assert_eq!((count("raw"), count("agg"), count("event")), (10, 2, 1));
    // What is left is what the reader sees: raw for the last hour, buckets for 2 days ago.
    let s = r
        .query(
            "inverter",
            &["pv_input_power"],
            now - 5 * DAY_MS,
            now,
            60_000,
        )
        .unwrap();
    let t: Vec<i64> = s[0].points.iter().map(|p| now - p.t_ms).collect();
    assert_eq!(t, [2 * DAY_MS, 3_600_000]);
    // A 1 s query over expired raw data falls back on the buckets.
    let s = r
        .query("inverter", &["pv_input_power"], now - 3 * DAY_MS, now, 1000)
        .unwrap();
    assert_eq!(s[0].points.len(), 11);
    assert_eq!(s[0].points[0].t_ms, now - 2 * DAY_MS);
    assert_eq!((s[0].points[0].min, s[0].points[0].max), (0.0, 9.0));
    assert_eq!(get(&health.history.write_errors), 0);
}

#[test]
fn history_survives_a_restart() {
    let dir = TempDir::new("restart");
    {
        let (mut w, _) = writer(&dir.db());
        w.open();
        for i in 0..30 {
            w.accept(&snapshot("inverter", HOUR + i * 1000, inverter(i)));
        }
        w.flush();
    }
    // A second run continues the same minute bucket and appends.
    let (mut w, health) = writer(&dir.db());
    w.open();
    for i in 30..120 {
        w.accept(&snapshot("inverter", HOUR + i * 1000, inverter(i)));
    }
    w.flush();
    assert_eq!(get(&health.history.snapshots_written), 90);
    let r = HistoryReader::open(&dir.db()).unwrap();
    let s = r
        .query(
            "inverter",
            &["pv_input_power"],
            HOUR,
            HOUR + 120_000,
            60_000,
        )
        .unwrap();
    let q: Vec<_> = s[0].points.iter().map(|p| (p.min, p.avg, p.max)).collect();
    assert_eq!(q, [(0.0, 29.5, 59.0), (60.0, 89.5, 119.0)]);
    let mut out = Vec::new();
    let n = r
        .export(
            "inverter",
            None,
            HOUR,
            HOUR + 120_000,
            ExportFormat::Jsonl,
            &mut out,
        )
        .unwrap();
    assert_eq!(n, 120);
}

#[test]
fn a_corrupt_file_is_reported_and_the_writer_goes_on() {
    let dir = TempDir::new("corrupt");
    std::fs::write(dir.db(), vec![0x5Au8; 8192]).unwrap();
    let (mut w, health) = writer(&dir.db());
    w.set_retry_every(Duration::ZERO);
    for i in 0..5 {
        w.accept(&snapshot("inverter", HOUR + i * 1000, inverter(i)));
    }
    w.flush();
    assert!(!flag(&health.history.writable));
    assert_eq!(get(&health.history.write_errors), 1);
    assert_eq!(get(&health.history.snapshots_written), 0);
    let err = HistoryReader::open(&dir.db()).unwrap_err().to_string();
    assert!(err.contains(&dir.db().display().to_string()), "{err}");
    assert!(
        err.contains("not a database") && err.contains("move it away"),
        "{err}"
    );
    // Still taking events; once the file is replaced the next batch goes in.
    w.accept(&snapshot("inverter", HOUR + 5000, inverter(5)));
    w.flush();
    assert_eq!(get(&health.history.write_errors), 2);
    std::fs::remove_file(dir.db()).unwrap();
    w.accept(&snapshot("inverter", HOUR + 6000, inverter(6)));
    w.flush();
    assert!(flag(&health.history.writable));
    assert_eq!(get(&health.history.snapshots_written), 1);
    let r = HistoryReader::open(&dir.db()).unwrap();
    let s = r
        .query("inverter", &["pv_input_power"], HOUR, HOUR + 60_000, 1000)
        .unwrap();
    assert_eq!(s[0].points.len(), 1);
    // The minute bucket kept everything it saw, written or not.
    let s = r
        .query("inverter", &["pv_input_power"], HOUR, HOUR + 60_000, 60_000)
        .unwrap();
    assert_eq!((s[0].points[0].min, s[0].points[0].max), (0.0, 6.0));
}

#[test]
fn an_unwritable_directory_is_reported_and_the_writer_goes_on() {
    let dir = TempDir::new("unwritable");
    // A regular file where the directory should be: nobody, root included, can create it.
    let blocker = dir.0.join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let path = blocker.join("history.db");
    let (mut w, health) = writer(&path);
    for round in 1..=3 {
        w.accept(&snapshot("inverter", HOUR + round * 1000, inverter(round)));
        w.flush();
        assert!(!flag(&health.history.writable));
        // Between retries batches are dropped and counted, never kept growing.
        assert_eq!(get(&health.history.write_errors), round as u64);
    }
    let err = HistoryReader::open(&path).unwrap_err().to_string();
    assert!(err.contains("no such file"), "{err}");
    match super::schema::open_writer(&path, 60_000) {
        Err(e) => {
            let e = e.to_string();
            assert!(
                e.contains(&path.display().to_string())
                    && e.contains("cannot create the directory"),
                "{e}"
            );
        }
        Ok(_) => panic!("opened a database below a file"),
    }
}

#[tokio::test]
async fn the_last_batch_is_flushed_on_stop() {
    let dir = TempDir::new("stop");
    let bus = Bus::new(1024);
    let health = Arc::new(Health::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut cfg = HistoryConfig::at(dir.db());
    // No periodic commit within the test: only the stop writes.
    cfg.flush_interval = Duration::from_secs(3600);
    let log = dir.0.join("csv");
    // Recent times: the writer's own retention pass runs on the wall clock.
    let base = time::now_ms() / 3_600_000 * 3_600_000 - 3_600_000;
    let task = tokio::spawn(run(
        WriterConfig {
            store: Some(cfg),
            log: Some(LogConfig { dir: log.clone() }),
        },
        bus.subscribe(),
        health.clone(),
        stop_rx,
    ));
    for i in 0..100 {
        bus.publish(snapshot("inverter", base + i * 1000, inverter(i)));
    }
    bus.publish(Event::Availability {
        device: "inverter".into(),
        online: false,
        reason: Some("no reply".into()),
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(get(&health.history.snapshots_written), 0);
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(get(&health.history.snapshots_written), 100);
    assert!(flag(&health.history.configured) && flag(&health.history.writable));
    let r = HistoryReader::open(&dir.db()).unwrap();
    let s = r
        .query("inverter", &["pv_input_power"], base, base + 100_000, 1000)
        .unwrap();
    assert_eq!(s[0].points.len(), 100);
    let e = r.events(Some("inverter"), 10, None).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0].kind.as_str(), e[0].message.as_str()),
        ("offline", "offline: no reply")
    );
    // The CSV log was flushed with it.
    let csv =
        std::fs::read_to_string(log.join(format!("inverter-{}.csv", time::date(base)))).unwrap();
    assert_eq!(csv.lines().count(), 101);
    assert!(csv.starts_with("time,pv_input_power (W),battery_voltage (V),mode,charging\n"));
}

fn pi30(at_ms: i64, line_fail: bool) -> Event {
    let mut qpigs = Reading::new();
    qpigs.push(Field::new("battery_voltage", 52.0).with_unit("V"));
    let mut qpiws = Reading::new();
    qpiws.push(Field::new("line_fail_warning", line_fail));
    qpiws.push(Field::new("overload_fault", false));
    let s = Snapshot {
        sections: vec![("QPIGS".into(), qpigs), ("QPIWS".into(), qpiws)],
    };
    Event::Snapshot {
        device: "inverter".into(),
        at: UNIX_EPOCH + Duration::from_millis(at_ms as u64),
        reading: Arc::new(s.flatten()),
        sections: Some(Arc::new(s)),
    }
}

#[test]
fn events_from_warnings_commands_and_availability() {
    let dir = TempDir::new("events");
    let (mut w, _) = writer(&dir.db());
    w.accept(&pi30(HOUR, false));
    w.accept(&pi30(HOUR + 1000, true));
    w.accept(&pi30(HOUR + 2000, true));
    w.accept(&Event::Command(Arc::new(CommandRecord {
        device: "inverter".into(),
        setting: "output_source_priority".into(),
        value: "sbu_first".into(),
        origin: "http",
        who: "192.168.1.9".into(),
        ok: true,
        detail: "read back sbu_first".into(),
        at: UNIX_EPOCH + Duration::from_millis((HOUR + 2500) as u64),
    })));
    w.accept(&pi30(HOUR + 3000, false));
    let mut mppt = Reading::new();
    mppt.push(Field::new("error", "charger over current"));
    w.accept(&snapshot("mppt", HOUR + 3500, mppt));
    w.flush();

    let r = HistoryReader::open(&dir.db()).unwrap();
    let all = r.events(None, 100, None).unwrap();
    let got: Vec<_> = all
        .iter()
        .map(|e| {
            (
                e.at_ms - HOUR,
                e.device.as_str(),
                e.kind.as_str(),
                e.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (3500, "mppt", "warning", "error: charger over current"),
            (3000, "inverter", "cleared", "line_fail_warning cleared"),
            (
                2500,
                "inverter",
                "command",
                "output_source_priority = sbu_first (http 192.168.1.9): done: read back sbu_first"
            ),
            (1000, "inverter", "warning", "line_fail_warning"),
        ]
    );
    assert_eq!(all[2].detail["who"], "192.168.1.9");
    assert_eq!(all[2].detail["ok"], true);
    let inv = r.events(Some("inverter"), 2, Some(HOUR + 3000)).unwrap();
    assert_eq!(inv.len(), 2);
    assert_eq!(inv[0].kind, "command");
    assert_eq!(inv[1].kind, "warning");
}

#[test]
fn daily_energy_integrates_power_per_utc_day() {
    let dir = TempDir::new("energy");
    let (mut w, _) = writer(&dir.db());
    let day = parse_rfc3339("2026-11-28").unwrap();
    let power = |w: &mut Writer, from: i64, secs: i64, watts: i64| {
        for i in 0..secs {
            let mut r = Reading::new();
            r.push(Field::new("pv_input_power", watts).with_unit("W"));
            w.accept(&snapshot("inverter", from + i * 1000, r));
        }
    };
    // Nov 28: 1000 W for two hours; Nov 29: 500 W for one hour; Nov 30 nothing.
    power(&mut w, day + 10 * 3_600_000, 7200, 1000);
    power(&mut w, day + DAY_MS + 23 * 3_600_000, 3600, 500);
    w.flush();
    let r = HistoryReader::open(&dir.db()).unwrap();
    let e = r
        .daily_energy(
            "inverter",
            "pv_input_power",
            7,
            day + 2 * DAY_MS + 3_600_000,
        )
        .unwrap();
    assert_eq!(
        e,
        [
            ("2026-11-28".to_owned(), 2.0),
            ("2026-11-29".to_owned(), 0.5)
        ]
    );
    let e = r
        .daily_energy("inverter", "pv_input_power", 1, day + DAY_MS + 3_600_000)
        .unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, "2026-11-29");
}

#[test]
fn daily_energy_of_a_counter_is_what_it_grew_by_each_day() {
    let dir = TempDir::new("counter");
    let (mut w, _) = writer(&dir.db());
    let day = parse_rfc3339("2026-11-28").unwrap();
    let counter = |w: &mut Writer, at: i64, kwh: f64| {
        let mut r = Reading::new();
        r.push(Field::new("pv_energy", kwh).with_unit("kWh"));
        r.push(Field::new("pv_energy_source", "device"));
        w.accept(&snapshot("mppt", at, r));
    };
    // Nov 27 ends at 100 kWh; Nov 28 grows by 3.5 (reset to 0 on the way: followed from its
    // new value); Nov 29 by 1.25.
    counter(&mut w, day - 60_000, 100.0);
    counter(&mut w, day + 8 * 3_600_000, 101.0);
    counter(&mut w, day + 12 * 3_600_000, 103.0);
    counter(&mut w, day + 13 * 3_600_000, 0.0);
    counter(&mut w, day + 14 * 3_600_000, 0.5);
    counter(&mut w, day + DAY_MS + 9 * 3_600_000, 1.0);
    counter(&mut w, day + DAY_MS + 10 * 3_600_000, 1.75);
    w.flush();
    let r = HistoryReader::open(&dir.db()).unwrap();
    let e = r
        .daily_energy("mppt", "pv_energy", 2, day + DAY_MS + 11 * 3_600_000)
        .unwrap();
    assert_eq!(
        e,
        [
            ("2026-11-28".to_owned(), 3.5),
            ("2026-11-29".to_owned(), 1.25)
        ]
    );
    // The last snapshot, for the energy counters after a restart: numbers only.
    let (at, last) = r.last_snapshot("mppt").unwrap().unwrap();
    assert_eq!(at, day + DAY_MS + 10 * 3_600_000);
    assert_eq!(last.value("pv_energy").and_then(|v| v.as_f64()), Some(1.75));
    assert!(last.value("pv_energy_source").is_none());
    assert!(r.last_snapshot("nobody").unwrap().is_none());
}

#[test]
fn the_reader_opens_lazily() {
    let dir = TempDir::new("lazy");
    let r = HistoryReader::lazy(&dir.db());
    assert!(matches!(
        r.fields("inverter"),
        Err(HistoryError::Open { .. })
    ));
    let (mut w, _) = writer(&dir.db());
    w.accept(&snapshot("inverter", HOUR, inverter(1)));
    w.flush();
    let r2 = r.clone();
    let fields = std::thread::spawn(move || r2.fields("inverter"))
        .join()
        .unwrap();
    assert_eq!(fields.unwrap().len(), 3);
    assert_eq!(r.devices().unwrap(), ["inverter"]);
}
