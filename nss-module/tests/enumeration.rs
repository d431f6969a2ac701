//! setpwent/getpwent_r/endpwent and the group trio.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use libc::{ENOENT, ERANGE};
use libnss::interop::NssStatus::{NotFound, Success, TryAgain, Unavail};
use nss_usher::enumerate::{endent, setent, Enumeration};
use nss_usher::handle::Config;
use std::time::Duration;
use usher_cache::{GroupScan, UserScan};

/// Enumerates everything, alternating a buffer too small for the next entry with one that fits.
fn all_users(cfg: &Config<'_>, en: &Enumeration<UserScan>) -> Vec<Pw> {
    let mut got = Vec::new();
    let mut small = true;
    loop {
        // 4 bytes never hold an entry (the name alone plus "*" needs more).
        let len = if small { 4 } else { 4096 };
        let (s, e, entry) = getpwent(cfg, en, len);
        match (s, small) {
            (TryAgain, true) => {
                assert_eq!(e, ERANGE);
                small = false;
            }
            (Success, false) => {
                got.push(entry.unwrap());
                small = true;
            }
            (NotFound, _) => {
                assert_eq!(e, ENOENT);
                break;
            }
            other => panic!("unexpected {other:?} after {} entries", got.len()),
        }
    }
    got
}

#[test]
fn thousand_users_in_name_order_across_chunks_with_erange_half_the_time() {
    let dir = TempDir::new();
    // Published out of order, with gaps in the uids.
    let mut users: Vec<_> = (0..1000u32)
        .map(|i| {
            user(
                &format!("u{:04}", (i * 7919) % 1000),
                10000 + ((i * 7919) % 1000) * 3,
            )
        })
        .collect();
    users.reverse();
    let snap = snapshot(users.clone(), vec![]);
    publish(&dir.cache(), &snap, 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    let en = Enumeration::new();
    setent(&en);
    let got = all_users(&cfg, &en);
    let mut expect: Vec<Pw> = users.iter().map(pw_of_user).collect();
    expect.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(got.len(), 1000);
    assert_eq!(got, expect, "no entry skipped or repeated, in name order");
    // The end stays the end until setpwent.
    assert_eq!(getpwent(&cfg, &en, 4096), (NotFound, ENOENT, None));
    assert_eq!(getpwent(&cfg, &en, 4096), (NotFound, ENOENT, None));
    setent(&en);
    assert_eq!(getpwent(&cfg, &en, 4096).2.unwrap(), expect[0]);
    endent(&en);
    // After endpwent the next getpwent starts over.
    assert_eq!(getpwent(&cfg, &en, 4096).2.unwrap(), expect[0]);
}

#[test]
fn erange_on_every_size_keeps_the_position() {
    let dir = TempDir::new();
    let snap = basic();
    publish(&dir.cache(), &snap, 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    let en = Enumeration::new();
    for u in &snap.users {
        let needed = [&u.name, "*", &u.gecos, &u.home, &u.shell]
            .iter()
            .map(|s| s.len() + 1)
            .sum::<usize>();
        for len in 0..needed {
            assert_eq!(
                getpwent(&cfg, &en, len),
                (TryAgain, ERANGE, None),
                "len {len}"
            );
        }
        assert_eq!(getpwent(&cfg, &en, needed).2.unwrap(), pw_of_user(u));
    }
    assert_eq!(getpwent(&cfg, &en, 4096).0, NotFound);
}

#[test]
fn groups_enumerate_in_gid_order_across_batches() {
    let dir = TempDir::new();
    let users: Vec<_> = (0..150)
        .map(|i| user(&format!("u{i:03}"), 10000 + i))
        .collect();
    let names: Vec<String> = users.iter().map(|u| u.name.clone()).collect();
    let mut groups = Vec::new();
    for i in 0..150u32 {
        let members: Vec<&str> = names
            .iter()
            .skip(i as usize % 7)
            .step_by(1 + i as usize % 5)
            .map(String::as_str)
            .collect();
        groups.push(group(&format!("team{i:03}"), 20000 + i * 2, &members));
    }
    let snap = snapshot(users, groups);
    publish(&dir.cache(), &snap, 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    let en: Enumeration<GroupScan> = Enumeration::new();
    setent(&en);
    let mut got = Vec::new();
    let mut small = true;
    loop {
        let len = if small { 16 } else { 64 * 1024 };
        let (s, e, g) = getgrent(&cfg, &en, len);
        match s {
            TryAgain => {
                assert!(small);
                assert_eq!(e, ERANGE);
                small = false;
            }
            Success => {
                got.push(g.unwrap());
                small = true;
            }
            NotFound => break,
            other => panic!("{other:?}"),
        }
    }
    let mut expect: Vec<Gr> = snap
        .groups
        .iter()
        .map(|g| {
            let mut members = g.members.clone();
            members.sort();
            Gr {
                name: g.name.clone(),
                passwd: "*".into(),
                gid: g.gid,
                members,
            }
        })
        .collect();
    expect.sort_by_key(|g| g.gid);
    assert_eq!(got.len(), 300);
    assert_eq!(got, expect);
    endent(&en);
}

#[test]
fn point_lookups_do_not_disturb_enumeration() {
    let dir = TempDir::new();
    let users: Vec<_> = (0..600)
        .map(|i| user(&format!("u{i:03}"), 10000 + i))
        .collect();
    publish(&dir.cache(), &snapshot(users.clone(), vec![]), 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    let en = Enumeration::new();
    let mut got = Vec::new();
    loop {
        let (s, _, e) = getpwent(&cfg, &en, 4096);
        if s == NotFound {
            break;
        }
        got.push(e.unwrap().uid);
        // Lookups of other entries in between.
        assert_eq!(getpwuid(&cfg, 10599).0, Success);
        assert_eq!(getpwnam(&cfg, "u000").0, Success);
        assert_eq!(getgrgid(&cfg, 10300).0, Success);
        assert_eq!(getpwnam(&cfg, "nobody").0, NotFound);
    }
    assert_eq!(got, (10000..10600).collect::<Vec<_>>());
}

#[test]
fn enumeration_moves_between_threads() {
    let dir = TempDir::new();
    let users: Vec<_> = (0..700)
        .map(|i| user(&format!("u{i:03}"), 10000 + i))
        .collect();
    publish(&dir.cache(), &snapshot(users, vec![]), 1);
    let path = dir.cache();
    let en = Enumeration::new();
    let mut got = Vec::new();
    // Each call on a new thread, as glibc allows (it serialises them under its own lock).
    loop {
        let (s, e) = std::thread::scope(|sc| {
            sc.spawn(|| {
                let (s, _, e) = getpwent(&Config::eager(&path), &en, 4096);
                (s, e)
            })
            .join()
            .unwrap()
        });
        if s == NotFound {
            break;
        }
        got.push(e.unwrap().uid);
    }
    assert_eq!(got, (10000..10700).collect::<Vec<_>>());
}

#[test]
fn an_enumeration_stays_on_its_snapshot_within_the_interval_and_setent_moves_to_the_newest() {
    let dir = TempDir::new();
    let path = dir.cache();
    let first: Vec<_> = (0..600)
        .map(|i| user(&format!("u{i:03}"), 10000 + i * 2))
        .collect();
    publish(&path, &snapshot(first, vec![]), 1);
    let cfg = Config {
        recheck_interval: Duration::from_secs(3600),
        ..Config::eager(&path)
    };
    let en = Enumeration::new();
    let mut got = Vec::new();
    for _ in 0..300 {
        got.push(getpwent(&cfg, &en, 4096).2.unwrap().uid);
    }
    // Odd uids in the new snapshot: within the interval none of them shows up in the
    // enumeration under way.
    let second: Vec<_> = (0..600)
        .map(|i| user(&format!("v{i:03}"), 10001 + i * 2))
        .collect();
    publish(&path, &snapshot(second, vec![]), 2);
    let rest = all_users(&cfg, &en);
    got.extend(rest.iter().map(|p| p.uid));
    assert_eq!(got, (0..600).map(|i| 10000 + i * 2).collect::<Vec<_>>());
    // The next enumeration starts on the new snapshot.
    assert_eq!(setent(&en), Success);
    let fresh: Vec<u32> = all_users(&cfg, &en).iter().map(|p| p.uid).collect();
    assert_eq!(fresh, (0..600).map(|i| 10001 + i * 2).collect::<Vec<_>>());
}

#[test]
fn an_enumeration_under_way_moves_to_a_newer_snapshot_after_the_interval() {
    let dir = TempDir::new();
    let path = dir.cache();
    let first: Vec<_> = (0..600)
        .map(|i| user(&format!("u{i:03}"), 10000 + i * 2))
        .collect();
    publish(&path, &snapshot(first, vec![]), 1);
    let interval = Duration::from_millis(100);
    let cfg = Config {
        recheck_interval: interval,
        ..Config::eager(&path)
    };
    let en = Enumeration::new();
    let mut got = Vec::new();
    for _ in 0..300 {
        got.push(getpwent(&cfg, &en, 4096).2.unwrap().uid);
    }
    // The new snapshot drops every u* user after u299 and adds v*: once the interval has
    // passed, the enumeration goes on in it after u299 (nothing repeated, nothing revoked).
    let mut second: Vec<_> = (0..300)
        .map(|i| user(&format!("u{i:03}"), 10000 + i * 2))
        .collect();
    second.extend((0..600).map(|i| user(&format!("v{i:03}"), 20001 + i * 2)));
    publish(&path, &snapshot(second, vec![]), 2);
    std::thread::sleep(interval + Duration::from_millis(50));
    got.extend(all_users(&cfg, &en).iter().map(|p| p.uid));
    let expect: Vec<u32> = (0..300)
        .map(|i| 10000 + i * 2)
        .chain((0..600).map(|i| 20001 + i * 2))
        .collect();
    assert_eq!(got, expect);
    // Groups too: a membership removed mid-enumeration is not handed out after the interval.
    let g = |members: &[&str]| {
        snapshot(
            vec![user("alice", 10001), user("bob", 10002)],
            vec![
                group("a-team", 30001, &["alice"]),
                group("b-team", 30002, members),
            ],
        )
    };
    publish(&path, &g(&["alice", "bob"]), 3);
    let groups: Enumeration<GroupScan> = Enumeration::new();
    let (s, _, first) = getgrent(&cfg, &groups, 4096);
    assert_eq!((s, first.unwrap().gid), (Success, 10001));
    publish(&path, &g(&["alice"]), 4);
    std::thread::sleep(interval + Duration::from_millis(50));
    let mut rest = Vec::new();
    while let (Success, _, Some(gr)) = getgrent(&cfg, &groups, 4096) {
        rest.push(gr);
    }
    let names: Vec<_> = rest.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["bob", "a-team", "b-team"]);
    assert_eq!(
        rest[2].members,
        ["alice"],
        "bob's revoked membership is gone"
    );
}

#[test]
fn entries_that_cannot_be_packed_are_skipped() {
    let dir = TempDir::new();
    let users = vec![user("a", 10001), user("b\0c", 10002), user("d", 10003)];
    publish(&dir.cache(), &snapshot(users, vec![]), 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    let en = Enumeration::new();
    let mut got = Vec::new();
    loop {
        let (s, _, e) = getpwent(&cfg, &en, 4096);
        if s == NotFound {
            break;
        }
        got.push(e.unwrap().name);
    }
    assert_eq!(got, vec!["a", "d"]);
}

#[test]
fn enumeration_without_a_cache_is_unavail_then_resumes() {
    let dir = TempDir::new();
    let path = dir.cache();
    let cfg = Config::eager(&path);
    let en = Enumeration::new();
    assert_eq!(getpwent(&cfg, &en, 4096), (Unavail, ENOENT, None));
    let en_g: Enumeration<GroupScan> = Enumeration::new();
    assert_eq!(getgrent(&cfg, &en_g, 4096), (Unavail, ENOENT, None));
    publish(&path, &basic(), 1);
    assert_eq!(getpwent(&cfg, &en, 4096).2.unwrap().name, "alice");
}

#[test]
fn empty_snapshot_enumerates_nothing() {
    let dir = TempDir::new();
    publish(&dir.cache(), &snapshot(vec![], vec![]), 1);
    let cache = dir.cache();
    let cfg = Config::eager(&cache);
    assert_eq!(
        getpwent(&cfg, &Enumeration::new(), 4096),
        (NotFound, ENOENT, None)
    );
    let en: Enumeration<GroupScan> = Enumeration::new();
    assert_eq!(getgrent(&cfg, &en, 4096), (NotFound, ENOENT, None));
}
