//! GPU calls on device memory (nvCOMP's low-level model): `saraphis_decompress_device`,
//! `saraphis_compress_device_sizes`, `saraphis_compress_device` and
//! `saraphis_device_synchronize`. The caller owns every buffer and passes its `CUstream`;
//! nothing synchronizes the host. Device pointers become [`DevicePtr`]s here and travel down
//! in the argument structs [`DeviceDecode`] and [`DeviceCompress`].

use std::ffi::c_void;

use super::boundary::{guard, shape_arg, BoxHandle, Fail};
use super::params::saraphis_params;
use super::result::saraphis_result;
use super::system::saraphis_system;
use super::types::dtype_arg;
use crate::system::{DeviceCompress, DeviceDecode, DevicePtr, DeviceSlice, DeviceTensor, System};

/// Wait until the device work the system enqueued on the library's own stream is done. Device
/// calls given a NULL `CUstream` (`saraphis_decompress_device`, `saraphis_compress_device`) run
/// on that stream: one non-blocking stream per device, created on first use, owned by the
/// library, not ordered with the caller's streams nor the legacy default stream. Blocks the
/// calling thread; returns at once if the stream was never used.
/// Errors: `SARAPHIS_ERR_DEVICE` (the system has no CUDA device, or work on the stream failed),
/// `SARAPHIS_ERR_NULL_PARAMETER`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_device_synchronize(
    system: *const saraphis_system,
) -> saraphis_result {
    guard(|| {
        let s = saraphis_system::try_ref(system, "system")?;
        s.device_synchronize()?;
        Ok(())
    })
}

/// Decompress a container of any codec that is in device memory into device memory, enqueued
/// on `stream` (a `CUstream`/`cudaStream_t` of the device's primary context; NULL = the
/// library's own stream, see `saraphis_device_synchronize`): raw, lossless and byte-plane
/// containers bit for bit, p-adic containers to exactly the values `saraphis_decompress` gives
/// on the CPU (hence within their bound). Three kernels are enqueued (layout-v1 and other exact
/// codecs, p-adic, lossless-v2); each leaves the other codecs' containers alone. Returns once
/// the work is enqueued: nothing synchronizes the host. Needs no temporary device memory.
/// On the library's own stream (NULL), consecutive calls may run at the same time on the GPU
/// (programmatic dependent launch, sm_90 and newer): a call whose output or input overlaps the
/// output of a call still in flight there waits for it, and each call's work ends only after the
/// calls it overlapped, so `saraphis_device_synchronize` and later work on that stream see every
/// output. On a caller's stream calls run one after another.
///
/// `src_dev`/`src_bytes`: the container on the device (any alignment). `dst_dev`/`dst_bytes`:
/// exactly the tensor's bytes, aligned to the element size, not overlapping `src_dev`.
/// `status_dev`: `status_len` int32 on the device (aligned to 4), one per chunk (0 ok, 1 bad
/// header, 2 bad stream, 3 rANS state mismatch, 4 destination size or dtype, 5 not decodable
/// on the GPU: p-adic chunks with more than 8 digit planes, more than 128 lanes, or a
/// rANS-coded sparse plane of a prime above 257 (decode those with `saraphis_decompress`), 6
/// CRC-32 mismatch), or NULL: then a chunk that fails is reported nowhere (its part of `dst`
/// is left unspecified and the call still returned `SARAPHIS_OK`), so untrusted data wants a
/// status array or a CPU decode. Chunk CRCs are checked on the GPU unless the system's config
/// set `SARAPHIS_CONFIG_VERIFY_CHECKSUMS` to 0 (trusted data).
/// Errors (host side, before anything is enqueued): `SARAPHIS_ERR_DEVICE` (the system has no
/// CUDA device, or the launch failed), `SARAPHIS_ERR_NULL_PARAMETER`,
/// `SARAPHIS_ERR_INVALID_ARGUMENT` (bad dtype, `dst_dev` not aligned to the element size,
/// `status_dev` not aligned to 4). Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_decompress_device(
    system: *const saraphis_system,
    src_dev: *const c_void,
    src_bytes: usize,
    dtype: u32,
    dst_dev: *mut c_void,
    dst_bytes: usize,
    status_dev: *mut i32,
    status_len: usize,
    stream: *mut c_void,
) -> saraphis_result {
    guard(|| {
        let s = saraphis_system::try_ref(system, "system")?;
        if src_dev.is_null() {
            return Err(Fail::Null("src_dev"));
        }
        if dst_dev.is_null() && dst_bytes > 0 {
            return Err(Fail::Null("dst_dev"));
        }
        let dtype = dtype_arg(dtype)?;
        let args = DeviceDecode {
            src: DeviceSlice::new(DevicePtr::from_ptr(src_dev), src_bytes as u64),
            dtype,
            dst: DeviceSlice::new(DevicePtr::from_ptr(dst_dev), dst_bytes as u64),
            status: DeviceSlice::new(DevicePtr::from_ptr(status_dev), status_len as u64),
            stream,
        };
        s.decompress_device(&args)?;
        Ok(())
    })
}

/// Per-tensor (batched call) and per-chunk (single call) status codes the GPU decoders write
/// into a caller's status array on the device (`int32_t`). The kernels (`kernels/*.cu`) write
/// these same numbers.
#[repr(C)]
#[allow(non_camel_case_types, dead_code)]
pub enum saraphis_device_status {
    /// Decoded.
    SARAPHIS_DEVICE_OK = 0,
    /// The container's header is malformed (or, batched, the tensor's parameters are).
    SARAPHIS_DEVICE_BAD_HEADER = 1,
    /// A chunk's or segment's stream is malformed (lengths, modes, word counts).
    SARAPHIS_DEVICE_BAD_STREAM = 2,
    /// rANS states did not return to their initial value with every word consumed.
    SARAPHIS_DEVICE_STATE_MISMATCH = 3,
    /// The destination's size or dtype does not match the container.
    SARAPHIS_DEVICE_DESTINATION = 4,
    /// Not decodable on the GPU (single call; decode it with `saraphis_decompress`).
    SARAPHIS_DEVICE_UNSUPPORTED = 5,
    /// Checksum mismatch (CRC-32 of a layout-v1 chunk, word checksum of a layout-v2 segment).
    SARAPHIS_DEVICE_CHECKSUM = 6,
    /// Batched call only: not a lossless-v2 container; decode it with
    /// `saraphis_decompress_device`.
    SARAPHIS_DEVICE_NOT_BATCHED = 7,
}

/// One tensor of `saraphis_decompress_device_batch`: a container in device memory and the
/// device buffer it decodes into. Plain data, filled by the caller in host memory.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct saraphis_device_tensor {
    /// The container on the device (any alignment; 16 bytes, as cudaMalloc gives, reads
    /// fastest). Never written.
    pub src_dev: *const c_void,
    /// Its length in bytes.
    pub src_bytes: usize,
    /// The output on the device: exactly the tensor's bytes, aligned to the element size, not
    /// overlapping any container of the batch.
    pub dst_dev: *mut c_void,
    /// Its length in bytes.
    pub dst_bytes: usize,
    /// The tensor's dtype (a `saraphis_dtype`; must equal the container's).
    pub dtype: u32,
}

/// Decompress `count` tensors from device memory into device memory in one launch per 256
/// tensors (nvCOMP's batched shape), enqueued on `stream` (a `CUstream`/`cudaStream_t` of the
/// device's primary context; NULL = the library's own stream, see
/// `saraphis_device_synchronize`). Decodes lossless-v2 containers (F32, F16 and BF16 tensors
/// compressed with `SARAPHIS_CODEC_LOSSLESS_V2`, or `saraphis compress --lossless-v2`) bit for
/// bit: one GPU warp per segment (2^16 elements by default), so a whole model of small tensors
/// is one launch (all-MiniLM-L6-v2 in BF16: 0.366 ms on an H200, docs/BENCHMARKS.md). Returns
/// once the work is enqueued: nothing synchronizes the host. Needs no temporary device memory.
/// On the library's own stream (NULL), a call of at most 256 tensors may run at the same time
/// as the decodes before it there, as `saraphis_decompress_device` calls do (and under the same
/// rule: not when its buffers meet an earlier call's output still in flight).
///
/// `tensors`: `count` descriptors in host memory (read during the call only). `statuses_dev`:
/// `count` int32 on the device (aligned to 4), zeroed on the stream and then set per tensor to
/// a `saraphis_device_status` (`SARAPHIS_DEVICE_NOT_BATCHED` for a container of another codec:
/// decode it with `saraphis_decompress_device`), or NULL: failures are then reported nowhere
/// (the tensor's output is unspecified). Segment checksums are checked on the GPU unless the
/// system's config set `SARAPHIS_CONFIG_VERIFY_CHECKSUMS` to 0.
/// Errors (host side, before anything is enqueued): `SARAPHIS_ERR_DEVICE` (no CUDA device, or
/// the launch failed), `SARAPHIS_ERR_NULL_PARAMETER` (`system`, or `tensors` with `count` > 0),
/// `SARAPHIS_ERR_INVALID_ARGUMENT` (bad dtype, a null `src_dev`, a null `dst_dev` with
/// `dst_bytes` > 0, a `dst_dev` not aligned to its element size, `statuses_dev` not aligned to
/// 4). Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_decompress_device_batch(
    system: *const saraphis_system,
    tensors: *const saraphis_device_tensor,
    count: usize,
    statuses_dev: *mut i32,
    stream: *mut c_void,
) -> saraphis_result {
    guard(|| {
        let s = saraphis_system::try_ref(system, "system")?;
        if count == 0 {
            return Ok(());
        }
        if tensors.is_null() {
            return Err(Fail::Null("tensors"));
        }
        let descs = std::slice::from_raw_parts(tensors, count);
        let mut list = Vec::with_capacity(count);
        for d in descs {
            list.push(DeviceTensor {
                src: DeviceSlice::new(DevicePtr::from_ptr(d.src_dev), d.src_bytes as u64),
                dtype: dtype_arg(d.dtype)?,
                dst: DeviceSlice::new(DevicePtr::from_ptr(d.dst_dev), d.dst_bytes as u64),
            });
        }
        s.decompress_device_batch(&list, DevicePtr::from_ptr(statuses_dev), stream)?;
        Ok(())
    })
}

/// Sizes for compressing a tensor of `dtype` and `shape[ndim]` under `params` on a GPU with
/// `saraphis_compress_device`, computed on the host (no device needed): `*temp_bytes` receives
/// the temporary device memory in bytes, `*max_compressed_bytes` the largest container (equal to
/// `saraphis_compress_bound`). Either output pointer may be NULL; both are written only on
/// success. Temporary memory: bit-exact codecs 64 bytes plus, per chunk, 144 bytes, 512 per
/// symbol stream and 4 per rANS lane and stream (F64 3584 more): 0.25-0.6% of the input at the
/// default chunk of 2^18 elements. p-adic: 256 bytes, 8 per chunk, up to 10 KiB of statistics,
/// and 10.5 KiB of scratch per encode block, with as many blocks (1 to 1024, at most one per
/// chunk) as fit in 1% of the input: about 1% of a large input, and one block's scratch at
/// least.
/// Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` (bad dtype, shape or parameters),
/// `SARAPHIS_ERR_UNSUPPORTED`, `SARAPHIS_ERR_NULL_PARAMETER`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_compress_device_sizes(
    params: *const saraphis_params,
    dtype: u32,
    shape: *const u64,
    ndim: usize,
    temp_bytes: *mut usize,
    max_compressed_bytes: *mut usize,
) -> saraphis_result {
    guard(|| {
        let p = saraphis_params::try_ref(params, "params")?;
        let dtype = dtype_arg(dtype)?;
        let shape = shape_arg(shape, ndim)?;
        let opts = p.options(dtype)?;
        let l = System::compress_device_layout(dtype, shape, &opts)?;
        let (temp, max) = (usize::try_from(l.temp_bytes), usize::try_from(l.bound));
        let (Ok(temp), Ok(max)) = (temp, max) else {
            return Err(super::boundary::invalid("sizes do not fit size_t"));
        };
        if let Some(t) = temp_bytes.as_mut() {
            *t = temp;
        }
        if let Some(m) = max_compressed_bytes.as_mut() {
            *m = max;
        }
        Ok(())
    })
}

/// Compress a tensor that is in device memory into a container in device memory on the
/// system's GPU, enqueued on `stream` (a `CUstream`/`cudaStream_t` of the device's primary
/// context; NULL = the library's own stream, see `saraphis_device_synchronize`). Returns once
/// the work is enqueued: nothing synchronizes the host.
/// Every codec: raw, lossless (F32, F16, BF16, F64), byte planes for integer and bool tensors,
/// and p-adic for float tensors. The bit-exact codecs give byte for byte the container
/// `saraphis_compress` writes on the CPU for the same tensor and parameters. p-adic gives a
/// container every decoder reads, with every element within the bound (checked on the GPU
/// against the decoders' reconstruction, as the CPU encoder does); its bytes may differ from the
/// CPU's (the GPU takes CUDA's `log` in relative mode and codes sparse digit planes' nonzero
/// digits constant or raw), and so may a decoded value, by one quantization step, where an
/// element sits on a rounding boundary.
///
/// `src_dev`/`src_bytes`: the tensor's elements (little-endian, row-major), aligned to the
/// element size; never written. `dst_dev`/`dst_capacity`: at least `max_compressed_bytes` of
/// `saraphis_compress_device_sizes`. `temp_dev`/`temp_bytes`: at least its `temp_bytes`, aligned
/// to 8 (any contents), or NULL to let the library allocate and free it stream-ordered
/// (cuMemAllocAsync / cuMemFreeAsync). `compressed_bytes_dev`: a device `uint64_t`, aligned to 8,
/// that receives the container's length when the stream reaches the end of the compression
/// (0 would mean an internal consistency check failed: please report it). None of the buffers
/// may overlap, and all must stay alive until the stream has passed this work.
/// Errors (host side, before anything is enqueued): `SARAPHIS_ERR_DEVICE` (no CUDA device in
/// this system, allocation or launch failure), `SARAPHIS_ERR_DESTINATION` (`dst_capacity` too
/// small), `SARAPHIS_ERR_INVALID_ARGUMENT` (size or shape mismatch, misaligned pointer, temp too
/// small), `SARAPHIS_ERR_UNSUPPORTED`, `SARAPHIS_ERR_NULL_PARAMETER`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_compress_device(
    system: *const saraphis_system,
    params: *const saraphis_params,
    src_dev: *const c_void,
    src_bytes: usize,
    dtype: u32,
    shape: *const u64,
    ndim: usize,
    dst_dev: *mut c_void,
    dst_capacity: usize,
    temp_dev: *mut c_void,
    temp_bytes: usize,
    compressed_bytes_dev: *mut u64,
    stream: *mut c_void,
) -> saraphis_result {
    guard(|| {
        let s = saraphis_system::try_ref(system, "system")?;
        let p = saraphis_params::try_ref(params, "params")?;
        if src_dev.is_null() && src_bytes > 0 {
            return Err(Fail::Null("src_dev"));
        }
        if dst_dev.is_null() {
            return Err(Fail::Null("dst_dev"));
        }
        if compressed_bytes_dev.is_null() {
            return Err(Fail::Null("compressed_bytes_dev"));
        }
        let dtype = dtype_arg(dtype)?;
        let shape = shape_arg(shape, ndim)?;
        let opts = p.options(dtype)?;
        let args = DeviceCompress {
            src: DeviceSlice::new(DevicePtr::from_ptr(src_dev), src_bytes as u64),
            dtype,
            shape,
            opts: &opts,
            dst: DeviceSlice::new(DevicePtr::from_ptr(dst_dev), dst_capacity as u64),
            temp: DeviceSlice::new(DevicePtr::from_ptr(temp_dev), temp_bytes as u64),
            compressed_len: DevicePtr::from_ptr(compressed_bytes_dev),
            stream,
        };
        s.compress_device(&args)?;
        Ok(())
    })
}
