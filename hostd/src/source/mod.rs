//! Directory sources. Each yields the same SCIM-shaped records, so mapping and validation are
//! written once; a new source is a fetcher and nothing else.

mod file;
mod okta;
mod scim;

pub use file::FileSource;
pub use okta::OktaSource;
pub use scim::ScimSource;

use crate::config::{Config, DirectoryConfig};
use crate::mapping::DirectoryData;
use crate::Result;
use std::future::Future;
use std::pin::Pin;

pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<DirectoryData>> + Send + 'a>>;

pub trait Source: Send {
    /// A complete listing of the directory's users and groups. An error means nothing may be
    /// concluded from this fetch: in particular, no deletions.
    fn fetch(&mut self) -> FetchFuture<'_>;
}

pub fn from_config(config: &Config) -> Result<Box<dyn Source>> {
    match &config.directory {
        DirectoryConfig::File { path } => Ok(Box::new(FileSource::new(path.clone()))),
        DirectoryConfig::Scim(scim) => Ok(Box::new(ScimSource::new(scim)?)),
        DirectoryConfig::Okta(okta) => {
            let mut source = OktaSource::new(okta)?;
            // usherd's cache path is fixed (as in sync::Paths::default()).
            source.seed_from_cache(
                std::path::Path::new(usher_cache::DEFAULT_CACHE_PATH),
                &config.source_label(),
            );
            Ok(Box::new(source))
        }
    }
}
