//! Store errors: SQLite result codes folded into the few facts callers act
//! on (full, busy, IO, corrupt), with the SQLite message kept for the log.

use std::fmt;
use std::path::Path;

use rusqlite::ErrorCode;

/// A storage failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The disk (or the configured page cap) is full. Recoverable: the
    /// transaction was rolled back; writes work again once space returns.
    Full,
    /// A lock was not obtained within the busy timeout.
    Busy,
    /// An IO error (a failing write or fsync). The write connection should
    /// be reopened before it is trusted again.
    Io(String),
    /// The database file is damaged or not a database.
    Corrupt(String),
    /// The database could not be opened.
    CantOpen {
        /// The path.
        path: String,
        /// SQLite's reason.
        reason: String,
    },
    /// The database was written by a newer arxi.
    SchemaTooNew {
        /// Version found in the file.
        found: i64,
        /// Highest version this build understands.
        supported: i64,
    },
    /// A row that breaks a store invariant (e.g. a hash column of the
    /// wrong length). Carries the table and key.
    BadRow(String),
    /// Anything else, with SQLite's message.
    Other(String),
}

impl StoreError {
    pub(crate) fn open(path: &Path, error: &rusqlite::Error) -> Self {
        match Self::from(clone_error(error)) {
            Self::Other(reason) | Self::Io(reason) => Self::CantOpen {
                path: path.display().to_string(),
                reason,
            },
            other => other,
        }
    }

    /// True for errors that leave the write connection in doubt (IO,
    /// corruption): the owner reopens before writing again.
    pub fn needs_reopen(&self) -> bool {
        matches!(self, Self::Io(_) | Self::Corrupt(_))
    }
}

fn clone_error(error: &rusqlite::Error) -> rusqlite::Error {
    match error {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::InvalidParameterName(other.to_string()),
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => write!(f, "storage full"),
            Self::Busy => write!(f, "storage busy (lock timeout)"),
            Self::Io(message) => write!(f, "storage IO error: {message}"),
            Self::Corrupt(message) => write!(f, "storage corrupt: {message}"),
            Self::CantOpen { path, reason } => write!(f, "cannot open {path}: {reason}"),
            Self::SchemaTooNew { found, supported } => write!(
                f,
                "database schema version {found} is newer than supported version {supported}"
            ),
            Self::BadRow(message) => write!(f, "bad row: {message}"),
            Self::Other(message) => write!(f, "storage error: {message}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        match &error {
            rusqlite::Error::SqliteFailure(failure, message) => {
                let text = message.clone().unwrap_or_else(|| failure.to_string());
                match failure.code {
                    ErrorCode::DiskFull => Self::Full,
                    ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Self::Busy,
                    ErrorCode::SystemIoFailure => Self::Io(text),
                    ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => Self::Corrupt(text),
                    ErrorCode::CannotOpen | ErrorCode::PermissionDenied => Self::Io(text),
                    _ => Self::Other(text),
                }
            }
            _ => Self::Other(error.to_string()),
        }
    }
}
