//! Delta codec (container codec `delta`, docs/FORMAT.md §10): a tensor coded against the tensor
//! of the same name, dtype and shape in a base model (a fine-tune against the model it was
//! tuned from), as one nested container of residuals.
//!
//! **Lossless mode.** Each element's bit pattern is mapped to an integer that orders as the
//! float does (floats: the sign-magnitude pattern folded so that adjacent floats are adjacent
//! integers, `-0.0` next to `+0.0`; integers and bool: the bytes as an unsigned integer), and
//! the residual is the wrapping difference `key(x) - key(base)`, zigzag-mapped so that small
//! steps either way are small unsigned integers: for a float, the distance in ulps. The
//! residuals are an unsigned integer tensor of the element's width (`U8`, `U16`, `U32`, `U64`)
//! coded by the byte-plane rANS codec (`bytes`). A fine-tune that moved a weight by a few
//! hundred ulps leaves two or three zero byte planes, which code to almost nothing.
//!
//! **Bounded modes** (`--abs EPS` or `--rel EPS`, floats). The residual is the value
//! difference `d = x - base` (F32, or F64 for F64 tensors) coded by the p-adic codec, within
//! `EPS` (absolute) or within `EPS · |d|` (relative: at most `EPS · |x|` wherever `|d| <= |x|`,
//! as for a fine-tune's small steps); the decoder reconstructs `base + d'` rounded to the dtype.
//! The encoder reconstructs exactly as the decoder does and checks every element against the
//! bound asked for (`|x' - x| <= EPS`, or `<= EPS · |x|`); where it breaks (the dtype's
//! rounding of the sum, a relative step larger than the value) it codes the residuals again at
//! half the bound (up to four times), then falls back to lossless mode. Non-finite values take
//! lossless mode.
//!
//! **The base.** The parameters hold the XXH3-128 hash of the base tensor's bytes; decoding
//! against a tensor of a different hash is refused (`InvalidArgument`), before anything is
//! decoded. The base's bytes are needed to decode: [`decompress_into`] takes them, and the
//! plain decoders refuse a delta container (`Unsupported`).
//!
//! Sources: the bit-pattern differences of ZipNN's delta compression of fine-tuned models
//! (Hershcovitch et al., "ZipNN: Lossless Compression for AI Models", 2024, §6) and BitX of
//! "Lossless and Near-Lossless Compression for Foundation Models" (same authors, 2024); the
//! order-preserving float-to-integer map is the one of radix sorts of floats (Terdiman,
//! "Radix sort revisited", 2000); zigzag from Protocol Buffers' signed varints.

use rayon::prelude::*;

use super::{CodecParams, CompressOptions, Compressed, ErrorBound, PadicParams};
use crate::dtype::{self, DType};
use crate::error::{corrupt, invalid, Error, Result};
use crate::format::container::{ChunkEntry, CodecId, Header};

/// Bytes of the parameter block.
pub const PARAMS_LEN: usize = 48;
/// Format byte of the parameter block.
const FORMAT: u8 = 1;
/// Chunk-table entry of the nested residual container (the only one).
pub const RESIDUAL_ENTRY: usize = 0;
/// Times the bounded mode halves its bound before it falls back to lossless mode.
const BOUND_RETRIES: usize = 4;

/// How a delta container codes its residuals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaMode {
    /// Zigzag differences of order-preserving integer keys, bit-exact.
    Lossless = 0,
    /// Value differences within an absolute bound (p-adic).
    Abs = 1,
    /// Value differences within a relative bound of the values (p-adic).
    Rel = 2,
}

/// What a delta container's parameter block holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeltaInfo {
    /// Lossless or bounded.
    pub mode: DeltaMode,
    /// Codec of the nested residual container (`bytes`/`raw` lossless, `padic` bounded).
    pub residual_codec: CodecId,
    /// Chunks of the nested residual container.
    pub residual_chunks: u32,
    /// Bounded modes: the bound every element keeps (`Rel`: relative to the element's
    /// value); lossless: `None`.
    pub bound: Option<ErrorBound>,
    /// Largest |x - x'| measured by the encoder (0 lossless).
    pub max_abs_error: f64,
    /// XXH3-128 of the base tensor's bytes ([`base_hash`]).
    pub base_hash: [u8; 16],
}

/// The content hash a delta container records of its base tensor: XXH3-128 of `base`
/// (little-endian bytes of the 128-bit value). Thread-safe; about 30 GB/s on one core.
pub fn base_hash(base: &[u8]) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128(base).to_le_bytes()
}

/// Hex of a base hash, for messages and `inspect`.
pub fn hash_hex(h: &[u8; 16]) -> String {
    h.iter().rev().map(|b| format!("{b:02x}")).collect()
}

impl DeltaInfo {
    /// Parameter bytes: `u8 format (1), u8 mode, u8 residual codec, u8 zero, u32 residual
    /// chunks, f64 eps (0 lossless), f64 max_abs_error, [u8; 16] base hash, u64 zero`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(PARAMS_LEN);
        b.extend_from_slice(&[FORMAT, self.mode as u8, self.residual_codec as u8, 0]);
        b.extend_from_slice(&self.residual_chunks.to_le_bytes());
        let eps = match self.bound {
            Some(ErrorBound::Abs(e) | ErrorBound::Rel(e)) => e,
            None => 0.0,
        };
        b.extend_from_slice(&eps.to_le_bytes());
        b.extend_from_slice(&self.max_abs_error.to_le_bytes());
        b.extend_from_slice(&self.base_hash);
        b.extend_from_slice(&0u64.to_le_bytes());
        debug_assert_eq!(b.len(), PARAMS_LEN);
        b
    }

    /// Parse and check the parameter block of a header: format, mode, codec, bound, one chunk
    /// entry. Errors: `Corrupt`.
    pub fn from_header(h: &Header) -> Result<DeltaInfo> {
        let p = &h.params;
        if p.len() != PARAMS_LEN || p[0] != FORMAT || p[3] != 0 {
            return corrupt("delta: parameter block");
        }
        let mode = match p[1] {
            0 => DeltaMode::Lossless,
            1 => DeltaMode::Abs,
            2 => DeltaMode::Rel,
            m => return corrupt(format!("delta: mode {m}")),
        };
        let residual_codec = CodecId::from_code(p[2])?;
        let f64_at = |o: usize| f64::from_le_bytes(p[o..o + 8].try_into().unwrap());
        let eps = f64_at(8);
        let max_abs_error = f64_at(16);
        let ok = match mode {
            DeltaMode::Lossless => {
                matches!(residual_codec, CodecId::Bytes | CodecId::Raw)
                    && eps == 0.0
                    && max_abs_error == 0.0
            }
            DeltaMode::Abs => {
                residual_codec == CodecId::Padic
                    && h.dtype.is_float()
                    && eps.is_finite()
                    && eps > 0.0
                    && (0.0..=eps).contains(&max_abs_error)
            }
            DeltaMode::Rel => {
                residual_codec == CodecId::Padic
                    && h.dtype.is_float()
                    && eps > 0.0
                    && eps < 1.0
                    && max_abs_error.is_finite()
                    && max_abs_error >= 0.0
            }
        };
        if !ok || p[40..48] != [0; 8] || h.chunks.len() != 1 {
            return corrupt("delta: parameters do not match the mode");
        }
        Ok(DeltaInfo {
            mode,
            residual_codec,
            residual_chunks: u32::from_le_bytes(p[4..8].try_into().unwrap()),
            bound: match mode {
                DeltaMode::Lossless => None,
                DeltaMode::Abs => Some(ErrorBound::Abs(eps)),
                DeltaMode::Rel => Some(ErrorBound::Rel(eps)),
            },
            max_abs_error,
            base_hash: p[24..40].try_into().unwrap(),
        })
    }
}

/// Dtype of the lossless residuals of a `dtype` tensor: the unsigned integer of its width.
pub fn residual_dtype(dtype: DType) -> DType {
    match dtype.size() {
        1 => DType::U8,
        2 => DType::U16,
        4 => DType::U32,
        _ => DType::U64,
    }
}

/// Dtype of the bounded residuals: F64 for F64 tensors, F32 otherwise.
fn difference_dtype(dtype: DType) -> DType {
    if dtype == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

macro_rules! keyed {
    ($name:ident, $u:ty, $i:ty) => {
        /// Element-wise over `a` and `b` (elements of this width, little-endian) into `out`.
        /// `forward`: residuals of `x = a` against `b`, the zigzag of the wrapping difference
        /// of the keys; else the inverse, `out = unkey(key(b) + unzigzag(r = a))`. Keys: the
        /// order-preserving fold for floats (its own inverse: it keeps the sign bit and flips
        /// the others of negative values), the bits themselves otherwise.
        fn $name(a: &[u8], b: &[u8], float: bool, forward: bool, out: &mut [u8]) {
            const W: usize = std::mem::size_of::<$u>();
            const SHIFT: u32 = <$u>::BITS - 1;
            let key = |v: $u| {
                if float {
                    v ^ ((((v as $i) >> SHIFT) as $u) >> 1)
                } else {
                    v
                }
            };
            out.par_chunks_mut(W << 14)
                .zip(a.par_chunks(W << 14).zip(b.par_chunks(W << 14)))
                .for_each(|(o, (a, b))| {
                    for ((o, a), b) in o
                        .chunks_exact_mut(W)
                        .zip(a.chunks_exact(W))
                        .zip(b.chunks_exact(W))
                    {
                        let a = <$u>::from_le_bytes(a.try_into().unwrap());
                        let b = key(<$u>::from_le_bytes(b.try_into().unwrap()));
                        let v = if forward {
                            let d = key(a).wrapping_sub(b) as $i;
                            ((d << 1) ^ (d >> SHIFT)) as $u
                        } else {
                            let d = (a >> 1) ^ (a & 1).wrapping_neg();
                            key(b.wrapping_add(d))
                        };
                        o.copy_from_slice(&v.to_le_bytes());
                    }
                });
        }
    };
}

keyed!(keyed8, u8, i8);
keyed!(keyed16, u16, i16);
keyed!(keyed32, u32, i32);
keyed!(keyed64, u64, i64);

/// [`keyed8`] .. [`keyed64`] by the width of `dtype`.
fn keyed(a: &[u8], b: &[u8], dtype: DType, forward: bool, out: &mut [u8]) {
    let float = dtype.is_float();
    match dtype.size() {
        1 => keyed8(a, b, float, forward, out),
        2 => keyed16(a, b, float, forward, out),
        4 => keyed32(a, b, float, forward, out),
        _ => keyed64(a, b, float, forward, out),
    }
}

/// Lossless residuals of `data` against `base` (both `dtype`, same length).
fn residuals(data: &[u8], base: &[u8], dtype: DType) -> Vec<u8> {
    let mut out = vec![0u8; data.len()];
    keyed(data, base, dtype, true, &mut out);
    out
}

/// The tensor from its lossless residuals `r` and `base`.
fn apply(r: &[u8], base: &[u8], dtype: DType, out: &mut [u8]) {
    keyed(r, base, dtype, false, out);
}

/// Bounded mode's reconstruction, the one both sides run: element `i` of `out` is
/// `base[i] + d[i]` computed in the difference dtype (F32, or F64) and rounded to `dtype`.
fn reconstruct(d: &[u8], base: &[u8], dtype: DType, out: &mut [u8]) {
    let s = dtype.size();
    out.par_chunks_mut(s << 14).enumerate().for_each(|(c, o)| {
        let i0 = c << 14;
        for (k, e) in o.chunks_exact_mut(s).enumerate() {
            let i = i0 + k;
            match dtype {
                DType::F64 => {
                    let v = dtype.load_f64(base, i)
                        + f64::from_le_bytes(d[i * 8..i * 8 + 8].try_into().unwrap());
                    e.copy_from_slice(&v.to_le_bytes());
                }
                _ => {
                    let v = dtype.load_f64(base, i) as f32
                        + f32::from_le_bytes(d[i * 4..i * 4 + 4].try_into().unwrap());
                    match dtype {
                        DType::F32 => e.copy_from_slice(&v.to_le_bytes()),
                        DType::F16 => e.copy_from_slice(&half::f16::from_f32(v).to_le_bytes()),
                        _ => e.copy_from_slice(&half::bf16::from_f32(v).to_le_bytes()),
                    }
                }
            }
        }
    });
}

/// Check the base against the tensor: same byte length. Errors: `InvalidArgument`.
fn check_base(base: &[u8], len: usize) -> Result<()> {
    if base.len() != len {
        return invalid(format!(
            "delta: the base tensor is {} bytes, the tensor {len}",
            base.len()
        ));
    }
    Ok(())
}

/// Compress `data` (a `dtype` tensor of `shape`, as [`super::compress`]) against `base` (the
/// base model's tensor: same dtype and shape, never modified). `codec`: `Lossless` /
/// `LosslessV2` (lossless mode) or `Padic` with an absolute or relative bound (bounded modes,
/// floats; integer and bool tensors take lossless mode); `lanes`: rANS lanes of the nested container
/// (0 = default). Returns the delta container; callers that want the smaller of delta and
/// plain coding compare with [`super::compress`] themselves.
///
/// Errors: `InvalidArgument` (lengths, another codec, a bad bound).
/// Thread-safe: a pure function of its inputs; runs on the current rayon pool.
pub fn compress(
    data: &[u8],
    base: &[u8],
    dtype: DType,
    shape: &[u64],
    codec: &CodecParams,
    lanes: u32,
) -> Result<Compressed> {
    super::check_data_len(data, dtype, shape)?;
    check_base(base, data.len())?;
    let numel = dtype::numel(shape)?;
    let hash = base_hash(base);
    let bounded = match codec {
        CodecParams::Lossless | CodecParams::LosslessV2 => None,
        CodecParams::Padic(p) => {
            p.validate()?;
            Some(*p)
        }
        _ => return invalid("delta: the residuals are coded lossless or p-adic (--abs/--rel)"),
    };
    if let (Some(pp), true) = (bounded, dtype.is_float()) {
        if let Some(c) = compress_bounded(data, base, dtype, shape, pp, lanes, hash)? {
            return Ok(c);
        }
    }
    // Lossless mode.
    let r = residuals(data, base, dtype);
    let opts = CompressOptions {
        codec: CodecParams::Lossless,
        chunk_elems: super::default_chunk_elems(&CodecParams::Lossless),
        lanes,
    };
    let rc = super::compress(&r, residual_dtype(dtype), &[numel], &opts)?;
    wrap(
        dtype,
        shape,
        numel,
        &rc,
        DeltaMode::Lossless,
        None,
        0.0,
        hash,
    )
}

/// Bounded mode: the container, or `None` when it must fall back to lossless mode
/// (non-finite values, or the bound still broken after [`BOUND_RETRIES`] halvings).
#[allow(clippy::too_many_arguments)]
fn compress_bounded(
    data: &[u8],
    base: &[u8],
    dtype: DType,
    shape: &[u64],
    pp: PadicParams,
    lanes: u32,
    hash: [u8; 16],
) -> Result<Option<Compressed>> {
    let (eps, rel) = match pp.bound {
        ErrorBound::Abs(e) => (e, false),
        ErrorBound::Rel(e) => (e, true),
    };
    let numel = dtype::numel(shape)?;
    let n = numel as usize;
    let finite = (0..n)
        .into_par_iter()
        .all(|i| dtype.load_f64(data, i).is_finite() && dtype.load_f64(base, i).is_finite());
    if !finite {
        return Ok(None);
    }
    let ddt = difference_dtype(dtype);
    let mut d = vec![0u8; n * ddt.size()];
    d.par_chunks_mut(ddt.size() << 14)
        .enumerate()
        .for_each(|(c, o)| {
            for (k, e) in o.chunks_exact_mut(ddt.size()).enumerate() {
                let i = (c << 14) + k;
                let v = dtype.load_f64(data, i) - dtype.load_f64(base, i);
                if ddt == DType::F64 {
                    e.copy_from_slice(&v.to_le_bytes());
                } else {
                    e.copy_from_slice(&(v as f32).to_le_bytes());
                }
            }
        });
    let mut target = eps;
    let mut back = vec![0u8; n * ddt.size()];
    let mut out = vec![0u8; data.len()];
    for _ in 0..BOUND_RETRIES {
        let opts = CompressOptions {
            codec: CodecParams::Padic(PadicParams {
                bound: if rel {
                    ErrorBound::Rel(target)
                } else {
                    ErrorBound::Abs(target)
                },
                ..pp
            }),
            chunk_elems: super::default_chunk_elems(&CodecParams::Padic(pp)),
            lanes,
        };
        let rc = super::compress(&d, ddt, &[numel], &opts)?;
        super::decompress_into(&rc.bytes, ddt, &mut back)?;
        reconstruct(&back, base, dtype, &mut out);
        // Every element against the bound asked for, in the dtype's values.
        let (err, ok) = (0..n)
            .into_par_iter()
            .map(|i| {
                let x = dtype.load_f64(data, i);
                let e = (dtype.load_f64(&out, i) - x).abs();
                (e, if rel { e <= eps * x.abs() } else { e <= eps })
            })
            .reduce(|| (0.0, true), |a, b| (a.0.max(b.0), a.1 && b.1));
        if ok {
            let (mode, bound) = if rel {
                (DeltaMode::Rel, ErrorBound::Rel(eps))
            } else {
                (DeltaMode::Abs, ErrorBound::Abs(eps))
            };
            return wrap(dtype, shape, numel, &rc, mode, Some(bound), err, hash).map(Some);
        }
        target /= 2.0;
    }
    Ok(None)
}

/// The outer container around the nested residual container `rc`.
#[allow(clippy::too_many_arguments)]
fn wrap(
    dtype: DType,
    shape: &[u64],
    numel: u64,
    rc: &Compressed,
    mode: DeltaMode,
    bound: Option<ErrorBound>,
    max_abs_error: f64,
    hash: [u8; 16],
) -> Result<Compressed> {
    let Ok(len) = u32::try_from(rc.bytes.len()) else {
        return invalid("delta: residuals over 4 GiB do not fit one chunk entry");
    };
    let chunks = Header::parse(&rc.bytes)?.chunks.len() as u32;
    let info = DeltaInfo {
        mode,
        residual_codec: rc.codec,
        residual_chunks: chunks,
        bound,
        max_abs_error,
        base_hash: hash,
    };
    let header = Header {
        dtype,
        shape: shape.to_vec(),
        codec: CodecId::Delta,
        params: info.to_bytes(),
        chunk_elems: super::default_chunk_elems(&CodecParams::Lossless),
        numel,
        chunks: vec![ChunkEntry {
            offset: 0,
            len,
            crc: CodecId::Delta.chunk_checksum(&rc.bytes),
        }],
        header_len: 0,
    }
    .write();
    let mut bytes = Vec::with_capacity(header.len() + rc.bytes.len());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&rc.bytes);
    Ok(Compressed {
        bytes,
        max_abs_error,
        codec: CodecId::Delta,
        choice: None,
    })
}

/// An error of the nested residual container, named and mapped to the outer container's terms.
fn nested_error(e: Error) -> Error {
    super::nested_error("delta residuals", e)
}

/// Parse the nested residual container's header and check it against the outer parameters
/// (codec, chunk count, dtype, length). Errors: `Corrupt`, `Checksum`.
pub fn nested_header(container: &[u8], h: &Header, info: &DeltaInfo) -> Result<()> {
    let rc = h.chunk_bytes(container, RESIDUAL_ENTRY, false)?;
    let rh = Header::parse(rc).map_err(nested_error)?;
    let want_dtype = match info.mode {
        DeltaMode::Lossless => residual_dtype(h.dtype),
        DeltaMode::Abs | DeltaMode::Rel => difference_dtype(h.dtype),
    };
    if rh.codec != info.residual_codec
        || rh.chunks.len() != info.residual_chunks as usize
        || rh.dtype != want_dtype
        || rh.shape != [h.numel]
    {
        return corrupt("delta: the residual container does not match the parameters");
    }
    Ok(())
}

/// Decode a delta container (header `h` parsed from `container`) against `base` (the base
/// tensor's bytes) into `dst`; returns the bound that holds (0 lossless). The base's hash is
/// checked before anything is decoded; `verify`: chunk checksums.
/// Errors: `InvalidArgument` (base of another length or hash), `Corrupt`, `Checksum`,
/// `Truncated`.
pub fn decode(
    container: &[u8],
    h: &Header,
    base: &[u8],
    dst: &mut [u8],
    verify: bool,
) -> Result<f64> {
    let info = DeltaInfo::from_header(h)?;
    check_base(base, dst.len())?;
    let got = base_hash(base);
    if got != info.base_hash {
        return invalid(format!(
            "delta: the base tensor differs from the one this tensor was coded against \
             (its hash is {}, the container records {})",
            hash_hex(&got),
            hash_hex(&info.base_hash)
        ));
    }
    let rc = h.chunk_bytes(container, RESIDUAL_ENTRY, verify)?;
    nested_header(container, h, &info)?;
    let rdt = match info.mode {
        DeltaMode::Lossless => residual_dtype(h.dtype),
        DeltaMode::Abs | DeltaMode::Rel => difference_dtype(h.dtype),
    };
    let mut r = vec![0u8; h.numel as usize * rdt.size()];
    if verify {
        super::decompress_into(rc, rdt, &mut r)
    } else {
        super::decompress_unverified(rc, rdt, &mut r)
    }
    .map_err(nested_error)?;
    match info.mode {
        DeltaMode::Lossless => {
            apply(&r, base, h.dtype, dst);
            Ok(0.0)
        }
        DeltaMode::Abs | DeltaMode::Rel => {
            reconstruct(&r, base, h.dtype, dst);
            Ok(match info.bound {
                Some(ErrorBound::Abs(e) | ErrorBound::Rel(e)) => e,
                None => 0.0,
            })
        }
    }
}

/// Decompress a delta container against its base tensor into `dst` (exactly the tensor's
/// bytes; `dtype` the tensor's dtype); chunk checksums verified. Returns the bound that holds
/// for every element (0: bit-exact). A container of another codec is decoded as
/// [`super::decompress_into`] would (the base is then not used).
///
/// Errors: `Destination` (dtype or size), `InvalidArgument` (base of another length or
/// hash: nothing is decoded), `BadMagic`, `UnsupportedVersion`, `Truncated`, `Checksum`,
/// `Corrupt`. Thread-safe.
pub fn decompress_into(container: &[u8], base: &[u8], dtype: DType, dst: &mut [u8]) -> Result<f64> {
    let h = Header::parse(container)?;
    if h.codec != CodecId::Delta {
        super::decompress_into(container, dtype, dst)?;
        return Ok(0.0);
    }
    super::check_destination(&h, dtype, dst)?;
    decode(container, &h, base, dst, true)
}

/// One line for `inspect`: the mode, the residuals' codec and the base tensor's hash, e.g.
/// `"delta lossless (residuals bytes) against base xxh3 1f0c..."`.
pub fn describe(d: &DeltaInfo) -> String {
    let mode = match d.bound {
        Some(ErrorBound::Abs(e)) => format!("within abs {e:e}"),
        Some(ErrorBound::Rel(e)) => format!("within rel {e:e}"),
        _ => "lossless".into(),
    };
    format!(
        "delta {mode} (residuals {}) against base xxh3-128 {}",
        d.residual_codec.name(),
        hash_hex(&d.base_hash)
    )
}
