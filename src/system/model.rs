//! Whole-model operations on safetensors files: compress to a `.sph` archive, restore,
//! verify against the original, inspect.
//!
//! Memory: inputs are memory-mapped and one tensor is in flight at a time, so peak resident
//! memory is about the largest tensor plus its container, whatever the model's size.
//! Outputs go through [`super::output::write_atomically`]: an output that is an input is
//! refused before anything is written; the file is written under a random temporary name in
//! the output's directory and renamed into place only when complete; on any error (and on
//! SIGINT/SIGTERM/SIGHUP in the CLI) the temporary file is removed and an existing output is
//! left as it was.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::output::{io_error, write_atomically};
use super::System;
use crate::codec::{CodecParams, CompressOptions, ErrorBound};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::format::archive::{container_bytes, read_index, ArchiveWriter, BoundEntry, TensorEntry};

/// Per-tensor line of a report.
#[derive(Debug, Clone, Serialize)]
pub struct TensorReport {
    /// Tensor name.
    pub name: String,
    /// safetensors dtype.
    pub dtype: String,
    /// Dimensions.
    pub shape: Vec<u64>,
    /// Codec used.
    pub codec: String,
    /// Uncompressed bytes.
    pub original_bytes: u64,
    /// Container bytes.
    pub compressed_bytes: u64,
    /// original / compressed.
    pub ratio: f64,
    /// Largest |x - x'| in the tensor's units (0 when bit-exact): measured by the encoder
    /// (compress) or against the original (verify); as recorded at compression (inspect,
    /// decompress). See [`ModelReport::error_source`].
    pub max_abs_error: Option<f64>,
    /// Largest |x - x'| / |x| over nonzero finite x, measured by verify; `None` (JSON null)
    /// where it was not measured.
    pub max_rel_error: Option<f64>,
    /// The bound, if lossy.
    pub bound: Option<BoundEntry>,
    /// The codec's settings where they matter (quant: bits, grouping, scale dtype, minimum),
    /// read from the container header; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<String>,
    /// Compressing with codec `auto` only: why this tensor got its codec (every candidate's
    /// ratio, the rule, sample or whole tensor: [`crate::codec::auto::AutoChoice::why`]).
    /// Not stored in the archive (which keeps the rule once, [`ModelReport::auto`]); absent
    /// otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto: Option<String>,
    /// The tensor whose container this one shares (identical dtype, shape and bytes, stored
    /// once: archive 1.2); absent for a tensor with its own container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_with: Option<String>,
    /// Verify only: true when the tensor is bit-exact (lossless) or within its bound.
    pub ok: bool,
}

/// Result of a model-level operation; `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    /// What ran: "compress", "decompress", "verify" or "inspect".
    pub operation: String,
    /// Uncompressed bytes of all tensors.
    pub original_bytes: u64,
    /// Archive bytes (whole file).
    pub compressed_bytes: u64,
    /// original_bytes / compressed_bytes.
    pub ratio: f64,
    /// Wall-clock seconds of the operation.
    pub seconds: f64,
    /// Throughput in MB/s (10^6 bytes) of uncompressed bytes: read by compress and verify,
    /// written by decompress; `None` for inspect, which decodes nothing.
    pub mb_per_s: Option<f64>,
    /// Largest |x - x'| over all tensors (see [`ModelReport::error_source`]); `None` when no
    /// tensor has a figure.
    pub max_abs_error: Option<f64>,
    /// Largest relative error over all tensors, measured by verify only (`None` otherwise).
    pub max_rel_error: Option<f64>,
    /// Where the error figures come from: "measured by the encoder" (compress), "measured
    /// against the original" (verify), "recorded at compression" (inspect, decompress).
    pub error_source: String,
    /// Verify: every tensor within its bound or bit-exact.
    pub ok: bool,
    /// Archives of codec `auto`: how each tensor's codec was chosen (the rule and candidates,
    /// [`crate::codec::auto::describe_rule`]), as the archive index records it; absent
    /// otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto: Option<String>,
    /// Per tensor.
    pub tensors: Vec<TensorReport>,
}

/// Progress callback: `(tensors done, tensors total, current tensor name)`.
pub type Progress<'a> = &'a (dyn Fn(usize, usize, &str) + Sync);

pub(crate) fn map_file(path: &Path) -> Result<memmap2::Mmap> {
    let f = File::open(path).map_err(|e| io_error("cannot open", path, e))?;
    if f.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(Error::InvalidArgument(format!(
            "input '{}' is a directory",
            path.display()
        )));
    }
    // SAFETY: the map is read-only; a file truncated by another process while mapped is the
    // documented hazard of memory-mapped input (SIGBUS), as for every mmap-based reader.
    unsafe { memmap2::Mmap::map(&f) }.map_err(|e| io_error("cannot map", path, e))
}

/// A zeroed buffer of `len` bytes, or an error instead of an abort when the allocation fails
/// (a valid container may declare far more elements than its own size).
pub(crate) fn zeroed(len: u64, name: &str) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    usize::try_from(len)
        .ok()
        .and_then(|n| v.try_reserve_exact(n).ok().map(|_| n))
        .map(|n| v.resize(n, 0))
        .ok_or_else(|| {
            Error::Unsupported(format!(
                "tensor '{name}': cannot allocate {len} bytes to decode it into"
            ))
        })?;
    Ok(v)
}

/// Drop the pages of `map[start..end]` from this process's resident set once a tensor is
/// done, so resident memory stays near one tensor whatever the file size. The mapping is
/// read-only and file-backed: dropped pages are simply read again if touched, so this is
/// only a hint and its failure is ignored.
fn release(map: &memmap2::Mmap, start: usize, end: usize) {
    let page = 4096;
    let s = start / page * page;
    let e = end.min(map.len());
    if e > s {
        // SAFETY: MADV_DONTNEED on a private read-only file mapping discards clean pages only;
        // no Rust reference observes different bytes afterwards (they are re-read from the file).
        let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, s, e - s) };
    }
}

/// A tensor of a safetensors file.
struct StTensor {
    name: String,
    dtype: DType,
    shape: Vec<u64>,
    start: u64,
    end: u64,
}

/// A user's explanation of a safetensors parse error (the crate's Debug names are internal).
fn safetensors_why(e: &safetensors::SafeTensorError) -> String {
    use safetensors::SafeTensorError as E;
    match e {
        E::HeaderTooSmall => "shorter than its 8-byte header length".into(),
        E::HeaderTooLarge => "header length is larger than allowed (100 MB)".into(),
        E::InvalidHeaderLength => "header length runs past the end of the file".into(),
        E::InvalidHeader => "header is not valid UTF-8".into(),
        E::InvalidHeaderStart => "header does not start with '{'".into(),
        E::InvalidHeaderDeserialization => "header is not the expected JSON".into(),
        E::MetadataIncompleteBuffer => "file is truncated: tensor data is missing".into(),
        E::InvalidOffset(name) => format!("tensor '{name}' has invalid data offsets"),
        E::TensorInvalidInfo | E::InvalidTensorView(..) => {
            "a tensor's shape does not match its dtype and data size".into()
        }
        E::ValidationOverflow => "a tensor's size overflows".into(),
        E::TensorNotFound(name) => format!("tensor '{name}' not found"),
        E::IoError(e) => e.to_string(),
        E::JsonError(e) => format!("header JSON: {e}"),
    }
}

/// Parse and validate a safetensors file: header text and tensors in data order.
fn parse_safetensors(buf: &[u8]) -> Result<(String, usize, Vec<StTensor>)> {
    safetensors::SafeTensors::deserialize(buf).map_err(|e| {
        Error::InvalidArgument(format!(
            "not a valid safetensors file: {}",
            safetensors_why(&e)
        ))
    })?;
    let n = u64::from_le_bytes(buf[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&buf[8..8 + n])
        .map_err(|_| Error::InvalidArgument("safetensors header is not UTF-8".into()))?
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&header)
        .map_err(|e| Error::InvalidArgument(format!("safetensors header: {e}")))?;
    let mut out = Vec::new();
    for (name, t) in v.as_object().into_iter().flatten() {
        if name == "__metadata__" {
            continue;
        }
        let bad = || Error::InvalidArgument(format!("safetensors tensor '{name}'"));
        let dtype = DType::from_safetensors_name(t["dtype"].as_str().ok_or_else(bad)?)?;
        let shape: Vec<u64> = t["shape"]
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|d| d.as_u64().ok_or_else(bad))
            .collect::<Result<_>>()?;
        let off = t["data_offsets"].as_array().ok_or_else(bad)?;
        let (start, end) = (
            off[0].as_u64().ok_or_else(bad)?,
            off[1].as_u64().ok_or_else(bad)?,
        );
        out.push(StTensor {
            name: name.clone(),
            dtype,
            shape,
            start,
            end,
        });
    }
    out.sort_by_key(|t| (t.start, t.end));
    Ok((header, 8 + n, out))
}

fn bound_entry(codec: &CodecParams, dtype: DType) -> Option<BoundEntry> {
    let padic = match codec {
        CodecParams::Padic(p) => Some(p),
        CodecParams::Sparse(s) => s.padic.as_ref(),
        _ => None,
    };
    match (padic, dtype.is_float()) {
        (Some(p), true) => Some(match p.bound {
            ErrorBound::Abs(e) => BoundEntry {
                mode: "abs".into(),
                eps: e,
            },
            ErrorBound::Rel(e) => BoundEntry {
                mode: "rel".into(),
                eps: e,
            },
        }),
        _ => None,
    }
}

/// The base model of delta coding (`--base`): a safetensors file or a `.sph` archive, memory
/// mapped, whose tensors are looked up by name. A `.sph` base is decoded tensor by tensor (its
/// own tensors must not be delta-coded); a lossy `.sph` base works as long as compression and
/// decompression use the same file (the decoded values are what the hash covers).
pub struct BaseModel {
    map: memmap2::Mmap,
    /// `Some` for a `.sph` archive: its index; `None` for safetensors.
    index: Option<crate::format::archive::Index>,
    /// safetensors: start of the data and the tensors.
    data_start: usize,
    tensors: HashMap<String, StTensor>,
}

impl BaseModel {
    /// Open `path`: a `.sph` archive when it starts with the archive magic, else a
    /// safetensors file. Errors: `Io` naming the path, `InvalidArgument` (neither format),
    /// those of [`crate::format::archive::read_index`].
    pub fn open(path: &Path) -> Result<BaseModel> {
        let map = map_file(path)?;
        if map.starts_with(&crate::format::archive::ARCHIVE_MAGIC) {
            let index = read_index(&map)?;
            return Ok(BaseModel {
                map,
                index: Some(index),
                data_start: 0,
                tensors: HashMap::new(),
            });
        }
        let (_, data_start, list) = parse_safetensors(&map)
            .map_err(|e| Error::InvalidArgument(format!("base model {}: {e}", path.display())))?;
        Ok(BaseModel {
            tensors: list.into_iter().map(|t| (t.name.clone(), t)).collect(),
            map,
            index: None,
            data_start,
        })
    }

    /// The base tensor named `name` when it has `dtype` and `shape` (else `None`: the tensor
    /// is coded without a base). Errors: those of decoding a `.sph` base's tensor.
    fn tensor(
        &self,
        sys: &System,
        name: &str,
        dtype: DType,
        shape: &[u64],
    ) -> Result<Option<std::borrow::Cow<'_, [u8]>>> {
        match &self.index {
            Some(index) => {
                let Some(t) = index.tensors.iter().find(|t| t.name == name) else {
                    return Ok(None);
                };
                if DType::from_safetensors_name(&t.dtype)? != dtype || t.shape != shape {
                    return Ok(None);
                }
                let buf = sys
                    .decode_entry(&self.map, t, dtype, None)
                    .map_err(|e| prefix(e, "base model"))?;
                Ok(Some(std::borrow::Cow::Owned(buf)))
            }
            None => {
                let Some(t) = self.tensors.get(name) else {
                    return Ok(None);
                };
                if t.dtype != dtype || t.shape != shape {
                    return Ok(None);
                }
                let a = self.data_start + t.start as usize;
                let b = self.data_start + t.end as usize;
                Ok(Some(std::borrow::Cow::Borrowed(&self.map[a..b])))
            }
        }
    }
}

/// The codec of a delta container for `codec`: lossless for the lossless codecs, the p-adic
/// parameters for a bound; `None` (no delta tried) for the others.
fn delta_codec(codec: &CodecParams) -> Option<CodecParams> {
    match codec {
        CodecParams::Lossless | CodecParams::LosslessV2 | CodecParams::Padic(_) => Some(*codec),
        _ => None,
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Where each operation's error figures come from ([`ModelReport::error_source`]).
const MEASURED_BY_ENCODER: &str = "measured by the encoder";
const MEASURED_AGAINST_ORIGINAL: &str = "measured against the original";
const RECORDED_AT_COMPRESSION: &str = "recorded at compression";

impl System {
    /// Compress every tensor of the safetensors file `input` with `codec` into the archive
    /// `output`. Integer and bool tensors are always bit-exact.
    ///
    /// Before a tensor's container is written, its header and codec parameters are read back
    /// as a decoder would ([`crate::codec::inspect`]) and checked against the tensor, so that
    /// an archive this call completes is one the reader accepts. `output` must not be `input`
    /// (checked by device and inode before anything is written).
    ///
    /// Errors: `InvalidArgument` (not a safetensors file, bad parameters, a parameter the
    /// data cannot use such as a relative bound too fine for its range, output = input),
    /// `Unsupported` (a dtype such as F8), `Io` naming the user's path.
    pub fn compress_model(
        &self,
        input: &Path,
        output: &Path,
        codec: CodecParams,
        progress: Progress,
    ) -> Result<ModelReport> {
        self.compress_model_with(input, output, self.options(codec), progress)
    }

    /// [`System::compress_model`] with explicit compression options (codec, chunk size, lanes)
    /// instead of the system's defaults. Errors: as [`System::compress_model`].
    pub fn compress_model_with(
        &self,
        input: &Path,
        output: &Path,
        opts: CompressOptions,
        progress: Progress,
    ) -> Result<ModelReport> {
        self.compress_file(input, output, None, opts, progress)
    }

    /// [`System::compress_model`] against a base model (`--base`): each tensor that has a
    /// tensor of the same name, dtype and shape in `base` (a safetensors file or a `.sph`
    /// archive) is also coded as a delta against it ([`crate::codec::delta`]: lossless, or
    /// within the p-adic bound) and the smaller container is kept. The delta
    /// containers record their base tensor's hash; decoding them needs the same base
    /// ([`System::decompress_model_with_base`]). Other codecs (quant, sparse, auto) are written
    /// without delta. Errors: as [`System::compress_model`], and those
    /// of opening `base` ([`BaseModel::open`]).
    pub fn compress_model_with_base(
        &self,
        input: &Path,
        output: &Path,
        base: &Path,
        codec: CodecParams,
        progress: Progress,
    ) -> Result<ModelReport> {
        self.compress_model_with_base_options(input, output, base, self.options(codec), progress)
    }

    /// [`System::compress_model_with_base`] with explicit compression options (codec, chunk
    /// size, lanes) instead of the system's defaults. Errors: as it.
    pub fn compress_model_with_base_options(
        &self,
        input: &Path,
        output: &Path,
        base: &Path,
        opts: CompressOptions,
        progress: Progress,
    ) -> Result<ModelReport> {
        self.compress_file(input, output, Some(base), opts, progress)
    }

    /// The one file-to-file compression: `input` to `output` (checked against every input,
    /// written atomically), each tensor also coded against `base` when given.
    fn compress_file(
        &self,
        input: &Path,
        output: &Path,
        base: Option<&Path>,
        opts: CompressOptions,
        progress: Progress,
    ) -> Result<ModelReport> {
        let t0 = Instant::now();
        let mut inputs = vec![input];
        inputs.extend(base);
        super::output::check_output(output, &inputs)?;
        let base = base.map(BaseModel::open).transpose()?;
        let src = map_file(input)?;
        let (total, reports) = write_atomically(output, &inputs, |file| {
            let w = BufWriter::with_capacity(1 << 20, file);
            let (mut w, total, reports) =
                self.compress_mapped_base(&src, Some(&src), w, opts, base.as_ref(), progress)?;
            w.flush()?;
            Ok((total, reports))
        })?;
        let mut r = summary("compress", total, reports, t0, MEASURED_BY_ENCODER);
        r.mb_per_s = Some(mb_per_s(r.original_bytes, r.seconds));
        if let CodecParams::Auto(ap) = &opts.codec {
            r.auto = Some(crate::codec::auto::describe_rule(ap));
        }
        Ok(r)
    }

    /// Compress the safetensors file held in `src` (typically memory-mapped) into a `.sph`
    /// archive written to `out` from its start; returns `out`, the archive's length and one
    /// report per tensor. [`System::compress_model`] is this on files; the same checks apply
    /// (every container read back as the decoder will before it is written). On an error
    /// `out` holds a partial archive: discard it. Errors: as [`System::compress_model`]
    /// (`InvalidArgument` for input that is not a valid safetensors file), `Io` from `out`.
    pub fn compress_safetensors<W: Write + Seek>(
        &self,
        src: &[u8],
        out: W,
        codec: CodecParams,
        progress: Progress,
    ) -> Result<(W, u64, Vec<TensorReport>)> {
        self.compress_mapped(src, None, out, self.options(codec), progress)
    }

    /// [`System::compress_safetensors`] with explicit compression options (codec, chunk size
    /// and lanes, e.g. from the C API's `saraphis_params`) instead of the system's defaults.
    /// The options are checked per tensor against its dtype. Errors: as
    /// [`System::compress_safetensors`].
    pub fn compress_safetensors_with<W: Write + Seek>(
        &self,
        src: &[u8],
        out: W,
        opts: CompressOptions,
        progress: Progress,
    ) -> Result<(W, u64, Vec<TensorReport>)> {
        self.compress_mapped(src, None, out, opts, progress)
    }

    /// [`System::compress_safetensors`]; `map`, when `src` is that memory map, has each
    /// tensor's pages released once it is done.
    fn compress_mapped<W: Write + Seek>(
        &self,
        src: &[u8],
        map: Option<&memmap2::Mmap>,
        out: W,
        opts: CompressOptions,
        progress: Progress,
    ) -> Result<(W, u64, Vec<TensorReport>)> {
        self.compress_mapped_base(src, map, out, opts, None, progress)
    }

    /// [`System::compress_mapped`], each tensor also coded against `base` where it has one.
    fn compress_mapped_base<W: Write + Seek>(
        &self,
        src: &[u8],
        map: Option<&memmap2::Mmap>,
        out: W,
        opts: CompressOptions,
        base: Option<&BaseModel>,
        progress: Progress,
    ) -> Result<(W, u64, Vec<TensorReport>)> {
        let delta = delta_codec(&opts.codec);
        let (header, data_start, tensors) = parse_safetensors(src)?;
        let codec = opts.codec;
        let mut reports = Vec::with_capacity(tensors.len());
        let mut w = ArchiveWriter::new(out)?;
        if let CodecParams::Auto(ap) = &codec {
            w.set_auto(ap.record());
        }
        // Identical tensors (dtype, shape and bytes) are stored once: tensors already written,
        // by a CRC-32 of their bytes (then compared in full).
        let mut written: HashMap<(u32, usize), Vec<usize>> = HashMap::new();
        for (k, t) in tensors.iter().enumerate() {
            progress(k, tensors.len(), &t.name);
            let data = &src[data_start + t.start as usize..data_start + t.end as usize];
            let key = (crc32fast::hash(data), data.len());
            let same = written.get(&key).and_then(|ks| {
                ks.iter().copied().find(|&j| {
                    let o = &tensors[j];
                    o.dtype == t.dtype
                        && o.shape == t.shape
                        && src[data_start + o.start as usize..data_start + o.end as usize] == *data
                })
            });
            if let Some(j) = same {
                let first: &TensorReport = &reports[j];
                let earlier = w.entry(j).ok_or_else(|| {
                    Error::InvalidArgument(format!("tensor {j}: not in the archive yet"))
                })?;
                let entry = TensorEntry {
                    name: t.name.clone(),
                    data_offsets: [t.start, t.end],
                    ..earlier.clone()
                };
                reports.push(TensorReport {
                    name: t.name.clone(),
                    shared_with: Some(first.name.clone()),
                    auto: None,
                    ..first.clone()
                });
                w.add_shared(entry, j)?;
                continue;
            }
            written.entry(key).or_default().push(k);
            let mut c = self.compress(data, t.dtype, &t.shape, &opts)?;
            if let (Some(base), Some(dc)) = (base, &delta) {
                if let Some(b) = base.tensor(self, &t.name, t.dtype, &t.shape)? {
                    let d = self.pool.install(|| {
                        crate::codec::delta::compress(data, &b, t.dtype, &t.shape, dc, opts.lanes)
                    })?;
                    if d.bytes.len() < c.bytes.len() {
                        c = d;
                    }
                }
            }
            // What the container was written with: `auto`'s choice, or the codec asked for.
            let codec = c.choice.as_ref().map_or(codec, |a| a.params);
            let info = crate::codec::inspect(&c.bytes).map_err(|e| {
                Error::Corrupt(format!(
                    "tensor '{}': the encoder wrote a container its reader refuses ({e}); \
                     nothing was written",
                    t.name
                ))
            })?;
            if info.dtype != t.dtype || info.shape != t.shape {
                return Err(Error::Corrupt(format!(
                    "tensor '{}': container header disagrees with the tensor",
                    t.name
                )));
            }
            let bound = match (c.codec, &codec) {
                (
                    crate::format::container::CodecId::Padic
                    | crate::format::container::CodecId::Sparse,
                    _,
                ) => bound_entry(&codec, t.dtype),
                (crate::format::container::CodecId::Delta, _) => info.bound.map(|b| match b {
                    ErrorBound::Abs(eps) => BoundEntry {
                        mode: "abs".into(),
                        eps,
                    },
                    ErrorBound::Rel(eps) => BoundEntry {
                        mode: "rel".into(),
                        eps,
                    },
                }),
                // Quant: the requested bound, or (fixed rate) the error the encoder measured,
                // which every element keeps (verify checks it).
                (crate::format::container::CodecId::Quant, CodecParams::Quant(q)) => {
                    Some(BoundEntry {
                        mode: "abs".into(),
                        eps: q.bound.unwrap_or(c.max_abs_error),
                    })
                }
                _ => None,
            };
            let entry = TensorEntry {
                name: t.name.clone(),
                dtype: t.dtype.safetensors_name().into(),
                shape: t.shape.clone(),
                codec: c.codec.name().into(),
                offset: 0,
                length: 0,
                original_bytes: data.len() as u64,
                data_offsets: [t.start, t.end],
                bound: bound.clone(),
                max_abs_error: c.max_abs_error,
                container_crc32: None,
            };
            reports.push(TensorReport {
                name: t.name.clone(),
                dtype: entry.dtype.clone(),
                shape: t.shape.clone(),
                codec: entry.codec.clone(),
                original_bytes: data.len() as u64,
                compressed_bytes: c.bytes.len() as u64,
                ratio: ratio(data.len() as u64, c.bytes.len() as u64),
                max_abs_error: Some(c.max_abs_error),
                max_rel_error: None,
                bound,
                settings: match (c.codec, &codec) {
                    (crate::format::container::CodecId::Quant, CodecParams::Quant(q)) => {
                        Some(q.describe())
                    }
                    (crate::format::container::CodecId::Sparse, _) => {
                        info.sparse.map(|s| s.describe(info.numel))
                    }
                    (crate::format::container::CodecId::Delta, _) => {
                        info.delta.map(|d| crate::codec::delta::describe(&d))
                    }
                    _ => None,
                },
                auto: c.choice.as_ref().map(|a| a.why.clone()),
                shared_with: None,
                ok: true,
            });
            w.add(entry, &c.bytes)?;
            if let Some(map) = map {
                release(
                    map,
                    data_start + t.start as usize,
                    data_start + t.end as usize,
                );
            }
        }
        progress(tensors.len(), tensors.len(), "");
        let (out, total) = w.finish(header)?;
        Ok((out, total, reports))
    }

    /// Restore the safetensors file from the `.sph` archive held in `src` (typically
    /// memory-mapped), writing it to `out`; returns one report per tensor.
    /// [`System::decompress_model`] is this on files; the same checks apply (every container
    /// checked against its index entry before it is decoded). Memory: one decoded tensor at a
    /// time, as large as its index entry says (an archive may legitimately expand far beyond
    /// its own size: check [`crate::format::archive::read_index`] first when that matters).
    /// On an error `out` holds a partial file: discard it. Errors: as
    /// [`System::decompress_model`], `Io` from `out`.
    pub fn decompress_archive<W: Write>(
        &self,
        src: &[u8],
        out: &mut W,
        progress: Progress,
    ) -> Result<Vec<TensorReport>> {
        self.decompress_mapped(src, None, out, None, progress)
    }

    /// [`System::decompress_archive`]; `map`, when `src` is that memory map, has each
    /// container's pages released once it is decoded.
    fn decompress_mapped<W: Write>(
        &self,
        src: &[u8],
        map: Option<&memmap2::Mmap>,
        out: &mut W,
        base: Option<&BaseModel>,
        progress: Progress,
    ) -> Result<Vec<TensorReport>> {
        let index = read_index(src)?;
        let mut reports = Vec::with_capacity(index.tensors.len());
        let hb = index.source_header.as_bytes();
        out.write_all(&(hb.len() as u64).to_le_bytes())?;
        out.write_all(hb)?;
        let mut pos = 0u64;
        for (k, t) in index.tensors.iter().enumerate() {
            progress(k, index.tensors.len(), &t.name);
            if t.data_offsets[0] != pos {
                return Err(Error::Corrupt(format!(
                    "tensor '{}' data offsets are not contiguous",
                    t.name
                )));
            }
            let dtype = DType::from_safetensors_name(&t.dtype)?;
            let buf = self.decode_entry(src, t, dtype, base)?;
            out.write_all(&buf)?;
            if let Some(map) = map {
                release(map, t.offset as usize, (t.offset + t.length) as usize);
            }
            pos = t.data_offsets[1];
            reports.push(entry_report(t, Some(t.max_abs_error), None, true));
        }
        progress(index.tensors.len(), index.tensors.len(), "");
        Ok(reports)
    }

    /// Restore the safetensors file from archive `input` into `output`. For a lossless
    /// archive the output is byte-identical to the original file; for a lossy one every
    /// element is within the bound recorded in the index. Each container is checked against
    /// its index entry (header, and the CRC-32 recorded by archive 1.1+) before it is decoded.
    /// `output` must not be `input`. Errors: as [`crate::format::archive::read_index`],
    /// [`crate::format::archive::container_bytes`] and [`crate::codec::decompress_into`];
    /// `InvalidArgument` (output = input), `Io` naming the user's path.
    pub fn decompress_model(
        &self,
        input: &Path,
        output: &Path,
        progress: Progress,
    ) -> Result<ModelReport> {
        self.decompress_model_with_base(input, output, None, progress)
    }

    /// [`System::decompress_model`] of an archive whose tensors may be delta-coded against
    /// the base model `base` (`--base`: the safetensors file or `.sph` archive they were
    /// compressed against). Each delta tensor's base tensor is checked against the hash its
    /// container records before it is decoded. Errors: as [`System::decompress_model`];
    /// `InvalidArgument` when a delta tensor has no base (none given, or no tensor of that
    /// name, dtype and shape in it) or its base tensor differs from the one it was coded
    /// against (the output is then not written).
    pub fn decompress_model_with_base(
        &self,
        input: &Path,
        output: &Path,
        base: Option<&Path>,
        progress: Progress,
    ) -> Result<ModelReport> {
        let t0 = Instant::now();
        let mut inputs = vec![input];
        inputs.extend(base);
        super::output::check_output(output, &inputs)?;
        let base = base.map(BaseModel::open).transpose()?;
        let src = map_file(input)?;
        let reports = write_atomically(output, &inputs, |file| {
            let mut w = BufWriter::with_capacity(1 << 20, file);
            let reports =
                self.decompress_mapped(&src, Some(&src), &mut w, base.as_ref(), progress)?;
            w.flush()?;
            Ok(reports)
        })?;
        let mut r = summary(
            "decompress",
            src.len() as u64,
            reports,
            t0,
            RECORDED_AT_COMPRESSION,
        );
        r.mb_per_s = Some(mb_per_s(r.original_bytes, r.seconds));
        Ok(r)
    }

    /// Decode one archive entry (already cross-checked by `read_index`) into a new buffer; a
    /// delta entry against its tensor in `base`.
    fn decode_entry(
        &self,
        archive: &[u8],
        t: &TensorEntry,
        dtype: DType,
        base: Option<&BaseModel>,
    ) -> Result<Vec<u8>> {
        let container = container_bytes(archive, t)?;
        let mut buf = zeroed(t.original_bytes, &t.name)?;
        if t.codec == crate::format::container::CodecId::Delta.name() {
            let Some(base) = base else {
                return Err(prefix(
                    Error::InvalidArgument(
                        "coded as a delta against a base model: give the base (--base)".into(),
                    ),
                    &t.name,
                ));
            };
            let b = base
                .tensor(self, &t.name, dtype, &t.shape)?
                .ok_or_else(|| {
                    prefix(
                        Error::InvalidArgument(
                            "the base model has no tensor of this name, dtype and shape".into(),
                        ),
                        &t.name,
                    )
                })?;
            self.pool
                .install(|| crate::codec::delta::decompress_into(container, &b, dtype, &mut buf))
                .map_err(|e| prefix(e, &t.name))?;
            return Ok(buf);
        }
        self.decompress_into(container, dtype, &mut buf)
            .map_err(|e| prefix(e, &t.name))?;
        Ok(buf)
    }

    /// Read an archive's index (no decoding) and report sizes and ratios per tensor, with the
    /// errors recorded at compression. Errors: as [`crate::format::archive::read_index`].
    pub fn inspect_model(&self, input: &Path) -> Result<ModelReport> {
        let t0 = Instant::now();
        let src = map_file(input)?;
        let index = read_index(&src)?;
        let shared = index.shared_with();
        let reports = index
            .tensors
            .iter()
            .zip(&shared)
            .map(|(t, s)| {
                let mut r = entry_report(t, Some(t.max_abs_error), None, true);
                r.shared_with = s.map(|j| index.tensors[j].name.clone());
                if t.codec == "quant" || t.codec == "sparse" || t.codec == "delta" {
                    // The settings live in the container header: read it (not the payload).
                    let at = t.offset as usize;
                    let end = at.saturating_add(t.length as usize).min(src.len());
                    let info = crate::codec::inspect_prefix(src.get(at..end).unwrap_or(&[]))
                        .map_err(|e| prefix(e, &t.name))?;
                    r.settings = match (&info.sparse, &info.delta) {
                        (Some(s), _) => Some(s.describe(info.numel)),
                        (_, Some(d)) => Some(crate::codec::delta::describe(d)),
                        _ => info.quant.map(|q| q.describe()),
                    };
                }
                Ok(r)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut r = summary(
            "inspect",
            src.len() as u64,
            reports,
            t0,
            RECORDED_AT_COMPRESSION,
        );
        r.auto = index.auto.as_ref().map(|a| {
            crate::codec::auto::describe_rule(&crate::codec::auto::AutoParams::from_record(a))
        });
        Ok(r)
    }

    /// Decode every tensor of `archive` and compare with `original` (a safetensors file):
    /// bit-exact tensors must match bit for bit; lossy ones must satisfy their bound for every
    /// element, and non-finite values must match exactly. `ok` in the report is false
    /// otherwise. Errors: as [`System::decompress_model`]; also `InvalidArgument` when the two
    /// files do not hold the same tensors.
    pub fn verify_model(
        &self,
        archive: &Path,
        original: &Path,
        progress: Progress,
    ) -> Result<ModelReport> {
        self.verify_model_with_base(archive, original, None, progress)
    }

    /// [`System::verify_model`] of an archive with delta tensors, decoded against `base`
    /// (as [`System::decompress_model_with_base`]). Errors: as both.
    pub fn verify_model_with_base(
        &self,
        archive: &Path,
        original: &Path,
        base: Option<&Path>,
        progress: Progress,
    ) -> Result<ModelReport> {
        let t0 = Instant::now();
        let base = base.map(BaseModel::open).transpose()?;
        let src = map_file(archive)?;
        let index = read_index(&src)?;
        let orig = map_file(original)?;
        let (_, data_start, tensors) = parse_safetensors(&orig)?;
        if tensors.len() != index.tensors.len() {
            return Err(Error::InvalidArgument(format!(
                "archive has {} tensors, original has {}",
                index.tensors.len(),
                tensors.len()
            )));
        }
        let mut reports = Vec::new();
        for (k, (t, o)) in index.tensors.iter().zip(&tensors).enumerate() {
            progress(k, tensors.len(), &t.name);
            let dtype = DType::from_safetensors_name(&t.dtype)?;
            if t.name != o.name || dtype != o.dtype || t.shape != o.shape {
                return Err(Error::InvalidArgument(format!(
                    "tensor '{}' differs in name, dtype or shape",
                    t.name
                )));
            }
            let want = &orig[data_start + o.start as usize..data_start + o.end as usize];
            let got = self.decode_entry(&src, t, dtype, base.as_ref())?;
            if want.len() != got.len() {
                return Err(Error::InvalidArgument(format!(
                    "tensor '{}': {} bytes in the archive, {} in the original",
                    t.name,
                    got.len(),
                    want.len()
                )));
            }
            let (max_abs, max_rel, ok) = compare(dtype, want, &got, t.bound.as_ref());
            let rel = dtype.is_float().then_some(max_rel);
            reports.push(entry_report(t, Some(max_abs), rel, ok));
            release(&src, t.offset as usize, (t.offset + t.length) as usize);
            release(
                &orig,
                data_start + o.start as usize,
                data_start + o.end as usize,
            );
        }
        progress(tensors.len(), tensors.len(), "");
        let mut r = summary(
            "verify",
            src.len() as u64,
            reports,
            t0,
            MEASURED_AGAINST_ORIGINAL,
        );
        r.mb_per_s = Some(mb_per_s(r.original_bytes, r.seconds));
        Ok(r)
    }
}

fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 / 1e6 / seconds
    } else {
        0.0
    }
}

fn entry_report(
    t: &TensorEntry,
    max_abs: Option<f64>,
    max_rel: Option<f64>,
    ok: bool,
) -> TensorReport {
    TensorReport {
        name: t.name.clone(),
        dtype: t.dtype.clone(),
        shape: t.shape.clone(),
        codec: t.codec.clone(),
        original_bytes: t.original_bytes,
        compressed_bytes: t.length,
        ratio: ratio(t.original_bytes, t.length),
        max_abs_error: max_abs,
        max_rel_error: max_rel,
        bound: t.bound.clone(),
        settings: None,
        auto: None,
        shared_with: None,
        ok,
    }
}

fn max_of(v: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    v.flatten().reduce(f64::max)
}

fn summary(
    op: &str,
    archive_len: u64,
    tensors: Vec<TensorReport>,
    t0: Instant,
    error_source: &str,
) -> ModelReport {
    let original: u64 = tensors.iter().map(|r| r.original_bytes).sum();
    ModelReport {
        operation: op.into(),
        original_bytes: original,
        compressed_bytes: archive_len,
        ratio: ratio(original, archive_len),
        seconds: t0.elapsed().as_secs_f64(),
        mb_per_s: None,
        max_abs_error: max_of(tensors.iter().map(|r| r.max_abs_error)),
        max_rel_error: max_of(tensors.iter().map(|r| r.max_rel_error)),
        error_source: error_source.into(),
        ok: tensors.iter().all(|r| r.ok),
        auto: None,
        tensors,
    }
}

fn prefix(e: Error, name: &str) -> Error {
    match e {
        Error::Corrupt(m) => Error::Corrupt(format!("tensor '{name}': {m}")),
        Error::Checksum(m) => Error::Checksum(format!("tensor '{name}': {m}")),
        Error::Truncated(m) => Error::Truncated(format!("tensor '{name}': {m}")),
        e => e,
    }
}

/// Element-wise comparison: (max abs error, max rel error, within bound or bit-exact).
pub fn compare(
    dtype: DType,
    want: &[u8],
    got: &[u8],
    bound: Option<&BoundEntry>,
) -> (f64, f64, bool) {
    if !dtype.is_float() || bound.is_none() {
        if want == got {
            return (0.0, 0.0, true);
        }
        if !dtype.is_float() {
            return (f64::INFINITY, f64::INFINITY, false);
        }
    }
    let n = want.len() / dtype.size();
    let (mut max_abs, mut max_rel, mut ok) = (0f64, 0f64, true);
    for i in 0..n {
        let (x, y) = (dtype.load_f64(want, i), dtype.load_f64(got, i));
        if !x.is_finite() {
            let s = dtype.size();
            ok &= want[i * s..(i + 1) * s] == got[i * s..(i + 1) * s];
            continue;
        }
        let err = (x - y).abs();
        let rel = if x != 0.0 {
            err / x.abs()
        } else if err == 0.0 {
            0.0
        } else {
            f64::INFINITY
        };
        max_abs = max_abs.max(err);
        max_rel = max_rel.max(rel);
        ok &= match bound {
            Some(b) if b.mode == "abs" => err <= b.eps,
            Some(b) => err <= b.eps * x.abs(),
            None => {
                err == 0.0
                    && want[i * dtype.size()..(i + 1) * dtype.size()]
                        == got[i * dtype.size()..(i + 1) * dtype.size()]
            }
        };
    }
    (max_abs, max_rel, ok)
}
