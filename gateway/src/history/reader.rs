//! Reading the store: bucketed series, fields, daily energy, events, export. A reader has its
//! own read-only connection (WAL: it never waits for the writer, nor the writer for it);
//! calls block, so async code runs them in `spawn_blocking`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

use sungate_drivers::reading::{Field, Reading};

use super::error::HistoryError;
use super::schema::{self, Kind, Layout};
use super::time::{DAY_MS, date, rfc3339};

/// One bucket of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Start of the bucket (unix ms, a multiple of the step).
    pub t_ms: i64,
    pub min: f64,
    pub avg: f64,
    pub max: f64,
}

/// The buckets of one field that hold data (empty buckets are left out).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub field: String,
    pub unit: Option<String>,
    pub points: Vec<Point>,
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub at_ms: i64,
    pub device: String,
    /// `online`, `offline`, `identified`, `command`, `warning`, `cleared`.
    pub kind: String,
    pub message: String,
    /// command: origin, who, setting, value, ok, detail; warning/cleared: field, value,
    /// previous; offline: reason; identified: the device's identity.
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// A header `time,ts_ms,<fields>`, then one row per snapshot (booleans as 0/1, a field the
    /// snapshot did not have left empty).
    Csv,
    /// One JSON object per snapshot: `time`, `ts_ms` and the fields it had.
    Jsonl,
}

/// Most points one query may produce (a 1 s step over a week is 604 800).
const MAX_POINTS: i64 = 2_000_000;

/// A handle on the store for queries; cheap to clone, usable from any thread.
#[derive(Debug, Clone)]
pub struct HistoryReader {
    path: PathBuf,
    inner: Arc<Mutex<Option<Inner>>>,
}

#[derive(Debug)]
struct Inner {
    conn: Connection,
    path: String,
    layouts: HashMap<i64, Arc<Layout>>,
}

/// min/max/sum/count while combining rows into buckets.
#[derive(Debug, Clone, Copy)]
struct Acc {
    min: f64,
    max: f64,
    sum: f64,
    count: f64,
}

impl Acc {
    const EMPTY: Acc = Acc {
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        sum: 0.0,
        count: 0.0,
    };

    fn add(&mut self, min: f64, avg: f64, max: f64, count: f64) {
        if count > 0.0 && avg.is_finite() {
            self.min = self.min.min(min);
            self.max = self.max.max(max);
            self.sum += avg * count;
            self.count += count;
        }
    }
}

impl HistoryReader {
    /// Open the store at `path` now: fails when there is no such database (the CLI's case).
    pub fn open(path: &Path) -> Result<HistoryReader, HistoryError> {
        let reader = HistoryReader::lazy(path);
        reader.with(|_| Ok(()))?;
        Ok(reader)
    }

    /// A reader that opens the store on first use, and again on each call until it succeeds
    /// (the gateway's case: the writer may create the file after the HTTP server started).
    pub fn lazy(path: &Path) -> HistoryReader {
        HistoryReader {
            path: path.to_owned(),
            inner: Arc::new(Mutex::new(None)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Inner) -> Result<T, HistoryError>,
    ) -> Result<T, HistoryError> {
        // A panic elsewhere while holding the lock leaves a usable connection behind.
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            let conn = schema::open_reader(&self.path)?;
            *guard = Some(Inner {
                conn,
                path: self.path.display().to_string(),
                layouts: HashMap::new(),
            });
        }
        match guard.as_mut() {
            Some(inner) => f(inner),
            None => Err(HistoryError::Invalid("history reader not open".into())),
        }
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> HistoryError + '_ {
        |cause| HistoryError::Sqlite {
            path: self.path.display().to_string(),
            cause,
        }
    }

    /// Buckets of `step_ms` from `from_ms` to `to_ms` (unix ms, `to` excluded), min/avg/max per
    /// bucket, per field, in the order asked. Steps of at least the aggregate step read the
    /// minute (or coarser) aggregates; shorter steps read every snapshot, and the aggregates
    /// where the snapshots have expired already. A field never stored gives an empty series.
    pub fn query(
        &self,
        device: &str,
        fields: &[&str],
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<Series>, HistoryError> {
        if step_ms <= 0 {
            return Err(HistoryError::Invalid(format!(
                "step must be positive, got {step_ms} ms"
            )));
        }
        let start = from_ms.div_euclid(step_ms) * step_ms;
        let n = if to_ms > start {
            (to_ms - start + step_ms - 1) / step_ms
        } else {
            0
        };
        if n > MAX_POINTS {
            return Err(HistoryError::Invalid(format!(
                "{n} buckets are too many: use a step of at least {} s",
                (to_ms - start) / MAX_POINTS / 1000 + 1
            )));
        }
        let sql = self.sql();
        self.with(|inner| {
            let id = inner.device_id(device)?;
            let units = inner.units(id).map_err(&sql)?;
            let mut acc = vec![vec![Acc::EMPTY; n as usize]; fields.len()];
            let agg_step: i64 = inner
                .conn
                .query_row(
                    "SELECT value FROM meta WHERE key = 'aggregate_step_ms'",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .map_err(&sql)?
                .unwrap_or(60_000);
            if n > 0 {
                if step_ms >= agg_step {
                    inner
                        .read_agg(id, fields, from_ms, to_ms, start, step_ms, &mut acc)
                        .map_err(&sql)?;
                } else {
                    let oldest: Option<i64> = inner
                        .conn
                        .query_row(
                            "SELECT min(ts_ms) FROM raw WHERE device_id = ?1",
                            [id],
                            |r| r.get(0),
                        )
                        .map_err(&sql)?;
                    let raw_from = oldest.map_or(to_ms, |o| o.max(from_ms));
                    // Before the oldest snapshot, whole buckets (the bucket that holds it is
                    // answered by the snapshots alone).
                    let agg_to = raw_from.div_euclid(agg_step) * agg_step;
                    if from_ms < agg_to {
                        inner
                            .read_agg(id, fields, from_ms, agg_to, start, step_ms, &mut acc)
                            .map_err(&sql)?;
                    }
                    inner
                        .read_raw(id, fields, raw_from, to_ms, start, step_ms, &mut acc)
                        .map_err(&sql)?;
                }
            }
            Ok(fields
                .iter()
                .zip(acc)
                .map(|(field, buckets)| Series {
                    field: (*field).to_owned(),
                    unit: units.get(*field).cloned().flatten(),
                    points: buckets
                        .iter()
                        .enumerate()
                        .filter(|(_, a)| a.count > 0.0)
                        .map(|(i, a)| Point {
                            t_ms: start + i as i64 * step_ms,
                            min: a.min,
                            avg: a.sum / a.count,
                            max: a.max,
                        })
                        .collect(),
                })
                .collect())
        })
    }

    /// The numeric fields stored for `device` (newest field set first, then fields that only
    /// older snapshots had).
    pub fn fields(&self, device: &str) -> Result<Vec<String>, HistoryError> {
        let sql = self.sql();
        self.with(|inner| {
            let id = inner.device_id(device)?;
            let layouts = inner.device_layouts(id, true).map_err(&sql)?;
            let mut out: Vec<String> = Vec::new();
            for l in layouts {
                for f in &l.fields {
                    if !out.contains(&f.name) {
                        out.push(f.name.clone());
                    }
                }
            }
            Ok(out)
        })
    }

    /// The devices with stored data.
    pub fn devices(&self) -> Result<Vec<String>, HistoryError> {
        let sql = self.sql();
        self.with(|inner| {
            let mut s = inner
                .conn
                .prepare("SELECT name FROM device ORDER BY name")
                .map_err(&sql)?;
            let names = s
                .query_map([], |r| r.get(0))
                .map_err(&sql)?
                .collect::<rusqlite::Result<Vec<String>>>()
                .map_err(&sql)?;
            Ok(names)
        })
    }

    /// The last stored snapshot of `device`: its time and its numbers (text is not stored).
    /// When the raw rows are gone (retention), the newest aggregate bucket, each field at its
    /// maximum (what the energy counters, which only go up, need). None when there is nothing.
    pub fn last_snapshot(&self, device: &str) -> Result<Option<(i64, Reading)>, HistoryError> {
        let sql = self.sql();
        self.with(|inner| {
            let id = match inner.device_id(device) {
                Ok(id) => id,
                Err(HistoryError::NoDevice(_)) => return Ok(None),
                Err(e) => return Err(e),
            };
            for (table, is_agg) in [("raw", false), ("agg", true)] {
                let row: Option<(i64, i64, Vec<u8>)> = inner
                    .conn
                    .query_row(
                        &format!(
                            "SELECT ts_ms, layout_id, data FROM {table}
                             WHERE device_id = ?1 ORDER BY ts_ms DESC LIMIT 1"
                        ),
                        [id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .map_err(&sql)?;
                let Some((ts, lid, blob)) = row else { continue };
                let Some(layout) = load(&inner.conn, &mut inner.layouts, lid).map_err(&sql)? else {
                    continue;
                };
                let mut reading = Reading::new();
                for (i, f) in layout.fields.iter().enumerate() {
                    let value = if is_agg {
                        layout
                            .agg_value(&blob, i)
                            .and_then(|(_, _, max, count)| (count > 0).then_some(max))
                    } else {
                        layout.raw_value(&blob, i)
                    };
                    if let Some(v) = value.filter(|v| v.is_finite()) {
                        reading.push(Field::new(f.name.clone(), v));
                    }
                }
                return Ok(Some((ts, reading)));
            }
            Ok(None)
        })
    }

    /// Energy per UTC day in kWh over the last `days` days up to the day of `now_ms`, from the
    /// aggregate buckets of `field`: for an energy counter (kWh, only going up), what it grew
    /// by in the day (from its last value before the day); for a power (W), its integral (a
    /// bucket's average times its width). Days without any data are left out; oldest day first.
    pub fn daily_energy(
        &self,
        device: &str,
        field: &str,
        days: u32,
        now_ms: i64,
    ) -> Result<Vec<(String, f64)>, HistoryError> {
        let sql = self.sql();
        let end = (now_ms.div_euclid(DAY_MS) + 1) * DAY_MS;
        let begin = end - i64::from(days) * DAY_MS;
        self.with(|inner| {
            let id = inner.device_id(device)?;
            // Per day: watt-milliseconds of a power (divided once at the end: fewer rounding
            // steps) and kWh of a counter.
            let mut per_day: Vec<(i64, f64, f64)> = Vec::new();
            // From the last bucket before the window on, so that a counter's first day in it
            // has its start value.
            let mut s = inner
                .conn
                .prepare(
                    "SELECT ts_ms, step_ms, layout_id, data FROM agg
                     WHERE device_id = ?1 AND ts_ms >= COALESCE((SELECT MAX(ts_ms) FROM agg
                         WHERE device_id = ?1 AND ts_ms < ?2), ?2) AND ts_ms < ?3
                     ORDER BY ts_ms",
                )
                .map_err(&sql)?;
            let mut rows = s.query(params![id, begin, end]).map_err(&sql)?;
            let mut positions: HashMap<i64, Option<(Arc<Layout>, usize)>> = HashMap::new();
            // A counter's last value so far.
            let mut counter_before: Option<f64> = None;
            while let Some(row) = rows.next().map_err(&sql)? {
                let ts: i64 = row.get(0).map_err(&sql)?;
                let step: i64 = row.get(1).map_err(&sql)?;
                let lid: i64 = row.get(2).map_err(&sql)?;
                let at = match positions.get(&lid) {
                    Some(p) => p.clone(),
                    None => {
                        let p = load(&inner.conn, &mut inner.layouts, lid)
                            .map_err(&sql)?
                            .and_then(|l| l.position(field).map(|i| (l, i)));
                        positions.insert(lid, p.clone());
                        p
                    }
                };
                let Some((layout, i)) = at else { continue };
                let data = row.get_ref(3).map_err(&sql)?;
                let Some((min, avg, max, count)) =
                    data.as_blob().ok().and_then(|b| layout.agg_value(b, i))
                else {
                    continue;
                };
                if count == 0 || !avg.is_finite() || !max.is_finite() || !min.is_finite() {
                    continue;
                }
                let is_counter =
                    layout.fields.get(i).and_then(|f| f.unit.as_deref()) == Some("kWh");
                let (wms, kwh) = if is_counter {
                    // What the counter grew by since its last value (within the bucket for its
                    // first one; a counter that went down was reset or lost: it is followed
                    // from its new value).
                    let grown = (max - counter_before.unwrap_or(min)).max(0.0);
                    counter_before = Some(max);
                    (0.0, grown)
                } else {
                    (avg * step as f64, 0.0)
                };
                if ts < begin {
                    continue;
                }
                let day = ts.div_euclid(DAY_MS);
                match per_day.last_mut() {
                    Some((d, w, e)) if *d == day => {
                        *w += wms;
                        *e += kwh;
                    }
                    _ => per_day.push((day, wms, kwh)),
                }
            }
            Ok(per_day
                .into_iter()
                .map(|(day, wms, kwh)| (date(day * DAY_MS), wms / 3.6e9 + kwh))
                .collect())
        })
    }

    /// The newest `limit` events (of `device`, or all), before `before_ms` when given, newest
    /// first.
    pub fn events(
        &self,
        device: Option<&str>,
        limit: usize,
        before_ms: Option<i64>,
    ) -> Result<Vec<StoredEvent>, HistoryError> {
        let sql = self.sql();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let before = before_ms.unwrap_or(i64::MAX);
        self.with(|inner| {
            let map = |r: &rusqlite::Row| -> rusqlite::Result<StoredEvent> {
                let detail: String = r.get(4)?;
                Ok(StoredEvent {
                    at_ms: r.get(0)?,
                    device: r.get(1)?,
                    kind: r.get(2)?,
                    message: r.get(3)?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            };
            let cols = "SELECT ts_ms, device, kind, message, detail FROM event";
            let events = match device {
                Some(d) => {
                    let mut s = inner
                        .conn
                        .prepare(&format!(
                            "{cols} WHERE device = ?1 AND ts_ms < ?2 ORDER BY ts_ms DESC, id DESC LIMIT ?3"
                        ))
                        .map_err(&sql)?;
                    s.query_map(params![d, before, limit], map)
                        .map_err(&sql)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                }
                None => {
                    let mut s = inner
                        .conn
                        .prepare(&format!(
                            "{cols} WHERE ts_ms < ?1 ORDER BY ts_ms DESC, id DESC LIMIT ?2"
                        ))
                        .map_err(&sql)?;
                    s.query_map(params![before, limit], map)
                        .map_err(&sql)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                }
            };
            events.map_err(&sql)
        })
    }

    /// Every stored snapshot of `device` from `from_ms` to `to_ms` (`to` excluded), with the
    /// fields asked for (all numeric fields when None), to `out`. Returns the rows written.
    pub fn export(
        &self,
        device: &str,
        fields: Option<&[&str]>,
        from_ms: i64,
        to_ms: i64,
        format: ExportFormat,
        out: &mut dyn Write,
    ) -> Result<u64, HistoryError> {
        let sql = self.sql();
        self.with(|inner| {
            let id = inner.device_id(device)?;
            let layouts = inner.device_layouts(id, false).map_err(&sql)?;
            // The columns: (name, kind), in the order of the device's first layouts.
            let mut known: Vec<(String, Kind)> = Vec::new();
            for l in &layouts {
                for f in &l.fields {
                    if !known.iter().any(|(n, _)| *n == f.name) {
                        known.push((f.name.clone(), f.kind));
                    }
                }
            }
            let columns: Vec<(String, Kind)> = match fields {
                None => known,
                Some(asked) => asked
                    .iter()
                    .map(|a| {
                        known.iter().find(|(n, _)| n == a).cloned().ok_or_else(|| {
                            HistoryError::Invalid(format!(
                                "{device:?} has no stored field {a:?} (fields: {})",
                                known
                                    .iter()
                                    .map(|(n, _)| n.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            };
            if format == ExportFormat::Csv {
                let mut header = String::from("time,ts_ms");
                for (name, _) in &columns {
                    header.push(',');
                    header.push_str(name);
                }
                writeln!(out, "{header}")?;
            }
            let mut s = inner
                .conn
                .prepare(
                    "SELECT ts_ms, layout_id, data FROM raw
                     WHERE device_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3 ORDER BY ts_ms",
                )
                .map_err(&sql)?;
            let mut rows = s.query(params![id, from_ms, to_ms]).map_err(&sql)?;
            let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
            let mut positions = Positions::new();
            let mut written = 0u64;
            let mut line = String::with_capacity(1024);
            while let Some(row) = rows.next().map_err(&sql)? {
                let ts: i64 = row.get(0).map_err(&sql)?;
                let lid: i64 = row.get(1).map_err(&sql)?;
                let Some((layout, at)) =
                    locate(&inner.conn, &mut inner.layouts, &mut positions, lid, &names)
                        .map_err(&sql)?
                else {
                    continue;
                };
                let Ok(blob) = row.get_ref(2).map_err(&sql)?.as_blob() else {
                    continue;
                };
                let value = |i: &Option<usize>| {
                    i.and_then(|i| layout.raw_value(blob, i))
                        .filter(|v| v.is_finite())
                };
                line.clear();
                match format {
                    ExportFormat::Csv => {
                        line.push_str(&rfc3339(ts));
                        line.push(',');
                        line.push_str(&ts.to_string());
                        for i in at {
                            line.push(',');
                            if let Some(v) = value(i) {
                                line.push_str(&v.to_string());
                            }
                        }
                    }
                    ExportFormat::Jsonl => {
                        let mut obj = serde_json::Map::new();
                        obj.insert("time".into(), rfc3339(ts).into());
                        obj.insert("ts_ms".into(), ts.into());
                        for ((name, kind), i) in columns.iter().zip(at) {
                            if let Some(v) = value(i) {
                                let json = match kind {
                                    Kind::Bool => serde_json::Value::Bool(v != 0.0),
                                    Kind::Int => serde_json::Value::from(v as i64),
                                    Kind::Float => serde_json::Value::from(v),
                                };
                                obj.insert(name.clone(), json);
                            }
                        }
                        line.push_str(&serde_json::Value::Object(obj).to_string());
                    }
                }
                line.push('\n');
                out.write_all(line.as_bytes())?;
                written += 1;
            }
            Ok(written)
        })
    }
}

/// A layout by id, cached (layouts never change once stored).
fn load(
    conn: &Connection,
    cache: &mut HashMap<i64, Arc<Layout>>,
    id: i64,
) -> rusqlite::Result<Option<Arc<Layout>>> {
    if let Some(l) = cache.get(&id) {
        return Ok(Some(l.clone()));
    }
    let l = schema::load_layout(conn, id)?;
    if let Some(l) = &l {
        cache.insert(id, l.clone());
    }
    Ok(l)
}

/// Per layout id: the layout and where the asked fields sit in it.
type Located = (Arc<Layout>, Vec<Option<usize>>);
type Positions = HashMap<i64, Option<Located>>;

fn locate<'p>(
    conn: &Connection,
    cache: &mut HashMap<i64, Arc<Layout>>,
    positions: &'p mut Positions,
    id: i64,
    names: &[&str],
) -> rusqlite::Result<Option<&'p Located>> {
    if let std::collections::hash_map::Entry::Vacant(e) = positions.entry(id) {
        let found = load(conn, cache, id)?.map(|l| {
            let at = names.iter().map(|n| l.position(n)).collect();
            (l, at)
        });
        e.insert(found);
    }
    Ok(positions.get(&id).and_then(Option::as_ref))
}

/// The bucket of `ts` in a query starting at `start` (None outside the query).
fn bucket(ts: i64, start: i64, step: i64, n: usize) -> Option<usize> {
    let i = usize::try_from((ts - start).div_euclid(step)).ok()?;
    (i < n).then_some(i)
}

impl Inner {
    fn device_id(&self, device: &str) -> Result<i64, HistoryError> {
        let id = self
            .conn
            .query_row("SELECT id FROM device WHERE name = ?1", [device], |r| {
                r.get(0)
            })
            .optional();
        match id {
            Ok(Some(id)) => Ok(id),
            Ok(None) => Err(HistoryError::NoDevice(device.to_owned())),
            Err(cause) => Err(HistoryError::Sqlite {
                path: self.path.clone(),
                cause,
            }),
        }
    }

    /// The layouts a device used, newest first or oldest first.
    fn device_layouts(
        &mut self,
        id: i64,
        newest_first: bool,
    ) -> rusqlite::Result<Vec<Arc<Layout>>> {
        let order = if newest_first {
            "last_ms DESC"
        } else {
            "first_ms ASC"
        };
        let ids: Vec<i64> = {
            let mut s = self.conn.prepare(&format!(
                "SELECT layout_id FROM device_layout WHERE device_id = ?1 ORDER BY {order}"
            ))?;
            s.query_map([id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut out = Vec::with_capacity(ids.len());
        for lid in ids {
            if let Some(l) = load(&self.conn, &mut self.layouts, lid)? {
                out.push(l);
            }
        }
        Ok(out)
    }

    /// The unit of each field, from the newest layout that has it.
    fn units(&mut self, id: i64) -> rusqlite::Result<HashMap<String, Option<String>>> {
        let mut units = HashMap::new();
        for l in self.device_layouts(id, true)? {
            for f in &l.fields {
                units
                    .entry(f.name.clone())
                    .or_insert_with(|| f.unit.clone());
            }
        }
        Ok(units)
    }

    #[allow(clippy::too_many_arguments)]
    fn read_agg(
        &mut self,
        id: i64,
        fields: &[&str],
        from_ms: i64,
        to_ms: i64,
        start: i64,
        step: i64,
        acc: &mut [Vec<Acc>],
    ) -> rusqlite::Result<()> {
        let n = acc.first().map_or(0, Vec::len);
        let mut s = self.conn.prepare(
            "SELECT ts_ms, layout_id, data FROM agg
             WHERE device_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3",
        )?;
        let mut rows = s.query(params![id, from_ms, to_ms])?;
        let mut positions = Positions::new();
        while let Some(row) = rows.next()? {
            let ts: i64 = row.get(0)?;
            let lid: i64 = row.get(1)?;
            let Some(b) = bucket(ts, start, step, n) else {
                continue;
            };
            let Some((layout, at)) =
                locate(&self.conn, &mut self.layouts, &mut positions, lid, fields)?
            else {
                continue;
            };
            let Ok(blob) = row.get_ref(2)?.as_blob() else {
                continue;
            };
            for (series, i) in acc.iter_mut().zip(at) {
                if let Some((min, avg, max, count)) = i.and_then(|i| layout.agg_value(blob, i)) {
                    series[b].add(min, avg, max, f64::from(count));
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn read_raw(
        &mut self,
        id: i64,
        fields: &[&str],
        from_ms: i64,
        to_ms: i64,
        start: i64,
        step: i64,
        acc: &mut [Vec<Acc>],
    ) -> rusqlite::Result<()> {
        let n = acc.first().map_or(0, Vec::len);
        let mut s = self.conn.prepare(
            "SELECT ts_ms, layout_id, data FROM raw
             WHERE device_id = ?1 AND ts_ms >= ?2 AND ts_ms < ?3",
        )?;
        let mut rows = s.query(params![id, from_ms, to_ms])?;
        // The previous row's layout: nearly every row has the same one.
        let mut last: Option<(i64, Arc<Layout>, Vec<Option<usize>>)> = None;
        while let Some(row) = rows.next()? {
            let ts: i64 = row.get(0)?;
            let lid: i64 = row.get(1)?;
            let Some(b) = bucket(ts, start, step, n) else {
                continue;
            };
            if last.as_ref().is_none_or(|(l, _, _)| *l != lid) {
                last = load(&self.conn, &mut self.layouts, lid)?.map(|l| {
                    let at = fields.iter().map(|f| l.position(f)).collect();
                    (lid, l, at)
                });
            }
            let Some((_, layout, at)) = &last else {
                continue;
            };
            let Ok(blob) = row.get_ref(2)?.as_blob() else {
                continue;
            };
            for (series, i) in acc.iter_mut().zip(at) {
                if let Some(v) = i.and_then(|i| layout.raw_value(blob, i)) {
                    if v.is_finite() {
                        series[b].add(v, v, v, 1.0);
                    }
                }
            }
        }
        Ok(())
    }
}
