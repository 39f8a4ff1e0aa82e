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
    for (fixture, layout) in [
        ("minilm-subset-f32.safetensors", &[][..]),
        ("minilm-subset-bf16.safetensors", &[]),
        ("minilm-subset-f32.safetensors", &["--lossless-v2"]),
        ("minilm-subset-bf16.safetensors", &["--lossless-v2"]),
        ("minilm-subset-f32.safetensors", &["--lanes", "32"]),
        ("minilm-subset-bf16.safetensors", &["--lanes", "64"]),
    ] {
        let src = common::data(fixture);
        let sph = dir.path().join("m.sph");
        let back = dir.path().join("back.safetensors");
        let mut args = vec!["compress", s(&src), "-o", s(&sph), "--json"];
        args.extend(layout.iter().copied());
        let r = json(&saraphis(&args));
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
        // The default lossless codec writes F32 and BF16 in layout v2 as --lossless-v2 does;
        // --lanes asks for layout v1.
        let want = if layout.first() == Some(&"--lanes") {
            "lossless"
        } else {
            "lossless-v2"
        };
        for t in i["tensors"].as_array().unwrap() {
            if t["dtype"] != "I64" {
                assert_eq!(t["codec"], want, "{fixture} {layout:?}: {t}");
            }
        }
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

/// `--codec quant` on real weights: fixed rate (the measured error is recorded, shown by
/// inspect with the settings, and held by every element at verify) and error-bounded; bad
/// quant options are usage errors that write nothing.
#[test]
fn quant_codec_round_trips_and_reports_its_settings() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::data("minilm-subset-f32.safetensors");
    let sph = dir.path().join("q.sph");
    for (args, settings, min_ratio) in [
        (vec![], "8-bit block 32, F16 scales, symmetric", 3.5),
        (
            vec!["--bits", "4", "--zero-point", "--block", "64"],
            "4-bit block 64, F16 scales, with minimum",
            6.0,
        ),
        (
            vec!["--axis", "0", "--scale-dtype", "f32"],
            "8-bit channel axis 0, F32 scales, symmetric",
            3.9,
        ),
        (
            vec!["--global", "--bits", "6"],
            "6-bit global, F16 scales, symmetric",
            5.0,
        ),
        (vec!["--abs", "1e-3"], "abs 1e-3, block 32, F16 scales", 3.0),
    ] {
        let mut a = vec![
            "compress",
            s(&src),
            "-o",
            s(&sph),
            "--json",
            "--codec",
            "quant",
        ];
        a.extend(args.iter());
        let c = json(&saraphis(&a));
        assert!(c["ratio"].as_f64().unwrap() > min_ratio, "{args:?}: {c}");
        let floats: Vec<_> = c["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["codec"] == "quant")
            .collect();
        assert!(!floats.is_empty());
        for t in &floats {
            assert_eq!(t["settings"], settings, "{args:?}");
        }
        // (A bias quantized per element along axis 0 can come back exact: the model can't.)
        assert!(c["max_abs_error"].as_f64().unwrap() > 0.0, "{args:?}");
        let i = json(&saraphis(&["inspect", s(&sph), "--json"]));
        for (t, k) in floats.iter().zip(
            i["tensors"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["codec"] == "quant"),
        ) {
            assert_eq!(k["settings"], settings);
            assert_eq!(k["max_abs_error"], t["max_abs_error"]);
        }
        let table = String::from_utf8(saraphis(&["inspect", s(&sph)]).stdout).unwrap();
        assert!(table.contains(&format!("[{settings}]")), "{table}");
        let v = json(&saraphis(&[
            "verify",
            s(&sph),
            "--against",
            s(&src),
            "--json",
        ]));
        assert_eq!(v["ok"], true, "{args:?}");
        if args.first() == Some(&"--abs") {
            assert!(v["max_abs_error"].as_f64().unwrap() <= 1e-3);
        }
        // Verify measures what compress recorded, element by element.
        assert_eq!(v["max_abs_error"], c["max_abs_error"], "{args:?}");
    }
    for bad in [
        vec!["--codec", "quant", "--bits", "9"],
        vec!["--codec", "quant", "--bits", "1"],
        vec!["--codec", "quant", "--block", "48"],
        vec!["--codec", "quant", "--rel", "1e-2"],
        vec!["--codec", "quant", "--abs", "1e-3", "--bits", "4"],
        vec!["--codec", "quant", "--scale-dtype", "f64"],
        vec!["--bits", "4"],
        vec!["--codec", "padic"],
        vec!["--codec", "lossless", "--abs", "1e-3"],
        vec!["--codec", "quant", "--lossless-v2"],
        vec!["--codec", "quant", "--lossless"],
    ] {
        let out = dir.path().join("bad.sph");
        let mut a = vec!["compress", s(&src), "-o", s(&out)];
        a.extend(bad.iter());
        let o = saraphis(&a);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        assert!(!out.exists(), "{bad:?}: output written");
    }
}

/// `--codec sparse` on a 2:4-pruned copy of the fixture (real weights, the two smallest |x|
/// of every four set to +0.0): the pruned weights get sparse containers whose settings inspect
/// shows, the rest their dense codec; decompress gives the file back byte for byte; a bound
/// goes to the values; a scatter block that is not whole mask words is a usage error.
#[test]
fn sparse_codec_on_pruned_weights() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("pruned.safetensors");
    let tensors = common::load("minilm-subset-f32.safetensors");
    let pruned: Vec<(String, Vec<u64>, Vec<u8>, safetensors::Dtype)> = tensors
        .iter()
        .map(|t| match t.dtype {
            saraphis::DType::F32 if t.shape.len() == 2 => (
                t.name.clone(),
                t.shape.clone(),
                common::prune_2_4(&t.bytes, *t.shape.last().unwrap() as usize),
                safetensors::Dtype::F32,
            ),
            saraphis::DType::F32 => (
                t.name.clone(),
                t.shape.clone(),
                t.bytes.clone(),
                safetensors::Dtype::F32,
            ),
            _ => (
                t.name.clone(),
                t.shape.clone(),
                t.bytes.clone(),
                safetensors::Dtype::I64,
            ),
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = pruned
        .iter()
        .map(|(n, sh, b, d)| {
            let sh: Vec<usize> = sh.iter().map(|&x| x as usize).collect();
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, sh, b).unwrap(),
            )
        })
        .collect();
    std::fs::write(&src, safetensors::serialize(views, &None).unwrap()).unwrap();
    let sph = dir.path().join("s.sph");
    let back = dir.path().join("back.safetensors");
    let c = json(&saraphis(&[
        "compress",
        s(&src),
        "-o",
        s(&sph),
        "--json",
        "--codec",
        "sparse",
    ]));
    let sparse: Vec<_> = c["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["codec"] == "sparse")
        .collect();
    assert!(sparse.len() >= 4, "{c}");
    for t in &sparse {
        let st = t["settings"].as_str().unwrap();
        assert!(
            st.starts_with("nonzeros 50.0%") && st.contains("values lossless-v2"),
            "{st}"
        );
    }
    let table = String::from_utf8(saraphis(&["inspect", s(&sph)]).stdout).unwrap();
    assert!(
        table.contains("sparse") && table.contains("[nonzeros 50.0%"),
        "{table}"
    );
    saraphis(&["decompress", s(&sph), "-o", s(&back)]).pipe_ok();
    assert!(
        std::fs::read(&back).unwrap() == std::fs::read(&src).unwrap(),
        "byte for byte"
    );
    let v = json(&saraphis(&[
        "verify",
        s(&sph),
        "--against",
        s(&src),
        "--json",
    ]));
    assert_eq!(v["ok"], true);
    // A relative bound goes to the values; zeros stay exact (verify checks every element).
    saraphis(&[
        "compress",
        s(&src),
        "-o",
        s(&sph),
        "--codec",
        "sparse",
        "--rel",
        "1e-2",
        "-q",
    ])
    .pipe_ok();
    let v = json(&saraphis(&[
        "verify",
        s(&sph),
        "--against",
        s(&src),
        "--json",
    ]));
    assert_eq!(v["ok"], true, "{v}");
    let out = dir.path().join("bad.sph");
    let o = saraphis(&[
        "compress",
        s(&src),
        "-o",
        s(&out),
        "--codec",
        "sparse",
        "--chunk-elems",
        "48",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
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
        assert_eq!(
            o.status.code(),
            Some(2),
            "{bad_args:?}: argument errors exit 2"
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).starts_with("saraphis: usage error:"),
            "{bad_args:?}"
        );
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

#[test]
fn an_output_that_is_an_input_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    std::fs::copy(common::data("minilm-subset-f32.safetensors"), &model).unwrap();
    let original = std::fs::read(&model).unwrap();
    let hard = dir.path().join("hard.safetensors");
    std::fs::hard_link(&model, &hard).unwrap();
    let soft = dir.path().join("soft.safetensors");
    std::os::unix::fs::symlink(&model, &soft).unwrap();
    let spelled = dir.path().join(".").join("m.safetensors");
    for out in [&model, &hard, &soft, &spelled] {
        let o = saraphis(&["compress", s(&model), "-o", s(out), "--abs", "1e-2"]);
        assert_eq!(o.status.code(), Some(2), "{out:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("same file"));
        assert_eq!(
            std::fs::read(&model).unwrap(),
            original,
            "{out:?}: input changed"
        );
    }
    let sph = dir.path().join("m.sph");
    saraphis(&["compress", s(&model), "-o", s(&sph)]).pipe_ok();
    let archive = std::fs::read(&sph).unwrap();
    let o = saraphis(&["decompress", s(&sph), "-o", s(&sph)]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read(&sph).unwrap(), archive, "archive destroyed");
    only_expected_files(
        dir.path(),
        &[
            "m.safetensors",
            "hard.safetensors",
            "soft.safetensors",
            "m.sph",
        ],
    );
}

/// A real-weight model of about `mb` MB (the fixture's tensors repeated under new names).
fn big_model(path: &Path, mb: usize) {
    let t = common::big_f32();
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    let mut k = 0;
    while data.len() < mb << 20 {
        let start = data.len();
        data.extend_from_slice(&t.bytes);
        header.insert(
            format!("copy{k}.{}", t.name),
            serde_json::json!({"dtype": "F32", "shape": t.shape, "data_offsets": [start, data.len()]}),
        );
        k += 1;
    }
    let h = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&data);
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_signal_during_compress_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("big.safetensors");
    big_model(&model, 48);
    let out = dir.path().join("big.sph");
    std::fs::write(&out, b"previous archive").unwrap();
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_saraphis"))
            .args([
                "compress",
                s(&model),
                "-o",
                s(&out),
                "--abs",
                "1e-4",
                "--threads",
                "1",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the temporary output exists, then interrupt.
        let t0 = std::time::Instant::now();
        let tmp_exists = || {
            std::fs::read_dir(dir.path()).unwrap().any(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".saraphis-tmp")
            })
        };
        while !tmp_exists() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "finished before the signal"
            );
            assert!(t0.elapsed().as_secs() < 60, "no temporary file appeared");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(child.id() as i32, sig) };
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(sig), "ended by the signal");
        only_expected_files(dir.path(), &["big.safetensors", "big.sph"]);
        assert_eq!(std::fs::read(&out).unwrap(), b"previous archive");
    }
}

#[test]
fn long_non_ascii_names_and_closed_pipes_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let t = common::big_f32();
    let name = "слой.внимание.запрос.вес.очень-длинное-имя-тензора.ß→∑";
    assert!(name.len() > 48 && name.chars().count() <= 60);
    let h = serde_json::json!({ name: {"dtype": "F32", "shape": t.shape, "data_offsets": [0, t.bytes.len()]} });
    let h = serde_json::to_vec(&h).unwrap();
    let mut file = (h.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(&h);
    file.extend_from_slice(&t.bytes);
    let model = dir.path().join("m.safetensors");
    std::fs::write(&model, file).unwrap();
    let sph = dir.path().join("m.sph");
    let o = saraphis(&["compress", s(&model), "-o", s(&sph)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8(o.stdout).unwrap();
    let line = table.lines().nth(1).unwrap();
    assert!(line.starts_with('…'), "a cut name is marked: {line}");
    assert!(line.contains("∑"), "the end of the name is kept: {line}");

    // stdout is a pipe whose reader is already gone: a quiet exit 0, no panic.
    let mut fds = [0; 2];
    // SAFETY: pipe() fills two descriptors; we close the read end and hand over the write end.
    let write_end = unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        libc::close(fds[0]);
        <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[1])
    };
    let o = Command::new(env!("CARGO_BIN_EXE_saraphis"))
        .args(["inspect", s(&sph)])
        .stdout(write_end)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(0), "{err}");
}

#[test]
fn honest_reports_label_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::data("minilm-subset-f32.safetensors");
    let sph = dir.path().join("m.sph");
    let r = json(&saraphis(&[
        "compress",
        s(&src),
        "-o",
        s(&sph),
        "--abs",
        "1e-3",
        "--json",
    ]));
    assert!(
        r["max_rel_error"].is_null(),
        "compress does not measure relative error"
    );
    let measured = r["max_abs_error"].as_f64().unwrap();
    assert!(measured > 0.0 && measured <= 1e-3);
    assert_eq!(r["error_source"], "measured by the encoder");
    // Decompress and inspect report what compression recorded, not a made-up 0.
    let back = dir.path().join("back.safetensors");
    let d = json(&saraphis(&[
        "decompress",
        s(&sph),
        "-o",
        s(&back),
        "--json",
    ]));
    assert_eq!(d["max_abs_error"].as_f64().unwrap(), measured);
    assert_eq!(d["error_source"], "recorded at compression");
    let text =
        String::from_utf8(saraphis(&["decompress", s(&sph), "-o", s(&back)]).stdout).unwrap();
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("restored 9 tensors:") && last.contains("archive ->"),
        "{last}"
    );
    let i = json(&saraphis(&["inspect", s(&sph), "--json"]));
    assert!(
        i["mb_per_s"].is_null(),
        "inspect decodes nothing: no throughput"
    );
    let text = String::from_utf8(saraphis(&["inspect", s(&sph)]).stdout).unwrap();
    assert!(!text.contains("MB/s"), "{text}");
    // A passing verify says so; a relative bound is shown with a relative error.
    saraphis(&["compress", s(&src), "-o", s(&sph), "--rel", "1e-2"]).pipe_ok();
    let text =
        String::from_utf8(saraphis(&["verify", s(&sph), "--against", s(&src)]).stdout).unwrap();
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("verify OK"), "{last}");
    assert!(last.contains("max rel error"), "{last}");
    let row = text.lines().find(|l| l.contains("query.weight")).unwrap();
    assert!(row.contains("rel 1.0e-2") && row.contains("rel "), "{row}");
    let v = json(&saraphis(&[
        "verify",
        s(&sph),
        "--against",
        s(&src),
        "--json",
    ]));
    assert!(v["max_rel_error"].as_f64().unwrap() <= 1e-2);
}

#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::data("minilm-subset-f32.safetensors");
    let out = dir.path().join("o.sph");
    for args in [
        vec!["--prime", "7"],
        vec!["--precision", "3"],
        vec!["--lanes", "999"],
        vec!["--chunk-elems", "0"],
    ] {
        let mut a = vec!["compress", s(&src), "-o", s(&out)];
        a.extend(args.iter());
        let o = saraphis(&a);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
    }
    // Errors in the data name the user's file, call truncation truncation, and show no
    // internal enum names.
    let cut = dir.path().join("cut.safetensors");
    let bytes = std::fs::read(&src).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = saraphis(&["compress", s(&cut), "-o", s(&out)]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("truncated") && !err.contains("MetadataIncompleteBuffer"),
        "{err}"
    );
    let sph = dir.path().join("m.sph");
    saraphis(&["compress", s(&src), "-o", s(&sph)]).pipe_ok();
    let a = std::fs::read(&sph).unwrap();
    std::fs::write(&sph, &a[..a.len() - 100]).unwrap();
    let o = saraphis(&["decompress", s(&sph), "-o", s(&out)]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(err.contains("truncated"), "{err}");
    let missing = dir.path().join("nope.sph");
    let o = saraphis(&["inspect", s(&missing)]);
    assert!(String::from_utf8_lossy(&o.stderr).contains(s(&missing)));
    let words: Vec<&str> = err.split(": ").collect();
    assert!(
        words.windows(2).all(|w| w[0] != w[1]),
        "repeated prefix: {err}"
    );
}

/// Mount a tmpfs of `size` at `dir` (root only); `None` with the reason printed otherwise.
fn tmpfs(dir: &Path, size: &str, read_only: bool) -> Option<()> {
    let opts = format!("size={size}{}", if read_only { ",ro" } else { "" });
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &opts, "tmpfs", s(dir)])
        .status()
        .is_ok_and(|st| st.success());
    if !ok {
        eprintln!(
            "SKIPPED filesystem-fault case: mounting a tmpfs needs root (run the tests as root)"
        );
    }
    ok.then_some(())
}

struct Unmount<'a>(&'a Path);
impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}

#[test]
fn filesystem_faults_give_clear_errors_and_keep_existing_output() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::data("minilm-subset-f32.safetensors");
    // A missing output directory.
    let o = saraphis(&[
        "compress",
        s(&src),
        "-o",
        s(&dir.path().join("no/such/dir/m.sph")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));
    only_expected_files(dir.path(), &[]);

    // A full filesystem: 1 MiB cannot hold the 5 MB archive; the old output survives intact.
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    if tmpfs(&full, "1m", false).is_some() {
        let _u = Unmount(&full);
        let out = full.join("m.sph");
        std::fs::write(&out, b"previous").unwrap();
        let o = saraphis(&["compress", s(&src), "-o", s(&out)]);
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(s(&out)) && err.contains("space"), "{err}");
        only_expected_files(&full, &["m.sph"]);
        assert_eq!(std::fs::read(&out).unwrap(), b"previous");
    }

    // A read-only output directory.
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    if tmpfs(&ro, "4m", true).is_some() {
        let _u = Unmount(&ro);
        let o = saraphis(&["compress", s(&src), "-o", s(&ro.join("m.sph"))]);
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("m.sph") && err.contains("Read-only"), "{err}");
        only_expected_files(&ro, &[]);
    }
}

/// `saraphis bench`: every CPU operation runs at a small explicit size, checks itself against its
/// reference (max_abs_diff_vs_reference 0 for the tropical products), prints the device it found,
/// and exports the same JSON it prints; bad names and sizes are usage errors (exit 2).
#[test]
fn bench_runs_every_cpu_operation_and_exports_json() {
    let dir = tempfile::tempdir().unwrap();
    for (op, size) in [
        ("tropical-matmul", "67"),
        ("tropical-conv", "40"),
        ("tropical-closure", "33"),
        ("tropical-poly", "100"),
        ("padic-mul", "5000"),
        ("padic-add", "5000"),
        ("padic-hensel", "500"),
        ("codec-decode", "70000"),
        ("codec-encode", "70000"),
    ] {
        let export = dir.path().join(format!("{op}.json"));
        let o = saraphis(&[
            "bench",
            "--operation",
            op,
            "--size",
            size,
            "--repeats",
            "1",
            "--json",
            "--export",
            s(&export),
        ]);
        assert!(
            o.status.success(),
            "{op}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v = json(&o);
        let file: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&export).unwrap()).unwrap();
        assert_eq!(v, file, "{op}: --export writes what --json prints");
        assert_eq!(v["operation"], op);
        assert_eq!(v["size"].as_u64().unwrap(), size.parse::<u64>().unwrap());
        assert!(v["device_info"]["threads"].as_u64().unwrap() >= 1);
        let rows = v["results"].as_array().unwrap();
        assert!(!rows.is_empty(), "{op}");
        for r in rows {
            assert!(r["ms"].as_f64().unwrap() > 0.0, "{op}: {r}");
            if let Some(d) = r.get("max_abs_diff_vs_reference") {
                assert_eq!(d.as_f64(), Some(0.0), "{op}: {r}");
            }
        }
    }
    for op in [
        "tropical-matmul",
        "tropical-conv",
        "tropical-closure",
        "tropical-poly",
    ] {
        for dtype in ["f64", "i32"] {
            let o = saraphis(&[
                "bench",
                "--operation",
                op,
                "--size",
                "50",
                "--dtype",
                dtype,
                "--semiring",
                "min-plus",
                "--repeats",
                "1",
                "--json",
            ]);
            assert!(
                o.status.success(),
                "{op} {dtype}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let v = json(&o);
            assert_eq!(v["semiring"], "min-plus");
            assert_eq!(v["dtype"], dtype);
            if let Some(d) = v["results"][0].get("max_abs_diff_vs_reference") {
                assert_eq!(d.as_f64(), Some(0.0), "{op} {dtype}");
            }
        }
    }
    let table = saraphis(&[
        "bench",
        "--operation",
        "padic-mul",
        "--size",
        "small",
        "--repeats",
        "1",
    ]);
    assert!(table.status.success());
    assert!(String::from_utf8_lossy(&table.stdout).contains("device found:"));
    for bad in [
        &["bench", "--operation", "nope"][..],
        &["bench", "--size", "0"],
        &["bench", "--size", "huge"],
        &["bench", "--device", "tpu"],
        &["bench", "--dtype", "u8"],
        &["bench", "--semiring", "plus-times"],
    ] {
        let o = saraphis(bad);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{bad:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn codec_auto_chooses_per_tensor_and_inspect_says_how() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::data("minilm-subset-f32.safetensors");
    let sph = dir.path().join("m.sph");
    let r = json(&saraphis(&[
        "compress",
        s(&src),
        "-o",
        s(&sph),
        "--codec",
        "auto",
        "--abs",
        "1e-3",
        "--json",
    ]));
    assert!(r["auto"]
        .as_str()
        .unwrap()
        .starts_with("abs 1e-3; highest ratio"));
    for t in r["tensors"].as_array().unwrap() {
        let why = t["auto"].as_str().unwrap();
        let codec = t["codec"].as_str().unwrap();
        // The chosen codec is the first in the ranked list (a close call may reorder).
        assert!(
            why.starts_with(codec) || why.contains("close call"),
            "{codec}: {why}"
        );
        if t["dtype"] == "F32" {
            assert_eq!(t["bound"]["eps"].as_f64(), Some(1e-3), "{t}");
        }
    }
    let i = json(&saraphis(&["inspect", s(&sph), "--json"]));
    assert_eq!(i["auto"], r["auto"]);
    let table = String::from_utf8(saraphis(&["inspect", s(&sph)]).stdout).unwrap();
    assert!(table.contains("codec auto: abs 1e-3"), "{table}");
    let v = json(&saraphis(&[
        "verify",
        s(&sph),
        "--against",
        s(&src),
        "--json",
    ]));
    assert_eq!(v["ok"], true);
    for bad in [
        vec!["--target-ratio", "3"],
        vec!["--priority", "speed"],
        vec!["--codec", "auto", "--chunk-elems", "4096"],
        vec!["--codec", "auto", "--abs", "1e-3", "--bits", "8"],
        vec!["--codec", "auto", "--block", "64"],
        vec!["--codec", "auto", "--target-ratio", "-1"],
    ] {
        let out = dir.path().join("bad.sph");
        let mut args = vec!["compress", s(&src), "-o", s(&out)];
        args.extend(bad.iter().copied());
        let o = saraphis(&args);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        assert!(!out.exists(), "{bad:?} left output");
    }
}
