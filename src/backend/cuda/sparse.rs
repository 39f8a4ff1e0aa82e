//! GPU decode of sparse containers (codec 6, docs/FORMAT.md §8): the nested mask and values
//! containers are decoded by the other decoders into temporary device memory from the
//! library's pool, then `saraphis_sparse_scatter` (`kernels/sparse.cu`) writes the tensor.

use std::ffi::c_void;

use super::{arg, CudaDevice, SegmentedItem};
use crate::dtype::DType;
use crate::error::{Error, Result};

/// Threads per block of `saraphis_sparse_scatter` (`SP_BLOCK` in `kernels/sparse.cu`).
const SCATTER_BLOCK: u32 = 256;

/// A nested container inside a sparse container: byte offset from the container's start,
/// length in bytes, chunk count.
#[derive(Debug, Clone, Copy)]
pub struct NestedPart {
    /// Offset in bytes from the start of the outer container.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Chunks (one status each).
    pub chunks: u64,
}

/// A sparse decode, as the host copy of the container's header describes it (the caller
/// parsed and checked that header: `crate::codec::sparse`).
#[derive(Debug, Clone, Copy)]
pub struct SparseDecode {
    /// The outer container in device memory, and its length in bytes.
    pub src: u64,
    /// Length of the outer container in bytes.
    pub src_len: u64,
    /// Element type of the tensor (and of the values).
    pub dtype: DType,
    /// The output: exactly `numel * dtype.size()` bytes, aligned to the element size.
    pub dst: u64,
    /// Elements of the tensor.
    pub numel: u64,
    /// Nonzero elements (the values container's length in elements).
    pub nonzeros: u64,
    /// Elements per scatter block (a multiple of 32).
    pub block_elems: u32,
    /// Offset from the container's start of the per-block value starts (u64 each).
    pub starts_offset: u64,
    /// The nested mask container (`U8`, `4 * ceil(numel / 32)` bytes: bytes or raw codec).
    pub mask: NestedPart,
    /// The nested values container.
    pub values: NestedPart,
    /// The values container is lossless-v2 (only the layout-v2 kernel is launched for it).
    pub values_v2: bool,
    /// One i32 on the device for the tensor's status (0 = none), zeroed here first, then the
    /// first nonzero status of the nested decodes or 2 for an inconsistent mask.
    pub status: u64,
    /// i32 entries at `status` (all zeroed; the code goes to the first).
    pub status_len: u64,
}

/// The arguments of `saraphis_sparse_scatter` (device addresses; see `kernels/sparse.cu`).
#[derive(Debug, Clone, Copy)]
pub struct SparseScatter {
    /// The decoded mask words: `ceil(numel / 32)` u32.
    pub mask: u64,
    /// The decoded values: `nonzeros` elements.
    pub values: u64,
    /// The output: `numel` elements, aligned to the element size.
    pub dst: u64,
    /// The per-block value starts (unaligned little-endian u64, one per scatter block).
    pub starts: u64,
    /// Elements of the tensor.
    pub numel: u64,
    /// Nonzero elements.
    pub nonzeros: u64,
    /// Elements per scatter block (a multiple of 32).
    pub block_elems: u32,
    /// Element type (its size: 1, 2, 4 or 8 bytes).
    pub dtype: DType,
    /// Status codes of the nested decodes (`nested_len` i32), folded into `status`; 0 = none.
    pub nested: u64,
    /// Entries at `nested`.
    pub nested_len: u32,
    /// The tensor's status (one i32, zeroed by the caller), or 0.
    pub status: u64,
}

impl CudaDevice {
    /// Enqueue `saraphis_sparse_scatter` on `stream` (the last step of
    /// [`CudaDevice::decode_sparse_async`], public for benchmarks of the step alone): one
    /// block of 256 threads per scatter block, at most 16 blocks per SM (grid-stride).
    /// `reads`: the other device ranges the kernel reads besides `a.mask` and `a.values`'s
    /// allocation (for the overlap bookkeeping of the library's own stream). Errors: `Device`.
    ///
    /// # Safety
    /// Every address in `a` is a live device allocation of the stated size that stays alive
    /// until `stream` passes this launch; `stream` is a live stream of this device's context.
    pub unsafe fn sparse_scatter_async(
        &self,
        a: &SparseScatter,
        reads: &[(u64, u64)],
        stream: *mut c_void,
    ) -> Result<()> {
        let blocks = a.numel.div_ceil(a.block_elems as u64);
        if blocks == 0 {
            return Ok(());
        }
        let size = a.dtype.size() as u32;
        let mut args: [*mut c_void; 11] = [
            arg(&a.mask),
            arg(&a.values),
            arg(&a.dst),
            arg(&a.starts),
            arg(&a.numel),
            arg(&a.nonzeros),
            arg(&a.block_elems),
            arg(&size),
            arg(&a.nested),
            arg(&a.nested_len),
            arg(&a.status),
        ];
        let writes = [(a.dst, a.numel * size as u64), (a.status, 4)];
        // After the nested decodes it reads: never overlapped with them.
        self.enqueue_decode(stream, reads, &writes, false, |prog| {
            self.launch_block(
                &self.sparse_scatter,
                self.grid(Some(blocks)),
                SCATTER_BLOCK,
                0,
                stream,
                &mut args,
                prog,
            )
        })
    }

    /// Enqueue the decode of a sparse container on `stream` (see [`SparseDecode`]): temporary
    /// device memory for the mask words, the values and the nested statuses is taken from the
    /// library's pool on `stream` and returned to it after the scatter. `verify`: the nested
    /// containers' chunk checksums are checked (the outer chunk table's checksums, which cover
    /// the same bytes, are checked by the CPU decoder only). The mask decodes on the device's
    /// side stream ([`CudaDevice::side_stream`]) beside the values on `stream`, forked and
    /// joined by events, so the call stays ordered on `stream` as a whole. Nothing
    /// synchronizes the host (unless a join fails, when the side stream is waited for).
    /// Errors: `Device` (out of memory, launch failure).
    ///
    /// # Safety
    /// `src`, `dst` and `status` are live device allocations of the stated lengths that stay
    /// alive until `stream` has passed this work; `dst` does not overlap `src`; `stream` is a
    /// live stream of this device's primary context; `d` was read from this container's header.
    pub unsafe fn decode_sparse_async(
        &self,
        d: &SparseDecode,
        stream: *mut c_void,
        verify: bool,
    ) -> Result<()> {
        let size = d.dtype.size() as u64;
        let mask_bytes = d.numel.div_ceil(32) * 4;
        let values_bytes = d.nonzeros * size;
        let nested_len = d.mask.chunks + d.values.chunks;
        let pad = |n: u64| n.div_ceil(256) * 256;
        let scratch_len = pad(mask_bytes) + pad(values_bytes) + 4 * nested_len.max(1);
        let scratch = self.pool_alloc_async(scratch_len, stream)?;
        let (mask, values) = (scratch, scratch + pad(mask_bytes));
        let nested = values + pad(values_bytes);
        // The side stream's mask decode, once enqueued: `stream` must wait for it before the
        // scratch memory goes back to the pool, whatever fails after it.
        let mut mask_done: Option<super::memory::DeviceEvent> = None;
        let mut work = || -> Result<()> {
            self.zero_statuses_async(nested, nested_len.max(1), stream)?;
            if d.status != 0 {
                self.zero_statuses_async(d.status, d.status_len.max(1), stream)?;
            }
            // The mask decodes on the side stream while the values decode on `stream` (the two
            // are independent; each is one chain of work too short to fill the GPU alone), and
            // `stream` waits for the mask before the scatter.
            if mask_bytes > 0 {
                let side = self.side_stream()?;
                let forked = self.record_event(stream)?;
                self.stream_wait(side, &forked)?;
                self.decode_exact_async(
                    d.src + d.mask.offset,
                    d.mask.len,
                    DType::U8,
                    mask,
                    mask_bytes,
                    nested,
                    d.mask.chunks,
                    side,
                    Some(d.mask.chunks),
                    verify,
                )?;
                mask_done = Some(self.record_event(side)?);
            }
            if values_bytes > 0 {
                let item = SegmentedItem {
                    src: d.src + d.values.offset,
                    src_len: d.values.len,
                    dst: values,
                    dst_len: values_bytes,
                    dtype: d.dtype,
                    status: nested + 4 * d.mask.chunks,
                    status_len: d.values.chunks,
                    segment_elems: 0,
                };
                if d.values_v2 {
                    self.decode_lossless_v2_async(item, stream, verify)?;
                } else {
                    self.decode_exact_async(
                        item.src,
                        item.src_len,
                        item.dtype,
                        item.dst,
                        item.dst_len,
                        item.status,
                        item.status_len,
                        stream,
                        Some(item.status_len),
                        verify,
                    )?;
                }
            }
            if let Some(e) = mask_done.take() {
                let joined = self.stream_wait(stream, &e);
                mask_done = Some(e);
                joined?;
            }
            let scatter = SparseScatter {
                mask,
                values,
                dst: d.dst,
                starts: d.src + d.starts_offset,
                numel: d.numel,
                nonzeros: d.nonzeros,
                block_elems: d.block_elems,
                dtype: d.dtype,
                nested,
                nested_len: nested_len as u32,
                status: d.status,
            };
            self.sparse_scatter_async(
                &scatter,
                &[(d.src, d.src_len), (scratch, scratch_len)],
                stream,
            )
        };
        let r = work();
        if let Some(e) = &mask_done {
            // Join the branch (again, harmless when the scatter's join was enqueued); if even
            // that fails, wait for the side stream on the host, and if that fails too, keep the
            // scratch memory out of the pool rather than free it under a running kernel.
            if self.stream_wait(stream, e).is_err() && self.synchronize_side_stream().is_err() {
                return r.and(Err(Error::Device(
                    "sparse decode: could not order the mask decode before freeing its memory"
                        .into(),
                )));
            }
        }
        // Returned to the pool once the stream passes the work enqueued above (or at once
        // when nothing was).
        let f = self.pool_free_async(scratch, stream);
        r.and(f)
    }
}
