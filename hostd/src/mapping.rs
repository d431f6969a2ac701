//! From SCIM-shaped directory records to a validated POSIX snapshot. Every source goes through
//! here, so every rule about untrusted input lives in one place and is tested once.
//!
//! The order of decisions is fixed and the same on every host: records are taken oldest first
//! (`meta.created`, then `id`), so when two claim one name or number, the older one keeps it.

use crate::config::{
    AccessConfig, Derivation, IdsConfig, MappingConfig, PrincipalKind, MAX_ID, SYSTEMD_DYNAMIC_IDS,
};
use crate::scim::{self, printable};
use serde_json::Value;
use std::collections::HashSet;
use usher_cache::{Group, Snapshot, User};

mod homes;
mod local;
mod policy;
mod principals;
mod records;
mod snapshot;

pub use homes::strictly_inside;
use homes::{HomeClaims, HomeRules};
pub use local::{is_local_user, normal_path, LocalAccounts};
pub use principals::Withheld;
use principals::WithheldSet;
pub use records::{CompactUser, Interner, Projector, Records};
use records::{GroupRecord, InvalidGroup, InvalidUser};
pub use snapshot::{MappedGroup, MappedSnapshot};

/// What one fetch from a directory yields: SCIM 2.0 User and Group resources.
#[derive(Debug, Clone, Default)]
pub struct DirectoryData {
    pub users: Vec<Value>,
    pub groups: Vec<Value>,
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
    /// Principals served for nobody (also in `warnings`), for `usherctl user`.
    pub withheld_principals: Vec<Withheld>,
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

pub use usher_cache::names::MAX_NAME_LEN;
const MAX_ID_LEN: usize = 256;
const MAX_PATH_LEN: usize = 1024;
const MAX_GECOS_LEN: usize = 256;
const MAX_EMAIL_LEN: usize = 254;
const MAX_SSH_KEY_LEN: usize = 16 * 1024;
const MAX_SSH_KEYS: usize = 32;

/// The name rules live with the cache, whose readers check every name they hand out by them too.
pub use usher_cache::names::invalid_name_reason;

/// FNV-1a, 64 bit: a fixed, documented function so every host derives the same number.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A POSIX number for a derivation key: FNV-1a of the key into `[first, last]`.
pub fn derive_id(key: &str, [first, last]: [u32; 2]) -> u32 {
    let span = u64::from(last - first) + 1;
    // The remainder is below `span`, which fits in u32 since last <= MAX_ID.
    first + u32::try_from(fnv1a64(key.as_bytes()) % span).unwrap_or(0)
}

/// Which kind of directory record a number is derived for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberFor {
    /// A user's uid (and the gid of its private group).
    User,
    /// A directory group's gid.
    Group,
}

/// The number derived for a record without one, by the configured derivation: derivation 2
/// separates users from groups (`user:ID`, `group:ID`), since many servers count users and groups
/// separately and give both an id "1"; derivation 1 hashes the bare id, as hosts set up before it.
pub fn derive_number(kind: NumberFor, directory_id: &str, ids: &IdsConfig) -> u32 {
    match ids.derivation {
        Derivation::BareId => derive_id(directory_id, ids.derived_range),
        Derivation::TypeQualified => {
            let prefix = match kind {
                NumberFor::User => "user:",
                NumberFor::Group => "group:",
            };
            derive_id(&format!("{prefix}{directory_id}"), ids.derived_range)
        }
    }
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

fn folded_hash(hasher: &std::hash::RandomState, name: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = hasher.build_hasher();
    for b in name.bytes() {
        h.write_u8(b.to_ascii_lowercase());
    }
    h.finish()
}

impl Claims {
    fn user_named(&self, name: &str, e: &Entries<'_>) -> Option<u32> {
        let hash = folded_hash(&self.hasher, name);
        self.user_names
            .find(hash, |&i| e.name(Owner::User(i)).eq_ignore_ascii_case(name))
            .copied()
    }

    fn group_named(&self, name: &str, e: &Entries<'_>) -> Option<Owner> {
        let hash = folded_hash(&self.hasher, name);
        self.group_names
            .find(hash, |&o| e.name(o).eq_ignore_ascii_case(name))
            .copied()
    }

    fn claim_user(&mut self, i: u32, name: &str, uid: u32, e: &Entries<'_>) {
        let Claims {
            user_names, hasher, ..
        } = self;
        user_names.insert_unique(folded_hash(hasher, name), i, |&j| {
            folded_hash(hasher, e.name(Owner::User(j)))
        });
        self.uids.insert(uid);
    }

    fn claim_group(&mut self, owner: Owner, name: &str, gid: u32, e: &Entries<'_>) {
        let Claims {
            group_names,
            hasher,
            ..
        } = self;
        group_names.insert_unique(folded_hash(hasher, name), owner, |o| {
            folded_hash(hasher, e.name(*o))
        });
        self.gids.insert(gid);
    }

    /// Why an older directory user keeps this name or number, if one does.
    fn user_collision(&self, (name, uid): (&str, u32), e: &Entries<'_>) -> Option<String> {
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
        None
    }

    /// Why an older directory group keeps this name or number, if one does.
    fn group_collision(&self, (name, gid): (&str, u32), e: &Entries<'_>) -> Option<String> {
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

/// Why a directory user may not have this name or these numbers on this host: a local account
/// wins in every form, its name ignoring case, a name a local group still lists (a member left
/// by `userdel` would hand its local groups to the directory user), its numbers.
fn local_user_refusal((name, uid, gid): (&str, u32, u32), local: &LocalAccounts) -> Option<String> {
    if let Some(account) = local.user_like(name) {
        return Some(format!("name {name} belongs to local account {account}"));
    }
    if let Some(group) = local.group_like(name) {
        return Some(format!("name {name} belongs to local group {group}"));
    }
    let listing = local.groups_listing(name);
    if !listing.is_empty() {
        return Some(format!(
            "name {name} is listed as a member of local group(s) {} in /etc/group (with no /etc/passwd entry): it would inherit them",
            listing.join(", ")
        ));
    }
    if local.has_uid(uid) {
        return Some(format!("uid {uid} belongs to a local account"));
    }
    if local.has_gid(gid) {
        return Some(format!("primary gid {gid} belongs to a local group"));
    }
    None
}

/// Why a directory group (or a user-private group) may not have this name or gid on this host.
fn local_group_refusal((name, gid): (&str, u32), local: &LocalAccounts) -> Option<String> {
    if let Some(group) = local.group_like(name) {
        return Some(format!("name {name} belongs to local group {group}"));
    }
    if let Some(account) = local.user_like(name) {
        return Some(format!("name {name} belongs to local account {account}"));
    }
    if local.has_gid(gid) {
        return Some(format!("gid {gid} belongs to a local group"));
    }
    None
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
    let mut user = CompactUser::new(packed, id, old.uid, old.gid, old.active, old.gid != old.uid);
    // The record no longer says which email is primary: the first one stays a principal only if
    // it was one before.
    let first = old.emails.first();
    user.set_primary_email(first.is_some_and(|e| old.principals.contains(e)));
    Some(user)
}

pub(crate) const NONE: u32 = u32::MAX;
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

/// Maps validated records into a snapshot, as a fixed sequence of passes. Every rule about
/// untrusted input is in one of them:
///
/// 1. per-record validity: `Records` (names, numbers, paths, keys of each record alone);
/// 2. users, oldest first: local-account collisions (`local_user_refusal`), then claims on
///    names, uids and homes (`Claims`, `homes`); an invalid record keeps its previous entry;
/// 3. directory groups, oldest first: local collisions (`local_group_refusal`), claims on names
///    and gids, memberships;
/// 4. user-private groups;
/// 5. principals: one certificate, one user (`principals::unique_principals`);
/// 6. host policy: which groups `[access]` names, who may log in and use sudo (`policy`).
///
/// Never fails as a whole: each bad record is skipped with a reason.
pub fn map_records(records: Records, ctx: &MappingContext<'_>) -> Mapped {
    let shared_names = policy::shared_names(
        ctx.access,
        policy::record_names(&records.groups, &records.invalid_groups),
    );
    let Records {
        user_ids,
        group_ids,
        users,
        invalid_users,
        groups,
        invalid_groups,
        notes,
        ..
    } = records;
    drop(group_ids);
    let mut m = Mapping::new(ctx, user_ids, users, notes);
    m.users(invalid_users);
    m.groups(groups, invalid_groups);
    m.private_groups();
    m.unique_principals();
    m.host_policy(&shared_names);
    m.finish()
}

/// What the passes share while the snapshot is built.
struct Mapping<'c> {
    ctx: &'c MappingContext<'c>,
    user_ids: Interner,
    /// Every user record, and previous entries kept for invalid ones; refused ones are flagged.
    users: Vec<CompactUser>,
    /// Users accepted, oldest first.
    accepted: Vec<u32>,
    /// By directory id symbol: the accepted user with that id, or NONE.
    user_of_id: Vec<u32>,
    groups: Vec<MappedGroup>,
    claims: Claims,
    home_rules: HomeRules<'c>,
    homes: HomeClaims,
    withheld: WithheldSet,
    out: Mapped,
}

/// The order of decisions: oldest first by `meta.created`, then by id, then as listed.
fn age_order<K: Ord>(valid: usize, invalid: usize, age: impl Fn(u32) -> Option<K>) -> Vec<u32> {
    let count = |n: usize| u32::try_from(n).unwrap_or(INVALID - 1).min(INVALID - 1);
    let mut order: Vec<u32> = (0..count(valid))
        .chain((0..count(invalid)).map(|i| i | INVALID))
        .collect();
    order.sort_by_key(|r| age(*r));
    order
}

fn index(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(INVALID - 1)
}

impl<'c> Mapping<'c> {
    fn new(
        ctx: &'c MappingContext<'c>,
        user_ids: Interner,
        users: Vec<CompactUser>,
        notes: Vec<String>,
    ) -> Self {
        Mapping {
            ctx,
            user_of_id: vec![NONE; user_ids.len()],
            user_ids,
            users,
            accepted: Vec::new(),
            groups: Vec::new(),
            claims: Claims::default(),
            home_rules: HomeRules {
                roots: ctx.mapping.allowed_home_roots(),
                local: ctx.local,
            },
            homes: HomeClaims::default(),
            withheld: WithheldSet::default(),
            out: Mapped {
                notes,
                ..Mapped::default()
            },
        }
    }

    fn entries(&self) -> Entries<'_> {
        Entries {
            users: &self.users,
            groups: &self.groups,
            user_ids: &self.user_ids,
        }
    }

    fn skip_user(&mut self, i: u32, reason: String) {
        if let Some(u) = self.users.get_mut(i as usize) {
            self.out.skipped.push(Skipped {
                kind: "user",
                id: self.user_ids.get(u.id).to_string(),
                name: u.name().to_string(),
                reason,
            });
            u.set_skipped();
        }
    }

    /// Pass 2: users, oldest first, valid and invalid records together.
    fn users(&mut self, invalid: Vec<InvalidUser>) {
        let order = age_order(self.users.len(), invalid.len(), |r| match r & INVALID {
            0 => self
                .users
                .get(r as usize)
                .map(|u| (u.created, self.user_ids.get(u.id) as &str, u.seq)),
            _ => invalid
                .get((r & !INVALID) as usize)
                .map(|u| (u.created, &*u.raw_id, u.seq)),
        });
        let mut seen = vec![false; self.user_ids.len()];
        self.accepted.reserve_exact(self.users.len());
        // The listing is complete: give back what growing the list left unused, and make room for
        // the previous entries that may be appended, without letting that double the allocation.
        self.users.shrink_to(self.users.len() + invalid.len());
        self.users.reserve_exact(invalid.len());
        for r in order {
            if r & INVALID == 0 {
                let Some(sym) = self.users.get(r as usize).map(|u| u.id as usize) else {
                    continue;
                };
                match seen.get_mut(sym) {
                    Some(s) if *s => {
                        self.skip_user(r, "duplicate id".into());
                        continue;
                    }
                    Some(s) => *s = true,
                    None => {}
                }
                if let Err(reason) = self.admit_user(r) {
                    self.skip_user(r, reason);
                }
            } else if let Some(bad) = invalid.get((r & !INVALID) as usize) {
                self.keep_previous_user(bad, &mut seen);
            }
        }
    }

    /// An invalid record keeps the last good version of its entry, if that still passes every
    /// rule, and never with more than the record grants now.
    fn keep_previous_user(&mut self, bad: &InvalidUser, seen: &mut [bool]) {
        let id_text = bad.id.map_or("", |sym| self.user_ids.get(sym));
        let old = match (bad.id, self.ctx.previous) {
            (Some(sym), Some(previous)) if !id_text.is_empty() => {
                previous.user(id_text).map(|old| (sym, old))
            }
            _ => None,
        };
        let skipped = Skipped {
            kind: "user",
            id: id_text.to_string(),
            name: bad.name.clone(),
            reason: bad.reason.clone(),
        };
        let Some(mut old) = old.and_then(|(sym, old)| compact_from_previous(&old, sym)) else {
            self.out.skipped.push(skipped);
            return;
        };
        if bad.deactivate {
            old.set_active(false);
        }
        let sym = old.id as usize;
        let i = index(self.users.len());
        self.users.push(old);
        if self.admit_user(i).is_err() {
            self.users.pop();
            self.out.skipped.push(skipped);
            return;
        }
        if let Some(s) = seen.get_mut(sym) {
            *s = true;
        }
        let name = self.users.get(i as usize).map_or("", CompactUser::name);
        self.out.notes.push(format!(
            "user {name}: kept the previous entry because the directory's record is invalid ({})",
            bad.reason
        ));
    }

    /// Admits `users[i]` unless a local account or an older directory user holds its name, a
    /// number or its home.
    fn admit_user(&mut self, i: u32) -> Result<(), String> {
        let Some(u) = self.users.get(i as usize) else {
            return Err("no such record".into());
        };
        let (name, uid, gid) = (u.name().to_string(), u.uid, u.gid);
        if let Some(reason) = local_user_refusal((&name, uid, gid), self.ctx.local) {
            return Err(reason);
        }
        if let Some(reason) = self.claims.user_collision((&name, uid), &self.entries()) {
            return Err(reason);
        }
        let root_len = self.admit_home(i)?;
        let e = Entries {
            users: &self.users,
            groups: &self.groups,
            user_ids: &self.user_ids,
        };
        self.claims.claim_user(i, &name, uid, &e);
        self.homes.claim(i, root_len, &self.users);
        if let Some(u) = self.users.get(i as usize) {
            if let Some(slot) = self.user_of_id.get_mut(u.id as usize) {
                *slot = i;
            }
        }
        self.accepted.push(i);
        Ok(())
    }

    /// Why `home` may not be a directory user's home here, or the length of its root.
    fn home_refusal(&self, home: &str) -> Result<usize, String> {
        let root_len = self.home_rules.check(home)?;
        match self.homes.conflict(home, root_len, &self.users) {
            Some((other, relation)) => {
                let other = self.users.get(other as usize);
                Err(format!(
                    "home {} {relation} the home of directory user {} ({})",
                    printable(home),
                    other.map_or("", CompactUser::name),
                    printable(other.map_or("", CompactUser::home))
                ))
            }
            None => Ok(root_len),
        }
    }

    /// `users[i]`'s home, or the default one in its place when the given one is refused (one
    /// note says so); an error when neither may be its home.
    fn admit_home(&mut self, i: u32) -> Result<usize, String> {
        let Some(u) = self.users.get(i as usize) else {
            return Err("no such record".into());
        };
        let why = match self.home_refusal(u.home()) {
            Ok(root_len) => return Ok(root_len),
            Err(why) => why,
        };
        let default = records::default_home(&self.ctx.mapping.home_root, u.name());
        if default == u.home() {
            return Err(why);
        }
        let root_len = self.home_refusal(&default).map_err(|again| {
            format!("{why}; the default home {default} is refused too: {again}")
        })?;
        let name = u.name().to_string();
        let moved = u.with_home(&default).ok_or("record too large")?;
        if let Some(slot) = self.users.get_mut(i as usize) {
            *slot = moved;
        }
        self.out.notes.push(format!(
            "user {name}: {why}; using the default home {default}"
        ));
        Ok(root_len)
    }

    /// Pass 3: directory groups, oldest first.
    fn groups(&mut self, records: Vec<GroupRecord>, invalid: Vec<InvalidGroup>) {
        let order = age_order(records.len(), invalid.len(), |r| match r & INVALID {
            0 => records
                .get(r as usize)
                .map(|g| (g.created, &*g.id as &str, g.seq)),
            _ => invalid
                .get((r & !INVALID) as usize)
                .map(|g| (g.created, &*g.raw_id, g.seq)),
        });
        let mut seen_ids: HashSet<&str> = HashSet::new();
        for r in order {
            let group = if r & INVALID == 0 {
                let Some(g) = records.get(r as usize) else {
                    continue;
                };
                let refusal = if !seen_ids.insert(&g.id) {
                    Some("duplicate id".to_string())
                } else {
                    self.group_refusal((&g.name, g.gid))
                };
                if let Some(reason) = refusal {
                    self.out.skipped.push(Skipped {
                        kind: "group",
                        id: g.id.to_string(),
                        name: g.name.to_string(),
                        reason,
                    });
                    continue;
                }
                self.mapped_group(g)
            } else {
                let Some(bad) = invalid.get((r & !INVALID) as usize) else {
                    continue;
                };
                match self.previous_group(bad) {
                    Some(g) => {
                        seen_ids.insert(&bad.id);
                        g
                    }
                    None => {
                        self.out.skipped.push(Skipped {
                            kind: "group",
                            id: bad.id.to_string(),
                            name: bad.name.clone(),
                            reason: bad.reason.clone(),
                        });
                        continue;
                    }
                }
            };
            let i = index(self.groups.len());
            let (name, gid) = (group.name.to_string(), group.gid);
            self.groups.push(group);
            let e = Entries {
                users: &self.users,
                groups: &self.groups,
                user_ids: &self.user_ids,
            };
            self.claims.claim_group(Owner::Group(i), &name, gid, &e);
        }
    }

    /// Why a group may not have this name or gid: a local group or account, or an older entry.
    fn group_refusal(&self, (name, gid): (&str, u32)) -> Option<String> {
        local_group_refusal((name, gid), self.ctx.local)
            .or_else(|| self.claims.group_collision((name, gid), &self.entries()))
    }

    /// A valid group record, its members those of its users this snapshot holds.
    fn mapped_group(&mut self, g: &GroupRecord) -> MappedGroup {
        let mut dropped = 0;
        let mut members: Vec<u32> = Vec::with_capacity(g.members.len());
        for m in g.members.iter() {
            match self
                .user_of_id
                .get(*m as usize)
                .copied()
                .filter(|i| *i != NONE)
            {
                Some(i) => members.push(i),
                None => dropped += 1,
            }
        }
        if dropped > 0 {
            self.out.notes.push(format!(
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
    }

    /// The previous entry of an invalid group record, if it still passes every rule; its
    /// members only the users of this snapshot.
    fn previous_group(&mut self, bad: &InvalidGroup) -> Option<MappedGroup> {
        let old = match self.ctx.previous {
            Some(previous) if !bad.id.is_empty() => previous.group(&bad.id)?,
            _ => return None,
        };
        if self.group_refusal((&old.name, old.gid)).is_some() {
            return None;
        }
        let e = self.entries();
        let mut members: Vec<u32> = old
            .members
            .iter()
            .filter_map(|m| {
                self.claims
                    .user_named(m, &e)
                    .filter(|&i| e.name(Owner::User(i)) == m)
            })
            .collect();
        members.sort_unstable();
        members.dedup();
        self.out.notes.push(format!(
            "group {}: kept the previous entry because the directory's record is invalid ({})",
            old.name, bad.reason
        ));
        Some(MappedGroup {
            name: old.name.into(),
            id: bad.id.clone(),
            gid: old.gid,
            members: members.into(),
            sudo: false,
        })
    }

    /// Pass 4: user-private groups, for users whose primary gid is not a directory group. A user
    /// refused here leaves the groups that listed it.
    fn private_groups(&mut self) {
        let directory_gids: HashSet<u32> = self.groups.iter().map(|g| g.gid).collect();
        let mut refused = false;
        for at in 0..self.accepted.len() {
            let Some(i) = self.accepted.get(at).copied() else {
                continue;
            };
            let Some(u) = self.users.get(i as usize) else {
                continue;
            };
            let (name, gid) = (u.name().to_string(), u.gid);
            let refusal = if directory_gids.contains(&gid) {
                // A derived private gid that lands on a directory group would make the user a
                // member of that group by accident.
                (!u.explicit_gid()).then(|| {
                    let user_id = self.user_ids.get(u.id);
                    let same_id = self.ctx.ids.derivation == Derivation::BareId
                        && self.groups.iter().any(|g| g.gid == gid && *g.id == *user_id);
                    if same_id {
                        format!(
                            "derived primary gid {gid} is the gid of the directory group with the same id {}: \
                             the directory counts users and groups separately; [ids] derivation = 2 \
                             separates them (it changes derived numbers: README, Numbers)",
                            printable(user_id)
                        )
                    } else {
                        format!("derived primary gid {gid} is a directory group's gid")
                    }
                })
            } else if self.claims.gids.contains(&gid) {
                self.out.notes.push(format!(
                    "user {name}: primary gid {gid} is already another user's private group; no private group made"
                ));
                None
            } else if let Some(reason) = self.group_refusal((&name, gid)) {
                Some(format!("user-private group: {reason}"))
            } else {
                let e = Entries {
                    users: &self.users,
                    groups: &self.groups,
                    user_ids: &self.user_ids,
                };
                self.claims
                    .claim_group(Owner::PrivateGroup(i), &name, gid, &e);
                if let Some(u) = self.users.get_mut(i as usize) {
                    u.set_private_group();
                }
                None
            };
            if let Some(reason) = refusal {
                self.skip_user(i, reason);
                refused = true;
            }
        }
        if refused {
            let users = &self.users;
            for g in &mut self.groups {
                let kept: Vec<u32> = g
                    .members
                    .iter()
                    .copied()
                    .filter(|&i| users.get(i as usize).is_some_and(|u| !u.skipped()))
                    .collect();
                g.members = kept.into();
            }
        }
        self.accepted
            .retain(|&i| self.users.get(i as usize).is_some_and(|u| !u.skipped()));
    }

    /// Pass 5: principals no two users share, none a local account's name.
    fn unique_principals(&mut self) {
        let (withheld, report) = principals::unique_principals(
            &self.users,
            &self.accepted,
            self.ctx.principals,
            self.ctx.local,
        );
        self.out
            .warnings
            .extend(report.iter().map(|w| w.to_string()));
        self.out.withheld_principals = report;
        self.withheld = withheld;
    }

    /// Pass 6: host policy.
    fn host_policy(&mut self, shared_names: &HashSet<String>) {
        policy::apply_access(
            &mut self.users,
            &mut self.groups,
            self.ctx.access,
            shared_names,
            &mut self.out.warnings,
        );
    }

    fn finish(self) -> Mapped {
        let kinds = self.ctx.principals.to_vec();
        let Mapping {
            mut user_ids,
            users,
            mut accepted,
            mut user_of_id,
            mut groups,
            withheld,
            mut out,
            ..
        } = self;
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
            principals: kinds,
            withheld,
        };
        out
    }
}

#[cfg(test)]
mod tests;
