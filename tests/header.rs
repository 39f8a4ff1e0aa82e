//! The committed `include/saraphis.h` must equal a fresh cbindgen run (pinned in
//! Cargo.toml), and its version macros must equal Cargo.toml's version.

use std::path::PathBuf;

fn generate() -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(&root)
        .with_config(config)
        .generate()
        .expect("cbindgen generates")
        .write(&mut out);
    String::from_utf8(out).unwrap()
}

fn header_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include/saraphis.h")
}

#[test]
fn committed_header_matches_cbindgen() {
    let fresh = generate();
    let committed = std::fs::read_to_string(header_path()).expect("include/saraphis.h exists");
    assert!(
        fresh == committed,
        "include/saraphis.h is stale: run `cargo test --test header -- --ignored regenerate`"
    );
}

#[test]
fn version_macros_match_cargo() {
    let h = std::fs::read_to_string(header_path()).unwrap();
    let get = |name: &str| -> u32 {
        let line = h
            .lines()
            .find(|l| l.starts_with(&format!("#define {name} ")))
            .unwrap_or_else(|| panic!("{name} missing"));
        line.split_whitespace().nth(2).unwrap().parse().unwrap()
    };
    let (ma, mi, pa) = (
        env!("CARGO_PKG_VERSION_MAJOR").parse::<u32>().unwrap(),
        env!("CARGO_PKG_VERSION_MINOR").parse::<u32>().unwrap(),
        env!("CARGO_PKG_VERSION_PATCH").parse::<u32>().unwrap(),
    );
    assert_eq!(get("SARAPHIS_VERSION_MAJOR"), ma);
    assert_eq!(get("SARAPHIS_VERSION_MINOR"), mi);
    assert_eq!(get("SARAPHIS_VERSION_PATCH"), pa);
    assert_eq!(get("SARAPHIS_VERSION_NUMBER"), ma * 10000 + mi * 100 + pa);
    assert_eq!(
        saraphis::ffi::saraphis_version_number(),
        ma * 10000 + mi * 100 + pa
    );
    let v = unsafe { std::ffi::CStr::from_ptr(saraphis::ffi::saraphis_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

/// Not a check: rewrites include/saraphis.h. Run with `-- --ignored regenerate`.
#[test]
#[ignore]
fn regenerate() {
    std::fs::write(header_path(), generate()).unwrap();
}
