//! Shared pieces of Usher's fuzz targets: the name rule, a small real cache to corrupt, and the
//! fixture and invariants of the mapping targets. Failures are panics (libFuzzer reports them as
//! crashes, with the input that caused them).

pub mod cache_fixture;
pub mod mapping_fixture;

/// Why `name` may not be a POSIX user or group name (the mapping's rule, the one the readers must
/// hold to as well).
pub fn invalid_name_reason(name: &str) -> Option<&'static str> {
    usher_hostd::mapping::invalid_name_reason(name)
}

/// The same for bytes read from a cache: a name that is not UTF-8 is invalid.
pub fn invalid_name_bytes(name: &[u8]) -> Option<&'static str> {
    match std::str::from_utf8(name) {
        Ok(s) => invalid_name_reason(s),
        Err(_) => Some("name is not UTF-8"),
    }
}
