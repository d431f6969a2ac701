//! A small real cache, written once with `usher_cache::publish`, that the cache target corrupts:
//! users with and without groups, small groups (members inline in their bucket entry) and one
//! large group (members in `groups.members`), two passwd chunks.

use std::path::{Path, PathBuf};
use usher_cache::{Group, Meta, Snapshot, User};

pub const USERS: u32 = 300;
pub const FIRST_UID: u32 = 5000;
pub const FIRST_GROUP_GID: u32 = 9000;

pub fn user_name(i: u32) -> String {
    // A few name shapes the rule allows: letters, digits, '_', '.', '-'.
    match i % 4 {
        0 => format!("user{i:03}"),
        1 => format!("u.{i}"),
        2 => format!("u_{i}-x"),
        _ => format!("Usr{i}"),
    }
}

pub fn group_names() -> Vec<String> {
    ["big", "ops", "devs", "admins", "empty"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

pub fn snapshot() -> Snapshot {
    let users: Vec<User> = (0..USERS)
        .map(|i| {
            let name = user_name(i);
            User {
                name: name.clone(),
                uid: FIRST_UID + i,
                gid: FIRST_UID + i,
                gecos: format!("{name} Example"),
                home: format!("/home/{name}"),
                shell: "/bin/bash".into(),
                active: i % 5 != 0,
                can_login: i % 3 != 0,
                can_sudo: i % 7 == 0,
                directory_id: format!("id-{i}"),
                directory_name: format!("{name}@example.com"),
                emails: vec![format!("{name}@example.com")],
                ssh_keys: if i % 9 == 0 {
                    vec!["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMxxPmMvHjAUx40cuQ4SzMtAQZXvWMgbJqknBVONuD3p".into()]
                } else {
                    vec![]
                },
                principals: vec![name.clone(), format!("{name}@example.com")],
            }
        })
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
    let members = |pick: &dyn Fn(u32) -> bool| -> Vec<String> {
        (0..USERS).filter(|&i| pick(i)).map(user_name).collect()
    };
    for (j, name) in group_names().into_iter().enumerate() {
        let m = match name.as_str() {
            "big" => members(&|_| true),
            "ops" => members(&|i| i % 10 == 1),
            "devs" => members(&|i| i < 3),
            "admins" => members(&|i| i % 50 == 7),
            _ => vec![],
        };
        groups.push(Group {
            name,
            gid: FIRST_GROUP_GID + j as u32,
            directory_id: Some(format!("g-{j}")),
            members: m,
        });
    }
    Snapshot { users, groups }
}

pub fn meta() -> Meta {
    Meta {
        generation: 1,
        built_at: 1_700_000_000,
        source: "file:/fuzz".into(),
        content_hash: "fuzz-fixture".into(),
    }
}

/// A private directory (mode 0700, so a reader that checks the directory's mode trusts it) with
/// the published fixture in it, and the file's bytes.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub pristine: Vec<u8>,
}

impl Fixture {
    pub fn build() -> Fixture {
        // tmpfs when there is one: every input writes a copy.
        let base = Path::new("/dev/shm");
        let dir = if base.is_dir() {
            tempfile::Builder::new()
                .prefix("usher-fuzz")
                .tempdir_in(base)
        } else {
            tempfile::Builder::new().prefix("usher-fuzz").tempdir()
        }
        .expect("temp dir");
        let path = dir.path().join("fixture.db");
        usher_cache::publish(&path, &snapshot(), &meta()).expect("publish the fixture");
        let pristine = std::fs::read(&path).expect("read the fixture");
        std::fs::remove_file(&path).expect("remove the fixture");
        Fixture { dir, pristine }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("cache.db")
    }
}
