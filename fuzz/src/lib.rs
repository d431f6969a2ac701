//! Shared pieces of Usher's fuzz targets: the name rule, a small real cache to corrupt, and the
//! fixture and invariants of the mapping targets. Failures are panics (libFuzzer reports them as
//! crashes, with the input that caused them).

pub mod cache_fixture;
pub mod mapping_fixture;

/// Why `name` may not be a POSIX user or group name (the rule the mapping applies and the readers
/// hold to, from `usher_cache::names`).
pub fn invalid_name_reason(name: &str) -> Option<&'static str> {
    usher_cache::names::invalid_name_reason(name)
}

/// The same for bytes read from a cache.
pub fn invalid_name_bytes(name: &[u8]) -> Option<&'static str> {
    usher_cache::names::invalid_name_bytes_reason(name)
}
