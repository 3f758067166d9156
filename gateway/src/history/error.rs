//! What can go wrong with the history store: each error says which database file and why.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum HistoryError {
    /// The database cannot be opened, created or set up (missing, corrupt, unreadable).
    #[error("cannot open the history database {path}: {cause}")]
    Open { path: String, cause: String },
    /// A statement failed on an open database (disk full, I/O error, corruption found later).
    #[error("history database {path}: {cause}")]
    Sqlite {
        path: String,
        cause: rusqlite::Error,
    },
    #[error("no history for device {0:?}")]
    NoDevice(String),
    /// A request that cannot be answered as asked (a zero step, an unknown field).
    #[error("{0}")]
    Invalid(String),
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
}
