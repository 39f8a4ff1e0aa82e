//! Codec behaviour on real MiniLM weights and adversarial data.

mod common;

use proptest::prelude::*;
use saraphis::codec::{self, CodecParams, CompressOptions, ErrorBound, PadicParams};
use saraphis::format::container::CodecId;
use saraphis::{DType, Error};

fn opts(codec: CodecParams, chunk: u32) -> CompressOptions {
    CompressOptions {
        codec,
        chunk_elems: chunk,
        lanes: 0,
    }
}

fn padic(bound: ErrorBound) -> CodecParams {
    CodecParams::Padic(PadicParams::new(bound))
}

fn round_trip(data: &[u8], dtype: DType, shape: &[u64], o: &CompressOptions) -> (Vec<u8>, Vec<u8>) {
    let input = data.to_vec();
    let c = codec::compress(data, dtype, shape, o).unwrap();
    assert_eq!(data, &input[..], "input modified");
    assert!(c.bytes.len() <= codec::compress_bound(dtype, shape, o).unwrap());
    let mut out = vec![0xA5u8; data.len()]; // poisoned
    codec::decompress_into(&c.bytes, dtype, &mut out).unwrap();
    (c.bytes, out)
}

/// Convert real F32 weights to another float dtype (round to nearest even).
use common::{convert, value as load};

/// Max error, asserting the bound for every element and exactness of non-finite values.
fn check_bound(dtype: DType, want: &[u8], got: &[u8], bound: ErrorBound, slack: f64) -> f64 {
    let s = dtype.size();
    let mut max = 0f64;
    for i in 0..want.len() / s {
        let (x, y) = (load(dtype, want, i), load(dtype, got, i));
        if !x.is_finite() || (matches!(bound, ErrorBound::Rel(_)) && x == 0.0) {
            assert_eq!(
                &want[i * s..(i + 1) * s],
                &got[i * s..(i + 1) * s],
                "special value {i} not exact"
            );
            continue;
        }
        let err = (x - y).abs();
        let lim = match bound {
            ErrorBound::Abs(e) => e,
            ErrorBound::Rel(e) => e * x.abs(),
        } + slack;
        assert!(err <= lim, "element {i}: |{x} - {y}| = {err} > {lim}");
        max = max.max(err);
    }
    max
}

#[test]
fn lossless_real_weights_bit_exact_every_dtype() {
    for t in common::load("minilm-subset-f32.safetensors") {
        let dtypes: &[DType] = if t.dtype == DType::F32 {
            &[DType::F32, DType::BF16, DType::F16, DType::F64]
        } else {
            &[t.dtype]
        };
        for &d in dtypes {
            let data = convert(&t.bytes, if t.dtype == DType::F32 { d } else { DType::I64 });
            let data = if t.dtype == DType::F32 {
                data
            } else {
                t.bytes.clone()
            };
            for chunk in [1 << 18, 4096, 1000] {
                let (c, out) = round_trip(&data, d, &t.shape, &opts(CodecParams::Lossless, chunk));
                assert_eq!(out, data, "{} as {d:?}", t.name);
                let info = codec::inspect(&c).unwrap();
                assert_eq!(info.shape, t.shape);
                if matches!(d, DType::F32 | DType::F16 | DType::BF16) {
                    // The default layout (v2) for these dtypes.
                    assert_eq!(info.codec, CodecId::LosslessV2);
                } else if d.is_float() {
                    assert_eq!(info.codec, CodecId::Lossless);
                } else {
                    assert_eq!(info.codec, CodecId::Bytes);
                }
            }
        }
    }
}

#[test]
fn lossless_ratio_on_real_weights() {
    // The 1024 x 384 embedding slice and two dense layers: real, not synthetic.
    let ts = common::load("minilm-subset-f32.safetensors");
    let (mut orig, mut comp, mut orig16, mut comp16) = (0, 0, 0, 0);
    for t in ts
        .iter()
        .filter(|t| t.dtype == DType::F32 && t.bytes.len() > 100_000)
    {
        let c =
            codec::compress(&t.bytes, DType::F32, &t.shape, &CompressOptions::default()).unwrap();
        orig += t.bytes.len();
        comp += c.bytes.len();
        let b = convert(&t.bytes, DType::BF16);
        let c = codec::compress(&b, DType::BF16, &t.shape, &CompressOptions::default()).unwrap();
        orig16 += b.len();
        comp16 += c.bytes.len();
    }
    let (r32, r16) = (orig as f64 / comp as f64, orig16 as f64 / comp16 as f64);
    assert!(r32 > 1.15, "F32 ratio {r32}");
    assert!(r16 > 1.45, "BF16 ratio {r16}");
}

#[test]
fn lane_counts_round_trip_and_are_checked() {
    let t = common::big_f32();
    let mut sizes = Vec::new();
    for lanes in [1u32, 32, 64, 128] {
        for codec in [CodecParams::Lossless, padic(ErrorBound::Abs(1e-4))] {
            let o = CompressOptions {
                codec,
                chunk_elems: 1 << 18,
                lanes,
            };
            let (c, out) = round_trip(&t.bytes, DType::F32, &t.shape, &o);
            if codec == CodecParams::Lossless {
                assert_eq!(out, t.bytes, "lanes {lanes}");
                sizes.push(c.len());
            } else {
                check_bound(DType::F32, &t.bytes, &out, ErrorBound::Abs(1e-4), 0.0);
            }
        }
    }
    // More lanes cost a little ratio (10 bytes per lane and stream), never correctness.
    assert!(
        sizes[3] > sizes[1] && (sizes[3] - sizes[1]) < sizes[1] / 100,
        "{sizes:?}"
    );
    let o = CompressOptions {
        codec: CodecParams::Lossless,
        chunk_elems: 1024,
        lanes: 129,
    };
    assert!(matches!(
        codec::compress(&t.bytes, DType::F32, &t.shape, &o),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn special_values_bit_exact_in_every_mode() {
    let mut vals: Vec<u32> = vec![
        0,
        0x8000_0000,
        0x7f80_0000,
        0xff80_0000,
        0x7fc0_0000,
        0x7f80_0001,
        0xffc1_2345,
        0x0000_0001,
        0x807f_ffff,
        0x0080_0000,
        0x7f7f_ffff,
        0xff7f_ffff,
        0x3f80_0000,
    ];
    let mut s = 99u64;
    for _ in 0..5000 {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        vals.push((s >> 32) as u32); // arbitrary bit patterns
    }
    let data: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
    let shape = [vals.len() as u64];
    let (_, out) = round_trip(&data, DType::F32, &shape, &opts(CodecParams::Lossless, 777));
    assert_eq!(out, data);
    for d in [DType::F16, DType::BF16] {
        let d16: Vec<u8> = vals
            .iter()
            .flat_map(|v| ((v >> 16) as u16).to_le_bytes())
            .collect();
        let (_, out) = round_trip(&d16, d, &shape, &opts(CodecParams::Lossless, 500));
        assert_eq!(out, d16);
        let (_, out) = round_trip(&d16, d, &shape, &opts(padic(ErrorBound::Abs(1e-2)), 500));
        check_bound(d, &d16, &out, ErrorBound::Abs(1e-2), 0.0);
    }
    let d64: Vec<u8> = vals
        .iter()
        .flat_map(|&v| ((v as u64) << 32 | v as u64).to_le_bytes())
        .collect();
    let (_, out) = round_trip(&d64, DType::F64, &shape, &opts(CodecParams::Lossless, 333));
    assert_eq!(out, d64);
    for b in [ErrorBound::Abs(1e-3), ErrorBound::Rel(1e-3)] {
        let (_, out) = round_trip(&data, DType::F32, &shape, &opts(padic(b), 1000));
        check_bound(DType::F32, &data, &out, b, 0.0);
        let (_, out) = round_trip(&d64, DType::F64, &shape, &opts(padic(b), 1000));
        check_bound(DType::F64, &d64, &out, b, 0.0);
    }
}

#[test]
fn padic_bounds_hold_for_every_element_of_real_weights() {
    let t = common::big_f32();
    let mut last_ratio = f64::INFINITY;
    for eps in [1e-2, 1e-3, 1e-4, 1e-5] {
        let b = ErrorBound::Abs(eps);
        let (c, out) = round_trip(&t.bytes, DType::F32, &t.shape, &opts(padic(b), 1 << 18));
        let max = check_bound(DType::F32, &t.bytes, &out, b, 0.0);
        assert!(max > eps * 0.5, "bound not used: {max}");
        let ratio = t.bytes.len() as f64 / c.len() as f64;
        assert!(ratio < last_ratio && ratio > 1.5, "ratio {ratio} at {eps}");
        last_ratio = ratio;
    }
    for d in [DType::BF16, DType::F16, DType::F64] {
        let data = convert(&t.bytes, d);
        for b in [ErrorBound::Abs(1e-3), ErrorBound::Rel(1e-2)] {
            let (_, out) = round_trip(&data, d, &t.shape, &opts(padic(b), 50_000));
            check_bound(d, &data, &out, b, 0.0);
        }
    }
}

#[test]
fn padic_primes_precision_and_exceptions() {
    let t = common::big_f32();
    let data = &t.bytes[..4 * 60_000];
    let shape = [60_000u64];
    for prime in [2u32, 3, 7, 251, 257, 4099, 65521] {
        for precision in [None, Some(1)] {
            let b = ErrorBound::Abs(1e-4);
            let o = opts(
                CodecParams::Padic(PadicParams {
                    prime,
                    precision,
                    bound: b,
                }),
                8192,
            );
            let (c, out) = round_trip(data, DType::F32, &shape, &o);
            check_bound(DType::F32, data, &out, b, 0.0);
            let info = codec::inspect(&c).unwrap();
            assert_eq!(info.prime, prime);
            if let Some(p) = precision {
                assert_eq!(info.precision, p); // values beyond p^1 became exceptions, still exact
            }
        }
    }
}

#[test]
fn progressive_decoding_meets_stated_bounds() {
    let t = common::big_f32();
    for (prime, eps) in [(251u32, 1e-5), (3, 1e-3), (2, 1e-3)] {
        let b = ErrorBound::Abs(eps);
        let o = opts(
            CodecParams::Padic(PadicParams {
                prime,
                precision: None,
                bound: b,
            }),
            1 << 16,
        );
        let c = codec::compress(&t.bytes, DType::F32, &t.shape, &o)
            .unwrap()
            .bytes;
        let n = codec::inspect(&c).unwrap().precision;
        assert!(n >= 2);
        let mut prev = f64::INFINITY;
        for k in 1..=n {
            let mut out = vec![0u8; t.bytes.len()];
            let stated = codec::decompress_progressive(&c, DType::F32, &mut out, k).unwrap();
            let got = check_bound(DType::F32, &t.bytes, &out, ErrorBound::Abs(stated), 0.0);
            assert!(stated <= prev && got <= stated);
            prev = stated;
        }
        assert_eq!(prev, eps);
    }
    // Relative mode.
    let b = ErrorBound::Rel(1e-3);
    let o = opts(
        CodecParams::Padic(PadicParams {
            prime: 3,
            precision: None,
            bound: b,
        }),
        1 << 16,
    );
    let c = codec::compress(&t.bytes, DType::F32, &t.shape, &o)
        .unwrap()
        .bytes;
    let n = codec::inspect(&c).unwrap().precision;
    for k in 1..=n {
        let mut out = vec![0u8; t.bytes.len()];
        let stated = codec::decompress_progressive(&c, DType::F32, &mut out, k).unwrap();
        check_bound(DType::F32, &t.bytes, &out, ErrorBound::Rel(stated), 0.0);
    }
    let mut out = vec![0u8; t.bytes.len()];
    assert!(codec::decompress_progressive(&c, DType::F32, &mut out, 0).is_err());
}

#[test]
fn edge_shapes() {
    for codec in [
        CodecParams::Raw,
        CodecParams::Lossless,
        padic(ErrorBound::Abs(0.1)),
    ] {
        // 0-d scalar
        let one = 3.25f32.to_le_bytes();
        let (_, out) = round_trip(&one, DType::F32, &[], &opts(codec, 1 << 18));
        assert_eq!(out, one);
        // zero-length, with a zero dimension
        let (c, out) = round_trip(&[], DType::F32, &[3, 0, 5], &opts(codec, 1 << 18));
        assert!(out.is_empty());
        assert_eq!(codec::inspect(&c).unwrap().numel, 0);
        // 8 dims, 1-element chunks, sizes not a multiple of the chunk
        let data: Vec<u8> = (0..2 * 3 * 5 * 7)
            .flat_map(|i| (i as f32 * 0.37).to_le_bytes())
            .collect();
        let shape = [1, 2, 1, 3, 1, 5, 1, 7];
        for chunk in [1, 7, 64, 209] {
            let (_, out) = round_trip(&data, DType::F32, &shape, &opts(codec, chunk));
            if codec == CodecParams::Lossless || codec == CodecParams::Raw {
                assert_eq!(out, data);
            } else {
                check_bound(DType::F32, &data, &out, ErrorBound::Abs(0.1), 0.0);
            }
        }
    }
    let o = CompressOptions::default();
    assert!(matches!(
        codec::compress(&[0; 4], DType::F32, &[1; 9], &o),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        codec::compress(&[0; 4], DType::F32, &[u64::MAX, 2], &o),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        codec::compress(&[0; 8], DType::F32, &[3], &o),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        codec::compress(&[0; 4], DType::F32, &[1], &opts(CodecParams::Lossless, 0)),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn bad_parameters_are_rejected() {
    let data = 1.0f32.to_le_bytes();
    for (prime, bound, precision) in [
        (250, ErrorBound::Abs(1e-3), None),
        (1, ErrorBound::Abs(1e-3), None),
        (65537, ErrorBound::Abs(1e-3), None),
        (251, ErrorBound::Abs(0.0), None),
        (251, ErrorBound::Abs(-1.0), None),
        (251, ErrorBound::Abs(f64::NAN), None),
        (251, ErrorBound::Abs(f64::INFINITY), None),
        (251, ErrorBound::Rel(1.0), None),
        (251, ErrorBound::Abs(1e-3), Some(0)),
        (251, ErrorBound::Abs(1e-3), Some(9)),
    ] {
        let o = opts(
            CodecParams::Padic(PadicParams {
                prime,
                precision,
                bound,
            }),
            1024,
        );
        assert!(
            matches!(
                codec::compress(&data, DType::F32, &[1], &o),
                Err(Error::InvalidArgument(_))
            ),
            "{prime} {bound:?} {precision:?}"
        );
    }
}

fn containers() -> Vec<(DType, Vec<u8>)> {
    let t = common::big_f32();
    let data = &t.bytes[..4 * 3000];
    let mut v = Vec::new();
    for codec in [
        CodecParams::Lossless,
        padic(ErrorBound::Abs(1e-3)),
        CodecParams::Raw,
    ] {
        v.push((
            DType::F32,
            codec::compress(data, DType::F32, &[3000], &opts(codec, 1024))
                .unwrap()
                .bytes,
        ));
    }
    let ids: Vec<u8> = (0..512i64).flat_map(|i| i.to_le_bytes()).collect();
    v.push((
        DType::I64,
        codec::compress(
            &ids,
            DType::I64,
            &[1, 512],
            &opts(CodecParams::Lossless, 200),
        )
        .unwrap()
        .bytes,
    ));
    v
}

#[test]
fn every_single_byte_flip_is_detected() {
    for (dtype, c) in containers() {
        let n = codec::inspect(&c).unwrap().numel as usize;
        let mut out = vec![0u8; n * dtype.size()];
        for i in 0..c.len() {
            let mut bad = c.clone();
            bad[i] ^= 1 << (i % 8);
            assert!(
                codec::decompress_into(&bad, dtype, &mut out).is_err(),
                "flip at byte {i} of {} went unnoticed",
                c.len()
            );
        }
    }
}

#[test]
fn every_truncation_and_foreign_input_is_rejected() {
    for (dtype, c) in containers() {
        let n = codec::inspect(&c).unwrap().numel as usize;
        let mut out = vec![0u8; n * dtype.size()];
        for cut in 0..c.len() {
            assert!(codec::decompress_into(&c[..cut], dtype, &mut out).is_err());
        }
        let mut newer = c.clone();
        newer[4] = 2;
        assert!(matches!(
            codec::decompress_into(&newer, dtype, &mut out),
            Err(Error::UnsupportedVersion { major: 2, .. })
        ));
        let mut longer = c.clone();
        longer.push(0);
        assert!(codec::decompress_into(&longer, dtype, &mut out).is_err());
        // wrong destination size or dtype
        assert!(matches!(
            codec::decompress_into(&c, dtype, &mut out[1..]),
            Err(Error::Destination(_))
        ));
        let other = if dtype == DType::F32 {
            DType::I32
        } else {
            DType::F64
        };
        assert!(matches!(
            codec::decompress_into(&c, other, &mut out),
            Err(Error::Destination(_))
        ));
    }
    let mut out = [0u8; 4];
    assert!(matches!(
        codec::decompress_into(b"PK\x03\x04 not ours", DType::F32, &mut out),
        Err(Error::BadMagic(_))
    ));
    assert!(matches!(
        codec::decompress_into(&[], DType::F32, &mut out),
        Err(Error::BadMagic(_))
    ));
}

#[test]
fn chunk_checksum_error_names_the_chunk() {
    let (dtype, c) = containers().remove(0);
    let info = codec::inspect(&c).unwrap();
    let mut bad = c.clone();
    let last = bad.len() - 3;
    bad[last] ^= 0xff;
    let mut out = vec![0u8; info.original_bytes as usize];
    match codec::decompress_into(&bad, dtype, &mut out) {
        Err(Error::Checksum(m)) => {
            assert!(m.contains(&format!("chunk {}", info.chunks - 1)), "{m}")
        }
        r => panic!("expected checksum error, got {r:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn prop_lossless_any_bits(v in proptest::collection::vec(any::<u32>(), 0..3000), chunk in 1u32..5000) {
        let data: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let (_, out) = round_trip(&data, DType::F32, &[v.len() as u64], &opts(CodecParams::Lossless, chunk));
        prop_assert_eq!(out, data);
    }

    #[test]
    fn prop_padic_bound(v in proptest::collection::vec(-1e3f32..1e3, 1..2000), eps in 1e-4f64..1.0, rel in any::<bool>()) {
        let data: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        let b = if rel { ErrorBound::Rel(eps.min(0.5)) } else { ErrorBound::Abs(eps) };
        let (_, out) = round_trip(&data, DType::F32, &[v.len() as u64], &opts(padic(b), 777));
        check_bound(DType::F32, &data, &out, b, 0.0);
    }
}

/// `header_bytes_needed` finds the exact header length of real containers of every codec from
/// any prefix in at most four rounds (as a reader of a file would use it), and the header
/// parses from exactly that prefix (`inspect_prefix` equals `inspect` of the whole container)
/// but not from one byte less; bytes that are not a container are refused.
#[test]
fn header_is_read_from_a_prefix_of_its_exact_length() {
    use saraphis::format::container::{header_bytes_needed, Header, HEADER_PREFIX_BYTES};
    let t = &common::load("minilm-subset-f32.safetensors")[0];
    let n = t.bytes.len() / 4;
    let codecs = [
        CodecParams::Raw,
        CodecParams::Lossless,
        CodecParams::LosslessV2,
        padic(ErrorBound::Abs(1e-3)),
    ];
    for dtype in [DType::F32, DType::BF16] {
        let data = convert(&t.bytes, dtype);
        for codec in codecs {
            for chunk in [64u32, 1 << 18] {
                let what = format!("{dtype:?} {codec:?} chunk {chunk}");
                let c = codec::compress(&data, dtype, &[n as u64], &opts(codec, chunk))
                    .unwrap()
                    .bytes;
                let header_len = Header::parse(&c).unwrap().header_len;
                // A reader's rounds: start from nothing, read what is asked for.
                let mut have = 0usize;
                let mut rounds = 0;
                loop {
                    let need = header_bytes_needed(&c[..have]).unwrap();
                    if need <= have {
                        break;
                    }
                    have = need.min(c.len());
                    rounds += 1;
                    assert!(rounds <= 4, "{what}: too many rounds");
                }
                assert_eq!(
                    header_bytes_needed(&c[..have]).unwrap(),
                    header_len,
                    "{what}"
                );
                let from_max = header_bytes_needed(&c[..HEADER_PREFIX_BYTES.min(c.len())]);
                assert_eq!(from_max.unwrap(), header_len, "{what}: from 8 KiB");
                let whole = codec::inspect(&c).unwrap();
                let prefix = codec::inspect_prefix(&c[..header_len]).unwrap();
                assert_eq!(format!("{whole:?}"), format!("{prefix:?}"), "{what}");
                assert!(
                    matches!(
                        codec::inspect_prefix(&c[..header_len - 1]),
                        Err(Error::Truncated(_))
                    ),
                    "{what}: one byte short"
                );
                // The whole-container reader still wants the payload.
                if c.len() > header_len {
                    assert!(codec::inspect(&c[..header_len]).is_err(), "{what}");
                }
            }
        }
    }
    assert!(matches!(
        header_bytes_needed(b"PK\x03\x04 not a container"),
        Err(Error::BadMagic(_))
    ));
    assert_eq!(header_bytes_needed(b"SP").unwrap(), 24);
}
