//! The long-running usherd: sync every `interval` with jitter, back off on failure, keep serving
//! the last published cache while the directory is away, and answer signals.
//!
//! SIGHUP re-reads the config (a bad one is refused and the old one kept), SIGUSR1 syncs now,
//! SIGTERM/SIGINT abandon a sync in flight and exit 0. A sync is only abandoned at an await point,
//! which is never inside a publish (publishing is synchronous), so no partial cache is possible;
//! a temp file left by SIGKILL is removed by the next publish.

use crate::config::Config;
use crate::notify::{notify, watchdog_interval};
use crate::source::{self, Source};
use crate::state::State;
use crate::sync::{sync_once, Outcome, Paths, Report};
use crate::{Error, Result};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Retry-After beyond this is not believed.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A random duration in `[0, max]`, from the OS-seeded hasher keys (no extra crate needed).
fn jitter(max: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(random % max_ms.saturating_add(1))
}

/// The wait after `failures` failed syncs in a row: doubling from `initial`, capped at `max`,
/// never shorter than the directory's Retry-After.
pub fn backoff(
    failures: u32,
    initial: Duration,
    max: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    let exponent = failures.saturating_sub(1).min(30);
    let doubled = initial.saturating_mul(1u32 << exponent).min(max);
    match retry_after {
        Some(r) => doubled.max(r.min(MAX_RETRY_AFTER)),
        None => doubled,
    }
}

/// Updates `state` from the result of one sync attempt.
pub fn record(state: &mut State, result: &Result<Report>) {
    state.attempts += 1;
    state.last_attempt = Some(now_unix());
    match result {
        Ok(report) => {
            state.last_success = state.last_attempt;
            state.last_error = None;
            state.consecutive_failures = 0;
            state.generation = report.generation;
            state.users = report.users;
            state.inactive_users = report.inactive_users;
            state.groups = report.groups;
            state.set_skipped(&report.skipped);
            state.set_warnings(&report.warnings);
            state.set_withheld_principals(&report.withheld_principals);
        }
        Err(e) => {
            state.last_error = Some(e.to_string());
            state.consecutive_failures += 1;
        }
    }
}

/// Ends the sessions of users who lost login permission, if the host asks for it.
pub fn act_on_revocations(config: &Config, result: &Result<Report>) {
    let Ok(report) = result else { return };
    if config.access.end_sessions_on_revoke {
        crate::sidefiles::end_sessions(&report.revoked);
        return;
    }
    for (name, uid) in &report.revoked {
        log::info!("{name} (uid {uid}) lost login permission; running sessions are left (end_sessions_on_revoke = false)");
    }
}

/// Logs side-file warnings (refused CA keys) when they differ from the last ones logged, so a bad
/// key is reported once, not at every sync; `logged` holds what was logged last.
pub fn log_side_file_warnings(result: &Result<Report>, logged: &mut Vec<String>) {
    let Ok(report) = result else { return };
    if report.side_file_warnings != *logged {
        for warning in &report.side_file_warnings {
            log::warn!("{warning}");
        }
        logged.clone_from(&report.side_file_warnings);
    }
}

/// Logs one sync's outcome: each skipped entry and note, then one summary line.
pub fn log_result(source: &str, result: &Result<Report>) {
    match result {
        Ok(report) => {
            if report.outcome == Outcome::Published {
                for skipped in &report.skipped {
                    log::warn!("{skipped}");
                }
                for note in &report.notes {
                    log::info!("{note}");
                }
            }
            // Every sync, published or not: each is a grant the config asks for and the host
            // does not give.
            for warning in &report.warnings {
                log::warn!("{warning}");
            }
            for error in &report.side_file_errors {
                log::error!("{error}");
            }
            log::info!("sync from {source}: {report}");
        }
        Err(e) => log::error!("sync from {source} failed, cache left as it was: {e}"),
    }
}

fn status_line(state: &State) -> String {
    match &state.last_error {
        None => format!(
            "synced: generation {}, {} users, {} groups, {} skipped",
            state.generation, state.users, state.groups, state.skipped_count
        ),
        Some(e) => format!(
            "directory unreachable or failing ({} in a row), serving cached generation {}: {e}",
            state.consecutive_failures, state.generation
        ),
    }
}

fn spawn_signal_thread() -> Result<mpsc::UnboundedReceiver<i32>> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGUSR1, SIGTERM, SIGINT])
        .map_err(|e| Error::Source(format!("cannot install signal handlers: {e}")))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if tx.send(signal).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| Error::Source(format!("cannot start the signal thread: {e}")))?;
    Ok(rx)
}

pub struct Daemon {
    config_path: PathBuf,
    config: Config,
    source: Box<dyn Source>,
    paths: Paths,
    state: State,
    logged_side_file_warnings: Vec<String>,
}

impl Daemon {
    pub fn new(config_path: PathBuf, paths: Paths) -> Result<Daemon> {
        let config = Config::load(&config_path)?;
        let source = source::from_config(&config)?;
        // Start from what is published and what the last run recorded, so status is right
        // before the first sync finishes.
        let previous = State::load(&paths.state).unwrap_or_default();
        let mut state = State {
            pid: std::process::id(),
            source: config.source_label(),
            last_success: previous.last_success,
            skipped_count: previous.skipped_count,
            skipped: previous.skipped,
            ..State::default()
        };
        if let Ok(reader) = usher_cache::Reader::open(&paths.cache) {
            if let (Ok(meta), Ok(counts)) = (reader.meta(), reader.counts()) {
                state.generation = meta.generation;
                state.users = usize::try_from(counts.users).unwrap_or(0);
                state.inactive_users = usize::try_from(counts.inactive_users).unwrap_or(0);
                state.groups = usize::try_from(counts.groups).unwrap_or(0);
            }
        }
        Ok(Daemon {
            config_path,
            config,
            source,
            paths,
            state,
            logged_side_file_warnings: Vec::new(),
        })
    }

    fn reload(&mut self) {
        let loaded = Config::load(&self.config_path)
            .and_then(|config| Ok((source::from_config(&config)?, config)));
        match loaded {
            Ok((source, config)) => {
                self.state.source = config.source_label();
                self.source = source;
                self.config = config;
                log::info!("configuration reloaded from {}", self.config_path.display());
            }
            Err(e) => log::error!("new configuration refused, keeping the old one: {e}"),
        }
    }

    fn save_state(&self) {
        if let Err(e) = self.state.save(&self.paths.state) {
            log::error!("cannot write the state file: {e}");
        }
    }

    /// Runs until SIGTERM or SIGINT.
    pub async fn run(mut self) -> Result<()> {
        let mut signals = spawn_signal_thread()?;
        let watchdog = watchdog_interval();
        let mut watchdog_tick =
            tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
        let mut next_sync = Instant::now();
        // With a published cache the host is served from the first moment: ready at once, so
        // sshd and logins at boot never wait for the directory. Without one, ready after the
        // first attempt (synced, or decided to go on without a directory).
        let mut ready = usher_cache::Reader::open(&self.paths.cache).is_ok();
        if ready {
            notify(&format!(
                "READY=1\nSTATUS=serving cached generation {}; first sync running",
                self.state.generation
            ));
        }
        log::info!("usherd started, directory {}", self.config.source_label());
        // Name this process in the state now: until the first sync ends (minutes against a slow
        // or stalled directory) `usherctl status` would say "not running" and `usherctl sync`
        // would refuse.
        self.save_state();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next_sync) => {}
                signal = signals.recv() => match signal {
                    Some(SIGHUP) => { self.reload(); next_sync = Instant::now(); continue; }
                    Some(SIGUSR1) => { log::info!("sync requested"); }
                    _ => break,
                },
                _ = watchdog_tick.tick() => { if watchdog.is_some() { notify("WATCHDOG=1"); } continue; }
            }

            let mut reload_after = false;
            // SIGUSR1 (`usherctl sync`) during a sync: the sync in flight may have read the
            // directory before the request, so another one runs right after it, and only that one
            // is reported in the state file (which `usherctl sync` waits on).
            let mut requested = false;
            let result = {
                let sync = sync_once(&self.config, self.source.as_mut(), &self.paths, false);
                tokio::pin!(sync);
                loop {
                    tokio::select! {
                        result = &mut sync => break Some(result),
                        signal = signals.recv() => match signal {
                            Some(SIGHUP) => reload_after = true,
                            Some(SIGUSR1) => requested = true,
                            _ => break None,
                        },
                        _ = watchdog_tick.tick() => { if watchdog.is_some() { notify("WATCHDOG=1"); } }
                    }
                }
            };
            let Some(result) = result else {
                log::info!("sync abandoned: shutting down");
                break;
            };
            log_result(&self.config.source_label(), &result);
            log_side_file_warnings(&result, &mut self.logged_side_file_warnings);
            act_on_revocations(&self.config, &result);
            record(&mut self.state, &result);
            // Signals that arrived while the sync published (no await point there) are queued.
            let mut stop_after = false;
            while let Ok(signal) = signals.try_recv() {
                match signal {
                    SIGHUP => reload_after = true,
                    SIGUSR1 => requested = true,
                    _ => stop_after = true,
                }
            }
            let sync = &self.config.sync;
            let wait = match &result {
                Ok(_) => {
                    Duration::from_secs(sync.interval) + jitter(Duration::from_secs(sync.jitter))
                }
                Err(e) => {
                    let retry_after = match e {
                        Error::Http { retry_after, .. } => *retry_after,
                        _ => None,
                    };
                    let wait = backoff(
                        self.state.consecutive_failures,
                        Duration::from_secs(sync.backoff_initial),
                        Duration::from_secs(sync.backoff_max),
                        retry_after,
                    );
                    let wait = wait + jitter(wait / 10);
                    log::warn!(
                        "serving the cached snapshot (generation {}); next attempt in {} s",
                        self.state.generation,
                        wait.as_secs()
                    );
                    wait
                }
            };
            self.state.backoff_seconds = if result.is_ok() { 0 } else { wait.as_secs() };
            self.state.next_sync_at =
                Some(now_unix() + i64::try_from(wait.as_secs()).unwrap_or(i64::MAX));
            next_sync = Instant::now() + wait;
            if requested && !stop_after {
                log::info!("sync requested while one was running: syncing again");
                next_sync = Instant::now();
            } else {
                self.save_state();
            }
            notify(&format!("STATUS={}", status_line(&self.state)));
            if !ready {
                // Ready after the first attempt: synced, or serving what is cached.
                notify("READY=1");
                ready = true;
            }
            if stop_after {
                break;
            }
            if reload_after {
                self.reload();
                next_sync = Instant::now();
            }
        }
        notify("STOPPING=1");
        log::info!("usherd stopped");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_honours_retry_after() {
        let s = Duration::from_secs;
        assert_eq!(backoff(1, s(5), s(900), None), s(5));
        assert_eq!(backoff(2, s(5), s(900), None), s(10));
        assert_eq!(backoff(4, s(5), s(900), None), s(40));
        assert_eq!(backoff(20, s(5), s(900), None), s(900));
        assert_eq!(backoff(u32::MAX, s(5), s(900), None), s(900));
        assert_eq!(backoff(1, s(5), s(900), Some(s(120))), s(120));
        assert_eq!(backoff(8, s(5), s(900), Some(s(1))), s(640));
        assert_eq!(
            backoff(1, s(5), s(900), Some(s(10 * 86400))),
            MAX_RETRY_AFTER
        );
    }

    #[test]
    fn jitter_stays_in_bounds() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_secs(2)) <= Duration::from_secs(2));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn record_counts_failures_and_clears_them_on_success() {
        let mut state = State::default();
        record(&mut state, &Err(Error::Source("down".into())));
        record(&mut state, &Err(Error::Source("down".into())));
        assert_eq!((state.attempts, state.consecutive_failures), (2, 2));
        assert_eq!(state.last_error.as_deref(), Some("directory: down"));
        assert!(state.last_success.is_none());
        let report = Report {
            outcome: Outcome::Published,
            generation: 7,
            users: 3,
            inactive_users: 1,
            groups: 4,
            added: 3,
            removed: 0,
            changed: 0,
            skipped: vec![],
            notes: vec![],
            warnings: vec!["w".into()],
            withheld_principals: vec![crate::mapping::Withheld {
                principal: "a@example.com".into(),
                users: vec!["alice".into(), "bob".into()],
                reason: "shared".into(),
            }],
            revoked: vec![],
            side_file_errors: vec![],
            side_file_warnings: vec![],
        };
        record(&mut state, &Ok(report));
        assert_eq!(
            (state.attempts, state.consecutive_failures, state.generation),
            (3, 0, 7)
        );
        assert!(state.last_error.is_none() && state.last_success.is_some());
        assert_eq!(state.warnings, ["w"]);
        assert_eq!(
            state.withheld_principals_of("bob"),
            [(
                "a@example.com".to_string(),
                "shared (alice, bob)".to_string()
            )]
        );
        assert!(state.withheld_principals_of("carol").is_empty());
    }
}
