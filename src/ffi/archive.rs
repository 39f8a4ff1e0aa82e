//! `saraphis_archive`: an opened `.sph` archive (a boxed [`Archive`] and its tensor names as C
//! strings), owned by the caller from `saraphis_archive_open` / `saraphis_archive_open_memory` to
//! `saraphis_archive_free`. Tensors are addressed by index (`0 .. count`, the order of their data
//! in the original safetensors file) or found by name, described without decoding, and decoded
//! into host memory or, on the system's GPU, into device memory.
//!
//! Thread safety: an archive may be used from many threads at once (decodes included); it holds a
//! reference to its system, so freeing the system first is allowed.

use std::ffi::{c_char, c_void, CString};
use std::path::Path;

use super::boundary::{bytes, c_str, guard, guard_value, out_ptr, BoxHandle, Fail};
use super::buffer::saraphis_buffer;
use super::params::saraphis_params;
use super::result::saraphis_result;
use super::system::saraphis_system;
use super::types::saraphis_tensor_info;
use crate::error::Error;
use crate::system::{Archive, DevicePtr, DeviceSlice};

/// Opaque archive handle. Thread-safe.
pub struct saraphis_archive {
    _private: [u8; 0],
}

/// The Rust value behind `saraphis_archive`.
pub struct ArchiveHandle {
    pub(super) archive: std::sync::Arc<Archive>,
    names: Vec<CString>,
}

impl BoxHandle for saraphis_archive {
    type Rust = ArchiveHandle;
}

/// A NUL-terminated UTF-8 path argument. Errors: `SARAPHIS_ERR_NULL_PARAMETER`,
/// `SARAPHIS_ERR_INVALID_ARGUMENT` (not UTF-8).
///
/// # Safety
/// `p` is null or a NUL-terminated string.
unsafe fn path_arg(p: *const c_char, what: &'static str) -> Result<String, Fail> {
    c_str(p, what)?
        .to_str()
        .map(|s| s.to_owned())
        .map_err(|_| super::boundary::invalid(format!("{what} is not UTF-8")))
}

fn handle(archive: Archive) -> ArchiveHandle {
    let names = (0..archive.len())
        .map(|i| {
            let n = &archive.entry(i).expect("in range").name;
            CString::new(n.replace('\0', " ")).unwrap_or_default()
        })
        .collect();
    ArchiveHandle {
        archive: std::sync::Arc::new(archive),
        names,
    }
}

/// Open the `.sph` archive file at `path` (UTF-8, NUL-terminated) on `system`, memory-mapped
/// read-only, into `*out`. Checks the file header, the index and every container's header against
/// its index entry (no payload is read: opening is fast and costs no memory in proportion to the
/// model). The archive keeps a reference to `system`. Free it with `saraphis_archive_free`.
/// Errors: `SARAPHIS_ERR_IO` (the message names the path), `SARAPHIS_ERR_BAD_MAGIC`,
/// `SARAPHIS_ERR_UNSUPPORTED_VERSION`, `SARAPHIS_ERR_TRUNCATED`, `SARAPHIS_ERR_CHECKSUM`,
/// `SARAPHIS_ERR_CORRUPT`, `SARAPHIS_ERR_UNSUPPORTED` (a dtype this build does not know),
/// `SARAPHIS_ERR_INVALID_ARGUMENT` (a directory, a path that is not UTF-8),
/// `SARAPHIS_ERR_NULL_PARAMETER`; `*out` is written only on success. Another process truncating
/// the file while it is mapped is the hazard of every memory-mapped reader (SIGBUS).
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_archive_open(
    system: *const saraphis_system,
    path: *const c_char,
    out: *mut *mut saraphis_archive,
) -> saraphis_result {
    guard(|| {
        let s = saraphis_system::try_ref(system, "system")?;
        let o = out_ptr(out, "out")?;
        let path = c_str(path, "path")?
            .to_str()
            .map_err(|_| super::boundary::invalid("path is not UTF-8"))?;
        let a = Archive::open(s.clone(), Path::new(path))?;
        *o = saraphis_archive::into_handle(handle(a));
        Ok(())
    })
}

/// Open an archive held in memory, `data[len]`, without copying it: the bytes must stay valid
/// and unchanged until `saraphis_archive_free` and the free of every residency manager made
/// from the archive (each keeps it). Checks and errors as `saraphis_archive_open`
/// (no `SARAPHIS_ERR_IO`); `*out` is written only on success. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_archive_open_memory(
    system: *const saraphis_system,
    data: *const c_void,
    len: usize,
    out: *mut *mut saraphis_archive,
) -> saraphis_result {
    guard(|| {
        let s = saraphis_system::try_ref(system, "system")?;
        let o = out_ptr(out, "out")?;
        let d = bytes(data, len, "data")?;
        let a = Archive::from_raw(s.clone(), d.as_ptr(), d.len())?;
        *o = saraphis_archive::into_handle(handle(a));
        Ok(())
    })
}

/// Free an archive (NULL is a no-op): its map or its reference to the caller's bytes, and the
/// containers it keeps in device memory. No call on it may be running or follow, and device work
/// enqueued through it must be finished (its containers are read by that work).
#[no_mangle]
pub unsafe extern "C" fn saraphis_archive_free(archive: *mut saraphis_archive) {
    guard_value((), || saraphis_archive::free(archive))
}

/// Number of tensors into `*n`. Errors: `SARAPHIS_ERR_NULL_PARAMETER`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_archive_tensor_count(
    archive: *const saraphis_archive,
    n: *mut usize,
) -> saraphis_result {
    guard(|| {
        let a = saraphis_archive::try_ref(archive, "archive")?;
        *out_ptr(n, "n")? = a.archive.len();
        Ok(())
    })
}

/// Name of tensor `i` (UTF-8, NUL-terminated, as in the original safetensors file), owned by the
/// archive and valid until `saraphis_archive_free`; NULL when `archive` is NULL or `i` is out of
/// range. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_archive_tensor_name(
    archive: *const saraphis_archive,
    i: usize,
) -> *const c_char {
    guard_value(std::ptr::null(), || {
        saraphis_archive::try_ref(archive, "archive")
            .ok()
            .and_then(|a| a.names.get(i))
            .map_or(std::ptr::null(), |n| n.as_ptr())
    })
}

/// Index of the tensor called `name` (UTF-8, NUL-terminated) into `*i`. Errors:
/// `SARAPHIS_ERR_NOT_FOUND` (no such tensor), `SARAPHIS_ERR_NULL_PARAMETER`; `*i` is written
/// only on success. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_archive_find(
    archive: *const saraphis_archive,
    name: *const c_char,
    i: *mut usize,
) -> saraphis_result {
    guard(|| {
        let a = saraphis_archive::try_ref(archive, "archive")?;
        let out = out_ptr(i, "i")?;
        let name = c_str(name, "name")?.to_string_lossy();
        *out = a
            .archive
            .find(&name)
            .ok_or_else(|| Error::NotFound(format!("no tensor named '{name}' in the archive")))?;
        Ok(())
    })
}

/// Header information of tensor `i` into `*info`: dtype, codec, shape, element count, original
/// and compressed (container) bytes, chunk size and count, and for p-adic tensors the bound
/// (mode and value), prime and digit planes. Nothing is decoded. Errors:
/// `SARAPHIS_ERR_INVALID_ARGUMENT` (`i` out of range), `SARAPHIS_ERR_NULL_PARAMETER`; `*info` is
/// written only on success. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_archive_tensor_info(
    archive: *const saraphis_archive,
    i: usize,
    info: *mut saraphis_tensor_info,
) -> saraphis_result {
    guard(|| {
        let a = saraphis_archive::try_ref(archive, "archive")?;
        let out = out_ptr(info, "info")?;
        *out = saraphis_tensor_info::from_info(a.archive.info(i)?);
        Ok(())
    })
}

/// Decode tensor `i` on the CPU (the system's worker threads) into host memory `dst[dst_bytes]`,
/// exactly the tensor's `original_bytes`: bit for bit for exact codecs, within the recorded bound
/// for p-adic ones. The container's CRC-32 recorded in the index and its chunks' checksums (unless
/// the config says the data is trusted) are checked first. Errors: `SARAPHIS_ERR_INVALID_ARGUMENT`
/// (`i` out of range), `SARAPHIS_ERR_DESTINATION` (wrong size; nothing written),
/// `SARAPHIS_ERR_CHECKSUM` (the container or a chunk was altered; the message names the tensor),
/// `SARAPHIS_ERR_CORRUPT`, `SARAPHIS_ERR_NULL_PARAMETER`. On a data error `dst` holds unspecified
/// bytes. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_archive_decompress(
    archive: *const saraphis_archive,
    i: usize,
    dst: *mut c_void,
    dst_bytes: usize,
) -> saraphis_result {
    guard(|| {
        let a = saraphis_archive::try_ref(archive, "archive")?;
        // An output never overwrites an input: `dst` may not overlap the archive's bytes.
        let dst = super::boundary::bytes_mut(dst, dst_bytes, a.archive.bytes(), "dst")?;
        a.archive.decompress_into(i, dst)?;
        Ok(())
    })
}

/// Attach `base`, the base model of `archive`'s delta tensors (docs/FORMAT.md §10: an archive
/// compressed with the CLI's `--base`; the base opened as an archive, e.g. the base
/// safetensors file compressed losslessly). Each delta tensor's base tensor (same name, dtype
/// and shape) is decoded on the host once and checked against the XXH3-128 the delta container
/// records: a wrong base is refused here, before anything is decoded. Then
/// `saraphis_archive_decompress` and the device decode calls decode delta tensors (on the host:
/// the device calls copy the host result; there is no GPU delta kernel yet). `archive` keeps
/// its own reference to `base`: the caller may free its `base` handle at once. `*delta_tensors`
/// (may be NULL) receives the number of delta tensors. Errors:
/// `SARAPHIS_ERR_INVALID_ARGUMENT` (a base already attached; a delta tensor whose base tensor
/// is missing or has another hash, named), the errors of decoding a base tensor,
/// `SARAPHIS_ERR_NULL_PARAMETER`. Thread-safe; call it before decoding delta tensors.
#[no_mangle]
pub unsafe extern "C" fn saraphis_archive_set_base(
    archive: *const saraphis_archive,
    base: *const saraphis_archive,
    delta_tensors: *mut usize,
) -> saraphis_result {
    guard(|| {
        let a = saraphis_archive::try_ref(archive, "archive")?;
        let b = saraphis_archive::try_ref(base, "base")?;
        let n = a.archive.set_base(b.archive.clone())?;
        if !delta_tensors.is_null() {
            *delta_tensors = n;
        }
        Ok(())
    })
}

/// Decode tensor `i` into device memory `dst_dev[dst_bytes]` (exactly the tensor's
/// `original_bytes`, aligned to its element size) on `stream` (a `CUstream`/`cudaStream_t` of the
/// system GPU's primary context; NULL = the library's own stream, see
/// `saraphis_device_synchronize`). The tensor's container is uploaded to the GPU once, after its
/// CRC-32 check, and kept there until `saraphis_archive_free`. The first device decode of each
/// tensor waits for `stream` and checks every chunk's status on the host: a tensor the GPU kernels
/// cannot decode (p-adic with more than 8 digit planes) is then decoded on the CPU and copied, on
/// this and every later call (which then waits for `stream`); any other failure is returned.
/// Later calls of a tensor decoded on the GPU only enqueue: nothing synchronizes the host, and
/// nothing reports a failure (the first decode checked every segment). Errors: `SARAPHIS_ERR_DEVICE` (no CUDA device in this system, out of
/// device memory, launch failure, an earlier failure on `stream`), `SARAPHIS_ERR_INVALID_ARGUMENT`
/// (`i` out of range, NULL or misaligned `dst_dev`), `SARAPHIS_ERR_DESTINATION` (wrong size),
/// `SARAPHIS_ERR_CHECKSUM`, `SARAPHIS_ERR_CORRUPT` (a chunk failed on the GPU, named),
/// `SARAPHIS_ERR_NULL_PARAMETER`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_archive_decompress_device(
    archive: *const saraphis_archive,
    i: usize,
    dst_dev: *mut c_void,
    dst_bytes: usize,
    stream: *mut c_void,
) -> saraphis_result {
    guard(|| {
        let a = saraphis_archive::try_ref(archive, "archive")?;
        let dst = DeviceSlice {
            ptr: DevicePtr::from_ptr(dst_dev),
            len: dst_bytes as u64,
        };
        a.archive.decompress_device(i, dst, stream)?;
        Ok(())
    })
}

/// One output of `saraphis_archive_decompress_device_batch`: a tensor of the archive and the
/// device buffer it decodes into. Plain data, filled by the caller in host memory.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct saraphis_archive_output {
    /// Index of the tensor in the archive.
    pub index: usize,
    /// The output on the device: exactly the tensor's bytes, aligned to its element size.
    pub dst_dev: *mut c_void,
    /// Its length in bytes.
    pub dst_bytes: usize,
}

/// Decode `count` tensors of the archive into device memory on `stream` (as
/// `saraphis_archive_decompress_device` for each; destinations must not overlap). Every
/// descriptor's index, size and alignment are checked before anything is enqueued (a tensor's
/// first upload or CRC check can still fail after earlier ones were decoded). Lossless-v2 tensors already decoded once
/// on the GPU share one launch per 256 tensors (`saraphis_decompress_device_batch`); the others
/// take one launch each, and the first device decode of a tensor waits for `stream`. Warm, a
/// whole model is one launch. `outputs`: `count` descriptors in host memory, read during the call
/// only. Errors: as `saraphis_archive_decompress_device`, naming the failing tensor;
/// `SARAPHIS_ERR_NULL_PARAMETER` (`outputs` with `count` > 0). Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_archive_decompress_device_batch(
    archive: *const saraphis_archive,
    outputs: *const saraphis_archive_output,
    count: usize,
    stream: *mut c_void,
) -> saraphis_result {
    guard(|| {
        let a = saraphis_archive::try_ref(archive, "archive")?;
        if count == 0 {
            return Ok(());
        }
        if outputs.is_null() {
            return Err(Fail::Null("outputs"));
        }
        let items: Vec<(usize, DeviceSlice)> = std::slice::from_raw_parts(outputs, count)
            .iter()
            .map(|o| {
                (
                    o.index,
                    DeviceSlice {
                        ptr: DevicePtr::from_ptr(o.dst_dev),
                        len: o.dst_bytes as u64,
                    },
                )
            })
            .collect();
        a.archive.decompress_device_batch(&items, stream)?;
        Ok(())
    })
}

/// Compress a whole safetensors file held in memory, `safetensors[len]` (never written), into a
/// new `.sph` archive in a library-owned buffer (`*out`, free with `saraphis_buffer_free`; open
/// it with `saraphis_archive_open_memory` or write it to a file). Every tensor is compressed
/// with `params` (codec, bound, chunk size, lanes; `SARAPHIS_CODEC_BYTES` is taken as LOSSLESS,
/// which gives integer and bool tensors byte planes; p-adic codes float tensors within the
/// bound and integer ones bit-exactly), on the system's threads, and read back as a decoder
/// will before it is added. Tensors keep their names, dtypes, shapes, order and the file's
/// metadata (restoring a bit-exact archive gives the file back byte for byte: `saraphis
/// decompress`). Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` (not a safetensors file, parameters
/// a tensor cannot use), `SARAPHIS_ERR_UNSUPPORTED` (a dtype such as F8),
/// `SARAPHIS_ERR_NULL_PARAMETER`; `*out` is written only on success. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_archive_compress(
    system: *const saraphis_system,
    params: *const saraphis_params,
    safetensors: *const c_void,
    len: usize,
    out: *mut *mut saraphis_buffer,
) -> saraphis_result {
    guard(|| {
        let s = saraphis_system::try_ref(system, "system")?;
        let p = saraphis_params::try_ref(params, "params")?;
        let o = out_ptr(out, "out")?;
        let src = bytes(safetensors, len, "safetensors")?;
        let opts = p.model_options()?;
        let (cur, _, _) = s.compress_safetensors_with(
            src,
            std::io::Cursor::new(Vec::new()),
            opts,
            &|_, _, _| {},
        )?;
        *o = saraphis_buffer::into_handle(cur.into_inner());
        Ok(())
    })
}

/// `saraphis_archive_compress_file` against a base model (docs/FORMAT.md §10; the CLI's
/// `compress --base`): `base_path` (UTF-8, NUL-terminated) is the base model, a safetensors file
/// or a `.sph` archive. Each tensor with a tensor of the same name, dtype and shape in the base
/// is also coded as a delta against it (lossless with `SARAPHIS_CODEC_LOSSLESS` /
/// `_LOSSLESS_V2`, within the bound with `_PADIC`; other codecs are written
/// without delta) and the smaller container kept; delta containers record their base tensor's
/// XXH3-128. Decode the result with its base attached (`saraphis_archive_set_base`). Neither
/// input may be the output (refused before anything is written). Errors: as
/// `saraphis_archive_compress_file`, and those of opening the base. Thread-safe (distinct
/// outputs).
#[no_mangle]
pub unsafe extern "C" fn saraphis_archive_compress_file_delta(
    system: *const saraphis_system,
    params: *const saraphis_params,
    input_path: *const c_char,
    base_path: *const c_char,
    output_path: *const c_char,
) -> saraphis_result {
    compress_file(system, params, input_path, Some(base_path), output_path)
}

/// `saraphis_archive_compress_file[_delta]`: the arguments checked, then one file-to-file
/// compression, against the base when `base_path` is given.
///
/// # Safety
/// The pointers are null or valid for their C types.
unsafe fn compress_file(
    system: *const saraphis_system,
    params: *const saraphis_params,
    input_path: *const c_char,
    base_path: Option<*const c_char>,
    output_path: *const c_char,
) -> saraphis_result {
    guard(|| {
        let s = saraphis_system::try_ref(system, "system")?;
        let p = saraphis_params::try_ref(params, "params")?;
        let input = path_arg(input_path, "input_path")?;
        let base = base_path.map(|b| path_arg(b, "base_path")).transpose()?;
        let output = path_arg(output_path, "output_path")?;
        let opts = p.model_options()?;
        let (input, output) = (Path::new(&input), Path::new(&output));
        match &base {
            Some(b) => s.compress_model_with_base_options(
                input,
                output,
                Path::new(b),
                opts,
                &|_, _, _| {},
            )?,
            None => s.compress_model_with(input, output, opts, &|_, _, _| {})?,
        };
        Ok(())
    })
}

/// Compress the safetensors file at `input_path` into a `.sph` archive at `output_path` (both
/// UTF-8, NUL-terminated), as `saraphis compress` does: the input is memory-mapped, the output
/// written to a new temporary file in its directory and renamed into place only when complete
/// (an error or a signal leaves nothing behind), and an output that is the input (same file by
/// device and inode, links included) is refused before anything is written. Parameters as
/// `saraphis_archive_compress`. Errors: `SARAPHIS_ERR_IO` (naming the path),
/// `SARAPHIS_ERR_INVALID_ARGUMENT` (output = input, not a safetensors file, bad parameters),
/// `SARAPHIS_ERR_UNSUPPORTED`, `SARAPHIS_ERR_NULL_PARAMETER`. Thread-safe (distinct outputs).
#[no_mangle]
pub unsafe extern "C" fn saraphis_archive_compress_file(
    system: *const saraphis_system,
    params: *const saraphis_params,
    input_path: *const c_char,
    output_path: *const c_char,
) -> saraphis_result {
    compress_file(system, params, input_path, None, output_path)
}
