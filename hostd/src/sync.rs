//! One sync: fetch, map and validate, guard against a broken directory, publish if changed.

use crate::config::Config;
use crate::mapping::{
    map_records, LocalAccounts, MappedSnapshot, MappingContext, PreviousEntries, Projector, Skipped,
};
use crate::source::Source;
use crate::{io_error, Error, Result};
use std::collections::HashSet;
use std::path::PathBuf;
use usher_cache::{Meta, Published};

mod record;
use record::{record_path, Identity, PublishRecord};

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
    /// sshd's `AuthorizedPrincipalsFile` directory (one file per uid allowed to log in).
    pub principals: PathBuf,
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
            principals: PathBuf::from(crate::sidefiles::principals::DEFAULT_PRINCIPALS_DIR),
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

/// The published snapshot as this sync may use it: as the previous state (for the mapping's
/// keep-the-previous-entry fallback, the deletion guard and the comparison) only if it is
/// trusted, intact and still the very file this daemon published; with the reason it must be
/// republished otherwise.
struct Previous {
    published: Option<Published>,
    /// What this daemon last published (kept in its private state).
    record: Option<PublishRecord>,
    /// Whether the published file is exactly the one `record` describes.
    ours: bool,
    /// Why the published file is not taken as ours, for one log line and the report.
    distrust: Option<String>,
}

fn open_previous(paths: &Paths) -> Previous {
    let record = PublishRecord::load(&record_path(&paths.state));
    let mut previous = Previous {
        published: None,
        record,
        ours: false,
        distrust: None,
    };
    if std::fs::symlink_metadata(&paths.cache).is_err() {
        return previous;
    }
    // Before the open, so a file changed while it is read is not taken for ours.
    let identity = Identity::of(&paths.cache);
    let published = match Published::open(&paths.cache) {
        Ok(p) => p,
        Err(usher_cache::Error::Untrusted(why)) => {
            previous.distrust = Some(format!(
                "the published cache is not trusted ({why}): not used as the previous state; republishing"
            ));
            return previous;
        }
        Err(e) => {
            previous.distrust = Some(format!(
                "the published cache is unreadable or corrupt ({e}): not used as the previous state; republishing"
            ));
            return previous;
        }
    };
    match (&previous.record, identity) {
        (Some(r), Ok(now)) if r.identity == now => {
            previous.ours = true;
            previous.published = Some(published);
        }
        (Some(r), Ok(now)) => {
            previous.distrust = Some(format!(
                "the published cache was changed since this daemon published it ({}): treated as tampered, not used as the previous state; republishing",
                now.differences(&r.identity)
            ));
        }
        (_, Err(e)) => {
            previous.distrust = Some(format!(
                "cannot stat the published cache ({e}): republishing"
            ));
        }
        (None, Ok(_)) => {
            // Root-owned, intact and well-formed, but no record says this daemon wrote it (its
            // private state was lost): usable as the previous state, republished to be vouched for.
            previous.distrust = Some(
                "no record of publishing the cache in the daemon's private state: republishing"
                    .to_string(),
            );
            previous.published = Some(published);
        }
    }
    previous
}

/// Previous entries come from the published file, one point query each.
impl PreviousEntries for Published {
    fn user(&self, directory_id: &str) -> Option<usher_cache::User> {
        Published::user(self, directory_id)
            .inspect_err(|e| log::warn!("cannot read a previous entry from the cache: {e}"))
            .ok()
            .flatten()
    }

    fn group(&self, directory_id: &str) -> Option<usher_cache::Group> {
        Published::group(self, directory_id)
            .inspect_err(|e| log::warn!("cannot read a previous entry from the cache: {e}"))
            .ok()
            .flatten()
    }
}

/// How the new snapshot differs from the published one, by directory id.
#[derive(Default)]
struct Comparison {
    old_users: usize,
    matched: usize,
    changed: usize,
    revoked: Vec<(String, u32)>,
}

fn compare(previous: &Published, snapshot: &MappedSnapshot) -> Result<Comparison> {
    let mut c = Comparison {
        old_users: previous.user_count(),
        ..Comparison::default()
    };
    previous.for_each_user(|old| {
        let new = snapshot.user_by_directory_id(old.directory_id);
        let mut may_log_in_now = false;
        if let Some(new) = new {
            c.matched += 1;
            let (digest, may_log_in) =
                snapshot.with_user_row(new, &[], |row| (row.digest(), row.active && row.can_login));
            if digest != old.digest() {
                c.changed += 1;
            }
            may_log_in_now = may_log_in;
        }
        if old.active && old.can_login && !may_log_in_now {
            c.revoked.push((old.name.to_string(), old.uid));
        }
    })?;
    Ok(c)
}

/// Records the identity of the file just published, and warns if the readers will refuse it
/// (its directory is writable by others, say): the file is right, where it lies is not.
fn remember_publish(paths: &Paths, meta: &Meta) {
    if let Err(usher_cache::Error::Untrusted(why)) = usher_cache::Reader::open(&paths.cache) {
        log::error!("the cache was published, but readers refuse it: {why}");
    }
    let saved = Identity::of(&paths.cache)
        .map_err(crate::io_error(&paths.cache))
        .and_then(|identity| {
            PublishRecord {
                identity,
                content_hash: meta.content_hash.clone(),
                source: meta.source.clone(),
                generation: meta.generation,
            }
            .save(&record_path(&paths.state))
        });
    if let Err(e) = saved {
        log::error!("cannot record the published cache (the next sync republishes it): {e}");
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
    let Previous {
        published: previous,
        record,
        ours,
        distrust,
    } = open_previous(paths);
    if let Some(why) = &distrust {
        log::warn!("{why}");
    }
    let projector = Projector::new(&config.mapping, &config.ids, read_shells(paths));
    let records = source.fetch(&projector).await?;
    let local =
        LocalAccounts::read(&paths.passwd, &paths.group).map_err(io_error(&paths.passwd))?;
    let ctx = MappingContext {
        mapping: &config.mapping,
        ids: &config.ids,
        access: &config.access,
        principals: &config.ssh.principals,
        local: &local,
        shells: &projector.shells,
        previous: previous.as_ref().map(|p| p as &dyn PreviousEntries),
    };
    let mapped = map_records(records, &ctx);
    let snapshot = mapped.snapshot;

    let comparison = match &previous {
        Some(p) => compare(p, &snapshot)?,
        None => Comparison::default(),
    };
    let old_users = comparison.old_users;
    let removed = old_users.saturating_sub(comparison.matched);
    let added = snapshot.user_count().saturating_sub(comparison.matched);
    let changed = comparison.changed;

    if !force && old_users > 0 {
        if snapshot.user_count() == 0 {
            return Err(Error::Refused(format!(
                "the directory yields no users where the cache has {old_users}"
            )));
        }
        let share = removed as f64 / old_users as f64;
        if share > config.sync.max_delete_share {
            return Err(Error::Refused(format!(
                "the sync would remove {removed} of {old_users} users ({:.0}%, more than sync.max_delete_share = {:.0}%)",
                share * 100.0,
                config.sync.max_delete_share * 100.0
            )));
        }
    }

    let source_label = config.source_label();
    let content_hash = snapshot.content_hash();
    let previous_generation = previous.as_ref().map(|p| p.meta().generation);
    // The published file is read no further: let it go before the new one is built.
    drop(previous);
    // Unchanged only if the published file is still the one this daemon wrote, from this content:
    // never on the word of the hash the file carries.
    let unchanged = ours
        && matches!(&record,
            Some(r) if r.content_hash == content_hash && r.source == source_label);
    let last_generation = record
        .as_ref()
        .map(|r| r.generation)
        .max(previous_generation);
    let generation = match (last_generation, unchanged) {
        (Some(g), true) => g,
        (Some(g), false) => g + 1,
        (None, _) => 1,
    };
    let revoked = comparison.revoked;
    let mut notes = mapped.notes;
    notes.extend(distrust);

    if !unchanged {
        let meta = Meta {
            generation,
            built_at: time::OffsetDateTime::now_utc().unix_timestamp(),
            source: source_label,
            content_hash: content_hash.clone(),
        };
        if let Some(dir) = paths.cache.parent() {
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        }
        let timings = usher_cache::publish_with(&paths.cache, &meta, |sink| {
            snapshot.for_each_user(|row| sink.user(row))?;
            snapshot.for_each_group(|row| sink.group(row))
        })?;
        log::info!("published generation {generation}: {timings}");
        remember_publish(paths, &meta);
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
    let principals =
        crate::sidefiles::principals::update_principals(&paths.principals, &content_hash, |f| {
            let _ = snapshot.for_each_user(|u| {
                f(u);
                Ok::<(), std::convert::Infallible>(())
            });
        });
    match principals {
        Ok(0) => {}
        Ok(n) => log::info!(
            "principals files updated in {} ({n} written or removed)",
            paths.principals.display()
        ),
        Err(e) => side_file_errors.push(e.to_string()),
    }
    Ok(Report {
        outcome: if unchanged {
            Outcome::Unchanged
        } else {
            Outcome::Published
        },
        generation,
        users: snapshot.user_count(),
        inactive_users: snapshot.inactive_count(),
        groups: snapshot.group_count(),
        added,
        removed,
        changed,
        skipped: mapped.skipped,
        notes,
        revoked,
        side_file_errors,
        side_file_warnings,
    })
}

#[cfg(test)]
mod tests;
