//! usherd: syncs the directory into Usher's host cache.

use std::path::PathBuf;
use std::process::ExitCode;
use usher_hostd::config::{Config, DEFAULT_CONFIG_PATH};
use usher_hostd::sync::{sync_once, Paths};
use usher_hostd::{logging, source};

const USAGE: &str = "usage: usherd [--config PATH] --once [--force]
  --config PATH  configuration file (default /etc/usher/usher.toml)
  --once         sync once, publish the cache if it changed, and exit
  --force        publish even if the sync would delete most users or all of them";

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
    Ok(args)
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
    if !args.once {
        eprintln!("usherd: only --once is supported by this build\n{USAGE}");
        return ExitCode::from(2);
    }
    logging::init("usherd", true);
    let run = || -> usher_hostd::Result<usher_hostd::sync::Report> {
        let config = Config::load(&args.config)?;
        let mut source = source::from_config(&config)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| usher_hostd::Error::Source(format!("cannot start runtime: {e}")))?;
        runtime.block_on(sync_once(
            &config,
            source.as_mut(),
            &Paths::default(),
            args.force,
        ))
    };
    match run() {
        Ok(report) => {
            for skipped in &report.skipped {
                log::warn!("{skipped}");
            }
            for note in &report.notes {
                log::info!("{note}");
            }
            log::info!("sync: {report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("sync failed, cache left as it was: {e}");
            ExitCode::FAILURE
        }
    }
}
