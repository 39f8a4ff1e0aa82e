//! Host compression: `saraphis_compress_bound`, `saraphis_compress` (into a library buffer),
//! `saraphis_compress_into` (straight into the caller's buffer) and `saraphis_compress_on_gpu`.

use std::ffi::c_void;

use super::boundary::{bytes, bytes_mut, guard, out_ptr, shape_arg, BoxHandle, Fail};
use super::buffer::saraphis_buffer;
use super::params::saraphis_params;
use super::result::saraphis_result;
use super::system::saraphis_system;
use super::types::dtype_arg;
use crate::codec;

/// Upper bound in bytes of the container for a tensor of `dtype` and `shape[ndim]` under
/// `params`, into `*out_bytes`, for sizing the destination of `saraphis_compress_into`.
/// Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` (bad dtype, ndim > 8, overflow, parameters),
/// `SARAPHIS_ERR_UNSUPPORTED` (BYTES for a float dtype), `SARAPHIS_ERR_NULL_PARAMETER`.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_compress_bound(
    dtype: u32,
    shape: *const u64,
    ndim: usize,
    params: *const saraphis_params,
    out_bytes: *mut usize,
) -> saraphis_result {
    guard(|| {
        let p = saraphis_params::try_ref(params, "params")?;
        let o = out_ptr(out_bytes, "out_bytes")?;
        let dtype = dtype_arg(dtype)?;
        let shape = shape_arg(shape, ndim)?;
        let opts = p.options(dtype)?;
        *o = codec::compress_bound(dtype, shape, &opts)?;
        Ok(())
    })
}

/// Compress on the system's CPU pool, or on its GPU when `gpu` is set, into a new Vec.
#[allow(clippy::too_many_arguments)]
unsafe fn compress_to_vec(
    system: *const saraphis_system,
    params: *const saraphis_params,
    data: *const c_void,
    data_bytes: usize,
    dtype: u32,
    shape: *const u64,
    ndim: usize,
    gpu: bool,
) -> Result<Vec<u8>, Fail> {
    let s = saraphis_system::try_ref(system, "system")?;
    let p = saraphis_params::try_ref(params, "params")?;
    let dtype = dtype_arg(dtype)?;
    let shape = shape_arg(shape, ndim)?;
    let data = bytes(data, data_bytes, "data")?;
    let opts = p.options(dtype)?;
    let c = if gpu {
        s.compress_on_gpu(data, dtype, shape, &opts)?
    } else {
        s.compress(data, dtype, shape, &opts)?
    };
    Ok(c.bytes)
}

/// Compress a host tensor into a new library-owned buffer (`*out`, free with
/// `saraphis_buffer_free`).
///
/// `data`: `data_bytes` bytes of little-endian, row-major elements of `dtype`
/// (`saraphis_dtype`) and shape `shape[ndim]` (ndim 0..=8; `shape` may be NULL when ndim is
/// 0); never written. Chunks are coded on the system's thread pool.
/// Errors: `SARAPHIS_ERR_NULL_PARAMETER`, `SARAPHIS_ERR_INVALID_ARGUMENT` (size/shape mismatch,
/// bad dtype or parameters), `SARAPHIS_ERR_UNSUPPORTED`; `*out` is written only on success.
/// Thread-safe on one system.
#[no_mangle]
pub unsafe extern "C" fn saraphis_compress(
    system: *const saraphis_system,
    params: *const saraphis_params,
    data: *const c_void,
    data_bytes: usize,
    dtype: u32,
    shape: *const u64,
    ndim: usize,
    out: *mut *mut saraphis_buffer,
) -> saraphis_result {
    guard(|| {
        let o = out_ptr(out, "out")?;
        let v = compress_to_vec(system, params, data, data_bytes, dtype, shape, ndim, false)?;
        *o = saraphis_buffer::into_handle(v);
        Ok(())
    })
}

/// Compress straight into the caller's buffer `dst` of `dst_capacity` bytes (size it with
/// `saraphis_compress_bound`); `*written` receives the container length. The container is laid
/// out in `dst` directly (no container-sized copy); only each chunk's coded bytes are held
/// until the chunk table is known. Arguments as `saraphis_compress`.
/// Errors: those of `saraphis_compress`; `SARAPHIS_ERR_DESTINATION` if `dst_capacity` is too
/// small (the message gives the size needed) or `dst` overlaps `data`. On any error neither
/// `dst` nor `*written` is written. Thread-safe on one system.
#[no_mangle]
pub unsafe extern "C" fn saraphis_compress_into(
    system: *const saraphis_system,
    params: *const saraphis_params,
    data: *const c_void,
    data_bytes: usize,
    dtype: u32,
    shape: *const u64,
    ndim: usize,
    dst: *mut c_void,
    dst_capacity: usize,
    written: *mut usize,
) -> saraphis_result {
    guard(|| {
        let s = saraphis_system::try_ref(system, "system")?;
        let p = saraphis_params::try_ref(params, "params")?;
        let written = out_ptr(written, "written")?;
        if dst.is_null() {
            return Err(Fail::Null("dst"));
        }
        let dtype = dtype_arg(dtype)?;
        let shape = shape_arg(shape, ndim)?;
        let src = bytes(data, data_bytes, "data")?;
        let dst = bytes_mut(dst, dst_capacity, src, "dst")?;
        let opts = p.options(dtype)?;
        let w = s.compress_into(src, dtype, shape, &opts, dst)?;
        *written = w.len;
        Ok(())
    })
}

/// Compress a host tensor on the system's GPU (upload, compress, download; synchronous: returns
/// when the container is in host memory) into a new library-owned buffer (`*out`, free with
/// `saraphis_buffer_free`). Bit-exact codecs: the bytes equal those of `saraphis_compress` for the
/// same tensor and parameters; p-adic: as `saraphis_compress_device` says. Arguments as
/// `saraphis_compress`. For data already in device memory use `saraphis_compress_device`, which
/// does not synchronize.
/// Errors: those of `saraphis_compress`, `SARAPHIS_ERR_DEVICE` (no CUDA device in this system,
/// device memory exhausted). Thread-safe on one system.
#[no_mangle]
pub unsafe extern "C" fn saraphis_compress_on_gpu(
    system: *const saraphis_system,
    params: *const saraphis_params,
    data: *const c_void,
    data_bytes: usize,
    dtype: u32,
    shape: *const u64,
    ndim: usize,
    out: *mut *mut saraphis_buffer,
) -> saraphis_result {
    guard(|| {
        let o = out_ptr(out, "out")?;
        let v = compress_to_vec(system, params, data, data_bytes, dtype, shape, ndim, true)?;
        *o = saraphis_buffer::into_handle(v);
        Ok(())
    })
}
