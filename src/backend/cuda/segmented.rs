//! GPU decoding of lossless-v2 containers (`kernels/segmented.cu`, codec 4, stream layout v2 of
//! [`crate::codec::segmented`]): one warp per segment, one block of 8 warps per group of a
//! tensor's segments, many tensors per launch (nvCOMP's batched shape, with the descriptors
//! passed as kernel parameters so that nothing is uploaded first).
//!
//! The host knows each tensor's output size, hence its element count; it gives tensor `i` the
//! blocks `block_start[i]..block_start[i + 1]`, one per `S` x `w` elements (at least one), where
//! `S` is the container's segment length when the host knows it ([`SegmentedItem::segment_elems`],
//! from an archive's header copy), else [`NOMINAL_SEGMENT_ELEMS`], and `w` (1, 2, 4 or 8 warps per block) is the smallest that lets the whole
//! launch be resident at once ([`warps_per_block`]): a small batch (a model of a few hundred
//! segments, or one tensor) gets one- or two-warp blocks spread over every multiprocessor, so no
//! multiprocessor issues for eight warps while others idle; a large one gets full blocks that
//! share their slot tables. The blocks parse the container's header, build the planes' slot
//! tables in shared memory and take the container's segments grid-stride, so a container
//! written with another segment length still decodes, only with more or fewer warps.

use std::ffi::c_void;

use super::{arg, CudaDevice};
use crate::dtype::DType;
use crate::error::{Error, Result};

/// Tensors per launch (`SEG_BATCH` in `kernels/segmented.cu`): the descriptors travel as kernel
/// parameters (14,360 bytes; CUDA 12.1 and later take up to 32,764 on sm_70 and newer); larger
/// batches take several launches.
pub const SEG_BATCH: usize = 256;
/// Most threads per block (`SEG_THREADS`): 8 warps that share the block's slot tables.
const SEG_THREADS: u32 = 256;
/// Most warps per block (`SEG_WARPS`): each decodes one segment at a time.
const SEG_WARPS: u64 = SEG_THREADS as u64 / 32;
/// Segment length the host plans blocks for: the encoder's default
/// ([`crate::codec::segmented::DEFAULT_SEGMENT_ELEMS`]).
pub const NOMINAL_SEGMENT_ELEMS: u64 = crate::codec::segmented::DEFAULT_SEGMENT_ELEMS as u64;
/// Bytes of one plane's slot table in dynamic shared memory (4096 u32 slots).
const SLOT_TABLE_BYTES: u32 = 4096 * 4;

/// `SegTensor` of `kernels/segmented.cu`: one tensor of a launch (device addresses and lengths).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct SegTensor {
    src: u64,
    src_len: u64,
    dst: u64,
    dst_len: u64,
    status: u64,
    status_len: u64,
}

/// `SegBatch<NB>` of `kernels/segmented.cu`, passed by value as the kernel's only parameter:
/// `N` = [`SEG_BATCH`] for batched launches, 1 for the single-tensor call (80 bytes of
/// parameters instead of 14,360, which the driver copies per launch). `block_start` and
/// `block_end` are the kernel's `block_start[NB + 1]`.
#[repr(C)]
#[derive(Clone, Copy)]
struct SegBatch<const N: usize> {
    t: [SegTensor; N],
    block_start: [u32; N],
    block_end: u32,
    dtype: [u32; N],
    n: u32,
    verify: u32,
    per_tensor: u32,
    pad: u32,
}

// Layout asserts, mirrored by static_asserts in kernels/segmented.cu.
const _: () = assert!(std::mem::size_of::<SegTensor>() == 48);
const _: () = assert!(
    std::mem::size_of::<SegBatch<SEG_BATCH>>()
        == 48 * SEG_BATCH + 4 * (SEG_BATCH + 1) + 4 * SEG_BATCH + 20
);
const _: () = assert!(std::mem::size_of::<SegBatch<SEG_BATCH>>() == 14_360);
const _: () = assert!(std::mem::size_of::<SegBatch<SEG_BATCH>>() <= 32_764);
const _: () = assert!(std::mem::offset_of!(SegBatch<SEG_BATCH>, block_start) == 48 * SEG_BATCH);
const _: () =
    assert!(std::mem::offset_of!(SegBatch<SEG_BATCH>, n) == 48 * SEG_BATCH + 8 * SEG_BATCH + 4);
const _: () = assert!(std::mem::size_of::<SegBatch<1>>() == 80);
const _: () = assert!(std::mem::offset_of!(SegBatch<1>, n) == 60);

/// One tensor of a segmented decode: device addresses and byte lengths.
#[derive(Debug, Clone, Copy)]
pub struct SegmentedItem {
    /// The container.
    pub src: u64,
    /// Its length in bytes.
    pub src_len: u64,
    /// The output: exactly the tensor's bytes, aligned to the element size.
    pub dst: u64,
    /// Its length in bytes.
    pub dst_len: u64,
    /// The tensor's dtype (F32, F16 or BF16 decode; others get status 4).
    pub dtype: DType,
    /// Status: one i32 per segment (`status_len` entries) or, in per-tensor mode, one i32 the
    /// caller zeroed. 0 = none.
    pub status: u64,
    /// Entries at `status` (per-segment mode).
    pub status_len: u64,
    /// The container's segment length in elements when the host knows it (an archive does,
    /// from its host copy of the header), else 0: blocks are then planned for
    /// [`NOMINAL_SEGMENT_ELEMS`]. A container of shorter segments planned as nominal still
    /// decodes, but each warp takes several segments one after the other.
    pub segment_elems: u32,
}

impl SegmentedItem {
    /// Segment length the host plans this tensor's blocks for.
    fn plan_elems(&self) -> u64 {
        if self.segment_elems == 0 {
            NOMINAL_SEGMENT_ELEMS
        } else {
            self.segment_elems as u64
        }
    }
}

/// Index of the kernel variant for a batch: 0 (`_2`, BF16 only: two planes) or 1 (`_4`).
fn variant(items: &[SegmentedItem]) -> usize {
    if items.iter().all(|i| i.dtype == DType::BF16) {
        0
    } else {
        1
    }
}

/// Bytes of one warp's ring for one plane (`RING`): words staged by cp.async ahead of decoding.
const RING_BYTES: u32 = 1024;

/// Warps per block the host may choose (`blockDim.x / 32` in the kernel).
const WARP_CHOICES: [u32; 4] = [1, 2, 4, 8];

/// Bytes of one warp's own-table slots (`SEG_OWN_SLOTS` u32): a mode-3 segment's exponent
/// table ([`crate::codec::segmented::OWN_SCALE_BITS`] bits).
const OWN_TABLE_BYTES: u32 = 4 << crate::codec::segmented::OWN_SCALE_BITS;

/// Dynamic shared memory of variant `v` (`seg_smem` in the kernel) with `warps` warps per
/// block: a slot table per plane, then one ring per warp and plane, then one own-table region
/// per warp.
pub(super) fn dyn_bytes(v: usize, warps: u32) -> u32 {
    let planes = [2, 4][v];
    planes * SLOT_TABLE_BYTES + warps * (planes * RING_BYTES + OWN_TABLE_BYTES)
}

/// Resident warps per multiprocessor of each variant at each of [`WARP_CHOICES`] (from the
/// driver's occupancy calculator, at the dynamic shared memory each needs).
pub(super) fn resident_warps(
    f: &[cudarc::driver::CudaFunction; 2],
) -> std::result::Result<[[u32; 4]; 2], cudarc::driver::DriverError> {
    let mut out = [[0u32; 4]; 2];
    for (v, func) in f.iter().enumerate() {
        for (k, &w) in WARP_CHOICES.iter().enumerate() {
            let blocks = func.occupancy_max_active_blocks_per_multiprocessor(
                32 * w,
                dyn_bytes(v, w) as usize,
                None,
            )?;
            out[v][k] = blocks * w;
        }
    }
    Ok(out)
}

/// Warps per block for a launch of `segments` segments on `sms` multiprocessors, given the
/// variant's resident warps per multiprocessor at each choice: the smallest block whose
/// launch is resident all at once (so every multiprocessor gets its share of the chains and
/// none issues for a full block while others idle), else the largest (full blocks share their
/// slot tables, which a launch of many waves amortises).
fn warps_per_block(segments: u64, sms: u32, resident: &[u32; 4]) -> u32 {
    for (k, &w) in WARP_CHOICES.iter().enumerate() {
        if segments <= resident[k] as u64 * sms as u64 {
            return w;
        }
    }
    SEG_WARPS as u32
}

impl CudaDevice {
    /// Enqueue the decode of lossless-v2 containers on `stream`, [`SEG_BATCH`] tensors per
    /// launch. `per_tensor`: each item's `status` is one i32 that the caller zeroed on this
    /// stream and that a failing segment raises (atomicMax) to its code, and containers of
    /// another codec get 7; otherwise `status` holds one i32 per segment, and containers of
    /// other codecs are left alone for [`CudaDevice::decode_exact_async`]'s kernels. Codes: 0
    /// ok, 1 bad header, 2 bad stream, 3 rANS state mismatch, 4 destination mismatch, 6
    /// checksum mismatch, 7 not a lossless-v2 container. `verify`: check each segment's
    /// checksum first. Returns once enqueued. Errors: `Device` (launch failure).
    ///
    /// # Safety
    /// Every address must be a live device allocation of at least its stated length, outputs
    /// must not overlap inputs, and all must stay alive until the stream passes this work.
    pub unsafe fn decode_segmented_async(
        &self,
        items: &[SegmentedItem],
        per_tensor: bool,
        verify: bool,
        stream: *mut c_void,
    ) -> Result<()> {
        // On the library's own stream a batch of one launch may overlap the decodes before it
        // (a prefetch loop's small batches would otherwise run one after another), and is
        // recorded so that the decodes after it may overlap it. A batch whose statuses were
        // reset just before waits for that reset (a copy, not a kernel) in stream order anyway.
        let reads: Vec<(u64, u64)> = items.iter().map(|it| (it.src, it.src_len)).collect();
        let writes: Vec<(u64, u64)> = items
            .iter()
            .flat_map(|it| {
                let status = match (it.status, per_tensor) {
                    (0, _) => 0,
                    (_, true) => 4,
                    (_, false) => 4 * it.status_len,
                };
                [(it.dst, it.dst_len), (it.status, status)]
            })
            .collect();
        let one_launch = items.len() <= SEG_BATCH;
        self.enqueue_decode(stream, &reads, &writes, one_launch, |prog| {
            self.decode_segmented_with(items, per_tensor, verify, stream, prog)
        })
    }

    /// As [`CudaDevice::decode_segmented_async`]; `programmatic`: launched with programmatic
    /// dependent launch (see `CudaDevice::launch_block`; the caller has checked that it may
    /// overlap the work before it).
    ///
    /// # Safety
    /// As [`CudaDevice::decode_segmented_async`].
    pub(super) unsafe fn decode_segmented_with(
        &self,
        items: &[SegmentedItem],
        per_tensor: bool,
        verify: bool,
        stream: *mut c_void,
        programmatic: bool,
    ) -> Result<()> {
        if let [one] = items {
            return self.launch_segmented::<1>(&[*one], per_tensor, verify, stream, programmatic);
        }
        for group in items.chunks(SEG_BATCH) {
            self.launch_segmented::<SEG_BATCH>(group, per_tensor, verify, stream, programmatic)?;
        }
        Ok(())
    }

    /// One launch of `group` (at most `N` tensors) through the kernel whose parameters hold
    /// `N` descriptors (`saraphis_decode_segmented_{2,4}` for [`SEG_BATCH`], `..._one` for 1).
    ///
    /// # Safety
    /// As [`CudaDevice::decode_segmented_async`].
    unsafe fn launch_segmented<const N: usize>(
        &self,
        group: &[SegmentedItem],
        per_tensor: bool,
        verify: bool,
        stream: *mut c_void,
        programmatic: bool,
    ) -> Result<()> {
        debug_assert!(group.len() <= N && (N == 1 || N == SEG_BATCH));
        let mut b = SegBatch::<N> {
            t: [SegTensor::default(); N],
            block_start: [0; N],
            block_end: 0,
            dtype: [0; N],
            n: group.len() as u32,
            verify: verify as u32,
            per_tensor: per_tensor as u32,
            pad: 0,
        };
        let v = variant(group);
        let segments: u64 = group
            .iter()
            .map(|it| {
                (it.dst_len / it.dtype.size() as u64)
                    .div_ceil(it.plan_elems())
                    .max(1)
            })
            .sum();
        let warps = warps_per_block(segments, self.sms, &self.seg_resident[v]);
        let mut blocks: u64 = 0;
        for (k, it) in group.iter().enumerate() {
            b.t[k] = SegTensor {
                src: it.src,
                src_len: it.src_len,
                dst: it.dst,
                dst_len: it.dst_len,
                status: it.status,
                status_len: it.status_len,
            };
            b.dtype[k] = it.dtype as u32;
            b.block_start[k] = blocks as u32;
            let numel = it.dst_len / it.dtype.size() as u64;
            blocks += numel.div_ceil(it.plan_elems() * warps as u64).max(1);
            if blocks > u32::MAX as u64 / 2 {
                return Err(Error::InvalidArgument(
                    "segmented decode: too many blocks in one launch".into(),
                ));
            }
        }
        for k in group.len()..N {
            b.block_start[k] = blocks as u32;
        }
        b.block_end = blocks as u32;
        let f = if N == 1 {
            &self.decode_segmented_one[v]
        } else {
            &self.decode_segmented[v]
        };
        let mut args: [*mut c_void; 1] = [arg(&b)];
        self.launch_block(
            f,
            blocks as u32,
            32 * warps,
            dyn_bytes(v, warps),
            stream,
            &mut args,
            programmatic,
        )
    }
}

impl CudaDevice {
    /// Enqueue a zeroing of `count` i32 statuses at `status` on `stream` (before a per-tensor
    /// [`CudaDevice::decode_segmented_async`]). Errors: `Device`.
    ///
    /// # Safety
    /// `status` must be a live device allocation of at least `4 * count` bytes.
    pub unsafe fn zero_statuses_async(
        &self,
        status: u64,
        count: u64,
        stream: *mut c_void,
    ) -> Result<()> {
        let ctx = self.ctx.clone();
        super::guarded("memset", move || -> Result<()> {
            ctx.bind_to_thread().map_err(super::dev_err)?;
            cudarc::driver::result::memset_d8_async(status, 0, 4 * count as usize, stream as _)
                .map_err(super::dev_err)
        })
        .map_err(Error::Device)?
    }
}

#[cfg(test)]
mod tests {
    use super::warps_per_block;

    #[test]
    fn small_launches_spread_over_small_blocks() {
        // H200-like: 132 multiprocessors; BF16 variant resident warps 6, 10, 16, 24.
        let r = [6, 10, 16, 24];
        assert_eq!(warps_per_block(1, 132, &r), 1);
        assert_eq!(warps_per_block(429, 132, &r), 1);
        assert_eq!(warps_per_block(792, 132, &r), 1);
        assert_eq!(warps_per_block(793, 132, &r), 2);
        assert_eq!(warps_per_block(2000, 132, &r), 4);
        assert_eq!(warps_per_block(16_384, 132, &r), 8);
    }
}
