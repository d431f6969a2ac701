//! Times `pam_acct_mgmt` through the real libpam and a service file: one pam_start, then N calls
//! (each one opens the cache afresh inside the module, as in production).
//!
//! Usage: acct_bench SERVICE USER [N]   (prints the mean time per call and the last result)

use std::error::Error;
use std::ffi::{c_char, c_int, c_void, CString};
use std::time::Instant;

#[repr(C)]
struct PamConv {
    conv: extern "C" fn(c_int, *mut *const c_void, *mut *mut c_void, *mut c_void) -> c_int,
    appdata: *mut c_void,
}

const PAM_SILENT: c_int = 0x8000;
const PAM_CONV_ERR: c_int = 19;

/// Never asked anything under PAM_SILENT; answers a conversation error if it is.
extern "C" fn no_conv(
    _: c_int,
    _: *mut *const c_void,
    _: *mut *mut c_void,
    _: *mut c_void,
) -> c_int {
    PAM_CONV_ERR
}

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_start(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        h: *mut *mut c_void,
    ) -> c_int;
    fn pam_acct_mgmt(h: *mut c_void, flags: c_int) -> c_int;
    fn pam_end(h: *mut c_void, status: c_int) -> c_int;
    fn pam_strerror(h: *mut c_void, errnum: c_int) -> *const c_char;
}

fn main() -> Result<(), Box<dyn Error>> {
    let argv: Vec<String> = std::env::args().collect();
    let (Some(service), Some(user)) = (argv.get(1), argv.get(2)) else {
        return Err("usage: acct_bench SERVICE USER [N]".into());
    };
    let n: u32 = argv.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let service = CString::new(service.as_str())?;
    let user = CString::new(user.as_str())?;
    let conv = PamConv {
        conv: no_conv,
        appdata: std::ptr::null_mut(),
    };
    let mut h: *mut c_void = std::ptr::null_mut();
    // SAFETY: valid C strings, a conversation that outlives the handle, a writable handle slot.
    let rc = unsafe { pam_start(service.as_ptr(), user.as_ptr(), &conv, &mut h) };
    if rc != 0 {
        return Err(format!("pam_start failed: {rc}").into());
    }
    let mut last = 0;
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: h is a live handle from pam_start.
        last = unsafe { pam_acct_mgmt(h, PAM_SILENT) };
    }
    let per_call = start.elapsed() / n.max(1);
    // SAFETY: h is live; pam_strerror returns a static string.
    let msg = unsafe { std::ffi::CStr::from_ptr(pam_strerror(h, last)) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: h is live and not used afterwards.
    unsafe { pam_end(h, last) };
    println!("{n} x pam_acct_mgmt: {per_call:?} per call; last result {last} ({msg})");
    Ok(())
}
