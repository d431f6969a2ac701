//! The mapping over arbitrary bytes read as a SCIM directory export (`{"Users": [...],
//! "Groups": [...]}`): no panic, and every mapped entry keeps the mapping's invariants (see
//! `mapping_fixture::Fixture::check`). Each directory is mapped twice, the second time with the
//! first result as the published snapshot, so entries kept from a previous snapshot are checked
//! too.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use usher_fuzz::mapping_fixture::{directory_of, Fixture};

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(Fixture::new)
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Some((users, groups)) = directory_of(value) else {
        return;
    };
    let f = fixture();
    let first = f.map_and_check(users.clone(), groups.clone(), None);
    // The same records again, with the first result published: the outcome must be as sound.
    let half = users.len() / 2;
    f.map_and_check(users[half..].to_vec(), groups, Some(&first));
});
