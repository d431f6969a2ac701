//! Borrowed views of one user row and one group row: what the writer takes, what a scan of a
//! published snapshot yields, and what content digests are computed over. The daemon keeps its
//! snapshot in whatever compact shape it likes and lends rows out one at a time.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// One user as stored: the `users` row and its lists.
#[derive(Debug, Clone, Copy)]
pub struct UserRow<'a> {
    pub name: &'a str,
    pub uid: u32,
    pub gid: u32,
    pub gecos: &'a str,
    pub home: &'a str,
    pub shell: &'a str,
    pub active: bool,
    pub can_login: bool,
    pub can_sudo: bool,
    pub directory_id: &'a str,
    pub directory_name: &'a str,
    pub emails: &'a [&'a str],
    pub ssh_keys: &'a [&'a str],
    pub principals: &'a [&'a str],
    /// The gids of the groups that list this user. Derived from the groups, so not part of the
    /// user's digest.
    pub group_ids: &'a [u32],
}

/// One group as stored.
#[derive(Debug, Clone, Copy)]
pub struct GroupRow<'a> {
    pub gid: u32,
    pub name: &'a str,
    pub directory_id: Option<&'a str>,
    /// POSIX names of the member users, in any order.
    pub members: &'a [&'a str],
}

/// A list as the cache holds it: a set, read back in order.
fn hash_set_of<H: Hasher>(items: &[&str], hasher: &mut H) {
    let mut items = items.to_vec();
    items.sort_unstable();
    items.dedup();
    items.hash(hasher);
}

impl UserRow<'_> {
    /// A digest of everything the cache stores about this user (lists as sets, as the cache keeps
    /// them), so "changed" means "reads differently". Stable within one build.
    pub fn digest(&self) -> u64 {
        // DefaultHasher::new() uses fixed keys: equal input, equal digest, within one build.
        let mut h = DefaultHasher::new();
        self.hash_into(&mut h);
        h.finish()
    }

    fn hash_into<H: Hasher>(&self, h: &mut H) {
        (
            self.name,
            self.uid,
            self.gid,
            self.gecos,
            self.home,
            self.shell,
            self.active,
            self.can_login,
            self.can_sudo,
            self.directory_id,
            self.directory_name,
        )
            .hash(h);
        hash_set_of(self.emails, h);
        hash_set_of(self.ssh_keys, h);
        hash_set_of(self.principals, h);
    }
}

impl GroupRow<'_> {
    fn hash_into<H: Hasher>(&self, h: &mut H) {
        (self.gid, self.name, self.directory_id).hash(h);
        hash_set_of(self.members, h);
    }
}

/// The content hash of a snapshot (`Meta::content_hash`), fed users in uid order and groups in
/// gid order, so it does not depend on the order the directory listed anything in.
pub struct ContentHasher {
    hasher: DefaultHasher,
}

impl Default for ContentHasher {
    fn default() -> Self {
        ContentHasher {
            hasher: DefaultHasher::new(),
        }
    }
}

impl ContentHasher {
    pub fn user(&mut self, row: &UserRow<'_>) {
        0u8.hash(&mut self.hasher);
        row.hash_into(&mut self.hasher);
    }

    pub fn group(&mut self, row: &GroupRow<'_>) {
        1u8.hash(&mut self.hasher);
        row.hash_into(&mut self.hasher);
    }

    pub fn finish(&self) -> String {
        format!("{:016x}", self.hasher.finish())
    }
}
