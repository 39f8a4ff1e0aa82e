//! LEB128 variable-length integers and a bounds-checked byte reader.

use crate::error::{Error, Result};

/// Append `v` as unsigned LEB128 (7 bits per byte, low group first).
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A cursor over a byte slice whose every read is bounds-checked and returns
/// `Error::Truncated` instead of panicking. Not thread-safe to share mutably (it is a cursor).
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`; `what` names the structure in error messages.
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }
    /// Bytes consumed so far.
    pub fn pos(&self) -> usize {
        self.pos
    }
    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    fn short(&self, need: usize) -> Error {
        Error::Truncated(format!(
            "{}: need {need} bytes at offset {}, have {}",
            self.what,
            self.pos,
            self.remaining()
        ))
    }
    /// Take the next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.short(n));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    /// Read one byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }
    /// Read a little-endian u16.
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.bytes(2)?.try_into().unwrap()))
    }
    /// Read a little-endian u32.
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.bytes(4)?.try_into().unwrap()))
    }
    /// Read a little-endian u64.
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.bytes(8)?.try_into().unwrap()))
    }
    /// Read a little-endian f64.
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }
    /// Read an unsigned LEB128 value of at most 64 bits.
    pub fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                if shift == 63 && b > 1 {
                    break;
                }
                return Ok(v);
            }
        }
        Err(Error::Corrupt(format!(
            "{}: varint overflows 64 bits",
            self.what
        )))
    }
    /// Read a varint that must be <= `max` (a count or length), as usize.
    pub fn varint_max(&mut self, max: u64) -> Result<usize> {
        let v = self.varint()?;
        if v > max {
            return Err(Error::Corrupt(format!(
                "{}: value {v} exceeds limit {max}",
                self.what
            )));
        }
        Ok(v as usize)
    }
    /// Read a `u32`-length-prefixed byte section.
    pub fn section(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.bytes(n)
    }
}

/// Append a `u32`-length-prefixed byte section.
pub fn put_section(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn varint_round_trip_and_truncation() {
        let vals = [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX];
        let mut buf = Vec::new();
        for &v in &vals {
            put_varint(&mut buf, v);
        }
        let mut r = Reader::new(&buf, "test");
        for &v in &vals {
            assert_eq!(r.varint().unwrap(), v);
        }
        assert!(matches!(r.varint(), Err(Error::Truncated(_))));
        let bad = [0xffu8; 11];
        assert!(Reader::new(&bad, "t").varint().is_err());
    }
}
