//! Codecs: turn a host tensor into a container and back.
//!
//! Layer: middle. Pure Rust on slices (no raw pointers, no C types); chunks are coded in
//! parallel on the current rayon pool (the `system` layer installs its own pool).
//!
//! | codec | dtypes | exact? | module |
//! |---|---|---|---|
//! | `Raw` | all | yes | here |
//! | `Lossless` | F32 F16 BF16 F64 | yes | [`lossless::FloatSplit`] |
//! | `Bytes` | integers, bool | yes | [`lossless::BytePlanes`] |
//! | `Padic` | F32 F16 BF16 F64 | `abs` or `rel` bound per element | [`padic::PadicPlan`] |
//! | `Quant` | F32 F16 BF16 F64 | fixed rate (error measured and stored), or an `abs` bound per element | [`quant::QuantPlan`] |
//! | `Sparse` | all | yes, or the values within a p-adic bound | [`sparse`] (nested containers) |
//! | `Auto` | all | as the codec it picks per tensor | [`auto`] (trial compression of samples) |
//! | delta | all | yes, or an `abs` bound per element (floats) | [`delta`] (against a base tensor; [`delta::compress`], [`delta::decompress_into`]) |
//!
//! Integer and bool tensors asked for `Lossless` or `Padic` use `Bytes`; float tensors asked
//! for `Raw` are stored raw. Any chunk whose coded form is not smaller than its raw bytes is
//! stored raw (a one-byte chunk mode says which), so a container never exceeds
//! [`compress_bound`].

pub mod auto;
pub mod delta;
pub mod lossless;
pub mod padic;
pub mod quant;
pub mod segmented;
pub mod sparse;

use rayon::prelude::*;

use crate::dtype::{self, DType};
use crate::entropy::varint::Reader;
use crate::error::{corrupt, invalid, Error, Result};
use crate::format::container::{
    chunk_count, header_len, ChunkEntry, CodecId, Header, DEFAULT_CHUNK_ELEMS, MAX_CHUNK_ELEMS,
};
use lossless::{BytePlanes, FloatSplit};
use padic::PadicPlan;
use quant::{QuantParams, QuantPlan};
use segmented::SegmentedPlan;
use sparse::{SparseInfo, SparseParams};

/// An error bound for lossy compression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ErrorBound {
    /// `|x - x'| <= eps` for every element (units of the data).
    Abs(f64),
    /// `|x - x'| <= eps * |x|` for every element (a fraction, 0 < eps < 1); zeros are exact.
    Rel(f64),
}

/// Parameters of the p-adic codec.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PadicParams {
    /// Prime base `p`, at most 65521 (default 251).
    pub prime: u32,
    /// Digits per value `N`; `None` picks the smallest that fits the data at the bound.
    pub precision: Option<u32>,
    /// The error bound.
    pub bound: ErrorBound,
}

impl PadicParams {
    /// Default prime 251, automatic precision.
    pub fn new(bound: ErrorBound) -> Self {
        PadicParams {
            prime: crate::padic::DEFAULT_PRIME,
            precision: None,
            bound,
        }
    }
}

impl ErrorBound {
    /// Check the bound: absolute `eps` finite and > 0; relative `eps` in (0, 1).
    /// Errors: `InvalidArgument`.
    pub fn validate(&self) -> Result<()> {
        let (e, rel) = match *self {
            ErrorBound::Abs(e) => (e, false),
            ErrorBound::Rel(e) => (e, true),
        };
        if !(e.is_finite() && e > 0.0) || (rel && e >= 1.0) {
            return invalid(format!(
                "error bound {e}: must be finite and > 0{}",
                if rel {
                    " and < 1 for a relative bound"
                } else {
                    ""
                }
            ));
        }
        Ok(())
    }
}

impl PadicParams {
    /// Check the prime ([`crate::padic::check_prime`]: a prime <= [`crate::padic::MAX_PRIME`]),
    /// the precision (`None`, or 1..=[`crate::padic::max_precision`] of the prime) and the
    /// bound ([`ErrorBound::validate`]). Errors: `InvalidArgument`.
    pub fn validate(&self) -> Result<()> {
        padic::check_params(self)
    }
}

/// Which codec to use and its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CodecParams {
    /// Store bytes as they are.
    Raw,
    /// Bit-exact (the default codec). Floats are split into exponent and sign + mantissa
    /// planes: F32, F16 and BF16 in stream layout v2 (container codec `lossless-v2`,
    /// [`segmented`]), the layout the GPU decodes fastest, unless `CompressOptions::lanes` is
    /// set, which asks for layout v1 (container codec `lossless`, per-chunk tables and that many
    /// rANS lanes); F64 always in layout v1. Integers and bool as byte planes.
    Lossless,
    /// Bit-exact, F32/F16/BF16 in stream layout v2 (container codec `lossless-v2`,
    /// [`segmented`]: per-tensor tables, one GPU warp per segment of `chunk_elems` elements,
    /// [`segmented::DEFAULT_SEGMENT_ELEMS`] recommended) whatever `lanes` says; F64 as
    /// `Lossless`, integers and bool as byte planes.
    LosslessV2,
    /// Error-bounded p-adic codec for floats (integers and bool fall back to bit-exact).
    Padic(PadicParams),
    /// Quantization for floats: fixed rate (block-wise, per-channel or global, 2-8 bits) or
    /// block-wise within an absolute bound ([`quant`]); integers and bool fall back to
    /// bit-exact.
    Quant(QuantParams),
    /// Sparse ([`sparse`]): a bitmap of the nonzero elements plus the nonzero values (lossless,
    /// or p-adic within a bound), each a nested container; any dtype. Written only where it is
    /// smaller than the values' codec on the whole tensor, which is written otherwise.
    Sparse(SparseParams),
    /// Chosen per tensor by trial compression of samples under constraints (bound, bits,
    /// target ratio, priority): [`auto`]. The container is that of the codec chosen, and
    /// [`Compressed::choice`] says which and why. Each candidate uses its codec's default
    /// chunk size and lanes (`CompressOptions::chunk_elems` and `lanes` are not used). CPU
    /// compression only.
    Auto(auto::AutoParams),
}

/// Default elements per chunk for `codec`: segments of [`segmented::DEFAULT_SEGMENT_ELEMS`]
/// (2^16) for the lossless codec (layout v2; layout v1 takes the same), [`quant::DEFAULT_CHUNK_ELEMS`] (2^16) for quantization,
/// [`sparse::DEFAULT_CHUNK_ELEMS`] (2^16 elements per scatter block) for sparse,
/// [`crate::format::container::DEFAULT_CHUNK_ELEMS`] (2^18) otherwise.
pub fn default_chunk_elems(codec: &CodecParams) -> u32 {
    match codec {
        CodecParams::Lossless | CodecParams::LosslessV2 => segmented::DEFAULT_SEGMENT_ELEMS,
        CodecParams::Quant(_) => quant::DEFAULT_CHUNK_ELEMS,
        CodecParams::Sparse(_) => sparse::DEFAULT_CHUNK_ELEMS,
        _ => crate::format::container::DEFAULT_CHUNK_ELEMS,
    }
}

/// Compression options: codec, chunk size and rANS lane count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompressOptions {
    /// Codec and parameters.
    pub codec: CodecParams,
    /// Elements per chunk, 1..=2^28 (default 2^18).
    pub chunk_elems: u32,
    /// Most rANS lanes per stream, 1..=128; 0 = the default, 32 (one GPU warp per chunk). More
    /// lanes let more GPU threads decode one chunk (faster GPU decoding) at 10 bytes per lane
    /// and stream of overhead; the CPU decodes any count.
    pub lanes: u32,
}

impl Default for CompressOptions {
    fn default() -> Self {
        CompressOptions {
            codec: CodecParams::Lossless,
            chunk_elems: DEFAULT_CHUNK_ELEMS,
            lanes: 0,
        }
    }
}

/// Largest `CompressOptions::lanes` (the GPU decoder's block size).
pub const MAX_LANES: u32 = 128;

impl CompressOptions {
    fn max_lanes(&self) -> usize {
        if self.lanes == 0 {
            crate::entropy::rans::DEFAULT_MAX_LANES
        } else {
            self.lanes as usize
        }
    }
}

impl CompressOptions {
    /// The one check of compression options, for a tensor of `dtype`: chunk size
    /// ([`check_chunk_elems`]; sparse: a multiple of 32), lane count ([`check_lanes`]) and, for
    /// p-adic on a float dtype, [`PadicParams::validate`] (integer and bool tensors are coded bit-exactly, so their
    /// p-adic parameters are not used). Every compression path (CPU, GPU, size queries, the C
    /// API) calls it. Errors: `InvalidArgument`.
    pub fn validate(&self, dtype: DType) -> Result<()> {
        check_chunk_elems(self.chunk_elems)?;
        check_lanes(self.lanes)?;
        match (&self.codec, dtype.is_float()) {
            (CodecParams::Padic(pp), true) => pp.validate()?,
            (CodecParams::Quant(qp), true) => qp.validate()?,
            (CodecParams::Auto(ap), _) => ap.validate()?,
            (CodecParams::Sparse(sp), _) => {
                sparse::check_chunk_elems(self.chunk_elems)?;
                if dtype.is_float() {
                    sp.validate()?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// A compressed tensor and what compression measured.
#[derive(Debug, Clone)]
pub struct Compressed {
    /// The container bytes.
    pub bytes: Vec<u8>,
    /// Largest |x - x'| over the tensor (0 for bit-exact codecs).
    pub max_abs_error: f64,
    /// The codec that wrote it (integer tensors asked for `Padic` report `Bytes`).
    pub codec: CodecId,
    /// [`CodecParams::Auto`] only: the codec chosen and why.
    pub choice: Option<auto::AutoChoice>,
}

/// What [`inspect`] reads from a container header without decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Vec<u64>,
    /// Codec that wrote it.
    pub codec: CodecId,
    /// Element count.
    pub numel: u64,
    /// Uncompressed size in bytes.
    pub original_bytes: u64,
    /// Container size in bytes.
    pub compressed_bytes: u64,
    /// Elements per chunk.
    pub chunk_elems: u32,
    /// Number of chunks.
    pub chunks: usize,
    /// Error bound (p-adic only).
    pub bound: Option<ErrorBound>,
    /// Prime (p-adic only, else 0).
    pub prime: u32,
    /// Digit planes (p-adic only, else 0).
    pub precision: u32,
    /// Quantization parameters (quant only).
    pub quant: Option<QuantParams>,
    /// Largest |x - x'| measured at compression and stored in the container (quant only).
    pub max_abs_error: Option<f64>,
    /// Sparse only: nonzero elements, and the codecs of the nested values and mask containers.
    pub sparse: Option<SparseSummary>,
    /// Delta only: the mode, the residuals' codec and the base tensor's hash.
    pub delta: Option<delta::DeltaInfo>,
}

impl SparseSummary {
    /// One line for `inspect`: nonzeros (count and share of `numel`), the mask's and the
    /// values' codecs, e.g. `"nonzeros 50.0% (1536 of 3072), mask bytes, values lossless-v2"`.
    pub fn describe(&self, numel: u64) -> String {
        format!(
            "nonzeros {:.1}% ({} of {numel}), mask {}, values {}",
            100.0 * self.nonzeros as f64 / numel.max(1) as f64,
            self.nonzeros,
            self.mask_codec.name(),
            self.values_codec.name()
        )
    }
}

/// What a sparse container's header says of its parts ([`TensorInfo::sparse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SparseSummary {
    /// Nonzero elements (stored values).
    pub nonzeros: u64,
    /// Codec of the values (`lossless-v2`, `lossless`, `bytes` or `padic`).
    pub values_codec: CodecId,
    /// Codec of the mask (`bytes` when rANS-coded, else `raw`).
    pub mask_codec: CodecId,
    /// Where the nested mask container lies: bytes from the start of the outer container.
    pub mask_offset: u64,
    /// Its length in bytes.
    pub mask_len: u64,
    /// Its chunk count.
    pub mask_chunks: u64,
    /// Where the nested values container lies: bytes from the start of the outer container.
    pub values_offset: u64,
    /// Its length in bytes.
    pub values_len: u64,
    /// Its chunk count.
    pub values_chunks: u64,
    /// Bytes from the start of the outer container to the per-scatter-block value starts
    /// (one little-endian u64 per block of `chunk_elems` elements).
    pub starts_offset: u64,
}

enum Plan {
    Raw,
    Float(FloatSplit),
    Bytes(BytePlanes),
    Padic(PadicPlan),
    Segmented(SegmentedPlan),
    Quant(QuantPlan),
    /// Decoded whole by [`sparse::decode`], never chunk by chunk.
    Sparse(SparseInfo),
    /// Decoded whole, against its base, by [`delta::decode`].
    Delta(delta::DeltaInfo),
}

const CHUNK_RAW: u8 = 0;
const CHUNK_CODED: u8 = 1;

impl Plan {
    fn id(&self) -> CodecId {
        match self {
            Plan::Raw => CodecId::Raw,
            Plan::Float(_) => CodecId::Lossless,
            Plan::Bytes(_) => CodecId::Bytes,
            Plan::Padic(_) => CodecId::Padic,
            Plan::Segmented(_) => CodecId::LosslessV2,
            Plan::Quant(_) => CodecId::Quant,
            Plan::Sparse(_) => CodecId::Sparse,
            Plan::Delta(_) => CodecId::Delta,
        }
    }

    fn from_header(h: &Header) -> Result<Plan> {
        let size = h.dtype.size();
        Ok(match h.codec {
            CodecId::Raw => Plan::Raw,
            CodecId::Lossless => match h.dtype.float_layout() {
                Some(l) => Plan::Float(FloatSplit::new(l, size)),
                None => return corrupt("lossless float codec on a non-float dtype"),
            },
            CodecId::Bytes => Plan::Bytes(BytePlanes { width: size }),
            CodecId::Padic => Plan::Padic(PadicPlan::from_bytes(&h.params, h.dtype)?),
            CodecId::LosslessV2 => Plan::Segmented(SegmentedPlan::from_bytes(&h.params, h.dtype)?),
            CodecId::Quant => Plan::Quant(QuantPlan::from_bytes(
                &h.params,
                h.dtype,
                &h.shape,
                h.chunk_elems,
            )?),
            CodecId::Sparse => Plan::Sparse(SparseInfo::from_header(h)?),
            CodecId::Delta => Plan::Delta(delta::DeltaInfo::from_header(h)?),
        })
    }

    /// The header's parameter bytes (`max_abs_error`: what the chunks measured, stored by
    /// quant).
    fn params(&self, ndim: usize, n_chunks: usize, max_abs_error: f64) -> Vec<u8> {
        match self {
            Plan::Padic(p) => p.to_bytes(),
            Plan::Segmented(s) => s.to_bytes(ndim, n_chunks),
            Plan::Quant(q) => {
                let mut q = q.clone();
                q.max_abs_error = max_abs_error;
                q.to_bytes(ndim, n_chunks)
            }
            _ => Vec::new(),
        }
    }

    /// Encode one chunk: mode byte + codec stream, or raw if coding does not pay.
    fn encode_chunk(&self, ci: usize, src: &[u8], lanes: usize) -> Result<(Vec<u8>, f64)> {
        match self {
            Plan::Segmented(s) => return Ok((s.encode_segment(src), 0.0)),
            // Always coded: chunks stay 16-byte multiples for the word checksum.
            Plan::Quant(q) => return q.encode_chunk(ci as u64, src),
            _ => {}
        }
        let mut out = Vec::with_capacity(src.len() / 2 + 16);
        out.push(CHUNK_CODED);
        let err = match self {
            Plan::Raw => {
                out.clear();
                0.0
            }
            Plan::Float(f) => {
                f.encode(src, lanes, &mut out);
                0.0
            }
            Plan::Bytes(b) => {
                b.encode(src, lanes, &mut out);
                0.0
            }
            Plan::Padic(p) => p.encode_chunk(src, lanes, &mut out)?,
            Plan::Segmented(_) | Plan::Quant(_) => unreachable!("handled above"),
            Plan::Sparse(_) => return invalid("sparse containers are not coded chunk by chunk"),
            Plan::Delta(_) => return invalid("delta containers are not coded chunk by chunk"),
        };
        if out.is_empty() || out.len() > src.len() {
            out.clear();
            out.push(CHUNK_RAW);
            out.extend_from_slice(src);
            return Ok((out, 0.0));
        }
        Ok((out, err))
    }

    fn decode_chunk(&self, ci: usize, payload: &[u8], out: &mut [u8], planes: u32) -> Result<()> {
        match self {
            Plan::Segmented(s) => return s.decode_segment(payload, out),
            Plan::Quant(q) => return q.decode_chunk(ci as u64, payload, out),
            _ => {}
        }
        let (&mode, body) = payload
            .split_first()
            .ok_or_else(|| Error::Truncated("empty chunk".into()))?;
        match mode {
            CHUNK_RAW => {
                if body.len() != out.len() {
                    return corrupt("raw chunk length");
                }
                out.copy_from_slice(body);
                return Ok(());
            }
            CHUNK_CODED => {}
            m => return corrupt(format!("chunk mode {m}")),
        }
        let mut r = Reader::new(body, "chunk stream");
        match self {
            Plan::Raw => return corrupt("coded chunk in a raw container"),
            Plan::Float(f) => f.decode(&mut r, out)?,
            Plan::Bytes(b) => b.decode(&mut r, out)?,
            Plan::Padic(p) => return p.decode_chunk(body, out, planes),
            Plan::Segmented(_) | Plan::Quant(_) => unreachable!("handled above"),
            Plan::Sparse(_) => return corrupt("sparse containers are not decoded chunk by chunk"),
            Plan::Delta(_) => return corrupt("delta containers are not decoded chunk by chunk"),
        }
        if r.remaining() != 0 {
            return corrupt("trailing bytes in chunk");
        }
        Ok(())
    }
}

/// Check a rANS lane count: 0 (the default) or 1..=[`MAX_LANES`]. The one lane check of the
/// crate (options, configuration, GPU layouts). Errors: `InvalidArgument`.
pub fn check_lanes(l: u32) -> Result<()> {
    if l > MAX_LANES {
        return invalid(format!(
            "lanes {l}: must be in 0..={MAX_LANES} (0 = default)"
        ));
    }
    Ok(())
}

/// Check a chunk size in elements: 1..=[`MAX_CHUNK_ELEMS`]. The one chunk-size check of the
/// crate (options, configuration, GPU layouts). Errors: `InvalidArgument`.
pub fn check_chunk_elems(c: u32) -> Result<()> {
    if c == 0 || c > MAX_CHUNK_ELEMS {
        return invalid(format!(
            "chunk size {c} elements: must be in 1..={MAX_CHUNK_ELEMS}"
        ));
    }
    Ok(())
}

/// The codec a container of `dtype` compressed with `codec` records: `Raw` for `Raw`, `Bytes`
/// for integer and bool tensors otherwise, `Lossless` / `Padic` for float tensors.
/// Errors: `Unsupported` for `Auto`, whose codec is known only once it has compressed.
pub fn codec_id_for(dtype: DType, codec: &CodecParams) -> Result<CodecId> {
    Ok(match (codec, dtype.is_float()) {
        (CodecParams::Auto(_), _) => {
            return Err(Error::Unsupported(
                "codec auto chooses per tensor by compressing on the CPU; GPU compression takes \
                 a concrete codec"
                    .into(),
            ))
        }
        (CodecParams::Raw, _) => CodecId::Raw,
        (_, false) => CodecId::Bytes,
        // The GPU encoder writes layout v1 (no layout-v2 GPU encoder yet).
        (CodecParams::Lossless, true) => CodecId::Lossless,
        (CodecParams::LosslessV2, true) if segmented::supports(dtype) => CodecId::LosslessV2,
        (CodecParams::LosslessV2, true) => CodecId::Lossless,
        (CodecParams::Padic(_), true) => CodecId::Padic,
        (CodecParams::Quant(_), true) => CodecId::Quant,
        (CodecParams::Sparse(_), _) => CodecId::Sparse,
    })
}

/// Stream layout of the lossless float codec (docs/FORMAT.md §3 and §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamLayout {
    /// Layout v1 (codec `lossless`): per-chunk tables, round-robin lanes with their own word
    /// streams; what the GPU encoder writes, and what `CodecParams::Lossless` writes when
    /// `CompressOptions::lanes` is set.
    Lanes,
    /// Layout v2 (codec `lossless-v2`): per-tensor tables, warp-interleaved rANS segments
    /// ([`segmented`]); F32, F16 and BF16 (F64 stays on v1). The default since 2026-12-03, when
    /// its whole-model ratios reached ZipNN's (docs/BENCHMARKS.md).
    #[default]
    Segments,
}

fn plan_for(
    data: &[u8],
    dtype: DType,
    shape: &[u64],
    opts: &CompressOptions,
    layout: StreamLayout,
) -> Result<Plan> {
    Ok(match (opts.codec, dtype.float_layout()) {
        (CodecParams::Raw, _) => Plan::Raw,
        (_, None) => Plan::Bytes(BytePlanes {
            width: dtype.size(),
        }),
        (CodecParams::Lossless, Some(_))
            if layout == StreamLayout::Segments
                && segmented::supports(dtype)
                && opts.lanes == 0 =>
        {
            Plan::Segmented(SegmentedPlan::new(data, dtype, opts.chunk_elems)?)
        }
        (CodecParams::LosslessV2, Some(_)) if segmented::supports(dtype) => {
            Plan::Segmented(SegmentedPlan::new(data, dtype, opts.chunk_elems)?)
        }
        (CodecParams::Lossless | CodecParams::LosslessV2, Some(l)) => {
            Plan::Float(FloatSplit::new(l, dtype.size()))
        }
        (CodecParams::Padic(pp), Some(_)) => Plan::Padic(PadicPlan::new(data, dtype, &pp)?),
        (CodecParams::Quant(qp), Some(_)) => {
            Plan::Quant(QuantPlan::new(data, dtype, shape, opts.chunk_elems, &qp)?)
        }
        (CodecParams::Sparse(_), Some(_)) => {
            return invalid("sparse containers are not coded chunk by chunk")
        }
        (CodecParams::Auto(_), Some(_)) => {
            return invalid("codec auto resolves to a concrete codec per tensor first")
        }
    })
}

/// A tensor's chunks coded in memory, before they are laid out after the header.
struct Coded {
    header: Vec<u8>,
    chunks: Vec<Vec<u8>>,
    max_abs_error: f64,
    codec: CodecId,
}

impl Coded {
    fn len(&self) -> usize {
        self.header.len() + self.chunks.iter().map(Vec::len).sum::<usize>()
    }
}

/// `data` is exactly the bytes of a `dtype` tensor of `shape`. Errors: `InvalidArgument`.
fn check_data_len(data: &[u8], dtype: DType, shape: &[u64]) -> Result<()> {
    let len = dtype::byte_len(dtype, shape)?;
    if data.len() != len {
        return invalid(format!(
            "data is {} bytes; {dtype:?} {shape:?} needs {len}",
            data.len()
        ));
    }
    Ok(())
}

/// Plan the tensor and code its chunks in parallel (the part of [`compress`] and
/// [`compress_into`] before the container is laid out).
fn encode(
    data: &[u8],
    dtype: DType,
    shape: &[u64],
    opts: &CompressOptions,
    layout: StreamLayout,
) -> Result<Coded> {
    check_data_len(data, dtype, shape)?;
    opts.validate(dtype)?;
    let lanes = opts.max_lanes();
    let plan = plan_for(data, dtype, shape, opts, layout)?;
    let numel = dtype::numel(shape)?;
    let chunk_bytes = opts.chunk_elems as usize * dtype.size();
    let coded: Vec<(Vec<u8>, f64)> = data
        .par_chunks(chunk_bytes.max(1))
        .enumerate()
        .map(|(ci, c)| plan.encode_chunk(ci, c, lanes))
        .collect::<Result<_>>()?;
    let mut entries = Vec::with_capacity(coded.len());
    let mut chunks = Vec::with_capacity(coded.len());
    let mut off = 0u64;
    let mut max_abs_error = 0f64;
    for (c, e) in coded {
        entries.push(ChunkEntry {
            offset: off,
            len: c.len() as u32,
            crc: plan.id().chunk_checksum(&c),
        });
        off += c.len() as u64;
        max_abs_error = max_abs_error.max(e);
        chunks.push(c);
    }
    let header = Header {
        dtype,
        shape: shape.to_vec(),
        codec: plan.id(),
        params: plan.params(shape.len(), entries.len(), max_abs_error),
        chunk_elems: opts.chunk_elems,
        numel,
        chunks: entries,
        header_len: 0,
    };
    Ok(Coded {
        header: header.write(),
        chunks,
        max_abs_error,
        codec: header.codec,
    })
}

/// Compress a host tensor.
///
/// `data`: the tensor's elements, little-endian, row-major, exactly
/// `numel(shape) * dtype.size()` bytes; never modified. `shape`: at most 8 dims (empty =
/// scalar; zero dims allowed). Chunks are coded in parallel on the current rayon pool.
///
/// Errors: `InvalidArgument` (length/shape mismatch, options rejected by
/// [`CompressOptions::validate`]). Thread-safe: a pure function of its inputs.
pub fn compress(
    data: &[u8],
    dtype: DType,
    shape: &[u64],
    opts: &CompressOptions,
) -> Result<Compressed> {
    compress_with_layout(data, dtype, shape, opts, StreamLayout::default())
}

/// As [`compress`], with the lossless float codec's stream layout chosen explicitly (other
/// codecs ignore `layout`). Errors: as [`compress`].
pub fn compress_with_layout(
    data: &[u8],
    dtype: DType,
    shape: &[u64],
    opts: &CompressOptions,
    layout: StreamLayout,
) -> Result<Compressed> {
    if let CodecParams::Auto(ap) = opts.codec {
        opts.validate(dtype)?;
        return auto::compress_auto(data, dtype, shape, &ap);
    }
    if let CodecParams::Sparse(sp) = opts.codec {
        check_data_len(data, dtype, shape)?;
        opts.validate(dtype)?;
        return sparse::compress(data, dtype, shape, opts, &sp);
    }
    let coded = encode(data, dtype, shape, opts, layout)?;
    let mut bytes = Vec::with_capacity(coded.len());
    bytes.extend_from_slice(&coded.header);
    for c in &coded.chunks {
        bytes.extend_from_slice(c);
    }
    Ok(Compressed {
        bytes,
        max_abs_error: coded.max_abs_error,
        codec: coded.codec,
        choice: None,
    })
}

/// What [`compress_into`] wrote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Written {
    /// Container bytes written at the start of the destination.
    pub len: usize,
    /// Largest |x - x'| over the tensor (0 for bit-exact codecs).
    pub max_abs_error: f64,
    /// The codec that wrote it.
    pub codec: CodecId,
}

/// Compress a host tensor straight into `dst` (size it with [`compress_bound`]): the same
/// container bytes as [`compress`], with no container-sized temporary (only each chunk's coded
/// bytes are held until the chunk table is known). Arguments as [`compress`].
///
/// `dst` is written only on success, and only its first `Written::len` bytes.
/// Errors: those of [`compress`]; `Destination` when the container is longer than `dst`
/// (the message gives the length needed). Thread-safe.
pub fn compress_into(
    data: &[u8],
    dtype: DType,
    shape: &[u64],
    opts: &CompressOptions,
    dst: &mut [u8],
) -> Result<Written> {
    if let CodecParams::Sparse(_) | CodecParams::Auto(_) = opts.codec {
        // Nested containers (sparse) and trials (auto) are assembled whole; then copied.
        let c = compress(data, dtype, shape, opts)?;
        if c.bytes.len() > dst.len() {
            return Err(Error::Destination(format!(
                "container needs {} bytes, capacity is {}",
                c.bytes.len(),
                dst.len()
            )));
        }
        dst[..c.bytes.len()].copy_from_slice(&c.bytes);
        return Ok(Written {
            len: c.bytes.len(),
            max_abs_error: c.max_abs_error,
            codec: c.codec,
        });
    }
    let coded = encode(data, dtype, shape, opts, StreamLayout::default())?;
    let len = coded.len();
    if len > dst.len() {
        return Err(Error::Destination(format!(
            "container needs {len} bytes, capacity is {}",
            dst.len()
        )));
    }
    let (head, mut rest) = dst.split_at_mut(coded.header.len());
    head.copy_from_slice(&coded.header);
    for c in &coded.chunks {
        let (here, tail) = rest.split_at_mut(c.len());
        here.copy_from_slice(c);
        rest = tail;
    }
    Ok(Written {
        len,
        max_abs_error: coded.max_abs_error,
        codec: coded.codec,
    })
}

/// Upper bound in bytes of the container [`compress`] writes for this tensor and options.
/// Errors: `InvalidArgument` for a bad shape or chunk size.
pub fn compress_bound(dtype: DType, shape: &[u64], opts: &CompressOptions) -> Result<usize> {
    let len = dtype::byte_len(dtype, shape)?;
    opts.validate(dtype)?;
    let n_chunks = chunk_count(dtype::numel(shape)?, opts.chunk_elems) as usize;
    let params = match (opts.codec, dtype.is_float()) {
        // Never larger than the dense container of the values' codec (which it falls back to).
        (CodecParams::Sparse(sp), _) => {
            let values = sparse::dense_options(&sp, opts.lanes);
            return compress_bound(dtype, shape, &values);
        }
        (CodecParams::Auto(ap), _) => return auto::compress_bound(dtype, shape, &ap),
        (CodecParams::Padic(_), true) => padic::PARAMS_LEN,
        (CodecParams::Quant(qp), true) => {
            return Ok(header_len(shape.len(), quant::MAX_PARAMS_LEN, n_chunks)
                + quant::payload_bound(dtype, shape, opts.chunk_elems, &qp)?);
        }
        // Layout v2 (the default layout; its bound also covers layout v1's).
        (CodecParams::Lossless, true) if segmented::supports(dtype) && opts.lanes == 0 => {
            return Ok(header_len(shape.len(), segmented::MAX_PARAMS_LEN, n_chunks)
                + len
                + n_chunks * (2 * segmented::ALIGN - 1)
                + 2 * segmented::ALIGN);
        }
        (CodecParams::LosslessV2, true) if segmented::supports(dtype) => {
            return Ok(header_len(shape.len(), segmented::MAX_PARAMS_LEN, n_chunks)
                + len
                + n_chunks * (2 * segmented::ALIGN - 1)
                + 2 * segmented::ALIGN);
        }
        _ => 0,
    };
    Ok(header_len(shape.len(), params, n_chunks) + len + n_chunks)
}

/// Read a container's header (validated, checksummed) without decoding any chunk; for a
/// sparse container also the headers of its nested mask and values containers (checksummed
/// and checked against the outer parameters: the GPU decode relies on this host check).
/// Errors: as [`Header::parse`].
pub fn inspect(container: &[u8]) -> Result<TensorInfo> {
    let h = Header::parse(container)?;
    if h.codec == CodecId::Sparse {
        sparse::nested_headers(container, &h, &SparseInfo::from_header(&h)?)?;
    }
    if h.codec == CodecId::Delta {
        delta::nested_header(container, &h, &delta::DeltaInfo::from_header(&h)?)?;
    }
    info_of(h)
}

/// [`inspect`] from the first bytes of a container: `prefix` holds at least the header
/// ([`crate::format::container::header_bytes_needed`]), the payload need not be there (its
/// length is checked when the container is decoded). Errors: as
/// [`Header::parse_prefix`] (`Truncated` when `prefix` ends inside the header).
pub fn inspect_prefix(prefix: &[u8]) -> Result<TensorInfo> {
    info_of(Header::parse_prefix(prefix)?)
}

fn info_of(h: Header) -> Result<TensorInfo> {
    let plan = Plan::from_header(&h)?;
    let (bound, prime, precision) = match &plan {
        Plan::Padic(p) => (Some(p.bound), p.prime, p.precision),
        Plan::Quant(q) => (q.params.bound.map(ErrorBound::Abs), 0, 0),
        _ => (None, 0, 0),
    };
    let (quant, max_abs_error) = match &plan {
        Plan::Quant(q) => (Some(q.params), Some(q.max_abs_error)),
        Plan::Delta(d) => (None, Some(d.max_abs_error)),
        _ => (None, None),
    };
    let (bound, delta) = match &plan {
        Plan::Delta(d) => (d.bound, Some(*d)),
        _ => (bound, None),
    };
    let (bound, sparse) = match &plan {
        Plan::Sparse(s) => (
            s.bound,
            Some(SparseSummary {
                nonzeros: s.nonzeros,
                values_codec: s.values_codec,
                mask_codec: s.mask_codec,
                mask_offset: h.header_len as u64 + h.chunks[sparse::MASK_ENTRY].offset,
                mask_len: h.chunks[sparse::MASK_ENTRY].len as u64,
                mask_chunks: s.mask_chunks as u64,
                values_offset: h.header_len as u64 + h.chunks[sparse::VALUES_ENTRY].offset,
                values_len: h.chunks[sparse::VALUES_ENTRY].len as u64,
                values_chunks: s.values_chunks as u64,
                starts_offset: (24 + 8 * h.shape.len() + 4 + sparse::PARAMS_BASE) as u64,
            }),
        ),
        _ => (bound, None),
    };
    Ok(TensorInfo {
        dtype: h.dtype,
        original_bytes: h.numel * h.dtype.size() as u64,
        compressed_bytes: h.total_len(),
        shape: h.shape,
        codec: h.codec,
        numel: h.numel,
        chunk_elems: h.chunk_elems,
        chunks: h.chunks.len(),
        bound,
        prime,
        precision,
        quant,
        max_abs_error,
        sparse,
        delta,
    })
}

/// Decompress a container into `dst`, which must be exactly the tensor's byte length, for a
/// tensor of dtype `dtype`. Chunk checksums are verified; chunks decode in parallel.
///
/// Errors: `Destination` (wrong dtype or size: nothing is written), `BadMagic`,
/// `UnsupportedVersion`, `Truncated`, `Checksum` (names the chunk), `Corrupt`. On error the
/// contents of `dst` are unspecified.
pub fn decompress_into(container: &[u8], dtype: DType, dst: &mut [u8]) -> Result<()> {
    decode(container, dtype, dst, u32::MAX, true).map(|_| ())
}

/// As [`decompress_into`] but without verifying chunk checksums (for trusted data; structural
/// checks still apply, so damaged data is still an error or at worst wrong values, never UB).
pub fn decompress_unverified(container: &[u8], dtype: DType, dst: &mut [u8]) -> Result<()> {
    decode(container, dtype, dst, u32::MAX, false).map(|_| ())
}

/// Decode only the top `planes` digit planes of a p-adic container (progressive decoding)
/// into `dst`; returns the bound that then holds for every element (absolute for `abs`
/// containers, relative for `rel`). For other codecs this is a full decode and returns 0.
/// Errors: as [`decompress_into`], plus `InvalidArgument` for `planes == 0`.
pub fn decompress_progressive(
    container: &[u8],
    dtype: DType,
    dst: &mut [u8],
    planes: u32,
) -> Result<f64> {
    if planes == 0 {
        return invalid("planes must be >= 1");
    }
    decode(container, dtype, dst, planes, true)
}

/// An error of a nested container (sparse, delta) named by `what` and mapped to the outer
/// container's terms: a damaged nested container is a corrupt outer one.
fn nested_error(what: &str, e: Error) -> Error {
    match e {
        Error::Corrupt(m) | Error::Truncated(m) | Error::BadMagic(m) => {
            Error::Corrupt(format!("{what}: {m}"))
        }
        Error::Checksum(m) => Error::Checksum(format!("{what}: {m}")),
        Error::Destination(m) => Error::Corrupt(format!("{what}: {m}")),
        e => e,
    }
}

/// `dst` is the destination of the container of header `h` as a `dtype` tensor: same dtype,
/// exactly its bytes. Errors: `Destination`.
fn check_destination(h: &Header, dtype: DType, dst: &[u8]) -> Result<()> {
    if h.dtype != dtype {
        return Err(Error::Destination(format!(
            "container holds {:?}, destination is {dtype:?}",
            h.dtype
        )));
    }
    let need = h.numel * dtype.size() as u64;
    if dst.len() as u64 != need {
        return Err(Error::Destination(format!(
            "destination is {} bytes, tensor needs {need}",
            dst.len()
        )));
    }
    Ok(())
}

fn decode(
    container: &[u8],
    dtype: DType,
    dst: &mut [u8],
    planes: u32,
    verify: bool,
) -> Result<f64> {
    let h = Header::parse(container)?;
    check_destination(&h, dtype, dst)?;
    if h.codec == CodecId::Sparse {
        return sparse::decode(container, &h, dst, planes, verify);
    }
    if h.codec == CodecId::Delta {
        return Err(Error::Unsupported(
            "a delta container decodes only against its base tensor (CLI: --base BASE; \
             Rust: codec::delta::decompress_into)"
                .into(),
        ));
    }
    let plan = Plan::from_header(&h)?;
    let chunk_bytes = h.chunk_elems as usize * dtype.size();
    dst.par_chunks_mut(chunk_bytes.max(1))
        .enumerate()
        .try_for_each(|(i, out)| {
            let payload = h.chunk_bytes(container, i, verify)?;
            plan.decode_chunk(i, payload, out, planes)
                .map_err(|e| match e {
                    Error::Corrupt(m) => Error::Corrupt(format!("chunk {i}: {m}")),
                    Error::Truncated(m) => Error::Corrupt(format!("chunk {i}: {m}")),
                    e => e,
                })
        })?;
    Ok(match &plan {
        Plan::Padic(p) => p.bound_for_planes(planes),
        _ => 0.0,
    })
}
