//! Point lookups, initgroups, packing limits, broken caches and reopening.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use libc::{c_char, c_int, EAGAIN, EIO, ENOENT, ERANGE};
use libnss::interop::NssStatus::{self, NotFound, Success, TryAgain, Unavail};
use nss_usher::handle::{close_thread_handle, with_reader, Config};
use nss_usher::status::Fail;
use std::ffi::CString;
use std::mem::size_of;
use std::time::Duration;

#[test]
fn getpwnam_and_getpwuid_found_and_not_found() {
    let dir = TempDir::new();
    let snap = basic();
    publish(&dir.cache(), &snap, 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    for u in &snap.users {
        let (s, _, e) = getpwnam(&cfg, &u.name);
        assert_eq!(s, Success);
        assert_eq!(e.unwrap(), pw_of_user(u));
        let (s, _, e) = getpwuid(&cfg, u.uid);
        assert_eq!(s, Success);
        assert_eq!(e.unwrap(), pw_of_user(u));
    }
    assert_eq!(getpwnam(&cfg, "mallory"), (NotFound, ENOENT, None));
    assert_eq!(getpwnam(&cfg, ""), (NotFound, ENOENT, None));
    assert_eq!(getpwnam(&cfg, "ALICE"), (NotFound, ENOENT, None));
    assert_eq!(getpwuid(&cfg, 0), (NotFound, ENOENT, None));
    assert_eq!(getpwuid(&cfg, 20001), (NotFound, ENOENT, None));
    assert_eq!(getpwuid(&cfg, u32::MAX), (NotFound, ENOENT, None));
}

#[test]
fn getgrnam_and_getgrgid_found_and_not_found() {
    let dir = TempDir::new();
    let snap = basic();
    publish(&dir.cache(), &snap, 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    let dev = Gr {
        name: "dev".into(),
        passwd: "*".into(),
        gid: 20001,
        members: vec!["alice".into(), "bob".into()],
    };
    assert_eq!(getgrnam(&cfg, "dev"), (Success, -12345, Some(dev.clone())));
    assert_eq!(getgrgid(&cfg, 20001), (Success, -12345, Some(dev)));
    // Members come back sorted, and may name accounts the cache does not hold.
    let (_, _, ops) = getgrgid(&cfg, 20002);
    assert_eq!(ops.unwrap().members, vec!["bob", "carol", "localadmin"]);
    // A user-private group has no members: an array holding only NULL.
    let (s, _, alice) = getgrnam(&cfg, "alice");
    assert_eq!(s, Success);
    let alice = alice.unwrap();
    assert_eq!((alice.gid, alice.members.len()), (10001, 0));
    assert_eq!(alice.passwd, "*");
    assert_eq!(getgrnam(&cfg, "wheel"), (NotFound, ENOENT, None));
    assert_eq!(getgrgid(&cfg, 0), (NotFound, ENOENT, None));
    assert_eq!(getgrgid(&cfg, 10004), (NotFound, ENOENT, None));
}

#[test]
fn passwords_are_always_a_star() {
    let dir = TempDir::new();
    let snap = basic();
    publish(&dir.cache(), &snap, 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    for u in &snap.users {
        assert_eq!(getpwnam(&cfg, &u.name).2.unwrap().passwd, "*");
    }
    for g in &snap.groups {
        assert_eq!(getgrgid(&cfg, g.gid).2.unwrap().passwd, "*");
    }
}

#[test]
fn names_that_are_not_utf8_are_not_found() {
    let dir = TempDir::new();
    publish(&dir.cache(), &basic(), 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    assert_eq!(getpwnam_bytes(&cfg, b"al\xffice"), (NotFound, ENOENT, None));
    assert_eq!(getpwnam_bytes(&cfg, b"\xc3"), (NotFound, ENOENT, None));
    assert_eq!(getgrnam_bytes(&cfg, b"d\xe9v"), (NotFound, ENOENT, None));
    let (s, e, groups, _) = {
        let user = CString::new(&b"b\xffb"[..]).unwrap();
        unsafe {
            let mut groups = libc::malloc(4 * size_of::<u32>()).cast::<u32>();
            groups.write(1);
            let (mut start, mut size) = (1, 4);
            let mut errno = 0;
            let s = nss_usher::lookup::initgroups_dyn(
                &cfg,
                user.as_ptr(),
                1,
                &mut start,
                &mut size,
                &mut groups,
                0,
                &mut errno,
            );
            let got = std::slice::from_raw_parts(groups, start as usize).to_vec();
            libc::free(groups.cast());
            (s, errno, got, size)
        }
    };
    assert_eq!((s, e, groups), (NotFound, ENOENT, vec![1]));
}

#[test]
fn entries_with_a_nul_byte_are_never_truncated() {
    let dir = TempDir::new();
    let mut snap = basic();
    snap.users.push(user("root\0evil", 10009));
    snap.groups.push(group("wheel\0x", 20009, &["alice"]));
    snap.groups
        .push(group("mixed", 20010, &["alice", "root\0evil"]));
    publish(&dir.cache(), &snap, 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    // Refused, by the reader (a name failing the name rules: UNAVAIL for that lookup) or by the
    // packer (a member that cannot be a C string: the entry is absent); never served.
    fn refused<T>((s, e, entry): (NssStatus, c_int, Option<T>)) -> bool {
        entry.is_none() && matches!((s, e), (NotFound, ENOENT) | (Unavail, libc::EIO))
    }
    assert!(refused(getpwuid(&cfg, 10009)));
    assert!(refused(getgrgid(&cfg, 20009)));
    assert!(refused(getgrgid(&cfg, 20010)));
    assert_eq!(getpwnam(&cfg, "root"), (NotFound, ENOENT, None));
    // Never ERANGE for them, however small the buffer (glibc would grow it forever).
    let mut out = empty_passwd();
    let mut buf = buffer(8);
    let mut errno = 0;
    let s = unsafe {
        nss_usher::lookup::getpwuid_r(
            &cfg,
            10009,
            &mut out,
            buf.as_mut_ptr().cast(),
            0,
            &mut errno,
        )
    };
    assert!(
        matches!((s, errno), (NotFound, ENOENT) | (Unavail, libc::EIO)),
        "{s:?} {errno}"
    );
}

fn passwd_into(cfg: &Config<'_>, name: &str, buf: *mut c_char, len: usize) -> (NssStatus, c_int) {
    let name = CString::new(name).unwrap();
    let mut out = empty_passwd();
    let mut errno = 0;
    let s = unsafe {
        nss_usher::lookup::getpwnam_r(cfg, name.as_ptr(), &mut out, buf, len, &mut errno)
    };
    if s == Success {
        assert_eq!(unsafe { cstring(out.name) }, name.to_str().unwrap());
    }
    (s, errno)
}

#[test]
fn passwd_erange_for_every_size_below_the_needed_one() {
    let dir = TempDir::new();
    let mut u = user("alice", 10001);
    u.gecos = "Alice Liddell,Room 1,,".into();
    u.home = "/home/a/very/deep/home/directory/alice".into();
    u.shell = "/usr/bin/zsh".into();
    publish(&dir.cache(), &snapshot(vec![u.clone()], vec![]), 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    let needed = [&u.name, "*", &u.gecos, &u.home, &u.shell]
        .iter()
        .map(|s| s.len() + 1)
        .sum::<usize>();
    let mut storage = buffer(needed + 64);
    let buf = storage.as_mut_ptr().cast::<c_char>();
    for len in 0..needed {
        assert_eq!(
            passwd_into(&cfg, "alice", buf, len),
            (TryAgain, ERANGE),
            "len {len}"
        );
    }
    assert_eq!(passwd_into(&cfg, "alice", buf, needed).0, Success);
    // Nothing was written past the needed size, and the whole buffer was not cleared.
    let bytes = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), needed + 64) };
    assert!(bytes[needed..].iter().all(|&b| b == 0xA5));
    // A null buffer of size zero is just too small.
    assert_eq!(
        passwd_into(&cfg, "alice", std::ptr::null_mut(), 0),
        (TryAgain, ERANGE)
    );
}

fn group_into(
    cfg: &Config<'_>,
    gid: u32,
    buf: *mut c_char,
    len: usize,
) -> (NssStatus, c_int, Option<Gr>) {
    let mut out = empty_group();
    let mut errno = 0;
    let s = unsafe { nss_usher::lookup::getgrgid_r(cfg, gid, &mut out, buf, len, &mut errno) };
    let e = (s == Success).then(|| unsafe { read_gr(&out) });
    (s, errno, e)
}

#[test]
fn group_with_many_members_erange_for_every_size_below_the_needed_one() {
    let dir = TempDir::new();
    let users: Vec<_> = (0..300)
        .map(|i| user(&format!("member{i:03}"), 11000 + i))
        .collect();
    let names: Vec<String> = users.iter().map(|u| u.name.clone()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let big = group("everyone-in-the-company", 30000, &refs);
    publish(&dir.cache(), &snapshot(users, vec![big.clone()]), 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    let ptr = size_of::<*mut c_char>();
    let strings: usize = names.iter().map(|n| n.len() + 1).sum::<usize>() + big.name.len() + 1 + 2;
    let needed = (names.len() + 1) * ptr + strings;
    let mut storage = buffer(needed + 64);
    // At every misalignment of the buffer's start, the array still lands pointer-aligned.
    for shift in 0..ptr {
        let buf = unsafe { storage.as_mut_ptr().cast::<c_char>().add(shift) };
        let pad = (ptr - shift) % ptr;
        let lens: Box<dyn Iterator<Item = usize>> = if shift == 0 {
            Box::new(0..needed + pad)
        } else {
            Box::new((0..needed + pad).step_by(7).chain([needed + pad - 1]))
        };
        for len in lens {
            let (s, e, _) = group_into(&cfg, 30000, buf, len);
            assert_eq!((s, e), (TryAgain, ERANGE), "shift {shift} len {len}");
        }
        let (s, _, g) = group_into(&cfg, 30000, buf, needed + pad);
        assert_eq!(s, Success, "shift {shift}");
        let g = g.unwrap();
        assert_eq!(g.members, names);
        assert_eq!(g.name, big.name);
    }
}

#[test]
fn initgroups_adds_memberships_skipping_skipgroup_and_duplicates() {
    let dir = TempDir::new();
    let snap = snapshot(
        vec![user("alice", 10001), user("bob", 10002)],
        (0..40)
            .map(|i| group(&format!("g{i}"), 20000 + i, &["alice"]))
            .chain([group("bobs", 21000, &["bob", "localadmin"])])
            .collect(),
    );
    publish(&dir.cache(), &snap, 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    let all: Vec<u32> = (20000..20040).collect();

    // glibc's usual call: the primary group at [0], skipgroup = that group.
    let (s, _, got, size) = initgroups(&cfg, "alice", 10001, &[10001], 16, 0);
    assert_eq!(s, Success);
    assert_eq!(got[0], 10001);
    let mut added = got[1..].to_vec();
    added.sort();
    assert_eq!(added, all);
    assert!(size >= 41);

    // skipgroup is one of the memberships; two others are already present.
    let (s, _, got, _) = initgroups(&cfg, "alice", 20005, &[10001, 20007, 20030], 3, 0);
    assert_eq!(s, Success);
    assert_eq!(&got[..3], &[10001, 20007, 20030]);
    let mut added = got[3..].to_vec();
    added.sort();
    let expect: Vec<u32> = all
        .iter()
        .copied()
        .filter(|g| ![20005, 20007, 20030].contains(g))
        .collect();
    assert_eq!(added, expect);

    // Growth from a one-slot array.
    let (s, _, got, size) = initgroups(&cfg, "alice", 10001, &[10001], 1, 0);
    assert_eq!(s, Success);
    assert_eq!(got.len(), 41);
    assert!(size as usize >= got.len());

    // A limit: the array never grows beyond it and extra groups are dropped.
    let (s, _, got, size) = initgroups(&cfg, "alice", 10001, &[10001], 2, 10);
    assert_eq!(s, Success);
    assert_eq!(got.len(), 10);
    assert_eq!(size, 10);
    // Already full at the limit: nothing added.
    let (s, _, got, size) = initgroups(&cfg, "alice", 10001, &[10001, 5], 2, 2);
    assert_eq!((s, got, size), (Success, vec![10001, 5], 2));
}

#[test]
fn initgroups_status_follows_whether_the_cache_knows_the_user() {
    let dir = TempDir::new();
    let snap = snapshot(
        vec![user("alice", 10001), user("lonely", 10005)],
        vec![group("ops", 20002, &["alice", "localadmin"])],
    );
    publish(&dir.cache(), &snap, 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    // Known, no memberships: SUCCESS with nothing added.
    let (s, _, got, _) = initgroups(&cfg, "lonely", 10005, &[10005], 4, 0);
    assert_eq!((s, got), (Success, vec![10005]));
    // Unknown and in no group.
    let (s, e, got, _) = initgroups(&cfg, "nobody-here", 100, &[100], 4, 0);
    assert_eq!((s, e, got), (NotFound, ENOENT, vec![100]));
    // A local account listed in a directory group (the daemon never writes that): NOTFOUND, and
    // no directory gid is granted to it.
    let (s, e, got, _) = initgroups(&cfg, "localadmin", 0, &[0], 4, 0);
    assert_eq!((s, e, got), (NotFound, ENOENT, vec![0]));
}

#[test]
fn initgroups_never_grants_directory_groups_to_a_local_name_whatever_the_handle_state() {
    let dir = TempDir::new();
    let snap = snapshot(
        vec![user("alice", 10001), user("bert", 10002)],
        vec![group("ops", 20002, &["alice", "bert"])],
    );
    publish(&dir.cache(), &snap, 1);
    let cache = dir.cache();
    let passwd = dir.path().join("passwd");
    std::fs::write(&passwd, "root:x:0:0::/root:/bin/sh\n").unwrap();
    let cfg = Config {
        local_passwd: &passwd,
        ..Config::eager(&cache)
    };
    close_thread_handle();
    // bert is a directory user for now: the cache answers.
    let (s, _, got, _) = initgroups(&cfg, "bert", 10002, &[10002], 4, 0);
    assert_eq!((s, got), (Success, vec![10002, 20002]));
    assert_eq!(getgrnam(&cfg, "ops").2.unwrap().members, ["alice", "bert"]);
    assert_eq!(fds_under(dir.path()).len(), 1, "the handle is open");
    // bert is made a local account after the sync (useradd renames a new passwd file into
    // place): with the handle open, he gets nothing from the cache any more...
    let tmp = dir.path().join("passwd.new");
    std::fs::write(
        &tmp,
        "root:x:0:0::/root:/bin/sh\nbert:x:1002:1002::/home/bert:/bin/sh\n",
    )
    .unwrap();
    std::fs::rename(&tmp, &passwd).unwrap();
    let (s, e, got, _) = initgroups(&cfg, "bert", 1002, &[1002], 4, 0);
    assert_eq!((s, e, got), (NotFound, ENOENT, vec![1002]));
    // ...and the member lists no longer name him (pam_succeed_if's `ingroup` reads them).
    assert_eq!(getgrnam(&cfg, "ops").2.unwrap().members, ["alice"]);
    assert_eq!(getgrgid(&cfg, 20002).2.unwrap().members, ["alice"]);
    // ...also when the file is edited in place, and on every later call.
    let (s, e, got, _) = initgroups(&cfg, "bert", 1002, &[1002], 4, 0);
    assert_eq!((s, e, got), (NotFound, ENOENT, vec![1002]));
    // The directory user next to him is answered as before.
    let (s, _, got, _) = initgroups(&cfg, "alice", 10001, &[10001], 4, 0);
    assert_eq!((s, got), (Success, vec![10001, 20002]));
    // Without a handle, a local name never opens the cache.
    close_thread_handle();
    let (s, e, got, _) = initgroups(&cfg, "bert", 1002, &[1002], 4, 0);
    assert_eq!((s, e, got), (NotFound, ENOENT, vec![1002]));
    assert!(fds_under(dir.path()).is_empty(), "the cache was not opened");
    // The account removed again: the cache answers for the name once more.
    std::fs::write(&passwd, "root:x:0:0::/root:/bin/sh\n").unwrap();
    let (s, _, got, _) = initgroups(&cfg, "bert", 10002, &[10002], 4, 0);
    assert_eq!((s, got), (Success, vec![10002, 20002]));
    assert_eq!(getgrnam(&cfg, "ops").2.unwrap().members, ["alice", "bert"]);
    close_thread_handle();
}

#[test]
fn initgroups_with_an_unreadable_passwd_file_grants_nothing() {
    let dir = TempDir::new();
    publish(&dir.cache(), &basic(), 1);
    let cache = dir.cache();
    // A directory where the passwd file should be: it cannot be read.
    let cfg = Config {
        local_passwd: dir.path(),
        ..Config::eager(&cache)
    };
    let (s, e, got, _) = initgroups(&cfg, "alice", 10001, &[10001], 4, 0);
    assert_eq!((s, e, got), (Unavail, libc::EIO, vec![10001]));
    // Group lookups too: whether a member is a local account is unknown.
    assert_eq!(getgrnam(&cfg, "dev").0, Unavail);
    // A missing one holds no accounts.
    let missing = dir.path().join("no-passwd");
    let cfg = Config {
        local_passwd: &missing,
        ..Config::eager(&cache)
    };
    let (s, _, got, _) = initgroups(&cfg, "alice", 10001, &[10001], 4, 0);
    assert_eq!((s, got), (Success, vec![10001, 20001]));
}

/// Every kind of call, in every order, after a revocation: each answers from the new snapshot
/// once the interval has passed, whichever call noticed the change first.
#[test]
fn a_revocation_reaches_every_call_in_every_order() {
    type Call = fn(&Config<'_>) -> bool;
    // Each returns whether it still sees bob's membership of ops (or bob).
    let calls: [(&str, Call); 5] = [
        ("initgroups", |cfg| {
            initgroups(cfg, "bob", 10002, &[10002], 4, 0)
                .2
                .contains(&20002)
        }),
        ("getgrnam", |cfg| {
            getgrnam(cfg, "ops")
                .2
                .is_some_and(|g| g.members.iter().any(|m| m == "bob"))
        }),
        ("getgrgid", |cfg| {
            getgrgid(cfg, 20002)
                .2
                .is_some_and(|g| g.members.iter().any(|m| m == "bob"))
        }),
        ("getpwnam", |cfg| getpwnam(cfg, "carol").0 == Success),
        ("getpwuid", |cfg| getpwuid(cfg, 10003).0 == Success),
    ];
    let interval = Duration::from_millis(150);
    for first in 0..calls.len() {
        for second in 0..calls.len() {
            let dir = TempDir::new();
            let path = dir.cache();
            publish(&path, &basic(), 1);
            let cfg = Config {
                recheck_interval: interval,
                ..Config::eager(&path)
            };
            close_thread_handle();
            for (name, call) in &calls {
                assert!(call(&cfg), "{name} before the revocation");
            }
            // bob leaves ops, carol is removed.
            publish(
                &path,
                &snapshot(
                    vec![user("alice", 10001), user("bob", 10002)],
                    vec![
                        group("dev", 20001, &["alice", "bob"]),
                        group("ops", 20002, &[]),
                    ],
                ),
                2,
            );
            std::thread::sleep(interval + Duration::from_millis(50));
            let order = [first, second]
                .into_iter()
                .chain((0..calls.len()).filter(|i| *i != first && *i != second));
            for i in order {
                let (name, call) = calls[i];
                assert!(
                    !call(&cfg),
                    "{name} answered from the old snapshot (first {}, second {})",
                    calls[first].0,
                    calls[second].0
                );
            }
            close_thread_handle();
        }
    }
}

#[test]
fn broken_caches_answer_unavail_and_never_panic() {
    let dir = TempDir::new();
    let path = dir.cache();
    let cfg = Config::eager(&path);
    let check = |what: &str| {
        assert_eq!(getpwnam(&cfg, "alice"), (Unavail, ENOENT, None), "{what}");
        assert_eq!(getpwuid(&cfg, 10001), (Unavail, ENOENT, None), "{what}");
        assert_eq!(getgrnam(&cfg, "dev"), (Unavail, ENOENT, None), "{what}");
        assert_eq!(getgrgid(&cfg, 20001), (Unavail, ENOENT, None), "{what}");
        let (s, e, got, _) = initgroups(&cfg, "alice", 10001, &[10001], 4, 0);
        assert_eq!((s, e, got), (Unavail, ENOENT, vec![10001]), "{what}");
        assert!(fds_under(dir.path()).is_empty(), "{what}: no fd left open");
    };
    check("missing file");
    replace(&path, b"");
    check("empty file");
    let garbage: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    replace(&path, &garbage);
    check("garbage");
    let mut fake = b"SQLite format 3\0".to_vec();
    fake.extend_from_slice(&garbage);
    replace(&path, &fake);
    check("garbage with an SQLite header");

    // Truncations of a real snapshot that cut into the header or the first pages.
    publish(&path, &basic(), 1);
    let good = std::fs::read(&path).unwrap();
    for len in [1, 15, 16, 50, 99, 100, 101, 512, 4095, 4096] {
        replace(&path, &good[..len.min(good.len() - 1)]);
        check(&format!("truncated to {len} bytes"));
    }

    // A well-formed snapshot of another schema version (user_version lives at offset 60).
    let current = u32::try_from(usher_cache::SCHEMA_VERSION).unwrap();
    for version in [0u32, 1, 2, current - 1, current + 1, 999, u32::MAX] {
        let mut other = good.clone();
        other[60..64].copy_from_slice(&version.to_be_bytes());
        replace(&path, &other);
        check(&format!("user_version {version}"));
    }
    // A directory where the file should be.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    check("a directory");
    std::fs::remove_dir(&path).unwrap();

    // And the same path works once a good snapshot is there.
    publish(&path, &basic(), 2);
    assert_eq!(getpwnam(&cfg, "alice").0, Success);
}

#[test]
fn every_truncation_is_unavail_or_a_correct_answer() {
    // Cut a real snapshot at every 256 bytes. Cut at a page boundary, SQLite sees that the file
    // is shorter than its header says and the open fails: UNAVAIL. Cut inside the last page, the
    // missing tail reads as zeros, which SQLite cannot always tell from data (see the report):
    // there a lookup may also miss; it never panics and never hands out a wrong entry.
    let dir = TempDir::new();
    let path = dir.cache();
    let users: Vec<_> = (0..400)
        .map(|i| user(&format!("user{i:04}"), 10000 + i))
        .collect();
    let snap = snapshot(users, vec![group("all", 30000, &["user0001", "user0399"])]);
    publish(&path, &snap, 1);
    let good = std::fs::read(&path).unwrap();
    let page = usize::from(u16::from_be_bytes([good[16], good[17]]));
    assert_eq!(good.len() % page, 0);
    let cfg = Config::eager(&path);
    for len in (0..good.len()).step_by(256) {
        replace(&path, &good[..len]);
        let aligned = len % page == 0;
        for name in ["user0000", "user0200", "user0399", "nobody"] {
            let (s, e, got) = getpwnam(&cfg, name);
            match s {
                Unavail => assert!(e == ENOENT || e == EIO, "len {len} errno {e}"),
                _ if aligned => panic!("len {len}: {s:?} for {name}"),
                Success => assert_eq!(got.unwrap().name, name),
                NotFound => assert_eq!(e, ENOENT),
                other => panic!("len {len}: {other:?}"),
            }
        }
        let (s, _, g) = getgrgid(&cfg, 30000);
        match s {
            Unavail => {}
            _ if aligned => panic!("len {len}: {s:?} for the group"),
            Success => assert_eq!(g.unwrap().name, "all"),
            NotFound => {}
            other => panic!("len {len}: {other:?}"),
        }
    }
    replace(&path, &good);
    assert_eq!(getpwnam(&cfg, "user0399").0, Success);
}

#[test]
fn a_failed_query_drops_the_handle_and_the_next_call_reopens() {
    let dir = TempDir::new();
    let path = dir.cache();
    let users: Vec<_> = (0..2000)
        .map(|i| user(&format!("user{i:04}"), 10000 + i))
        .collect();
    publish(&path, &snapshot(users, vec![]), 1);
    let good = std::fs::read(&path).unwrap();
    let page = usize::from(u16::from_be_bytes([good[16], good[17]]));
    // Zero one page at a time (after the schema page): the open still succeeds (it reads the
    // header, the schema and `meta`), a lookup that needs the damaged page fails mid-query.
    let cfg = Config::eager(&path);
    let mut seen_eio = 0;
    for p in 1..good.len() / page {
        let mut damaged = good.clone();
        damaged[p * page..(p + 1) * page].fill(0);
        replace(&path, &damaged);
        for uid in [10000, 11000, 11999] {
            let (s, e, got) = getpwuid(&cfg, uid);
            match (s, e) {
                (Unavail, EIO) => {
                    seen_eio += 1;
                    assert!(
                        fds_under(dir.path()).is_empty(),
                        "the handle is dropped after a failed query"
                    );
                }
                (Unavail, ENOENT) => {} // the open itself failed
                (Success, _) => assert_eq!(got.unwrap().uid, uid),
                other => panic!("page {p} uid {uid}: {other:?}"),
            }
        }
    }
    assert!(seen_eio > 0, "some damage opens but fails the query");
    replace(&path, &good);
    assert_eq!(getpwuid(&cfg, 11999).0, Success);
}

#[test]
fn a_new_snapshot_is_seen_after_rename() {
    let dir = TempDir::new();
    let path = dir.cache();
    publish(&path, &basic(), 1);
    let cfg = Config::eager(&path);
    assert_eq!(getpwnam(&cfg, "alice").0, Success);
    assert_eq!(getpwnam(&cfg, "dave").0, NotFound);
    publish(&path, &snapshot(vec![user("dave", 10004)], vec![]), 2);
    assert_eq!(getpwnam(&cfg, "dave").2.unwrap().uid, 10004);
    assert_eq!(getpwnam(&cfg, "alice").0, NotFound);
    // Only the new file is held open: the old handle was closed when it was replaced.
    let fds = fds_under(dir.path());
    assert_eq!(fds.len(), 1, "{fds:?}");
    assert!(!fds[0].1.ends_with("(deleted)"), "{fds:?}");
    // Removing the snapshot: UNAVAIL, and the handle on the removed file is closed.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(getpwnam(&cfg, "dave"), (Unavail, ENOENT, None));
    assert!(fds_under(dir.path()).is_empty());
}

#[test]
fn a_warm_handle_rechecks_the_path_only_after_its_interval() {
    let dir = TempDir::new();
    let path = dir.cache();
    publish(&path, &basic(), 1);
    let cfg = Config {
        path: &path,
        recheck_interval: Duration::from_millis(300),
        ..Config::eager(&path)
    };
    assert_eq!(getpwnam(&cfg, "alice").0, Success);
    publish(&path, &snapshot(vec![user("dave", 10004)], vec![]), 2);
    // Within the interval the old snapshot still answers (no stat per lookup)...
    assert_eq!(getpwnam(&cfg, "alice").0, Success);
    std::thread::sleep(Duration::from_millis(400));
    // ...and after it the new one does.
    assert_eq!(getpwnam(&cfg, "alice").0, NotFound);
    assert_eq!(getpwnam(&cfg, "dave").0, Success);
}

#[test]
fn the_system_config_uses_the_compiled_in_path_and_a_one_second_interval() {
    let cfg = Config::system();
    assert_eq!(cfg.path.to_str(), Some(usher_cache::DEFAULT_CACHE_PATH));
    assert_eq!(cfg.recheck_interval, Duration::from_secs(1));
}

#[test]
fn cache_fds_are_close_on_exec() {
    let dir = TempDir::new();
    publish(&dir.cache(), &basic(), 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    assert_eq!(getpwnam(&cfg, "alice").0, Success);
    assert_eq!(getgrnam(&cfg, "dev").0, Success);
    let fds = fds_under(dir.path());
    assert!(!fds.is_empty(), "the handle holds the cache open");
    for (fd, target) in fds {
        let flags = fd_flags(fd);
        assert_ne!(
            flags & 0o2_000_000,
            0,
            "fd {fd} on {target}: flags {flags:o}"
        );
        assert_eq!(flags & 0o3, libc::O_RDONLY as u32, "read-only: {flags:o}");
    }
    close_thread_handle();
    assert!(fds_under(dir.path()).is_empty());
}

#[test]
fn each_thread_has_its_own_handle_and_closes_it_on_exit() {
    let dir = TempDir::new();
    publish(&dir.cache(), &basic(), 1);
    let path = dir.cache();
    let root = dir.path().to_path_buf();
    // A plain join waits for the thread's TLS destructors (a scope's end does not).
    std::thread::spawn(move || {
        let cfg = Config::eager(&path);
        assert_eq!(getpwnam(&cfg, "bob").0, Success);
        assert_eq!(fds_under(&root).len(), 1);
    })
    .join()
    .unwrap();
    assert!(fds_under(dir.path()).is_empty(), "closed with the thread");
}

#[test]
fn reentrance_is_refused_not_recursed() {
    let dir = TempDir::new();
    publish(&dir.cache(), &basic(), 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    let inner = with_reader(&cfg, |_outer| {
        // A lookup made from inside a query on the same thread (as if SQLite called back into
        // NSS) must not touch the borrowed handle.
        let (s, e, _) = getpwnam(&cfg, "alice");
        Ok((s, e))
    });
    assert_eq!(inner, Ok((Unavail, EAGAIN)));
    assert_eq!(
        with_reader(&cfg, |_| Ok(with_reader(&cfg, |r| r.user_by_uid(10001)))),
        Ok(Err(Fail::UNAVAIL_BUSY))
    );
    // And the handle still works afterwards.
    assert_eq!(getpwnam(&cfg, "alice").0, Success);
}

#[test]
fn null_pointers_from_the_caller_are_refused() {
    let dir = TempDir::new();
    publish(&dir.cache(), &basic(), 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    let name = CString::new("alice").unwrap();
    let mut out = empty_passwd();
    let mut buf = buffer(1024);
    let mut errno = 0;
    unsafe {
        let s = nss_usher::lookup::getpwnam_r(
            &cfg,
            std::ptr::null(),
            &mut out,
            buf.as_mut_ptr().cast(),
            1024,
            &mut errno,
        );
        assert_eq!((s, errno), (Unavail, libc::EINVAL));
        let s = nss_usher::lookup::getpwnam_r(
            &cfg,
            name.as_ptr(),
            std::ptr::null_mut(),
            buf.as_mut_ptr().cast(),
            1024,
            &mut errno,
        );
        assert_eq!((s, errno), (Unavail, libc::EINVAL));
        let s = nss_usher::lookup::getpwnam_r(
            &cfg,
            name.as_ptr(),
            &mut out,
            std::ptr::null_mut(),
            1024,
            &mut errno,
        );
        assert_eq!((s, errno), (Unavail, libc::EINVAL));
        // A null errnop is tolerated.
        let s = nss_usher::lookup::getpwnam_r(
            &cfg,
            name.as_ptr(),
            &mut out,
            buf.as_mut_ptr().cast(),
            1024,
            std::ptr::null_mut(),
        );
        assert_eq!(s, Success);
        let s = nss_usher::lookup::getpwuid_r(
            &cfg,
            4242,
            &mut out,
            buf.as_mut_ptr().cast(),
            1024,
            std::ptr::null_mut(),
        );
        assert_eq!(s, NotFound);
    }
}

#[test]
fn exported_functions_answer_from_the_system_path() {
    // The system cache is whatever this machine has; only its absence is asserted on.
    let present = std::path::Path::new(usher_cache::DEFAULT_CACHE_PATH).exists();
    let name = CString::new("no-such-user-usher-test").unwrap();
    let mut out = empty_passwd();
    let mut buf = buffer(1024);
    let mut errno = 0;
    let s = unsafe {
        nss_usher::_nss_usher_getpwnam_r(
            name.as_ptr(),
            &mut out,
            buf.as_mut_ptr().cast(),
            1024,
            &mut errno,
        )
    };
    if present {
        assert!(s == NotFound as c_int || s == Unavail as c_int);
    } else {
        assert_eq!((s, errno), (Unavail as c_int, ENOENT));
    }
    assert_eq!(nss_usher::_nss_usher_setpwent(0), Success as c_int);
    assert_eq!(nss_usher::_nss_usher_endpwent(), Success as c_int);
    assert_eq!(nss_usher::_nss_usher_setgrent(1), Success as c_int);
    assert_eq!(nss_usher::_nss_usher_endgrent(), Success as c_int);
}
