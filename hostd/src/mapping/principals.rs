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

/// Candidates per user fit in these bits of a table entry (2 names and at most 16 emails).
const SLOT_BITS: u32 = 5;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;

/// The uniqueness pass over `users` (indices into `all`): which principals nobody gets.
pub fn unique_principals(
    all: &[CompactUser],
    users: &[u32],
    kinds: &[PrincipalKind],
    local: &LocalAccounts,
) -> (WithheldSet, Vec<Withheld>) {
    let hasher = RandomState::new();
    // The first user to claim each principal, as `user << SLOT_BITS | position in its
    // candidates`: four bytes an entry, room made once (100,000 users hold ~300,000 principals).
    let mut first: HashTable<u32> = HashTable::new();
    first.reserve(users.len().saturating_mul(kinds.len().min(3)), |_| 0);
    // Folded principal → every user claiming it, for those claimed twice or more.
    let mut shared: HashMap<String, Vec<u32>> = HashMap::new();
    let mut local_names: Vec<(String, u32)> = Vec::new();
    let principal_at = |entry: u32| -> &str {
        all.get((entry >> SLOT_BITS) as usize)
            .and_then(|u| {
                candidates(u, kinds)
                    .get((entry & SLOT_MASK) as usize)
                    .copied()
            })
            .unwrap_or_default()
    };
    for &i in users {
        let Some(u) = all.get(i as usize) else {
            continue;
        };
        // A user beyond the packable range (never, with max_entries) claims nothing.
        if i >= 1 << (32 - SLOT_BITS) {
            continue;
        }
        for (slot, p) in (0..=SLOT_MASK).zip(candidates(u, kinds)) {
            if local.user_like(p).is_some() {
                local_names.push((p.to_string(), i));
                continue;
            }
            let hash = folded_hash(&hasher, p);
            match first.find(hash, |&e| principal_at(e).eq_ignore_ascii_case(p)) {
                Some(&entry) if entry >> SLOT_BITS != i => {
                    let owner = entry >> SLOT_BITS;
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
                    first.insert_unique(hash, i << SLOT_BITS | slot, |&e| {
                        folded_hash(&hasher, principal_at(e))
                    });
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

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, user_name: &str, emails: &[&str], primary: bool) -> CompactUser {
        let packed = CompactUser::pack(
            [name, user_name, "", "/home/x", "/bin/sh"],
            emails.iter().copied(),
            std::iter::empty(),
        )
        .unwrap();
        let mut u = CompactUser::new(packed, 0, 5000, 5000, true, false);
        u.set_primary_email(primary);
        u
    }

    #[test]
    fn a_principal_two_users_would_get_is_withheld_from_both() {
        let kinds = [
            PrincipalKind::Name,
            PrincipalKind::UserName,
            PrincipalKind::Email,
        ];
        let all = vec![
            user("alice", "alice@example.com", &["alice@example.com"], true),
            user("bob", "bob@example.com", &["Alice@Example.com"], true),
            user(
                "carol",
                "carol@example.com",
                &["carol@example.com", "alice@example.com"],
                true,
            ),
            user("root2", "ROOT@example.com", &[], false),
        ];
        let mut local = LocalAccounts::default();
        local.add_user("root@example.com", Some(0), None);
        // carol's second address is no principal of the "email" kind: it does not count.
        let (withheld, report) = unique_principals(&all, &[0, 1, 2, 3], &kinds, &local);
        assert!(withheld.contains("alice@example.com") && withheld.contains("ALICE@example.COM"));
        assert!(withheld.contains("root@example.com"));
        assert!(!withheld.contains("alice") && !withheld.contains("carol@example.com"));
        assert_eq!(report.len(), 2, "{report:?}");
        assert_eq!(report[0].users, ["alice", "bob"]);
        assert!(report[1].reason.contains("local account root@example.com"));
        // Users outside the pass (refused earlier) claim nothing.
        let (withheld, report) = unique_principals(&all, &[0, 2], &kinds, &local);
        assert!(!withheld.contains("alice@example.com") && report.is_empty());
        // One user listing a principal twice is not a collision.
        let twice = vec![user(
            "dave",
            "dave@example.com",
            &["dave@example.com"],
            true,
        )];
        let (withheld, _) = unique_principals(&twice, &[0], &kinds, &local);
        assert!(!withheld.contains("dave@example.com"));
    }
}
