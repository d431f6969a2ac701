//! The mapped snapshot as the daemon holds it: compact users, directory groups with members as
//! user indices, user-private groups as a flag on their user. Rows are lent out one at a time to
//! the writer, the content hash and the comparison with the published snapshot.

use super::principals::{candidates, WithheldSet};
use super::records::{CompactUser, Interner};
use super::NONE;
use crate::config::PrincipalKind;
use usher_cache::{ContentHasher, Group, GroupRow, Snapshot, User, UserRow};

/// A directory group that made it into the snapshot.
#[derive(Debug, Clone)]
pub struct MappedGroup {
    pub name: Box<str>,
    /// The directory's id of the group.
    pub id: Box<str>,
    pub gid: u32,
    /// Indices into `MappedSnapshot::users`, sorted.
    pub members: Box<[u32]>,
    /// Named by `[access] sudo_groups`: its members get sudo through a `%#gid` rule.
    pub sudo: bool,
}

#[derive(Default)]
pub struct MappedSnapshot {
    /// Every user record the mapping accepted at some point; those skipped later are flagged.
    pub(crate) users: Vec<CompactUser>,
    /// The users in the snapshot, by uid.
    pub(crate) by_uid: Vec<u32>,
    /// By directory id symbol: the user in the snapshot with that id, or NONE.
    pub(crate) user_of_id: Vec<u32>,
    pub(crate) user_ids: Interner,
    /// Directory groups, by gid.
    pub(crate) groups: Vec<MappedGroup>,
    pub(crate) principals: Vec<PrincipalKind>,
    /// Principals the uniqueness pass gives nobody.
    pub(crate) withheld: WithheldSet,
}

impl MappedSnapshot {
    fn kept(&self) -> impl Iterator<Item = &CompactUser> {
        self.by_uid
            .iter()
            .filter_map(|&i| self.users.get(i as usize))
    }

    pub fn user_count(&self) -> usize {
        self.by_uid.len()
    }

    pub fn inactive_count(&self) -> usize {
        self.kept().filter(|u| !u.active()).count()
    }

    /// Directory groups and user-private groups.
    pub fn group_count(&self) -> usize {
        self.groups.len() + self.kept().filter(|u| u.private_group()).count()
    }

    /// The directory groups.
    pub fn directory_groups(&self) -> &[MappedGroup] {
        &self.groups
    }

    /// The directory groups `[access] sudo_groups` names, by gid, as the mapping resolved them.
    pub fn sudo_groups(&self) -> impl Iterator<Item = &MappedGroup> {
        self.groups.iter().filter(|g| g.sudo)
    }

    /// The user in the snapshot with this directory id.
    pub fn user_by_directory_id(&self, id: &str) -> Option<&CompactUser> {
        let sym = self.user_ids.lookup(id)?;
        let i = *self.user_of_id.get(sym as usize)?;
        (i != NONE).then(|| self.users.get(i as usize)).flatten()
    }

    /// `u` as a row, lent to `f`.
    pub fn with_user_row<T>(
        &self,
        u: &CompactUser,
        group_ids: &[u32],
        f: impl FnOnce(&UserRow<'_>) -> T,
    ) -> T {
        let emails: Vec<&str> = u.emails().collect();
        let ssh_keys: Vec<&str> = u.ssh_keys().collect();
        let mut principals = candidates(u, &self.principals);
        principals.retain(|p| !self.withheld.contains(p));
        f(&UserRow {
            name: u.name(),
            uid: u.uid,
            gid: u.gid,
            gecos: u.gecos(),
            home: u.home(),
            shell: u.shell(),
            active: u.active(),
            can_login: u.can_login(),
            can_sudo: u.can_sudo(),
            directory_id: self.user_ids.get(u.id),
            directory_name: u.directory_name(),
            emails: &emails,
            ssh_keys: &ssh_keys,
            principals: &principals,
            group_ids,
        })
    }

    /// Every user's row in uid order, with the gids of the groups that list it.
    pub fn for_each_user<E>(
        &self,
        mut f: impl FnMut(&UserRow<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        // Each user's supplementary gids, as one list cut by offsets (a Vec per user would cost
        // an allocation each).
        let mut starts = vec![0u32; self.users.len() + 1];
        for g in &self.groups {
            for &m in g.members.iter() {
                if let Some(n) = starts.get_mut(m as usize + 1) {
                    *n += 1;
                }
            }
        }
        for i in 1..starts.len() {
            let before = starts.get(i - 1).copied().unwrap_or(0);
            if let Some(n) = starts.get_mut(i) {
                *n += before;
            }
        }
        let mut gids = vec![0u32; starts.last().copied().unwrap_or(0) as usize];
        let mut fill = starts.clone();
        for g in &self.groups {
            for &m in g.members.iter() {
                if let Some(at) = fill.get_mut(m as usize) {
                    if let Some(slot) = gids.get_mut(*at as usize) {
                        *slot = g.gid;
                    }
                    *at += 1;
                }
            }
        }
        drop(fill);
        for &i in &self.by_uid {
            let Some(u) = self.users.get(i as usize) else {
                continue;
            };
            let range = starts.get(i as usize).copied().unwrap_or(0) as usize
                ..starts.get(i as usize + 1).copied().unwrap_or(0) as usize;
            let group_ids = gids.get(range).unwrap_or_default();
            self.with_user_row(u, group_ids, &mut f)?;
        }
        Ok(())
    }

    /// Every group's row in gid order: directory groups and user-private groups.
    pub fn for_each_group<E>(
        &self,
        mut f: impl FnMut(&GroupRow<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut private: Vec<(u32, u32)> = self
            .by_uid
            .iter()
            .filter_map(|&i| {
                let u = self.users.get(i as usize)?;
                u.private_group().then_some((u.gid, i))
            })
            .collect();
        private.sort_unstable();
        let mut private = private.into_iter().peekable();
        let mut groups = self.groups.iter().peekable();
        loop {
            let take_private = match (groups.peek(), private.peek()) {
                (Some(g), Some((gid, _))) => *gid < g.gid,
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (None, None) => return Ok(()),
            };
            if take_private {
                if let Some(u) = private.next().and_then(|(_, i)| self.users.get(i as usize)) {
                    f(&GroupRow {
                        gid: u.gid,
                        name: u.name(),
                        directory_id: None,
                        members: &[],
                    })?;
                }
            } else if let Some(g) = groups.next() {
                let members: Vec<&str> = g
                    .members
                    .iter()
                    .filter_map(|&m| self.users.get(m as usize).map(CompactUser::name))
                    .collect();
                f(&GroupRow {
                    gid: g.gid,
                    name: &g.name,
                    directory_id: Some(&g.id),
                    members: &members,
                })?;
            }
        }
    }

    /// The digest `Meta::content_hash` holds: equal for equal content.
    pub fn content_hash(&self) -> String {
        let mut hasher = ContentHasher::default();
        let _ = self.for_each_user(|row| {
            hasher.user(row);
            Ok::<(), ()>(())
        });
        let _ = self.for_each_group(|row| {
            hasher.group(row);
            Ok::<(), ()>(())
        });
        hasher.finish()
    }

    /// The snapshot as plain structs (for tests and small tools; the daemon never builds it).
    pub fn to_snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        let to_strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let _ = self.for_each_user(|row| {
            snapshot.users.push(User {
                name: row.name.into(),
                uid: row.uid,
                gid: row.gid,
                gecos: row.gecos.into(),
                home: row.home.into(),
                shell: row.shell.into(),
                active: row.active,
                can_login: row.can_login,
                can_sudo: row.can_sudo,
                directory_id: row.directory_id.into(),
                directory_name: row.directory_name.into(),
                emails: to_strings(row.emails),
                ssh_keys: to_strings(row.ssh_keys),
                principals: to_strings(row.principals),
            });
            Ok::<(), ()>(())
        });
        let _ = self.for_each_group(|row| {
            let mut members = to_strings(row.members);
            members.sort();
            snapshot.groups.push(Group {
                name: row.name.into(),
                gid: row.gid,
                directory_id: row.directory_id.map(str::to_string),
                members,
            });
            Ok::<(), ()>(())
        });
        snapshot
    }
}
