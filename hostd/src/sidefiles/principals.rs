//! Per-user certificate principals files for sshd.
//!
//! The sshd drop-in names `AuthorizedPrincipalsFile /var/lib/usher/principals/%U`, which sshd reads
//! before it would run `AuthorizedPrincipalsCommand`. OpenSSH pads every authentication request
//! that does not log in yet (the key query of a certificate login among them) to a per-user
//! minimum of 5 to 9 ms, and doubles it when the request takes longer: a fork and exec of the
//! command in that request can cost a login that much again. With a file there is no command.
//!
//! usherd keeps one file per user who may log in here (active, allowed), named by uid and listing
//! the same principals `usherctl principals` prints; everyone else has none, so sshd falls back to
//! the command, which prints nothing for them.
//! Named by uid, not name: a local account created with a directory user's name after the last
//! sync has another uid, so it never matches a directory user's file.
//!
//! The directory is usherd's alone: whatever else is in it is removed. A stamp records the
//! snapshot the files were last made from, so an unchanged sync reads one small file.

use crate::{io_error, Error, Result};
use std::collections::HashMap;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use usher_cache::UserRow;

pub const DEFAULT_PRINCIPALS_DIR: &str = "/var/lib/usher/principals";

/// The content hash of the snapshot the directory was last made from.
const STAMP: &str = ".snapshot";

/// One user's file: the principals, one per line.
fn content(principals: &[&str]) -> String {
    let mut out = String::new();
    for p in principals {
        out.push_str(p);
        out.push('\n');
    }
    out
}

/// Writes `content` at `dir/name` through a temp file and a rename (no fsync: a file lost in a
/// crash only sends sshd back to the command, and the stamp, written last, makes the next sync
/// redo the directory).
fn replace(dir: &Path, name: &str, content: &[u8]) -> Result<()> {
    let tmp = dir.join(format!(".tmp.{name}"));
    let target = dir.join(name);
    let result = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .and_then(|mut f| f.write_all(content))
        .and_then(|()| fs::rename(&tmp, &target));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_error(&target))
}

/// Brings `dir` in line with the users `for_each_user` yields, unless it was already made from
/// the snapshot `content_hash`. Returns how many files it wrote or removed.
pub fn update_principals(
    dir: &Path,
    content_hash: &str,
    for_each_user: impl FnOnce(&mut dyn FnMut(&UserRow<'_>)),
) -> Result<usize> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(io_error(dir))?;
    // sshd refuses a principals file under a directory others can write to (StrictModes), and
    // usherd must not follow a link planted in its place.
    let md = fs::symlink_metadata(dir).map_err(io_error(dir))?;
    if !md.is_dir() || (md.uid() != 0 && md.uid() != nix::unistd::geteuid().as_raw()) {
        return Err(Error::SideFile(format!(
            "{} is not a directory owned by root",
            dir.display()
        )));
    }
    if md.mode() & 0o022 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(io_error(dir))?;
    }
    let stamp = dir.join(STAMP);
    if fs::read_to_string(&stamp).is_ok_and(|s| s == content_hash) {
        return Ok(0);
    }

    let mut wanted: HashMap<String, String> = HashMap::new();
    for_each_user(&mut |u| {
        if u.active && u.can_login && !u.principals.is_empty() {
            wanted.insert(u.uid.to_string(), content(u.principals));
        }
    });

    let mut changes = 0;
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name();
        let path = entry.path();
        let keep = name.to_str().and_then(|n| wanted.remove_entry(n));
        match keep {
            Some((name, want)) => {
                let is_file = entry.file_type().is_ok_and(|t| t.is_file());
                if !is_file || fs::read(&path).ok().as_deref() != Some(want.as_bytes()) {
                    if !is_file {
                        remove(&path)?;
                    }
                    replace(dir, &name, want.as_bytes())?;
                    changes += 1;
                }
            }
            None if name == STAMP => {}
            None => {
                remove(&path)?;
                changes += 1;
            }
        }
    }
    for (name, want) in &wanted {
        replace(dir, name, want.as_bytes())?;
        changes += 1;
    }
    replace(dir, STAMP, content_hash.as_bytes())?;
    Ok(changes)
}

/// Removes a file, link or (unexpected) directory tree without following links.
fn remove(path: &Path) -> Result<()> {
    let is_dir = fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    let result = if is_dir {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(path)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(
        name: &'a str,
        uid: u32,
        active: bool,
        can_login: bool,
        principals: &'a [&'a str],
    ) -> UserRow<'a> {
        UserRow {
            name,
            uid,
            gid: uid,
            gecos: "",
            home: "/home/x",
            shell: "/bin/sh",
            active,
            can_login,
            can_sudo: false,
            directory_id: "id",
            directory_name: name,
            emails: &[],
            ssh_keys: &[],
            principals,
            group_ids: &[],
        }
    }

    fn listing(dir: &Path) -> Vec<(String, String)> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                (name, fs::read_to_string(e.path()).unwrap_or_default())
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn one_file_per_user_allowed_to_log_in_and_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("principals");
        let users = [
            row("alice", 5001, true, true, &["alice", "alice@example.com"]),
            row("bob", 5002, false, true, &["bob"]),
            row("carol", 5003, true, false, &["carol"]),
            row("dave", 5004, true, true, &[]),
        ];
        let update = |hash: &str, users: &[UserRow<'_>]| {
            update_principals(&dir, hash, |f| users.iter().for_each(f)).unwrap()
        };
        assert_eq!(update("h1", &users), 1);
        assert_eq!(
            listing(&dir),
            [
                (".snapshot".into(), "h1".into()),
                ("5001".into(), "alice\nalice@example.com\n".into())
            ]
        );
        let md = fs::metadata(dir.join("5001")).unwrap();
        assert_eq!(md.mode() & 0o777, 0o644);
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o755);

        // The same snapshot again: nothing is read beyond the stamp, nothing written.
        fs::write(dir.join("5001"), "tampered\n").unwrap();
        assert_eq!(update("h1", &users), 0);
        assert_eq!(fs::read_to_string(dir.join("5001")).unwrap(), "tampered\n");

        // alice deactivated, bob back: her file goes, his comes; strays are removed.
        fs::write(dir.join("stray"), "x").unwrap();
        let outside = tmp.path().join("outside");
        fs::write(&outside, "untouched").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("5002")).unwrap();
        fs::create_dir(dir.join("5009")).unwrap();
        let users = [
            row("alice", 5001, false, true, &["alice"]),
            row("bob", 5002, true, true, &["bob"]),
        ];
        assert_eq!(update("h2", &users), 4);
        assert_eq!(
            listing(&dir),
            [
                (".snapshot".into(), "h2".into()),
                ("5002".into(), "bob\n".into())
            ]
        );
        assert!(!fs::symlink_metadata(dir.join("5002")).unwrap().is_symlink());
        assert_eq!(fs::read_to_string(&outside).unwrap(), "untouched");
    }

    #[test]
    fn a_link_in_place_of_the_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("elsewhere");
        fs::create_dir(&target).unwrap();
        let dir = tmp.path().join("principals");
        std::os::unix::fs::symlink(&target, &dir).unwrap();
        let users = [row("alice", 5001, true, true, &["alice"])];
        assert!(update_principals(&dir, "h", |f| users.iter().for_each(f)).is_err());
        assert!(fs::read_dir(&target).unwrap().next().is_none());
    }
}
