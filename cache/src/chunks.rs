//! Passwd entries packed in chunks, for enumeration.
//!
//! `getent passwd` over 100k users costs one SQLite row step and six column reads per entry when
//! read row by row: about twice what glibc's `files` spends parsing a line. The snapshot therefore
//! also holds every passwd entry, in name order, packed into chunks of [`ENTRIES_PER_CHUNK`]: an
//! enumeration reads one row per chunk and walks the entries in memory.
//!
//! An entry is `uid` and `gid` (u32 LE), the lengths of name, gecos, home and shell (u16 LE), then
//! those four strings: reading one is a few bounds checks, with no scan of its bytes.

use crate::{Error, PasswdRef, Result};

/// Entries per chunk: large enough that the row step is noise, small enough that a chunk (about
/// 20 KB at typical entry sizes) is cheap to read when an enumeration stops early.
pub const ENTRIES_PER_CHUNK: usize = 256;

const HEADER: usize = 4 + 4 + 4 * 2;

/// Appends one entry to `chunk`, unless it cannot be a C passwd entry (a string holding a NUL)
/// or a field is over 64 KiB: the daemon never publishes such an entry, and the module would not
/// hand it out either, so it is left out of enumeration as it would be skipped there. Returns
/// whether the entry was added.
pub(crate) fn push(chunk: &mut Vec<u8>, entry: &PasswdRef<'_>) -> bool {
    let fields = [entry.name, entry.gecos, entry.home, entry.shell];
    let mut lens = [0u16; 4];
    for (len, field) in lens.iter_mut().zip(fields) {
        match u16::try_from(field.len()) {
            Ok(l) if !field.contains(&0) => *len = l,
            _ => return false,
        }
    }
    chunk.extend_from_slice(&entry.uid.to_le_bytes());
    chunk.extend_from_slice(&entry.gid.to_le_bytes());
    for len in lens {
        chunk.extend_from_slice(&len.to_le_bytes());
    }
    for field in fields {
        chunk.extend_from_slice(field);
    }
    true
}

fn corrupt() -> Error {
    Error::InvalidSnapshot("malformed passwd chunk".into())
}

/// The entry at `offset` in `chunk` and the offset of the next one, or `None` at the end. The
/// strings are not checked for NULs here; the module's packer refuses them.
pub(crate) fn entry_at(chunk: &[u8], offset: usize) -> Result<Option<(PasswdRef<'_>, usize)>> {
    let Some(rest) = chunk.get(offset..) else {
        return Err(corrupt());
    };
    if rest.is_empty() {
        return Ok(None);
    }
    let Some((header, body)) = rest.split_first_chunk::<HEADER>() else {
        return Err(corrupt());
    };
    let u32_at =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let len_at = |i: usize| usize::from(u16::from_le_bytes([header[i], header[i + 1]]));
    let (uid, gid) = (u32_at(0), u32_at(4));
    let mut body = body;
    let mut take = |len: usize| -> Result<&[u8]> {
        let (field, after) = body.split_at_checked(len).ok_or_else(corrupt)?;
        body = after;
        Ok(field)
    };
    let name = take(len_at(8))?;
    let gecos = take(len_at(10))?;
    let home = take(len_at(12))?;
    let shell = take(len_at(14))?;
    let used = rest.len() - body.len();
    let entry = PasswdRef {
        name,
        uid,
        gid,
        gecos,
        home,
        shell,
    };
    Ok(Some((entry, offset + used)))
}

/// Runs `f` on every entry of `chunk` (a chunk or a passwd bucket); returns how many there were.
pub(crate) fn each(chunk: &[u8], mut f: impl FnMut(&PasswdRef<'_>) -> Result<()>) -> Result<u64> {
    let (mut offset, mut count) = (0, 0);
    while let Some((entry, next)) = entry_at(chunk, offset)? {
        f(&entry)?;
        (offset, count) = (next, count + 1);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(name: &'a [u8], uid: u32) -> PasswdRef<'a> {
        PasswdRef {
            name,
            uid,
            gid: uid + 1,
            gecos: b"G",
            home: b"/home/x",
            shell: b"/bin/sh",
        }
    }

    #[test]
    fn entries_round_trip_in_order() {
        let mut chunk = Vec::new();
        assert!(push(&mut chunk, &entry(b"alice", 5000)));
        assert!(push(&mut chunk, &entry(b"bert", 5001)));
        let (a, next) = entry_at(&chunk, 0).unwrap().unwrap();
        assert_eq!(a, entry(b"alice", 5000));
        let (b, end) = entry_at(&chunk, next).unwrap().unwrap();
        assert_eq!(b, entry(b"bert", 5001));
        assert_eq!(end, chunk.len());
        assert!(entry_at(&chunk, end).unwrap().is_none());
    }

    #[test]
    fn entries_that_are_not_c_strings_are_left_out() {
        let mut chunk = Vec::new();
        assert!(!push(&mut chunk, &entry(b"a\0b", 1)));
        let long = vec![b'x'; 70_000];
        assert!(!push(&mut chunk, &entry(&long, 1)));
        assert!(chunk.is_empty());
    }

    #[test]
    fn malformed_chunks_are_errors_not_panics() {
        let mut chunk = Vec::new();
        assert!(push(&mut chunk, &entry(b"alice", 5000)));
        for cut in 1..chunk.len() {
            assert!(entry_at(&chunk[..cut], 0).is_err(), "cut at {cut}");
        }
        assert!(entry_at(&chunk, chunk.len() + 1).is_err());
        // A length pointing past the end.
        let mut bad = chunk.clone();
        bad[14] = 0xff;
        assert!(entry_at(&bad, 0).is_err());
    }
}
