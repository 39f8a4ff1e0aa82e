//! GPU compression of bit-exact containers (`kernels/encode.cu`): raw, lossless float split
//! (F32, F16, BF16, F64) and byte planes (integers, bool), from device memory into device memory,
//! stream-ordered. The container bytes are those the CPU encoder writes for the same tensor and
//! options, so either side decodes what the other wrote.
//!
//! Four kernels on one stream: plan (histograms, frequency tables, stream modes and a counting
//! pass of the rANS encoder, per chunk), offsets (scan of the chunk sizes into the header), write
//! (every chunk at its final offset, then its CRC-32) and finish (the header's CRC-32 and the
//! container length). The only temporary memory is the per-chunk plan: see
//! [`EncodeLayout::temp_bytes`].

use std::ffi::c_void;

use super::padic_encode::PadicLaunch;
use super::{dev_err, guarded, CudaDevice};
use crate::codec::{codec_id_for, CodecParams, CompressOptions};
use crate::dtype::{self, DType};
use crate::error::{Error, Result};
use crate::format::container::{chunk_count, header_len, CodecId, Header};

/// Bytes before the per-chunk plans in the temporary buffer (`ENC_TEMP_HEAD`).
const TEMP_HEAD: u64 = 64;
/// `sizeof(ChunkPlan)` in `kernels/encode.cu`: 16 bytes plus 8 stream plans of 16.
const CHUNK_PLAN_BYTES: u64 = 16 + 8 * 16;
/// Lanes when the caller passes 0 (`crate::entropy::rans::DEFAULT_MAX_LANES`).
const DEFAULT_LANES: u32 = 32;
const _: () = assert!(DEFAULT_LANES as usize == crate::entropy::rans::DEFAULT_MAX_LANES);

/// Kinds the encode kernels are specialised on (`SARAPHIS_ENCODE` in `kernels/encode.cu`, same
/// order): lossless F32, F16, BF16, then byte planes of 1, 2, 4 and 8-byte elements, then
/// lossless F64.
pub(super) const ENCODE_KINDS: [&str; 8] = ["f32", "f16", "bf16", "b1", "b2", "b4", "b8", "f64"];
/// Index of the F64 kind in `ENCODE_KINDS`.
pub(super) const KIND_F64: usize = 7;
/// Dynamic shared memory of the F64 kernels (`WIDE_DYN_BYTES`): the 2048-symbol exponent
/// stream's histogram, encoder entries, frequencies and rank order.
pub(super) const F64_DYN_BYTES: u32 = 2048 * (4 * 4 + 2);

/// Kernel parameters (`struct EncArgs` in `kernels/encode.cu`, same field order and layout).
#[repr(C)]
#[derive(Clone, Copy)]
struct EncArgs {
    src: u64,
    numel: u64,
    dst: u64,
    temp: u64,
    meta_stride: u64,
    n_chunks: u64,
    header_len: u64,
    nc_at: u64,
    out_size: u64,
    codec: u32,
    size: u32,
    exp_bits: u32,
    man_bits: u32,
    nplanes: u32,
    nstreams: u32,
    chunk_elems: u32,
    max_lanes: u32,
    prefix_len: u32,
    prefix: [u8; 132],
}

/// What a GPU compression of one tensor needs, computed on the host before any launch.
/// Plain data: `Send + Sync`.
#[derive(Clone)]
pub struct EncodeLayout {
    /// Bytes of temporary device memory the kernels use: 64 plus, per chunk, a 144-byte plan,
    /// 512 bytes of frequency table per symbol stream (F64's exponent stream: 4096) and 4 bytes
    /// per rANS lane and stream. For the default chunk of 2^18 elements this is 0.25% (F32, 32
    /// lanes) to 0.57% (F64, 128 lanes) of the input.
    pub temp_bytes: u64,
    /// Largest container this compression can write, in bytes (equals
    /// `crate::codec::compress_bound` for the same tensor and options).
    pub bound: u64,
    /// Input bytes (`numel * dtype.size()`).
    pub input_bytes: u64,
    /// Chunks in the container.
    pub chunks: u64,
    /// Index in `ENCODE_KINDS`.
    variant: usize,
    args: EncArgs,
    /// p-adic: the kernels of `kernels/padic_encode.cu` instead.
    padic: Option<PadicLaunch>,
}

impl std::fmt::Debug for EncodeLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodeLayout")
            .field("temp_bytes", &self.temp_bytes)
            .field("bound", &self.bound)
            .field("input_bytes", &self.input_bytes)
            .field("chunks", &self.chunks)
            .field("padic", &self.padic.is_some())
            .finish()
    }
}

/// Check a chunk size (1..=2^28 elements) and a lane count (0..=128, 0 = 32); returns the lanes
/// to use. Errors: `InvalidArgument`.
pub(super) fn check_chunk_and_lanes(chunk_elems: u32, lanes: u32) -> Result<u32> {
    crate::codec::check_chunk_elems(chunk_elems)?;
    crate::codec::check_lanes(lanes)?;
    Ok(if lanes == 0 { DEFAULT_LANES } else { lanes })
}

/// The container header up to and including the chunk count (params zeroed: `params_len` bytes
/// the kernels fill in), in an `N`-byte array for the kernel arguments, and its length. The
/// kernels add the chunk table and the header CRC.
pub(super) fn header_prefix<const N: usize>(
    dtype: DType,
    shape: &[u64],
    codec: CodecId,
    params_len: usize,
    chunk_elems: u32,
    numel: u64,
    chunks: u64,
) -> ([u8; N], usize) {
    let empty = Header {
        dtype,
        shape: shape.to_vec(),
        codec,
        params: vec![0; params_len],
        chunk_elems,
        numel,
        chunks: Vec::new(),
        header_len: 0,
    }
    .write();
    // Drop the CRC; `write` put the count of its empty table (0) before it: set the real count.
    let prefix_len = empty.len() - 4;
    let mut prefix = [0u8; N];
    prefix[..prefix_len - 4].copy_from_slice(&empty[..prefix_len - 4]);
    prefix[prefix_len - 4..prefix_len].copy_from_slice(&(chunks as u32).to_le_bytes());
    (prefix, prefix_len)
}

impl EncodeLayout {
    /// Layout for compressing a tensor of `dtype` and `shape` with `opts` (any codec: p-adic
    /// goes to [`EncodeLayout::new_padic`], the others to [`EncodeLayout::new`]).
    /// Errors: `InvalidArgument`, as those.
    pub fn for_options(dtype: DType, shape: &[u64], opts: &CompressOptions) -> Result<Self> {
        opts.validate(dtype)?;
        match (&opts.codec, codec_id_for(dtype, &opts.codec)?) {
            (CodecParams::Padic(pp), CodecId::Padic) => {
                Self::new_padic(dtype, shape, pp, opts.chunk_elems, opts.lanes)
            }
            (_, id) => Self::new(dtype, shape, id, opts.chunk_elems, opts.lanes),
        }
    }

    pub(super) fn from_padic(
        temp_bytes: u64,
        bound: u64,
        input_bytes: u64,
        chunks: u64,
        launch: PadicLaunch,
    ) -> Self {
        let mut args = EncArgs {
            src: 0,
            numel: 0,
            dst: 0,
            temp: 0,
            meta_stride: 0,
            n_chunks: 0,
            header_len: 0,
            nc_at: 0,
            out_size: 0,
            codec: CodecId::Padic as u32,
            size: 0,
            exp_bits: 0,
            man_bits: 0,
            nplanes: 0,
            nstreams: 0,
            chunk_elems: 0,
            max_lanes: 0,
            prefix_len: 0,
            prefix: [0; 132],
        };
        args.size = launch.args.size;
        EncodeLayout {
            temp_bytes,
            bound,
            input_bytes,
            chunks,
            variant: 0,
            args,
            padic: Some(launch),
        }
    }

    /// Layout for a tensor of `dtype` and `shape` coded with `codec` (`Raw`, `Lossless` for
    /// F32/F16/BF16/F64, or `Bytes`), `chunk_elems` elements per chunk (1..=2^28) and at most
    /// `lanes` rANS lanes per stream (0 = 32, at most 128).
    ///
    /// Errors: `InvalidArgument` (bad shape, chunk size or lane count; p-adic, whose parameters
    /// this signature lacks: see [`EncodeLayout::new_padic`]).
    pub fn new(
        dtype: DType,
        shape: &[u64],
        codec: CodecId,
        chunk_elems: u32,
        lanes: u32,
    ) -> Result<EncodeLayout> {
        let input_bytes = dtype::byte_len(dtype, shape)? as u64;
        let numel = dtype::numel(shape)?;
        let max_lanes = check_chunk_and_lanes(chunk_elems, lanes)?;
        let size = dtype.size() as u32;
        let (exp_bits, man_bits, nplanes, nstreams) = match codec {
            CodecId::Raw => (0, 0, 0, 0),
            CodecId::Bytes => (0, 0, size, size),
            CodecId::Lossless => match dtype.float_layout() {
                Some(l) => {
                    let planes = (l.man_bits + 1).div_ceil(8);
                    (l.exp_bits, l.man_bits, planes, 1 + planes)
                }
                None => {
                    return Err(Error::InvalidArgument(format!(
                        "the lossless float codec needs a float dtype, not {dtype:?}"
                    )))
                }
            },
            CodecId::LosslessV2 => {
                return Err(Error::Unsupported(
                    "GPU compression writes stream layout v1 (codec lossless); layout v2 is \
                     written on the CPU"
                        .into(),
                ))
            }
            CodecId::Quant | CodecId::Sparse | CodecId::Delta => {
                return Err(Error::Unsupported(format!(
                    "GPU compression does not write {} containers: they are written on the CPU",
                    codec.name()
                )))
            }
            CodecId::Padic => {
                return Err(Error::InvalidArgument(
                    "p-adic layouts need the codec's parameters: use EncodeLayout::new_padic"
                        .into(),
                ))
            }
        };
        let chunks = chunk_count(numel, chunk_elems);
        if chunks > u32::MAX as u64 {
            return Err(Error::InvalidArgument(format!(
                "{chunks} chunks: at most 2^32 - 1"
            )));
        }
        let hlen = header_len(shape.len(), 0, chunks as usize) as u64;
        let ns = nstreams as u64;
        // F64's exponent stream has 2048 frequencies instead of 256.
        let wide_extra = if exp_bits > 8 { 2 * (2048 - 256) } else { 0 };
        let meta_stride = (CHUNK_PLAN_BYTES + 512 * ns + wide_extra + 4 * ns * max_lanes as u64)
            .div_ceil(16)
            * 16;
        let temp_bytes = TEMP_HEAD + chunks * meta_stride;
        let bound = hlen + input_bytes + chunks;
        let (prefix, prefix_len) =
            header_prefix::<132>(dtype, shape, codec, 0, chunk_elems, numel, chunks);
        let variant = match (codec, dtype) {
            (CodecId::Lossless, DType::F32) => 0,
            (CodecId::Lossless, DType::F16) => 1,
            (CodecId::Lossless, DType::BF16) => 2,
            (CodecId::Lossless, DType::F64) => KIND_F64,
            (CodecId::Bytes, _) => 3 + size.trailing_zeros() as usize,
            _ => 3, // raw: the kernels copy chunks and never use the kind
        };
        Ok(EncodeLayout {
            temp_bytes,
            bound,
            input_bytes,
            chunks,
            variant,
            args: EncArgs {
                src: 0,
                numel,
                dst: 0,
                temp: 0,
                meta_stride,
                n_chunks: chunks,
                header_len: hlen,
                nc_at: (prefix_len - 4) as u64,
                out_size: 0,
                codec: codec as u32,
                size,
                exp_bits,
                man_bits,
                nplanes,
                nstreams,
                chunk_elems,
                max_lanes,
                prefix_len: prefix_len as u32,
                prefix,
            },
            padic: None,
        })
    }
}

impl CudaDevice {
    /// Enqueue the compression of a tensor in device memory into a container in device memory
    /// on `stream` (a `CUstream` of this device's primary context, or null for the legacy
    /// default stream). Nothing synchronizes the host; the container's length in bytes is
    /// written to the device `u64` at `out_size` when the stream gets there (0 would mean an
    /// internal consistency check failed: a bug, reported rather than a wrong container).
    ///
    /// Raw, lossless and byte-plane layouts ([`EncodeLayout::new`]) give the CPU encoder's
    /// bytes; p-adic layouts ([`EncodeLayout::new_padic`]) a container that meets the bound
    /// for every element (see `padic_encode`), whose bytes may differ from the CPU's. After
    /// a p-adic compression the temporary buffer's bytes 8..16 hold the largest absolute error
    /// of a quantized element (an f64; exceptions are exact).
    ///
    /// `layout`: for this tensor. `src`: `layout.input_bytes` bytes, aligned to the element
    /// size, never written. `dst`: `dst_cap >= layout.bound` bytes. `temp`: `temp_len >=
    /// layout.temp_bytes` bytes of device memory aligned to 8, or 0 to have the library
    /// allocate and free it stream-ordered (`cuMemAllocAsync` / `cuMemFreeAsync`).
    ///
    /// Errors: `Destination` (dst too small), `InvalidArgument` (misaligned or null pointers,
    /// temp too small), `Device` (allocation or launch failed; nothing is left allocated).
    ///
    /// # Safety
    /// The pointers must be live device allocations of this device of at least the stated sizes,
    /// `dst` and `temp` must not overlap `src` or each other, and all must stay alive (and `src`
    /// unchanged) until the stream passes the compression.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn encode_async(
        &self,
        layout: &EncodeLayout,
        src: u64,
        dst: u64,
        dst_cap: u64,
        temp: u64,
        temp_len: u64,
        out_size: u64,
        stream: *mut c_void,
    ) -> Result<()> {
        let size = layout.args.size as u64;
        if src == 0 && layout.input_bytes > 0 {
            return Err(Error::InvalidArgument("src is null".into()));
        }
        if src % size != 0 {
            return Err(Error::InvalidArgument(format!(
                "src must be aligned to the element size ({size} bytes)"
            )));
        }
        if dst == 0 || out_size == 0 || out_size % 8 != 0 {
            return Err(Error::InvalidArgument(
                "dst and out_size must be device pointers, out_size aligned to 8 bytes".into(),
            ));
        }
        if dst_cap < layout.bound {
            return Err(Error::Destination(format!(
                "destination holds {dst_cap} bytes, the container may need {}",
                layout.bound
            )));
        }
        if temp != 0 && (temp_len < layout.temp_bytes || temp % 8 != 0) {
            return Err(Error::InvalidArgument(format!(
                "temporary buffer of {temp_len} bytes: needs {} bytes aligned to 8",
                layout.temp_bytes
            )));
        }
        let ctx = self.ctx.clone();
        let owned = if temp == 0 {
            guarded("alloc", || -> Result<u64> {
                ctx.bind_to_thread().map_err(dev_err)?;
                cudarc::driver::result::malloc_async(stream as _, layout.temp_bytes as usize)
                    .map_err(dev_err)
            })
            .map_err(Error::Device)??
        } else {
            0
        };
        let tmp = if owned != 0 { owned } else { temp };
        let r = match &layout.padic {
            Some(pl) => {
                let mut args = pl.args;
                args.src = src;
                args.dst = dst;
                args.temp = tmp;
                args.out_size = out_size;
                let mut a: [*mut c_void; 1] = [&mut args as *mut _ as *mut c_void];
                self.launch(&self.padic_stats, pl.stats_blocks, 0, stream, &mut a)
                    .and_then(|_| self.launch(&self.padic_params, 1, 0, stream, &mut a))
                    .and_then(|_| {
                        self.launch(&self.encode_padic, pl.encode_blocks, 0, stream, &mut a)
                    })
                    .and_then(|_| self.launch(&self.padic_finish, 1, 0, stream, &mut a))
            }
            None => {
                let mut args = layout.args;
                args.src = src;
                args.dst = dst;
                args.temp = tmp;
                args.out_size = out_size;
                let grid = self.grid(Some(layout.chunks));
                let v = layout.variant;
                let mut a: [*mut c_void; 1] = [&mut args as *mut EncArgs as *mut c_void];
                let dyn_bytes = if v == KIND_F64 { F64_DYN_BYTES } else { 0 };
                self.launch(&self.encode_plan[v], grid, dyn_bytes, stream, &mut a)
                    .and_then(|_| self.launch(&self.encode_offsets, 1, 0, stream, &mut a))
                    .and_then(|_| {
                        self.launch(&self.encode_write[v], grid, dyn_bytes, stream, &mut a)
                    })
                    .and_then(|_| self.launch(&self.encode_finish, 1, 0, stream, &mut a))
            }
        };
        if owned != 0 {
            let freed = guarded("free", || {
                cudarc::driver::result::free_async(owned, stream as _).map_err(dev_err)
            })
            .map_err(Error::Device)
            .and_then(|x| x);
            r?;
            return freed;
        }
        r
    }

    /// Compress a host tensor on this GPU: upload, [`CudaDevice::encode_async`] on a stream of
    /// its own, download. Returns the container and the largest absolute error of an element
    /// (0 for the bit-exact codecs). For tests, validation and benchmarks. Arguments and errors
    /// as [`EncodeLayout::for_options`] plus `InvalidArgument` when `data` is not the tensor's
    /// size, `Device` for device failures.
    pub fn encode_host(
        &self,
        data: &[u8],
        dtype: DType,
        shape: &[u64],
        opts: &CompressOptions,
    ) -> Result<(Vec<u8>, f64)> {
        let layout = EncodeLayout::for_options(dtype, shape, opts)?;
        if data.len() as u64 != layout.input_bytes {
            return Err(Error::InvalidArgument(format!(
                "data is {} bytes; {dtype:?} {shape:?} needs {}",
                data.len(),
                layout.input_bytes
            )));
        }
        let ctx = self.ctx.clone();
        let (bytes, len, err) = guarded("encode", || -> Result<(Vec<u8>, u64, f64)> {
            use cudarc::driver::{DevicePtr, DevicePtrMut};
            let stream = ctx.new_stream().map_err(dev_err)?;
            // An empty tensor still gets a valid (unused) pointer.
            let src = if data.is_empty() {
                stream.alloc_zeros::<u8>(8).map_err(dev_err)?
            } else {
                stream.clone_htod(data).map_err(dev_err)?
            };
            // Poisoned, so that a byte the kernels fail to write cannot pass unnoticed.
            let mut dst = stream
                .clone_htod(&vec![0xA5u8; layout.bound as usize])
                .map_err(dev_err)?;
            let mut size = stream.alloc_zeros::<u64>(1).map_err(dev_err)?;
            // u64 elements: 8-byte aligned at least (allocations are 256-byte aligned).
            let mut temp = stream
                .clone_htod(&vec![
                    0xA5A5_A5A5_A5A5_A5A5u64;
                    layout.temp_bytes.div_ceil(8) as usize
                ])
                .map_err(dev_err)?;
            let temp_len = 8 * temp.len() as u64;
            {
                let (s_ptr, _g1) = src.device_ptr(&stream);
                let (d_ptr, _g2) = dst.device_ptr_mut(&stream);
                let (z_ptr, _g3) = size.device_ptr_mut(&stream);
                let (t_ptr, _g4) = temp.device_ptr_mut(&stream);
                // SAFETY: live allocations of the stated sizes on this stream.
                unsafe {
                    self.encode_async(
                        &layout,
                        s_ptr,
                        d_ptr,
                        layout.bound,
                        t_ptr,
                        temp_len,
                        z_ptr,
                        stream.cu_stream() as *mut c_void,
                    )?;
                }
            }
            let host = stream.clone_dtoh(&dst).map_err(dev_err)?;
            let len = stream.clone_dtoh(&size).map_err(dev_err)?;
            let err = if layout.padic.is_some() {
                f64::from_bits(stream.clone_dtoh(&temp.slice(1..2)).map_err(dev_err)?[0])
            } else {
                0.0
            };
            stream.synchronize().map_err(dev_err)?;
            Ok((host, len[0], err))
        })
        .map_err(Error::Device)??;
        if len == 0 || len > layout.bound {
            return Err(Error::Device(format!(
                "GPU compression failed its consistency check (container length {len}); please \
                 report this with the tensor's dtype and shape"
            )));
        }
        let mut bytes = bytes;
        bytes.truncate(len as usize);
        Ok((bytes, err))
    }
}
