//! Compute backends. Layer: bottom, beside `entropy` and `format`; used by `system`.
//!
//! The CPU backend is the codecs themselves (`crate::codec`); `cuda` holds the GPU kernels'
//! loader and launchers.

pub mod cuda;
