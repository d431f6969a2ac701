//! Publishing a snapshot: build a complete new file beside the published one, fsync it, rename it
//! over the old one, fsync the directory. Readers holding the old file keep reading the old inode,
//! which is never modified, so there is no torn read and no SIGBUS; a crash at any point leaves the
//! old file or the new one, and at worst a temp file the next publish removes.

use crate::rows::{GroupRow, UserRow};
use crate::schema::{CREATE_INDEXES, CREATE_TABLES, SCHEMA_VERSION};
use crate::sums::{self, Kind};
use crate::{buckets, chunks};
use crate::{Error, Meta, Result, Snapshot};
use rusqlite::{params, Connection, OpenFlags, Statement};
use std::collections::HashMap;
use std::fs::{self, File, Permissions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

fn split(path: &Path) -> Result<(PathBuf, String)> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::InvalidSnapshot(format!("bad cache path {}", path.display())))?;
    Ok((dir, name.to_string()))
}

fn temp_prefix(name: &str) -> String {
    format!(".{name}.tmp.")
}

/// Removes temp files a killed publisher left beside `path`. Returns how many it removed.
pub fn remove_stale_temp_files(path: &Path) -> Result<usize> {
    let (dir, name) = split(path)?;
    let prefix = temp_prefix(&name);
    let mut removed = 0;
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_error(&dir, e)),
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let p = entry.path();
            fs::remove_file(&p).map_err(|e| io_error(&p, e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// How long each step of a publish took, for one log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublishTimings {
    /// Creating the file and writing every row.
    pub rows: Duration,
    /// Building the secondary indexes and committing.
    pub indexes: Duration,
    /// fsync of the new file.
    pub fsync: Duration,
    /// Rename over the published path and fsync of the directory.
    pub rename: Duration,
}

impl std::fmt::Display for PublishTimings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "rows {:.0} ms, indexes {:.0} ms, fsync {:.0} ms, rename {:.0} ms",
            ms(self.rows),
            ms(self.indexes),
            ms(self.fsync),
            ms(self.rename)
        )
    }
}

/// Writes `snapshot` with `meta` and atomically replaces the file at `path` with it (mode 0644).
pub fn publish(path: &Path, snapshot: &Snapshot, meta: &Meta) -> Result<()> {
    publish_with(path, meta, |sink| {
        let mut users: Vec<_> = snapshot.users.iter().collect();
        users.sort_by_key(|u| u.uid);
        // Each user's supplementary gids, from the groups' member lists.
        let mut group_ids: HashMap<&str, Vec<u32>> = HashMap::new();
        for g in &snapshot.groups {
            for m in &g.members {
                group_ids.entry(m.as_str()).or_default().push(g.gid);
            }
        }
        for u in users {
            let gids = group_ids
                .get(u.name.as_str())
                .map_or(&[][..], Vec::as_slice);
            u.with_row(gids, |row| sink.user(row))?;
        }
        let mut groups: Vec<_> = snapshot.groups.iter().collect();
        groups.sort_by_key(|g| g.gid);
        for g in groups {
            g.with_row(|row| sink.group(row))?;
        }
        Ok(())
    })
    .map(|_| ())
}

/// Publishes the rows that `write` hands to the sink (users in uid order and groups in gid order
/// are fastest: they go in as appends), with `meta`, atomically replacing the file at `path`.
pub fn publish_with<F>(path: &Path, meta: &Meta, write: F) -> Result<PublishTimings>
where
    F: FnOnce(&mut Sink<'_>) -> Result<()>,
{
    let (dir, name) = split(path)?;
    remove_stale_temp_files(path)?;
    let tmp = dir.join(format!("{}{}", temp_prefix(&name), std::process::id()));
    let mut timings = PublishTimings::default();
    let result = build(&tmp, meta, write, &mut timings)
        .and_then(|()| install(&tmp, path, &dir, &mut timings));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| timings)
}

/// Where `publish_with`'s callback puts rows.
pub struct Sink<'c> {
    put_user: Statement<'c>,
    put_email: Statement<'c>,
    put_key: Statement<'c>,
    put_principal: Statement<'c>,
    put_group: Statement<'c>,
    /// Reused for every joined list, so rows cost no allocation of their own.
    list: String,
    /// The list with its checksum, as stored.
    stored: Vec<u8>,
}

/// `list` followed by its checksum as blob `row` of `kind` (or, for a group's members, with
/// `name` the group's), into `out`.
fn stored_list(out: &mut Vec<u8>, list: &str, kind: Kind, row: u32, name: Option<&str>) {
    out.clear();
    out.extend_from_slice(list.as_bytes());
    match name {
        Some(name) => sums::append_members(out, row, name.as_bytes()),
        None => sums::append(out, kind, row.into()),
    }
}

/// The account checksum of `u`, over its lists as the reader reads them back (sorted, no repeats).
fn account_sum(u: &UserRow<'_>) -> [u8; sums::SUM_LEN] {
    let set = |list: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let (emails, keys, principals) = (set(u.emails), set(u.ssh_keys), set(u.principals));
    sums::account_sum(
        u.uid,
        &sums::AccountFields {
            name: u.name,
            flags: [u.active, u.can_login, u.can_sudo],
            directory_id: u.directory_id,
            directory_name: u.directory_name,
            lists: [&emails, &keys, &principals],
        },
    )
}

impl Sink<'_> {
    pub fn user(&mut self, u: &UserRow<'_>) -> Result<()> {
        join_list(&mut self.list, u.group_ids.iter())?;
        stored_list(
            &mut self.stored,
            &self.list,
            Kind::UserGroupIds,
            u.uid,
            None,
        );
        self.put_user.execute(params![
            u.uid,
            u.name,
            u.gid,
            u.gecos,
            u.home,
            u.shell,
            u.active,
            u.can_login,
            u.can_sudo,
            u.directory_id,
            u.directory_name,
            self.stored,
            &account_sum(u)[..]
        ])?;
        for email in u.emails {
            self.put_email.execute(params![u.uid, email])?;
        }
        for key in u.ssh_keys {
            self.put_key.execute(params![u.uid, key])?;
        }
        for principal in u.principals {
            self.put_principal.execute(params![u.uid, principal])?;
        }
        Ok(())
    }

    pub fn group(&mut self, g: &GroupRow<'_>) -> Result<()> {
        let mut members = g.members.to_vec();
        members.sort_unstable();
        members.dedup();
        join_list(&mut self.list, members.iter())?;
        stored_list(
            &mut self.stored,
            &self.list,
            Kind::GroupMembers,
            g.gid,
            Some(g.name),
        );
        self.put_group
            .execute(params![g.gid, g.name, g.directory_id, self.stored])?;
        Ok(())
    }
}

/// SQLite's page cache while building (KiB), which also bounds the index sorts' memory. Rows go
/// in as appends, so a small cache costs little time; beyond it the sorts spill to a temp file.
/// At 100,000 users, 8 MiB here cost 13 MiB of peak RSS and saved under 0.1 s.
const BUILD_CACHE_KIB: i64 = 2 * 1024;

fn build<F>(tmp: &Path, meta: &Meta, write: F, timings: &mut PublishTimings) -> Result<()>
where
    F: FnOnce(&mut Sink<'_>) -> Result<()>,
{
    let started = Instant::now();
    let mut conn = Connection::open_with_flags(
        tmp,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // The file is private until renamed and fsynced by us: no journal, no syncs of SQLite's own,
    // one lock for the connection's life.
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE;
         PRAGMA cache_size = -{BUILD_CACHE_KIB};"
    ))?;
    let tx = conn.transaction()?;
    tx.execute_batch(CREATE_TABLES)?;
    {
        let mut put_meta = tx.prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")?;
        put_meta.execute(params!["generation", meta.generation.to_string()])?;
        put_meta.execute(params!["built_at", meta.built_at.to_string()])?;
        put_meta.execute(params!["source", meta.source])?;
        put_meta.execute(params!["content_hash", meta.content_hash])?;
        let mut sink = Sink {
            put_user: tx.prepare(
                "INSERT INTO users (uid, name, gid, gecos, home, shell, active, can_login, can_sudo,
                                    directory_id, directory_name, group_ids, account_sum)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?,
            put_email: tx
                .prepare("INSERT OR IGNORE INTO user_emails (uid, email) VALUES (?1, ?2)")?,
            put_key: tx.prepare("INSERT OR IGNORE INTO user_ssh_keys (uid, key) VALUES (?1, ?2)")?,
            put_principal: tx.prepare(
                "INSERT OR IGNORE INTO user_principals (uid, principal) VALUES (?1, ?2)",
            )?,
            put_group: tx.prepare(
                "INSERT INTO groups (gid, name, directory_id, members) VALUES (?1, ?2, ?3, ?4)",
            )?,
            list: String::new(),
            stored: Vec::new(),
        };
        write(&mut sink)?;
    }
    timings.rows = started.elapsed();
    let started = Instant::now();
    tx.execute_batch(CREATE_INDEXES)?;
    let layout = write_layout(&tx, &meta.content_hash)?;
    write_passwd(&tx, &layout)?;
    write_group_buckets(&tx, &layout)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    conn.close().map_err(|(_, e)| Error::Sqlite(e))?;
    timings.indexes = started.elapsed();
    Ok(())
}

/// A text column's bytes, borrowed from the row.
fn text_bytes<'r>(row: &'r rusqlite::Row<'_>, column: usize) -> Result<&'r [u8]> {
    row.get_ref(column)?
        .as_bytes()
        .map_err(|e| Error::InvalidSnapshot(format!("users column {column}: {e}")))
}

/// A passwd entry from the columns `name, uid, gid, gecos, home, shell`, borrowed from the row.
fn passwd_row<'r>(row: &'r rusqlite::Row<'_>) -> Result<crate::PasswdRef<'r>> {
    Ok(crate::PasswdRef {
        name: text_bytes(row, 0)?,
        uid: row.get(1)?,
        gid: row.get(2)?,
        gecos: text_bytes(row, 3)?,
        home: text_bytes(row, 4)?,
        shell: text_bytes(row, 5)?,
    })
}

/// The bucket layout (`buckets.rs`) for the finished `users` and `groups` tables, recorded in
/// `meta`.
fn write_layout(tx: &rusqlite::Transaction<'_>, content_hash: &str) -> Result<buckets::Layout> {
    let count = |table: &str| -> Result<usize> {
        let n: i64 = tx.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        usize::try_from(n).map_err(|_| Error::InvalidSnapshot(format!("{table}: count {n}")))
    };
    let layout = buckets::Layout::new(content_hash, count("users")?, count("groups")?);
    let mut put_meta = tx.prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")?;
    put_meta.execute(params![buckets::META_KEY, layout.key_text()])?;
    put_meta.execute(params![
        buckets::META_PASSWD,
        layout.passwd_buckets.to_string()
    ])?;
    put_meta.execute(params![
        buckets::META_GROUP,
        layout.group_buckets.to_string()
    ])?;
    Ok(layout)
}

/// Packs every passwd entry once, in name order (read back through the finished name index): into
/// `passwd_chunks` for enumeration, as the chunks fill, and into the two passwd bucket tables.
/// The packed entries (about 70 bytes a user) stay in memory until the buckets are written.
fn write_passwd(tx: &rusqlite::Transaction<'_>, layout: &buckets::Layout) -> Result<()> {
    let mut users = tx.prepare(
        "SELECT name, uid, gid, gecos, home, shell FROM users INDEXED BY users_by_name ORDER BY name",
    )?;
    let mut put_chunk =
        tx.prepare("INSERT INTO passwd_chunks (id, first_name, entries) VALUES (?1, ?2, ?3)")?;
    // (bucket, start, end) of each packed entry, for each bucket table.
    let (mut packed, mut by_name, mut by_uid) = (Vec::new(), Vec::new(), Vec::new());
    let mut blob = Vec::new();
    let (mut id, mut count, mut first, mut chunk_start) = (0i64, 0usize, String::new(), 0);
    let mut rows = users.query([])?;
    while let Some(row) = rows.next()? {
        let entry = passwd_row(row)?;
        let start = packed.len();
        if !chunks::push(&mut packed, &entry) {
            continue;
        }
        by_name.push((layout.passwd_by_name(entry.name), start, packed.len()));
        by_uid.push((layout.passwd_by_uid(entry.uid), start, packed.len()));
        if count == 0 {
            first = String::from_utf8_lossy(entry.name).into_owned();
        }
        count += 1;
        if count == chunks::ENTRIES_PER_CHUNK {
            chunk_blob(&mut blob, packed.get(chunk_start..), id);
            put_chunk.execute(params![id, first, blob])?;
            (id, count, chunk_start) = (id + 1, 0, packed.len());
        }
    }
    if count > 0 {
        chunk_blob(&mut blob, packed.get(chunk_start..), id);
        put_chunk.execute(params![id, first, blob])?;
    }
    for (table, kind, mut entries) in [
        ("passwd_by_name", Kind::PasswdByName, by_name),
        ("passwd_by_uid", Kind::PasswdByUid, by_uid),
    ] {
        entries.sort_unstable();
        put_buckets(
            tx,
            table,
            kind,
            layout.passwd_buckets,
            &entries,
            |e, out| {
                out.extend_from_slice(packed.get(e.1..e.2).unwrap_or_default());
            },
        )?;
    }
    Ok(())
}

/// A passwd chunk as stored: its entries, then their checksum.
fn chunk_blob(out: &mut Vec<u8>, entries: Option<&[u8]>, id: i64) {
    out.clear();
    out.extend_from_slice(entries.unwrap_or_default());
    sums::append(out, Kind::PasswdChunk, id);
}

/// Fills the group bucket tables from the finished `groups` table. Entries hold at most
/// `buckets::INLINE_MEMBERS` bytes of members each.
fn write_group_buckets(tx: &rusqlite::Transaction<'_>, layout: &buckets::Layout) -> Result<()> {
    // Groups: (gid, name, and a short member list) in both tables; longer lists stay only in
    // `groups.members`, and are not even read here (octet_length reads the record header only).
    let mut packed = Vec::new();
    let (mut by_name, mut by_gid) = (Vec::new(), Vec::new());
    {
        let mut groups = tx.prepare(&format!(
            "SELECT gid, name, iif(octet_length(members) <= {}, members, NULL) FROM groups",
            buckets::INLINE_MEMBERS + sums::SUM_LEN
        ))?;
        let mut rows = groups.query([])?;
        while let Some(row) = rows.next()? {
            let gid: u32 = row.get(0)?;
            let name = text_bytes(row, 1)?;
            let members = row
                .get_ref(2)?
                .as_bytes_or_null()
                .map_err(|e| Error::InvalidSnapshot(format!("groups.members: {e}")))?
                .map(|stored| sums::verify_members(stored, gid, name))
                .transpose()?;
            let start = packed.len();
            if buckets::push_group(&mut packed, gid, name, members) {
                by_gid.push((layout.group_by_gid(gid), start, packed.len()));
                by_name.push((layout.group_by_name(name), start, packed.len()));
            }
        }
    }
    for (table, kind, mut entries) in [
        ("group_by_name", Kind::GroupByName, by_name),
        ("group_by_gid", Kind::GroupByGid, by_gid),
    ] {
        entries.sort_unstable();
        put_buckets(tx, table, kind, layout.group_buckets, &entries, |e, out| {
            out.extend_from_slice(packed.get(e.1..e.2).unwrap_or_default());
        })?;
    }
    Ok(())
}

/// Writes one row per bucket `0..count` of `table`, each holding what `pack` appends for the
/// items (sorted by bucket, the first field) that fall into it.
fn put_buckets<T: BucketItem>(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    kind: Kind,
    count: u64,
    items: &[T],
    pack: impl Fn(&T, &mut Vec<u8>),
) -> Result<()> {
    let mut put = tx.prepare(&format!(
        "INSERT INTO {table} (bucket, entries) VALUES (?1, ?2)"
    ))?;
    let mut items = items.iter().peekable();
    let mut blob = Vec::new();
    for bucket in 0..i64::try_from(count).unwrap_or(i64::MAX) {
        blob.clear();
        while let Some(item) = items.next_if(|item| item.bucket() == bucket) {
            pack(item, &mut blob);
        }
        sums::append(&mut blob, kind, bucket);
        put.execute(params![bucket, blob])?;
    }
    Ok(())
}

trait BucketItem {
    fn bucket(&self) -> i64;
}

impl<A, B> BucketItem for (i64, A, B) {
    fn bucket(&self) -> i64 {
        self.0
    }
}

/// Joins list items into `out` with `,`, refusing items that would break the list (a comma, or
/// empty).
fn join_list<T: std::fmt::Display>(out: &mut String, items: impl Iterator<Item = T>) -> Result<()> {
    use std::fmt::Write;
    out.clear();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let start = out.len();
        let _ = write!(out, "{item}");
        let text = out.get(start..).unwrap_or_default();
        if text.is_empty() || text.contains(',') {
            return Err(Error::InvalidSnapshot(format!(
                "list item {text:?} is empty or has a ','"
            )));
        }
    }
    Ok(())
}

fn install(tmp: &Path, path: &Path, dir: &Path, timings: &mut PublishTimings) -> Result<()> {
    let started = Instant::now();
    let file = File::open(tmp).map_err(|e| io_error(tmp, e))?;
    file.set_permissions(Permissions::from_mode(0o644))
        .map_err(|e| io_error(tmp, e))?;
    file.sync_all().map_err(|e| io_error(tmp, e))?;
    drop(file);
    timings.fsync = started.elapsed();
    let started = Instant::now();
    fs::rename(tmp, path).map_err(|e| io_error(path, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))?;
    timings.rename = started.elapsed();
    Ok(())
}
