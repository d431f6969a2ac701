//! What this daemon last published, kept in its root-only private directory: the published
//! file's identity (device, inode, size, times, owner, mode) and the content hash it was built
//! from. A sync takes the published cache for "ours and unchanged" only when the file still has
//! that identity (any write, chmod, chown or replacement changes its ctime or inode, and user
//! space cannot set a ctime) — never from the hash the file itself carries.

use crate::Result;
use serde::{Deserialize, Serialize};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A file's identity: what cannot change without the file having been written, replaced,
/// chmod'ed or chown'ed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

impl Identity {
    /// The identity of the file at `path` (not following a symlink).
    pub fn of(path: &Path) -> std::io::Result<Identity> {
        let md = fs::symlink_metadata(path)?;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Ok(Identity {
            dev: md.dev(),
            ino: md.ino(),
            size: md.size(),
            mtime_ns: ns(md.mtime(), md.mtime_nsec()),
            ctime_ns: ns(md.ctime(), md.ctime_nsec()),
            uid: md.uid(),
            gid: md.gid(),
            mode: md.mode(),
        })
    }

    /// What differs from `other`, in words, for the log line.
    pub fn differences(&self, other: &Identity) -> String {
        let mut what = Vec::new();
        if (self.dev, self.ino) != (other.dev, other.ino) {
            what.push("replaced by another file".to_string());
        }
        if self.uid != other.uid || self.gid != other.gid {
            what.push(format!(
                "owner {}:{} instead of {}:{}",
                self.uid, self.gid, other.uid, other.gid
            ));
        }
        if self.mode != other.mode {
            what.push(format!(
                "mode {:o} instead of {:o}",
                self.mode & 0o7777,
                other.mode & 0o7777
            ));
        }
        if self.size != other.size || self.mtime_ns != other.mtime_ns {
            what.push("contents written".to_string());
        } else if self.ctime_ns != other.ctime_ns && what.is_empty() {
            what.push("changed (ctime)".to_string());
        }
        what.join(", ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRecord {
    pub identity: Identity,
    pub content_hash: String,
    pub source: String,
    pub generation: u64,
}

/// Where the record lives: beside the daemon's state, in its root-only directory.
pub fn record_path(state: &Path) -> PathBuf {
    state.with_file_name("published.json")
}

impl PublishRecord {
    /// The record at `path`; `None` if there is none or it cannot be read (the published cache
    /// then cannot be vouched for, and is republished).
    pub fn load(path: &Path) -> Option<PublishRecord> {
        let text = fs::read(path).ok()?;
        serde_json::from_slice(&text)
            .inspect_err(|e| log::warn!("ignoring {}: {e}", path.display()))
            .ok()
    }

    /// Writes the record by temp file, fsync and rename, readable by root only.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::state::save_private_json(self, path)
    }
}
