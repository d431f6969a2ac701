//! The `file` source: a JSON export `{"Users": [...], "Groups": [...]}` of SCIM 2.0 resources.

use super::{FetchFuture, Source};
use crate::mapping::DirectoryData;
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
        let mut text = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(io_error(&self.path))?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(Error::Source(format!(
                "{} is larger than {MAX_FILE_BYTES} bytes",
                self.path.display()
            )));
        }
        let doc: Value = serde_json::from_slice(&text)
            .map_err(|e| Error::Source(format!("{}: not valid JSON: {e}", self.path.display())))?;
        let list = |key: &str| -> Result<Vec<Value>> {
            match crate::scim::attribute(&doc, key) {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => Ok(items.clone()),
                Some(_) => Err(Error::Source(format!(
                    "{}: \"{key}\" is not a list",
                    self.path.display()
                ))),
            }
        };
        if !doc.is_object() {
            return Err(Error::Source(format!(
                "{}: expected an object with \"Users\" and \"Groups\"",
                self.path.display()
            )));
        }
        Ok(DirectoryData {
            users: list("Users")?,
            groups: list("Groups")?,
        })
    }
}

impl Source for FileSource {
    fn fetch(&mut self) -> FetchFuture<'_> {
        Box::pin(async move { self.read() })
    }
}
