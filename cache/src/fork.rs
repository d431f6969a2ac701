//! Noticing a fork without a system call per lookup.
//!
//! A handle opened before `fork()` must not be used by the child (SQLite's rule). Comparing
//! `getpid()` on every lookup is a system call, a fifth of a warm lookup; instead a `pthread_atfork`
//! child handler counts forks, and a handle remembers the count it was opened at. `getpid()` is
//! still compared whenever a handle re-checks its path (at most once a second in the modules), which
//! also covers children made without glibc's `fork()` (a raw `clone`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static FORKS: AtomicU64 = AtomicU64::new(0);
static REGISTERED: AtomicBool = AtomicBool::new(false);

extern "C" fn count_fork_in_child() {
    // Async-signal-safe: one atomic add.
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// How many times this process's ancestry forked since the handler was registered; call once
/// before opening a handle (the first call registers the handler).
pub(crate) fn generation() -> u64 {
    if !REGISTERED.swap(true, Ordering::AcqRel) {
        // SAFETY: registers a handler that only touches an atomic. With glibc, a handler
        // registered by a shared object is removed when the object is unloaded. If registration
        // fails, forks go unnoticed here and the per-second pid check still catches them.
        unsafe { libc::pthread_atfork(None, None, Some(count_fork_in_child)) };
    }
    FORKS.load(Ordering::Relaxed)
}

/// The current count, without registering (for the per-lookup check).
pub(crate) fn current() -> u64 {
    FORKS.load(Ordering::Relaxed)
}
