//! Host policy: which directory groups `[access]` names, and who may log in and use sudo. Each
//! policy list is a list of `GroupRef`s resolved here, once, for every use (user marks, the
//! sudoers rules); a later list (local groups, sudo rules) resolves the same way.

use super::records::{CompactUser, GroupRecord, InvalidGroup};
use super::snapshot::MappedGroup;
use crate::config::{AccessConfig, GroupRef};
use std::collections::HashSet;

/// Names (ASCII lower case) that two or more directory group records bear, among those a `name:`
/// policy entry refers to. Counted over every record, valid or not, before any is refused, so an
/// older or newer look-alike cannot decide which of them a policy names.
pub fn shared_names<'a>(
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
pub fn apply_access(
    users: &mut [CompactUser],
    groups: &mut [MappedGroup],
    access: &AccessConfig,
    shared: &HashSet<String>,
    warnings: &mut Vec<String>,
) {
    let login_groups = resolve_groups(
        "login_groups",
        &access.login_groups,
        groups,
        shared,
        warnings,
    );
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
mod tests {
    use super::*;

    fn group(id: &str, name: &str, gid: u32, members: &[u32]) -> MappedGroup {
        MappedGroup {
            name: name.into(),
            id: id.into(),
            gid,
            members: members.into(),
            sudo: false,
        }
    }

    #[test]
    fn each_entry_resolves_in_its_own_namespace() {
        let groups = [
            group("g-admins", "admins", 5001, &[0]),
            group("g-evil", "g-admins", 5002, &[1]),
        ];
        let mut warnings = Vec::new();
        let none = HashSet::new();
        let resolve = |refs: &[GroupRef], w: &mut Vec<String>| {
            resolve_groups("sudo_groups", refs, &groups, &none, w)
        };
        assert_eq!(
            resolve(&[GroupRef::Id("g-admins".into())], &mut warnings),
            [0]
        );
        assert_eq!(
            resolve(&[GroupRef::Name("g-admins".into())], &mut warnings),
            [1]
        );
        assert_eq!(
            resolve(&[GroupRef::Name("admins".into())], &mut warnings),
            [0]
        );
        assert!(resolve(&[GroupRef::Id("admins".into())], &mut warnings).is_empty());
        assert!(resolve(&[GroupRef::Name("Admins".into())], &mut warnings).is_empty());
        assert!(warnings.is_empty());
    }

    #[test]
    fn a_shared_name_resolves_to_nothing_with_a_warning() {
        let access = AccessConfig {
            login_groups: vec![GroupRef::Name("ops".into()), GroupRef::Id("ops".into())],
            sudo_groups: vec![GroupRef::Name("dba".into())],
            ..AccessConfig::default()
        };
        let shared = shared_names(&access, ["ops", "OPS", "dba", "web", "web"].into_iter());
        assert_eq!(
            shared,
            HashSet::from(["ops".to_string()]),
            "only names a policy uses"
        );
        let groups = [
            group("g1", "ops", 5001, &[0]),
            group("ops", "other", 5002, &[1]),
        ];
        let mut warnings = Vec::new();
        let picked = resolve_groups(
            "login_groups",
            &access.login_groups,
            &groups,
            &shared,
            &mut warnings,
        );
        assert_eq!(picked, [1], "the id entry still resolves");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0]
            .starts_with("[access] login_groups entry name:ops: several directory groups"));
    }
}

/// The record names `shared_names` counts: every group record, valid or not.
pub fn record_names<'a>(
    valid: &'a [GroupRecord],
    invalid: &'a [InvalidGroup],
) -> impl Iterator<Item = &'a str> {
    valid
        .iter()
        .map(|g| &*g.name)
        .chain(invalid.iter().map(|g| g.name.as_str()))
}
