//! usherctl: the operator's view of Usher on this host.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use usher_cache::Reader;
use usher_hostd::config::{Config, DEFAULT_CONFIG_PATH};
use usher_hostd::state::State;
use usher_hostd::sync::Paths;

const USAGE: &str = "usage: usherctl [--config PATH] COMMAND
  status         freshness, counts, skipped entries, daemon health; exits 1 when the last
                 successful sync is older than stale_after, never happened, or the cache is unreadable
  sync [--timeout SECONDS]
                 ask the running usherd to sync now and wait for the result
  user NAME      what the cache says about a user, and whether they may log in here
  group NAME     what the cache says about a group
  principals USER  for sshd's AuthorizedPrincipalsCommand: the certificate principals that may
                 log in as USER, only if USER is active and allowed here; nothing otherwise
  keys USER      for sshd's AuthorizedKeysCommand: USER's SSH public keys, on the same terms";

fn format_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn ago(unix: i64) -> String {
    let seconds = now_unix() - unix;
    match seconds {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7200 => format!("{} min ago", s / 60),
        s => format!("{} h ago", s / 3600),
    }
}

/// The running daemon's pid, if the state names one that is alive and is usherd.
fn running_daemon(state: &State) -> Option<u32> {
    if state.pid == 0 {
        return None;
    }
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", state.pid)).ok()?;
    (comm.trim() == "usherd").then_some(state.pid)
}

fn status(config: Option<&Config>, paths: &Paths) -> ExitCode {
    let state = State::load(&paths.state).ok();
    let reader = Reader::open(&paths.cache);
    let mut healthy = true;
    if let Some(state) = &state {
        println!("source:      {}", state.source);
    } else if let Some(config) = config {
        println!(
            "source:      {} (no sync recorded yet)",
            config.source_label()
        );
    }
    match state.as_ref().map(|s| (s, running_daemon(s))) {
        Some((s, Some(pid))) if s.consecutive_failures == 0 => {
            println!("daemon:      running (pid {pid}), healthy")
        }
        Some((s, Some(pid))) => println!(
            "daemon:      running (pid {pid}), failing: {} attempts in a row",
            s.consecutive_failures
        ),
        _ => println!("daemon:      not running"),
    }
    let stale_after = config.map_or(3600, |c| c.sync.stale_after);
    let last_success = state.as_ref().and_then(|s| s.last_success);
    match last_success {
        Some(t) => println!("last sync:   {} ({})", format_time(t), ago(t)),
        None => {
            println!("last sync:   never");
            healthy = false;
        }
    }
    if let Some(t) = last_success {
        if now_unix() - t > i64::try_from(stale_after).unwrap_or(i64::MAX) {
            println!("STALE:       the last successful sync is older than {stale_after} s");
            healthy = false;
        }
    }
    if let Some(s) = &state {
        if let Some(e) = &s.last_error {
            println!("last error:  {e}");
            println!("             (serving the cached snapshot until the directory answers)");
        }
        if let Some(next) = s.next_sync_at.filter(|_| running_daemon(s).is_some()) {
            println!(
                "next sync:   in {} s{}",
                (next - now_unix()).max(0),
                if s.backoff_seconds > 0 {
                    " (backing off)"
                } else {
                    ""
                }
            );
        }
    }
    match reader.and_then(|r| Ok((r.meta()?, r.counts()?))) {
        Ok((meta, counts)) => {
            println!(
                "cache:       generation {}, built {} ({}), {} users ({} inactive), {} groups",
                meta.generation,
                format_time(meta.built_at),
                ago(meta.built_at),
                counts.users,
                counts.inactive_users,
                counts.groups
            );
            let no_policy = config.is_some_and(|c| {
                c.access.login_groups.is_empty() && c.access.sudo_groups.is_empty()
            });
            if no_policy {
                println!("access:      nobody from the directory may log in: [access] login_groups and sudo_groups are empty");
            } else {
                println!(
                    "access:      {} users may log in here, {} may use sudo",
                    counts.can_login, counts.can_sudo
                );
            }
        }
        Err(e) => {
            println!("cache:       unreadable: {e}");
            healthy = false;
        }
    }
    if let Some(s) = &state {
        if s.warnings_count > 0 {
            println!("warnings:    {}", s.warnings_count);
            for warning in &s.warnings {
                println!("  {warning}");
            }
        }
        println!("skipped:     {} entries", s.skipped_count);
        for entry in &s.skipped {
            println!(
                "  {} id={} name={}: {}",
                entry.kind, entry.id, entry.name, entry.reason
            );
        }
    }
    println!("status:      {}", if healthy { "OK" } else { "NOT OK" });
    if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn sync(paths: &Paths, timeout: Duration) -> ExitCode {
    let Ok(before) = State::load(&paths.state) else {
        eprintln!(
            "usherctl: no state at {}: is usherd running?",
            paths.state.display()
        );
        return ExitCode::FAILURE;
    };
    let Some(pid) = running_daemon(&before) else {
        eprintln!("usherctl: usherd is not running");
        return ExitCode::FAILURE;
    };
    let Ok(raw_pid) = i32::try_from(pid) else {
        return ExitCode::FAILURE;
    };
    if let Err(e) = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(raw_pid),
        nix::sys::signal::SIGUSR1,
    ) {
        eprintln!("usherctl: cannot signal usherd (pid {pid}): {e}");
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    while started.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(100));
        match State::load(&paths.state) {
            Ok(now) if now.attempts > before.attempts || now.pid != before.pid => {
                return match now.last_error {
                    None => {
                        println!(
                            "synced: generation {}, {} users, {} groups, {} skipped",
                            now.generation, now.users, now.groups, now.skipped_count
                        );
                        ExitCode::SUCCESS
                    }
                    Some(e) => {
                        println!("sync failed: {e}");
                        ExitCode::FAILURE
                    }
                };
            }
            _ => {}
        }
    }
    eprintln!("usherctl: no sync result within {} s", timeout.as_secs());
    ExitCode::FAILURE
}

fn open_cache(paths: &Paths) -> Result<Reader, ExitCode> {
    Reader::open(&paths.cache).map_err(|e| {
        eprintln!("usherctl: cache {}: {e}", paths.cache.display());
        ExitCode::from(2)
    })
}

fn user(paths: &Paths, name: &str) -> Result<ExitCode, ExitCode> {
    let reader = open_cache(paths)?;
    let lookup = reader.account(name).map_err(|e| {
        eprintln!("usherctl: {e}");
        ExitCode::from(2)
    })?;
    let Some(a) = lookup else {
        println!("{name}: not in Usher's cache (a local account, or unknown); Usher does not decide its access");
        return Ok(ExitCode::FAILURE);
    };
    let p = &a.passwd;
    println!(
        "passwd:      {}:*:{}:{}:{}:{}:{}",
        p.name, p.uid, p.gid, p.gecos, p.home, p.shell
    );
    println!(
        "directory:   id {}, userName {}",
        a.directory_id, a.directory_name
    );
    println!(
        "active:      {}",
        if a.active {
            "yes"
        } else {
            "no (deactivated in the directory)"
        }
    );
    let mut groups = Vec::new();
    for gid in reader.group_ids_of(name).ok().flatten().unwrap_or_default() {
        if let Ok(Some(g)) = reader.group_by_gid(gid) {
            groups.push(format!("{}({gid})", g.name));
        }
    }
    println!("groups:      {}", groups.join(", "));
    println!("emails:      {}", a.emails.join(", "));
    println!("principals:  {}", a.principals.join(", "));
    // Why a principal the policy names is missing: the last sync's state (root only).
    if let Ok(state) = State::load(&paths.state) {
        for (principal, why) in state.withheld_principals_of(&p.name) {
            println!("withheld:    {principal}: {why}");
        }
    }
    println!("ssh keys:    {}", a.ssh_keys.len());
    let login = match (a.active, a.can_login) {
        (false, _) => "no: deactivated in the directory",
        (true, false) => "no: not a member of any [access] login_groups or sudo_groups group",
        (true, true) => "yes",
    };
    let sudo = match (a.active, a.can_sudo) {
        (false, _) => "no: deactivated in the directory",
        (true, false) => "no: not a member of any [access] sudo_groups group",
        (true, true) => "yes",
    };
    println!("login here:  {login}");
    println!("sudo here:   {sudo}");
    Ok(ExitCode::SUCCESS)
}

fn group(paths: &Paths, name: &str) -> Result<ExitCode, ExitCode> {
    let reader = open_cache(paths)?;
    match reader.group_by_name(name) {
        Ok(Some(g)) => {
            println!(
                "group:       {}:*:{}:{}",
                g.name,
                g.gid,
                g.members.join(",")
            );
            println!("members:     {}", g.members.len());
            Ok(ExitCode::SUCCESS)
        }
        Ok(None) => {
            println!("{name}: not in Usher's cache");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("usherctl: {e}");
            Err(ExitCode::from(2))
        }
    }
}

/// Prints one line per item of what the cache lists for `name` when the user may log in here, and
/// nothing otherwise (unknown, local, deactivated, not allowed, or an unreadable cache). A local
/// account of the same name always wins, as in pam_usher: a directory certificate must never log
/// into a local account that appeared after the last sync.
fn print_if_allowed(
    paths: &Paths,
    name: &str,
    list: fn(&Reader, &str) -> usher_cache::Result<Vec<String>>,
) -> ExitCode {
    if usher_hostd::mapping::is_local_user(std::path::Path::new("/etc/passwd"), name) {
        return ExitCode::SUCCESS;
    }
    let Ok(reader) = Reader::open(&paths.cache) else {
        return ExitCode::SUCCESS;
    };
    if let Ok(lines) = list(&reader, name) {
        let mut out = String::new();
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
        print!("{out}");
    }
    ExitCode::SUCCESS
}

fn usage(message: &str) -> ExitCode {
    if !message.is_empty() {
        eprintln!("usherctl: {message}");
    }
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut config_path: Option<PathBuf> = None;
    if args.first().map(String::as_str) == Some("--config") {
        if args.len() < 2 {
            return usage("--config needs a path");
        }
        config_path = Some(PathBuf::from(args.remove(1)));
        args.remove(0);
    }
    // Only `status` reads the config: principals and keys run at every SSH login, as an
    // unprivileged user, and need nothing but the cache.
    let load_config = || {
        let path = config_path
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
        match Config::load(&path) {
            Ok(c) => Some(c),
            Err(e) if config_path.is_some() || path.exists() => {
                eprintln!("usherctl: {e}");
                None
            }
            Err(_) => None,
        }
    };
    let paths = Paths::default();
    let command: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match command.as_slice() {
        ["principals", name] => Ok(print_if_allowed(&paths, name, Reader::login_principals)),
        ["keys", name] => Ok(print_if_allowed(&paths, name, Reader::login_ssh_keys)),
        ["status"] => Ok(status(load_config().as_ref(), &paths)),
        ["sync"] => Ok(sync(&paths, Duration::from_secs(300))),
        ["sync", "--timeout", t] => match t.parse() {
            Ok(t) => Ok(sync(&paths, Duration::from_secs(t))),
            Err(_) => Ok(usage("--timeout takes seconds")),
        },
        ["user", name] => user(&paths, name),
        ["group", name] => group(&paths, name),
        ["--help" | "-h"] | [] => Ok(usage("")),
        _ => Ok(usage("unknown command")),
    };
    result.unwrap_or_else(|code| code)
}
