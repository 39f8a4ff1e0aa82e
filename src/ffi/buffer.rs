//! `saraphis_buffer`: a library-owned byte buffer (a compressed container), returned by
//! `saraphis_compress` / `saraphis_compress_on_gpu`, owned by the caller until
//! `saraphis_buffer_free`. Plain memory: readable from any thread.

use super::boundary::{guard_value, BoxHandle};

/// Opaque library-owned byte buffer (a compressed container).
pub struct saraphis_buffer {
    _private: [u8; 0],
}

impl BoxHandle for saraphis_buffer {
    type Rust = Vec<u8>;
}

/// Pointer to a buffer's bytes (NULL for a NULL buffer; may be NULL or dangling-but-unused for
/// an empty buffer). Valid until the buffer is freed. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_buffer_data(buffer: *const saraphis_buffer) -> *const u8 {
    guard_value(std::ptr::null(), || {
        saraphis_buffer::try_ref(buffer, "buffer").map_or(std::ptr::null(), |v| v.as_ptr())
    })
}

/// Length in bytes of a buffer (0 for a NULL buffer). Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_buffer_len(buffer: *const saraphis_buffer) -> usize {
    guard_value(0, || {
        saraphis_buffer::try_ref(buffer, "buffer").map_or(0, |v| v.len())
    })
}

/// Free a buffer (NULL is a no-op). Each buffer is freed once; its data pointer dies with it.
#[no_mangle]
pub unsafe extern "C" fn saraphis_buffer_free(buffer: *mut saraphis_buffer) {
    guard_value((), || saraphis_buffer::free(buffer))
}
