//! The read side, used inside other processes by the NSS and PAM modules and by `usherctl`.
//!
//! A `Reader` is one read-only, immutable, lock-free SQLite connection to one published snapshot.
//! It is not shared between threads (the modules keep one per thread) and it knows the process and
//! the inode it was opened for, so a forked child or a newer snapshot is noticed by `is_current`.

use crate::schema::SCHEMA_VERSION;
use crate::{Error, Group, Meta, Result, Snapshot, User};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

pub struct Reader {
    conn: Connection,
    path: PathBuf,
    file_id: (u64, u64),
    pid: u32,
    recheck_interval: Duration,
    last_check: Instant,
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

/// The items of a `,`-joined list column (none for an empty string).
fn split_list(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').filter(|item| !item.is_empty())
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

fn stat(path: &Path) -> Result<std::fs::Metadata> {
    std::fs::metadata(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

fn file_id(md: &std::fs::Metadata) -> (u64, u64) {
    (md.dev(), md.ino())
}

impl Reader {
    /// Opens the snapshot at `path` and checks its schema version. Fails at once (no waiting, no
    /// retry) if the file is missing, unreadable, corrupt or of another version.
    pub fn open(path: &Path) -> Result<Reader> {
        if path
            .as_os_str()
            .as_encoded_bytes()
            .iter()
            .any(|b| !b.is_ascii())
        {
            return Err(Error::InvalidSnapshot("non-ASCII cache path".into()));
        }
        let md = stat(path)?;
        let (file_id, file_len) = (file_id(&md), md.len());
        let conn = Connection::open_with_flags(
            immutable_uri(path),
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
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
        conn.query_row("SELECT value FROM meta WHERE key = 'generation'", [], |r| {
            r.get::<_, String>(0)
        })?;
        Ok(Reader {
            conn,
            path: path.to_path_buf(),
            file_id,
            pid: std::process::id(),
            recheck_interval: Duration::ZERO,
            last_check: Instant::now(),
        })
    }

    /// Look at the path for a newer snapshot at most this often (default: at every `is_current`).
    /// A `stat` costs about as much as a lookup; long-lived processes can afford to see a new
    /// snapshot a moment late.
    pub fn with_recheck_interval(mut self, interval: Duration) -> Self {
        self.recheck_interval = interval;
        self
    }

    /// False when this handle must not be used any more: the process forked since it was opened,
    /// or the published path now names another file (or none).
    pub fn is_current(&mut self) -> bool {
        if self.pid != std::process::id() {
            return false;
        }
        if self.last_check.elapsed() < self.recheck_interval {
            return true;
        }
        self.last_check = Instant::now();
        matches!(stat(&self.path), Ok(md) if file_id(&md) == self.file_id)
    }

    pub fn user_by_name(&self, name: &str) -> Result<Option<PasswdEntry>> {
        let mut st = self.conn.prepare_cached(concat!(
            "SELECT ",
            passwd_columns!(),
            " FROM users WHERE name = ?1"
        ))?;
        Ok(st.query_row([name], passwd_from_row).optional()?)
    }

    pub fn user_by_uid(&self, uid: u32) -> Result<Option<PasswdEntry>> {
        let mut st = self.conn.prepare_cached(concat!(
            "SELECT ",
            passwd_columns!(),
            " FROM users WHERE uid = ?1"
        ))?;
        Ok(st.query_row([uid], passwd_from_row).optional()?)
    }

    /// Up to `limit` users with a uid above `after` (all from the start with `None`), by uid:
    /// enumeration that resumes by key, so it needs no cursor held open between calls.
    pub fn users_after(&self, after: Option<u32>, limit: u32) -> Result<Vec<PasswdEntry>> {
        let mut st = self.conn.prepare_cached(concat!(
            "SELECT ",
            passwd_columns!(),
            " FROM users WHERE uid > ?1 ORDER BY uid LIMIT ?2"
        ))?;
        let after = after.map_or(-1, i64::from);
        let rows = st.query_map(rusqlite::params![after, limit], passwd_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn group_from_row(row: &Row<'_>) -> rusqlite::Result<GroupEntry> {
        Ok(GroupEntry {
            name: row.get(0)?,
            gid: row.get(1)?,
            members: split_list(row.get_ref(2)?.as_str()?)
                .map(str::to_string)
                .collect(),
        })
    }

    pub fn group_by_name(&self, name: &str) -> Result<Option<GroupEntry>> {
        Ok(self
            .conn
            .prepare_cached("SELECT name, gid, members FROM groups WHERE name = ?1")?
            .query_row([name], Self::group_from_row)
            .optional()?)
    }

    pub fn group_by_gid(&self, gid: u32) -> Result<Option<GroupEntry>> {
        Ok(self
            .conn
            .prepare_cached("SELECT name, gid, members FROM groups WHERE gid = ?1")?
            .query_row([gid], Self::group_from_row)
            .optional()?)
    }

    /// Up to `limit` groups with a gid above `after`, by gid, with their members.
    pub fn groups_after(&self, after: Option<u32>, limit: u32) -> Result<Vec<GroupEntry>> {
        let mut st = self.conn.prepare_cached(
            "SELECT name, gid, members FROM groups WHERE gid > ?1 ORDER BY gid LIMIT ?2",
        )?;
        let after = after.map_or(-1, i64::from);
        let rows = st.query_map(rusqlite::params![after, limit], Self::group_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The gids of the groups that list `user_name` as a member (not the primary group, which
    /// comes from the passwd entry).
    pub fn group_ids_of(&self, user_name: &str) -> Result<Vec<u32>> {
        let list: Option<String> = self
            .conn
            .prepare_cached("SELECT group_ids FROM users WHERE name = ?1")?
            .query_row([user_name], |r| r.get(0))
            .optional()?;
        list.as_deref().map_or(Ok(Vec::new()), |l| {
            split_list(l)
                .map(|gid| {
                    gid.parse()
                        .map_err(|_| Error::InvalidSnapshot(format!("bad gid {gid:?}")))
                })
                .collect()
        })
    }

    pub fn account(&self, name: &str) -> Result<Option<Account>> {
        let row = self
            .conn
            .prepare_cached(concat!(
                "SELECT ",
                passwd_columns!(),
                ", active, can_login, can_sudo, directory_id, directory_name FROM users WHERE name = ?1"
            ))?
            .query_row([name], |r| {
                Ok((
                    passwd_from_row(r)?,
                    r.get::<_, bool>(6)?,
                    r.get::<_, bool>(7)?,
                    r.get::<_, bool>(8)?,
                    r.get::<_, String>(9)?,
                    r.get::<_, String>(10)?,
                ))
            })
            .optional()?;
        let Some((passwd, active, can_login, can_sudo, directory_id, directory_name)) = row else {
            return Ok(None);
        };
        let list = |sql: &str| -> Result<Vec<String>> {
            let mut st = self.conn.prepare_cached(sql)?;
            let rows = st.query_map([passwd.uid], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        let emails = list("SELECT email FROM user_emails WHERE uid = ?1 ORDER BY email")?;
        let ssh_keys = list("SELECT key FROM user_ssh_keys WHERE uid = ?1 ORDER BY key")?;
        let principals =
            list("SELECT principal FROM user_principals WHERE uid = ?1 ORDER BY principal")?;
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

    /// The whole snapshot, for the daemon's comparison of a new sync with what is published.
    pub fn load_snapshot(&self) -> Result<Snapshot> {
        let mut users: Vec<User> = {
            let mut st = self.conn.prepare(concat!(
                "SELECT ",
                passwd_columns!(),
                ", active, can_login, can_sudo, directory_id, directory_name FROM users ORDER BY uid"
            ))?;
            let rows = st.query_map([], |r| {
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
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
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
        let groups: Vec<Group> = {
            let mut st = self
                .conn
                .prepare("SELECT name, gid, directory_id, members FROM groups ORDER BY gid")?;
            let rows = st.query_map([], |r| {
                Ok(Group {
                    name: r.get(0)?,
                    gid: r.get(1)?,
                    directory_id: r.get(2)?,
                    members: split_list(r.get_ref(3)?.as_str()?)
                        .map(str::to_string)
                        .collect(),
                })
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        Ok(Snapshot { users, groups })
    }
}
