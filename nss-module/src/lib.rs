//! `libnss_usher.so.2`: glibc's NSS module for Usher. It answers `passwd`, `group` and
//! `initgroups` from the snapshot that `usherd` publishes at [`usher_cache::DEFAULT_CACHE_PATH`].
//!
//! glibc loads this into every process that resolves a user (sshd, sudo, systemd, cron, ...), so
//! it starts no thread, opens no socket, logs nothing, takes no blocking lock and never lets a panic
//! cross into C. Each thread keeps its own read-only handle on the snapshot ([`handle`]); the
//! enumeration position is process-wide ([`enumerate`]); results are packed into the caller's
//! buffer by a small packer ([`pack`]).
//!
//! The only symbols the shared object exports are the eleven `_nss_usher_*` functions below
//! (`check-exports.sh` verifies this on a built `.so`).
//!
//! | answer | `*errnop` | when |
//! | --- | --- | --- |
//! | SUCCESS | untouched | found and packed |
//! | NOTFOUND | `ENOENT` | no such entry (or a name that is not UTF-8), end of enumeration |
//! | TRYAGAIN | `ERANGE` | buffer too small: retry the same entry with a bigger one |
//! | TRYAGAIN | `EAGAIN` | another thread is inside the same enumeration right now |
//! | TRYAGAIN | `ENOMEM` | an allocation failed (reading the cache or the passwd file, or growing `initgroups_dyn`'s array): never an abort |
//! | UNAVAIL | `ENOENT` | no usable cache (missing, garbage, truncated, other schema version) |
//! | UNAVAIL | `EIO` | a query failed (the handle is dropped and reopened next time), the local passwd file is unreadable (`initgroups_dyn`), or a caught panic |
//! | UNAVAIL | `EAGAIN` | re-entered from inside one of its own queries on the same thread |
//! | UNAVAIL | `EINVAL` | a null pointer or a negative count from the caller |

pub mod enumerate;
pub mod handle;
pub mod lookup;
pub mod pack;
pub mod status;

use handle::Config;
use libc::{c_char, c_int, c_long, gid_t, size_t, uid_t};
use libnss::group::CGroup;
use libnss::interop::NssStatus;
use libnss::passwd::CPasswd;
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Whether this thread is inside one of the exported functions.
    static IN_MODULE: Cell<bool> = const { Cell::new(false) };
}

static QUIET_PANICS: Once = Once::new();

/// Makes panics inside the exported functions silent (they are caught and answered UNAVAIL; the
/// module writes nothing to the host program's stderr). Panics elsewhere still reach the hook that
/// was there before. In the cdylib this is the module's own copy of std, so the host program's
/// hook, if it is a Rust program, is not touched.
fn quiet_panics() {
    QUIET_PANICS.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_MODULE.try_with(Cell::get).unwrap_or(true) {
                previous(info);
            }
        }));
    });
}

/// Runs one exported function's body: panics are caught and answered UNAVAIL.
fn guarded(errnop: *mut c_int, body: impl FnOnce() -> NssStatus) -> c_int {
    quiet_panics();
    let outer = IN_MODULE.try_with(|c| c.replace(true)).unwrap_or(false);
    let outcome = catch_unwind(AssertUnwindSafe(body));
    let _ = IN_MODULE.try_with(|c| c.set(outer));
    match outcome {
        Ok(status) => status as c_int,
        Err(_) => {
            // SAFETY: errnop is null or writable (glibc's contract for every caller of guarded).
            unsafe { status::set_errno(errnop, status::Fail::PANICKED.errno) };
            status::Fail::PANICKED.status as c_int
        }
    }
}

/// # Safety
/// glibc's contract: `name` a C string, `result` writable, `buf` writable for `buflen` bytes,
/// `errnop` writable.
#[no_mangle]
pub unsafe extern "C" fn _nss_usher_getpwnam_r(
    name: *const c_char,
    result: *mut CPasswd,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    guarded(errnop, || {
        lookup::getpwnam_r(&Config::system(), name, result, buf, buflen, errnop)
    })
}

/// # Safety
/// As for [`_nss_usher_getpwnam_r`].
#[no_mangle]
pub unsafe extern "C" fn _nss_usher_getpwuid_r(
    uid: uid_t,
    result: *mut CPasswd,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    guarded(errnop, || {
        lookup::getpwuid_r(&Config::system(), uid, result, buf, buflen, errnop)
    })
}

/// glibc passes a `stayopen` flag; there is nothing to keep open, so it is ignored.
#[no_mangle]
pub extern "C" fn _nss_usher_setpwent(_stayopen: c_int) -> c_int {
    guarded(std::ptr::null_mut(), || {
        enumerate::setent(&enumerate::PASSWD)
    })
}

/// # Safety
/// As for [`_nss_usher_getpwnam_r`].
#[no_mangle]
pub unsafe extern "C" fn _nss_usher_getpwent_r(
    result: *mut CPasswd,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    guarded(errnop, || {
        enumerate::getpwent_r(
            &Config::system(),
            &enumerate::PASSWD,
            result,
            buf,
            buflen,
            errnop,
        )
    })
}

#[no_mangle]
pub extern "C" fn _nss_usher_endpwent() -> c_int {
    guarded(std::ptr::null_mut(), || {
        enumerate::endent(&enumerate::PASSWD)
    })
}

/// # Safety
/// As for [`_nss_usher_getpwnam_r`].
#[no_mangle]
pub unsafe extern "C" fn _nss_usher_getgrnam_r(
    name: *const c_char,
    result: *mut CGroup,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    guarded(errnop, || {
        lookup::getgrnam_r(&Config::system(), name, result, buf, buflen, errnop)
    })
}

/// # Safety
/// As for [`_nss_usher_getpwnam_r`].
#[no_mangle]
pub unsafe extern "C" fn _nss_usher_getgrgid_r(
    gid: gid_t,
    result: *mut CGroup,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    guarded(errnop, || {
        lookup::getgrgid_r(&Config::system(), gid, result, buf, buflen, errnop)
    })
}

/// glibc passes a `stayopen` flag; there is nothing to keep open, so it is ignored.
#[no_mangle]
pub extern "C" fn _nss_usher_setgrent(_stayopen: c_int) -> c_int {
    guarded(std::ptr::null_mut(), || {
        enumerate::setent(&enumerate::GROUP)
    })
}

/// # Safety
/// As for [`_nss_usher_getpwnam_r`].
#[no_mangle]
pub unsafe extern "C" fn _nss_usher_getgrent_r(
    result: *mut CGroup,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    guarded(errnop, || {
        enumerate::getgrent_r(
            &Config::system(),
            &enumerate::GROUP,
            result,
            buf,
            buflen,
            errnop,
        )
    })
}

#[no_mangle]
pub extern "C" fn _nss_usher_endgrent() -> c_int {
    guarded(std::ptr::null_mut(), || {
        enumerate::endent(&enumerate::GROUP)
    })
}

/// # Safety
/// glibc's contract: `user` a C string; `start`, `size`, `groupsp`, `errnop` writable;
/// `*groupsp` from `malloc` with room for `*size` gids, the first `*start` of them set.
#[no_mangle]
pub unsafe extern "C" fn _nss_usher_initgroups_dyn(
    user: *const c_char,
    skipgroup: gid_t,
    start: *mut c_long,
    size: *mut c_long,
    groupsp: *mut *mut gid_t,
    limit: c_long,
    errnop: *mut c_int,
) -> c_int {
    guarded(errnop, || {
        lookup::initgroups_dyn(
            &Config::system(),
            user,
            skipgroup,
            start,
            size,
            groupsp,
            limit,
            errnop,
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_is_caught_and_answered_unavail() {
        let mut errno = 0;
        let status = guarded(&mut errno, || panic!("boom"));
        assert_eq!(status, NssStatus::Unavail as c_int);
        assert_eq!(errno, libc::EIO);
        // The thread is no longer marked as inside the module, and later calls work.
        assert!(!IN_MODULE.with(Cell::get));
        assert_eq!(
            guarded(&mut errno, || NssStatus::NotFound),
            NssStatus::NotFound as c_int
        );
        // A null errnop is fine too.
        assert_eq!(
            guarded(std::ptr::null_mut(), || panic!("again")),
            NssStatus::Unavail as c_int
        );
    }

    #[test]
    fn nested_guards_restore_the_outer_mark() {
        let mut errno = 0;
        guarded(&mut errno, || {
            let inner = guarded(std::ptr::null_mut(), || NssStatus::Success);
            assert_eq!(inner, NssStatus::Success as c_int);
            assert!(IN_MODULE.with(Cell::get), "still inside the outer call");
            NssStatus::Success
        });
        assert!(!IN_MODULE.with(Cell::get));
    }
}
