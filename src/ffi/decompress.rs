//! Host decompression: `saraphis_decompress` and `saraphis_decompress_progressive`.

use std::ffi::c_void;

use super::boundary::{bytes, bytes_mut, guard, out_ptr, BoxHandle};
use super::result::saraphis_result;
use super::system::saraphis_system;
use super::types::dtype_arg;

/// Decompress the container `src[src_bytes]` into `dst`, which must hold exactly the
/// tensor's bytes (`dst_bytes`) of dtype `dtype`. Chunks decode on the system's thread pool;
/// their CRC-32s are checked unless the config set `SARAPHIS_CONFIG_VERIFY_CHECKSUMS` to 0.
///
/// Errors: `SARAPHIS_ERR_DESTINATION` (wrong dtype or size, or `dst` overlaps `src`; nothing
/// written), `SARAPHIS_ERR_BAD_MAGIC`, `SARAPHIS_ERR_UNSUPPORTED_VERSION`,
/// `SARAPHIS_ERR_TRUNCATED`, `SARAPHIS_ERR_CHECKSUM` (the message names the chunk),
/// `SARAPHIS_ERR_CORRUPT`, `SARAPHIS_ERR_NULL_PARAMETER`, `SARAPHIS_ERR_INVALID_ARGUMENT`. On a
/// data error `dst` holds unspecified bytes. Thread-safe on one system.
#[no_mangle]
pub unsafe extern "C" fn saraphis_decompress(
    system: *const saraphis_system,
    src: *const c_void,
    src_bytes: usize,
    dtype: u32,
    dst: *mut c_void,
    dst_bytes: usize,
) -> saraphis_result {
    guard(|| {
        let s = saraphis_system::try_ref(system, "system")?;
        let src = bytes(src, src_bytes, "src")?;
        let dtype = dtype_arg(dtype)?;
        let dst = bytes_mut(dst, dst_bytes, src, "dst")?;
        s.decompress_into(src, dtype, dst)?;
        Ok(())
    })
}

/// Decode only the top `planes` digit planes of a p-adic container (progressive decoding);
/// `*bound` receives the bound that then holds for every element (absolute or relative as the
/// container's mode). Other codecs decode fully and give 0. Arguments and errors as
/// `saraphis_decompress`, plus `SARAPHIS_ERR_INVALID_ARGUMENT` for `planes == 0`; `*bound` is
/// written only on success. Thread-safe on one system.
#[no_mangle]
pub unsafe extern "C" fn saraphis_decompress_progressive(
    system: *const saraphis_system,
    src: *const c_void,
    src_bytes: usize,
    dtype: u32,
    planes: u32,
    dst: *mut c_void,
    dst_bytes: usize,
    bound: *mut f64,
) -> saraphis_result {
    guard(|| {
        let s = saraphis_system::try_ref(system, "system")?;
        let bound = out_ptr(bound, "bound")?;
        let src = bytes(src, src_bytes, "src")?;
        let dtype = dtype_arg(dtype)?;
        let dst = bytes_mut(dst, dst_bytes, src, "dst")?;
        *bound = s.decompress_progressive(src, dtype, dst, planes)?;
        Ok(())
    })
}
