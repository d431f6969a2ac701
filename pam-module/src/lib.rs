//! `pam_usher.so`: Usher's PAM module. It reads the snapshot `usherd` publishes at
//! [`usher_cache::DEFAULT_CACHE_PATH`] (a fresh read-only handle per call: PAM calls are rare and
//! must see the latest publish) and
//!
//! - **account**: allows a directory user only when active and permitted on this host for the
//!   service (`can_sudo` for the `sudo_services`, `can_login` for all others), denies with a message
//!   to the user and one syslog line otherwise, ignores users it does not manage, and fails closed
//!   for non-local users when the cache is unreadable ([`decide`] has the full table);
//! - **session** (open): creates a directory user's missing home from the skel directory ([`home`]);
//!   close does nothing and succeeds;
//! - **auth**, **setcred**, **chauthtok**: `PAM_IGNORE`, so a stray listing is harmless.
//!
//! Module arguments are in [`args`]. Return codes:
//!
//! | phase | code | when |
//! | --- | --- | --- |
//! | account | SUCCESS | directory user, active, permitted for the service |
//! | account | ACCT_EXPIRED | directory user deactivated upstream |
//! | account | PERM_DENIED | directory user not permitted (no login / no sudo group), or a caught panic |
//! | account | AUTHINFO_UNAVAIL | cache unreadable (missing, corrupt, other schema, or untrusted: not root-owned or writable by group/others) and the user not in /etc/passwd |
//! | account | IGNORE | local user (in /etc/passwd), or not in the cache |
//! | account | (PAM's error) | the user name could not be obtained from PAM |
//! | session | SUCCESS | home exists, was created, or could not be created for an I/O reason (logged) |
//! | session | SESSION_ERR | creation refused (outside `home_root`, in a system directory, equal to/inside/above a local account's home, a symlink or a directory not root-owned or group/other-writable on the way from `/`, uid/gid 0, bad `home_root`), an existing home owned by another uid, or a caught panic |
//! | session | IGNORE | local user, user not in the cache, cache unreadable (logged), no user name |
//!
//! Like the NSS module it starts no thread, opens no socket except syslog's `/dev/log`, never
//! calls NSS (local accounts are read from /etc/passwd directly; uid, gid and home come from the
//! cache), opens every file close-on-exec and never lets a panic cross into C.

pub mod args;
pub mod decide;
pub mod home;
pub mod log;

use args::Args;
use decide::{AccountResult, Level, SessionPlan, SessionResult};
use pam::constants::{PamFlag, PamResultCode, PAM_ERROR_MSG, PAM_SILENT};
use pam::conv::Conv;
use pam::module::{PamHandle, PamHooks};
use std::cell::Cell;
use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Once;
use usher_cache::{Account, Reader};

/// Where the module reads from. Compiled in ([`Env::system`]); tests point it elsewhere.
#[derive(Debug, Clone)]
pub struct Env {
    pub cache: PathBuf,
    pub passwd: PathBuf,
}

impl Env {
    pub fn system() -> Env {
        Env {
            cache: PathBuf::from(usher_cache::DEFAULT_CACHE_PATH),
            passwd: PathBuf::from(usher_cache::local::LOCAL_PASSWD),
        }
    }
}

/// What one call decided, ready to be reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<R> {
    pub result: R,
    /// The one syslog line, if any.
    pub log: Option<(Level, String)>,
    pub user_message: Option<&'static str>,
}

/// The user's cache entry, `Err` with the reason when the cache cannot be opened or queried. A
/// name that is not UTF-8 cannot be in the cache.
fn lookup(cache: &Path, user: &[u8]) -> Result<Option<Account>, String> {
    let reader = Reader::open(cache).map_err(|e| e.to_string())?;
    let Ok(name) = std::str::from_utf8(user) else {
        return Ok(None);
    };
    reader.account(name).map_err(|e| e.to_string())
}

/// The account phase for `user` and `service`, without PAM.
pub fn run_account(user: &[u8], service: &str, args: &Args, env: &Env) -> Outcome<AccountResult> {
    let found = lookup(&env.cache, user);
    let local_user = usher_cache::local::is_local_user(&env.passwd, user);
    let (account, cache_ok, error) = match &found {
        Ok(a) => (a.as_ref(), true, None),
        Err(e) => (None, false, Some(e.as_str())),
    };
    let d = decide::decide_account(account, cache_ok, local_user, service, args);
    let name = String::from_utf8_lossy(user);
    Outcome {
        result: d.result,
        log: d.log.map(|(level, reason)| {
            let line = log::format_line(service, "account", &name, reason, error, &args.unknown);
            (level, line)
        }),
        user_message: d.user_message,
    }
}

/// The session-open phase for `user`, without PAM.
pub fn run_open_session(
    user: &[u8],
    service: &str,
    args: &Args,
    env: &Env,
) -> Outcome<SessionResult> {
    let found = lookup(&env.cache, user);
    let local_user = usher_cache::local::is_local_user(&env.passwd, user);
    let (account, cache_ok, error) = match &found {
        Ok(a) => (a.as_ref(), true, None),
        Err(e) => (None, false, Some(e.as_str())),
    };
    let name = String::from_utf8_lossy(user);
    match decide::decide_session(account, cache_ok, local_user) {
        SessionPlan::Ignore(log) => Outcome {
            result: SessionResult::Ignore,
            log: log.map(|(level, reason)| {
                let line =
                    log::format_line(service, "session", &name, reason, error, &args.unknown);
                (level, line)
            }),
            user_message: None,
        },
        SessionPlan::EnsureHome(a) => {
            let p = &a.passwd;
            let policy = home::HomePolicy {
                home_root: &args.home_root,
                skel: &args.skel,
                passwd: &env.passwd,
            };
            let outcome = home::ensure_home(Path::new(&p.home), &policy, p.uid, p.gid);
            let (result, level, user_message) = decide::session_result(&outcome);
            let reason = format!("{outcome} (home {}, uid {}, gid {})", p.home, p.uid, p.gid);
            Outcome {
                result,
                log: level.map(|level| {
                    let line =
                        log::format_line(service, "session", &name, &reason, None, &args.unknown);
                    (level, line)
                }),
                user_message,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The PAM glue: gather inputs, run, report, map to a PAM code.

thread_local! {
    /// Whether this thread is inside one of the module's hooks.
    static IN_MODULE: Cell<bool> = const { Cell::new(false) };
}

static QUIET_PANICS: Once = Once::new();

/// Panics inside the hooks are caught and must not print to the host program's stderr. This is
/// the module's own copy of std, so the host's hook (if it is a Rust program) is not affected.
fn quiet_panics() {
    QUIET_PANICS.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_MODULE.try_with(Cell::get).unwrap_or(true) {
                previous(info);
            }
        }));
    });
}

/// Runs a hook body; a panic gives `on_panic()` and one syslog line.
fn guarded(
    phase: &str,
    on_panic: fn() -> PamResultCode,
    body: impl FnOnce() -> PamResultCode,
) -> PamResultCode {
    quiet_panics();
    let outer = IN_MODULE.try_with(|c| c.replace(true)).unwrap_or(false);
    let outcome = catch_unwind(AssertUnwindSafe(body));
    let _ = IN_MODULE.try_with(|c| c.set(outer));
    match outcome {
        Ok(code) => code,
        Err(payload) => {
            // Dropping a panic payload can itself panic: keep that inside too.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            log::send(
                Level::Error,
                &format!("pam_usher({phase}): internal error (panic caught); failing closed"),
            );
            on_panic()
        }
    }
}

fn parse_args(args: &[&CStr]) -> Args {
    Args::parse(args.iter().map(|a| a.to_bytes()))
}

/// The user being checked: the PAM_USER item, or `pam_get_user` if it is not set yet.
fn user_of(pamh: &mut PamHandle) -> Result<Vec<u8>, PamResultCode> {
    if let Ok(Some(u)) = pamh.get_item::<pam::items::User>() {
        return Ok(u.0.to_bytes().to_vec());
    }
    pamh.get_user(None).map(String::into_bytes)
}

fn service_of(pamh: &PamHandle) -> String {
    match pamh.get_item::<pam::items::Service>() {
        Ok(Some(s)) => s.0.to_string_lossy().into_owned(),
        _ => String::new(),
    }
}

fn report<R>(pamh: &PamHandle, flags: PamFlag, outcome: &Outcome<R>) {
    if let Some((level, line)) = &outcome.log {
        log::send(*level, line);
    }
    if let Some(msg) = outcome.user_message {
        if flags & PAM_SILENT == 0 {
            if let Ok(Some(conv)) = pamh.get_item::<Conv>() {
                let _ = conv.send(PAM_ERROR_MSG, msg);
            }
        }
    }
}

fn account_code(r: AccountResult) -> PamResultCode {
    match r {
        AccountResult::Success => PamResultCode::PAM_SUCCESS,
        AccountResult::Ignore => PamResultCode::PAM_IGNORE,
        AccountResult::AcctExpired => PamResultCode::PAM_ACCT_EXPIRED,
        AccountResult::PermDenied => PamResultCode::PAM_PERM_DENIED,
        AccountResult::AuthinfoUnavail => PamResultCode::PAM_AUTHINFO_UNAVAIL,
    }
}

fn session_code(r: SessionResult) -> PamResultCode {
    match r {
        SessionResult::Success => PamResultCode::PAM_SUCCESS,
        SessionResult::Ignore => PamResultCode::PAM_IGNORE,
        SessionResult::SessionErr => PamResultCode::PAM_SESSION_ERR,
    }
}

fn acct_mgmt(pamh: &mut PamHandle, args: &[&CStr], flags: PamFlag) -> PamResultCode {
    let args = parse_args(args);
    let user = match user_of(pamh) {
        Ok(u) => u,
        Err(code) => return code,
    };
    let service = service_of(pamh);
    let outcome = run_account(&user, &service, &args, &Env::system());
    report(pamh, flags, &outcome);
    account_code(outcome.result)
}

fn open_session(pamh: &mut PamHandle, args: &[&CStr], flags: PamFlag) -> PamResultCode {
    let args = parse_args(args);
    let Ok(user) = user_of(pamh) else {
        return PamResultCode::PAM_IGNORE;
    };
    let service = service_of(pamh);
    let outcome = run_open_session(&user, &service, &args, &Env::system());
    report(pamh, flags, &outcome);
    session_code(outcome.result)
}

struct UsherPam;

pam::pam_hooks!(UsherPam);

impl PamHooks for UsherPam {
    fn acct_mgmt(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        guarded(
            "account",
            || PamResultCode::PAM_PERM_DENIED,
            || acct_mgmt(pamh, &args, flags),
        )
    }

    fn sm_open_session(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        guarded(
            "session",
            || PamResultCode::PAM_SESSION_ERR,
            || open_session(pamh, &args, flags),
        )
    }

    fn sm_close_session(_: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        PamResultCode::PAM_SUCCESS
    }

    fn sm_authenticate(_: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        PamResultCode::PAM_IGNORE
    }

    fn sm_setcred(_: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        PamResultCode::PAM_IGNORE
    }

    fn sm_chauthtok(_: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        PamResultCode::PAM_IGNORE
    }
}

#[cfg(test)]
mod tests;
