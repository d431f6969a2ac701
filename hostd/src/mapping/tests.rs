use super::*;
use crate::config::{AccessConfig, GroupRef, IdsConfig, MappingConfig, PrincipalKind};
use serde_json::json;

const EXT: &str = "urn:usher:params:scim:schemas:extension:posix:2.0:User";
const GEXT: &str = "urn:usher:params:scim:schemas:extension:posix:2.0:Group";
const ED25519: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMxxPmMvHjAUx40cuQ4SzMtAQZXvWMgbJqknBVONuD3p alice@laptop";

fn user(id: &str, name: &str, uid: Option<u32>) -> Value {
    let mut ext = serde_json::Map::new();
    if let Some(uid) = uid {
        ext.insert("uidNumber".into(), json!(uid));
    }
    json!({"id": id, "userName": name, "displayName": format!("{name} Example"), EXT: ext,
           "meta": {"created": "2024-01-01T00:00:00Z"}})
}

fn group(id: &str, name: &str, gid: Option<u32>, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let mut g = json!({"id": id, "displayName": name, "members": members});
    if let Some(gid) = gid {
        g[GEXT] = json!({"gidNumber": gid});
    }
    g
}

struct Fixture {
    mapping: MappingConfig,
    ids: IdsConfig,
    access: AccessConfig,
    principals: Vec<PrincipalKind>,
    local: LocalAccounts,
    shells: HashSet<String>,
    previous: Option<Snapshot>,
}

impl Fixture {
    fn new() -> Self {
        let mut local = LocalAccounts::default();
        for (name, id) in [("root", 0), ("daemon", 1), ("bob", 1001)] {
            local.user_names.insert(name.into());
            local.uids.insert(id);
            local.group_names.insert(name.into());
            local.gids.insert(id);
        }
        local.group_names.insert("sudo".into());
        local.gids.insert(27);
        local.group_names.insert("devs-local".into());
        local.gids.insert(3000);
        Fixture {
            mapping: MappingConfig::default(),
            ids: IdsConfig::default(),
            access: AccessConfig::default(),
            principals: crate::config::SshConfig::default().principals,
            local,
            shells: ["/bin/bash", "/bin/sh", "/usr/bin/zsh"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            previous: None,
        }
    }

    fn map(&self, users: Vec<Value>, groups: Vec<Value>) -> Out {
        let ctx = MappingContext {
            mapping: &self.mapping,
            ids: &self.ids,
            access: &self.access,
            principals: &self.principals,
            local: &self.local,
            shells: &self.shells,
            previous: self.previous.as_ref().map(|p| p as &dyn PreviousEntries),
        };
        let m = map_directory(DirectoryData { users, groups }, &ctx);
        Out {
            snapshot: m.snapshot.to_snapshot(),
            skipped: m.skipped,
            notes: m.notes,
            warnings: m.warnings,
        }
    }
}

/// What a mapping produced, as plain structs.
struct Out {
    snapshot: Snapshot,
    skipped: Vec<Skipped>,
    notes: Vec<String>,
    warnings: Vec<String>,
}

fn names(m: &Out) -> Vec<&str> {
    let mut v: Vec<&str> = m.snapshot.users.iter().map(|u| u.name.as_str()).collect();
    v.sort();
    v
}

fn user_named<'a>(m: &'a Out, name: &str) -> &'a User {
    m.snapshot.users.iter().find(|u| u.name == name).unwrap()
}

fn group_named<'a>(m: &'a Out, name: &str) -> Option<&'a Group> {
    m.snapshot.groups.iter().find(|g| g.name == name)
}

fn skipped_reason(m: &Out, name: &str) -> String {
    m.skipped
        .iter()
        .find(|s| s.name == name || s.name.starts_with(name))
        .map(|s| s.reason.clone())
        .unwrap_or_else(|| panic!("{name} not skipped: {:?}", m.skipped))
}

#[test]
fn maps_defaults_strips_domain_and_makes_private_groups() {
    let f = Fixture::new();
    let mut alice = user("u1", "alice@example.com", Some(5000));
    alice["emails"] = json!([{"value": "alice@example.com", "primary": true}]);
    alice[EXT]["sshPublicKey"] = json!([ED25519, "not a key"]);
    let m = f.map(vec![alice], vec![]);
    let a = user_named(&m, "alice");
    assert_eq!((a.uid, a.gid), (5000, 5000));
    assert_eq!(a.home, "/home/alice");
    assert_eq!(a.shell, "/bin/bash");
    assert_eq!(a.gecos, "alice@example.com Example");
    assert_eq!(a.directory_name, "alice@example.com");
    assert_eq!(a.emails, vec!["alice@example.com"]);
    assert_eq!(a.ssh_keys, vec![ED25519]);
    assert!(a.active);
    let upg = group_named(&m, "alice").unwrap();
    assert_eq!((upg.gid, upg.directory_id.clone()), (5000, None));
    assert!(m.notes.iter().any(|n| n.contains("1 SSH key(s) rejected")));
}

#[test]
fn explicit_primary_group_gets_no_private_group() {
    let f = Fixture::new();
    let mut alice = user("u1", "alice", Some(5000));
    alice[EXT]["gidNumber"] = json!(7000);
    let m = f.map(vec![alice], vec![group("g1", "staff", Some(7000), &["u1"])]);
    assert_eq!(user_named(&m, "alice").gid, 7000);
    assert!(group_named(&m, "alice").is_none());
    assert_eq!(group_named(&m, "staff").unwrap().members, vec!["alice"]);
}

#[test]
fn derived_numbers_are_stable_and_in_range() {
    let f = Fixture::new();
    let m = f.map(
        vec![user("3f2a-immutable", "carol", None)],
        vec![group("g-ops", "ops", None, &["3f2a-immutable"])],
    );
    let c = user_named(&m, "carol");
    assert_eq!(c.uid, derive_id("3f2a-immutable", [200_000, 2_000_200_000]));
    assert_eq!(c.gid, c.uid);
    assert!((200_000..=2_000_200_000).contains(&c.uid));
    let again = f.map(vec![user("3f2a-immutable", "carol", None)], vec![]);
    assert_eq!(user_named(&again, "carol").uid, c.uid);
    assert_eq!(
        group_named(&m, "ops").unwrap().gid,
        derive_id("g-ops", [200_000, 2_000_200_000])
    );
    // The documented function: FNV-1a 64 of the id, modulo the range size, plus its start.
    assert_eq!(
        derive_id("a", [1000, 1999]),
        1000 + (0xaf63dc4c8601ec8c_u64 % 1000) as u32
    );
}

#[test]
fn invalid_names_are_skipped_with_reasons() {
    let f = Fixture::new();
    let bad = [
        ("", "empty"),
        ("-rf", "starts with '-'"),
        ("12345", "all digits"),
        ("a:b", "':'"),
        ("a,b", "','"),
        ("a/b", "'/'"),
        ("a b", "whitespace"),
        ("a\tb", "control"),
        ("a\u{7}b", "control"),
        ("thisnameiswaytoolongforposixaccounts", "longer than 32"),
        ("ünïcode", "character other than"),
        ("a\"b", "character other than"),
    ];
    let users: Vec<Value> = bad
        .iter()
        .enumerate()
        .map(|(i, (n, _))| user(&format!("b{i}"), n, Some(6000 + i as u32)))
        .collect();
    let m = f.map(users, vec![]);
    assert!(m.snapshot.users.is_empty(), "{:?}", m.snapshot.users);
    assert_eq!(m.skipped.len(), bad.len());
    for (i, (_, why)) in bad.iter().enumerate() {
        let s = m.skipped.iter().find(|s| s.id == format!("b{i}")).unwrap();
        assert!(s.reason.contains(why), "{:?} should say {why}", s);
    }
    // One bad entry never stops the rest.
    let m = f.map(
        vec![user("x", "a:b", Some(6000)), user("y", "good", Some(6001))],
        vec![],
    );
    assert_eq!(names(&m), vec!["good"]);
}

#[test]
fn numbers_below_minimum_zero_and_systemd_range_are_refused() {
    let f = Fixture::new();
    let m = f.map(
        vec![
            user("a", "zero", Some(0)),
            user("b", "low", Some(999)),
            user("c", "dyn", Some(61184)),
            user("d", "dyn2", Some(65519)),
            user("e", "huge", Some(3_000_000_000)),
            user("f", "ok", Some(1000)),
        ],
        vec![
            group("g", "rootish", Some(0), &[]),
            group("h", "dyngroup", Some(62000), &[]),
        ],
    );
    assert_eq!(names(&m), vec!["ok"]);
    assert!(skipped_reason(&m, "zero").contains("uid 0"));
    assert!(skipped_reason(&m, "low").contains("below the minimum 1000"));
    assert!(skipped_reason(&m, "dyn").contains("systemd"));
    assert!(skipped_reason(&m, "dyn2").contains("systemd"));
    assert!(skipped_reason(&m, "huge").contains("above"));
    assert!(skipped_reason(&m, "rootish").contains("gid 0"));
    assert!(skipped_reason(&m, "dyngroup").contains("systemd"));
    let mut alice = user("z", "alice", Some(5000));
    alice[EXT]["gidNumber"] = json!(0);
    assert!(skipped_reason(&f.map(vec![alice], vec![]), "alice").contains("gid 0"));
}

#[test]
fn local_accounts_and_groups_win_every_collision() {
    let f = Fixture::new();
    let mut gid_local = user("d", "dora", Some(5003));
    gid_local[EXT]["gidNumber"] = json!(3000);
    let m = f.map(
        vec![
            user("a", "root", Some(5000)),
            user("b", "bob", Some(5001)),
            user("c", "carl", Some(1001)),
            gid_local,
            // The user is fine, but its private group would take the local group's name.
            user("e", "sudo", Some(5004)),
        ],
        vec![
            group("g1", "sudo", Some(5100), &[]),
            group("g2", "devs", Some(3000), &[]),
            group("g3", "Ops", Some(5102), &[]),
        ],
    );
    assert!(skipped_reason(&m, "root").contains("local account"));
    assert!(skipped_reason(&m, "bob").contains("local account"));
    assert!(skipped_reason(&m, "carl").contains("uid 1001 belongs to a local account"));
    assert!(skipped_reason(&m, "dora").contains("local group"));
    assert!(m
        .skipped
        .iter()
        .any(|s| s.kind == "group" && s.name == "sudo" && s.reason.contains("local group")));
    assert!(m
        .skipped
        .iter()
        .any(|s| s.kind == "user" && s.name == "sudo" && s.reason.contains("private group")));
    assert!(skipped_reason(&m, "devs").contains("gid 3000 belongs to a local group"));
    assert_eq!(names(&m), Vec::<&str>::new());
    assert!(group_named(&m, "Ops").is_some());
}

#[test]
fn duplicates_keep_the_older_record() {
    let f = Fixture::new();
    let mut older = user("zz-old", "Alice", Some(5000));
    older["meta"]["created"] = json!("2020-01-01T00:00:00+02:00");
    let mut newer = user("aa-new", "alice", Some(5001));
    newer["meta"]["created"] = json!("2023-06-01T00:00:00Z");
    let mut same_uid = user("mm", "mallory", Some(5000));
    same_uid["meta"]["created"] = json!("2021-01-01T00:00:00Z");
    let m = f.map(vec![newer, same_uid, older], vec![]);
    assert_eq!(names(&m), vec!["Alice"]);
    assert!(skipped_reason(&m, "alice").contains("already taken"));
    assert!(skipped_reason(&m, "mallory").contains("uid 5000 is already taken"));
    // Without dates, the id decides.
    let mut a = user("id-2", "x1", Some(5000));
    let mut b = user("id-1", "x2", Some(5000));
    a["meta"] = json!({});
    b["meta"] = json!({});
    assert_eq!(names(&f.map(vec![a, b], vec![])), vec!["x2"]);
    // Duplicate group names, case-insensitively.
    let m = f.map(
        vec![],
        vec![
            group("g1", "ops", Some(5100), &[]),
            group("g2", "OPS", Some(5101), &[]),
        ],
    );
    assert_eq!(m.snapshot.groups.len(), 1);
}

#[test]
fn homes_shells_and_gecos_are_checked() {
    let f = Fixture::new();
    let with = |id: &str, name: &str, key: &str, v: Value| {
        let mut u = user(
            id,
            name,
            Some(5000 + id.len() as u32 * 7 + name.len() as u32),
        );
        u[EXT][key] = v;
        u
    };
    let mut g = user("g1", "gina", Some(5100));
    g["displayName"] = json!("Gina: \u{1b}[31mRed\nLine");
    let m = f.map(
        vec![
            with("a", "rel", "homeDirectory", json!("home/rel")),
            with("bb", "dots", "homeDirectory", json!("/home/../etc")),
            with("ccc", "colon", "homeDirectory", json!("/home/a:b")),
            with("dddd", "zsh", "loginShell", json!("/usr/bin/zsh")),
            with("eeeee", "fish", "loginShell", json!("/usr/bin/fish")),
            with(
                "ffffff",
                "okhome",
                "homeDirectory",
                json!("/srv/home/okhome"),
            ),
            g,
        ],
        vec![],
    );
    assert!(skipped_reason(&m, "rel").contains("not absolute"));
    assert!(skipped_reason(&m, "dots").contains("'..'"));
    assert!(skipped_reason(&m, "colon").contains("':'"));
    assert_eq!(user_named(&m, "zsh").shell, "/usr/bin/zsh");
    assert_eq!(user_named(&m, "fish").shell, "/bin/bash");
    assert!(m
        .notes
        .iter()
        .any(|n| n.contains("fish") && n.contains("/etc/shells")));
    assert_eq!(user_named(&m, "okhome").home, "/srv/home/okhome");
    assert_eq!(user_named(&m, "gina").gecos, "Gina [31mRedLine");
}

#[test]
fn inactive_users_are_kept_and_members_of_unknown_users_dropped() {
    let f = Fixture::new();
    let mut dave = user("u2", "dave", Some(5001));
    dave["active"] = json!(false);
    let m = f.map(
        vec![user("u1", "alice", Some(5000)), dave],
        vec![group(
            "g1",
            "ops",
            Some(5100),
            &["u1", "u2", "deleted-user"],
        )],
    );
    assert!(!user_named(&m, "dave").active);
    assert_eq!(
        group_named(&m, "ops").unwrap().members,
        vec!["alice", "dave"]
    );
    assert!(m.notes.iter().any(|n| n.contains("dropped 1 member")));
}

#[test]
fn derived_private_gid_on_a_directory_group_is_refused() {
    let f = Fixture::new();
    let uid = derive_id("u-collide", f.ids.derived_range);
    let m = f.map(
        vec![user("u-collide", "eve", None)],
        vec![group("g1", "admins", Some(uid), &[])],
    );
    assert!(skipped_reason(&m, "eve").contains("directory group's gid"));
}

#[test]
fn access_marks_follow_login_and_sudo_groups_by_name_or_id() {
    let mut f = Fixture::new();
    f.access.login_groups = vec![GroupRef::Name("ops".into())];
    f.access.sudo_groups = vec![GroupRef::Id("g-admins".into())];
    let m = f.map(
        vec![
            user("u1", "alice", Some(5000)),
            user("u2", "bert", Some(5001)),
            user("u3", "cleo", Some(5002)),
        ],
        vec![
            group("g-ops", "ops", Some(5100), &["u1"]),
            group("g-admins", "admins", Some(5101), &["u2"]),
        ],
    );
    let a = user_named(&m, "alice");
    assert!(a.can_login && !a.can_sudo);
    let b = user_named(&m, "bert");
    assert!(b.can_login && b.can_sudo);
    let c = user_named(&m, "cleo");
    assert!(!c.can_login && !c.can_sudo);
    // A user's private group with the same name as a login group never grants login.
    f.access.login_groups = vec![GroupRef::Name("cleo".into())];
    let m = f.map(vec![user("u3", "cleo", Some(5002))], vec![]);
    assert!(!user_named(&m, "cleo").can_login);
}

#[test]
fn a_policy_entry_names_a_group_in_one_namespace_only() {
    // The audit's escalation: a group named like the sudo group's id got sudo.
    let mut f = Fixture::new();
    f.access.sudo_groups = vec![GroupRef::Id("g-admins".into())];
    let groups = || {
        vec![
            group("g-admins", "admins", Some(5101), &["u1"]),
            group("g-evil", "g-admins", Some(5102), &["u2"]),
        ]
    };
    let users = || {
        vec![
            user("u1", "alice", Some(5000)),
            user("u2", "mallory", Some(5001)),
        ]
    };
    let m = f.map(users(), groups());
    assert!(user_named(&m, "alice").can_sudo);
    assert!(!user_named(&m, "mallory").can_sudo && !user_named(&m, "mallory").can_login);
    // And the other way round: a name entry never matches a group's id.
    f.access.sudo_groups = vec![GroupRef::Name("g-evil".into())];
    let m = f.map(users(), groups());
    assert!(!user_named(&m, "alice").can_sudo && !user_named(&m, "mallory").can_sudo);
    f.access.sudo_groups = vec![GroupRef::Name("admins".into())];
    let m = f.map(users(), groups());
    assert!(user_named(&m, "alice").can_sudo && !user_named(&m, "mallory").can_sudo);
}

#[test]
fn a_name_several_directory_groups_share_matches_none_of_them() {
    let mut f = Fixture::new();
    f.access.login_groups = vec![GroupRef::Name("ops".into())];
    f.access.sudo_groups = vec![GroupRef::Name("ops".into())];
    let mut older = group("g-ops", "ops", Some(5101), &["u1"]);
    older["meta"] = json!({"created": "2020-01-01T00:00:00Z"});
    let mut newer = group("g-ops2", "OPS", Some(5102), &["u2"]);
    newer["meta"] = json!({"created": "2025-01-01T00:00:00Z"});
    let m = f.map(
        vec![
            user("u1", "alice", Some(5000)),
            user("u2", "mallory", Some(5001)),
        ],
        vec![older, newer],
    );
    // The newer look-alike is refused (names are unique ignoring case) and the older one is kept,
    // but the policy entry matches neither: the directory cannot make it mean another group.
    assert!(group_named(&m, "ops").is_some());
    let a = user_named(&m, "alice");
    assert!(!a.can_login && !a.can_sudo);
    assert_eq!(m.warnings.len(), 2, "{:?}", m.warnings);
    assert!(m.warnings[0].contains("login_groups entry name:ops: several directory groups"));
    assert!(m.warnings[1].contains("sudo_groups entry name:ops"));
    // An invalid record counts too: it is a directory group with that name.
    let mut bad = group("g-ops3", "ops", Some(0), &[]);
    bad["meta"] = json!({"created": "2026-01-01T00:00:00Z"});
    let m = f.map(
        vec![user("u1", "alice", Some(5000))],
        vec![group("g-ops", "ops", Some(5101), &["u1"]), bad],
    );
    assert!(!user_named(&m, "alice").can_login);
    // One group of that name: it matches.
    let m = f.map(
        vec![user("u1", "alice", Some(5000))],
        vec![group("g-ops", "ops", Some(5101), &["u1"])],
    );
    assert!(user_named(&m, "alice").can_sudo);
    assert!(m.warnings.is_empty());
}

#[test]
fn an_invalid_record_keeps_its_previous_good_entry_but_not_more_access() {
    let mut f = Fixture::new();
    let first = f.map(
        vec![
            user("u1", "alice", Some(5000)),
            user("u2", "bert", Some(5001)),
        ],
        vec![],
    );
    f.previous = Some(first.snapshot.clone());
    let mut broken = user("u1", "alice", Some(0));
    broken["active"] = json!(false);
    let m = f.map(vec![broken, user("u2", "bert:x", Some(5001))], vec![]);
    assert_eq!(names(&m), vec!["alice", "bert"]);
    assert!(
        !user_named(&m, "alice").active,
        "deactivation must still apply"
    );
    assert!(user_named(&m, "bert").active);
    assert!(
        m.notes
            .iter()
            .filter(|n| n.contains("kept the previous entry"))
            .count()
            == 2
    );
    assert!(m.skipped.is_empty());
    // A new record that is invalid and was never cached is skipped as usual.
    let m = f.map(vec![user("u9", "bad name", Some(5009))], vec![]);
    assert!(m.snapshot.users.is_empty());
}

#[test]
fn local_accounts_are_read_from_passwd_and_group_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("passwd");
    let g = dir.path().join("group");
    std::fs::write(&p, "root:x:0:0:root:/root:/bin/bash\n# comment\n+nisuser::::::\nbob:x:1001:1001::/home/bob:/bin/sh\n").unwrap();
    std::fs::write(&g, "root:x:0:\nsudo:x:27:bob\n").unwrap();
    let local = LocalAccounts::read(&p, &g).unwrap();
    assert!(local.user_names.contains("bob") && local.user_names.contains("nisuser"));
    assert!(local.uids.contains(&1001) && local.uids.contains(&0));
    assert!(local.group_names.contains("sudo") && local.gids.contains(&27));
    assert!(is_local_user(&p, "bob") && is_local_user(&p, "nisuser"));
    assert!(!is_local_user(&p, "bo") && !is_local_user(&p, "comment"));
}

#[test]
fn principals_follow_policy_and_never_carry_unsafe_text() {
    let mut f = Fixture::new();
    let mut alice = user("u1", "alice@example.com", Some(5000));
    alice["emails"] = json!([
        {"value": "alice@example.com"},
        {"value": "a.smith+ops@example.com", "primary": true},
        {"value": "x\"y@example.com"}
    ]);
    let m = f.map(vec![alice.clone()], vec![]);
    assert_eq!(
        user_named(&m, "alice").principals,
        vec!["alice", "alice@example.com", "a.smith+ops@example.com"]
    );
    f.principals = vec![PrincipalKind::Name];
    let m = f.map(vec![alice], vec![]);
    assert_eq!(user_named(&m, "alice").principals, vec!["alice"]);
    assert!(!valid_principal("from=\"*\" alice"));
    assert!(!valid_principal("-o"));
    assert!(!valid_principal("a,b"));
}
