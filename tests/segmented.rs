//! Stream layout v2 of the lossless float codec (`lossless-v2`) on real MiniLM weights: bit-exact
//! round trips for F32, BF16 and F16, special values, every segment length edge, ratios no
//! worse than layout v1, and damaged containers refused (every single-byte flip, truncation).

mod common;

use saraphis::codec::{self, CompressOptions, StreamLayout};
use saraphis::format::container::{CodecId, Header};
use saraphis::{CodecParams, DType};

fn opts(chunk: u32) -> CompressOptions {
    CompressOptions {
        codec: CodecParams::Lossless,
        chunk_elems: chunk,
        lanes: 0,
    }
}

fn v2(data: &[u8], dtype: DType, shape: &[u64], chunk: u32) -> Vec<u8> {
    let c = codec::compress_with_layout(data, dtype, shape, &opts(chunk), StreamLayout::Segments)
        .unwrap();
    assert_eq!(c.codec, CodecId::LosslessV2);
    c.bytes
}

fn round_trip(data: &[u8], dtype: DType, shape: &[u64], chunk: u32) -> Vec<u8> {
    let c = v2(data, dtype, shape, chunk);
    let h = Header::parse(&c).unwrap();
    assert_eq!(h.header_len % 16, 0, "header is 16-byte aligned");
    assert!(h
        .chunks
        .iter()
        .all(|k| k.len % 16 == 0 && k.offset % 16 == 0));
    let mut out = vec![0xA5u8; data.len()];
    codec::decompress_into(&c, dtype, &mut out).unwrap();
    assert!(
        out == data,
        "{dtype:?} {shape:?} chunk {chunk}: not bit-exact"
    );
    c
}

/// Real weights converted to `dtype` (round to nearest even), as little-endian bytes.
fn as_dtype(f32_bytes: &[u8], dtype: DType) -> Vec<u8> {
    let vals = f32_bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()));
    match dtype {
        DType::F32 => f32_bytes.to_vec(),
        DType::BF16 => vals
            .flat_map(|v| half::bf16::from_f32(v).to_le_bytes())
            .collect(),
        DType::F16 => vals
            .flat_map(|v| half::f16::from_f32(v).to_le_bytes())
            .collect(),
        _ => unreachable!(),
    }
}

#[test]
fn real_weights_round_trip_bit_exact_for_every_float_dtype_and_segment_size() {
    let tensors = common::load("minilm-subset-f32.safetensors");
    for t in tensors.iter().filter(|t| t.dtype == DType::F32) {
        for dtype in [DType::F32, DType::BF16, DType::F16] {
            let data = as_dtype(&t.bytes, dtype);
            for chunk in [1 << 16, 1000, 33] {
                if chunk < 1000 && data.len() > 1 << 16 {
                    continue; // tiny segments on the big tensors: covered by the slices below
                }
                round_trip(&data, dtype, &t.shape, chunk);
            }
        }
    }
    // Segment lengths around the 32 lanes, on real values.
    let big = common::big_f32();
    for n in [0usize, 1, 2, 31, 32, 33, 63, 64, 65, 1023, 4097] {
        let data = &big.bytes[..4 * n];
        round_trip(data, DType::F32, &[n as u64], 1 << 16);
        round_trip(data, DType::F32, &[n as u64], 32);
        round_trip(&as_dtype(data, DType::BF16), DType::BF16, &[n as u64], 7);
    }
    // More segments than the planner keeps histograms for (8192): 393,216 elements in
    // segments of 40, histograms of groups of two segments.
    let n = (big.bytes.len() / 4) as u64;
    // (So short that most segments fall back to raw: 32 states cost 128 bytes.)
    round_trip(&big.bytes, DType::F32, &[n], 40);
}

#[test]
fn special_values_round_trip_bit_exact() {
    let mut vals: Vec<u32> = vec![
        0,
        0x8000_0000,
        0x7f80_0000,
        0xff80_0000,
        0x7fc0_0001,
        0xffff_ffff,
        1,
        0x8000_0001,
        0x007f_ffff,
        0x7f7f_ffff,
    ];
    let big = common::big_f32();
    vals.extend(
        big.bytes
            .chunks_exact(4)
            .take(5000)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap())),
    );
    let data: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
    round_trip(&data, DType::F32, &[vals.len() as u64], 1 << 16);
    let b: Vec<u8> = vals
        .iter()
        .flat_map(|v| ((v >> 16) as u16).to_le_bytes())
        .collect();
    round_trip(&b, DType::BF16, &[vals.len() as u64], 512);
    // Incompressible bytes fall back to raw segments and still round trip.
    let mut x = 0x9e37_79b9u32;
    let noise: Vec<u8> = (0..40_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    round_trip(&noise, DType::F32, &[10_000], 4096);
}

#[test]
fn ratio_is_no_worse_than_layout_v1_on_real_weights() {
    let tensors = common::load("minilm-subset-f32.safetensors");
    for dtype in [DType::F32, DType::BF16] {
        let (mut orig, mut v1, mut v2b) = (0usize, 0usize, 0usize);
        for t in &tensors {
            let data = if t.dtype == DType::F32 {
                as_dtype(&t.bytes, dtype)
            } else {
                continue;
            };
            let dt = dtype;
            orig += data.len();
            v1 += codec::compress_with_layout(
                &data,
                dt,
                &t.shape,
                &opts(1 << 18),
                StreamLayout::Lanes,
            )
            .unwrap()
            .bytes
            .len();
            v2b += v2(&data, dt, &t.shape, 1 << 16).len();
        }
        let (r1, r2) = (orig as f64 / v1 as f64, orig as f64 / v2b as f64);
        eprintln!("{dtype:?}: ratio v1 {r1:.4}, v2 {r2:.4}");
        assert!(
            r2 >= r1 * 0.999,
            "{dtype:?}: v2 ratio {r2:.4} vs v1 {r1:.4}"
        );
    }
}

/// Every single-byte flip of F32 container `c` (of `len` bytes of elements) and four
/// truncations are refused.
fn assert_flips_and_truncations_refused(c: &[u8], len: usize) {
    let mut out = vec![0u8; len];
    for i in 0..c.len() {
        let mut bad = c.to_vec();
        bad[i] ^= 0x10;
        assert!(
            codec::decompress_into(&bad, DType::F32, &mut out).is_err(),
            "flip of byte {i} of {} accepted",
            c.len()
        );
    }
    for cut in [1, 15, 16, c.len() / 2] {
        assert!(codec::decompress_into(&c[..c.len() - cut], DType::F32, &mut out).is_err());
    }
}

#[test]
fn every_single_byte_flip_and_truncation_is_refused() {
    let big = common::big_f32();
    let data = &big.bytes[..4 * 3000];
    let c = v2(data, DType::F32, &[3000], 1024);
    assert_flips_and_truncations_refused(&c, data.len());
    let mut dst = vec![0u8; data.len() - 4];
    assert!(codec::decompress_into(&c, DType::F32, &mut dst).is_err());
}

/// `CodecParams::LosslessV2` (what `SARAPHIS_CODEC_LOSSLESS_V2` and `saraphis compress
/// --lossless-v2` ask for): layout v2 for F32/F16/BF16, layout v1 for F64, byte planes for
/// integers; every container within `compress_bound`, raw-fallback segments included.
#[test]
fn lossless_v2_codec_choice_bound_and_round_trip() {
    let o = CompressOptions {
        codec: CodecParams::LosslessV2,
        chunk_elems: codec::segmented::DEFAULT_SEGMENT_ELEMS,
        lanes: 0,
    };
    let check = |data: &[u8], dtype: DType, shape: &[u64], want: CodecId| {
        let c = codec::compress(data, dtype, shape, &o).unwrap();
        assert_eq!(c.codec, want, "{dtype:?}");
        let bound = codec::compress_bound(dtype, shape, &o).unwrap();
        assert!(
            c.bytes.len() <= bound,
            "{dtype:?} {shape:?}: {} > bound {bound}",
            c.bytes.len()
        );
        let mut out = vec![0u8; data.len()];
        codec::decompress_into(&c.bytes, dtype, &mut out).unwrap();
        assert!(out == data, "{dtype:?} {shape:?}: not bit-exact");
    };
    let big = common::big_f32();
    for dtype in [DType::F32, DType::BF16, DType::F16] {
        let data = as_dtype(&big.bytes, dtype);
        let n = (data.len() / dtype.size()) as u64;
        check(&data, dtype, &[n], CodecId::LosslessV2);
    }
    // Incompressible bits (every segment falls back to raw) and a tiny tensor: the bound holds.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..4 * 200_003)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    check(&noise, DType::F32, &[200_003], CodecId::LosslessV2);
    check(&noise[..6], DType::BF16, &[3], CodecId::LosslessV2);
    let f64s: Vec<u8> = big.bytes[..4096]
        .chunks_exact(4)
        .flat_map(|c| (f32::from_le_bytes(c.try_into().unwrap()) as f64).to_le_bytes())
        .collect();
    check(&f64s, DType::F64, &[1024], CodecId::Lossless);
    let ints: Vec<u8> = (0..1000i32)
        .flat_map(|i| (i % 17 - 8).to_le_bytes())
        .collect();
    check(&ints, DType::I32, &[1000], CodecId::Bytes);
}

/// Segments whose symbols the tensor's table codes badly (here: random exponents in every
/// other segment) store that plane raw (mode 2, raw mask): smaller than coding them, and still
/// bit-exact, for F32, BF16 and F16; the table is fitted to the segments it codes.
#[test]
fn segments_the_table_does_not_pay_for_store_that_plane_raw() {
    let big = common::big_f32();
    let seg = 4096usize;
    let mixed = common::mixed_exponents(&big.bytes, seg);
    for dtype in [DType::F32, DType::BF16, DType::F16] {
        let data = as_dtype(&mixed, dtype);
        let numel = data.len() / dtype.size();
        let c = round_trip(&data, dtype, &[numel as u64], seg as u32);
        let h = Header::parse(&c).unwrap();
        let modes: Vec<(u8, u8)> = h
            .chunks
            .iter()
            .map(|k| {
                let at = h.header_len + k.offset as usize;
                (c[at], c[at + 1])
            })
            .collect();
        // Real segments code the exponent (with the tensor's table, mode 2, or their own, mode
        // 3); random-exponent ones store it raw and code the rest.
        assert!(
            modes
                .iter()
                .step_by(2)
                .all(|&(m, r)| (m == 2 || m == 3) && r & 1 == 0),
            "{dtype:?}: {modes:?}"
        );
        if dtype != DType::F16 {
            // (F16 rounds a random F32 exponent to infinities, zeros and subnormals: not random.)
            assert!(
                modes
                    .iter()
                    .skip(1)
                    .step_by(2)
                    .all(|&(m, r)| (m == 2 || m == 3) && r & 1 == 1),
                "{dtype:?}: {modes:?}"
            );
        }
        // Smaller than with the exponent plane coded in every segment: the real half alone,
        // compressed on its own, plus the random half raw, is about what it costs.
        let real: Vec<u8> = data
            .chunks(seg * dtype.size())
            .step_by(2)
            .flatten()
            .copied()
            .collect();
        let alone = v2(
            &real,
            dtype,
            &[(real.len() / dtype.size()) as u64],
            seg as u32,
        )
        .len();
        assert!(
            c.len() < alone + (data.len() - real.len()) * 101 / 100 + 4096,
            "{dtype:?}: {} bytes, real half alone {alone}",
            c.len()
        );
    }
}

/// Every single-byte flip and truncation of a container with raw masks is refused (the mask
/// byte and the shorter prologue included).
#[test]
fn every_single_byte_flip_of_a_masked_container_is_refused() {
    let big = common::big_f32();
    let data = common::mixed_exponents(&big.bytes[..4 * 1024], 256);
    let c = v2(&data, DType::F32, &[1024], 256);
    let h = Header::parse(&c).unwrap();
    assert!(h
        .chunks
        .iter()
        .any(|k| c[h.header_len + k.offset as usize + 1] != 0));
    assert_flips_and_truncations_refused(&c, data.len());
}

/// Segments whose exponents follow another distribution than the tensor's (runs of real weights
/// scaled by different powers of two) carry their own exponent table (mode 3): bit-exact for
/// F32, BF16 and F16, and within 1% of coding each run as a tensor of its own.
#[test]
fn segments_unlike_their_tensor_carry_their_own_exponent_table() {
    let big = common::big_f32();
    let seg = 4096usize;
    let scaled = common::scaled_runs(&big.bytes, seg);
    for dtype in [DType::F32, DType::BF16, DType::F16] {
        let data = as_dtype(&scaled, dtype);
        let numel = data.len() / dtype.size();
        let c = round_trip(&data, dtype, &[numel as u64], seg as u32);
        let modes = common::segment_modes(&c);
        let own = modes.iter().filter(|&&m| m == 3).count();
        assert!(
            own * 2 > modes.len(),
            "{dtype:?}: {own} of {} segments with their own table",
            modes.len()
        );
        let alone: usize = data
            .chunks(seg * dtype.size())
            .map(|run| v2(run, dtype, &[(run.len() / dtype.size()) as u64], seg as u32).len())
            .sum();
        assert!(
            c.len() < alone + alone / 100,
            "{dtype:?}: {} bytes, runs coded alone {alone}",
            c.len()
        );
    }
}

/// Every single-byte flip and truncation of a container with own tables (mode 3) is refused:
/// the own-table mask, the table's bytes and its padding included.
#[test]
fn every_single_byte_flip_of_a_container_with_own_tables_is_refused() {
    let big = common::big_f32();
    let data = common::scaled_runs(&big.bytes[..4 * 2048], 512);
    let c = v2(&data, DType::F32, &[2048], 512);
    assert!(
        common::segment_modes(&c).contains(&3),
        "{:?}",
        common::segment_modes(&c)
    );
    assert_flips_and_truncations_refused(&c, data.len());
}

/// Containers of the first version of layout v2 (every segment mode 1: a 32-byte prologue, no
/// raw mask), written by the encoder of 2026-12-03 morning and committed, still decode bit for
/// bit (tests/data/lossless-v2-mode1.sph: F32, BF16 and F16 slices of real weights).
#[test]
fn first_version_containers_still_decode() {
    let (names, originals) = common::legacy_v2_sources();
    let sph = std::fs::read(common::data("lossless-v2-mode1.sph")).unwrap();
    let sys = std::sync::Arc::new(saraphis::system::System::new(Default::default()).unwrap());
    let a = saraphis::system::Archive::from_vec(sys, sph).unwrap();
    for (name, want) in names.iter().zip(&originals) {
        let e = a.entry(a.find(name).unwrap()).unwrap();
        let c = &a.bytes()[e.offset as usize..(e.offset + e.length) as usize];
        let h = Header::parse(c).unwrap();
        assert_eq!(h.codec, CodecId::LosslessV2);
        assert!(h
            .chunks
            .iter()
            .all(|k| c[h.header_len + k.offset as usize] != 2));
        let mut out = vec![0u8; want.len()];
        codec::decompress_into(c, h.dtype, &mut out).unwrap();
        assert!(out == *want, "{name}: not bit-exact");
    }
}
