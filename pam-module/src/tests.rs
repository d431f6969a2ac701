//! The account and session phases end to end without PAM: a real published snapshot, a fake
//! passwd file, a temporary home root.

use super::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use usher_cache::{Meta, Snapshot, User};

fn user(name: &str, uid: u32, home: &str, active: bool, login: bool, sudo: bool) -> User {
    User {
        name: name.into(),
        uid,
        gid: uid,
        gecos: name.into(),
        home: home.into(),
        shell: "/bin/bash".into(),
        active,
        can_login: login,
        can_sudo: sudo,
        directory_id: format!("id-{name}"),
        directory_name: format!("{name}@example.com"),
        emails: vec![],
        ssh_keys: vec![],
        principals: vec![],
    }
}

struct World {
    dir: tempfile::TempDir,
    env: Env,
    args: Args,
}

/// A scratch directory whose parents are all root-owned and not group/other-writable, as home
/// creation requires (the system temp dir is world-writable): next to the test binary, in the
/// cargo target dir.
fn trusted_tempdir() -> tempfile::TempDir {
    let exe = std::env::current_exe().unwrap();
    tempfile::Builder::new()
        .prefix(".pam-world")
        .tempdir_in(exe.parent().unwrap())
        .unwrap()
}

fn world() -> World {
    let dir = trusted_tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let skel = dir.path().join("skel");
    std::fs::create_dir(&skel).unwrap();
    std::fs::write(skel.join(".profile"), "# profile\n").unwrap();
    let h = |n: &str| format!("{}/{n}", home.display());
    let snapshot = Snapshot {
        users: vec![
            user("alice", 100_001, &h("alice"), true, true, true),
            user("bob", 100_002, &h("bob"), true, true, false),
            user("carol", 100_003, &h("carol"), true, false, false),
            user("dave", 100_004, &h("dave"), false, true, true),
            user("eve", 100_005, "/etc/eve", true, true, false),
            user("localdup", 100_006, &h("localdup"), false, false, false),
            user("mallory", 100_007, &h("localadmin/bin"), true, true, false),
            user("trudy", 100_008, &h("localadmin"), true, true, false),
            user("oscar", 100_009, &h("shared/oscar"), true, true, false),
        ],
        groups: vec![],
    };
    let cache = dir.path().join("cache.db");
    let meta = Meta {
        generation: 1,
        built_at: 0,
        source: "test".into(),
        content_hash: snapshot.content_hash(),
    };
    usher_cache::publish(&cache, &snapshot, &meta).unwrap();
    let passwd = dir.path().join("passwd");
    std::fs::write(
        &passwd,
        format!(
            "root:x:0:0:root:/root:/bin/bash\nlocaldup:x:1000:1000::/home/localdup:/bin/sh\n\
             localadmin:x:1001:1001::{}:/bin/bash\n",
            h("localadmin")
        ),
    )
    .unwrap();
    let args = Args::parse(
        [
            format!("home_root={}", home.display()),
            format!("skel={}", skel.display()),
        ]
        .iter()
        .map(|s| s.as_bytes())
        .collect::<Vec<_>>(),
    );
    World {
        env: Env { cache, passwd },
        dir,
        args,
    }
}

fn acct(w: &World, user: &str, service: &str) -> AccountResult {
    run_account(user.as_bytes(), service, &w.args, &w.env).result
}

#[test]
fn account_against_a_real_snapshot() {
    let w = world();
    use AccountResult::*;
    assert_eq!(acct(&w, "alice", "sshd"), Success);
    assert_eq!(acct(&w, "alice", "sudo"), Success);
    assert_eq!(acct(&w, "bob", "sshd"), Success);
    assert_eq!(acct(&w, "bob", "sudo"), PermDenied);
    assert_eq!(acct(&w, "bob", "sudo-i"), PermDenied);
    assert_eq!(acct(&w, "bob", "su"), Success);
    assert_eq!(acct(&w, "carol", "sshd"), PermDenied);
    assert_eq!(acct(&w, "dave", "sshd"), AcctExpired);
    assert_eq!(acct(&w, "dave", "sudo"), AcctExpired);
    assert_eq!(acct(&w, "root", "sshd"), Ignore);
    assert_eq!(acct(&w, "localdup", "sshd"), Ignore);
    assert_eq!(acct(&w, "nobody-here", "sshd"), Ignore);
    assert_eq!(acct(&w, "", "sshd"), Ignore);
    assert_eq!(
        run_account(b"\xffbad", "sshd", &w.args, &w.env).result,
        Ignore
    );

    let o = run_account(b"carol", "sshd", &w.args, &w.env);
    assert_eq!(o.user_message, Some(decide::MSG_NO_LOGIN));
    let (level, line) = o.log.unwrap();
    assert_eq!(level, Level::Notice);
    assert_eq!(
        line,
        "pam_usher(sshd:account): user carol: not in a login group on this host; denied"
    );
    let o = run_account(b"nobody-here", "sshd", &w.args, &w.env);
    assert_eq!(o.log, None);
}

fn break_cache(w: &World, how: &str) {
    let cache = &w.env.cache;
    match how {
        "missing" => std::fs::remove_file(cache).unwrap(),
        "garbage" => {
            std::fs::write(cache, b"this is not an sqlite database at all, sorry").unwrap()
        }
        "truncated" => {
            let bytes = std::fs::read(cache).unwrap();
            std::fs::write(cache, &bytes[..bytes.len() / 3]).unwrap();
        }
        "empty" => std::fs::write(cache, b"").unwrap(),
        "version" => {
            let c = rusqlite::Connection::open(cache).unwrap();
            c.pragma_update(None, "user_version", 999).unwrap();
        }
        _ => unreachable!(),
    }
}

#[test]
fn broken_cache_fails_closed_for_non_local_users_only() {
    for how in ["missing", "garbage", "truncated", "empty", "version"] {
        let w = world();
        break_cache(&w, how);
        use AccountResult::*;
        for name in ["alice", "bob", "nobody-here"] {
            let o = run_account(name.as_bytes(), "sshd", &w.args, &w.env);
            assert_eq!(o.result, AuthinfoUnavail, "{how} {name}");
            assert_eq!(o.user_message, Some(decide::MSG_UNAVAILABLE));
            let (level, line) = o.log.unwrap();
            assert_eq!(level, Level::Error);
            assert!(line.contains("fail closed"), "{line}");
        }
        for name in ["root", "localdup"] {
            let o = run_account(name.as_bytes(), "sshd", &w.args, &w.env);
            assert_eq!(o.result, Ignore, "{how} {name}");
            assert_eq!(o.user_message, None);
            assert_eq!(o.log.map(|l| l.0), Some(Level::Warning));
        }
        // Session: nothing is created, nobody is locked out by the session phase.
        let o = run_open_session(b"alice", "sshd", &w.args, &w.env);
        assert_eq!(o.result, SessionResult::Ignore, "{how}");
        assert_eq!(o.log.map(|l| l.0), Some(Level::Warning));
        assert!(!w.dir.path().join("home/alice").exists());
    }
}

/// Issue 11 item 5: a cache someone other than root could have written is refused like a broken
/// one: directory users denied, local users left to the local rules, no home created.
#[test]
fn untrusted_cache_denies_directory_users_only() {
    for how in [
        "file 666",
        "file 664",
        "owned by nobody",
        "directory 777",
        "directory 1777",
    ] {
        let w = world();
        let cache = &w.env.cache;
        let dir = w.dir.path();
        match how {
            "file 666" => std::fs::set_permissions(cache, std::fs::Permissions::from_mode(0o666)),
            "file 664" => std::fs::set_permissions(cache, std::fs::Permissions::from_mode(0o664)),
            "owned by nobody" => std::os::unix::fs::chown(cache, Some(65534), Some(65534)),
            "directory 777" => {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
            }
            "directory 1777" => {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777))
            }
            _ => unreachable!(),
        }
        .unwrap();
        for name in ["alice", "bob"] {
            let o = run_account(name.as_bytes(), "sshd", &w.args, &w.env);
            assert_eq!(o.result, AccountResult::AuthinfoUnavail, "{how} {name}");
            let (level, line) = o.log.unwrap();
            assert_eq!(level, Level::Error);
            assert!(line.contains("fail closed"), "{line}");
            assert!(
                line.contains("not root") || line.contains("writable"),
                "{line}"
            );
            let o = run_account(name.as_bytes(), "sudo", &w.args, &w.env);
            assert_eq!(
                o.result,
                AccountResult::AuthinfoUnavail,
                "{how} {name} sudo"
            );
        }
        for name in ["root", "localdup"] {
            let o = run_account(name.as_bytes(), "sshd", &w.args, &w.env);
            assert_eq!(o.result, AccountResult::Ignore, "{how} {name}");
            assert_eq!(o.user_message, None);
        }
        let o = run_open_session(b"alice", "sshd", &w.args, &w.env);
        assert_eq!(o.result, SessionResult::Ignore, "{how}");
        assert!(!dir.join("home/alice").exists());
    }
}

#[test]
fn session_creates_the_home_once() {
    let w = world();
    let home = w.dir.path().join("home/alice");
    let o = run_open_session(b"alice", "sshd", &w.args, &w.env);
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert_eq!(o.result, SessionResult::Success);
        return;
    }
    assert_eq!(o.result, SessionResult::Success);
    let (level, line) = o.log.unwrap();
    assert_eq!(level, Level::Info);
    assert!(
        line.starts_with("pam_usher(sshd:session): user alice: home directory created"),
        "{line}"
    );
    let md = std::fs::metadata(&home).unwrap();
    assert_eq!(
        (md.uid(), md.gid(), md.mode() & 0o7777),
        (100_001, 100_001, 0o700)
    );
    assert_eq!(
        std::fs::read_to_string(home.join(".profile")).unwrap(),
        "# profile\n"
    );
    // Second login: left alone, nothing logged.
    std::fs::write(home.join(".profile"), "changed").unwrap();
    let o = run_open_session(b"alice", "sshd", &w.args, &w.env);
    assert_eq!(
        o,
        Outcome {
            result: SessionResult::Success,
            log: None,
            user_message: None
        }
    );
    assert_eq!(
        std::fs::read_to_string(home.join(".profile")).unwrap(),
        "changed"
    );
}

#[test]
fn session_ignores_unmanaged_and_refuses_homes_outside_the_root() {
    let w = world();
    for name in ["root", "localdup", "nobody-here"] {
        let o = run_open_session(name.as_bytes(), "sshd", &w.args, &w.env);
        assert_eq!(
            o,
            Outcome {
                result: SessionResult::Ignore,
                log: None,
                user_message: None
            }
        );
    }
    assert!(!w.dir.path().join("home/localdup").exists());
    let o = run_open_session(b"eve", "sshd", &w.args, &w.env);
    assert_eq!(o.result, SessionResult::SessionErr);
    assert_eq!(o.user_message, Some(decide::MSG_HOME_REFUSED));
    let (level, line) = o.log.unwrap();
    assert_eq!(level, Level::Error);
    assert!(line.contains("not below the home root"), "{line}");
}

#[test]
fn session_refuses_a_planted_symlink() {
    let w = world();
    let victim = w.dir.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    // bob's home is <dir>/home/bob: with the home root one level up, <dir>/home is a component
    // below the root, and a symlink there must be refused, not followed.
    let args = Args {
        home_root: w.dir.path().to_path_buf(),
        ..w.args.clone()
    };
    std::fs::remove_dir(w.dir.path().join("home")).unwrap();
    std::os::unix::fs::symlink(&victim, w.dir.path().join("home")).unwrap();
    let o = run_open_session(b"bob", "sshd", &args, &w.env);
    assert_eq!(o.result, SessionResult::SessionErr, "{o:?}");
    assert!(!victim.join("bob").exists());
}

/// The class of issue 11 item 2 through the session phase: whatever home the cache gives, the
/// session creates nothing in another account's home or in a place a user could have prepared, and
/// fails (one error line, SESSION_ERR) instead.
#[test]
fn session_never_plants_a_home_in_someone_elses() {
    let w = world();
    let root = w.dir.path().join("home");
    let la = root.join("localadmin");
    // localadmin's home exists and is theirs, the way useradd makes it.
    std::fs::create_dir(&la).unwrap();
    std::os::unix::fs::chown(&la, Some(1001), Some(1001)).unwrap();
    let expect_refused = |user: &str, why: &str| {
        let o = run_open_session(user.as_bytes(), "sshd", &w.args, &w.env);
        assert_eq!(o.result, SessionResult::SessionErr, "{user}: {o:?}");
        let (level, line) = o.log.clone().unwrap();
        assert_eq!(level, Level::Error, "{line}");
        assert!(line.contains(why), "{user}: {line}");
        assert!(!line.contains('\n'));
        o
    };
    // Inside a local home (the audit's /home/localadmin/bin), and equal to it.
    let o = expect_refused("mallory", "inside the home of local account localadmin");
    assert_eq!(o.user_message, Some(decide::MSG_HOME_REFUSED));
    assert!(!la.join("bin").exists());
    expect_refused("trudy", "equal to the home of local account localadmin");
    let md = std::fs::metadata(&la).unwrap();
    assert_eq!((md.uid(), md.gid()), (1001, 1001), "never chowned");
    // A parent owned by a user (another account's home, say), then one writable by others
    // (sticky or not), then a symlink: nothing created.
    let shared = root.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::os::unix::fs::chown(&shared, Some(100_002), Some(100_002)).unwrap();
    expect_refused("oscar", "owned by uid 100002, not root");
    std::os::unix::fs::chown(&shared, Some(0), Some(0)).unwrap();
    for mode in [0o777, 0o1777, 0o775] {
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(mode)).unwrap();
        expect_refused("oscar", "writable by group or others");
    }
    assert!(!shared.join("oscar").exists());
    std::fs::remove_dir(&shared).unwrap();
    let elsewhere = w.dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &shared).unwrap();
    expect_refused("oscar", "is a symlink");
    assert!(!elsewhere.join("oscar").exists());
    // An existing home owned by another uid: reported, never handed to the user.
    let bob = root.join("bob");
    std::fs::create_dir(&bob).unwrap();
    std::os::unix::fs::chown(&bob, Some(100_001), Some(100_001)).unwrap();
    let o = expect_refused("bob", "owned by uid 100001");
    assert_eq!(o.user_message, Some(decide::MSG_HOME_NOT_YOURS));
    let md = std::fs::metadata(&bob).unwrap();
    assert_eq!((md.uid(), md.gid()), (100_001, 100_001));
    assert!(!bob.join(".profile").exists());
    // And the ordinary case still works next to all that.
    let o = run_open_session(b"alice", "sshd", &w.args, &w.env);
    assert_eq!(o.result, SessionResult::Success, "{o:?}");
    assert_eq!(
        std::fs::metadata(root.join("alice")).unwrap().uid(),
        100_001
    );
}

#[test]
fn panics_are_caught_and_fail_closed() {
    let code = guarded(
        "account",
        || PamResultCode::PAM_PERM_DENIED,
        || panic!("boom"),
    );
    assert_eq!(code, PamResultCode::PAM_PERM_DENIED);
    let code = guarded(
        "session",
        || PamResultCode::PAM_SESSION_ERR,
        || panic!("boom"),
    );
    assert_eq!(code, PamResultCode::PAM_SESSION_ERR);
    assert_eq!(
        guarded(
            "account",
            || PamResultCode::PAM_PERM_DENIED,
            || PamResultCode::PAM_IGNORE
        ),
        PamResultCode::PAM_IGNORE
    );
}
