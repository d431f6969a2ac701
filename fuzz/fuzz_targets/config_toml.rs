//! usherd's config parser over arbitrary text: no panic (an error message is the only failure).
//! A config that parses must also pass its own checks again when parsed from the same text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use usher_hostd::config::Config;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(config) = Config::parse(&text) {
        let _ = config.source_label();
        assert!(
            config.ids.min_uid > 0 && config.ids.min_gid > 0,
            "a config with min_uid or min_gid 0 was accepted"
        );
    }
});
