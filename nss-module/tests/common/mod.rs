//! Shared by the integration tests: temp dirs, snapshots, and safe wrappers around the module's
//! functions that return owned values.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use libc::{c_char, c_int, c_long, gid_t};
use libnss::group::CGroup;
use libnss::interop::NssStatus;
use libnss::passwd::CPasswd;
use nss_usher::enumerate::Enumeration;
use nss_usher::handle::Config;
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use usher_cache::{Group, GroupEntry, GroupScan, Meta, PasswdEntry, Snapshot, User, UserScan};

/// A private directory removed on drop (no tempfile crate: keeps the lock file untouched).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let mut template = std::env::temp_dir()
            .join("usher-nss-test.XXXXXX")
            .into_os_string()
            .into_encoded_bytes();
        template.push(0);
        let p = unsafe { libc::mkdtemp(template.as_mut_ptr().cast::<c_char>()) };
        assert!(!p.is_null(), "mkdtemp failed");
        template.pop();
        TempDir(PathBuf::from(String::from_utf8(template).unwrap()))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn cache(&self) -> PathBuf {
        self.0.join("cache.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn user(name: &str, uid: u32) -> User {
    User {
        name: name.into(),
        uid,
        gid: uid,
        gecos: format!("{name} (directory user)"),
        home: format!("/home/{name}"),
        shell: "/bin/bash".into(),
        active: true,
        can_login: true,
        can_sudo: false,
        directory_id: format!("id-{uid}"),
        directory_name: format!("{name}@example.com"),
        emails: vec![format!("{name}@example.com")],
        ssh_keys: vec![],
        principals: vec![],
    }
}

pub fn group(name: &str, gid: u32, members: &[&str]) -> Group {
    Group {
        name: name.into(),
        gid,
        directory_id: Some(format!("gid-{gid}")),
        members: members.iter().map(|m| (*m).into()).collect(),
    }
}

/// A user-private group for each user, plus the given groups.
pub fn snapshot(users: Vec<User>, mut groups: Vec<Group>) -> Snapshot {
    for u in &users {
        if !groups.iter().any(|g| g.gid == u.gid) {
            groups.push(Group {
                name: u.name.clone(),
                gid: u.gid,
                directory_id: None,
                members: vec![],
            });
        }
    }
    Snapshot { users, groups }
}

pub fn publish(path: &Path, snap: &Snapshot, generation: u64) {
    let meta = Meta {
        generation,
        built_at: 1_700_000_000,
        source: "test".into(),
        content_hash: snap.content_hash(),
    };
    usher_cache::publish(path, snap, &meta).unwrap();
}

/// The basic fixture: alice (10001), bob (10002), carol (10003); groups dev (20001: alice, bob)
/// and ops (20002: bob, carol, and the local account "localadmin").
pub fn basic() -> Snapshot {
    snapshot(
        vec![
            user("alice", 10001),
            user("bob", 10002),
            user("carol", 10003),
        ],
        vec![
            group("dev", 20001, &["alice", "bob"]),
            group("ops", 20002, &["bob", "carol", "localadmin"]),
        ],
    )
}

/// An 8-aligned buffer of at least `len` bytes, filled with a marker.
pub fn buffer(len: usize) -> Vec<u64> {
    vec![0xA5A5_A5A5_A5A5_A5A5; len / 8 + 2]
}

pub unsafe fn cstring(p: *const c_char) -> String {
    assert!(!p.is_null());
    CStr::from_ptr(p).to_str().unwrap().to_owned()
}

pub fn empty_passwd() -> CPasswd {
    CPasswd {
        name: std::ptr::null_mut(),
        passwd: std::ptr::null_mut(),
        uid: u32::MAX,
        gid: u32::MAX,
        gecos: std::ptr::null_mut(),
        dir: std::ptr::null_mut(),
        shell: std::ptr::null_mut(),
    }
}

pub fn empty_group() -> CGroup {
    CGroup {
        name: std::ptr::null_mut(),
        passwd: std::ptr::null_mut(),
        gid: u32::MAX,
        members: std::ptr::null_mut(),
    }
}

/// A passwd entry as C sees it, with the password field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pw {
    pub name: String,
    pub passwd: String,
    pub uid: u32,
    pub gid: u32,
    pub gecos: String,
    pub home: String,
    pub shell: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gr {
    pub name: String,
    pub passwd: String,
    pub gid: u32,
    pub members: Vec<String>,
}

pub unsafe fn read_pw(p: &CPasswd) -> Pw {
    Pw {
        name: cstring(p.name),
        passwd: cstring(p.passwd),
        uid: p.uid,
        gid: p.gid,
        gecos: cstring(p.gecos),
        home: cstring(p.dir),
        shell: cstring(p.shell),
    }
}

pub unsafe fn read_gr(g: &CGroup) -> Gr {
    let mut members = Vec::new();
    assert!(!g.members.is_null());
    assert_eq!(g.members as usize % std::mem::align_of::<*mut c_char>(), 0);
    let mut i = 0;
    while !(*g.members.add(i)).is_null() {
        members.push(cstring(*g.members.add(i)));
        i += 1;
    }
    Gr {
        name: cstring(g.name),
        passwd: cstring(g.passwd),
        gid: g.gid,
        members,
    }
}

pub fn pw_of(e: &PasswdEntry) -> Pw {
    Pw {
        name: e.name.clone(),
        passwd: "*".into(),
        uid: e.uid,
        gid: e.gid,
        gecos: e.gecos.clone(),
        home: e.home.clone(),
        shell: e.shell.clone(),
    }
}

pub fn pw_of_user(u: &User) -> Pw {
    Pw {
        name: u.name.clone(),
        passwd: "*".into(),
        uid: u.uid,
        gid: u.gid,
        gecos: u.gecos.clone(),
        home: u.home.clone(),
        shell: u.shell.clone(),
    }
}

pub fn gr_of(e: &GroupEntry) -> Gr {
    Gr {
        name: e.name.clone(),
        passwd: "*".into(),
        gid: e.gid,
        members: e.members.clone(),
    }
}

/// The status and errno of one call, with the entry when it succeeded.
pub type Answer<T> = (NssStatus, c_int, Option<T>);

const BUFLEN: usize = 64 * 1024;
const UNSET: c_int = -12345;

pub fn getpwnam_bytes(cfg: &Config<'_>, name: &[u8]) -> Answer<Pw> {
    let name = CString::new(name).unwrap();
    let mut out = empty_passwd();
    let mut buf = buffer(BUFLEN);
    let mut errno = UNSET;
    unsafe {
        let s = nss_usher::lookup::getpwnam_r(
            cfg,
            name.as_ptr(),
            &mut out,
            buf.as_mut_ptr().cast(),
            BUFLEN,
            &mut errno,
        );
        let e = (s == NssStatus::Success).then(|| read_pw(&out));
        (s, errno, e)
    }
}

pub fn getpwnam(cfg: &Config<'_>, name: &str) -> Answer<Pw> {
    getpwnam_bytes(cfg, name.as_bytes())
}

pub fn getpwuid(cfg: &Config<'_>, uid: u32) -> Answer<Pw> {
    let mut out = empty_passwd();
    let mut buf = buffer(BUFLEN);
    let mut errno = UNSET;
    unsafe {
        let s = nss_usher::lookup::getpwuid_r(
            cfg,
            uid,
            &mut out,
            buf.as_mut_ptr().cast(),
            BUFLEN,
            &mut errno,
        );
        let e = (s == NssStatus::Success).then(|| read_pw(&out));
        (s, errno, e)
    }
}

pub fn getgrnam_bytes(cfg: &Config<'_>, name: &[u8]) -> Answer<Gr> {
    let name = CString::new(name).unwrap();
    let mut out = empty_group();
    let mut buf = buffer(BUFLEN);
    let mut errno = UNSET;
    unsafe {
        let s = nss_usher::lookup::getgrnam_r(
            cfg,
            name.as_ptr(),
            &mut out,
            buf.as_mut_ptr().cast(),
            BUFLEN,
            &mut errno,
        );
        let e = (s == NssStatus::Success).then(|| read_gr(&out));
        (s, errno, e)
    }
}

pub fn getgrnam(cfg: &Config<'_>, name: &str) -> Answer<Gr> {
    getgrnam_bytes(cfg, name.as_bytes())
}

pub fn getgrgid(cfg: &Config<'_>, gid: u32) -> Answer<Gr> {
    let mut out = empty_group();
    let mut buf = buffer(BUFLEN);
    let mut errno = UNSET;
    unsafe {
        let s = nss_usher::lookup::getgrgid_r(
            cfg,
            gid,
            &mut out,
            buf.as_mut_ptr().cast(),
            BUFLEN,
            &mut errno,
        );
        let e = (s == NssStatus::Success).then(|| read_gr(&out));
        (s, errno, e)
    }
}

pub fn getpwent(cfg: &Config<'_>, en: &Enumeration<UserScan>, buflen: usize) -> Answer<Pw> {
    let mut out = empty_passwd();
    let mut buf = buffer(buflen);
    let mut errno = UNSET;
    unsafe {
        let s = nss_usher::enumerate::getpwent_r(
            cfg,
            en,
            &mut out,
            buf.as_mut_ptr().cast(),
            buflen,
            &mut errno,
        );
        let e = (s == NssStatus::Success).then(|| read_pw(&out));
        (s, errno, e)
    }
}

pub fn getgrent(cfg: &Config<'_>, en: &Enumeration<GroupScan>, buflen: usize) -> Answer<Gr> {
    let mut out = empty_group();
    let mut buf = buffer(buflen);
    let mut errno = UNSET;
    unsafe {
        let s = nss_usher::enumerate::getgrent_r(
            cfg,
            en,
            &mut out,
            buf.as_mut_ptr().cast(),
            buflen,
            &mut errno,
        );
        let e = (s == NssStatus::Success).then(|| read_gr(&out));
        (s, errno, e)
    }
}

/// Runs initgroups_dyn on a malloc'ed array holding `init` with capacity `cap`.
/// Returns (status, errno, groups, size).
pub fn initgroups(
    cfg: &Config<'_>,
    user: &str,
    skip: gid_t,
    init: &[gid_t],
    cap: usize,
    limit: c_long,
) -> (NssStatus, c_int, Vec<gid_t>, c_long) {
    let user = CString::new(user).unwrap();
    unsafe {
        let mut groups = libc::malloc(cap.max(1) * std::mem::size_of::<gid_t>()).cast::<gid_t>();
        assert!(!groups.is_null());
        for (i, g) in init.iter().enumerate() {
            groups.add(i).write(*g);
        }
        let mut start = init.len() as c_long;
        let mut size = cap as c_long;
        let mut errno = UNSET;
        let s = nss_usher::lookup::initgroups_dyn(
            cfg,
            user.as_ptr(),
            skip,
            &mut start,
            &mut size,
            &mut groups,
            limit,
            &mut errno,
        );
        let got = std::slice::from_raw_parts(groups, start as usize).to_vec();
        libc::free(groups.cast());
        (s, errno, got, size)
    }
}

/// The fds of this process whose link points into `dir` (deleted files included).
pub fn fds_under(dir: &Path) -> Vec<(i32, String)> {
    let prefix = dir.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let target = target.to_string_lossy().into_owned();
            if target.starts_with(&prefix) {
                out.push((fd, target));
            }
        }
    }
    out.sort();
    out
}

/// The `flags:` field of /proc/self/fdinfo/FD, as a number (it is printed in octal).
pub fn fd_flags(fd: i32) -> u32 {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap();
    let line = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .expect("fdinfo has flags");
    u32::from_str_radix(line.trim(), 8).unwrap()
}

/// Puts `bytes` at `path` as a new file (a new inode, renamed over the old one, as a publish
/// does), so handles on the old file notice the change.
pub fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("replace-tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
