//! The quantization codec on real MiniLM weights: fixed-rate errors measured and stored, bounds
//! held element by element, the CPU decoder against an independent dequantization, damaged
//! containers rejected.

mod common;

use saraphis::codec::quant::{Grouping, QuantParams};
use saraphis::codec::{self, CodecParams, CompressOptions};
use saraphis::format::container::CodecId;
use saraphis::{DType, Error};

fn opts(q: QuantParams, chunk: u32) -> CompressOptions {
    CompressOptions {
        codec: CodecParams::Quant(q),
        chunk_elems: chunk,
        lanes: 0,
    }
}

use common::{convert, value as load};

fn max_err(dtype: DType, a: &[u8], b: &[u8]) -> f64 {
    (0..a.len() / dtype.size())
        .map(|i| (load(dtype, a, i) - load(dtype, b, i)).abs())
        .fold(0.0, f64::max)
}

/// Compress, check the bound query, decode into a poisoned buffer; returns container and output.
fn round_trip(
    data: &[u8],
    dtype: DType,
    shape: &[u64],
    o: &CompressOptions,
) -> (Vec<u8>, Vec<u8>, f64) {
    let input = data.to_vec();
    let c = codec::compress(data, dtype, shape, o).unwrap();
    assert_eq!(data, &input[..], "input modified");
    assert_eq!(c.codec, CodecId::Quant);
    assert!(c.bytes.len() <= codec::compress_bound(dtype, shape, o).unwrap());
    let mut out = vec![0xA5u8; data.len()];
    codec::decompress_into(&c.bytes, dtype, &mut out).unwrap();
    (c.bytes, out, c.max_abs_error)
}

/// Independent dequantization of one group, as the module documentation states it.
fn reference(xs: &[f64], bits: u32, sd: DType, zero_point: bool, out: DType) -> Vec<f64> {
    let to_sd = |v: f64| match sd {
        DType::F16 => half::f16::from_f64(v).to_f64(),
        DType::BF16 => half::bf16::from_f64(v).to_f64(),
        _ => v as f32 as f64,
    };
    let lo = xs.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let round_out = |v: f32| match out {
        DType::F16 => half::f16::from_f32(v).to_f64(),
        DType::BF16 => half::bf16::from_f32(v).to_f64(),
        _ => v as f64,
    };
    if zero_point {
        let m = to_sd(lo);
        let d = to_sd((hi - m) / ((1u64 << bits) - 1) as f64);
        xs.iter()
            .map(|&x| {
                let c = if d == 0.0 {
                    0.0
                } else {
                    ((x - m) / d)
                        .round()
                        .clamp(0.0, ((1u64 << bits) - 1) as f64)
                };
                round_out(c as f32 * d as f32 + m as f32)
            })
            .collect()
    } else {
        let qmax = ((1u64 << (bits - 1)) - 1) as f64;
        let d = to_sd(lo.abs().max(hi.abs()) / qmax);
        xs.iter()
            .map(|&x| {
                let q = if d == 0.0 {
                    0.0
                } else {
                    (x / d).round().clamp(-qmax, qmax)
                };
                round_out(q as f32 * d as f32)
            })
            .collect()
    }
}

#[test]
fn fixed_rate_blocks_equal_an_independent_dequantization_on_real_weights() {
    let ts = common::load("minilm-subset-f32.safetensors");
    for t in ts
        .iter()
        .filter(|t| t.shape.len() == 2 && t.dtype == DType::F32)
        .take(3)
    {
        let row = *t.shape.last().unwrap() as usize;
        for dtype in [DType::F32, DType::BF16, DType::F16] {
            let data = convert(&t.bytes, dtype);
            for (bits, block, sd, zp) in [
                (8, 32, DType::F16, false),
                (4, 32, DType::F16, true),
                (3, 64, DType::BF16, false),
                (6, 128, DType::F32, true),
            ] {
                let q = QuantParams {
                    grouping: Grouping::Block(block),
                    bits,
                    scale_dtype: sd,
                    zero_point: zp,
                    bound: None,
                };
                // A chunk length that cuts blocks, and the default.
                for chunk in [1000, 1 << 16] {
                    let (c, out, err) = round_trip(&data, dtype, &t.shape, &opts(q, chunk));
                    let n = data.len() / dtype.size();
                    let mut want = Vec::with_capacity(n);
                    for r in 0..n / row {
                        for b in (0..row).step_by(block as usize) {
                            let e = (b + block as usize).min(row);
                            let xs: Vec<f64> = (r * row + b..r * row + e)
                                .map(|i| load(dtype, &data, i))
                                .collect();
                            want.extend(reference(&xs, bits, sd, zp, dtype));
                        }
                    }
                    for (i, w) in want.iter().enumerate() {
                        assert_eq!(
                            load(dtype, &out, i),
                            *w,
                            "{} {dtype:?} {q:?} element {i}",
                            t.name
                        );
                    }
                    let measured = max_err(dtype, &data, &out);
                    assert_eq!(err, measured);
                    let info = codec::inspect(&c).unwrap();
                    assert_eq!(info.max_abs_error, Some(measured));
                    assert_eq!(info.quant, Some(q));
                }
            }
        }
    }
}

#[test]
fn q8_0_layout_costs_8_5_bits_per_weight() {
    let t = common::big_f32();
    let data = convert(&t.bytes, DType::F16);
    let (c, _, _) = round_trip(
        &data,
        DType::F16,
        &t.shape,
        &opts(QuantParams::default(), 1 << 16),
    );
    let n = (data.len() / 2) as f64;
    let bpw = 8.0 * c.len() as f64 / n;
    assert!((8.5..8.52).contains(&bpw), "{bpw} bits per weight");
}

#[test]
fn per_channel_and_global_round_trip_on_any_axis() {
    let ts = common::load("minilm-subset-f32.safetensors");
    let t = ts
        .iter()
        .find(|t| t.shape.len() == 2 && t.dtype == DType::F32)
        .unwrap();
    let (rows, cols) = (t.shape[0] as usize, t.shape[1] as usize);
    for (grouping, group_of) in [
        (
            Grouping::Channel(0),
            Box::new(move |i: usize| i / cols) as Box<dyn Fn(usize) -> usize>,
        ),
        (Grouping::Channel(1), Box::new(move |i: usize| i % cols)),
        (Grouping::Global, Box::new(|_| 0)),
    ] {
        let q = QuantParams {
            grouping,
            bits: 8,
            scale_dtype: DType::F32,
            zero_point: true,
            bound: None,
        };
        for chunk in [777, 1 << 16] {
            let (_, out, err) = round_trip(&t.bytes, DType::F32, &t.shape, &opts(q, chunk));
            // Each group's error is at most half its step (plus f32 rounding).
            let groups = match grouping {
                Grouping::Channel(0) => rows,
                Grouping::Channel(_) => cols,
                _ => 1,
            };
            let mut lo = vec![f64::INFINITY; groups];
            let mut hi = vec![f64::NEG_INFINITY; groups];
            for i in 0..rows * cols {
                let x = load(DType::F32, &t.bytes, i);
                lo[group_of(i)] = lo[group_of(i)].min(x);
                hi[group_of(i)] = hi[group_of(i)].max(x);
            }
            for i in 0..rows * cols {
                let g = group_of(i);
                let step = (hi[g] - lo[g]) / 255.0;
                let e = (load(DType::F32, &t.bytes, i) - load(DType::F32, &out, i)).abs();
                assert!(
                    e <= 0.5 * step * 1.001 + 1e-6,
                    "{grouping:?} element {i}: {e} > step {step} / 2"
                );
            }
            assert_eq!(err, max_err(DType::F32, &t.bytes, &out));
        }
    }
    let bad = QuantParams {
        grouping: Grouping::Channel(2),
        ..Default::default()
    };
    assert!(matches!(
        codec::compress(&t.bytes, DType::F32, &t.shape, &opts(bad, 1 << 16)),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn error_bound_holds_for_every_element_and_special_values_survive() {
    let ts = common::load("minilm-subset-f32.safetensors");
    for t in ts.iter().filter(|t| t.dtype == DType::F32).take(6) {
        for dtype in [DType::F32, DType::BF16, DType::F64] {
            let mut data = convert(&t.bytes, dtype);
            let s = dtype.size();
            // Special values in the first block: they are stored verbatim.
            if data.len() >= 4 * s {
                let specials: [f64; 3] = [f64::NAN, f64::INFINITY, -0.0];
                for (k, v) in specials.iter().enumerate() {
                    let b = convert(&(*v as f32).to_le_bytes(), dtype);
                    data[k * s..(k + 1) * s].copy_from_slice(&b);
                }
            }
            for eps in [1e-2, 1e-3, 1e-4] {
                let q = QuantParams::bounded(eps);
                let (c, out, err) = round_trip(&data, dtype, &t.shape, &opts(q, 5000));
                let n = data.len() / s;
                for i in 0..n {
                    let (x, y) = (load(dtype, &data, i), load(dtype, &out, i));
                    if !x.is_finite() {
                        assert_eq!(&data[i * s..(i + 1) * s], &out[i * s..(i + 1) * s]);
                    } else {
                        assert!(
                            (x - y).abs() <= eps,
                            "{} {dtype:?} eps {eps} element {i}: {x} vs {y}",
                            t.name
                        );
                    }
                }
                assert!(err <= eps);
                let info = codec::inspect(&c).unwrap();
                assert_eq!(info.bound, Some(codec::ErrorBound::Abs(eps)));
            }
        }
    }
}

#[test]
fn fixed_rate_refuses_non_finite_values_and_bad_parameters() {
    let mut v: Vec<u8> = (0..64)
        .flat_map(|i| (i as f32 * 0.1).to_le_bytes())
        .collect();
    v[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    let e = codec::compress(
        &v,
        DType::F32,
        &[64],
        &opts(QuantParams::default(), 1 << 16),
    );
    assert!(matches!(e, Err(Error::InvalidArgument(m)) if m.contains("finite")));
    for bad in [
        QuantParams {
            bits: 1,
            ..Default::default()
        },
        QuantParams {
            bits: 9,
            ..Default::default()
        },
        QuantParams {
            grouping: Grouping::Block(48),
            ..Default::default()
        },
        QuantParams {
            scale_dtype: DType::F64,
            ..Default::default()
        },
        QuantParams {
            grouping: Grouping::Global,
            ..QuantParams::bounded(1e-3)
        },
        QuantParams::bounded(-1.0),
    ] {
        assert!(
            codec::compress(&v, DType::F32, &[64], &opts(bad, 1 << 16)).is_err(),
            "{bad:?}"
        );
    }
    // A scale F16 cannot hold.
    let big: Vec<u8> = (0..32)
        .flat_map(|i| (i as f32 * 1e7).to_le_bytes())
        .collect();
    assert!(matches!(
        codec::compress(&big, DType::F32, &[32], &opts(QuantParams::default(), 1 << 16)),
        Err(Error::InvalidArgument(m)) if m.contains("F32")
    ));
    // Integers fall back to bit-exact byte planes.
    let ints: Vec<u8> = (0..100i32).flat_map(|i| i.to_le_bytes()).collect();
    let c = codec::compress(
        &ints,
        DType::I32,
        &[100],
        &opts(QuantParams::default(), 1 << 16),
    )
    .unwrap();
    assert_eq!(c.codec, CodecId::Bytes);
}

#[test]
fn every_single_byte_flip_and_truncation_is_rejected() {
    let t = common::big_f32();
    let data = convert(&t.bytes[..4 * 3000], DType::BF16);
    for q in [
        QuantParams::default(),
        QuantParams::bounded(1e-3),
        QuantParams::bounded(1e-7), // verbatim chunks
    ] {
        let c = codec::compress(&data, DType::BF16, &[30, 100], &opts(q, 1024))
            .unwrap()
            .bytes;
        let mut out = vec![0u8; data.len()];
        for i in 0..c.len() {
            let mut bad = c.clone();
            bad[i] ^= 1 << (i % 8);
            assert!(
                codec::decompress_into(&bad, DType::BF16, &mut out).is_err(),
                "{q:?}: flip at byte {i} of {} went unnoticed",
                c.len()
            );
        }
        for cut in 0..c.len() {
            assert!(codec::decompress_into(&c[..cut], DType::BF16, &mut out).is_err());
        }
        // Structural checks hold without the checksum too.
        let mut odd = c.clone();
        let h = saraphis::format::container::Header::parse(&c).unwrap();
        odd[h.header_len + 4] ^= 1; // group count of chunk 0 (a zero field when verbatim)
        assert!(codec::decompress_unverified(&odd, DType::BF16, &mut out).is_err());
        let mut reserved = c.clone();
        reserved[h.header_len + 1] ^= 1; // a zero byte of chunk 0's prologue
        assert!(codec::decompress_unverified(&reserved, DType::BF16, &mut out).is_err());
    }
}

/// Where coding would be larger than the elements (a bound tighter than the dtype's spacing),
/// chunks are stored verbatim: exact, and never more than 16 bytes per chunk (plus padding to 16)
/// over the original.
#[test]
fn tight_bounds_store_verbatim_chunks_never_larger_than_the_data() {
    for t in common::load("minilm-subset-f32.safetensors") {
        if t.dtype != DType::F32 {
            continue;
        }
        for (dtype, eps) in [(DType::F32, 1e-9), (DType::BF16, 1e-6), (DType::F32, 1e-4)] {
            let data = convert(&t.bytes, dtype);
            let (c, out, err) = round_trip(
                &data,
                dtype,
                &t.shape,
                &opts(QuantParams::bounded(eps), 5000),
            );
            let n = data.len() / dtype.size();
            for i in 0..n {
                assert!((load(dtype, &data, i) - load(dtype, &out, i)).abs() <= eps);
            }
            assert!(err <= eps);
            let chunks = n.div_ceil(5000);
            let info = codec::inspect(&c).unwrap();
            let payload = c.len() - saraphis::format::container::header_bytes_needed(&c).unwrap();
            assert!(
                payload <= data.len() + 31 * chunks,
                "{} {dtype:?} eps {eps}: {payload} payload bytes for {} bytes of data",
                t.name,
                data.len()
            );
            if eps < 1e-8 {
                assert!(out == data, "verbatim chunks are exact");
                assert_eq!(info.max_abs_error, Some(0.0));
            }
        }
    }
}

/// Damage that the checksum would catch, with the checksum off: random byte changes anywhere in
/// quant containers of every mode decode to an error or to some values, never a panic (what
/// the `container_decode` fuzz target asks of every codec, here aimed at this one).
#[test]
fn random_damage_without_checksums_never_panics() {
    let t = common::big_f32();
    let data = convert(&t.bytes[..4 * 6000], DType::F32);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for q in [
        QuantParams::default(),
        QuantParams {
            bits: 3,
            zero_point: true,
            grouping: Grouping::Channel(0),
            ..QuantParams::default()
        },
        QuantParams {
            grouping: Grouping::Global,
            ..QuantParams::default()
        },
        QuantParams::bounded(1e-3),
        QuantParams::bounded(1e-9),
    ] {
        let c = codec::compress(&data, DType::F32, &[60, 100], &opts(q, 1000))
            .unwrap()
            .bytes;
        let mut out = vec![0u8; data.len()];
        for _ in 0..3000 {
            let mut bad = c.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % bad.len() as u64) as usize;
                bad[at] = next() as u8;
            }
            let _ = codec::decompress_unverified(&bad, DType::F32, &mut out);
        }
    }
}
