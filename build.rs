//! Build script.
//!
//! * Gives the shared library a SONAME carrying the major version (`libsaraphis.so.0`), so
//!   the installed `libsaraphis.so.MAJOR` symlink is what programs record.
//! * Records whether CUDA kernels are embedded (`SARAPHIS_CUDA_KERNELS`, read by
//!   `saraphis_build_has_cuda()`); the kernels arrive with the CUDA issue, so today it is 0.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=kernels");
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsaraphis.so.{major}");
    }
    println!("cargo:rustc-env=SARAPHIS_CUDA_KERNELS=0");
}
