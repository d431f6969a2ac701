//! The `file` source: a JSON export `{"Users": [...], "Groups": [...]}` of SCIM 2.0 resources.

use super::{FetchFuture, Source};
use crate::mapping::DirectoryData;
use crate::scim::CompactGroup;
use crate::{io_error, Error, Result};
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;

/// An export larger than this is refused rather than read into memory.
const MAX_FILE_BYTES: u64 = 1 << 30;

pub struct FileSource {
    path: PathBuf,
}

impl FileSource {
    pub fn new(path: PathBuf) -> Self {
        FileSource { path }
    }

    fn read(&self) -> Result<DirectoryData> {
        let file = std::fs::File::open(&self.path).map_err(io_error(&self.path))?;
        let len = file.metadata().map_err(io_error(&self.path))?.len();
        if len > MAX_FILE_BYTES {
            return Err(Error::Source(format!(
                "{} is larger than {MAX_FILE_BYTES} bytes",
                self.path.display()
            )));
        }
        // Streamed, and each group compacted as it is parsed: the export is never held whole.
        let mut json =
            serde_json::Deserializer::from_reader(std::io::BufReader::new(file.take(len)));
        let export: Export = serde_path_to_error::deserialize(&mut json).map_err(|e| {
            Error::Source(format!(
                "{}: not a valid JSON export at {}: {}",
                self.path.display(),
                e.path(),
                e.inner()
            ))
        })?;
        Ok(DirectoryData {
            users: export.users,
            groups: export.groups.into_iter().map(|g| g.0).collect(),
        })
    }
}

/// The export's shape: `{"Users": [...], "Groups": [...]}`, other keys ignored.
#[derive(serde::Deserialize)]
struct Export {
    #[serde(default, rename = "Users", alias = "users")]
    users: Vec<Value>,
    #[serde(default, rename = "Groups", alias = "groups")]
    groups: Vec<CompactGroup>,
}

impl Source for FileSource {
    fn fetch(&mut self) -> FetchFuture<'_> {
        Box::pin(async move { self.read() })
    }
}
