//! Publishing a snapshot: build a complete new file beside the published one, fsync it, rename it
//! over the old one, fsync the directory. Readers holding the old file keep reading the old inode,
//! which is never modified, so there is no torn read and no SIGBUS; a crash at any point leaves the
//! old file or the new one, and at worst a temp file the next publish removes.

use crate::chunks;
use crate::schema::{CREATE, SCHEMA_VERSION};
use crate::{Error, Meta, Result, Snapshot};
use rusqlite::{params, Connection, OpenFlags};
use std::collections::HashMap;
use std::fs::{self, File, Permissions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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

/// Writes `snapshot` with `meta` and atomically replaces the file at `path` with it (mode 0644).
pub fn publish(path: &Path, snapshot: &Snapshot, meta: &Meta) -> Result<()> {
    let (dir, name) = split(path)?;
    remove_stale_temp_files(path)?;
    let tmp = dir.join(format!("{}{}", temp_prefix(&name), std::process::id()));
    let result = build(&tmp, snapshot, meta).and_then(|()| install(&tmp, path, &dir));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn build(tmp: &Path, snapshot: &Snapshot, meta: &Meta) -> Result<()> {
    let mut conn = Connection::open_with_flags(
        tmp,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // The file is private until renamed and fsynced by us: no journal, no syncs of SQLite's own.
    conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
    let tx = conn.transaction()?;
    tx.execute_batch(CREATE)?;
    {
        let mut put_meta = tx.prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")?;
        put_meta.execute(params!["generation", meta.generation.to_string()])?;
        put_meta.execute(params!["built_at", meta.built_at.to_string()])?;
        put_meta.execute(params!["source", meta.source])?;
        put_meta.execute(params!["content_hash", meta.content_hash])?;

        let mut users: Vec<_> = snapshot.users.iter().collect();
        users.sort_by_key(|u| u.uid);
        // Each user's supplementary gids, from the groups' member lists.
        let mut group_ids: HashMap<&str, Vec<u32>> = HashMap::new();
        for g in &snapshot.groups {
            for m in &g.members {
                group_ids.entry(m.as_str()).or_default().push(g.gid);
            }
        }
        let mut put_user = tx.prepare(
            "INSERT INTO users (uid, name, gid, gecos, home, shell, active, can_login, can_sudo,
                                directory_id, directory_name, group_ids)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        let mut put_email =
            tx.prepare("INSERT OR IGNORE INTO user_emails (uid, email) VALUES (?1, ?2)")?;
        let mut put_key =
            tx.prepare("INSERT OR IGNORE INTO user_ssh_keys (uid, key) VALUES (?1, ?2)")?;
        let mut put_principal =
            tx.prepare("INSERT OR IGNORE INTO user_principals (uid, principal) VALUES (?1, ?2)")?;
        for u in users {
            put_user.execute(params![
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
                join_list(
                    group_ids
                        .get(u.name.as_str())
                        .map_or(&[][..], Vec::as_slice)
                )?
            ])?;
            for email in &u.emails {
                put_email.execute(params![u.uid, email])?;
            }
            for key in &u.ssh_keys {
                put_key.execute(params![u.uid, key])?;
            }
            for principal in &u.principals {
                put_principal.execute(params![u.uid, principal])?;
            }
        }

        let mut by_name: Vec<_> = snapshot.users.iter().collect();
        by_name.sort_by(|a, b| a.name.cmp(&b.name));
        let mut put_chunk =
            tx.prepare("INSERT INTO passwd_chunks (id, first_name, entries) VALUES (?1, ?2, ?3)")?;
        let mut chunk = Vec::new();
        for (id, users) in by_name.chunks(chunks::ENTRIES_PER_CHUNK).enumerate() {
            chunk.clear();
            for u in users {
                chunks::push(&mut chunk, &u.passwd_ref());
            }
            let first = users.first().map_or("", |u| u.name.as_str());
            put_chunk.execute(params![id, first, chunk])?;
        }

        let mut groups: Vec<_> = snapshot.groups.iter().collect();
        groups.sort_by_key(|g| g.gid);
        let mut put_group = tx.prepare(
            "INSERT INTO groups (gid, name, directory_id, members) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for g in groups {
            let mut members: Vec<&String> = g.members.iter().collect();
            members.sort();
            members.dedup();
            put_group.execute(params![g.gid, g.name, g.directory_id, join_list(&members)?])?;
        }
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    conn.close().map_err(|(_, e)| Error::Sqlite(e))?;
    Ok(())
}

/// Joins list items with `,`, refusing items that would break the list (a comma, or empty).
fn join_list<T: ToString>(items: &[T]) -> Result<String> {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let text = item.to_string();
        if text.is_empty() || text.contains(',') {
            return Err(Error::InvalidSnapshot(format!(
                "list item {text:?} is empty or has a ','"
            )));
        }
        if i > 0 {
            out.push(',');
        }
        out.push_str(&text);
    }
    Ok(out)
}

fn install(tmp: &Path, path: &Path, dir: &Path) -> Result<()> {
    let file = File::open(tmp).map_err(|e| io_error(tmp, e))?;
    file.set_permissions(Permissions::from_mode(0o644))
        .map_err(|e| io_error(tmp, e))?;
    file.sync_all().map_err(|e| io_error(tmp, e))?;
    drop(file);
    fs::rename(tmp, path).map_err(|e| io_error(path, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))?;
    Ok(())
}
