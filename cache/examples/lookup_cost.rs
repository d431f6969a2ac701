//! The reader's own cost per point lookup, in CPU time (so a busy machine skews it less than
//! wall time): publishes N users (default 10,000) and N/10 groups of 50 members into a temporary
//! directory, then times each lookup kind over every key, 7 rounds, and prints the median ns/op.
//! Run as root (the reader refuses a cache not owned by root):
//!   cargo run --release -p usher-cache --example lookup_cost [N]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use usher_cache::{publish, Group, Meta, Reader, Snapshot, User};

fn cpu_ns() -> u128 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as u128 * 1_000_000_000 + t.tv_nsec as u128
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(10_000);
    let users: Vec<User> = (0..n)
        .map(|i| User {
            name: format!("user{i:06}"),
            uid: 100_000 + i,
            gid: 100_000 + i,
            gecos: format!("User {i}"),
            home: format!("/home/user{i:06}"),
            shell: "/bin/bash".into(),
            active: true,
            can_login: true,
            can_sudo: false,
            directory_id: format!("id-{i}"),
            directory_name: format!("user{i:06}@example.com"),
            emails: vec![],
            ssh_keys: vec![],
            principals: vec![],
        })
        .collect();
    let group_count = (n / 10).max(1);
    let groups: Vec<Group> = (0..group_count)
        .map(|g| Group {
            name: format!("group{g:06}"),
            gid: 500_000 + g,
            directory_id: Some(format!("g-{g}")),
            members: (0..50)
                .map(|k| format!("user{:06}", (g * 7 + k * 13) % n))
                .collect(),
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    let meta = Meta {
        content_hash: "bench".into(),
        ..Meta::default()
    };
    publish(&path, &Snapshot { users, groups }, &meta).unwrap();
    let reader = Reader::open(&path).unwrap();
    let names: Vec<String> = (0..n).map(|i| format!("user{i:06}")).collect();
    let gnames: Vec<String> = (0..group_count).map(|g| format!("group{g:06}")).collect();

    let time = |label: &str, keys: usize, f: &dyn Fn(usize)| {
        let mut rounds: Vec<f64> = (0..7)
            .map(|_| {
                let start = cpu_ns();
                for _ in 0..(200_000 / keys).max(1) {
                    for k in 0..keys {
                        f(k);
                    }
                }
                let calls = (200_000 / keys).max(1) * keys;
                (cpu_ns() - start) as f64 / calls as f64
            })
            .collect();
        rounds.sort_by(f64::total_cmp);
        println!("{label:<16} {:>7.0} ns/op (CPU, median of 7)", rounds[3]);
    };
    time("user_by_name", names.len(), &|k| {
        black_box(reader.with_user_by_name(&names[k], |p| p.uid).unwrap());
    });
    time("user_by_uid", names.len(), &|k| {
        black_box(
            reader
                .with_user_by_uid(100_000 + k as u32, |p| p.gid)
                .unwrap(),
        );
    });
    time("group_by_name", gnames.len(), &|k| {
        black_box(
            reader
                .with_group_by_name(&gnames[k], |g| g.members_list().len())
                .unwrap(),
        );
    });
    time("group_by_gid", gnames.len(), &|k| {
        black_box(
            reader
                .with_group_by_gid(500_000 + k as u32, |g| g.members_list().len())
                .unwrap(),
        );
    });
    time("group_ids_of", names.len(), &|k| {
        black_box(reader.group_ids_of(&names[k]).unwrap());
    });
}
