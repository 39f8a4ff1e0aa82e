//! Build script. The CUDA kernels arrive with the CUDA issue; until then this only
//! records that no kernels are embedded (see kernels/README.md).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=kernels");
}
