//! # Saraphis
//!
//! A tensor-compression runtime: bit-exact and error-bounded codecs for model weights,
//! a chunked container format, a multi-tensor archive, and a C ABI (`include/saraphis.h`).
//!
//! Layers point down only (see `docs/ARCHITECTURE.md`):
//! `ffi` -> `system` -> `codec` -> `entropy`, `format`, `padic`.
//!
//! ```
//! use saraphis::{codec::{self, CompressOptions}, DType};
//! let x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.01).sin()).collect();
//! let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
//! let c = codec::compress(&bytes, DType::F32, &[10, 100], &CompressOptions::default()).unwrap();
//! let mut back = vec![0u8; bytes.len()];
//! codec::decompress_into(&c.bytes, DType::F32, &mut back).unwrap();
//! assert_eq!(back, bytes);
//! ```

#![warn(missing_docs)]

pub mod backend;
pub mod codec;
pub mod dtype;
pub mod entropy;
pub mod error;
pub mod ffi;
pub mod format;
pub mod math;
pub mod padic;
pub mod system;

pub use codec::{CodecParams, CompressOptions, ErrorBound, PadicParams};
pub use dtype::DType;
pub use error::{Error, Result};
