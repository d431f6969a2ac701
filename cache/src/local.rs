//! "Is this a local account?" answered from the passwd file itself, never through NSS (which would
//! ask Usher's own NSS module, or the network for other modules).
//!
//! The NSS module asks at every `initgroups`, so the names are kept per thread, keyed by the
//! file's identity and change times: a call costs one `stat` while the file stays the same, and
//! the file is read again only when it changed. Thread-local, so no lock (a forked child simply
//! inherits the calling thread's copy, which is plain memory). Every allocation sized by the file
//! is fallible: running out of memory is an answer ([`LocalError::OutOfMemory`]), never an abort.

use std::cell::RefCell;
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The passwd file local accounts are read from.
pub const LOCAL_PASSWD: &str = "/etc/passwd";

/// Files larger than this are not read (no real passwd file comes near it).
const MAX_PASSWD_BYTES: u64 = 64 << 20;

/// Why the passwd file could not be consulted. Either way the caller must not treat the name as
/// a directory user's: it does not know whether a local account holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LocalError {
    #[error("out of memory reading the local passwd file")]
    OutOfMemory,
    #[error("the local passwd file cannot be read")]
    Unreadable,
}

/// What identifies one version of the file: a rename gives a new inode, an edit in place a new
/// size or change time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileKey {
    /// When this version was made (its status change time, which no caller can set back), in
    /// seconds since the epoch.
    pub fn changed_at(&self) -> i64 {
        self.ctime.0
    }

    fn of(md: &Metadata) -> FileKey {
        FileKey {
            dev: md.dev(),
            ino: md.ino(),
            size: md.size(),
            mtime: (md.mtime(), md.mtime_nsec()),
            ctime: (md.ctime(), md.ctime_nsec()),
        }
    }
}

/// The account names of one version of a passwd file, sorted for binary search.
#[derive(Default)]
struct LocalNames {
    /// Which file (its path bytes) and which version of it.
    path: Vec<u8>,
    key: Option<FileKey>,
    content: Vec<u8>,
    /// (start, end) of each account name in `content`, sorted by the name's bytes.
    names: Vec<(u32, u32)>,
}

impl LocalNames {
    fn name(&self, range: (u32, u32)) -> &[u8] {
        self.content
            .get(range.0 as usize..range.1 as usize)
            .unwrap_or_default()
    }

    fn contains(&self, name: &[u8]) -> bool {
        self.names
            .binary_search_by(|&r| self.name(r).cmp(name))
            .is_ok()
    }

    fn holds(&self, path: &[u8], key: &FileKey) -> bool {
        self.key.as_ref() == Some(key) && self.path == path
    }

    /// Reads the file at `path` (whose `stat` gave `key`) and indexes its names. On failure the
    /// names are left empty and unkeyed, so the next call reads again.
    fn load(&mut self, path: &Path) -> Result<(), LocalError> {
        self.key = None;
        self.content.clear();
        self.names.clear();
        self.path.clear();
        let path_bytes = path.as_os_str().as_encoded_bytes();
        self.path
            .try_reserve_exact(path_bytes.len())
            .map_err(|_| LocalError::OutOfMemory)?;
        self.path.extend_from_slice(path_bytes);
        // std opens with O_CLOEXEC.
        let mut file = match std::fs::File::open(path) {
            Ok(file) => file,
            // No passwd file: no local accounts (and nothing to key on: look again next time).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(_) => return Err(LocalError::Unreadable),
        };
        // The key comes from the open file, taken before reading: if the file changes while it
        // is read, the next call's `stat` differs and reads it again.
        let md = file.metadata().map_err(|_| LocalError::Unreadable)?;
        if md.size() > MAX_PASSWD_BYTES {
            return Err(LocalError::Unreadable);
        }
        let size = usize::try_from(md.size()).map_err(|_| LocalError::Unreadable)?;
        read_exactly_up_to(&mut file, &mut self.content, size)?;
        index_names(&self.content, &mut self.names)?;
        self.key = Some(FileKey::of(&md));
        Ok(())
    }
}

/// Reads at most `size` bytes of `file` into `out` (which is empty), allocating once, fallibly.
fn read_exactly_up_to(
    file: &mut std::fs::File,
    out: &mut Vec<u8>,
    size: usize,
) -> Result<(), LocalError> {
    out.try_reserve_exact(size)
        .map_err(|_| LocalError::OutOfMemory)?;
    // Within the capacity just reserved: no reallocation.
    out.resize(size, 0);
    let mut filled = 0;
    while filled < size {
        match file.read(&mut out[filled..]) {
            Ok(0) => break, // the file shrank since the stat: keep what was read
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(LocalError::Unreadable),
        }
    }
    out.truncate(filled);
    Ok(())
}

/// The account name of each passwd line: NIS-compat lines (`+`, `-`), comments and blank lines
/// hold none.
fn line_names(content: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut offset = 0;
    content.split(|&b| b == b'\n').filter_map(move |line| {
        let start = offset;
        offset += line.len() + 1;
        match line.first() {
            None | Some(b'+') | Some(b'-') | Some(b'#') => None,
            Some(_) => {
                let len = line
                    .iter()
                    .position(|&b| b == b':' || b == b'\r')
                    .unwrap_or(line.len());
                Some((start, start + len))
            }
        }
    })
}

/// Fills `names` (empty) with the sorted name ranges of `content`.
fn index_names(content: &[u8], names: &mut Vec<(u32, u32)>) -> Result<(), LocalError> {
    let count = line_names(content).count();
    names
        .try_reserve_exact(count)
        .map_err(|_| LocalError::OutOfMemory)?;
    for (start, end) in line_names(content) {
        // Offsets fit: the file is at most MAX_PASSWD_BYTES; the capacity was reserved above.
        let (Ok(start), Ok(end)) = (u32::try_from(start), u32::try_from(end)) else {
            return Err(LocalError::Unreadable);
        };
        if names.len() < names.capacity() {
            names.push((start, end));
        }
    }
    // In place: sort_unstable never allocates.
    names.sort_unstable_by(|a, b| {
        let name = |r: &(u32, u32)| content.get(r.0 as usize..r.1 as usize).unwrap_or_default();
        name(a).cmp(name(b))
    });
    Ok(())
}

thread_local! {
    static NAMES: RefCell<LocalNames> = RefCell::new(LocalNames::default());
}

/// The passwd file's version now (one `stat`); `None` if there is no file.
pub fn passwd_version(path: &Path) -> Result<Option<FileKey>, LocalError> {
    match std::fs::metadata(path) {
        Ok(md) => Ok(Some(FileKey::of(&md))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(_) => Err(LocalError::Unreadable),
    }
}

/// Calls `f` with every account name of the passwd file at `path` (read again first if this
/// thread's copy is not of the file as it is now), stopping at the first error `f` returns.
pub fn for_each_local_name<E: From<LocalError>>(
    path: &Path,
    mut f: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let key = passwd_version(path)?;
    let mut walk = |names: &mut LocalNames| -> Result<(), E> {
        let fresh = key
            .as_ref()
            .is_some_and(|k| names.holds(path.as_os_str().as_encoded_bytes(), k));
        if !fresh {
            names.load(path)?;
        }
        for &range in &names.names {
            f(names.name(range))?;
        }
        Ok(())
    };
    match NAMES.try_with(|cell| cell.try_borrow_mut().map(|mut names| walk(&mut names))) {
        Ok(Ok(answer)) => answer,
        _ => walk(&mut LocalNames::default()),
    }
}

/// Whether `name` has an entry in the passwd file at `path`, answering `false` when the file
/// cannot be read (see [`is_local_name`] for a caller that must tell the two apart).
pub fn is_local_user(path: &Path, name: &[u8]) -> bool {
    is_local_name(path, name).unwrap_or(false)
}

/// Whether `name` has an entry in the passwd file at `path`. NIS-compat lines (`+`, `-`),
/// comments and blank lines never match; a missing file has no accounts. Costs one `stat` when
/// this thread already read the file as it is now.
pub fn is_local_name(path: &Path, name: &[u8]) -> Result<bool, LocalError> {
    if name.is_empty() || name.contains(&b':') || name.contains(&b'\n') {
        return Ok(false);
    }
    let key = passwd_version(path)?;
    let cached = |names: &mut LocalNames| -> Result<bool, LocalError> {
        let fresh = key
            .as_ref()
            .is_some_and(|k| names.holds(path.as_os_str().as_encoded_bytes(), k));
        if !fresh {
            names.load(path)?;
        }
        Ok(names.contains(name))
    };
    match NAMES.try_with(|cell| cell.try_borrow_mut().map(|mut names| cached(&mut names))) {
        Ok(Ok(answer)) => answer,
        // During thread teardown (or a re-entered call, which nothing here makes): read afresh.
        _ => cached(&mut LocalNames::default()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/bash\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        # comment:x\n\
        +nisuser::::::\n\
        -minus::::::\n\
        \n\
        crlf:x:7:7::/:/bin/sh\r\n\
        ops-local:x:1001:1001::/home/ops-local:/bin/sh";

    fn names_of(content: &[u8]) -> LocalNames {
        let mut names = LocalNames {
            content: content.to_vec(),
            ..LocalNames::default()
        };
        index_names(content, &mut names.names).unwrap();
        names
    }

    #[test]
    fn finds_exact_names_only() {
        let n = names_of(PASSWD);
        assert!(n.contains(b"root"));
        assert!(n.contains(b"daemon"));
        assert!(n.contains(b"crlf"));
        assert!(n.contains(b"ops-local")); // last line without newline
        assert!(!n.contains(b"roo"));
        assert!(!n.contains(b"rootx"));
        assert!(!n.contains(b"nisuser"));
        assert!(!n.contains(b"+nisuser"));
        assert!(!n.contains(b"minus"));
        assert!(!n.contains(b"# comment"));
        assert!(!n.contains(b"alice"));
        assert!(!n.contains(b""));
        assert_eq!(n.names.len(), 4);
    }

    #[test]
    fn many_names_are_all_found() {
        let mut content = Vec::new();
        for i in (0..5000).rev() {
            content.extend_from_slice(format!("u{i}:x:{i}:{i}::/:/bin/sh\n").as_bytes());
        }
        let n = names_of(&content);
        assert!((0..5000).all(|i| n.contains(format!("u{i}").as_bytes())));
        assert!(!n.contains(b"u5000"));
    }

    #[test]
    fn reads_the_file_and_rejects_odd_names() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwd");
        std::fs::write(&p, PASSWD).unwrap();
        assert_eq!(is_local_name(&p, b"root"), Ok(true));
        assert_eq!(is_local_name(&p, b"alice"), Ok(false));
        assert_eq!(is_local_name(&p, b""), Ok(false));
        assert_eq!(is_local_name(&p, b"root:x"), Ok(false));
        assert_eq!(
            is_local_name(&dir.path().join("missing"), b"root"),
            Ok(false)
        );
        // Back to the first file: the thread's copy follows the path asked for.
        assert_eq!(is_local_name(&p, b"root"), Ok(true));
    }

    #[test]
    fn a_changed_file_is_read_again_whatever_the_change() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwd");
        std::fs::write(&p, b"root:x:0:0::/root:/bin/sh\n").unwrap();
        assert_eq!(is_local_name(&p, b"user00010"), Ok(false));
        // Replaced by rename (useradd's way): a new inode.
        let tmp = dir.path().join("passwd.new");
        std::fs::write(
            &tmp,
            b"root:x:0:0::/root:/bin/sh\nuser00010:x:1:1::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert_eq!(is_local_name(&p, b"user00010"), Ok(true));
        // Rewritten in place with the same size: the change time differs.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(
            &p,
            b"root:x:0:0::/root:/bin/sh\nuser00011:x:1:1::/:/bin/sh\n",
        )
        .unwrap();
        assert_eq!(is_local_name(&p, b"user00010"), Ok(false));
        assert_eq!(is_local_name(&p, b"user00011"), Ok(true));
        // Removed: no local accounts.
        std::fs::remove_file(&p).unwrap();
        assert_eq!(is_local_name(&p, b"user00011"), Ok(false));
    }

    #[test]
    fn an_unreadable_file_is_an_error_not_a_no() {
        let dir = tempfile::tempdir().unwrap();
        // A directory cannot be read as a file.
        assert_eq!(
            is_local_name(dir.path(), b"root"),
            Err(LocalError::Unreadable)
        );
    }

    #[test]
    fn each_thread_keeps_its_own_copy() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwd");
        std::fs::write(&p, PASSWD).unwrap();
        assert_eq!(is_local_name(&p, b"daemon"), Ok(true));
        let p2 = p.clone();
        let other = std::thread::spawn(move || is_local_name(&p2, b"daemon"));
        assert_eq!(other.join().unwrap(), Ok(true));
    }

    #[test]
    fn the_boolean_form_answers_no_when_unreadable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwd");
        std::fs::write(&p, PASSWD).unwrap();
        assert!(is_local_user(&p, b"root"));
        assert!(!is_local_user(&p, b"alice"));
        assert!(!is_local_user(dir.path(), b"root"));
    }

    #[test]
    fn every_name_is_walked_and_versions_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwd");
        assert_eq!(passwd_version(&p), Ok(None));
        std::fs::write(&p, PASSWD).unwrap();
        let v1 = passwd_version(&p).unwrap().unwrap();
        let mut seen = Vec::new();
        for_each_local_name::<LocalError>(&p, |n| {
            seen.push(String::from_utf8(n.to_vec()).unwrap());
            Ok(())
        })
        .unwrap();
        seen.sort();
        assert_eq!(seen, ["crlf", "daemon", "ops-local", "root"]);
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&p, b"x:x:1:1::/:/bin/sh\n").unwrap();
        let v2 = passwd_version(&p).unwrap().unwrap();
        assert_ne!(v1, v2);
        assert!(v2.changed_at() >= v1.changed_at());
        let mut n = 0;
        for_each_local_name::<LocalError>(&p, |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 1);
        assert_eq!(
            for_each_local_name::<LocalError>(dir.path(), |_| Ok(())),
            Err(LocalError::Unreadable)
        );
    }

    #[test]
    fn real_passwd_has_root() {
        assert_eq!(is_local_name(Path::new(LOCAL_PASSWD), b"root"), Ok(true));
    }
}
