//! A rough measure of the warm lookup path, for the record (no timed assertion). Run with
//! `cargo test -p usher-nss --release --test perf -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use libnss::interop::NssStatus::Success;
use nss_usher::handle::{Config, SYSTEM_RECHECK_INTERVAL};
use std::ffi::CString;
use std::time::Instant;

#[test]
#[ignore]
fn warm_lookup_ns_per_op() {
    let dir = TempDir::new();
    let path = dir.cache();
    let users: Vec<_> = (0..10_000)
        .map(|i| user(&format!("user{i:05}"), 100_000 + i))
        .collect();
    let groups: Vec<_> = (0..100)
        .map(|g| {
            let members: Vec<String> = (0..50).map(|m| format!("user{:05}", g * 50 + m)).collect();
            let refs: Vec<&str> = members.iter().map(String::as_str).collect();
            group(&format!("team{g:03}"), 200_000 + g, &refs)
        })
        .collect();
    publish(&path, &snapshot(users, groups), 1);
    let cfg = Config {
        path: &path,
        recheck_interval: SYSTEM_RECHECK_INTERVAL,
        ..Config::eager(&path)
    };
    let names: Vec<CString> = (0..10_000)
        .map(|i| CString::new(format!("user{:05}", (i * 7919) % 10_000)).unwrap())
        .collect();
    let mut buf = buffer(4096);
    let mut out = empty_passwd();
    let mut errno = 0;
    const N: usize = 100_000;
    let run = |label: &str, f: &mut dyn FnMut(usize) -> libnss::interop::NssStatus| {
        for i in 0..1000 {
            assert_eq!(f(i), Success);
        }
        let t = Instant::now();
        for i in 0..N {
            assert_eq!(f(i), Success);
        }
        let ns = t.elapsed().as_nanos() as f64 / N as f64;
        println!("{label}: {ns:.0} ns/op");
    };
    run("getpwnam_r warm", &mut |i| unsafe {
        nss_usher::lookup::getpwnam_r(
            &cfg,
            names[i % names.len()].as_ptr(),
            &mut out,
            buf.as_mut_ptr().cast(),
            4096,
            &mut errno,
        )
    });
    let mut buf2 = buffer(4096);
    let mut out2 = empty_passwd();
    run("getpwuid_r warm", &mut |i| unsafe {
        nss_usher::lookup::getpwuid_r(
            &cfg,
            100_000 + ((i * 7919) % 10_000) as u32,
            &mut out2,
            buf2.as_mut_ptr().cast(),
            4096,
            &mut errno,
        )
    });
    let mut buf3 = buffer(4096);
    let mut gout = empty_group();
    run("getgrgid_r warm (50 members)", &mut |i| unsafe {
        nss_usher::lookup::getgrgid_r(
            &cfg,
            200_000 + (i % 100) as u32,
            &mut gout,
            buf3.as_mut_ptr().cast(),
            4096,
            &mut errno,
        )
    });
    let eager = Config::eager(&path);
    let mut buf4 = buffer(4096);
    let mut out4 = empty_passwd();
    run("getpwnam_r, stat on every lookup", &mut |i| unsafe {
        nss_usher::lookup::getpwnam_r(
            &eager,
            names[i % names.len()].as_ptr(),
            &mut out4,
            buf4.as_mut_ptr().cast(),
            4096,
            &mut errno,
        )
    });
    // initgroups_dyn: the local-name check (one stat of an unchanged passwd file and a binary
    // search in this thread's copy of its names) against the whole call.
    let passwd = dir.path().join("passwd");
    let lines: String = (0..40)
        .map(|i| {
            format!(
                "local{i:02}:x:{}:{}::/home/local{i:02}:/bin/sh\n",
                1000 + i,
                1000 + i
            )
        })
        .collect();
    std::fs::write(&passwd, lines).unwrap();
    let with_local = Config {
        local_passwd: &passwd,
        ..cfg
    };
    let groups = unsafe { libc::malloc(64 * 4) }.cast::<libc::gid_t>();
    let mut groups_ptr = groups;
    run("initgroups_dyn warm (0 or 1 group)", &mut |i| unsafe {
        let mut start: libc::c_long = 1;
        let mut size: libc::c_long = 64;
        groups_ptr.write(1);
        let s = nss_usher::lookup::initgroups_dyn(
            &with_local,
            names[i % names.len()].as_ptr(),
            1,
            &mut start,
            &mut size,
            &mut groups_ptr,
            0,
            &mut errno,
        );
        assert!(start >= 1);
        s
    });
    unsafe { libc::free(groups_ptr.cast()) };
    let t = Instant::now();
    for i in 0..N {
        let name = names[i % names.len()].as_bytes();
        assert!(!usher_cache::local::is_local_name(&passwd, name).unwrap());
    }
    let ns = t.elapsed().as_nanos() as f64 / N as f64;
    println!("is_local_name alone (40 local accounts, unchanged file): {ns:.0} ns/op");
    let t = Instant::now();
    for _ in 0..N {
        assert!(std::fs::metadata(&passwd).is_ok());
    }
    let ns = t.elapsed().as_nanos() as f64 / N as f64;
    println!("stat alone: {ns:.0} ns/op");
}
