//! `saraphis_inspect`: a container's header without decoding.

use std::ffi::c_void;

use super::boundary::{bytes, guard, out_ptr};
use super::result::saraphis_result;
use super::types::saraphis_tensor_info;
use crate::codec::{self, ErrorBound};

/// Read a container's header (validated and checksummed) without decoding any chunk into
/// `*info`. Errors: as the header checks of `saraphis_decompress` (`SARAPHIS_ERR_BAD_MAGIC`,
/// `_UNSUPPORTED_VERSION`, `_TRUNCATED`, `_CHECKSUM`, `_CORRUPT`), `SARAPHIS_ERR_NULL_PARAMETER`;
/// `*info` is written only on success. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_inspect(
    src: *const c_void,
    src_bytes: usize,
    info: *mut saraphis_tensor_info,
) -> saraphis_result {
    guard(|| {
        let info = out_ptr(info, "info")?;
        let src = bytes(src, src_bytes, "src")?;
        let t = codec::inspect(src)?;
        let mut shape = [0u64; 8];
        shape[..t.shape.len()].copy_from_slice(&t.shape);
        let (bound_mode, error_bound) = match t.bound {
            None => (0, 0.0),
            Some(ErrorBound::Abs(e)) => (1, e),
            Some(ErrorBound::Rel(e)) => (2, e),
        };
        *info = saraphis_tensor_info {
            dtype: t.dtype as u32,
            codec: t.codec as u32,
            ndim: t.shape.len() as u32,
            shape,
            numel: t.numel,
            original_bytes: t.original_bytes,
            compressed_bytes: t.compressed_bytes,
            chunk_elems: t.chunk_elems,
            chunks: t.chunks as u64,
            bound_mode,
            error_bound,
            prime: t.prime,
            precision: t.precision,
        };
        Ok(())
    })
}
