//! SQLite's C API where the modules need it without rusqlite's per-call costs (its statement
//! cache hashes the SQL on every call, and its results are owned `String`s): the enumeration
//! cursors' statements, whose columns are lent straight from SQLite's row buffer, and the blob
//! handles the point lookups read their buckets through.

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

    /// Binds parameter 1.
    pub(crate) fn bind(&mut self, bind: Bind<'_>) -> Result<()> {
        let stmt = self.stmt.as_ptr();
        // SAFETY: live statement; the text pointer and length describe a valid byte slice, which
        // SQLite copies (SQLITE_TRANSIENT).
        let rc = unsafe {
            match bind {
                Bind::Int(value) => ffi::sqlite3_bind_int64(stmt, 1, value),
                Bind::Text(text) => {
                    let Ok(len) = c_int::try_from(text.len()) else {
                        return Err(Error::InvalidSnapshot("key too long".into()));
                    };
                    ffi::sqlite3_bind_text(
                        stmt,
                        1,
                        text.as_ptr().cast(),
                        len,
                        ffi::SQLITE_TRANSIENT(),
                    )
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
    /// Copied by SQLite, so the statement may go on stepping after the borrow ends.
    Text(&'a [u8]),
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
}

/// A read-only blob handle on one column of a rowid table, moved from row to row. A move to a
/// rowid that does not exist aborts the handle for good, so it is only used on tables with no gaps
/// in their rowids (the bucket tables).
pub(crate) struct Blob {
    blob: NonNull<ffi::sqlite3_blob>,
    db: *mut ffi::sqlite3,
}

// SAFETY: as for `Statement`: the connection is in multi-thread mode and the owner gives one
// thread at a time access.
unsafe impl Send for Blob {}

impl Blob {
    /// # Safety
    /// `db` must be a live connection that outlives the returned handle.
    pub(crate) unsafe fn open(
        db: *mut ffi::sqlite3,
        table: &CStr,
        column: &CStr,
        row: i64,
    ) -> Result<Blob> {
        let mut blob = std::ptr::null_mut();
        let rc = ffi::sqlite3_blob_open(
            db,
            c"main".as_ptr(),
            table.as_ptr(),
            column.as_ptr(),
            row,
            0,
            &mut blob,
        );
        match NonNull::new(blob) {
            Some(blob) if rc == ffi::SQLITE_OK => Ok(Blob { blob, db }),
            Some(blob) => {
                ffi::sqlite3_blob_close(blob.as_ptr());
                Err(sqlite_error(db, rc))
            }
            None => Err(sqlite_error(db, rc)),
        }
    }

    /// Moves the handle to `row`.
    pub(crate) fn reopen(&mut self, row: i64) -> Result<()> {
        // SAFETY: live handle.
        match unsafe { ffi::sqlite3_blob_reopen(self.blob.as_ptr(), row) } {
            ffi::SQLITE_OK => Ok(()),
            rc => Err(sqlite_error(self.db, rc)),
        }
    }

    /// Replaces `out` with the current row's bytes, refusing more than `max` of them.
    pub(crate) fn read_into(&mut self, out: &mut Vec<u8>, max: usize) -> Result<()> {
        // SAFETY: live handle.
        let len = unsafe { ffi::sqlite3_blob_bytes(self.blob.as_ptr()) };
        out.clear();
        let Ok(size) = usize::try_from(len) else {
            return Ok(());
        };
        if size > max {
            return Err(Error::InvalidSnapshot(format!(
                "a blob of {size} bytes, more than {max}"
            )));
        }
        crate::try_reserve(out, size, "blob")?;
        // SAFETY: `out` has room for `size` bytes; SQLite writes exactly `len` of them on success,
        // and the length is set only then.
        let rc =
            unsafe { ffi::sqlite3_blob_read(self.blob.as_ptr(), out.as_mut_ptr().cast(), len, 0) };
        if rc != ffi::SQLITE_OK {
            return Err(sqlite_error(self.db, rc));
        }
        // SAFETY: the first `size` bytes were just written.
        unsafe { out.set_len(size) };
        Ok(())
    }
}

impl Drop for Blob {
    fn drop(&mut self) {
        // SAFETY: live handle, closed once, before its connection (owners' field order).
        unsafe { ffi::sqlite3_blob_close(self.blob.as_ptr()) };
    }
}
