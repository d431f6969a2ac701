//! A directory user's home is its own. It lies strictly inside one of the allowed home roots
//! (`[mapping] home_roots`, by default `home_root`), and is not equal to, inside or above the home
//! of a local account or of an older directory user. Otherwise the directory could plant a
//! directory in someone else's home (`/home/localadmin/bin`, which pam_usher would create owned by
//! the directory user, and which Debian's `.profile` puts on localadmin's PATH), or give two users
//! one home. A refused home falls back to the default `{home_root}/{name}` when that one passes.

use super::local::{normal_path, LocalAccounts};
use super::records::CompactUser;
use crate::scim::printable;
use hashbrown::HashTable;
use std::hash::{BuildHasher, RandomState};

/// Whether `path` lies strictly inside `dir` (both in normal form).
pub fn strictly_inside(path: &str, dir: &str) -> bool {
    if dir == "/" {
        return path.len() > 1;
    }
    path.strip_prefix(dir)
        .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
}

/// The rules that do not depend on other directory users: form, roots, local homes.
pub struct HomeRules<'a> {
    /// Allowed roots, in normal form.
    pub roots: Vec<String>,
    pub local: &'a LocalAccounts,
}

impl HomeRules<'_> {
    /// The length of the root `home` lies strictly inside, or why it may not be a home.
    pub fn check(&self, home: &str) -> Result<usize, String> {
        super::check_home(home)?;
        let shown = printable(home);
        if normal_path(home) != home {
            return Err(format!(
                "home {shown} is not in normal form ('//', '/./' or a trailing '/')"
            ));
        }
        let Some(root) = self
            .roots
            .iter()
            .filter(|r| strictly_inside(home, r))
            .max_by_key(|r| r.len())
        else {
            return Err(format!(
                "home {shown} is not inside an allowed home root ({})",
                self.roots.join(", ")
            ));
        };
        for (account, local_home) in self.local.homes() {
            let relation = if home == local_home {
                "is"
            } else if strictly_inside(home, local_home) {
                "is inside"
            } else if strictly_inside(local_home, home) {
                "is above"
            } else {
                continue;
            };
            return Err(format!(
                "home {shown} {relation} the home of local account {account} ({})",
                printable(local_home)
            ));
        }
        Ok(root.len())
    }
}

/// Homes given out to directory users so far: each home, and each of its ancestors that lies
/// strictly inside its root (none for `{root}/{name}`, so this costs little). Both tables hold
/// user indices, not copies of the paths.
#[derive(Default)]
pub struct HomeClaims {
    hasher: RandomState,
    homes: HashTable<u32>,
    /// (user, length of the ancestor of that user's home).
    ancestors: HashTable<(u32, u32)>,
}

fn home_of(users: &[CompactUser], i: u32) -> &str {
    users.get(i as usize).map_or("", CompactUser::home)
}

/// The prefixes of `home` that end before one of its '/' and lie strictly inside the root
/// (whose length is `root_len`).
fn ancestors(home: &str, root_len: usize) -> impl Iterator<Item = &str> {
    home.match_indices('/')
        .map(|(at, _)| at)
        .filter(move |&at| at > root_len)
        .filter_map(move |at| home.get(..at))
}

impl HomeClaims {
    /// The older directory user whose home `home` equals, lies inside or lies above.
    pub fn conflict(
        &self,
        home: &str,
        root_len: usize,
        users: &[CompactUser],
    ) -> Option<(u32, &'static str)> {
        let h = &self.hasher;
        if let Some(&other) = self
            .homes
            .find(h.hash_one(home), |&j| home_of(users, j) == home)
        {
            return Some((other, "is"));
        }
        for ancestor in ancestors(home, root_len) {
            if let Some(&other) = self
                .homes
                .find(h.hash_one(ancestor), |&j| home_of(users, j) == ancestor)
            {
                return Some((other, "is inside"));
            }
        }
        let above = |&(j, len): &(u32, u32)| home_of(users, j).get(..len as usize) == Some(home);
        self.ancestors
            .find(h.hash_one(home), above)
            .map(|&(other, _)| (other, "is above"))
    }

    /// Gives `users[i]`'s home to it.
    pub fn claim(&mut self, i: u32, root_len: usize, users: &[CompactUser]) {
        let home = home_of(users, i);
        let HomeClaims {
            hasher,
            homes,
            ancestors: table,
        } = self;
        homes.insert_unique(hasher.hash_one(home), i, |&j| {
            hasher.hash_one(home_of(users, j))
        });
        for ancestor in ancestors(home, root_len) {
            let hash = hasher.hash_one(ancestor);
            let known = table
                .find(hash, |&(j, len)| {
                    home_of(users, j).get(..len as usize) == Some(ancestor)
                })
                .is_some();
            if !known {
                let len = u32::try_from(ancestor.len()).unwrap_or(u32::MAX);
                table.insert_unique(hash, (i, len), |&(j, len)| {
                    hasher.hash_one(home_of(users, j).get(..len as usize).unwrap_or_default())
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_means_strictly_below_at_a_component_boundary() {
        assert!(strictly_inside("/home/alice", "/home"));
        assert!(strictly_inside("/home/alice/bin", "/home/alice"));
        assert!(!strictly_inside("/home", "/home"));
        assert!(!strictly_inside("/home/alicex", "/home/alice"));
        assert!(!strictly_inside("/homes/alice", "/home"));
        assert!(strictly_inside("/etc", "/"));
        assert!(!strictly_inside("/", "/"));
    }

    #[test]
    fn a_home_lies_inside_a_root_and_clear_of_every_local_home() {
        let mut local = LocalAccounts::default();
        local.add_user("localadmin", Some(1000), Some("/home/localadmin"));
        local.add_user("svc", Some(998), Some("/home/svc/data"));
        local.add_user("nobody", Some(65534), Some("/nonexistent"));
        local.add_user("daemon", Some(1), Some("/"));
        let rules = HomeRules {
            roots: vec!["/home".into(), "/srv/home".into()],
            local: &local,
        };
        assert_eq!(rules.check("/home/alice"), Ok(5));
        assert_eq!(rules.check("/srv/home/alice"), Ok(9));
        let refused = |home: &str, why: &str| {
            let err = rules.check(home).unwrap_err();
            assert!(err.contains(why), "{home}: {err}");
        };
        refused(
            "/home/localadmin/bin",
            "is inside the home of local account localadmin",
        );
        refused(
            "/home/localadmin",
            "is the home of local account localadmin",
        );
        refused("/home/svc", "is above the home of local account svc");
        refused("/home", "not inside an allowed home root");
        refused("/etc/alice", "not inside an allowed home root");
        refused("/root", "not inside an allowed home root");
        refused("/nonexistent/x", "not inside an allowed home root");
        refused("/home//alice", "normal form");
        refused("/home/./alice", "normal form");
        refused("/home/alice/", "normal form");
        refused("/home/../etc", "'..'");
        refused("home/alice", "not absolute");
    }

    #[test]
    fn a_home_is_refused_equal_inside_or_above_an_older_directory_home() {
        let user = |home: &str| {
            let packed = CompactUser::pack(
                ["u", "u", "", home, "/bin/sh"],
                std::iter::empty(),
                std::iter::empty(),
            )
            .unwrap();
            CompactUser::new(packed, 0, 5000, 5000, true, false)
        };
        let users = vec![user("/home/alice"), user("/srv/home/team/bob")];
        let mut claims = HomeClaims::default();
        claims.claim(0, 5, &users);
        claims.claim(1, 9, &users);
        assert_eq!(claims.conflict("/home/alice", 5, &users), Some((0, "is")));
        assert_eq!(
            claims.conflict("/home/alice/x", 5, &users),
            Some((0, "is inside"))
        );
        assert_eq!(
            claims.conflict("/srv/home/team", 9, &users),
            Some((1, "is above"))
        );
        assert_eq!(
            claims.conflict("/srv/home/team/bob/y/z", 9, &users),
            Some((1, "is inside"))
        );
        assert_eq!(claims.conflict("/home/alicia", 5, &users), None);
        assert_eq!(claims.conflict("/srv/home/team2", 9, &users), None);
    }
}
