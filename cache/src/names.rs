//! The name rules for POSIX user and group names, shared by the daemon (which refuses a directory
//! entry whose name breaks them) and the readers (which refuse to hand out such a name, whatever
//! the cache file holds).

/// The longest name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 32;

/// Why `name` may not be a POSIX user or group name, if it may not. Stricter than the issue's
/// minimum on purpose: ASCII letters, digits, `_`, `.`, `-` only, so a name is also safe in
/// sudoers, sshd and shell contexts without quoting.
pub fn invalid_name_reason(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty name");
    }
    if name.len() > MAX_NAME_LEN {
        return Some("name longer than 32 bytes");
    }
    if name.starts_with('-') {
        return Some("name starts with '-'");
    }
    if name.starts_with('.') {
        return Some("name starts with '.'");
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Some("name is all digits");
    }
    if name.bytes().any(|b| b.is_ascii_control()) {
        return Some("name contains a control character");
    }
    if name.bytes().any(|b| b.is_ascii_whitespace()) {
        return Some("name contains whitespace");
    }
    if name.bytes().any(|b| matches!(b, b':' | b',' | b'/')) {
        return Some("name contains ':', ',' or '/'");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Some("name contains a character other than letters, digits, '_', '.', '-'");
    }
    None
}

/// The same rules for bytes as the cache stores them (a name that is not UTF-8 is not ASCII, so
/// it fails the rules).
pub fn invalid_name_bytes_reason(name: &[u8]) -> Option<&'static str> {
    match std::str::from_utf8(name) {
        Ok(name) => invalid_name_reason(name),
        Err(_) => Some("name contains a character other than letters, digits, '_', '.', '-'"),
    }
}

/// Whether `name` passes the rules; the readers' fast path.
pub fn is_valid_name(name: &[u8]) -> bool {
    well_formed(name) && name.iter().all(|&b| allowed_byte(b))
}

/// The byte set of the rules, without their structure.
fn allowed_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() | (b == b'_') | (b == b'.') | (b == b'-')
}

/// The rules' structure for a name made of allowed bytes: length, first byte, not all digits.
fn well_formed(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !matches!(name.first(), Some(b'-' | b'.'))
        && !name.iter().all(u8::is_ascii_digit)
}

/// Whether every item of a `,`-joined list passes the rules (an empty list passes, an empty item
/// does not). A group lookup checks every member it hands out, so this is the readers' hot loop:
/// one branch-free pass over the bytes for the byte set (which the compiler vectorizes), then a
/// tight scan from comma to comma for each item's length and first byte.
pub fn is_valid_name_list(list: &[u8]) -> bool {
    if list.is_empty() {
        return true;
    }
    let bad_bytes = list
        .iter()
        .fold(false, |bad, &b| bad | !(allowed_byte(b) | (b == b',')));
    if bad_bytes {
        return false;
    }
    let mut rest = list;
    loop {
        let end = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
        let (item, after) = rest.split_at(end);
        if !well_formed(item) {
            return false;
        }
        match after.split_first() {
            Some((_, next)) => rest = next,
            None => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_check_agrees_with_the_rules() {
        let mut names: Vec<Vec<u8>> = [
            "", "a", "alice", "-x", ".x", "123", "1a", "a b", "a:b", "a,b", "a/b", "a\tb", "a\0b",
            "é", "a_b.c-d", "x\n", "_", "--",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        names.push(vec![b'a'; 32]);
        names.push(vec![b'a'; 33]);
        names.push(vec![0xff, b'a']);
        for name in names {
            assert_eq!(
                is_valid_name(&name),
                invalid_name_bytes_reason(&name).is_none(),
                "{name:?}"
            );
        }
        assert_eq!(invalid_name_reason(""), Some("empty name"));
    }

    #[test]
    fn a_list_passes_only_if_every_item_does() {
        assert!(is_valid_name_list(b""));
        assert!(is_valid_name_list(b"alice"));
        assert!(is_valid_name_list(b"alice,bob,c_d.e-f"));
        let long = [b'a'; 32];
        assert!(is_valid_name_list(&[&long[..], b",b"].concat()));
        for bad in [
            &b","[..],
            b"alice,",
            b",alice",
            b"alice,,bob",
            b"alice,-bob",
            b"alice,.bob",
            b"alice,123",
            b"alice,b b",
            b"alice,b:b",
            b"alice,b/b",
            b"alice\0,bob",
            b"alice,\xffbob",
        ] {
            assert!(
                !is_valid_name_list(bad),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(!is_valid_name_list(&[&[b'a'; 33][..], b",b"].concat()));
        assert!(invalid_name_reason("alice").is_none());
    }
}
