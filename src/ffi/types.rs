//! The value enums of the C API (`saraphis_dtype`, `saraphis_codec`, `saraphis_param`,
//! `saraphis_config_key`) and `saraphis_tensor_info`. Enum-valued arguments travel as `uint32_t`
//! and are converted here, so no bit pattern from C is undefined behaviour. `const` asserts tie
//! `saraphis_dtype` and `saraphis_codec` to the Rust enums they mirror: a renumbering on either
//! side fails to compile.

use super::boundary::{invalid, Fail};
use crate::dtype::DType;
use crate::format::container::CodecId;

/// Element types (values of `uint32_t dtype` arguments). Data are little-endian.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum saraphis_dtype {
    /// IEEE binary32.
    SARAPHIS_F32 = 0,
    /// IEEE binary16.
    SARAPHIS_F16 = 1,
    /// bfloat16.
    SARAPHIS_BF16 = 2,
    /// IEEE binary64.
    SARAPHIS_F64 = 3,
    /// int8.
    SARAPHIS_I8 = 4,
    /// int16.
    SARAPHIS_I16 = 5,
    /// int32.
    SARAPHIS_I32 = 6,
    /// int64.
    SARAPHIS_I64 = 7,
    /// uint8.
    SARAPHIS_U8 = 8,
    /// uint16.
    SARAPHIS_U16 = 9,
    /// uint32.
    SARAPHIS_U32 = 10,
    /// uint64.
    SARAPHIS_U64 = 11,
    /// bool, one byte each (0 or 1).
    SARAPHIS_BOOL = 12,
}

/// The Rust dtype of each C dtype; exhaustive, so a new C value needs its Rust twin.
const fn dtype_to_rust(d: saraphis_dtype) -> DType {
    use saraphis_dtype::*;
    match d {
        SARAPHIS_F32 => DType::F32,
        SARAPHIS_F16 => DType::F16,
        SARAPHIS_BF16 => DType::BF16,
        SARAPHIS_F64 => DType::F64,
        SARAPHIS_I8 => DType::I8,
        SARAPHIS_I16 => DType::I16,
        SARAPHIS_I32 => DType::I32,
        SARAPHIS_I64 => DType::I64,
        SARAPHIS_U8 => DType::U8,
        SARAPHIS_U16 => DType::U16,
        SARAPHIS_U32 => DType::U32,
        SARAPHIS_U64 => DType::U64,
        SARAPHIS_BOOL => DType::Bool,
    }
}

const DTYPES: [saraphis_dtype; 13] = {
    use saraphis_dtype::*;
    [
        SARAPHIS_F32,
        SARAPHIS_F16,
        SARAPHIS_BF16,
        SARAPHIS_F64,
        SARAPHIS_I8,
        SARAPHIS_I16,
        SARAPHIS_I32,
        SARAPHIS_I64,
        SARAPHIS_U8,
        SARAPHIS_U16,
        SARAPHIS_U32,
        SARAPHIS_U64,
        SARAPHIS_BOOL,
    ]
};

// Every C dtype has the Rust dtype's number, and the two lists have the same length.
const _: () = {
    assert!(DTYPES.len() == DType::ALL.len());
    let mut i = 0;
    while i < DTYPES.len() {
        assert!(DTYPES[i] as u32 == i as u32);
        assert!(dtype_to_rust(DTYPES[i]) as u32 == DTYPES[i] as u32);
        assert!(DType::ALL[i] as u32 == i as u32);
        i += 1;
    }
};

/// Codecs (values of `uint32_t codec` arguments and of `saraphis_tensor_info::codec`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum saraphis_codec {
    /// Stored as is.
    SARAPHIS_CODEC_RAW = 0,
    /// Bit-exact: sign/exponent/mantissa split for floats, byte planes for integers and bool.
    /// As a compression codec: F32/F16/BF16 in stream layout v2 (the containers report
    /// `SARAPHIS_CODEC_LOSSLESS_V2`; what the GPU decodes fastest) unless `SARAPHIS_PARAM_LANES`
    /// is set, which asks for layout v1 with that many lanes; F64 in layout v1. GPU compression
    /// (`saraphis_compress_device`) writes layout v1. As a container's codec: layout v1
    /// (docs/FORMAT.md §3).
    SARAPHIS_CODEC_LOSSLESS = 1,
    /// p-adic error-bounded (needs an absolute or relative bound); integer and bool tensors are
    /// coded bit-exactly (byte planes).
    SARAPHIS_CODEC_PADIC = 2,
    /// Byte planes: bit-exact, for integer and bool tensors only (a float tensor gives
    /// `SARAPHIS_ERR_UNSUPPORTED`; use LOSSLESS). What `saraphis_inspect` reports for integer
    /// and bool containers.
    SARAPHIS_CODEC_BYTES = 3,
    /// Bit-exact, F32/F16/BF16 in stream layout v2 (docs/FORMAT.md §6): per-tensor tables,
    /// segments of `SARAPHIS_PARAM_CHUNK_ELEMS` elements (default 2^16 for this codec) that one
    /// GPU warp decodes each; what `saraphis_decompress_device_batch` decodes, and what LOSSLESS
    /// writes by default. As a compression codec, layout v2 whatever `SARAPHIS_PARAM_LANES`
    /// says. F64 tensors get LOSSLESS containers, integer and bool tensors byte planes.
    SARAPHIS_CODEC_LOSSLESS_V2 = 4,
    /// Quantization (docs/FORMAT.md §7), lossy, F32/F16/BF16/F64: fixed rate (2..8 bits,
    /// `SARAPHIS_PARAM_BITS`; blocks of `SARAPHIS_PARAM_BLOCK` along the last axis by default,
    /// per channel with `SARAPHIS_PARAM_AXIS`, or one global scale), or with
    /// `SARAPHIS_PARAM_ABS_BOUND` the fewest bits per block that keep every element within it.
    /// Defaults: 8 bits, blocks of 32, F16 scales, symmetric (llama.cpp's Q8_0 layout), chunks
    /// of 2^16 elements. Integer and bool tensors are coded bit-exactly (byte planes).
    SARAPHIS_CODEC_QUANT = 5,
    /// Sparse (docs/FORMAT.md §8), any dtype: a bitmap of the nonzero elements (rANS-coded
    /// where that saves 10%) plus the nonzero values, lossless (layout v2 for F32/F16/BF16) or,
    /// with `SARAPHIS_PARAM_ABS_BOUND` / `SARAPHIS_PARAM_REL_BOUND` (float tensors), p-adic
    /// within the bound; zeros stay exact. Written only where it is smaller than the values'
    /// codec on the whole tensor: otherwise the container is that codec's (LOSSLESS_V2,
    /// LOSSLESS, BYTES or PADIC; `saraphis_inspect` says which). `SARAPHIS_PARAM_CHUNK_ELEMS`
    /// is the scatter block: a multiple of 32 (default 2^16). On the GPU, sparse containers
    /// decode through the archive calls (`saraphis_archive_decompress_device`); the raw
    /// device call reports status 5 for them.
    SARAPHIS_CODEC_SPARSE = 6,
    /// Chosen per tensor (`saraphis_params_new` only; never a container's codec): every codec
    /// the constraints allow is tried on a sample of the tensor (whole tensors up to 2^19
    /// elements) and the best kept (docs/FORMAT.md §9). Constraints: ABS_BOUND / REL_BOUND
    /// (lossy candidates within it; none: bit-exact only), BITS (set explicitly, no bound:
    /// fixed-rate quant allowed), TARGET_RATIO, PRIORITY. CHUNK_ELEMS and LANES are not used
    /// (each candidate has its codec's defaults). The container is the chosen codec's:
    /// `saraphis_inspect` says which. CPU compression only: the GPU compression calls give
    /// `SARAPHIS_ERR_UNSUPPORTED`.
    SARAPHIS_CODEC_AUTO = 7,
    /// Delta against a base tensor (docs/FORMAT.md §10): a container's codec only, which
    /// `saraphis_inspect` reports. Delta containers are written and decoded with their base
    /// model on the host (the CLI's `--base`, Rust `codec::delta`); `saraphis_params_new`
    /// refuses it (`SARAPHIS_ERR_INVALID_ARGUMENT`) and the single-container decompression
    /// calls refuse such containers (`SARAPHIS_ERR_UNSUPPORTED`, device status 5); archives
    /// decode them once their base is attached (`saraphis_archive_set_base`).
    SARAPHIS_CODEC_DELTA = 8,
}

/// The container codec id of each C codec; exhaustive (AUTO is no container's codec).
const fn codec_to_rust(c: saraphis_codec) -> Option<CodecId> {
    use saraphis_codec::*;
    Some(match c {
        SARAPHIS_CODEC_AUTO => return None,
        SARAPHIS_CODEC_RAW => CodecId::Raw,
        SARAPHIS_CODEC_LOSSLESS => CodecId::Lossless,
        SARAPHIS_CODEC_PADIC => CodecId::Padic,
        SARAPHIS_CODEC_BYTES => CodecId::Bytes,
        SARAPHIS_CODEC_LOSSLESS_V2 => CodecId::LosslessV2,
        SARAPHIS_CODEC_QUANT => CodecId::Quant,
        SARAPHIS_CODEC_SPARSE => CodecId::Sparse,
        SARAPHIS_CODEC_DELTA => CodecId::Delta,
    })
}

/// The values of `saraphis_codec`, in order: the container codecs, then AUTO.
const CODECS: [saraphis_codec; 9] = {
    use saraphis_codec::*;
    [
        SARAPHIS_CODEC_RAW,
        SARAPHIS_CODEC_LOSSLESS,
        SARAPHIS_CODEC_PADIC,
        SARAPHIS_CODEC_BYTES,
        SARAPHIS_CODEC_LOSSLESS_V2,
        SARAPHIS_CODEC_QUANT,
        SARAPHIS_CODEC_SPARSE,
        SARAPHIS_CODEC_AUTO,
        SARAPHIS_CODEC_DELTA,
    ]
};

const _: () = {
    let mut i = 0;
    while i < CODECS.len() {
        assert!(CODECS[i] as u32 == i as u32);
        match codec_to_rust(CODECS[i]) {
            Some(id) => assert!(id as u32 == CODECS[i] as u32),
            None => assert!(CODECS[i] as u32 == saraphis_codec::SARAPHIS_CODEC_AUTO as u32),
        }
        i += 1;
    }
};

/// Keys of `saraphis_params_set`; values are doubles, integers exactly representable.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum saraphis_param {
    /// Prime base, a prime <= 65521 (default 251).
    SARAPHIS_PARAM_PRIME = 1,
    /// Digit planes N; 0 = automatic (default); at most 62, and at compression at most what the
    /// prime allows (p^N <= 2^62).
    SARAPHIS_PARAM_PRECISION = 2,
    /// Absolute error bound eps > 0, finite (selects the abs mode).
    SARAPHIS_PARAM_ABS_BOUND = 3,
    /// Relative error bound 0 < eps < 1 (selects the rel mode).
    SARAPHIS_PARAM_REL_BOUND = 4,
    /// Elements per chunk, 1..=2^28 (default 2^16 for LOSSLESS, LOSSLESS_V2, QUANT and SPARSE,
    /// 2^18 for PADIC).
    SARAPHIS_PARAM_CHUNK_ELEMS = 5,
    /// Most rANS lanes per stream, 1..=128; 0 = default. With LOSSLESS, a nonzero value asks
    /// for stream layout v1 with that many lanes (layout v2 has none); with PADIC (default 32),
    /// 128 lets four GPU warps share one chunk (faster GPU decoding) for about 0.3% of ratio.
    SARAPHIS_PARAM_LANES = 6,
    /// Quant: bits per element of fixed-rate quantization, 2..=8 (default 8).
    SARAPHIS_PARAM_BITS = 7,
    /// Quant: block length along the last axis, a power of two in 16..=4096 (default 32);
    /// selects block grouping (the default).
    SARAPHIS_PARAM_BLOCK = 8,
    /// Quant: one scale per index along this axis (per-channel quantization); selects channel
    /// grouping. Checked against the tensor's dimensions when it is compressed.
    SARAPHIS_PARAM_AXIS = 9,
    /// Quant: 0 = block grouping, 1 = channel grouping (along `SARAPHIS_PARAM_AXIS`, default 0),
    /// 2 = one scale for the whole tensor.
    SARAPHIS_PARAM_GROUPING = 10,
    /// Quant: dtype of the stored scales and minimums, a `saraphis_dtype`: F32, F16 (default) or
    /// BF16.
    SARAPHIS_PARAM_SCALE_DTYPE = 11,
    /// Quant: 1 = store a minimum per group (asymmetric, as Q4_1), 0 = symmetric (default).
    SARAPHIS_PARAM_ZERO_POINT = 12,
    /// Auto: keep the fastest-decoding candidate whose ratio (original / compressed bytes)
    /// reaches this, finite and > 0; the highest ratio when none does. 0 = none (default).
    SARAPHIS_PARAM_TARGET_RATIO = 13,
    /// Auto, without a target ratio: 0 = the highest ratio (default), 1 = the fastest decoder
    /// within 5% of the highest ratio.
    SARAPHIS_PARAM_PRIORITY = 14,
}

/// Keys of `saraphis_config_set`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum saraphis_config_key {
    /// Worker threads, 0 = one per core (default), at most 4096.
    SARAPHIS_CONFIG_THREADS = 1,
    /// Default chunk size in elements, 1..=2^28.
    SARAPHIS_CONFIG_CHUNK_ELEMS = 2,
    /// 1 = verify chunk checksums when decoding (default), 0 = skip (trusted data).
    SARAPHIS_CONFIG_VERIFY_CHECKSUMS = 3,
    /// Most rANS lanes per stream of compression, 0..=128 (0 = the optimization strategy's:
    /// 32, or 128 for throughput and latency).
    SARAPHIS_CONFIG_LANES = 4,
    /// Device budget (MiB) of a device-tier residency manager created with budget 0; 0 = none.
    SARAPHIS_CONFIG_GPU_MEMORY_LIMIT_MB = 5,
    /// Worker threads by seed 003's name: -1 (auto: `SARAPHIS_CONFIG_THREADS` decides) or a
    /// count that agrees with it.
    SARAPHIS_CONFIG_CPU_WORKERS = 6,
    /// 1 = time host calls for the statistics' throughput and latency (default), 0 = off.
    SARAPHIS_CONFIG_ENABLE_PROFILING = 7,
    /// How long a device-memory sample (`cuMemGetInfo`) is reused, ms (default 100).
    SARAPHIS_CONFIG_MONITORING_INTERVAL_MS = 8,
    /// Eviction policy of residency managers created with `SARAPHIS_SWAP_DEFAULT`: 0
    /// conservative, 1 balanced (default), 2 aggressive.
    SARAPHIS_CONFIG_SWAP_POLICY = 9,
    /// 0 throughput, 1 latency, 2 memory, 3 balanced (default), 4 adaptive (the knobs are in
    /// docs/C_API.md).
    SARAPHIS_CONFIG_OPTIMIZATION_STRATEGY = 10,
    /// 0 adaptive (default: device-tier managers decode on the CPU while device memory is
    /// critical), 1 off.
    SARAPHIS_CONFIG_MEMORY_PRESSURE_MODE = 11,
    /// Page-locked host memory (MiB) for compressed containers moved off the GPU under
    /// pressure (the pinned-host tier); 0 = none (the default).
    SARAPHIS_CONFIG_PINNED_HOST_LIMIT_MB = 12,
}

/// Header information of a container, filled by `saraphis_inspect` and
/// `saraphis_archive_tensor_info`. 208 bytes; `reserved` keeps room for fields added in later
/// versions without changing the size (they will be 0 where this version writes 0).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct saraphis_tensor_info {
    /// `saraphis_dtype` value.
    pub dtype: u32,
    /// `saraphis_codec` value.
    pub codec: u32,
    /// Number of dimensions (0..=8).
    pub ndim: u32,
    /// Dimensions; entries past `ndim` are 0.
    pub shape: [u64; 8],
    /// Elements.
    pub numel: u64,
    /// Uncompressed bytes.
    pub original_bytes: u64,
    /// Container bytes.
    pub compressed_bytes: u64,
    /// Elements per chunk.
    pub chunk_elems: u32,
    /// Number of chunks.
    pub chunks: u64,
    /// 0 = exact, 1 = absolute bound, 2 = relative bound.
    pub bound_mode: u32,
    /// The bound (0 when exact).
    pub error_bound: f64,
    /// Prime (p-adic) or 0.
    pub prime: u32,
    /// Digit planes (p-adic) or 0.
    pub precision: u32,
    /// Quant: the largest |x - x'| over the tensor, measured at compression and stored in the
    /// container (in the tensor's units); 0 for other codecs.
    pub max_abs_error: f64,
    /// Quant: bits per element (fixed rate) or 0 (error-bounded: per block); else 0.
    pub quant_bits: u32,
    /// Quant: 0 blocks, 1 channels, 2 global; else 0.
    pub quant_grouping: u32,
    /// Quant: block length (blocks) or axis (channels); else 0.
    pub quant_group_arg: u32,
    /// Quant: `saraphis_dtype` of the scales; else 0.
    pub quant_scale_dtype: u32,
    /// Quant: 1 when a minimum is stored per group; else 0.
    pub quant_zero_point: u32,
    /// Sparse: the `saraphis_codec` of the stored nonzero values (LOSSLESS_V2, LOSSLESS, BYTES
    /// or PADIC); else 0.
    pub sparse_values_codec: u32,
    /// Sparse: nonzero elements (stored values); else 0.
    pub sparse_nonzeros: u64,
    /// Sparse: the `saraphis_codec` of the mask (BYTES when rANS-coded, RAW); else 0.
    pub sparse_mask_codec: u32,
    /// Written as 0; later versions may give these words meanings.
    pub reserved: [u32; 5],
}

const _: () = assert!(std::mem::size_of::<saraphis_tensor_info>() == 208);
const _: () = assert!(std::mem::offset_of!(saraphis_tensor_info, sparse_nonzeros) == 176);

impl saraphis_tensor_info {
    /// The C form of a container's header information.
    pub(super) fn from_info(t: &crate::codec::TensorInfo) -> saraphis_tensor_info {
        use crate::codec::ErrorBound;
        let mut shape = [0u64; 8];
        shape[..t.shape.len()].copy_from_slice(&t.shape);
        use crate::codec::quant::Grouping;
        let q = t.quant.as_ref();
        let (bound_mode, error_bound) = match t.bound {
            None => (0, 0.0),
            Some(ErrorBound::Abs(e)) => (1, e),
            Some(ErrorBound::Rel(e)) => (2, e),
        };
        saraphis_tensor_info {
            dtype: t.dtype as u32,
            codec: t.codec as u32,
            ndim: t.shape.len() as u32,
            shape,
            numel: t.numel,
            original_bytes: t.original_bytes,
            compressed_bytes: t.compressed_bytes,
            chunk_elems: t.chunk_elems,
            chunks: t.chunks as u64,
            bound_mode,
            error_bound,
            prime: t.prime,
            precision: t.precision,
            max_abs_error: t.max_abs_error.unwrap_or(0.0),
            quant_bits: q.map_or(0, |q| q.bits),
            quant_grouping: q.map_or(0, |q| match q.grouping {
                Grouping::Block(_) => 0,
                Grouping::Channel(_) => 1,
                Grouping::Global => 2,
            }),
            quant_group_arg: q.map_or(0, |q| match q.grouping {
                Grouping::Block(b) => b,
                Grouping::Channel(a) => a,
                Grouping::Global => 0,
            }),
            quant_scale_dtype: q.map_or(0, |q| q.scale_dtype as u32),
            quant_zero_point: q.map_or(0, |q| q.zero_point as u32),
            sparse_values_codec: t.sparse.map_or(0, |s| s.values_codec as u32),
            sparse_nonzeros: t.sparse.map_or(0, |s| s.nonzeros),
            sparse_mask_codec: t.sparse.map_or(0, |s| s.mask_codec as u32),
            reserved: [0; 5],
        }
    }
}

/// The Rust dtype of a `uint32_t dtype` argument. Errors: `SARAPHIS_ERR_INVALID_ARGUMENT`.
pub(super) fn dtype_arg(d: u32) -> Result<DType, Fail> {
    DTYPES
        .iter()
        .find(|&&c| c as u32 == d)
        .map(|&c| dtype_to_rust(c))
        .ok_or_else(|| invalid(format!("dtype {d}")))
}

/// The C codec of a `uint32_t codec` argument (a compression codec: not DELTA, which needs a
/// base model). Errors: `SARAPHIS_ERR_INVALID_ARGUMENT`.
pub(super) fn codec_arg(c: u32) -> Result<saraphis_codec, Fail> {
    if c == saraphis_codec::SARAPHIS_CODEC_DELTA as u32 {
        return Err(invalid(
            "codec DELTA: delta containers are written against a base model (the CLI's \
             --base), not through saraphis_params",
        ));
    }
    CODECS
        .iter()
        .copied()
        .find(|&k| k as u32 == c)
        .ok_or_else(|| {
            invalid(format!(
                "codec {c}: RAW, LOSSLESS, PADIC, BYTES, LOSSLESS_V2, QUANT, SPARSE or AUTO"
            ))
        })
}
