//! The `saraphis` binary on real weights: round trips, reports, exit codes, and that a failed
//! command leaves no output file behind.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn saraphis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_saraphis"))
        .args(args)
        .output()
        .unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn only_expected_files(dir: &Path, expected: &[&str]) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(names, want, "unexpected files (partial output?)");
}

#[test]
fn lossless_round_trip_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    for fixture in [
        "minilm-subset-f32.safetensors",
        "minilm-subset-bf16.safetensors",
    ] {
        let src = common::data(fixture);
        let sph = dir.path().join("m.sph");
        let back = dir.path().join("back.safetensors");
        let r = json(&saraphis(&["compress", s(&src), "-o", s(&sph), "--json"]));
        for k in [
            "original_bytes",
            "compressed_bytes",
            "ratio",
            "seconds",
            "max_abs_error",
            "tensors",
        ] {
            assert!(r.get(k).is_some(), "missing {k}");
        }
        assert!(r["ratio"].as_f64().unwrap() > 1.1);
        assert_eq!(r["max_abs_error"].as_f64().unwrap(), 0.0);
        assert_eq!(r["tensors"].as_array().unwrap().len(), 9);
        json(&saraphis(&[
            "decompress",
            s(&sph),
            "-o",
            s(&back),
            "--json",
        ]));
        assert_eq!(
            std::fs::read(&src).unwrap(),
            std::fs::read(&back).unwrap(),
            "{fixture} not byte-identical"
        );
        let v = json(&saraphis(&[
            "verify",
            s(&sph),
            "--against",
            s(&src),
            "--json",
        ]));
        assert_eq!(v["ok"], true);
        let i = json(&saraphis(&["inspect", s(&sph), "--json"]));
        let t = &i["tensors"][0];
        for k in [
            "name",
            "dtype",
            "shape",
            "codec",
            "original_bytes",
            "compressed_bytes",
            "ratio",
        ] {
            assert!(t.get(k).is_some(), "inspect lacks {k}");
        }
        let table = saraphis(&["inspect", s(&sph)]);
        assert!(String::from_utf8_lossy(&table.stdout).contains("ratio"));
    }
}

#[test]
fn lossy_round_trip_verifies_and_detects_exceeded_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::data("minilm-subset-f32.safetensors");
    let sph = dir.path().join("m.sph");
    for args in [
        vec!["--abs", "1e-3"],
        vec!["--rel", "1e-2", "--prime", "3"],
        vec!["--abs", "1e-2", "--precision", "1"],
    ] {
        let mut a = vec!["compress", s(&src), "-o", s(&sph), "--json"];
        a.extend(args.iter());
        let r = json(&saraphis(&a));
        assert!(r["ratio"].as_f64().unwrap() > 2.0, "{args:?}");
        let v = json(&saraphis(&[
            "verify",
            s(&sph),
            "--against",
            s(&src),
            "--json",
        ]));
        assert_eq!(v["ok"], true, "{args:?}");
    }
    // Lossy restore keeps the original header, so the file has the same size and layout.
    saraphis(&["compress", s(&src), "-o", s(&sph), "--abs", "1e-3"]).pipe_ok();
    let back = dir.path().join("back.safetensors");
    json(&saraphis(&[
        "decompress",
        s(&sph),
        "-o",
        s(&back),
        "--json",
    ]));
    assert_eq!(
        std::fs::metadata(&back).unwrap().len(),
        std::fs::metadata(&src).unwrap().len()
    );
    // An original that differs by more than the bound in one element: verify exits 3.
    let mut orig = std::fs::read(&src).unwrap();
    let n = u64::from_le_bytes(orig[..8].try_into().unwrap()) as usize;
    let h: serde_json::Value = serde_json::from_slice(&orig[8..8 + n]).unwrap();
    let start = h["encoder.layer.0.attention.self.query.weight"]["data_offsets"][0]
        .as_u64()
        .unwrap() as usize;
    let at = 8 + n + start + 4 * 100;
    let v = f32::from_le_bytes(orig[at..at + 4].try_into().unwrap()) + 0.5;
    orig[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let bad = dir.path().join("changed.safetensors");
    std::fs::write(&bad, &orig).unwrap();
    let o = saraphis(&["verify", s(&sph), "--against", s(&bad), "--json"]);
    assert_eq!(o.status.code(), Some(3));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["ok"], false);
    assert!(r["max_abs_error"].as_f64().unwrap() > 0.4);
}

trait PipeOk {
    fn pipe_ok(self) -> Output;
}
impl PipeOk for Output {
    fn pipe_ok(self) -> Output {
        assert!(
            self.status.success(),
            "{}",
            String::from_utf8_lossy(&self.stderr)
        );
        Output {
            stdout: b"{}".to_vec(),
            ..self
        }
    }
}

#[test]
fn failures_leave_no_output_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::data("minilm-subset-f32.safetensors");
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"this is not a model").unwrap();
    let out = dir.path().join("out.sph");
    let o = saraphis(&["compress", s(&junk), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("safetensors"));
    only_expected_files(dir.path(), &["junk.safetensors"]);

    for bad_args in [
        vec!["--abs", "0"],
        vec!["--abs", "nan"],
        vec!["--abs", "1e-3", "--prime", "250"],
        vec!["--rel", "1.5"],
    ] {
        let mut a = vec!["compress", s(&src), "-o", s(&out)];
        a.extend(bad_args.iter());
        let o = saraphis(&a);
        assert_eq!(o.status.code(), Some(1), "{bad_args:?}");
        only_expected_files(dir.path(), &["junk.safetensors"]);
    }

    let sph = dir.path().join("m.sph");
    saraphis(&["compress", s(&src), "-o", s(&sph)]).pipe_ok();
    let good = std::fs::read(&sph).unwrap();
    let back = dir.path().join("back.safetensors");
    // Corrupt a payload byte, the index, the header; truncate.
    for (what, mutate) in [
        (
            "payload",
            Box::new(|b: &mut Vec<u8>| b[200] ^= 4) as Box<dyn Fn(&mut Vec<u8>)>,
        ),
        (
            "index",
            Box::new(|b: &mut Vec<u8>| {
                let l = b.len();
                b[l - 10] ^= 1
            }),
        ),
        ("header", Box::new(|b: &mut Vec<u8>| b[20] ^= 1)),
        (
            "truncated",
            Box::new(|b: &mut Vec<u8>| b.truncate(b.len() / 2)),
        ),
        (
            "foreign",
            Box::new(|b: &mut Vec<u8>| b[..8].copy_from_slice(b"NOTSARAP")),
        ),
        ("newer", Box::new(|b: &mut Vec<u8>| b[8] = 9)),
    ] {
        let mut b = good.clone();
        mutate(&mut b);
        std::fs::write(&sph, &b).unwrap();
        let o = saraphis(&["decompress", s(&sph), "-o", s(&back)]);
        assert_eq!(o.status.code(), Some(1), "{what} accepted");
        let msg = String::from_utf8_lossy(&o.stderr);
        assert!(msg.starts_with("saraphis: error:"), "{what}: {msg}");
        if what == "newer" {
            assert!(msg.contains("version"), "{msg}");
        }
        only_expected_files(dir.path(), &["junk.safetensors", "m.sph"]);
    }
}
