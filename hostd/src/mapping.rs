//! From SCIM-shaped directory records to a validated POSIX snapshot. Every source goes through
//! here, so every rule about untrusted input lives in one place and is tested once.
//!
//! The order of decisions is fixed and the same on every host: records are taken oldest first
//! (`meta.created`, then `id`), so when two claim one name or number, the older one keeps it.

use crate::config::{
    AccessConfig, IdsConfig, MappingConfig, PrincipalKind, MAX_ID, SYSTEMD_DYNAMIC_IDS,
};
use crate::scim::{self, printable};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use usher_cache::{Group, Snapshot, User};

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

#[derive(Debug, Clone, Default)]
pub struct Mapped {
    pub snapshot: Snapshot,
    pub skipped: Vec<Skipped>,
    /// Things worth a log line that did not cost an entry (shell fallbacks, dropped members,
    /// entries kept from the previous snapshot).
    pub notes: Vec<String>,
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
    pub previous: Option<&'a Snapshot>,
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

/// Oldest first by `meta.created`, then by id; records without a readable date come last.
fn age_key(resource: &Value) -> (i128, String) {
    let created = scim::string_attribute(resource, "meta.created")
        .ok()
        .flatten()
        .and_then(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
        })
        .map_or(i128::MAX, |t| t.unix_timestamp_nanos());
    let id = scim::string_attribute(resource, "id")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_string();
    (created, id)
}

fn sort_by_age(records: &mut [Value]) {
    records.sort_by_cached_key(age_key);
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

/// The fields of a user that come from its own record, before collisions are considered.
struct UserFields {
    user: User,
    /// True when the directory named the primary gid; false when it defaults to the uid.
    explicit_gid: bool,
}

fn user_fields(
    r: &Value,
    ctx: &MappingContext<'_>,
    notes: &mut Vec<String>,
) -> Result<UserFields, (String, String)> {
    let m = ctx.mapping;
    let id = directory_id(r).map_err(|e| (String::new(), e))?;
    let fail = |reason: String| (id.clone(), reason);
    let directory_name = scim::string_attribute(r, &m.user_name)
        .map_err(fail)?
        .ok_or_else(|| fail(format!("no {}", m.user_name)))?
        .to_string();
    let name = if m.strip_domain {
        directory_name
            .split('@')
            .next()
            .unwrap_or_default()
            .to_string()
    } else {
        directory_name.clone()
    };
    if let Some(reason) = invalid_name_reason(&name) {
        return Err(fail(format!(
            "invalid user name {}: {reason}",
            printable(&name)
        )));
    }
    let with_name = |reason: String| (id.clone(), format!("{name}: {reason}"));
    let active = scim::bool_attribute(r, &m.active)
        .map_err(with_name)?
        .unwrap_or(true);
    let uid = match number(r, &m.uid, "uid", ctx.ids.min_uid).map_err(with_name)? {
        Some(uid) => uid,
        None => {
            let uid = derive_id(&id, ctx.ids.derived_range);
            check_number(uid, ctx.ids.min_uid, "derived uid").map_err(with_name)?;
            uid
        }
    };
    let (gid, explicit_gid) = match number(r, &m.gid, "gid", ctx.ids.min_gid).map_err(with_name)? {
        Some(gid) => (gid, true),
        None => {
            check_number(uid, ctx.ids.min_gid, "user-private gid").map_err(with_name)?;
            (uid, false)
        }
    };
    let home = match scim::string_attribute(r, &m.home).map_err(with_name)? {
        Some(home) => home.to_string(),
        None => format!("{}/{}", m.home_root.trim_end_matches('/'), name),
    };
    check_home(&home).map_err(with_name)?;
    let shell = match scim::string_attribute(r, &m.shell).map_err(with_name)? {
        Some(shell) if ctx.shells.contains(shell) => shell.to_string(),
        Some(shell) => {
            notes.push(format!(
                "user {name}: shell {} is not in /etc/shells, using {}",
                printable(shell),
                m.default_shell
            ));
            m.default_shell.clone()
        }
        None => m.default_shell.clone(),
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
    let (ssh_keys, rejected_keys) = valid_ssh_keys(scim::multi_values(r, &m.ssh_keys));
    if rejected_keys > 0 {
        notes.push(format!(
            "user {name}: {rejected_keys} SSH key(s) rejected as malformed"
        ));
    }
    Ok(UserFields {
        user: User {
            name,
            uid,
            gid,
            gecos,
            home,
            shell,
            active,
            can_login: false,
            can_sudo: false,
            directory_id: id,
            directory_name,
            emails,
            ssh_keys,
            principals: Vec::new(),
        },
        explicit_gid,
    })
}

/// Names and numbers already given out in this snapshot.
#[derive(Default)]
struct Claims {
    user_names: HashMap<String, String>,
    uids: HashSet<u32>,
    group_names: HashMap<String, String>,
    gids: HashSet<u32>,
}

fn user_collision(u: &User, claims: &Claims, local: &LocalAccounts) -> Option<String> {
    if local.user_names.contains(&u.name) {
        return Some(format!("name {} belongs to a local account", u.name));
    }
    if local.uids.contains(&u.uid) {
        return Some(format!("uid {} belongs to a local account", u.uid));
    }
    if let Some(other) = claims.user_names.get(&u.name.to_ascii_lowercase()) {
        return Some(format!(
            "name {} is already taken by directory user {other}",
            u.name
        ));
    }
    if claims.uids.contains(&u.uid) {
        return Some(format!(
            "uid {} is already taken by an older directory user",
            u.uid
        ));
    }
    if local.gids.contains(&u.gid) {
        return Some(format!("primary gid {} belongs to a local group", u.gid));
    }
    None
}

fn group_collision(g: &Group, claims: &Claims, local: &LocalAccounts) -> Option<String> {
    if local.group_names.contains(&g.name) {
        return Some(format!("name {} belongs to a local group", g.name));
    }
    if local.gids.contains(&g.gid) {
        return Some(format!("gid {} belongs to a local group", g.gid));
    }
    if let Some(other) = claims.group_names.get(&g.name.to_ascii_lowercase()) {
        return Some(format!("name {} is already taken by group {other}", g.name));
    }
    if claims.gids.contains(&g.gid) {
        return Some(format!("gid {} is already taken", g.gid));
    }
    None
}

fn group_fields<'r>(
    r: &'r Value,
    ctx: &MappingContext<'_>,
) -> Result<(Group, Vec<&'r str>), (String, String)> {
    let m = ctx.mapping;
    let id = directory_id(r).map_err(|e| (String::new(), e))?;
    let fail = |reason: String| (id.clone(), reason);
    let name = scim::string_attribute(r, &m.group_name)
        .map_err(fail)?
        .ok_or_else(|| fail(format!("no {}", m.group_name)))?
        .to_string();
    if let Some(reason) = invalid_name_reason(&name) {
        return Err(fail(format!(
            "invalid group name {}: {reason}",
            printable(&name)
        )));
    }
    let with_name = |reason: String| (id.clone(), format!("{name}: {reason}"));
    let gid = match number(r, &m.group_gid, "gid", ctx.ids.min_gid).map_err(with_name)? {
        Some(gid) => gid,
        None => {
            let gid = derive_id(&id, ctx.ids.derived_range);
            check_number(gid, ctx.ids.min_gid, "derived gid").map_err(with_name)?;
            gid
        }
    };
    let member_ids: Vec<&str> = scim::member_ids(r).collect();
    Ok((
        Group {
            name,
            gid,
            directory_id: Some(id),
            members: Vec::new(),
        },
        member_ids,
    ))
}

fn names_match(entry: &str, group: &Group) -> bool {
    entry == group.name || group.directory_id.as_deref() == Some(entry)
}

/// Maps and validates `data`. Never fails as a whole: each bad record is skipped with a reason.
/// Takes the records by value and frees each as soon as it is mapped, so a large directory is
/// never held twice (raw and mapped) at once.
pub fn map_directory(data: DirectoryData, ctx: &MappingContext<'_>) -> Mapped {
    let DirectoryData {
        users: mut raw_users,
        groups: mut raw_groups,
    } = data;
    sort_by_age(&mut raw_users);
    sort_by_age(&mut raw_groups);
    let mut out = Mapped::default();
    let mut claims = Claims::default();
    let skip = |out: &mut Mapped, kind: &'static str, id: String, name: &str, reason: String| {
        out.skipped.push(Skipped {
            kind,
            id,
            name: name.to_string(),
            reason,
        });
    };
    let previous_users: HashMap<&str, &User> = ctx
        .previous
        .map(|p| {
            p.users
                .iter()
                .map(|u| (u.directory_id.as_str(), u))
                .collect()
        })
        .unwrap_or_default();
    let previous_groups: HashMap<&str, &Group> = ctx
        .previous
        .map(|p| {
            p.groups
                .iter()
                .filter_map(|g| g.directory_id.as_deref().map(|id| (id, g)))
                .collect()
        })
        .unwrap_or_default();

    // Users, oldest first. `explicit_gid` decides below whether a user gets a private group.
    let mut users: Vec<(User, bool)> = Vec::new();
    let mut seen_user_ids = HashSet::new();
    for r in &raw_users {
        let fields = match user_fields(r, ctx, &mut out.notes) {
            Ok(f) => f,
            Err((id, reason)) => {
                let name = scim::string_attribute(r, &ctx.mapping.user_name)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
                    .to_string();
                // Keep the last good version, but never let it grant more than the record does now.
                match previous_users.get(id.as_str()) {
                    Some(old)
                        if user_collision(old, &claims, ctx.local).is_none() && !id.is_empty() =>
                    {
                        let mut old = (*old).clone();
                        if matches!(
                            scim::bool_attribute(r, &ctx.mapping.active),
                            Ok(Some(false)) | Err(_)
                        ) {
                            old.active = false;
                        }
                        out.notes.push(format!(
                            "user {}: kept the previous entry because the directory's record is invalid ({reason})",
                            old.name
                        ));
                        claims
                            .user_names
                            .insert(old.name.to_ascii_lowercase(), old.directory_id.clone());
                        claims.uids.insert(old.uid);
                        seen_user_ids.insert(old.directory_id.clone());
                        let explicit = old.gid != old.uid;
                        users.push((old, explicit));
                    }
                    _ => skip(&mut out, "user", id, &name, reason),
                }
                continue;
            }
        };
        let u = fields.user;
        if !seen_user_ids.insert(u.directory_id.clone()) {
            skip(
                &mut out,
                "user",
                u.directory_id.clone(),
                &u.name,
                "duplicate id".into(),
            );
            continue;
        }
        if let Some(reason) = user_collision(&u, &claims, ctx.local) {
            skip(&mut out, "user", u.directory_id.clone(), &u.name, reason);
            continue;
        }
        claims
            .user_names
            .insert(u.name.to_ascii_lowercase(), u.directory_id.clone());
        claims.uids.insert(u.uid);
        users.push((u, fields.explicit_gid));
    }

    // Directory groups, oldest first.
    let user_by_id: HashMap<&str, &User> = users
        .iter()
        .map(|(u, _)| (u.directory_id.as_str(), u))
        .collect();
    let mut groups: Vec<Group> = Vec::new();
    let mut seen_group_ids = HashSet::new();
    drop(raw_users);
    for raw in raw_groups.drain(..) {
        let r = &raw;
        let (mut g, member_ids) = match group_fields(r, ctx) {
            Ok(x) => x,
            Err((id, reason)) => {
                let name = scim::string_attribute(r, &ctx.mapping.group_name)
                    .ok()
                    .flatten()
                    .unwrap_or_default()
                    .to_string();
                match previous_groups.get(id.as_str()) {
                    Some(old) if group_collision(old, &claims, ctx.local).is_none() => {
                        let mut old = (*old).clone();
                        let current: HashSet<&str> =
                            user_by_id.values().map(|u| u.name.as_str()).collect();
                        old.members.retain(|m| current.contains(m.as_str()));
                        out.notes.push(format!(
                            "group {}: kept the previous entry because the directory's record is invalid ({reason})",
                            old.name
                        ));
                        claims
                            .group_names
                            .insert(old.name.to_ascii_lowercase(), id.clone());
                        claims.gids.insert(old.gid);
                        seen_group_ids.insert(id);
                        groups.push(old);
                    }
                    _ => skip(&mut out, "group", id, &name, reason),
                }
                continue;
            }
        };
        let id = g.directory_id.clone().unwrap_or_default();
        if !seen_group_ids.insert(id.clone()) {
            skip(&mut out, "group", id, &g.name, "duplicate id".into());
            continue;
        }
        if let Some(reason) = group_collision(&g, &claims, ctx.local) {
            skip(&mut out, "group", id, &g.name, reason);
            continue;
        }
        let mut dropped = 0;
        let mut members = HashSet::new();
        for member in &member_ids {
            match user_by_id.get(member) {
                Some(u) => {
                    members.insert(u.name.clone());
                }
                None => dropped += 1,
            }
        }
        if dropped > 0 {
            out.notes.push(format!(
                "group {}: dropped {dropped} member(s) that are not users in this snapshot",
                g.name
            ));
        }
        g.members = members.into_iter().collect();
        g.members.sort();
        claims.group_names.insert(g.name.to_ascii_lowercase(), id);
        claims.gids.insert(g.gid);
        groups.push(g);
    }

    // User-private groups, for users whose primary gid is not a directory group.
    let directory_gids: HashSet<u32> = groups.iter().map(|g| g.gid).collect();
    let mut kept_users = Vec::with_capacity(users.len());
    for (u, explicit_gid) in users {
        if directory_gids.contains(&u.gid) {
            if explicit_gid {
                kept_users.push(u);
            } else {
                // A derived private gid that lands on a directory group would make the user a
                // member of that group by accident.
                let reason = format!("derived primary gid {} is a directory group's gid", u.gid);
                skip(&mut out, "user", u.directory_id.clone(), &u.name, reason);
            }
            continue;
        }
        if claims.gids.contains(&u.gid) {
            out.notes.push(format!(
                "user {}: primary gid {} is already another user's private group; no private group made",
                u.name, u.gid
            ));
            kept_users.push(u);
            continue;
        }
        let upg = Group {
            name: u.name.clone(),
            gid: u.gid,
            directory_id: None,
            members: Vec::new(),
        };
        if let Some(reason) = group_collision(&upg, &claims, ctx.local) {
            skip(
                &mut out,
                "user",
                u.directory_id.clone(),
                &u.name,
                format!("user-private group: {reason}"),
            );
            continue;
        }
        claims
            .group_names
            .insert(upg.name.to_ascii_lowercase(), u.directory_id.clone());
        claims.gids.insert(upg.gid);
        groups.push(upg);
        kept_users.push(u);
    }
    // Users skipped at this last stage leave the groups that listed them.
    let kept_names: HashSet<String> = kept_users.iter().map(|u| u.name.clone()).collect();
    for g in &mut groups {
        g.members.retain(|m| kept_names.contains(m));
    }

    apply_access(&mut kept_users, &groups, ctx.access);
    for u in &mut kept_users {
        u.principals = principals(u, ctx.principals);
    }
    out.snapshot = Snapshot {
        users: kept_users,
        groups,
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
fn principals(u: &User, kinds: &[PrincipalKind]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for kind in kinds {
        let names: Vec<&String> = match kind {
            PrincipalKind::Name => vec![&u.name],
            PrincipalKind::UserName => vec![&u.directory_name],
            PrincipalKind::Emails => u.emails.iter().collect(),
        };
        for name in names {
            if valid_principal(name) && !out.contains(name) {
                out.push(name.clone());
            }
        }
    }
    out
}

/// Marks who may log in and who gets sudo, from the host's policy: members of a sudo group may do
/// both. Inactive users keep the marks' meaning "by group", and are refused for being inactive.
fn apply_access(users: &mut [User], groups: &[Group], access: &AccessConfig) {
    let members_of = |entries: &[String]| -> HashSet<&str> {
        groups
            .iter()
            .filter(|g| g.directory_id.is_some() && entries.iter().any(|e| names_match(e, g)))
            .flat_map(|g| g.members.iter().map(String::as_str))
            .collect()
    };
    let login = members_of(&access.login_groups);
    let sudo = members_of(&access.sudo_groups);
    for u in users {
        u.can_sudo = sudo.contains(u.name.as_str());
        u.can_login = u.can_sudo || login.contains(u.name.as_str());
    }
}

#[cfg(test)]
mod tests;
