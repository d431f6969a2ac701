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
    /// An allocation failed: `initgroups_dyn` could not grow the caller's array, or reading the
    /// cache or the local passwd file ran out of memory. Never an abort: the caller may retry.
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
    /// The local passwd file could not be read, so whether a name is a local account's is
    /// unknown: no directory groups are handed out for it.
    pub const UNAVAIL_LOCAL: Fail = Fail {
        status: NssStatus::Unavail,
        errno: libc::EIO,
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

impl Fail {
    /// The answer for a failed query on an open cache: TRYAGAIN/ENOMEM when an allocation failed
    /// (in the cache's reads or inside SQLite), UNAVAIL/EIO otherwise.
    pub fn query(e: &usher_cache::Error) -> Fail {
        if is_out_of_memory(e) {
            Fail::NO_MEMORY
        } else {
            Fail::UNAVAIL_QUERY
        }
    }

    /// The answer for a cache that could not be opened: TRYAGAIN/ENOMEM when an allocation
    /// failed, UNAVAIL/ENOENT otherwise.
    pub fn open(e: &usher_cache::Error) -> Fail {
        if is_out_of_memory(e) {
            Fail::NO_MEMORY
        } else {
            Fail::UNAVAIL_NO_CACHE
        }
    }

    /// The answer when the local passwd file could not be consulted.
    pub fn local(e: usher_cache::local::LocalError) -> Fail {
        match e {
            usher_cache::local::LocalError::OutOfMemory => Fail::NO_MEMORY,
            usher_cache::local::LocalError::Unreadable => Fail::UNAVAIL_LOCAL,
        }
    }
}

/// Whether `e` says an allocation failed.
fn is_out_of_memory(e: &usher_cache::Error) -> bool {
    match e {
        // The cache crate's fallible reads.
        usher_cache::Error::OutOfMemory(_) => true,
        usher_cache::Error::Sqlite(e) => {
            e.sqlite_error_code() == Some(rusqlite::ErrorCode::OutOfMemory)
        }
        _ => false,
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn allocation_failures_answer_tryagain_enomem() {
        let nomem = usher_cache::Error::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_NOMEM),
            None,
        ));
        assert_eq!(Fail::query(&nomem), Fail::NO_MEMORY);
        assert_eq!(Fail::open(&nomem), Fail::NO_MEMORY);
        assert_eq!(
            (Fail::NO_MEMORY.status, Fail::NO_MEMORY.errno),
            (NssStatus::TryAgain, libc::ENOMEM)
        );
        let fallible_read = usher_cache::Error::OutOfMemory("a 2 MiB member list".into());
        assert_eq!(Fail::query(&fallible_read), Fail::NO_MEMORY);
        assert_eq!(Fail::open(&fallible_read), Fail::NO_MEMORY);
        let corrupt = usher_cache::Error::InvalidSnapshot("x".into());
        assert_eq!(Fail::query(&corrupt), Fail::UNAVAIL_QUERY);
        assert_eq!(Fail::open(&corrupt), Fail::UNAVAIL_NO_CACHE);
        assert_eq!(
            Fail::local(usher_cache::local::LocalError::OutOfMemory),
            Fail::NO_MEMORY
        );
        assert_eq!(
            Fail::local(usher_cache::local::LocalError::Unreadable),
            Fail::UNAVAIL_LOCAL
        );
    }
}
