//! Build script.
//!
//! * Compiles `kernels/*.cu` with nvcc into one fatbin (SASS for sm_80, sm_86, sm_89, sm_90 and
//!   PTX for compute_80), embedded in the library by `src/backend/cuda.rs`. nvcc is found through
//!   `NVCC`, then `CUDA_HOME`/`CUDA_PATH`, then `PATH`. No GPU is probed here: builds run on
//!   machines without one. Without nvcc the build succeeds CPU-only with a warning, unless the
//!   `cuda-required` feature is on. A kernel that fails to compile fails the build.
//! * Gives the shared library a SONAME carrying its ABI version: `libsaraphis.so.MAJOR`, and
//!   while the major version is 0 `libsaraphis.so.0.MINOR` (a 0.x minor release may break the
//!   ABI, as Cargo's semver rules say).
//! * Sets `SARAPHIS_CUDA_KERNELS` (1/0) for `saraphis_build_has_cuda()` and the cfg
//!   `saraphis_cuda` when kernels are embedded.
use std::path::{Path, PathBuf};
use std::process::Command;

fn find_nvcc() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NVCC") {
        return Some(PathBuf::from(p));
    }
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(home) = std::env::var_os(var) {
            let p = Path::new(&home).join("bin").join("nvcc");
            if p.exists() {
                return Some(p);
            }
        }
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("nvcc"))
            .find(|p| p.is_file())
    })
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=kernels");
    for v in ["NVCC", "CUDA_HOME", "CUDA_PATH", "PATH"] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    println!("cargo:rustc-check-cfg=cfg(saraphis_cuda)");
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap_or_else(|_| "0".into());
    // The same rule as scripts/install.sh and cmake/SaraphisConfigVersion.cmake.in.
    let soversion = if major == "0" {
        format!("0.{minor}")
    } else {
        major
    };
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsaraphis.so.{soversion}");
    }

    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let mut sources: Vec<PathBuf> = std::fs::read_dir("kernels")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "cu"))
                .collect()
        })
        .unwrap_or_default();
    sources.sort();
    let required = std::env::var_os("CARGO_FEATURE_CUDA_REQUIRED").is_some();
    let nvcc = find_nvcc();
    let (Some(nvcc), false) = (nvcc, sources.is_empty()) else {
        if required {
            panic!("feature cuda-required: nvcc not found (set NVCC, CUDA_HOME or PATH)");
        }
        println!("cargo:warning=nvcc not found: building without CUDA kernels (CPU only)");
        println!("cargo:rustc-env=SARAPHIS_CUDA_KERNELS=0");
        return;
    };
    // One translation unit including every kernel file, so the result is one fatbin.
    let unit = out.join("saraphis_kernels.cu");
    let body: String = sources
        .iter()
        .map(|s| {
            format!(
                "#include \"{}\"\n",
                std::fs::canonicalize(s).unwrap().display()
            )
        })
        .collect();
    std::fs::write(&unit, body).unwrap();
    let fatbin = out.join("saraphis.fatbin");
    let mut cmd = Command::new(&nvcc);
    // Compressed images (the driver inflates them at load): about a fifth of the size.
    cmd.args([
        "-fatbin",
        "-O3",
        "-std=c++17",
        "-lineinfo",
        "-Xfatbin=-compress-all",
    ]);
    for sm in ["80", "86", "89", "90"] {
        cmd.arg("-gencode")
            .arg(format!("arch=compute_{sm},code=sm_{sm}"));
    }
    cmd.args(["-gencode", "arch=compute_80,code=compute_80"])
        .arg(&unit)
        .arg("-o")
        .arg(&fatbin);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", nvcc.display()));
    if !status.success() {
        panic!("nvcc failed to compile kernels/*.cu ({})", nvcc.display());
    }
    println!("cargo:rustc-cfg=saraphis_cuda");
    println!("cargo:rustc-env=SARAPHIS_CUDA_KERNELS=1");
}
