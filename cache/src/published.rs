//! The daemon's view of the published snapshot while it builds the next one: its meta, a scan of
//! its users one row at a time, and point lookups by directory id, without loading it whole (a
//! large directory would otherwise be held twice, old and new).

use crate::rows::UserRow;
use crate::{Group, Meta, Reader, Result, User};
use rusqlite::{OptionalExtension, Rows};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;

pub struct Published {
    /// A reader's handle, so the snapshot is checked exactly as the modules check it.
    reader: Reader,
    meta: Meta,
    /// (hash of directory id, uid) of every user, sorted: finds the candidates for an id, which
    /// a point query then confirms.
    users: Vec<(u64, u32)>,
    /// (hash of directory id, gid) of every directory group, sorted.
    groups: Vec<(u64, u32)>,
}

fn id_hash(id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// The entries of a sorted (hash, key) index whose hash is `hash`.
fn candidates(index: &[(u64, u32)], hash: u64) -> impl Iterator<Item = u32> + '_ {
    let start = index.partition_point(|(h, _)| *h < hash);
    index
        .get(start..)
        .unwrap_or_default()
        .iter()
        .take_while(move |(h, _)| *h == hash)
        .map(|(_, key)| *key)
}

const USER_COLUMNS: &str = "name, uid, gid, gecos, home, shell, active, can_login, can_sudo, \
                            directory_id, directory_name";

pub(crate) fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A list table read alongside a scan of `users` in uid order.
struct ListCursor<'s> {
    rows: Rows<'s>,
    pending: Option<(u32, String)>,
    done: bool,
}

impl ListCursor<'_> {
    /// The items of `uid` into `out`; rows of smaller uids (no such user) are passed over.
    fn take(&mut self, uid: u32, out: &mut Vec<String>) -> Result<()> {
        out.clear();
        loop {
            if self.pending.is_none() && !self.done {
                match self.rows.next()? {
                    Some(r) => self.pending = Some((r.get(0)?, r.get(1)?)),
                    None => self.done = true,
                }
            }
            match self.pending.take() {
                Some((u, _)) if u < uid => {}
                Some((u, v)) if u == uid => out.push(v),
                other => {
                    self.pending = other;
                    return Ok(());
                }
            }
        }
    }
}

impl Published {
    /// Opens the snapshot at `path` (checked as `Reader::open` checks it) and indexes its users and
    /// groups by directory id.
    pub fn open(path: &Path) -> Result<Published> {
        // The same refusals as the modules' (trust, version, truncation, garbage), and a full
        // check of every checksum, name and number: a corrupt file is never the previous state.
        let reader = Reader::open(path)?;
        reader.verify_all()?;
        let meta = reader.meta()?;
        let conn = &reader.conn;
        let index = |sql: &str| -> Result<Vec<(u64, u32)>> {
            let mut st = conn.prepare(sql)?;
            let mut rows = st.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push((
                    id_hash(r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?),
                    r.get(0)?,
                ));
            }
            out.sort_unstable();
            Ok(out)
        };
        let users = index("SELECT uid, directory_id FROM users")?;
        let groups = index("SELECT gid, directory_id FROM groups WHERE directory_id IS NOT NULL")?;
        Ok(Published {
            reader,
            meta,
            users,
            groups,
        })
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    fn lists(&self, uid: u32) -> Result<[Vec<String>; 3]> {
        let list = |sql: &str| -> Result<Vec<String>> {
            let mut st = self.reader.conn.prepare_cached(sql)?;
            let rows = st.query_map([uid], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        Ok([
            list("SELECT email FROM user_emails WHERE uid = ?1 ORDER BY email")?,
            list("SELECT key FROM user_ssh_keys WHERE uid = ?1 ORDER BY key")?,
            list("SELECT principal FROM user_principals WHERE uid = ?1 ORDER BY principal")?,
        ])
    }

    /// The published user with this directory id, if any.
    pub fn user(&self, directory_id: &str) -> Result<Option<User>> {
        for uid in candidates(&self.users, id_hash(directory_id)) {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE uid = ?1");
            let mut st = self.reader.conn.prepare_cached(&sql)?;
            let user = st
                .query_row([uid], crate::reader::user_from_row)
                .optional()?;
            if let Some(mut user) = user.filter(|u| u.directory_id == directory_id) {
                let [emails, ssh_keys, principals] = self.lists(uid)?;
                (user.emails, user.ssh_keys, user.principals) = (emails, ssh_keys, principals);
                return Ok(Some(user));
            }
        }
        Ok(None)
    }

    /// The published directory group with this directory id, if any.
    pub fn group(&self, directory_id: &str) -> Result<Option<Group>> {
        for gid in candidates(&self.groups, id_hash(directory_id)) {
            let mut st = self.reader.conn.prepare_cached(
                "SELECT name, gid, directory_id, members FROM groups WHERE gid = ?1",
            )?;
            let mut rows = st.query([gid])?;
            let group = match rows.next()? {
                Some(r) => Some(crate::reader::group_from_row(r)?),
                None => None,
            };
            if let Some(group) = group.filter(|g| g.directory_id.as_deref() == Some(directory_id)) {
                return Ok(Some(group));
            }
        }
        Ok(None)
    }

    /// Every published user, one row at a time in uid order (`group_ids` left empty).
    pub fn for_each_user(&self, mut f: impl FnMut(&UserRow<'_>)) -> Result<()> {
        let mut users = self
            .reader
            .conn
            .prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY uid"))?;
        let mut lists = [
            self.reader
                .conn
                .prepare("SELECT uid, email FROM user_emails ORDER BY uid, email")?,
            self.reader
                .conn
                .prepare("SELECT uid, key FROM user_ssh_keys ORDER BY uid, key")?,
            self.reader
                .conn
                .prepare("SELECT uid, principal FROM user_principals ORDER BY uid, principal")?,
        ];
        let [emails_st, keys_st, principals_st] = &mut lists;
        let mut cursors = [
            ListCursor {
                rows: emails_st.query([])?,
                pending: None,
                done: false,
            },
            ListCursor {
                rows: keys_st.query([])?,
                pending: None,
                done: false,
            },
            ListCursor {
                rows: principals_st.query([])?,
                pending: None,
                done: false,
            },
        ];
        let mut items: [Vec<String>; 3] = Default::default();
        let mut rows = users.query([])?;
        while let Some(r) = rows.next()? {
            let uid: u32 = r.get(1)?;
            for (cursor, out) in cursors.iter_mut().zip(items.iter_mut()) {
                cursor.take(uid, out)?;
            }
            let [emails, ssh_keys, principals] = &items;
            let (emails, ssh_keys, principals) = (strs(emails), strs(ssh_keys), strs(principals));
            let text = |i: usize| -> Result<&str> {
                Ok(r.get_ref(i)?.as_str().map_err(rusqlite::Error::from)?)
            };
            f(&UserRow {
                name: text(0)?,
                uid,
                gid: r.get(2)?,
                gecos: text(3)?,
                home: text(4)?,
                shell: text(5)?,
                active: r.get(6)?,
                can_login: r.get(7)?,
                can_sudo: r.get(8)?,
                directory_id: text(9)?,
                directory_name: text(10)?,
                emails: &emails,
                ssh_keys: &ssh_keys,
                principals: &principals,
                group_ids: &[],
            });
        }
        Ok(())
    }
}
