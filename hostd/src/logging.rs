//! One line per event to syslog (journald reads /dev/log too) and, for interactive runs, stderr.
//! Callers never pass secrets here; untrusted text is escaped by `scim::printable` first.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::sync::Mutex;
use syslog::{Formatter3164, LoggerBackend};

struct Logger {
    syslog: Mutex<Option<syslog::Logger<LoggerBackend, Formatter3164>>>,
    stderr: bool,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= Level::Info
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = record.args().to_string();
        if self.stderr {
            let _ = writeln!(
                std::io::stderr(),
                "{}: {}",
                record.level().as_str().to_lowercase(),
                message
            );
        }
        if let Ok(mut guard) = self.syslog.lock() {
            if let Some(syslog) = guard.as_mut() {
                let _ = match record.level() {
                    Level::Error => syslog.err(&message),
                    Level::Warn => syslog.warning(&message),
                    _ => syslog.info(&message),
                };
            }
        }
    }

    fn flush(&self) {}
}

/// Starts logging as `ident` to syslog when /dev/log is there, and to stderr when `stderr` is set
/// (or syslog is not available).
pub fn init(ident: &str, stderr: bool) {
    let formatter = Formatter3164 {
        facility: syslog::Facility::LOG_DAEMON,
        hostname: None,
        process: ident.to_string(),
        pid: std::process::id(),
    };
    let syslog = syslog::unix(formatter).ok();
    let stderr = stderr || syslog.is_none();
    let logger = Logger {
        syslog: Mutex::new(syslog),
        stderr,
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(LevelFilter::Info);
    }
}
