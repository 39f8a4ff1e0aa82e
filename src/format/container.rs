//! Single-tensor container: header, chunk table and independent chunks.
//!
//! The byte-level specification is `docs/FORMAT.md`; this module is its only writer and
//! reader. All integers are little-endian. Checksums are CRC-32 (IEEE 802.3 polynomial,
//! the `crc32fast` crate).

use crate::dtype::{self, DType, MAX_DIMS};
use crate::entropy::varint::Reader;
use crate::error::{corrupt, Error, Result};

/// Magic number of a single-tensor container.
pub const MAGIC: [u8; 4] = *b"SPHT";
/// Major format version written and read by this build. A reader rejects a newer major.
pub const FORMAT_MAJOR: u16 = 1;
/// Minor format version written by this build (additions a major-1 reader may ignore).
pub const FORMAT_MINOR: u16 = 0;
/// Bytes per chunk-table entry: `u64 offset, u32 length, u32 crc32`.
pub const CHUNK_ENTRY_BYTES: usize = 16;
/// Largest chunk, in elements (keeps every chunk's byte length within `u32`).
pub const MAX_CHUNK_ELEMS: u32 = 1 << 28;
/// Default chunk size in elements.
pub const DEFAULT_CHUNK_ELEMS: u32 = 1 << 18;

/// Codec identifier stored in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CodecId {
    /// Bytes stored as they are.
    Raw = 0,
    /// IEEE-754 sign/exponent/mantissa split with rANS (bit-exact).
    Lossless = 1,
    /// p-adic digit planes of quantized values (error-bounded).
    Padic = 2,
    /// Generic byte-plane codec for integer and bool tensors (bit-exact).
    Bytes = 3,
    /// Lossless float codec, stream layout v2: shared tables, warp-interleaved rANS segments
    /// (bit-exact; F32, F16, BF16).
    LosslessV2 = 4,
    /// Quantization: fixed-rate block-wise, per-channel or global, or block-wise within an
    /// absolute bound (lossy; F32, F16, BF16, F64).
    Quant = 5,
    /// Sparse: a bitmap of the nonzero elements and the nonzero values, each a nested
    /// container (`crate::codec::sparse`); exact, or the values within a p-adic bound.
    Sparse = 6,
    /// Delta against a base tensor: one nested container of residuals (`crate::codec::delta`);
    /// exact, or within an absolute bound. (7 is `SARAPHIS_CODEC_AUTO` in the C API, no
    /// container's codec: the ids stay equal to the C values.)
    Delta = 8,
}

impl CodecId {
    /// Decode a stored codec id.
    pub fn from_code(c: u8) -> Result<Self> {
        Ok(match c {
            0 => CodecId::Raw,
            1 => CodecId::Lossless,
            2 => CodecId::Padic,
            3 => CodecId::Bytes,
            4 => CodecId::LosslessV2,
            5 => CodecId::Quant,
            6 => CodecId::Sparse,
            8 => CodecId::Delta,
            _ => return corrupt(format!("unknown codec id {c}")),
        })
    }
    /// Lower-case name: "raw", "lossless", "padic", "bytes", "lossless-v2", "quant", "sparse",
    /// "delta".
    pub fn name(self) -> &'static str {
        match self {
            CodecId::Raw => "raw",
            CodecId::Lossless => "lossless",
            CodecId::Padic => "padic",
            CodecId::Bytes => "bytes",
            CodecId::LosslessV2 => "lossless-v2",
            CodecId::Quant => "quant",
            CodecId::Sparse => "sparse",
            CodecId::Delta => "delta",
        }
    }

    /// Checksum of one chunk's bytes as the chunk table records it: the segment checksum of
    /// layout v2 ([`crate::codec::segmented::segment_checksum`], parallel on a GPU warp) for
    /// `LosslessV2` and `Quant` (whose chunks are multiples of 16 bytes), CRC-32 for every other
    /// codec.
    pub fn chunk_checksum(self, chunk: &[u8]) -> u32 {
        match self {
            CodecId::LosslessV2 | CodecId::Quant => {
                crate::codec::segmented::segment_checksum(chunk)
            }
            _ => crc32fast::hash(chunk),
        }
    }
}

/// Location and checksum of one chunk inside the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkEntry {
    /// Byte offset from the start of the payload.
    pub offset: u64,
    /// Compressed length in bytes.
    pub len: u32,
    /// CRC-32 of the chunk's bytes.
    pub crc: u32,
}

/// Parsed header of a container. Parsing validates everything that can be validated
/// without decoding: magic, version, header checksum, shape, chunk count, table layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Element type.
    pub dtype: DType,
    /// Dimensions (at most 8; empty for a 0-d scalar).
    pub shape: Vec<u64>,
    /// Codec that wrote the chunks.
    pub codec: CodecId,
    /// Codec parameters (codec-specific bytes).
    pub params: Vec<u8>,
    /// Elements per chunk (the last chunk may be shorter).
    pub chunk_elems: u32,
    /// Number of elements (product of the shape).
    pub numel: u64,
    /// Chunk table.
    pub chunks: Vec<ChunkEntry>,
    /// Length of the header in bytes (the payload starts here).
    pub header_len: usize,
}

/// Number of chunks for `numel` elements in chunks of `chunk_elems`.
pub fn chunk_count(numel: u64, chunk_elems: u32) -> u64 {
    numel.div_ceil(chunk_elems as u64)
}

/// How many bytes from the start of a container its header needs, judged from `prefix` (the
/// first bytes of the container, any length): the header's exact length once `prefix` reaches
/// its chunk count, otherwise the length of the prefix that reaches the next field needed to
/// tell (call again with that many bytes; at most four rounds from 0 bytes, one from `HEADER_PREFIX_BYTES`). A prefix of
/// [`HEADER_PREFIX_BYTES`] gives the exact length for every container. Checks the magic only.
/// Errors: `BadMagic`.
pub fn header_bytes_needed(prefix: &[u8]) -> Result<usize> {
    let n = prefix.len();
    if n >= 4 && prefix[..4] != MAGIC {
        return Err(Error::BadMagic(
            "tensor container magic 'SPHT' not found".into(),
        ));
    }
    if n < 24 {
        return Ok(24);
    }
    let ndim = (prefix[10] as usize).min(MAX_DIMS);
    let p_at = 24 + 8 * ndim;
    if n < p_at + 4 {
        return Ok(p_at + 4);
    }
    let p = u32::from_le_bytes(prefix[p_at..p_at + 4].try_into().unwrap()) as usize;
    let c_at = p_at + 4 + p;
    if n < c_at + 4 {
        return Ok(c_at + 4);
    }
    let c = u32::from_le_bytes(prefix[c_at..c_at + 4].try_into().unwrap()) as usize;
    Ok(header_len(ndim, p, c))
}

/// A prefix length that reaches the chunk count of every container this build writes, so that
/// [`header_bytes_needed`] on it gives the header's exact length: the fixed fields (24 bytes),
/// 8 dimensions, and parameters of up to 8,000 bytes (the largest written: a lossless-v2 F32
/// tensor's plane count, modes and four frequency tables of at most 256 symbols, 4.2 KB).
pub const HEADER_PREFIX_BYTES: usize = 8192;

/// Header length in bytes for a tensor of `ndim` dims, `params_len` parameter bytes and
/// `n_chunks` chunks.
pub fn header_len(ndim: usize, params_len: usize, n_chunks: usize) -> usize {
    24 + 8 * ndim + 4 + params_len + 4 + CHUNK_ENTRY_BYTES * n_chunks + 4
}

impl Header {
    /// Element range `[start, end)` of chunk `i`.
    pub fn chunk_range(&self, i: usize) -> (usize, usize) {
        let s = i as u64 * self.chunk_elems as u64;
        (
            s as usize,
            (s + self.chunk_elems as u64).min(self.numel) as usize,
        )
    }

    /// Total payload length in bytes.
    pub fn payload_len(&self) -> u64 {
        self.chunks.iter().map(|c| c.len as u64).sum()
    }

    /// Whole container length in bytes (header + payload).
    pub fn total_len(&self) -> u64 {
        self.header_len as u64 + self.payload_len()
    }

    /// Serialize header and table; `chunks` must already be final. Returns the header bytes.
    pub fn write(&self) -> Vec<u8> {
        let mut h = Vec::with_capacity(header_len(
            self.shape.len(),
            self.params.len(),
            self.chunks.len(),
        ));
        h.extend_from_slice(&MAGIC);
        h.extend_from_slice(&FORMAT_MAJOR.to_le_bytes());
        h.extend_from_slice(&FORMAT_MINOR.to_le_bytes());
        h.push(self.dtype as u8);
        h.push(self.codec as u8);
        h.push(self.shape.len() as u8);
        h.push(0); // flags, reserved
        h.extend_from_slice(&self.chunk_elems.to_le_bytes());
        h.extend_from_slice(&self.numel.to_le_bytes());
        for d in &self.shape {
            h.extend_from_slice(&d.to_le_bytes());
        }
        h.extend_from_slice(&(self.params.len() as u32).to_le_bytes());
        h.extend_from_slice(&self.params);
        h.extend_from_slice(&(self.chunks.len() as u32).to_le_bytes());
        for c in &self.chunks {
            h.extend_from_slice(&c.offset.to_le_bytes());
            h.extend_from_slice(&c.len.to_le_bytes());
            h.extend_from_slice(&c.crc.to_le_bytes());
        }
        let crc = crc32fast::hash(&h);
        h.extend_from_slice(&crc.to_le_bytes());
        h
    }

    /// Parse and validate the header at the start of `buf` (a whole container).
    ///
    /// Errors: `BadMagic` (foreign data), `UnsupportedVersion` (newer major), `Truncated`
    /// (buffer shorter than the header or payload it declares), `Checksum` (header altered),
    /// `Corrupt` (inconsistent fields or trailing bytes).
    pub fn parse(buf: &[u8]) -> Result<Header> {
        Header::parse_impl(buf, true)
    }

    /// Parse and validate the header at the start of `buf`, which holds at least the header
    /// ([`header_bytes_needed`] says how much that is) and possibly some or all of the payload.
    /// The same checks as [`Header::parse`] except the container's total length, which needs
    /// the whole container. Errors: as [`Header::parse`]; `Truncated` when `buf` ends inside
    /// the header.
    pub fn parse_prefix(buf: &[u8]) -> Result<Header> {
        Header::parse_impl(buf, false)
    }

    fn parse_impl(buf: &[u8], whole: bool) -> Result<Header> {
        if buf.len() < 4 || buf[..4] != MAGIC {
            return Err(Error::BadMagic(
                "tensor container magic 'SPHT' not found".into(),
            ));
        }
        let mut r = Reader::new(buf, "container header");
        r.bytes(4)?;
        let major = r.u16()?;
        let minor = r.u16()?;
        if major != FORMAT_MAJOR {
            return Err(Error::UnsupportedVersion {
                major,
                minor,
                supported: FORMAT_MAJOR,
            });
        }
        let dtype_code = r.u8()?;
        let codec_code = r.u8()?;
        let ndim = r.u8()? as usize;
        let _flags = r.u8()?;
        let chunk_elems = r.u32()?;
        let numel = r.u64()?;
        if ndim > MAX_DIMS {
            return corrupt(format!("container header: {ndim} dimensions"));
        }
        let mut shape = Vec::with_capacity(ndim);
        for _ in 0..ndim {
            shape.push(r.u64()?);
        }
        let params_len = r.u32()? as usize;
        if params_len > r.remaining() {
            if !whole {
                return Err(Error::Truncated(format!(
                    "container header needs at least {} bytes, have {}",
                    r.pos() + params_len + 8,
                    buf.len()
                )));
            }
            return corrupt("container header: parameter length");
        }
        let params = r.bytes(params_len)?.to_vec();
        let n_chunks = r.u32()? as usize;
        if n_chunks
            .checked_mul(CHUNK_ENTRY_BYTES)
            .is_none_or(|b| b + 4 > r.remaining())
        {
            if !whole {
                return Err(Error::Truncated(format!(
                    "container header needs {} bytes, have {}",
                    r.pos() as u64 + CHUNK_ENTRY_BYTES as u64 * n_chunks as u64 + 4,
                    buf.len()
                )));
            }
            return corrupt("container header: chunk count");
        }
        let mut chunks = Vec::with_capacity(n_chunks);
        for _ in 0..n_chunks {
            chunks.push(ChunkEntry {
                offset: r.u64()?,
                len: r.u32()?,
                crc: r.u32()?,
            });
        }
        let body = r.pos();
        let stored = r.u32()?;
        if crc32fast::hash(&buf[..body]) != stored {
            return Err(Error::Checksum("container header".into()));
        }
        let h = Header {
            dtype: DType::from_code(dtype_code)?,
            codec: CodecId::from_code(codec_code)?,
            shape,
            params,
            chunk_elems,
            numel,
            chunks,
            header_len: r.pos(),
        };
        h.validate(if whole { Some(buf.len()) } else { None })?;
        Ok(h)
    }

    fn validate(&self, buf_len: Option<usize>) -> Result<()> {
        if dtype::numel(&self.shape)? != self.numel {
            return corrupt("shape does not match element count");
        }
        if self.chunk_elems == 0 || self.chunk_elems > MAX_CHUNK_ELEMS {
            return corrupt(format!("chunk size {} elements", self.chunk_elems));
        }
        // A sparse container's two entries are its nested mask and values containers
        // (docs/FORMAT.md §8), a delta container's one its nested residuals (§10); every other
        // codec has one entry per chunk of elements.
        let expect_chunks = match self.codec {
            CodecId::Sparse => 2,
            CodecId::Delta => 1,
            _ => chunk_count(self.numel, self.chunk_elems),
        };
        if expect_chunks != self.chunks.len() as u64 {
            return corrupt("chunk count does not match element count");
        }
        let mut expect = 0u64;
        for (i, c) in self.chunks.iter().enumerate() {
            if c.offset != expect {
                return corrupt(format!("chunk {i} offset {} (expected {expect})", c.offset));
            }
            expect += c.len as u64;
        }
        let total = self.header_len as u64 + expect;
        let Some(buf_len) = buf_len else {
            return Ok(());
        };
        if (buf_len as u64) < total {
            return Err(Error::Truncated(format!(
                "container needs {total} bytes, have {buf_len}"
            )));
        }
        if (buf_len as u64) > total {
            return corrupt(format!(
                "{} trailing bytes after container",
                buf_len as u64 - total
            ));
        }
        Ok(())
    }

    /// Bytes of chunk `i` from the whole container `buf`, after verifying its CRC-32 unless
    /// `verify` is false. Errors: `Checksum` naming the chunk.
    pub fn chunk_bytes<'a>(&self, buf: &'a [u8], i: usize, verify: bool) -> Result<&'a [u8]> {
        let c = self.chunks[i];
        let s = self.header_len + c.offset as usize;
        let b = &buf[s..s + c.len as usize];
        if verify && self.codec.chunk_checksum(b) != c.crc {
            return Err(Error::Checksum(format!(
                "chunk {i} of {}",
                self.chunks.len()
            )));
        }
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Header, Vec<u8>) {
        let payload = vec![1u8, 2, 3, 4, 5, 6, 7];
        let h = Header {
            dtype: DType::F32,
            shape: vec![2, 3],
            codec: CodecId::Raw,
            params: vec![9, 9],
            chunk_elems: 4,
            numel: 6,
            chunks: vec![
                ChunkEntry {
                    offset: 0,
                    len: 3,
                    crc: crc32fast::hash(&payload[..3]),
                },
                ChunkEntry {
                    offset: 3,
                    len: 4,
                    crc: crc32fast::hash(&payload[3..]),
                },
            ],
            header_len: 0,
        };
        let mut buf = h.write();
        let hl = buf.len();
        buf.extend_from_slice(&payload);
        (
            Header {
                header_len: hl,
                ..h
            },
            buf,
        )
    }

    #[test]
    fn header_round_trip_and_every_flip_detected() {
        let (h, buf) = sample();
        assert_eq!(Header::parse(&buf).unwrap(), h);
        for i in 0..h.header_len {
            let mut b = buf.clone();
            b[i] ^= 0x10;
            assert!(Header::parse(&b).is_err(), "flip at {i} undetected");
        }
        for cut in 0..buf.len() {
            assert!(Header::parse(&buf[..cut]).is_err());
        }
        let mut b = buf.clone();
        b[4] = 2; // newer major
        assert!(matches!(
            Header::parse(&b),
            Err(Error::UnsupportedVersion { major: 2, .. })
        ));
        let mut b = buf.clone();
        b[h.header_len] ^= 1;
        let h2 = Header::parse(&b).unwrap();
        assert!(matches!(
            h2.chunk_bytes(&b, 0, true),
            Err(Error::Checksum(_))
        ));
    }
}
