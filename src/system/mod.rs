//! The system coordinator: configuration, device choice, the worker pool, statistics, and
//! model-level (whole safetensors file) operations.
//!
//! Layer: top of the Rust API, below `ffi`. A [`System`] is `Send + Sync`: one instance may
//! be used from many threads at once; each call runs its chunk-parallel work on the
//! system's own rayon pool, and GPU calls go to its CUDA device (`crate::backend::cuda`).

pub mod archive;
pub mod config;
mod math;
pub mod model;
pub mod output;
pub mod residency;
mod sampler;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use archive::Archive;
pub use config::{Config, Device, Knobs, PressureMode, Strategy, SwapPolicyName, Thresholds};
pub use residency::{
    DeviceBlock, DeviceLease, Lease, Placement, Residency, ResidencyStats, SwapPolicy,
};

use crate::backend::cuda::{ContextRestore, CudaDevice, EncodeLayout};
pub use crate::backend::{DevicePtr, DeviceSlice};
use crate::codec::{self, CodecParams, CompressOptions, Compressed, TensorInfo};
use crate::dtype::DType;
use crate::error::{Error, Result};

/// Counters since the system was created (bytes are uncompressed sizes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Tensors compressed.
    pub tensors_compressed: u64,
    /// Tensors decompressed.
    pub tensors_decompressed: u64,
    /// Uncompressed bytes fed to compression.
    pub bytes_in: u64,
    /// Container bytes produced.
    pub bytes_out: u64,
    /// Uncompressed bytes produced by decompression.
    pub bytes_decompressed: u64,
    /// Nanoseconds spent in host compress calls (summed over calling threads).
    pub compress_nanos: u64,
    /// Nanoseconds spent in host decompress calls (summed over calling threads).
    pub decompress_nanos: u64,
    /// Device decode calls enqueued (single and batched).
    pub device_decode_calls: u64,
    /// Tensors those calls decode.
    pub device_tensors_decoded: u64,
    /// Output bytes those calls decode (counted at enqueue).
    pub device_bytes_decoded: u64,
}

/// Counter slots of `System::counters`, in the order of [`Stats`]'s fields.
mod slot {
    pub const TENSORS_COMPRESSED: usize = 0;
    pub const TENSORS_DECOMPRESSED: usize = 1;
    pub const BYTES_IN: usize = 2;
    pub const BYTES_OUT: usize = 3;
    pub const BYTES_DECOMPRESSED: usize = 4;
    pub const COMPRESS_NANOS: usize = 5;
    pub const DECOMPRESS_NANOS: usize = 6;
    pub const DEVICE_CALLS: usize = 7;
    pub const DEVICE_TENSORS: usize = 8;
    pub const DEVICE_BYTES: usize = 9;
    pub const COUNT: usize = 10;
}

/// Slots of `System::cache`: residency counters and per-tier gauges summed over every
/// residency manager and archive of the system (`stats_json`'s `cache` and `bytes_per_tier`).
mod cache {
    /// Residency acquires served at once from a cache.
    pub const HITS: usize = 0;
    /// Residency acquires that decoded or waited for a decode.
    pub const MISSES: usize = 1;
    /// Tensors evicted by residency managers.
    pub const EVICTIONS: usize = 2;
    /// Decoded bytes held by host-tier managers now (a gauge).
    pub const HOST_DECODED: usize = 3;
    /// Decoded bytes held by device-tier managers now (a gauge).
    pub const DEVICE_DECODED: usize = 4;
    /// Compressed container bytes archives keep in device memory now (a gauge).
    pub const DEVICE_CONTAINERS: usize = 5;
    /// Device-tier decodes done on the CPU and uploaded.
    pub const CPU_BURSTS: usize = 6;
    /// Times compressed containers were moved off the GPU for room (`Archive::trim_device`).
    pub const CONTAINER_MOVES: usize = 7;
    /// Pinned host memory archives hold for compressed containers now: buffers holding
    /// containers moved off the GPU, and those kept for reuse after an upload (a gauge, at
    /// most `pinned_host_limit_mb`).
    pub const PINNED_CONTAINERS: usize = 8;
    /// Containers uploaded back to the GPU from pinned host memory.
    pub const PINNED_UPLOADS: usize = 9;
    pub const COUNT: usize = 10;
}

/// A configured Saraphis instance.
pub struct System {
    config: Config,
    pool: rayon::ThreadPool,
    device: Device,
    device_reason: String,
    cuda: Option<Arc<CudaDevice>>,
    counters: [AtomicU64; slot::COUNT],
    cache: [AtomicU64; cache::COUNT],
    /// The last on-demand `cuMemGetInfo` sample and when it was taken (`device_memory`, when
    /// there is no background sampler or it has no current sample).
    memory_sample: std::sync::Mutex<Option<(std::time::Instant, (u64, u64))>>,
    /// The background sampler of device memory (GPU systems with `monitoring_interval_ms` > 0).
    sampler: Option<sampler::Sampler>,
    created: std::time::Instant,
}

fn strip(e: &Error) -> String {
    match e {
        Error::Device(m) => m.clone(),
        e => e.to_string(),
    }
}

impl std::fmt::Debug for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("System")
            .field("config", &self.config)
            .field("device", &self.device)
            .finish()
    }
}

impl System {
    /// Create a system.
    ///
    /// `Device::Auto` uses CUDA device 0 when kernels are built in, a driver is present and a
    /// device answers, otherwise the CPU; [`System::device_status`] says which and why.
    /// `Device::Cuda(n)` that cannot be met is an error, never a silent CPU fallback. The CPU
    /// thread pool serves host-memory calls in every case.
    ///
    /// Errors: `InvalidArgument` (bad config), `Device` (explicit CUDA device unavailable),
    /// `Io` (worker threads could not be spawned).
    pub fn new(config: Config) -> Result<System> {
        config.validate()?;
        let (device, device_reason, cuda) = match config.device {
            Device::Cpu => (Device::Cpu, "cpu requested".to_string(), None),
            Device::Auto => match CudaDevice::open(0) {
                Ok(d) => {
                    let why = format!(
                        "auto: CUDA device 0 (compute capability {}.{}, {} SMs)",
                        d.compute_capability.0, d.compute_capability.1, d.sms
                    );
                    (Device::Cuda(0), why, Some(d))
                }
                Err(e) => (
                    Device::Cpu,
                    format!("auto: using the CPU because {}", strip(&e)),
                    None,
                ),
            },
            Device::Cuda(n) => {
                let d = CudaDevice::open(n as usize).map_err(|e| {
                    Error::Device(format!("cuda:{n} requested but unavailable: {}", strip(&e)))
                })?;
                (
                    Device::Cuda(n),
                    format!(
                        "cuda:{n} requested (compute capability {}.{})",
                        d.compute_capability.0, d.compute_capability.1
                    ),
                    Some(d),
                )
            }
        };
        // Device memory sampled in the background every monitoring interval (seed 003's
        // monitor), so that pressure decisions and statistics never wait on the driver.
        let sampler = match (&cuda, config.monitoring_interval_ms) {
            (Some(d), ms) if ms > 0 => {
                let d = d.clone();
                Some(sampler::Sampler::start(
                    std::time::Duration::from_millis(ms),
                    Box::new(move || d.memory_info().ok()),
                )?)
            }
            _ => None,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.workers())
            .thread_name(|i| format!("saraphis-{i}"))
            .build()
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
        Ok(System {
            config,
            pool,
            device,
            device_reason,
            cuda,
            counters: Default::default(),
            cache: Default::default(),
            memory_sample: std::sync::Mutex::new(None),
            sampler,
            created: std::time::Instant::now(),
        })
    }

    /// The CUDA device this system uses, if any.
    pub fn cuda_device(&self) -> Option<&Arc<CudaDevice>> {
        self.cuda.as_ref()
    }

    /// This system's GPU, with the calling thread's current CUDA context saved: keep the
    /// guard until the call returns, so the caller's context is current again afterwards.
    fn require_cuda(&self) -> Result<(ContextRestore, &Arc<CudaDevice>)> {
        let dev = self.cuda.as_ref().ok_or_else(|| {
            Error::Device(format!(
                "this system runs on the CPU ({})",
                self.device_reason
            ))
        })?;
        Ok((ContextRestore::save(), dev))
    }

    /// Decode a container of any codec held in host memory on this system's GPU into host
    /// memory (p-adic: the CPU decoder's values, bit for bit), chunk CRCs checked on the GPU
    /// when configured.
    /// For validation against the CPU path. Errors: `Device` when the system has no GPU; as
    /// [`CudaDevice::decode_exact_host`].
    pub fn decompress_on_gpu(&self, container: &[u8], dtype: DType, dst: &mut [u8]) -> Result<()> {
        let (_restore, dev) = self.require_cuda()?;
        let info = codec::inspect(container)?;
        if info.delta.is_some() {
            return Err(Error::Unsupported(
                "a delta container decodes on the host against its base tensor \
                 (codec::delta::decompress_into); there is no GPU delta decoder yet"
                    .into(),
            ));
        }
        if info.sparse.is_some() {
            // Sparse: the host-known path of the archives (nested decodes, then the scatter).
            if info.dtype != dtype || info.original_bytes != dst.len() as u64 {
                return Err(Error::Destination(format!(
                    "container holds {:?} of {} bytes, destination is {dtype:?} of {} bytes",
                    info.dtype,
                    info.original_bytes,
                    dst.len()
                )));
            }
            let src = dev.upload(container)?;
            let out = dev.upload(&vec![0xA5u8; dst.len()])?;
            let status = dev.alloc_zeroed(8)?;
            let a = DeviceDecode {
                src: DeviceSlice::new(DevicePtr(src.addr()), container.len() as u64),
                dtype,
                dst: DeviceSlice::new(DevicePtr(out.addr()), dst.len() as u64),
                status: DeviceSlice::new(DevicePtr(status.addr()), 2),
                stream: std::ptr::null_mut(),
            };
            // SAFETY: the three buffers are live allocations of the stated sizes, kept until the
            // library's stream is synchronized by the downloads below.
            let (host, codes) = unsafe {
                self.decompress_device_as(&a, Some(&info))?;
                let own = dev.own_stream()?;
                (
                    dev.download_after(&out, own)?,
                    dev.download_after(&status, own)?,
                )
            };
            let code = i32::from_le_bytes(codes[..4].try_into().unwrap());
            if code != 0 {
                return Err(match code {
                    4 => Error::Destination("GPU sparse decode: destination".into()),
                    5 => Error::Unsupported(
                        "GPU sparse decode: a nested container the kernels cannot decode".into(),
                    ),
                    6 => Error::Checksum("GPU sparse decode: a nested chunk".into()),
                    c => Error::Corrupt(format!("GPU sparse decode: status {c}")),
                });
            }
            dst.copy_from_slice(&host[..dst.len()]);
            return Ok(());
        }
        dev.decode_exact_host(container, dtype, dst, self.config.verify_checksums)?;
        self.count(1, 1);
        self.count(4, dst.len() as u64);
        Ok(())
    }

    /// Enqueue a decode (any codec) from device memory into device memory on a caller's
    /// `CUstream` (null = the library's own stream, [`CudaDevice::own_stream`]; wait for it with
    /// [`System::device_synchronize`]); see [`DeviceDecode`] for the arguments and
    /// [`CudaDevice::decode_exact_async`] for the per-chunk status. Nothing synchronizes the
    /// host. Errors: `Device` (no GPU in this system, launch failure), `InvalidArgument`
    /// (`dst` not aligned to the element size, `status` not aligned to 4).
    ///
    /// # Safety
    /// As [`CudaDevice::decode_exact_async`]: the buffers are live device allocations of at
    /// least the stated lengths and stay alive until the stream has passed this work.
    pub unsafe fn decompress_device(&self, a: &DeviceDecode) -> Result<()> {
        self.decompress_device_as(a, None)
    }

    /// [`System::decompress_device`] for a container whose header the caller has read
    /// (`known`: [`codec::inspect`] of a host copy of its header, as an archive has): a
    /// lossless-v2 container of a dtype that layout v2 codes launches only the layout-v2
    /// kernel, a quant container only the quant kernel (one block per chunk), a sparse
    /// container its nested decodes and the scatter ([`CudaDevice::decode_sparse_async`]:
    /// only this way, since it needs the header on the host); anything else (or `None`) the
    /// kernels that find the codec on the device (which report sparse containers as status 5).
    ///
    /// # Safety
    /// As [`System::decompress_device`]; `known` must be the container's.
    pub(crate) unsafe fn decompress_device_as(
        &self,
        a: &DeviceDecode,
        known: Option<&codec::TensorInfo>,
    ) -> Result<()> {
        let codec = known.map(|k| k.codec);
        let (_restore, dev) = self.require_cuda()?;
        // Checked before anything is enqueued: the kernels store whole elements and i32s.
        if a.dst.ptr.addr() % a.dtype.size() as u64 != 0 || a.status.ptr.addr() % 4 != 0 {
            return Err(Error::InvalidArgument(format!(
                "dst must be aligned to the element size ({} bytes), status to 4",
                a.dtype.size()
            )));
        }
        let stream = dev.stream_or_own(a.stream)?;
        let item = crate::backend::cuda::SegmentedItem {
            src: a.src.ptr.addr(),
            src_len: a.src.len,
            dst: a.dst.ptr.addr(),
            dst_len: a.dst.len,
            dtype: a.dtype,
            status: a.status.ptr.addr(),
            status_len: a.status.len,
            // Known from the header's host copy (archives): blocks planned per segment.
            segment_elems: known.map_or(0, |k| k.chunk_elems),
        };
        if codec == Some(crate::format::container::CodecId::Delta) {
            return Err(Error::Unsupported(
                "delta containers decode on the host, against their base tensor \
                 (codec::delta::decompress_into); there is no GPU delta decoder yet"
                    .into(),
            ));
        }
        if codec == Some(crate::format::container::CodecId::LosslessV2)
            && codec::segmented::supports(a.dtype)
        {
            dev.decode_lossless_v2_async(item, stream, self.config.verify_checksums)?;
        } else if codec == Some(crate::format::container::CodecId::Quant) && a.dtype.is_float() {
            let chunks = known.map_or(1, |k| k.chunks as u64);
            dev.decode_quant_async(item, chunks, stream, self.config.verify_checksums)?;
        } else if let Some((k, s)) = known.and_then(|k| Some((k, k.sparse?))) {
            if k.dtype != a.dtype || k.original_bytes != a.dst.len {
                return Err(Error::Destination(format!(
                    "container holds {:?} of {} bytes, destination is {:?} of {} bytes",
                    k.dtype, k.original_bytes, a.dtype, a.dst.len
                )));
            }
            let part = |offset, len, chunks| crate::backend::cuda::NestedPart {
                offset,
                len,
                chunks,
            };
            let d = crate::backend::cuda::SparseDecode {
                src: a.src.ptr.addr(),
                src_len: a.src.len,
                dtype: a.dtype,
                dst: a.dst.ptr.addr(),
                numel: k.numel,
                nonzeros: s.nonzeros,
                block_elems: k.chunk_elems,
                starts_offset: s.starts_offset,
                mask: part(s.mask_offset, s.mask_len, s.mask_chunks),
                values: part(s.values_offset, s.values_len, s.values_chunks),
                values_v2: s.values_codec == crate::format::container::CodecId::LosslessV2,
                status: a.status.ptr.addr(),
                status_len: a.status.len,
            };
            dev.decode_sparse_async(&d, stream, self.config.verify_checksums)?;
        } else {
            dev.decode_exact_async(
                a.src.ptr.addr(),
                a.src.len,
                a.dtype,
                a.dst.ptr.addr(),
                a.dst.len,
                a.status.ptr.addr(),
                a.status.len,
                stream,
                // Blocks for the layout-v1 and p-adic kernels (they loop over chunks): one per
                // 4096 elements up to their cap, so a small tensor costs one block, not a grid.
                Some((a.dst.len / a.dtype.size() as u64).div_ceil(4096).max(1)),
                self.config.verify_checksums,
            )?;
        }
        self.count(slot::DEVICE_CALLS, 1);
        self.count(slot::DEVICE_TENSORS, 1);
        self.count(slot::DEVICE_BYTES, a.dst.len);
        Ok(())
    }

    /// Enqueue the decode of many tensors in device memory into device memory, with one status
    /// per tensor (nvCOMP's batched shape): lossless-v2 containers (codec 4, layout v2 of the
    /// lossless float codec for F32, F16 and BF16 tensors), all in one launch per [`crate::backend::cuda::SEG_BATCH`]
    /// tensors, on a caller's `CUstream` (null = the library's own stream). `statuses`: one i32
    /// per tensor on the device (aligned to 4), zeroed on the stream first, then 0 ok, 1 bad
    /// header, 2 bad stream, 3 rANS state mismatch, 4 destination mismatch, 6 checksum
    /// mismatch, 7 not a lossless-v2 container (decode it with [`System::decompress_device`]);
    /// or [`DevicePtr::NULL`]: failures are then reported nowhere. Segment checksums are
    /// checked unless the config says the data is trusted. Nothing synchronizes the host.
    /// Errors: `Device` (no GPU, launch failure), `InvalidArgument` (a `dst` not aligned to its
    /// element size, `statuses` not aligned to 4, a null `src` or `dst` of nonzero length).
    ///
    /// # Safety
    /// As [`System::decompress_device`], for every tensor and for `statuses` (`4 * len` bytes).
    pub unsafe fn decompress_device_batch(
        &self,
        tensors: &[DeviceTensor],
        statuses: DevicePtr,
        stream: *mut std::ffi::c_void,
    ) -> Result<()> {
        self.decompress_device_batch_planned(tensors, &[], statuses, stream)
    }

    /// [`System::decompress_device_batch`] with each container's segment length when the
    /// caller knows it from a host copy of its header (`segment_elems[i]`, 0 = unknown; an
    /// empty slice: none known), so that the launch gives every segment its own warp.
    ///
    /// # Safety
    /// As [`System::decompress_device_batch`].
    pub(crate) unsafe fn decompress_device_batch_planned(
        &self,
        tensors: &[DeviceTensor],
        segment_elems: &[u32],
        statuses: DevicePtr,
        stream: *mut std::ffi::c_void,
    ) -> Result<()> {
        let (_restore, dev) = self.require_cuda()?;
        if statuses.addr() % 4 != 0 {
            return Err(Error::InvalidArgument(
                "statuses must be aligned to 4".into(),
            ));
        }
        let mut items = Vec::with_capacity(tensors.len());
        for (i, t) in tensors.iter().enumerate() {
            if t.src.ptr.is_null() || (t.dst.ptr.is_null() && t.dst.len > 0) {
                return Err(Error::InvalidArgument(format!(
                    "tensor {i}: null src or dst"
                )));
            }
            if t.dst.ptr.addr() % t.dtype.size() as u64 != 0 {
                return Err(Error::InvalidArgument(format!(
                    "tensor {i}: dst must be aligned to the element size ({} bytes)",
                    t.dtype.size()
                )));
            }
            items.push(crate::backend::cuda::SegmentedItem {
                src: t.src.ptr.addr(),
                src_len: t.src.len,
                dst: t.dst.ptr.addr(),
                dst_len: t.dst.len,
                dtype: t.dtype,
                status: if statuses.is_null() {
                    0
                } else {
                    statuses.addr() + 4 * i as u64
                },
                status_len: 1,
                segment_elems: segment_elems.get(i).copied().unwrap_or(0),
            });
        }
        if items.is_empty() {
            return Ok(());
        }
        let stream = dev.stream_or_own(stream)?;
        if !statuses.is_null() {
            dev.zero_statuses_async(statuses.addr(), items.len() as u64, stream)?;
        }
        dev.decode_segmented_async(&items, true, self.config.verify_checksums, stream)?;
        self.count(slot::DEVICE_CALLS, 1);
        self.count(slot::DEVICE_TENSORS, items.len() as u64);
        self.count(
            slot::DEVICE_BYTES,
            items.iter().map(|it| it.dst_len).sum::<u64>(),
        );
        Ok(())
    }

    /// Sizes for compressing a tensor of `dtype` and `shape` with `opts` on this system's GPU:
    /// temporary device bytes, the largest container, chunk count (see
    /// [`EncodeLayout`]). Pure host computation; needs no device.
    /// Errors: `InvalidArgument` (shape, chunk size, lanes, p-adic parameters).
    pub fn compress_device_layout(
        dtype: DType,
        shape: &[u64],
        opts: &CompressOptions,
    ) -> Result<EncodeLayout> {
        EncodeLayout::for_options(dtype, shape, opts)
    }

    /// Compress a host tensor on this system's GPU (upload, compress, download). The GPU
    /// encoder writes the lossless codec in layout v1 (codec `lossless`; there is no layout-v2
    /// GPU encoder yet): byte for byte the container that [`codec::compress_with_layout`]
    /// writes with [`codec::StreamLayout::Lanes`]; p-adic gives a
    /// container that meets the bound for every element (`max_abs_error` measured on the GPU),
    /// whose bytes may differ from the CPU's. For validation and tools; engines with data on
    /// the GPU call [`System::compress_device`].
    /// Errors: `Device` when the system has no GPU; as [`System::compress_device_layout`].
    pub fn compress_on_gpu(
        &self,
        data: &[u8],
        dtype: DType,
        shape: &[u64],
        opts: &CompressOptions,
    ) -> Result<Compressed> {
        let (_restore, dev) = self.require_cuda()?;
        let codec = codec::codec_id_for(dtype, &opts.codec)?;
        let (bytes, max_abs_error) = dev.encode_host(data, dtype, shape, opts)?;
        self.count(0, 1);
        self.count(2, data.len() as u64);
        self.count(3, bytes.len() as u64);
        Ok(Compressed {
            bytes,
            max_abs_error,
            codec,
            choice: None,
        })
    }

    /// Enqueue the compression of a tensor in device memory into device memory on a caller's
    /// `CUstream` (null = the library's own stream, [`CudaDevice::own_stream`]; wait for it with
    /// [`System::device_synchronize`]); the container length goes to the device `u64` at
    /// `a.compressed_len`. A null `a.temp` lets the library allocate its temporary memory
    /// stream-ordered. See [`DeviceCompress`] for the arguments and
    /// [`CudaDevice::encode_async`] for the errors; `a.src.len` must be the tensor's byte
    /// length. Nothing synchronizes the host.
    ///
    /// # Safety
    /// As [`CudaDevice::encode_async`].
    pub unsafe fn compress_device(&self, a: &DeviceCompress<'_>) -> Result<()> {
        let (_restore, dev) = self.require_cuda()?;
        let layout = Self::compress_device_layout(a.dtype, a.shape, a.opts)?;
        if a.src.len != layout.input_bytes {
            return Err(Error::InvalidArgument(format!(
                "src is {} bytes; {:?} {:?} needs {}",
                a.src.len, a.dtype, a.shape, layout.input_bytes
            )));
        }
        let stream = dev.stream_or_own(a.stream)?;
        dev.encode_async(
            &layout,
            a.src.ptr.addr(),
            a.dst.ptr.addr(),
            a.dst.len,
            a.temp.ptr.addr(),
            a.temp.len,
            a.compressed_len.addr(),
            stream,
        )?;
        self.count(0, 1);
        self.count(2, a.src.len);
        Ok(())
    }

    /// Wait until the work this system enqueued on the library's own stream (calls given a null
    /// stream) is done. Errors: `Device` when the system has no GPU or that work failed.
    /// Thread-safe.
    pub fn device_synchronize(&self) -> Result<()> {
        let (_restore, dev) = self.require_cuda()?;
        dev.synchronize_own_stream()
    }

    /// The configuration this system was created with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The device in use and why it was chosen.
    pub fn device_status(&self) -> (Device, &str) {
        (self.device, &self.device_reason)
    }

    /// Run `f` in the background on the system's thread pool (fire and forget).
    pub fn spawn(&self, f: impl FnOnce() + Send + 'static) {
        self.pool.spawn(f)
    }

    /// Worker threads in the pool.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Counters since creation.
    pub fn stats(&self) -> Stats {
        let c = |i: usize| self.counters[i].load(Ordering::Relaxed);
        Stats {
            tensors_compressed: c(slot::TENSORS_COMPRESSED),
            tensors_decompressed: c(slot::TENSORS_DECOMPRESSED),
            bytes_in: c(slot::BYTES_IN),
            bytes_out: c(slot::BYTES_OUT),
            bytes_decompressed: c(slot::BYTES_DECOMPRESSED),
            compress_nanos: c(slot::COMPRESS_NANOS),
            decompress_nanos: c(slot::DECOMPRESS_NANOS),
            device_decode_calls: c(slot::DEVICE_CALLS),
            device_tensors_decoded: c(slot::DEVICE_TENSORS),
            device_bytes_decoded: c(slot::DEVICE_BYTES),
        }
    }

    /// Status and statistics as a JSON object: `state` (`"ready"`), `device` (as
    /// [`System::device_status`]), `threads`, `uptime_seconds`, `totals` (every [`Stats`]
    /// counter), `compression_ratio` (bytes in / bytes out of host and device compression),
    /// `throughput` (`compress_mb_s`, `decompress_mb_s`: uncompressed MB (10^6 bytes) per second
    /// of host call time, 0 before any call), `latency` (`compress_ms_avg`,
    /// `decompress_ms_avg` per host call), `cache` (`hits`, `misses`, `hit_rate`, `evictions`,
    /// `cpu_bursts` of every residency manager of the system), `bytes_per_tier` (`host_decoded`,
    /// `device_decoded`: decoded tensors the managers hold now; `device_containers`: compressed
    /// containers archives keep on the GPU now; `pinned_containers`: pinned host memory held for
    /// containers moved off the GPU, in use or kept for the next move) and `memory_pressure` (see
    /// [`System::memory_pressure`]). Device calls are counted when enqueued (they are
    /// asynchronous: no time is attributed to them).
    pub fn stats_json(&self) -> String {
        let s = self.stats();
        let (d, why) = self.device_status();
        let per = |num: f64, den: f64| if den > 0.0 { num / den } else { 0.0 };
        let secs = |n: u64| n as f64 / 1e9;
        let k = |i: usize| self.cache[i].load(Ordering::Relaxed);
        let prof = self.config.enable_profiling;
        serde_json::json!({
            "state": "ready",
            "device": format!("{d} ({why})"),
            "threads": self.threads(),
            "uptime_seconds": self.created.elapsed().as_secs_f64(),
            "totals": {
                "tensors_compressed": s.tensors_compressed,
                "tensors_decompressed": s.tensors_decompressed,
                "bytes_in": s.bytes_in,
                "bytes_out": s.bytes_out,
                "bytes_decompressed": s.bytes_decompressed,
                "device_decode_calls": s.device_decode_calls,
                "device_tensors_decoded": s.device_tensors_decoded,
                "device_bytes_decoded": s.device_bytes_decoded,
            },
            "compression_ratio": per(s.bytes_in as f64, s.bytes_out as f64),
            "throughput": if prof { serde_json::json!({
                "compress_mb_s": per(s.bytes_in as f64 / 1e6, secs(s.compress_nanos)),
                "decompress_mb_s": per(s.bytes_decompressed as f64 / 1e6, secs(s.decompress_nanos)),
            }) } else { serde_json::Value::Null },
            "latency": if prof { serde_json::json!({
                "compress_ms_avg": per(secs(s.compress_nanos) * 1e3, s.tensors_compressed as f64),
                "decompress_ms_avg": per(secs(s.decompress_nanos) * 1e3, s.tensors_decompressed as f64),
            }) } else { serde_json::Value::Null },
            "optimization_strategy": self.config.optimization_strategy,
            "cache": {
                "hits": k(cache::HITS),
                "misses": k(cache::MISSES),
                "hit_rate": per(k(cache::HITS) as f64, (k(cache::HITS) + k(cache::MISSES)) as f64),
                "evictions": k(cache::EVICTIONS),
                "cpu_bursts": k(cache::CPU_BURSTS),
                "container_moves": k(cache::CONTAINER_MOVES),
                "pinned_uploads": k(cache::PINNED_UPLOADS),
            },
            "bytes_per_tier": {
                "host_decoded": k(cache::HOST_DECODED),
                "device_decoded": k(cache::DEVICE_DECODED),
                "device_containers": k(cache::DEVICE_CONTAINERS),
                "pinned_containers": k(cache::PINNED_CONTAINERS),
            },
            "memory_pressure": self.memory_pressure(),
        })
        .to_string()
    }

    /// `memory_pressure` of [`System::stats_json`]: on a GPU, the latest `cuMemGetInfo`
    /// sample ([`System::device_memory`]: `gpu_free_mb`, `gpu_total_mb`, `gpu_utilization` =
    /// used / total device memory; `background_samples` taken by the monitor thread and the
    /// `gpu_peak_used_mb` they saw, null without one), the
    /// `memory_state` of that fraction at seed 003's thresholds 0.5 / 0.75 / 0.9 / 0.95) and the
    /// device memory pool's `pool_reserved_mb`, `pool_used_mb` and `pool_fragmentation`; on the
    /// CPU `memory_state` `"none"` and the rest null.
    fn memory_pressure(&self) -> serde_json::Value {
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        let info = self.device_memory();
        let pool = self.cuda.as_ref().and_then(|d| d.pool_usage().ok());
        let used = info.map(|(free, total)| 1.0 - free as f64 / total.max(1) as f64);
        serde_json::json!({
            "memory_state": self.config.swap_thresholds.state(used.unwrap_or(0.0)),
            "mode": self.config.memory_pressure_mode,
            "monitoring_interval_ms": self.config.monitoring_interval_ms,
            "gpu_free_mb": info.map(|i| mib(i.0)),
            "gpu_total_mb": info.map(|i| mib(i.1)),
            "gpu_utilization": used,
            "background_samples": self.sampler.as_ref().map(|s| s.samples()),
            "gpu_peak_used_mb": self.sampler.as_ref().map(|s| mib(s.peak_used())),
            "pool_reserved_mb": pool.map(|p| mib(p.reserved_bytes)),
            "pool_used_mb": pool.map(|p| mib(p.used_bytes)),
            "pool_fragmentation": pool.map(|p| p.fragmentation()),
        })
    }

    /// Add `v` to cache slot `i` (residency managers and archives report here).
    fn cache_add(&self, i: usize, v: u64) {
        self.cache[i].fetch_add(v, Ordering::Relaxed);
    }

    /// Subtract `v` from gauge slot `i`.
    fn cache_sub(&self, i: usize, v: u64) {
        self.cache[i].fetch_sub(v, Ordering::Relaxed);
    }

    /// Reserve `n` bytes of the pinned-host tier (`pinned_host_limit_mb`); false when they do
    /// not fit (nothing reserved). Released with `cache_sub(PINNED_CONTAINERS, n)`.
    fn pinned_reserve(&self, n: u64) -> bool {
        let limit = self.config.pinned_host_limit_mb.saturating_mul(1 << 20);
        self.cache[cache::PINNED_CONTAINERS]
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(n).filter(|&t| t <= limit)
            })
            .is_ok()
    }

    fn count(&self, i: usize, v: u64) {
        self.counters[i].fetch_add(v, Ordering::Relaxed);
    }

    /// Add the time since `t0` to slot `i` when profiling is on (`enable_profiling`).
    fn time(&self, i: usize, t0: std::time::Instant) {
        if self.config.enable_profiling {
            self.count(i, t0.elapsed().as_nanos() as u64);
        }
    }

    /// Free and total device memory (`cuMemGetInfo`): the background sampler's latest sample
    /// (taken every `monitoring_interval_ms` on the system's monitor thread); without one (an
    /// interval of 0, or no current sample), sampled here at most once per interval (later
    /// calls within it reuse the sample). `None` without a GPU or when the query fails.
    pub fn device_memory(&self) -> Option<(u64, u64)> {
        let dev = self.cuda.as_ref()?;
        if let Some(v) = self.sampler.as_ref().and_then(|s| s.latest()) {
            return Some(v);
        }
        let mut s = self.memory_sample.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = std::time::Duration::from_millis(self.config.monitoring_interval_ms);
        if let Some((at, v)) = *s {
            if at.elapsed() < fresh {
                return Some(v);
            }
        }
        let v = dev.memory_info().ok()?;
        *s = Some((std::time::Instant::now(), v));
        Some(v)
    }

    /// The device memory state (`swap_thresholds` applied to used / total device memory, from
    /// [`System::device_memory`]); `"none"` without a GPU.
    pub fn device_memory_state(&self) -> &'static str {
        let used = self
            .device_memory()
            .map_or(0.0, |(free, total)| 1.0 - free as f64 / total.max(1) as f64);
        self.config.swap_thresholds.state(used)
    }

    /// Options for `codec` with this system's chunk size and lanes. The lossless codec takes
    /// segments of [`codec::segmented::DEFAULT_SEGMENT_ELEMS`] (2^16) while the config keeps the
    /// default chunk size (2^18, the layout-v1 default: segments that long leave a GPU a quarter
    /// of the warps, each with a four times longer serial rANS chain), else the config's size.
    /// Lanes: the config's `lanes` for the lossless codec (set, it asks for layout v1; the
    /// strategy's lanes knob is not applied there, since layout v2 decodes faster), else
    /// [`Config::effective_lanes`].
    pub fn options(&self, codec: CodecParams) -> CompressOptions {
        let chunk_elems =
            if self.config.chunk_elems == crate::format::container::DEFAULT_CHUNK_ELEMS {
                codec::default_chunk_elems(&codec)
            } else {
                self.config.chunk_elems
            };
        let lanes = match codec {
            CodecParams::Lossless | CodecParams::LosslessV2 => self.config.lanes,
            _ => self.config.effective_lanes(),
        };
        CompressOptions {
            codec,
            chunk_elems,
            lanes,
        }
    }

    /// Decode a delta container against its base tensor on this system's thread pool (see
    /// [`codec::delta::decompress_into`] for arguments and errors); returns the bound that
    /// holds (0: bit-exact).
    pub fn decompress_delta_into(
        &self,
        container: &[u8],
        base: &[u8],
        dtype: DType,
        dst: &mut [u8],
    ) -> Result<f64> {
        self.pool
            .install(|| codec::delta::decompress_into(container, base, dtype, dst))
    }

    /// Compress a host tensor (see [`codec::compress`] for shapes, dtypes and errors).
    pub fn compress(
        &self,
        data: &[u8],
        dtype: DType,
        shape: &[u64],
        opts: &CompressOptions,
    ) -> Result<Compressed> {
        let t0 = std::time::Instant::now();
        let c = self
            .pool
            .install(|| codec::compress(data, dtype, shape, opts))?;
        self.time(slot::COMPRESS_NANOS, t0);
        self.count(0, 1);
        self.count(2, data.len() as u64);
        self.count(3, c.bytes.len() as u64);
        Ok(c)
    }

    /// Compress a host tensor straight into the caller's `dst` (see [`codec::compress_into`]
    /// for shapes, dtypes, errors, and `dst` being written only on success).
    pub fn compress_into(
        &self,
        data: &[u8],
        dtype: DType,
        shape: &[u64],
        opts: &CompressOptions,
        dst: &mut [u8],
    ) -> Result<codec::Written> {
        let t0 = std::time::Instant::now();
        let w = self
            .pool
            .install(|| codec::compress_into(data, dtype, shape, opts, dst))?;
        self.time(slot::COMPRESS_NANOS, t0);
        self.count(0, 1);
        self.count(2, data.len() as u64);
        self.count(3, w.len as u64);
        Ok(w)
    }

    /// Decompress into `dst` (see [`codec::decompress_into`]).
    pub fn decompress_into(&self, container: &[u8], dtype: DType, dst: &mut [u8]) -> Result<()> {
        let t0 = std::time::Instant::now();
        if self.config.verify_checksums {
            self.pool
                .install(|| codec::decompress_into(container, dtype, dst))?;
        } else {
            self.pool
                .install(|| codec::decompress_unverified(container, dtype, dst))?;
        }
        self.time(slot::DECOMPRESS_NANOS, t0);
        self.count(1, 1);
        self.count(4, dst.len() as u64);
        Ok(())
    }

    /// Progressive decode of the top `planes` digit planes (see
    /// [`codec::decompress_progressive`]); returns the bound that holds.
    pub fn decompress_progressive(
        &self,
        container: &[u8],
        dtype: DType,
        dst: &mut [u8],
        planes: u32,
    ) -> Result<f64> {
        let b = self
            .pool
            .install(|| codec::decompress_progressive(container, dtype, dst, planes))?;
        self.count(1, 1);
        self.count(4, dst.len() as u64);
        Ok(b)
    }

    /// Header information without decoding (see [`codec::inspect`]).
    pub fn inspect(&self, container: &[u8]) -> Result<TensorInfo> {
        codec::inspect(container)
    }
}

/// Arguments of [`System::decompress_device`]: a container in device memory decoded into
/// device memory. Plain data; owns nothing.
#[derive(Debug, Clone, Copy)]
pub struct DeviceDecode {
    /// The container (bytes).
    pub src: DeviceSlice,
    /// The tensor's dtype (must equal the container's).
    pub dtype: DType,
    /// The output: exactly the tensor's bytes, aligned to the element size, not overlapping
    /// `src`.
    pub dst: DeviceSlice,
    /// One `i32` status per chunk (`len` counts entries, not bytes), or
    /// [`DeviceSlice::NONE`].
    pub status: DeviceSlice,
    /// A `CUstream` of the device's primary context, or null for the library's own stream.
    pub stream: *mut std::ffi::c_void,
}

/// One tensor of [`System::decompress_device_batch`]: a container in device memory and the
/// device buffer it decodes into. Plain data; owns nothing.
#[derive(Debug, Clone, Copy)]
pub struct DeviceTensor {
    /// The container (bytes).
    pub src: DeviceSlice,
    /// The tensor's dtype (must equal the container's).
    pub dtype: DType,
    /// The output: exactly the tensor's bytes, aligned to the element size, not overlapping
    /// any input.
    pub dst: DeviceSlice,
}

/// Arguments of [`System::compress_device`]: a tensor in device memory compressed into a
/// container in device memory. Plain data; owns nothing.
#[derive(Debug, Clone, Copy)]
pub struct DeviceCompress<'a> {
    /// The tensor's elements (bytes), aligned to the element size; never written.
    pub src: DeviceSlice,
    /// The tensor's dtype.
    pub dtype: DType,
    /// The tensor's shape (at most 8 dimensions).
    pub shape: &'a [u64],
    /// Codec, chunk size and lanes.
    pub opts: &'a CompressOptions,
    /// The container's destination; `len` is its capacity (at least
    /// [`EncodeLayout::bound`]).
    pub dst: DeviceSlice,
    /// Temporary memory (at least [`EncodeLayout::temp_bytes`], aligned to 8), or
    /// [`DeviceSlice::NONE`] for library-allocated stream-ordered memory.
    pub temp: DeviceSlice,
    /// A device `u64`, aligned to 8, that receives the container's length.
    pub compressed_len: DevicePtr,
    /// A `CUstream` of the device's primary context, or null for the library's own stream.
    pub stream: *mut std::ffi::c_void,
}
