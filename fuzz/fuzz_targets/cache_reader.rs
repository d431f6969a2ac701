//! The cache reader over corrupt bytes: a small real cache (see `cache_fixture`) has values the
//! readers parse rewritten (bucket and chunk blobs, member and group lists, names, numbers) and
//! its pages corrupted (bit flips, patches, zeroed and swapped pages, truncation), then every read
//! runs on it. Must hold: no panic, no hang, no abort on allocation, and every answer has a uid
//! and gid other than 0 and a valid, non-empty name (an error or "not found" is always fine).

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rusqlite::{params, Connection, OptionalExtension};
use std::os::unix::fs::PermissionsExt;
use std::sync::OnceLock;
use usher_cache::{Cursor, GroupRef, GroupScan, PasswdRef, Reader, UserScan};
use usher_fuzz::cache_fixture::{self, Fixture};
use usher_fuzz::invalid_name_bytes;

/// A value a reader parses, by table, column and the key that orders its rows.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Value {
    PasswdByName,
    PasswdByUid,
    GroupByName,
    GroupByGid,
    ChunkEntries,
    ChunkFirstName,
    GroupMembers,
    UserGroupIds,
    UserName,
    GroupName,
    Principal,
    MetaValue,
}

impl Value {
    /// (table, column, key columns)
    fn place(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Value::PasswdByName => ("passwd_by_name", "entries", "bucket"),
            Value::PasswdByUid => ("passwd_by_uid", "entries", "bucket"),
            Value::GroupByName => ("group_by_name", "entries", "bucket"),
            Value::GroupByGid => ("group_by_gid", "entries", "bucket"),
            Value::ChunkEntries => ("passwd_chunks", "entries", "id"),
            Value::ChunkFirstName => ("passwd_chunks", "first_name", "id"),
            Value::GroupMembers => ("groups", "members", "gid"),
            Value::UserGroupIds => ("users", "group_ids", "uid"),
            Value::UserName => ("users", "name", "uid"),
            Value::GroupName => ("groups", "name", "gid"),
            Value::Principal => ("user_principals", "principal", "uid, principal"),
            Value::MetaValue => ("meta", "value", "key"),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Number {
    UserUid,
    UserGid,
    GroupGid,
    UserActive,
    UserCanLogin,
    PrincipalUid,
}

impl Number {
    fn place(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Number::UserUid => ("users", "uid", "uid"),
            Number::UserGid => ("users", "gid", "uid"),
            Number::GroupGid => ("groups", "gid", "gid"),
            Number::UserActive => ("users", "active", "uid"),
            Number::UserCanLogin => ("users", "can_login", "uid"),
            Number::PrincipalUid => ("user_principals", "uid", "uid, principal"),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    /// Replace a value with these bytes (as a BLOB, or as TEXT holding them).
    Set {
        value: Value,
        row: u16,
        bytes: Vec<u8>,
        as_text: bool,
    },
    /// Overwrite part of a value, keeping the rest (reaches deeper into the parsers).
    Patch {
        value: Value,
        row: u16,
        offset: u16,
        bytes: Vec<u8>,
    },
    SetNumber {
        number: Number,
        row: u16,
        to: i64,
    },
    /// Page-level corruption of the file itself.
    FlipBit {
        offset: u32,
        bit: u8,
    },
    WriteBytes {
        offset: u32,
        bytes: Vec<u8>,
    },
    ZeroPage {
        page: u16,
    },
    SwapPages {
        a: u16,
        b: u16,
    },
    CopyPage {
        from: u16,
        to: u16,
    },
    Truncate {
        len: u32,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    mutations: Vec<Mutation>,
    /// Where a resumed enumeration takes over.
    resume_after: u16,
    extra_name: String,
    extra_id: u32,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let f = Fixture::build();
        // The target means nothing if the pristine copy is refused (e.g. not run as root, when
        // the reader checks the file's owner): say so instead of fuzzing an error path.
        let path = f.path();
        install(&path, &f.pristine);
        let reader = Reader::open(&path).unwrap_or_else(|e| {
            panic!("the pristine fixture cache does not open ({e}); run as root")
        });
        let name = cache_fixture::user_name(1);
        let found = reader.user_by_name(&name).expect("pristine lookup");
        assert_eq!(found.map(|p| p.uid), Some(cache_fixture::FIRST_UID + 1));
        f
    })
}

fn install(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).expect("write the cache copy");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // A new inode each time, as a publisher makes.
    std::fs::rename(&tmp, path).expect("rename the cache copy");
}

fn row_filter(table: &str, key: &str) -> String {
    format!(
        "({key}) = (SELECT {key} FROM {table} ORDER BY {key} LIMIT 1 \
         OFFSET ?2 % (SELECT count(*) FROM {table}))"
    )
}

/// The SQL-level mutations, on a writable copy (errors, e.g. a broken unique index, just skip one).
fn apply_sql(path: &std::path::Path, mutations: &[Mutation]) {
    let sql: Vec<&Mutation> = mutations
        .iter()
        .filter(|m| {
            matches!(
                m,
                Mutation::Set { .. } | Mutation::Patch { .. } | Mutation::SetNumber { .. }
            )
        })
        .collect();
    if sql.is_empty() {
        return;
    }
    let Ok(conn) = Connection::open(path) else {
        return;
    };
    let _ = conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;");
    for m in sql {
        match m {
            Mutation::Set {
                value,
                row,
                bytes,
                as_text,
            } => {
                let (table, column, key) = value.place();
                let set = if *as_text { "CAST(?1 AS TEXT)" } else { "?1" };
                let sql = format!(
                    "UPDATE {table} SET {column} = {set} WHERE {}",
                    row_filter(table, key)
                );
                let _ = conn.execute(&sql, params![bytes, row]);
            }
            Mutation::Patch {
                value,
                row,
                offset,
                bytes,
            } => {
                let (table, column, key) = value.place();
                let filter = row_filter(table, key);
                let old: Option<Vec<u8>> = conn
                    .query_row(
                        &format!(
                            "SELECT CAST({column} AS BLOB) FROM {table} WHERE {} AND ?1 = ?1",
                            filter
                        ),
                        params![0, row],
                        |r| r.get(0),
                    )
                    .optional()
                    .ok()
                    .flatten();
                let Some(mut old) = old else { continue };
                let was_text: bool = conn
                    .query_row(
                        &format!(
                            "SELECT typeof({column}) = 'text' FROM {table} WHERE {} AND ?1 = ?1",
                            filter
                        ),
                        params![0, row],
                        |r| r.get(0),
                    )
                    .unwrap_or(false);
                let start = usize::from(*offset) % (old.len() + 1);
                for (i, b) in bytes.iter().enumerate() {
                    match old.get_mut(start + i) {
                        Some(slot) => *slot = *b,
                        None => old.push(*b),
                    }
                }
                let set = if was_text { "CAST(?1 AS TEXT)" } else { "?1" };
                let sql = format!("UPDATE {table} SET {column} = {set} WHERE {filter}");
                let _ = conn.execute(&sql, params![old, row]);
            }
            Mutation::SetNumber { number, row, to } => {
                let (table, column, key) = number.place();
                let sql = format!(
                    "UPDATE {table} SET {column} = ?1 WHERE {}",
                    row_filter(table, key)
                );
                let _ = conn.execute(&sql, params![to, row]);
            }
            _ => {}
        }
    }
}

/// The page-level mutations, on the file's bytes.
fn apply_raw(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    // The page size from the header (bytes 16-17, big-endian; 1 means 65536).
    let page_size = match bytes.get(16..18) {
        Some(&[hi, lo]) => match u16::from_be_bytes([hi, lo]) {
            1 => 65536,
            n if n >= 512 => usize::from(n),
            _ => 4096,
        },
        _ => 4096,
    };
    let pages = bytes.len() / page_size;
    for m in mutations {
        if bytes.is_empty() {
            return;
        }
        let len = bytes.len();
        match m {
            Mutation::FlipBit { offset, bit } => {
                bytes[*offset as usize % len] ^= 1 << (bit % 8);
            }
            Mutation::WriteBytes { offset, bytes: b } => {
                let start = *offset as usize % len;
                for (i, v) in b.iter().enumerate() {
                    if let Some(slot) = bytes.get_mut(start + i) {
                        *slot = *v;
                    }
                }
            }
            Mutation::ZeroPage { page } if pages > 0 => {
                let p = usize::from(*page) % pages;
                bytes[p * page_size..(p + 1) * page_size].fill(0);
            }
            Mutation::SwapPages { a, b } if pages > 0 => {
                let (a, b) = (usize::from(*a) % pages, usize::from(*b) % pages);
                if a != b {
                    let (lo, hi) = (a.min(b), a.max(b));
                    let (head, tail) = bytes.split_at_mut(hi * page_size);
                    head[lo * page_size..(lo + 1) * page_size]
                        .swap_with_slice(&mut tail[..page_size]);
                }
            }
            Mutation::CopyPage { from, to } if pages > 0 => {
                let (from, to) = (usize::from(*from) % pages, usize::from(*to) % pages);
                bytes.copy_within(from * page_size..(from + 1) * page_size, to * page_size);
            }
            Mutation::Truncate { len: to } => {
                bytes.truncate(*to as usize % len);
            }
            _ => {}
        }
    }
}

fn check_name(name: &[u8], what: &str) {
    if let Some(reason) = invalid_name_bytes(name) {
        panic!(
            "{what}: the reader returned the name {:?} ({reason})",
            String::from_utf8_lossy(name)
        );
    }
}

fn check_passwd(p: &PasswdRef<'_>, what: &str) {
    assert!(p.uid != 0, "{what}: the reader returned uid 0 ({p:?})");
    assert!(p.gid != 0, "{what}: the reader returned gid 0 ({p:?})");
    check_name(p.name, what);
}

fn check_group(g: &GroupRef<'_>, what: &str) {
    assert!(g.gid != 0, "{what}: the reader returned gid 0 ({g:?})");
    check_name(g.name, what);
    for m in g.members() {
        check_name(
            m,
            &format!("{what}, member of {:?}", String::from_utf8_lossy(g.name)),
        );
    }
}

/// More entries than any chunk of the fuzzed sizes can hold: a scan past this does not end.
const SCAN_LIMIT: usize = 1 << 20;

fn scan<C: Cursor>(
    path: &std::path::Path,
    resume_after: usize,
    mut check: impl FnMut(&C::Entry<'_>),
) {
    let Ok(reader) = Reader::open(path) else {
        return;
    };
    let Ok(mut cursor) = C::start(reader) else {
        return;
    };
    for n in 0..SCAN_LIMIT {
        if n == resume_after {
            // Go on from here on a new handle, as the modules do after a fork or a failure.
            let Ok(reader) = Reader::open(path) else {
                return;
            };
            match cursor.resume(reader) {
                Ok(c) => cursor = c,
                Err(_) => return,
            }
        }
        match cursor.peek(|e| check(e)) {
            Ok(Some(())) => {}
            Ok(None) | Err(_) => return,
        }
        if cursor.advance().is_err() {
            return;
        }
    }
    panic!("an enumeration did not end after {SCAN_LIMIT} entries");
}

fn read_everything(path: &std::path::Path, input: &Input) {
    let Ok(reader) = Reader::open(path) else {
        return;
    };
    // Every 16th user (so each chunk and many buckets are read) and the edges, not all 300: the
    // fuzzer's time is better spent on more inputs.
    let sample = || {
        (0..cache_fixture::USERS)
            .step_by(16)
            .chain([cache_fixture::USERS - 1])
    };
    let mut names: Vec<String> = sample().map(cache_fixture::user_name).collect();
    names.extend(cache_fixture::group_names());
    names.push("root".into());
    names.push(input.extra_name.clone());
    let mut ids: Vec<u32> = sample().map(|i| cache_fixture::FIRST_UID + i).collect();
    ids.extend((0..5).map(|j| cache_fixture::FIRST_GROUP_GID + j));
    ids.extend([0, 1, input.extra_id]);
    for name in &names {
        let _ = reader.with_user_by_name(name, |p| check_passwd(p, "user by name"));
        let _ = reader.with_group_by_name(name, |g| check_group(g, "group by name"));
        if let Ok(Some(gids)) = reader.group_ids_of(name) {
            assert!(!gids.contains(&0), "group_ids_of({name}) holds gid 0");
        }
        if let Ok(Some(a)) = reader.account(name) {
            assert!(a.passwd.uid != 0, "account({name}) has uid 0");
            assert!(a.passwd.gid != 0, "account({name}) has gid 0");
            check_name(a.passwd.name.as_bytes(), "account");
        }
        let _ = reader.login_principals(name);
        let _ = reader.login_ssh_keys(name);
    }
    for &id in &ids {
        let _ = reader.with_user_by_uid(id, |p| check_passwd(p, "user by uid"));
        let _ = reader.with_group_by_gid(id, |g| check_group(g, "group by gid"));
    }
    let _ = reader.meta();
    let _ = reader.counts();
    drop(reader);
    let resume_after = usize::from(input.resume_after);
    scan::<UserScan>(path, resume_after, |p| {
        check_passwd(p, "passwd enumeration")
    });
    scan::<GroupScan>(path, resume_after, |g| check_group(g, "group enumeration"));
}

fuzz_target!(|input: Input| {
    if input.mutations.len() > 16 {
        return;
    }
    let f = fixture();
    let path = f.path();
    install(&path, &f.pristine);
    apply_sql(&path, &input.mutations);
    let mut bytes = std::fs::read(&path).expect("read the cache copy");
    apply_raw(&mut bytes, &input.mutations);
    install(&path, &bytes);
    read_everything(&path, &input);
});
