//! After fork, the child must not use the parent's handle. Alone in its own test binary so that no
//! other test thread holds a lock (malloc's, SQLite's) at the moment of the fork.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use libnss::interop::NssStatus::{NotFound, Success};
use nss_usher::handle::Config;
use std::time::Duration;

/// Exit codes of the child.
const PASS: i32 = 0;
const SAW_OLD_SNAPSHOT: i32 = 10;
const NEW_USER_MISSING: i32 = 11;
const WRONG_FDS: i32 = 12;
const PANICKED: i32 = 13;

#[test]
fn a_forked_child_answers_from_its_own_fresh_handle() {
    let dir = TempDir::new();
    let path = dir.cache();
    publish(&path, &basic(), 1);
    // A long interval: a warm handle would keep answering from the old snapshot.
    let cfg = Config {
        path: &path,
        recheck_interval: Duration::from_secs(3600),
    };
    assert_eq!(getpwnam(&cfg, "alice").0, Success);
    let parent_fds = fds_under(dir.path());
    assert_eq!(parent_fds.len(), 1);

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
            // One fd on the cache: the fresh one, on the live file; the inherited copy of the
            // parent's fd (now on a deleted file) was closed.
            let fds = fds_under(dir.path());
            if fds.len() != 1 || fds[0].1.ends_with("(deleted)") {
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

    // The parent's handle is untouched by the child's reopening.
    let fds = fds_under(dir.path());
    assert_eq!(fds.len(), 1);
    assert_eq!(fds[0].0, parent_fds[0].0, "the same fd as before the fork");
    assert!(fds[0].1.ends_with("(deleted)"), "still on the old snapshot");
    assert_eq!(getpwnam(&cfg, "alice").0, Success);
}
