//! GPU compression of p-adic containers (`kernels/padic_encode.cu`), from device memory into
//! device memory, stream-ordered.
//!
//! The container is valid for every decoder and meets the bound element by element: each element
//! is checked against the bound with the decoders' own reconstruction (one IEEE multiply, or
//! `det_exp` in relative mode, then round-to-nearest-even to the dtype), as the CPU encoder does.
//! Its bytes may differ from the CPU encoder's (CUDA's `log` in relative mode, the mean log summed
//! in another order, frequency tables normalised differently, sparse digit streams constant or
//! raw), so the CPU and GPU containers of one tensor decode to values that both meet the bound
//! but may differ by one quantization step where an element sits on a rounding boundary.
//!
//! Four kernels on one stream: stats (max |x|, and the log statistics of relative mode, per
//! block), params (offset and precision as [`crate::codec::padic::PadicPlan::new`] chooses
//! them), encode (persistent blocks take chunks by ticket; per chunk a plan pass per digit plane,
//! decoupled look-back for the chunk's offset, then the write pass) and finish (header, CRC-32,
//! length).

use super::encode::{check_chunk_and_lanes, header_prefix, EncodeLayout};
use crate::codec::padic::{check_params, step_for, PARAMS_LEN};
use crate::codec::{ErrorBound, PadicParams};
use crate::dtype::{self, DType};
use crate::error::{Error, Result};
use crate::format::container::{chunk_count, header_len, CodecId};
use crate::padic::max_precision;

/// Bytes of the temporary buffer before the per-block statistics (`PE_STATS_AT`).
const STATS_AT: u64 = 256;
/// `sizeof(PeStat)`.
const STAT_BYTES: u64 = 40;
/// Scratch per digit plane and block (`PE_PLANE_SCRATCH`): 48 x 32 u16 frequencies and 128 u32
/// lane word counts.
const PLANE_SCRATCH: u64 = 48 * 32 * 2 + 4 * 128;
/// rANS digit planes per chunk whose tables a block keeps between planning and writing; the
/// tables of deeper rANS planes are computed again before they are written.
const KEPT_PLANES: u64 = 2;
/// Most blocks of the statistics kernel.
const MAX_STATS_BLOCKS: u64 = 256;
/// Most persistent blocks of the encode kernel (more would wait for a multiprocessor anyway).
const MAX_ENCODE_BLOCKS: u64 = 1024;

/// Kernel parameters (`struct PeArgs` in `kernels/padic_encode.cu`, same field order and layout).
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct PeArgs {
    pub src: u64,
    pub numel: u64,
    pub dst: u64,
    pub temp: u64,
    pub out_size: u64,
    pub n_chunks: u64,
    pub header_len: u64,
    pub nc_at: u64,
    pub params_at: u64,
    pub scratch_at: u64,
    pub scratch_stride: u64,
    pub status_at: u64,
    pub eps: f64,
    pub step: f64,
    pub dtype: u32,
    pub size: u32,
    pub chunk_elems: u32,
    pub max_lanes: u32,
    pub prime: u32,
    pub precision: u32,
    pub max_n: u32,
    pub rel: u32,
    pub stats_blocks: u32,
    pub prefix_len: u32,
    pub slots: u32,
    pub pad1: u32,
    pub prefix: [u8; 144],
}

/// What the p-adic encode kernels need, computed on the host (part of [`EncodeLayout`]).
#[derive(Clone, Copy)]
pub(super) struct PadicLaunch {
    pub args: PeArgs,
    /// Blocks of the statistics kernel.
    pub stats_blocks: u32,
    /// Persistent blocks of the encode kernel.
    pub encode_blocks: u32,
}

impl EncodeLayout {
    /// Layout for compressing a float tensor of `dtype` and `shape` with the p-adic codec under
    /// `params`, `chunk_elems` elements per chunk (1..=2^28), at most `lanes` rANS lanes per
    /// digit plane (0 = 32, at most 128).
    ///
    /// Temporary memory: 256 bytes, 40 per statistics block (at most 256), 8 per chunk (the
    /// look-back words) and, per encode block, 3584 bytes per scratch slot: one per rANS digit
    /// plane kept between planning and writing (2, or fewer if the precision is lower) and one
    /// for deeper planes, whose tables are computed again (10.5 KiB). The encode blocks (at most
    /// 1024, at most one per chunk) are as many as keep the whole buffer within 1% of the input,
    /// and at least one: 1 GiB of F32 (1019 chunks of 2^18) gets 991 blocks, 0.9996%.
    ///
    /// Errors: `InvalidArgument` (a non-float dtype, bad shape, chunk size, lane count, prime,
    /// bound or precision).
    pub fn new_padic(
        dtype: DType,
        shape: &[u64],
        params: &PadicParams,
        chunk_elems: u32,
        lanes: u32,
    ) -> Result<EncodeLayout> {
        check_params(params)?;
        let dcode: u32 = match dtype {
            DType::F32 => 0,
            DType::F16 => 1,
            DType::BF16 => 2,
            DType::F64 => 3,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "the p-adic codec needs a float dtype, not {dtype:?}"
                )))
            }
        };
        let input_bytes = dtype::byte_len(dtype, shape)? as u64;
        let numel = dtype::numel(shape)?;
        let max_lanes = check_chunk_and_lanes(chunk_elems, lanes)?;
        let chunks = chunk_count(numel, chunk_elems);
        if chunks > (u32::MAX / 2) as u64 {
            return Err(Error::InvalidArgument(format!(
                "{chunks} chunks: at most 2^31 - 1 on the GPU"
            )));
        }
        let hlen = header_len(shape.len(), PARAMS_LEN, chunks as usize) as u64;
        // Header bytes up to and including the chunk count (the kernels add table and CRC).
        let (prefix, prefix_len) = header_prefix::<144>(
            dtype,
            shape,
            CodecId::Padic,
            PARAMS_LEN,
            chunk_elems,
            numel,
            chunks,
        );
        let params_at = (24 + 8 * shape.len() + 4) as u64;
        let max_n = max_precision(params.prime);
        let planes = params.precision.unwrap_or(max_n) as u64;
        let slots = planes.min(KEPT_PLANES);
        // The kept slots and one for the planes whose tables are computed again.
        let per_block = (slots + 1) * PLANE_SCRATCH;
        let stats_blocks = numel.div_ceil(128 * 64).clamp(1, MAX_STATS_BLOCKS);
        let status_at = STATS_AT + STAT_BYTES * stats_blocks;
        let scratch_at = (status_at + 8 * chunks).div_ceil(16) * 16;
        // As many blocks as keep the whole buffer within 1% of the input (at least one).
        let encode_blocks = ((input_bytes / 100).saturating_sub(scratch_at) / per_block)
            .clamp(1, MAX_ENCODE_BLOCKS)
            .min(chunks.max(1));
        let temp_bytes = scratch_at + encode_blocks * per_block;
        let (eps, rel) = match params.bound {
            ErrorBound::Abs(e) => (e, 0),
            ErrorBound::Rel(e) => (e, 1),
        };
        let args = PeArgs {
            src: 0,
            numel,
            dst: 0,
            temp: 0,
            out_size: 0,
            n_chunks: chunks,
            header_len: hlen,
            nc_at: (prefix_len - 4) as u64,
            params_at,
            scratch_at,
            scratch_stride: per_block,
            status_at,
            eps,
            step: step_for(params.bound),
            dtype: dcode,
            size: dtype.size() as u32,
            chunk_elems,
            max_lanes,
            prime: params.prime,
            precision: params.precision.unwrap_or(0),
            max_n,
            rel,
            stats_blocks: stats_blocks as u32,
            prefix_len: prefix_len as u32,
            slots: slots as u32,
            pad1: 0,
            prefix,
        };
        Ok(EncodeLayout::from_padic(
            temp_bytes,
            hlen + input_bytes + chunks,
            input_bytes,
            chunks,
            PadicLaunch {
                args,
                stats_blocks: stats_blocks as u32,
                encode_blocks: encode_blocks as u32,
            },
        ))
    }
}
