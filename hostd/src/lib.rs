//! usherd and usherctl: sync a directory into Usher's host cache, and inspect it.

pub mod config;
pub mod daemon;
pub mod http;
pub mod logging;
pub mod mapping;
pub mod notify;
pub mod scim;
pub mod secret;
pub mod sidefiles;
pub mod source;
pub mod state;
pub mod sync;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config {path}: {reason}")]
    Config { path: String, reason: String },
    #[error("directory: {0}")]
    Source(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Cache(#[from] usher_cache::Error),
    #[error("directory answered HTTP {status} for {what}")]
    Http {
        status: u16,
        what: String,
        /// From a `Retry-After` header, on 429 and 503.
        retry_after: Option<std::time::Duration>,
    },
    /// A file besides the cache (trusted CA keys, sudoers) could not be updated; the old one stays.
    #[error("{0}")]
    SideFile(String),
    #[error("refused to publish: {0} (run with --force if this is intended)")]
    Refused(String),
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}
