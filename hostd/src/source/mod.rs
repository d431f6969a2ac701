//! Directory sources. Each reads SCIM-shaped resources and hands each, as soon as it is parsed, to
//! the mapping's `Projector` (through `Records`), so mapping and validation are written once, a
//! new source is a fetcher and nothing else, and no source holds a whole directory as JSON.

mod file;
mod okta;
mod scim;

pub use file::FileSource;
pub use okta::OktaSource;
pub use scim::ScimSource;

use crate::config::{Config, DirectoryConfig};
use crate::mapping::{Projector, Records};
use crate::Result;
use std::future::Future;
use std::pin::Pin;

pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Records>> + Send + 'a>>;

pub trait Source: Send {
    /// A complete listing of the directory's users and groups, each record validated by
    /// `projector` as it arrives. An error means nothing may be concluded from this fetch: in
    /// particular, no deletions.
    fn fetch<'a>(&'a mut self, projector: &'a Projector) -> FetchFuture<'a>;
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
