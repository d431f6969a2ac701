//! The host the mapping targets map onto (a config with `id:`/`name:` policy entries, local
//! accounts read from passwd/group files the way usherd reads them) and the invariants every
//! mapped snapshot must satisfy, whatever the directory sent.

use serde_json::Value;
use std::collections::{HashMap, HashSet};
use usher_cache::Snapshot;
use usher_hostd::config::{Config, MAX_ID, SYSTEMD_DYNAMIC_IDS};
use usher_hostd::mapping::{map_directory, DirectoryData, LocalAccounts, MappingContext};

pub const CONFIG: &str = r#"
[directory]
kind = "file"
path = "/nonexistent/directory.json"

[ids]
min_uid = 1000
min_gid = 1000

[access]
login_groups = ["name:ops", "id:g-login"]
sudo_groups = ["id:g-sudo", "name:wheel"]

[ssh]
principals = ["name", "user_name", "emails"]
"#;

pub const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
bob:x:1001:1001::/home/bob:/bin/bash
localadmin:x:1002:1002::/home/localadmin:/bin/bash
svc:x:1500:1500::/srv/svc:/bin/sh
";

/// `ghost` is a stale member: listed in `sudo` but with no passwd entry.
pub const GROUP: &str = "\
root:x:0:
daemon:x:1:
sudo:x:27:localadmin,ghost
bob:x:1001:
localadmin:x:1002:
devs-local:x:3000:bob
svc:x:1500:
nogroup:x:65534:
";

pub const SUDO_GROUP_ID: &str = "g-sudo";
pub const SUDO_GROUP_NAME: &str = "wheel";
pub const LOGIN_GROUP_ID: &str = "g-login";
pub const LOGIN_GROUP_NAME: &str = "ops";

/// Paths no directory home may be, or be inside.
const SYSTEM_PATHS: &[&str] = &[
    "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/boot", "/dev", "/proc", "/sys",
    "/run", "/root",
];

pub struct Fixture {
    pub config: Config,
    pub local: LocalAccounts,
    pub shells: HashSet<String>,
    local_users: Vec<(String, u32, String)>,
    local_groups: Vec<(String, u32, Vec<String>)>,
}

fn fields(line: &str) -> Vec<&str> {
    line.split(':').collect()
}

impl Fixture {
    pub fn new() -> Fixture {
        let config = Config::parse(CONFIG).expect("the fuzz config parses");
        let dir = tempfile::tempdir().expect("temp dir");
        let (passwd, group) = (dir.path().join("passwd"), dir.path().join("group"));
        std::fs::write(&passwd, PASSWD).expect("write passwd");
        std::fs::write(&group, GROUP).expect("write group");
        let local = LocalAccounts::read(&passwd, &group).expect("read local accounts");
        let local_users = PASSWD
            .lines()
            .map(fields)
            .map(|f| {
                (
                    f[0].to_string(),
                    f[2].parse().expect("uid"),
                    f[5].to_string(),
                )
            })
            .collect();
        let local_groups = GROUP
            .lines()
            .map(fields)
            .map(|f| {
                let members = f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect();
                (f[0].to_string(), f[2].parse().expect("gid"), members)
            })
            .collect();
        let shells = ["/bin/bash", "/bin/sh", "/usr/bin/zsh"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        Fixture {
            config,
            local,
            shells,
            local_users,
            local_groups,
        }
    }

    /// Maps `users` and `groups` (with `previous` as the published snapshot) and checks the result.
    pub fn map_and_check(
        &self,
        users: Vec<Value>,
        groups: Vec<Value>,
        previous: Option<&Snapshot>,
    ) -> Snapshot {
        let input_groups = groups.clone();
        let ctx = MappingContext {
            mapping: &self.config.mapping,
            ids: &self.config.ids,
            access: &self.config.access,
            principals: &self.config.ssh.principals,
            local: &self.local,
            shells: &self.shells,
            previous: previous.map(|p| p as &dyn usher_hostd::mapping::PreviousEntries),
        };
        let mapped = map_directory(DirectoryData { users, groups }, &ctx);
        let snapshot = mapped.snapshot.to_snapshot();
        self.check(&snapshot, &input_groups);
        snapshot
    }

    fn check_number(&self, n: u32, what: &str) {
        let min = self.config.ids.min_uid.min(self.config.ids.min_gid);
        assert!(n != 0, "{what}: number 0");
        assert!(n >= min, "{what}: {n} below the minimum");
        assert!(
            !SYSTEMD_DYNAMIC_IDS.contains(&n),
            "{what}: {n} in systemd's dynamic range"
        );
        assert!(n <= MAX_ID, "{what}: {n} above {MAX_ID}");
    }

    fn check_name(&self, name: &str, what: &str) {
        if let Some(reason) = crate::invalid_name_reason(name) {
            panic!("{what}: invalid name {name:?} ({reason})");
        }
    }

    /// Every invariant of a mapped snapshot.
    pub fn check(&self, s: &Snapshot, input_groups: &[Value]) {
        let lower = |s: &str| s.to_ascii_lowercase();
        let local_user_names: HashSet<String> =
            self.local_users.iter().map(|(n, _, _)| lower(n)).collect();
        let local_group_names: HashSet<String> =
            self.local_groups.iter().map(|(n, _, _)| lower(n)).collect();
        let stale_members: HashSet<String> = self
            .local_groups
            .iter()
            .flat_map(|(_, _, m)| m.iter().map(|n| lower(n)))
            .collect();
        let local_uids: HashSet<u32> = self.local_users.iter().map(|(_, id, _)| *id).collect();
        let local_gids: HashSet<u32> = self.local_groups.iter().map(|(_, id, _)| *id).collect();

        let mut names = HashSet::new();
        let mut uids = HashSet::new();
        let mut homes: Vec<(Vec<&str>, &str)> = Vec::new();
        let mut principal_owner: HashMap<&str, &str> = HashMap::new();
        for u in &s.users {
            let what = format!("user {:?} (uid {})", u.name, u.uid);
            self.check_name(&u.name, &what);
            self.check_number(u.uid, &what);
            self.check_number(u.gid, &format!("{what}, primary gid"));
            assert!(
                u.uid >= self.config.ids.min_uid,
                "{what}: uid below min_uid"
            );
            assert!(
                u.gid >= self.config.ids.min_gid,
                "{what}: gid below min_gid"
            );
            assert!(
                names.insert(u.name.as_str()),
                "{what}: two users share the name"
            );
            assert!(uids.insert(u.uid), "{what}: two users share the uid");
            let l = lower(&u.name);
            assert!(
                !local_user_names.contains(&l) && !local_group_names.contains(&l),
                "{what}: a local account or group has this name (ignoring case)"
            );
            assert!(
                !stale_members.contains(&l),
                "{what}: a local group lists this name as a member"
            );
            assert!(
                !local_uids.contains(&u.uid),
                "{what}: a local account has this uid"
            );
            assert!(
                !local_gids.contains(&u.gid),
                "{what}: primary gid is a local group's"
            );
            // Home: absolute, no '..', not a system path, its own.
            assert!(
                u.home.starts_with('/'),
                "{what}: home {:?} not absolute",
                u.home
            );
            let parts: Vec<&str> = u
                .home
                .split('/')
                .filter(|p| !p.is_empty() && *p != ".")
                .collect();
            assert!(!parts.contains(&".."), "{what}: home {:?} has '..'", u.home);
            assert!(!parts.is_empty(), "{what}: home is /");
            for sys in SYSTEM_PATHS {
                let sys: Vec<&str> = sys.split('/').filter(|p| !p.is_empty()).collect();
                assert!(
                    !parts.starts_with(&sys),
                    "{what}: home {:?} is a system path",
                    u.home
                );
            }
            for (lname, _, lhome) in &self.local_users {
                let lparts: Vec<&str> = lhome.split('/').filter(|p| !p.is_empty()).collect();
                assert!(
                    !parts.starts_with(&lparts) && !lparts.starts_with(&parts),
                    "{what}: home {:?} is, is inside or is above {lname}'s home {lhome}",
                    u.home
                );
            }
            for (other, owner) in &homes {
                assert!(
                    !parts.starts_with(other) && !other.starts_with(&parts),
                    "{what}: home {:?} is, is inside or is above {owner}'s home",
                    u.home
                );
            }
            homes.push((parts, &u.name));
            // Principals served for a login: one user each, never a local account's name.
            if u.active && u.can_login {
                for p in &u.principals {
                    assert!(
                        !self.local_users.iter().any(|(n, _, _)| n == p),
                        "{what}: principal {p:?} is a local account's name"
                    );
                    if let Some(first) = principal_owner.insert(p, &u.name) {
                        panic!("{what}: principal {p:?} also served for {first}");
                    }
                }
            }
        }

        let mut group_names = HashSet::new();
        let mut gids = HashSet::new();
        for g in &s.groups {
            let what = format!("group {:?} (gid {})", g.name, g.gid);
            self.check_name(&g.name, &what);
            self.check_number(g.gid, &what);
            assert!(
                g.gid >= self.config.ids.min_gid,
                "{what}: gid below min_gid"
            );
            assert!(
                group_names.insert(g.name.as_str()),
                "{what}: two groups share the name"
            );
            assert!(gids.insert(g.gid), "{what}: two groups share the gid");
            assert!(
                !local_group_names.contains(&lower(&g.name))
                    && !local_user_names.contains(&lower(&g.name)),
                "{what}: a local group or account has this name (ignoring case)"
            );
            assert!(
                !local_gids.contains(&g.gid),
                "{what}: a local group has this gid"
            );
            for m in &g.members {
                assert!(
                    names.contains(m.as_str()),
                    "{what}: member {m:?} is no user"
                );
            }
        }

        // Policy: a grant only through a group named in the config, in the namespace it says;
        // a display name several directory groups share grants nothing.
        let shared_name = |name: &str| {
            let ids: HashSet<&str> = input_groups
                .iter()
                .filter(|g| g.get("displayName").and_then(Value::as_str) == Some(name))
                .filter_map(|g| g.get("id").and_then(Value::as_str))
                .filter(|id| !id.is_empty())
                .collect();
            ids.len() > 1
        };
        let granting = |id: &str, name: &str| -> HashSet<&str> {
            let by_name_ok = !shared_name(name);
            s.groups
                .iter()
                .filter(|g| g.directory_id.as_deref() == Some(id) || (by_name_ok && g.name == name))
                .flat_map(|g| g.members.iter().map(String::as_str))
                .collect()
        };
        let sudoers = granting(SUDO_GROUP_ID, SUDO_GROUP_NAME);
        let mut logins = granting(LOGIN_GROUP_ID, LOGIN_GROUP_NAME);
        logins.extend(&sudoers);
        for u in &s.users {
            if u.can_sudo {
                assert!(
                    sudoers.contains(u.name.as_str()),
                    "user {:?} may sudo without being a member of a sudo group",
                    u.name
                );
            }
            if u.can_login {
                assert!(
                    logins.contains(u.name.as_str()),
                    "user {:?} may log in without being a member of a login group",
                    u.name
                );
            }
        }
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

/// `{"Users": [...], "Groups": [...]}`, or a bare array of users; anything else is no directory.
pub fn directory_of(value: Value) -> Option<(Vec<Value>, Vec<Value>)> {
    match value {
        Value::Array(users) => Some((users, Vec::new())),
        Value::Object(mut o) => {
            let mut take = |key: &str| match o.remove(key) {
                Some(Value::Array(v)) => v,
                _ => Vec::new(),
            };
            let users = take("Users");
            let groups = take("Groups");
            Some((users, groups))
        }
        _ => None,
    }
}
