//! Gives the shared object the name PAM service files use (`pam_usher.so`) as its SONAME.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,pam_usher.so");
}
