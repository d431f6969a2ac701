//! Creating a home directory on first login, only where nobody but root could have prepared the
//! path, and never where the home would belong to someone else.
//!
//! The cache's home path is not trusted (the cache may be old or forged), so before anything is
//! created:
//!
//! - the home must be strictly below the home root (module argument `home_root`, default `/home`),
//!   normalised (no `.` or `..`), and neither it nor the home root may be in a system tree
//!   ([`SYSTEM_TREES`]; `/var/home` is allowed, for Fedora Atomic-style layouts);
//! - it must not be equal to, inside, or above the home of any local account, read from the passwd
//!   file directly (never through NSS). Local homes that are the home root or one of its parents
//!   (`/`, `/home` itself) and homes outside the home root (`/nonexistent`, `/usr/sbin`) are not
//!   personal homes below the root and cannot collide with one, so they are not considered;
//! - every directory from `/` down to the home's parent must be owned by root and not writable by
//!   group or others: otherwise a non-root user could have planted or could still swap a
//!   component. A sticky world-writable directory (`/tmp`) is refused too: its owner check would
//!   only hold for names nobody has claimed first. The path is walked from `/` one component at a
//!   time with `openat(O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)` and each directory checked with
//!   `fstat` on its descriptor. Above the home root (which root configures) a symlink is followed
//!   only when it sits in such a checked directory, since then only root could have made it, so
//!   `/home -> var/home` layouts keep working; below the home root a symlink refuses the creation.
//!   Missing directories between the root and the home are created root-owned (mode 0755 less the
//!   umask) with `mkdirat` on the checked parent's descriptor, never by path.
//!
//! The home is made with `mkdirat(0700)` on the parent's descriptor, populated from the skel
//! directory while it is still root-owned, and only then handed to the user with `fchown` and
//! `fchmod(0700)` through its own descriptor. Skel entries are copied without following symlinks
//! (a symlink is copied as a symlink), with their permission bits less setuid/setgid/sticky,
//! owned by the user; other file types (fifos, devices, sockets) are skipped. An existing home (or
//! anything else at that path) is never touched, and one owned by another uid is reported as
//! such ([`HomeOutcome::ExistsOtherOwner`]), never chowned.

use std::ffi::{CStr, CString, OsStr};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path};

/// Skel trees deeper than this are not copied further.
const MAX_SKEL_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HomeOutcome {
    /// A directory owned by the user is there already; left alone.
    Exists,
    /// Something that is not a directory is at the home path (e.g. a symlink an admin made);
    /// left alone.
    ExistsNotDir(&'static str),
    /// A directory owned by another uid (this one) is there; left alone.
    ExistsOtherOwner(u32),
    /// Created; the skel entries that could not be copied, if any.
    Created { skel_errors: Vec<String> },
    /// Not created because of an I/O error (e.g. the home root is missing or read-only).
    Failed(String),
    /// Not created because the path or ids are unsafe or the configuration is wrong.
    Refused(String),
}

impl fmt::Display for HomeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HomeOutcome::Exists => write!(f, "home directory exists"),
            HomeOutcome::ExistsNotDir(kind) => {
                write!(f, "home path exists as a {kind}, left alone")
            }
            HomeOutcome::ExistsOtherOwner(uid) => {
                write!(
                    f,
                    "home directory exists but is owned by uid {uid}, left alone"
                )
            }
            HomeOutcome::Created { skel_errors } if skel_errors.is_empty() => {
                write!(f, "home directory created")
            }
            HomeOutcome::Created { skel_errors } => write!(
                f,
                "home directory created; {} skel entr{} not copied, first: {}",
                skel_errors.len(),
                if skel_errors.len() == 1 { "y" } else { "ies" },
                skel_errors.first().map(String::as_str).unwrap_or("")
            ),
            HomeOutcome::Failed(why) => write!(f, "home directory not created: {why}"),
            HomeOutcome::Refused(why) => write!(f, "home directory creation refused: {why}"),
        }
    }
}

/// Top-level directories no home may be in (or be), whatever the cache says.
pub const SYSTEM_TREES: &[&str] = &[
    "bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "root", "run", "sbin",
    "sys", "usr", "var",
];
/// The one place inside a system tree where homes may live (Fedora Atomic, Silverblue).
const ALLOWED_IN_SYSTEM_TREE: &[&str] = &["var", "home"];

/// Most symlinks followed while opening the home root (the kernel's own limit is 40).
const MAX_ROOT_LINKS: usize = 40;

/// Passwd files larger than this are not read (no real one comes near it).
const MAX_PASSWD_BYTES: u64 = 64 << 20;

/// The normal components of an absolute path with no `.` or `..` anywhere (checked on the raw
/// bytes, since `Path::components` silently drops inner `.`), or `None`.
fn normal_components(path: &Path) -> Option<Vec<&OsStr>> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.first() != Some(&b'/') || bytes.contains(&0) {
        return None;
    }
    if bytes
        .split(|&b| b == b'/')
        .any(|seg| seg == b"." || seg == b"..")
    {
        return None;
    }
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => out.push(n),
            _ => return None,
        }
    }
    Some(out)
}

/// Whether normalised components name a system tree or something inside one.
fn in_system_tree(parts: &[&OsStr]) -> bool {
    let Some(first) = parts.first() else {
        return true; // "/" itself
    };
    if !SYSTEM_TREES.iter().any(|t| OsStr::new(t) == *first) {
        return false;
    }
    let allowed = ALLOWED_IN_SYSTEM_TREE;
    let is_allowed = parts.len() >= allowed.len()
        && parts
            .iter()
            .zip(allowed)
            .all(|(part, want)| *part == OsStr::new(want));
    !is_allowed
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Reads the whole passwd file with a fallible allocation sized by the file.
fn read_passwd(path: &Path) -> io::Result<Vec<u8>> {
    // std opens with O_CLOEXEC.
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len > MAX_PASSWD_BYTES {
        return Err(io::Error::other("larger than 64 MiB"));
    }
    let mut content = Vec::new();
    content
        .try_reserve_exact(usize::try_from(len).unwrap_or(usize::MAX))
        .map_err(|_| io::Error::from_raw_os_error(libc::ENOMEM))?;
    // Never more than what was reserved: a file growing meanwhile cannot make it reallocate.
    file.take(len).read_to_end(&mut content)?;
    Ok(content)
}

/// A local account whose home the directory user's home would collide with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalHomeClash {
    pub account: String,
    pub home: String,
    /// "equal to", "inside" or "above".
    pub relation: &'static str,
}

/// The first local account (in passwd `content`) whose home `home` is equal to, inside or above.
/// Local homes that are not strictly below `home_root` are skipped: `/`, the home root itself and
/// its parents are not personal homes, and a home elsewhere (`/nonexistent`, `/usr/sbin`) cannot
/// contain or be contained in a home below the root.
pub fn local_home_clash(content: &[u8], home: &Path, home_root: &Path) -> Option<LocalHomeClash> {
    for line in content.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if matches!(line.first(), None | Some(b'+') | Some(b'-') | Some(b'#')) {
            continue;
        }
        let mut fields = line.split(|&b| b == b':');
        let name = fields.next().unwrap_or_default();
        let Some(local) = fields.nth(4) else {
            continue;
        };
        let local = Path::new(OsStr::from_bytes(local));
        if !local.is_absolute() || local == home_root || !local.starts_with(home_root) {
            continue;
        }
        let relation = if local == home {
            "equal to"
        } else if home.starts_with(local) {
            "inside"
        } else if local.starts_with(home) {
            "above"
        } else {
            continue;
        };
        return Some(LocalHomeClash {
            account: String::from_utf8_lossy(name).into_owned(),
            home: local.display().to_string(),
            relation,
        });
    }
    None
}

fn open_slash() -> io::Result<OwnedFd> {
    // SAFETY: a valid C string; the returned descriptor is owned by the OwnedFd.
    let fd = check(unsafe {
        libc::open(
            c"/".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: fd was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens the directory `name` under `dir` without following a symlink.
fn open_dir_at(dir: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: dir is an open descriptor, name a valid C string.
    let fd = check(unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: fd was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: an all-zero stat is a valid value; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is an open descriptor, st writable.
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

/// `fstatat(AT_SYMLINK_NOFOLLOW)`; `Ok(None)` when nothing is there.
fn lstat_at(dir: RawFd, name: &CStr) -> io::Result<Option<libc::stat>> {
    // SAFETY: an all-zero stat is a valid value; fstatat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: dir is an open descriptor, name a valid C string, st writable.
    let ret = unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    if ret == 0 {
        return Ok(Some(st));
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ENOENT) {
        Ok(None)
    } else {
        Err(err)
    }
}

/// The target of the symlink `name` in `dir`.
fn read_link_at(dir: RawFd, name: &CStr) -> io::Result<Vec<u8>> {
    let mut buf = [0u8; libc::PATH_MAX as usize];
    // SAFETY: dir is an open descriptor, name a valid C string, buf writable for its length.
    let n = unsafe { libc::readlinkat(dir, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    if n >= buf.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    Ok(buf[..n].to_vec())
}

fn kind_of(st: &libc::stat) -> &'static str {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => "directory",
        libc::S_IFLNK => "symlink",
        libc::S_IFREG => "regular file",
        _ => "special file",
    }
}

/// Refuses a directory a non-root user could have prepared or could still change: owned by
/// another uid, or writable by group or others (sticky or not).
fn check_trusted(fd: RawFd, shown: &str) -> Result<(), HomeOutcome> {
    let st = fstat(fd).map_err(|e| HomeOutcome::Failed(format!("stat {shown}: {e}")))?;
    if st.st_uid != 0 {
        return Err(HomeOutcome::Refused(format!(
            "{shown} is owned by uid {}, not root",
            st.st_uid
        )));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(HomeOutcome::Refused(format!(
            "{shown} is writable by group or others (mode {:o})",
            st.st_mode & 0o7777
        )));
    }
    Ok(())
}

fn mkdir_at(dir: RawFd, name: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: dir is an open descriptor, name a valid C string.
    check(unsafe { libc::mkdirat(dir, name.as_ptr(), mode) }).map(drop)
}

fn fchown_fchmod(fd: RawFd, uid: u32, gid: u32, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: fd is an open descriptor.
    check(unsafe { libc::fchown(fd, uid, gid) })?;
    // SAFETY: fd is an open descriptor.
    check(unsafe { libc::fchmod(fd, mode) }).map(drop)
}

fn join_shown(names: &[Vec<u8>]) -> String {
    if names.is_empty() {
        return "/".into();
    }
    let mut s = String::new();
    for n in names {
        s.push('/');
        s.push_str(&String::from_utf8_lossy(n));
    }
    s
}

/// Opens the home root from `/`, each directory checked with [`check_trusted`]. A symlink on the
/// way is followed (by reading it and walking its target, never by the kernel) only because the
/// directory holding it was checked, so only root could have made it.
fn open_home_root(home_root: &[&OsStr]) -> Result<OwnedFd, HomeOutcome> {
    let slash = open_slash().map_err(|e| HomeOutcome::Failed(format!("open /: {e}")))?;
    check_trusted(slash.as_raw_fd(), "/")?;
    // The open directories from "/" down, and their names (for "..", and for messages).
    let mut dirs = vec![slash];
    let mut names: Vec<Vec<u8>> = Vec::new();
    // Components still to walk, the next one last.
    let mut pending: Vec<Vec<u8>> = home_root
        .iter()
        .rev()
        .map(|c| c.as_bytes().to_vec())
        .collect();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match part.as_slice() {
            b"" | b"." => continue,
            b".." => {
                if dirs.len() > 1 {
                    dirs.pop();
                    names.pop();
                }
                continue;
            }
            _ => {}
        }
        let Some(cur) = dirs.last().map(AsRawFd::as_raw_fd) else {
            return Err(HomeOutcome::Failed("home root walk lost its place".into()));
        };
        let name = CString::new(part.as_slice())
            .map_err(|_| HomeOutcome::Refused("home root has a NUL byte".into()))?;
        names.push(part);
        let shown = join_shown(&names);
        let st = match lstat_at(cur, &name) {
            Ok(Some(st)) => st,
            Ok(None) => {
                return Err(HomeOutcome::Failed(format!(
                    "home root: {shown} is missing"
                )))
            }
            Err(e) => return Err(HomeOutcome::Failed(format!("stat {shown}: {e}"))),
        };
        if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            links += 1;
            if links > MAX_ROOT_LINKS {
                return Err(HomeOutcome::Refused(format!(
                    "home root: more than {MAX_ROOT_LINKS} symlinks"
                )));
            }
            let target = read_link_at(cur, &name)
                .map_err(|e| HomeOutcome::Failed(format!("readlink {shown}: {e}")))?;
            names.pop();
            if target.first() == Some(&b'/') {
                dirs.truncate(1);
                names.clear();
            }
            pending.extend(target.split(|&b| b == b'/').rev().map(<[u8]>::to_vec));
            continue;
        }
        let next = open_dir_at(cur, &name).map_err(|e| classify(cur, &name, &shown, e))?;
        check_trusted(next.as_raw_fd(), &shown)?;
        dirs.push(next);
    }
    dirs.pop()
        .ok_or_else(|| HomeOutcome::Failed("home root walk lost its place".into()))
}

/// Walks from the home root's descriptor through `parts` (directories to traverse, each checked,
/// created root-owned when missing), returning the descriptor of the home's parent directory.
fn open_parent(
    root_fd: OwnedFd,
    parts: &[&OsStr],
    shown: &mut String,
) -> Result<OwnedFd, HomeOutcome> {
    let mut fd = root_fd;
    for part in parts {
        shown.push('/');
        shown.push_str(&part.to_string_lossy());
        let name = cstring(part).map_err(|e| HomeOutcome::Refused(format!("{shown}: {e}")))?;
        match open_dir_at(fd.as_raw_fd(), &name) {
            Ok(next) => fd = next,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                match mkdir_at(fd.as_raw_fd(), &name, 0o755) {
                    Ok(()) => {}
                    // Only root can write in a checked directory: made by root meanwhile.
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                    Err(e) => return Err(HomeOutcome::Failed(format!("mkdir {shown}: {e}"))),
                }
                fd = open_dir_at(fd.as_raw_fd(), &name)
                    .map_err(|e| classify(fd.as_raw_fd(), &name, shown, e))?;
            }
            Err(e) => return Err(classify(fd.as_raw_fd(), &name, shown, e)),
        }
        check_trusted(fd.as_raw_fd(), shown)?;
    }
    Ok(fd)
}

/// Why a directory component could not be opened: a symlink or a non-directory is a refusal,
/// anything else an I/O failure.
fn classify(dir: RawFd, name: &CStr, shown: &str, e: io::Error) -> HomeOutcome {
    if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) {
        let kind = lstat_at(dir, name)
            .ok()
            .flatten()
            .map_or("non-directory", |st| kind_of(&st));
        return HomeOutcome::Refused(format!("{shown} is a {kind}"));
    }
    HomeOutcome::Failed(format!("open {shown}: {e}"))
}

/// Where homes are made and from what.
#[derive(Debug, Clone, Copy)]
pub struct HomePolicy<'a> {
    /// Homes are created strictly below this directory.
    pub home_root: &'a Path,
    /// What a new home is filled from.
    pub skel: &'a Path,
    /// The local accounts (the passwd file, read directly).
    pub passwd: &'a Path,
}

/// Makes sure `home` exists, creating it from the skel for `uid`:`gid` if it does not. See the
/// module documentation for what is refused.
pub fn ensure_home(home: &Path, policy: &HomePolicy<'_>, uid: u32, gid: u32) -> HomeOutcome {
    let home_root = policy.home_root;
    let Some(root_parts) = normal_components(home_root) else {
        return HomeOutcome::Refused(format!(
            "home_root {} is not an absolute, normalised path",
            home_root.display()
        ));
    };
    if in_system_tree(&root_parts) {
        return HomeOutcome::Refused(format!(
            "home_root {} is / or in a system directory",
            home_root.display()
        ));
    }
    let Some(home_parts) = normal_components(home) else {
        return HomeOutcome::Refused(format!(
            "{} is not an absolute, normalised path",
            home.display()
        ));
    };
    if home_parts.len() <= root_parts.len() || home_parts[..root_parts.len()] != root_parts[..] {
        return HomeOutcome::Refused(format!(
            "{} is not below the home root {}",
            home.display(),
            home_root.display()
        ));
    }
    if in_system_tree(&home_parts) {
        return HomeOutcome::Refused(format!("{} is in a system directory", home.display()));
    }
    if uid == 0 || gid == 0 {
        return HomeOutcome::Refused(format!(
            "uid {uid} / gid {gid}: will not create a home owned by root"
        ));
    }
    let passwd = match read_passwd(policy.passwd) {
        Ok(p) => p,
        Err(e) => {
            return HomeOutcome::Failed(format!(
                "local accounts unreadable ({}): {e}",
                policy.passwd.display()
            ))
        }
    };
    if let Some(clash) = local_home_clash(&passwd, home, home_root) {
        return HomeOutcome::Refused(format!(
            "{} is {} the home of local account {} ({})",
            home.display(),
            clash.relation,
            clash.account,
            clash.home
        ));
    }
    drop(passwd);
    let root_fd = match open_home_root(&root_parts) {
        Ok(fd) => fd,
        Err(outcome) => return outcome,
    };
    let below = &home_parts[root_parts.len()..];
    let Some((last, middle)) = below.split_last() else {
        return HomeOutcome::Refused("empty home path".into());
    };
    let mut shown = home_root.display().to_string();
    let parent = match open_parent(root_fd, middle, &mut shown) {
        Ok(fd) => fd,
        Err(outcome) => return outcome,
    };
    let name = match cstring(last) {
        Ok(n) => n,
        Err(e) => return HomeOutcome::Refused(format!("{}: {e}", home.display())),
    };
    match lstat_at(parent.as_raw_fd(), &name) {
        Ok(None) => {}
        Ok(Some(st)) => return existing(&st, uid),
        Err(e) => return HomeOutcome::Failed(format!("stat {}: {e}", home.display())),
    }
    match mkdir_at(parent.as_raw_fd(), &name, 0o700) {
        Ok(()) => {}
        // Only root can write in the checked parent: made by root meanwhile, left alone.
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            return match lstat_at(parent.as_raw_fd(), &name) {
                Ok(Some(st)) => existing(&st, uid),
                _ => HomeOutcome::Failed(format!("{} vanished", home.display())),
            }
        }
        Err(e) => return HomeOutcome::Failed(format!("mkdir {}: {e}", home.display())),
    }
    let home_fd = match open_dir_at(parent.as_raw_fd(), &name) {
        Ok(fd) => fd,
        Err(e) => return HomeOutcome::Failed(format!("open {}: {e}", home.display())),
    };
    // Still root's while it is being filled.
    // SAFETY: home_fd is an open descriptor.
    if let Err(e) = check(unsafe { libc::fchmod(home_fd.as_raw_fd(), 0o700) }) {
        return HomeOutcome::Failed(format!("chmod {}: {e}", home.display()));
    }
    let mut skel_errors = Vec::new();
    let skel = policy.skel;
    match std::fs::symlink_metadata(skel) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => skel_errors.push(format!("{}: {e}", skel.display())),
        Ok(md) if !md.is_dir() => skel_errors.push(format!("{}: not a directory", skel.display())),
        Ok(_) => copy_dir(skel, home_fd.as_raw_fd(), uid, gid, 0, &mut skel_errors),
    }
    if let Err(e) = fchown_fchmod(home_fd.as_raw_fd(), uid, gid, 0o700) {
        return HomeOutcome::Failed(format!("chown {}: {e}", home.display()));
    }
    HomeOutcome::Created { skel_errors }
}

fn existing(st: &libc::stat, uid: u32) -> HomeOutcome {
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        HomeOutcome::ExistsNotDir(kind_of(st))
    } else if st.st_uid != uid {
        HomeOutcome::ExistsOtherOwner(st.st_uid)
    } else {
        HomeOutcome::Exists
    }
}

/// Copies the entries of the directory `src` into the open directory `dst`, owned by uid:gid.
/// Errors are collected; copying goes on with the next entry.
fn copy_dir(src: &Path, dst: RawFd, uid: u32, gid: u32, depth: usize, errors: &mut Vec<String>) {
    if depth >= MAX_SKEL_DEPTH {
        errors.push(format!(
            "{}: skel deeper than {MAX_SKEL_DEPTH} levels",
            src.display()
        ));
        return;
    }
    let entries = match std::fs::read_dir(src) {
        Ok(e) => e,
        Err(e) => {
            errors.push(format!("{}: {e}", src.display()));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                errors.push(format!("{}: {e}", src.display()));
                continue;
            }
        };
        let path = entry.path();
        if let Err(e) = copy_entry(&path, &entry.file_name(), dst, uid, gid, depth, errors) {
            errors.push(format!("{}: {e}", path.display()));
        }
    }
}

fn copy_entry(
    path: &Path,
    file_name: &OsStr,
    dst: RawFd,
    uid: u32,
    gid: u32,
    depth: usize,
    errors: &mut Vec<String>,
) -> io::Result<()> {
    let name = cstring(file_name)?;
    let md = std::fs::symlink_metadata(path)?;
    let mode = md.mode() & 0o777;
    let ft = md.file_type();
    if ft.is_symlink() {
        let target = cstring(std::fs::read_link(path)?.as_os_str())?;
        // SAFETY: valid C strings and an open directory descriptor.
        check(unsafe { libc::symlinkat(target.as_ptr(), dst, name.as_ptr()) })?;
        // SAFETY: as above; AT_SYMLINK_NOFOLLOW changes the link itself.
        check(unsafe { libc::fchownat(dst, name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })?;
    } else if ft.is_dir() {
        mkdir_at(dst, &name, 0o700)?;
        let sub = open_dir_at(dst, &name)?;
        copy_dir(path, sub.as_raw_fd(), uid, gid, depth + 1, errors);
        fchown_fchmod(sub.as_raw_fd(), uid, gid, mode)?;
    } else if ft.is_file() {
        // std opens with O_CLOEXEC; O_NOFOLLOW in case the entry was swapped for a symlink.
        let mut from = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        // SAFETY: valid C string and an open directory descriptor.
        let fd = check(unsafe {
            libc::openat(
                dst,
                name.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0o600 as libc::c_uint,
            )
        })?;
        // SAFETY: fd was just opened and is owned by nobody else.
        let mut to = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        io::copy(&mut from, &mut to)?;
        fchown_fchmod(to.as_raw_fd(), uid, gid, mode)?;
    }
    // fifos, sockets, devices: not copied.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{chown, symlink, PermissionsExt};
    use std::path::PathBuf;

    const UID: u32 = 54321;
    const GID: u32 = 54322;

    struct Fixture {
        _dir: tempfile::TempDir,
        base: PathBuf,
        root: PathBuf,
        skel: PathBuf,
        passwd: PathBuf,
    }

    impl Fixture {
        fn policy(&self) -> HomePolicy<'_> {
            HomePolicy {
                home_root: &self.root,
                skel: &self.skel,
                passwd: &self.passwd,
            }
        }

        fn ensure(&self, home: &Path) -> HomeOutcome {
            ensure_home(home, &self.policy(), UID, GID)
        }

        fn set_passwd(&self, content: &str) {
            std::fs::write(&self.passwd, content).unwrap();
        }
    }

    fn am_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A scratch directory whose every parent is root-owned and not group/other-writable, as the
    /// walk from `/` requires: the test binary's own directory in the cargo target dir (the
    /// system temp dir is world-writable and would be refused). `None` when not root: then no
    /// directory the tests make could pass the owner check.
    fn fixture() -> Option<Fixture> {
        if !am_root() {
            return None;
        }
        let exe = std::env::current_exe().unwrap();
        let dir = tempfile::Builder::new()
            .prefix(".pam-home-test")
            .tempdir_in(exe.parent().unwrap())
            .unwrap();
        let base = dir.path().to_path_buf();
        let mut p = base.clone();
        loop {
            let md = std::fs::metadata(&p).unwrap();
            assert!(
                md.uid() == 0 && md.mode() & 0o022 == 0,
                "{} must be root-owned and not group/other-writable for these tests",
                p.display()
            );
            if !p.pop() {
                break;
            }
        }
        let root = base.join("home");
        let skel = base.join("skel");
        std::fs::create_dir(&root).unwrap();
        chmod(&root, 0o755);
        std::fs::create_dir(&skel).unwrap();
        std::fs::write(skel.join(".bashrc"), "# bashrc\n").unwrap();
        chmod(&skel.join(".bashrc"), 0o644);
        std::fs::write(skel.join("secret"), "s\n").unwrap();
        chmod(&skel.join("secret"), 0o4750);
        std::fs::create_dir_all(skel.join(".config/app")).unwrap();
        std::fs::write(skel.join(".config/app/conf"), "x=1\n").unwrap();
        symlink("/etc/passwd", skel.join("link-out")).unwrap();
        symlink(".bashrc", skel.join("link-in")).unwrap();
        let passwd = base.join("passwd");
        let f = Fixture {
            _dir: dir,
            base,
            root,
            skel,
            passwd,
        };
        f.set_passwd(&format!(
            "root:x:0:0:root:/root:/bin/bash\n\
             nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
             localadmin:x:1000:1000::{}/localadmin:/bin/bash\n",
            f.root.display()
        ));
        Some(f)
    }

    fn refused(out: &HomeOutcome, why: &str) -> bool {
        matches!(out, HomeOutcome::Refused(w) if w.contains(why))
    }

    #[test]
    fn creates_from_skel_with_mode_and_owner() {
        let Some(f) = fixture() else { return };
        let home = f.root.join("alice");
        let out = f.ensure(&home);
        assert_eq!(
            out,
            HomeOutcome::Created {
                skel_errors: vec![]
            }
        );
        let md = std::fs::symlink_metadata(&home).unwrap();
        assert!(md.is_dir());
        assert_eq!(md.mode() & 0o7777, 0o700);
        assert_eq!((md.uid(), md.gid()), (UID, GID));
        let bashrc = std::fs::symlink_metadata(home.join(".bashrc")).unwrap();
        assert_eq!(
            std::fs::read_to_string(home.join(".bashrc")).unwrap(),
            "# bashrc\n"
        );
        assert_eq!(bashrc.mode() & 0o7777, 0o644);
        assert_eq!((bashrc.uid(), bashrc.gid()), (UID, GID));
        // setuid stripped
        let secret = std::fs::symlink_metadata(home.join("secret")).unwrap();
        assert_eq!(secret.mode() & 0o7777, 0o750);
        let conf = home.join(".config/app/conf");
        assert_eq!(std::fs::read_to_string(&conf).unwrap(), "x=1\n");
        for p in [home.join(".config"), home.join(".config/app"), conf] {
            let md = std::fs::symlink_metadata(&p).unwrap();
            assert_eq!((md.uid(), md.gid()), (UID, GID), "{}", p.display());
        }
        // Symlinks copied as symlinks, not followed, owned by the user.
        for (link, target) in [("link-out", "/etc/passwd"), ("link-in", ".bashrc")] {
            let md = std::fs::symlink_metadata(home.join(link)).unwrap();
            assert!(md.file_type().is_symlink());
            assert_eq!(md.uid(), UID);
            assert_eq!(
                std::fs::read_link(home.join(link)).unwrap(),
                Path::new(target)
            );
        }
    }

    #[test]
    fn creates_missing_intermediate_directories_root_owned() {
        let Some(f) = fixture() else { return };
        let home = f.root.join("eng/alice");
        let out = f.ensure(&home);
        assert_eq!(
            out,
            HomeOutcome::Created {
                skel_errors: vec![]
            }
        );
        let mid = std::fs::symlink_metadata(f.root.join("eng")).unwrap();
        assert!(mid.is_dir());
        assert_eq!(mid.uid(), 0);
        assert_eq!(mid.mode() & 0o022, 0);
        assert_eq!(std::fs::symlink_metadata(&home).unwrap().uid(), UID);
    }

    #[test]
    fn missing_skel_gives_an_empty_home() {
        let Some(f) = fixture() else { return };
        let home = f.root.join("bob");
        let policy = HomePolicy {
            skel: &f.root.join("no-skel"),
            ..f.policy()
        };
        let out = ensure_home(&home, &policy, UID, GID);
        assert_eq!(
            out,
            HomeOutcome::Created {
                skel_errors: vec![]
            }
        );
        assert_eq!(std::fs::read_dir(&home).unwrap().count(), 0);
    }

    #[test]
    fn an_existing_home_is_never_chowned() {
        let Some(f) = fixture() else { return };
        let home = f.root.join("alice");
        std::fs::create_dir(&home).unwrap();
        chmod(&home, 0o755);
        std::fs::write(home.join("mine"), "keep").unwrap();
        // Owned by another account (here: uid UID + 1): reported, left exactly as it is.
        chown(&home, Some(UID + 1), Some(GID)).unwrap();
        let before = std::fs::symlink_metadata(&home).unwrap();
        assert_eq!(f.ensure(&home), HomeOutcome::ExistsOtherOwner(UID + 1));
        // Root-owned (an admin's directory, or one left by an old login): the same.
        chown(&home, Some(0), Some(0)).unwrap();
        assert_eq!(f.ensure(&home), HomeOutcome::ExistsOtherOwner(0));
        chown(&home, Some(UID + 1), Some(GID)).unwrap();
        let after = std::fs::symlink_metadata(&home).unwrap();
        assert_eq!(after.mode(), before.mode());
        assert_eq!((after.uid(), after.gid()), (UID + 1, GID));
        assert!(!home.join(".bashrc").exists());
        assert_eq!(std::fs::read_to_string(home.join("mine")).unwrap(), "keep");
        // The user's own: fine, untouched.
        chown(&home, Some(UID), Some(GID)).unwrap();
        assert_eq!(f.ensure(&home), HomeOutcome::Exists);
        assert!(!home.join(".bashrc").exists());
    }

    #[test]
    fn leaves_an_existing_symlink_home_alone() {
        let Some(f) = fixture() else { return };
        let target = f.base.join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        symlink(&target, f.root.join("alice")).unwrap();
        let out = f.ensure(&f.root.join("alice"));
        assert_eq!(out, HomeOutcome::ExistsNotDir("symlink"));
        assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
        let md = std::fs::symlink_metadata(&target).unwrap();
        assert_ne!(md.uid(), UID);
    }

    #[test]
    fn refuses_a_symlink_or_file_component_below_the_root() {
        let Some(f) = fixture() else { return };
        let target = f.base.join("victim");
        std::fs::create_dir(&target).unwrap();
        chmod(&target, 0o755);
        // Even a root-made symlink below the root is refused: only the root's own path may
        // have symlinks.
        symlink(&target, f.root.join("eng")).unwrap();
        let out = f.ensure(&f.root.join("eng/alice"));
        assert!(refused(&out, "symlink"), "{out:?}");
        assert!(!target.join("alice").exists());
        // A file where a directory should be is refused too.
        std::fs::write(f.root.join("plain"), "").unwrap();
        let out = f.ensure(&f.root.join("plain/alice"));
        assert!(refused(&out, "regular file"), "{out:?}");
    }

    #[test]
    fn refuses_a_parent_owned_by_someone_else() {
        let Some(f) = fixture() else { return };
        // An existing directory on the way owned by a user (e.g. someone's home, or one a user
        // made in a directory that was writable once).
        let team = f.root.join("team");
        std::fs::create_dir(&team).unwrap();
        chmod(&team, 0o755);
        chown(&team, Some(UID + 7), Some(GID)).unwrap();
        let out = f.ensure(&team.join("alice"));
        assert!(refused(&out, "owned by uid 54328, not root"), "{out:?}");
        assert!(!team.join("alice").exists());
        // The home root itself owned by a user.
        chown(&f.root, Some(UID + 7), None).unwrap();
        let out = f.ensure(&f.root.join("bob"));
        assert!(refused(&out, "owned by uid 54328"), "{out:?}");
        assert!(!f.root.join("bob").exists());
        // A parent above the home root owned by a user.
        chown(&f.root, Some(0), None).unwrap();
        chown(&f.base, Some(UID + 7), None).unwrap();
        let out = f.ensure(&f.root.join("bob"));
        chown(&f.base, Some(0), None).unwrap();
        assert!(refused(&out, "owned by uid 54328"), "{out:?}");
        assert!(!f.root.join("bob").exists());
    }

    #[test]
    fn refuses_group_or_other_writable_parents() {
        let Some(f) = fixture() else { return };
        let team = f.root.join("team");
        std::fs::create_dir(&team).unwrap();
        // 1777 is /tmp's mode: sticky does not make it safe to build in.
        for mode in [0o775, 0o757, 0o777, 0o1777, 0o1757] {
            chmod(&team, mode);
            let out = f.ensure(&team.join("alice"));
            assert!(
                refused(&out, "writable by group or others"),
                "{mode:o}: {out:?}"
            );
            assert!(!team.join("alice").exists());
            // The same mode on the home root, and on a parent above it.
            for dir in [&f.root, &f.base] {
                chmod(dir, mode);
                let out = f.ensure(&f.root.join("bob"));
                chmod(dir, if dir == &f.root { 0o755 } else { 0o700 });
                assert!(
                    refused(&out, "writable by group or others"),
                    "{} {mode:o}: {out:?}",
                    dir.display()
                );
                assert!(!f.root.join("bob").exists());
            }
        }
        chmod(&team, 0o755);
        assert!(matches!(
            f.ensure(&team.join("alice")),
            HomeOutcome::Created { .. }
        ));
    }

    #[test]
    fn refuses_homes_equal_to_inside_or_above_a_local_home() {
        let Some(f) = fixture() else { return };
        // localadmin's home does not exist yet, or exists root-owned: only the passwd check can
        // tell that these paths are someone else's.
        for exists in [false, true] {
            if exists {
                std::fs::create_dir(f.root.join("localadmin")).unwrap();
                chmod(&f.root.join("localadmin"), 0o755);
            }
            for (home, why) in [
                (
                    "localadmin/bin",
                    "inside the home of local account localadmin",
                ),
                (
                    "localadmin/bin/deep",
                    "inside the home of local account localadmin",
                ),
                (
                    "localadmin",
                    "equal to the home of local account localadmin",
                ),
            ] {
                let out = f.ensure(&f.root.join(home));
                assert!(refused(&out, why), "{home} (exists: {exists}): {out:?}");
                assert!(!f.root.join("localadmin/bin").exists());
            }
        }
        // Above: a local home deeper under the root.
        f.set_passwd(&format!(
            "svc:x:998:998::{}/team/svc/:/usr/sbin/nologin\n",
            f.root.display()
        ));
        let out = f.ensure(&f.root.join("team"));
        assert!(
            refused(&out, "above the home of local account svc"),
            "{out:?}"
        );
        let out = f.ensure(&f.root.join("team/svc/x"));
        assert!(refused(&out, "inside"), "{out:?}");
        assert!(!f.root.join("team").exists());
        // A sibling whose name merely starts the same is not inside.
        assert!(matches!(
            f.ensure(&f.root.join("team2")),
            HomeOutcome::Created { .. }
        ));
    }

    #[test]
    fn local_homes_that_are_not_below_the_root_do_not_count() {
        let Some(f) = fixture() else { return };
        f.set_passwd(&format!(
            "root:x:0:0:root:/:/bin/bash\n\
             daemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n\
             nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n\
             homes:x:5:5::{root}:/usr/sbin/nologin\n\
             above:x:6:6::{base}:/usr/sbin/nologin\n\
             relative:x:7:7::relative/alice:/bin/sh\n\
             empty:x:8:8:::/bin/sh\n\
             +nis::::::\n\
             # alice:x:9:9::{root}/alice:/bin/sh\n\
             short:x:10:10\n",
            root = f.root.display(),
            base = f.base.display()
        ));
        assert!(matches!(
            f.ensure(&f.root.join("alice")),
            HomeOutcome::Created { .. }
        ));
    }

    #[test]
    fn local_home_clash_relations() {
        let root = Path::new("/home");
        let pw = b"root:x:0:0::/:/bin/bash\nla:x:1:1::/home/la/:/bin/sh\r\nsvc:x:2:2::/home/t/svc:/bin/sh\n";
        let clash =
            |h: &str| local_home_clash(pw, Path::new(h), root).map(|c| (c.account, c.relation));
        assert_eq!(clash("/home/la"), Some(("la".into(), "equal to")));
        assert_eq!(clash("/home/la/bin"), Some(("la".into(), "inside")));
        assert_eq!(clash("/home/t"), Some(("svc".into(), "above")));
        assert_eq!(clash("/home/t/svc/x"), Some(("svc".into(), "inside")));
        assert_eq!(clash("/home/lab"), None);
        assert_eq!(clash("/home/t2"), None);
        assert_eq!(clash("/home/alice"), None);
        assert_eq!(local_home_clash(b"", Path::new("/home/la"), root), None);
        assert_eq!(local_home_clash(b"la", Path::new("/home/la"), root), None);
    }

    #[test]
    fn unreadable_local_accounts_create_nothing() {
        let Some(f) = fixture() else { return };
        std::fs::remove_file(&f.passwd).unwrap();
        let out = f.ensure(&f.root.join("alice"));
        assert!(
            matches!(&out, HomeOutcome::Failed(w) if w.contains("local accounts unreadable")),
            "{out:?}"
        );
        assert!(!f.root.join("alice").exists());
    }

    #[test]
    fn refuses_paths_outside_the_root() {
        let Some(f) = fixture() else { return };
        let root = &f.root;
        let cases = [
            f.base.join("alice"),
            root.clone(),
            PathBuf::from(format!("{}/../alice", root.display())),
            PathBuf::from(format!("{}/./alice", root.display())),
            PathBuf::from(format!("{}/alice/..", root.display())),
            PathBuf::from(format!("{}x/alice", root.display())),
            PathBuf::from("relative/alice"),
            PathBuf::from("/etc/alice"),
        ];
        for home in cases {
            let out = f.ensure(&home);
            assert!(
                matches!(out, HomeOutcome::Refused(_)),
                "{}: {out:?}",
                home.display()
            );
        }
        assert!(!f.base.join("alice").exists());
        assert!(!PathBuf::from(format!("{}x", root.display())).exists());
    }

    #[test]
    fn system_trees() {
        let parts = |p: &'static str| normal_components(Path::new(p)).unwrap();
        for p in [
            "/",
            "/etc",
            "/etc/x",
            "/usr/local/home",
            "/var",
            "/var/lib/x",
            "/root",
            "/root/x",
            "/run/user",
            "/boot/x",
            "/lib64/x",
            "/proc/1",
            "/sys/x",
            "/dev/shm/x",
            "/bin/x",
            "/sbin/x",
            "/var/homes/x",
        ] {
            assert!(in_system_tree(&parts(p)), "{p}");
        }
        for p in [
            "/home",
            "/home/alice",
            "/var/home",
            "/var/home/alice",
            "/srv/home",
            "/u/x",
        ] {
            assert!(!in_system_tree(&parts(p)), "{p}");
        }
    }

    #[test]
    fn refuses_bad_roots_system_paths_and_root_ids() {
        let Some(f) = fixture() else { return };
        let home = f.root.join("alice");
        for root in ["/", "relative", "/home/../home"] {
            let policy = HomePolicy {
                home_root: Path::new(root),
                ..f.policy()
            };
            let out = ensure_home(&home, &policy, UID, GID);
            assert!(matches!(out, HomeOutcome::Refused(_)), "{root}: {out:?}");
        }
        for (root, home) in [
            ("/etc", "/etc/sudoers.d"),
            ("/usr/local", "/usr/local/alice"),
            ("/var", "/var/spool/cron"),
            ("/root", "/root/alice"),
        ] {
            let policy = HomePolicy {
                home_root: Path::new(root),
                ..f.policy()
            };
            let out = ensure_home(Path::new(home), &policy, UID, GID);
            assert!(refused(&out, "system directory"), "{root} {home}: {out:?}");
        }
        assert!(matches!(
            ensure_home(&home, &f.policy(), 0, GID),
            HomeOutcome::Refused(_)
        ));
        assert!(matches!(
            ensure_home(&home, &f.policy(), UID, 0),
            HomeOutcome::Refused(_)
        ));
        assert!(!home.exists());
    }

    #[test]
    fn missing_root_is_a_failure_not_a_refusal() {
        let Some(f) = fixture() else { return };
        let root = f.root.join("nope");
        let policy = HomePolicy {
            home_root: &root,
            ..f.policy()
        };
        let out = ensure_home(&root.join("alice"), &policy, UID, GID);
        assert!(matches!(out, HomeOutcome::Failed(_)), "{out:?}");
        assert!(!root.exists());
    }

    #[test]
    fn home_root_may_be_a_symlink_root_made() {
        let Some(f) = fixture() else { return };
        // Absolute and relative (with ..) links, in root-owned directories.
        let abs = f.base.join("home-abs");
        symlink(&f.root, &abs).unwrap();
        std::fs::create_dir(f.base.join("sub")).unwrap();
        chmod(&f.base.join("sub"), 0o755);
        let rel = f.base.join("sub/home-rel");
        symlink("../home", &rel).unwrap();
        for (link, user) in [(&abs, "carol"), (&rel, "dave")] {
            let policy = HomePolicy {
                home_root: link,
                ..f.policy()
            };
            let out = ensure_home(&link.join(user), &policy, UID, GID);
            assert!(matches!(out, HomeOutcome::Created { .. }), "{out:?}");
            assert!(f.root.join(user).join(".bashrc").exists());
        }
    }

    #[test]
    fn home_root_symlink_in_a_user_writable_place_is_refused() {
        let Some(f) = fixture() else { return };
        // A symlink to the real root, but inside a directory a user owns: they could repoint it.
        let userdir = f.base.join("userdir");
        std::fs::create_dir(&userdir).unwrap();
        chmod(&userdir, 0o755);
        chown(&userdir, Some(UID), Some(GID)).unwrap();
        symlink(&f.root, userdir.join("homes")).unwrap();
        let link = userdir.join("homes");
        let policy = HomePolicy {
            home_root: &link,
            ..f.policy()
        };
        let out = ensure_home(&link.join("erin"), &policy, UID, GID);
        assert!(refused(&out, "owned by uid 54321"), "{out:?}");
        assert!(!f.root.join("erin").exists());
        // A link whose target goes through a user's directory.
        let victim = userdir.join("victim");
        std::fs::create_dir(&victim).unwrap();
        chmod(&victim, 0o755);
        let link2 = f.base.join("via-user");
        symlink(&victim, &link2).unwrap();
        let policy = HomePolicy {
            home_root: &link2,
            ..f.policy()
        };
        let out = ensure_home(&link2.join("erin"), &policy, UID, GID);
        assert!(refused(&out, "owned by uid 54321"), "{out:?}");
        assert!(!victim.join("erin").exists());
        // A symlink loop is refused, not followed forever.
        symlink(f.base.join("loop-b"), f.base.join("loop-a")).unwrap();
        symlink(f.base.join("loop-a"), f.base.join("loop-b")).unwrap();
        let la = f.base.join("loop-a");
        let policy = HomePolicy {
            home_root: &la,
            ..f.policy()
        };
        let out = ensure_home(&la.join("erin"), &policy, UID, GID);
        assert!(refused(&out, "symlinks"), "{out:?}");
    }

    #[test]
    fn display_is_one_line() {
        let outcomes = [
            HomeOutcome::Exists,
            HomeOutcome::ExistsNotDir("symlink"),
            HomeOutcome::ExistsOtherOwner(3),
            HomeOutcome::Created {
                skel_errors: vec![],
            },
            HomeOutcome::Created {
                skel_errors: vec!["a".into(), "b".into()],
            },
            HomeOutcome::Failed("x".into()),
            HomeOutcome::Refused("y".into()),
        ];
        for o in outcomes {
            assert!(!o.to_string().contains('\n'));
        }
    }
}
