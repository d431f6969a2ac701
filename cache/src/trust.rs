//! Whether a cache file can be trusted: only when nobody but root could have written it.
//!
//! Every directory from `/` down to the one holding the file must be a real directory (not a
//! symlink) owned by root and not writable by group or others — above the file's own directory a
//! sticky directory such as `/tmp` is accepted, since there nobody else may rename root's entries.
//! The file itself is opened without following a symlink (and without blocking, should it be a
//! FIFO), and the open descriptor must be a regular file owned by root and not writable by group
//! or others.
//!
//! SQLite opens the file by its path, not by our descriptor. That is the same file because only
//! root can change what the path names once the directories are checked, and `Reader::open` checks
//! after SQLite's open that the path still names the inode our descriptor holds: the descriptor
//! keeps that inode alive, so its number cannot have been reused by another file in between.

use crate::{Error, Result};
use std::fs::{File, Metadata, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

/// Group- or other-writable.
const WRITABLE_BY_OTHERS: u32 = 0o022;
const STICKY: u32 = 0o1000;

fn untrusted(what: String) -> Error {
    Error::Untrusted(what)
}

/// `path` made absolute against the working directory (which the kernel reports without
/// symlinks).
fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|source| Error::Io {
        path: ".".into(),
        source,
    })?;
    Ok(cwd.join(path))
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Checks one directory on the way to the file; `holds_file` for the file's own directory.
fn check_dir(dir: &Path, md: &Metadata, holds_file: bool) -> Result<()> {
    if md.file_type().is_symlink() {
        return Err(untrusted(format!(
            "{} is a symlink: the cache's directories must be real directories owned by root",
            dir.display()
        )));
    }
    if !md.is_dir() {
        return Err(untrusted(format!("{} is not a directory", dir.display())));
    }
    if md.uid() != 0 {
        return Err(untrusted(format!(
            "directory {} is owned by uid {}, not root",
            dir.display(),
            md.uid()
        )));
    }
    let mode = md.mode() & 0o7777;
    let sticky_ok = !holds_file && mode & STICKY != 0;
    if mode & WRITABLE_BY_OTHERS != 0 && !sticky_ok {
        return Err(untrusted(format!(
            "directory {} is writable by group or others (mode {mode:04o})",
            dir.display()
        )));
    }
    Ok(())
}

/// Checks the open cache file's owner and mode.
pub(crate) fn check_file(path: &Path, md: &Metadata) -> Result<()> {
    if !md.is_file() {
        return Err(untrusted(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    if md.uid() != 0 {
        return Err(untrusted(format!(
            "{} is owned by uid {}, not root",
            path.display(),
            md.uid()
        )));
    }
    let mode = md.mode() & 0o7777;
    if mode & WRITABLE_BY_OTHERS != 0 {
        return Err(untrusted(format!(
            "{} is writable by group or others (mode {mode:04o})",
            path.display()
        )));
    }
    Ok(())
}

/// Opens the cache file at `path` once its directories are checked, and checks the open file.
/// Returns the open file (to be held until SQLite has opened the path) and its metadata.
pub(crate) fn open_trusted(path: &Path) -> Result<(File, Metadata)> {
    let path = absolute(path)?;
    let Some(parent) = path.parent() else {
        return Err(untrusted(format!("{} is not a file path", path.display())));
    };
    let mut dir = PathBuf::new();
    let mut components = parent.components().peekable();
    while let Some(component) = components.next() {
        match component {
            Component::RootDir | Component::Normal(_) | Component::ParentDir => {
                dir.push(component);
            }
            Component::CurDir | Component::Prefix(_) => continue,
        }
        let md = std::fs::symlink_metadata(&dir).map_err(|e| io(&dir, e))?;
        check_dir(&dir, &md, components.peek().is_none())?;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => untrusted(format!("{} is a symlink", path.display())),
            _ => io(&path, e),
        })?;
    let md = file.metadata().map_err(|e| io(&path, e))?;
    check_file(&path, &md)?;
    Ok((file, md))
}

/// Whether `path` still names the file described by `md` (a live descriptor holds it).
pub(crate) fn still_names(path: &Path, md: &Metadata) -> bool {
    matches!(std::fs::symlink_metadata(path),
        Ok(now) if now.dev() == md.dev() && now.ino() == md.ino())
}
