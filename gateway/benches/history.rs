//! History store: a 24-hour query of one field (target < 50 ms), at the minute step (from the
//! aggregates) and at the raw 1 s step (every snapshot), over a store filled with 24 h of 1 s
//! snapshots of one device with 40 numeric fields, written through the real writer in 5 s
//! batches. Prints the fill time and the database size per device-day.
//!
//! `cargo bench -p sungate --bench history`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use sungate::config::HistoryConfig;
use sungate::core::bus::Event;
use sungate::core::health::Health;
use sungate::history::{HistoryReader, Writer, WriterConfig};
use sungate_drivers::{Field, Reading};

/// 2026-11-29T00:00:00Z
const DAY0: i64 = 1_795_910_400_000;
const DAY_MS: i64 = 86_400_000;

/// 30 floats, 5 integers, 5 flags: a PI30 QPIGS + QPIRI or a BMV with its history fields.
fn reading(i: i64) -> Reading {
    let t = i as f64;
    let mut r = Reading::new();
    for k in 0..30 {
        // Varying values, rounded like a device's (two decimals): no two rows alike.
        let v = ((t / (60.0 + k as f64)).sin() * 50.0 + 100.0 + k as f64 * 3.0) * 100.0;
        r.push(Field::new(format!("float_field_{k}"), v.round() / 100.0).with_unit("V"));
    }
    for k in 0..5 {
        r.push(Field::new(format!("int_field_{k}"), (i * (k + 1)) % 5000).with_unit("W"));
    }
    for k in 0..5 {
        r.push(Field::new(format!("flag_{k}"), (i / 600 + k) % 7 == 0));
    }
    r
}

fn fill(path: &Path) {
    let mut cfg = HistoryConfig::at(path);
    cfg.raw_retention = Duration::from_secs(7 * 86_400);
    let mut w = Writer::new(
        WriterConfig {
            store: Some(cfg),
            log: None,
        },
        Arc::new(Health::default()),
    );
    w.manual_maintenance();
    w.open();
    let started = Instant::now();
    for i in 0..86_400 {
        w.accept(&Event::Snapshot {
            device: "inverter".into(),
            at: UNIX_EPOCH + Duration::from_millis((DAY0 + i * 1000) as u64),
            reading: Arc::new(reading(i)),
            sections: None,
        });
        // The default flush_interval: one transaction per 5 snapshots.
        if i % 5 == 4 {
            w.flush();
        }
    }
    w.flush();
    drop(w);
    let fill = started.elapsed();
    // Fold the WAL into the database file so that its size is the whole store.
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    let size = std::fs::metadata(path).unwrap().len();
    eprintln!(
        "history: filled 86400 snapshots x 40 fields in {:.1} s ({:.0} us per snapshot incl. 17280 commits)",
        fill.as_secs_f64(),
        fill.as_secs_f64() * 1e6 / 86_400.0
    );
    eprintln!(
        "history: database size per device-day: {size} bytes ({:.1} MiB; {} raw rows, {} minute buckets)",
        size as f64 / 1_048_576.0,
        count("SELECT count(*) FROM raw"),
        count("SELECT count(*) FROM agg"),
    );
}

fn store() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sungate-bench-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("history.db");
    fill(&path);
    path
}

fn queries(c: &mut Criterion) {
    let path = store();
    let reader = HistoryReader::open(&path).unwrap();
    let mut group = c.benchmark_group("history_24h_one_field");
    group.sample_size(20);
    group.bench_function("step_60s_aggregates", |b| {
        b.iter(|| {
            let s = reader
                .query("inverter", &["float_field_7"], DAY0, DAY0 + DAY_MS, 60_000)
                .unwrap();
            assert_eq!(s[0].points.len(), 1440);
            black_box(s)
        })
    });
    group.bench_function("step_1s_raw", |b| {
        b.iter(|| {
            let s = reader
                .query("inverter", &["float_field_7"], DAY0, DAY0 + DAY_MS, 1000)
                .unwrap();
            assert_eq!(s[0].points.len(), 86_400);
            black_box(s)
        })
    });
    group.finish();
    if let Some(dir) = path.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

criterion_group!(benches, queries);
criterion_main!(benches);
