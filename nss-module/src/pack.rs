//! Packing entries into the caller's buffer, the way glibc expects: every string NUL-terminated,
//! the member list an array of pointers that is pointer-aligned and NULL-terminated, everything
//! inside `buf[..buflen]`. Only the bytes handed out are written (the buffer is never cleared), and
//! the result struct is written only once everything fits.

use crate::handle::LocalClashes;
use libc::{c_char, c_int};
use libnss::group::CGroup;
use libnss::passwd::CPasswd;
use std::mem::{align_of, size_of};
use std::ptr;
use usher_cache::{GroupRef, PasswdRef};

/// The password field of every entry: the module never hands out a hash.
pub const NO_PASSWORD: &[u8] = b"*";

/// Why an entry could not be packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackError {
    /// The buffer is too small: glibc retries with a bigger one (TRYAGAIN/ERANGE).
    TooSmall,
    /// A field holds a NUL byte and so cannot be a C string. Never truncated: `root\0x` must not
    /// become `root`. The entry is treated as absent.
    InvalidString,
}

/// A bump allocator over the caller's buffer.
pub struct Packer {
    base: *mut u8,
    cap: usize,
    used: usize,
}

impl Packer {
    /// # Safety
    /// `buf` must be valid for writes of `buflen` bytes for as long as the returned pointers are
    /// used (or `buf` may be null, which is treated as a buffer of size zero).
    pub unsafe fn new(buf: *mut c_char, buflen: usize) -> Packer {
        Packer {
            base: buf.cast::<u8>(),
            cap: if buf.is_null() { 0 } else { buflen },
            used: 0,
        }
    }

    /// Bytes handed out so far, alignment padding included.
    pub fn used(&self) -> usize {
        self.used
    }

    /// `size` bytes aligned to `align` (a power of two), or `TooSmall`.
    fn alloc(&mut self, size: usize, align: usize) -> Result<*mut u8, PackError> {
        let addr = (self.base as usize)
            .checked_add(self.used)
            .ok_or(PackError::TooSmall)?;
        let pad = addr.wrapping_neg() & (align.max(1) - 1);
        let start = self.used.checked_add(pad).ok_or(PackError::TooSmall)?;
        let end = start.checked_add(size).ok_or(PackError::TooSmall)?;
        if end > self.cap {
            return Err(PackError::TooSmall);
        }
        self.used = end;
        // SAFETY: start <= end <= cap, and base is valid for cap bytes (Packer::new's contract).
        Ok(unsafe { self.base.add(start) })
    }

    /// Copies `bytes` and a terminating NUL into the buffer.
    pub fn str(&mut self, bytes: &[u8]) -> Result<*mut c_char, PackError> {
        if has_nul(bytes) {
            return Err(PackError::InvalidString);
        }
        self.copy_str(bytes)
    }

    /// `str` for bytes already known to hold no NUL.
    fn copy_str(&mut self, bytes: &[u8]) -> Result<*mut c_char, PackError> {
        let len = bytes.len().checked_add(1).ok_or(PackError::TooSmall)?;
        let p = self.alloc(len, 1)?;
        // SAFETY: alloc returned `len` writable bytes at p that do not overlap `bytes`.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
            p.add(bytes.len()).write(0);
        }
        Ok(p.cast::<c_char>())
    }

    /// A NULL-terminated, pointer-aligned array of pointers to the non-empty items of `list`
    /// (items joined by `sep`), followed by one copy of `list` in which the separators become the
    /// items' NULs: one copy and one pass however long the list (a group of thousands of members).
    pub fn list_array(&mut self, list: &[u8], sep: u8) -> Result<*mut *mut c_char, PackError> {
        self.list_array_skipping(list, sep, |_| false)
    }

    /// [`Packer::list_array`] leaving out the items for which `skip` holds (their bytes stay in
    /// the copy, unreferenced).
    pub fn list_array_skipping(
        &mut self,
        list: &[u8],
        sep: u8,
        skip: impl Fn(&[u8]) -> bool,
    ) -> Result<*mut *mut c_char, PackError> {
        if has_nul(list) {
            return Err(PackError::InvalidString);
        }
        // At most one item more than separators, and the NULL.
        let slots = separators(list, sep)
            .checked_add(2)
            .ok_or(PackError::TooSmall)?;
        let bytes = slots
            .checked_mul(size_of::<*mut c_char>())
            .ok_or(PackError::TooSmall)?;
        let array = self
            .alloc(bytes, align_of::<*mut c_char>())?
            .cast::<*mut c_char>();
        let len = list.len();
        let text = self.alloc(len.checked_add(1).ok_or(PackError::TooSmall)?, 1)?;
        // SAFETY: alloc returned len + 1 writable bytes at `text`, apart from `list`.
        unsafe {
            ptr::copy_nonoverlapping(list.as_ptr(), text, len);
            text.add(len).write(0);
        }
        let mut count = 0;
        let mut start = 0;
        while start <= len {
            // SAFETY: start <= len, so the search stays inside the copy (its final NUL excluded).
            let found =
                unsafe { libc::memchr(text.add(start).cast(), c_int::from(sep), len - start) };
            let end = if found.is_null() {
                len
            } else {
                found as usize - text as usize
            };
            if end > start && !list.get(start..end).is_some_and(&skip) {
                // SAFETY: count < slots - 1 (one item per separator passed, plus the last), and
                // start < end <= len, inside the copy.
                unsafe { array.add(count).write(text.add(start).cast::<c_char>()) };
                count += 1;
            }
            if end < len {
                // SAFETY: end < len, inside the copy.
                unsafe { text.add(end).write(0) };
            }
            start = end + 1;
        }
        // SAFETY: count < slots.
        unsafe { array.add(count).write(ptr::null_mut()) };
        Ok(array)
    }
}

/// Whether `bytes` holds a NUL, by glibc's vectorized memchr (the slice's `contains` searches
/// byte by byte, several times slower on an entry's fields).
fn has_nul(bytes: &[u8]) -> bool {
    // SAFETY: searches exactly the slice's bytes.
    !unsafe { libc::memchr(bytes.as_ptr().cast(), 0, bytes.len()) }.is_null()
}

/// How many times `sep` occurs in `list`, counted in 255-byte blocks with byte-wide sums, which
/// the compiler turns into vector compares (a plain `filter().count()` is a byte-at-a-time loop).
fn separators(list: &[u8], sep: u8) -> usize {
    list.chunks(255)
        .map(|block| {
            let n: u8 = block
                .iter()
                .fold(0u8, |n, &b| n.wrapping_add(u8::from(b == sep)));
            usize::from(n)
        })
        .sum()
}

/// Bytes `pack_passwd` needs for `p` (no alignment is involved).
pub fn passwd_size(p: &PasswdRef<'_>) -> usize {
    [p.name, NO_PASSWORD, p.gecos, p.home, p.shell]
        .iter()
        .map(|s| s.len() + 1)
        .sum()
}

/// Packs `p` into `buf` and fills `*result` (only on success).
///
/// # Safety
/// `result` must be valid for a write of a `CPasswd`; `buf` as for [`Packer::new`].
pub unsafe fn pack_passwd(
    p: &PasswdRef<'_>,
    result: *mut CPasswd,
    buf: *mut c_char,
    buflen: usize,
) -> Result<(), PackError> {
    if [p.name, p.gecos, p.home, p.shell]
        .iter()
        .any(|s| has_nul(s))
    {
        return Err(PackError::InvalidString);
    }
    let mut packer = Packer::new(buf, buflen);
    let entry = CPasswd {
        name: packer.copy_str(p.name)?,
        passwd: packer.copy_str(NO_PASSWORD)?,
        uid: p.uid,
        gid: p.gid,
        gecos: packer.copy_str(p.gecos)?,
        dir: packer.copy_str(p.home)?,
        shell: packer.copy_str(p.shell)?,
    };
    result.write(entry);
    Ok(())
}

/// Packs `g` into `buf` and fills `*result` (only on success). The member array comes first, at
/// the first pointer-aligned address of `buf`, followed by the strings.
///
/// # Safety
/// `result` must be valid for a write of a `CGroup`; `buf` as for [`Packer::new`].
pub unsafe fn pack_group(
    g: &GroupRef<'_>,
    result: *mut CGroup,
    buf: *mut c_char,
    buflen: usize,
) -> Result<(), PackError> {
    pack_group_without(g, None, result, buf, buflen)
}

/// [`pack_group`] leaving out of the member list the names in `local` (local accounts that the
/// snapshot also holds as directory users).
///
/// # Safety
/// As for [`pack_group`].
pub unsafe fn pack_group_without(
    g: &GroupRef<'_>,
    local: Option<LocalClashes<'_>>,
    result: *mut CGroup,
    buf: *mut c_char,
    buflen: usize,
) -> Result<(), PackError> {
    if has_nul(g.name) {
        return Err(PackError::InvalidString);
    }
    let mut packer = Packer::new(buf, buflen);
    let members = match local {
        Some(local) if !local.is_empty() => {
            packer.list_array_skipping(g.members_list(), b',', |m| local.contains(m))?
        }
        _ => packer.list_array(g.members_list(), b',')?,
    };
    let entry = CGroup {
        name: packer.copy_str(g.name)?,
        passwd: packer.copy_str(NO_PASSWORD)?,
        gid: g.gid,
        members,
    };
    result.write(entry);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    /// A buffer whose start is 8-aligned, with room to shift the start.
    fn aligned(len: usize) -> Vec<u64> {
        vec![0xA5A5_A5A5_A5A5_A5A5; len / 8 + 2]
    }

    fn s(p: *const c_char) -> String {
        // SAFETY: the tests pass pointers that the packer produced.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }

    #[test]
    fn strings_are_nul_terminated_and_bounded() {
        let mut storage = aligned(16);
        let buf = storage.as_mut_ptr().cast::<c_char>();
        let mut p = unsafe { Packer::new(buf, 7) };
        let a = p.str(b"abc").unwrap();
        assert_eq!(p.used(), 4);
        assert_eq!(p.str(b"def"), Err(PackError::TooSmall));
        assert_eq!(p.used(), 4, "a failed write hands out nothing");
        let b = p.str(b"de").unwrap();
        assert_eq!(p.used(), 7);
        assert_eq!(s(a), "abc");
        assert_eq!(s(b), "de");
        assert_eq!(p.str(b""), Err(PackError::TooSmall));
        // Bytes past buflen are untouched.
        let bytes: &[u8] = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), 16) };
        assert!(bytes[7..].iter().all(|&b| b == 0xA5));
    }

    #[test]
    fn empty_string_needs_one_byte_and_null_buffer_is_empty() {
        let mut storage = aligned(8);
        let buf = storage.as_mut_ptr().cast::<c_char>();
        let mut p = unsafe { Packer::new(buf, 0) };
        assert_eq!(p.str(b""), Err(PackError::TooSmall));
        let mut p = unsafe { Packer::new(buf, 1) };
        assert_eq!(s(p.str(b"").unwrap()), "");
        let mut p = unsafe { Packer::new(std::ptr::null_mut(), 100) };
        assert_eq!(p.str(b""), Err(PackError::TooSmall));
    }

    #[test]
    fn interior_nul_is_refused_not_truncated() {
        let mut storage = aligned(64);
        let buf = storage.as_mut_ptr().cast::<c_char>();
        let mut p = unsafe { Packer::new(buf, 64) };
        assert_eq!(p.str(b"root\0x"), Err(PackError::InvalidString));
        assert_eq!(p.list_array(b"a,b\0", b','), Err(PackError::InvalidString));
        // Refused even when the buffer is too small, so glibc never grows it forever.
        let mut p = unsafe { Packer::new(buf, 0) };
        assert_eq!(p.str(b"a\0"), Err(PackError::InvalidString));
    }

    #[test]
    fn array_is_aligned_and_null_terminated_at_every_offset() {
        let ptr = size_of::<*mut c_char>();
        let list = b"alice,,bob,";
        // Four slots (three separators, one more item, the NULL); empty items are skipped.
        for shift in 0..ptr {
            let mut storage = aligned(256);
            let buf = unsafe { storage.as_mut_ptr().cast::<c_char>().add(shift) };
            let pad = (ptr - shift) % ptr;
            let needed = pad + 5 * ptr + list.len() + 1;
            for len in 0..needed {
                let mut p = unsafe { Packer::new(buf, len) };
                assert_eq!(
                    p.list_array(list, b','),
                    Err(PackError::TooSmall),
                    "len {len}"
                );
            }
            let mut p = unsafe { Packer::new(buf, needed) };
            let array = p.list_array(list, b',').unwrap();
            assert_eq!(p.used(), needed);
            assert_eq!(array as usize % align_of::<*mut c_char>(), 0);
            let got: Vec<String> = (0..2).map(|i| s(unsafe { *array.add(i) })).collect();
            assert_eq!(got, ["alice", "bob"]);
            assert!(unsafe { *array.add(2) }.is_null());
            // All of it lies inside the buffer.
            let lo = buf as usize;
            let hi = lo + needed;
            for i in 0..2 {
                let a = unsafe { *array.add(i) } as usize;
                assert!(a >= lo && a < hi);
            }
            assert!(array as usize >= lo && (array as usize) + 5 * ptr <= hi);
        }
    }

    #[test]
    fn a_long_list_keeps_every_item() {
        let items: Vec<String> = (0..3000).map(|i| format!("user{i:05}")).collect();
        let list = items.join(",");
        let mut storage = aligned(64 * 1024);
        let buf = storage.as_mut_ptr().cast::<c_char>();
        let mut p = unsafe { Packer::new(buf, 64 * 1024) };
        let array = p.list_array(list.as_bytes(), b',').unwrap();
        let got: Vec<String> = (0..3000).map(|i| s(unsafe { *array.add(i) })).collect();
        assert_eq!(got, items);
        assert!(unsafe { *array.add(3000) }.is_null());
    }

    #[test]
    fn skipped_items_are_left_out_of_the_array() {
        let mut storage = aligned(256);
        let buf = storage.as_mut_ptr().cast::<c_char>();
        let mut p = unsafe { Packer::new(buf, 256) };
        let array = p
            .list_array_skipping(b"alice,bert,carol,bert", b',', |m| m == b"bert")
            .unwrap();
        let got: Vec<String> = (0..2).map(|i| s(unsafe { *array.add(i) })).collect();
        assert_eq!(got, ["alice", "carol"]);
        assert!(unsafe { *array.add(2) }.is_null());
    }

    #[test]
    fn empty_member_list_is_a_lone_null() {
        let mut storage = aligned(32);
        let buf = storage.as_mut_ptr().cast::<c_char>();
        let mut p = unsafe { Packer::new(buf, 32) };
        let array = p.list_array(b"", b',').unwrap();
        assert!(unsafe { *array }.is_null());
    }

    #[test]
    fn passwd_fails_whole_and_leaves_result_alone() {
        let e = PasswdRef {
            name: b"alice",
            uid: 10001,
            gid: 10001,
            gecos: b"Alice",
            home: b"/home/alice",
            shell: b"/bin/bash",
        };
        let needed = passwd_size(&e);
        assert_eq!(needed, 6 + 2 + 6 + 12 + 10);
        let mut storage = aligned(needed);
        let buf = storage.as_mut_ptr().cast::<c_char>();
        let mut out = CPasswd {
            name: std::ptr::null_mut(),
            passwd: std::ptr::null_mut(),
            uid: 7,
            gid: 7,
            gecos: std::ptr::null_mut(),
            dir: std::ptr::null_mut(),
            shell: std::ptr::null_mut(),
        };
        for len in 0..needed {
            assert_eq!(
                unsafe { pack_passwd(&e, &mut out, buf, len) },
                Err(PackError::TooSmall)
            );
            assert!(out.name.is_null() && out.uid == 7);
        }
        unsafe { pack_passwd(&e, &mut out, buf, needed) }.unwrap();
        assert_eq!(
            (
                s(out.name),
                s(out.passwd),
                out.uid,
                out.gid,
                s(out.gecos),
                s(out.dir),
                s(out.shell)
            ),
            (
                "alice".into(),
                "*".into(),
                10001,
                10001,
                "Alice".into(),
                "/home/alice".into(),
                "/bin/bash".into()
            )
        );
    }
}
