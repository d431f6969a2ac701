//! Hash buckets for the point lookups: passwd by name and by uid, group by name and by gid.
//!
//! A prepared statement costs SQLite a virtual-machine run per lookup (cursor set-up, a b-tree
//! descent with string compares, halt and reset): most of a lookup's time. These tables are read
//! instead through blob handles, which only move to another rowid and copy the bytes: each table
//! has one row for every bucket `0..count` (empty buckets too, so a move never misses, which would
//! abort the handle), and a bucket's blob holds the entries whose key hashes to it. `count` is a
//! power of two, so that a bucket holds two to four entries on average.
//!
//! The hash is SipHash-1-3 keyed per snapshot from its content hash: the directory, which names
//! the users, cannot aim many of them at one bucket.
//!
//! Passwd entries are encoded as in `chunks`. A group entry is `gid` (u32 LE), the length of its
//! name (u16 LE), the length of its `,`-joined member list (u32 LE), then the name and the list.
//! Lists up to [`INLINE_MEMBERS`] bytes are kept in the entry, so a lookup of most groups reads one
//! blob; a longer list is marked [`EXTERNAL_MEMBERS`] and read from `groups.members` by gid, so
//! large member lists (most of a large snapshot) are stored once.
//!
//! Every blob ends with its checksum (`sums.rs`), keyed by its table and bucket.

use crate::sums::Kind;
use crate::{chunks, Error, GroupRef, PasswdRef, Result};
use siphasher::sip::SipHasher13;
use std::ffi::CStr;
use std::hash::Hasher;

/// The columns the point lookups read through blob handles: the four bucket tables, and the lists
/// read by rowid once a bucket has named the row (a user's groups, a group's members).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Column {
    PasswdByName,
    PasswdByUid,
    GroupByName,
    GroupByGid,
    UserGroupIds,
    GroupMembers,
}

pub(crate) const COLUMNS: usize = 6;

impl Column {
    pub(crate) fn table(self) -> &'static CStr {
        match self {
            Column::PasswdByName => c"passwd_by_name",
            Column::PasswdByUid => c"passwd_by_uid",
            Column::GroupByName => c"group_by_name",
            Column::GroupByGid => c"group_by_gid",
            Column::UserGroupIds => c"users",
            Column::GroupMembers => c"groups",
        }
    }

    /// The kind of blob the column holds, for its checksum.
    pub(crate) fn kind(self) -> Kind {
        match self {
            Column::PasswdByName => Kind::PasswdByName,
            Column::PasswdByUid => Kind::PasswdByUid,
            Column::GroupByName => Kind::GroupByName,
            Column::GroupByGid => Kind::GroupByGid,
            Column::UserGroupIds => Kind::UserGroupIds,
            Column::GroupMembers => Kind::GroupMembers,
        }
    }

    pub(crate) fn column(self) -> &'static CStr {
        match self {
            Column::UserGroupIds => c"group_ids",
            Column::GroupMembers => c"members",
            _ => c"entries",
        }
    }
}

/// The per-snapshot hash key and bucket counts, kept in `meta`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    key: (u64, u64),
    pub(crate) passwd_buckets: u64,
    pub(crate) group_buckets: u64,
}

pub(crate) const META_KEY: &str = "bucket_key";
pub(crate) const META_PASSWD: &str = "passwd_buckets";
pub(crate) const META_GROUP: &str = "group_buckets";

/// Entries a bucket holds on average, at most. A lookup reads and scans the whole bucket (a few
/// hundred bytes at this size, no more costly than one entry), while every bucket is a row the
/// daemon writes at each publish: fewer, fuller buckets keep the publish short.
const ENTRIES_PER_BUCKET: usize = 4;

/// Buckets for `entries` entries: a power of two, at least one.
pub(crate) fn bucket_count(entries: usize) -> u64 {
    (entries.div_ceil(ENTRIES_PER_BUCKET).max(1) as u64).next_power_of_two()
}

impl Layout {
    pub(crate) fn new(content_hash: &str, users: usize, groups: usize) -> Layout {
        let derive = |k1: u64| {
            let mut h = SipHasher13::new_with_keys(0, k1);
            h.write(content_hash.as_bytes());
            h.finish()
        };
        Layout {
            key: (derive(0), derive(1)),
            passwd_buckets: bucket_count(users),
            group_buckets: bucket_count(groups),
        }
    }

    pub(crate) fn key_text(&self) -> String {
        format!("{:016x}{:016x}", self.key.0, self.key.1)
    }

    /// From the three meta values; a count that is not a power of two, or a key that is not 32
    /// hex digits, makes the snapshot invalid.
    pub(crate) fn parse(key: &str, passwd: &str, group: &str) -> Result<Layout> {
        let invalid = || Error::InvalidSnapshot("bad bucket layout in meta".into());
        let half = |range: std::ops::Range<usize>| {
            key.get(range)
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .ok_or_else(invalid)
        };
        let count = |text: &str| match text.parse::<u64>() {
            Ok(n) if n.is_power_of_two() && n <= 1 << 40 => Ok(n),
            _ => Err(invalid()),
        };
        if key.len() != 32 {
            return Err(invalid());
        }
        Ok(Layout {
            key: (half(0..16)?, half(16..32)?),
            passwd_buckets: count(passwd)?,
            group_buckets: count(group)?,
        })
    }

    fn bucket(&self, bytes: &[u8], buckets: u64) -> i64 {
        let mut h = SipHasher13::new_with_keys(self.key.0, self.key.1);
        h.write(bytes);
        // buckets <= 2^40 (checked in `parse`), so the masked value fits an i64.
        (h.finish() & (buckets - 1)) as i64
    }

    pub(crate) fn passwd_by_name(&self, name: &[u8]) -> i64 {
        self.bucket(name, self.passwd_buckets)
    }

    pub(crate) fn passwd_by_uid(&self, uid: u32) -> i64 {
        self.bucket(&uid.to_le_bytes(), self.passwd_buckets)
    }

    pub(crate) fn group_by_name(&self, name: &[u8]) -> i64 {
        self.bucket(name, self.group_buckets)
    }

    pub(crate) fn group_by_gid(&self, gid: u32) -> i64 {
        self.bucket(&gid.to_le_bytes(), self.group_buckets)
    }
}

/// The first entry of `bucket`, decoded one after the other by `at`, for which `matches` holds.
fn find<'a, E>(
    bucket: &'a [u8],
    at: impl Fn(&'a [u8], usize) -> Result<Option<(E, usize)>>,
    matches: impl Fn(&E) -> bool,
) -> Result<Option<E>> {
    let mut offset = 0;
    while let Some((entry, next)) = at(bucket, offset)? {
        if matches(&entry) {
            return Ok(Some(entry));
        }
        offset = next;
    }
    Ok(None)
}

/// The passwd entry in `bucket` for which `matches` holds.
pub(crate) fn find_passwd<'a>(
    bucket: &'a [u8],
    matches: impl Fn(&PasswdRef<'_>) -> bool,
) -> Result<Option<PasswdRef<'a>>> {
    find(bucket, chunks::entry_at, |p| matches(p))
}

const GROUP_HEADER: usize = 4 + 2 + 4;

/// Member lists up to this many bytes are kept in the bucket entry.
pub(crate) const INLINE_MEMBERS: usize = 256;

/// The member-list length that means "read it from `groups.members`".
const EXTERNAL_MEMBERS: u32 = u32::MAX;

/// Appends a group entry, with `members` inline if given and short, and marked external
/// otherwise (`None`: the caller left a long list unread); `false` (nothing written) if the name
/// is too long for its length field.
pub(crate) fn push_group(out: &mut Vec<u8>, gid: u32, name: &[u8], members: Option<&[u8]>) -> bool {
    let Ok(name_len) = u16::try_from(name.len()) else {
        return false;
    };
    let inline = members.filter(|m| m.len() <= INLINE_MEMBERS);
    let members_len = match inline.map(|m| u32::try_from(m.len())) {
        Some(Ok(len)) => len,
        _ => EXTERNAL_MEMBERS,
    };
    out.extend_from_slice(&gid.to_le_bytes());
    out.extend_from_slice(&name_len.to_le_bytes());
    out.extend_from_slice(&members_len.to_le_bytes());
    out.extend_from_slice(name);
    if let Some(members) = inline {
        out.extend_from_slice(members);
    }
    true
}

/// A group entry found in a bucket: with its members, unless they are kept in `groups.members`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BucketGroup<'a> {
    pub(crate) group: GroupRef<'a>,
    pub(crate) external_members: bool,
}

fn corrupt() -> Error {
    Error::InvalidSnapshot("malformed group bucket".into())
}

/// The group entry at `offset` and the offset of the next one, or `None` at the end.
fn group_at(bucket: &[u8], offset: usize) -> Result<Option<(BucketGroup<'_>, usize)>> {
    let rest = bucket.get(offset..).ok_or_else(corrupt)?;
    if rest.is_empty() {
        return Ok(None);
    }
    let (header, body) = rest
        .split_first_chunk::<GROUP_HEADER>()
        .ok_or_else(corrupt)?;
    let gid = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let name_len = usize::from(u16::from_le_bytes([header[4], header[5]]));
    let members_len = u32::from_le_bytes([header[6], header[7], header[8], header[9]]);
    let external_members = members_len == EXTERNAL_MEMBERS;
    let members_len = match usize::try_from(members_len) {
        Ok(_) if external_members => 0,
        Ok(len) => len,
        Err(_) => return Err(corrupt()),
    };
    let (name, body) = body.split_at_checked(name_len).ok_or_else(corrupt)?;
    let (members, _) = body.split_at_checked(members_len).ok_or_else(corrupt)?;
    let next = offset + GROUP_HEADER + name_len + members_len;
    let group = GroupRef { name, gid, members };
    Ok(Some((
        BucketGroup {
            group,
            external_members,
        },
        next,
    )))
}

/// Runs `f` on every group entry of `bucket` (the daemon's full check of a published file).
pub(crate) fn each_group(
    bucket: &[u8],
    mut f: impl FnMut(&BucketGroup<'_>) -> Result<()>,
) -> Result<()> {
    let mut offset = 0;
    while let Some((entry, next)) = group_at(bucket, offset)? {
        f(&entry)?;
        offset = next;
    }
    Ok(())
}

/// The group entry in `bucket` for which `matches` holds.
pub(crate) fn find_group<'a>(
    bucket: &'a [u8],
    matches: impl Fn(&GroupRef<'_>) -> bool,
) -> Result<Option<BucketGroup<'a>>> {
    find(bucket, group_at, |g| matches(&g.group))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn layout_round_trips_through_meta_text() {
        let layout = Layout::new("abc", 30, 0);
        assert_eq!((layout.passwd_buckets, layout.group_buckets), (8, 1));
        let parsed = Layout::parse(&layout.key_text(), "8", "1").unwrap();
        assert_eq!(parsed, layout);
        assert_ne!(Layout::new("abd", 3, 0).key, layout.key, "keyed by content");
        for (key, p, g) in [
            ("", "4", "1"),
            (&layout.key_text()[1..], "4", "1"),
            (&layout.key_text(), "3", "1"),
            (&layout.key_text(), "4", "0"),
            (&layout.key_text(), "x", "1"),
        ] {
            assert!(Layout::parse(key, p, g).is_err(), "{key:?} {p} {g}");
        }
    }

    #[test]
    fn buckets_stay_in_range_and_spread() {
        let layout = Layout::new("h", 1000, 1000);
        assert_eq!(layout.passwd_buckets, 256);
        let mut used = std::collections::HashSet::new();
        for i in 0..1000u32 {
            let b = layout.passwd_by_name(format!("user{i}").as_bytes());
            assert!((0..256).contains(&b));
            used.insert(b);
            assert!((0..256).contains(&layout.group_by_gid(i)));
        }
        // 1000 keys into 256 buckets leave about 2% of them empty when spread at random.
        assert!(used.len() > 240, "{} buckets used", used.len());
    }

    #[test]
    fn group_entries_are_found_in_a_shared_bucket() {
        let long = vec![b'm'; INLINE_MEMBERS + 1];
        let mut bucket = Vec::new();
        assert!(push_group(&mut bucket, 10, b"ops", Some(b"alice,bob")));
        assert!(push_group(&mut bucket, 20, b"dev", Some(b"")));
        assert!(push_group(&mut bucket, 25, b"big", None));
        assert!(push_group(&mut bucket, 30, b"all", Some(&long)));
        let dev = find_group(&bucket, |g| g.name == b"dev").unwrap().unwrap();
        assert_eq!((dev.group.gid, dev.group.members().count()), (20, 0));
        assert!(!dev.external_members);
        let ops = find_group(&bucket, |g| g.gid == 10).unwrap().unwrap();
        let members: Vec<&[u8]> = ops.group.members().collect();
        assert_eq!(members, [&b"alice"[..], b"bob"]);
        assert!(
            find_group(&bucket, |g| g.gid == 25)
                .unwrap()
                .unwrap()
                .external_members
        );
        let all = find_group(&bucket, |g| g.gid == 30).unwrap().unwrap();
        assert!(all.external_members && all.group.members.is_empty());
        assert_eq!(all.group.name, b"all");
        assert!(find_group(&bucket, |g| g.gid == 40).unwrap().is_none());
        assert!(find_group(&[], |_| true).unwrap().is_none());
    }

    #[test]
    fn malformed_group_buckets_are_errors_not_panics() {
        let mut bucket = Vec::new();
        assert!(push_group(&mut bucket, 10, b"ops", Some(b"alice,bob")));
        for cut in 1..bucket.len() {
            assert!(find_group(&bucket[..cut], |_| false).is_err(), "cut {cut}");
        }
        assert!(!push_group(&mut bucket, 1, &[b'x'; 70_000], Some(b"")));
    }

    #[test]
    fn passwd_entries_are_found_in_a_shared_bucket() {
        let entry = |name: &'static [u8], uid| PasswdRef {
            name,
            uid,
            gid: uid,
            gecos: b"",
            home: b"/home/x",
            shell: b"/bin/sh",
        };
        let mut bucket = Vec::new();
        assert!(chunks::push(&mut bucket, &entry(b"alice", 5000)));
        assert!(chunks::push(&mut bucket, &entry(b"bob", 5001)));
        let bob = find_passwd(&bucket, |p| p.name == b"bob").unwrap().unwrap();
        assert_eq!(bob.uid, 5001);
        assert_eq!(
            find_passwd(&bucket, |p| p.uid == 5000)
                .unwrap()
                .unwrap()
                .name,
            b"alice"
        );
        assert!(find_passwd(&bucket, |p| p.name == b"carol")
            .unwrap()
            .is_none());
    }
}
