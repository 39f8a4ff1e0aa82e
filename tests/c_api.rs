//! Compiles the C tests (tests/c/*.c) against include/saraphis.h and the cdylib that cargo
//! built, and runs them on real weights: roundtrip.c on one tensor, archive.c on an archive.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn lib_dir() -> PathBuf {
    // target/<profile>/deps/c_api-<hash> -> target/<profile>
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// Build the cdylib of this profile and compile `tests/c/NAME.c` against it and
/// include/saraphis.h into `tmp`; the executable's path.
fn compile_c(name: &str, tmp: &Path) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = lib_dir();
    // `cargo test` builds the rlib only; build the cdylib of the same profile.
    let release = dir.file_name().is_some_and(|n| n == "release");
    let mut cargo = Command::new(env!("CARGO"));
    cargo.args(["build", "--lib", "--quiet"]).current_dir(&root);
    if release {
        cargo.arg("--release");
    }
    assert!(
        cargo.status().expect("cargo runs").success(),
        "cargo build --lib failed"
    );
    assert!(
        dir.join("libsaraphis.so").exists() || dir.join("libsaraphis.dylib").exists(),
        "cdylib not built in {}",
        dir.display()
    );
    // The library's SONAME is libsaraphis.so.0.MINOR while the major version is 0, else
    // libsaraphis.so.MAJOR (as installed); cargo writes only libsaraphis.so, so link through a
    // folder that has both names.
    let libdir = tmp.join("lib");
    std::fs::create_dir(&libdir).unwrap();
    let so = dir.join("libsaraphis.so");
    std::os::unix::fs::symlink(&so, libdir.join("libsaraphis.so")).unwrap();
    let soversion = match env!("CARGO_PKG_VERSION_MAJOR") {
        "0" => format!("0.{}", env!("CARGO_PKG_VERSION_MINOR")),
        major => major.to_string(),
    };
    let soname = format!("libsaraphis.so.{soversion}");
    std::os::unix::fs::symlink(&so, libdir.join(&soname)).unwrap();
    // The SONAME the build gave the library is that name.
    if let Ok(o) = Command::new("objdump").arg("-p").arg(&so).output() {
        let dump = String::from_utf8_lossy(&o.stdout);
        assert!(
            dump.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["SONAME", soname.as_str()]),
            "SONAME of {} is not {soname}",
            so.display()
        );
    }
    let dir = libdir;
    let exe = tmp.join(name);
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&cc)
        .args([
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-O1",
        ])
        .arg(format!("-I{}", root.join("include").display()))
        .arg(root.join(format!("tests/c/{name}.c")))
        .arg(format!("-L{}", dir.display()))
        .arg(format!("-Wl,-rpath,{}", dir.display()))
        .args(["-lsaraphis", "-lm", "-o"])
        .arg(&exe)
        .status()
        .expect("a C compiler (cc) is installed");
    assert!(st.success(), "tests/c/{name}.c failed to compile");
    exe
}

#[test]
fn c_program_round_trips_real_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = compile_c("roundtrip", tmp.path());
    let t = common::big_f32();
    let raw = tmp.path().join("tensor.f32");
    std::fs::write(&raw, &t.bytes).unwrap();
    run_c(
        &exe,
        &[
            raw.into_os_string(),
            t.shape[0].to_string().into(),
            t.shape[1].to_string().into(),
        ],
    );
}

/// Run a C test program and assert that it reports every check passed.
fn run_c(exe: &Path, args: &[std::ffi::OsString]) {
    let out = Command::new(exe).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed:\n{stdout}\n{stderr}",
        exe.display()
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

/// tests/c/archive.c on a real archive (lossless v2) of the MiniLM subset: every tensor by
/// index and name, from the file and from memory, a flipped payload byte, header prefixes.
/// The program takes the archive and the safetensors file it was made from.
#[test]
fn c_program_reads_a_real_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = compile_c("archive", tmp.path());
    let (archive, _) = common::subset_archive(saraphis::CodecParams::LosslessV2);
    let sph = tmp.path().join("m.sph");
    std::fs::write(&sph, archive).unwrap();
    run_c(
        &exe,
        &[
            sph.into_os_string(),
            common::data("minilm-subset-f32.safetensors").into_os_string(),
        ],
    );
}

/// tests/c/math.c: the math library's C calls (tropical matmul / elementwise / poly_eval /
/// conv1d / conv2d / closure over f32, f64, int32; p-adic batch, digits, Hensel roots) against
/// naive references written in C, their error paths, and the device calls refused on a CPU
/// system. The program takes no input.
#[test]
fn c_program_checks_the_math_library() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = compile_c("math", tmp.path());
    run_c(&exe, &[]);
}
