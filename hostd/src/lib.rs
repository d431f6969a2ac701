//! usherd and usherctl: sync a directory into Usher's host cache, and inspect it.

pub mod config;
pub mod logging;
pub mod mapping;
pub mod scim;
pub mod source;
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
