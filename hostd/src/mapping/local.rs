//! The host's own accounts, read from /etc/passwd and /etc/group (never through NSS, which would
//! answer with Usher's own entries). They win every collision, in every form: a name equal except
//! for case, a name a local group still lists as a member, a number, a home.

use std::collections::{HashMap, HashSet};
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct LocalAccounts {
    uids: HashSet<u32>,
    gids: HashSet<u32>,
    /// User names folded to ASCII lower case, with the name as written.
    users: HashMap<String, String>,
    /// Group names folded to ASCII lower case, with the name as written.
    groups: HashMap<String, String>,
    /// Member names of /etc/group folded to ASCII lower case, with the groups listing them.
    members: HashMap<String, Vec<String>>,
    /// Home directories of local accounts, except "/" (see `homes`).
    homes: Vec<(String, String)>,
}

impl LocalAccounts {
    pub fn read(passwd: &Path, group: &Path) -> std::io::Result<Self> {
        let mut local = LocalAccounts::default();
        for line in std::fs::read_to_string(passwd)?.lines() {
            if let Some((name, fields)) = entry(line) {
                let uid = fields.get(1).and_then(|f| f.parse().ok());
                local.add_user(name, uid, fields.get(4).copied());
            }
        }
        for line in std::fs::read_to_string(group)?.lines() {
            if let Some((name, fields)) = entry(line) {
                let gid = fields.get(1).and_then(|f| f.parse().ok());
                let members = fields.get(2).copied().unwrap_or_default();
                local.add_group(name, gid, members.split(',').map(str::trim));
            }
        }
        Ok(local)
    }

    /// Adds a local user (a passwd line's name, uid and home).
    pub fn add_user(&mut self, name: &str, uid: Option<u32>, home: Option<&str>) {
        self.users
            .insert(name.to_ascii_lowercase(), name.to_string());
        self.uids.extend(uid);
        // "/" is the home of service accounts that have none; every path is inside it. Other
        // placeholders (/nonexistent, /dev/null, /var/empty) are outside every allowed home
        // root, so they never meet a directory home and need no exception.
        if let Some(home) = home.map(str::trim).filter(|h| h.starts_with('/')) {
            let home = normal_path(home);
            if home != "/" {
                self.homes.push((name.to_string(), home));
            }
        }
    }

    /// Adds a local group (a group line's name, gid and member list).
    pub fn add_group<'a>(
        &mut self,
        name: &str,
        gid: Option<u32>,
        members: impl Iterator<Item = &'a str>,
    ) {
        self.groups
            .insert(name.to_ascii_lowercase(), name.to_string());
        self.gids.extend(gid);
        for member in members.filter(|m| !m.is_empty()) {
            let listed = self.members.entry(member.to_ascii_lowercase()).or_default();
            if !listed.iter().any(|g| g == name) {
                listed.push(name.to_string());
            }
        }
    }

    pub fn has_uid(&self, uid: u32) -> bool {
        self.uids.contains(&uid)
    }

    pub fn has_gid(&self, gid: u32) -> bool {
        self.gids.contains(&gid)
    }

    /// The local user whose name equals `name` ignoring ASCII case.
    pub fn user_like(&self, name: &str) -> Option<&str> {
        self.users
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The local group whose name equals `name` ignoring ASCII case.
    pub fn group_like(&self, name: &str) -> Option<&str> {
        self.groups
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The local groups that list `name` (ignoring ASCII case) as a member.
    pub fn groups_listing(&self, name: &str) -> &[String] {
        self.members
            .get(&name.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// (account, home) of every local account with a home other than "/", in normal form.
    pub fn homes(&self) -> &[(String, String)] {
        &self.homes
    }
}

/// `path` with empty and "." components removed (`//home/./bob/` → `/home/bob`).
pub fn normal_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Whether the passwd file at `passwd` has an account named `name`. Read directly, never through
/// NSS (which would answer with Usher's own entries).
pub fn is_local_user(passwd: &Path, name: &str) -> bool {
    std::fs::read_to_string(passwd)
        .is_ok_and(|text| text.lines().filter_map(entry).any(|(n, _)| n == name))
}

/// The name and the other fields of a passwd or group line (`name:x:id:...`); comments are
/// skipped, NIS `+`/`-` lines contribute their name where they have one.
fn entry(line: &str) -> Option<(&str, Vec<&str>)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split(':');
    let name = fields.next()?.trim_start_matches(['+', '-']);
    (!name.is_empty()).then(|| (name, fields.collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_accounts_are_read_from_passwd_and_group_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwd");
        let g = dir.path().join("group");
        std::fs::write(
            &p,
            "root:x:0:0:root:/root:/bin/bash\n# comment\n+nisuser::::::\nbob:x:1001:1001::/home//bob/:/bin/sh\nsvc:x:999:999::/:/usr/sbin/nologin\n",
        )
        .unwrap();
        std::fs::write(&g, "root:x:0:\nsudo:x:27:bob,ghost\nadm:x:4:Ghost\n").unwrap();
        let local = LocalAccounts::read(&p, &g).unwrap();
        assert_eq!(local.user_like("BOB"), Some("bob"));
        assert_eq!(local.user_like("nisuser"), Some("nisuser"));
        assert_eq!(local.user_like("comment"), None);
        assert!(local.has_uid(1001) && local.has_uid(0) && !local.has_uid(1002));
        assert_eq!(local.group_like("Sudo"), Some("sudo"));
        assert!(local.has_gid(27));
        assert_eq!(local.groups_listing("GHOST"), ["sudo", "adm"]);
        assert!(local.groups_listing("alice").is_empty());
        assert_eq!(
            local.homes(),
            [
                ("root".to_string(), "/root".to_string()),
                ("bob".to_string(), "/home/bob".to_string())
            ],
            "'/' is no one's home; paths are compared in normal form"
        );
        assert!(is_local_user(&p, "bob") && is_local_user(&p, "nisuser"));
        assert!(!is_local_user(&p, "bo") && !is_local_user(&p, "comment"));
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normal_path("/home/alice"), "/home/alice");
        assert_eq!(normal_path("//home/./alice//"), "/home/alice");
        assert_eq!(normal_path("/"), "/");
        assert_eq!(normal_path("///"), "/");
    }
}
