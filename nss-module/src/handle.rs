//! One cache `Reader` per thread, opened on first use and reopened when it stops being current
//! (a newer snapshot was published, or the process forked since it was opened).

use crate::status::Fail;
use std::cell::RefCell;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use usher_cache::local::{for_each_local_name, passwd_version, FileKey, LocalError};
use usher_cache::{coarse_now, Reader};

/// Where the cache is and how often a warm handle looks at the path for a newer snapshot.
/// The exported functions use [`Config::system`]; tests inject their own.
#[derive(Debug, Clone, Copy)]
pub struct Config<'a> {
    pub path: &'a Path,
    pub recheck_interval: Duration,
    /// The passwd file of local accounts (see `initgroups_dyn`).
    pub local_passwd: &'a Path,
}

/// How often the module's handles notice a new snapshot at the latest.
pub const SYSTEM_RECHECK_INTERVAL: Duration = Duration::from_secs(1);

impl Config<'static> {
    /// The compiled-in cache path (never one from the environment: this runs in setuid programs).
    pub fn system() -> Config<'static> {
        Config {
            path: Path::new(usher_cache::DEFAULT_CACHE_PATH),
            recheck_interval: SYSTEM_RECHECK_INTERVAL,
            local_passwd: Path::new(usher_cache::local::LOCAL_PASSWD),
        }
    }
}

impl<'a> Config<'a> {
    /// A handle on `path` that looks for a new snapshot at every lookup.
    pub fn eager(path: &'a Path) -> Config<'a> {
        Config {
            path,
            recheck_interval: Duration::ZERO,
            local_passwd: Path::new(usher_cache::local::LOCAL_PASSWD),
        }
    }
}

struct Slot {
    path: PathBuf,
    recheck_interval: Duration,
    reader: Reader,
    /// The snapshot file's modification time (seconds), taken when the handle was opened.
    cache_written_at: i64,
    clashes: Clashes,
}

/// A passwd file changed less than this before the snapshot was written may hold accounts that
/// usherd did not see when it built the snapshot (it reads the passwd file before fetching and
/// mapping, which can take minutes against a large directory).
const SYNC_SLACK_SECS: i64 = 3600;

/// The local account names that the snapshot also holds as directory users: an account created
/// after the sync with a directory user's name (usherd leaves such users out at the next sync).
/// Kept with the handle (so a new snapshot starts afresh), looked at once per recheck interval.
#[derive(Default)]
struct Clashes {
    /// When the passwd file was last looked at (coarse monotonic clock), if ever.
    checked: Option<Duration>,
    /// The passwd version `names` were found for.
    passwd: Option<FileKey>,
    /// The names, each followed by `\n`: almost always empty.
    names: Vec<u8>,
}

impl Clashes {
    /// Brings the names up to date with the passwd file, at most once per `cfg.recheck_interval`:
    /// a `stat`; the file's names are compared with the snapshot only when the file changed
    /// since the handle last looked and not long before the snapshot was written.
    fn refresh(
        &mut self,
        cfg: &Config<'_>,
        reader: &Reader,
        cache_written_at: i64,
    ) -> Result<(), Fail> {
        let now = coarse_now();
        if self
            .checked
            .is_some_and(|t| now.saturating_sub(t) < cfg.recheck_interval)
        {
            return Ok(());
        }
        let version = passwd_version(cfg.local_passwd).map_err(Fail::local)?;
        if self.checked.is_some() && version == self.passwd {
            self.checked = Some(now);
            return Ok(());
        }
        // Forget the old answer before computing the new one: a failure leaves it to be redone.
        self.checked = None;
        self.names.clear();
        let seen_by_usherd =
            |v: &FileKey| v.changed_at().saturating_add(SYNC_SLACK_SECS) < cache_written_at;
        if version.as_ref().is_some_and(|v| !seen_by_usherd(v)) {
            let names = &mut self.names;
            for_each_local_name(cfg.local_passwd, |name| -> Result<(), ClashError> {
                let Ok(name_str) = std::str::from_utf8(name) else {
                    return Ok(()); // never a cache name
                };
                if reader.with_user_by_name(name_str, |_| ())?.is_some() {
                    names
                        .try_reserve(name.len() + 1)
                        .map_err(|_| ClashError::OutOfMemory)?;
                    names.extend_from_slice(name);
                    names.push(b'\n');
                }
                Ok(())
            })
            .map_err(|e| match e {
                ClashError::Local(e) => Fail::local(e),
                ClashError::Cache(e) => Fail::query(&e),
                ClashError::OutOfMemory => Fail::NO_MEMORY,
            })?;
        }
        self.passwd = version;
        self.checked = Some(now);
        Ok(())
    }
}

enum ClashError {
    Local(LocalError),
    Cache(usher_cache::Error),
    OutOfMemory,
}

impl From<LocalError> for ClashError {
    fn from(e: LocalError) -> Self {
        ClashError::Local(e)
    }
}

impl From<usher_cache::Error> for ClashError {
    fn from(e: usher_cache::Error) -> Self {
        ClashError::Cache(e)
    }
}

/// Local account names that the snapshot also holds as directory users (see [`with_group_reader`]).
#[derive(Debug, Clone, Copy)]
pub struct LocalClashes<'a>(&'a [u8]);

impl LocalClashes<'_> {
    /// None at all: the usual case, and then a member list is packed as it is.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `name` is one of them.
    pub fn contains(&self, name: &[u8]) -> bool {
        self.0.split(|&b| b == b'\n').any(|n| n == name)
    }
}

impl Slot {
    /// Whether this handle answers for `cfg` as it is, without being (re)opened.
    fn serves(&mut self, cfg: &Config<'_>) -> bool {
        self.path.as_os_str() == cfg.path.as_os_str()
            && self.recheck_interval == cfg.recheck_interval
            && self.reader.is_current()
    }
}

thread_local! {
    static READER: RefCell<Option<Slot>> = const { RefCell::new(None) };
}

/// Runs `query` on this thread's handle for `cfg`, opening it if needed.
///
/// Fails with [`Fail::UNAVAIL_NO_CACHE`] if the cache cannot be opened, [`Fail::UNAVAIL_QUERY`]
/// if the query fails (the handle is then dropped, so the next call reopens), [`Fail::NO_MEMORY`]
/// if either ran out of memory (the handle is dropped too, giving its buffers back), and
/// [`Fail::UNAVAIL_BUSY`] on re-entrance from inside a query (or during thread teardown): never
/// recursing and never blocking.
///
/// Whether the handle is still current is asked here and nowhere else, once per call: a check
/// that finds the snapshot replaced is never used up by another caller (the handle is dropped at
/// once), so every call answers from a snapshot at most `recheck_interval` older than the
/// published one, whatever kind of call came before.
pub fn with_reader<T>(
    cfg: &Config<'_>,
    query: impl FnOnce(&Reader) -> usher_cache::Result<T>,
) -> Result<T, Fail> {
    with_slot(cfg, |slot| Ok(query(&slot.reader)))
}

/// [`with_reader`] for group lookups: `query` also gets the local account names that the
/// snapshot holds as directory users, so that a member list never names a local account
/// (`pam_succeed_if … user ingroup` and `pam_wheel` read member lists). Costs a clock read per
/// call and a `stat` of the passwd file once per recheck interval.
pub fn with_group_reader<T>(
    cfg: &Config<'_>,
    query: impl FnOnce(&Reader, LocalClashes<'_>) -> usher_cache::Result<T>,
) -> Result<T, Fail> {
    with_slot(cfg, |slot| {
        slot.clashes
            .refresh(cfg, &slot.reader, slot.cache_written_at)?;
        Ok(query(&slot.reader, LocalClashes(&slot.clashes.names)))
    })
}

/// Runs `body` on this thread's slot for `cfg`, opening it if needed. `body` fails with the
/// answer itself (`Err`) or returns the query's result (a query error drops the handle).
fn with_slot<T>(
    cfg: &Config<'_>,
    body: impl FnOnce(&mut Slot) -> Result<usher_cache::Result<T>, Fail>,
) -> Result<T, Fail> {
    READER
        .try_with(|cell| {
            let mut slot = cell.try_borrow_mut().map_err(|_| Fail::UNAVAIL_BUSY)?;
            let usable = slot.as_mut().is_some_and(|s| s.serves(cfg));
            if !usable {
                // Close the old handle before opening the new one.
                *slot = None;
                // Looked at before the open: if the file is replaced in between, this time is
                // the older one, which only makes the clash check run more often.
                let cache_written_at = std::fs::metadata(cfg.path)
                    .map(|md| md.mtime())
                    .unwrap_or(i64::MIN);
                let reader = Reader::open(cfg.path)
                    .map_err(|e| Fail::open(&e))?
                    .with_recheck_interval(cfg.recheck_interval);
                *slot = Some(Slot {
                    path: cfg.path.to_path_buf(),
                    recheck_interval: cfg.recheck_interval,
                    reader,
                    cache_written_at,
                    clashes: Clashes::default(),
                });
            }
            let Some(s) = slot.as_mut() else {
                return Err(Fail::UNAVAIL_NO_CACHE);
            };
            let outcome = body(s);
            match outcome {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(e)) => {
                    *slot = None;
                    Err(Fail::query(&e))
                }
                Err(fail) => {
                    *slot = None;
                    Err(fail)
                }
            }
        })
        .unwrap_or(Err(Fail::UNAVAIL_BUSY))
}

/// Closes this thread's handle, if any (for tests and for callers that want the fd back now).
pub fn close_thread_handle() {
    let _ = READER.try_with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = None;
        }
    });
}
