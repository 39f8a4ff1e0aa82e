//! The sparse codec on real MiniLM weights pruned as engines prune them (2:4 magnitude pruning,
//! unstructured magnitude pruning): bit-exact round trips in every float dtype, p-adic values
//! within their bound, the dense fallback where sparse does not win, damaged containers
//! rejected.

mod common;

use saraphis::codec::sparse::SparseParams;
use saraphis::codec::{self, CodecParams, CompressOptions, ErrorBound, PadicParams};
use saraphis::format::container::{CodecId, Header};
use saraphis::{DType, Error};

use common::{convert, prune_2_4, prune_magnitude, value};

fn sparse(padic: Option<PadicParams>) -> CompressOptions {
    CompressOptions {
        codec: CodecParams::Sparse(SparseParams { padic }),
        chunk_elems: codec::sparse::DEFAULT_CHUNK_ELEMS,
        lanes: 0,
    }
}

fn dense_v2() -> CompressOptions {
    CompressOptions {
        codec: CodecParams::LosslessV2,
        chunk_elems: codec::default_chunk_elems(&CodecParams::LosslessV2),
        lanes: 0,
    }
}

fn nonzeros(dtype: DType, b: &[u8]) -> u64 {
    b.chunks_exact(dtype.size())
        .filter(|e| e.iter().any(|&x| x != 0))
        .count() as u64
}

/// The 2-D weights of the fixture (real MiniLM tensors), with their row length.
/// At most three of them, the smallest (debug-build test time).
fn weights() -> Vec<common::Tensor> {
    let mut w: Vec<_> = common::load("minilm-subset-f32.safetensors")
        .into_iter()
        .filter(|t| t.dtype == DType::F32 && t.shape.len() == 2 && t.bytes.len() >= 4096)
        .collect();
    w.sort_by_key(|t| t.bytes.len());
    w.truncate(3);
    w
}

/// Compress with `o`, check the input is untouched and the size query holds, decode into a
/// poisoned buffer, and return (container, output).
fn round_trip(data: &[u8], dtype: DType, shape: &[u64], o: &CompressOptions) -> (Vec<u8>, Vec<u8>) {
    let input = data.to_vec();
    let c = codec::compress(data, dtype, shape, o).unwrap();
    assert_eq!(data, &input[..], "input modified");
    assert!(c.bytes.len() <= codec::compress_bound(dtype, shape, o).unwrap());
    let mut out = vec![0xA5u8; data.len()];
    codec::decompress_into(&c.bytes, dtype, &mut out).unwrap();
    (c.bytes, out)
}

#[test]
fn pruned_weights_round_trip_bit_exact_in_every_float_dtype_and_beat_dense() {
    let mut checked = 0;
    for t in weights() {
        let row = *t.shape.last().unwrap() as usize;
        for (what, pruned) in [
            ("2:4", prune_2_4(&t.bytes, row)),
            ("50%", prune_magnitude(&t.bytes, 0.5)),
            ("90%", prune_magnitude(&t.bytes, 0.9)),
        ] {
            for dtype in [DType::F32, DType::F16, DType::BF16, DType::F64] {
                let data = convert(&pruned, dtype);
                let (c, out) = round_trip(&data, dtype, &t.shape, &sparse(None));
                assert_eq!(out, data, "{} {what} {dtype:?}", t.name);
                let info = codec::inspect(&c).unwrap();
                assert_eq!(info.codec, CodecId::Sparse, "{} {what} {dtype:?}", t.name);
                let s = info.sparse.unwrap();
                assert_eq!(s.nonzeros, nonzeros(dtype, &data));
                assert_eq!(info.bound, None);
                checked += 1;
                if dtype != DType::BF16 {
                    continue; // one dtype against the dense container and compress_into
                }
                let dense = codec::compress(&data, dtype, &t.shape, &dense_v2()).unwrap();
                let o = sparse(None);
                let mut dst = vec![0u8; codec::compress_bound(dtype, &t.shape, &o).unwrap()];
                let w = codec::compress_into(&data, dtype, &t.shape, &o, &mut dst).unwrap();
                assert_eq!(
                    &dst[..w.len],
                    &c[..],
                    "compress_into writes what compress does"
                );
                assert!(
                    c.len() < dense.bytes.len(),
                    "{} {what} {dtype:?}: sparse {} vs dense {}",
                    t.name,
                    c.len(),
                    dense.bytes.len()
                );
                // 2:4 masks have six patterns per four elements: the mask is rANS-coded.
                if what == "2:4" {
                    assert_eq!(s.mask_codec, CodecId::Bytes, "{}", t.name);
                }
            }
        }
    }
    assert!(checked >= 36, "only {checked} containers checked");
}

#[test]
fn dense_weights_come_back_in_the_values_codec() {
    let t = common::big_f32();
    let (c, out) = round_trip(&t.bytes, DType::F32, &t.shape, &sparse(None));
    assert_eq!(out, t.bytes);
    assert_eq!(codec::inspect(&c).unwrap().codec, CodecId::LosslessV2);
    assert_eq!(
        c,
        codec::compress(&t.bytes, DType::F32, &t.shape, &dense_v2())
            .unwrap()
            .bytes
    );
}

#[test]
fn padic_values_hold_their_bound_and_zeros_stay_exact() {
    let t = common::big_f32();
    let row = *t.shape.last().unwrap() as usize;
    let t = common::Tensor {
        shape: vec![64, row as u64],
        bytes: t.bytes[..4 * 64 * row].to_vec(),
        ..t
    };
    let pruned = prune_magnitude(&t.bytes, 0.9);
    for dtype in [DType::F32, DType::BF16] {
        let data = convert(&pruned, dtype);
        for bound in [
            ErrorBound::Abs(1e-3),
            ErrorBound::Abs(1e-5),
            ErrorBound::Rel(1e-2),
            ErrorBound::Rel(1e-4),
        ] {
            let o = sparse(Some(PadicParams::new(bound)));
            let (c, out) = round_trip(&data, dtype, &t.shape, &o);
            let info = codec::inspect(&c).unwrap();
            assert_eq!(info.bound, Some(bound));
            // Dense p-adic codes zeros well with an absolute bound (sparse digit planes), so
            // either may win there; a relative bound cannot code zeros densely (they become
            // exceptions), so the mask wins by far.
            if let Some(s) = info.sparse {
                assert_eq!(s.values_codec, CodecId::Padic);
            }
            if matches!(bound, ErrorBound::Rel(_)) {
                assert_eq!(info.codec, CodecId::Sparse, "{dtype:?} {bound:?}");
                let dense = codec::compress(
                    &data,
                    dtype,
                    &t.shape,
                    &codec::sparse::dense_options(
                        &SparseParams {
                            padic: Some(PadicParams::new(bound)),
                        },
                        0,
                    ),
                )
                .unwrap();
                assert!(c.len() * 5 < dense.bytes.len(), "{dtype:?} {bound:?}");
            }
            let n = data.len() / dtype.size();
            for i in 0..n {
                let (x, y) = (value(dtype, &data, i), value(dtype, &out, i));
                if x == 0.0 {
                    assert_eq!(y.to_bits(), 0, "zero {i} not exact");
                }
                let ok = match bound {
                    ErrorBound::Abs(e) => (x - y).abs() <= e,
                    ErrorBound::Rel(e) => (x - y).abs() <= e * x.abs(),
                };
                assert!(ok, "{dtype:?} {bound:?} element {i}: {x} -> {y}");
            }
            // Progressive: fewer digit planes, a looser bound that still holds.
            let mut part = vec![0u8; data.len()];
            let b = codec::decompress_progressive(&c, dtype, &mut part, 1).unwrap();
            assert!(b > 0.0);
            for i in 0..n {
                let (x, y) = (value(dtype, &data, i), value(dtype, &part, i));
                let lim = match bound {
                    ErrorBound::Abs(_) => b,
                    ErrorBound::Rel(_) => b * x.abs(),
                };
                assert!(
                    (x - y).abs() <= lim * (1.0 + 1e-9),
                    "{dtype:?} planes 1, element {i}"
                );
            }
        }
    }
}

#[test]
fn integer_tensors_and_odd_lengths() {
    // int8 codes of a real weight tensor (as an 8-bit quantizer writes them): zero-heavy.
    let t = common::big_f32();
    let xs: Vec<f32> = t
        .bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let scale = xs.iter().fold(0f32, |m, x| m.max(x.abs())) / 127.0;
    let q: Vec<u8> = xs.iter().map(|x| (x / scale).round() as i8 as u8).collect();
    let (c, out) = round_trip(&q, DType::I8, &t.shape, &sparse(None));
    assert_eq!(out, q);
    let z = q.iter().filter(|&&b| b == 0).count();
    if codec::inspect(&c).unwrap().codec == CodecId::Sparse {
        assert_eq!(
            codec::inspect(&c).unwrap().sparse.unwrap().nonzeros as usize,
            q.len() - z
        );
    }
    // Lengths that are not multiples of 32 or of the scatter block; -0.0 is a value.
    let pruned = prune_magnitude(&t.bytes, 0.8);
    for n in [0usize, 1, 31, 33, 1000, 65_537] {
        let mut data = pruned[..4 * n.min(pruned.len() / 4)].to_vec();
        if n > 3 {
            data[4..8].copy_from_slice(&(-0.0f32).to_le_bytes());
        }
        let n = data.len() / 4;
        let o = CompressOptions {
            chunk_elems: 64,
            ..sparse(None)
        };
        let (_, out) = round_trip(&data, DType::F32, &[n as u64], &o);
        assert_eq!(out, data, "n = {n}");
    }
    // A scalar zero.
    let (_, out) = round_trip(&[0, 0, 0, 0], DType::F32, &[], &sparse(None));
    assert_eq!(out, [0, 0, 0, 0]);
}

#[test]
fn scatter_block_must_be_whole_mask_words() {
    let o = CompressOptions {
        chunk_elems: 48,
        ..sparse(None)
    };
    let e = codec::compress(&[0u8; 400], DType::F32, &[100], &o).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
}

/// A sparse container of a pruned real tensor (the first 24,576 values of the largest), F32,
/// small scatter blocks.
fn sample() -> (Vec<u8>, Vec<u8>, Vec<u64>) {
    let t = common::big_f32();
    let row = *t.shape.last().unwrap() as usize;
    let data = prune_2_4(&t.bytes[..4 * 64 * row], row);
    let t = common::Tensor {
        shape: vec![64, row as u64],
        ..t
    };
    let o = CompressOptions {
        chunk_elems: 1024,
        ..sparse(None)
    };
    let c = codec::compress(&data, DType::F32, &t.shape, &o).unwrap();
    assert_eq!(c.codec, CodecId::Sparse);
    (c.bytes, data, t.shape)
}

#[test]
fn damaged_containers_are_rejected() {
    let (c, data, _) = sample();
    let mut out = vec![0u8; data.len()];
    // Every byte of the outer header, and a spread of payload bytes, flipped.
    let h = Header::parse(&c).unwrap();
    let step = (c.len() / 3000).max(1);
    for i in (0..h.header_len).chain((h.header_len..c.len()).step_by(step)) {
        let mut d = c.clone();
        d[i] ^= 0x10;
        assert!(
            codec::decompress_into(&d, DType::F32, &mut out).is_err(),
            "flip at {i} of {} accepted",
            c.len()
        );
        // Unverified decoding of damaged data: an error or some output, never a panic.
        let _ = codec::decompress_unverified(&d, DType::F32, &mut out);
    }
    for cut in [0, 10, h.header_len - 1] {
        assert!(codec::decompress_into(&c[..cut], DType::F32, &mut out).is_err());
    }
    for cut in [h.header_len, h.header_len + 5, c.len() - 1] {
        let e = codec::decompress_into(&c[..cut], DType::F32, &mut out).unwrap_err();
        assert!(matches!(e, Error::Truncated(_)), "cut at {cut}: {e}");
    }
}

/// Rewrite a parameter of the outer header (CRCs recomputed, so only the sparse checks can
/// catch it).
fn with_params(c: &[u8], edit: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let h = Header::parse(c).unwrap();
    let mut h2 = h.clone();
    edit(&mut h2.params);
    let mut out = h2.write();
    out.extend_from_slice(&c[h.header_len..]);
    out
}

#[test]
fn inconsistent_parameters_are_corrupt_not_wrong_values() {
    let (c, data, _) = sample();
    let mut out = vec![0u8; data.len()];
    let base = codec::sparse::PARAMS_BASE;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("block start moved", with_params(&c, |p| p[base + 8] ^= 1)),
        ("nonzero count", with_params(&c, |p| p[24] ^= 1)),
        (
            "values codec",
            with_params(&c, |p| p[1] = CodecId::Lossless as u8),
        ),
        (
            "mask codec",
            with_params(&c, |p| p[2] = CodecId::Padic as u8),
        ),
        ("bound kind", with_params(&c, |p| p[3] = 7)),
        ("reserved", with_params(&c, |p| p[12] = 1)),
        ("format", with_params(&c, |p| p[0] = 2)),
    ];
    for (what, d) in cases {
        let e = codec::decompress_into(&d, DType::F32, &mut out).unwrap_err();
        assert!(matches!(e, Error::Corrupt(_)), "{what}: {e}");
    }
    // The right container still decodes.
    codec::decompress_into(&c, DType::F32, &mut out).unwrap();
    assert_eq!(out, data);
}
