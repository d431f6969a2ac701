use super::*;
use std::path::{Path, PathBuf};

fn user(name: &str, uid: u32, active: bool) -> User {
    User {
        name: name.into(),
        uid,
        gid: uid,
        gecos: format!("{name} Example"),
        home: format!("/home/{name}"),
        shell: "/bin/bash".into(),
        active,
        can_login: active,
        can_sudo: false,
        directory_id: format!("id-{name}"),
        directory_name: format!("{name}@example.com"),
        emails: vec![format!("{name}@example.com")],
        ssh_keys: vec![],
        principals: vec![name.to_string(), format!("{name}@example.com")],
    }
}

fn snapshot(names: &[&str]) -> Snapshot {
    let users: Vec<User> = names
        .iter()
        .enumerate()
        .map(|(i, n)| user(n, 5000 + i as u32, i % 2 == 0))
        .collect();
    let mut groups: Vec<Group> = users
        .iter()
        .map(|u| Group {
            name: u.name.clone(),
            gid: u.gid,
            directory_id: None,
            members: vec![],
        })
        .collect();
    groups.push(Group {
        name: "ops".into(),
        gid: 9000,
        directory_id: Some("g-ops".into()),
        members: names.iter().map(|n| n.to_string()).collect(),
    });
    Snapshot { users, groups }
}

fn meta(generation: u64) -> Meta {
    Meta {
        generation,
        built_at: 1_700_000_000,
        source: "file:/test".into(),
        content_hash: "abc".into(),
    }
}

fn dir_and_path() -> (tempfile::TempDir, PathBuf) {
    // Characters SQLite URIs treat specially must survive in the path.
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("odd?#%dir");
    std::fs::create_dir(&sub).unwrap();
    let path = sub.join("cache.db");
    (dir, path)
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn round_trip_through_every_read() {
    let (_dir, path) = dir_and_path();
    let snap = snapshot(&["alice", "bert", "cleo"]);
    publish(&path, &snap, &meta(3)).unwrap();
    let r = Reader::open(&path).unwrap();
    assert_eq!(r.meta().unwrap(), meta(3));
    let alice = r.user_by_name("alice").unwrap().unwrap();
    assert_eq!((alice.uid, alice.home.as_str()), (5000, "/home/alice"));
    assert_eq!(r.user_by_uid(5001).unwrap().unwrap().name, "bert");
    assert!(
        r.user_by_name("Alice").unwrap().is_none(),
        "names are case-sensitive"
    );
    assert!(r.user_by_uid(1).unwrap().is_none());
    assert_eq!(
        r.group_by_name("ops").unwrap().unwrap().members,
        vec!["alice", "bert", "cleo"]
    );
    assert_eq!(r.group_by_gid(5002).unwrap().unwrap().name, "cleo");
    assert_eq!(r.group_ids_of("bert").unwrap(), Some(vec![9000]));
    assert_eq!(r.group_ids_of("nobody").unwrap(), None);
    let a = r.account("bert").unwrap().unwrap();
    assert!(!a.active && !a.can_login);
    assert_eq!(a.emails, vec!["bert@example.com"]);
    assert_eq!(a.principals, vec!["bert", "bert@example.com"]);
    // bert is inactive: no principals for a login; alice is active and may log in.
    assert!(r.login_principals("bert").unwrap().is_empty());
    assert_eq!(
        r.login_principals("alice").unwrap(),
        vec!["alice", "alice@example.com"]
    );
    assert!(r.login_principals("nobody").unwrap().is_empty());
    assert!(r.login_ssh_keys("alice").unwrap().is_empty());
    let counts = r.counts().unwrap();
    assert_eq!(
        (
            counts.users,
            counts.inactive_users,
            counts.groups,
            counts.can_login
        ),
        (3, 1, 4, 2)
    );
    let mut loaded = r.load_snapshot().unwrap();
    loaded.groups.sort_by_key(|g| g.gid);
    let mut expected = snap.clone();
    expected.groups.sort_by_key(|g| g.gid);
    assert_eq!(loaded, expected);
}

fn names<C: Cursor>(cursor: &mut C, name: impl Fn(&C::Entry<'_>) -> Vec<u8>) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(n) = cursor.peek(&name).unwrap() {
        out.push(String::from_utf8(n).unwrap());
        cursor.advance().unwrap();
    }
    out
}

#[test]
fn cursors_stay_on_an_entry_until_advanced_and_resume_after_it() {
    let (_dir, path) = dir_and_path();
    let many: Vec<String> = (0..600).map(|i| format!("u{i:03}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    publish(&path, &snapshot(&refs), &meta(1)).unwrap();
    let mut users = UserScan::start(Reader::open(&path).unwrap()).unwrap();
    assert_eq!(users.peek(|p| p.name.to_vec()).unwrap().unwrap(), b"u000");
    assert_eq!(users.peek(|p| p.uid).unwrap(), Some(5000), "still on it");
    users.advance().unwrap();
    // Across a chunk boundary, then resumed (as after a fork) in the middle of a chunk.
    for _ in 1..300 {
        users.advance().unwrap();
        users.peek(|_| ()).unwrap();
    }
    assert_eq!(users.peek(|p| p.name.to_vec()).unwrap().unwrap(), b"u300");
    let mut resumed = users.resume(Reader::open(&path).unwrap()).unwrap();
    let rest = names(&mut resumed, |p| p.name.to_vec());
    assert_eq!(rest, many[300..]);
    assert_eq!(resumed.peek(|p| p.uid).unwrap(), None, "stays at the end");
    assert!(resumed.same_process());

    let mut groups = GroupScan::start(Reader::open(&path).unwrap()).unwrap();
    let first = groups.peek(|g| (g.gid, g.name.to_vec())).unwrap().unwrap();
    assert_eq!(first, (5000, b"u000".to_vec()));
    groups.advance().unwrap();
    let mut resumed = groups.resume(Reader::open(&path).unwrap()).unwrap();
    let rest = names(&mut resumed, |g| g.name.to_vec());
    assert_eq!(rest.len(), 600, "599 user-private groups and ops");
    assert_eq!(rest.last().unwrap(), "ops");
}

#[test]
fn a_cursor_keeps_walking_the_snapshot_it_started_on() {
    let (_dir, path) = dir_and_path();
    publish(&path, &snapshot(&["alice", "bert"]), &meta(1)).unwrap();
    let mut users = UserScan::start(Reader::open(&path).unwrap()).unwrap();
    assert_eq!(users.peek(|p| p.name.to_vec()).unwrap().unwrap(), b"alice");
    users.advance().unwrap();
    publish(&path, &snapshot(&["cleo"]), &meta(2)).unwrap();
    assert_eq!(names(&mut users, |p| p.name.to_vec()), vec!["bert"]);
}

#[test]
fn publish_replaces_atomically_and_old_readers_keep_their_snapshot() {
    let (_dir, path) = dir_and_path();
    publish(&path, &snapshot(&["alice"]), &meta(1)).unwrap();
    let mut old = Reader::open(&path).unwrap();
    assert!(old.is_current());
    publish(&path, &snapshot(&["bert"]), &meta(2)).unwrap();
    // The old handle reads the old, unmodified inode; it is told it is no longer current.
    assert_eq!(old.user_by_name("alice").unwrap().unwrap().uid, 5000);
    assert!(!old.is_current());
    let new = Reader::open(&path).unwrap();
    assert!(new.user_by_name("alice").unwrap().is_none());
    assert_eq!(new.meta().unwrap().generation, 2);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o644);
    assert_eq!(entries(path.parent().unwrap()), vec!["cache.db"]);
}

#[test]
fn a_failed_publish_leaves_the_old_file_and_no_temp_file() {
    let (_dir, path) = dir_and_path();
    publish(&path, &snapshot(&["alice"]), &meta(1)).unwrap();
    let before = std::fs::read(&path).unwrap();
    let mut bad = snapshot(&["alice", "bert"]);
    bad.users[1].uid = bad.users[0].uid;
    assert!(publish(&path, &bad, &meta(2)).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(entries(path.parent().unwrap()), vec!["cache.db"]);
}

#[test]
fn temp_files_of_a_killed_publisher_are_removed() {
    let (_dir, path) = dir_and_path();
    let parent = path.parent().unwrap();
    std::fs::write(parent.join(".cache.db.tmp.12345"), "half a database").unwrap();
    std::fs::write(parent.join("unrelated"), "x").unwrap();
    assert_eq!(remove_stale_temp_files(&path).unwrap(), 1);
    std::fs::write(parent.join(".cache.db.tmp.999"), "x").unwrap();
    publish(&path, &snapshot(&["alice"]), &meta(1)).unwrap();
    assert_eq!(entries(parent), vec!["cache.db", "unrelated"]);
}

#[test]
fn missing_garbage_truncated_and_foreign_versions_are_refused() {
    let (_dir, path) = dir_and_path();
    assert!(matches!(Reader::open(&path), Err(Error::Io { .. })));
    std::fs::write(&path, b"this is not a database at all, just some bytes").unwrap();
    assert!(Reader::open(&path).is_err());
    std::fs::write(&path, []).unwrap();
    assert!(Reader::open(&path).is_err());

    let names: Vec<String> = (0..2000).map(|i| format!("user{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let good = path.with_file_name("good.db");
    publish(&good, &snapshot(&refs), &meta(1)).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    for cut in [
        100,
        4096,
        bytes.len() / 2,
        bytes.len() - 4096,
        bytes.len() - 1,
    ] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        assert!(
            Reader::open(&path).is_err(),
            "a file cut at {cut} of {} opened",
            bytes.len()
        );
    }

    let conn = rusqlite::Connection::open(&good).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    assert!(matches!(
        Reader::open(&good),
        Err(Error::SchemaVersion { found, .. }) if found == SCHEMA_VERSION + 1
    ));
}

#[test]
fn content_hash_ignores_order_but_not_content() {
    let a = snapshot(&["alice", "bert"]);
    let mut b = a.clone();
    b.users.reverse();
    b.groups.reverse();
    b.groups[0].members.reverse();
    assert_eq!(a.content_hash(), b.content_hash());
    b.users[0].shell = "/bin/sh".into();
    assert_ne!(a.content_hash(), b.content_hash());
}

#[test]
fn every_entry_is_found_through_its_buckets() {
    let (_dir, path) = dir_and_path();
    let names: Vec<String> = (0..3000).map(|i| format!("user{i:04}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let snap = snapshot(&refs);
    publish(&path, &snap, &meta(1)).unwrap();
    let r = Reader::open(&path).unwrap();
    for u in &snap.users {
        let by_name = r.user_by_name(&u.name).unwrap().unwrap();
        assert_eq!(
            (by_name.uid, by_name.home.as_str()),
            (u.uid, u.home.as_str())
        );
        assert_eq!(r.user_by_uid(u.uid).unwrap().unwrap().name, u.name);
        assert_eq!(r.group_by_name(&u.name).unwrap().unwrap().gid, u.gid);
        let private = r.group_by_gid(u.gid).unwrap().unwrap();
        assert_eq!(
            (private.name.as_str(), private.members.len()),
            (u.name.as_str(), 0)
        );
        assert_eq!(r.group_ids_of(&u.name).unwrap(), Some(vec![9000]));
    }
    let ops = r.group_by_name("ops").unwrap().unwrap();
    assert_eq!((ops.gid, ops.members.len()), (9000, 3000));
    assert_eq!(r.group_by_gid(9000).unwrap().unwrap(), ops);
    // Misses answer None, and the handles go on answering after them.
    assert_eq!(
        r.user_by_name("USER0001").unwrap(),
        None,
        "names are case-sensitive"
    );
    assert_eq!(r.user_by_name("nobody").unwrap(), None);
    assert_eq!(r.user_by_uid(1).unwrap(), None);
    assert_eq!(r.group_by_name("user").unwrap(), None);
    assert_eq!(r.group_by_gid(1).unwrap(), None);
    assert_eq!(r.group_ids_of("nobody").unwrap(), None);
    assert_eq!(r.user_by_uid(5000).unwrap().unwrap().name, "user0000");
}

#[test]
fn a_broken_bucket_layout_is_refused_or_fails_lookups_without_panic() {
    let (_dir, path) = dir_and_path();
    publish(&path, &snapshot(&["alice", "bert", "cleo"]), &meta(1)).unwrap();
    let set = |key: &str, value: &str| {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute("UPDATE meta SET value = ?2 WHERE key = ?1", [key, value])
            .unwrap();
    };
    set("passwd_buckets", "3");
    assert!(matches!(
        Reader::open(&path),
        Err(Error::InvalidSnapshot(_))
    ));
    // More buckets than rows: the lookups that land past the last row fail, every time, and the
    // others still answer.
    set("passwd_buckets", "1048576");
    let r = Reader::open(&path).unwrap();
    let answers: Vec<bool> = (0..50)
        .map(|i| r.user_by_uid(5000 + i % 3).is_ok())
        .collect();
    assert!(answers.contains(&false));
    set("bucket_key", "not hex");
    assert!(matches!(
        Reader::open(&path),
        Err(Error::InvalidSnapshot(_))
    ));
}
