//! Helpers shared by the integration tests: the real-weight fixtures in tests/data/.
#![allow(dead_code)]

use std::path::PathBuf;

use saraphis::DType;

/// Path of a fixture under tests/data/.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A tensor read from a safetensors fixture.
pub struct Tensor {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub bytes: Vec<u8>,
}

/// All tensors of a fixture, in file order.
pub fn load(name: &str) -> Vec<Tensor> {
    let buf = std::fs::read(data(name)).expect("fixture exists: run scripts/make-test-data.py");
    let st = safetensors::SafeTensors::deserialize(&buf).unwrap();
    let mut out: Vec<Tensor> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| Tensor {
            name: n,
            dtype: DType::from_safetensors_name(&format!("{:?}", v.dtype())).unwrap(),
            shape: v.shape().iter().map(|&d| d as u64).collect(),
            bytes: v.data().to_vec(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The largest F32 tensor of the F32 fixture (real weights).
pub fn big_f32() -> Tensor {
    load("minilm-subset-f32.safetensors")
        .into_iter()
        .filter(|t| t.dtype == DType::F32)
        .max_by_key(|t| t.bytes.len())
        .unwrap()
}

/// The `.sph` archive of the MiniLM subset fixture (real weights) with `codec`, written in
/// memory by a CPU system, and the fixture's bytes.
pub fn subset_archive(codec: saraphis::CodecParams) -> (Vec<u8>, Vec<u8>) {
    use saraphis::system::{Config, Device, System};
    let src = std::fs::read(data("minilm-subset-f32.safetensors")).unwrap();
    let sys = System::new(Config {
        device: Device::Cpu,
        ..Config::default()
    })
    .unwrap();
    let (cur, _, _) = sys
        .compress_safetensors(&src, std::io::Cursor::new(Vec::new()), codec, &|_, _, _| {})
        .unwrap();
    (cur.into_inner(), src)
}

/// `f32s` (little-endian F32 bytes) as `to`: F16 and BF16 rounded to nearest even (the `half`
/// crate), F64 exactly; any other dtype gets the F32 bytes back.
pub fn convert(f32s: &[u8], to: DType) -> Vec<u8> {
    f32s.chunks_exact(4)
        .flat_map(|c| {
            let v = f32::from_le_bytes(c.try_into().unwrap());
            match to {
                DType::F16 => half::f16::from_f32(v).to_le_bytes().to_vec(),
                DType::BF16 => half::bf16::from_f32(v).to_le_bytes().to_vec(),
                DType::F64 => (v as f64).to_le_bytes().to_vec(),
                _ => c.to_vec(),
            }
        })
        .collect()
}

/// Element `i` of a float tensor's little-endian bytes, as f64 (exact).
pub fn value(dtype: DType, bytes: &[u8], i: usize) -> f64 {
    match dtype {
        DType::F32 => f32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap()) as f64,
        DType::F64 => f64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap()),
        DType::F16 => half::f16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]).to_f64(),
        DType::BF16 => half::bf16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]).to_f64(),
        _ => panic!("not a float dtype: {dtype:?}"),
    }
}

/// 2:4 magnitude pruning (as NVIDIA's ASP and SparseGPT's 2:4 mode): in every group of four
/// consecutive F32 elements along the last axis (`row` elements per row; a row's last group may
/// be shorter and is left as it is), the two of smallest magnitude become +0.0.
pub fn prune_2_4(f32s: &[u8], row: usize) -> Vec<u8> {
    let mut v: Vec<f32> = f32s
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    for r in v.chunks_mut(row.max(1)) {
        for g in r.chunks_exact_mut(4) {
            let mut idx = [0usize, 1, 2, 3];
            idx.sort_by(|&a, &b| g[a].abs().total_cmp(&g[b].abs()));
            g[idx[0]] = 0.0;
            g[idx[1]] = 0.0;
        }
    }
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Unstructured magnitude pruning: the `fraction` of F32 elements of smallest magnitude
/// become +0.0 (ties at the threshold pruned too).
pub fn prune_magnitude(f32s: &[u8], fraction: f64) -> Vec<u8> {
    let v: Vec<f32> = f32s
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let mut mags: Vec<f32> = v.iter().map(|x| x.abs()).collect();
    mags.sort_by(f32::total_cmp);
    let k = ((v.len() as f64 * fraction) as usize).min(v.len());
    if k == 0 {
        return f32s.to_vec();
    }
    let t = mags[k - 1];
    v.iter()
        .map(|&x| if x.abs() <= t { 0.0 } else { x })
        .flat_map(|x| x.to_le_bytes())
        .collect()
}

/// Real F32 weights whose elements in every other run of `period` elements get a pseudo-random
/// exponent and a zero mantissa (sign kept): a tensor whose exponent plane a shared table codes
/// well in half of its segments (those of `period` elements aligned with the runs) and not at
/// all in the others, where layout v2 stores that plane raw (the segment's raw mask) while the
/// near-constant mantissa bytes stay coded.
pub fn mixed_exponents(f32s: &[u8], period: usize) -> Vec<u8> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    f32s.chunks_exact(4)
        .enumerate()
        .flat_map(|(i, c)| {
            let mut v = u32::from_le_bytes(c.try_into().unwrap());
            if (i / period.max(1)) % 2 == 1 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v = (v & 0x8000_0000) | ((x as u32 & 0xff) << 23);
            }
            v.to_le_bytes()
        })
        .collect()
}

/// F32 weights `f32s` (little-endian) with run `k` of `period` elements scaled exactly by
/// `2^(3k mod 11 - 5)` (exponent shifted; zeros, subnormal results and overflows left as they
/// come from the multiplication): runs whose exponent histograms differ from the tensor's, as
/// rows of an embedding differ with token frequency.
pub fn scaled_runs(f32s: &[u8], period: usize) -> Vec<u8> {
    f32s.chunks_exact(4)
        .enumerate()
        .flat_map(|(i, c)| {
            let k = (i / period.max(1)) as i32;
            let v = f32::from_le_bytes(c.try_into().unwrap());
            (v * 2f32.powi((3 * k) % 11 - 5)).to_le_bytes()
        })
        .collect()
}

/// Names and bytes of the tensors of tests/data/lossless-v2-mode1.sph (written from these
/// slices by scripts/make-legacy-v2-fixture.sh): the first 24 rows of layer 0's query weight as
/// F32, BF16 and F16 (rounded to nearest even), and layer 0's query bias as F32.
pub fn legacy_v2_sources() -> (Vec<String>, Vec<Vec<u8>>) {
    let t = load("minilm-subset-f32.safetensors");
    let get = |n: &str| &t.iter().find(|t| t.name == n).unwrap().bytes;
    let w = &get("encoder.layer.0.attention.self.query.weight")[..4 * 24 * 384];
    let b = get("encoder.layer.0.attention.self.query.bias");
    (
        ["bf16", "bias_f32", "f16", "f32"]
            .map(String::from)
            .to_vec(),
        vec![
            convert(w, DType::BF16),
            b.clone(),
            convert(w, DType::F16),
            w.to_vec(),
        ],
    )
}

/// Modes of a lossless-v2 container's segments (the first byte of each: 0 raw, 1-3 coded).
pub fn segment_modes(c: &[u8]) -> Vec<u8> {
    let h = saraphis::format::container::Header::parse(c).unwrap();
    h.chunks
        .iter()
        .map(|k| c[h.header_len + k.offset as usize])
        .collect()
}
