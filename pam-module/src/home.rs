//! Creating a home directory on first login, without following symlinks an attacker may plant.
//!
//! The path is walked one component at a time from the home root with `openat(O_DIRECTORY |
//! O_NOFOLLOW | O_CLOEXEC)`: a symlink anywhere below the root refuses the creation. The home root
//! itself (module argument `home_root`, default `/home`) is opened normally, since root configures
//! it, so `/home -> var/home` layouts (Fedora Atomic, FreeBSD-style) keep working. Missing
//! directories between the root and the home are created root-owned (mode 0755 less the umask).
//!
//! The home is made with `mkdirat(0700)` on the parent's descriptor, populated from the skel
//! directory while it is still root-owned, and only then handed to the user with `fchown` and
//! `fchmod(0700)` through its own descriptor. Skel entries are copied without following symlinks
//! (a symlink is copied as a symlink), with their permission bits less setuid/setgid/sticky,
//! owned by the user; other file types (fifos, devices, sockets) are skipped. An existing home (or
//! anything else at that path) is never touched.

use std::ffi::{CStr, CString, OsStr};
use std::fmt;
use std::fs::File;
use std::io;
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

fn open_path_dir(path: &Path) -> io::Result<OwnedFd> {
    let c = cstring(path.as_os_str())?;
    // SAFETY: c is a valid C string; the returned descriptor is owned by the OwnedFd.
    let fd = check(unsafe {
        libc::open(
            c.as_ptr(),
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

fn kind_of(st: &libc::stat) -> &'static str {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => "directory",
        libc::S_IFLNK => "symlink",
        libc::S_IFREG => "regular file",
        _ => "special file",
    }
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

/// Walks from `root_fd` through `parts` (all but the last are directories to traverse, created
/// root-owned when missing), returning the descriptor of the home's parent directory.
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
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                    Err(e) => return Err(HomeOutcome::Failed(format!("mkdir {shown}: {e}"))),
                }
                fd = open_dir_at(fd.as_raw_fd(), &name)
                    .map_err(|e| classify(fd.as_raw_fd(), &name, shown, e))?;
            }
            Err(e) => return Err(classify(fd.as_raw_fd(), &name, shown, e)),
        }
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

/// Makes sure `home` exists, creating it from `skel` for `uid`:`gid` if it does not. See the
/// module documentation for what is refused.
pub fn ensure_home(home: &Path, home_root: &Path, skel: &Path, uid: u32, gid: u32) -> HomeOutcome {
    let Some(root_parts) = normal_components(home_root) else {
        return HomeOutcome::Refused(format!(
            "home_root {} is not an absolute, normalised path",
            home_root.display()
        ));
    };
    if root_parts.is_empty() {
        return HomeOutcome::Refused("home_root must not be /".into());
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
    if uid == 0 || gid == 0 {
        return HomeOutcome::Refused(format!(
            "uid {uid} / gid {gid}: will not create a home owned by root"
        ));
    }
    let root_fd = match open_path_dir(home_root) {
        Ok(fd) => fd,
        Err(e) => {
            return HomeOutcome::Failed(format!("open home root {}: {e}", home_root.display()))
        }
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
        // Made by someone else since the stat: theirs, left alone.
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => return HomeOutcome::Exists,
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
    use std::os::unix::fs::{symlink, PermissionsExt};

    const UID: u32 = 54321;
    const GID: u32 = 54322;

    struct Fixture {
        _dir: tempfile::TempDir,
        root: std::path::PathBuf,
        skel: std::path::PathBuf,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("home");
        let skel = dir.path().join("skel");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(&skel).unwrap();
        std::fs::write(skel.join(".bashrc"), "# bashrc\n").unwrap();
        std::fs::set_permissions(skel.join(".bashrc"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        std::fs::write(skel.join("secret"), "s\n").unwrap();
        std::fs::set_permissions(skel.join("secret"), std::fs::Permissions::from_mode(0o4750))
            .unwrap();
        std::fs::create_dir_all(skel.join(".config/app")).unwrap();
        std::fs::write(skel.join(".config/app/conf"), "x=1\n").unwrap();
        symlink("/etc/passwd", skel.join("link-out")).unwrap();
        symlink(".bashrc", skel.join("link-in")).unwrap();
        Fixture {
            _dir: dir,
            root,
            skel,
        }
    }

    fn am_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn creates_from_skel_with_mode_and_owner() {
        let f = fixture();
        let home = f.root.join("alice");
        let out = ensure_home(&home, &f.root, &f.skel, UID, GID);
        if !am_root() {
            // Without privileges the chown fails after the copy.
            assert!(matches!(out, HomeOutcome::Failed(_)), "{out:?}");
            return;
        }
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
        if !am_root() {
            return;
        }
        let f = fixture();
        let home = f.root.join("eng/alice");
        let out = ensure_home(&home, &f.root, &f.skel, UID, GID);
        assert_eq!(
            out,
            HomeOutcome::Created {
                skel_errors: vec![]
            }
        );
        let mid = std::fs::symlink_metadata(f.root.join("eng")).unwrap();
        assert!(mid.is_dir());
        assert_eq!(mid.uid(), 0);
        assert_eq!(std::fs::symlink_metadata(&home).unwrap().uid(), UID);
    }

    #[test]
    fn missing_skel_gives_an_empty_home() {
        if !am_root() {
            return;
        }
        let f = fixture();
        let home = f.root.join("bob");
        let out = ensure_home(&home, &f.root, &f.root.join("no-skel"), UID, GID);
        assert_eq!(
            out,
            HomeOutcome::Created {
                skel_errors: vec![]
            }
        );
        assert_eq!(std::fs::read_dir(&home).unwrap().count(), 0);
    }

    #[test]
    fn leaves_an_existing_home_alone() {
        let f = fixture();
        let home = f.root.join("alice");
        std::fs::create_dir(&home).unwrap();
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(home.join("mine"), "keep").unwrap();
        if am_root() {
            std::os::unix::fs::chown(&home, Some(UID), Some(GID)).unwrap();
        }
        let before = std::fs::symlink_metadata(&home).unwrap();
        let owner = before.uid();
        let out = ensure_home(&home, &f.root, &f.skel, owner + 1, GID);
        assert_eq!(out, HomeOutcome::ExistsOtherOwner(owner));
        if owner != 0 {
            let out = ensure_home(&home, &f.root, &f.skel, owner, GID);
            assert_eq!(out, HomeOutcome::Exists);
        }
        let after = std::fs::symlink_metadata(&home).unwrap();
        assert_eq!(after.mode(), before.mode());
        assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
        assert!(!home.join(".bashrc").exists());
        assert_eq!(std::fs::read_to_string(home.join("mine")).unwrap(), "keep");
    }

    #[test]
    fn leaves_an_existing_symlink_home_alone() {
        let f = fixture();
        let target = f.root.parent().unwrap().join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        symlink(&target, f.root.join("alice")).unwrap();
        let out = ensure_home(&f.root.join("alice"), &f.root, &f.skel, UID, GID);
        assert_eq!(out, HomeOutcome::ExistsNotDir("symlink"));
        assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
        let md = std::fs::symlink_metadata(&target).unwrap();
        assert_ne!(md.uid(), UID);
    }

    #[test]
    fn refuses_a_symlink_component() {
        let f = fixture();
        let target = f.root.parent().unwrap().join("victim");
        std::fs::create_dir(&target).unwrap();
        symlink(&target, f.root.join("eng")).unwrap();
        let out = ensure_home(&f.root.join("eng/alice"), &f.root, &f.skel, UID, GID);
        assert!(
            matches!(&out, HomeOutcome::Refused(why) if why.contains("symlink")),
            "{out:?}"
        );
        assert!(!target.join("alice").exists());
        // A file where a directory should be is refused too.
        std::fs::write(f.root.join("plain"), "").unwrap();
        let out = ensure_home(&f.root.join("plain/alice"), &f.root, &f.skel, UID, GID);
        assert!(
            matches!(&out, HomeOutcome::Refused(why) if why.contains("regular file")),
            "{out:?}"
        );
    }

    #[test]
    fn refuses_paths_outside_the_root() {
        let f = fixture();
        let root = &f.root;
        let parent = root.parent().unwrap();
        let cases = [
            parent.join("alice"),
            root.clone(),
            std::path::PathBuf::from(format!("{}/../alice", root.display())),
            std::path::PathBuf::from(format!("{}/./alice", root.display())),
            std::path::PathBuf::from(format!("{}/alice/..", root.display())),
            std::path::PathBuf::from(format!("{}x/alice", root.display())),
            std::path::PathBuf::from("relative/alice"),
            std::path::PathBuf::from("/etc/alice"),
        ];
        for home in cases {
            let out = ensure_home(&home, root, &f.skel, UID, GID);
            assert!(
                matches!(out, HomeOutcome::Refused(_)),
                "{}: {out:?}",
                home.display()
            );
        }
        assert!(!parent.join("alice").exists());
        assert!(!std::path::PathBuf::from(format!("{}x", root.display())).exists());
    }

    #[test]
    fn refuses_bad_roots_and_root_ids() {
        let f = fixture();
        let home = f.root.join("alice");
        for root in ["/", "relative", "/home/../home"] {
            let out = ensure_home(&home, Path::new(root), &f.skel, UID, GID);
            assert!(matches!(out, HomeOutcome::Refused(_)), "{root}: {out:?}");
        }
        assert!(matches!(
            ensure_home(&home, &f.root, &f.skel, 0, GID),
            HomeOutcome::Refused(_)
        ));
        assert!(matches!(
            ensure_home(&home, &f.root, &f.skel, UID, 0),
            HomeOutcome::Refused(_)
        ));
        assert!(!home.exists());
    }

    #[test]
    fn missing_root_is_a_failure_not_a_refusal() {
        let f = fixture();
        let root = f.root.join("nope");
        let out = ensure_home(&root.join("alice"), &root, &f.skel, UID, GID);
        assert!(matches!(out, HomeOutcome::Failed(_)), "{out:?}");
        assert!(!root.exists());
    }

    #[test]
    fn home_root_may_itself_be_a_symlink() {
        if !am_root() {
            return;
        }
        let f = fixture();
        let link = f.root.parent().unwrap().join("home-link");
        symlink(&f.root, &link).unwrap();
        let out = ensure_home(&link.join("carol"), &link, &f.skel, UID, GID);
        assert!(matches!(out, HomeOutcome::Created { .. }), "{out:?}");
        assert!(f.root.join("carol/.bashrc").exists());
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
