//! What a snapshot holds, as the daemon hands it to the writer. Everything here has already passed
//! the daemon's validation; the writer checks only what would break the schema's keys.

use crate::published::strs;
use crate::rows::{ContentHasher, GroupRow, UserRow};

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

impl User {
    /// This user as a row, with `lists` holding the borrowed list items (`emails`, `ssh_keys`,
    /// `principals`) and `group_ids` the supplementary gids.
    pub(crate) fn with_row<T>(&self, group_ids: &[u32], f: impl FnOnce(&UserRow<'_>) -> T) -> T {
        let (emails, ssh_keys, principals) = (
            strs(&self.emails),
            strs(&self.ssh_keys),
            strs(&self.principals),
        );
        f(&UserRow {
            name: &self.name,
            uid: self.uid,
            gid: self.gid,
            gecos: &self.gecos,
            home: &self.home,
            shell: &self.shell,
            active: self.active,
            can_login: self.can_login,
            can_sudo: self.can_sudo,
            directory_id: &self.directory_id,
            directory_name: &self.directory_name,
            emails: &emails,
            ssh_keys: &ssh_keys,
            principals: &principals,
            group_ids,
        })
    }
}

impl Group {
    pub(crate) fn with_row<T>(&self, f: impl FnOnce(&GroupRow<'_>) -> T) -> T {
        let members: Vec<&str> = self.members.iter().map(String::as_str).collect();
        f(&GroupRow {
            gid: self.gid,
            name: &self.name,
            directory_id: self.directory_id.as_deref(),
            members: &members,
        })
    }
}

impl Snapshot {
    /// A digest of the content, stable for equal content within one build of Usher. Order of users,
    /// groups and members does not matter.
    pub fn content_hash(&self) -> String {
        let mut users: Vec<&User> = self.users.iter().collect();
        users.sort_by_key(|u| u.uid);
        let mut groups: Vec<&Group> = self.groups.iter().collect();
        groups.sort_by_key(|g| g.gid);
        let mut hasher = ContentHasher::default();
        for u in users {
            u.with_row(&[], |row| hasher.user(row));
        }
        for g in groups {
            g.with_row(|row| hasher.group(row));
        }
        hasher.finish()
    }
}
