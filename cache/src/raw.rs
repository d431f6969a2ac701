//! Prepared statements held by a `Reader` for its whole life, driven through SQLite's C API.
//!
//! The lookups the NSS module makes are a few hundred nanoseconds of SQLite work each; rusqlite's
//! statement cache (hashing the SQL on every call) and owned `String` results cost about as much
//! again. Here a statement is prepared once, bound without copying, and its columns are lent to the
//! caller as `&str` straight from SQLite's row buffer.

use crate::{Error, Result};
use rusqlite::ffi;
use std::ffi::{c_int, CStr};
use std::ptr::NonNull;

/// One prepared statement. It must be dropped before the connection it was prepared on (the
/// owners declare it before the connection, so field drop order guarantees this).
pub(crate) struct Statement {
    stmt: NonNull<ffi::sqlite3_stmt>,
}

// SAFETY: the connection is opened with SQLITE_OPEN_NO_MUTEX (multi-thread mode): a connection and
// its statements may move between threads as long as only one uses them at a time, which the
// owners guarantee (`&mut` access, or a lock around the enumeration state).
unsafe impl Send for Statement {}

fn sqlite_error(db: *mut ffi::sqlite3, code: c_int) -> Error {
    // SAFETY: `db` is a live connection; sqlite3_errmsg returns a NUL-terminated string it owns.
    let message = unsafe {
        let m = ffi::sqlite3_errmsg(db);
        (!m.is_null()).then(|| CStr::from_ptr(m).to_string_lossy().into_owned())
    };
    Error::Sqlite(rusqlite::Error::SqliteFailure(
        ffi::Error::new(code),
        message,
    ))
}

impl Statement {
    /// # Safety
    /// `db` must be a live connection that outlives the returned statement.
    pub(crate) unsafe fn prepare(db: *mut ffi::sqlite3, sql: &CStr) -> Result<Statement> {
        let mut stmt = std::ptr::null_mut();
        let rc = ffi::sqlite3_prepare_v3(
            db,
            sql.as_ptr(),
            -1,
            ffi::SQLITE_PREPARE_PERSISTENT as _,
            &mut stmt,
            std::ptr::null_mut(),
        );
        match NonNull::new(stmt) {
            Some(stmt) if rc == ffi::SQLITE_OK => Ok(Statement { stmt }),
            Some(stmt) => {
                ffi::sqlite3_finalize(stmt.as_ptr());
                Err(sqlite_error(db, rc))
            }
            None => Err(sqlite_error(db, rc)),
        }
    }

    fn db(&self) -> *mut ffi::sqlite3 {
        // SAFETY: the statement is live.
        unsafe { ffi::sqlite3_db_handle(self.stmt.as_ptr()) }
    }

    /// Runs the statement with `bind` applied and hands its first row, if any, to `row`. The
    /// statement is reset and its bindings cleared on every path, so a borrowed text binding is
    /// never read after this returns.
    pub(crate) fn query_first<T>(
        &mut self,
        bind: Bind<'_>,
        row: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let result = self.bind(bind).and_then(|()| {
            if self.step()? {
                row(&Row { stmt: self }).map(Some)
            } else {
                Ok(None)
            }
        });
        self.reset();
        result
    }

    /// Binds parameter 1.
    pub(crate) fn bind(&mut self, bind: Bind<'_>) -> Result<()> {
        let stmt = self.stmt.as_ptr();
        // SAFETY: live statement; the text pointer and length describe a valid byte slice that
        // outlives the statement's use of it (see above).
        let rc = unsafe {
            match bind {
                Bind::Int(value) => ffi::sqlite3_bind_int64(stmt, 1, value),
                Bind::Text(text) | Bind::TextCopy(text) => {
                    let Ok(len) = c_int::try_from(text.len()) else {
                        return Err(Error::InvalidSnapshot("key too long".into()));
                    };
                    let destructor = match bind {
                        Bind::TextCopy(_) => ffi::SQLITE_TRANSIENT(),
                        _ => ffi::SQLITE_STATIC(),
                    };
                    ffi::sqlite3_bind_text(stmt, 1, text.as_ptr().cast(), len, destructor)
                }
            }
        };
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(sqlite_error(self.db(), rc))
        }
    }

    /// Advances to the next row: `true` on a row, `false` when done.
    pub(crate) fn step(&mut self) -> Result<bool> {
        // SAFETY: live statement.
        match unsafe { ffi::sqlite3_step(self.stmt.as_ptr()) } {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            rc => Err(sqlite_error(self.db(), rc)),
        }
    }

    /// Back to before the first row, with no parameter bound.
    pub(crate) fn reset(&mut self) {
        // SAFETY: live statement. reset's return repeats the last step's error, already reported.
        unsafe {
            ffi::sqlite3_reset(self.stmt.as_ptr());
            ffi::sqlite3_clear_bindings(self.stmt.as_ptr());
        }
    }

    /// The current row (valid after `step` returned `true`, until the next `step` or `reset`).
    pub(crate) fn row(&self) -> Row<'_> {
        Row { stmt: self }
    }
}

impl Drop for Statement {
    fn drop(&mut self) {
        // SAFETY: the statement is live and dropped once; its connection outlives it.
        unsafe { ffi::sqlite3_finalize(self.stmt.as_ptr()) };
    }
}

/// The one parameter a lookup binds.
#[derive(Clone, Copy)]
pub(crate) enum Bind<'a> {
    Int(i64),
    /// Bound in place: for a statement reset before the text's borrow ends.
    Text(&'a [u8]),
    /// Copied by SQLite: for a statement kept stepping after this call.
    TextCopy(&'a [u8]),
}

/// The current row of a statement. Borrowing the statement keeps it from stepping while the
/// row's text is lent out. (Public only so `ScanRows` can name it; not reachable from outside.)
pub struct Row<'s> {
    stmt: &'s Statement,
}

impl<'s> Row<'s> {
    pub(crate) fn int(&self, column: c_int) -> i64 {
        // SAFETY: live statement positioned on a row.
        unsafe { ffi::sqlite3_column_int64(self.stmt.stmt.as_ptr(), column) }
    }

    /// A column that holds a non-negative 32-bit number (uid, gid).
    pub(crate) fn id(&self, column: c_int) -> Result<u32> {
        let value = self.int(column);
        u32::try_from(value).map_err(|_| Error::InvalidSnapshot(format!("bad id {value}")))
    }

    /// A text column's bytes, lent from SQLite's buffer without conversion or UTF-8 check (the
    /// modules copy them into C strings as they are). NULL reads as empty.
    pub(crate) fn bytes(&self, column: c_int) -> &'s [u8] {
        let stmt = self.stmt.stmt.as_ptr();
        // SAFETY: live statement on a row. column_blob is called before column_bytes, as SQLite
        // asks, and the pair describes a buffer that stays valid until the statement steps,
        // resets or is finalized, none of which can happen while `self` borrows it.
        unsafe {
            let p = ffi::sqlite3_column_blob(stmt, column).cast::<u8>();
            if p.is_null() {
                return &[];
            }
            let len = usize::try_from(ffi::sqlite3_column_bytes(stmt, column)).unwrap_or(0);
            std::slice::from_raw_parts(p, len)
        }
    }

    /// A text column as UTF-8.
    pub(crate) fn text(&self, column: c_int) -> Result<&'s str> {
        std::str::from_utf8(self.bytes(column))
            .map_err(|_| Error::InvalidSnapshot("text is not UTF-8".into()))
    }
}
