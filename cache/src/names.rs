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

/// Whether `name` passes the rules; the readers' fast path (one pass over at most 32 bytes).
pub fn is_valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !matches!(name.first(), Some(b'-' | b'.'))
        && !name.iter().all(u8::is_ascii_digit)
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
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
        assert!(invalid_name_reason("alice").is_none());
    }
}
