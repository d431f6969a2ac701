//! `setpwent`/`getpwent_r`/`endpwent` and the group trio.
//!
//! glibc serialises these under its own lock, but successive calls may come from different
//! threads, so the position lives in a process-wide [`Enumeration`] rather than with the per-thread
//! handle. It is only a key (the last uid or gid handed out) and a small batch fetched after it, so
//! enumeration holds no cursor and no handle between calls, a new snapshot simply continues from
//! the key, and point lookups never disturb it. The lock is only ever `try_lock`ed: contention
//! answers TRYAGAIN/EAGAIN at once.

use crate::handle::{with_reader, Config};
use crate::pack::{pack_group, pack_passwd, PackError};
use crate::status::{finish, Fail};
use libc::{c_char, c_int};
use libnss::group::CGroup;
use libnss::interop::NssStatus;
use libnss::passwd::CPasswd;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, TryLockError};
use usher_cache::{GroupEntry, PasswdEntry, Reader};

/// Users fetched per refill.
pub const USER_BATCH: u32 = 256;
/// Groups fetched per refill (each carries its members).
pub const GROUP_BATCH: u32 = 64;

struct State<T> {
    /// Key of the last entry handed out; `None` before the first.
    last: Option<u32>,
    /// Entries after `last`, fetched but not yet handed out.
    batch: VecDeque<T>,
    /// The last fetch returned fewer than asked: nothing follows `batch`.
    exhausted: bool,
}

impl<T> State<T> {
    const fn new() -> State<T> {
        State {
            last: None,
            batch: VecDeque::new(),
            exhausted: false,
        }
    }
}

/// The position of one enumeration (one per database per process).
pub struct Enumeration<T> {
    state: Mutex<State<T>>,
}

impl<T> Default for Enumeration<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Enumeration<T> {
    pub const fn new() -> Enumeration<T> {
        Enumeration {
            state: Mutex::new(State::new()),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, State<T>>, Fail> {
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

    /// Back to the start (`setXXent`).
    pub fn rewind(&self) -> Result<(), Fail> {
        *self.lock()? = State::new();
        Ok(())
    }

    /// Forget the position and free the batch (`endXXent`).
    pub fn end(&self) -> Result<(), Fail> {
        self.rewind()
    }

    /// Packs the next entry with `pack` and advances past it; on `TooSmall` stays on it, so the
    /// retry with a bigger buffer gets the same entry. An entry that cannot be packed at all
    /// (`InvalidString`) is skipped.
    fn next(
        &self,
        cfg: &Config<'_>,
        batch_size: u32,
        fetch: impl Fn(&Reader, Option<u32>, u32) -> usher_cache::Result<Vec<T>>,
        key: impl Fn(&T) -> u32,
        pack: impl Fn(&T) -> Result<(), PackError>,
    ) -> Result<(), Fail> {
        let mut state = self.lock()?;
        loop {
            if state.batch.is_empty() {
                if state.exhausted {
                    return Err(Fail::NOT_FOUND);
                }
                let after = state.last;
                let fetched = with_reader(cfg, |r| fetch(r, after, batch_size))?;
                state.exhausted = fetched.len() < batch_size as usize;
                state.batch = fetched.into();
                continue;
            }
            let Some(entry) = state.batch.front() else {
                continue;
            };
            let entry_key = key(entry);
            match pack(entry) {
                Err(PackError::TooSmall) => return Err(Fail::TOO_SMALL),
                outcome => {
                    state.last = Some(entry_key);
                    state.batch.pop_front();
                    if outcome.is_ok() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// The passwd enumeration of the exported functions.
pub static PASSWD: Enumeration<PasswdEntry> = Enumeration::new();
/// The group enumeration of the exported functions.
pub static GROUP: Enumeration<GroupEntry> = Enumeration::new();

/// `setXXent`: always SUCCESS unless another thread is inside the enumeration right now.
pub fn setent<T>(en: &Enumeration<T>) -> NssStatus {
    match en.rewind() {
        Ok(()) => NssStatus::Success,
        Err(fail) => fail.status,
    }
}

/// `endXXent`.
pub fn endent<T>(en: &Enumeration<T>) -> NssStatus {
    match en.end() {
        Ok(()) => NssStatus::Success,
        Err(fail) => fail.status,
    }
}

/// # Safety
/// `result` writable (or null), `buf` writable for `buflen` bytes, `errnop` writable or null.
pub unsafe fn getpwent_r(
    cfg: &Config<'_>,
    en: &Enumeration<PasswdEntry>,
    result: *mut CPasswd,
    buf: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
) -> NssStatus {
    let run = || {
        if result.is_null() || (buf.is_null() && buflen > 0) {
            return Err(Fail::INVALID);
        }
        en.next(
            cfg,
            USER_BATCH,
            |r, after, n| r.users_after(after, n),
            |p| p.uid,
            |p| pack_passwd(p, result, buf, buflen),
        )
    };
    finish(run(), errnop)
}

/// # Safety
/// As for [`getpwent_r`].
pub unsafe fn getgrent_r(
    cfg: &Config<'_>,
    en: &Enumeration<GroupEntry>,
    result: *mut CGroup,
    buf: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
) -> NssStatus {
    let run = || {
        if result.is_null() || (buf.is_null() && buflen > 0) {
            return Err(Fail::INVALID);
        }
        en.next(
            cfg,
            GROUP_BATCH,
            |r, after, n| r.groups_after(after, n),
            |g| g.gid,
            |g| pack_group(g, result, buf, buflen),
        )
    };
    finish(run(), errnop)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::path::Path;

    fn call(en: &Enumeration<PasswdEntry>) -> (NssStatus, c_int) {
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
        let en: Enumeration<PasswdEntry> = Enumeration::new();
        {
            let mut st = en.state.try_lock().unwrap();
            st.last = Some(42);
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
        assert_eq!((st.last, st.exhausted), (None, false));
        drop(st);
        assert!(!en.state.is_poisoned());
    }
}
