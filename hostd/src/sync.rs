//! One sync: fetch, map and validate, guard against a broken directory, publish if changed.

use crate::config::Config;
use crate::mapping::{map_directory, LocalAccounts, MappingContext, Skipped};
use crate::source::Source;
use crate::{io_error, Error, Result};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use usher_cache::{Meta, Reader, Snapshot};

pub const DEFAULT_STATE_PATH: &str = "/var/lib/usher/private/state.json";

/// The files a sync reads and writes; fixed on a real host, replaced in tests.
#[derive(Debug, Clone)]
pub struct Paths {
    pub cache: PathBuf,
    pub passwd: PathBuf,
    pub group: PathBuf,
    pub shells: PathBuf,
    /// The daemon's private state (root-only directory).
    pub state: PathBuf,
    /// sshd's `TrustedUserCAKeys`.
    pub trusted_ca_keys: PathBuf,
    /// The sudoers drop-in (written only where /etc/sudoers.d exists).
    pub sudoers: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            cache: PathBuf::from(usher_cache::DEFAULT_CACHE_PATH),
            passwd: PathBuf::from("/etc/passwd"),
            group: PathBuf::from("/etc/group"),
            shells: PathBuf::from("/etc/shells"),
            state: PathBuf::from(DEFAULT_STATE_PATH),
            trusted_ca_keys: PathBuf::from("/etc/usher/trusted_user_ca_keys"),
            sudoers: PathBuf::from("/etc/sudoers.d/usher"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Published,
    Unchanged,
}

/// What a sync did, for logs and status.
#[derive(Debug, Clone)]
pub struct Report {
    pub outcome: Outcome,
    pub generation: u64,
    pub users: usize,
    pub inactive_users: usize,
    pub groups: usize,
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
    pub skipped: Vec<Skipped>,
    pub notes: Vec<String>,
    /// Users who could log in before this sync and cannot now: (name, uid).
    pub revoked: Vec<(String, u32)>,
    /// Side files (CA keys, sudoers) that could not be updated; the old ones stay.
    pub side_file_errors: Vec<String>,
    /// Inputs to side files that were refused while the files were still updated (a weak CA key).
    pub side_file_warnings: Vec<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.outcome {
            Outcome::Published => "published",
            Outcome::Unchanged => "unchanged",
        };
        write!(
            f,
            "{what} generation {}: {} users ({} inactive), {} groups; users +{} -{} ~{}; {} skipped",
            self.generation,
            self.users,
            self.inactive_users,
            self.groups,
            self.added,
            self.removed,
            self.changed,
            self.skipped.len()
        )
    }
}

/// The published snapshot and its meta, if there is a readable one.
fn read_previous(paths: &Paths) -> Option<(Snapshot, Meta)> {
    if !paths.cache.exists() {
        return None;
    }
    let loaded = Reader::open(&paths.cache).and_then(|r| Ok((r.load_snapshot()?, r.meta()?)));
    match loaded {
        Ok(x) => Some(x),
        Err(e) => {
            log::warn!("the published cache is unreadable and will be replaced: {e}");
            None
        }
    }
}

fn read_shells(paths: &Paths) -> HashSet<String> {
    std::fs::read_to_string(&paths.shells)
        .map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|l| l.starts_with('/'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Fetches from `source` and publishes a new snapshot if the result differs from the published one.
/// Any error leaves the published cache as it was.
pub async fn sync_once(
    config: &Config,
    source: &mut dyn Source,
    paths: &Paths,
    force: bool,
) -> Result<Report> {
    // A publisher killed mid-write (SIGKILL, power loss) leaves a temp file; never let it linger.
    match usher_cache::remove_stale_temp_files(&paths.cache) {
        Ok(0) => {}
        Ok(n) => log::info!("removed {n} temp file(s) left by an interrupted publish"),
        Err(e) => log::warn!("cannot clean up temp files beside the cache: {e}"),
    }
    let previous = read_previous(paths);
    let data = source.fetch().await?;
    let local =
        LocalAccounts::read(&paths.passwd, &paths.group).map_err(io_error(&paths.passwd))?;
    let shells = read_shells(paths);
    let ctx = MappingContext {
        mapping: &config.mapping,
        ids: &config.ids,
        access: &config.access,
        principals: &config.ssh.principals,
        local: &local,
        shells: &shells,
        previous: previous.as_ref().map(|(s, _)| s),
    };
    let mapped = map_directory(data, &ctx);
    let snapshot = mapped.snapshot;

    let old_users: HashMap<&str, &usher_cache::User> = previous
        .as_ref()
        .map(|(s, _)| {
            s.users
                .iter()
                .map(|u| (u.directory_id.as_str(), u))
                .collect()
        })
        .unwrap_or_default();
    let new_ids: HashSet<&str> = snapshot
        .users
        .iter()
        .map(|u| u.directory_id.as_str())
        .collect();
    let removed = old_users.keys().filter(|id| !new_ids.contains(*id)).count();
    let added = new_ids
        .iter()
        .filter(|id| !old_users.contains_key(*id))
        .count();
    let changed = snapshot
        .users
        .iter()
        .filter(|u| matches!(old_users.get(u.directory_id.as_str()), Some(old) if **old != **u))
        .count();

    if !force && !old_users.is_empty() {
        if snapshot.users.is_empty() {
            return Err(Error::Refused(format!(
                "the directory yields no users where the cache has {}",
                old_users.len()
            )));
        }
        let share = removed as f64 / old_users.len() as f64;
        if share > config.sync.max_delete_share {
            return Err(Error::Refused(format!(
                "the sync would remove {removed} of {} users ({:.0}%, more than sync.max_delete_share = {:.0}%)",
                old_users.len(),
                share * 100.0,
                config.sync.max_delete_share * 100.0
            )));
        }
    }

    let source_label = config.source_label();
    let content_hash = snapshot.content_hash();
    let previous_meta = previous.as_ref().map(|(_, m)| m.clone());
    let unchanged = matches!(&previous_meta,
        Some(m) if m.content_hash == content_hash && m.source == source_label);
    let generation = match (&previous_meta, unchanged) {
        (Some(m), true) => m.generation,
        (Some(m), false) => m.generation + 1,
        (None, _) => 1,
    };
    let may_log_in = |u: &usher_cache::User| u.active && u.can_login;
    let revoked: Vec<(String, u32)> = old_users
        .values()
        .filter(|old| may_log_in(old))
        .filter(|old| {
            !snapshot
                .users
                .iter()
                .any(|u| u.directory_id == old.directory_id && may_log_in(u))
        })
        .map(|old| (old.name.clone(), old.uid))
        .collect();

    if !unchanged {
        let meta = Meta {
            generation,
            built_at: time::OffsetDateTime::now_utc().unix_timestamp(),
            source: source_label,
            content_hash,
        };
        if let Some(dir) = paths.cache.parent() {
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        }
        usher_cache::publish(&paths.cache, &snapshot, &meta)?;
    }

    // Side files follow the snapshot and the config; a failure here keeps the old files and is
    // reported, but does not undo the publish.
    let mut side_file_errors = Vec::new();
    let mut side_file_warnings = Vec::new();
    if let Err(e) =
        crate::sidefiles::update_ca_keys(config, &paths.trusted_ca_keys, &mut side_file_warnings)
            .await
    {
        side_file_errors.push(e.to_string());
    }
    if let Err(e) = crate::sidefiles::update_sudoers(config, &snapshot, &paths.sudoers) {
        side_file_errors.push(e.to_string());
    }
    Ok(Report {
        outcome: if unchanged {
            Outcome::Unchanged
        } else {
            Outcome::Published
        },
        generation,
        users: snapshot.users.len(),
        inactive_users: snapshot.users.iter().filter(|u| !u.active).count(),
        groups: snapshot.groups.len(),
        added,
        removed,
        changed,
        skipped: mapped.skipped,
        notes: mapped.notes,
        revoked,
        side_file_errors,
        side_file_warnings,
    })
}

#[cfg(test)]
mod tests;
