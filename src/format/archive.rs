//! The `.sph` multi-tensor archive: a 64-byte file header, 64-byte aligned tensor
//! containers (memory-mappable), and a JSON index readable without decoding anything.
//!
//! Specified byte by byte in `docs/FORMAT.md`. Writing goes to a caller-chosen file that the
//! caller renames into place once complete ([`ArchiveWriter::finish`]).

use std::io::{Seek, SeekFrom, Write};

use serde::{Deserialize, Serialize};

use crate::entropy::varint::Reader;
use crate::error::{corrupt, Error, Result};

/// Magic number at the start of a `.sph` archive.
pub const ARCHIVE_MAGIC: [u8; 8] = *b"SARAPHIS";
/// Archive major version written and read by this build.
pub const ARCHIVE_MAJOR: u16 = 1;
/// Archive minor version written by this build.
pub const ARCHIVE_MINOR: u16 = 0;
/// Size of the fixed file header; also the alignment of every tensor container.
pub const ALIGN: u64 = 64;

/// The error bound a lossy tensor was compressed under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundEntry {
    /// "abs" (|x - x'| <= eps) or "rel" (|x - x'| <= eps * |x|).
    pub mode: String,
    /// The bound eps (in the tensor's units for "abs", a fraction for "rel").
    pub eps: f64,
}

/// One tensor in the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorEntry {
    /// Tensor name as in the safetensors file.
    pub name: String,
    /// safetensors dtype spelling ("F32", "BF16", "I64", ...).
    pub dtype: String,
    /// Dimensions.
    pub shape: Vec<u64>,
    /// Codec name ("raw", "lossless", "padic", "bytes").
    pub codec: String,
    /// Byte offset of the tensor container in the archive (multiple of 64).
    pub offset: u64,
    /// Byte length of the tensor container.
    pub length: u64,
    /// Uncompressed size in bytes.
    pub original_bytes: u64,
    /// `[start, end)` of the tensor's bytes in the original safetensors data section.
    pub data_offsets: [u64; 2],
    /// Error bound for lossy tensors, `None` for bit-exact ones.
    pub bound: Option<BoundEntry>,
    /// Largest |x - x'| measured at compression time (0 for bit-exact tensors).
    pub max_abs_error: f64,
}

/// The archive index (stored as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// The original safetensors JSON header, byte for byte (padding included), so that a
    /// lossless round trip reproduces the file exactly.
    pub source_header: String,
    /// The original `__metadata__` map, for readers that want it without parsing the header.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Tensors in the order of their data in the original file.
    pub tensors: Vec<TensorEntry>,
}

fn file_header(index_offset: u64, index_len: u64, index_crc: u32) -> [u8; 64] {
    let mut h = [0u8; 64];
    h[..8].copy_from_slice(&ARCHIVE_MAGIC);
    h[8..10].copy_from_slice(&ARCHIVE_MAJOR.to_le_bytes());
    h[10..12].copy_from_slice(&ARCHIVE_MINOR.to_le_bytes());
    // 12..16 flags = 0
    h[16..24].copy_from_slice(&index_offset.to_le_bytes());
    h[24..32].copy_from_slice(&index_len.to_le_bytes());
    h[32..36].copy_from_slice(&index_crc.to_le_bytes());
    let crc = crc32fast::hash(&h[..36]);
    h[36..40].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Streaming archive writer: tensors are appended one at a time, so memory holds one
/// compressed tensor at most. Not thread-safe (a file cursor).
pub struct ArchiveWriter<W: Write + Seek> {
    out: W,
    pos: u64,
    entries: Vec<TensorEntry>,
}

impl<W: Write + Seek> ArchiveWriter<W> {
    /// Start an archive on `out` (written from its current start). Errors: `Io`.
    pub fn new(mut out: W) -> Result<Self> {
        out.seek(SeekFrom::Start(0))?;
        out.write_all(&[0u8; 64])?;
        Ok(ArchiveWriter {
            out,
            pos: ALIGN,
            entries: Vec::new(),
        })
    }

    /// Append one tensor container; `entry.offset` and `entry.length` are filled in here.
    pub fn add(&mut self, mut entry: TensorEntry, container: &[u8]) -> Result<()> {
        entry.offset = self.pos;
        entry.length = container.len() as u64;
        self.out.write_all(container)?;
        self.pos += container.len() as u64;
        let pad = (ALIGN - self.pos % ALIGN) % ALIGN;
        self.out.write_all(&vec![0u8; pad as usize])?;
        self.pos += pad;
        self.entries.push(entry);
        Ok(())
    }

    /// Write the index and the file header; returns the writer and the archive's length.
    pub fn finish(mut self, source_header: String) -> Result<(W, u64)> {
        let metadata = serde_json::from_str::<serde_json::Value>(&source_header)
            .ok()
            .and_then(|v| v.get("__metadata__").and_then(|m| m.as_object().cloned()));
        let index = Index {
            source_header,
            metadata,
            tensors: self.entries,
        };
        let json = serde_json::to_vec(&index).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.out.write_all(&json)?;
        let total = self.pos + json.len() as u64;
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&file_header(
            self.pos,
            json.len() as u64,
            crc32fast::hash(&json),
        ))?;
        self.out.flush()?;
        Ok((self.out, total))
    }
}

/// Parse an archive held in memory (typically memory-mapped) and return its index.
///
/// Validates magic, version, header and index checksums, and that every tensor container
/// lies inside the file, 64-byte aligned, without overlapping the header or index. Does not
/// decode any tensor. Errors: `BadMagic`, `UnsupportedVersion`, `Truncated`, `Checksum`,
/// `Corrupt`.
pub fn read_index(buf: &[u8]) -> Result<Index> {
    if buf.len() < 8 || buf[..8] != ARCHIVE_MAGIC {
        return Err(Error::BadMagic("archive magic 'SARAPHIS' not found".into()));
    }
    let mut r = Reader::new(buf, "archive header");
    r.bytes(8)?;
    let major = r.u16()?;
    let minor = r.u16()?;
    if major != ARCHIVE_MAJOR {
        return Err(Error::UnsupportedVersion {
            major,
            minor,
            supported: ARCHIVE_MAJOR,
        });
    }
    let _flags = r.u32()?;
    let index_offset = r.u64()?;
    let index_len = r.u64()?;
    let index_crc = r.u32()?;
    let header_crc = r.u32()?;
    if crc32fast::hash(&buf[..36]) != header_crc {
        return Err(Error::Checksum("archive header".into()));
    }
    let end = index_offset
        .checked_add(index_len)
        .ok_or_else(|| Error::Corrupt("index range overflows".into()))?;
    if end > buf.len() as u64 {
        return Err(Error::Truncated(format!(
            "archive needs {end} bytes, have {}",
            buf.len()
        )));
    }
    if end < buf.len() as u64 {
        return corrupt("trailing bytes after archive index");
    }
    let json = &buf[index_offset as usize..end as usize];
    if crc32fast::hash(json) != index_crc {
        return Err(Error::Checksum("archive index".into()));
    }
    let index: Index =
        serde_json::from_slice(json).map_err(|e| Error::Corrupt(format!("archive index: {e}")))?;
    for t in &index.tensors {
        let ok = t.offset >= ALIGN
            && t.offset % ALIGN == 0
            && t.offset
                .checked_add(t.length)
                .is_some_and(|e| e <= index_offset);
        if !ok {
            return corrupt(format!("tensor '{}' lies outside the archive body", t.name));
        }
    }
    Ok(index)
}

/// The container bytes of `entry` inside the archive `buf` (validated by [`read_index`]).
pub fn tensor_bytes<'a>(buf: &'a [u8], entry: &TensorEntry) -> &'a [u8] {
    &buf[entry.offset as usize..(entry.offset + entry.length) as usize]
}
