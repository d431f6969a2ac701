//! The cache's trust and integrity rules (issue 11, classes 5 to 7): who may have written the
//! file, what a corrupt or crafted file can make a reader say (nothing: an error), and what the
//! file's lengths can make it allocate.

use super::*;
use crate::buckets::Column;
use crate::sums;
use rusqlite::Connection;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

fn user(name: &str, uid: u32) -> User {
    User {
        name: name.into(),
        uid,
        gid: uid,
        gecos: String::new(),
        home: format!("/home/{name}"),
        shell: "/bin/sh".into(),
        active: true,
        can_login: true,
        can_sudo: false,
        directory_id: format!("id-{name}"),
        directory_name: name.into(),
        emails: vec![],
        ssh_keys: vec![],
        principals: vec![name.into()],
    }
}

fn group(name: &str, gid: u32, members: &[&str]) -> Group {
    Group {
        name: name.into(),
        gid,
        directory_id: Some(format!("g-{name}")),
        members: members.iter().map(|m| m.to_string()).collect(),
    }
}

/// alice and bob, a small group (members inline in the buckets) and a large one (members read
/// from `groups.members`).
fn sample() -> Snapshot {
    let many: Vec<String> = (0..100).map(|i| format!("member{i:03}")).collect();
    let mut big: Vec<&str> = many.iter().map(String::as_str).collect();
    big.push("alice");
    Snapshot {
        users: vec![user("alice", 5000), user("bob", 5001)],
        groups: vec![
            group("ops", 9000, &["alice", "bob"]),
            group("all", 9001, &big),
        ],
    }
}

fn meta() -> Meta {
    Meta {
        generation: 1,
        built_at: 1,
        source: "test".into(),
        content_hash: "h".into(),
    }
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "these tests check file ownership: run them as root"
    );
}

fn published(snapshot: &Snapshot) -> (tempfile::TempDir, PathBuf) {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("usher");
    std::fs::create_dir(&sub).unwrap();
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = sub.join("cache.db");
    publish(&path, snapshot, &meta()).unwrap();
    (dir, path)
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), None).unwrap();
}

fn untrusted(path: &Path) -> String {
    match Reader::open(path) {
        Err(Error::Untrusted(why)) => why,
        Err(e) => panic!("{} refused, but not as untrusted: {e}", path.display()),
        Ok(_) => panic!("{} was opened", path.display()),
    }
}

#[test]
fn only_a_root_owned_file_in_root_owned_directories_nobody_else_can_write_is_read() {
    let (_dir, path) = published(&sample());
    let dir = path.parent().unwrap().to_path_buf();
    assert!(Reader::open(&path).is_ok());

    for mode in [0o666, 0o646, 0o664, 0o622] {
        chmod(&path, mode);
        assert!(untrusted(&path).contains("writable by group or others"));
    }
    chmod(&path, 0o644);
    chown(&path, 65534);
    assert!(untrusted(&path).contains("owned by uid 65534"));
    chown(&path, 0);
    assert!(Reader::open(&path).is_ok());

    for mode in [0o777, 0o775, 0o757, 0o1777] {
        chmod(&dir, mode);
        assert!(
            untrusted(&path).contains("writable by group or others"),
            "{mode:o}"
        );
    }
    chmod(&dir, 0o755);
    chown(&dir, 65534);
    assert!(untrusted(&path).contains("owned by uid 65534"));
    chown(&dir, 0);
    // A directory further up, writable by others without the sticky bit.
    let top = dir.parent().unwrap();
    chmod(top, 0o777);
    assert!(untrusted(&path).contains("writable by group or others"));
    chmod(top, 0o700);
    assert!(Reader::open(&path).is_ok());

    // Symlinks: to the file, and as a directory on the way.
    let link = dir.join("link.db");
    symlink(&path, &link).unwrap();
    assert!(untrusted(&link).contains("symlink"));
    let dir_link = top.join("dirlink");
    symlink(&dir, &dir_link).unwrap();
    assert!(untrusted(&dir_link.join("cache.db")).contains("symlink"));

    // Not a regular file (and no blocking on a FIFO).
    let fifo = dir.join("fifo.db");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    assert!(untrusted(&fifo).contains("not a regular file"));
}

#[test]
fn an_open_handle_is_not_current_once_its_file_is_changed_in_place() {
    let (_dir, path) = published(&sample());
    let mut r = Reader::open(&path).unwrap();
    assert!(r.is_current());
    // Made writable by others while a long-running process holds it: the handle must be
    // reopened (and the reopen refuses it) before anyone could have written it.
    chmod(&path, 0o666);
    assert!(!r.is_current());
    assert!(!r.is_current(), "stale stays stale");
    untrusted(&path);
    chmod(&path, 0o644);
    let mut r = Reader::open(&path).unwrap();
    chown(&path, 65534);
    assert!(!r.is_current());
}

#[test]
fn the_daemons_view_refuses_what_the_readers_refuse() {
    let (_dir, path) = published(&sample());
    chmod(&path, 0o666);
    assert!(matches!(Published::open(&path), Err(Error::Untrusted(_))));
}

/// Rewrites every blob of `column` in `table` (the row id in `key`) with `change`.
fn rewrite(path: &Path, table: &str, key: &str, column: &str, change: impl Fn(i64, &mut Vec<u8>)) {
    let conn = Connection::open(path).unwrap();
    let rows: Vec<(i64, Vec<u8>)> = conn
        .prepare(&format!("SELECT {key}, {column} FROM {table}"))
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    for (row, mut blob) in rows {
        change(row, &mut blob);
        conn.execute(
            &format!("UPDATE {table} SET {column} = ?2 WHERE {key} = ?1"),
            rusqlite::params![row, blob],
        )
        .unwrap();
    }
}

fn flip_middle(_: i64, blob: &mut [u8]) {
    let i = blob.len() / 2;
    blob[i] ^= 0x10;
}

fn enumerate_users(r: Reader) -> Result<Vec<String>> {
    let mut scan = UserScan::start(r)?;
    let mut out = Vec::new();
    while let Some(name) = scan.peek(|p| String::from_utf8_lossy(p.name).into_owned())? {
        out.push(name);
        scan.advance()?;
    }
    Ok(out)
}

fn enumerate_groups(r: Reader) -> Result<Vec<String>> {
    let mut scan = GroupScan::start(r)?;
    let mut out = Vec::new();
    while let Some(name) = scan.peek(|g| String::from_utf8_lossy(g.name).into_owned())? {
        out.push(name);
        scan.advance()?;
    }
    Ok(out)
}

#[test]
fn a_flipped_byte_in_any_kind_of_blob_is_an_error_not_an_answer() {
    type Lookup = fn(&Path) -> Result<()>;
    let open = |p: &Path| Reader::open(p).unwrap();
    let cases: [(&str, &str, &str, Lookup); 7] = [
        ("passwd_by_name", "bucket", "entries", |p| {
            Reader::open(p)?.user_by_name("alice").map(|_| ())
        }),
        ("passwd_by_uid", "bucket", "entries", |p| {
            Reader::open(p)?.user_by_uid(5000).map(|_| ())
        }),
        ("group_by_name", "bucket", "entries", |p| {
            Reader::open(p)?.group_by_name("ops").map(|_| ())
        }),
        ("group_by_gid", "bucket", "entries", |p| {
            Reader::open(p)?.group_by_gid(9000).map(|_| ())
        }),
        ("passwd_chunks", "id", "entries", |p| {
            enumerate_users(Reader::open(p)?).map(|_| ())
        }),
        ("users", "uid", "group_ids", |p| {
            Reader::open(p)?.group_ids_of("alice").map(|_| ())
        }),
        ("groups", "gid", "members", |p| {
            // The large group's members are read from `groups.members` by a point lookup.
            Reader::open(p)?.group_by_gid(9001).map(|_| ())
        }),
    ];
    for (table, key, column, lookup) in cases {
        let (_dir, path) = published(&sample());
        assert!(lookup(&path).is_ok(), "{table} before");
        assert!(open(&path).verify_all().is_ok());
        rewrite(&path, table, key, column, |r, b| flip_middle(r, b));
        let err = lookup(&path).expect_err(table).to_string();
        assert!(err.contains("checksum mismatch"), "{table}: {err}");
        assert!(open(&path).verify_all().is_err(), "{table}: verify_all");
        assert!(
            Published::open(&path).is_err(),
            "{table}: the daemon's view"
        );
    }

    // The groups table is also what group enumeration reads: a flip there fails it too, inline
    // lists included.
    let (_dir, path) = published(&sample());
    assert_eq!(enumerate_groups(open(&path)).unwrap().len(), 2);
    rewrite(&path, "groups", "gid", "members", |gid, blob| {
        if gid == 9000 {
            flip_middle(gid, blob);
        }
    });
    assert!(enumerate_groups(open(&path)).is_err());
    assert!(open(&path).load_snapshot().is_err());
}

#[test]
fn a_blob_moved_to_another_row_fails_its_checksum() {
    let mut snap = sample();
    snap.users
        .extend((0..30).map(|i| user(&format!("user{i:02}"), 6000 + i)));
    let (_dir, path) = published(&snap);
    let conn = Connection::open(&path).unwrap();
    let blob = |b: i64| -> Vec<u8> {
        conn.query_row(
            "SELECT entries FROM passwd_by_name WHERE bucket = ?1",
            [b],
            |r| r.get(0),
        )
        .unwrap()
    };
    let (zero, one) = (blob(0), blob(1));
    for (b, bytes) in [(0, one), (1, zero)] {
        conn.execute(
            "UPDATE passwd_by_name SET entries = ?2 WHERE bucket = ?1",
            rusqlite::params![b, bytes],
        )
        .unwrap();
    }
    drop(conn);
    let r = Reader::open(&path).unwrap();
    let mut failed = 0;
    for u in &snap.users {
        match r.user_by_name(&u.name) {
            Err(e) => {
                assert!(e.to_string().contains("checksum mismatch"), "{e}");
                failed += 1;
            }
            Ok(found) => assert_eq!(found.unwrap().uid, u.uid, "a wrong answer for {}", u.name),
        }
    }
    assert!(failed > 0, "no lookup read a swapped bucket");
}

#[test]
fn well_checksummed_entries_with_uid_0_gid_0_or_bad_names_are_refused_everywhere() {
    // The writer checks nothing the daemon checks, so it crafts what a forger could.
    for (label, bad_user) in [
        ("uid 0", user("mallory", 0)),
        (
            "gid 0",
            User {
                gid: 0,
                ..user("mallory", 5002)
            },
        ),
        ("empty name", user("", 5002)),
        ("name with ':'", user("mal:lory", 5002)),
        ("name with a space", user("mal lory", 5002)),
        ("name starting with '-'", user("-mallory", 5002)),
        ("all digits", user("5002", 5002)),
        ("too long", user(&"m".repeat(33), 5002)),
    ] {
        let mut snap = sample();
        snap.users.push(bad_user.clone());
        let (_dir, path) = published(&snap);
        let r = Reader::open(&path).unwrap();
        assert_eq!(
            r.user_by_name("alice").unwrap().unwrap().uid,
            5000,
            "{label}"
        );
        assert!(r.user_by_name(&bad_user.name).is_err(), "{label}: by name");
        assert!(r.user_by_uid(bad_user.uid).is_err(), "{label}: by uid");
        assert!(
            r.group_ids_of(&bad_user.name).is_err(),
            "{label}: group_ids"
        );
        assert!(r.account(&bad_user.name).is_err(), "{label}: account");
        assert!(r.load_snapshot().is_err(), "{label}: load_snapshot");
        assert!(r.verify_all().is_err(), "{label}: verify_all");
        assert!(
            enumerate_users(Reader::open(&path).unwrap()).is_err(),
            "{label}: scan"
        );
        assert!(
            Published::open(&path).is_err(),
            "{label}: the daemon's view"
        );
    }
    for (label, bad_group) in [
        ("gid 0", group("wheel2", 0, &["alice"])),
        ("empty name", group("", 9100, &["alice"])),
        ("bad name", group("wheel/2", 9100, &["alice"])),
        ("bad member", group("wheel2", 9100, &["alice", "ro ot"])),
        (
            "empty-looking member",
            group("wheel2", 9100, &["alice", "-"]),
        ),
    ] {
        let mut snap = sample();
        snap.groups.push(bad_group.clone());
        let (_dir, path) = published(&snap);
        let r = Reader::open(&path).unwrap();
        assert!(r.group_by_gid(9000).unwrap().is_some(), "{label}");
        assert!(r.group_by_gid(bad_group.gid).is_err(), "{label}: by gid");
        assert!(
            r.group_by_gid(bad_group.gid).is_err(),
            "{label}: by gid, again"
        );
        assert!(
            r.group_by_name(&bad_group.name).is_err(),
            "{label}: by name"
        );
        assert!(r.load_snapshot().is_err(), "{label}: load_snapshot");
        assert!(r.verify_all().is_err(), "{label}: verify_all");
        assert!(
            enumerate_groups(Reader::open(&path).unwrap()).is_err(),
            "{label}: scan"
        );
    }
}

/// Rewrites the body of blob `row` of `column` (found in `table` by `key`) and re-seals it with a
/// valid checksum, as a forger who knows the format could.
fn reseal(path: &Path, column: Column, key: &str, row: i64, change: impl Fn(&mut Vec<u8>)) {
    let table = column.table().to_str().unwrap();
    let col = column.column().to_str().unwrap();
    rewrite(path, table, key, col, |r, blob| {
        if r == row {
            let mut body = sums::verify(blob, column.kind(), r).unwrap().to_vec();
            change(&mut body);
            sums::append(&mut body, column.kind(), r);
            *blob = body;
        }
    });
}

fn bucket_of(path: &Path, f: impl Fn(&buckets::Layout) -> i64) -> i64 {
    f(&Reader::open(path).unwrap().layout)
}

#[test]
fn a_group_checked_in_one_table_is_checked_again_in_the_other() {
    // ops (alice,bob) inline in both group tables; its group_by_name copy re-sealed with a bad
    // member. A handle that checked ops by gid must still refuse it by name.
    let (_dir, path) = published(&sample());
    let b = bucket_of(&path, |l| l.group_by_name(b"ops"));
    reseal(&path, Column::GroupByName, "bucket", b, |body| {
        let at = body.windows(9).position(|w| w == b"alice,bob").unwrap();
        body[at..at + 9].copy_from_slice(b"alice,b b");
    });
    let r = Reader::open(&path).unwrap();
    for _ in 0..2 {
        assert_eq!(
            r.group_by_gid(9000).unwrap().unwrap().members,
            ["alice", "bob"]
        );
        assert!(r.group_by_name("ops").is_err());
    }
}

#[test]
fn lengths_pointing_past_the_end_are_refused() {
    // A passwd entry's name length (bytes 8-9 of the entry).
    let (_dir, path) = published(&sample());
    let b = bucket_of(&path, |l| l.passwd_by_name(b"alice"));
    reseal(&path, Column::PasswdByName, "bucket", b, |body| {
        body[8] = 0xff;
        body[9] = 0xff;
    });
    let err = Reader::open(&path)
        .unwrap()
        .user_by_name("alice")
        .unwrap_err();
    assert!(err.to_string().contains("malformed passwd"), "{err}");

    // A group entry's member-list length (bytes 6-9): past the end, and huge.
    for len in [0x0000_1000u32, 0xffff_fffe] {
        let (_dir, path) = published(&sample());
        let b = bucket_of(&path, |l| l.group_by_gid(9000));
        reseal(&path, Column::GroupByGid, "bucket", b, |body| {
            body[6..10].copy_from_slice(&len.to_le_bytes());
        });
        let err = Reader::open(&path).unwrap().group_by_gid(9000).unwrap_err();
        assert!(err.to_string().contains("malformed group"), "{err}");
    }

    // A gid list that is not a list of gids, or lists gid 0.
    for list in [
        &b"9000,,9001"[..],
        b"0",
        b"9000,0",
        b"99999999999",
        b"4294967296",
        b"9000,x",
        b",9000",
        b"9000,",
        b"-1",
        b"+9000",
    ] {
        let (_dir, path) = published(&sample());
        reseal(&path, Column::UserGroupIds, "uid", 5000, |body| {
            *body = list.to_vec();
        });
        let err = Reader::open(&path)
            .unwrap()
            .group_ids_of("alice")
            .unwrap_err();
        assert!(err.to_string().contains("bad gid"), "{err}");
    }
}

#[test]
fn blobs_past_the_bound_are_refused_and_allocation_failure_is_an_error() {
    let (_dir, path) = published(&sample());
    // The large group's member list is over 900 bytes.
    let r = Reader::open(&path).unwrap().with_max_blob_bytes(512);
    assert!(
        r.group_by_gid(9000).unwrap().is_some(),
        "a small bucket still reads"
    );
    let err = r.group_by_gid(9001).unwrap_err();
    assert!(err.to_string().contains("more than 512"), "{err}");
    let r = Reader::open(&path).unwrap().with_max_blob_bytes(4);
    assert!(r.user_by_name("alice").is_err());
    assert!(enumerate_users(r).is_err());

    // What the reader does when an allocation fails: an error, not an abort.
    let mut v: Vec<u8> = Vec::new();
    assert!(matches!(
        try_reserve(&mut v, usize::MAX, "test"),
        Err(Error::OutOfMemory(_))
    ));
    let mut gids: Vec<u32> = Vec::new();
    assert!(matches!(
        try_reserve(&mut gids, isize::MAX as usize, "test"),
        Err(Error::OutOfMemory(_))
    ));
}

#[test]
fn an_older_schema_is_refused_as_another_version() {
    let (_dir, path) = published(&sample());
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 3).unwrap();
    drop(conn);
    assert!(matches!(
        Reader::open(&path),
        Err(Error::SchemaVersion { found: 3, .. })
    ));
}

/// PAM's decision and sshd's principals rest on the users row and its lists: a changed flag, id,
/// email, key or principal, or a row gone while the passwd bucket still holds the name, is an
/// error — never a different decision, and never "not a directory user" (which would hand the
/// decision to the local rules while NSS still answers for the name).
#[test]
fn an_account_whose_row_or_lists_changed_is_an_error_not_another_decision() {
    let changes: [(&str, &str); 7] = [
        (
            "can_login",
            "UPDATE users SET can_login = 1 - can_login WHERE name = 'bob'",
        ),
        (
            "can_sudo",
            "UPDATE users SET can_sudo = 1 WHERE name = 'bob'",
        ),
        ("active", "UPDATE users SET active = 0 WHERE name = 'bob'"),
        (
            "directory_id",
            "UPDATE users SET directory_id = 'id-alice' WHERE name = 'bob'",
        ),
        (
            "principal added",
            "INSERT INTO user_principals VALUES (5001, 'alice')",
        ),
        (
            "principal moved",
            "UPDATE user_principals SET uid = 5001 WHERE uid = 5000",
        ),
        ("row gone", "DELETE FROM users WHERE name = 'bob'"),
    ];
    for (what, sql) in changes {
        let (_dir, path) = published(&sample());
        let reader = Reader::open(&path).unwrap();
        assert!(reader.account("bob").unwrap().is_some(), "{what}: before");
        drop(reader);
        Connection::open(&path).unwrap().execute(sql, []).unwrap();
        let reader = Reader::open(&path).unwrap();
        assert!(
            matches!(reader.account("bob"), Err(Error::InvalidSnapshot(_))),
            "{what}: account() answered"
        );
        assert!(
            reader.login_principals("bob").is_err(),
            "{what}: principals"
        );
        assert!(reader.login_ssh_keys("bob").is_err(), "{what}: keys");
    }
    // A name no entry holds is still a plain miss.
    let (_dir, path) = published(&sample());
    assert!(Reader::open(&path)
        .unwrap()
        .account("carol")
        .unwrap()
        .is_none());
}
