//! The access and session decisions, as plain functions of what the cache and the passwd file say.
//! No PAM here: the FFI glue in `lib.rs` gathers the inputs, calls these and reports the result.
//!
//! Account phase, first matching row wins:
//!
//! | local (in /etc/passwd) | cache | user in cache | active | permission for the service | result | syslog |
//! | --- | --- | --- | --- | --- | --- | --- |
//! | yes | readable | no | | | IGNORE | none |
//! | yes | readable | yes | | | IGNORE (local wins) | warning |
//! | yes | unreadable | | | | IGNORE | warning |
//! | no | unreadable | | | | AUTHINFO_UNAVAIL (fail closed) | error |
//! | no | readable | no | | | IGNORE (not managed by Usher) | none |
//! | no | readable | yes | no | | ACCT_EXPIRED | notice |
//! | no | readable | yes | yes | no | PERM_DENIED | notice |
//! | no | readable | yes | yes | yes | SUCCESS | info |
//!
//! The permission is `can_sudo` for the services named in `sudo_services` and `can_login` for
//! every other service. Every denial also sends a message to the user (unless PAM_SILENT).
//!
//! Session phase: local users, users not in the cache and an unreadable cache are left alone
//! (IGNORE; the unreadable cache logs a warning). For a user in the cache the home directory is
//! ensured ([`crate::home::ensure_home`]) and [`session_result`] maps what happened to a result.

use crate::args::Args;
use crate::home::HomeOutcome;
use usher_cache::Account;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountResult {
    Success,
    Ignore,
    AcctExpired,
    PermDenied,
    AuthinfoUnavail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionResult {
    Success,
    Ignore,
    SessionErr,
}

/// Syslog severity of the module's one line about a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Info,
    Notice,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub result: AccountResult,
    /// The syslog line's severity and reason, if the decision is logged.
    pub log: Option<(Level, &'static str)>,
    /// What the user is told through the PAM conversation, if anything.
    pub user_message: Option<&'static str>,
}

pub const MSG_DEACTIVATED: &str = "Your directory account is deactivated; ask your administrator.";
pub const MSG_NO_LOGIN: &str =
    "Your directory account is not allowed to log in to this host; ask your administrator.";
pub const MSG_NO_SUDO: &str =
    "Your directory account is not allowed to use sudo on this host; ask your administrator.";
pub const MSG_UNAVAILABLE: &str =
    "Directory accounts are unavailable on this host right now; ask your administrator.";
pub const MSG_HOME_REFUSED: &str =
    "Your home directory could not be created; ask your administrator.";
pub const MSG_HOME_NOT_YOURS: &str =
    "Your home directory belongs to another account; ask your administrator.";

fn decision(
    result: AccountResult,
    log: Option<(Level, &'static str)>,
    user_message: Option<&'static str>,
) -> Decision {
    Decision {
        result,
        log,
        user_message,
    }
}

/// The account phase. `account` is what the cache holds for the user (`None` when absent or when
/// the cache is unreadable), `cache_ok` whether the cache could be opened and queried,
/// `local_user` whether the user has an entry in /etc/passwd.
pub fn decide_account(
    account: Option<&Account>,
    cache_ok: bool,
    local_user: bool,
    service: &str,
    args: &Args,
) -> Decision {
    use AccountResult::*;
    if local_user {
        return match (cache_ok, account) {
            (true, None) => decision(Ignore, None, None),
            (true, Some(_)) => decision(
                Ignore,
                Some((
                    Level::Warning,
                    "local account also present in the Usher cache; left to the local rules",
                )),
                None,
            ),
            (false, _) => decision(
                Ignore,
                Some((
                    Level::Warning,
                    "local account; Usher cache unreadable; left to the local rules",
                )),
                None,
            ),
        };
    }
    if !cache_ok {
        return decision(
            AuthinfoUnavail,
            Some((
                Level::Error,
                "Usher cache unreadable and not a local account; denied (fail closed)",
            )),
            Some(MSG_UNAVAILABLE),
        );
    }
    let Some(account) = account else {
        return decision(Ignore, None, None);
    };
    if !account.active {
        return decision(
            AcctExpired,
            Some((
                Level::Notice,
                "account deactivated in the directory; denied",
            )),
            Some(MSG_DEACTIVATED),
        );
    }
    if args.is_sudo_service(service) {
        if account.can_sudo {
            decision(
                Success,
                Some((Level::Info, "allowed (member of a sudo group)")),
                None,
            )
        } else {
            decision(
                PermDenied,
                Some((Level::Notice, "not in a sudo group on this host; denied")),
                Some(MSG_NO_SUDO),
            )
        }
    } else if account.can_login {
        decision(
            Success,
            Some((Level::Info, "allowed (member of a login group)")),
            None,
        )
    } else {
        decision(
            PermDenied,
            Some((Level::Notice, "not in a login group on this host; denied")),
            Some(MSG_NO_LOGIN),
        )
    }
}

/// What the session phase does for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionPlan<'a> {
    /// Nothing to do; the optional line is logged.
    Ignore(Option<(Level, &'static str)>),
    /// Make sure the user's home exists.
    EnsureHome(&'a Account),
}

pub fn decide_session(
    account: Option<&Account>,
    cache_ok: bool,
    local_user: bool,
) -> SessionPlan<'_> {
    if local_user {
        return SessionPlan::Ignore(None);
    }
    if !cache_ok {
        return SessionPlan::Ignore(Some((
            Level::Warning,
            "Usher cache unreadable; home directory not checked",
        )));
    }
    match account {
        None => SessionPlan::Ignore(None),
        Some(a) => SessionPlan::EnsureHome(a),
    }
}

/// The session result for what [`crate::home::ensure_home`] did, with the syslog severity (the
/// detail comes from the outcome's `Display`) and the message to the user, if any.
///
/// A home that could not be created because of an I/O error does not fail the session (sshd then
/// logs "Could not chdir to home directory" and the user still gets in). A refusal (a path outside
/// the home root or not normalised, in a system directory, equal to, inside or above a local
/// account's home, a symlink or a directory not owned by root or writable by group or others on
/// the way, uid or gid 0, a bad `home_root`) does, and so does a home that exists but belongs to
/// another uid (its owner controls the files the user's shell would run, e.g. `.profile`).
///
/// `config/pam.d/usher` lists the session as `optional`, so SESSION_ERR does not end the login by
/// itself: the user gets in without a home (sshd: "Could not chdir to home directory") and nothing
/// is created or chowned; the error line in syslog is what an administrator sees. A site that
/// wants such a login ended makes the line `required`.
pub fn session_result(
    outcome: &HomeOutcome,
) -> (SessionResult, Option<Level>, Option<&'static str>) {
    match outcome {
        HomeOutcome::Exists => (SessionResult::Success, None, None),
        HomeOutcome::ExistsNotDir(_) => (SessionResult::Success, Some(Level::Warning), None),
        HomeOutcome::ExistsOtherOwner(_) => (
            SessionResult::SessionErr,
            Some(Level::Error),
            Some(MSG_HOME_NOT_YOURS),
        ),
        HomeOutcome::Created { skel_errors } if skel_errors.is_empty() => {
            (SessionResult::Success, Some(Level::Info), None)
        }
        HomeOutcome::Created { .. } | HomeOutcome::Failed(_) => {
            (SessionResult::Success, Some(Level::Warning), None)
        }
        HomeOutcome::Refused(_) => (
            SessionResult::SessionErr,
            Some(Level::Error),
            Some(MSG_HOME_REFUSED),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use usher_cache::PasswdEntry;

    fn account(active: bool, can_login: bool, can_sudo: bool) -> Account {
        Account {
            passwd: PasswdEntry {
                name: "alice".into(),
                uid: 100_001,
                gid: 100_001,
                gecos: "Alice".into(),
                home: "/home/alice".into(),
                shell: "/bin/bash".into(),
            },
            active,
            can_login,
            can_sudo,
            directory_id: "id-alice".into(),
            directory_name: "alice@example.com".into(),
            emails: vec![],
            ssh_keys: vec![],
            principals: vec![],
        }
    }

    /// What the table in the module documentation says, written independently of the code.
    fn expected(
        local: bool,
        cache_ok: bool,
        managed: Option<(bool, bool, bool)>,
        sudo_service: bool,
    ) -> AccountResult {
        use AccountResult::*;
        if local {
            return Ignore;
        }
        if !cache_ok {
            return AuthinfoUnavail;
        }
        match managed {
            None => Ignore,
            Some((false, _, _)) => AcctExpired,
            Some((true, login, sudo)) => {
                if (sudo_service && sudo) || (!sudo_service && login) {
                    Success
                } else {
                    PermDenied
                }
            }
        }
    }

    #[test]
    fn every_combination() {
        let args = Args::default();
        let bools = [false, true];
        let mut managed_cases: Vec<Option<(bool, bool, bool)>> = vec![None];
        for a in bools {
            for l in bools {
                for s in bools {
                    managed_cases.push(Some((a, l, s)));
                }
            }
        }
        let mut checked = 0;
        for local in bools {
            for cache_ok in bools {
                for managed in &managed_cases {
                    // An unreadable cache yields no account.
                    if !cache_ok && managed.is_some() {
                        continue;
                    }
                    for service in ["sudo", "sudo-i", "sshd", "login", "su", "usher-test"] {
                        let acct = managed.map(|(a, l, s)| account(a, l, s));
                        let d = decide_account(acct.as_ref(), cache_ok, local, service, &args);
                        let sudo_service = service == "sudo" || service == "sudo-i";
                        let want = expected(local, cache_ok, *managed, sudo_service);
                        assert_eq!(
                            d.result, want,
                            "local={local} cache_ok={cache_ok} managed={managed:?} service={service}"
                        );
                        // Every denial tells the user and logs one line; an unmanaged or local
                        // user is never told anything.
                        match d.result {
                            AccountResult::Success => {
                                assert!(d.user_message.is_none());
                                assert_eq!(d.log.map(|l| l.0), Some(Level::Info));
                            }
                            AccountResult::Ignore => assert!(d.user_message.is_none()),
                            _ => {
                                assert!(d.user_message.is_some());
                                assert!(d.log.is_some_and(|l| l.0 >= Level::Notice));
                            }
                        }
                        checked += 1;
                    }
                }
            }
        }
        // local x (cache ok: 9 account states, cache broken: 1) x 6 services
        assert_eq!(checked, 2 * (9 + 1) * 6);
    }

    #[test]
    fn messages_and_logging() {
        let args = Args::default();
        let d = decide_account(
            Some(&account(false, true, true)),
            true,
            false,
            "sshd",
            &args,
        );
        assert_eq!(d.result, AccountResult::AcctExpired);
        assert_eq!(d.user_message, Some(MSG_DEACTIVATED));
        let d = decide_account(
            Some(&account(true, false, false)),
            true,
            false,
            "sshd",
            &args,
        );
        assert_eq!(d.user_message, Some(MSG_NO_LOGIN));
        let d = decide_account(
            Some(&account(true, true, false)),
            true,
            false,
            "sudo",
            &args,
        );
        assert_eq!(d.result, AccountResult::PermDenied);
        assert_eq!(d.user_message, Some(MSG_NO_SUDO));
        // sudo permission without login permission: sudo yes, login no (the daemon always sets
        // can_login for sudo members, but the module does not rely on it).
        let only_sudo = account(true, false, true);
        assert_eq!(
            decide_account(Some(&only_sudo), true, false, "sudo", &args).result,
            AccountResult::Success
        );
        assert_eq!(
            decide_account(Some(&only_sudo), true, false, "sshd", &args).result,
            AccountResult::PermDenied
        );
        // Unmanaged, cache fine: silent.
        assert_eq!(
            decide_account(None, true, false, "sshd", &args),
            Decision {
                result: AccountResult::Ignore,
                log: None,
                user_message: None
            }
        );
        // Local user while the cache is broken: ignored, but logged.
        let d = decide_account(None, false, true, "sshd", &args);
        assert_eq!(d.result, AccountResult::Ignore);
        assert_eq!(d.log.map(|l| l.0), Some(Level::Warning));
        // Local name also in the cache (the daemon should never publish one): local wins.
        let d = decide_account(
            Some(&account(false, false, false)),
            true,
            true,
            "sshd",
            &args,
        );
        assert_eq!(d.result, AccountResult::Ignore);
        assert_eq!(d.log.map(|l| l.0), Some(Level::Warning));
        // Not local, cache broken: fail closed, and the user is told.
        let d = decide_account(None, false, false, "sshd", &args);
        assert_eq!(d.result, AccountResult::AuthinfoUnavail);
        assert_eq!(d.user_message, Some(MSG_UNAVAILABLE));
        assert_eq!(d.log.map(|l| l.0), Some(Level::Error));
    }

    #[test]
    fn sudo_services_argument() {
        let args = Args::parse([&b"sudo_services=doas"[..]]);
        let login_only = account(true, true, false);
        // "sudo" is now an ordinary service: the login permission decides.
        assert_eq!(
            decide_account(Some(&login_only), true, false, "sudo", &args).result,
            AccountResult::Success
        );
        assert_eq!(
            decide_account(Some(&login_only), true, false, "doas", &args).result,
            AccountResult::PermDenied
        );
        let none = Args::parse([&b"sudo_services="[..]]);
        assert_eq!(
            decide_account(Some(&login_only), true, false, "sudo", &none).result,
            AccountResult::Success
        );
    }

    #[test]
    fn session_plans() {
        let a = account(true, true, false);
        assert_eq!(
            decide_session(Some(&a), true, true),
            SessionPlan::Ignore(None)
        );
        assert_eq!(decide_session(None, true, true), SessionPlan::Ignore(None));
        assert_eq!(decide_session(None, false, true), SessionPlan::Ignore(None));
        assert!(matches!(
            decide_session(None, false, false),
            SessionPlan::Ignore(Some((Level::Warning, _)))
        ));
        assert_eq!(decide_session(None, true, false), SessionPlan::Ignore(None));
        assert_eq!(
            decide_session(Some(&a), true, false),
            SessionPlan::EnsureHome(&a)
        );
        // Homes are ensured whatever the permissions: the account phase decides access.
        let inactive = account(false, false, false);
        assert_eq!(
            decide_session(Some(&inactive), true, false),
            SessionPlan::EnsureHome(&inactive)
        );
    }

    #[test]
    fn session_results() {
        use HomeOutcome::*;
        assert_eq!(
            session_result(&Exists),
            (SessionResult::Success, None, None)
        );
        assert_eq!(
            session_result(&Created {
                skel_errors: vec![]
            }),
            (SessionResult::Success, Some(Level::Info), None)
        );
        assert_eq!(
            session_result(&Created {
                skel_errors: vec!["x".into()]
            })
            .1,
            Some(Level::Warning)
        );
        assert_eq!(
            session_result(&Failed("x".into())).0,
            SessionResult::Success
        );
        assert_eq!(
            session_result(&ExistsOtherOwner(7)),
            (
                SessionResult::SessionErr,
                Some(Level::Error),
                Some(MSG_HOME_NOT_YOURS)
            )
        );
        assert_eq!(
            session_result(&ExistsNotDir("symlink")).0,
            SessionResult::Success
        );
        assert_eq!(
            session_result(&Refused("x".into())),
            (
                SessionResult::SessionErr,
                Some(Level::Error),
                Some(MSG_HOME_REFUSED)
            )
        );
    }
}
