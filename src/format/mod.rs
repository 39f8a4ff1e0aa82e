//! On-disk formats: the single-tensor container and the multi-tensor `.sph` archive.
//!
//! Layer: bottom. Depends on `dtype`, `entropy::varint` (bounds-checked reading) and `error`.

pub mod archive;
pub mod container;
