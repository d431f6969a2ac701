//! The module's syslog line: one per decision, facility AUTHPRIV.
//!
//! `openlog` is never called: it would change the host program's ident and options (sshd and sudo
//! set their own). `syslog(3)` with the facility in the priority logs under the host's ident, and
//! the line carries the module's name, like Linux-PAM's own `pam_syslog`:
//!
//! `pam_usher(sshd:account): user alice: not in a login group on this host; denied`

use crate::decide::Level;
use std::ffi::CString;

/// Longest line sent (in characters, before the syslog header).
const MAX_LINE: usize = 900;

/// Replaces control characters (user names come from the remote side in sshd) and caps the length.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(MAX_LINE)
        .collect()
}

/// The text of one line. `detail` follows the reason (an error, a path); `unknown` lists module
/// arguments that were ignored.
pub fn format_line(
    service: &str,
    phase: &str,
    user: &str,
    reason: &str,
    detail: Option<&str>,
    unknown: &[String],
) -> String {
    let mut line = format!("pam_usher({service}:{phase}): user {user}: {reason}");
    if let Some(d) = detail {
        line.push_str(": ");
        line.push_str(d);
    }
    if !unknown.is_empty() {
        line.push_str(" (unknown module arguments ignored: ");
        line.push_str(&unknown.join(" "));
        line.push(')');
    }
    clean(&line)
}

fn priority(level: Level) -> libc::c_int {
    libc::LOG_AUTHPRIV
        | match level {
            Level::Info => libc::LOG_INFO,
            Level::Notice => libc::LOG_NOTICE,
            Level::Warning => libc::LOG_WARNING,
            Level::Error => libc::LOG_ERR,
        }
}

/// Sends one line. glibc opens `/dev/log` itself on first use (close-on-exec) and never blocks on
/// a full datagram socket for long; a failure to log is silent.
pub fn send(level: Level, line: &str) {
    let Ok(c) = CString::new(clean(line)) else {
        return;
    };
    // SAFETY: a constant "%s" format with one valid C string argument.
    unsafe { libc::syslog(priority(level), c"%s".as_ptr(), c.as_ptr()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_clean_line() {
        let l = format_line(
            "sshd",
            "account",
            "ali\nce\0x",
            "denied",
            Some("because"),
            &["debug".into(), "x=1".into()],
        );
        assert_eq!(
            l,
            "pam_usher(sshd:account): user ali?ce?x: denied: because (unknown module arguments ignored: debug x=1)"
        );
        let long = "a".repeat(5000);
        assert_eq!(
            format_line("s", "p", &long, "r", None, &[]).chars().count(),
            MAX_LINE
        );
    }

    #[test]
    fn priorities_are_authpriv() {
        assert_eq!(priority(Level::Error), libc::LOG_AUTHPRIV | libc::LOG_ERR);
        assert_eq!(
            priority(Level::Info) & libc::LOG_FACMASK,
            libc::LOG_AUTHPRIV
        );
    }
}
