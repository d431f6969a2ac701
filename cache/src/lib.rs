//! Usher's host cache: one SQLite file that the daemon publishes atomically and the NSS and PAM
//! modules read.
//!
//! The file is a snapshot. It is built beside the published path, fsynced and renamed over it, and
//! never modified after that. Readers open it read-only with `immutable=1`, so they take no locks,
//! never write a `-journal`/`-shm` file and cannot see a half-written state; a reader notices a newer
//! snapshot by the path's inode and reopens.

mod buckets;
mod chunks;
mod fork;
pub mod local;
pub mod names;
mod published;
mod raw;
mod reader;
mod rows;
mod schema;
mod snapshot;
mod sums;
mod trust;
mod writer;

pub use published::Published;
pub use reader::{
    coarse_now, Account, Counts, Cursor, GroupEntry, GroupRef, GroupScan, PasswdEntry, PasswdRef,
    Reader, UserScan,
};
pub use rows::{ContentHasher, GroupRow, UserRow};
pub use schema::SCHEMA_VERSION;
pub use snapshot::{Group, Meta, Snapshot, User};
pub use writer::{publish, publish_with, remove_stale_temp_files, PublishTimings, Sink};

/// Where the daemon publishes and the modules read. Compiled in, never taken from the environment:
/// the modules run inside setuid programs.
pub const DEFAULT_CACHE_PATH: &str = "/var/lib/usher/cache.db";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cache database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cache file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cache schema version {found}, this build reads {expected}")]
    SchemaVersion { found: i64, expected: i64 },
    #[error("invalid snapshot: {0}")]
    InvalidSnapshot(String),
    /// The cache file or a directory above it could have been written by someone other than root:
    /// it is not read.
    #[error("untrusted cache: {0}; only a root-owned file in root-owned directories, not writable by group or others, is read")]
    Untrusted(String),
    /// An allocation sized by the file's data failed (or would pass its bound).
    #[error("out of memory reading the cache: {0}")]
    OutOfMemory(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// The most bytes one blob read from the file may hold (a bucket, a chunk, a list): a length
/// past it is a corrupt file, not an allocation to attempt.
pub(crate) const MAX_BLOB_BYTES: usize = 64 << 20;

/// Room for `additional` more items in `v`, or `Error::OutOfMemory`: allocations sized by the
/// file's data never abort the process the modules run in.
pub(crate) fn try_reserve<T>(v: &mut Vec<T>, additional: usize, what: &str) -> Result<()> {
    v.try_reserve(additional)
        .map_err(|e| Error::OutOfMemory(format!("{what}: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod integrity_tests;
#[cfg(test)]
mod tests;
