//! Quantization codec (container codec `quant`, docs/FORMAT.md §7): fixed-rate block-wise,
//! per-channel and global quantization, and an error-bounded mode that picks the bit width of
//! every block.
//!
//! **Groups.** Elements that share a scale form a group:
//! - `Block(B)`: runs of `B` elements along the last axis (the last block of a row is shorter
//!   when the row length is not a multiple of `B`), as llama.cpp's `Q8_0`/`Q4_0`/`Q4_1` (B = 32)
//!   and bitsandbytes' blockwise quantization (B = 64 and up) do;
//! - `Channel(axis)`: every element with the same index along `axis` (per-channel quantization
//!   of PyTorch's `quantize_per_channel`);
//! - `Global`: the whole tensor (per-tensor quantization).
//!
//! **Codes.** A group with scale `d` (and, with a zero point, minimum `m`), both stored in the
//! scale dtype (F16, BF16 or F32) and used as stored:
//! - symmetric (`zero_point == false`, as Q8_0/Q4_0): `d = max|x| / (2^(b-1) - 1)`,
//!   `c = clamp(round(x / d), -(2^(b-1) - 1), 2^(b-1) - 1) + 2^(b-1)` in `b` bits, decoded as
//!   `x' = (c - 2^(b-1)) * d`;
//! - with a zero point (as Q4_1 and GPTQ's asymmetric mode): `m = min x`,
//!   `d = (max x - m) / (2^b - 1)`, `c = clamp(round((x - m) / d), 0, 2^b - 1)`, decoded as
//!   `x' = c * d + m`.
//!
//! The product and the sum are rounded separately (no fused multiply-add) in f32 for F32, F16
//! and BF16 tensors and in f64 for F64 tensors, then rounded to the tensor's dtype (nearest,
//! ties to even), so the CPU and the GPU (`kernels/quant.cu`) give the same bits.
//!
//! **Fixed rate** (`bits` 2..=8): every element takes `bits` bits; the largest |x - x'| of the
//! tensor is measured and stored in the container. Non-finite inputs are refused.
//!
//! **Error-bounded** (`bound = Some(eps)`, block groups, zero point): each block takes the
//! fewest bits of 0..=8 for which every element of the block, decoded and rounded to the dtype,
//! is within `eps` (0 bits: every element decodes to `m`); a block that no width satisfies
//! (or that holds a NaN or an infinity) is stored verbatim at the dtype's width. The bound holds
//! for every element by construction (each candidate is decoded and checked), as in SZ's
//! error-controlled quantization (Di & Cappello, IPDPS 2016).
//!
//! **Chunks.** A chunk of `chunk_elems` elements stores the parameters of every group it
//! touches (a group cut by a chunk boundary is stored in both chunks), then its codes packed
//! LSB first; every section starts on a 16-byte boundary and a chunk is a multiple of 16 bytes
//! long, checked by the word checksum of layout v2
//! ([`crate::codec::segmented::segment_checksum`]).

use rayon::prelude::*;

use crate::dtype::DType;
use crate::error::{corrupt, invalid, Error, Result};

/// Alignment of every section of a chunk, and of the payload, in bytes.
pub const ALIGN: usize = 16;
/// Bytes before a chunk's sections: `u8 mode (1), 3 zero, u32 group count, u64 first group`.
pub const PROLOGUE: usize = 16;
/// Bytes of the parameter block before its alignment padding.
pub const PARAMS_BASE: usize = 32;
/// Most bytes of the parameter block (with its padding).
pub const MAX_PARAMS_LEN: usize = PARAMS_BASE + ALIGN - 1;
/// Default block length in elements (llama.cpp's `QK8_0`).
pub const DEFAULT_BLOCK: u32 = 32;
/// Default bit width of fixed-rate quantization.
pub const DEFAULT_BITS: u32 = 8;
/// Default elements per chunk: 2^16 (a multiple of every block length, so blocks of rows whose
/// length is a multiple of the block are never cut).
pub const DEFAULT_CHUNK_ELEMS: u32 = 1 << 16;
/// Smallest and largest block length (powers of two).
pub const MIN_BLOCK: u32 = 16;
/// See [`MIN_BLOCK`].
pub const MAX_BLOCK: u32 = 4096;

const FORMAT: u8 = 1;
const MODE_CODED: u8 = 1;
/// A chunk stored as its elements' bytes (when coding would be larger): exact.
const MODE_VERBATIM: u8 = 0;

/// Which elements share a scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// Runs of this many elements along the last axis (a power of two, 16..=4096).
    Block(u32),
    /// Every element with the same index along this axis.
    Channel(u32),
    /// The whole tensor.
    Global,
}

/// Parameters of the quantization codec.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantParams {
    /// Which elements share a scale.
    pub grouping: Grouping,
    /// Bits per element, 2..=8, for fixed rate; ignored (written as 0) with a bound.
    pub bits: u32,
    /// Dtype of the stored scales and minimums: F16, BF16 or F32.
    pub scale_dtype: DType,
    /// Store a minimum per group (`x' = c d + m`) instead of symmetric codes (`x' = c d`).
    pub zero_point: bool,
    /// Absolute error bound: per-block bit widths chosen so that `|x - x'| <= eps` for every
    /// element (block grouping only; implies a zero point).
    pub bound: Option<f64>,
}

impl Default for QuantParams {
    /// 8-bit symmetric blocks of 32 with F16 scales: llama.cpp's `Q8_0` layout of values
    /// (8.5 bits per weight).
    fn default() -> Self {
        QuantParams {
            grouping: Grouping::Block(DEFAULT_BLOCK),
            bits: DEFAULT_BITS,
            scale_dtype: DType::F16,
            zero_point: false,
            bound: None,
        }
    }
}

impl QuantParams {
    /// A short description for reports: `"8-bit block 32, F16 scales, symmetric"`,
    /// `"4-bit channel axis 0, F32 scales, with minimum"`, `"abs 1e-3, block 32, F16 scales"`.
    pub fn describe(&self) -> String {
        let g = match self.grouping {
            Grouping::Block(b) => format!("block {b}"),
            Grouping::Channel(a) => format!("channel axis {a}"),
            Grouping::Global => "global".to_string(),
        };
        match self.bound {
            Some(e) => format!("abs {e:e}, {g}, {:?} scales", self.scale_dtype),
            None => format!(
                "{}-bit {g}, {:?} scales, {}",
                self.bits,
                self.scale_dtype,
                if self.zero_point {
                    "with minimum"
                } else {
                    "symmetric"
                }
            ),
        }
    }

    /// Error-bounded quantization: blocks of [`DEFAULT_BLOCK`], F16 scale and minimum, the
    /// bit width of each block chosen so that `|x - x'| <= eps`.
    pub fn bounded(eps: f64) -> Self {
        QuantParams {
            bits: 0,
            zero_point: true,
            bound: Some(eps),
            ..Default::default()
        }
    }

    /// Check the parameters on their own: bits 2..=8 (fixed rate), block a power of two in
    /// [`MIN_BLOCK`]..=[`MAX_BLOCK`], scale dtype F16/BF16/F32, bound finite and > 0 with block
    /// grouping. The axis is checked against the shape when a tensor is compressed.
    /// Errors: `InvalidArgument`.
    pub fn validate(&self) -> Result<()> {
        if let Grouping::Block(b) = self.grouping {
            if !b.is_power_of_two() || !(MIN_BLOCK..=MAX_BLOCK).contains(&b) {
                return invalid(format!(
                    "quantization block {b}: must be a power of two in {MIN_BLOCK}..={MAX_BLOCK}"
                ));
            }
        }
        if !matches!(self.scale_dtype, DType::F16 | DType::BF16 | DType::F32) {
            return invalid(format!(
                "quantization scale dtype {:?}: must be F16, BF16 or F32",
                self.scale_dtype
            ));
        }
        match self.bound {
            Some(eps) => {
                if !(eps.is_finite() && eps > 0.0) {
                    return invalid(format!("quantization bound {eps}: must be finite and > 0"));
                }
                if !matches!(self.grouping, Grouping::Block(_)) {
                    return invalid(
                        "an error-bounded quantization chooses bits per block: use block grouping",
                    );
                }
            }
            None => {
                if !(2..=8).contains(&self.bits) {
                    return invalid(format!("quantization bits {}: must be 2..=8", self.bits));
                }
            }
        }
        Ok(())
    }

    fn has_min(&self) -> bool {
        self.zero_point || self.bound.is_some()
    }
}

/// The groups of a tensor: which group an element belongs to, and which groups a chunk touches.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    grouping: Grouping,
    /// Block: row length (last dimension). Channel: elements per step of the axis (stride).
    row: u64,
    /// Block: blocks per row; Channel: channels; Global: 1.
    per_row: u64,
    /// Block length (Block only).
    block: u64,
    /// Total groups.
    groups: u64,
}

impl Geometry {
    fn new(grouping: Grouping, shape: &[u64], numel: u64) -> Result<Geometry> {
        Ok(match grouping {
            Grouping::Block(b) => {
                let row = shape.last().copied().unwrap_or(1);
                let per_row = row.div_ceil(b as u64);
                let rows = numel.checked_div(row).unwrap_or(0);
                Geometry {
                    grouping,
                    row,
                    per_row,
                    block: b as u64,
                    groups: rows * per_row,
                }
            }
            Grouping::Channel(axis) => {
                let a = axis as usize;
                if a >= shape.len() {
                    return invalid(format!(
                        "quantization axis {axis}: the tensor has {} dimension(s)",
                        shape.len()
                    ));
                }
                let stride: u64 = shape[a + 1..].iter().product();
                Geometry {
                    grouping,
                    row: stride.max(1),
                    per_row: shape[a],
                    block: 0,
                    groups: shape[a],
                }
            }
            Grouping::Global => Geometry {
                grouping,
                row: numel.max(1),
                per_row: 1,
                block: 0,
                groups: (numel > 0) as u64,
            },
        })
    }

    #[inline]
    fn group_of(&self, i: u64) -> u64 {
        match self.grouping {
            Grouping::Block(_) => (i / self.row) * self.per_row + (i % self.row) / self.block,
            Grouping::Channel(_) => (i / self.row) % self.per_row,
            Grouping::Global => 0,
        }
    }

    /// First group and group count of the elements `s..e` (`s < e`).
    fn chunk_groups(&self, s: u64, e: u64) -> (u64, u64) {
        let g0 = self.group_of(s);
        let k = match self.grouping {
            Grouping::Block(_) => self.group_of(e - 1) - g0 + 1,
            Grouping::Channel(_) => ((e - 1) / self.row - s / self.row + 1).min(self.per_row),
            Grouping::Global => 1,
        };
        (g0, k)
    }

    /// Index of group `g` among a chunk's groups that start at `g0`.
    #[inline]
    fn local(&self, g: u64, g0: u64) -> usize {
        match self.grouping {
            Grouping::Channel(_) => ((g + self.per_row - g0) % self.per_row) as usize,
            _ => (g - g0) as usize,
        }
    }

    /// Call `f(start, len, group)` for the runs of consecutive elements of one group that make
    /// up elements `s..e` (`start` relative to `s`).
    fn runs(
        &self,
        s: u64,
        e: u64,
        mut f: impl FnMut(usize, usize, u64) -> Result<()>,
    ) -> Result<()> {
        let mut i = s;
        while i < e {
            let g = self.group_of(i);
            let end = match self.grouping {
                Grouping::Block(_) => {
                    let row_start = i - i % self.row;
                    let j = (i % self.row) / self.block;
                    row_start + ((j + 1) * self.block).min(self.row)
                }
                Grouping::Channel(_) => (i / self.row + 1) * self.row,
                Grouping::Global => e,
            }
            .min(e);
            f((i - s) as usize, (end - i) as usize, g)?;
            i = end;
        }
        Ok(())
    }

    /// Element range of block group `g` (Block grouping).
    fn block_range(&self, g: u64) -> (u64, u64) {
        let r = g / self.per_row;
        let j = g % self.per_row;
        let s = r * self.row + j * self.block;
        (s, r * self.row + ((j + 1) * self.block).min(self.row))
    }
}

/// One group's stored parameters: bit width (fixed rate: the tensor's), scale and minimum as
/// values of the scale dtype.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Group {
    bits: u32,
    d: f64,
    m: f64,
}

/// A planned quantization: parameters, geometry and (when compressing) every group's scale.
#[derive(Debug, Clone)]
pub struct QuantPlan {
    /// The codec parameters.
    pub params: QuantParams,
    /// Largest |x - x'| of the tensor (stored; measured at compression).
    pub max_abs_error: f64,
    dtype: DType,
    chunk_elems: u64,
    numel: u64,
    geo: Geometry,
    groups: Vec<Group>,
}

#[inline]
fn pad(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// Round `v` to the scale dtype and back.
fn to_scale(sd: DType, v: f64) -> f64 {
    sd.bits_to_f64(sd.round_bits(v))
}

impl QuantPlan {
    /// Plan `data` (`dtype`, a float; `shape`): every group's scale (and minimum, and bit width
    /// with a bound). Errors: `InvalidArgument` (parameters, axis, a non-finite element or a
    /// scale the scale dtype cannot hold at fixed rate).
    pub fn new(
        data: &[u8],
        dtype: DType,
        shape: &[u64],
        chunk_elems: u32,
        params: &QuantParams,
    ) -> Result<QuantPlan> {
        params.validate()?;
        let numel = crate::dtype::numel(shape)?;
        let geo = Geometry::new(params.grouping, shape, numel)?;
        let mut plan = QuantPlan {
            params: *params,
            max_abs_error: 0.0,
            dtype,
            chunk_elems: chunk_elems as u64,
            numel,
            geo,
            groups: Vec::new(),
        };
        if plan.params.bound.is_some() {
            plan.params.bits = 0;
            plan.params.zero_point = true;
        }
        plan.groups = match params.grouping {
            Grouping::Block(_) => (0..geo.groups)
                .into_par_iter()
                .map(|g| {
                    let (s, e) = geo.block_range(g);
                    plan.plan_group(data, s as usize, e as usize)
                })
                .collect::<Result<_>>()?,
            _ => {
                let n = geo.groups as usize;
                let size = dtype.size();
                let (lo, hi) = data
                    .par_chunks(size * (1 << 16))
                    .enumerate()
                    .map(|(ci, c)| {
                        let mut lo = vec![f64::INFINITY; n];
                        let mut hi = vec![f64::NEG_INFINITY; n];
                        let base = ci as u64 * (1 << 16);
                        for j in 0..c.len() / size {
                            let x = dtype.load_f64(c, j);
                            let g = geo.group_of(base + j as u64) as usize;
                            // NaN compares false both ways: caught by the finiteness check below.
                            if !x.is_finite() {
                                lo[g] = f64::NAN;
                            } else if !lo[g].is_nan() {
                                lo[g] = lo[g].min(x);
                                hi[g] = hi[g].max(x);
                            }
                        }
                        (lo, hi)
                    })
                    .reduce(
                        || (vec![f64::INFINITY; n], vec![f64::NEG_INFINITY; n]),
                        |(mut l1, mut h1), (l2, h2)| {
                            for g in 0..n {
                                l1[g] = if l1[g].is_nan() || l2[g].is_nan() {
                                    f64::NAN
                                } else {
                                    l1[g].min(l2[g])
                                };
                                h1[g] = h1[g].max(h2[g]);
                            }
                            (l1, h1)
                        },
                    );
                (0..n)
                    .map(|g| plan.fixed_group(lo[g], hi[g]))
                    .collect::<Result<_>>()?
            }
        };
        Ok(plan)
    }

    /// The scale (and minimum) of a fixed-rate group whose elements lie in `lo..=hi`.
    fn fixed_group(&self, lo: f64, hi: f64) -> Result<Group> {
        let p = &self.params;
        if lo.is_nan() {
            return invalid(
                "quantization needs finite values (this tensor holds a NaN or an infinity): \
                 use an error bound (stores such blocks verbatim) or a lossless codec",
            );
        }
        let (lo, hi) = if lo > hi { (0.0, 0.0) } else { (lo, hi) };
        let sd = p.scale_dtype;
        let (d, m) = if p.zero_point {
            let m = to_scale(sd, lo);
            (
                to_scale(sd, (hi - m).max(0.0) / ((1u64 << p.bits) - 1) as f64),
                m,
            )
        } else {
            let amax = lo.abs().max(hi.abs());
            (
                to_scale(sd, amax / ((1u64 << (p.bits - 1)) - 1) as f64),
                0.0,
            )
        };
        if !d.is_finite() || !m.is_finite() {
            return invalid(format!(
                "quantization scale of a group with values in [{lo}, {hi}] overflows {sd:?}: use \
                 scale dtype F32"
            ));
        }
        Ok(Group { bits: p.bits, d, m })
    }

    /// Plan the block group of elements `s..e`: fixed rate from its range; with a bound, the
    /// fewest bits whose decoded values all lie within the bound (or verbatim).
    fn plan_group(&self, data: &[u8], s: usize, e: usize) -> Result<Group> {
        let dt = self.dtype;
        let (mut lo, mut hi, mut finite) = (f64::INFINITY, f64::NEG_INFINITY, true);
        for i in s..e {
            let x = dt.load_f64(data, i);
            finite &= x.is_finite();
            lo = lo.min(x);
            hi = hi.max(x);
        }
        let Some(eps) = self.params.bound else {
            return self.fixed_group(if finite { lo } else { f64::NAN }, hi);
        };
        let raw = Group {
            bits: 8 * dt.size() as u32,
            d: 0.0,
            m: 0.0,
        };
        if !finite {
            return Ok(raw);
        }
        let sd = self.params.scale_dtype;
        let m = to_scale(sd, lo);
        if !m.is_finite() {
            return Ok(raw);
        }
        'bits: for bits in 0..=8u32 {
            let d = if bits == 0 {
                0.0
            } else {
                to_scale(sd, (hi - m).max(0.0) / ((1u64 << bits) - 1) as f64)
            };
            if !d.is_finite() {
                continue;
            }
            let g = Group { bits, d, m };
            for i in s..e {
                let x = dt.load_f64(data, i);
                let y = self.decode_value(self.code(x, &g), &g);
                if (x - y).abs().is_nan() || (x - y).abs() > eps {
                    continue 'bits;
                }
            }
            return Ok(g);
        }
        Ok(raw)
    }

    /// Whether `g` stores its elements verbatim.
    #[inline]
    fn verbatim(&self, g: &Group) -> bool {
        g.bits > 8
    }

    /// The code of value `x` in group `g` (not verbatim).
    #[inline]
    fn code(&self, x: f64, g: &Group) -> u32 {
        if g.bits == 0 || g.d == 0.0 {
            return if self.params.has_min() {
                0
            } else {
                1 << (g.bits - 1)
            };
        }
        if self.params.has_min() {
            let top = ((1u64 << g.bits) - 1) as f64;
            ((x - g.m) / g.d).round().clamp(0.0, top) as u32
        } else {
            let h = (1u32 << (g.bits - 1)) as f64;
            ((x / g.d).round().clamp(-(h - 1.0), h - 1.0) + h) as u32
        }
    }

    /// The value code `c` of group `g` decodes to, rounded to the tensor's dtype (as f64).
    #[inline]
    fn decode_value(&self, c: u32, g: &Group) -> f64 {
        let q = if self.params.has_min() {
            c as i64
        } else if g.bits == 0 {
            0
        } else {
            c as i64 - (1i64 << (g.bits - 1))
        };
        let v = if self.dtype == DType::F64 {
            let t = q as f64 * g.d;
            if self.params.has_min() {
                t + g.m
            } else {
                t
            }
        } else {
            let t = q as f32 * g.d as f32;
            (if self.params.has_min() {
                t + g.m as f32
            } else {
                t
            }) as f64
        };
        self.dtype.bits_to_f64(self.dtype.round_bits(v))
    }

    /// The group's parameters for chunk encoding (fixed rate: all groups share the bit width).
    fn group(&self, g: u64) -> Group {
        self.groups[g as usize]
    }

    /// Serialized parameter block, padded so that the container's header length is a multiple
    /// of [`ALIGN`] (`ndim` dimensions, `n_chunks` chunks).
    pub fn to_bytes(&self, ndim: usize, n_chunks: usize) -> Vec<u8> {
        let p = &self.params;
        let mut v = vec![0u8; PARAMS_BASE];
        v[0] = FORMAT;
        let (kind, arg) = match p.grouping {
            Grouping::Block(b) => (0, b),
            Grouping::Channel(a) => (1, a),
            Grouping::Global => (2, 0),
        };
        v[1] = kind;
        v[2] = p.bits as u8;
        v[3] = p.scale_dtype as u8;
        v[4] = p.zero_point as u8;
        v[8..12].copy_from_slice(&arg.to_le_bytes());
        v[16..24].copy_from_slice(&p.bound.unwrap_or(0.0).to_le_bytes());
        v[24..32].copy_from_slice(&self.max_abs_error.to_le_bytes());
        let header = crate::format::container::header_len(ndim, v.len(), n_chunks);
        v.resize(v.len() + (ALIGN - header % ALIGN) % ALIGN, 0);
        v
    }

    /// Read a parameter block (`dtype`, `shape`, `chunk_elems` from the header).
    /// Errors: `Corrupt` for anything [`QuantPlan::to_bytes`] does not write.
    pub fn from_bytes(b: &[u8], dtype: DType, shape: &[u64], chunk_elems: u32) -> Result<Self> {
        if !dtype.is_float() {
            return corrupt(format!("quant container of {dtype:?}"));
        }
        if b.len() < PARAMS_BASE || b.len() > MAX_PARAMS_LEN || b[0] != FORMAT {
            return corrupt("quant parameters: length or format");
        }
        if b[5..8]
            .iter()
            .chain(&b[12..16])
            .chain(&b[PARAMS_BASE..])
            .any(|&x| x != 0)
        {
            return corrupt("quant parameters: reserved bytes");
        }
        let arg = u32::from_le_bytes(b[8..12].try_into().unwrap());
        let grouping = match b[1] {
            0 => Grouping::Block(arg),
            1 => Grouping::Channel(arg),
            2 if arg == 0 => Grouping::Global,
            _ => return corrupt("quant parameters: grouping"),
        };
        let bound = f64::from_le_bytes(b[16..24].try_into().unwrap());
        let max_abs_error = f64::from_le_bytes(b[24..32].try_into().unwrap());
        let params = QuantParams {
            grouping,
            bits: b[2] as u32,
            scale_dtype: DType::from_code(b[3])
                .map_err(|_| Error::Corrupt("quant scale dtype".into()))?,
            zero_point: match b[4] {
                0 => false,
                1 => true,
                _ => return corrupt("quant parameters: zero-point flag"),
            },
            bound: (bound != 0.0).then_some(bound),
        };
        let fixed_ok = params.bound.is_none() || (params.bits == 0 && params.zero_point);
        if params.validate().is_err() || !fixed_ok || max_abs_error.is_nan() || max_abs_error < 0.0
        {
            return corrupt("quant parameters out of range");
        }
        let numel = crate::dtype::numel(shape)?;
        let geo = Geometry::new(grouping, shape, numel)
            .map_err(|e| Error::Corrupt(format!("quant parameters: {e}")))?;
        Ok(QuantPlan {
            params,
            max_abs_error,
            dtype,
            chunk_elems: chunk_elems as u64,
            numel,
            geo,
            groups: Vec::new(),
        })
    }

    /// Bytes of a chunk's sections for `k` groups (without the codes).
    fn head_len(&self, k: usize) -> usize {
        let s = self.params.scale_dtype.size();
        let bits = if self.params.bound.is_some() {
            pad(k)
        } else {
            0
        };
        let mins = if self.params.has_min() { pad(k * s) } else { 0 };
        PROLOGUE + bits + pad(k * s) + mins
    }

    /// Largest chunk this plan's parameters can give to chunk `ci` (for size bounds).
    fn chunk_bound(&self, ci: u64) -> usize {
        let s = ci * self.chunk_elems;
        let e = (s + self.chunk_elems).min(self.numel);
        let (_, k) = self.geo.chunk_groups(s, e);
        let bits = if self.params.bound.is_some() {
            8 * self.dtype.size() as u64
        } else {
            self.params.bits as u64
        };
        (self.head_len(k as usize) + pad(((e - s) * bits).div_ceil(8) as usize))
            .min(PROLOGUE + pad((e - s) as usize * self.dtype.size()))
    }

    /// Encode chunk `ci` (`src`: its elements' bytes); returns its bytes and its largest
    /// |x - x'|.
    pub fn encode_chunk(&self, ci: u64, src: &[u8]) -> Result<(Vec<u8>, f64)> {
        let dt = self.dtype;
        let size = dt.size();
        let s = ci * self.chunk_elems;
        let e = s + (src.len() / size) as u64;
        let (g0, k) = self.geo.chunk_groups(s, e);
        let k = k as usize;
        let sd = self.params.scale_dtype;
        let ss = sd.size();
        let mut bits = vec![
            0u8;
            if self.params.bound.is_some() {
                pad(k)
            } else {
                0
            }
        ];
        let mut ds = vec![0u8; pad(k * ss)];
        let mut ms = vec![
            0u8;
            if self.params.has_min() {
                pad(k * ss)
            } else {
                0
            }
        ];
        let mut w = BitWriter::default();
        let mut err = 0f64;
        self.geo.runs(s, e, |start, len, g| {
            let grp = self.group(g);
            let l = self.geo.local(g, g0);
            if !bits.is_empty() {
                bits[l] = grp.bits as u8;
            }
            let db = sd.round_bits(grp.d).to_le_bytes();
            ds[l * ss..(l + 1) * ss].copy_from_slice(&db[..ss]);
            if !ms.is_empty() {
                let mb = sd.round_bits(grp.m).to_le_bytes();
                ms[l * ss..(l + 1) * ss].copy_from_slice(&mb[..ss]);
            }
            for j in start..start + len {
                if self.verbatim(&grp) {
                    let mut raw = [0u8; 8];
                    raw[..size].copy_from_slice(&src[j * size..(j + 1) * size]);
                    let v = u64::from_le_bytes(raw);
                    w.put(v as u32, grp.bits.min(32));
                    if grp.bits == 64 {
                        w.put((v >> 32) as u32, 32);
                    }
                } else {
                    let x = dt.load_f64(src, j);
                    let c = self.code(x, &grp);
                    err = err.max((x - self.decode_value(c, &grp)).abs());
                    w.put(c, grp.bits);
                }
            }
            Ok(())
        })?;
        let mut out = vec![0u8; PROLOGUE];
        out[0] = MODE_CODED;
        out[4..8].copy_from_slice(&(k as u32).to_le_bytes());
        out[8..16].copy_from_slice(&g0.to_le_bytes());
        out.extend_from_slice(&bits);
        out.extend_from_slice(&ds);
        out.extend_from_slice(&ms);
        let codes = w.finish();
        out.extend_from_slice(&codes);
        out.resize(pad(out.len()), 0);
        if out.len() > PROLOGUE + pad(src.len()) {
            // Coding does not pay (tight bounds, one scale per few elements): the elements
            // themselves, exact.
            let mut raw = vec![0u8; PROLOGUE];
            raw[0] = MODE_VERBATIM;
            raw.extend_from_slice(src);
            raw.resize(PROLOGUE + pad(src.len()), 0);
            return Ok((raw, 0.0));
        }
        Ok((out, err))
    }

    /// Decode chunk `ci` from `payload` into `out` (its elements' bytes). Every length, the
    /// group count and first group, the bit widths and the padding are checked.
    /// Errors: `Corrupt`, `Truncated`.
    pub fn decode_chunk(&self, ci: u64, payload: &[u8], out: &mut [u8]) -> Result<()> {
        let dt = self.dtype;
        let size = dt.size();
        let s = ci * self.chunk_elems;
        let e = s + (out.len() / size) as u64;
        let (g0, k) = self.geo.chunk_groups(s, e);
        let k = k as usize;
        if payload.len() < PROLOGUE || payload.len() % ALIGN != 0 {
            return Err(Error::Truncated("quant chunk length".into()));
        }
        if payload[0] == MODE_VERBATIM {
            if payload[1..PROLOGUE].iter().any(|&b| b != 0) {
                return corrupt("quant verbatim chunk prologue");
            }
            if payload.len() != PROLOGUE + pad(out.len()) {
                return Err(Error::Truncated("quant verbatim chunk length".into()));
            }
            if payload[PROLOGUE + out.len()..].iter().any(|&b| b != 0) {
                return corrupt("quant verbatim chunk padding");
            }
            out.copy_from_slice(&payload[PROLOGUE..PROLOGUE + out.len()]);
            return Ok(());
        }
        if payload[0] != MODE_CODED
            || payload[1..4] != [0, 0, 0]
            || u32::from_le_bytes(payload[4..8].try_into().unwrap()) as usize != k
            || u64::from_le_bytes(payload[8..16].try_into().unwrap()) != g0
        {
            return corrupt("quant chunk prologue");
        }
        let head = self.head_len(k);
        if payload.len() < head {
            return Err(Error::Truncated("quant chunk sections".into()));
        }
        let sd = self.params.scale_dtype;
        let ss = sd.size();
        let mut at = PROLOGUE;
        let bits = if self.params.bound.is_some() {
            at += pad(k);
            &payload[PROLOGUE..PROLOGUE + k]
        } else {
            &[][..]
        };
        let ds = &payload[at..at + k * ss];
        at += pad(k * ss);
        let ms = if self.params.has_min() {
            let m = &payload[at..at + k * ss];
            at += pad(k * ss);
            m
        } else {
            &[][..]
        };
        let codes = &payload[at..];
        let wide = 8 * size as u32;
        let scale = |b: &[u8], l: usize| -> f64 {
            let mut v = [0u8; 8];
            v[..ss].copy_from_slice(&b[l * ss..(l + 1) * ss]);
            sd.bits_to_f64(u64::from_le_bytes(v))
        };
        let mut r = BitReader {
            bytes: codes,
            pos: 0,
        };
        self.geo.runs(s, e, |start, len, g| {
            let l = self.geo.local(g, g0);
            let grp = Group {
                bits: if bits.is_empty() {
                    self.params.bits
                } else {
                    bits[l] as u32
                },
                d: scale(ds, l),
                m: if ms.is_empty() { 0.0 } else { scale(ms, l) },
            };
            if grp.bits > 8 && grp.bits != wide {
                return corrupt(format!("quant group of {} bits", grp.bits));
            }
            if !grp.d.is_finite() || !grp.m.is_finite() {
                return corrupt("quant scale not finite");
            }
            for j in start..start + len {
                let o = &mut out[j * size..(j + 1) * size];
                if grp.bits > 8 {
                    let lo = r.get(grp.bits.min(32))? as u64;
                    let v = if grp.bits == 64 {
                        lo | (r.get(32)? as u64) << 32
                    } else {
                        lo
                    };
                    o.copy_from_slice(&v.to_le_bytes()[..size]);
                } else {
                    let c = r.get(grp.bits)?;
                    let v = self.decode_bits(c, &grp);
                    o.copy_from_slice(&v.to_le_bytes()[..size]);
                }
            }
            Ok(())
        })?;
        // Every byte after the codes is padding: exactly up to the next 16-byte boundary.
        let used = r.pos.div_ceil(8);
        if pad(at + used) != payload.len() || codes[used..].iter().any(|&b| b != 0) {
            return corrupt("quant chunk: bytes after the codes");
        }
        if r.pos % 8 != 0 && codes[used - 1] >> (r.pos % 8) != 0 {
            return corrupt("quant chunk: bits after the codes");
        }
        Ok(())
    }

    /// The dtype bits code `c` of group `g` decodes to (the hot loop of the CPU decoder).
    #[inline]
    fn decode_bits(&self, c: u32, g: &Group) -> u64 {
        let q = if self.params.has_min() {
            c as i64
        } else if g.bits == 0 {
            0
        } else {
            c as i64 - (1i64 << (g.bits - 1))
        };
        match self.dtype {
            DType::F64 => {
                let t = q as f64 * g.d;
                (if self.params.has_min() { t + g.m } else { t }).to_bits()
            }
            dt => {
                let t = q as f32 * g.d as f32;
                let v = if self.params.has_min() {
                    t + g.m as f32
                } else {
                    t
                };
                match dt {
                    DType::F32 => v.to_bits() as u64,
                    DType::F16 => half::f16::from_f32(v).to_bits() as u64,
                    _ => half::bf16::from_f32(v).to_bits() as u64,
                }
            }
        }
    }

    /// Upper bound of the coded bytes of all chunks (without the header).
    pub fn payload_bound(&self) -> usize {
        let n = crate::format::container::chunk_count(self.numel, self.chunk_elems as u32);
        (0..n).map(|ci| self.chunk_bound(ci)).sum()
    }
}

/// Upper bound in bytes of a quant container's chunks for a tensor of `dtype` and `shape`.
/// Errors: `InvalidArgument` (parameters, axis).
pub fn payload_bound(
    dtype: DType,
    shape: &[u64],
    chunk_elems: u32,
    params: &QuantParams,
) -> Result<usize> {
    params.validate()?;
    let numel = crate::dtype::numel(shape)?;
    let plan = QuantPlan {
        params: *params,
        max_abs_error: 0.0,
        dtype,
        chunk_elems: chunk_elems as u64,
        numel,
        geo: Geometry::new(params.grouping, shape, numel)?,
        groups: Vec::new(),
    };
    Ok(plan.payload_bound())
}

/// LSB-first bit packer.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    #[inline]
    fn put(&mut self, v: u32, bits: u32) {
        if bits == 0 {
            return;
        }
        self.acc |= ((v as u64) & ((1u64 << bits) - 1)) << self.n;
        self.n += bits;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// LSB-first bit reader over a chunk's code section.
struct BitReader<'a> {
    bytes: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl BitReader<'_> {
    #[inline]
    fn get(&mut self, bits: u32) -> Result<u32> {
        if bits == 0 {
            return Ok(0);
        }
        let end = self.pos + bits as usize;
        if end > 8 * self.bytes.len() {
            return Err(Error::Truncated("quant codes".into()));
        }
        let b = self.pos / 8;
        let mut w = [0u8; 8];
        let n = (self.bytes.len() - b).min(8);
        w[..n].copy_from_slice(&self.bytes[b..b + n]);
        let v = (u64::from_le_bytes(w) >> (self.pos % 8)) & ((1u64 << bits) - 1);
        self.pos = end;
        Ok(v as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn geometry_of_blocks_channels_and_global() {
        let g = Geometry::new(Grouping::Block(32), &[3, 40], 120).unwrap();
        assert_eq!(g.groups, 6);
        assert_eq!(g.group_of(39), 1);
        assert_eq!(g.group_of(40), 2);
        assert_eq!(g.chunk_groups(30, 90), (0, 5));
        let mut runs = Vec::new();
        g.runs(30, 90, |s, l, grp| {
            runs.push((s, l, grp));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            runs,
            [(0, 2, 0), (2, 8, 1), (10, 32, 2), (42, 8, 3), (50, 10, 4)]
        );
        let c = Geometry::new(Grouping::Channel(1), &[2, 3, 4], 24).unwrap();
        assert_eq!(c.group_of(5), 1);
        assert_eq!(c.group_of(13), 0);
        assert_eq!(c.chunk_groups(6, 14), (1, 3));
        assert_eq!(c.local(0, 1), 2);
        assert!(Geometry::new(Grouping::Channel(3), &[2, 3, 4], 24).is_err());
    }

    #[test]
    fn bits_pack_and_unpack() {
        let mut w = BitWriter::default();
        let vals: Vec<(u32, u32)> = (0..200u32)
            .map(|i| (i.wrapping_mul(2654435761) % 251, 1 + i % 8))
            .collect();
        for &(v, b) in &vals {
            w.put(v, b);
        }
        w.put(0xdead_beef, 32);
        let bytes = w.finish();
        let mut r = BitReader {
            bytes: &bytes,
            pos: 0,
        };
        for &(v, b) in &vals {
            assert_eq!(r.get(b).unwrap(), v & ((1 << b) - 1));
        }
        assert_eq!(r.get(32).unwrap(), 0xdead_beef);
        assert!(r.get(8).is_err());
    }

    #[test]
    fn q8_0_codes_of_one_block_match_llama_cpp() {
        // llama.cpp quantize_row_q8_0_ref: d = amax / 127, q = round(x / d).
        let x: Vec<f32> = (0..32).map(|i| (i as f32 - 15.5) / 10.0).collect();
        let data = f32s(&x);
        let plan =
            QuantPlan::new(&data, DType::F32, &[32], 1 << 16, &QuantParams::default()).unwrap();
        let g = plan.groups[0];
        let d = half::f16::from_f32(1.55 / 127.0).to_f64();
        assert_eq!(g.d, d);
        for &v in &x {
            let c = plan.code(v as f64, &g) as i32 - 128;
            assert_eq!(c, (v as f64 / d).round() as i32);
        }
    }
}
