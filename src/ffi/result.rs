//! `saraphis_result`: the result codes of every fallible export, their static text, and the one
//! mapping from [`Error`] (rustls-ffi's `rustls_result`).
//!
//! The enum is written out once (cbindgen reads it into the header); `result_codes!` below is
//! the one table that adds each code's text, the list of all codes and the conversion from a
//! `u32`. Its `match` over the enum is exhaustive, so a code without text (or listed twice) does
//! not compile, and `From<&Error>` matches every `Error` variant, so a new error kind must be
//! given a code.

use std::ffi::{c_char, CStr};

use crate::error::Error;

/// Result codes. 0 is success; ranges: 1xxx arguments, 2xxx data, 3xxx I/O, 4xxx device,
/// 5xxx internal. `saraphis_result_text` gives each one's text.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum saraphis_result {
    /// Success.
    SARAPHIS_OK = 0,
    /// A required pointer argument was NULL.
    SARAPHIS_ERR_NULL_PARAMETER = 1000,
    /// An argument is out of range or inconsistent.
    SARAPHIS_ERR_INVALID_ARGUMENT = 1001,
    /// The destination has the wrong size or dtype, or is too small.
    SARAPHIS_ERR_DESTINATION = 1002,
    /// No tensor of that name (`saraphis_archive_find`).
    SARAPHIS_ERR_NOT_FOUND = 1003,
    /// The bytes are not a Saraphis container.
    SARAPHIS_ERR_BAD_MAGIC = 2001,
    /// The container has a newer major format version.
    SARAPHIS_ERR_UNSUPPORTED_VERSION = 2002,
    /// The container is truncated.
    SARAPHIS_ERR_TRUNCATED = 2003,
    /// A checksum does not match (header or a chunk).
    SARAPHIS_ERR_CHECKSUM = 2004,
    /// The container is structurally invalid.
    SARAPHIS_ERR_CORRUPT = 2005,
    /// Unsupported dtype or feature.
    SARAPHIS_ERR_UNSUPPORTED = 2006,
    /// An error bound was exceeded.
    SARAPHIS_ERR_BOUND_EXCEEDED = 2007,
    /// Operating-system I/O error.
    SARAPHIS_ERR_IO = 3001,
    /// The requested device cannot be used.
    SARAPHIS_ERR_DEVICE = 4001,
    /// A memory budget has no room (a residency manager whose pinned tensors fill it, or a
    /// tensor larger than the whole budget).
    SARAPHIS_ERR_BUDGET = 4002,
    /// An internal error (a caught panic): please report it.
    SARAPHIS_ERR_PANIC = 5000,
}

/// The one table of result codes: each variant of `saraphis_result` with its static text.
macro_rules! result_codes {
    ($($code:ident => $text:literal,)*) => {
        impl saraphis_result {
            /// Every code, in declaration order.
            pub const ALL: &'static [saraphis_result] = &[$(saraphis_result::$code,)*];

            /// Static text of the code (what `saraphis_result_text` returns).
            pub const fn text(self) -> &'static CStr {
                match self {
                    $(saraphis_result::$code => $text,)*
                }
            }
        }
    };
}

result_codes! {
    SARAPHIS_OK => c"success",
    SARAPHIS_ERR_NULL_PARAMETER => c"a required pointer argument was NULL",
    SARAPHIS_ERR_INVALID_ARGUMENT => c"invalid argument",
    SARAPHIS_ERR_DESTINATION => c"destination has the wrong size or dtype",
    SARAPHIS_ERR_NOT_FOUND => c"not found",
    SARAPHIS_ERR_BAD_MAGIC => c"not a Saraphis container",
    SARAPHIS_ERR_UNSUPPORTED_VERSION => c"unsupported (newer) format version",
    SARAPHIS_ERR_TRUNCATED => c"truncated container",
    SARAPHIS_ERR_CHECKSUM => c"checksum mismatch",
    SARAPHIS_ERR_CORRUPT => c"corrupt container",
    SARAPHIS_ERR_UNSUPPORTED => c"unsupported dtype or feature",
    SARAPHIS_ERR_BOUND_EXCEEDED => c"error bound exceeded",
    SARAPHIS_ERR_IO => c"I/O error",
    SARAPHIS_ERR_DEVICE => c"device unavailable",
    SARAPHIS_ERR_BUDGET => c"memory budget exceeded",
    SARAPHIS_ERR_PANIC => c"internal error (panic)",
}

impl saraphis_result {
    /// The code with numeric value `v`, if there is one.
    pub fn from_u32(v: u32) -> Option<saraphis_result> {
        Self::ALL.iter().copied().find(|&r| r as u32 == v)
    }
}

impl From<&Error> for saraphis_result {
    /// The C code of a Rust error: the only place an error kind meets its number.
    fn from(e: &Error) -> saraphis_result {
        use saraphis_result::*;
        match e {
            Error::InvalidArgument(_) => SARAPHIS_ERR_INVALID_ARGUMENT,
            Error::Destination(_) => SARAPHIS_ERR_DESTINATION,
            Error::NotFound(_) => SARAPHIS_ERR_NOT_FOUND,
            Error::BadMagic(_) => SARAPHIS_ERR_BAD_MAGIC,
            Error::UnsupportedVersion { .. } => SARAPHIS_ERR_UNSUPPORTED_VERSION,
            Error::Truncated(_) => SARAPHIS_ERR_TRUNCATED,
            Error::Checksum(_) => SARAPHIS_ERR_CHECKSUM,
            Error::Corrupt(_) => SARAPHIS_ERR_CORRUPT,
            Error::Unsupported(_) => SARAPHIS_ERR_UNSUPPORTED,
            Error::BoundExceeded(_) => SARAPHIS_ERR_BOUND_EXCEEDED,
            Error::Io(_) => SARAPHIS_ERR_IO,
            Error::Device(_) => SARAPHIS_ERR_DEVICE,
            Error::Budget(_) => SARAPHIS_ERR_BUDGET,
        }
    }
}

/// Static text for a result code: never NULL, never to be freed, valid for the life of the
/// process; an unknown code gives "unknown result code". No allocation. Thread-safe.
#[no_mangle]
pub extern "C" fn saraphis_result_text(result: u32) -> *const c_char {
    saraphis_result::from_u32(result)
        .map_or(c"unknown result code", saraphis_result::text)
        .as_ptr()
}

/// Detailed message of the last failure on the calling thread ("" if none yet), UTF-8 and
/// NUL-terminated. The pointer is valid until the next failing call on this thread; do not free
/// it. Thread-safe (one message per thread).
#[no_mangle]
pub extern "C" fn saraphis_last_error_message() -> *const c_char {
    super::boundary::last_error_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_has_text() {
        for &r in saraphis_result::ALL {
            assert_eq!(saraphis_result::from_u32(r as u32), Some(r));
            assert!(!r.text().to_bytes().is_empty());
        }
        assert_eq!(saraphis_result::from_u32(1), None);
    }
}
