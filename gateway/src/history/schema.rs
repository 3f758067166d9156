//! The database file: schema, opening (writer and readers), and the packing of a snapshot's
//! numeric fields into one BLOB per row ("layouts").
//!
//! ```sql
//! meta          (key TEXT PRIMARY KEY, value INTEGER)          -- schema version, aggregate step
//! migration     (version, from_version, applied_ms, sungate)   -- the upgrades applied (v2)
//! device        (id INTEGER PRIMARY KEY, name TEXT UNIQUE)
//! layout        (id INTEGER PRIMARY KEY, fields TEXT UNIQUE)   -- JSON [[name, unit, kind], ...]
//! device_layout (device_id, layout_id, first_ms, last_ms)      -- which layouts a device used when
//! raw           (device_id, ts_ms, layout_id, data BLOB)       -- WITHOUT ROWID, key (device_id, ts_ms)
//! agg           (device_id, ts_ms, step_ms, layout_id, data)   -- WITHOUT ROWID, key (device_id, ts_ms)
//! event         (id, ts_ms, device, kind, message, detail)     -- indexed by ts_ms and (device, ts_ms)
//! ```
//! A raw `data` BLOB holds the layout's float and integer fields as f64 little-endian in layout
//! order, then its boolean fields as bits (PI30's QPIWS alone has 30+ flags: a bit each instead
//! of 8 bytes). An `agg` BLOB holds, per layout field, min, avg, max (f64) and count (u32), 28
//! bytes. A missing or non-finite value is NaN (and a count of 0 in a bucket). The field names
//! are stored once per layout instead of once per row, which keeps a device-day of 1 s
//! snapshots of 40 fields near 30 MB of raw rows and 2 MB of minute buckets.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use sungate_drivers::{Reading, Value};

use super::error::HistoryError;

/// The version this sungate writes. It is stored twice: `meta.schema` (what sungate reads) and
/// `PRAGMA user_version` (what `sqlite3 history.db 'PRAGMA user_version'` shows without knowing
/// the tables).
pub const SCHEMA_VERSION: i64 = 2;

/// The first schema, frozen: a new database is created with it and then taken through every
/// migration, so that new and upgraded databases are made the same way.
pub const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS device (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS layout (id INTEGER PRIMARY KEY, fields TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS device_layout (
    device_id INTEGER NOT NULL, layout_id INTEGER NOT NULL,
    first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL,
    PRIMARY KEY (device_id, layout_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS raw (
    device_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL,
    layout_id INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (device_id, ts_ms)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg (
    device_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL, step_ms INTEGER NOT NULL,
    layout_id INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (device_id, ts_ms)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event (
    id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, device TEXT NOT NULL,
    kind TEXT NOT NULL, message TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS event_ts ON event (ts_ms);
CREATE INDEX IF NOT EXISTS event_device_ts ON event (device, ts_ms);
";

/// One step up: the SQL that takes a database from version `to - 1` to `to`.
#[derive(Debug)]
pub struct Migration {
    pub to: i64,
    pub what: &'static str,
    pub sql: &'static str,
}

/// Every step after version 1, in order. A schema change adds a step here (and bumps
/// [`SCHEMA_VERSION`]); a step never changes once released: databases out there went through it.
pub const MIGRATIONS: &[Migration] = &[Migration {
    to: 2,
    what: "a log of the migrations applied; the version also in PRAGMA user_version",
    sql: "CREATE TABLE IF NOT EXISTS migration (
        version INTEGER PRIMARY KEY, from_version INTEGER NOT NULL,
        applied_ms INTEGER NOT NULL, sungate TEXT NOT NULL);",
}];

/// How long a statement waits for another connection's lock (a reader's checkpoint, the
/// writer's commit) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The cause of an open failure, with a hint at what to do for the usual ones.
pub fn open_cause(e: &rusqlite::Error) -> String {
    let hint = match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) | Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            " (the file is damaged or not a sungate history database: move it away and a new \
             one is created)"
        }
        Some(rusqlite::ErrorCode::CannotOpen) => {
            " (check that the directory exists and that the gateway's user may write to it: \
             SQLite creates <file>-wal and <file>-shm beside the database)"
        }
        Some(rusqlite::ErrorCode::ReadOnly) | Some(rusqlite::ErrorCode::PermissionDenied) => {
            " (the gateway's user may not write the file or its directory)"
        }
        Some(rusqlite::ErrorCode::DiskFull) => " (the disk is full)",
        _ => "",
    };
    format!("{e}{hint}")
}

fn open_error(path: &Path, e: &rusqlite::Error) -> HistoryError {
    HistoryError::Open {
        path: path.display().to_string(),
        cause: open_cause(e),
    }
}

/// The writer's connection: creates the file and the schema when missing, WAL,
/// `synchronous=NORMAL` (a power cut loses at most the last commits, never the file).
pub fn open_writer(path: &Path, aggregate_step_ms: i64) -> Result<Connection, HistoryError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            std::fs::create_dir_all(dir).map_err(|e| HistoryError::Open {
                path: path.display().to_string(),
                cause: format!("cannot create the directory {}: {e}", dir.display()),
            })?;
        }
    }
    let mut conn = Connection::open(path).map_err(|e| open_error(path, &e))?;
    let setup = || -> rusqlite::Result<()> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // The first statement reads the header: a corrupt file fails here.
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "history database is not in WAL mode");
        }
        conn.execute_batch("PRAGMA synchronous=NORMAL;")?;
        Ok(())
    };
    setup().map_err(|e| open_error(path, &e))?;
    let version = stored_version(&conn).map_err(|e| open_error(path, &e))?;
    let version = match version {
        Some(v) if v > SCHEMA_VERSION => {
            return Err(HistoryError::Open {
                path: path.display().to_string(),
                cause: format!(
                    "written by a newer sungate (schema {v}, this one knows {SCHEMA_VERSION}): \
                     keep the newer sungate, or move the file away to start a new history"
                ),
            });
        }
        Some(v) => v,
        None => {
            conn.execute_batch(SCHEMA_V1)
                .map_err(|e| open_error(path, &e))?;
            1
        }
    };
    migrate(&mut conn, version).map_err(|e| HistoryError::Open {
        path: path.display().to_string(),
        cause: format!(
            "cannot upgrade the database from schema {version}: {}",
            open_cause(&e)
        ),
    })?;
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('aggregate_step_ms', ?1)",
        [aggregate_step_ms],
    )
    .map_err(|e| open_error(path, &e))?;
    Ok(conn)
}

fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// The schema version of an existing database; `None` for an empty one. A database that has
/// the first schema's tables but no version row (an interrupted first start) is version 1.
pub fn stored_version(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    if has_table(conn, "meta")? {
        if let Some(v) = schema_version(conn)? {
            return Ok(Some(v));
        }
    }
    Ok(has_table(conn, "raw")?.then_some(1))
}

/// Take the database from `from` to [`SCHEMA_VERSION`], one transaction per step: a power cut
/// in the middle leaves the database at the last complete version, and the next start goes on
/// from there.
fn migrate(conn: &mut Connection, from: i64) -> rusqlite::Result<()> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let mut version = from;
    for step in MIGRATIONS.iter().filter(|m| m.to > from) {
        let tx = conn.transaction()?;
        tx.execute_batch(step.sql)?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?1)",
            [step.to],
        )?;
        if has_table(&tx, "migration")? {
            tx.execute(
                "INSERT OR REPLACE INTO migration (version, from_version, applied_ms, sungate) \
                 VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![step.to, version, now_ms, env!("CARGO_PKG_VERSION")],
            )?;
        }
        // PRAGMA takes no parameters; the value is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {};", step.to))?;
        tx.commit()?;
        tracing::info!(
            from = version,
            to = step.to,
            what = step.what,
            "history database upgraded"
        );
        version = step.to;
    }
    // A database already at the current version (or one created before user_version was
    // written) gets the meta row and the pragma all the same.
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?1)",
        [version],
    )?;
    conn.execute_batch(&format!("PRAGMA user_version = {version};"))?;
    Ok(())
}

fn schema_version(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
        r.get(0)
    })
    .optional()
}

/// A reader's connection: read-only, never creates anything.
pub fn open_reader(path: &Path) -> Result<Connection, HistoryError> {
    if !path.is_file() {
        return Err(HistoryError::Open {
            path: path.display().to_string(),
            cause: "no such file (the gateway creates it when [history] is configured)".into(),
        });
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| open_error(path, &e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| open_error(path, &e))?;
    let not_ours = || HistoryError::Open {
        path: path.display().to_string(),
        cause: "not a sungate history database".into(),
    };
    match schema_version(&conn) {
        Ok(Some(_)) => Ok(conn),
        Ok(None) => Err(not_ours()),
        Err(e) if is_no_table(&e) => Err(not_ours()),
        Err(e) => Err(open_error(path, &e)),
    }
}

fn is_no_table(e: &rusqlite::Error) -> bool {
    e.to_string().contains("no such table")
}

/// How a field's value is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Float,
    Int,
    Bool,
}

impl Kind {
    fn code(self) -> &'static str {
        match self {
            Kind::Float => "f",
            Kind::Int => "i",
            Kind::Bool => "b",
        }
    }

    fn of(code: &str) -> Option<Kind> {
        Some(match code {
            "f" => Kind::Float,
            "i" => Kind::Int,
            "b" => Kind::Bool,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayoutField {
    pub name: String,
    pub unit: Option<String>,
    pub kind: Kind,
}

/// Where a field's value sits in a raw BLOB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Byte offset of an f64.
    Number(usize),
    /// Bit index after the numbers.
    Bit(usize),
}

/// The ordered numeric fields of a snapshot: stored once, referred to by id from every row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub fields: Vec<LayoutField>,
    slots: Vec<Slot>,
    numbers: usize,
    bits: usize,
}

/// Bytes of one field in an aggregate BLOB: min, avg, max (f64) and count (u32).
pub const AGG_FIELD_BYTES: usize = 28;

impl Layout {
    pub fn new(fields: Vec<LayoutField>) -> Layout {
        let (mut numbers, mut bits) = (0, 0);
        let slots = fields
            .iter()
            .map(|f| {
                if f.kind == Kind::Bool {
                    bits += 1;
                    Slot::Bit(bits - 1)
                } else {
                    numbers += 1;
                    Slot::Number((numbers - 1) * 8)
                }
            })
            .collect();
        Layout {
            fields,
            slots,
            numbers,
            bits,
        }
    }

    /// The numeric fields of a reading (text is left out) and their values in layout order.
    pub fn of_reading(reading: &Reading) -> (Layout, Vec<f64>) {
        let mut fields = Vec::with_capacity(reading.len());
        let mut values = Vec::with_capacity(reading.len());
        for f in reading.iter() {
            let (kind, v) = match &f.value {
                Value::Float(x) => (Kind::Float, *x),
                Value::Int(i) => (Kind::Int, *i as f64),
                Value::Bool(b) => (Kind::Bool, f64::from(u8::from(*b))),
                Value::Text(_) => continue,
            };
            fields.push(LayoutField {
                name: f.name.to_string(),
                unit: f.unit.map(str::to_owned),
                kind,
            });
            values.push(if v.is_finite() { v } else { f64::NAN });
        }
        (Layout::new(fields), values)
    }

    /// Whether `reading`'s numeric fields are exactly this layout's (no allocation: checked
    /// for every snapshot against the device's previous layout).
    pub fn matches(&self, reading: &Reading) -> bool {
        let mut mine = self.fields.iter();
        for f in reading.iter() {
            let kind = match &f.value {
                Value::Float(_) => Kind::Float,
                Value::Int(_) => Kind::Int,
                Value::Bool(_) => Kind::Bool,
                Value::Text(_) => continue,
            };
            match mine.next() {
                Some(l) if l.kind == kind && l.name == f.name && l.unit.as_deref() == f.unit => {}
                _ => return false,
            }
        }
        mine.next().is_none()
    }

    /// The values of a reading that matches this layout.
    pub fn values(&self, reading: &Reading) -> Vec<f64> {
        let mut values = Vec::with_capacity(self.fields.len());
        for f in reading.iter() {
            let v = match &f.value {
                Value::Float(x) => *x,
                Value::Int(i) => *i as f64,
                Value::Bool(b) => f64::from(u8::from(*b)),
                Value::Text(_) => continue,
            };
            values.push(if v.is_finite() { v } else { f64::NAN });
        }
        values
    }

    /// The text stored in the `layout` table (unique: the same fields get the same id).
    pub fn key(&self) -> String {
        let list: Vec<serde_json::Value> = self
            .fields
            .iter()
            .map(|f| serde_json::json!([f.name, f.unit, f.kind.code()]))
            .collect();
        serde_json::Value::Array(list).to_string()
    }

    pub fn from_key(text: &str) -> Option<Layout> {
        let list: Vec<(String, Option<String>, String)> = serde_json::from_str(text).ok()?;
        let fields = list
            .into_iter()
            .map(|(name, unit, kind)| {
                Some(LayoutField {
                    name,
                    unit,
                    kind: Kind::of(&kind)?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Layout::new(fields))
    }

    pub fn position(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    pub fn raw_len(&self) -> usize {
        self.numbers * 8 + self.bits.div_ceil(8)
    }

    /// A raw BLOB of `values` (layout order; a bool field is 0 or 1).
    pub fn encode(&self, values: &[f64]) -> Vec<u8> {
        let mut out = vec![0u8; self.raw_len()];
        for (slot, v) in self.slots.iter().zip(values) {
            match *slot {
                Slot::Number(at) => {
                    if let Some(b) = out.get_mut(at..at + 8) {
                        b.copy_from_slice(&v.to_le_bytes());
                    }
                }
                Slot::Bit(i) => {
                    if *v != 0.0 {
                        if let Some(b) = out.get_mut(self.numbers * 8 + i / 8) {
                            *b |= 1 << (i % 8);
                        }
                    }
                }
            }
        }
        out
    }

    /// Field `index` of a raw BLOB (None: out of range or a BLOB of another size).
    pub fn raw_value(&self, blob: &[u8], index: usize) -> Option<f64> {
        if blob.len() != self.raw_len() {
            return None;
        }
        match *self.slots.get(index)? {
            Slot::Number(at) => Some(f64::from_le_bytes(blob.get(at..at + 8)?.try_into().ok()?)),
            Slot::Bit(i) => {
                let byte = blob.get(self.numbers * 8 + i / 8)?;
                Some(f64::from((byte >> (i % 8)) & 1))
            }
        }
    }

    /// (min, avg, max, count) of field `index` of an aggregate BLOB.
    pub fn agg_value(&self, blob: &[u8], index: usize) -> Option<(f64, f64, f64, u32)> {
        if blob.len() != self.fields.len() * AGG_FIELD_BYTES {
            return None;
        }
        let at = index * AGG_FIELD_BYTES;
        let f = |o: usize| -> Option<f64> {
            Some(f64::from_le_bytes(
                blob.get(at + o..at + o + 8)?.try_into().ok()?,
            ))
        };
        let count = u32::from_le_bytes(blob.get(at + 24..at + 28)?.try_into().ok()?);
        Some((f(0)?, f(8)?, f(16)?, count))
    }
}

/// An aggregate BLOB of `(min, avg, max, count)` per layout field.
pub fn encode_agg(values: &[(f64, f64, f64, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * AGG_FIELD_BYTES);
    for (min, avg, max, count) in values {
        out.extend_from_slice(&min.to_le_bytes());
        out.extend_from_slice(&avg.to_le_bytes());
        out.extend_from_slice(&max.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
    }
    out
}

/// The id of a layout, inserted when new.
pub fn layout_id(conn: &Connection, layout: &Layout) -> rusqlite::Result<i64> {
    let key = layout.key();
    conn.execute("INSERT OR IGNORE INTO layout (fields) VALUES (?1)", [&key])?;
    conn.query_row("SELECT id FROM layout WHERE fields = ?1", [&key], |r| {
        r.get(0)
    })
}

/// The id of a device, inserted when new.
pub fn device_id(conn: &Connection, name: &str) -> rusqlite::Result<i64> {
    conn.execute("INSERT OR IGNORE INTO device (name) VALUES (?1)", [name])?;
    conn.query_row("SELECT id FROM device WHERE name = ?1", [name], |r| {
        r.get(0)
    })
}

/// A stored layout by id.
pub fn load_layout(conn: &Connection, id: i64) -> rusqlite::Result<Option<Arc<Layout>>> {
    let text: Option<String> = conn
        .query_row("SELECT fields FROM layout WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(text.and_then(|t| Layout::from_key(&t)).map(Arc::new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sungate_drivers::Field;

    use crate::history::HistoryReader;

    fn scratch(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sungate-schema-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("history.db")
    }

    /// A database as sungate 0.1 (schema 1) left it: its tables, one device with two snapshots
    /// and an event; `versioned`: with the `meta.schema` row (else without: an interrupted
    /// first start).
    fn v1_database(path: &Path, versioned: bool) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL;").unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        if versioned {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema', 1), ('aggregate_step_ms', 60000)",
                [],
            )
            .unwrap();
        }
        let mut r = Reading::new();
        r.push(Field::new("battery_voltage", 52.5).with_unit("V"));
        let (layout, _) = Layout::of_reading(&r);
        let device = device_id(&conn, "inverter").unwrap();
        let lid = layout_id(&conn, &layout).unwrap();
        for (ts, v) in [(10_000i64, 52.5), (11_000, 53.0)] {
            conn.execute(
                "INSERT INTO raw (device_id, ts_ms, layout_id, data) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![device, ts, lid, layout.encode(&[v])],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO device_layout VALUES (?1, ?2, 10000, 11000)",
            [device, lid],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO event (ts_ms, device, kind, message, detail) \
             VALUES (10000, 'inverter', 'online', 'inverter online', '{}')",
            [],
        )
        .unwrap();
    }

    fn user_version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_schema_1_database_is_migrated_with_its_data_intact() {
        for versioned in [true, false] {
            let path = scratch(if versioned { "v1" } else { "v1-noversion" });
            v1_database(&path, versioned);
            {
                let conn = Connection::open(&path).unwrap();
                assert_eq!(stored_version(&conn).unwrap(), Some(1));
                assert_eq!(user_version(&conn), 0);
            }
            let conn = open_writer(&path, 60_000).unwrap();
            assert_eq!(stored_version(&conn).unwrap(), Some(SCHEMA_VERSION));
            assert_eq!(user_version(&conn), SCHEMA_VERSION);
            let (to, from): (i64, i64) = conn
                .query_row("SELECT version, from_version FROM migration", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap();
            assert_eq!((to, from), (2, 1));
            drop(conn);
            // The data, read back through the reader the API uses.
            let reader = HistoryReader::open(&path).unwrap();
            assert_eq!(reader.devices().unwrap(), ["inverter"]);
            let series = reader
                .query("inverter", &["battery_voltage"], 10_000, 12_000, 1_000)
                .unwrap();
            let points: Vec<(i64, f64)> =
                series[0].points.iter().map(|p| (p.t_ms, p.avg)).collect();
            assert_eq!(
                points,
                [(10_000, 52.5), (11_000, 53.0)],
                "versioned {versioned}"
            );
            assert_eq!(series[0].unit.as_deref(), Some("V"));
            let events = reader.events(None, 10, None).unwrap();
            assert_eq!(events.len(), 1);
            // Opening again migrates nothing more.
            let conn = open_writer(&path, 60_000).unwrap();
            let steps: i64 = conn
                .query_row("SELECT count(*) FROM migration", [], |r| r.get(0))
                .unwrap();
            assert_eq!(steps, 1);
        }
    }

    #[test]
    fn a_new_database_is_at_the_current_version_and_a_newer_one_is_refused() {
        let path = scratch("new");
        let conn = open_writer(&path, 60_000).unwrap();
        assert_eq!(stored_version(&conn).unwrap(), Some(SCHEMA_VERSION));
        assert_eq!(user_version(&conn), SCHEMA_VERSION);
        conn.execute("UPDATE meta SET value = 99 WHERE key = 'schema'", [])
            .unwrap();
        drop(conn);
        let err = open_writer(&path, 60_000).unwrap_err().to_string();
        assert!(err.contains("newer sungate (schema 99"), "{err}");
        let conn = Connection::open(&path).unwrap();
        assert_eq!(stored_version(&conn).unwrap(), Some(99), "left as it was");
        assert_eq!(
            MIGRATIONS.last().map(|m| m.to),
            Some(SCHEMA_VERSION),
            "the last migration reaches SCHEMA_VERSION"
        );
    }

    #[test]
    fn layouts_pack_numbers_and_bits() {
        let mut r = Reading::new();
        r.push(Field::new("v", 52.1).with_unit("V"));
        r.push(Field::new("fault", true));
        r.push(Field::new("mode", "Line"));
        r.push(Field::new("n", 7i64));
        r.push(Field::new("warn", false));
        let (layout, values) = Layout::of_reading(&r);
        assert!(layout.matches(&r));
        assert_eq!(layout.values(&r), values);
        assert_eq!(layout.fields.len(), 4);
        assert_eq!(layout.raw_len(), 17);
        let blob = layout.encode(&values);
        let got: Vec<_> = (0..4).map(|i| layout.raw_value(&blob, i)).collect();
        assert_eq!(got, [Some(52.1), Some(1.0), Some(7.0), Some(0.0)]);
        let back = Layout::from_key(&layout.key()).unwrap();
        assert_eq!(back, layout);
        let mut other = r.clone();
        other.push(Field::new("extra", 1.0));
        assert!(!layout.matches(&other));
        assert_eq!(layout.raw_value(&blob[..16], 0), None);
    }
}
