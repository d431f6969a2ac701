//! The read side, used inside other processes by the NSS and PAM modules and by `usherctl`.
//!
//! A `Reader` is one read-only, immutable, lock-free SQLite connection to one published snapshot,
//! with the blob handles its point lookups read through. It is used by one thread at a time (the
//! modules keep one per thread, and an enumeration cursor's under the enumeration's lock), and it
//! knows the fork count and the inode it was opened at, so a forked child or a newer snapshot is
//! noticed by `is_current`.

use crate::buckets::{self, Column, Layout, COLUMNS};
use crate::chunks;
use crate::fork;
use crate::raw::{Bind, Blob, Statement};
use crate::schema::SCHEMA_VERSION;
use crate::sums::{self, Kind};
use crate::{names, trust, try_reserve, MAX_BLOB_BYTES};
use crate::{Error, Group, Meta, Result, Snapshot, User};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A passwd entry as the modules return it (the password field is always `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub gecos: String,
    pub home: String,
    pub shell: String,
}

/// A passwd entry lent from the cache's row buffer, for callers that copy it out at once. The
/// strings are the stored bytes, unchecked: the NSS module copies them into C strings as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswdRef<'a> {
    pub name: &'a [u8],
    pub uid: u32,
    pub gid: u32,
    pub gecos: &'a [u8],
    pub home: &'a [u8],
    pub shell: &'a [u8],
}

fn owned(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl PasswdRef<'_> {
    pub fn to_entry(&self) -> PasswdEntry {
        PasswdEntry {
            name: owned(self.name),
            uid: self.uid,
            gid: self.gid,
            gecos: owned(self.gecos),
            home: owned(self.home),
            shell: owned(self.shell),
        }
    }
}

/// A group entry lent from the cache's row buffer; `members` is the stored `,`-joined list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupRef<'a> {
    pub name: &'a [u8],
    pub gid: u32,
    pub(crate) members: &'a [u8],
}

impl<'a> GroupRef<'a> {
    /// The members' names, in stored order.
    pub fn members(&self) -> impl Iterator<Item = &'a [u8]> {
        self.members
            .split(|&b| b == b',')
            .filter(|item| !item.is_empty())
    }

    /// The stored `,`-joined member list (names never hold a `,`).
    pub fn members_list(&self) -> &'a [u8] {
        self.members
    }

    pub fn to_entry(&self) -> GroupEntry {
        GroupEntry {
            name: owned(self.name),
            gid: self.gid,
            members: self.members().map(owned).collect(),
        }
    }
}

/// A group entry with its members' names (the password field is always `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Everything the cache says about one user, for access decisions and `usherctl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub passwd: PasswdEntry,
    pub active: bool,
    pub can_login: bool,
    pub can_sudo: bool,
    pub directory_id: String,
    pub directory_name: String,
    pub emails: Vec<String>,
    pub ssh_keys: Vec<String>,
    pub principals: Vec<String>,
}

/// Counts of what a snapshot holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub users: u64,
    pub inactive_users: u64,
    pub groups: u64,
    /// Active users allowed to log in, and to use sudo, on this host.
    pub can_login: u64,
    pub can_sudo: u64,
}

/// The blob handles of the point lookups (opened on first use, kept for the handle's life), and
/// the buffers they read into: a bucket, and the list its entry points to.
#[derive(Default)]
struct Blobs {
    handles: [Option<Blob>; COLUMNS],
    bucket: Vec<u8>,
    list: Vec<u8>,
    /// The groups this handle has already checked (`check_group`), by bucket table and gid,
    /// sorted. The file never changes and every read verifies its checksum, so an entry found
    /// good stays good; a long-running process then pays for checking a large member list once.
    checked_groups: Vec<u64>,
}

/// Groups remembered as checked, at most (a lookup past it checks the group again).
const CHECKED_GROUPS_MAX: usize = 4096;

/// `check_group` on `group`, found in `table`, unless this handle already did.
fn check_group_once(checked: &mut Vec<u64>, table: Column, group: &GroupRef<'_>) -> Result<()> {
    let key = (table as u64) << 32 | u64::from(group.gid);
    let Err(at) = checked.binary_search(&key) else {
        return Ok(());
    };
    check_group(group)?;
    // Remembering is an optimisation: without room, the next lookup checks again.
    if checked.len() < CHECKED_GROUPS_MAX && checked.try_reserve(1).is_ok() {
        checked.insert(at, key);
    }
    Ok(())
}

/// Reads `row` of `column` into `out` (at most `max` bytes), opening the column's handle if
/// needed. The caller verifies the checksum.
fn read_blob(
    handles: &mut [Option<Blob>; COLUMNS],
    db: *mut rusqlite::ffi::sqlite3,
    column: Column,
    row: i64,
    out: &mut Vec<u8>,
    max: usize,
) -> Result<()> {
    let slot = &mut handles[column as usize];
    let blob = match slot {
        Some(blob) => match blob.reopen(row) {
            Ok(()) => blob,
            Err(e) => {
                // A failed move aborts the handle for good: open a new one next time.
                *slot = None;
                return Err(e);
            }
        },
        // SAFETY: the connection is live, and the handle is dropped before it (field order of
        // `Reader`).
        None => slot.insert(unsafe { Blob::open(db, column.table(), column.column(), row)? }),
    };
    blob.read_into(out, max)
}

fn refused(what: String) -> Error {
    Error::InvalidSnapshot(what)
}

/// What the reader never hands out, whatever the file holds: uid or gid 0, or a name that breaks
/// the name rules (empty included).
pub(crate) fn check_passwd(p: &PasswdRef<'_>) -> Result<()> {
    if p.uid == 0 || p.gid == 0 {
        return Err(refused(format!(
            "an entry with uid {} gid {}",
            p.uid, p.gid
        )));
    }
    if !names::is_valid_name(p.name) {
        return Err(refused(format!(
            "a user name that breaks the name rules ({:?})",
            String::from_utf8_lossy(p.name)
        )));
    }
    Ok(())
}

/// The same for a group and each of its members.
pub(crate) fn check_group(g: &GroupRef<'_>) -> Result<()> {
    if g.gid == 0 {
        return Err(refused("a group with gid 0".into()));
    }
    if !names::is_valid_name(g.name) {
        return Err(refused(format!(
            "a group name that breaks the name rules ({:?})",
            String::from_utf8_lossy(g.name)
        )));
    }
    if !names::is_valid_name_list(g.members) {
        return Err(refused(format!(
            "group {} lists a member name that breaks the name rules",
            g.gid
        )));
    }
    Ok(())
}

/// The gids of a `,`-joined list, each checked (decimal, fits a u32, never 0), in a fallibly
/// allocated vector. One pass over the bytes: `initgroups` reads a list at every login.
pub(crate) fn parse_gids(list: &[u8]) -> Result<Vec<u32>> {
    let mut gids = Vec::new();
    if list.is_empty() {
        return Ok(gids);
    }
    let bad = || refused(format!("bad gid in a group list ({} bytes)", list.len()));
    // Each gid takes at least two bytes with its comma.
    try_reserve(&mut gids, list.len() / 2 + 1, "group list")?;
    let (mut gid, mut digits) = (0u32, 0usize);
    for &b in list {
        if b == b',' {
            if digits == 0 || gid == 0 {
                return Err(bad());
            }
            gids.push(gid);
            (gid, digits) = (0, 0);
        } else if b.is_ascii_digit() {
            gid = gid
                .checked_mul(10)
                .and_then(|g| g.checked_add(u32::from(b - b'0')))
                .ok_or_else(bad)?;
            digits += 1;
        } else {
            return Err(bad());
        }
    }
    if digits == 0 || gid == 0 {
        return Err(bad());
    }
    gids.push(gid);
    Ok(gids)
}

pub struct Reader {
    // Declared before `conn`: blob handles are closed before their connection.
    blobs: RefCell<Blobs>,
    pub(crate) conn: Connection,
    pub(crate) layout: Layout,
    path: PathBuf,
    file_id: FileId,
    pid: u32,
    forks: u64,
    recheck_interval: Duration,
    last_check: Duration,
    /// The bound on one blob read (`MAX_BLOB_BYTES`; lowered in tests).
    max_blob_bytes: usize,
}

/// The passwd columns, as a macro so queries stay `&'static str` (no formatting per lookup).
macro_rules! passwd_columns {
    () => {
        "name, uid, gid, gecos, home, shell"
    };
}

fn passwd_from_row(row: &Row<'_>) -> rusqlite::Result<PasswdEntry> {
    Ok(PasswdEntry {
        name: row.get(0)?,
        uid: row.get(1)?,
        gid: row.get(2)?,
        gecos: row.get(3)?,
        home: row.get(4)?,
        shell: row.get(5)?,
    })
}

/// A user from the columns `name, uid, gid, gecos, home, shell, active, can_login, can_sudo,
/// directory_id, directory_name` (its lists left empty).
pub(crate) fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    let p = passwd_from_row(r)?;
    Ok(User {
        name: p.name,
        uid: p.uid,
        gid: p.gid,
        gecos: p.gecos,
        home: p.home,
        shell: p.shell,
        active: r.get(6)?,
        can_login: r.get(7)?,
        can_sudo: r.get(8)?,
        directory_id: r.get(9)?,
        directory_name: r.get(10)?,
        emails: Vec::new(),
        ssh_keys: Vec::new(),
        principals: Vec::new(),
    })
}

/// A group from the columns `name, gid, directory_id, members`, its members' checksum verified
/// and every name and number checked.
pub(crate) fn group_from_row(r: &Row<'_>) -> Result<Group> {
    let name: String = r.get(0)?;
    let gid: u32 = r.get(1)?;
    let stored = r.get_ref(3)?.as_blob().map_err(rusqlite::Error::from)?;
    let members = sums::verify_members(stored, gid, name.as_bytes())?;
    let group = GroupRef {
        name: name.as_bytes(),
        gid,
        members,
    };
    check_group(&group)?;
    let members = group.members().map(owned).collect();
    Ok(Group {
        name,
        gid,
        directory_id: r.get(2)?,
        members,
    })
}

/// The bucket layout from `meta`.
fn read_layout(conn: &Connection) -> Result<Layout> {
    // One statement for the three values: every process that looks a user up pays for this open.
    let mut values: [Option<String>; 3] = Default::default();
    let keys = [buckets::META_KEY, buckets::META_PASSWD, buckets::META_GROUP];
    let mut st = conn.prepare("SELECT key, value FROM meta WHERE key IN (?1, ?2, ?3)")?;
    let mut rows = st.query(keys)?;
    while let Some(row) = rows.next()? {
        let key: String = row.get(0)?;
        if let Some(i) = keys.iter().position(|k| *k == key) {
            values[i] = Some(row.get(1)?);
        }
    }
    let [Some(key), Some(passwd), Some(group)] = values else {
        return Err(Error::InvalidSnapshot("meta has no bucket layout".into()));
    };
    Layout::parse(&key, &passwd, &group)
}

/// An SQLite URI for `path`, read-only and immutable (no locks, no journal, no -shm).
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for b in path.as_os_str().as_encoded_bytes() {
        match b {
            b'?' | b'#' | b'%' => uri.push_str(&format!("%{b:02X}")),
            _ => uri.push(char::from(*b)),
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    uri
}

/// The monotonic clock at a few milliseconds' resolution, which is plenty for a recheck interval
/// and, unlike `Instant::now`, reads a variable rather than the time stamp counter. The NSS
/// module times its own rechecks by it too.
pub fn coarse_now() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write. The call cannot fail for this clock on Linux; if
    // it did, `t` stays zero and the handle merely rechecks its path more often.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut t) };
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

fn stat(path: &Path) -> Result<std::fs::Metadata> {
    std::fs::metadata(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

/// What identifies the snapshot a handle reads: its inode, and its ctime, which any write, chmod
/// or chown changes (a published snapshot is never modified, so a changed ctime means someone
/// changed it in place, and the handle reopens the path, checking it again).
type FileId = (u64, u64, i64, i64);

fn file_id(md: &std::fs::Metadata) -> FileId {
    (md.dev(), md.ino(), md.ctime(), md.ctime_nsec())
}

impl Reader {
    /// Opens the snapshot at `path` and checks its schema version. Fails at once (no waiting, no
    /// retry) if the file is missing, unreadable, corrupt or of another version, or if someone
    /// other than root could have written it or a directory above it (`Error::Untrusted`).
    pub fn open(path: &Path) -> Result<Reader> {
        if path
            .as_os_str()
            .as_encoded_bytes()
            .iter()
            .any(|b| !b.is_ascii())
        {
            return Err(Error::InvalidSnapshot("non-ASCII cache path".into()));
        }
        // A publish between our open and SQLite's gives SQLite a newer file than the one checked:
        // try again (a publish takes seconds, so a second try finds the path settled).
        for _ in 0..3 {
            if let Some(reader) = Self::open_once(path)? {
                return Ok(reader);
            }
        }
        Err(Error::InvalidSnapshot(format!(
            "{} kept being replaced while it was opened",
            path.display()
        )))
    }

    /// One attempt: `None` if the path named another file after SQLite's open than before.
    fn open_once(path: &Path) -> Result<Option<Reader>> {
        let forks = fork::generation();
        // Checked on the open descriptor, which is held (pinning the inode) until SQLite has
        // opened the path and the path is seen to still name it (see trust.rs).
        let (file, md) = trust::open_trusted(path)?;
        let (file_id, file_len) = (file_id(&md), md.len());
        let conn = Connection::open_with_flags(
            immutable_uri(path),
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_NOFOLLOW,
        )?;
        if !trust::still_names(path, &md) {
            return Ok(None);
        }
        drop(file);
        // Sorting never spills to a temp file (whose directory SQLite would take from TMPDIR).
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if found != SCHEMA_VERSION {
            return Err(Error::SchemaVersion {
                found,
                expected: SCHEMA_VERSION,
            });
        }
        // A file cut short would read as zeros past its end with `immutable=1`: its size must be
        // exactly what the header says.
        let page_size: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let page_count: u64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        if page_size.saturating_mul(page_count) != file_len {
            return Err(Error::InvalidSnapshot(format!(
                "{} is {file_len} bytes, its header says {page_count} pages of {page_size}",
                path.display()
            )));
        }
        // One read transaction for the handle's whole life: the file never changes, and each
        // lookup then skips beginning and ending its own (a fifth of a lookup's cost). The first
        // read (which also makes a garbage file fail here rather than mid-lookup) opens it.
        conn.execute_batch("BEGIN")?;
        let layout = read_layout(&conn)?;
        Ok(Some(Reader {
            blobs: RefCell::new(Blobs::default()),
            conn,
            layout,
            path: path.to_path_buf(),
            file_id,
            pid: std::process::id(),
            forks,
            recheck_interval: Duration::ZERO,
            last_check: coarse_now(),
            max_blob_bytes: MAX_BLOB_BYTES,
        }))
    }

    /// Lowers the bound on one blob read (tests of the bound).
    #[cfg(test)]
    pub(crate) fn with_max_blob_bytes(mut self, max: usize) -> Self {
        self.max_blob_bytes = max;
        self
    }

    /// Look at the path for a newer snapshot at most this often (default: at every `is_current`).
    /// A `stat` costs about as much as a lookup; long-lived processes can afford to see a new
    /// snapshot a moment late.
    pub fn with_recheck_interval(mut self, interval: Duration) -> Self {
        self.recheck_interval = interval;
        self
    }

    /// False when this handle must not be used any more: the process forked since it was opened,
    /// or the published path now names another file (or none), or the file was changed in place
    /// (a chmod that let others write it, say).
    pub fn is_current(&mut self) -> bool {
        if self.forked() {
            return false;
        }
        let now = coarse_now();
        if now.saturating_sub(self.last_check) < self.recheck_interval {
            return true;
        }
        // Only a look that found the same file restarts the interval: a handle found stale stays
        // stale, whichever caller asks next (a second caller must not take the interval for a
        // fresh look and keep answering from a revoked snapshot).
        let current = self.pid == std::process::id()
            && matches!(stat(&self.path), Ok(md) if file_id(&md) == self.file_id);
        if current {
            self.last_check = now;
        }
        current
    }

    /// Whether the process forked (through glibc) since this handle was opened.
    fn forked(&self) -> bool {
        fork::current() != self.forks
    }

    /// Runs `f` on the blob handles and buffers (with the connection they read from).
    fn with_blobs<T>(
        &self,
        f: impl FnOnce(&mut Blobs, *mut rusqlite::ffi::sqlite3) -> Result<T>,
    ) -> Result<T> {
        // A re-entered lookup (from inside a caller's closure) fails rather than move a handle
        // in use.
        let mut blobs = self
            .blobs
            .try_borrow_mut()
            .map_err(|_| Error::InvalidSnapshot("lookup re-entered".into()))?;
        // SAFETY: the raw handle is only used by `read_blob` during `f`, while `self.conn` lives.
        let db = unsafe { self.conn.handle() };
        f(&mut blobs, db)
    }

    /// The passwd entry in `bucket` of `table` for which `matches` holds, lent to `f`.
    fn with_passwd<T>(
        &self,
        table: Column,
        bucket: i64,
        matches: impl Fn(&PasswdRef<'_>) -> bool,
        f: impl FnOnce(&PasswdRef<'_>) -> T,
    ) -> Result<Option<T>> {
        let max = self.max_blob_bytes;
        self.with_blobs(|blobs, db| {
            read_blob(
                &mut blobs.handles,
                db,
                table,
                bucket,
                &mut blobs.bucket,
                max,
            )?;
            let entries = sums::verify(&blobs.bucket, table.kind(), bucket)?;
            let Some(found) = buckets::find_passwd(entries, matches)? else {
                return Ok(None);
            };
            check_passwd(&found)?;
            Ok(Some(f(&found)))
        })
    }

    /// The group in `bucket` of `table` for which `matches` holds, with its members, lent to `f`.
    fn with_group<T>(
        &self,
        table: Column,
        bucket: i64,
        matches: impl Fn(&GroupRef<'_>) -> bool,
        f: impl FnOnce(&GroupRef<'_>) -> T,
    ) -> Result<Option<T>> {
        let max = self.max_blob_bytes;
        self.with_blobs(|blobs, db| {
            let Blobs {
                handles,
                bucket: bucket_bytes,
                list,
                checked_groups,
            } = blobs;
            read_blob(handles, db, table, bucket, bucket_bytes, max)?;
            let entries = sums::verify(bucket_bytes, table.kind(), bucket)?;
            let Some(found) = buckets::find_group(entries, matches)? else {
                return Ok(None);
            };
            let mut group = found.group;
            if found.external_members {
                read_blob(
                    handles,
                    db,
                    Column::GroupMembers,
                    group.gid.into(),
                    list,
                    max,
                )?;
                group.members = sums::verify_members(list, group.gid, group.name)?;
            }
            check_group_once(checked_groups, table, &group)?;
            Ok(Some(f(&group)))
        })
    }

    /// The user named `name`, lent to `f`.
    pub fn with_user_by_name<T>(
        &self,
        name: &str,
        f: impl FnOnce(&PasswdRef<'_>) -> T,
    ) -> Result<Option<T>> {
        let name = name.as_bytes();
        let bucket = self.layout.passwd_by_name(name);
        self.with_passwd(Column::PasswdByName, bucket, |p| p.name == name, f)
    }

    /// The user with `uid`, lent to `f`.
    pub fn with_user_by_uid<T>(
        &self,
        uid: u32,
        f: impl FnOnce(&PasswdRef<'_>) -> T,
    ) -> Result<Option<T>> {
        let bucket = self.layout.passwd_by_uid(uid);
        self.with_passwd(Column::PasswdByUid, bucket, |p| p.uid == uid, f)
    }

    /// The group named `name`, lent to `f`.
    pub fn with_group_by_name<T>(
        &self,
        name: &str,
        f: impl FnOnce(&GroupRef<'_>) -> T,
    ) -> Result<Option<T>> {
        let name = name.as_bytes();
        let bucket = self.layout.group_by_name(name);
        self.with_group(Column::GroupByName, bucket, |g| g.name == name, f)
    }

    /// The group with `gid`, lent to `f`.
    pub fn with_group_by_gid<T>(
        &self,
        gid: u32,
        f: impl FnOnce(&GroupRef<'_>) -> T,
    ) -> Result<Option<T>> {
        let bucket = self.layout.group_by_gid(gid);
        self.with_group(Column::GroupByGid, bucket, |g| g.gid == gid, f)
    }

    pub fn user_by_name(&self, name: &str) -> Result<Option<PasswdEntry>> {
        self.with_user_by_name(name, |p| p.to_entry())
    }

    pub fn user_by_uid(&self, uid: u32) -> Result<Option<PasswdEntry>> {
        self.with_user_by_uid(uid, |p| p.to_entry())
    }

    pub fn group_by_name(&self, name: &str) -> Result<Option<GroupEntry>> {
        self.with_group_by_name(name, |g| g.to_entry())
    }

    pub fn group_by_gid(&self, gid: u32) -> Result<Option<GroupEntry>> {
        self.with_group_by_gid(gid, |g| g.to_entry())
    }

    /// The gids of the groups that list the user `user_name` as a member (not the primary group,
    /// which comes from the passwd entry); `None` if the cache has no such user.
    pub fn group_ids_of(&self, user_name: &str) -> Result<Option<Vec<u32>>> {
        let name = user_name.as_bytes();
        let bucket = self.layout.passwd_by_name(name);
        let max = self.max_blob_bytes;
        self.with_blobs(|blobs, db| {
            let Blobs {
                handles,
                bucket: bucket_bytes,
                list,
                ..
            } = blobs;
            read_blob(handles, db, Column::PasswdByName, bucket, bucket_bytes, max)?;
            let entries = sums::verify(bucket_bytes, Kind::PasswdByName, bucket)?;
            let Some(user) = buckets::find_passwd(entries, |p| p.name == name)? else {
                return Ok(None);
            };
            check_passwd(&user)?;
            let uid = i64::from(user.uid);
            read_blob(handles, db, Column::UserGroupIds, uid, list, max)?;
            parse_gids(sums::verify(list, Kind::UserGroupIds, uid)?).map(Some)
        })
    }

    /// The certificate principals of `name` if the user is active and allowed to log in here,
    /// none otherwise: `usherctl principals`, run by sshd at every certificate login, in one query.
    pub fn login_principals(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .login_account(name)?
            .map_or(Vec::new(), |a| a.principals))
    }

    /// The SSH public keys of `name` on the same condition (`usherctl keys`).
    pub fn login_ssh_keys(&self, name: &str) -> Result<Vec<String>> {
        Ok(self.login_account(name)?.map_or(Vec::new(), |a| a.ssh_keys))
    }

    /// `name`'s checked account if it is active and may log in here.
    fn login_account(&self, name: &str) -> Result<Option<Account>> {
        Ok(self.account(name)?.filter(|a| a.active && a.can_login))
    }

    pub fn account(&self, name: &str) -> Result<Option<Account>> {
        let row = self
            .conn
            .prepare_cached(concat!(
                "SELECT ",
                passwd_columns!(),
                ", active, can_login, can_sudo, directory_id, directory_name, account_sum
                 FROM users WHERE name = ?1"
            ))?
            .query_row([name], |r| {
                Ok((
                    passwd_from_row(r)?,
                    r.get::<_, bool>(6)?,
                    r.get::<_, bool>(7)?,
                    r.get::<_, bool>(8)?,
                    r.get::<_, String>(9)?,
                    r.get::<_, String>(10)?,
                    r.get::<_, Vec<u8>>(11)?,
                ))
            })
            .optional()?;
        let Some((passwd, active, can_login, can_sudo, directory_id, directory_name, stored_sum)) =
            row
        else {
            // No row, yet the checksummed passwd bucket may hold the name: then the table or its
            // index is damaged, and "not a directory user" would hand the decision to the local
            // rules (which would let NSS's answer in). That is an error, never a miss.
            if self.with_user_by_name(name, |_| ())?.is_some() {
                return Err(refused(format!(
                    "{name:?} has a passwd entry but no users row"
                )));
            }
            return Ok(None);
        };
        // The row the access decision rests on must agree with the checksummed passwd bucket.
        let agrees = self.with_user_by_name(name, |p| {
            p.name == passwd.name.as_bytes()
                && (p.uid, p.gid) == (passwd.uid, passwd.gid)
                && p.gecos == passwd.gecos.as_bytes()
                && p.home == passwd.home.as_bytes()
                && p.shell == passwd.shell.as_bytes()
        })?;
        if agrees != Some(true) {
            return Err(refused(format!(
                "the users row of {name:?} disagrees with its passwd entry"
            )));
        }
        let list = |sql: &str| -> Result<Vec<String>> {
            let mut st = self.conn.prepare_cached(sql)?;
            let rows = st.query_map([passwd.uid], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        let emails = list("SELECT email FROM user_emails WHERE uid = ?1 ORDER BY email")?;
        let ssh_keys = list("SELECT key FROM user_ssh_keys WHERE uid = ?1 ORDER BY key")?;
        let principals =
            list("SELECT principal FROM user_principals WHERE uid = ?1 ORDER BY principal")?;
        let sum = sums::account_sum(
            passwd.uid,
            &sums::AccountFields {
                name: &passwd.name,
                flags: [active, can_login, can_sudo],
                directory_id: &directory_id,
                directory_name: &directory_name,
                lists: [&emails, &ssh_keys, &principals],
            },
        );
        if stored_sum != sum {
            return Err(refused(format!(
                "checksum mismatch in the users row of {name:?}"
            )));
        }
        Ok(Some(Account {
            passwd,
            active,
            can_login,
            can_sudo,
            directory_id,
            directory_name,
            emails,
            ssh_keys,
            principals,
        }))
    }

    pub fn meta(&self) -> Result<Meta> {
        let get = |key: &str| -> Result<String> {
            Ok(self
                .conn
                .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
                .query_row([key], |r| r.get(0))
                .optional()?
                .unwrap_or_default())
        };
        Ok(Meta {
            generation: get("generation")?.parse().unwrap_or(0),
            built_at: get("built_at")?.parse().unwrap_or(0),
            source: get("source")?,
            content_hash: get("content_hash")?,
        })
    }

    pub fn counts(&self) -> Result<Counts> {
        let count = |sql: &str| -> Result<u64> { Ok(self.conn.query_row(sql, [], |r| r.get(0))?) };
        Ok(Counts {
            users: count("SELECT count(*) FROM users")?,
            inactive_users: count("SELECT count(*) FROM users WHERE active = 0")?,
            groups: count("SELECT count(*) FROM groups")?,
            can_login: count("SELECT count(*) FROM users WHERE active = 1 AND can_login = 1")?,
            can_sudo: count("SELECT count(*) FROM users WHERE active = 1 AND can_sudo = 1")?,
        })
    }

    /// Reads and checks everything a reader could hand out: the checksum of every bucket, chunk
    /// and list, every name and number in them, and every `users` row against its checksummed
    /// passwd entry. The daemon runs it before it takes a published file for its previous state.
    pub fn verify_all(&self) -> Result<()> {
        let max = self.max_blob_bytes;
        let tables = [
            (Column::PasswdByName, self.layout.passwd_buckets),
            (Column::PasswdByUid, self.layout.passwd_buckets),
            (Column::GroupByName, self.layout.group_buckets),
            (Column::GroupByGid, self.layout.group_buckets),
        ];
        for (column, count) in tables {
            for bucket in 0..i64::try_from(count).unwrap_or(i64::MAX) {
                self.with_blobs(|blobs, db| {
                    read_blob(
                        &mut blobs.handles,
                        db,
                        column,
                        bucket,
                        &mut blobs.bucket,
                        max,
                    )?;
                    let entries = sums::verify(&blobs.bucket, column.kind(), bucket)?;
                    match column {
                        Column::PasswdByName | Column::PasswdByUid => {
                            chunks::each(entries, check_passwd).map(|_| ())
                        }
                        _ => buckets::each_group(entries, |g| {
                            check_group(&GroupRef {
                                members: if g.external_members {
                                    b""
                                } else {
                                    g.group.members
                                },
                                ..g.group
                            })
                        }),
                    }
                })?;
            }
        }
        let mut chunked = 0u64;
        {
            let mut st = self.conn.prepare("SELECT id, entries FROM passwd_chunks")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let id: i64 = r.get(0)?;
                let stored = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
                chunked +=
                    chunks::each(sums::verify(stored, Kind::PasswdChunk, id)?, check_passwd)?;
            }
        }
        let mut users = 0u64;
        {
            let mut st = self
                .conn
                .prepare("SELECT name, uid, gid, gecos, home, shell, group_ids FROM users")?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let text = |i: usize| -> Result<&[u8]> {
                    Ok(r.get_ref(i)?.as_bytes().map_err(rusqlite::Error::from)?)
                };
                let row = PasswdRef {
                    name: text(0)?,
                    uid: r.get(1)?,
                    gid: r.get(2)?,
                    gecos: text(3)?,
                    home: text(4)?,
                    shell: text(5)?,
                };
                check_passwd(&row)?;
                if self.with_user_by_uid(row.uid, |p| *p == row)? != Some(true) {
                    return Err(refused(format!(
                        "the users row of uid {} disagrees with its passwd entry",
                        row.uid
                    )));
                }
                parse_gids(sums::verify(text(6)?, Kind::UserGroupIds, row.uid.into())?)?;
                users += 1;
            }
        }
        if chunked != users {
            return Err(refused(format!(
                "{users} users but {chunked} entries in passwd chunks"
            )));
        }
        let mut st = self
            .conn
            .prepare("SELECT name, gid, directory_id, members FROM groups")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            group_from_row(r)?;
        }
        Ok(())
    }

    /// The whole snapshot, for the daemon's comparison of a new sync with what is published.
    pub fn load_snapshot(&self) -> Result<Snapshot> {
        let mut users: Vec<User> = {
            let mut st = self.conn.prepare(concat!(
                "SELECT ",
                passwd_columns!(),
                ", active, can_login, can_sudo, directory_id, directory_name FROM users ORDER BY uid"
            ))?;
            let rows = st.query_map([], user_from_row)?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for u in &users {
            check_passwd(&PasswdRef {
                name: u.name.as_bytes(),
                uid: u.uid,
                gid: u.gid,
                gecos: u.gecos.as_bytes(),
                home: u.home.as_bytes(),
                shell: u.shell.as_bytes(),
            })?;
        }
        let index: HashMap<u32, usize> =
            users.iter().enumerate().map(|(i, u)| (u.uid, i)).collect();
        type Field = fn(&mut User) -> &mut Vec<String>;
        let lists: [(&str, Field); 3] = [
            (
                "SELECT uid, email FROM user_emails ORDER BY uid, email",
                |u| &mut u.emails,
            ),
            (
                "SELECT uid, key FROM user_ssh_keys ORDER BY uid, key",
                |u| &mut u.ssh_keys,
            ),
            (
                "SELECT uid, principal FROM user_principals ORDER BY uid, principal",
                |u| &mut u.principals,
            ),
        ];
        for (sql, field) in lists {
            let mut st = self.conn.prepare(sql)?;
            let rows = st.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (uid, value) = row?;
                if let Some(u) = index.get(&uid).and_then(|&i| users.get_mut(i)) {
                    field(u).push(value);
                }
            }
        }
        let mut groups: Vec<Group> = Vec::new();
        let mut st = self
            .conn
            .prepare("SELECT name, gid, directory_id, members FROM groups ORDER BY gid")?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            groups.push(group_from_row(r)?);
        }
        Ok(Snapshot { users, groups })
    }
}

/// An enumeration cursor over one snapshot. It holds its own handle, so the snapshot it walks
/// stays the same however many are published meanwhile, and its position in its own memory, so a
/// replacement (after a fork, or a failure) goes on from there without touching its SQLite state.
pub trait Cursor: Sized + Send {
    type Entry<'a>;
    /// From the first entry.
    fn start(reader: Reader) -> Result<Self>;
    /// On `reader`, after this cursor's last entry.
    fn resume(&self, reader: Reader) -> Result<Self>;
    /// The entry at the cursor, lent to `f` (`None` at the end). The cursor stays on it until
    /// `advance`, so a caller whose buffer was too small gets the same entry again.
    fn peek<T>(&mut self, f: impl FnOnce(&Self::Entry<'_>) -> T) -> Result<Option<T>>;
    /// Moves past the entry at the cursor.
    fn advance(&mut self) -> Result<()>;
    /// False in a child forked after the cursor opened: it must not use the parent's handle.
    fn same_process(&self) -> bool;
}

/// Every group by gid, with its members: one row step per group.
pub struct GroupScan {
    // Declared before `reader`: finalized before the connection closes.
    stmt: Statement,
    reader: Reader,
    on_row: bool,
    done: bool,
    last_gid: i64,
}

impl GroupScan {
    fn after(reader: Reader, last_gid: i64) -> Result<GroupScan> {
        let sql = c"SELECT gid, name, members FROM groups WHERE gid > ?1 ORDER BY gid";
        // SAFETY: the connection is live and outlives the statement (field order above).
        let mut stmt = unsafe { Statement::prepare(reader.conn.handle(), sql)? };
        stmt.bind(Bind::Int(last_gid))?;
        Ok(GroupScan {
            stmt,
            reader,
            on_row: false,
            done: false,
            last_gid,
        })
    }
}

impl Cursor for GroupScan {
    type Entry<'a> = GroupRef<'a>;

    fn start(reader: Reader) -> Result<GroupScan> {
        Self::after(reader, -1)
    }

    fn resume(&self, reader: Reader) -> Result<GroupScan> {
        Self::after(reader, self.last_gid)
    }

    fn peek<T>(&mut self, f: impl FnOnce(&GroupRef<'_>) -> T) -> Result<Option<T>> {
        if !self.on_row && !self.done {
            self.on_row = self.stmt.step()?;
            self.done = !self.on_row;
        }
        if !self.on_row {
            return Ok(None);
        }
        let row = self.stmt.row();
        let (gid, name) = (row.id(0)?, row.bytes(1));
        let group = GroupRef {
            gid,
            name,
            members: sums::verify_members(row.bytes(2), gid, name)?,
        };
        check_group(&group)?;
        Ok(Some(f(&group)))
    }

    fn advance(&mut self) -> Result<()> {
        if self.on_row {
            self.last_gid = self.stmt.row().int(0);
            self.on_row = false;
        }
        Ok(())
    }

    fn same_process(&self) -> bool {
        !self.reader.forked()
    }
}

/// Every user, in name order, from the packed chunks: one row step per chunk, entries walked in
/// memory.
pub struct UserScan {
    // Declared before `reader`: finalized before the connection closes.
    stmt: Statement,
    reader: Reader,
    /// The current chunk, copied out of SQLite once (a few bytes per entry), and the offset of
    /// the entry at the cursor in it.
    chunk: Vec<u8>,
    offset: usize,
    /// Set by `peek`: where the entry at the cursor ends, and where its name lies in `chunk`.
    peeked: Option<(usize, std::ops::Range<usize>)>,
    done: bool,
    /// Skip entries up to and including this name (a resumed scan starts in the chunk that holds
    /// it). Empty: skip nothing.
    skip_through: Vec<u8>,
    /// The name of the last entry moved past.
    last_name: Vec<u8>,
}

impl UserScan {
    fn after(reader: Reader, last_name: Vec<u8>) -> Result<UserScan> {
        // From the chunk whose first entry is the last one at or before `last_name` (all chunks
        // for an empty name).
        let sql = c"SELECT entries, id FROM passwd_chunks WHERE id >= coalesce(\
            (SELECT max(id) FROM passwd_chunks WHERE first_name <= ?1), 0) ORDER BY id";
        // SAFETY: the connection is live and outlives the statement (field order above).
        let mut stmt = unsafe { Statement::prepare(reader.conn.handle(), sql)? };
        stmt.bind(Bind::Text(&last_name))?;
        Ok(UserScan {
            stmt,
            reader,
            chunk: Vec::new(),
            offset: 0,
            peeked: None,
            done: false,
            skip_through: last_name.clone(),
            last_name,
        })
    }
}

impl Cursor for UserScan {
    type Entry<'a> = PasswdRef<'a>;

    fn start(reader: Reader) -> Result<UserScan> {
        Self::after(reader, Vec::new())
    }

    fn resume(&self, reader: Reader) -> Result<UserScan> {
        Self::after(reader, self.last_name.clone())
    }

    fn peek<T>(&mut self, f: impl FnOnce(&PasswdRef<'_>) -> T) -> Result<Option<T>> {
        loop {
            if self.offset == self.chunk.len() {
                self.chunk.clear();
                self.offset = 0;
                if self.done || !self.stmt.step()? {
                    self.done = true;
                    return Ok(None);
                }
                let row = self.stmt.row();
                let stored = row.bytes(0);
                if stored.len() > self.reader.max_blob_bytes {
                    return Err(refused(format!("a passwd chunk of {} bytes", stored.len())));
                }
                let entries = sums::verify(stored, Kind::PasswdChunk, row.int(1))?;
                try_reserve(&mut self.chunk, entries.len(), "passwd chunk")?;
                self.chunk.extend_from_slice(entries);
                continue;
            }
            let Some((entry, next)) = chunks::entry_at(&self.chunk, self.offset)? else {
                return Err(Error::InvalidSnapshot("malformed passwd chunk".into()));
            };
            if !self.skip_through.is_empty() {
                if entry.name > &self.skip_through[..] {
                    self.skip_through.clear();
                } else {
                    self.offset = next;
                    continue;
                }
            }
            check_passwd(&entry)?;
            let start = entry.name.as_ptr() as usize - self.chunk.as_ptr() as usize;
            self.peeked = Some((next, start..start + entry.name.len()));
            return Ok(Some(f(&entry)));
        }
    }

    fn advance(&mut self) -> Result<()> {
        if self.peeked.is_none() {
            self.peek(|_| ())?;
        }
        if let Some((next, name)) = self.peeked.take() {
            self.last_name.clear();
            self.last_name
                .extend_from_slice(self.chunk.get(name).unwrap_or_default());
            self.offset = next;
        }
        Ok(())
    }

    fn same_process(&self) -> bool {
        !self.reader.forked()
    }
}
