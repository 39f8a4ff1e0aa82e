//! The `.sph` multi-tensor archive: a 64-byte file header, 64-byte aligned tensor
//! containers (memory-mappable), and a JSON index readable without decoding anything.
//!
//! Specified byte by byte in `docs/FORMAT.md`. Writing goes to a caller-chosen file that the
//! caller renames into place once complete ([`ArchiveWriter::finish`]).
//!
//! Reading is in two steps: [`read_index`] checks the file header, the index and every
//! container's *header* against its index entry (cheap: no payload is read), and
//! [`container_bytes`] checks a container's CRC-32 recorded in the index before the container
//! is decoded, so that a container moved, swapped or altered after writing is refused instead
//! of decoding to another tensor's values.

use std::io::{Seek, SeekFrom, Write};

use serde::{Deserialize, Serialize};

use crate::dtype::{self, DType};
use crate::entropy::varint::Reader;
use crate::error::{corrupt, Error, Result};
use crate::format::container::{CodecId, Header};

/// Magic number at the start of a `.sph` archive.
pub const ARCHIVE_MAGIC: [u8; 8] = *b"SARAPHIS";
/// Archive major version written and read by this build.
pub const ARCHIVE_MAJOR: u16 = 1;
/// Archive minor version written by this build. 1.1 adds `container_crc32` to index entries;
/// 1.0 archives (without it) are still read, their containers bound by header checks only.
/// An archive in which several entries share one container (identical tensors stored once) is
/// written as [`ARCHIVE_MINOR_SHARED`].
pub const ARCHIVE_MINOR: u16 = 1;
/// Archive minor version of archives with shared containers (1.2): entries with the same
/// offset, length and `container_crc32` name one container; 1.1 readers refuse them as
/// overlapping.
pub const ARCHIVE_MINOR_SHARED: u16 = 2;
/// Size of the fixed file header; also the alignment of every tensor container.
pub const ALIGN: u64 = 64;

/// The error bound a lossy tensor was compressed under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundEntry {
    /// "abs" (|x - x'| <= eps) or "rel" (|x - x'| <= eps * |x|).
    pub mode: String,
    /// The bound eps (in the tensor's units for "abs", a fraction for "rel"). For a fixed-rate
    /// quant tensor (which has no requested bound) the largest error the encoder measured.
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
    /// CRC-32 of the container's bytes (archive 1.1 and later; absent in 1.0). Binds the
    /// container to this entry: [`container_bytes`] refuses a container whose CRC differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_crc32: Option<u32>,
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
    /// Archives written with codec `auto` only: its constraints, from which
    /// [`crate::codec::auto::describe_rule`] says how each tensor's codec was chosen (each
    /// entry's `codec` says what was). Kept once per archive and as numbers (about 30 bytes),
    /// so that `auto` archives stay as small as the codecs they choose from. Absent otherwise;
    /// decoding does not read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<AutoRecord>,
}

impl Index {
    /// For each entry, the position of the first entry whose container it shares (archive
    /// 1.2: identical tensors stored once), or `None` for an entry with its own container.
    pub fn shared_with(&self) -> Vec<Option<usize>> {
        let mut first: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
        self.tensors
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let f = *first.entry(t.offset).or_insert(i);
                (f != i).then_some(f)
            })
            .collect()
    }
}

/// The constraints codec `auto` ran under ([`Index::auto`]); each field absent when not given.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct AutoRecord {
    /// Absolute error bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abs: Option<f64>,
    /// Relative error bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel: Option<f64>,
    /// Fixed-rate quantization allowed at these bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits: Option<u32>,
    /// Target ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
    /// Speed priority (absent: ratio priority).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub speed: bool,
}

fn file_header(minor: u16, index_offset: u64, index_len: u64, index_crc: u32) -> [u8; 64] {
    let mut h = [0u8; 64];
    h[..8].copy_from_slice(&ARCHIVE_MAGIC);
    h[8..10].copy_from_slice(&ARCHIVE_MAJOR.to_le_bytes());
    h[10..12].copy_from_slice(&minor.to_le_bytes());
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
    auto: Option<AutoRecord>,
    /// Some entry shares another's container ([`ARCHIVE_MINOR_SHARED`]).
    shared: bool,
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
            auto: None,
            shared: false,
        })
    }

    /// The `i`-th entry added so far (0-based), offsets filled in.
    pub fn entry(&self, i: usize) -> Option<&TensorEntry> {
        self.entries.get(i)
    }

    /// Add a tensor whose container is that of the tensor added `earlier`-th (0-based): an
    /// identical tensor stored once. `entry.offset`, `length` and `container_crc32` are copied
    /// from it; nothing is written. The caller guarantees the tensors are identical (same
    /// dtype, shape and bytes). Errors: `InvalidArgument` when `earlier` is not an added tensor.
    pub fn add_shared(&mut self, mut entry: TensorEntry, earlier: usize) -> Result<()> {
        let Some(e) = self.entries.get(earlier) else {
            return Err(Error::InvalidArgument(format!(
                "shared container: tensor {earlier} was not added"
            )));
        };
        entry.offset = e.offset;
        entry.length = e.length;
        entry.container_crc32 = e.container_crc32;
        self.entries.push(entry);
        self.shared = true;
        Ok(())
    }

    /// Record the constraints codec `auto` chose the tensors' codecs under ([`Index::auto`]).
    pub fn set_auto(&mut self, record: AutoRecord) {
        self.auto = Some(record);
    }

    /// Append one tensor container; `entry.offset`, `entry.length` and
    /// `entry.container_crc32` are filled in here.
    pub fn add(&mut self, mut entry: TensorEntry, container: &[u8]) -> Result<()> {
        entry.offset = self.pos;
        entry.length = container.len() as u64;
        entry.container_crc32 = Some(crc32fast::hash(container));
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
            auto: self.auto,
        };
        let json = serde_json::to_vec(&index).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.out.write_all(&json)?;
        let total = self.pos + json.len() as u64;
        self.out.seek(SeekFrom::Start(0))?;
        let minor = if self.shared {
            ARCHIVE_MINOR_SHARED
        } else {
            ARCHIVE_MINOR
        };
        self.out.write_all(&file_header(
            minor,
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
/// Validates magic, version, flags and reserved bytes (zero), header and index checksums; then
/// for every entry: a known dtype, `original_bytes` equal to the shape's element count times
/// the element size and to the length of `data_offsets`, a container inside the body (after
/// byte 64, before the index, 64-byte aligned, overlapping no other container), whose header
/// parses (header CRC, exact length) and agrees with the entry (dtype, shape, codec); and that
/// the padding between containers is zero. Reads container headers only, no payload, and
/// allocates nothing in proportion to sizes the index claims. Errors: `BadMagic`,
/// `UnsupportedVersion`, `Truncated`, `Checksum`, `Corrupt`, `Unsupported` (a dtype this build
/// does not know).
pub fn read_index(buf: &[u8]) -> Result<Index> {
    if buf.len() < 8 || buf[..8] != ARCHIVE_MAGIC {
        return Err(Error::BadMagic("archive magic 'SARAPHIS' not found".into()));
    }
    if buf.len() < ALIGN as usize {
        return Err(Error::Truncated(format!(
            "archive is {} bytes, shorter than its 64-byte header",
            buf.len()
        )));
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
    let flags = r.u32()?;
    let index_offset = r.u64()?;
    let index_len = r.u64()?;
    let index_crc = r.u32()?;
    let header_crc = r.u32()?;
    if crc32fast::hash(&buf[..36]) != header_crc {
        return Err(Error::Checksum("archive header".into()));
    }
    if flags != 0 || buf[40..ALIGN as usize].iter().any(|&b| b != 0) {
        return corrupt("archive header: reserved bytes are not zero");
    }
    let end = index_offset
        .checked_add(index_len)
        .ok_or_else(|| Error::Corrupt("archive header: index range overflows".into()))?;
    if end > buf.len() as u64 {
        return Err(Error::Truncated(format!(
            "archive needs {end} bytes, the file has {}",
            buf.len()
        )));
    }
    if end < buf.len() as u64 {
        return corrupt("trailing bytes after archive index");
    }
    if index_offset < ALIGN {
        return corrupt("archive index overlaps the header");
    }
    let json = &buf[index_offset as usize..end as usize];
    if crc32fast::hash(json) != index_crc {
        return Err(Error::Checksum("archive index".into()));
    }
    let index: Index =
        serde_json::from_slice(json).map_err(|e| Error::Corrupt(format!("archive index: {e}")))?;
    let mut order: Vec<&TensorEntry> = index.tensors.iter().collect();
    order.sort_by_key(|t| t.offset);
    let mut covered = ALIGN;
    let mut prev: Option<&TensorEntry> = None;
    for t in order {
        check_entry(buf, t, index_offset)?;
        // Archive 1.2: an entry naming exactly the previous entry's container shares it (its
        // header was checked against this entry's dtype, shape and codec just now).
        if let Some(p) = prev.filter(|p| p.offset == t.offset) {
            if minor < ARCHIVE_MINOR_SHARED
                || p.length != t.length
                || p.container_crc32 != t.container_crc32
                || t.container_crc32.is_none()
            {
                return corrupt(format!("tensor '{}' overlaps another container", t.name));
            }
            continue;
        }
        prev = Some(t);
        if t.offset < covered {
            return corrupt(format!("tensor '{}' overlaps another container", t.name));
        }
        if buf[covered as usize..t.offset as usize]
            .iter()
            .any(|&b| b != 0)
        {
            return corrupt(format!("padding before tensor '{}' is not zero", t.name));
        }
        covered = t.offset + t.length;
    }
    if buf[covered as usize..index_offset as usize]
        .iter()
        .any(|&b| b != 0)
    {
        return corrupt("padding before the archive index is not zero");
    }
    Ok(index)
}

/// Check one index entry against itself and its container's header (see [`read_index`]).
fn check_entry(buf: &[u8], t: &TensorEntry, index_offset: u64) -> Result<()> {
    let bad = |what: &str| Error::Corrupt(format!("tensor '{}': {what}", t.name));
    let inside = t.offset >= ALIGN
        && t.offset % ALIGN == 0
        && t.offset
            .checked_add(t.length)
            .is_some_and(|e| e <= index_offset);
    if !inside {
        return Err(bad("container lies outside the archive body"));
    }
    let dtype = DType::from_safetensors_name(&t.dtype)?;
    let bytes = dtype::numel(&t.shape)
        .ok()
        .and_then(|n| n.checked_mul(dtype.size() as u64));
    if bytes != Some(t.original_bytes)
        || t.data_offsets[1].checked_sub(t.data_offsets[0]) != Some(t.original_bytes)
    {
        return Err(bad("size does not match its shape and data offsets"));
    }
    let container = &buf[t.offset as usize..(t.offset + t.length) as usize];
    let h = Header::parse(container).map_err(|e| match e {
        Error::Checksum(m) => Error::Checksum(format!("tensor '{}': {m}", t.name)),
        Error::Truncated(m) | Error::Corrupt(m) | Error::BadMagic(m) => {
            bad(&format!("container: {m}"))
        }
        e => e,
    })?;
    let codec = (0..=u8::MAX)
        .filter_map(|c| CodecId::from_code(c).ok())
        .find(|c| c.name() == t.codec);
    if h.dtype != dtype || h.shape != t.shape || codec != Some(h.codec) {
        return Err(bad(
            "container header disagrees with the index (dtype, shape or codec)",
        ));
    }
    Ok(())
}

/// The container bytes of `entry` inside the archive `buf` (an index from [`read_index`]),
/// after checking the container's CRC-32 recorded in the index (archives 1.1 and later).
/// Costs one CRC pass over the container (crc32fast: several GB/s per core). Errors:
/// `Checksum` naming the tensor when the container is not the one written for this entry
/// (altered, or swapped with another tensor's); `Corrupt` when `entry` lies outside `buf`.
pub fn container_bytes<'a>(buf: &'a [u8], entry: &TensorEntry) -> Result<&'a [u8]> {
    let range = usize::try_from(entry.offset)
        .ok()
        .zip(usize::try_from(entry.length).ok())
        .and_then(|(s, l)| Some(s..s.checked_add(l)?))
        .filter(|r| r.end <= buf.len())
        .ok_or_else(|| {
            Error::Corrupt(format!("tensor '{}' lies outside the archive", entry.name))
        })?;
    let c = &buf[range];
    if let Some(want) = entry.container_crc32 {
        if crc32fast::hash(c) != want {
            return Err(Error::Checksum(format!(
                "tensor '{}': container does not match the index (altered or swapped)",
                entry.name
            )));
        }
    }
    Ok(c)
}
