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
//!   A compiled fatbin is cached by a hash of its inputs (see [`kernel_cache_path`]), so the
//!   many target directories of one checkout run nvcc once per kernel change.
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

/// Every file under `dir` (recursively), sorted, for the kernel cache key.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Where a fatbin compiled from exactly these inputs is kept, or None when no cache applies.
///
/// One nvcc run takes minutes, and every target directory (debug, release, clippy, the
/// sanitizer, Miri and fuzz builds) would otherwise run its own. The cache directory is
/// `SARAPHIS_KERNEL_CACHE`, else `target/kernel-cache` of a source checkout (one with `.git`;
/// a packaged crate gets no cache). The key is a 64-bit FNV-1a hash of the nvcc path, its
/// `--version` text, the arguments and the path and bytes of every file under `kernels/`: any
/// change to a kernel, a header, the flags or the compiler is a miss. `SARAPHIS_KERNEL_CACHE=off`
/// disables it.
fn kernel_cache_path(nvcc: &Path, args: &[String]) -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed=SARAPHIS_KERNEL_CACHE");
    let dir = match std::env::var_os("SARAPHIS_KERNEL_CACHE") {
        Some(d) if d == "off" => return None,
        Some(d) => PathBuf::from(d),
        None => {
            let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
            if !root.join(".git").exists() {
                return None;
            }
            root.join("target").join("kernel-cache")
        }
    };
    let version = Command::new(nvcc).arg("--version").output().ok()?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes.iter().chain(&[0xff]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    feed(nvcc.as_os_str().as_encoded_bytes());
    feed(&version.stdout);
    for a in args {
        feed(a.as_bytes());
    }
    let mut files = Vec::new();
    files_under(Path::new("kernels"), &mut files);
    files.sort();
    for f in &files {
        feed(f.as_os_str().as_encoded_bytes());
        feed(&std::fs::read(f).ok()?);
    }
    Some(dir.join(format!("saraphis-{h:016x}.fatbin")))
}

/// Copies a fresh fatbin into the cache under a temporary name, then renames it, so a
/// concurrent or interrupted build never sees a partial file. Failure only loses the cache.
fn store_in_cache(fatbin: &Path, path: &Path) {
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::copy(fatbin, &tmp).is_ok() && std::fs::rename(&tmp, path).is_ok() {
        return;
    }
    let _ = std::fs::remove_file(&tmp);
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
    let mut args: Vec<String> = [
        "-fatbin",
        "-O3",
        "-std=c++17",
        "-lineinfo",
        // Compressed images (the driver inflates them at load): about a fifth of the size.
        "-Xfatbin=-compress-all",
        // The five images compile in parallel on all cores (nvcc --threads 0).
        "--threads",
        "0",
    ]
    .map(String::from)
    .to_vec();
    for sm in ["80", "86", "89", "90"] {
        args.push("-gencode".into());
        args.push(format!("arch=compute_{sm},code=sm_{sm}"));
    }
    args.push("-gencode".into());
    args.push("arch=compute_80,code=compute_80".into());
    let cached = kernel_cache_path(&nvcc, &args);
    if let Some(hit) = cached.as_ref().filter(|p| p.is_file()) {
        std::fs::copy(hit, &fatbin).unwrap_or_else(|e| panic!("copy {}: {e}", hit.display()));
    } else {
        let status = Command::new(&nvcc)
            .args(&args)
            .arg(&unit)
            .arg("-o")
            .arg(&fatbin)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", nvcc.display()));
        if !status.success() {
            panic!("nvcc failed to compile kernels/*.cu ({})", nvcc.display());
        }
        if let Some(path) = cached {
            store_in_cache(&fatbin, &path);
        }
    }
    println!("cargo:rustc-cfg=saraphis_cuda");
    println!("cargo:rustc-env=SARAPHIS_CUDA_KERNELS=1");
}
