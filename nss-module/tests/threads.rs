//! 16 threads looking up while the main thread republishes. Alone in its own test binary so that
//! the fd count is not disturbed by other tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use libnss::interop::NssStatus::{NotFound, Success};
use nss_usher::handle::Config;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn generation(n: u64) -> usher_cache::Snapshot {
    let mut users: Vec<_> = (0..50)
        .map(|i| user(&format!("u{i:02}"), 10000 + i))
        .collect();
    for u in &mut users {
        u.gecos = format!("generation {n}");
    }
    // One user that exists only in this generation.
    users.push(user(&format!("gen{n}"), 20000 + n as u32));
    snapshot(users, vec![group("staff", 30000, &["u01", "u02", "u03"])])
}

#[test]
fn sixteen_threads_look_up_while_the_cache_is_republished() {
    let dir = TempDir::new();
    let path = dir.cache();
    publish(&path, &generation(0), 0);
    let cfg = Config::eager(&path);
    assert_eq!(getpwnam(&cfg, "u00").0, Success);
    let fds_before = fds_under(dir.path()).len();
    assert_eq!(fds_before, 1);

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..16u32)
        .map(|t| {
            let stop = Arc::clone(&stop);
            let path = path.clone();
            std::thread::spawn(move || {
                let cfg = Config::eager(&path);
                let mut errors = Vec::new();
                let mut generations = BTreeSet::new();
                let mut lookups = 0u64;
                while !stop.load(Ordering::Relaxed) || lookups < 100 {
                    let i = (lookups as u32 + t) % 50;
                    let (s, e, pw) = getpwnam(&cfg, &format!("u{i:02}"));
                    match pw {
                        Some(pw) if s == Success && pw.uid == 10000 + i => {
                            generations.insert(pw.gecos);
                        }
                        _ => errors.push(format!("getpwnam u{i:02}: {s:?} {e}")),
                    }
                    let (s, e, _) = getpwuid(&cfg, 10000 + i);
                    if s != Success {
                        errors.push(format!("getpwuid {}: {s:?} {e}", 10000 + i));
                    }
                    let (s, e, g) = getgrgid(&cfg, 30000);
                    if s != Success || g.map(|g| g.members.len()) != Some(3) {
                        errors.push(format!("getgrgid: {s:?} {e}"));
                    }
                    let (s, e, groups, _) = initgroups(&cfg, "u01", 10001, &[10001], 1, 0);
                    if s != Success || groups != vec![10001, 30000] {
                        errors.push(format!("initgroups: {s:?} {e} {groups:?}"));
                    }
                    let (s, e, _) = getpwnam(&cfg, "nobody");
                    if s != NotFound {
                        errors.push(format!("getpwnam nobody: {s:?} {e}"));
                    }
                    lookups += 1;
                }
                (errors, generations.len(), lookups)
            })
        })
        .collect();

    for n in 1..=100 {
        publish(&path, &generation(n), n);
    }
    stop.store(true, Ordering::Relaxed);

    let mut total = 0;
    let mut saw_several = 0;
    for w in workers {
        let (errors, generations, lookups) = w.join().unwrap();
        assert!(
            errors.is_empty(),
            "{} errors, e.g. {:?}",
            errors.len(),
            &errors[..errors.len().min(5)]
        );
        total += lookups;
        if generations > 1 {
            saw_several += 1;
        }
    }
    assert!(total >= 1600);
    assert!(saw_several > 0, "the workers saw the republishing");
    // Every worker's handle was closed with its thread; only the main thread's (on an old,
    // since replaced file) is left, as before.
    assert_eq!(fds_under(dir.path()).len(), fds_before);
    // And the main thread moves to the newest snapshot at its next lookup.
    assert_eq!(getpwnam(&cfg, "gen100").0, Success);
    let fds = fds_under(dir.path());
    assert_eq!(fds.len(), 1);
    assert!(!fds[0].1.ends_with("(deleted)"));
}
