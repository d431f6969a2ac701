//! Gives the shared object the name glibc loads it by (`libnss_usher.so.2`) as its SONAME.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_usher.so.2");
}
