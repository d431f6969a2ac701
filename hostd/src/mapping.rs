//! From SCIM-shaped directory records to a validated POSIX snapshot. Every source goes through
//! here, so every rule about untrusted input lives in one place and is tested once.
//!
//! The order of decisions is fixed and the same on every host: records are taken oldest first
//! (`meta.created`, then `id`), so when two claim one name or number, the older one keeps it.

use crate::config::{
    AccessConfig, GroupRef, IdsConfig, MappingConfig, PrincipalKind, MAX_ID, SYSTEMD_DYNAMIC_IDS,
};
use crate::scim::{self, printable};
use serde_json::Value;
use std::collections::HashSet;
use usher_cache::{Group, Snapshot, User};

mod records;
mod snapshot;

pub use records::{CompactUser, Interner, Projector, Records};
pub use snapshot::{MappedGroup, MappedSnapshot};

/// What one fetch from a directory yields: SCIM 2.0 User and Group resources.
#[derive(Debug, Clone, Default)]
pub struct DirectoryData {
    pub users: Vec<Value>,
    pub groups: Vec<Value>,
}

/// The host's own accounts and groups, read from /etc/passwd and /etc/group (never through NSS,
/// which would answer with Usher's own entries). They win every collision.
#[derive(Debug, Clone, Default)]
pub struct LocalAccounts {
    pub user_names: HashSet<String>,
    pub uids: HashSet<u32>,
    pub group_names: HashSet<String>,
    pub gids: HashSet<u32>,
}

impl LocalAccounts {
    pub fn read(passwd: &std::path::Path, group: &std::path::Path) -> std::io::Result<Self> {
        let mut local = LocalAccounts::default();
        for line in std::fs::read_to_string(passwd)?.lines() {
            if let Some((name, id)) = name_and_id(line) {
                local.user_names.insert(name.to_string());
                local.uids.extend(id);
            }
        }
        for line in std::fs::read_to_string(group)?.lines() {
            if let Some((name, id)) = name_and_id(line) {
                local.group_names.insert(name.to_string());
                local.gids.extend(id);
            }
        }
        Ok(local)
    }
}

/// Whether the passwd file at `passwd` has an account named `name`. Read directly, never through
/// NSS (which would answer with Usher's own entries).
pub fn is_local_user(passwd: &std::path::Path, name: &str) -> bool {
    std::fs::read_to_string(passwd)
        .is_ok_and(|text| text.lines().filter_map(name_and_id).any(|(n, _)| n == name))
}

/// Name and number of a passwd or group line (`name:x:id:...`); comments and NIS `+`/`-` lines
/// contribute their name only where they have one.
fn name_and_id(line: &str) -> Option<(&str, Option<u32>)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split(':');
    let name = fields.next()?.trim_start_matches(['+', '-']);
    let id = fields.nth(1).and_then(|f| f.parse().ok());
    (!name.is_empty()).then_some((name, id))
}

/// One directory record left out of the snapshot, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "skipped {} id={} name={}: {}",
            self.kind,
            printable(&self.id),
            printable(&self.name),
            self.reason
        )
    }
}

#[derive(Default)]
pub struct Mapped {
    pub snapshot: MappedSnapshot,
    pub skipped: Vec<Skipped>,
    /// Things worth a log line that did not cost an entry (shell fallbacks, dropped members,
    /// entries kept from the previous snapshot).
    pub notes: Vec<String>,
    /// Policy the mapping could not apply as written (a `name:` entry several groups share,
    /// principals withheld): logged as warnings and listed by `usherctl status`.
    pub warnings: Vec<String>,
}

/// Everything the mapping needs besides the records.
pub struct MappingContext<'a> {
    pub mapping: &'a MappingConfig,
    pub ids: &'a IdsConfig,
    pub access: &'a AccessConfig,
    /// Which names a certificate may carry to log in as a user.
    pub principals: &'a [PrincipalKind],
    pub local: &'a LocalAccounts,
    /// Shells listed in /etc/shells.
    pub shells: &'a HashSet<String>,
    /// The published snapshot, if any: a record that fails validation now but was good before
    /// keeps its previous entry ("nothing good already cached is lost").
    pub previous: Option<&'a dyn PreviousEntries>,
}

pub const MAX_NAME_LEN: usize = 32;
const MAX_ID_LEN: usize = 256;
const MAX_PATH_LEN: usize = 1024;
const MAX_GECOS_LEN: usize = 256;
const MAX_EMAIL_LEN: usize = 254;
const MAX_SSH_KEY_LEN: usize = 16 * 1024;
const MAX_SSH_KEYS: usize = 32;

/// Why `name` may not be a POSIX user or group name, if it may not. Stricter than the issue's
/// minimum on purpose: ASCII letters, digits, `_`, `.`, `-` only, so a name is also safe in
/// sudoers, sshd and shell contexts without quoting.
pub fn invalid_name_reason(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty name");
    }
    if name.len() > MAX_NAME_LEN {
        return Some("name longer than 32 bytes");
    }
    if name.starts_with('-') {
        return Some("name starts with '-'");
    }
    if name.starts_with('.') {
        return Some("name starts with '.'");
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Some("name is all digits");
    }
    if name.bytes().any(|b| b.is_ascii_control()) {
        return Some("name contains a control character");
    }
    if name.bytes().any(|b| b.is_ascii_whitespace()) {
        return Some("name contains whitespace");
    }
    if name.bytes().any(|b| matches!(b, b':' | b',' | b'/')) {
        return Some("name contains ':', ',' or '/'");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Some("name contains a character other than letters, digits, '_', '.', '-'");
    }
    None
}

/// FNV-1a, 64 bit: a fixed, documented function so every host derives the same number.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A POSIX number for a directory id that has none: FNV-1a of the id into `[first, last]`.
pub fn derive_id(directory_id: &str, [first, last]: [u32; 2]) -> u32 {
    let span = u64::from(last - first) + 1;
    // The remainder is below `span`, which fits in u32 since last <= MAX_ID.
    first + u32::try_from(fnv1a64(directory_id.as_bytes()) % span).unwrap_or(0)
}

fn check_number(n: u32, min: u32, what: &str) -> Result<(), String> {
    if n == 0 {
        return Err(format!("{what} 0 is never given to a directory entry"));
    }
    if n < min {
        return Err(format!("{what} {n} is below the minimum {min}"));
    }
    if SYSTEMD_DYNAMIC_IDS.contains(&n) {
        return Err(format!(
            "{what} {n} is in systemd's dynamic range 61184-65519"
        ));
    }
    if n > MAX_ID {
        return Err(format!("{what} {n} is above {MAX_ID}"));
    }
    Ok(())
}

fn number(resource: &Value, path: &str, what: &str, min: u32) -> Result<Option<u32>, String> {
    match scim::integer_attribute(resource, path)? {
        None => Ok(None),
        Some(n) => {
            let n = u32::try_from(n).map_err(|_| format!("{what} {n} is out of range"))?;
            check_number(n, min, what)?;
            Ok(Some(n))
        }
    }
}

fn directory_id(resource: &Value) -> Result<String, String> {
    match scim::string_attribute(resource, "id")? {
        None => Err("no id".into()),
        Some(id) if id.is_empty() || id.len() > MAX_ID_LEN => Err("id empty or too long".into()),
        Some(id) if id.chars().any(char::is_control) => {
            Err("id contains control characters".into())
        }
        Some(id) => Ok(id.to_string()),
    }
}

fn clean_gecos(raw: &str) -> String {
    raw.chars()
        .filter(|c| *c != ':' && !c.is_control())
        .take(MAX_GECOS_LEN)
        .collect()
}

fn check_home(home: &str) -> Result<(), String> {
    if !home.starts_with('/') {
        return Err(format!("home {} is not absolute", printable(home)));
    }
    if home.split('/').any(|part| part == "..") {
        return Err(format!("home {} contains '..'", printable(home)));
    }
    if home.len() > MAX_PATH_LEN || home.chars().any(|c| c.is_control() || c == ':') {
        return Err(format!(
            "home {} is too long or has ':' or control characters",
            printable(home)
        ));
    }
    Ok(())
}

fn valid_email(email: &str) -> bool {
    email.len() <= MAX_EMAIL_LEN
        && email.contains('@')
        && !email.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// The directory's SSH public keys that parse as OpenSSH public keys, one per line, comment kept.
fn valid_ssh_keys(raw: Vec<String>) -> (Vec<String>, usize) {
    let mut keys = Vec::new();
    let mut rejected = 0;
    for line in raw.iter().flat_map(|v| v.lines()).map(str::trim) {
        if line.is_empty() {
            continue;
        }
        let ok = line.len() <= MAX_SSH_KEY_LEN
            && !line.chars().any(char::is_control)
            && ssh_key::PublicKey::from_openssh(line).is_ok();
        if ok && keys.len() < MAX_SSH_KEYS {
            keys.push(line.to_string());
        } else {
            rejected += 1;
        }
    }
    (keys, rejected)
}

/// Published entries a record that fails validation now may fall back to.
pub trait PreviousEntries {
    /// The published user with this directory id.
    fn user(&self, directory_id: &str) -> Option<User>;
    /// The published directory group with this directory id.
    fn group(&self, directory_id: &str) -> Option<Group>;
}

impl PreviousEntries for Snapshot {
    fn user(&self, directory_id: &str) -> Option<User> {
        self.users
            .iter()
            .find(|u| u.directory_id == directory_id)
            .cloned()
    }

    fn group(&self, directory_id: &str) -> Option<Group> {
        self.groups
            .iter()
            .find(|g| g.directory_id.as_deref() == Some(directory_id))
            .cloned()
    }
}

/// A name claimed by an entry: a user (by index into the users), or a group.
#[derive(Clone, Copy)]
enum Owner {
    User(u32),
    Group(u32),
    PrivateGroup(u32),
}

/// Names and numbers already given out in this snapshot. Names are compared ignoring ASCII case;
/// the tables hold indices, not copies of the names.
#[derive(Default)]
struct Claims {
    hasher: std::hash::RandomState,
    user_names: hashbrown::HashTable<u32>,
    uids: HashSet<u32>,
    group_names: hashbrown::HashTable<Owner>,
    gids: HashSet<u32>,
}

/// The entries claims refer to.
struct Entries<'a> {
    users: &'a [CompactUser],
    groups: &'a [MappedGroup],
    user_ids: &'a Interner,
}

impl Entries<'_> {
    fn name(&self, owner: Owner) -> &str {
        match owner {
            Owner::User(i) | Owner::PrivateGroup(i) => {
                self.users.get(i as usize).map_or("", CompactUser::name)
            }
            Owner::Group(i) => self.groups.get(i as usize).map_or("", |g| &*g.name),
        }
    }

    /// The directory id reported as the holder of a name.
    fn id(&self, owner: Owner) -> &str {
        match owner {
            Owner::User(i) | Owner::PrivateGroup(i) => self
                .users
                .get(i as usize)
                .map_or("", |u| self.user_ids.get(u.id)),
            Owner::Group(i) => self.groups.get(i as usize).map_or("", |g| &*g.id),
        }
    }
}

impl Claims {
    fn name_hash(&self, name: &str) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = self.hasher.build_hasher();
        for b in name.bytes() {
            h.write_u8(b.to_ascii_lowercase());
        }
        h.finish()
    }

    fn user_named(&self, name: &str, e: &Entries<'_>) -> Option<u32> {
        let hash = self.name_hash(name);
        self.user_names
            .find(hash, |&i| e.name(Owner::User(i)).eq_ignore_ascii_case(name))
            .copied()
    }

    fn group_named(&self, name: &str, e: &Entries<'_>) -> Option<Owner> {
        let hash = self.name_hash(name);
        self.group_names
            .find(hash, |&o| e.name(o).eq_ignore_ascii_case(name))
            .copied()
    }

    fn claim_user(&mut self, i: u32, name: &str, uid: u32, e: &Entries<'_>) {
        let hash = self.name_hash(name);
        let Claims {
            user_names, hasher, ..
        } = self;
        let rehash = |&j: &u32| {
            use std::hash::{BuildHasher, Hasher};
            let mut h = hasher.build_hasher();
            for b in e.name(Owner::User(j)).bytes() {
                h.write_u8(b.to_ascii_lowercase());
            }
            h.finish()
        };
        user_names.insert_unique(hash, i, rehash);
        self.uids.insert(uid);
    }

    fn claim_group(&mut self, owner: Owner, name: &str, gid: u32, e: &Entries<'_>) {
        let hash = self.name_hash(name);
        let Claims {
            group_names,
            hasher,
            ..
        } = self;
        let rehash = |o: &Owner| {
            use std::hash::{BuildHasher, Hasher};
            let mut h = hasher.build_hasher();
            for b in e.name(*o).bytes() {
                h.write_u8(b.to_ascii_lowercase());
            }
            h.finish()
        };
        group_names.insert_unique(hash, owner, rehash);
        self.gids.insert(gid);
    }

    fn user_collision(
        &self,
        (name, uid, gid): (&str, u32, u32),
        local: &LocalAccounts,
        e: &Entries<'_>,
    ) -> Option<String> {
        if local.user_names.contains(name) {
            return Some(format!("name {name} belongs to a local account"));
        }
        if local.uids.contains(&uid) {
            return Some(format!("uid {uid} belongs to a local account"));
        }
        if let Some(other) = self.user_named(name, e) {
            return Some(format!(
                "name {name} is already taken by directory user {}",
                e.id(Owner::User(other))
            ));
        }
        if self.uids.contains(&uid) {
            return Some(format!(
                "uid {uid} is already taken by an older directory user"
            ));
        }
        if local.gids.contains(&gid) {
            return Some(format!("primary gid {gid} belongs to a local group"));
        }
        None
    }

    fn group_collision(
        &self,
        (name, gid): (&str, u32),
        local: &LocalAccounts,
        e: &Entries<'_>,
    ) -> Option<String> {
        if local.group_names.contains(name) {
            return Some(format!("name {name} belongs to a local group"));
        }
        if local.gids.contains(&gid) {
            return Some(format!("gid {gid} belongs to a local group"));
        }
        if let Some(other) = self.group_named(name, e) {
            return Some(format!(
                "name {name} is already taken by group {}",
                e.id(other)
            ));
        }
        if self.gids.contains(&gid) {
            return Some(format!("gid {gid} is already taken"));
        }
        None
    }
}

/// A previous entry in the compact form, its directory id interned.
fn compact_from_previous(old: &User, id: u32) -> Option<CompactUser> {
    let packed = CompactUser::pack(
        [
            &old.name,
            &old.directory_name,
            &old.gecos,
            &old.home,
            &old.shell,
        ],
        old.emails.iter().map(String::as_str),
        old.ssh_keys.iter().map(String::as_str),
    )
    .ok()?;
    Some(CompactUser::new(
        packed,
        id,
        old.uid,
        old.gid,
        old.active,
        old.gid != old.uid,
    ))
}

const NONE: u32 = u32::MAX;
const INVALID: u32 = 1 << 31;

/// Maps and validates SCIM resources held as JSON (tests, and sources that keep resources
/// between syncs). Never fails as a whole: each bad record is skipped with a reason.
pub fn map_directory(data: DirectoryData, ctx: &MappingContext<'_>) -> Mapped {
    let projector = Projector::new(ctx.mapping, ctx.ids, ctx.shells.clone());
    map_records(project(data, &projector), ctx)
}

/// `data`'s resources as records, each dropped as soon as it is projected.
pub fn project(data: DirectoryData, projector: &Projector) -> Records {
    let mut records = Records::default();
    for r in data.users {
        records.add_user(projector, &r, false);
    }
    for r in data.groups {
        records.add_group(projector, &r, false);
    }
    records
}

/// Maps validated records into a snapshot: collisions, memberships, private groups, access.
/// Never fails as a whole: each bad record is skipped with a reason.
pub fn map_records(records: Records, ctx: &MappingContext<'_>) -> Mapped {
    let Records {
        mut user_ids,
        group_ids,
        mut users,
        invalid_users,
        groups: group_records,
        invalid_groups,
        notes,
        ..
    } = records;
    drop(group_ids);
    let shared_names = shared_policy_names(
        ctx.access,
        group_records
            .iter()
            .map(|g| &*g.name)
            .chain(invalid_groups.iter().map(|g| g.name.as_str())),
    );
    let mut out = Mapped {
        notes,
        ..Mapped::default()
    };
    let mut claims = Claims::default();

    // Users, oldest first, valid and invalid records together.
    let user_age = |r: u32| match r & INVALID {
        0 => users
            .get(r as usize)
            .map(|u| (u.created, user_ids.get(u.id), u.seq)),
        _ => invalid_users
            .get((r & !INVALID) as usize)
            .map(|u| (u.created, &*u.raw_id, u.seq)),
    };
    let count = |n: usize| u32::try_from(n).unwrap_or(INVALID - 1).min(INVALID - 1);
    let mut order: Vec<u32> = (0..count(users.len()))
        .chain((0..count(invalid_users.len())).map(|i| i | INVALID))
        .collect();
    order.sort_by(|a, b| user_age(*a).cmp(&user_age(*b)));

    let mut seen = vec![false; user_ids.len()];
    let mut user_of_id = vec![NONE; user_ids.len()];
    let mut accepted: Vec<u32> = Vec::with_capacity(users.len());
    // The listing is complete: give back what growing the list left unused, and make room for
    // the previous entries that may be appended, without letting that double the allocation.
    users.shrink_to(users.len() + invalid_users.len());
    users.reserve_exact(invalid_users.len());
    let no_groups: [MappedGroup; 0] = [];
    for r in order {
        if r & INVALID == 0 {
            let Some(u) = users.get(r as usize) else {
                continue;
            };
            let id = u.id as usize;
            if seen.get(id).copied().unwrap_or(false) {
                let skipped = Skipped {
                    kind: "user",
                    id: user_ids.get(u.id).to_string(),
                    name: u.name().to_string(),
                    reason: "duplicate id".into(),
                };
                out.skipped.push(skipped);
                if let Some(u) = users.get_mut(r as usize) {
                    u.set_skipped();
                }
                continue;
            }
            if let Some(s) = seen.get_mut(id) {
                *s = true;
            }
            let e = Entries {
                users: &users,
                groups: &no_groups,
                user_ids: &user_ids,
            };
            if let Some(reason) = claims.user_collision((u.name(), u.uid, u.gid), ctx.local, &e) {
                out.skipped.push(Skipped {
                    kind: "user",
                    id: user_ids.get(u.id).to_string(),
                    name: u.name().to_string(),
                    reason,
                });
                if let Some(u) = users.get_mut(r as usize) {
                    u.set_skipped();
                }
                continue;
            }
            claims.claim_user(r, u.name(), u.uid, &e);
            if let Some(slot) = user_of_id.get_mut(id) {
                *slot = r;
            }
            accepted.push(r);
        } else {
            let Some(bad) = invalid_users.get((r & !INVALID) as usize) else {
                continue;
            };
            let id_text = bad.id.map_or("", |sym| user_ids.get(sym));
            let old = match (bad.id, ctx.previous) {
                (Some(sym), Some(previous)) if !id_text.is_empty() => {
                    previous.user(id_text).map(|old| (sym, old))
                }
                _ => None,
            };
            let e = Entries {
                users: &users,
                groups: &no_groups,
                user_ids: &user_ids,
            };
            // Keep the last good version, but never let it grant more than the record does now.
            let kept = old
                .filter(|(_, old)| {
                    claims
                        .user_collision((&old.name, old.uid, old.gid), ctx.local, &e)
                        .is_none()
                })
                .and_then(|(sym, old)| compact_from_previous(&old, sym));
            match kept {
                Some(mut old) => {
                    if bad.deactivate {
                        old.set_active(false);
                    }
                    out.notes.push(format!(
                        "user {}: kept the previous entry because the directory's record is invalid ({})",
                        old.name(),
                        bad.reason
                    ));
                    let i = count(users.len());
                    let (sym, uid) = (old.id, old.uid);
                    let name = old.name().to_string();
                    users.push(old);
                    let e = Entries {
                        users: &users,
                        groups: &no_groups,
                        user_ids: &user_ids,
                    };
                    claims.claim_user(i, &name, uid, &e);
                    if let Some(s) = seen.get_mut(sym as usize) {
                        *s = true;
                    }
                    if let Some(slot) = user_of_id.get_mut(sym as usize) {
                        *slot = i;
                    }
                    accepted.push(i);
                }
                None => out.skipped.push(Skipped {
                    kind: "user",
                    id: id_text.to_string(),
                    name: bad.name.clone(),
                    reason: bad.reason.clone(),
                }),
            }
        }
    }
    drop(invalid_users);
    drop(seen);

    // Directory groups, oldest first.
    let group_age = |r: u32| match r & INVALID {
        0 => group_records
            .get(r as usize)
            .map(|g| (g.created, &*g.id, g.seq)),
        _ => invalid_groups
            .get((r & !INVALID) as usize)
            .map(|g| (g.created, &*g.raw_id, g.seq)),
    };
    let mut order: Vec<u32> = (0..count(group_records.len()))
        .chain((0..count(invalid_groups.len())).map(|i| i | INVALID))
        .collect();
    order.sort_by(|a, b| group_age(*a).cmp(&group_age(*b)));
    let mut groups: Vec<MappedGroup> = Vec::new();
    let mut seen_group_ids: HashSet<&str> = HashSet::new();
    for r in order {
        let e = Entries {
            users: &users,
            groups: &groups,
            user_ids: &user_ids,
        };
        let g = if r & INVALID == 0 {
            let Some(g) = group_records.get(r as usize) else {
                continue;
            };
            if !seen_group_ids.insert(&g.id) {
                out.skipped.push(Skipped {
                    kind: "group",
                    id: g.id.to_string(),
                    name: g.name.to_string(),
                    reason: "duplicate id".into(),
                });
                continue;
            }
            if let Some(reason) = claims.group_collision((&g.name, g.gid), ctx.local, &e) {
                out.skipped.push(Skipped {
                    kind: "group",
                    id: g.id.to_string(),
                    name: g.name.to_string(),
                    reason,
                });
                continue;
            }
            let mut dropped = 0;
            let mut members: Vec<u32> = Vec::with_capacity(g.members.len());
            for m in g.members.iter() {
                match user_of_id.get(*m as usize).copied().filter(|i| *i != NONE) {
                    Some(i) => members.push(i),
                    None => dropped += 1,
                }
            }
            if dropped > 0 {
                out.notes.push(format!(
                    "group {}: dropped {dropped} member(s) that are not users in this snapshot",
                    g.name
                ));
            }
            members.sort_unstable();
            members.dedup();
            MappedGroup {
                name: g.name.clone(),
                id: g.id.clone(),
                gid: g.gid,
                members: members.into(),
                sudo: false,
            }
        } else {
            let Some(bad) = invalid_groups.get((r & !INVALID) as usize) else {
                continue;
            };
            let old = match ctx.previous {
                Some(previous) if !bad.id.is_empty() => previous.group(&bad.id),
                _ => None,
            };
            match old.filter(|old| {
                claims
                    .group_collision((&old.name, old.gid), ctx.local, &e)
                    .is_none()
            }) {
                Some(old) => {
                    // Only members that are users of this snapshot.
                    let mut members: Vec<u32> = old
                        .members
                        .iter()
                        .filter_map(|m| {
                            claims
                                .user_named(m, &e)
                                .filter(|&i| e.name(Owner::User(i)) == m)
                        })
                        .collect();
                    members.sort_unstable();
                    members.dedup();
                    out.notes.push(format!(
                        "group {}: kept the previous entry because the directory's record is invalid ({})",
                        old.name, bad.reason
                    ));
                    seen_group_ids.insert(&bad.id);
                    MappedGroup {
                        name: old.name.into(),
                        id: bad.id.clone(),
                        gid: old.gid,
                        members: members.into(),
                        sudo: false,
                    }
                }
                None => {
                    out.skipped.push(Skipped {
                        kind: "group",
                        id: bad.id.to_string(),
                        name: bad.name.clone(),
                        reason: bad.reason.clone(),
                    });
                    continue;
                }
            }
        };
        let i = count(groups.len());
        let (name, gid) = (g.name.to_string(), g.gid);
        groups.push(g);
        let e = Entries {
            users: &users,
            groups: &groups,
            user_ids: &user_ids,
        };
        claims.claim_group(Owner::Group(i), &name, gid, &e);
    }
    drop(seen_group_ids);
    drop(group_records);
    drop(invalid_groups);

    // User-private groups, for users whose primary gid is not a directory group.
    let directory_gids: HashSet<u32> = groups.iter().map(|g| g.gid).collect();
    let mut last_stage_skips = false;
    for &i in &accepted {
        let Some(u) = users.get(i as usize) else {
            continue;
        };
        let e = Entries {
            users: &users,
            groups: &groups,
            user_ids: &user_ids,
        };
        let skip = if directory_gids.contains(&u.gid) {
            // A derived private gid that lands on a directory group would make the user a
            // member of that group by accident.
            (!u.explicit_gid())
                .then(|| format!("derived primary gid {} is a directory group's gid", u.gid))
        } else if claims.gids.contains(&u.gid) {
            out.notes.push(format!(
                "user {}: primary gid {} is already another user's private group; no private group made",
                u.name(), u.gid
            ));
            None
        } else if let Some(reason) = claims.group_collision((u.name(), u.gid), ctx.local, &e) {
            Some(format!("user-private group: {reason}"))
        } else {
            let (name, gid) = (u.name().to_string(), u.gid);
            claims.claim_group(Owner::PrivateGroup(i), &name, gid, &e);
            if let Some(u) = users.get_mut(i as usize) {
                u.set_private_group();
            }
            None
        };
        if let Some(reason) = skip {
            if let Some(u) = users.get_mut(i as usize) {
                out.skipped.push(Skipped {
                    kind: "user",
                    id: user_ids.get(u.id).to_string(),
                    name: u.name().to_string(),
                    reason,
                });
                u.set_skipped();
            }
            last_stage_skips = true;
        }
    }
    drop(claims);
    // Users skipped at this last stage leave the groups that listed them.
    if last_stage_skips {
        for g in &mut groups {
            let kept: Vec<u32> = g
                .members
                .iter()
                .copied()
                .filter(|&i| users.get(i as usize).is_some_and(|u| !u.skipped()))
                .collect();
            g.members = kept.into();
        }
    }
    apply_access(&mut users, &mut groups, ctx.access, &shared_names, &mut out.warnings);

    accepted.retain(|&i| users.get(i as usize).is_some_and(|u| !u.skipped()));
    accepted.sort_by_key(|&i| users.get(i as usize).map(|u| u.uid));
    accepted.shrink_to_fit();
    groups.sort_by_key(|g| g.gid);
    for slot in user_of_id.iter_mut() {
        if users.get(*slot as usize).is_some_and(CompactUser::skipped) {
            *slot = NONE;
        }
    }
    user_ids.shrink_to_fit();
    out.snapshot = MappedSnapshot {
        users,
        by_uid: accepted,
        user_of_id,
        user_ids,
        groups,
        principals: ctx.principals.to_vec(),
    };
    out
}

/// Whether `p` can stand in sshd's principals list as it is: no whitespace, quotes or commas
/// (which could turn a line into options or a list), nothing that starts like an option.
fn valid_principal(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 256
        && !p.starts_with('-')
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'+'))
}

/// The certificate principals that may log in as `u`, in the configured order, without repeats.
fn principals<'u>(u: &'u CompactUser, kinds: &[PrincipalKind]) -> Vec<&'u str> {
    let mut out: Vec<&str> = Vec::new();
    for kind in kinds {
        let names: Vec<&str> = match kind {
            PrincipalKind::Name => vec![u.name()],
            PrincipalKind::UserName => vec![u.directory_name()],
            PrincipalKind::Emails => u.emails().collect(),
        };
        for name in names {
            if valid_principal(name) && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// Names (ASCII lower case) that two or more directory group records bear, among those a `name:`
/// policy entry refers to. Counted over every record, valid or not, before any is refused, so an
/// older or newer look-alike cannot decide which of them a policy names.
fn shared_policy_names<'a>(
    access: &AccessConfig,
    names: impl Iterator<Item = &'a str>,
) -> HashSet<String> {
    let wanted: HashSet<String> = access
        .login_groups
        .iter()
        .chain(&access.sudo_groups)
        .filter_map(|r| match r {
            GroupRef::Name(n) => Some(n.to_ascii_lowercase()),
            GroupRef::Id(_) => None,
        })
        .collect();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for name in names {
        let folded = name.to_ascii_lowercase();
        if wanted.contains(&folded) {
            *seen.entry(folded).or_default() += 1;
        }
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(name, _)| name)
        .collect()
}

/// The directory groups (indices into `groups`) a policy list names: `id:` entries by the
/// directory id, `name:` entries by the POSIX name, each exactly; a name in `shared` names
/// nothing, and says so in `warnings`.
fn resolve_groups(
    key: &str,
    refs: &[GroupRef],
    groups: &[MappedGroup],
    shared: &HashSet<String>,
    warnings: &mut Vec<String>,
) -> Vec<usize> {
    let mut out = Vec::new();
    for r in refs {
        match r {
            GroupRef::Id(id) => out.extend(groups.iter().position(|g| &*g.id == id)),
            GroupRef::Name(name) if shared.contains(&name.to_ascii_lowercase()) => {
                warnings.push(format!(
                    "[access] {key} entry {r}: several directory groups are named {name} (ignoring case), so it matches none of them; name the group by its id (id:...)"
                ));
            }
            GroupRef::Name(name) => out.extend(groups.iter().position(|g| &*g.name == name)),
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Marks who may log in and who gets sudo, from the host's policy: members of a sudo group may do
/// both. Inactive users keep the marks' meaning "by group", and are refused for being inactive.
fn apply_access(
    users: &mut [CompactUser],
    groups: &mut [MappedGroup],
    access: &AccessConfig,
    shared: &HashSet<String>,
    warnings: &mut Vec<String>,
) {
    let login_groups = resolve_groups("login_groups", &access.login_groups, groups, shared, warnings);
    let sudo_groups = resolve_groups("sudo_groups", &access.sudo_groups, groups, shared, warnings);
    let members_of = |picked: &[usize]| -> HashSet<u32> {
        picked
            .iter()
            .filter_map(|&i| groups.get(i))
            .flat_map(|g| g.members.iter().copied())
            .collect()
    };
    let login = members_of(&login_groups);
    let sudo = members_of(&sudo_groups);
    for &i in &sudo_groups {
        if let Some(g) = groups.get_mut(i) {
            g.sudo = true;
        }
    }
    for (i, u) in (0u32..).zip(users.iter_mut()) {
        let can_sudo = sudo.contains(&i);
        u.set_access(can_sudo || login.contains(&i), can_sudo);
    }
}

#[cfg(test)]
mod tests;
