//! `saraphis_inspect` and `saraphis_header_bytes`: a container's header without decoding, from
//! the whole container or from its first bytes (zstd's and nvCOMP's size queries).

use std::ffi::c_void;

use super::boundary::{bytes, guard, out_ptr};
use super::result::saraphis_result;
use super::types::saraphis_tensor_info;
use crate::codec;
use crate::format::container;

/// A prefix this long (8192 bytes) holds enough of every container this build writes for
/// `saraphis_header_bytes` to give the header's exact length (the fixed fields, 8 dimensions and
/// codec parameters up to 8,000 bytes), and the whole header of most: read this many bytes of a
/// file (or all of it, if shorter), ask `saraphis_header_bytes`, read more if it says so, then
/// `saraphis_inspect`.
pub const SARAPHIS_HEADER_MAX_BYTES: usize = 8192;
const _: () = assert!(SARAPHIS_HEADER_MAX_BYTES == container::HEADER_PREFIX_BYTES);

/// Read a container's header (validated and checksummed) into `*info` without decoding any
/// chunk. `src[src_bytes]` is the whole container or any prefix of it that holds the header
/// (`saraphis_header_bytes` says how long that is): the payload is not read, and its length is
/// checked only when the container is decoded, so a container cut short after its header
/// inspects fine. Errors: `SARAPHIS_ERR_TRUNCATED` (`src` ends inside the header; the message
/// says how many bytes it needs), `SARAPHIS_ERR_BAD_MAGIC`, `_UNSUPPORTED_VERSION`,
/// `_CHECKSUM`, `_CORRUPT`, `SARAPHIS_ERR_NULL_PARAMETER`; `*info` is written only on success.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_inspect(
    src: *const c_void,
    src_bytes: usize,
    info: *mut saraphis_tensor_info,
) -> saraphis_result {
    guard(|| {
        let info = out_ptr(info, "info")?;
        let src = bytes(src, src_bytes, "src")?;
        *info = saraphis_tensor_info::from_info(&codec::inspect_prefix(src)?);
        Ok(())
    })
}

/// How many bytes from the start of a container `saraphis_inspect` needs, judged from its first
/// `src_bytes` bytes (any number, 0 included): `*needed` receives the header's exact length once
/// `src` reaches the header's chunk count (always the case from `SARAPHIS_HEADER_MAX_BYTES`
/// bytes on, for containers this build writes), otherwise a longer prefix to call again with (at
/// most four rounds from 0 bytes). When `*needed <= src_bytes`, `src` holds the whole header. Only the magic
/// is checked here. Errors: `SARAPHIS_ERR_BAD_MAGIC` (4 or more bytes that are not a container's
/// start), `SARAPHIS_ERR_NULL_PARAMETER` (`needed`, or `src` with `src_bytes` > 0); `*needed` is
/// written only on success. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_header_bytes(
    src: *const c_void,
    src_bytes: usize,
    needed: *mut usize,
) -> saraphis_result {
    guard(|| {
        let needed = out_ptr(needed, "needed")?;
        let src = bytes(src, src_bytes, "src")?;
        *needed = container::header_bytes_needed(src)?;
        Ok(())
    })
}
