//! After fork, the child must not use the parent's handle. Alone in its own test binary so that no
//! other test thread holds a lock (malloc's, SQLite's) at the moment of the fork.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use libnss::interop::NssStatus::{NotFound, Success};
use nss_usher::enumerate::Enumeration;
use nss_usher::handle::Config;
use std::time::Duration;
use usher_cache::UserScan;

/// Exit codes of the child.
const PASS: i32 = 0;
const SAW_OLD_SNAPSHOT: i32 = 10;
const NEW_USER_MISSING: i32 = 11;
const WRONG_FDS: i32 = 12;
const PANICKED: i32 = 13;
const ENUMERATION_NOT_REOPENED: i32 = 14;

#[test]
fn a_forked_child_answers_from_its_own_fresh_handle() {
    let dir = TempDir::new();
    let path = dir.cache();
    publish(&path, &basic(), 1);
    // A long interval: a warm handle would keep answering from the old snapshot.
    let cfg = Config {
        path: &path,
        recheck_interval: Duration::from_secs(3600),
        ..Config::eager(&path)
    };
    assert_eq!(getpwnam(&cfg, "alice").0, Success);
    // An enumeration under way (its cursor has a handle of its own), one entry in.
    let en: Enumeration<UserScan> = Enumeration::new();
    assert_eq!(getpwent(&cfg, &en, 4096).2.unwrap().uid, 10001);
    let parent_fds = fds_under(dir.path());
    assert_eq!(parent_fds.len(), 2);

    publish(&path, &snapshot(vec![user("dave", 10004)], vec![]), 2);
    // The parent's warm handle still sees the old snapshot (no stat within the interval).
    assert_eq!(getpwnam(&cfg, "alice").0, Success);
    assert_eq!(getpwnam(&cfg, "dave").0, NotFound);

    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(|| {
            // The child's first lookup: the inherited handle belongs to the parent's pid, so it
            // is dropped and a new one opened on what the path names now.
            if getpwnam(&cfg, "alice").0 != NotFound {
                return SAW_OLD_SNAPSHOT;
            }
            if getpwnam(&cfg, "dave").0 != Success {
                return NEW_USER_MISSING;
            }
            // The enumeration's inherited cursor is dropped too: the child reopens and goes on
            // after the last uid handed out, in the snapshot the path names now.
            if getpwent(&cfg, &en, 4096).2.map(|p| p.uid) != Some(10004) {
                return ENUMERATION_NOT_REOPENED;
            }
            // Two fds on the cache, both fresh, on the live file; the inherited copies of the
            // parent's fds (now on a deleted file) were closed.
            let fds = fds_under(dir.path());
            if fds.len() != 2 || fds.iter().any(|f| f.1.ends_with("(deleted)")) {
                return WRONG_FDS;
            }
            PASS
        })
        .unwrap_or(PANICKED);
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "child did not exit: {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), PASS, "child failed");

    // The parent's handles are untouched by the child's reopening.
    let fds = fds_under(dir.path());
    let numbers = |fds: &[(i32, String)]| fds.iter().map(|f| f.0).collect::<Vec<_>>();
    assert_eq!(
        numbers(&fds),
        numbers(&parent_fds),
        "the same fds as before the fork"
    );
    assert!(
        fds.iter().all(|f| f.1.ends_with("(deleted)")),
        "still on the old snapshot"
    );
    assert_eq!(getpwnam(&cfg, "alice").0, Success);
    assert_eq!(getpwent(&cfg, &en, 4096).2.unwrap().uid, 10002);
}
