//! Certificate principals: one certificate, one user. A principal that would be served for two or
//! more users (compared ignoring ASCII case, as mail addresses are) is served for none of them, and
//! a principal equal to a local account's name (ignoring case) is never served. Decided once, as a
//! mapping pass, so the cache, the principals files and `usherctl principals` agree.

use super::local::LocalAccounts;
use super::records::CompactUser;
use crate::config::PrincipalKind;
use hashbrown::HashTable;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher, RandomState};

/// Whether `p` can stand in sshd's principals list as it is: no whitespace, quotes or commas
/// (which could turn a line into options or a list), nothing that starts like an option.
pub fn valid_principal(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 256
        && !p.starts_with('-')
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@' | b'+'))
}

/// The principals the policy would give `u`, in the configured order, valid ones, each once.
pub fn candidates<'u>(u: &'u CompactUser, kinds: &[PrincipalKind]) -> Vec<&'u str> {
    let mut out: Vec<&str> = Vec::new();
    for kind in kinds {
        let names: Vec<&str> = match kind {
            PrincipalKind::Name => vec![u.name()],
            PrincipalKind::UserName => vec![u.directory_name()],
            PrincipalKind::Email => u.primary_email().into_iter().collect(),
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

/// A principal served for nobody, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withheld {
    pub principal: String,
    /// The directory users it would have been served for.
    pub users: Vec<String>,
    pub reason: String,
}

impl std::fmt::Display for Withheld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "principal {} is served for none of {}: {}",
            self.principal,
            self.users.join(", "),
            self.reason
        )
    }
}

/// The principals withheld from everyone, folded to ASCII lower case.
#[derive(Debug, Default)]
pub struct WithheldSet(HashSet<Box<str>>);

impl WithheldSet {
    pub fn contains(&self, principal: &str) -> bool {
        !self.0.is_empty() && self.0.contains(principal.to_ascii_lowercase().as_str())
    }
}

fn folded_hash(hasher: &RandomState, p: &str) -> u64 {
    let mut h = hasher.build_hasher();
    for b in p.bytes() {
        h.write_u8(b.to_ascii_lowercase());
    }
    h.finish()
}

/// The uniqueness pass over `users` (indices into `all`): which principals nobody gets.
pub fn unique_principals(
    all: &[CompactUser],
    users: &[u32],
    kinds: &[PrincipalKind],
    local: &LocalAccounts,
) -> (WithheldSet, Vec<Withheld>) {
    let hasher = RandomState::new();
    // (user, position in its candidates): the first user to claim each principal.
    let mut first: HashTable<(u32, u8)> = HashTable::new();
    // Folded principal → every user claiming it, for those claimed twice or more.
    let mut shared: HashMap<String, Vec<u32>> = HashMap::new();
    let mut local_names: Vec<(String, u32)> = Vec::new();
    let principal_at = |(j, slot): (u32, u8)| -> &str {
        all.get(j as usize)
            .and_then(|u| candidates(u, kinds).get(slot as usize).copied())
            .unwrap_or_default()
    };
    for &i in users {
        let Some(u) = all.get(i as usize) else {
            continue;
        };
        for (slot, p) in (0u8..).zip(candidates(u, kinds)) {
            if local.user_like(p).is_some() {
                local_names.push((p.to_string(), i));
                continue;
            }
            let hash = folded_hash(&hasher, p);
            match first.find(hash, |&e| principal_at(e).eq_ignore_ascii_case(p)) {
                Some(&(owner, _)) if owner != i => {
                    let claimants = shared.entry(p.to_ascii_lowercase()).or_default();
                    if claimants.is_empty() {
                        claimants.push(owner);
                    }
                    if !claimants.contains(&i) {
                        claimants.push(i);
                    }
                }
                Some(_) => {}
                None => {
                    first
                        .insert_unique(hash, (i, slot), |&e| folded_hash(&hasher, principal_at(e)));
                }
            }
        }
    }
    drop(first);
    let name_of = |i: &u32| {
        all.get(*i as usize)
            .map_or("", CompactUser::name)
            .to_string()
    };
    let mut withheld = WithheldSet::default();
    let mut report = Vec::new();
    let mut shared: Vec<(String, Vec<u32>)> = shared.into_iter().collect();
    shared.sort();
    for (principal, claimants) in shared {
        report.push(Withheld {
            users: claimants.iter().map(name_of).collect(),
            reason: format!(
                "{} directory users would be given it (one certificate, one user)",
                claimants.len()
            ),
            principal: principal.clone(),
        });
        withheld.0.insert(principal.into());
    }
    for (principal, i) in local_names {
        report.push(Withheld {
            users: vec![name_of(&i)],
            reason: format!(
                "it is the name of local account {}",
                local.user_like(&principal).unwrap_or_default()
            ),
            principal: principal.clone(),
        });
        withheld.0.insert(principal.to_ascii_lowercase().into());
    }
    (withheld, report)
}
