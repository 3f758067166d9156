//! The writer: the only connection that writes the database, and the CSV logs.
//!
//! [`run`] is the async task: it drains the bus and hands events to a dedicated thread over a
//! bounded queue (SQLite never runs on the async runtime; a slow disk delays the thread, never
//! polling). The thread owns a [`Writer`], which keeps the batch in memory and commits it in one
//! transaction every `flush_interval`, and once more when the stop channel turns true.
//!
//! A database that cannot be opened or written is reported once with its path and cause,
//! `health.history.writable` turns false, batches are dropped (each one counted in
//! `write_errors`) and the file is opened again every [`RETRY_EVERY`]; polling goes on.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, TrySendError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{broadcast, watch};

use super::csvlog::CsvLogs;
use super::events::{EventRecord, WarningTracker, record_of};
use super::schema::{self, Layout, LayoutField, encode_agg};
use super::time::{DAY_MS, now_ms, unix_ms};
use crate::config::{Config, HistoryConfig, LogConfig};
use crate::core::bus::Event;
use crate::core::health::{Health, add, set, set_flag};

/// Time between attempts to open a database that failed.
pub const RETRY_EVERY: Duration = Duration::from_secs(30);
/// Time between retention passes.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(3600);
/// Events are kept this long, and at most [`EVENT_CAP`] of them.
pub const EVENT_RETENTION_MS: i64 = 90 * DAY_MS;
pub const EVENT_CAP: i64 = 100_000;
/// Events waiting for the writer thread: a few minutes of a busy gateway.
const QUEUE: usize = 4096;

/// What the writer task writes: the store, the CSV logs, or both.
#[derive(Debug, Clone, PartialEq)]
pub struct WriterConfig {
    pub store: Option<HistoryConfig>,
    pub log: Option<LogConfig>,
}

impl WriterConfig {
    /// None when the config has neither `[history]` nor `[log]` (no writer task then).
    pub fn from_config(config: &Config) -> Option<WriterConfig> {
        (config.history.is_some() || config.log.is_some()).then(|| WriterConfig {
            store: config.history.clone(),
            log: config.log.clone(),
        })
    }

    fn flush_interval(&self) -> Duration {
        self.store
            .as_ref()
            .map_or(Duration::from_secs(5), |s| s.flush_interval)
    }
}

/// The history writer task. Runs until `stop` turns true (or its sender is dropped, or the bus
/// closes), then commits the last batch and returns; the caller awaits it with a timeout.
pub async fn run(
    cfg: WriterConfig,
    mut bus: broadcast::Receiver<Event>,
    health: Arc<Health>,
    mut stop: watch::Receiver<bool>,
) {
    let (tx, rx) = mpsc::sync_channel::<Event>(QUEUE);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let writer = Writer::new(cfg.clone(), health.clone());
    let thread = std::thread::Builder::new()
        .name("history".into())
        .spawn(move || {
            writer_thread(writer, cfg.flush_interval(), &rx);
            let _ = done_tx.send(());
        });
    if let Err(e) = thread {
        tracing::error!(error = %e, "cannot start the history writer thread: no history is written");
        set_flag(&health.history.writable, false);
        let _ = stop.wait_for(|s| *s).await;
        return;
    }
    let mut full_reported = false;
    loop {
        if *stop.borrow() {
            break;
        }
        tokio::select! {
            received = bus.recv() => match received {
                Ok(event) => match tx.try_send(event) {
                    Ok(()) => full_reported = false,
                    Err(TrySendError::Full(_)) => {
                        add(&health.history.write_errors, 1);
                        if !full_reported {
                            tracing::warn!("history writer is behind: events dropped");
                            full_reported = true;
                        }
                    }
                    Err(TrySendError::Disconnected(_)) => break,
                },
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "history writer missed bus events");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            changed = stop.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    // Closing the queue tells the thread to write what it has and finish.
    drop(tx);
    let _ = done_rx.await;
}

fn writer_thread(mut writer: Writer, interval: Duration, rx: &mpsc::Receiver<Event>) {
    writer.open();
    let mut next = Instant::now() + interval;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(event) => writer.accept(&event),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() >= next {
            writer.flush();
            next = Instant::now() + interval;
        }
    }
    writer.flush();
    tracing::debug!("history writer stopped");
}

/// min/max/sum/count of one field in one bucket.
#[derive(Debug, Clone, Copy)]
struct Acc {
    min: f64,
    max: f64,
    sum: f64,
    count: u32,
}

impl Default for Acc {
    fn default() -> Self {
        Acc {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
            count: 0,
        }
    }
}

impl Acc {
    fn add(&mut self, v: f64) {
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
        self.count += 1;
    }

    fn stored(&self) -> (f64, f64, f64, u32) {
        if self.count == 0 {
            (f64::NAN, f64::NAN, f64::NAN, 0)
        } else {
            (
                self.min,
                self.sum / f64::from(self.count),
                self.max,
                self.count,
            )
        }
    }
}

/// One device's accumulators for one aggregate bucket: the union of the fields seen in it.
#[derive(Debug, Clone)]
struct Bucket {
    start_ms: i64,
    fields: Vec<LayoutField>,
    index: HashMap<String, usize>,
    acc: Vec<Acc>,
}

impl Bucket {
    fn new(start_ms: i64) -> Bucket {
        Bucket {
            start_ms,
            fields: Vec::new(),
            index: HashMap::new(),
            acc: Vec::new(),
        }
    }

    fn slot(&mut self, field: &LayoutField) -> usize {
        if let Some(&i) = self.index.get(&field.name) {
            return i;
        }
        self.fields.push(field.clone());
        self.acc.push(Acc::default());
        self.index.insert(field.name.clone(), self.fields.len() - 1);
        self.fields.len() - 1
    }

    fn add(&mut self, layout: &Layout, values: &[f64]) {
        for (f, v) in layout.fields.iter().zip(values) {
            if v.is_finite() {
                let i = self.slot(f);
                self.acc[i].add(*v);
            }
        }
    }
}

#[derive(Debug)]
struct PendingRow {
    device: String,
    at_ms: i64,
    layout: Arc<Layout>,
    data: Vec<u8>,
}

/// The open database and the ids it gave out (dropped, ids and all, on any write error).
#[derive(Debug)]
struct Db {
    conn: Connection,
    devices: HashMap<String, i64>,
    layouts: HashMap<String, i64>,
}

impl Db {
    fn device(&mut self, name: &str) -> rusqlite::Result<i64> {
        if let Some(&id) = self.devices.get(name) {
            return Ok(id);
        }
        let id = schema::device_id(&self.conn, name)?;
        self.devices.insert(name.to_owned(), id);
        Ok(id)
    }

    fn layout(&mut self, layout: &Layout) -> rusqlite::Result<i64> {
        let key = layout.key();
        if let Some(&id) = self.layouts.get(&key) {
            return Ok(id);
        }
        let id = schema::layout_id(&self.conn, layout)?;
        self.layouts.insert(key, id);
        Ok(id)
    }
}

/// The store's side of the writer.
#[derive(Debug)]
struct Store {
    cfg: HistoryConfig,
    step_ms: i64,
    db: Option<Db>,
    /// When to try opening the database again (None: now).
    retry_at: Option<Instant>,
    retry_every: Duration,
    /// An error was reported and not yet followed by a success.
    failing: bool,
    rows: Vec<PendingRow>,
    events: Vec<EventRecord>,
    /// Open buckets per device, and closed ones not yet written.
    open: HashMap<String, Bucket>,
    closed: Vec<(String, Bucket)>,
    /// Open buckets changed since they were last written.
    dirty: bool,
    next_maintenance: Option<Instant>,
}

/// The synchronous core of the writer task (public for the benchmark and tests): accepts bus
/// events, batches them, and writes a batch on [`Writer::flush`].
#[derive(Debug)]
pub struct Writer {
    store: Option<Store>,
    logs: Option<CsvLogs>,
    warnings: WarningTracker,
    /// The last layout seen per device, to skip building one for every snapshot.
    layouts: HashMap<String, Arc<Layout>>,
    health: Arc<Health>,
    /// Run the retention pass from [`Writer::flush`] (tests with fixed dates turn it off).
    auto_maintenance: bool,
}

impl Writer {
    /// Nothing is opened yet: the database is opened by the first flush.
    pub fn new(cfg: WriterConfig, health: Arc<Health>) -> Writer {
        set_flag(&health.history.configured, cfg.store.is_some());
        let store = cfg.store.map(|cfg| Store {
            step_ms: i64::try_from(cfg.aggregate_step.as_millis())
                .unwrap_or(60_000)
                .max(1000),
            cfg,
            db: None,
            retry_at: None,
            retry_every: RETRY_EVERY,
            failing: false,
            rows: Vec::new(),
            events: Vec::new(),
            open: HashMap::new(),
            closed: Vec::new(),
            dirty: false,
            next_maintenance: None,
        });
        if let Some(s) = &store {
            // Writable until shown otherwise by the first flush.
            set_flag(&health.history.writable, true);
            tracing::info!(path = %s.cfg.path.display(), "history store");
        }
        Writer {
            store,
            logs: cfg.log.map(|l| CsvLogs::new(&l.dir)),
            warnings: WarningTracker::default(),
            layouts: HashMap::new(),
            health,
            auto_maintenance: true,
        }
    }

    /// Retention passes only through [`Writer::maintain`] (for tests and benchmarks that
    /// write data of fixed dates, which the wall clock would expire).
    pub fn manual_maintenance(&mut self) {
        self.auto_maintenance = false;
    }

    /// Time between attempts to open a failed database (tests shorten it).
    pub fn set_retry_every(&mut self, every: Duration) {
        if let Some(s) = &mut self.store {
            s.retry_every = every;
        }
    }

    /// Take in one bus event (nothing is written before the next flush).
    pub fn accept(&mut self, event: &Event) {
        let now = now_ms();
        match event {
            Event::Snapshot {
                device,
                at,
                reading,
                sections,
            } => {
                let at_ms = unix_ms(*at);
                if let Some(logs) = &mut self.logs {
                    logs.write(device, at_ms, reading);
                }
                let Some(store) = &mut self.store else {
                    return;
                };
                let warnings = self
                    .warnings
                    .snapshot(device, at_ms, reading, sections.as_deref());
                store.events.extend(warnings);
                let layout = match self.layouts.get(device.as_str()) {
                    Some(l) if l.matches(reading) => l.clone(),
                    _ => {
                        let (l, _) = Layout::of_reading(reading);
                        let l = Arc::new(l);
                        self.layouts.insert(device.clone(), l.clone());
                        l
                    }
                };
                let values = layout.values(reading);
                store.aggregate(device, at_ms, &layout, &values);
                if layout.fields.is_empty() {
                    return;
                }
                let data = layout.encode(&values);
                store.rows.push(PendingRow {
                    device: device.clone(),
                    at_ms,
                    layout,
                    data,
                });
                if let Some(first) = store.rows.first() {
                    set(
                        &self.health.history.lag_ms,
                        u64::try_from(now - first.at_ms).unwrap_or(0),
                    );
                }
            }
            other => {
                if let (Some(store), Some(record)) = (&mut self.store, record_of(other, now)) {
                    store.events.push(record);
                }
            }
        }
    }

    /// Open the database now rather than at the first flush (so that a bucket a previous run
    /// left open is continued, not overwritten). Failures are handled as in a flush.
    pub fn open(&mut self) {
        if let Some(store) = &mut self.store {
            store.open_db(&self.health);
        }
    }

    /// Commit the batch (and the CSV buffers); a retention pass when one is due.
    pub fn flush(&mut self) {
        if let Some(logs) = &mut self.logs {
            logs.flush();
        }
        if let Some(store) = &mut self.store {
            store.flush(&self.health);
            if self.auto_maintenance
                && store.db.is_some()
                && store.next_maintenance.is_none_or(|t| Instant::now() >= t)
            {
                store.next_maintenance = Some(Instant::now() + MAINTENANCE_EVERY);
                store.maintain(now_ms(), &self.health);
            }
        }
    }

    /// Delete what is older than the retention periods, as of `now_ms` (runs on its own every
    /// hour from [`Writer::flush`]).
    pub fn maintain(&mut self, now_ms: i64) {
        if let Some(store) = &mut self.store {
            store.flush(&self.health);
            store.maintain(now_ms, &self.health);
        }
    }
}

impl Store {
    fn aggregate(&mut self, device: &str, at_ms: i64, layout: &Layout, values: &[f64]) {
        let start = at_ms.div_euclid(self.step_ms) * self.step_ms;
        let current = self.open.get(device).map(|b| b.start_ms);
        if current != Some(start) {
            if let Some(old) = self.open.remove(device) {
                self.closed.push((device.to_owned(), old));
            }
            let bucket = self.reopen(device, start);
            self.open.insert(device.to_owned(), bucket);
        }
        if let Some(b) = self.open.get_mut(device) {
            b.add(layout, values);
            self.dirty = true;
        }
    }

    /// A bucket to add to: one closed but not written yet, or one already in the database (a
    /// restart within a minute, a clock set back), or a new one.
    fn reopen(&mut self, device: &str, start: i64) -> Bucket {
        if let Some(i) = self
            .closed
            .iter()
            .position(|(d, b)| d == device && b.start_ms == start)
        {
            return self.closed.swap_remove(i).1;
        }
        let mut bucket = Bucket::new(start);
        let Some(db) = &mut self.db else {
            return bucket;
        };
        let id = match db.devices.get(device) {
            Some(&id) => id,
            None => {
                let known = db
                    .conn
                    .query_row("SELECT id FROM device WHERE name = ?1", [device], |r| {
                        r.get::<_, i64>(0)
                    })
                    .optional();
                match known {
                    Ok(Some(id)) => id,
                    _ => return bucket,
                }
            }
        };
        let stored: rusqlite::Result<Option<(i64, Vec<u8>)>> = db
            .conn
            .query_row(
                "SELECT layout_id, data FROM agg WHERE device_id = ?1 AND ts_ms = ?2",
                params![id, start],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional();
        if let Ok(Some((layout_id, data))) = stored {
            if let Ok(Some(layout)) = schema::load_layout(&db.conn, layout_id) {
                for (i, f) in layout.fields.iter().enumerate() {
                    if let Some((min, avg, max, count)) = layout.agg_value(&data, i) {
                        if count > 0 {
                            let slot = bucket.slot(f);
                            bucket.acc[slot] = Acc {
                                min,
                                max,
                                sum: avg * f64::from(count),
                                count,
                            };
                        }
                    }
                }
            }
        }
        bucket
    }

    fn open_db(&mut self, health: &Health) -> bool {
        if self.db.is_some() {
            return true;
        }
        if self.retry_at.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        match schema::open_writer(&self.cfg.path, self.step_ms) {
            Ok(conn) => {
                if self.failing {
                    tracing::info!(path = %self.cfg.path.display(), "history database open again");
                }
                self.db = Some(Db {
                    conn,
                    devices: HashMap::new(),
                    layouts: HashMap::new(),
                });
                self.retry_at = None;
                true
            }
            Err(e) => {
                self.failed(health, &e.to_string());
                false
            }
        }
    }

    fn failed(&mut self, health: &Health, error: &str) {
        set_flag(&health.history.writable, false);
        self.db = None;
        self.retry_at = Some(Instant::now() + self.retry_every);
        if !self.failing {
            tracing::error!(
                path = %self.cfg.path.display(),
                error,
                retry_s = self.retry_every.as_secs(),
                "history store not writable: snapshots are not recorded until it is (polling and publishing go on)"
            );
            self.failing = true;
        } else {
            tracing::debug!(path = %self.cfg.path.display(), error, "history store still not writable");
        }
    }

    fn flush(&mut self, health: &Health) {
        let nothing =
            self.rows.is_empty() && self.events.is_empty() && self.closed.is_empty() && !self.dirty;
        if nothing {
            return;
        }
        if !self.open_db(health) {
            // Keep memory bounded: the batch is lost, the buckets stay open.
            add(&health.history.write_errors, 1);
            self.rows.clear();
            self.events.clear();
            self.closed.clear();
            set(&health.history.lag_ms, 0);
            return;
        }
        let started = Instant::now();
        let result = self.write_batch();
        let rows = self.rows.len() as u64;
        self.rows.clear();
        self.events.clear();
        self.closed.clear();
        set(&health.history.lag_ms, 0);
        match result {
            Ok(()) => {
                self.dirty = false;
                add(&health.history.snapshots_written, rows);
                set(
                    &health.history.last_commit_us,
                    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                );
                set_flag(&health.history.writable, true);
                if self.failing {
                    tracing::info!(path = %self.cfg.path.display(), "history store writable again");
                    self.failing = false;
                }
            }
            Err(e) => {
                add(&health.history.write_errors, 1);
                let cause = schema::open_cause(&e);
                self.failed(health, &cause);
            }
        }
    }

    fn write_batch(&mut self) -> rusqlite::Result<()> {
        let Some(db) = &mut self.db else {
            return Ok(());
        };
        db.conn.execute_batch("BEGIN IMMEDIATE")?;
        let result = (|| -> rusqlite::Result<()> {
            // device_layout: first and last use of each (device, layout) in this batch.
            let mut spans: HashMap<(i64, i64), (i64, i64)> = HashMap::new();
            let mut ids = Vec::with_capacity(self.rows.len());
            // Rows of one device share their layout's Arc (see `Writer::accept`): its id is
            // looked up once per batch, not once per row (the key is the whole field list).
            let mut by_arc: HashMap<*const Layout, i64> = HashMap::new();
            for row in &self.rows {
                let d = db.device(&row.device)?;
                let l = match by_arc.get(&Arc::as_ptr(&row.layout)) {
                    Some(&l) => l,
                    None => {
                        let l = db.layout(&row.layout)?;
                        by_arc.insert(Arc::as_ptr(&row.layout), l);
                        l
                    }
                };
                let span = spans.entry((d, l)).or_insert((row.at_ms, row.at_ms));
                span.0 = span.0.min(row.at_ms);
                span.1 = span.1.max(row.at_ms);
                ids.push((d, l));
            }
            let mut buckets: Vec<(i64, i64, i64, Vec<u8>)> = Vec::new();
            // Consecutive buckets of a device nearly always have the same fields.
            let mut last: Option<(&[LayoutField], i64)> = None;
            for (device, b) in self
                .closed
                .iter()
                .map(|(d, b)| (d, b))
                .chain(self.open.iter())
            {
                if b.acc.iter().all(|a| a.count == 0) {
                    continue;
                }
                let d = db.device(device)?;
                let l = match last {
                    Some((fields, l)) if fields == b.fields.as_slice() => l,
                    _ => db.layout(&Layout::new(b.fields.clone()))?,
                };
                last = Some((&b.fields, l));
                let values: Vec<_> = b.acc.iter().map(Acc::stored).collect();
                buckets.push((d, b.start_ms, l, encode_agg(&values)));
            }
            let conn = &db.conn;
            let mut insert = conn.prepare(
                "INSERT OR REPLACE INTO raw (device_id, ts_ms, layout_id, data) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (row, (d, l)) in self.rows.iter().zip(&ids) {
                insert.execute(params![d, row.at_ms, l, row.data])?;
            }
            let mut span = conn.prepare(
                "INSERT INTO device_layout (device_id, layout_id, first_ms, last_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (device_id, layout_id) DO UPDATE SET
                   first_ms = min(first_ms, excluded.first_ms), last_ms = max(last_ms, excluded.last_ms)",
            )?;
            for ((d, l), (first, last)) in &spans {
                span.execute(params![d, l, first, last])?;
            }
            let mut agg = conn.prepare(
                "INSERT OR REPLACE INTO agg (device_id, ts_ms, step_ms, layout_id, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (d, start, l, data) in &buckets {
                agg.execute(params![d, start, self.step_ms, l, data])?;
                // A bucket's layout is a device layout too (fields() and export see it).
                span.execute(params![d, l, start, start])?;
            }
            let mut event = conn.prepare(
                "INSERT INTO event (ts_ms, device, kind, message, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for e in &self.events {
                event.execute(params![
                    e.at_ms,
                    e.device,
                    e.kind,
                    e.message,
                    e.detail.to_string()
                ])?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => db.conn.execute_batch("COMMIT"),
            Err(e) => {
                let _ = db.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    fn maintain(&mut self, now_ms: i64, health: &Health) {
        if !self.open_db(health) {
            return;
        }
        let Some(db) = &self.db else {
            return;
        };
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let raw_cut = now_ms.saturating_sub(ms(self.cfg.raw_retention));
        let agg_cut = now_ms.saturating_sub(ms(self.cfg.aggregate_retention));
        let event_cut = now_ms.saturating_sub(EVENT_RETENTION_MS);
        let started = Instant::now();
        let result = (|| -> rusqlite::Result<usize> {
            db.conn.execute_batch("BEGIN IMMEDIATE")?;
            let ids: Vec<i64> = {
                let mut s = db.conn.prepare("SELECT id FROM device")?;
                s.query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            let mut deleted = 0;
            // Per device: the primary key (device_id, ts_ms) finds the old rows directly.
            for id in ids {
                deleted += db.conn.execute(
                    "DELETE FROM raw WHERE device_id = ?1 AND ts_ms < ?2",
                    params![id, raw_cut],
                )?;
                deleted += db.conn.execute(
                    "DELETE FROM agg WHERE device_id = ?1 AND ts_ms < ?2",
                    params![id, agg_cut],
                )?;
            }
            db.conn.execute(
                "DELETE FROM device_layout WHERE last_ms < ?1",
                [agg_cut.min(raw_cut)],
            )?;
            deleted += db
                .conn
                .execute("DELETE FROM event WHERE ts_ms < ?1", [event_cut])?;
            deleted += db.conn.execute(
                "DELETE FROM event WHERE id <= (SELECT max(id) FROM event) - ?1",
                [EVENT_CAP],
            )?;
            db.conn.execute_batch("COMMIT")?;
            Ok(deleted)
        })();
        match result {
            Ok(deleted) => tracing::debug!(
                deleted,
                took_ms = started.elapsed().as_millis() as u64,
                "history retention pass"
            ),
            Err(e) => {
                if let Some(db) = &self.db {
                    let _ = db.conn.execute_batch("ROLLBACK");
                }
                add(&health.history.write_errors, 1);
                let cause = schema::open_cause(&e);
                self.failed(health, &cause);
            }
        }
    }
}
