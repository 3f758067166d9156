//! `sungate demo` keeps its history in `<pty-dir>/history.db` and fills the last 24 hours before
//! it goes live: the dashboard's day chart and energy bars are not empty on first look.
#![cfg(feature = "demo")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use sungate::history::HistoryReader;

const HOUR_MS: i64 = 3_600_000;

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Hour of the day (UTC) of a bucket start.
fn hour(t_ms: i64) -> i64 {
    t_ms.div_euclid(HOUR_MS).rem_euclid(24)
}

#[test]
fn the_demo_starts_with_a_day_of_history_and_continues_it_live() {
    let dir = std::env::temp_dir().join(format!("sungate-demo-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pty_dir = dir.join("pty");
    // A database left by an earlier run is replaced, not continued.
    std::fs::create_dir_all(&pty_dir).unwrap();
    std::fs::write(pty_dir.join("history.db"), b"not a database").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sungate"))
        .args(["demo", "--seconds", "3", "--pty-dir"])
        .arg(&pty_dir)
        .args(["--control", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .output()
        .unwrap();
    let after = SystemTime::now();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let filled = stderr
        .lines()
        .find(|l| l.contains("filled the last 24 h of history"))
        .unwrap_or_else(|| panic!("no backfill line on stderr:\n{stderr}"));
    eprintln!("{filled}");
    // The console lines still go to stdout, the backfill's line does not.
    assert!(stdout.contains("inverter online"), "{stdout}");
    assert!(!stdout.contains("filled the last"), "{stdout}");

    let reader = HistoryReader::open(&pty_dir.join("history.db")).unwrap();
    let to = unix_ms(after);
    let from = to - 24 * HOUR_MS;
    // PV follows the time of day (UTC): inverter sun 06-18 h, MPPT sun 06-20 h.
    for (device, field, day, night) in [
        ("inverter", "pv_input_power", 7..=16, [19, 4]),
        ("mppt", "panel_power", 7..=18, [21, 4]),
    ] {
        let series = reader.query(device, &[field], from, to, HOUR_MS).unwrap();
        let points = &series[0].points;
        assert!(
            points.len() >= 23,
            "{device} {field}: {} hourly buckets of the last 24 h hold data",
            points.len()
        );
        for p in points {
            let h = hour(p.t_ms);
            if day.contains(&h) {
                assert!(p.avg > 0.0, "{device} {field} at {h} h: {p:?}");
            }
            if h >= night[0] || h <= night[1] {
                assert!(p.max.abs() < 1e-9, "{device} {field} at {h} h: {p:?}");
            }
        }
    }
    // Energy per day (the dashboard's bars) integrates the minute buckets: a sunny day of the
    // simulated MPPT is well above 0.1 kWh.
    let days = reader.daily_energy("mppt", "panel_power", 2, to).unwrap();
    let kwh: f64 = days.iter().map(|(_, e)| e).sum();
    assert!(kwh > 0.1, "{days:?}");
    // The live demo wrote to the same database: its events (the backfill stores none).
    let events = reader.events(Some("inverter"), 50, None).unwrap();
    assert!(
        events.iter().any(|e| e.kind == "online"),
        "no live event in the history: {events:?}"
    );
    // No gap between the backfill and the live data: the last two minutes hold data.
    let recent = reader
        .query("bmv", &["battery_voltage"], to - 120_000, to, 1000)
        .unwrap();
    assert!(!recent[0].points.is_empty());

    // Export of a known simulated hour (the backfill stores one snapshot per simulated minute):
    // JSONL and CSV hold the same 60 rows, one a minute, and each equals the stored minute.
    let config = dir.join("export.toml");
    std::fs::write(
        &config,
        format!(
            "[[port]]\nname = \"inv\"\nserial = \"/dev/null\"\n[[device]]\nname = \"inverter\"\ndriver = \"pi30\"\nport = \"inv\"\n[history]\npath = \"{}\"\n",
            pty_dir.join("history.db").display()
        ),
    )
    .unwrap();
    let hour_from = (to - 12 * HOUR_MS).div_euclid(HOUR_MS) * HOUR_MS;
    let hour_to = hour_from + HOUR_MS;
    let export = |format: &str| -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_sungate"))
            .arg("export")
            .arg("--config")
            .arg(&config)
            .args([
                "--device",
                "inverter",
                "--fields",
                "pv_input_power,battery_voltage",
            ])
            .args(["--from", &(hour_from / 1000).to_string()])
            .args(["--to", &(hour_to / 1000).to_string()])
            .args(["--format", format])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let jsonl: Vec<serde_json::Value> = export("jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        jsonl.len(),
        60,
        "one snapshot per simulated minute: {jsonl:?}"
    );
    let stamps: Vec<i64> = jsonl.iter().map(|r| r["ts_ms"].as_i64().unwrap()).collect();
    assert!(
        stamps.windows(2).all(|w| w[1] - w[0] == 60_000),
        "{stamps:?}"
    );
    let csv = export("csv");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| h.starts_with(name)).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 60);
    let minutes = reader
        .query("inverter", &["pv_input_power"], hour_from, hour_to, 60_000)
        .unwrap();
    for ((row, csv_row), point) in jsonl.iter().zip(&rows).zip(&minutes[0].points) {
        let pv = row["pv_input_power"].as_f64().unwrap();
        assert_eq!(csv_row[col("ts_ms")], row["ts_ms"].to_string());
        assert_eq!(csv_row[col("pv_input_power")].parse::<f64>().unwrap(), pv);
        assert_eq!(
            csv_row[col("battery_voltage")].parse::<f64>().unwrap(),
            row["battery_voltage"].as_f64().unwrap()
        );
        assert_eq!(point.t_ms, row["ts_ms"].as_i64().unwrap() / 60_000 * 60_000);
        assert!(
            point.min == pv && point.avg == pv && point.max == pv,
            "{point:?} vs {pv}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
