//! One cache `Reader` per thread, opened on first use and reopened when it stops being current
//! (a newer snapshot was published, or the process forked since it was opened).

use crate::status::Fail;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;
use usher_cache::Reader;

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
    READER
        .try_with(|cell| {
            let mut slot = cell.try_borrow_mut().map_err(|_| Fail::UNAVAIL_BUSY)?;
            let usable = slot.as_mut().is_some_and(|s| s.serves(cfg));
            if !usable {
                // Close the old handle before opening the new one.
                *slot = None;
                let reader = Reader::open(cfg.path)
                    .map_err(|e| Fail::open(&e))?
                    .with_recheck_interval(cfg.recheck_interval);
                *slot = Some(Slot {
                    path: cfg.path.to_path_buf(),
                    recheck_interval: cfg.recheck_interval,
                    reader,
                });
            }
            let result = match slot.as_ref() {
                Some(s) => query(&s.reader),
                None => return Err(Fail::UNAVAIL_NO_CACHE),
            };
            result.map_err(|e| {
                *slot = None;
                Fail::query(&e)
            })
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
