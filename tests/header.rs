//! The committed `include/saraphis.h` must equal a fresh cbindgen run (pinned in
//! Cargo.toml) over `src/ffi/` only, with `cbindgen.toml`; it must declare only
//! `saraphis_`/`SARAPHIS_` names; and its version macros must equal Cargo.toml's version.

use std::path::PathBuf;

fn generate() -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut out = Vec::new();
    // Only the C boundary is parsed (the allow-list's first half, see cbindgen.toml).
    cbindgen::Builder::new()
        .with_src(root.join("src/ffi/mod.rs"))
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

/// Every name the header declares at file scope: macros, enumerators, types, functions.
fn declared_names(h: &str) -> Vec<String> {
    let mut names = Vec::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for line in h.lines().map(str::trim) {
        if line.starts_with("//") || line.starts_with("/*") || line.starts_with('*') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("#define ") {
            names.push(ident(rest));
        } else if line.contains('(') {
            // A function declaration: the identifier right before the first '('.
            let head = &line[..line.find('(').unwrap()];
            let name = head.rsplit([' ', '*']).next().unwrap();
            names.push(ident(name));
        } else if let Some(rest) = line
            .strip_prefix("typedef struct ")
            .or_else(|| line.strip_prefix("typedef enum "))
            .or_else(|| line.strip_prefix("struct "))
            .or_else(|| line.strip_prefix("enum "))
        {
            names.push(ident(rest));
        } else if line.starts_with("typedef ") && line.ends_with(';') {
            let last = line.trim_end_matches(';').rsplit(' ').next().unwrap();
            names.push(ident(last));
        } else if line.starts_with("SARAPHIS_") || line.starts_with("saraphis_") {
            names.push(ident(line));
        } else if line.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && (line.ends_with(',') || line.contains(" = "))
        {
            // An enumerator.
            names.push(ident(line));
        }
    }
    names.retain(|n| !n.is_empty() && n != "SARAPHIS_H");
    names
}

#[test]
fn header_declares_only_prefixed_names() {
    let h = std::fs::read_to_string(header_path()).unwrap();
    let names = declared_names(&h);
    // The parser above does see the API (guards against a parser that finds nothing).
    for expected in [
        "saraphis_compress",
        "saraphis_result",
        "SARAPHIS_ERR_PANIC",
        "SARAPHIS_MAX_DIMS",
        "saraphis_tensor_info",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} not found");
    }
    let leaked: Vec<&String> = names
        .iter()
        .filter(|n| !n.starts_with("saraphis_") && !n.starts_with("SARAPHIS_"))
        .collect();
    assert!(
        leaked.is_empty(),
        "unprefixed names in saraphis.h: {leaked:?}"
    );
    // Nor do comments name Rust internals of the layers below.
    for internal in [
        "MAX_LANES",
        "PADIC_GPU_MAX_PLANES",
        "crate::",
        "CompressOptions",
    ] {
        assert!(
            !h.lines()
                .any(|l| l.contains(internal) && !l.contains("SARAPHIS_")),
            "saraphis.h mentions {internal}"
        );
    }
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
