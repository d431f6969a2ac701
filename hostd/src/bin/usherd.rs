//! usherd: keeps Usher's host cache in step with the directory.

use std::path::PathBuf;
use std::process::ExitCode;
use usher_hostd::config::{Config, DEFAULT_CONFIG_PATH};
use usher_hostd::daemon::{
    act_on_revocations, log_mapping_warnings, log_result, log_side_file_warnings, record, Daemon,
};
use usher_hostd::state::State;
use usher_hostd::sync::{sync_once, Paths};
use usher_hostd::{logging, source, Error};

const USAGE: &str = "usage: usherd [--config PATH] [--once [--force]]
  --config PATH  configuration file (default /etc/usher/usher.toml)
  --once         sync once, publish the cache if it changed, and exit (non-zero on failure)
  --force        with --once: publish even if the sync would delete most or all users
Without --once, usherd runs in the foreground as a service (systemd Type=notify).";

struct Args {
    config: PathBuf,
    once: bool,
    force: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        config: PathBuf::from(DEFAULT_CONFIG_PATH),
        once: false,
        force: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--config" => args.config = it.next().ok_or("--config needs a path")?.into(),
            "--once" => args.once = true,
            "--force" => args.force = true,
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.force && !args.once {
        return Err("--force goes with --once".into());
    }
    Ok(args)
}

fn runtime() -> usher_hostd::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Source(format!("cannot start the runtime: {e}")))
}

fn once(args: &Args) -> ExitCode {
    let paths = Paths::default();
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let result = source::from_config(&config).and_then(|mut source| {
        runtime()?.block_on(sync_once(&config, source.as_mut(), &paths, args.force))
    });
    log_result(&config.source_label(), &result);
    log_side_file_warnings(&result, &mut Vec::new());
    log_mapping_warnings(&result, &mut Vec::new());
    act_on_revocations(&config, &result);
    let mut state = State::load(&paths.state).unwrap_or_default();
    state.pid = 0;
    state.source = config.source_label();
    record(&mut state, &result);
    if let Err(e) = state.save(&paths.state) {
        log::warn!("cannot write the state file: {e}");
    }
    match &result {
        // Published, but sshd's CA keys or sudoers could not be updated: automation must notice.
        Ok(report) if !report.side_file_errors.is_empty() => ExitCode::FAILURE,
        Ok(_) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn daemon(args: &Args) -> ExitCode {
    let run = || -> usher_hostd::Result<()> {
        let daemon = Daemon::new(args.config.clone(), Paths::default())?;
        runtime()?.block_on(daemon.run())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("usherd cannot start: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("usherd: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Interactive runs log to stderr too; under systemd stderr goes to the journal already.
    let interactive = args.once || std::env::var_os("INVOCATION_ID").is_none();
    logging::init("usherd", interactive);
    if args.once {
        once(&args)
    } else {
        daemon(&args)
    }
}
