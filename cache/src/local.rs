//! "Is this a local account?" answered from the passwd file itself, never through NSS (which would
//! ask Usher's own NSS module, or the network for other modules).

use std::io::Read;
use std::path::Path;

/// The passwd file local accounts are read from.
pub const LOCAL_PASSWD: &str = "/etc/passwd";

/// Files larger than this are not read (no real passwd file comes near it).
const MAX_PASSWD_BYTES: u64 = 64 << 20;

/// Whether `name` has an entry in the passwd file at `path`. NIS-compat lines (`+`, `-`),
/// comments and blank lines never match. An unreadable file answers `false`: the caller then
/// treats the user like any other non-local user.
pub fn is_local_user(path: &Path, name: &[u8]) -> bool {
    if name.is_empty() || name.contains(&b':') || name.contains(&b'\n') {
        return false;
    }
    // std opens with O_CLOEXEC.
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut content = Vec::new();
    if file
        .take(MAX_PASSWD_BYTES)
        .read_to_end(&mut content)
        .is_err()
    {
        return false;
    }
    passwd_has(&content, name)
}

fn passwd_has(content: &[u8], name: &[u8]) -> bool {
    content.split(|&b| b == b'\n').any(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match line.first() {
            None | Some(b'+') | Some(b'-') | Some(b'#') => false,
            Some(_) => line.split(|&b| b == b':').next() == Some(name),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/bash\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        # comment:x\n\
        +nisuser::::::\n\
        \n\
        ops-local:x:1001:1001::/home/ops-local:/bin/sh";

    #[test]
    fn finds_exact_names_only() {
        assert!(passwd_has(PASSWD, b"root"));
        assert!(passwd_has(PASSWD, b"daemon"));
        assert!(passwd_has(PASSWD, b"ops-local")); // last line without newline
        assert!(!passwd_has(PASSWD, b"roo"));
        assert!(!passwd_has(PASSWD, b"rootx"));
        assert!(!passwd_has(PASSWD, b"nisuser"));
        assert!(!passwd_has(PASSWD, b"+nisuser"));
        assert!(!passwd_has(PASSWD, b"# comment"));
        assert!(!passwd_has(PASSWD, b"alice"));
    }

    #[test]
    fn reads_the_file_and_rejects_odd_names() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwd");
        std::fs::write(&p, PASSWD).unwrap();
        assert!(is_local_user(&p, b"root"));
        assert!(!is_local_user(&p, b"alice"));
        assert!(!is_local_user(&p, b""));
        assert!(!is_local_user(&p, b"root:x"));
        assert!(!is_local_user(&dir.path().join("missing"), b"root"));
    }

    #[test]
    fn real_passwd_has_root() {
        assert!(is_local_user(Path::new(LOCAL_PASSWD), b"root"));
    }
}
