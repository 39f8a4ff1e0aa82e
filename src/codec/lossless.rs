//! Lossless float codec: IEEE-754 channel decomposition plus rANS.
//!
//! Each value's bits are split into an exponent stream and byte planes of sign+mantissa
//! (the "IEEE-754 channel decomposition" of the design notes; the same observation drives
//! ZipNN, Hershcovitch et al., arXiv:2411.05239, 2024: exponents of trained weights are
//! highly skewed, mantissas nearly uniform). The exponent stream is rANS-coded with a
//! per-chunk table; each sign+mantissa byte plane is rANS-coded only if that saves space
//! (see [`crate::entropy::stream`]). Bit-exact for every pattern: NaN payloads, signed
//! zeros, infinities, subnormals are just bits.
//!
//! Chunk stream: exponent stream (u8 symbols when the exponent has <= 8 bits, else u16),
//! then `ceil((man_bits + 1) / 8)` byte-plane streams, most significant first. Plane bits:
//! `r = sign << man_bits | mantissa`.

use crate::dtype::FloatLayout;
use crate::entropy::stream::{decode_u16, decode_u8, encode_u16, encode_u8};
use crate::entropy::varint::Reader;
use crate::error::Result;

/// Per-dtype constants of the split. Cheap to copy; `Send + Sync`.
#[derive(Debug, Clone, Copy)]
pub struct FloatSplit {
    exp_bits: u32,
    man_bits: u32,
    size: usize,
    planes: usize,
}

impl FloatSplit {
    /// Split for a float layout whose element size is `size` bytes.
    pub fn new(layout: FloatLayout, size: usize) -> Self {
        FloatSplit {
            exp_bits: layout.exp_bits,
            man_bits: layout.man_bits,
            size,
            planes: (layout.man_bits as usize + 1).div_ceil(8),
        }
    }

    #[inline(always)]
    fn load(&self, src: &[u8], i: usize) -> u64 {
        let mut b = [0u8; 8];
        b[..self.size].copy_from_slice(&src[i * self.size..(i + 1) * self.size]);
        u64::from_le_bytes(b)
    }

    /// Encode the little-endian elements of `src` (a whole number of elements) into `out`,
    /// rANS streams using up to `max_lanes` lanes.
    pub fn encode(&self, src: &[u8], max_lanes: usize, out: &mut Vec<u8>) {
        let n = src.len() / self.size;
        let (m, e) = (self.man_bits, self.exp_bits);
        let man_mask = (1u64 << m) - 1;
        let exp_mask = (1u64 << e) - 1;
        let sign_shift = m + e;
        let mut planes = vec![vec![0u8; n]; self.planes];
        let mut exps16 = Vec::new();
        let mut exps8 = Vec::new();
        if e <= 8 {
            exps8 = vec![0u8; n];
        } else {
            exps16 = vec![0u16; n];
        }
        // Specialized hot path for 32-bit floats; the generic path handles the rest.
        if self.size == 4 && m == 23 {
            for (i, c) in src.chunks_exact(4).enumerate() {
                let v = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                exps8[i] = (v >> 23) as u8;
                planes[0][i] = (((v >> 31) << 7) | ((v >> 16) & 0x7f)) as u8;
                planes[1][i] = (v >> 8) as u8;
                planes[2][i] = v as u8;
            }
        } else if self.size == 2 && m == 7 {
            for (i, c) in src.chunks_exact(2).enumerate() {
                let v = u16::from_le_bytes([c[0], c[1]]);
                exps8[i] = (v >> 7) as u8;
                planes[0][i] = (((v >> 15) << 7) | (v & 0x7f)) as u8;
            }
        } else {
            for i in 0..n {
                let v = self.load(src, i);
                let ex = (v >> m) & exp_mask;
                if e <= 8 {
                    exps8[i] = ex as u8;
                } else {
                    exps16[i] = ex as u16;
                }
                let r = ((v >> sign_shift) << m) | (v & man_mask);
                for (b, p) in planes.iter_mut().enumerate() {
                    p[i] = (r >> (8 * (self.planes - 1 - b))) as u8;
                }
            }
        }
        if e <= 8 {
            encode_u8(&exps8, max_lanes, out);
        } else {
            encode_u16(&exps16, 1 << e, max_lanes, out);
        }
        for p in &planes {
            encode_u8(p, max_lanes, out);
        }
    }

    /// Decode a chunk stream into `out` (its length fixes the element count).
    /// Errors: `Truncated` / `Corrupt` for damaged streams.
    pub fn decode(&self, r: &mut Reader, out: &mut [u8]) -> Result<()> {
        let n = out.len() / self.size;
        let (m, e) = (self.man_bits, self.exp_bits);
        let man_mask = (1u64 << m) - 1;
        let mut exps8 = Vec::new();
        let mut exps16 = Vec::new();
        if e <= 8 {
            exps8 = vec![0u8; n];
            decode_u8(r, &mut exps8)?;
        } else {
            exps16 = vec![0u16; n];
            decode_u16(r, 1 << e, &mut exps16)?;
        }
        let mut planes = vec![vec![0u8; n]; self.planes];
        for p in planes.iter_mut() {
            decode_u8(r, p)?;
        }
        if self.size == 4 && m == 23 {
            for (i, c) in out.chunks_exact_mut(4).enumerate() {
                let hi = planes[0][i] as u32;
                let v = ((hi >> 7) << 31)
                    | ((exps8[i] as u32) << 23)
                    | ((hi & 0x7f) << 16)
                    | ((planes[1][i] as u32) << 8)
                    | planes[2][i] as u32;
                c.copy_from_slice(&v.to_le_bytes());
            }
        } else if self.size == 2 && m == 7 {
            for (i, c) in out.chunks_exact_mut(2).enumerate() {
                let r = planes[0][i] as u16;
                let v = ((r >> 7) << 15) | ((exps8[i] as u16) << 7) | (r & 0x7f);
                c.copy_from_slice(&v.to_le_bytes());
            }
        } else {
            for i in 0..n {
                let mut rbits = 0u64;
                for p in &planes {
                    rbits = (rbits << 8) | p[i] as u64;
                }
                let ex = if e <= 8 {
                    exps8[i] as u64
                } else {
                    exps16[i] as u64
                };
                let v = ((rbits >> m) << (m + e)) | (ex << m) | (rbits & man_mask);
                out[i * self.size..(i + 1) * self.size]
                    .copy_from_slice(&v.to_le_bytes()[..self.size]);
            }
        }
        Ok(())
    }
}

/// Generic lossless codec for integer and bool tensors: byte `b` of every element forms
/// plane `b`, and each plane is a self-describing symbol stream (rANS when it pays).
#[derive(Debug, Clone, Copy)]
pub struct BytePlanes {
    /// Element size in bytes.
    pub width: usize,
}

impl BytePlanes {
    /// Encode `src` (whole elements) into `out`, rANS streams using up to `max_lanes` lanes.
    pub fn encode(&self, src: &[u8], max_lanes: usize, out: &mut Vec<u8>) {
        let n = src.len() / self.width;
        let mut plane = vec![0u8; n];
        for b in 0..self.width {
            for (i, p) in plane.iter_mut().enumerate() {
                *p = src[i * self.width + b];
            }
            encode_u8(&plane, max_lanes, out);
        }
    }

    /// Decode into `out` (whole elements). Errors: `Truncated` / `Corrupt`.
    pub fn decode(&self, r: &mut Reader, out: &mut [u8]) -> Result<()> {
        let n = out.len() / self.width;
        let mut plane = vec![0u8; n];
        for b in 0..self.width {
            decode_u8(r, &mut plane)?;
            for (i, &p) in plane.iter().enumerate() {
                out[i * self.width + b] = p;
            }
        }
        Ok(())
    }
}
