//! Checksums over what the point lookups and enumeration read as whole blobs: each bucket blob,
//! each passwd chunk, and each list read through a blob handle (a group's members, a user's
//! gids). A checksum is 8 bytes (xxh3-64) at the end of its blob, seeded with the schema version,
//! the kind of blob and its row, so a row or page that lands in another place (a swapped page, a
//! bucket read for another) fails as surely as a flipped bit. It detects corruption only: a file
//! that someone other than root could have written is refused before it is read (`trust.rs`).

use crate::schema::SCHEMA_VERSION;
use crate::{Error, Result};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

pub(crate) const SUM_LEN: usize = 8;

/// What a blob is: part of its checksum's seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    PasswdByName = 1,
    PasswdByUid = 2,
    GroupByName = 3,
    GroupByGid = 4,
    UserGroupIds = 5,
    GroupMembers = 6,
    PasswdChunk = 7,
    Account = 8,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::PasswdByName => "passwd_by_name bucket",
            Kind::PasswdByUid => "passwd_by_uid bucket",
            Kind::GroupByName => "group_by_name bucket",
            Kind::GroupByGid => "group_by_gid bucket",
            Kind::UserGroupIds => "users.group_ids of uid",
            Kind::GroupMembers => "groups.members of gid",
            Kind::PasswdChunk => "passwd chunk",
            Kind::Account => "users row (access, ids, emails, keys, principals) of uid",
        }
    }
}

fn seed(kind: Kind, row: i64) -> u64 {
    // A fixed base, the schema version and the kind in the high bits, the row in the low ones.
    const BASE: u64 = 0x7573_6865_7200_0000; // "usher"
    let version = u64::from(SCHEMA_VERSION.unsigned_abs() as u8);
    (BASE ^ (version << 56) ^ ((kind as u64) << 48)).wrapping_add(row as u64)
}

/// The checksum of `body` as blob `row` of `kind`; for a group's members, `name` is the group's
/// name (so the list cannot be read for another group). The body is hashed unseeded, because a
/// seeded xxh3 derives a new secret for every input over 240 bytes (a member list), and the
/// place is mixed in afterwards: distinct places give distinct values, so a blob read in the
/// wrong place fails as surely as a changed one.
fn sum(kind: Kind, row: i64, name: &[u8], body: &[u8]) -> u64 {
    xxh3_64(body) ^ xxh3_64_with_seed(name, seed(kind, row))
}

/// Appends the checksum of everything in `blob` (blob `row` of `kind`).
pub(crate) fn append(blob: &mut Vec<u8>, kind: Kind, row: i64) {
    let s = sum(kind, row, &[], blob);
    blob.extend_from_slice(&s.to_le_bytes());
}

/// Appends the checksum of a group's member list (`blob`, the `,`-joined names).
pub(crate) fn append_members(blob: &mut Vec<u8>, gid: u32, name: &[u8]) {
    let s = sum(Kind::GroupMembers, gid.into(), name, blob);
    blob.extend_from_slice(&s.to_le_bytes());
}

/// What an account's checksum covers, besides its passwd entry (checked against the passwd
/// bucket): the access flags, the directory's id and userName, and the emails, SSH keys and
/// principals, each list sorted and without repeats (as the reader's `ORDER BY` gives them back).
/// PAM's decisions and sshd's principals rest on these, so a corrupt or moved page must not
/// change them unseen.
pub(crate) struct AccountFields<'a, L: AsRef<str>> {
    pub name: &'a str,
    pub flags: [bool; 3],
    pub directory_id: &'a str,
    pub directory_name: &'a str,
    pub lists: [&'a [L]; 3],
}

/// The checksum of an account's fields as row `uid` (8 bytes, little-endian).
pub(crate) fn account_sum<L: AsRef<str>>(uid: u32, f: &AccountFields<'_, L>) -> [u8; SUM_LEN] {
    let mut h = xxhash_rust::xxh3::Xxh3::with_seed(seed(Kind::Account, uid.into()));
    let field = |h: &mut xxhash_rust::xxh3::Xxh3, bytes: &[u8]| {
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(&mut h, f.name.as_bytes());
    h.update(&f.flags.map(u8::from));
    field(&mut h, f.directory_id.as_bytes());
    field(&mut h, f.directory_name.as_bytes());
    for list in f.lists {
        h.update(&(list.len() as u64).to_le_bytes());
        for item in list {
            field(&mut h, item.as_ref().as_bytes());
        }
    }
    h.digest().to_le_bytes()
}

/// The body of `blob` (blob `row` of `kind`) if its checksum holds; an error otherwise.
pub(crate) fn verify(blob: &[u8], kind: Kind, row: i64) -> Result<&[u8]> {
    verify_named(blob, kind, row, &[])
}

/// The member list in `blob` (of group `gid` named `name`) if its checksum holds.
pub(crate) fn verify_members<'a>(blob: &'a [u8], gid: u32, name: &[u8]) -> Result<&'a [u8]> {
    verify_named(blob, Kind::GroupMembers, gid.into(), name)
}

fn verify_named<'a>(blob: &'a [u8], kind: Kind, row: i64, name: &[u8]) -> Result<&'a [u8]> {
    let bad = || Error::InvalidSnapshot(format!("checksum mismatch in {} {row}", kind.label()));
    let Some(split) = blob.len().checked_sub(SUM_LEN) else {
        return Err(bad());
    };
    let (body, stored) = blob.split_at(split);
    let mut bytes = [0u8; SUM_LEN];
    bytes.copy_from_slice(stored);
    if u64::from_le_bytes(bytes) == sum(kind, row, name, body) {
        Ok(body)
    } else {
        Err(bad())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_checksum_holds_only_for_its_own_bytes_kind_and_row() {
        let mut blob = b"some entries".to_vec();
        append(&mut blob, Kind::PasswdByName, 7);
        assert_eq!(
            verify(&blob, Kind::PasswdByName, 7).unwrap(),
            b"some entries"
        );
        assert!(verify(&blob, Kind::PasswdByName, 8).is_err(), "another row");
        assert!(
            verify(&blob, Kind::PasswdByUid, 7).is_err(),
            "another table"
        );
        for i in 0..blob.len() {
            for bit in 0..8 {
                let mut flipped = blob.clone();
                flipped[i] ^= 1 << bit;
                assert!(
                    verify(&flipped, Kind::PasswdByName, 7).is_err(),
                    "{i}/{bit}"
                );
            }
        }
        assert!(
            verify(&blob[..7], Kind::PasswdByName, 7).is_err(),
            "too short"
        );
        assert!(verify(&[], Kind::PasswdByName, 7).is_err());
        let mut empty = Vec::new();
        append(&mut empty, Kind::GroupByGid, 0);
        assert_eq!(verify(&empty, Kind::GroupByGid, 0).unwrap(), b"");
        assert!(verify(&[0; 8], Kind::GroupByGid, 0).is_err(), "zeroed");
    }

    #[test]
    fn a_member_list_is_tied_to_its_group() {
        let mut list = b"alice,bob".to_vec();
        append_members(&mut list, 9000, b"ops");
        assert_eq!(verify_members(&list, 9000, b"ops").unwrap(), b"alice,bob");
        assert!(verify_members(&list, 9001, b"ops").is_err());
        assert!(verify_members(&list, 9000, b"dev").is_err());
    }
}
