//! The history store: every snapshot in SQLite for a few days, min/avg/max buckets for years,
//! the event log, and optional daily CSV files.
//!
//! - [`writer`]: the one task that writes (bus -> a dedicated thread -> one transaction per
//!   `flush_interval`); the last batch is committed when the gateway stops. A database that
//!   cannot be written costs the history, never the polling.
//! - [`reader`]: queries for the HTTP API and `sungate export`, on their own read-only
//!   connections.
//! - [`schema`]: tables and the row format; [`events`]: what goes into the event log;
//!   [`csvlog`]: the `[log]` files; [`time`]: UTC dates without a date crate.
//!
//! Why this shape (kept small on purpose):
//! - One row per snapshot with the values packed into a BLOB, the field names stored once
//!   per "layout": a row per field would repeat the key and name 40 times per snapshot and
//!   make a day of 1 s data several times larger on an SD card. A query reads one device's
//!   rows in key order (WITHOUT ROWID, key (device_id, ts_ms)) and unpacks the field it wants.
//! - Aggregates are maintained by the writer as it goes (accumulators per open bucket,
//!   rewritten at each flush) rather than computed by a later pass over the raw rows: there is
//!   no catch-up work after a restart, and a query over days or months reads one small row
//!   per bucket.
//! - WAL with `synchronous=NORMAL`: readers never block the writer, a commit costs one
//!   append, and a power cut loses at most the last commit, never the file.

pub mod csvlog;
pub mod error;
pub mod events;
pub mod reader;
pub mod schema;
pub mod time;
pub mod writer;

pub use error::HistoryError;
pub use events::EventRecord;
pub use reader::{ExportFormat, HistoryReader, Point, Series, StoredEvent};
pub use writer::{Writer, WriterConfig, run};

#[cfg(test)]
mod tests;
