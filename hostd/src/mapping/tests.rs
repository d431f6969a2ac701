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
        for (name, id, home) in [
            ("root", 0, "/root"),
            ("daemon", 1, "/usr/sbin"),
            ("bob", 1001, "/home/bob"),
            ("localadmin", 1002, "/home/localadmin"),
        ] {
            local.add_user(name, Some(id), Some(home));
            local.add_group(name, Some(id), std::iter::empty());
        }
        local.add_group("sudo", Some(27), ["localadmin", "ghost"].into_iter());
        local.add_group("devs-local", Some(3000), std::iter::empty());
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
            withheld_principals: m.withheld_principals,
        }
    }
}

/// What a mapping produced, as plain structs.
struct Out {
    snapshot: Snapshot,
    skipped: Vec<Skipped>,
    notes: Vec<String>,
    warnings: Vec<String>,
    withheld_principals: Vec<Withheld>,
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
        .any(|s| s.kind == "user" && s.name == "sudo" && s.reason.contains("local group sudo")));
    assert!(skipped_reason(&m, "devs").contains("gid 3000 belongs to a local group"));
    assert_eq!(names(&m), Vec::<&str>::new());
    assert!(group_named(&m, "Ops").is_some());
}

#[test]
fn local_names_win_ignoring_case_and_stale_group_members_are_refused() {
    let f = Fixture::new();
    let m = f.map(
        vec![
            user("a", "ROOT", Some(5000)),
            user("b", "Localadmin", Some(5001)),
            user("c", "SUDO", Some(5002)),
            // Listed in the local sudo group, but with no /etc/passwd entry (userdel left it).
            user("d", "Ghost", Some(5003)),
            user("e", "fine", Some(5004)),
        ],
        vec![
            group("g1", "Root", Some(5100), &[]),
            group("g2", "LocalAdmin", Some(5101), &[]),
            group("g3", "Devs-Local", Some(5102), &["e"]),
        ],
    );
    assert_eq!(names(&m), vec!["fine"]);
    assert!(skipped_reason(&m, "ROOT").contains("belongs to local account root"));
    assert!(skipped_reason(&m, "Localadmin").contains("belongs to local account localadmin"));
    assert!(skipped_reason(&m, "SUDO").contains("belongs to local group sudo"));
    let ghost = skipped_reason(&m, "Ghost");
    assert!(
        ghost.contains("member of local group(s) sudo in /etc/group"),
        "{ghost}"
    );
    for (name, local) in [
        ("Root", "root"),
        ("LocalAdmin", "localadmin"),
        ("Devs-Local", "devs-local"),
    ] {
        let s = m
            .skipped
            .iter()
            .find(|s| s.kind == "group" && s.name == name)
            .unwrap();
        assert!(
            s.reason.contains("belongs to local ") && s.reason.contains(local),
            "{s:?}"
        );
    }
    assert!(m.snapshot.groups.iter().all(|g| g.directory_id.is_none()));
}

#[test]
fn local_refusals_name_what_they_collide_with() {
    let f = Fixture::new();
    let l = &f.local;
    assert_eq!(local_user_refusal(("alice", 5000, 5000), l), None);
    assert_eq!(
        local_user_refusal(("Bob", 5000, 5000), l).as_deref(),
        Some("name Bob belongs to local account bob")
    );
    assert_eq!(
        local_user_refusal(("Sudo", 5000, 5000), l).as_deref(),
        Some("name Sudo belongs to local group sudo")
    );
    assert!(local_user_refusal(("GHOST", 5000, 5000), l)
        .unwrap()
        .contains("local group(s) sudo"));
    assert!(local_user_refusal(("x", 1001, 5000), l)
        .unwrap()
        .contains("uid 1001"));
    assert!(local_user_refusal(("x", 5000, 27), l)
        .unwrap()
        .contains("primary gid 27"));
    assert_eq!(local_group_refusal(("ops", 5000), l), None);
    assert!(local_group_refusal(("DAEMON", 5000), l)
        .unwrap()
        .contains("local group daemon"));
    assert!(local_group_refusal(("x", 3000), l)
        .unwrap()
        .contains("gid 3000"));
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
    // A home that is no path is replaced by the default, with one note each.
    for (name, why) in [("rel", "not absolute"), ("dots", "'..'"), ("colon", "':'")] {
        assert_eq!(user_named(&m, name).home, format!("/home/{name}"));
        assert!(
            m.notes
                .iter()
                .any(|n| n.starts_with(&format!("user {name}: ")) && n.contains(why)),
            "{name}: {:?}",
            m.notes
        );
    }
    assert_eq!(user_named(&m, "zsh").shell, "/usr/bin/zsh");
    assert_eq!(user_named(&m, "fish").shell, "/bin/bash");
    assert!(m
        .notes
        .iter()
        .any(|n| n.contains("fish") && n.contains("/etc/shells")));
    // Outside the allowed roots ([mapping] home_root unless home_roots says more).
    assert_eq!(user_named(&m, "okhome").home, "/home/okhome");
    assert!(m
        .notes
        .iter()
        .any(|n| n.contains("/srv/home/okhome is not inside an allowed home root (/home)")));
    assert_eq!(user_named(&m, "gina").gecos, "Gina [31mRedLine");
}

#[test]
fn a_directory_home_is_its_own() {
    let mut f = Fixture::new();
    f.mapping.home_roots = vec!["/home".into(), "/srv/home".into()];
    f.local
        .add_user("olduser", Some(990), Some("/home/squatter"));
    let with_home = |id: &str, name: &str, uid: u32, home: &str, created: &str| {
        let mut u = user(id, name, Some(uid));
        u[EXT]["homeDirectory"] = json!(home);
        u["meta"]["created"] = json!(created);
        u
    };
    let m = f.map(
        vec![
            // The audit's case: ~/bin of a local account, on its PATH.
            with_home(
                "a",
                "mallory",
                5000,
                "/home/localadmin/bin",
                "2020-01-01T00:00:00Z",
            ),
            with_home("b", "equal", 5001, "/home/bob", "2020-01-02T00:00:00Z"),
            with_home("c", "above", 5002, "/home", "2020-01-03T00:00:00Z"),
            with_home("d", "system", 5003, "/etc/cron.d", "2020-01-04T00:00:00Z"),
            with_home(
                "e",
                "alice",
                5004,
                "/srv/home/alice",
                "2020-01-05T00:00:00Z",
            ),
            // Newer users asking for a home equal to, inside or above alice's.
            with_home("f", "twin", 5005, "/srv/home/alice", "2021-01-01T00:00:00Z"),
            with_home(
                "g",
                "lodger",
                5006,
                "/srv/home/alice/sub",
                "2021-01-02T00:00:00Z",
            ),
            with_home(
                "h",
                "team",
                5007,
                "/srv/home/team/x",
                "2021-01-03T00:00:00Z",
            ),
            with_home(
                "i",
                "landlord",
                5008,
                "/srv/home/team",
                "2021-01-04T00:00:00Z",
            ),
            // Both the given and the default home are taken: the user is skipped.
            with_home(
                "j",
                "squatter",
                5009,
                "/home/landlord",
                "2022-01-01T00:00:00Z",
            ),
        ],
        vec![],
    );
    let home = |name: &str| user_named(&m, name).home.clone();
    assert_eq!(home("mallory"), "/home/mallory");
    assert_eq!(home("equal"), "/home/equal");
    assert_eq!(home("above"), "/home/above");
    assert_eq!(home("system"), "/home/system");
    assert_eq!(home("alice"), "/srv/home/alice");
    assert_eq!(home("twin"), "/home/twin");
    assert_eq!(home("lodger"), "/home/lodger");
    assert_eq!(home("team"), "/srv/home/team/x");
    assert_eq!(home("landlord"), "/home/landlord");
    let note = |name: &str| {
        m.notes
            .iter()
            .find(|n| n.starts_with(&format!("user {name}: ")))
            .cloned()
            .unwrap_or_default()
    };
    assert!(note("mallory").contains("is inside the home of local account localadmin"));
    assert!(note("equal").contains("is the home of local account bob"));
    assert!(note("above").contains("not inside an allowed home root"));
    assert!(note("system").contains("not inside an allowed home root"));
    assert!(note("twin").contains("is the home of directory user alice"));
    assert!(note("lodger").contains("is inside the home of directory user alice"));
    assert!(note("landlord").contains("is above the home of directory user team"));
    let why = skipped_reason(&m, "squatter");
    assert!(
        why.contains("is the home of directory user landlord")
            && why.contains("the default home /home/squatter is refused too")
            && why.contains("local account olduser"),
        "{why}"
    );
    // Every note is one line.
    assert!(m.notes.iter().all(|n| !n.contains('\n')));
}

#[test]
fn a_default_home_that_is_taken_skips_the_user() {
    let mut f = Fixture::new();
    f.local.add_user("svc", Some(990), Some("/home/carol"));
    let m = f.map(vec![user("c", "carol", Some(5000))], vec![]);
    assert!(skipped_reason(&m, "carol").contains("is the home of local account svc"));
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
fn one_certificate_one_user() {
    let mut f = Fixture::new();
    let mut alice = user("u1", "alice@example.com", Some(5000));
    alice["emails"] = json!([{"value": "alice@example.com", "primary": true}]);
    // The audit's case: bob's record lists alice's address.
    let mut bob = user("u2", "bob2@example.com", Some(5001));
    bob["emails"] = json!([{"value": "ALICE@example.com", "primary": true}]);
    let mut carol = user("u3", "carol@example.com", Some(5002));
    carol["emails"] =
        json!([{"value": "carol@example.com", "primary": true}, {"value": "shared@example.com"}]);
    let mut dave = user("u4", "dave@example.com", Some(5003));
    dave["emails"] =
        json!([{"value": "dave@example.com"}, {"value": "shared@example.com", "primary": true}]);
    let m = f.map(vec![alice, bob, carol, dave], vec![]);
    assert_eq!(user_named(&m, "alice").principals, vec!["alice"]);
    assert_eq!(
        user_named(&m, "bob2").principals,
        vec!["bob2", "bob2@example.com"]
    );
    // A non-primary address is no principal by default; dave's primary one is shared by nobody
    // who gets it as a principal, so dave keeps it.
    assert_eq!(
        user_named(&m, "carol").principals,
        vec!["carol", "carol@example.com"]
    );
    assert_eq!(
        user_named(&m, "dave").principals,
        vec!["dave", "dave@example.com", "shared@example.com"]
    );
    assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
    assert!(m.warnings[0].contains("alice@example.com is served for none of alice, bob2"));
    assert_eq!(m.withheld_principals[0].users, ["alice", "bob2"]);
    // With every address opted in, the shared one is withheld from both.
    f.principals = vec![PrincipalKind::Name, PrincipalKind::Emails];
    let mut carol = user("u3", "carol@example.com", Some(5002));
    carol["emails"] =
        json!([{"value": "carol@example.com", "primary": true}, {"value": "shared@example.com"}]);
    let mut dave = user("u4", "dave@example.com", Some(5003));
    dave["emails"] = json!([{"value": "shared@example.com"}]);
    let m = f.map(vec![carol, dave], vec![]);
    assert_eq!(
        user_named(&m, "carol").principals,
        vec!["carol", "carol@example.com"]
    );
    assert_eq!(user_named(&m, "dave").principals, vec!["dave"]);
    // A principal equal to a local account's name, ignoring case, is never served.
    f.mapping.strip_domain = false;
    f.principals = vec![
        PrincipalKind::Name,
        PrincipalKind::UserName,
        PrincipalKind::Email,
    ];
    let mut eve = user("u5", "eve", Some(5004));
    eve["emails"] = json!(["LocalAdmin@example.com"]);
    f.local.add_user("localadmin@example.com", Some(1003), None);
    let m = f.map(vec![eve], vec![]);
    assert_eq!(user_named(&m, "eve").principals, vec!["eve"]);
    assert!(
        m.warnings[0].contains("local account localadmin@example.com"),
        "{:?}",
        m.warnings
    );
}

#[test]
fn the_primary_email_is_the_one_marked_primary_or_the_only_one() {
    let mut f = Fixture::new();
    f.principals = vec![PrincipalKind::Email];
    let principals = |emails: Value| {
        let mut u = user("u1", "zed", Some(5000));
        u["emails"] = emails;
        user_named(&f.map(vec![u], vec![]), "zed")
            .principals
            .clone()
    };
    assert_eq!(principals(json!(["z@example.com"])), ["z@example.com"]);
    assert_eq!(
        principals(json!([{"value": "z@example.com"}])),
        ["z@example.com"]
    );
    assert!(principals(json!([{"value": "a@example.com"}, {"value": "b@example.com"}])).is_empty());
    assert_eq!(
        principals(
            json!([{"value": "a@example.com"}, {"value": "b@example.com", "primary": true}])
        ),
        ["b@example.com"]
    );
    assert!(principals(json!([
        {"value": "a@example.com", "primary": true},
        {"value": "b@example.com", "primary": true}
    ]))
    .is_empty());
    // A primary address that is not a valid one is no principal, and no other takes its place.
    assert!(principals(
        json!([{"value": "not an email", "primary": true}, {"value": "b@example.com"}])
    )
    .is_empty());
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
    assert!(!principals::valid_principal("from=\"*\" alice"));
    assert!(!principals::valid_principal("-o"));
    assert!(!principals::valid_principal("a,b"));
}

/// django-scim2 counts users and groups separately: both start at "1".
fn separately_counted_directory() -> (Vec<Value>, Vec<Value>) {
    (
        vec![
            user("1", "alice", None),
            user("2", "bert", None),
            user("3", "carol", None),
        ],
        vec![group("1", "ops", None, &["1", "2", "3"])],
    )
}

fn with_ids(ids: &IdsConfig) -> Fixture {
    let mut f = Fixture::new();
    f.ids = ids.clone();
    f
}

#[test]
fn an_upgraded_host_keeps_its_derived_numbers() {
    // A config written before `[ids] derivation` existed.
    let old_config = "[directory]\nkind = \"scim\"\nurl = \"https://d.example.com/scim/v2\"\n\
                      token_file = \"/etc/usher/scim-token\"\n[ids]\nmin_uid = 1000\n";
    let config = crate::config::Config::parse(old_config).unwrap();
    assert_eq!(config.ids.derivation, Derivation::BareId);
    let mut f = with_ids(&config.ids);
    let (users, groups) = separately_counted_directory();
    let published = f.map(users.clone(), groups.clone());
    // The numbers the code before derivation 2 gave: FNV-1a 64 of the bare id into the default
    // range, computed outside this code.
    assert_eq!(user_named(&published, "bert").uid, 213_503_643);
    assert_eq!(user_named(&published, "carol").uid, 701_875_982);
    assert_eq!(group_named(&published, "ops").unwrap().gid, 1_678_620_660);
    // User "1" collides with group "1", as before, and the reason says what separates them.
    let reason = skipped_reason(&published, "alice");
    assert!(reason.contains("same id 1"), "{reason}");
    assert!(reason.contains("derivation = 2"), "{reason}");

    // The next sync with this code, the published cache as the previous snapshot: every number
    // stays.
    f.previous = Some(published.snapshot.clone());
    let next = f.map(users, groups);
    assert_eq!(next.snapshot.users, published.snapshot.users);
    assert_eq!(next.snapshot.groups, published.snapshot.groups);
}

#[test]
fn a_new_install_separates_users_from_groups() {
    // The packaged example config, which new installs start from, sets derivation 2.
    let example = include_str!("../../../packaging/config/usher.toml.example");
    let config = crate::config::Config::parse(example).unwrap();
    assert_eq!(config.ids.derivation, Derivation::TypeQualified);
    let f = with_ids(&config.ids);
    let (users, groups) = separately_counted_directory();
    let m = f.map(users, groups);
    assert!(m.skipped.is_empty(), "{:?}", m.skipped);
    assert_eq!(names(&m), vec!["alice", "bert", "carol"]);
    // FNV-1a 64 of "user:1" and "group:1" into the default range, computed outside this code.
    let alice = user_named(&m, "alice");
    assert_eq!((alice.uid, alice.gid), (439_975_475, 439_975_475));
    let ops = group_named(&m, "ops").unwrap();
    assert_eq!(ops.gid, 1_665_961_388);
    assert_eq!(ops.members, vec!["alice", "bert", "carol"]);
    assert_eq!(group_named(&m, "alice").unwrap().gid, alice.uid);
    // Users and groups are each derived in their own domain, whatever the id.
    for id in ["1", "00u1abc", "5f0c-uuid", ""] {
        assert_ne!(
            derive_number(NumberFor::User, id, &config.ids),
            derive_number(NumberFor::Group, id, &config.ids),
            "{id}"
        );
    }
}

#[test]
fn derivation_must_be_one_or_two() {
    let base = "[directory]\nkind = \"file\"\npath = \"/d\"\n[ids]\n";
    for (text, want) in [
        ("derivation = 1\n", Some(Derivation::BareId)),
        ("derivation = 2\n", Some(Derivation::TypeQualified)),
        ("derivation = 3\n", None),
        ("derivation = 0\n", None),
        ("derivation = \"2\"\n", None),
    ] {
        let parsed = crate::config::Config::parse(&format!("{base}{text}"));
        assert_eq!(
            parsed.as_ref().ok().map(|c| c.ids.derivation),
            want,
            "{text}"
        );
    }
    let err = crate::config::Config::parse(&format!("{base}derivation = 3\n")).unwrap_err();
    assert!(err.contains("ids.derivation must be 1 or 2"), "{err}");
}
