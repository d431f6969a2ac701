//! The NSS status and errno pairs the module answers with.

use libc::c_int;
use libnss::interop::NssStatus;

/// A non-success answer: the status for glibc and the value for `*errnop`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fail {
    pub status: NssStatus,
    pub errno: c_int,
}

impl Fail {
    /// No such entry.
    pub const NOT_FOUND: Fail = Fail {
        status: NssStatus::NotFound,
        errno: libc::ENOENT,
    };
    /// The caller's buffer is too small; glibc retries the same entry with a bigger one.
    pub const TOO_SMALL: Fail = Fail {
        status: NssStatus::TryAgain,
        errno: libc::ERANGE,
    };
    /// Another thread is inside an enumeration call right now (never waited for).
    pub const ENUM_BUSY: Fail = Fail {
        status: NssStatus::TryAgain,
        errno: libc::EAGAIN,
    };
    /// `initgroups_dyn` could not grow the caller's array.
    pub const NO_MEMORY: Fail = Fail {
        status: NssStatus::TryAgain,
        errno: libc::ENOMEM,
    };
    /// The cache is missing, unreadable, corrupt or of another schema version.
    pub const UNAVAIL_NO_CACHE: Fail = Fail {
        status: NssStatus::Unavail,
        errno: libc::ENOENT,
    };
    /// A query on an open cache failed (the handle has been dropped; the next call reopens).
    pub const UNAVAIL_QUERY: Fail = Fail {
        status: NssStatus::Unavail,
        errno: libc::EIO,
    };
    /// A call re-entered the module from inside one of its own queries on the same thread, or came
    /// while the thread was being torn down.
    pub const UNAVAIL_BUSY: Fail = Fail {
        status: NssStatus::Unavail,
        errno: libc::EAGAIN,
    };
    /// A required pointer argument was null or a count was negative.
    pub const INVALID: Fail = Fail {
        status: NssStatus::Unavail,
        errno: libc::EINVAL,
    };
    /// A panic was caught at the C boundary.
    pub const PANICKED: Fail = Fail {
        status: NssStatus::Unavail,
        errno: libc::EIO,
    };
}

/// Writes `value` to `*errnop` unless it is null.
///
/// # Safety
/// `errnop` is null or valid for a write of a `c_int`.
pub unsafe fn set_errno(errnop: *mut c_int, value: c_int) {
    if !errnop.is_null() {
        errnop.write(value);
    }
}

/// The status for glibc; on failure `*errnop` is set (on success it is left alone).
///
/// # Safety
/// As for [`set_errno`].
pub unsafe fn finish(result: Result<(), Fail>, errnop: *mut c_int) -> NssStatus {
    match result {
        Ok(()) => NssStatus::Success,
        Err(fail) => {
            set_errno(errnop, fail.errno);
            fail.status
        }
    }
}
