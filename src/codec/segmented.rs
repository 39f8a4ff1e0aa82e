//! Stream layout v2 of the lossless float codec (codec 4, `lossless-v2`): one frequency table
//! per plane for the whole tensor, and chunks ("segments") coded as 32 interleaved rANS states
//! sharing one word stream, so that one GPU warp decodes one segment with one state per lane.
//!
//! Why (measured in docs/BENCHMARKS.md, designed in docs/FORMAT.md §6): layout v1 gives each
//! 2^18-element chunk its own tables and 32 lanes with separate word streams, so a GPU block
//! decodes a chunk serially and a tensor of a few chunks leaves the GPU idle. Here a segment
//! (default 2^16 elements) is decoded by one warp: lane `l` owns elements `l, l+32, ...`, and
//! the lanes that renormalise after a step read consecutive 16-bit words (a ballot and a
//! popcount on the GPU; DietGPU's warp-interleaved ANS, facebookresearch/dietgpu
//! `dietgpu/ans/GpuANSDecode.cuh`). Tables live once in the container's parameters, so small
//! segments cost 16 bytes of chunk table, a 16-byte prologue (32 with four coded planes) and
//! 128 bytes of states per coded plane.
//!
//! Planes are those of [`super::lossless::FloatSplit`]: the biased exponent (symbols
//! `0..2^E`), then the bytes of `r = sign << M | mantissa`, most significant first. Each plane
//! is either rANS-coded with the tensor's table (12-bit probabilities) or stored raw, chosen
//! per tensor by size; a plane the tensor codes is stored raw in a segment where coding it does
//! not pay (the segment's raw mask, docs/FORMAT.md §6), and its table is fitted to the segments
//! that code it. A segment whose exponents the tensor's table codes badly carries its own
//! exponent table of at most [`OWN_SCALE_BITS`] bits (mode 3). Every section is 16-byte aligned within the container (the parameters
//! are zero-padded so that the header length is a multiple of 16, and every segment's length
//! is), so a GPU reads words and raw planes with aligned loads.
//!
//! Integrity: the chunk table's checksum field holds [`segment_checksum`], a 32-bit sum of the
//! segment's little-endian words times odd weights, computed by a warp as it reads the words
//! (any single changed word, hence any single-byte flip, changes it); rANS states must end at
//! their initial value with every word consumed.

use rayon::prelude::*;

use crate::dtype::{DType, FloatLayout};
use crate::entropy::rans::{ceil_log2, DecTable, EncTable, FreqTable, RANS_L};
use crate::entropy::rans32::{self, PackedSlots};
use crate::entropy::varint::Reader;
use crate::error::{corrupt, Error, Result};

/// rANS states (GPU lanes) per segment.
pub const LANES: usize = 32;
/// Probability resolution of the shared tables (the GPU's slot table is `2^SCALE_BITS` bytes).
pub const SCALE_BITS: u32 = 12;
/// Default segment length in elements (the container's `chunk_elems`): 2048 symbols per lane.
pub const DEFAULT_SEGMENT_ELEMS: u32 = 1 << 16;
/// Alignment of every section inside the container, in bytes.
pub const ALIGN: usize = 16;
/// Bytes before the plane sections of a mode-1 coded segment (the first version of the layout,
/// still decoded): `u8 mode, 3 zero, u32 word count per plane` (at most 4 planes), zero-padded.
/// Mode-2 segments (written now) have [`prologue_len`] bytes.
pub const PROLOGUE: usize = 32;

/// Bytes before the plane sections of a mode-2 coded segment that codes `coded` planes:
/// `u8 mode, u8 raw mask, 2 zero, u32 word count per coded plane`, zero-padded to 16 (16 bytes
/// for up to 3 coded planes, 32 for 4).
pub fn prologue_len(coded: usize) -> usize {
    pad(4 + 4 * coded)
}
/// Most planes a tensor has (F32: exponent + 3 bytes).
pub const MAX_PLANES: usize = 4;
/// Most bytes of a lossless-v2 parameter block: the plane count, per plane a mode byte, a
/// scale-bits byte, a symbol count (at most 2 varint bytes) and at most 256 (gap, frequency - 1)
/// varint pairs of at most 2 bytes each, then up to `ALIGN - 1` bytes of padding (4,128; the GPU
/// decoder stages up to 5,120).
pub const MAX_PARAMS_LEN: usize = 1 + MAX_PLANES * (1 + 1 + 2 + 256 * 4) + ALIGN - 1;

const MODE_RAW: u8 = 0;
/// Coded segment, first version: every plane coded in the tensor is coded in the segment.
const MODE_CODED: u8 = 1;
/// Coded segment with a raw mask: a plane coded in the tensor may be stored raw in this segment.
const MODE_CODED_MASKED: u8 = 2;
/// Coded segment with a raw mask and an own-table mask: the exponent plane (mask bit 0, the
/// only one allowed) carries the segment's own frequency table (at most [`OWN_SCALE_BITS`]) at
/// the start of its section.
const MODE_CODED_OWN: u8 = 3;
/// Largest resolution of a segment's own table (`SEG_OWN_BITS` in kernels/segmented.cu). The
/// GPU expands it per warp into `2^8` `u32` slots (1 KiB of shared memory per warp, which keeps
/// two 8-warp F32 blocks resident per H200 multiprocessor). Whole all-MiniLM-L6-v2 in BF16 at
/// 2^15-element segments (`examples/v2_ratio`, 2026-12-03): 1.50140 without own tables, 1.50389
/// with 8 bits, 1.50420 with 9, 1.50441 with 10, 1.50455 with 12.
pub const OWN_SCALE_BITS: u32 = 8;
const PLANE_RAW: u8 = 0;
const PLANE_RANS: u8 = 1;

/// Does layout v2 handle `dtype`? F32, F16 and BF16 (exponents of at most 8 bits).
pub fn supports(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::F16 | DType::BF16)
}

/// Checksum of a segment's bytes (a multiple of 4 long): `sum_i w_i * (2i + 1) mod 2^32` over
/// its little-endian 32-bit words `w_i`. Odd weights are invertible mod 2^32, so any change of
/// one word changes the sum; it splits into per-lane partial sums for parallel verification.
pub fn segment_checksum(bytes: &[u8]) -> u32 {
    bytes.chunks_exact(4).enumerate().fold(0u32, |acc, (i, w)| {
        let w = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        acc.wrapping_add(w.wrapping_mul(2 * i as u32 + 1))
    })
}

thread_local! {
    /// Per-thread scratch for the coded planes' symbols of one segment (at most 4 planes x the
    /// segment length), reused across segments so that decoding allocates nothing per segment.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

thread_local! {
    /// Per-thread scratch of the encoder: the planes' symbols of one segment and its
    /// backwards word buffer, reused across segments.
    #[allow(clippy::type_complexity)]
    static ENC_SCRATCH: std::cell::RefCell<(Vec<Vec<u8>>, Vec<u16>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// How one plane is stored.
#[derive(Debug, Clone)]
enum Plane {
    Raw,
    Rans {
        table: FreqTable,
        enc: EncTable,
        /// The decode table, packed for the 32-state decoder (AVX2 gathers).
        packed: PackedSlots,
    },
}

/// Tensor-level plan of layout v2: the float split and each plane's coding.
#[derive(Debug, Clone)]
pub struct SegmentedPlan {
    exp_bits: u32,
    man_bits: u32,
    size: usize,
    planes: Vec<Plane>,
}

fn pad(n: usize) -> usize {
    n.next_multiple_of(ALIGN)
}

/// [`SegmentedPlan::split_planes`] for 2-byte elements with one sign + mantissa byte plane
/// (BF16): M mantissa bits, E exponent bits.
#[inline(always)]
fn split2<const M: u32, const E: u32>(src: &[u8], s0: &mut [u8], s1: &mut [u8]) {
    for ((c, a), b) in src.chunks_exact(2).zip(s0.iter_mut()).zip(s1.iter_mut()) {
        let v = u16::from_le_bytes([c[0], c[1]]) as u32;
        *a = ((v >> M) & ((1 << E) - 1)) as u8;
        *b = (((v >> (M + E)) << M) | (v & ((1 << M) - 1))) as u8;
    }
}

/// [`SegmentedPlan::split_planes`] for 4-byte elements (F32): M mantissa bits, E exponent bits.
#[inline(always)]
fn split4<const M: u32, const E: u32>(
    src: &[u8],
    s0: &mut [u8],
    s1: &mut [u8],
    s2: &mut [u8],
    s3: &mut [u8],
) {
    for ((((c, a), b), d), f) in src
        .chunks_exact(4)
        .zip(s0.iter_mut())
        .zip(s1.iter_mut())
        .zip(s2.iter_mut())
        .zip(s3.iter_mut())
    {
        let v = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        let r = ((v >> (M + E)) << M) | (v & ((1 << M) - 1));
        (*a, *b, *d, *f) = (
            ((v >> M) & ((1 << E) - 1)) as u8,
            (r >> 16) as u8,
            (r >> 8) as u8,
            r as u8,
        );
    }
}

/// A segment's own table for a plane's symbol counts `hist` (`n` symbols below `alphabet`):
/// resolution at most [`OWN_SCALE_BITS`], and its section bytes (the serialized table, zero-padded to 16).
fn own_table(hist: &[u64; 256], n: usize, alphabet: usize) -> Option<(FreqTable, usize)> {
    let distinct = hist[..alphabet].iter().filter(|&&c| c > 0).count();
    if distinct == 0 || hist[alphabet..].iter().any(|&c| c > 0) {
        return None;
    }
    // Enough slots for every present symbol twice over, no finer than the segment warrants.
    let need = ceil_log2(distinct as u64) + 1;
    if need > OWN_SCALE_BITS {
        return None;
    }
    let sb = ceil_log2(n as u64).clamp(need, OWN_SCALE_BITS);
    let t = FreqTable::from_counts(hist, sb).ok()?;
    let len = pad(t.serialized_len());
    Some((t, len))
}

/// One coded plane's section: `prefix` (an own table, or nothing), then 32 final states and the
/// words of `syms` coded with `enc`, zero-padded to 16; `None` when it is not smaller than the
/// plane's `n` raw bytes. `buf`: the encoder's backwards word buffer (`n + 9` words).
fn rans_section(
    enc: &EncTable,
    syms: &[u8],
    buf: &mut [u16],
    mut v: Vec<u8>,
    n: usize,
) -> Option<(u32, Vec<u8>)> {
    // Symbols in reverse (state i % 32), words written backwards into `buf`.
    let mut x = [RANS_L; LANES];
    let mut pos = buf.len();
    crate::entropy::rans32::encode(&mut x, enc, syms, buf, &mut pos);
    let words = &buf[pos..];
    let len = v.len() + pad(4 * LANES + 2 * words.len());
    if len + 4 > pad(n) {
        return None;
    }
    v.reserve(len - v.len());
    for st in x {
        v.extend_from_slice(&st.to_le_bytes());
    }
    for w in words {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v.resize(len, 0);
    Some((words.len() as u32, v))
}

impl SegmentedPlan {
    fn split(layout: FloatLayout, size: usize) -> (u32, u32, usize) {
        (layout.exp_bits, layout.man_bits, size)
    }

    fn byte_planes(&self) -> usize {
        (self.man_bits as usize + 1).div_ceil(8)
    }

    /// Plane symbols of element `v` (raw bits): exponent, then bytes of `r` MSB first.
    #[inline(always)]
    fn symbols(&self, v: u64, out: &mut [u8; MAX_PLANES]) {
        let (m, e) = (self.man_bits, self.exp_bits);
        out[0] = ((v >> m) & ((1 << e) - 1)) as u8;
        let r = ((v >> (m + e)) << m) | (v & ((1 << m) - 1));
        let bp = self.byte_planes();
        for b in 0..bp {
            out[1 + b] = (r >> (8 * (bp - 1 - b))) as u8;
        }
    }

    #[inline(always)]
    fn element(&self, s: &[u8; MAX_PLANES]) -> u64 {
        let (m, e) = (self.man_bits, self.exp_bits);
        let mut r = 0u64;
        for &b in &s[1..1 + self.byte_planes()] {
            r = (r << 8) | b as u64;
        }
        ((r >> m) << (m + e)) | ((s[0] as u64) << m) | (r & ((1 << m) - 1))
    }

    /// Split the elements of `src` into their planes (the inverse of [`Self::assemble`]):
    /// `syms[p][i]` = plane `p`'s symbol of element `i`; straight loops per element size.
    fn split_planes(&self, src: &[u8], syms: &mut [Vec<u8>]) {
        // F32 and BF16 with their shifts known at compile time (the loops vectorise); F16
        // (three planes) and anything else below.
        match (self.size, self.man_bits, self.exp_bits, &mut *syms) {
            (4, 23, 8, [s0, s1, s2, s3]) => return split4::<23, 8>(src, s0, s1, s2, s3),
            (2, 7, 8, [s0, s1]) => return split2::<7, 8>(src, s0, s1),
            _ => {}
        }
        let (m, e) = (self.man_bits, self.exp_bits);
        let (low, emask) = ((1u32 << m) - 1, (1u32 << e) - 1);
        let parts = |v: u32| ((v >> m) & emask, ((v >> (m + e)) << m) | (v & low));
        match (self.size, syms) {
            (2, [s0, s1, s2]) => {
                for (((c, a), b), d) in src
                    .chunks_exact(2)
                    .zip(s0.iter_mut())
                    .zip(s1.iter_mut())
                    .zip(s2.iter_mut())
                {
                    let (x, r) = parts(u16::from_le_bytes([c[0], c[1]]) as u32);
                    (*a, *b, *d) = (x as u8, (r >> 8) as u8, r as u8);
                }
            }
            (_, syms) => {
                let mut s = [0u8; MAX_PLANES];
                for i in 0..src.len() / self.size {
                    self.symbols(self.load(src, i), &mut s);
                    for (plane, &sym) in syms.iter_mut().zip(&s) {
                        plane[i] = sym;
                    }
                }
            }
        }
    }

    /// Write the elements of the decoded planes `syms` (exponent, then big-endian byte planes of
    /// sign and mantissa) into `out`, little-endian; straight loops per element size that the
    /// compiler vectorises.
    fn assemble(&self, syms: &[&[u8]], out: &mut [u8]) {
        let (m, e) = (self.man_bits, self.exp_bits);
        let low = (1u32 << m) - 1;
        match (self.size, syms) {
            (2, &[s0, s1]) => {
                for ((o, &a), &b) in out.chunks_exact_mut(2).zip(s0).zip(s1) {
                    let r = b as u32;
                    let v = ((r >> m) << (m + e)) | ((a as u32) << m) | (r & low);
                    o.copy_from_slice(&(v as u16).to_le_bytes());
                }
            }
            (2, &[s0, s1, s2]) => {
                for (((o, &a), &b), &c) in out.chunks_exact_mut(2).zip(s0).zip(s1).zip(s2) {
                    let r = (b as u32) << 8 | c as u32;
                    let v = ((r >> m) << (m + e)) | ((a as u32) << m) | (r & low);
                    o.copy_from_slice(&(v as u16).to_le_bytes());
                }
            }
            (4, &[s0, s1, s2, s3]) => {
                for ((((o, &a), &b), &c), &d) in
                    out.chunks_exact_mut(4).zip(s0).zip(s1).zip(s2).zip(s3)
                {
                    let r = (b as u32) << 16 | (c as u32) << 8 | d as u32;
                    let v = ((r >> m) << (m + e)) | ((a as u32) << m) | (r & low);
                    o.copy_from_slice(&v.to_le_bytes());
                }
            }
            _ => {
                let mut s = [0u8; MAX_PLANES];
                for (i, o) in out.chunks_exact_mut(self.size).enumerate() {
                    for (p, plane) in syms.iter().enumerate() {
                        s[p] = plane[i];
                    }
                    o.copy_from_slice(&self.element(&s).to_le_bytes()[..self.size]);
                }
            }
        }
    }

    #[inline(always)]
    fn load(&self, src: &[u8], i: usize) -> u64 {
        let mut b = [0u8; 8];
        b[..self.size].copy_from_slice(&src[i * self.size..(i + 1) * self.size]);
        u64::from_le_bytes(b)
    }

    /// Plan a tensor: histogram every plane (in parallel) and code a plane with a shared
    /// 12-bit table when that is smaller than storing it raw, segment overheads included.
    /// `data`: whole elements of `dtype` (F32, F16 or BF16; see [`supports`]).
    pub fn new(data: &[u8], dtype: DType, segment_elems: u32) -> Result<Self> {
        let layout = dtype
            .float_layout()
            .filter(|_| supports(dtype))
            .ok_or_else(|| Error::InvalidArgument(format!("layout v2 does not code {dtype:?}")))?;
        let (exp_bits, man_bits, size) = Self::split(layout, dtype.size());
        let mut plan = SegmentedPlan {
            exp_bits,
            man_bits,
            size,
            planes: Vec::new(),
        };
        let np = 1 + plan.byte_planes();
        let n = data.len() / size;
        let seg = segment_elems.max(1) as usize;
        // Per group of segments and plane, a histogram of the symbols: one segment per group
        // while the tensor has at most MAX_HIST_GROUPS segments, else as many per group as keep
        // the histograms within MAX_HIST_GROUPS x planes x 1 KiB (u32 counts: a group has fewer
        // than 2^32 elements).
        const MAX_HIST_GROUPS: usize = 8192;
        let per_group = n.div_ceil(seg).div_ceil(MAX_HIST_GROUPS).max(1);
        let group = seg.saturating_mul(per_group).min(u32::MAX as usize);
        let hists: Vec<Vec<[u32; 256]>> = data[..n * size]
            .par_chunks(group * size)
            .map_init(
                || vec![Vec::new(); np],
                |syms: &mut Vec<Vec<u8>>, c| {
                    // Split in blocks of at most 2^16 elements: the scratch stays small
                    // whatever the segment length.
                    let mut h = vec![[0u32; 256]; np];
                    for block in c.chunks(size << 16) {
                        let k = block.len() / size;
                        for plane in syms.iter_mut() {
                            plane.resize(k, 0);
                        }
                        plan.split_planes(block, syms);
                        for (hp, sp) in h.iter_mut().zip(syms.iter()) {
                            for &v in sp {
                                hp[v as usize] += 1;
                            }
                        }
                    }
                    h
                },
            )
            .collect();
        for p in 0..np {
            plan.planes.push(Self::plan_plane(&hists, p, n, group, seg));
        }
        Ok(plan)
    }

    /// Choose plane `p`'s coding from the histograms of groups of `group` elements (whole
    /// segments of `seg`): a 12-bit table fitted to the groups that it codes smaller than raw
    /// (three rounds: fit on all, keep the groups that gain, refit on those), used when the
    /// plane's total, table and per-segment states included, is below its raw bytes. Segments
    /// it does not pay for are stored raw by [`SegmentedPlan::encode_segment`] (the segment's
    /// raw mask), which decides per segment from the exact sizes.
    fn plan_plane(
        hists: &[Vec<[u32; 256]>],
        p: usize,
        n: usize,
        group: usize,
        seg: usize,
    ) -> Plane {
        // The plane's histograms as u64 counts (what `FreqTable` takes), once.
        let h: Vec<[u64; 256]> = hists.iter().map(|g| g[p].map(|v| v as u64)).collect();
        let group_len = |s: usize| group.min(n - s * group) as f64;
        // Segments in group s, each with its states, padding and word count when coded.
        let segs = |s: usize| (group.min(n - s * group)).div_ceil(seg) as f64;
        let mut keep: Vec<bool> = vec![true; h.len()];
        let mut best: Option<(FreqTable, f64)> = None;
        for _ in 0..3 {
            let mut c = [0u64; 256];
            for hs in h.iter().zip(&keep).filter(|(_, &k)| k).map(|(hs, _)| hs) {
                for (u, v) in c.iter_mut().zip(hs) {
                    *u += v;
                }
            }
            let Ok(t) = FreqTable::from_counts(&c, SCALE_BITS) else {
                break;
            };
            // Bytes of each group's plane coded with `t`.
            let coded: Vec<f64> = (0..h.len())
                .map(|s| t.cost_bits(&h[s]) / 8.0 + segs(s) * (4 * LANES + ALIGN / 2 + 4) as f64)
                .collect();
            let gains: Vec<bool> = (0..h.len()).map(|s| coded[s] < group_len(s)).collect();
            let total: f64 = t.serialized_len() as f64
                + (0..h.len())
                    .map(|s| coded[s].min(group_len(s) + segs(s) * (ALIGN / 2) as f64))
                    .sum::<f64>();
            if best.as_ref().is_none_or(|(_, b)| total < *b) {
                best = Some((t, total));
            }
            if gains == keep || !gains.iter().any(|&g| g) {
                break;
            }
            keep = gains;
        }
        match best {
            Some((table, total)) if n > 0 && total < n as f64 => Plane::Rans {
                enc: EncTable::new(&table),
                packed: match PackedSlots::new(&DecTable::new(&table)) {
                    Ok(p) => p,
                    Err(_) => return Plane::Raw,
                },
                table,
            },
            _ => Plane::Raw,
        }
    }

    /// Serialized parameters: `u8 plane count`, per plane `u8 mode` (0 raw, 1 rANS) and for
    /// rANS planes the frequency table ([`FreqTable::write`]), then zero padding so that a
    /// container header of `ndim` dimensions and `n_chunks` chunks is a multiple of 16 bytes.
    pub fn to_bytes(&self, ndim: usize, n_chunks: usize) -> Vec<u8> {
        let mut v = vec![self.planes.len() as u8];
        for p in &self.planes {
            match p {
                Plane::Raw => v.push(PLANE_RAW),
                Plane::Rans { table, .. } => {
                    v.push(PLANE_RANS);
                    table.write(&mut v);
                }
            }
        }
        let header = crate::format::container::header_len(ndim, v.len(), n_chunks);
        v.resize(v.len() + (ALIGN - header % ALIGN) % ALIGN, 0);
        v
    }

    /// Parse parameters written by [`SegmentedPlan::to_bytes`] for `dtype`. Errors: `Corrupt`.
    pub fn from_bytes(b: &[u8], dtype: DType) -> Result<Self> {
        let layout = dtype
            .float_layout()
            .filter(|_| supports(dtype))
            .ok_or_else(|| Error::Corrupt(format!("lossless-v2 container of {dtype:?}")))?;
        let (exp_bits, man_bits, size) = Self::split(layout, dtype.size());
        let mut plan = SegmentedPlan {
            exp_bits,
            man_bits,
            size,
            planes: Vec::new(),
        };
        let mut r = Reader::new(b, "lossless-v2 parameters");
        let np = r.u8()? as usize;
        if np != 1 + plan.byte_planes() {
            return corrupt(format!("lossless-v2: {np} planes"));
        }
        for p in 0..np {
            let alphabet = if p == 0 { 1 << exp_bits } else { 256 };
            plan.planes.push(match r.u8()? {
                PLANE_RAW => Plane::Raw,
                PLANE_RANS => {
                    let table = FreqTable::read(&mut r, alphabet)?;
                    if table.scale_bits() > SCALE_BITS {
                        return corrupt("lossless-v2 table resolution");
                    }
                    Plane::Rans {
                        enc: EncTable::new(&table),
                        packed: PackedSlots::new(&DecTable::new(&table))?,
                        table,
                    }
                }
                m => return corrupt(format!("lossless-v2 plane mode {m}")),
            });
        }
        if r.bytes(r.remaining())?.iter().any(|&z| z != 0) {
            return corrupt("lossless-v2 parameter padding is not zero");
        }
        Ok(plan)
    }

    /// Code one segment of whole elements (`src`); the result's length is a multiple of 16.
    /// Per coded plane: the tensor's table, the segment's own table (exponent plane only, mode
    /// 3, where its estimated size with the table's bytes is smaller), or raw bytes (raw mask);
    /// falls back to a raw segment when coding does not make it smaller.
    pub fn encode_segment(&self, src: &[u8]) -> Vec<u8> {
        ENC_SCRATCH.with_borrow_mut(|(syms, buf)| self.encode_segment_with(src, syms, buf))
    }

    /// [`SegmentedPlan::encode_segment`] with per-thread scratch for the planes' symbols and
    /// the backwards word buffer (resized, not zeroed: every byte read is written first).
    fn encode_segment_with(
        &self,
        src: &[u8],
        syms: &mut Vec<Vec<u8>>,
        buf: &mut Vec<u16>,
    ) -> Vec<u8> {
        let n = src.len() / self.size;
        let np = self.planes.len();
        syms.resize_with(np, Vec::new);
        for plane in syms.iter_mut() {
            plane.resize(n, 0);
        }
        let syms = &mut syms[..np];
        self.split_planes(src, syms);
        // Room for one word per symbol plus the 8 words the AVX2 encoder stores at a time.
        buf.resize(n + 9, 0);
        let buf = &mut buf[..n + 9];
        // Per plane coded with the tensor's table: its section (32 final states, then its words,
        // zero-padded) when that is smaller than the plane's raw bytes in this segment, and the
        // segment's symbols are all in the table; else the plane is raw here (raw mask bit).
        let mut sections: Vec<Option<(u32, Vec<u8>)>> = Vec::with_capacity(np);
        let (mut raw_mask, mut own_mask) = (0u8, 0u8);
        for (p, plane) in self.planes.iter().enumerate() {
            let Plane::Rans { enc, table, .. } = plane else {
                sections.push(None);
                continue;
            };
            let mut hist = [0u64; 256];
            for &v in syms[p].iter() {
                hist[v as usize] += 1;
            }
            let tensor_bits = table.cost_bits(&hist);
            // The exponent plane gets the segment's own table where its estimated size (table
            // included, 8 bytes of margin) is smaller than with the tensor's.
            let own = (p == 0)
                .then(|| own_table(&hist, n, 1 << self.exp_bits))
                .flatten()
                .filter(|(t, len)| {
                    (*len as f64) + t.cost_bits(&hist) / 8.0 + 8.0 < tensor_bits / 8.0
                });
            let has_own = own.is_some();
            let section = match own {
                Some((t, _)) => {
                    let mut v = Vec::new();
                    t.write(&mut v);
                    v.resize(pad(v.len()), 0);
                    rans_section(&EncTable::new(&t), &syms[p], buf, v, n)
                }
                None if tensor_bits.is_finite() => rans_section(enc, &syms[p], buf, Vec::new(), n),
                None => None,
            };
            if has_own && section.is_some() {
                own_mask |= 1 << p;
            }
            if section.is_none() {
                raw_mask |= 1 << p;
            }
            sections.push(section);
        }
        let coded = sections.iter().flatten().count();
        let mut out = vec![0u8; prologue_len(coded)];
        out[0] = if own_mask != 0 {
            MODE_CODED_OWN
        } else {
            MODE_CODED_MASKED
        };
        out[1] = raw_mask;
        out[2] = own_mask;
        for (k, (w, _)) in sections.iter().flatten().enumerate() {
            out[4 + 4 * k..8 + 4 * k].copy_from_slice(&w.to_le_bytes());
        }
        for (_, v) in sections.iter().flatten() {
            out.extend_from_slice(v);
        }
        for (p, section) in sections.iter().enumerate() {
            if section.is_none() {
                out.extend_from_slice(&syms[p]);
                out.resize(pad(out.len()), 0);
            }
        }
        if coded == 0 || out.len() >= pad(ALIGN + src.len()) {
            out.clear();
            out.resize(ALIGN, 0);
            out[0] = MODE_RAW;
            out.extend_from_slice(src);
            out.resize(pad(out.len()), 0);
        }
        out
    }

    /// Decode one segment into `out` (whole elements; its length fixes the element count).
    /// Errors: `Corrupt`/`Truncated` for a damaged segment (bad mode, lengths, padding, a rANS
    /// state that does not return to its start, unread words).
    pub fn decode_segment(&self, seg: &[u8], out: &mut [u8]) -> Result<()> {
        let n = out.len() / self.size;
        if seg.len() % ALIGN != 0 || seg.len() < ALIGN {
            return corrupt("lossless-v2 segment length");
        }
        match seg[0] {
            MODE_RAW => {
                let body = &seg[ALIGN..];
                if pad(out.len()) != body.len()
                    || seg[1..ALIGN]
                        .iter()
                        .chain(&body[out.len()..])
                        .any(|&z| z != 0)
                {
                    return corrupt("lossless-v2 raw segment");
                }
                out.copy_from_slice(&body[..out.len()]);
                return Ok(());
            }
            MODE_CODED | MODE_CODED_MASKED | MODE_CODED_OWN => {}
            m => return corrupt(format!("lossless-v2 segment mode {m}")),
        }
        let np = self.planes.len();
        // Planes coded in this segment, and where the word counts and plane sections start.
        let mut coded = [false; MAX_PLANES];
        let mut own = 0u8;
        for (c, plane) in coded.iter_mut().zip(&self.planes) {
            *c = matches!(plane, Plane::Rans { .. });
        }
        let prologue = if seg[0] == MODE_CODED {
            if seg.len() < PROLOGUE || seg[1..4].iter().any(|&z| z != 0) {
                return corrupt("lossless-v2 segment prologue");
            }
            PROLOGUE
        } else {
            let raw_mask = seg[1];
            if seg[3] != 0
                || (seg[0] == MODE_CODED_MASKED && seg[2] != 0)
                || (0..8).any(|p| raw_mask >> p & 1 == 1 && !coded.get(p).copied().unwrap_or(false))
            {
                return corrupt("lossless-v2 segment raw mask");
            }
            for (p, c) in coded.iter_mut().enumerate() {
                *c &= raw_mask >> p & 1 == 0;
            }
            // Mode 3: the planes with their own table, coded in this segment, at least one.
            own = seg[2];
            if seg[0] == MODE_CODED_OWN && (own != 1 || !coded[0]) {
                return corrupt("lossless-v2 segment own-table mask");
            }
            let len = prologue_len(coded.iter().filter(|&&c| c).count());
            if seg.len() < len {
                return corrupt("lossless-v2 segment prologue");
            }
            len
        };
        // Coded planes decode into a per-thread scratch buffer (reused, never zeroed: every
        // byte is written before it is read); raw planes are read in place from the segment.
        SCRATCH.with_borrow_mut(|scratch| {
            self.decode_coded_segment(seg, out, n, np, &coded[..np], own, prologue, scratch)
        })
    }

    /// The coded-segment part of [`SegmentedPlan::decode_segment`], with `scratch` for the
    /// coded planes' symbols.
    #[allow(clippy::too_many_arguments)]
    fn decode_coded_segment(
        &self,
        seg: &[u8],
        out: &mut [u8],
        n: usize,
        np: usize,
        coded: &[bool],
        own: u8,
        prologue: usize,
        scratch: &mut Vec<u8>,
    ) -> Result<()> {
        if scratch.len() < np * n {
            scratch.resize(np * n, 0);
        }
        let mut planes_out: Vec<&mut [u8]> = scratch[..np * n].chunks_mut(n.max(1)).collect();
        let legacy = seg[0] == MODE_CODED;
        let mut pos = prologue;
        let mut k = 0; // word-count slot of the next coded plane (mode 2)
        for (p, plane) in self.planes.iter().enumerate() {
            let slot = if legacy { p } else { k };
            let w = if legacy || coded[p] {
                u32::from_le_bytes(seg[4 + 4 * slot..8 + 4 * slot].try_into().unwrap()) as usize
            } else {
                0
            };
            let (true, Plane::Rans { packed, .. }) = (coded[p], plane) else {
                if w != 0 {
                    return corrupt("lossless-v2 word count of a raw plane");
                }
                continue;
            };
            k += 1;
            // An own table (mode 3): the serialized table, zero-padded to 16, before the states.
            let own_slots;
            let packed = if own >> p & 1 == 1 {
                let mut r = Reader::new(&seg[pos..], "lossless-v2 segment table");
                let alphabet = if p == 0 { 1usize << self.exp_bits } else { 256 };
                let t = FreqTable::read(&mut r, alphabet)?;
                if t.scale_bits() > OWN_SCALE_BITS {
                    return corrupt("lossless-v2 segment table resolution");
                }
                let used = seg.len() - pos - r.remaining();
                let next = pos + pad(used);
                if next > seg.len() || seg[pos + used..next].iter().any(|&z| z != 0) {
                    return corrupt("lossless-v2 segment table padding");
                }
                pos = next;
                own_slots = PackedSlots::new(&DecTable::new(&t))?;
                &own_slots
            } else {
                packed
            };
            let end = w
                .checked_mul(2)
                .and_then(|b| b.checked_add(pos + 4 * LANES))
                .filter(|&e| e <= seg.len())
                .ok_or_else(|| Error::Truncated("lossless-v2 plane words".into()))?;
            let mut x = [0u32; LANES];
            for (l, st) in x.iter_mut().enumerate() {
                *st = u32::from_le_bytes(seg[pos + 4 * l..pos + 4 * l + 4].try_into().unwrap());
                if !(RANS_L..RANS_L << 16).contains(st) {
                    return corrupt("lossless-v2 rANS state out of range");
                }
            }
            let words = &seg[pos + 4 * LANES..end];
            let got = rans32::decode(&mut x, packed, words, &mut planes_out[p][..n])?;
            if got != w || x.iter().any(|&st| st != RANS_L) {
                return corrupt("lossless-v2 rANS state mismatch");
            }
            let next = pad(end);
            if next > seg.len() || seg[end..next].iter().any(|&z| z != 0) {
                return corrupt("lossless-v2 plane padding");
            }
            pos = next;
        }
        let counts_end = 4 + 4 * if legacy { np } else { k };
        if seg[counts_end..prologue].iter().any(|&z| z != 0) {
            return corrupt("lossless-v2 segment prologue");
        }
        let mut raw_at = [0usize; MAX_PLANES];
        for p in 0..np {
            if !coded[p] {
                let next = pad(pos + n);
                if next > seg.len() {
                    return Err(Error::Truncated("lossless-v2 raw plane".into()));
                }
                if seg[pos + n..next].iter().any(|&z| z != 0) {
                    return corrupt("lossless-v2 raw plane padding");
                }
                raw_at[p] = pos;
                pos = next;
            }
        }
        if pos != seg.len() {
            return corrupt("trailing bytes in lossless-v2 segment");
        }
        let syms: Vec<&[u8]> = planes_out
            .iter()
            .enumerate()
            .map(|(p, plane)| {
                if coded[p] {
                    &plane[..n]
                } else {
                    &seg[raw_at[p]..raw_at[p] + n]
                }
            })
            .collect();
        self.assemble(&syms, out);
        Ok(())
    }
}
