//! What a snapshot holds, as the daemon hands it to the writer. Everything here has already passed
//! the daemon's validation; the writer checks only what would break the schema's keys.

/// A POSIX account from the directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub gecos: String,
    pub home: String,
    pub shell: String,
    /// Inactive users keep resolving (their files keep an owner); only access is refused.
    pub active: bool,
    /// Decided by the daemon from host policy at publish time, so modules never read the config.
    pub can_login: bool,
    pub can_sudo: bool,
    /// The directory's immutable id of this user.
    pub directory_id: String,
    /// The directory's own user name (e.g. `alice@example.com`), before mapping to a POSIX name.
    pub directory_name: String,
    pub emails: Vec<String>,
    pub ssh_keys: Vec<String>,
    /// Certificate principals that may log in as this user, chosen by host policy at publish time.
    pub principals: Vec<String>,
}

impl User {
    pub(crate) fn passwd_ref(&self) -> crate::PasswdRef<'_> {
        crate::PasswdRef {
            name: self.name.as_bytes(),
            uid: self.uid,
            gid: self.gid,
            gecos: self.gecos.as_bytes(),
            home: self.home.as_bytes(),
            shell: self.shell.as_bytes(),
        }
    }
}

/// A POSIX group: a directory group, or a user-private group (no `directory_id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub directory_id: Option<String>,
    /// POSIX names of the member users.
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Snapshot {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
}

/// Facts about a published snapshot, kept in its `meta` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// Increases by one with every publish on this host.
    pub generation: u64,
    /// Unix seconds when the snapshot was built.
    pub built_at: i64,
    /// Which directory it came from, e.g. `file:/etc/usher/directory.json` (never a secret).
    pub source: String,
    /// A digest of the content, so an unchanged sync can skip publishing.
    pub content_hash: String,
}

impl Snapshot {
    /// A digest of the content, stable for equal content within one build of Usher. Order of users,
    /// groups and members does not matter.
    pub fn content_hash(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut users: Vec<&User> = self.users.iter().collect();
        users.sort_by_key(|u| u.uid);
        let mut groups: Vec<(u32, &str, &Option<String>, Vec<&String>)> = self
            .groups
            .iter()
            .map(|g| {
                let mut members: Vec<&String> = g.members.iter().collect();
                members.sort();
                (g.gid, g.name.as_str(), &g.directory_id, members)
            })
            .collect();
        groups.sort_by_key(|g| g.0);
        // DefaultHasher::new() uses fixed keys: equal input, equal digest, within one build.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        users.hash(&mut hasher);
        groups.hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }
}
