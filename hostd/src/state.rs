//! The daemon's private state: what happened at the last sync, for `usherctl status` and
//! `usherctl sync`. Root-only (the directory it lives in is 0700), written atomically.

use crate::mapping::Skipped;
use crate::{io_error, Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Only this many skipped entries are kept in the state; the count is always exact.
const MAX_SKIPPED_KEPT: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SkippedEntry {
    pub kind: String,
    pub id: String,
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    /// The daemon's pid, or 0 when the last writer was `usherd --once`.
    pub pid: u32,
    pub source: String,
    /// Sync attempts by this daemon process; `usherctl sync` waits for it to grow.
    pub attempts: u64,
    pub last_attempt: Option<i64>,
    pub last_success: Option<i64>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    pub backoff_seconds: u64,
    pub next_sync_at: Option<i64>,
    pub generation: u64,
    pub users: usize,
    pub inactive_users: usize,
    pub groups: usize,
    pub skipped_count: usize,
    pub skipped: Vec<SkippedEntry>,
    /// Policy the last sync could not apply as written (a `name:` policy entry several directory
    /// groups share, principals withheld), at most `MAX_SKIPPED_KEPT` of them.
    pub warnings_count: usize,
    pub warnings: Vec<String>,
    /// Principals the last sync served for nobody, for `usherctl user` (at most
    /// `MAX_SKIPPED_KEPT`; each is also one of the warnings).
    pub withheld_principals: Vec<WithheldPrincipal>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WithheldPrincipal {
    pub principal: String,
    pub users: Vec<String>,
    pub reason: String,
}

impl State {
    pub fn set_skipped(&mut self, skipped: &[Skipped]) {
        self.skipped_count = skipped.len();
        self.skipped = skipped
            .iter()
            .take(MAX_SKIPPED_KEPT)
            .map(|s| SkippedEntry {
                kind: s.kind.to_string(),
                id: s.id.clone(),
                name: s.name.clone(),
                reason: s.reason.clone(),
            })
            .collect();
    }

    pub fn set_warnings(&mut self, warnings: &[String]) {
        self.warnings_count = warnings.len();
        self.warnings = warnings.iter().take(MAX_SKIPPED_KEPT).cloned().collect();
    }

    pub fn set_withheld_principals(&mut self, withheld: &[crate::mapping::Withheld]) {
        self.withheld_principals = withheld
            .iter()
            .take(MAX_SKIPPED_KEPT)
            .map(|w| WithheldPrincipal {
                principal: w.principal.clone(),
                users: w.users.clone(),
                reason: w.reason.clone(),
            })
            .collect();
    }

    /// (principal, why) for each principal withheld from the directory user `name`.
    pub fn withheld_principals_of(&self, name: &str) -> Vec<(String, String)> {
        self.withheld_principals
            .iter()
            .filter(|w| w.users.iter().any(|u| u == name))
            .map(|w| {
                (
                    w.principal.clone(),
                    format!("{} ({})", w.reason, w.users.join(", ")),
                )
            })
            .collect()
    }

    pub fn load(path: &Path) -> Result<State> {
        let text = fs::read(path).map_err(io_error(path))?;
        serde_json::from_slice(&text).map_err(|e| Error::Config {
            path: path.display().to_string(),
            reason: format!("unreadable state: {e}"),
        })
    }

    /// Writes the state by temp file, fsync and rename, readable by root only.
    pub fn save(&self, path: &Path) -> Result<()> {
        save_private_json(self, path)
    }
}

/// Writes `value` as JSON to `path` by temp file, fsync and rename, readable by root only, in a
/// directory only root can enter (the daemon's private state).
pub(crate) fn save_private_json(value: &impl serde::Serialize, path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_error(dir))?;
    let name = path
        .file_name()
        .map_or("state".into(), |n| n.to_string_lossy());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let text = serde_json::to_vec_pretty(value).map_err(|e| Error::Config {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let result = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_error(path))
}
