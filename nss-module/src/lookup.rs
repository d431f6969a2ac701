//! Point lookups and `initgroups_dyn`, with the cache location injected. The exported C functions
//! in `lib.rs` call these with [`Config::system`]; tests call them with a snapshot of their own.
//!
//! Safety contract shared by every function here (it is glibc's): pointer arguments are null or
//! valid as glibc passes them: `name` a NUL-terminated string, `result` writable, `buf` writable
//! for `buflen` bytes, `errnop` writable; for `initgroups_dyn`, `*groupsp` an array from `malloc`
//! of `*size` gids whose first `*start` are filled.

use crate::handle::{with_group_reader, with_reader, Config};
use crate::pack::{pack_group_without, pack_passwd, PackError};
use crate::status::{finish, Fail};
use libc::{c_char, c_int, c_long, gid_t, uid_t};
use libnss::group::CGroup;
use libnss::interop::NssStatus;
use libnss::passwd::CPasswd;
use std::ffi::CStr;
use std::mem::size_of;
use usher_cache::local::is_local_name;

/// The name argument as UTF-8; a name that is not UTF-8 cannot be in the cache.
unsafe fn name_arg<'a>(name: *const c_char) -> Result<&'a str, Fail> {
    if name.is_null() {
        return Err(Fail::INVALID);
    }
    CStr::from_ptr(name).to_str().map_err(|_| Fail::NOT_FOUND)
}

fn check_out<T>(result: *mut T, buf: *mut c_char, buflen: usize) -> Result<(), Fail> {
    if result.is_null() || (buf.is_null() && buflen > 0) {
        return Err(Fail::INVALID);
    }
    Ok(())
}

pub(crate) fn pack_outcome(r: Result<(), PackError>) -> Result<(), Fail> {
    match r {
        Ok(()) => Ok(()),
        Err(PackError::TooSmall) => Err(Fail::TOO_SMALL),
        // An entry that cannot be expressed in C strings is not handed out.
        Err(PackError::InvalidString) => Err(Fail::NOT_FOUND),
    }
}

/// # Safety
/// See the module documentation.
pub unsafe fn getpwnam_r(
    cfg: &Config<'_>,
    name: *const c_char,
    result: *mut CPasswd,
    buf: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
) -> NssStatus {
    let run = || {
        check_out(result, buf, buflen)?;
        let name = name_arg(name)?;
        let packed = with_reader(cfg, |r| {
            r.with_user_by_name(name, |p| pack_passwd(p, result, buf, buflen))
        })?;
        pack_outcome(packed.ok_or(Fail::NOT_FOUND)?)
    };
    finish(run(), errnop)
}

/// # Safety
/// See the module documentation.
pub unsafe fn getpwuid_r(
    cfg: &Config<'_>,
    uid: uid_t,
    result: *mut CPasswd,
    buf: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
) -> NssStatus {
    let run = || {
        check_out(result, buf, buflen)?;
        let packed = with_reader(cfg, |r| {
            r.with_user_by_uid(uid, |p| pack_passwd(p, result, buf, buflen))
        })?;
        pack_outcome(packed.ok_or(Fail::NOT_FOUND)?)
    };
    finish(run(), errnop)
}

/// # Safety
/// See the module documentation.
pub unsafe fn getgrnam_r(
    cfg: &Config<'_>,
    name: *const c_char,
    result: *mut CGroup,
    buf: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
) -> NssStatus {
    let run = || {
        check_out(result, buf, buflen)?;
        let name = name_arg(name)?;
        let packed = with_group_reader(cfg, |r, local| {
            r.with_group_by_name(name, |g| {
                pack_group_without(g, Some(local), result, buf, buflen)
            })
        })?;
        pack_outcome(packed.ok_or(Fail::NOT_FOUND)?)
    };
    finish(run(), errnop)
}

/// # Safety
/// See the module documentation.
pub unsafe fn getgrgid_r(
    cfg: &Config<'_>,
    gid: gid_t,
    result: *mut CGroup,
    buf: *mut c_char,
    buflen: usize,
    errnop: *mut c_int,
) -> NssStatus {
    let run = || {
        check_out(result, buf, buflen)?;
        let packed = with_group_reader(cfg, |r, local| {
            r.with_group_by_gid(gid, |g| {
                pack_group_without(g, Some(local), result, buf, buflen)
            })
        })?;
        pack_outcome(packed.ok_or(Fail::NOT_FOUND)?)
    };
    finish(run(), errnop)
}

/// Adds to `(*groupsp)[*start..]` the gids of the cache groups that list `user` as a member,
/// skipping `skipgroup` and gids already in `(*groupsp)[..*start]`. The array grows with
/// `realloc` (doubling, never beyond `limit` when `limit > 0`; once full at `limit`, further gids
/// are dropped). A user the cache knows answers SUCCESS, with or without groups added.
///
/// A name that the local passwd file holds answers NOTFOUND and gets nothing, whatever the cache
/// says (checked at every call: one `stat` while the file is unchanged). A user the cache does not
/// know answers NOTFOUND and gets nothing, even if a group lists the name: the daemon only lists
/// cache users as members, and a local account (root, say) must never receive a directory group's
/// gid as a process credential through a stray entry. (`getgrnam`/`getgrgid` leave out of member
/// lists the local accounts that the snapshot also holds as directory users, within the recheck
/// interval; a stray member name that is no cache user is shown, and granted nothing here.)
///
/// # Safety
/// See the module documentation.
#[allow(clippy::too_many_arguments)]
pub unsafe fn initgroups_dyn(
    cfg: &Config<'_>,
    user: *const c_char,
    skipgroup: gid_t,
    start: *mut c_long,
    size: *mut c_long,
    groupsp: *mut *mut gid_t,
    limit: c_long,
    errnop: *mut c_int,
) -> NssStatus {
    let run = || {
        if start.is_null() || size.is_null() || groupsp.is_null() {
            return Err(Fail::INVALID);
        }
        let user = name_arg(user)?;
        // A name that the passwd file holds gets nothing from Usher, whatever this thread's
        // handle state: usherd leaves out directory users named like local ones, but an account
        // created after the last sync is only in the passwd file. Asked first, so a local name
        // (sshd's principals-command user, cron's and sudo's users) never opens the cache. The
        // names are kept per thread keyed by the file's stat: one stat while it is unchanged.
        if is_local_name(cfg.local_passwd, user.as_bytes()).map_err(Fail::local)? {
            return Err(Fail::NOT_FOUND);
        }
        let gids = with_reader(cfg, |r| r.group_ids_of(user))?.ok_or(Fail::NOT_FOUND)?;
        add_groups(&gids, skipgroup, start, size, groupsp, limit, libc::realloc)
    };
    finish(run(), errnop)
}

/// `realloc`'s signature, injectable so tests can make it fail.
type Realloc = unsafe extern "C" fn(*mut libc::c_void, libc::size_t) -> *mut libc::c_void;

unsafe fn add_groups(
    gids: &[gid_t],
    skipgroup: gid_t,
    start: *mut c_long,
    size: *mut c_long,
    groupsp: *mut *mut gid_t,
    limit: c_long,
    realloc: Realloc,
) -> Result<(), Fail> {
    let mut used = usize::try_from(*start).map_err(|_| Fail::INVALID)?;
    let mut cap = usize::try_from(*size).map_err(|_| Fail::INVALID)?;
    if used > cap || (cap > 0 && (*groupsp).is_null()) {
        return Err(Fail::INVALID);
    }
    let limit = usize::try_from(limit).ok().filter(|&l| l > 0);
    let mut outcome = Ok(());
    for &gid in gids {
        if gid == skipgroup {
            continue;
        }
        // SAFETY: the first `used` entries are initialised (the caller's contract, then ours).
        let present: &[gid_t] = if used == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(*groupsp, used)
        };
        if present.contains(&gid) {
            continue;
        }
        if used == cap {
            let mut grown = cap.saturating_mul(2).max(8);
            if let Some(l) = limit {
                if cap >= l {
                    break; // full at the limit: the rest are dropped
                }
                grown = grown.min(l);
            }
            let Some(bytes) = grown.checked_mul(size_of::<gid_t>()) else {
                outcome = Err(Fail::NO_MEMORY);
                break;
            };
            let Ok(grown_long) = c_long::try_from(grown) else {
                outcome = Err(Fail::NO_MEMORY);
                break;
            };
            let new = realloc((*groupsp).cast::<libc::c_void>(), bytes).cast::<gid_t>();
            if new.is_null() {
                // The old array is still the caller's and still valid.
                outcome = Err(Fail::NO_MEMORY);
                break;
            }
            *groupsp = new;
            *size = grown_long;
            cap = grown;
        }
        (*groupsp).add(used).write(gid);
        used += 1;
    }
    // `used` never exceeds `cap`, which came from or fits in a c_long.
    *start = c_long::try_from(used).map_err(|_| Fail::INVALID)?;
    outcome
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// An array from malloc holding `init`, with room for `cap` gids.
    unsafe fn array(init: &[gid_t], cap: usize) -> *mut gid_t {
        let p = libc::malloc(cap.max(1) * size_of::<gid_t>()).cast::<gid_t>();
        assert!(!p.is_null());
        for (i, g) in init.iter().enumerate() {
            p.add(i).write(*g);
        }
        p
    }

    unsafe fn run(
        gids: &[gid_t],
        skip: gid_t,
        init: &[gid_t],
        cap: usize,
        limit: c_long,
    ) -> (Result<(), Fail>, Vec<gid_t>, c_long) {
        let mut groups = array(init, cap);
        let mut start = init.len() as c_long;
        let mut size = cap as c_long;
        let r = add_groups(
            gids,
            skip,
            &mut start,
            &mut size,
            &mut groups,
            limit,
            libc::realloc,
        );
        let got = std::slice::from_raw_parts(groups, start as usize).to_vec();
        libc::free(groups.cast());
        (r, got, size)
    }

    #[test]
    fn skips_skipgroup_and_present_and_grows_from_tiny() {
        unsafe {
            let (r, got, size) = run(&[5, 100, 6, 7, 8, 9, 10, 11, 12], 100, &[5], 1, 0);
            assert_eq!(r, Ok(()));
            assert_eq!(got, vec![5, 6, 7, 8, 9, 10, 11, 12]);
            assert!(size >= 8);
            // Growth from an empty, zero-sized array.
            let (r, got, _) = run(&[1, 2, 3], 0, &[], 0, 0);
            assert_eq!(r, Ok(()));
            assert_eq!(got, vec![1, 2, 3]);
        }
    }

    #[test]
    fn limit_caps_growth_and_drops_the_rest() {
        unsafe {
            let (r, got, size) = run(&[2, 3, 4, 5, 6, 7], 0, &[1], 2, 4);
            assert_eq!(r, Ok(()));
            assert_eq!(got, vec![1, 2, 3, 4]);
            assert_eq!(size, 4);
            // Already at the limit: nothing is added, nothing reallocated.
            let (r, got, size) = run(&[2], 0, &[1], 1, 1);
            assert_eq!(r, Ok(()));
            assert_eq!(got, vec![1]);
            assert_eq!(size, 1);
        }
    }

    #[test]
    fn bad_counts_are_refused() {
        unsafe {
            let mut groups = array(&[1], 1);
            let mut start: c_long = 2;
            let mut size: c_long = 1;
            assert_eq!(
                add_groups(
                    &[3],
                    0,
                    &mut start,
                    &mut size,
                    &mut groups,
                    0,
                    libc::realloc
                ),
                Err(Fail::INVALID)
            );
            start = -1;
            assert_eq!(
                add_groups(
                    &[3],
                    0,
                    &mut start,
                    &mut size,
                    &mut groups,
                    0,
                    libc::realloc
                ),
                Err(Fail::INVALID)
            );
            libc::free(groups.cast());
        }
    }

    unsafe extern "C" fn failing_realloc(
        _: *mut libc::c_void,
        _: libc::size_t,
    ) -> *mut libc::c_void {
        std::ptr::null_mut()
    }

    #[test]
    fn failed_realloc_keeps_the_old_array_and_what_was_added() {
        unsafe {
            let old = array(&[1], 2);
            let mut groups = old;
            let mut start: c_long = 1;
            let mut size: c_long = 2;
            let r = add_groups(
                &[2, 3, 4],
                0,
                &mut start,
                &mut size,
                &mut groups,
                0,
                failing_realloc,
            );
            assert_eq!(r, Err(Fail::NO_MEMORY));
            assert_eq!(groups, old, "the caller's pointer is kept");
            assert_eq!(size, 2);
            assert_eq!(start, 2, "what fitted before the failure is kept");
            assert_eq!(std::slice::from_raw_parts(groups, 2), &[1, 2]);
            libc::free(groups.cast());
        }
    }
}
