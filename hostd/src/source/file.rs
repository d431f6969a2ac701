//! The `file` source: a JSON export `{"Users": [...], "Groups": [...]}` of SCIM 2.0 resources.

use super::{FetchFuture, Source};
use crate::mapping::{Projector, Records};
use crate::{io_error, Error, Result};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;

/// An export larger than this is refused rather than read.
const MAX_FILE_BYTES: u64 = 1 << 30;

pub struct FileSource {
    path: PathBuf,
}

impl FileSource {
    pub fn new(path: PathBuf) -> Self {
        FileSource { path }
    }

    fn read(&self, projector: &Projector) -> Result<Records> {
        let file = std::fs::File::open(&self.path).map_err(io_error(&self.path))?;
        let len = file.metadata().map_err(io_error(&self.path))?.len();
        if len > MAX_FILE_BYTES {
            return Err(Error::Source(format!(
                "{} is larger than {MAX_FILE_BYTES} bytes",
                self.path.display()
            )));
        }
        // Streamed: each resource is parsed, projected and dropped before the next is read, so
        // the export is never held whole, not even one array of it.
        let mut json =
            serde_json::Deserializer::from_reader(std::io::BufReader::new(file.take(len)));
        let mut records = Records::default();
        let export = Export {
            projector,
            records: &mut records,
        };
        let fail = |e: serde_path_to_error::Error<serde_json::Error>| {
            Error::Source(format!(
                "{}: not a valid JSON export at {}: {}",
                self.path.display(),
                e.path(),
                e.inner()
            ))
        };
        let mut track = serde_path_to_error::Track::new();
        export
            .deserialize(serde_path_to_error::Deserializer::new(
                &mut json, &mut track,
            ))
            .map_err(|e| fail(serde_path_to_error::Error::new(track.path(), e)))?;
        json.end().map_err(|e| {
            Error::Source(format!(
                "{}: not a valid JSON export: {e}",
                self.path.display()
            ))
        })?;
        Ok(records)
    }
}

/// The export's shape: `{"Users": [...], "Groups": [...]}`, other keys ignored; each resource
/// goes to `records` as it is parsed.
struct Export<'a> {
    projector: &'a Projector,
    records: &'a mut Records,
}

#[derive(Clone, Copy)]
enum Kind {
    Users,
    Groups,
}

/// One of the export's arrays.
struct Resources<'a> {
    kind: Kind,
    projector: &'a Projector,
    records: &'a mut Records,
}

impl<'de> DeserializeSeed<'de> for Export<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Export<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object with \"Users\" and \"Groups\" arrays")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let kind = match key.as_str() {
                "Users" | "users" => Kind::Users,
                "Groups" | "groups" => Kind::Groups,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            map.next_value_seed(Resources {
                kind,
                projector: self.projector,
                records: self.records,
            })?;
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Resources<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Resources<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of SCIM resources")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while let Some(resource) = seq.next_element::<Value>()? {
            match self.kind {
                Kind::Users => self.records.add_user(self.projector, &resource, false),
                Kind::Groups => self.records.add_group(self.projector, &resource, false),
            };
        }
        Ok(())
    }
}

impl Source for FileSource {
    fn fetch<'a>(&'a mut self, projector: &'a Projector) -> FetchFuture<'a> {
        Box::pin(async move { self.read(projector) })
    }
}
