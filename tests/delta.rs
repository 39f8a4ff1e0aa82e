//! The delta codec on a real fine-tune: tests/data/minilm-subset-finetuned-f32.safetensors is
//! all-MiniLM-L6-v2 after 300 AdamW steps on the VADER lexicon (scripts/finetune-minilm.py),
//! the same tensors as tests/data/minilm-subset-f32.safetensors, its base. Bit-exact round
//! trips in every dtype, bounds element by element, the base's hash enforced, damaged
//! containers rejected, the CLI's --base end to end.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use saraphis::codec::delta::{self, DeltaMode};
use saraphis::codec::{self, CodecParams, CompressOptions, ErrorBound, PadicParams};
use saraphis::format::container::CodecId;
use saraphis::{DType, Error};

use common::{convert, value};

/// (name, base F32 bytes, fine-tuned F32 bytes, shape) of a float tensor of the pair.
type Pair = (String, Vec<u8>, Vec<u8>, Vec<u64>);

/// Every float tensor of the pair.
fn pairs() -> Vec<Pair> {
    let base = common::load("minilm-subset-f32.safetensors");
    let tuned = common::load("minilm-subset-finetuned-f32.safetensors");
    base.into_iter()
        .filter(|t| t.dtype == DType::F32)
        .map(|b| {
            let t = tuned
                .iter()
                .find(|t| t.name == b.name)
                .expect("same tensors");
            assert_eq!((t.dtype, &t.shape), (b.dtype, &b.shape));
            (b.name, b.bytes, t.bytes.clone(), b.shape)
        })
        .collect()
}

fn plain(data: &[u8], dtype: DType, shape: &[u64]) -> usize {
    let opts = CompressOptions {
        codec: CodecParams::Lossless,
        chunk_elems: codec::default_chunk_elems(&CodecParams::Lossless),
        lanes: 0,
    };
    codec::compress(data, dtype, shape, &opts)
        .unwrap()
        .bytes
        .len()
}

#[test]
fn the_fixture_is_a_real_fine_tune() {
    // Every tensor moved (weight decay alone moves each weight), and by little.
    for (name, b, t, _) in pairs() {
        let n = b.len() / 4;
        let changed = (0..n)
            .filter(|&i| b[4 * i..4 * i + 4] != t[4 * i..4 * i + 4])
            .count();
        assert!(changed * 2 > n, "{name}: {changed} of {n} changed");
        let worst = (0..n)
            .map(|i| (value(DType::F32, &b, i) - value(DType::F32, &t, i)).abs())
            .fold(0.0, f64::max);
        assert!(worst > 0.0 && worst < 0.05, "{name}: {worst}");
    }
}

#[test]
fn lossless_delta_round_trips_bit_for_bit_and_beats_plain_coding() {
    let (mut plain_total, mut delta_total) = (0usize, 0usize);
    for (name, b, t, shape) in pairs() {
        for dtype in [DType::F32, DType::BF16, DType::F16, DType::F64] {
            let (bb, tt) = (convert(&b, dtype), convert(&t, dtype));
            let c = delta::compress(&tt, &bb, dtype, &shape, &CodecParams::Lossless, 0).unwrap();
            assert_eq!(c.codec, CodecId::Delta);
            let info = codec::inspect(&c.bytes).unwrap();
            let d = info.delta.unwrap();
            assert_eq!(d.mode, DeltaMode::Lossless);
            assert_eq!(d.base_hash, delta::base_hash(&bb));
            let mut back = vec![0u8; tt.len()];
            let bound = delta::decompress_into(&c.bytes, &bb, dtype, &mut back).unwrap();
            assert_eq!(bound, 0.0);
            assert!(back == tt, "{name} {dtype:?}");
            if dtype == DType::F32 {
                plain_total += plain(&tt, dtype, &shape);
                delta_total += c.bytes.len();
            }
        }
    }
    // The fine-tune moved most weights by a few hundred ulps: the residuals code smaller than
    // the weights themselves.
    assert!(
        (delta_total as f64) < 0.8 * plain_total as f64,
        "delta {delta_total} vs plain {plain_total}"
    );
}

#[test]
fn integer_bool_and_scalar_tensors_round_trip() {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for dtype in [
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::Bool,
    ] {
        let n = 5000usize;
        let size = dtype.size();
        let mut base = vec![0u8; n * size];
        let mut data = vec![0u8; n * size];
        for i in 0..n {
            let v = next();
            let step = (next() % 7) as i64 - 3;
            let bv = if dtype == DType::Bool { v & 1 } else { v };
            let dv = if dtype == DType::Bool {
                (v >> 9) & 1
            } else {
                (v as i64).wrapping_add(step) as u64
            };
            base[i * size..(i + 1) * size].copy_from_slice(&bv.to_le_bytes()[..size]);
            data[i * size..(i + 1) * size].copy_from_slice(&dv.to_le_bytes()[..size]);
        }
        let c =
            delta::compress(&data, &base, dtype, &[n as u64], &CodecParams::Lossless, 0).unwrap();
        let mut back = vec![0u8; data.len()];
        delta::decompress_into(&c.bytes, &base, dtype, &mut back).unwrap();
        assert!(back == data, "{dtype:?}");
    }
    // A scalar, and an empty tensor.
    let (b, t) = (1.5f32.to_le_bytes(), 1.25f32.to_le_bytes());
    let c = delta::compress(&t, &b, DType::F32, &[], &CodecParams::Lossless, 0).unwrap();
    let mut back = [0u8; 4];
    delta::decompress_into(&c.bytes, &b, DType::F32, &mut back).unwrap();
    assert_eq!(back, t);
    let c = delta::compress(&[], &[], DType::F32, &[0, 3], &CodecParams::Lossless, 0).unwrap();
    delta::decompress_into(&c.bytes, &[], DType::F32, &mut []).unwrap();
}

#[test]
fn float_residuals_count_ulps_across_zero_and_keep_special_values() {
    // Neighbours across zero and at the ends of the range, NaN payloads and infinities.
    let base: Vec<f32> = vec![
        -0.0,
        0.0,
        f32::from_bits(1),
        -f32::from_bits(1),
        1.0,
        f32::MAX,
        f32::NEG_INFINITY,
        f32::NAN,
        -2.5,
        1e-3,
    ];
    let data: Vec<f32> = vec![
        0.0,
        -0.0,
        -f32::from_bits(1),
        f32::from_bits(1),
        f32::from_bits(1.0f32.to_bits() + 1),
        f32::INFINITY,
        f32::NAN,
        f32::from_bits(0x7fc0_1234),
        -2.5000002,
        -1e-3,
    ];
    let b: Vec<u8> = base.iter().flat_map(|v| v.to_le_bytes()).collect();
    let d: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    let c = delta::compress(&d, &b, DType::F32, &[10], &CodecParams::Lossless, 0).unwrap();
    let mut back = vec![0u8; d.len()];
    delta::decompress_into(&c.bytes, &b, DType::F32, &mut back).unwrap();
    assert_eq!(back, d);
}

#[test]
fn bounded_delta_keeps_every_element_within_the_bound() {
    for (name, b, t, shape) in pairs() {
        for dtype in [DType::F32, DType::BF16] {
            let (bb, tt) = (convert(&b, dtype), convert(&t, dtype));
            for eps in [1e-4, 1e-6] {
                let p = CodecParams::Padic(PadicParams::new(ErrorBound::Abs(eps)));
                let c = delta::compress(&tt, &bb, dtype, &shape, &p, 0).unwrap();
                let info = codec::inspect(&c.bytes).unwrap();
                let d = info.delta.unwrap();
                let mut back = vec![0u8; tt.len()];
                let bound = delta::decompress_into(&c.bytes, &bb, dtype, &mut back).unwrap();
                let n = tt.len() / dtype.size();
                let worst = (0..n)
                    .map(|i| (value(dtype, &back, i) - value(dtype, &tt, i)).abs())
                    .fold(0.0, f64::max);
                match d.mode {
                    DeltaMode::Abs => {
                        assert_eq!(bound, eps);
                        assert!(worst <= eps, "{name} {dtype:?} {eps}: {worst}");
                        assert_eq!(worst, d.max_abs_error, "{name}: recorded error");
                    }
                    // BF16 steps are coarser than the bound: the rounding of base + d breaks
                    // it, so the encoder kept the exact residuals.
                    DeltaMode::Lossless => assert!(back == tt, "{name} {dtype:?}"),
                    DeltaMode::Rel => panic!("{name}: rel mode for an absolute bound"),
                }
            }
        }
    }
}

#[test]
fn relative_delta_keeps_every_element_within_its_relative_bound() {
    for (name, b, t, shape) in pairs() {
        for dtype in [DType::F32, DType::BF16] {
            let (bb, tt) = (convert(&b, dtype), convert(&t, dtype));
            let eps = 1e-2;
            let p = CodecParams::Padic(PadicParams::new(ErrorBound::Rel(eps)));
            let c = delta::compress(&tt, &bb, dtype, &shape, &p, 0).unwrap();
            let d = codec::inspect(&c.bytes).unwrap().delta.unwrap();
            let mut back = vec![0u8; tt.len()];
            let bound = delta::decompress_into(&c.bytes, &bb, dtype, &mut back).unwrap();
            let n = tt.len() / dtype.size();
            match d.mode {
                DeltaMode::Rel => {
                    assert_eq!(bound, eps);
                    for i in 0..n {
                        let (x, y) = (value(dtype, &tt, i), value(dtype, &back, i));
                        assert!(
                            (x - y).abs() <= eps * x.abs(),
                            "{name} {dtype:?} [{i}]: {x} {y}"
                        );
                    }
                }
                DeltaMode::Lossless => assert!(back == tt, "{name} {dtype:?}"),
                DeltaMode::Abs => panic!("{name}: abs mode for a relative bound"),
            }
        }
        // The fine-tune moved some small weights by more than their value (|d| up to 10^4 |x|),
        // which p-adic's relative bound on d cannot keep within eps |x|: such tensors fall back
        // to the exact residuals. A base that differs from the weights by a small relative step
        // (weight decay alone: x = base (1 - 1e-4)) takes the relative mode, and it pays.
        let x: Vec<f32> = t
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let base: Vec<u8> = x
            .iter()
            .flat_map(|v| (v / (1.0 - 1e-4)).to_le_bytes())
            .collect();
        let p = CodecParams::Padic(PadicParams::new(ErrorBound::Rel(1e-2)));
        let c = delta::compress(&t, &base, DType::F32, &shape, &p, 0).unwrap();
        let d = codec::inspect(&c.bytes).unwrap().delta.unwrap();
        assert_eq!(d.mode, DeltaMode::Rel, "{name}");
        let mut back = vec![0u8; t.len()];
        delta::decompress_into(&c.bytes, &base, DType::F32, &mut back).unwrap();
        for (i, &v) in x.iter().enumerate() {
            let y = value(DType::F32, &back, i);
            assert!(
                (v as f64 - y).abs() <= 1e-2 * (v as f64).abs(),
                "{name} [{i}]"
            );
        }
        let exact =
            delta::compress(&t, &base, DType::F32, &shape, &CodecParams::Lossless, 0).unwrap();
        assert!(c.bytes.len() < exact.bytes.len(), "{name}");
    }
}

#[test]
fn a_different_base_or_a_missing_base_is_refused() {
    let (_, b, t, shape) = pairs().remove(3);
    let c = delta::compress(&t, &b, DType::F32, &shape, &CodecParams::Lossless, 0).unwrap();
    let mut back = vec![0u8; t.len()];
    // One bit of the base changed: refused before anything is decoded.
    let mut other = b.clone();
    other[100] ^= 1;
    match delta::decompress_into(&c.bytes, &other, DType::F32, &mut back) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("base tensor differs"), "{m}"),
        r => panic!("{r:?}"),
    }
    assert!(back.iter().all(|&x| x == 0), "nothing decoded");
    assert!(matches!(
        delta::decompress_into(&c.bytes, &b[4..], DType::F32, &mut back),
        Err(Error::InvalidArgument(_))
    ));
    // The plain decoder cannot decode it and says why.
    match codec::decompress_into(&c.bytes, DType::F32, &mut back) {
        Err(Error::Unsupported(m)) => assert!(m.contains("base"), "{m}"),
        r => panic!("{r:?}"),
    }
    // Other codecs are refused at compression.
    assert!(matches!(
        delta::compress(&t, &b, DType::F32, &shape, &CodecParams::Raw, 0),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn every_byte_flip_and_truncation_of_a_delta_container_is_refused() {
    let (_, b, t, _) = pairs().remove(1); // a 384-element bias
    let c = delta::compress(&t, &b, DType::F32, &[384], &CodecParams::Lossless, 0).unwrap();
    let mut back = vec![0u8; t.len()];
    for i in 0..c.bytes.len() {
        let mut bad = c.bytes.clone();
        bad[i] ^= 0x41;
        assert!(
            delta::decompress_into(&bad, &b, DType::F32, &mut back).is_err(),
            "flip at byte {i} of {} accepted",
            c.bytes.len()
        );
    }
    for cut in 0..c.bytes.len() {
        assert!(delta::decompress_into(&c.bytes[..cut], &b, DType::F32, &mut back).is_err());
    }
    delta::decompress_into(&c.bytes, &b, DType::F32, &mut back).unwrap();
    assert_eq!(back, t);
}

fn saraphis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_saraphis"))
        .args(args)
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn cli_base_round_trip_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let base = common::data("minilm-subset-f32.safetensors");
    let tuned = common::data("minilm-subset-finetuned-f32.safetensors");
    let sph = dir.path().join("ft.sph");
    let plain_sph = dir.path().join("plain.sph");
    let back = dir.path().join("back.safetensors");
    let ok = |o: Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let r = ok(saraphis(&[
        "compress",
        s(&tuned),
        "-o",
        s(&sph),
        "--base",
        s(&base),
        "--json",
    ]));
    let p = ok(saraphis(&[
        "compress",
        s(&tuned),
        "-o",
        s(&plain_sph),
        "--json",
    ]));
    let ratio = r["ratio"].as_f64().unwrap();
    assert!(
        ratio > 1.25 * p["ratio"].as_f64().unwrap(),
        "delta {ratio} vs plain {}",
        p["ratio"]
    );
    let deltas = r["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["codec"] == "delta")
        .count();
    assert!(deltas >= 8, "{r}");
    // inspect shows the base's hash.
    let i = ok(saraphis(&["inspect", s(&sph), "--json"]));
    let t = i["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["codec"] == "delta")
        .unwrap()
        .clone();
    assert!(t["settings"].as_str().unwrap().contains("xxh3-128"), "{t}");
    // Without the base: refused, nothing written.
    let o = saraphis(&["decompress", s(&sph), "-o", s(&back)]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--base"));
    assert!(!back.exists());
    // Against another base (the fine-tune itself): refused, nothing written.
    let o = saraphis(&["decompress", s(&sph), "-o", s(&back), "--base", s(&tuned)]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("differs"));
    assert!(!back.exists());
    // With it: byte-identical, and verify agrees.
    ok(saraphis(&[
        "decompress",
        s(&sph),
        "-o",
        s(&back),
        "--base",
        s(&base),
        "--json",
    ]));
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&tuned).unwrap()
    );
    let v = ok(saraphis(&[
        "verify",
        s(&sph),
        "--against",
        s(&tuned),
        "--base",
        s(&base),
        "--json",
    ]));
    assert_eq!(v["ok"], true);
    // A .sph base works as the safetensors one does.
    let base_sph = dir.path().join("base.sph");
    let sph2 = dir.path().join("ft2.sph");
    ok(saraphis(&[
        "compress",
        s(&base),
        "-o",
        s(&base_sph),
        "--json",
    ]));
    ok(saraphis(&[
        "compress",
        s(&tuned),
        "-o",
        s(&sph2),
        "--base",
        s(&base_sph),
        "--json",
    ]));
    std::fs::remove_file(&back).unwrap();
    ok(saraphis(&[
        "decompress",
        s(&sph2),
        "-o",
        s(&back),
        "--base",
        s(&base_sph),
        "--json",
    ]));
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&tuned).unwrap()
    );
    // Within a bound.
    let sph3 = dir.path().join("ft3.sph");
    ok(saraphis(&[
        "compress",
        s(&tuned),
        "-o",
        s(&sph3),
        "--base",
        s(&base),
        "--abs",
        "1e-5",
        "--json",
    ]));
    let v = ok(saraphis(&[
        "verify",
        s(&sph3),
        "--against",
        s(&tuned),
        "--base",
        s(&base),
        "--json",
    ]));
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["max_abs_error"].as_f64().unwrap() <= 1e-5);
    // The base is an input: it cannot be the output.
    let o = saraphis(&["compress", s(&tuned), "-o", s(&base), "--base", s(&base)]);
    assert!(!o.status.success());
}

#[test]
fn archives_decode_delta_tensors_once_their_base_is_attached() {
    use saraphis::system::{Archive, Config, Device, System};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let sys = Arc::new(
        System::new(Config {
            device: Device::Cpu,
            ..Config::default()
        })
        .unwrap(),
    );
    let base_st = common::data("minilm-subset-f32.safetensors");
    let tuned_st = common::data("minilm-subset-finetuned-f32.safetensors");
    let (base_sph, tuned_sph) = (dir.path().join("b.sph"), dir.path().join("t.sph"));
    let quiet = |_: usize, _: usize, _: &str| {};
    sys.compress_model(&base_st, &base_sph, CodecParams::Lossless, &quiet)
        .unwrap();
    sys.compress_model_with_base(
        &tuned_st,
        &tuned_sph,
        &base_st,
        CodecParams::Lossless,
        &quiet,
    )
    .unwrap();
    let open = |p: &Path| Arc::new(Archive::open(sys.clone(), p).unwrap());
    let (base, tuned) = (open(&base_sph), open(&tuned_sph));
    let want = common::load("minilm-subset-finetuned-f32.safetensors");
    let deltas: Vec<usize> = (0..tuned.len())
        .filter(|&i| tuned.info(i).unwrap().codec == CodecId::Delta)
        .collect();
    assert!(deltas.len() >= 8);
    // Without the base: a clear error.
    match tuned.decompress(deltas[0]) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("attach the base"), "{m}"),
        r => panic!("{:?}", r.map(|v| v.len())),
    }
    // The fine-tune itself (plain archive) as the base: refused (hash), nothing attached.
    let plain_sph = dir.path().join("p.sph");
    sys.compress_model(&tuned_st, &plain_sph, CodecParams::Lossless, &quiet)
        .unwrap();
    match tuned.set_base(open(&plain_sph)) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("differs"), "{m}"),
        r => panic!("{r:?}"),
    }
    // A delta archive whose own base is not attached: refused (it cannot be decoded).
    match tuned.set_base(open(&tuned_sph)) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("attach the base"), "{m}"),
        r => panic!("{r:?}"),
    }
    // Itself: refused.
    assert!(matches!(
        base.set_base(base.clone()),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(tuned.set_base(base.clone()).unwrap(), deltas.len());
    assert!(matches!(
        tuned.set_base(base.clone()),
        Err(Error::InvalidArgument(_))
    ));
    for i in 0..tuned.len() {
        let name = &tuned.entry(i).unwrap().name;
        let w = want.iter().find(|t| &t.name == name).unwrap();
        assert!(tuned.decompress(i).unwrap() == w.bytes, "{name}");
    }

    // The same through the C API.
    use saraphis::ffi::*;
    unsafe {
        let mut cfg = std::ptr::null_mut();
        assert_eq!(saraphis_config_new(&mut cfg), saraphis_result::SARAPHIS_OK);
        let mut csys = std::ptr::null_mut();
        assert_eq!(
            saraphis_system_new(cfg, &mut csys),
            saraphis_result::SARAPHIS_OK
        );
        saraphis_config_free(cfg);
        let (bb, tb) = (
            std::fs::read(&base_sph).unwrap(),
            std::fs::read(&tuned_sph).unwrap(),
        );
        let (mut ca, mut cb) = (std::ptr::null_mut(), std::ptr::null_mut());
        assert_eq!(
            saraphis_archive_open_memory(csys, tb.as_ptr() as _, tb.len(), &mut ca),
            saraphis_result::SARAPHIS_OK
        );
        assert_eq!(
            saraphis_archive_open_memory(csys, bb.as_ptr() as _, bb.len(), &mut cb),
            saraphis_result::SARAPHIS_OK
        );
        let i = deltas[0];
        let mut out = vec![0u8; tuned.info(i).unwrap().original_bytes as usize];
        assert_eq!(
            saraphis_archive_decompress(ca, i, out.as_mut_ptr() as _, out.len()),
            saraphis_result::SARAPHIS_ERR_INVALID_ARGUMENT
        );
        let mut n = 0usize;
        assert_eq!(
            saraphis_archive_set_base(ca, cb, &mut n),
            saraphis_result::SARAPHIS_OK
        );
        assert_eq!(n, deltas.len());
        // The archive keeps the base alive.
        saraphis_archive_free(cb);
        assert_eq!(
            saraphis_archive_decompress(ca, i, out.as_mut_ptr() as _, out.len()),
            saraphis_result::SARAPHIS_OK
        );
        assert!(out == tuned.decompress(i).unwrap());
        assert_eq!(
            saraphis_archive_set_base(ca, std::ptr::null(), &mut n),
            saraphis_result::SARAPHIS_ERR_NULL_PARAMETER
        );
        saraphis_archive_free(ca);
        saraphis_system_free(csys);
    }
}
