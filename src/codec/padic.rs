//! p-adic error-bounded codec.
//!
//! Pipeline per element `x` (see `docs/FORMAT.md` for the bytes):
//! 1. **Quantize.** Absolute bound `eps`: `q = round(x / (2 eps))`, `x' = q * 2 eps`.
//!    Relative bound `eps` (log-space encoding of the design notes): `q = round(ln|x| /
//!    (2 eps_l)) - offset` with `eps_l = ln(1 + eps)`, `x' = sign(x) exp((q + offset) 2 eps_l)`,
//!    so `x'/x` lies in `[1/(1+eps), 1+eps]`. Quantization with step `2 eps` is the uniform
//!    scalar quantizer of error-bounded lossy compressors (SZ: Di & Cappello, IPDPS 2016).
//! 2. **Verify.** `x'` is rounded to the tensor's dtype and checked against the bound; if
//!    `q` fails, `q - 1` and `q + 1` are tried; an element that still fails, a non-finite
//!    value, a zero in relative mode, or `|q| >= p^N` goes to the exception list, stored
//!    bit-exactly. The bound therefore holds for every element by construction.
//! 3. **Expand.** `|q|` is written in base `p` with `N` digits (the signed mapping of
//!    [`crate::padic`]); digit plane `k` holds digit `k` of every element.
//! 4. **Code the digit planes**, most significant first. Each plane picks the smallest of:
//!    all-zero; sparse CSR (index gaps + nonzero digits) when mostly zero; rANS with a
//!    context of (the element's higher digits: 0, 1 or more) x (bit length of the previous
//!    element's value at this plane); raw digits. The sign of an element is stored in the
//!    plane of its leading nonzero digit, so the top `k` planes carry every sign they need.
//! 5. **Progressive decoding.** Reading only the top `k` of `N` planes leaves `j = N - k`
//!    unknown low digits: elements whose known digits are zero decode to `q' = 0`, others to
//!    the middle of their interval, so `|q - q'| <= p^j - 1` and the stated bound is
//!    `eps + (p^j - 1) 2 eps` (absolute) plus dtype rounding; see [`PadicPlan::bound_for_planes`].

use rayon::prelude::*;

use crate::codec::{ErrorBound, PadicParams};
use crate::dtype::DType;
use crate::entropy::rans::{
    encode_lanes_with_bits, lanes_for, DecTable, EncTable, FreqTable, LaneDecoder,
};
use crate::entropy::stream::{decode_u16, encode_u16, rans_estimate};
use crate::entropy::varint::{put_section, put_varint, Reader};
use crate::error::{corrupt, invalid, Result};
use crate::padic::{check_precision, check_prime, max_precision, min_precision, pow};

/// Bytes of the serialized tensor-level parameters.
pub const PARAMS_LEN: usize = 38;

const PLANE_ZERO: u8 = 0;
const PLANE_SPARSE: u8 = 1;
const PLANE_RANS: u8 = 2;
const PLANE_RAW: u8 = 3;

/// Context buckets of the neighbours' magnitude (bit length, capped).
const NB: usize = 16;
/// Context buckets of the element's own higher digits (0, 1, >= 2).
const OWN: usize = 3;
/// Bucket symbols: digits 0..3 themselves, then (bit length, second bit) classes up to 16 bits.
const BUCKETS: usize = 32;

/// Split a digit into a bucket symbol and `k` extra bits (Elias-gamma-like classes with one
/// refinement bit; the extra bits are coded uniformly in the same rANS lane).
#[inline(always)]
fn bucket(v: u16) -> (usize, u32, u32) {
    if v < 4 {
        return (v as usize, 0, 0);
    }
    let b = 16 - v.leading_zeros(); // bit length >= 3
    let k = b - 2;
    let sym = 4 + 2 * (b as usize - 3) + ((v >> k) & 1) as usize;
    (sym, (v & ((1 << k) - 1)) as u32, k)
}

/// Extra-bit count and high part of bucket `sym` (inverse of [`bucket`]).
#[inline(always)]
fn unbucket(sym: u16) -> (u32, u32) {
    if sym < 4 {
        return (0, sym as u32);
    }
    let b = (sym as u32 - 4) / 2 + 3;
    let k = b - 2;
    (k, (2 | ((sym as u32 - 4) & 1)) << k)
}

/// Largest |offset| (exclusive) of relative mode that a container may store: writer and reader
/// share this limit, so the writer never produces parameters the reader refuses.
pub(crate) const MAX_OFFSET: u64 = 1 << 62;

/// Tensor-level parameters of the p-adic codec, fixed before any chunk is coded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PadicPlan {
    /// Element type (a float dtype).
    pub dtype: DType,
    /// Prime base `p`.
    pub prime: u32,
    /// Number of digit planes `N`.
    pub precision: u32,
    /// The user's bound.
    pub bound: ErrorBound,
    /// Quantization step (`2 eps`, or `2 ln(1+eps)` in relative mode).
    pub step: f64,
    /// Integer subtracted from log-domain indices (relative mode), 0 otherwise.
    pub offset: i64,
    /// Largest finite |x| in the tensor (for rounding terms of progressive bounds).
    pub max_abs: f64,
}

fn check_bound(b: ErrorBound) -> Result<()> {
    b.validate()
}

/// Check p-adic parameters without data: the prime, the bound and an explicit precision.
/// Errors: `InvalidArgument`, as [`PadicPlan::new`].
pub fn check_params(params: &PadicParams) -> Result<()> {
    check_prime(params.prime)?;
    check_bound(params.bound)?;
    if let Some(n) = params.precision {
        check_precision(params.prime, n)?;
    }
    Ok(())
}

/// Quantization step of a bound: `2 eps` (absolute) or `2 ln(1 + eps)` (relative), exactly as
/// [`PadicPlan::new`] computes it (the GPU encoder gets it from here).
pub fn step_for(bound: ErrorBound) -> f64 {
    match bound {
        ErrorBound::Abs(eps) => 2.0 * eps,
        ErrorBound::Rel(eps) => 2.0 * eps.ln_1p(),
    }
}

impl PadicPlan {
    /// Choose step, offset and precision for tensor `data` of `dtype` (float only).
    ///
    /// Errors: `InvalidArgument` for a non-prime or too large base, a bound that is not
    /// finite and positive (relative bounds must be < 1), or a precision out of
    /// `1..=max_precision(p)`.
    pub fn new(data: &[u8], dtype: DType, params: &PadicParams) -> Result<Self> {
        check_params(params)?;
        let p = params.prime;
        let size = dtype.size();
        let n = data.len() / size;
        let rel = matches!(params.bound, ErrorBound::Rel(_));
        let (max_abs, sum_log, count_log, min_log, max_log) = (0..n)
            .into_par_iter()
            .with_min_len(1 << 16)
            .map(|i| {
                let x = dtype.load_f64(data, i);
                if !x.is_finite() {
                    return (0.0, 0.0, 0u64, f64::INFINITY, f64::NEG_INFINITY);
                }
                if x == 0.0 || !rel {
                    return (x.abs(), 0.0, 0, f64::INFINITY, f64::NEG_INFINITY);
                }
                let l = x.abs().ln();
                (x.abs(), l, 1, l, l)
            })
            .reduce(
                || (0.0, 0.0, 0, f64::INFINITY, f64::NEG_INFINITY),
                |a, b| {
                    (
                        a.0.max(b.0),
                        a.1 + b.1,
                        a.2 + b.2,
                        a.3.min(b.3),
                        a.4.max(b.4),
                    )
                },
            );
        let step = step_for(params.bound);
        let (offset, max_q) = match params.bound {
            ErrorBound::Abs(_) => (0i64, (max_abs / step).round()),
            ErrorBound::Rel(_) => {
                if count_log == 0 {
                    (0, 0.0)
                } else {
                    let off = (sum_log / count_log as f64 / step).round();
                    let lo = (min_log / step).round() - off;
                    let hi = (max_log / step).round() - off;
                    (off as i64, lo.abs().max(hi.abs()))
                }
            }
        };
        let max_n = max_precision(p);
        let precision = match params.precision {
            Some(n) => n,
            None => {
                let mq = if max_q.is_finite() && max_q < (1u64 << 62) as f64 {
                    max_q as u64
                } else {
                    u64::MAX
                };
                min_precision(p, mq).min(max_n)
            }
        };
        let plan = PadicPlan {
            dtype,
            prime: p,
            precision,
            bound: params.bound,
            step,
            offset,
            max_abs,
        };
        // The decoder refuses parameters out of range (`from_bytes`): never write them.
        match plan.out_of_range() {
            Some(why) => invalid(format!(
                "p-adic bound {:e} cannot be used here: {why}",
                plan.eps()
            )),
            None => Ok(plan),
        }
    }

    fn eps(&self) -> f64 {
        match self.bound {
            ErrorBound::Abs(e) | ErrorBound::Rel(e) => e,
        }
    }

    /// Why a plan's derived fields are out of the range a container may store (`None` when
    /// they are fine). One check for the writer ([`PadicPlan::new`]) and the reader
    /// ([`PadicPlan::from_bytes`]).
    fn out_of_range(&self) -> Option<&'static str> {
        if !(self.step.is_finite() && self.step > 0.0) {
            Some("its quantization step is not a finite positive number")
        } else if !self.max_abs.is_finite() {
            Some("the largest magnitude is not finite")
        } else if self.offset.unsigned_abs() >= MAX_OFFSET {
            Some("the relative bound is too fine for this tensor (log-domain offset beyond 2^62 steps); use a coarser bound or lossless")
        } else {
            None
        }
    }

    /// Serialize to `PARAMS_LEN` bytes: `u32 p, u8 N, u8 mode (0 abs, 1 rel), f64 eps,
    /// f64 step, i64 offset, f64 max_abs`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(PARAMS_LEN);
        v.extend_from_slice(&self.prime.to_le_bytes());
        v.push(self.precision as u8);
        let (mode, eps) = match self.bound {
            ErrorBound::Abs(e) => (0u8, e),
            ErrorBound::Rel(e) => (1u8, e),
        };
        v.push(mode);
        v.extend_from_slice(&eps.to_le_bytes());
        v.extend_from_slice(&self.step.to_le_bytes());
        v.extend_from_slice(&self.offset.to_le_bytes());
        v.extend_from_slice(&self.max_abs.to_le_bytes());
        v
    }

    /// Parse and validate parameters read from a container. Errors: `Corrupt`.
    pub fn from_bytes(b: &[u8], dtype: DType) -> Result<Self> {
        if b.len() != PARAMS_LEN || !dtype.is_float() {
            return corrupt("p-adic parameters");
        }
        let mut r = Reader::new(b, "p-adic parameters");
        let prime = r.u32()?;
        let precision = r.u8()? as u32;
        let mode = r.u8()?;
        let eps = r.f64()?;
        let step = r.f64()?;
        let offset = r.u64()? as i64;
        let max_abs = r.f64()?;
        let bound = match mode {
            0 => ErrorBound::Abs(eps),
            1 => ErrorBound::Rel(eps),
            _ => return corrupt("p-adic bound mode"),
        };
        let plan = PadicPlan {
            dtype,
            prime,
            precision,
            bound,
            step,
            offset,
            max_abs,
        };
        let ok = check_prime(prime).is_ok()
            && check_precision(prime, precision).is_ok()
            && check_bound(bound).is_ok()
            && plan.out_of_range().is_none();
        if !ok {
            return corrupt("p-adic parameters out of range");
        }
        Ok(plan)
    }

    fn limit(&self) -> u64 {
        pow(self.prime, self.precision).unwrap()
    }

    /// Dequantize `q` (value sign `neg` in relative mode) to raw bits of the dtype.
    #[inline]
    fn reconstruct(&self, q: i64, neg: bool) -> u64 {
        match self.bound {
            ErrorBound::Abs(_) => self.dtype.round_bits(q as f64 * self.step),
            ErrorBound::Rel(_) => {
                let m = det_exp((q + self.offset) as f64 * self.step);
                self.dtype.round_bits(if neg { -m } else { m })
            }
        }
    }

    /// The signed integer `q` the encoder stores for the value `x` (`|q| < p^N`, written as the
    /// digits of `|q|` and a sign), or `None` when `x` is stored as an exception (not finite, a
    /// zero in relative mode, `|q| >= p^N`, or no candidate within the bound). Reconstruction:
    /// `x' = q step` (absolute mode) or `x' = sign(x) exp((q + offset) step)` (relative mode),
    /// rounded to `self.dtype`. This is the encoder's own quantizer and verification
    /// (candidates `q`, `q - 1`, `q + 1`), so `crate::math::padic::PadicRing::quantize` agrees
    /// with the codec exactly. Thread safety: pure.
    pub fn quantize_value(&self, x: f64) -> Option<i64> {
        self.quantize(x, self.limit()).map(|(q, _)| q)
    }

    /// Quantize `x`, returning `q` and the absolute error of its reconstruction, or `None`
    /// if `x` must be stored as an exception.
    #[inline]
    fn quantize(&self, x: f64, limit: u64) -> Option<(i64, f64)> {
        if !x.is_finite() {
            return None;
        }
        let (qf, neg, tol) = match self.bound {
            ErrorBound::Abs(eps) => ((x / self.step).round(), false, eps),
            ErrorBound::Rel(eps) => {
                if x == 0.0 {
                    return None;
                }
                (
                    (x.abs().ln() / self.step).round() - self.offset as f64,
                    x < 0.0,
                    eps * x.abs(),
                )
            }
        };
        if qf.abs() >= limit as f64 || qf.is_nan() {
            return None;
        }
        let q = qf as i64;
        for cand in [q, q - 1, q + 1] {
            if cand.unsigned_abs() >= limit {
                continue;
            }
            let y = self.dtype.bits_to_f64(self.reconstruct(cand, neg));
            let err = (y - x).abs();
            if err <= tol {
                return Some((cand, err));
            }
        }
        None
    }

    /// The bound that holds when only the top `planes` digit planes are decoded.
    ///
    /// Absolute mode: `eps + (p^j - 1) * step` plus twice the dtype's rounding at the largest
    /// magnitude, with `j = N - planes`; exactly `eps` when `planes == N`. Relative mode: the
    /// relative bound `exp(g) - 1 + 2 u exp(g)` with `g = step/2 + (p^j - 1) step + u` and `u`
    /// the dtype's relative rounding `2^-mantissa bits`, `eps` at
    /// `planes == N`. Elements stored as exceptions are exact. Infinite when a reconstruction
    /// from the top planes may exceed the dtype's largest finite value (it then decodes to
    /// infinity: an F16 above 65504, say), since no finite bound holds for such an element.
    pub fn bound_for_planes(&self, planes: u32) -> f64 {
        let j = self.precision - planes.min(self.precision);
        let (eps, rel) = match self.bound {
            ErrorBound::Abs(e) => (e, false),
            ErrorBound::Rel(e) => (e, true),
        };
        if j == 0 {
            return eps;
        }
        let dq = (pow(self.prime, j).unwrap_or(u64::MAX) - 1) as f64;
        // The largest magnitude a reconstruction from the top planes may take.
        let (bound, top) = if rel {
            // u: relative rounding of the dtype (generous by 2x). The full decode is within
            // `step / 2 + u` of x in the log domain; unknown digits add `dq * step`; rounding
            // the reconstruction x' adds u relative to x', that is u e^grow relative to x
            // (fuzzing found the bound too small where x' is far from x: 146x, BF16).
            let u = 2f64.powi(-(self.dtype.float_layout().unwrap().man_bits as i32));
            let grow = self.step / 2.0 + dq * self.step + u;
            (
                grow.exp_m1() + 2.0 * u * grow.exp(),
                // A margin for det_exp's last bit against exp's.
                self.max_abs * grow.exp() * (1.0 + f64::EPSILON * 16.0),
            )
        } else {
            let top = self.max_abs + (dq + 1.0) * self.step + eps;
            let ulp = self.dtype.half_ulp(top);
            (eps + dq * self.step + 2.0 * ulp, top)
        };
        if top.is_finite() && top <= max_finite(self.dtype) {
            bound
        } else {
            f64::INFINITY
        }
    }

    /// Encode one chunk (`src`: whole elements, little-endian) into `out`, rANS streams using up
    /// to `max_lanes` lanes; returns the largest absolute error over the chunk (exceptions count
    /// as 0).
    pub fn encode_chunk(&self, src: &[u8], max_lanes: usize, out: &mut Vec<u8>) -> Result<f64> {
        let size = self.dtype.size();
        let n = src.len() / size;
        let limit = self.limit();
        let p = self.prime as u64;
        let mut mag = vec![0u64; n];
        let mut neg = vec![false; n];
        let mut exc: Vec<usize> = Vec::new();
        let mut max_err = 0f64;
        for i in 0..n {
            let x = self.dtype.load_f64(src, i);
            match self.quantize(x, limit) {
                Some((q, err)) => {
                    mag[i] = q.unsigned_abs();
                    neg[i] = q < 0;
                    max_err = max_err.max(err);
                }
                None => exc.push(i),
            }
        }
        put_varint(out, exc.len() as u64);
        let mut prev = 0usize;
        for (k, &i) in exc.iter().enumerate() {
            put_varint(out, (if k == 0 { i } else { i - prev - 1 }) as u64);
            out.extend_from_slice(&src[i * size..(i + 1) * size]);
            prev = i;
        }
        if matches!(self.bound, ErrorBound::Rel(_)) {
            let mut bits = vec![0u8; n.div_ceil(8)];
            for i in 0..n {
                if self.dtype.load_f64(src, i).is_sign_negative() {
                    bits[i / 8] |= 1 << (i % 8);
                }
            }
            out.extend_from_slice(&bits);
        }
        let lanes = lanes_for(n, max_lanes);
        let mut digits = vec![0u16; n];
        let mut hi = vec![0u64; n];
        let mut sec = Vec::new();
        for j in (0..self.precision).rev() {
            let pj = pow(self.prime, j).unwrap();
            for i in 0..n {
                let v = mag[i] / pj;
                digits[i] = (v % p) as u16;
                hi[i] = v / p;
            }
            sec.clear();
            self.encode_plane(&digits, &hi, &neg, lanes, &mut sec);
            put_section(out, &sec);
        }
        Ok(max_err)
    }

    fn contexts(&self, digits: &[u16], hi: &[u64], lanes: usize) -> Vec<u8> {
        let n = digits.len();
        let p = self.prime as u64;
        let at = |j: usize| hi[j] * p + digits[j] as u64;
        (0..n)
            .map(|i| {
                let prev = if i >= lanes { at(i - lanes) } else { 0 };
                let prev2 = if i >= 2 * lanes { at(i - 2 * lanes) } else { 0 };
                context(hi[i], prev, prev2)
            })
            .collect()
    }

    fn encode_plane(
        &self,
        digits: &[u16],
        hi: &[u64],
        neg: &[bool],
        lanes: usize,
        out: &mut Vec<u8>,
    ) {
        let n = digits.len();
        let p = self.prime as usize;
        let nnz = digits.iter().filter(|&&d| d != 0).count();
        if nnz == 0 {
            out.push(PLANE_ZERO);
            return;
        }
        // Candidate: raw digits.
        let raw_len = if p <= 256 { n } else { 2 * n };
        let mut best: (usize, u8) = (raw_len, PLANE_RAW);
        // Candidate: sparse CSR.
        let mut sparse = Vec::new();
        if nnz <= n / 4 {
            put_varint(&mut sparse, nnz as u64);
            let mut prev = 0usize;
            let mut first = true;
            let mut nz = Vec::with_capacity(nnz);
            for (i, &d) in digits.iter().enumerate() {
                if d != 0 {
                    put_varint(&mut sparse, (if first { i } else { i - prev - 1 }) as u64);
                    prev = i;
                    first = false;
                    nz.push(d - 1);
                }
            }
            encode_u16(&nz, p - 1, lanes, &mut sparse);
            if sparse.len() < best.0 {
                best = (sparse.len(), PLANE_SPARSE);
            }
        }
        // Candidate: context-modeled rANS over bucket symbols (three context sets).
        let ctx = self.contexts(digits, hi, lanes);
        let mut hist = vec![0u64; OWN * NB * BUCKETS];
        let mut extra_bits = 0u64;
        for i in 0..n {
            let (b, _, k) = bucket(digits[i]);
            hist[ctx[i] as usize * BUCKETS + b] += 1;
            extra_bits += k as u64;
        }
        let mut rans_choice = None;
        for kind in 0..3u8 {
            let nctx = [1, OWN, OWN * NB][kind as usize];
            let mut h = vec![0u64; nctx * BUCKETS];
            for c in 0..OWN * NB {
                let t = map_ctx(kind, c);
                for s in 0..BUCKETS {
                    h[t * BUCKETS + s] += hist[c * BUCKETS + s];
                }
            }
            let mut total = 2 + 10 * lanes + (extra_bits / 8) as usize;
            let mut tables = Vec::with_capacity(nctx);
            for t in 0..nctx {
                let counts = &h[t * BUCKETS..(t + 1) * BUCKETS];
                if counts.iter().all(|&c| c == 0) {
                    tables.push(None);
                    total += 1;
                    continue;
                }
                let (bytes, ft) = rans_estimate(counts, 12, 0).expect("32 buckets fit any table");
                total += bytes;
                tables.push(Some(ft));
            }
            if rans_choice.as_ref().is_none_or(|(b, _, _)| total < *b) {
                rans_choice = Some((total, kind, tables));
            }
        }
        if let Some((est, _, _)) = &rans_choice {
            if *est < best.0 {
                best = (*est, PLANE_RANS);
            }
        }
        out.push(best.1);
        match best.1 {
            PLANE_SPARSE => out.extend_from_slice(&sparse),
            PLANE_RAW => {
                for &d in digits {
                    if p <= 256 {
                        out.push(d as u8);
                    } else {
                        out.extend_from_slice(&d.to_le_bytes());
                    }
                }
            }
            _ => {
                let (_, kind, tables) = rans_choice.unwrap();
                out.push(kind);
                let enc: Vec<EncTable> = tables
                    .iter()
                    .map(|t| {
                        t.as_ref()
                            .map(EncTable::new)
                            .unwrap_or_else(|| EncTable::new(&dummy_table()))
                    })
                    .collect();
                for t in &tables {
                    match t {
                        Some(ft) => {
                            out.push(1);
                            ft.write(out);
                        }
                        None => out.push(0),
                    }
                }
                encode_lanes_with_bits(
                    out,
                    n,
                    lanes,
                    &enc,
                    |i| bucket(digits[i]).0,
                    |i| map_ctx(kind, ctx[i] as usize),
                    |i| {
                        let (_, v, k) = bucket(digits[i]);
                        (v, k)
                    },
                );
            }
        }
        // Signs of elements whose leading digit is in this plane, packed LSB first.
        let mut bits = Vec::with_capacity(nnz / 8 + 1);
        let mut k = 0usize;
        for i in 0..n {
            if hi[i] == 0 && digits[i] != 0 {
                if k % 8 == 0 {
                    bits.push(0u8);
                }
                if neg[i] {
                    *bits.last_mut().unwrap() |= 1 << (k % 8);
                }
                k += 1;
            }
        }
        out.extend_from_slice(&bits);
    }

    /// Decode one chunk into `out` (whole elements), reading only the top `planes` digit
    /// planes (`planes >= precision` reads all). Errors: `Truncated` / `Corrupt`.
    pub fn decode_chunk(&self, payload: &[u8], out: &mut [u8], planes: u32) -> Result<()> {
        let size = self.dtype.size();
        let n = out.len() / size;
        let p = self.prime as u64;
        let mut r = Reader::new(payload, "p-adic chunk");
        let n_exc = r.varint_max(n as u64)?;
        let mut exc = Vec::with_capacity(n_exc);
        let mut next = 0u64;
        for _ in 0..n_exc {
            let i = next + r.varint()?;
            if i >= n as u64 {
                return corrupt("exception index out of range");
            }
            exc.push((i as usize, r.bytes(size)?));
            next = i + 1;
        }
        let mut vneg = Vec::new();
        if matches!(self.bound, ErrorBound::Rel(_)) {
            vneg = r.bytes(n.div_ceil(8))?.to_vec();
        }
        let mut hi = vec![0u64; n];
        let mut neg = vec![false; n];
        let mut digits = vec![0u16; n];
        let read = planes.min(self.precision);
        for _ in 0..read {
            let sec = r.section()?;
            let mut sr = Reader::new(sec, "digit plane");
            self.decode_plane(&mut sr, &hi, &mut digits)?;
            // Signs for elements whose leading digit is in this plane.
            let mut k = 0usize;
            let count = (0..n).filter(|&i| hi[i] == 0 && digits[i] != 0).count();
            let bits = sr.bytes(count.div_ceil(8))?;
            for i in 0..n {
                if hi[i] == 0 && digits[i] != 0 {
                    neg[i] = bits[k / 8] >> (k % 8) & 1 == 1;
                    k += 1;
                }
                hi[i] = hi[i] * p + digits[i] as u64;
            }
            if sr.remaining() != 0 {
                return corrupt("trailing bytes in digit plane");
            }
        }
        let j = self.precision - read;
        let (scale, mid) = if j == 0 {
            (1u64, 0u64)
        } else {
            let pj = pow(self.prime, j).unwrap();
            (pj, (pj - 1) / 2)
        };
        for i in 0..n {
            let m = if hi[i] == 0 { 0 } else { hi[i] * scale + mid };
            let q = if neg[i] { -(m as i64) } else { m as i64 };
            let vn = !vneg.is_empty() && vneg[i / 8] >> (i % 8) & 1 == 1;
            let bits = self.reconstruct(q, vn);
            out[i * size..(i + 1) * size].copy_from_slice(&bits.to_le_bytes()[..size]);
        }
        for (i, b) in exc {
            out[i * size..(i + 1) * size].copy_from_slice(b);
        }
        if read == self.precision && r.remaining() != 0 {
            return corrupt("trailing bytes in p-adic chunk");
        }
        Ok(())
    }

    fn decode_plane(&self, r: &mut Reader, hi: &[u64], digits: &mut [u16]) -> Result<()> {
        let n = digits.len();
        let p = self.prime as usize;
        match r.u8()? {
            PLANE_ZERO => digits.fill(0),
            PLANE_SPARSE => {
                digits.fill(0);
                let nnz = r.varint_max(n as u64)?;
                let mut idx = Vec::with_capacity(nnz);
                let mut next = 0u64;
                for _ in 0..nnz {
                    let i = next + r.varint()?;
                    if i >= n as u64 {
                        return corrupt("sparse digit index out of range");
                    }
                    idx.push(i as usize);
                    next = i + 1;
                }
                let mut nz = vec![0u16; nnz];
                decode_u16(r, p - 1, &mut nz)?;
                for (i, d) in idx.into_iter().zip(nz) {
                    digits[i] = d + 1;
                }
            }
            PLANE_RAW => {
                if p <= 256 {
                    for (d, &b) in digits.iter_mut().zip(r.bytes(n)?) {
                        *d = b as u16;
                    }
                } else {
                    for (d, c) in digits.iter_mut().zip(r.bytes(2 * n)?.chunks_exact(2)) {
                        *d = u16::from_le_bytes([c[0], c[1]]);
                    }
                }
                if digits.iter().any(|&d| d as usize >= p) {
                    return corrupt("raw digit >= prime");
                }
            }
            PLANE_RANS => {
                let kind = r.u8()?;
                let nctx = match kind {
                    0 => 1,
                    1 => OWN,
                    2 => OWN * NB,
                    _ => return corrupt("digit-plane context kind"),
                };
                let empty = DecTable::new(&dummy_table());
                let mut tables = Vec::with_capacity(nctx);
                let mut present = Vec::with_capacity(nctx);
                for _ in 0..nctx {
                    match r.u8()? {
                        0 => {
                            tables.push(empty.clone());
                            present.push(false);
                        }
                        1 => {
                            tables.push(DecTable::new(&FreqTable::read(r, BUCKETS)?));
                            present.push(true);
                        }
                        _ => return corrupt("digit-plane table flag"),
                    }
                }
                let mut d = LaneDecoder::new(r, n)?;
                let lanes = d.lanes();
                let pp = p as u64;
                let mut bad = false;
                let mut l = 0;
                // Symbol i is in lane i % lanes; its neighbours i - lanes and i - 2 lanes are
                // earlier symbols of the same lane, already decoded.
                for i in 0..n {
                    let prev = if i >= lanes {
                        hi[i - lanes] * pp + digits[i - lanes] as u64
                    } else {
                        0
                    };
                    let prev2 = if i >= 2 * lanes {
                        hi[i - 2 * lanes] * pp + digits[i - 2 * lanes] as u64
                    } else {
                        0
                    };
                    let c = map_ctx(kind, context(hi[i], prev, prev2) as usize);
                    bad |= !present[c];
                    let sym = d.get(l, &tables[c]);
                    let (k, high) = unbucket(sym);
                    let v = high | d.get_bits(l, k);
                    bad |= v as usize >= p;
                    digits[i] = v as u16;
                    l += 1;
                    if l == lanes {
                        l = 0;
                    }
                }
                if bad {
                    return corrupt("digit plane decodes to an invalid digit or context");
                }
                d.finish()?;
            }
            m => return corrupt(format!("digit-plane mode {m}")),
        }
        Ok(())
    }
}

/// The largest finite value of a float dtype.
fn max_finite(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => half::f16::MAX.to_f64(),
        DType::BF16 => half::bf16::MAX.to_f64(),
        DType::F32 => f32::MAX as f64,
        _ => f64::MAX,
    }
}

/// `e^x` by fdlibm's `__ieee754_exp` (Sun Microsystems, 1993; argument reduction
/// `x = k ln2 + r` with `ln2` split in two parts, then a degree-5 minimax rational
/// approximation of `e^r` on `|r| <= ln2/2`; error below 1 ulp), evaluated with plain IEEE
/// double additions, multiplications and one division, never fused multiply-add.
///
/// The p-adic codec's relative mode reconstructs every element through this function rather than
/// the platform's `exp` (glibc, musl, macOS and CUDA's `exp` differ in the last bit now and then):
/// the same operations in the same order give the same bits on every machine, and
/// `kernels/padic.cu` (`det_exp`, written with `__dmul_rn`/`__dadd_rn`, which nvcc does not
/// contract) gives them on the GPU. The encoder checks each element's bound with it.
pub fn det_exp(x: f64) -> f64 {
    // fdlibm's constants, by their bits.
    const O_THRESHOLD: f64 = f64::from_bits(0x4086_2E42_FEFA_39EF);
    const U_THRESHOLD: f64 = f64::from_bits(0xC087_4910_D52D_3051);
    const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
    const INV_LN2: f64 = f64::from_bits(0x3FF7_1547_652B_82FE);
    const P1: f64 = f64::from_bits(0x3FC5_5555_5555_553E);
    const P2: f64 = f64::from_bits(0xBF66_C16C_16BE_BD93);
    const P3: f64 = f64::from_bits(0x3F11_566A_AF25_DE2C);
    const P4: f64 = f64::from_bits(0xBEBB_BD41_C5D2_6BF1);
    const P5: f64 = f64::from_bits(0x3E66_3769_72BE_A4D0);
    const TWO_M1000: f64 = f64::from_bits(0x0170_0000_0000_0000); // 2^-1000
    let bits = x.to_bits();
    let hx = ((bits >> 32) as u32) & 0x7fff_ffff;
    let neg = bits >> 63 == 1;
    if hx >= 0x4086_2E42 {
        if hx >= 0x7ff0_0000 {
            if x.is_nan() {
                return x + x;
            }
            return if neg { 0.0 } else { x };
        }
        if x > O_THRESHOLD {
            return f64::INFINITY;
        }
        if x < U_THRESHOLD {
            return 0.0;
        }
    }
    let (mut r, hi, lo, k): (f64, f64, f64, i32);
    if hx > 0x3fd6_2e42 {
        if hx < 0x3FF0_A2B2 {
            // |x| < 1.5 ln2: k = +-1
            if neg {
                hi = x + LN2_HI;
                lo = -LN2_LO;
                k = -1;
            } else {
                hi = x - LN2_HI;
                lo = LN2_LO;
                k = 1;
            }
        } else {
            k = (INV_LN2 * x + if neg { -0.5 } else { 0.5 }) as i32;
            let t = k as f64;
            hi = x - t * LN2_HI; // exact: LN2_HI has 32 trailing zero bits
            lo = t * LN2_LO;
        }
        r = hi - lo;
    } else if hx < 0x3e30_0000 {
        return 1.0 + x; // |x| < 2^-28
    } else {
        r = x;
        hi = 0.0;
        lo = 0.0;
        k = 0;
    }
    let t = r * r;
    let c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
    if k == 0 {
        return 1.0 - ((r * c) / (c - 2.0) - r);
    }
    r = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    if k >= -1021 {
        f64::from_bits(r.to_bits().wrapping_add((k as i64 as u64) << 52))
    } else {
        f64::from_bits(r.to_bits().wrapping_add(((k + 1000) as i64 as u64) << 52)) * TWO_M1000
    }
}

/// Context of an element: own higher digits (0, 1, >=2) x bit length of the mean of the values
/// at this plane of the two previous elements of its lane (`i - lanes`, `i - 2 lanes`), capped
/// at `NB - 1`.
#[inline(always)]
fn context(hi: u64, prev: u64, prev2: u64) -> u8 {
    let own = hi.min(2) as usize;
    let avg = (prev >> 1) + (prev2 >> 1) + (prev & prev2 & 1);
    let nb = ((64 - avg.leading_zeros()) as usize).min(NB - 1);
    (own * NB + nb) as u8
}

/// Table index of context `c` under context set `kind` (0: one table, 1: own digits only,
/// 2: full).
#[inline(always)]
fn map_ctx(kind: u8, c: usize) -> usize {
    match kind {
        0 => 0,
        1 => c / NB,
        _ => c,
    }
}

fn dummy_table() -> FreqTable {
    FreqTable::from_counts(&[1], 0).expect("one-symbol table")
}

#[cfg(test)]
mod tests {
    use super::det_exp;

    /// `det_exp` is within 1 ulp of the platform's `exp` over the codec's range (and exact at
    /// the special values); the GPU's copy is checked against it bit for bit in `tests/gpu.rs`.
    #[test]
    fn det_exp_is_within_one_ulp() {
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let mut worst = 0i64;
        for i in 0..2_000_000u64 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let x = match i % 4 {
                0 => (s >> 11) as f64 / (1u64 << 53) as f64 * 1460.0 - 745.0,
                1 => (s >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0,
                2 => ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 1e-6,
                _ => f64::from_bits(s) % 700.0,
            };
            if !x.is_finite() {
                continue;
            }
            let (a, b) = (det_exp(x), x.exp());
            if a == b {
                continue;
            }
            if b == 0.0 || b.is_infinite() || b < f64::MIN_POSITIVE {
                assert!((a - b).abs() <= f64::MIN_POSITIVE, "{x}: {a} vs {b}");
                continue;
            }
            let d = (a.to_bits() as i64 - b.to_bits() as i64).abs();
            worst = worst.max(d);
            assert!(d <= 1, "exp({x}): {a} vs {b}");
        }
        assert!(worst <= 1);
        assert_eq!(det_exp(0.0), 1.0);
        assert_eq!(det_exp(f64::INFINITY), f64::INFINITY);
        assert_eq!(det_exp(f64::NEG_INFINITY), 0.0);
        assert!(det_exp(f64::NAN).is_nan());
        assert_eq!(det_exp(1000.0), f64::INFINITY);
        assert_eq!(det_exp(-1000.0), 0.0);
        assert!((det_exp(1.0) - std::f64::consts::E).abs() <= 4.5e-16);
    }
}
