//! The mapping over structured SCIM records built with `arbitrary`, drawn mostly from small pools
//! of the values that collide (names of local accounts in other case, stale group members, homes
//! in and above other homes, shared emails, numbers at every boundary, groups named like ids), so
//! the fuzzer spends its time on the rules rather than on JSON syntax. Two directories are mapped
//! in turn, the second with the first's result as the published snapshot.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;
use usher_fuzz::mapping_fixture::Fixture;

const EXT: &str = "urn:usher:params:scim:schemas:extension:posix:2.0:User";
const GEXT: &str = "urn:usher:params:scim:schemas:extension:posix:2.0:Group";

/// A value from a pool (by index), or any value.
#[derive(Arbitrary, Debug)]
enum Pick<T> {
    Pool(u8),
    Any(T),
}

impl Pick<String> {
    fn get(&self, pool: &[&str]) -> String {
        match self {
            Pick::Pool(i) => pool[usize::from(*i) % pool.len()].to_string(),
            Pick::Any(s) => s.clone(),
        }
    }
}

impl Pick<i64> {
    fn get(&self, pool: &[i64]) -> i64 {
        match self {
            Pick::Pool(i) => pool[usize::from(*i) % pool.len()],
            Pick::Any(n) => *n,
        }
    }
}

const IDS: &[&str] = &[
    "u1", "u2", "u3", "u4", "u5", "g-sudo", "g-login", "g1", "g2", "wheel", "ops", "alice", "",
];
const USER_NAMES: &[&str] = &[
    "alice",
    "alice@example.com",
    "ALICE",
    "carol",
    "dave@corp.example",
    "root",
    "Root",
    "ROOT",
    "bob",
    "Bob",
    "Localadmin",
    "localadmin",
    "ghost",
    "GHOST",
    "daemon",
    "nobody",
    "svc",
    "sudo",
    "devs-local",
    "g-sudo",
    "wheel",
    "ops",
    "a.b",
    "-x",
    ".x",
    "123",
    "x:y",
    "x y",
    "x,y",
    "",
    "a234567890123456789012345678901234",
    "émile",
];
const GROUP_NAMES: &[&str] = &[
    "wheel",
    "ops",
    "g-sudo",
    "g-login",
    "sudo",
    "Sudo",
    "SUDO",
    "admins",
    "alice",
    "carol",
    "root",
    "devs-local",
    "DEVS-LOCAL",
    "bob",
    "svc",
    "nogroup",
    "",
    "x:y",
    "staff",
];
const NUMBERS: &[i64] = &[
    0,
    1,
    27,
    999,
    1000,
    1001,
    1002,
    1500,
    3000,
    5000,
    5001,
    6000,
    61183,
    61184,
    65519,
    65520,
    65534,
    2_147_483_647,
    2_147_483_648,
    4_294_967_295,
    4_294_967_296,
    -1,
];
const HOMES: &[&str] = &[
    "/home/alice",
    "/home/carol",
    "/home/bob",
    "/home/bob/bin",
    "/home/localadmin/bin",
    "/home/localadmin",
    "/home",
    "/",
    "/root",
    "/root/x",
    "/usr",
    "/usr/sbin",
    "/usr/sbin/x",
    "/home/alice/sub",
    "/home//bob",
    "/home/./bob",
    "/home/bob/",
    "/home/BOB",
    "relative",
    "/home/../etc",
    "/nonexistent",
    "/srv",
    "/srv/svc/x",
    "/etc/sudoers.d",
    "/tmp/x",
    "/home/a..b",
    "/data/alice",
    "/data",
];
const SHELLS: &[&str] = &[
    "/bin/bash",
    "/bin/sh",
    "/usr/bin/zsh",
    "/bin/false",
    "",
    "sh",
];
const EMAILS: &[&str] = &[
    "alice@example.com",
    "ALICE@example.com",
    "carol@example.com",
    "root",
    "localadmin",
    "bob",
    "alice",
    "x@y",
    "",
];
const CREATED: &[&str] = &[
    "2024-01-01T00:00:00Z",
    "2024-01-01T00:00:01Z",
    "2023-06-01T12:00:00Z",
    "not a date",
    "",
];

#[derive(Arbitrary, Debug)]
enum Number {
    Absent,
    Int(Pick<i64>),
    Text(Pick<i64>),
    Float(f64),
    Null,
}

impl Number {
    fn json(&self) -> Option<Value> {
        match self {
            Number::Absent => None,
            Number::Int(p) => Some(json!(p.get(NUMBERS))),
            Number::Text(p) => Some(json!(p.get(NUMBERS).to_string())),
            Number::Float(f) => Some(json!(f)),
            Number::Null => Some(Value::Null),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Email {
    value: Pick<String>,
    primary: Option<bool>,
    kind: Option<Pick<String>>,
}

#[derive(Arbitrary, Debug)]
struct UserRecord {
    id: Pick<String>,
    user_name: Pick<String>,
    display_name: Option<String>,
    active: Option<Option<bool>>,
    uid: Number,
    gid: Number,
    home: Option<Pick<String>>,
    shell: Option<Pick<String>>,
    emails: Vec<Email>,
    created: Option<Pick<String>>,
}

#[derive(Arbitrary, Debug)]
struct Member {
    value: Pick<String>,
    display: Option<Pick<String>>,
}

#[derive(Arbitrary, Debug)]
struct GroupRecord {
    id: Pick<String>,
    display_name: Pick<String>,
    gid: Number,
    members: Vec<Member>,
    created: Option<Pick<String>>,
}

#[derive(Arbitrary, Debug)]
struct Directory {
    users: Vec<UserRecord>,
    groups: Vec<GroupRecord>,
}

impl UserRecord {
    fn json(&self) -> Value {
        let mut u = Map::new();
        u.insert("id".into(), json!(self.id.get(IDS)));
        u.insert("userName".into(), json!(self.user_name.get(USER_NAMES)));
        if let Some(d) = &self.display_name {
            u.insert("displayName".into(), json!(d));
        }
        match self.active {
            Some(Some(a)) => {
                u.insert("active".into(), json!(a));
            }
            Some(None) => {
                u.insert("active".into(), json!("yes"));
            }
            None => {}
        }
        let mut ext = Map::new();
        if let Some(n) = self.uid.json() {
            ext.insert("uidNumber".into(), n);
        }
        if let Some(n) = self.gid.json() {
            ext.insert("gidNumber".into(), n);
        }
        if let Some(h) = &self.home {
            ext.insert("homeDirectory".into(), json!(h.get(HOMES)));
        }
        if let Some(s) = &self.shell {
            ext.insert("loginShell".into(), json!(s.get(SHELLS)));
        }
        u.insert(EXT.into(), Value::Object(ext));
        let emails: Vec<Value> = self
            .emails
            .iter()
            .map(|e| {
                let mut m = Map::new();
                m.insert("value".into(), json!(e.value.get(EMAILS)));
                if let Some(p) = e.primary {
                    m.insert("primary".into(), json!(p));
                }
                if let Some(k) = &e.kind {
                    m.insert("type".into(), json!(k.get(&["work", "home", "other"])));
                }
                Value::Object(m)
            })
            .collect();
        if !emails.is_empty() {
            u.insert("emails".into(), Value::Array(emails));
        }
        if let Some(c) = &self.created {
            u.insert("meta".into(), json!({"created": c.get(CREATED)}));
        }
        Value::Object(u)
    }
}

impl GroupRecord {
    fn json(&self) -> Value {
        let mut g = Map::new();
        g.insert("id".into(), json!(self.id.get(IDS)));
        g.insert(
            "displayName".into(),
            json!(self.display_name.get(GROUP_NAMES)),
        );
        if let Some(n) = self.gid.json() {
            g.insert(GEXT.into(), json!({ "gidNumber": n }));
        }
        let members: Vec<Value> = self
            .members
            .iter()
            .map(|m| {
                let mut v = Map::new();
                v.insert("value".into(), json!(m.value.get(IDS)));
                if let Some(d) = &m.display {
                    v.insert("display".into(), json!(d.get(USER_NAMES)));
                }
                Value::Object(v)
            })
            .collect();
        g.insert("members".into(), Value::Array(members));
        if let Some(c) = &self.created {
            g.insert("meta".into(), json!({"created": c.get(CREATED)}));
        }
        Value::Object(g)
    }
}

impl Directory {
    fn records(&self) -> (Vec<Value>, Vec<Value>) {
        (
            self.users.iter().map(UserRecord::json).collect(),
            self.groups.iter().map(GroupRecord::json).collect(),
        )
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(Fixture::new)
}

fuzz_target!(|dirs: (Directory, Directory)| {
    let (first, second) = dirs;
    if first.users.len() + first.groups.len() + second.users.len() + second.groups.len() > 200 {
        return;
    }
    let f = fixture();
    let (users, groups) = first.records();
    let published = f.map_and_check(users, groups, None);
    let (users, groups) = second.records();
    f.map_and_check(users, groups, Some(&published));
});
