//! Entropy coding: rANS with interleaved lanes, self-describing symbol streams, varints.
//!
//! Layer: bottom. Depends on nothing but `error`.

pub mod rans;
pub mod rans32;
pub mod stream;
pub mod varint;
