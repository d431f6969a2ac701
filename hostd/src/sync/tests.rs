use super::*;
use crate::mapping::Records;
use crate::source::{FetchFuture, FileSource};
use serde_json::json;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use usher_cache::Reader;

struct Fixture {
    dir: tempfile::TempDir,
    paths: Paths,
    config: Config,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        std::fs::write(
            p("passwd"),
            "root:x:0:0:root:/root:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(p("group"), "root:x:0:\nbob:x:1001:\n").unwrap();
        std::fs::write(p("shells"), "/bin/sh\n/bin/bash\n").unwrap();
        let paths = Paths {
            cache: p("lib/cache.db"),
            passwd: p("passwd"),
            group: p("group"),
            shells: p("shells"),
            state: p("private/state.json"),
            trusted_ca_keys: p("etc/trusted_user_ca_keys"),
            sudoers: p("etc/sudoers.d/usher"),
            principals: p("principals"),
        };
        let config = Config::parse(&format!(
            "[directory]\nkind = \"file\"\npath = \"{}\"\n",
            p("directory.json").display()
        ))
        .unwrap();
        Fixture { dir, paths, config }
    }

    fn write_directory(&self, users: usize, skip: &[usize]) {
        let users: Vec<_> = (0..users)
            .filter(|i| !skip.contains(i))
            .map(|i| {
                json!({"id": format!("id-{i}"), "userName": format!("user{i}@example.com"),
                "urn:usher:params:scim:schemas:extension:posix:2.0:User": {"uidNumber": 5000 + i}})
            })
            .collect();
        let groups = json!([{"id": "g1", "displayName": "ops",
            "urn:usher:params:scim:schemas:extension:posix:2.0:Group": {"gidNumber": 9000},
            "members": [{"value": "id-0"}, {"value": "id-1"}]}]);
        let doc = json!({"Users": users, "Groups": groups});
        std::fs::write(self.dir.path().join("directory.json"), doc.to_string()).unwrap();
    }

    fn sync(&self, force: bool) -> Result<Report> {
        let mut source = FileSource::new(self.dir.path().join("directory.json"));
        block_on(sync_once(&self.config, &mut source, &self.paths, force))
    }

    fn inode(&self) -> u64 {
        std::fs::metadata(&self.paths.cache).unwrap().ino()
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn publishes_then_skips_an_unchanged_sync() {
    let f = Fixture::new();
    f.write_directory(4, &[]);
    let first = f.sync(false).unwrap();
    assert_eq!(first.outcome, Outcome::Published);
    assert_eq!((first.generation, first.users, first.added), (1, 4, 4));
    let mode = std::fs::metadata(&f.paths.cache).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o644);
    let inode = f.inode();
    let second = f.sync(false).unwrap();
    assert_eq!(second.outcome, Outcome::Unchanged);
    assert_eq!(second.generation, 1);
    assert_eq!(f.inode(), inode, "an unchanged sync must not write");

    let reader = Reader::open(&f.paths.cache).unwrap();
    assert_eq!(reader.user_by_name("user2").unwrap().unwrap().uid, 5002);
    let ops = reader.group_by_name("ops").unwrap().unwrap();
    assert_eq!(ops.members, vec!["user0", "user1"]);
    let meta = reader.meta().unwrap();
    assert!(meta.source.starts_with("file:"));
    assert_eq!(meta.generation, 1);
}

#[test]
fn removed_users_disappear_and_generation_grows() {
    let f = Fixture::new();
    f.write_directory(4, &[]);
    f.sync(false).unwrap();
    f.write_directory(4, &[3]);
    let r = f.sync(false).unwrap();
    assert_eq!(
        (r.outcome, r.generation, r.removed, r.users),
        (Outcome::Published, 2, 1, 3)
    );
    let reader = Reader::open(&f.paths.cache).unwrap();
    assert!(reader.user_by_name("user3").unwrap().is_none());
    assert!(reader.group_by_name("user3").unwrap().is_none());
}

#[test]
fn mass_deletion_and_empty_directory_are_refused_unless_forced() {
    let f = Fixture::new();
    f.write_directory(4, &[]);
    f.sync(false).unwrap();
    let inode = f.inode();
    f.write_directory(4, &[0, 1, 2]);
    let err = f.sync(false).unwrap_err().to_string();
    assert!(err.contains("remove 3 of 4 users"), "{err}");
    f.write_directory(0, &[]);
    let err = f.sync(false).unwrap_err().to_string();
    assert!(err.contains("no users"), "{err}");
    assert_eq!(f.inode(), inode, "a refused sync must not publish");
    let r = f.sync(true).unwrap();
    assert_eq!(r.users, 0);
}

#[test]
fn a_failed_fetch_or_broken_export_leaves_the_cache_untouched() {
    let f = Fixture::new();
    f.write_directory(2, &[]);
    f.sync(false).unwrap();
    let before = std::fs::read(&f.paths.cache).unwrap();
    std::fs::write(f.dir.path().join("directory.json"), "{\"Users\": [").unwrap();
    assert!(f
        .sync(false)
        .unwrap_err()
        .to_string()
        .contains("not a valid JSON export"));
    std::fs::write(f.dir.path().join("directory.json"), "{\"Users\": 5}").unwrap();
    assert!(f.sync(false).is_err());
    struct Failing;
    impl Source for Failing {
        fn fetch<'a>(&'a mut self, _: &'a Projector) -> FetchFuture<'a> {
            Box::pin(async { Err::<Records, _>(Error::Source("connection refused".into())) })
        }
    }
    assert!(block_on(sync_once(&f.config, &mut Failing, &f.paths, false)).is_err());
    assert_eq!(std::fs::read(&f.paths.cache).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(f.paths.cache.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

#[test]
fn a_temp_file_left_by_a_killed_publish_is_removed_even_when_nothing_changes() {
    let f = Fixture::new();
    f.write_directory(2, &[]);
    f.sync(false).unwrap();
    let leftover = f.paths.cache.with_file_name(".cache.db.tmp.4242");
    std::fs::write(&leftover, "half written").unwrap();
    assert_eq!(f.sync(false).unwrap().outcome, Outcome::Unchanged);
    assert!(!leftover.exists());
}

#[test]
fn a_corrupt_cache_is_replaced() {
    let f = Fixture::new();
    f.write_directory(2, &[]);
    std::fs::create_dir_all(f.paths.cache.parent().unwrap()).unwrap();
    std::fs::write(&f.paths.cache, "garbage").unwrap();
    let r = f.sync(false).unwrap();
    assert_eq!((r.outcome, r.generation), (Outcome::Published, 1));
    assert!(Reader::open(&f.paths.cache).is_ok());
}

fn mode_and_owner(path: &std::path::Path) -> (u32, u32) {
    let md = std::fs::metadata(path).unwrap();
    (md.mode() & 0o7777, md.uid())
}

fn republished_because(report: &Report, why: &str) {
    assert_eq!(report.outcome, Outcome::Published, "{:?}", report.notes);
    assert!(
        report.notes.iter().any(|n| n.contains(why)),
        "no note saying {why:?}: {:?}",
        report.notes
    );
}

#[test]
fn a_tampered_published_cache_is_repaired_by_the_next_sync() {
    let f = Fixture::new();
    f.write_directory(4, &[]);
    assert_eq!(f.sync(false).unwrap().outcome, Outcome::Published);
    assert_eq!(f.sync(false).unwrap().outcome, Outcome::Unchanged);

    // A row rewritten in place: the hash inside the file still matches the directory's content.
    {
        let c = rusqlite::Connection::open(&f.paths.cache).unwrap();
        c.execute("UPDATE users SET can_sudo = 1 WHERE name = 'user2'", [])
            .unwrap();
    }
    let r = f.sync(false).unwrap();
    republished_because(&r, "changed since this daemon published it");
    assert_eq!(r.generation, 3 - 1, "generation counts publishes");
    let reader = Reader::open(&f.paths.cache).unwrap();
    assert!(!reader.account("user2").unwrap().unwrap().can_sudo);
    drop(reader);
    assert_eq!(f.sync(false).unwrap().outcome, Outcome::Unchanged);

    // Made writable by others: readers refuse it, the daemon republishes it 0644.
    std::fs::set_permissions(&f.paths.cache, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert!(matches!(
        Reader::open(&f.paths.cache),
        Err(usher_cache::Error::Untrusted(_))
    ));
    let r = f.sync(false).unwrap();
    republished_because(&r, "not trusted");
    assert_eq!(mode_and_owner(&f.paths.cache), (0o644, 0));
    assert!(Reader::open(&f.paths.cache).is_ok());

    // Given to another user.
    std::os::unix::fs::chown(&f.paths.cache, Some(65534), None).unwrap();
    let r = f.sync(false).unwrap();
    republished_because(&r, "owned by uid 65534");
    assert_eq!(mode_and_owner(&f.paths.cache), (0o644, 0));

    // chmod to a mode readers accept still is not this daemon's file.
    std::fs::set_permissions(&f.paths.cache, std::fs::Permissions::from_mode(0o600)).unwrap();
    republished_because(&f.sync(false).unwrap(), "mode 600 instead of 644");
    assert_eq!(mode_and_owner(&f.paths.cache), (0o644, 0));

    // Replaced by another well-formed root-owned file.
    let other = f.dir.path().join("other.db");
    usher_cache::publish(&other, &usher_cache::Snapshot::default(), &Meta::default()).unwrap();
    std::fs::rename(&other, &f.paths.cache).unwrap();
    let r = f.sync(false).unwrap();
    republished_because(&r, "replaced by another file");
    assert_eq!(r.users, 4);

    // A corrupt but well-formed file (a flipped byte in a bucket) is not the previous state.
    {
        let c = rusqlite::Connection::open(&f.paths.cache).unwrap();
        c.execute(
            "UPDATE passwd_by_uid SET entries = zeroblob(length(entries)) WHERE bucket = 0",
            [],
        )
        .unwrap();
    }
    republished_because(&f.sync(false).unwrap(), "corrupt");
    assert_eq!(f.sync(false).unwrap().outcome, Outcome::Unchanged);
}

#[test]
fn a_lost_publish_record_means_a_republish() {
    let f = Fixture::new();
    f.write_directory(2, &[]);
    f.sync(false).unwrap();
    std::fs::remove_file(record::record_path(&f.paths.state)).unwrap();
    republished_because(&f.sync(false).unwrap(), "no record");
    assert_eq!(f.sync(false).unwrap().outcome, Outcome::Unchanged);
}

/// The directory of `write_directory(4, ..)`, with user3's name made invalid.
fn write_directory_with_bad_user3(f: &Fixture) {
    let users: Vec<_> = (0..4)
        .map(|i| {
            let name = if i == 3 {
                "bad name@example.com".to_string()
            } else {
                format!("user{i}@example.com")
            };
            json!({"id": format!("id-{i}"), "userName": name,
            "urn:usher:params:scim:schemas:extension:posix:2.0:User": {"uidNumber": 5000 + i}})
        })
        .collect();
    let doc = json!({"Users": users, "Groups": []});
    std::fs::write(f.dir.path().join("directory.json"), doc.to_string()).unwrap();
}

#[test]
fn a_tampered_cache_is_not_the_previous_state_of_the_mapping() {
    // Untouched, the published entry of a record that turned invalid is kept...
    let f = Fixture::new();
    f.write_directory(4, &[]);
    f.sync(false).unwrap();
    write_directory_with_bad_user3(&f);
    f.sync(false).unwrap();
    let kept = Reader::open(&f.paths.cache)
        .unwrap()
        .user_by_name("user3")
        .unwrap();
    assert_eq!(
        kept.map(|u| u.uid),
        Some(5003),
        "the fallback keeps the previous entry"
    );

    // ...but not from a cache someone else changed.
    let f = Fixture::new();
    f.write_directory(4, &[]);
    f.sync(false).unwrap();
    std::fs::set_permissions(&f.paths.cache, std::fs::Permissions::from_mode(0o666)).unwrap();
    write_directory_with_bad_user3(&f);
    f.sync(true).unwrap();
    let reader = Reader::open(&f.paths.cache).unwrap();
    assert!(reader.user_by_name("user3").unwrap().is_none());
    assert_eq!(reader.user_by_name("user2").unwrap().unwrap().uid, 5002);
}
