//! Sparse codec (container codec `sparse`, docs/FORMAT.md §8): a tensor with many exact zeros
//! (pruned weights, 2:4 structured sparsity, embedding rows never trained) stored as a
//! bitmap of its nonzero elements plus the nonzero values, each part a complete nested
//! container.
//!
//! **Zero** means an element whose bytes are all zero (`+0.0` for floats; `-0.0` is a value).
//!
//! **Mask.** Bit `i` of the mask (little-endian 32-bit words, bit `i % 32` of word `i / 32`) is
//! set when element `i` is nonzero; bits past `numel` are zero. The words are a `U8` tensor of
//! `4 * ceil(numel / 32)` bytes in a nested container with the byte-plane rANS codec (`bytes`,
//! chunks of [`MASK_CHUNK_BYTES`], [`MASK_LANES`] lanes) when that saves at least 10% of its bytes (a 2:4 mask, six
//! patterns per four elements, codes to about 5.2 bits per byte), else `raw`.
//!
//! **Values.** The nonzero elements in order, a 1-D tensor of the same dtype in a nested
//! container: lossless (layout v2 for F32/F16/BF16, which the GPU decodes fastest; layout v1
//! for F64; byte planes for integers and bool) or, with a bound, p-adic within that bound.
//!
//! **Scatter blocks.** The header's `chunk_elems` (a multiple of 32, default 2^16) is the
//! scatter granularity: the parameters record, for every block of `chunk_elems` elements, how
//! many nonzeros come before it, so blocks scatter independently (a GPU block each) without a
//! prefix pass. Decoders check those counts against the mask.
//!
//! **Chosen only where it wins.** [`compress`] also codes the tensor densely with the values'
//! codec and returns whichever container is smaller, so asking for `sparse` never costs ratio:
//! a tensor without enough zeros comes back as a `lossless`/`lossless-v2`/`padic` container.
//!
//! Source of the idea: the compressed-sparse bitmap formats of sparse inference (e.g. the
//! bitmap + packed values of SparTA / Flash-LLM, Xia et al., VLDB 2024) and the 2:4 metadata of
//! NVIDIA's sparse tensor cores; the nested containers are ours.

use rayon::prelude::*;

use super::{CodecParams, CompressOptions, Compressed, ErrorBound, PadicParams};
use crate::dtype::{self, DType};
use crate::error::{corrupt, invalid, Error, Result};
use crate::format::container::{ChunkEntry, CodecId, Header};

/// Default elements per scatter block (the header's `chunk_elems`).
pub const DEFAULT_CHUNK_ELEMS: u32 = 1 << 16;
/// Bytes per chunk of the nested mask container. With [`MASK_LANES`], chosen on an H200
/// (docs/BENCHMARKS.md, "Sparse codec"): a 1 GiB BF16 2:4 tensor's mask decodes in 0.62 ms
/// (2.50 ms at 2^14 bytes and 32 lanes) for 1% more mask bytes.
pub const MASK_CHUNK_BYTES: u32 = 1 << 16;
/// rANS lanes of the mask's byte plane (128: the GPU decodes each chunk with 128 threads).
pub const MASK_LANES: u32 = 128;
/// Bytes of the parameter block before the per-block counts.
pub const PARAMS_BASE: usize = 40;
/// Format byte of the parameter block.
const FORMAT: u8 = 1;
/// Chunk-table entry of the nested mask container.
pub const MASK_ENTRY: usize = 0;
/// Chunk-table entry of the nested values container.
pub const VALUES_ENTRY: usize = 1;

/// Parameters of the sparse codec.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SparseParams {
    /// `None`: values coded bit-exactly. `Some`: values (and the dense alternative) coded by
    /// the p-adic codec within its bound; zeros stay exact.
    pub padic: Option<PadicParams>,
}

impl SparseParams {
    /// Check the p-adic parameters, if any ([`PadicParams::validate`]). Errors:
    /// `InvalidArgument`.
    pub fn validate(&self) -> Result<()> {
        match &self.padic {
            Some(p) => p.validate(),
            None => Ok(()),
        }
    }

    /// The codec of the values (and of the dense alternative): p-adic with a bound, else
    /// lossless in layout v2 where the dtype has it.
    pub fn values_codec(&self) -> CodecParams {
        match self.padic {
            Some(p) => CodecParams::Padic(p),
            None => CodecParams::LosslessV2,
        }
    }
}

/// Check a scatter block length: a multiple of 32 (whole mask words). Errors:
/// `InvalidArgument`.
pub fn check_chunk_elems(c: u32) -> Result<()> {
    if c % 32 != 0 {
        return invalid(format!(
            "sparse: chunk size {c} elements must be a multiple of 32"
        ));
    }
    Ok(())
}

/// What a sparse container's parameter block holds.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseInfo {
    /// Nonzero elements (the values tensor's length).
    pub nonzeros: u64,
    /// Codec of the nested values container.
    pub values_codec: CodecId,
    /// Chunks of the nested values container.
    pub values_chunks: u32,
    /// Codec of the nested mask container (`bytes` or `raw`).
    pub mask_codec: CodecId,
    /// Chunks of the nested mask container.
    pub mask_chunks: u32,
    /// Bound of p-adic values, else `None`.
    pub bound: Option<ErrorBound>,
    /// Per scatter block: nonzeros before it.
    pub block_starts: Vec<u64>,
}

impl SparseInfo {
    /// Parameter bytes: `u8 format (1), u8 values codec, u8 mask codec, u8 bound kind (0 none,
    /// 1 abs, 2 rel), u32 values chunks, u32 mask chunks, u32 zero, f64 eps, u64 nonzeros`,
    /// then one `u64` per scatter block.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(PARAMS_BASE + 8 * self.block_starts.len());
        let (kind, eps) = match self.bound {
            None => (0u8, 0.0),
            Some(ErrorBound::Abs(e)) => (1, e),
            Some(ErrorBound::Rel(e)) => (2, e),
        };
        b.extend_from_slice(&[FORMAT, self.values_codec as u8, self.mask_codec as u8, kind]);
        b.extend_from_slice(&self.values_chunks.to_le_bytes());
        b.extend_from_slice(&self.mask_chunks.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&eps.to_le_bytes());
        b.extend_from_slice(&self.nonzeros.to_le_bytes());
        debug_assert_eq!(b.len(), PARAMS_BASE - 8);
        b.extend_from_slice(&0u64.to_le_bytes());
        for s in &self.block_starts {
            b.extend_from_slice(&s.to_le_bytes());
        }
        b
    }

    /// Parse and check the parameter block of a header: format, codecs, bound, one count per
    /// scatter block, counts non-decreasing and at most `numel`, the two chunk entries.
    /// Errors: `Corrupt`.
    pub fn from_header(h: &Header) -> Result<SparseInfo> {
        let b = &h.params;
        let blocks = crate::format::container::chunk_count(h.numel, h.chunk_elems) as usize;
        if h.chunk_elems % 32 != 0 {
            return corrupt("sparse: chunk size not a multiple of 32");
        }
        if b.len() != PARAMS_BASE + 8 * blocks || b[0] != FORMAT {
            return corrupt("sparse: parameter block");
        }
        if h.chunks.len() != 2 {
            return corrupt("sparse: chunk table must have two entries");
        }
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let values_codec = CodecId::from_code(b[1])?;
        let mask_codec = CodecId::from_code(b[2])?;
        if !matches!(mask_codec, CodecId::Bytes | CodecId::Raw)
            || matches!(values_codec, CodecId::Sparse | CodecId::Quant)
        {
            return corrupt("sparse: nested codecs");
        }
        let eps = f64::from_le_bytes(b[16..24].try_into().unwrap());
        let bound = match b[3] {
            0 => None,
            1 => Some(ErrorBound::Abs(eps)),
            2 => Some(ErrorBound::Rel(eps)),
            k => return corrupt(format!("sparse: bound kind {k}")),
        };
        if let Some(bd) = bound {
            bd.validate()
                .map_err(|_| Error::Corrupt("sparse: bound".into()))?;
        }
        if u32_at(12) != 0 || u64_at(32) != 0 {
            return corrupt("sparse: reserved bytes");
        }
        let nonzeros = u64_at(24);
        if nonzeros > h.numel {
            return corrupt("sparse: more nonzeros than elements");
        }
        let mut block_starts = Vec::with_capacity(blocks);
        let mut prev = 0u64;
        for i in 0..blocks {
            let s = u64_at(PARAMS_BASE + 8 * i);
            let (lo, _) = h.chunk_range(i);
            // Nonzeros before block i: at least the previous start, at most its elements.
            if s < prev || s > lo as u64 || s > nonzeros || (i == 0 && s != 0) {
                return corrupt(format!("sparse: block {i} start {s}"));
            }
            prev = s;
            block_starts.push(s);
        }
        Ok(SparseInfo {
            nonzeros,
            values_codec,
            values_chunks: u32_at(4),
            mask_codec,
            mask_chunks: u32_at(8),
            bound,
            block_starts,
        })
    }
}

/// Bytes of the mask words of `numel` elements: `4 * ceil(numel / 32)`.
pub fn mask_bytes(numel: u64) -> u64 {
    numel.div_ceil(32) * 4
}

fn is_zero(e: &[u8]) -> bool {
    e.iter().all(|&b| b == 0)
}

/// The mask words of `data` (elements of `size` bytes) and, per scatter block of `block`
/// elements, its nonzero count.
fn build_mask(data: &[u8], size: usize, block: usize) -> (Vec<u32>, Vec<u64>) {
    let numel = data.len() / size;
    let mut words = vec![0u32; numel.div_ceil(32)];
    let per_block: Vec<u64> = words
        .par_chunks_mut(block / 32)
        .enumerate()
        .map(|(bi, ws)| {
            let mut n = 0u64;
            for (wi, w) in ws.iter_mut().enumerate() {
                let e0 = bi * block + wi * 32;
                let e1 = (e0 + 32).min(numel);
                let mut x = 0u32;
                for e in e0..e1 {
                    if !is_zero(&data[e * size..(e + 1) * size]) {
                        x |= 1 << (e - e0);
                    }
                }
                *w = x;
                n += x.count_ones() as u64;
            }
            n
        })
        .collect();
    (words, per_block)
}

/// Options of the values container and of the dense alternative: the values' codec
/// ([`SparseParams::values_codec`]) at its default chunk size, `lanes` rANS lanes.
pub fn dense_options(sp: &SparseParams, lanes: u32) -> CompressOptions {
    nested(sp.values_codec(), lanes)
}

/// Options of a nested container: `codec` at its default chunk size, the caller's lanes.
fn nested(codec: CodecParams, lanes: u32) -> CompressOptions {
    CompressOptions {
        codec,
        chunk_elems: super::default_chunk_elems(&codec),
        lanes,
    }
}

/// Compress with the sparse codec, or densely with the values' codec when that is not larger
/// (see the module docs). `data`/`dtype`/`shape` as [`super::compress`]; `opts.chunk_elems` is
/// the scatter block (a multiple of 32). Errors: those of [`super::compress`].
pub fn compress(
    data: &[u8],
    dtype: DType,
    shape: &[u64],
    opts: &CompressOptions,
    sp: &SparseParams,
) -> Result<Compressed> {
    let size = dtype.size();
    let numel = dtype::numel(shape)?;
    let values_opts = dense_options(sp, opts.lanes);
    let dense = super::compress(data, dtype, shape, &values_opts)?;
    let block = opts.chunk_elems as usize;
    let (words, per_block) = build_mask(data, size, block);
    let nonzeros: u64 = per_block.iter().sum();
    // No zeros: nothing for a mask to save.
    if nonzeros == numel {
        return Ok(dense);
    }
    let mut block_starts = Vec::with_capacity(per_block.len());
    let mut acc = 0u64;
    for n in &per_block {
        block_starts.push(acc);
        acc += n;
    }
    let mut values = Vec::with_capacity(nonzeros as usize * size);
    for e in data.chunks_exact(size) {
        if !is_zero(e) {
            values.extend_from_slice(e);
        }
    }
    let vc = super::compress(&values, dtype, &[nonzeros], &values_opts)?;
    let mask: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let mask_shape = [mask.len() as u64];
    let coded = super::compress(
        &mask,
        DType::U8,
        &mask_shape,
        &CompressOptions {
            codec: CodecParams::Lossless,
            chunk_elems: MASK_CHUNK_BYTES,
            lanes: MASK_LANES,
        },
    )?;
    let mc = if (coded.bytes.len() as f64) <= 0.9 * mask.len() as f64 {
        coded
    } else {
        super::compress(&mask, DType::U8, &mask_shape, &nested(CodecParams::Raw, 0))?
    };
    let (Ok(mask_len), Ok(values_len)) =
        (u32::try_from(mc.bytes.len()), u32::try_from(vc.bytes.len()))
    else {
        return Ok(dense); // a nested container over 4 GiB: one chunk entry cannot hold it
    };
    let values_chunks = crate::format::container::Header::parse(&vc.bytes)?
        .chunks
        .len();
    let mask_chunks = crate::format::container::Header::parse(&mc.bytes)?
        .chunks
        .len();
    let info = SparseInfo {
        nonzeros,
        values_codec: vc.codec,
        values_chunks: values_chunks as u32,
        mask_codec: mc.codec,
        mask_chunks: mask_chunks as u32,
        bound: sp.padic.map(|p| p.bound),
        block_starts,
    };
    let header = Header {
        dtype,
        shape: shape.to_vec(),
        codec: CodecId::Sparse,
        params: info.to_bytes(),
        chunk_elems: opts.chunk_elems,
        numel,
        chunks: vec![
            ChunkEntry {
                offset: 0,
                len: mask_len,
                crc: CodecId::Sparse.chunk_checksum(&mc.bytes),
            },
            ChunkEntry {
                offset: mask_len as u64,
                len: values_len,
                crc: CodecId::Sparse.chunk_checksum(&vc.bytes),
            },
        ],
        header_len: 0,
    }
    .write();
    let total = header.len() + mc.bytes.len() + vc.bytes.len();
    if total >= dense.bytes.len() {
        return Ok(dense);
    }
    let mut bytes = Vec::with_capacity(total);
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&mc.bytes);
    bytes.extend_from_slice(&vc.bytes);
    Ok(Compressed {
        bytes,
        max_abs_error: vc.max_abs_error,
        codec: CodecId::Sparse,
        choice: None,
    })
}

/// An error of the nested `what` container, named and mapped to the outer container's terms.
fn nested_error(what: &str, e: Error) -> Error {
    super::nested_error(&format!("sparse {what}"), e)
}

/// Parse the headers of the nested mask and values containers of `container` (outer header
/// `h`, parameters `info`): each header's CRC, exact length, codec, chunk count, dtype and
/// shape against the outer parameters. The GPU decoders check the nested chunks' checksums
/// but not these headers, so every decode checks them on the host first ([`super::inspect`]
/// does for the device paths). Errors: `Corrupt`, `Checksum`.
pub fn nested_headers(container: &[u8], h: &Header, info: &SparseInfo) -> Result<()> {
    let mask_c = h.chunk_bytes(container, MASK_ENTRY, false)?;
    let values_c = h.chunk_bytes(container, VALUES_ENTRY, false)?;
    let mh = Header::parse(mask_c).map_err(|e| nested_error("mask", e))?;
    let vh = Header::parse(values_c).map_err(|e| nested_error("values", e))?;
    if mh.codec != info.mask_codec
        || mh.chunks.len() != info.mask_chunks as usize
        || mh.dtype != DType::U8
        || mh.shape != [mask_bytes(h.numel)]
        || vh.codec != info.values_codec
        || vh.chunks.len() != info.values_chunks as usize
        || vh.dtype != h.dtype
        || vh.shape != [info.nonzeros]
    {
        return corrupt("sparse: nested containers do not match the parameters");
    }
    Ok(())
}

/// Decode a sparse container (header `h` already parsed from `container`) into `dst` (the
/// tensor's bytes). `planes`: digit planes of p-adic values to decode (`u32::MAX` = all);
/// returns the bound that then holds (0 for lossless values). Nested containers are decoded
/// with their own checks (`verify`: chunk checksums), then the mask is checked against the
/// parameters (padding bits zero, per-block counts, total) before anything is scattered.
/// Errors: `Corrupt`, `Checksum`, `Truncated` (those of the nested containers are named).
pub fn decode(
    container: &[u8],
    h: &Header,
    dst: &mut [u8],
    planes: u32,
    verify: bool,
) -> Result<f64> {
    let info = SparseInfo::from_header(h)?;
    let size = h.dtype.size();
    let mask_c = h.chunk_bytes(container, MASK_ENTRY, verify)?;
    let values_c = h.chunk_bytes(container, VALUES_ENTRY, verify)?;
    nested_headers(container, h, &info)?;
    let mut mask = vec![0u8; mask_bytes(h.numel) as usize];
    let mut values = vec![0u8; info.nonzeros as usize * size];
    let (m, v) = rayon::join(
        || {
            if verify {
                super::decompress_into(mask_c, DType::U8, &mut mask)
            } else {
                super::decompress_unverified(mask_c, DType::U8, &mut mask)
            }
        },
        || {
            if planes == u32::MAX {
                if verify {
                    super::decompress_into(values_c, h.dtype, &mut values).map(|_| 0.0)
                } else {
                    super::decompress_unverified(values_c, h.dtype, &mut values).map(|_| 0.0)
                }
            } else {
                super::decompress_progressive(values_c, h.dtype, &mut values, planes)
            }
        },
    );
    m.map_err(|e| nested_error("mask", e))?;
    let bound = v.map_err(|e| nested_error("values", e))?;
    let words: Vec<u32> = mask
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes(w.try_into().unwrap()))
        .collect();
    let numel = h.numel as usize;
    if numel % 32 != 0 && words.last().is_some_and(|&w| w >> (numel % 32) != 0) {
        return corrupt("sparse: mask bits past the last element");
    }
    let block = h.chunk_elems as usize;
    dst.par_chunks_mut(block * size)
        .zip(words.par_chunks(block / 32))
        .enumerate()
        .try_for_each(|(bi, (out, ws))| {
            let mut vi = info.block_starts[bi] as usize;
            let end = info
                .block_starts
                .get(bi + 1)
                .map_or(info.nonzeros as usize, |&s| s as usize);
            for (wi, &w) in ws.iter().enumerate() {
                for b in 0..32 {
                    let e = wi * 32 + b;
                    if e * size >= out.len() {
                        break;
                    }
                    let o = &mut out[e * size..(e + 1) * size];
                    if w >> b & 1 == 1 {
                        if vi >= end {
                            return corrupt(format!(
                                "sparse: block {bi} has more nonzeros than recorded"
                            ));
                        }
                        o.copy_from_slice(&values[vi * size..(vi + 1) * size]);
                        vi += 1;
                    } else {
                        o.fill(0);
                    }
                }
            }
            if vi != end {
                return corrupt(format!(
                    "sparse: block {bi} has fewer nonzeros than recorded"
                ));
            }
            Ok(())
        })?;
    Ok(bound)
}
