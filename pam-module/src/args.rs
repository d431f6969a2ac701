//! Module arguments, as written after the module path in a `/etc/pam.d` service file.
//!
//! | argument | default | meaning |
//! | --- | --- | --- |
//! | `sudo_services=a,b,...` | `sudo,sudo-i` | services whose account phase checks `can_sudo`; every other service checks `can_login`. An empty value (`sudo_services=`) means no service uses the sudo permission. |
//! | `home_root=/path` | `/home` | homes are created only strictly below this directory |
//! | `skel=/path` | `/etc/skel` | what a new home is populated from; a missing skel gives an empty home |
//!
//! `su` is deliberately not a default sudo service: its account phase runs for the *target* user
//! (`su alice` checks whether alice may be alice, which is the login permission), whereas sudo's runs
//! for the *invoking* user (whether they may use sudo at all).
//!
//! Unknown arguments are kept in [`Args::unknown`] and mentioned in the module's syslog line; they
//! never change a decision.

use std::path::PathBuf;

pub const DEFAULT_SUDO_SERVICES: &[&str] = &["sudo", "sudo-i"];
pub const DEFAULT_HOME_ROOT: &str = "/home";
pub const DEFAULT_SKEL: &str = "/etc/skel";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub sudo_services: Vec<String>,
    pub home_root: PathBuf,
    pub skel: PathBuf,
    /// Arguments this module does not know (or that are not UTF-8), verbatim.
    pub unknown: Vec<String>,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            sudo_services: DEFAULT_SUDO_SERVICES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            home_root: PathBuf::from(DEFAULT_HOME_ROOT),
            skel: PathBuf::from(DEFAULT_SKEL),
            unknown: Vec::new(),
        }
    }
}

impl Args {
    /// Parses the module arguments; a later argument overrides an earlier one of the same name.
    pub fn parse<'a>(args: impl IntoIterator<Item = &'a [u8]>) -> Args {
        let mut out = Args::default();
        for raw in args {
            let Ok(arg) = std::str::from_utf8(raw) else {
                out.unknown.push(String::from_utf8_lossy(raw).into_owned());
                continue;
            };
            if let Some(v) = arg.strip_prefix("sudo_services=") {
                out.sudo_services = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
            } else if let Some(v) = arg.strip_prefix("home_root=") {
                out.home_root = PathBuf::from(v);
            } else if let Some(v) = arg.strip_prefix("skel=") {
                out.skel = PathBuf::from(v);
            } else {
                out.unknown.push(arg.to_string());
            }
        }
        out
    }

    /// Whether `service` is checked against the sudo permission.
    pub fn is_sudo_service(&self, service: &str) -> bool {
        self.sudo_services.iter().any(|s| s == service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        Args::parse(args.iter().map(|s| s.as_bytes()))
    }

    #[test]
    fn defaults() {
        let a = parse(&[]);
        assert_eq!(a.sudo_services, ["sudo", "sudo-i"]);
        assert_eq!(a.home_root, PathBuf::from("/home"));
        assert_eq!(a.skel, PathBuf::from("/etc/skel"));
        assert!(a.unknown.is_empty());
        assert!(a.is_sudo_service("sudo"));
        assert!(a.is_sudo_service("sudo-i"));
        assert!(!a.is_sudo_service("su"));
        assert!(!a.is_sudo_service("sshd"));
    }

    #[test]
    fn overrides_and_unknown() {
        let a = parse(&[
            "sudo_services=sudo, doas ,,",
            "home_root=/srv/home",
            "skel=/etc/usher/skel",
            "debug",
        ]);
        assert_eq!(a.sudo_services, ["sudo", "doas"]);
        assert_eq!(a.home_root, PathBuf::from("/srv/home"));
        assert_eq!(a.skel, PathBuf::from("/etc/usher/skel"));
        assert_eq!(a.unknown, ["debug"]);
        assert!(!a.is_sudo_service("sudo-i"));
    }

    #[test]
    fn empty_sudo_services_means_none() {
        let a = parse(&["sudo_services="]);
        assert!(a.sudo_services.is_empty());
        assert!(!a.is_sudo_service("sudo"));
        assert!(!a.is_sudo_service(""));
    }

    #[test]
    fn non_utf8_argument_is_unknown() {
        let a = Args::parse([&b"home_root=/h\xff"[..]]);
        assert_eq!(a.home_root, PathBuf::from("/home"));
        assert_eq!(a.unknown.len(), 1);
    }
}
