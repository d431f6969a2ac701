//! `setpwent`/`getpwent_r`/`endpwent` and the group trio.
//!
//! glibc serialises these under its own lock, but successive calls may come from different
//! threads, so the position lives in a process-wide [`Enumeration`] rather than with the per-thread
//! handle: a cursor with a handle of its own (users from packed chunks, groups a row each) that
//! walks the snapshot current when it started, so an enumeration is never a mix of two; a forked
//! child reopens and goes on after the last entry handed out. The
//! lock is only ever `try_lock`ed: contention answers TRYAGAIN/EAGAIN at once.

use crate::handle::Config;
use crate::pack::{pack_group, pack_passwd, PackError};
use crate::status::{finish, Fail};
use libc::{c_char, c_int};
use libnss::group::CGroup;
use libnss::interop::NssStatus;
use libnss::passwd::CPasswd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Instant;
use usher_cache::{Cursor, GroupScan, Reader, UserScan};

struct State<C: Cursor> {
    /// The cursor, from the first call until the end or a rewind. It also holds the position.
    scan: Option<C>,
    /// The cursor failed: the next call goes on from its position with a fresh handle.
    broken: bool,
    /// The cursor ran out: nothing follows.
    exhausted: bool,
    /// Which file the cursor reads, and when that was last found to be the published one.
    opened: Option<Opened>,
}

#[derive(Debug, Clone, Copy)]
struct Opened {
    file: FileId,
    checked: Instant,
}

/// Device, inode and status change time: a new snapshot is a new inode, and a change in place
/// (a chmod that makes the file untrusted, say) a new change time, as for the point lookups.
type FileId = (u64, u64, i64, i64);

/// The identity of the file at `path` now, if any.
fn file_at(path: &Path) -> Option<FileId> {
    std::fs::metadata(path)
        .ok()
        .map(|md| (md.dev(), md.ino(), md.ctime(), md.ctime_nsec()))
}

impl Opened {
    /// Whether the published file is no longer the one the cursor reads (looked at once per
    /// `cfg.recheck_interval` at most; a look that finds it replaced is not recorded, so the
    /// answer stays "replaced" until the cursor moves on).
    fn replaced(&mut self, cfg: &Config<'_>) -> bool {
        let now = Instant::now();
        if now.saturating_duration_since(self.checked) < cfg.recheck_interval {
            return false;
        }
        if file_at(cfg.path) == Some(self.file) {
            self.checked = now;
            return false;
        }
        true
    }
}

impl<C: Cursor> State<C> {
    const fn new() -> State<C> {
        State {
            scan: None,
            broken: false,
            exhausted: false,
            opened: None,
        }
    }
}

/// The position of one enumeration (one per database per process).
pub struct Enumeration<C: Cursor> {
    state: Mutex<State<C>>,
}

impl<C: Cursor> Default for Enumeration<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Cursor> Enumeration<C> {
    pub const fn new() -> Enumeration<C> {
        Enumeration {
            state: Mutex::new(State::new()),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, State<C>>, Fail> {
        match self.state.try_lock() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::WouldBlock) => Err(Fail::ENUM_BUSY),
            // A panic was caught while the lock was held: the position may be half-updated, so
            // start over rather than skip or repeat silently.
            Err(TryLockError::Poisoned(poisoned)) => {
                self.state.clear_poison();
                let mut guard = poisoned.into_inner();
                *guard = State::new();
                Ok(guard)
            }
        }
    }

    /// Back to the start (`setXXent`); the next entry comes from the snapshot current then.
    pub fn rewind(&self) -> Result<(), Fail> {
        *self.lock()? = State::new();
        Ok(())
    }

    /// Forget the position and close the cursor (`endXXent`).
    pub fn end(&self) -> Result<(), Fail> {
        self.rewind()
    }

    /// Packs the next entry with `pack` and advances past it; on `TooSmall` stays on it, so the
    /// retry with a bigger buffer gets the same entry. An entry that cannot be packed at all
    /// (`InvalidString`) is skipped.
    fn next(
        &self,
        cfg: &Config<'_>,
        pack: impl Fn(&C::Entry<'_>) -> Result<(), PackError>,
    ) -> Result<(), Fail> {
        let mut state = self.lock()?;
        if state.exhausted {
            return Err(Fail::NOT_FOUND);
        }
        let replaced =
            state.scan.is_some() && state.opened.as_mut().is_some_and(|o| o.replaced(cfg));
        let reopen =
            state.broken || replaced || state.scan.as_ref().is_some_and(|s| !s.same_process());
        if reopen || state.scan.is_none() {
            // Looked at before opening: if the file is replaced in between, the next look finds
            // it changed and moves on once more (never the other way round).
            let file = file_at(cfg.path);
            let reader = Reader::open(cfg.path).map_err(|e| Fail::open(&e))?;
            let scan = match &state.scan {
                Some(old) => old.resume(reader),
                None => C::start(reader),
            }
            .map_err(|e| Fail::query(&e))?;
            state.scan = Some(scan);
            state.broken = false;
            state.opened = file.map(|file| Opened {
                file,
                checked: Instant::now(),
            });
        }
        let Some(scan) = state.scan.as_mut() else {
            return Err(Fail::UNAVAIL_QUERY);
        };
        let outcome = loop {
            match scan.peek(|e| pack(e)) {
                Err(e) => break Err(Fail::query(&e)),
                Ok(None) => break Err(Fail::NOT_FOUND),
                Ok(Some(Err(PackError::TooSmall))) => break Err(Fail::TOO_SMALL),
                Ok(Some(packed)) => {
                    if let Err(e) = scan.advance() {
                        break Err(Fail::query(&e));
                    }
                    if packed.is_ok() {
                        break Ok(());
                    }
                }
            }
        };
        if outcome == Err(Fail::NOT_FOUND) {
            // Done: close the handle now rather than at endXXent, which some callers never make.
            *state = State::new();
            state.exhausted = true;
        } else if outcome == Err(Fail::UNAVAIL_QUERY) || outcome == Err(Fail::NO_MEMORY) {
            // Go on from the position with a fresh handle next time (after out of memory too).
            state.broken = true;
        }
        outcome
    }
}

/// The passwd enumeration of the exported functions.
pub static PASSWD: Enumeration<UserScan> = Enumeration::new();
/// The group enumeration of the exported functions.
pub static GROUP: Enumeration<GroupScan> = Enumeration::new();

/// `setXXent`: always SUCCESS unless another thread is inside the enumeration right now.
pub fn setent<C: Cursor>(en: &Enumeration<C>) -> NssStatus {
    match en.rewind() {
        Ok(()) => NssStatus::Success,
        Err(fail) => fail.status,
    }
}

/// `endXXent`.
pub fn endent<C: Cursor>(en: &Enumeration<C>) -> NssStatus {
    match en.end() {
        Ok(()) => NssStatus::Success,
        Err(fail) => fail.status,
    }
}

/// # Safety
/// `result` writable (or null), `buf` writable for `buflen` bytes, `errnop` writable or null.
pub unsafe fn getpwent_r(
    cfg: &Config<'_>,
    en: &Enumeration<UserScan>,
    result: *mut CPasswd,
    buf: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
) -> NssStatus {
    let run = || {
        if result.is_null() || (buf.is_null() && buflen > 0) {
            return Err(Fail::INVALID);
        }
        en.next(cfg, |p| pack_passwd(p, result, buf, buflen))
    };
    finish(run(), errnop)
}

/// # Safety
/// As for [`getpwent_r`].
pub unsafe fn getgrent_r(
    cfg: &Config<'_>,
    en: &Enumeration<GroupScan>,
    result: *mut CGroup,
    buf: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
) -> NssStatus {
    let run = || {
        if result.is_null() || (buf.is_null() && buflen > 0) {
            return Err(Fail::INVALID);
        }
        en.next(cfg, |g| pack_group(g, result, buf, buflen))
    };
    finish(run(), errnop)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::path::Path;

    fn call(en: &Enumeration<UserScan>) -> (NssStatus, c_int) {
        let cfg = Config::eager(Path::new("/nonexistent/usher-test/cache.db"));
        let mut out = CPasswd {
            name: std::ptr::null_mut(),
            passwd: std::ptr::null_mut(),
            uid: 0,
            gid: 0,
            gecos: std::ptr::null_mut(),
            dir: std::ptr::null_mut(),
            shell: std::ptr::null_mut(),
        };
        let mut buf = [0u64; 64];
        let mut errno = 0;
        let s = unsafe { getpwent_r(&cfg, en, &mut out, buf.as_mut_ptr().cast(), 512, &mut errno) };
        (s, errno)
    }

    #[test]
    fn contention_answers_tryagain_eagain_without_blocking() {
        let en = Enumeration::new();
        let held = en.state.try_lock().unwrap();
        assert_eq!(call(&en), (NssStatus::TryAgain, libc::EAGAIN));
        assert_eq!(setent(&en), NssStatus::TryAgain);
        assert_eq!(endent(&en), NssStatus::TryAgain);
        drop(held);
        // Free again: the (missing) cache is what answers now.
        assert_eq!(call(&en), (NssStatus::Unavail, libc::ENOENT));
        assert_eq!(setent(&en), NssStatus::Success);
    }

    #[test]
    fn a_poisoned_lock_restarts_the_enumeration() {
        let en: Enumeration<UserScan> = Enumeration::new();
        {
            let mut st = en.state.try_lock().unwrap();
            st.broken = true;
            st.exhausted = true;
        }
        std::thread::scope(|s| {
            let _ = s
                .spawn(|| {
                    let _guard = en.state.try_lock().unwrap();
                    panic!("poison it");
                })
                .join();
        });
        assert!(en.state.is_poisoned());
        let st = en.lock().unwrap();
        assert_eq!(
            (st.broken, st.exhausted, st.scan.is_none()),
            (false, false, true)
        );
        drop(st);
        assert!(!en.state.is_poisoned());
    }
}
