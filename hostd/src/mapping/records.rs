//! Directory records in the compact form the mapping works on. A source hands each SCIM resource
//! to `Records` as soon as it has parsed it; the resource is validated on its own (id, names,
//! numbers, paths, keys: everything that does not depend on other records) and kept only as a
//! packed `CompactUser` or `GroupRecord`, so a large directory is never held as JSON trees.
//! Directory ids are interned once and referred to by number, members included.

use super::{
    check_home, check_number, clean_gecos, derive_number, directory_id, invalid_name_reason,
    number, valid_email, valid_ssh_keys, NumberFor,
};
use crate::config::{IdsConfig, MappingConfig};
use crate::scim::{self, printable};
use hashbrown::HashTable;
use serde_json::Value;
use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

/// Strings stored once each, named by their index.
#[derive(Default)]
pub struct Interner {
    text: String,
    ends: Vec<usize>,
    table: HashTable<u32>,
    hasher: RandomState,
}

fn symbol_text<'a>(text: &'a str, ends: &[usize], sym: u32) -> &'a str {
    let i = sym as usize;
    let start = match i.checked_sub(1) {
        Some(prev) => ends.get(prev).copied().unwrap_or(0),
        None => 0,
    };
    let end = ends.get(i).copied().unwrap_or(start);
    text.get(start..end).unwrap_or_default()
}

impl Interner {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn shrink_to_fit(&mut self) {
        let Interner {
            text,
            ends,
            table,
            hasher,
        } = self;
        text.shrink_to_fit();
        ends.shrink_to_fit();
        table.shrink_to_fit(|&sym| hasher.hash_one(symbol_text(text, ends, sym)));
    }

    pub fn get(&self, sym: u32) -> &str {
        symbol_text(&self.text, &self.ends, sym)
    }

    pub fn lookup(&self, s: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(s);
        self.table
            .find(hash, |&sym| symbol_text(&self.text, &self.ends, sym) == s)
            .copied()
    }

    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(sym) = self.lookup(s) {
            return sym;
        }
        let Interner {
            text,
            ends,
            table,
            hasher,
        } = self;
        // Fewer than 2^32 records fit in any listing the sources accept (max_entries).
        let sym = u32::try_from(ends.len()).unwrap_or(u32::MAX);
        text.push_str(s);
        ends.push(text.len());
        table.insert_unique(hasher.hash_one(s), sym, |&other| {
            hasher.hash_one(symbol_text(text, ends, other))
        });
        sym
    }
}

/// Where a record stands in the fixed order of decisions: oldest first by `meta.created`
/// (records without a readable date last), then by id, then as listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Created(i64, u32);

impl Created {
    const UNKNOWN: Created = Created(i64::MAX, u32::MAX);

    fn of(resource: &Value) -> Created {
        scim::string_attribute(resource, "meta.created")
            .ok()
            .flatten()
            .and_then(|s| {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
            })
            .map_or(Created::UNKNOWN, |t| {
                Created(t.unix_timestamp(), t.nanosecond())
            })
    }
}

/// The `id` a resource's age is ordered by: its string, or "" when it has none.
fn raw_id(resource: &Value) -> &str {
    scim::string_attribute(resource, "id")
        .ok()
        .flatten()
        .unwrap_or_default()
}

const ACTIVE: u8 = 1;
const EXPLICIT_GID: u8 = 2;
const CAN_LOGIN: u8 = 4;
const CAN_SUDO: u8 = 8;
const PRIVATE_GROUP: u8 = 16;
const SKIPPED: u8 = 32;
const PRIMARY_EMAIL: u8 = 64;

/// One user, its text fields packed into one allocation: name, directory name, gecos, home,
/// shell, then the emails and the SSH keys, each list joined by '\n' (which neither an email
/// nor a key line can hold).
pub struct CompactUser {
    text: Box<str>,
    ends: [u32; 6],
    /// The directory id, as a symbol of `Records::user_ids`.
    pub id: u32,
    pub uid: u32,
    pub gid: u32,
    pub(crate) created: Created,
    pub(crate) seq: u32,
    flags: u8,
}

impl CompactUser {
    pub(crate) fn pack<'a>(
        fields: [&str; 5],
        emails: impl Iterator<Item = &'a str>,
        ssh_keys: impl Iterator<Item = &'a str>,
    ) -> Result<(Box<str>, [u32; 6]), String> {
        let mut text = String::new();
        let mut ends = [0u32; 6];
        let end = |text: &String| u32::try_from(text.len()).map_err(|_| "record too large");
        for (field, slot) in fields.iter().zip(ends.iter_mut()) {
            text.push_str(field);
            *slot = end(&text)?;
        }
        let join = |text: &mut String, items: &mut dyn Iterator<Item = &'a str>| {
            for (i, item) in items.filter(|s| !s.contains('\n')).enumerate() {
                if i > 0 {
                    text.push('\n');
                }
                text.push_str(item);
            }
        };
        join(&mut text, &mut { emails });
        ends[5] = end(&text)?;
        join(&mut text, &mut { ssh_keys });
        end(&text)?;
        Ok((text.into_boxed_str(), ends))
    }

    pub(crate) fn new(
        (text, ends): (Box<str>, [u32; 6]),
        id: u32,
        uid: u32,
        gid: u32,
        active: bool,
        explicit_gid: bool,
    ) -> CompactUser {
        let mut flags = 0;
        if active {
            flags |= ACTIVE;
        }
        if explicit_gid {
            flags |= EXPLICIT_GID;
        }
        CompactUser {
            text,
            ends,
            id,
            uid,
            gid,
            created: Created::UNKNOWN,
            seq: 0,
            flags,
        }
    }

    fn span(&self, i: usize) -> &str {
        let start = match i.checked_sub(1) {
            Some(prev) => self.ends.get(prev).map_or(0, |e| *e as usize),
            None => 0,
        };
        let end = self.ends.get(i).map_or(self.text.len(), |e| *e as usize);
        self.text.get(start..end).unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.span(0)
    }
    pub fn directory_name(&self) -> &str {
        self.span(1)
    }
    pub fn gecos(&self) -> &str {
        self.span(2)
    }
    pub fn home(&self) -> &str {
        self.span(3)
    }
    pub fn shell(&self) -> &str {
        self.span(4)
    }
    pub fn emails(&self) -> impl Iterator<Item = &str> {
        self.span(5).split('\n').filter(|s| !s.is_empty())
    }
    pub fn ssh_keys(&self) -> impl Iterator<Item = &str> {
        self.span(6).split('\n').filter(|s| !s.is_empty())
    }
    /// The email the directory vouches for: the one marked primary, or the only one.
    pub fn primary_email(&self) -> Option<&str> {
        self.flag(PRIMARY_EMAIL)
            .then(|| self.emails().next())
            .flatten()
    }
    pub(crate) fn set_primary_email(&mut self, on: bool) {
        self.set(PRIMARY_EMAIL, on);
    }

    /// This user with another home.
    pub(crate) fn with_home(&self, home: &str) -> Option<CompactUser> {
        let emails: Vec<&str> = self.emails().collect();
        let keys: Vec<&str> = self.ssh_keys().collect();
        let packed = CompactUser::pack(
            [
                self.name(),
                self.directory_name(),
                self.gecos(),
                home,
                self.shell(),
            ],
            emails.into_iter(),
            keys.into_iter(),
        )
        .ok()?;
        Some(CompactUser {
            text: packed.0,
            ends: packed.1,
            ..*self
        })
    }

    fn flag(&self, f: u8) -> bool {
        self.flags & f != 0
    }
    fn set(&mut self, f: u8, on: bool) {
        if on {
            self.flags |= f;
        } else {
            self.flags &= !f;
        }
    }
    pub fn active(&self) -> bool {
        self.flag(ACTIVE)
    }
    pub(crate) fn set_active(&mut self, on: bool) {
        self.set(ACTIVE, on);
    }
    pub fn explicit_gid(&self) -> bool {
        self.flag(EXPLICIT_GID)
    }
    pub fn can_login(&self) -> bool {
        self.flag(CAN_LOGIN)
    }
    pub fn can_sudo(&self) -> bool {
        self.flag(CAN_SUDO)
    }
    pub(crate) fn set_access(&mut self, login: bool, sudo: bool) {
        self.set(CAN_LOGIN, login);
        self.set(CAN_SUDO, sudo);
    }
    pub fn private_group(&self) -> bool {
        self.flag(PRIVATE_GROUP)
    }
    pub(crate) fn set_private_group(&mut self) {
        self.set(PRIVATE_GROUP, true);
    }
    pub fn skipped(&self) -> bool {
        self.flag(SKIPPED)
    }
    pub(crate) fn set_skipped(&mut self) {
        self.set(SKIPPED, true);
    }
}

/// A user record that failed validation: what a skip report, or keeping the previous entry,
/// needs of it.
pub struct InvalidUser {
    /// The directory id, when it was a valid one.
    pub id: Option<u32>,
    pub raw_id: Box<str>,
    pub name: String,
    pub reason: String,
    /// The record says inactive, or cannot say: a kept previous entry is then made inactive.
    pub deactivate: bool,
    pub(crate) created: Created,
    pub(crate) seq: u32,
}

pub struct GroupRecord {
    pub name: Box<str>,
    pub id: Box<str>,
    pub gid: u32,
    /// Member user ids, as symbols of `Records::user_ids`.
    pub members: Box<[u32]>,
    pub(crate) created: Created,
    pub(crate) seq: u32,
}

pub struct InvalidGroup {
    /// The directory id when it was valid, else "".
    pub id: Box<str>,
    pub raw_id: Box<str>,
    pub name: String,
    pub reason: String,
    pub(crate) created: Created,
    pub(crate) seq: u32,
}

/// Validates single records; built from the configuration before anything is fetched.
#[derive(Debug, Clone)]
pub struct Projector {
    pub(crate) mapping: MappingConfig,
    pub(crate) ids: IdsConfig,
    /// Shells listed in /etc/shells.
    pub(crate) shells: HashSet<String>,
}

impl Projector {
    pub fn new(mapping: &MappingConfig, ids: &IdsConfig, shells: HashSet<String>) -> Self {
        Projector {
            mapping: mapping.clone(),
            ids: ids.clone(),
            shells,
        }
    }

    /// The user-level checks of one record (everything but collisions with other records).
    fn user(
        &self,
        r: &Value,
        id: u32,
        id_text: &str,
        notes: &mut Vec<String>,
    ) -> Result<CompactUser, String> {
        let m = &self.mapping;
        let directory_name = scim::string_attribute(r, &m.user_name)?
            .ok_or_else(|| format!("no {}", m.user_name))?;
        let name = if m.strip_domain {
            directory_name.split('@').next().unwrap_or_default()
        } else {
            directory_name
        };
        if let Some(reason) = invalid_name_reason(name) {
            return Err(format!("invalid user name {}: {reason}", printable(name)));
        }
        let with_name = |reason: String| format!("{name}: {reason}");
        let active = scim::bool_attribute(r, &m.active)
            .map_err(with_name)?
            .unwrap_or(true);
        let uid = match number(r, &m.uid, "uid", self.ids.min_uid).map_err(with_name)? {
            Some(uid) => uid,
            None => {
                let uid = derive_number(NumberFor::User, id_text, &self.ids);
                check_number(uid, self.ids.min_uid, "derived uid").map_err(with_name)?;
                uid
            }
        };
        let (gid, explicit_gid) =
            match number(r, &m.gid, "gid", self.ids.min_gid).map_err(with_name)? {
                Some(gid) => (gid, true),
                None => {
                    check_number(uid, self.ids.min_gid, "user-private gid").map_err(with_name)?;
                    (uid, false)
                }
            };
        // A home the directory gives is checked against local and other directory homes by the
        // mapping; one that is not even a path is replaced by the default here.
        let default_home = || default_home(&m.home_root, name);
        let home = match scim::string_attribute(r, &m.home).map_err(with_name)? {
            Some(home) => match check_home(home) {
                Ok(()) => home.to_string(),
                Err(reason) => {
                    let home = default_home();
                    notes.push(format!(
                        "user {name}: {reason}; using the default home {home}"
                    ));
                    home
                }
            },
            None => default_home(),
        };
        let shell = match scim::string_attribute(r, &m.shell).map_err(with_name)? {
            Some(shell) if self.shells.contains(shell) => shell,
            Some(shell) => {
                notes.push(format!(
                    "user {name}: shell {} is not in /etc/shells, using {}",
                    printable(shell),
                    m.default_shell
                ));
                &m.default_shell
            }
            None => &m.default_shell,
        };
        let gecos = match scim::attribute(r, &m.gecos) {
            Some(Value::String(s)) => clean_gecos(s),
            _ => String::new(),
        };
        let emails: Vec<String> = scim::multi_values(r, &m.emails)
            .into_iter()
            .filter(|e| valid_email(e))
            .take(16)
            .collect();
        let primary_email = scim::primary_value(r, &m.emails);
        let vouched =
            primary_email.is_some() && emails.first().map(String::as_str) == primary_email;
        let (ssh_keys, rejected_keys) = valid_ssh_keys(scim::multi_values(r, &m.ssh_keys));
        if rejected_keys > 0 {
            notes.push(format!(
                "user {name}: {rejected_keys} SSH key(s) rejected as malformed"
            ));
        }
        let packed = CompactUser::pack(
            [name, directory_name, &gecos, &home, shell],
            emails.iter().map(String::as_str),
            ssh_keys.iter().map(String::as_str),
        )
        .map_err(with_name)?;
        let mut user = CompactUser::new(packed, id, uid, gid, active, explicit_gid);
        user.set_primary_email(vouched);
        Ok(user)
    }
}

/// `{home_root}/{name}`, in normal form.
pub fn default_home(home_root: &str, name: &str) -> String {
    let root = super::local::normal_path(home_root);
    format!("{}/{name}", root.trim_end_matches('/'))
}

/// Everything one fetch yielded, validated record by record.
#[derive(Default)]
pub struct Records {
    pub user_ids: Interner,
    pub group_ids: Interner,
    pub users: Vec<CompactUser>,
    pub invalid_users: Vec<InvalidUser>,
    pub groups: Vec<GroupRecord>,
    pub invalid_groups: Vec<InvalidGroup>,
    /// Things worth a log line that did not cost an entry (shell fallbacks, rejected keys).
    pub notes: Vec<String>,
    /// By id symbol: a user (group) record with this id was added already.
    users_listed: Vec<bool>,
    groups_listed: Vec<bool>,
    seq: u32,
}

/// Marks `sym` in `listed`; false if it was marked already.
fn first_listing(listed: &mut Vec<bool>, sym: u32) -> bool {
    let i = sym as usize;
    if listed.len() <= i {
        listed.resize(i + 1, false);
    }
    match listed.get_mut(i) {
        Some(seen) if *seen => false,
        Some(seen) => {
            *seen = true;
            true
        }
        None => true,
    }
}

impl Records {
    pub fn user_count(&self) -> usize {
        self.users.len() + self.invalid_users.len()
    }

    pub fn group_count(&self) -> usize {
        self.groups.len() + self.invalid_groups.len()
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.saturating_add(1);
        self.seq
    }

    /// Adds one User resource. With `dedup`, a record whose id was listed already is left out
    /// (a server that pages inconsistently) and false is returned.
    pub fn add_user(&mut self, p: &Projector, r: &Value, dedup: bool) -> bool {
        let created = Created::of(r);
        let id = directory_id(r).map(|id| self.user_ids.intern(&id));
        if let (Ok(sym), true) = (&id, dedup) {
            if !first_listing(&mut self.users_listed, *sym) {
                return false;
            }
        }
        let seq = self.next_seq();
        let result = match &id {
            Ok(sym) => {
                let id_text = self.user_ids.get(*sym).to_string();
                p.user(r, *sym, &id_text, &mut self.notes)
            }
            Err(reason) => Err(reason.clone()),
        };
        match result {
            Ok(mut user) => {
                user.created = created;
                user.seq = seq;
                self.users.push(user);
            }
            Err(reason) => {
                let name = scim::string_attribute(r, &p.mapping.user_name)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
                    .to_string();
                self.invalid_users.push(InvalidUser {
                    id: id.ok(),
                    raw_id: raw_id(r).into(),
                    name,
                    reason,
                    deactivate: matches!(
                        scim::bool_attribute(r, &p.mapping.active),
                        Ok(Some(false)) | Err(_)
                    ),
                    created,
                    seq,
                });
            }
        }
        true
    }

    /// Adds one Group resource; `dedup` as for users.
    pub fn add_group(&mut self, p: &Projector, r: &Value, dedup: bool) -> bool {
        let created = Created::of(r);
        let id = directory_id(r);
        if let (Ok(id), true) = (&id, dedup) {
            let sym = self.group_ids.intern(id);
            if !first_listing(&mut self.groups_listed, sym) {
                return false;
            }
        }
        let seq = self.next_seq();
        let result = id.clone().and_then(|id| {
            let m = &p.mapping;
            let name = scim::string_attribute(r, &m.group_name)?
                .ok_or_else(|| format!("no {}", m.group_name))?;
            if let Some(reason) = invalid_name_reason(name) {
                return Err(format!("invalid group name {}: {reason}", printable(name)));
            }
            let with_name = |reason: String| format!("{name}: {reason}");
            let gid = match number(r, &m.group_gid, "gid", p.ids.min_gid).map_err(with_name)? {
                Some(gid) => gid,
                None => {
                    let gid = derive_number(NumberFor::Group, &id, &p.ids);
                    check_number(gid, p.ids.min_gid, "derived gid").map_err(with_name)?;
                    gid
                }
            };
            Ok((name.to_string(), id, gid))
        });
        match result {
            Ok((name, id, gid)) => {
                let members: Box<[u32]> = scim::member_ids(r)
                    .map(|m| self.user_ids.intern(m))
                    .collect();
                self.groups.push(GroupRecord {
                    name: name.into(),
                    id: id.into(),
                    gid,
                    members,
                    created,
                    seq,
                });
            }
            Err(reason) => {
                let name = scim::string_attribute(r, &p.mapping.group_name)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
                    .to_string();
                self.invalid_groups.push(InvalidGroup {
                    id: id.unwrap_or_default().into(),
                    raw_id: raw_id(r).into(),
                    name,
                    reason,
                    created,
                    seq,
                });
            }
        }
        true
    }
}
