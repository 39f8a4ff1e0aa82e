//! Tropical algebra on CPU cores: the max-plus and min-plus semirings ([`Semiring`]) over
//! `f32`, `f64` and `i32`: elementwise `⊕` / `⊗`, matrix multiplication (blocked, packed,
//! vectorised with AVX2 when the CPU has it, multi-threaded on rayon's pool) with an optional
//! argbest output (the path, as Viterbi needs), batched polynomial evaluation, 1-D and 2-D
//! max-plus (min-plus) convolution (morphological dilation / erosion) and the Kleene closure
//! (all-pairs longest / shortest paths by repeated squaring).
//!
//! References: D. Maclagan, B. Sturmfels, *Introduction to Tropical Geometry*, AMS 2015, §1.1
//! (semirings, tropical polynomials); P. Butkovič, *Max-linear Systems*, Springer 2010, §1.6
//! (closure A* and its existence); K. Goto, R. van de Geijn, "Anatomy of high-performance matrix
//! multiplication", ACM TOMS 34(3), 2008 (packing and register blocking, used unchanged with
//! `(+, max)` in place of `(×, +)`); J. Serra, *Image Analysis and Mathematical Morphology*, 1982
//! (dilation as max-plus convolution).
//!
//! # Semantics (the GPU kernels `kernels/tropical.cu` follow the same rules, bit for bit)
//! - **Zero** (identity of `⊕`, absorbing for `⊗`): `-inf` (max-plus) / `+inf` (min-plus) for
//!   floats; `i32::MIN` (max-plus) / `i32::MAX` (min-plus) for `i32`. **One**: `0`.
//! - **Floats**: `a ⊗ b = a + b` with one IEEE rounding. A NaN (a NaN input, or `-inf + inf`)
//!   counts as the zero: `⊗` returns the zero and `⊕` skips it. `⊕` of equal values keeps the
//!   first (so a zero result may be `+0` or `-0` as the inputs had it).
//! - **`i32`**: finite entries must lie in `[-2^28, 2^28]` ([`I32_FINITE_MAX`]); any other
//!   value except the zero is refused with `InvalidArgument`. Then `⊗` never overflows (results
//!   lie in `[-2^29, 2^29]`; such results are valid outputs but not valid inputs again where
//!   they pass `2^28`: [`closure`] checks between squarings).
//! - **argbest**: for each `C[i][j]`, the smallest `k` whose term attains it; `u32::MAX` when
//!   `C[i][j]` is the zero (no path).
//!
//! Matrices are row-major and dense: `A` is `m × k`, `B` is `k × n`, `C` is `m × n`, in elements.
//! Thread safety: every function is pure and may run on many threads at once.

use rayon::prelude::*;

use super::Semiring;
use crate::error::{invalid, Result};
use crate::DType;

/// Largest magnitude of a finite `i32` input (`2^28`): sums of two never overflow, and results
/// of a product stay within `[-2^29, 2^29]`.
pub const I32_FINITE_MAX: i32 = 1 << 28;
/// The `i32` zero inside the matmul loops (max-plus): `-2^30`, far enough below every finite sum
/// that `zero ⊗ x` stays below `-2^29` and is mapped back to `i32::MIN` on output.
const I32_SENTINEL_MAX_PLUS: i32 = -(1 << 30);
/// The `i32` zero inside the loops (min-plus): `2^30 - 1` (twice it still fits an `i32`).
const I32_SENTINEL_MIN_PLUS: i32 = (1 << 30) - 1;
/// Results beyond `±2^29` in the loops are the zero.
const I32_ZERO_THRESHOLD: i32 = 1 << 29;

/// Elementwise operation of [`elementwise`] (C ABI: 0 / 1).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementOp {
    /// `a ⊕ b` (max or min).
    Add = 0,
    /// `a ⊗ b` (`a + b`, the zero absorbing).
    Mul = 1,
}

impl ElementOp {
    /// From the C ABI value; `None` when out of range.
    pub fn from_u32(v: u32) -> Option<ElementOp> {
        match v {
            0 => Some(ElementOp::Add),
            1 => Some(ElementOp::Mul),
            _ => None,
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for i32 {}
}

/// An element type of the tropical semirings: `f32`, `f64` or `i32` (sealed).
pub trait Element:
    sealed::Sealed + Copy + Send + Sync + PartialOrd + PartialEq + std::fmt::Debug + 'static
{
    /// The library's dtype of this type.
    const DTYPE: DType;
    /// The semiring's zero (`⊕` identity): `-inf`/`+inf`, or `i32::MIN`/`i32::MAX`.
    fn zero(s: Semiring) -> Self;
    /// The `⊗` identity, `0`.
    fn one() -> Self;
    /// Whether `x` is a valid input of semiring `s` (always for floats; `i32`: the zero or a
    /// finite value in `[-2^28, 2^28]`).
    fn valid(s: Semiring, x: Self) -> bool;
    /// `a ⊗ b` with the rules of the module documentation.
    fn otimes(s: Semiring, a: Self, b: Self) -> Self;
    /// `a ⊕ b` with the rules of the module documentation (NaN skipped, ties keep `a`).
    fn oplus(s: Semiring, a: Self, b: Self) -> Self;
    /// `i ⊙ x` = `x ⊗ x ⊗ ... ⊗ x` (`i` times; the one for `i = 0`), `None` on `i32` overflow.
    fn tpow(s: Semiring, x: Self, i: usize) -> Option<Self>;

    /// The value the matmul loops work with (`i32`: the zero becomes a sentinel).
    #[doc(hidden)]
    fn to_work(s: Semiring, x: Self) -> Self;
    /// The inverse of [`Element::to_work`] on results (`i32`: beyond `±2^29` is the zero).
    #[doc(hidden)]
    fn from_work(s: Semiring, x: Self) -> Self;
    /// `a + b` in the loops' representation (plain addition, no checks).
    #[doc(hidden)]
    fn add_work(a: Self, b: Self) -> Self;
    /// `i · x` (floats: `i` converted, one rounding; the vectorised polynomial rows).
    #[doc(hidden)]
    fn scale_work(i: usize, x: Self) -> Self;
    /// Matrix product for this type (register tile chosen per type).
    #[doc(hidden)]
    fn matmul_dispatch(
        s: Semiring,
        a: &[Self],
        b: &[Self],
        c: &mut [Self],
        arg: Option<&mut [u32]>,
        dims: (usize, usize, usize),
    );
}

macro_rules! float_element {
    ($t:ty, $dtype:expr, $nr:expr) => {
        impl Element for $t {
            const DTYPE: DType = $dtype;
            #[inline(always)]
            fn zero(s: Semiring) -> Self {
                match s {
                    Semiring::MaxPlus => <$t>::NEG_INFINITY,
                    Semiring::MinPlus => <$t>::INFINITY,
                }
            }
            #[inline(always)]
            fn one() -> Self {
                0.0
            }
            #[inline(always)]
            fn valid(_: Semiring, _: Self) -> bool {
                true
            }
            #[inline(always)]
            fn otimes(s: Semiring, a: Self, b: Self) -> Self {
                let r = a + b;
                if r.is_nan() {
                    Self::zero(s)
                } else {
                    r
                }
            }
            #[inline(always)]
            fn oplus(s: Semiring, a: Self, b: Self) -> Self {
                let z = Self::zero(s);
                let a = if a.is_nan() { z } else { a };
                let b = if b.is_nan() { z } else { b };
                let better = match s {
                    Semiring::MaxPlus => b > a,
                    Semiring::MinPlus => b < a,
                };
                if better {
                    b
                } else {
                    a
                }
            }
            fn tpow(s: Semiring, x: Self, i: usize) -> Option<Self> {
                if i == 0 {
                    return Some(0.0);
                }
                let r = i as $t * x;
                Some(if r.is_nan() { Self::zero(s) } else { r })
            }
            #[inline(always)]
            fn to_work(_: Semiring, x: Self) -> Self {
                x
            }
            #[inline(always)]
            fn from_work(_: Semiring, x: Self) -> Self {
                x
            }
            #[inline(always)]
            fn add_work(a: Self, b: Self) -> Self {
                a + b
            }
            #[inline(always)]
            fn scale_work(i: usize, x: Self) -> Self {
                i as $t * x
            }
            fn matmul_dispatch(
                s: Semiring,
                a: &[Self],
                b: &[Self],
                c: &mut [Self],
                arg: Option<&mut [u32]>,
                dims: (usize, usize, usize),
            ) {
                dispatch::<$t, 6, $nr>(s, a, b, c, arg, dims)
            }
        }
    };
}

float_element!(f32, DType::F32, 16);
float_element!(f64, DType::F64, 8);

impl Element for i32 {
    const DTYPE: DType = DType::I32;
    #[inline(always)]
    fn zero(s: Semiring) -> Self {
        match s {
            Semiring::MaxPlus => i32::MIN,
            Semiring::MinPlus => i32::MAX,
        }
    }
    #[inline(always)]
    fn one() -> Self {
        0
    }
    #[inline(always)]
    fn valid(s: Semiring, x: Self) -> bool {
        x == Self::zero(s) || (-I32_FINITE_MAX..=I32_FINITE_MAX).contains(&x)
    }
    #[inline(always)]
    fn otimes(s: Semiring, a: Self, b: Self) -> Self {
        let z = Self::zero(s);
        if a == z || b == z {
            z
        } else {
            a.wrapping_add(b)
        }
    }
    #[inline(always)]
    fn oplus(s: Semiring, a: Self, b: Self) -> Self {
        match s {
            Semiring::MaxPlus => a.max(b),
            Semiring::MinPlus => a.min(b),
        }
    }
    fn tpow(s: Semiring, x: Self, i: usize) -> Option<Self> {
        if i == 0 {
            return Some(0);
        }
        if x == Self::zero(s) {
            return Some(x);
        }
        let r = (x as i64).checked_mul(i as i64)?;
        i32::try_from(r).ok().filter(|&r| Self::valid(s, r))
    }
    #[inline(always)]
    fn to_work(s: Semiring, x: Self) -> Self {
        if x != Self::zero(s) {
            x
        } else if s == Semiring::MaxPlus {
            I32_SENTINEL_MAX_PLUS
        } else {
            I32_SENTINEL_MIN_PLUS
        }
    }
    #[inline(always)]
    fn from_work(s: Semiring, x: Self) -> Self {
        match s {
            Semiring::MaxPlus if x < -I32_ZERO_THRESHOLD => i32::MIN,
            Semiring::MinPlus if x > I32_ZERO_THRESHOLD => i32::MAX,
            _ => x,
        }
    }
    #[inline(always)]
    fn add_work(a: Self, b: Self) -> Self {
        a.wrapping_add(b)
    }
    #[inline(always)]
    fn scale_work(i: usize, x: Self) -> Self {
        (i as i32).wrapping_mul(x)
    }
    fn matmul_dispatch(
        s: Semiring,
        a: &[Self],
        b: &[Self],
        c: &mut [Self],
        arg: Option<&mut [u32]>,
        dims: (usize, usize, usize),
    ) {
        dispatch::<i32, 6, 16>(s, a, b, c, arg, dims)
    }
}

/// Check every element of `x` (named `what` in the error) is a valid input of `s`.
fn check_inputs<T: Element>(s: Semiring, x: &[T], what: &str) -> Result<()> {
    if T::DTYPE != DType::I32 {
        return Ok(());
    }
    match x.iter().position(|&v| !T::valid(s, v)) {
        None => Ok(()),
        Some(i) => invalid(format!(
            "{what}[{i}] = {:?}: i32 entries of the {} semiring must be its zero or lie in [-2^28, 2^28]",
            x[i],
            s.name()
        )),
    }
}

fn check_len(what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return invalid(format!("{what}: {got} elements, expected {want}"));
    }
    Ok(())
}

fn product(dims: &[usize], what: &str) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .map_or_else(|| invalid(format!("{what}: size overflows")), Ok)
}

/// Elements per parallel task of the elementwise operations.
const PAR_CHUNK: usize = 1 << 16;

/// `out[i] = a[i] ⊕ b[i]` (`op` = [`ElementOp::Add`]) or `a[i] ⊗ b[i]` ([`ElementOp::Mul`]).
/// All three slices have the same length (elements). Errors: `InvalidArgument` on a length
/// mismatch or an invalid `i32` input. Multi-threaded for long inputs.
pub fn elementwise<T: Element>(
    s: Semiring,
    op: ElementOp,
    a: &[T],
    b: &[T],
    out: &mut [T],
) -> Result<()> {
    check_len("b", b.len(), a.len())?;
    check_len("out", out.len(), a.len())?;
    check_inputs(s, a, "a")?;
    check_inputs(s, b, "b")?;
    out.par_chunks_mut(PAR_CHUNK)
        .enumerate()
        .for_each(|(ci, o)| {
            let base = ci * PAR_CHUNK;
            let (a, b) = (&a[base..base + o.len()], &b[base..base + o.len()]);
            match op {
                ElementOp::Add => o
                    .iter_mut()
                    .zip(a.iter().zip(b))
                    .for_each(|(o, (&x, &y))| *o = T::oplus(s, x, y)),
                ElementOp::Mul => o
                    .iter_mut()
                    .zip(a.iter().zip(b))
                    .for_each(|(o, (&x, &y))| *o = T::otimes(s, x, y)),
            }
        });
    Ok(())
}

/// Tropical matrix product `C = A ⊗ B`: `C[i][j] = ⊕_l A[i][l] ⊗ B[l][j]`, row-major, `A` of
/// `m × k`, `B` of `k × n`, `C` of `m × n` elements (`k = 0` gives the zero everywhere).
/// `argbest` (optional, `m × n`): the smallest `l` attaining each entry, `u32::MAX` where the
/// entry is the zero. Blocked and packed as Goto & van de Geijn (2008): `B` packed once into
/// panels of 16 (`f64`: 8) columns, `A` in blocks of 96 rows × 256 columns (one rayon task per
/// row block), a 6 × 16 register tile whose inner step is one add and one max per element (AVX2
/// `vaddps`/`vmaxps` when the CPU has it, chosen at run time; the same code without it).
/// Errors: `InvalidArgument` (lengths, invalid `i32` inputs, `k >= 2^32 - 1` with argbest).
/// Time `O(m n k)`; extra memory `k × n` rounded up to the panel width, plus 96 × 256 per task.
#[allow(clippy::too_many_arguments)]
pub fn matmul<T: Element>(
    s: Semiring,
    a: &[T],
    b: &[T],
    c: &mut [T],
    m: usize,
    k: usize,
    n: usize,
    argbest: Option<&mut [u32]>,
) -> Result<()> {
    check_len("a", a.len(), product(&[m, k], "a")?)?;
    check_len("b", b.len(), product(&[k, n], "b")?)?;
    check_len("c", c.len(), product(&[m, n], "c")?)?;
    if let Some(arg) = &argbest {
        check_len("argbest", arg.len(), m * n)?;
        if k >= u32::MAX as usize {
            return invalid("argbest: k must be below 2^32 - 1");
        }
    }
    check_inputs(s, a, "a")?;
    check_inputs(s, b, "b")?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        c.fill(T::zero(s));
        if let Some(arg) = argbest {
            arg.fill(u32::MAX);
        }
        return Ok(());
    }
    T::matmul_dispatch(s, a, b, c, argbest, (m, k, n));
    Ok(())
}

/// Rows of `A` per rayon task (a multiple of the register tile's 6 rows).
const MC: usize = 96;
/// Columns of `A` (rows of `B`) per cache block.
const KC: usize = 256;

fn dispatch<T: Element, const MR: usize, const NR: usize>(
    s: Semiring,
    a: &[T],
    b: &[T],
    c: &mut [T],
    arg: Option<&mut [u32]>,
    dims: (usize, usize, usize),
) {
    match (s, arg) {
        (Semiring::MaxPlus, None) => blocked::<T, true, false, MR, NR>(s, a, b, c, &mut [], dims),
        (Semiring::MinPlus, None) => blocked::<T, false, false, MR, NR>(s, a, b, c, &mut [], dims),
        // With argbest the tile also keeps indices: half the rows keep it in registers.
        (Semiring::MaxPlus, Some(g)) => blocked::<T, true, true, 3, NR>(s, a, b, c, g, dims),
        (Semiring::MinPlus, Some(g)) => blocked::<T, false, true, 3, NR>(s, a, b, c, g, dims),
    }
}

/// Whether the vectorised row-block routine can run (AVX2, checked once per call).
fn have_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`row_block`] compiled for AVX2 (the generic loops vectorise to `vaddps`/`vmaxps`,
/// `vpaddd`/`vpmaxsd`).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn row_block_avx2<
    T: Element,
    const MAX: bool,
    const ARG: bool,
    const MR: usize,
    const NR: usize,
>(
    s: Semiring,
    a: &[T],
    bp: &[T],
    job: Job<'_, T>,
    dims: (usize, usize, usize),
) {
    row_block::<T, MAX, ARG, MR, NR>(s, a, bp, job, dims)
}

/// The register tile: `acc[r][j] ⊕= ap[l][r] ⊗ bp[l][j]` for `l < kc`, with the argbest
/// update when `ARG`. `ap`: `kc × MR` (k-major), `bp`: `kc × NR`.
#[inline(always)]
fn tile<T: Element, const MAX: bool, const ARG: bool, const MR: usize, const NR: usize>(
    ap: &[T],
    bp: &[T],
    k0: u32,
    acc: &mut [[T; NR]; MR],
    idx: &mut [[u32; NR]; MR],
) {
    for (l, (ar, br)) in ap.chunks_exact(MR).zip(bp.chunks_exact(NR)).enumerate() {
        let br: &[T; NR] = br.try_into().unwrap();
        let kk = k0 + l as u32;
        for r in 0..MR {
            let x = ar[r];
            for j in 0..NR {
                let v = T::add_work(x, br[j]);
                let better = if MAX { v > acc[r][j] } else { v < acc[r][j] };
                if ARG {
                    // A mask rather than a select: LLVM vectorises this form for f32 too.
                    let m = (better as u32).wrapping_neg();
                    idx[r][j] = (kk & m) | (idx[r][j] & !m);
                }
                acc[r][j] = if better { v } else { acc[r][j] };
            }
        }
    }
}

fn blocked<T: Element, const MAX: bool, const ARG: bool, const MR: usize, const NR: usize>(
    s: Semiring,
    a: &[T],
    b: &[T],
    c: &mut [T],
    arg: &mut [u32],
    (m, k, n): (usize, usize, usize),
) {
    let zero = T::to_work(s, T::zero(s));
    // B packed once: panel p holds columns [p NR, p NR + NR) as k rows of NR (zero padded).
    let panels = n.div_ceil(NR);
    let mut bp = vec![zero; panels * k * NR];
    bp.par_chunks_mut(k * NR).enumerate().for_each(|(p, dst)| {
        let j0 = p * NR;
        let w = NR.min(n - j0);
        for (l, row) in dst.chunks_exact_mut(NR).enumerate() {
            let src = &b[l * n + j0..l * n + j0 + w];
            for (d, &v) in row.iter_mut().zip(src) {
                *d = T::to_work(s, v);
            }
        }
    });
    let arg_chunks: Vec<&mut [u32]> = if ARG {
        arg.chunks_mut(MC * n).collect()
    } else {
        Vec::new()
    };
    let mut arg_iter = arg_chunks.into_iter();
    let jobs: Vec<Job<'_, T>> = c
        .chunks_mut(MC * n)
        .enumerate()
        .map(|(i, cb)| (i, cb, arg_iter.next()))
        .collect();
    let avx2 = have_avx2();
    let bp = &bp[..];
    jobs.into_par_iter().for_each(|job| {
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: the CPU has AVX2 (have_avx2).
            unsafe { row_block_avx2::<T, MAX, ARG, MR, NR>(s, a, bp, job, (m, k, n)) };
            return;
        }
        let _ = avx2;
        row_block::<T, MAX, ARG, MR, NR>(s, a, bp, job, (m, k, n))
    });
}

/// A row block of the product: its index, its rows of `C`, and of argbest when asked for.
type Job<'a, T> = (usize, &'a mut [T], Option<&'a mut [u32]>);

/// One rayon task: rows `[blk MC, blk MC + rows)` of `C` (`cb`, and `gb` for argbest) against
/// all of the packed `B` (`bp`), in blocks of [`KC`] along `k`.
#[inline(always)]
fn row_block<T: Element, const MAX: bool, const ARG: bool, const MR: usize, const NR: usize>(
    s: Semiring,
    a: &[T],
    bp: &[T],
    (blk, cb, mut gb): Job<'_, T>,
    (_m, k, n): (usize, usize, usize),
) {
    let zero = T::to_work(s, T::zero(s));
    let panels = n.div_ceil(NR);
    let i0 = blk * MC;
    let rows = cb.len() / n;
    let strips = rows.div_ceil(MR);
    let mut ap = vec![zero; strips * KC * MR];
    let mut k0 = 0;
    while k0 < k {
        let kc = KC.min(k - k0);
        // A block packed: strip q holds rows [q MR, q MR + MR) as kc columns of MR.
        for q in 0..strips {
            let dst = &mut ap[q * KC * MR..q * KC * MR + kc * MR];
            for r in 0..MR {
                let i = q * MR + r;
                if i < rows {
                    let src = &a[(i0 + i) * k + k0..(i0 + i) * k + k0 + kc];
                    for (l, &v) in src.iter().enumerate() {
                        dst[l * MR + r] = T::to_work(s, v);
                    }
                } else {
                    for l in 0..kc {
                        dst[l * MR + r] = zero;
                    }
                }
            }
        }
        for p in 0..panels {
            let j0 = p * NR;
            let w = NR.min(n - j0);
            let bpp = &bp[p * k * NR + k0 * NR..p * k * NR + (k0 + kc) * NR];
            for q in 0..strips {
                let h = MR.min(rows - q * MR);
                let mut acc = [[zero; NR]; MR];
                let mut idx = [[u32::MAX; NR]; MR];
                if k0 > 0 {
                    for r in 0..h {
                        let at = (q * MR + r) * n + j0;
                        acc[r][..w].copy_from_slice(&cb[at..at + w]);
                        if let Some(g) = gb.as_deref() {
                            idx[r][..w].copy_from_slice(&g[at..at + w]);
                        }
                    }
                }
                tile::<T, MAX, ARG, MR, NR>(
                    &ap[q * KC * MR..q * KC * MR + kc * MR],
                    bpp,
                    k0 as u32,
                    &mut acc,
                    &mut idx,
                );
                for r in 0..h {
                    let at = (q * MR + r) * n + j0;
                    cb[at..at + w].copy_from_slice(&acc[r][..w]);
                    if let Some(g) = gb.as_deref_mut() {
                        g[at..at + w].copy_from_slice(&idx[r][..w]);
                    }
                }
            }
        }
        k0 += kc;
    }
    // Back from the loops' representation; argbest is "none" where the entry is the zero.
    let z = T::zero(s);
    for (e, v) in cb.iter_mut().enumerate() {
        *v = T::from_work(s, *v);
        if let Some(g) = gb.as_deref_mut() {
            if *v == z {
                g[e] = u32::MAX;
            }
        }
    }
}

/// Batched tropical polynomial evaluation: `out[q][x] = ⊕_i coeffs[q][i] ⊗ xs[x]^{⊗i}` =
/// `max_i (coeffs[q][i] + i·xs[x])` (max-plus; `min` for min-plus), a maximum of affine forms.
/// `coeffs`: `polys × terms` (term `i` is the coefficient of `x^i`), `xs`: points, `out`:
/// `polys × xs.len()`. Floats compute `i·x` then `+ c` (two roundings); `i32` computes exactly
/// and refuses terms beyond `[-2^28, 2^28]`. Errors: `InvalidArgument` (lengths, invalid or
/// overflowing `i32`). Multi-threaded over polynomials.
pub fn poly_eval<T: Element>(
    s: Semiring,
    coeffs: &[T],
    terms: usize,
    xs: &[T],
    out: &mut [T],
) -> Result<()> {
    if terms == 0 {
        return invalid("poly_eval: terms must be at least 1");
    }
    if coeffs.len() % terms != 0 {
        return invalid(format!(
            "poly_eval: {} coefficients are not a multiple of {terms} terms",
            coeffs.len()
        ));
    }
    let polys = coeffs.len() / terms;
    check_len("out", out.len(), product(&[polys, xs.len()], "out")?)?;
    check_inputs(s, coeffs, "coeffs")?;
    check_inputs(s, xs, "xs")?;
    if xs.is_empty() {
        return Ok(());
    }
    if T::DTYPE != DType::I32 {
        // Floats: one contiguous, vectorised pass over the points per term (the same two
        // roundings, `i·x` then `+ c`, and the same NaN and tie rules as the scalar terms).
        let avx2 = have_avx2();
        let max = s == Semiring::MaxPlus;
        out.par_chunks_mut(xs.len())
            .zip(coeffs.par_chunks(terms))
            .for_each(|(o, c)| {
                #[cfg(target_arch = "x86_64")]
                if avx2 {
                    // SAFETY: the CPU has AVX2 (have_avx2).
                    unsafe {
                        if max {
                            poly_row_avx2::<T, true>(s, c, xs, o)
                        } else {
                            poly_row_avx2::<T, false>(s, c, xs, o)
                        }
                    };
                    return;
                }
                let _ = avx2;
                if max {
                    poly_row::<T, true>(s, c, xs, o)
                } else {
                    poly_row::<T, false>(s, c, xs, o)
                }
            });
        return Ok(());
    }
    let failed = std::sync::atomic::AtomicBool::new(false);
    out.par_chunks_mut(xs.len())
        .zip(coeffs.par_chunks(terms))
        .for_each(|(o, c)| {
            for (o, &x) in o.iter_mut().zip(xs) {
                let mut acc = T::zero(s);
                for (i, &ci) in c.iter().enumerate() {
                    match T::tpow(s, x, i) {
                        Some(p) => {
                            let t = T::otimes(s, ci, p);
                            if !T::valid(s, t) {
                                failed.store(true, std::sync::atomic::Ordering::Relaxed);
                            }
                            acc = T::oplus(s, acc, t);
                        }
                        None => failed.store(true, std::sync::atomic::Ordering::Relaxed),
                    }
                }
                *o = acc;
            }
        });
    if failed.into_inner() {
        return invalid("poly_eval: an i32 term falls outside [-2^28, 2^28]");
    }
    Ok(())
}

/// One polynomial of [`poly_eval`] over all points (floats): `o[x] = ⊕_i c[i] ⊗ xs[x]^{⊗i}`.
#[inline(always)]
fn poly_row<T: Element, const MAX: bool>(s: Semiring, c: &[T], xs: &[T], o: &mut [T]) {
    o.fill(T::zero(s));
    for (i, &ci) in c.iter().enumerate() {
        for (acc, &x) in o.iter_mut().zip(xs) {
            // x^0 is the one whatever x is (the scalar rule of tpow).
            let p = if i == 0 {
                T::one()
            } else {
                T::scale_work(i, x)
            };
            let t = T::add_work(ci, p);
            let better = if MAX { t > *acc } else { t < *acc };
            *acc = if better { t } else { *acc };
        }
    }
}

/// [`poly_row`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn poly_row_avx2<T: Element, const MAX: bool>(s: Semiring, c: &[T], xs: &[T], o: &mut [T]) {
    poly_row::<T, MAX>(s, c, xs, o)
}

/// 1-D max-plus (min-plus) convolution, "valid" part, as a correlation:
/// `out[i] = ⊕_j x[i + j] ⊗ w[j]` for `i < x.len() - w.len() + 1` (grey-scale dilation of `x` by
/// the structuring function `w` reflected; erosion-like for min-plus). Errors: `InvalidArgument`
/// (empty or longer `w`, `out` length, invalid `i32`). Multi-threaded over outputs.
pub fn conv1d<T: Element>(s: Semiring, x: &[T], w: &[T], out: &mut [T]) -> Result<()> {
    if w.is_empty() || w.len() > x.len() {
        return invalid(format!(
            "conv1d: kernel of {} elements for an input of {}",
            w.len(),
            x.len()
        ));
    }
    check_len("out", out.len(), x.len() - w.len() + 1)?;
    conv2d(s, x, (1, x.len()), w, (1, w.len()), out)
}

/// 2-D max-plus (min-plus) convolution, "valid" part, as a correlation: `x` is `h × w`, `kernel`
/// `kh × kw` (row-major), `out` `(h - kh + 1) × (w - kw + 1)` with
/// `out[i][j] = ⊕_{u,v} x[i + u][j + v] ⊗ kernel[u][v]` (morphological dilation with a
/// non-flat structuring element, reflected). Errors: `InvalidArgument` (shapes, invalid
/// `i32`). Multi-threaded over output rows.
pub fn conv2d<T: Element>(
    s: Semiring,
    x: &[T],
    (h, w): (usize, usize),
    kernel: &[T],
    (kh, kw): (usize, usize),
    out: &mut [T],
) -> Result<()> {
    check_len("x", x.len(), product(&[h, w], "x")?)?;
    check_len("kernel", kernel.len(), product(&[kh, kw], "kernel")?)?;
    if kh == 0 || kw == 0 || kh > h || kw > w {
        return invalid(format!(
            "conv2d: kernel {kh} x {kw} for an input of {h} x {w}"
        ));
    }
    let (oh, ow) = (h - kh + 1, w - kw + 1);
    check_len("out", out.len(), oh * ow)?;
    check_inputs(s, x, "x")?;
    check_inputs(s, kernel, "kernel")?;
    // In the loops' representation (i32: the zero as a sentinel), one output row at a time:
    // for each kernel entry, a contiguous pass over the row (vectorised).
    let xw: Vec<T> = x.iter().map(|&v| T::to_work(s, v)).collect();
    let kwork: Vec<T> = kernel.iter().map(|&v| T::to_work(s, v)).collect();
    let avx2 = have_avx2();
    let max = s == Semiring::MaxPlus;
    // Rows of several outputs per task when rows are short.
    let rows_per_task = (4096 / ow).max(1);
    out.par_chunks_mut(ow * rows_per_task)
        .enumerate()
        .for_each(|(t, rows)| {
            for (r, row) in rows.chunks_mut(ow).enumerate() {
                let i = t * rows_per_task + r;
                let job = (&xw[i * w..(i + kh) * w], w, &kwork[..], (kh, kw), row);
                #[cfg(target_arch = "x86_64")]
                if avx2 {
                    // SAFETY: the CPU has AVX2 (have_avx2).
                    unsafe {
                        if max {
                            conv_row_avx2::<T, true>(s, job)
                        } else {
                            conv_row_avx2::<T, false>(s, job)
                        }
                    };
                    continue;
                }
                let _ = avx2;
                if max {
                    conv_row::<T, true>(s, job)
                } else {
                    conv_row::<T, false>(s, job)
                }
            }
        });
    Ok(())
}

/// One output row of [`conv2d`]: `x` holds the `kh` input rows it reads (row length `w`),
/// `k` the kernel (`kh × kw`), all in the loops' representation; `row` gets the results.
type ConvRow<'a, T> = (&'a [T], usize, &'a [T], (usize, usize), &'a mut [T]);

#[inline(always)]
fn conv_row<T: Element, const MAX: bool>(s: Semiring, (x, w, k, (kh, kw), row): ConvRow<'_, T>) {
    let zero = T::to_work(s, T::zero(s));
    row.fill(zero);
    let ow = row.len();
    for u in 0..kh {
        for v in 0..kw {
            let kv = k[u * kw + v];
            let src = &x[u * w + v..u * w + v + ow];
            for (acc, &xv) in row.iter_mut().zip(src) {
                let t = T::add_work(xv, kv);
                let better = if MAX { t > *acc } else { t < *acc };
                *acc = if better { t } else { *acc };
            }
        }
    }
    for v in row.iter_mut() {
        *v = T::from_work(s, *v);
    }
}

/// [`conv_row`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn conv_row_avx2<T: Element, const MAX: bool>(s: Semiring, job: ConvRow<'_, T>) {
    conv_row::<T, MAX>(s, job)
}

/// Kleene closure `A* = I ⊕ A ⊕ A^2 ⊕ ...` of a square `n × n` matrix: for max-plus the
/// weights of the heaviest paths between every pair of nodes, for min-plus the shortest (all
/// pairs, as Floyd–Warshall gives). Computed as `(I ⊕ A)^(2^t)` by `t = ceil(log2 n)` squarings
/// with [`matmul`] (Butkovič 2010, §1.6: `A*` exists iff no cycle has positive (max-plus) /
/// negative (min-plus) weight, and then equals `(I ⊕ A)^(n-1)`). Errors: `InvalidArgument`
/// (shape; a cycle that makes the closure diverge, detected on the diagonal; `i32` path weights
/// beyond `±2^28` between squarings). `out` gets `A*`. With floats a cycle whose weight is zero
/// in exact arithmetic but rounds past zero counts as gaining.
pub fn closure<T: Element>(s: Semiring, a: &[T], n: usize, out: &mut [T]) -> Result<()> {
    let nn = product(&[n, n], "a")?;
    check_len("a", a.len(), nn)?;
    check_len("out", out.len(), nn)?;
    check_inputs(s, a, "a")?;
    // NaN entries count as the zero (so the result never holds one).
    for (o, &v) in out.iter_mut().zip(a) {
        *o = T::oplus(s, T::zero(s), v);
    }
    for i in 0..n {
        out[i * n + i] = T::oplus(s, out[i * n + i], T::one());
    }
    if n == 0 {
        return Ok(());
    }
    let what = "path weights (i32 beyond ±2^28 after squaring)";
    let mut tmp = vec![T::zero(s); nn];
    // out = (I ⊕ A)^span; paths of at most n - 1 edges suffice when no cycle gains weight.
    let mut span = 1usize;
    while span + 1 < n {
        check_inputs(s, out, what)?;
        matmul(s, out, out, &mut tmp, n, n, n, None)?;
        out.copy_from_slice(&tmp);
        span *= 2;
    }
    // A cycle that gains weight (positive for max-plus, negative for min-plus) puts a value
    // past the one on the diagonal of (I ⊕ A)^(2^t) once 2^t >= its length (<= n); one more
    // squaring covers cycles of length n. (The whole matrix is not compared with the previous
    // power: float path sums formed in another order may differ by a rounding.)
    check_inputs(s, out, what)?;
    matmul(s, out, out, &mut tmp, n, n, n, None)?;
    let one = T::one();
    for i in 0..n {
        let d = tmp[i * n + i];
        let gains = match s {
            Semiring::MaxPlus => d > one,
            Semiring::MinPlus => d < one,
        };
        if gains {
            return invalid(format!(
                "closure: node {i} lies on a cycle of {} weight: the {} closure diverges",
                if s == Semiring::MaxPlus {
                    "positive"
                } else {
                    "negative"
                },
                s.name()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Naive reference product with the scalar rules.
    fn naive<T: Element>(
        s: Semiring,
        a: &[T],
        b: &[T],
        m: usize,
        k: usize,
        n: usize,
    ) -> (Vec<T>, Vec<u32>) {
        let mut c = vec![T::zero(s); m * n];
        let mut g = vec![u32::MAX; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut acc = T::zero(s);
                let mut best = u32::MAX;
                for l in 0..k {
                    let t = T::otimes(s, a[i * k + l], b[l * n + j]);
                    let nxt = T::oplus(s, acc, t);
                    if nxt != acc {
                        // strictly better (oplus keeps acc on ties)
                        best = l as u32;
                    }
                    acc = nxt;
                }
                if acc == T::zero(s) {
                    best = u32::MAX;
                }
                c[i * n + j] = acc;
                g[i * n + j] = best;
            }
        }
        (c, g)
    }

    /// Deterministic pseudo-random values (xorshift), with some specials mixed in.
    fn values_f32(len: usize, seed: u64, specials: bool) -> Vec<f32> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let r = (x >> 11) as f32 / (1u64 << 53) as f32;
                if specials {
                    match x % 23 {
                        0 => return f32::NEG_INFINITY,
                        1 => return f32::INFINITY,
                        2 => return f32::NAN,
                        3 => return 1.0, // equal entries: ties
                        _ => {}
                    }
                }
                ((r * 200.0 - 100.0) * 4.0).round() / 4.0
            })
            .collect()
    }

    fn values_i32(len: usize, seed: u64, s: Semiring) -> Vec<i32> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match x % 11 {
                    0 => i32::zero(s),
                    1 => I32_FINITE_MAX,
                    2 => -I32_FINITE_MAX,
                    _ => (x >> 20) as i32 % 1000 - 500,
                }
            })
            .collect()
    }

    fn same_f32(x: &[f32], y: &[f32]) -> bool {
        x.iter()
            .zip(y)
            .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()))
            && x.len() == y.len()
    }

    #[test]
    fn matmul_matches_naive_on_odd_shapes_with_specials() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (1, 300, 1),
            (1, 17, 257),
            (257, 13, 1),
            (7, 600, 19),
            (97, 129, 67),
            (200, 513, 33),
        ] {
            for s in [Semiring::MaxPlus, Semiring::MinPlus] {
                let a = values_f32(m * k, (m * 31 + k) as u64, true);
                let b = values_f32(k * n, (n * 17 + k) as u64, true);
                let (want, wg) = naive(s, &a, &b, m, k, n);
                let mut c = vec![0f32; m * n];
                let mut g = vec![0u32; m * n];
                matmul(s, &a, &b, &mut c, m, k, n, Some(&mut g)).unwrap();
                assert!(same_f32(&c, &want), "{m}x{k}x{n} {s:?}");
                assert_eq!(g, wg, "argbest {m}x{k}x{n} {s:?}");
                assert!(c.iter().all(|v| !v.is_nan()));
                let mut c2 = vec![0f32; m * n];
                matmul(s, &a, &b, &mut c2, m, k, n, None).unwrap();
                assert!(same_f32(&c2, &want));
                // f64 and i32 on the same shapes
                let a64: Vec<f64> = a.iter().map(|&v| v as f64).collect();
                let b64: Vec<f64> = b.iter().map(|&v| v as f64).collect();
                let (w64, wg64) = naive(s, &a64, &b64, m, k, n);
                let mut c64 = vec![0f64; m * n];
                let mut g64 = vec![0u32; m * n];
                matmul(s, &a64, &b64, &mut c64, m, k, n, Some(&mut g64)).unwrap();
                assert!(c64.iter().zip(&w64).all(|(x, y)| x == y));
                assert_eq!(g64, wg64);
                let ai = values_i32(m * k, (m + 5 * k) as u64, s);
                let bi = values_i32(k * n, (n + 3 * k) as u64, s);
                let (wi, wgi) = naive(s, &ai, &bi, m, k, n);
                let mut ci = vec![0i32; m * n];
                let mut gi = vec![0u32; m * n];
                matmul(s, &ai, &bi, &mut ci, m, k, n, Some(&mut gi)).unwrap();
                assert_eq!(ci, wi, "i32 {m}x{k}x{n} {s:?}");
                assert_eq!(gi, wgi, "i32 argbest {m}x{k}x{n} {s:?}");
            }
        }
    }

    #[test]
    fn matmul_identities_and_k_zero() {
        let s = Semiring::MaxPlus;
        // I (zeros off the diagonal, one on it) is the identity.
        let n = 37;
        let mut id = vec![f32::NEG_INFINITY; n * n];
        for i in 0..n {
            id[i * n + i] = 0.0;
        }
        let a = values_f32(n * n, 9, false);
        let mut c = vec![0f32; n * n];
        matmul(s, &a, &id, &mut c, n, n, n, None).unwrap();
        assert_eq!(c, a);
        matmul(s, &id, &a, &mut c, n, n, n, None).unwrap();
        assert_eq!(c, a);
        // All-zero A gives all-zero C with no argbest.
        let z = vec![f32::NEG_INFINITY; n * n];
        let mut g = vec![0u32; n * n];
        matmul(s, &z, &a, &mut c, n, n, n, Some(&mut g)).unwrap();
        assert!(c.iter().all(|&v| v == f32::NEG_INFINITY));
        assert!(g.iter().all(|&v| v == u32::MAX));
        // k = 0.
        let mut c = vec![1i32; 6];
        let mut g = vec![0u32; 6];
        matmul(Semiring::MinPlus, &[], &[], &mut c, 2, 0, 3, Some(&mut g)).unwrap();
        assert!(c.iter().all(|&v| v == i32::MAX) && g.iter().all(|&v| v == u32::MAX));
    }

    #[test]
    fn bad_arguments_are_refused() {
        let s = Semiring::MaxPlus;
        let mut c = vec![0i32; 4];
        assert!(matmul(s, &[1, 2], &[1, 2], &mut c, 2, 1, 2, None).is_ok());
        assert!(matmul(s, &[1, 2, 3], &[1, 2], &mut c, 2, 1, 2, None).is_err());
        let err = matmul(s, &[1, 1 << 29], &[1, 2], &mut c, 2, 1, 2, None).unwrap_err();
        assert!(err.to_string().contains("a[1]"), "{err}");
        // i32::MAX is not the max-plus zero.
        assert!(matmul(s, &[1, i32::MAX], &[1, 2], &mut c, 2, 1, 2, None).is_err());
        assert!(matmul(s, &[1, i32::MIN], &[1, 2], &mut c, 2, 1, 2, None).is_ok());
        assert_eq!(c, vec![2, 3, i32::MIN, i32::MIN]);
        let mut out = vec![0f32; 2];
        assert!(elementwise(s, ElementOp::Add, &[1.0f32], &[2.0], &mut out).is_err());
        assert!(conv1d(s, &[1.0f32], &[1.0, 2.0], &mut out).is_err());
        assert!(poly_eval(s, &[1.0f32, 2.0, 3.0], 2, &[1.0], &mut out).is_err());
    }

    #[test]
    fn elementwise_rules() {
        let (ni, pi, nan) = (f32::NEG_INFINITY, f32::INFINITY, f32::NAN);
        let a = [1.0f32, ni, ni, nan, 2.0, -0.0];
        let b = [2.0f32, 3.0, pi, 1.0, nan, 0.0];
        let mut o = [0f32; 6];
        elementwise(Semiring::MaxPlus, ElementOp::Mul, &a, &b, &mut o).unwrap();
        assert_eq!(o, [3.0, ni, ni, ni, ni, 0.0]);
        elementwise(Semiring::MaxPlus, ElementOp::Add, &a, &b, &mut o).unwrap();
        assert_eq!(o, [2.0, 3.0, pi, 1.0, 2.0, -0.0]);
        elementwise(Semiring::MinPlus, ElementOp::Mul, &a, &b, &mut o).unwrap();
        assert_eq!(o[2], pi); // -inf + inf is NaN: the min-plus zero
        let ai = [5, i32::MIN, 7];
        let bi = [-3, 4, i32::MIN];
        let mut oi = [0i32; 3];
        elementwise(Semiring::MaxPlus, ElementOp::Mul, &ai, &bi, &mut oi).unwrap();
        assert_eq!(oi, [2, i32::MIN, i32::MIN]);
        elementwise(Semiring::MaxPlus, ElementOp::Add, &ai, &bi, &mut oi).unwrap();
        assert_eq!(oi, [5, 4, 7]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Semiring laws on i32 (exact): associativity and commutativity of ⊕ and ⊗,
        /// distributivity, identities, the zero absorbing.
        #[test]
        fn semiring_laws_i32(x in -1000i32..1000, y in -1000i32..1000, z in -1000i32..1000,
                             zx in 0u8..4, zy in 0u8..4, mp in any::<bool>()) {
            let s = if mp { Semiring::MaxPlus } else { Semiring::MinPlus };
            let o = i32::zero(s);
            let x = if zx == 0 { o } else { x };
            let y = if zy == 0 { o } else { y };
            let (ad, mu) = (|a, b| i32::oplus(s, a, b), |a, b| i32::otimes(s, a, b));
            prop_assert_eq!(ad(x, ad(y, z)), ad(ad(x, y), z));
            prop_assert_eq!(mu(x, mu(y, z)), mu(mu(x, y), z));
            prop_assert_eq!(ad(x, y), ad(y, x));
            prop_assert_eq!(mu(x, y), mu(y, x));
            prop_assert_eq!(mu(x, ad(y, z)), ad(mu(x, y), mu(x, z)));
            prop_assert_eq!(ad(x, o), x);
            prop_assert_eq!(mu(x, 0), x);
            prop_assert_eq!(mu(x, o), o);
        }

        /// The same laws on f64 with values that add exactly (quarters), infinities included.
        #[test]
        fn semiring_laws_f64(x in -400i32..400, y in -400i32..400, z in -400i32..400,
                             sx in 0u8..6, mp in any::<bool>()) {
            let s = if mp { Semiring::MaxPlus } else { Semiring::MinPlus };
            let o = f64::zero(s);
            let x = match sx { 0 => o, 1 => -o, _ => x as f64 / 4.0 };
            let (y, z) = (y as f64 / 4.0, z as f64 / 4.0);
            let (ad, mu) = (|a, b| f64::oplus(s, a, b), |a, b| f64::otimes(s, a, b));
            prop_assert_eq!(ad(x, ad(y, z)), ad(ad(x, y), z));
            prop_assert_eq!(mu(x, mu(y, z)), mu(mu(x, y), z));
            prop_assert_eq!(ad(x, y), ad(y, x));
            prop_assert_eq!(mu(x, y), mu(y, x));
            prop_assert_eq!(mu(x, ad(y, z)), ad(mu(x, y), mu(x, z)));
            prop_assert_eq!(ad(x, o), x);
            prop_assert_eq!(mu(x, 0.0), x);
            prop_assert_eq!(mu(x, o), o);
        }

        /// Matrix product is associative (exact on quarters) and agrees with the naive product.
        #[test]
        fn matmul_associative(m in 1usize..9, k in 1usize..9, l in 1usize..9, n in 1usize..9,
                              seed in any::<u64>(), mp in any::<bool>()) {
            let s = if mp { Semiring::MaxPlus } else { Semiring::MinPlus };
            let a = values_f32(m * k, seed, false);
            let b = values_f32(k * l, seed ^ 0x55, false);
            let c = values_f32(l * n, seed ^ 0xaa, false);
            let mut ab = vec![0f32; m * l];
            let mut bc = vec![0f32; k * n];
            let mut x = vec![0f32; m * n];
            let mut y = vec![0f32; m * n];
            matmul(s, &a, &b, &mut ab, m, k, l, None).unwrap();
            matmul(s, &b, &c, &mut bc, k, l, n, None).unwrap();
            matmul(s, &ab, &c, &mut x, m, l, n, None).unwrap();
            matmul(s, &a, &bc, &mut y, m, k, n, None).unwrap();
            prop_assert_eq!(x, y);
            prop_assert_eq!(ab, naive(s, &a, &b, m, k, l).0);
        }
    }

    #[test]
    fn closure_is_all_pairs_paths() {
        // Shortest paths (min-plus) against Floyd–Warshall on a random graph with missing edges.
        let n = 23;
        let s = Semiring::MinPlus;
        let mut a = vec![f64::INFINITY; n * n];
        let mut x = 12345u64;
        for v in a.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x % 3 == 0 {
                *v = (x % 97) as f64;
            }
        }
        let mut fw = a.clone();
        for i in 0..n {
            fw[i * n + i] = fw[i * n + i].min(0.0);
        }
        for k in 0..n {
            for i in 0..n {
                for j in 0..n {
                    let t = fw[i * n + k] + fw[k * n + j];
                    if t < fw[i * n + j] {
                        fw[i * n + j] = t;
                    }
                }
            }
        }
        let mut out = vec![0f64; n * n];
        closure(s, &a, n, &mut out).unwrap();
        assert_eq!(out, fw);
        // Longest paths diverge on a positive cycle; a DAG's closure exists.
        let mut cyc = vec![i32::MIN; 9];
        cyc[1] = 2; // 0 -> 1
        cyc[5] = 1; // 1 -> 2
        let mut o = vec![0i32; 9];
        closure(Semiring::MaxPlus, &cyc, 3, &mut o).unwrap();
        assert_eq!(o[2], 3); // 0 -> 1 -> 2
        cyc[6] = -2; // 2 -> 0: cycle weight +1
        let e = closure(Semiring::MaxPlus, &cyc, 3, &mut o).unwrap_err();
        assert!(e.to_string().contains("diverges"), "{e}");
        // Non-integer weights without a negative cycle: path sums in another order may round
        // differently, which is no divergence (found by tests/c/math.c).
        let i = f64::INFINITY;
        let g = [
            i, i, i, i, i, i, i, 7.31, i, i, 9.61, 7.19, i, i, 1.92, 4.32, 9.62, 6.43, i, i, i,
            0.18, i, 3.05, i,
        ];
        let mut o = [0f64; 25];
        closure(Semiring::MinPlus, &g, 5, &mut o).unwrap();
        assert_eq!(o[5 * 2 + 4], 1.92);
        assert!((o[5] - (7.31 + 1.92 + 3.05 + 4.32)).abs() < 1e-12);
        for n in [0usize, 1, 2] {
            let a = vec![1.0f32; n * n];
            let mut o = vec![0f32; n * n];
            let r = closure(Semiring::MinPlus, &a, n, &mut o);
            assert!(r.is_ok(), "n = {n}");
        }
    }

    #[test]
    fn poly_and_convolutions_match_definitions() {
        let s = Semiring::MaxPlus;
        // p(x) = max(3, 1 + x, -2 + 2x)
        let c = [3.0f32, 1.0, -2.0];
        let xs = [-1.0f32, 0.0, 2.0, 4.0, f32::NEG_INFINITY];
        let mut o = [0f32; 5];
        poly_eval(s, &c, 3, &xs, &mut o).unwrap();
        assert_eq!(o, [3.0, 3.0, 3.0, 6.0, 3.0]);
        let ci = [3i32, 1, -2, 0, 0, 0];
        let mut oi = [0i32; 10];
        poly_eval(s, &ci, 3, &[-1, 0, 2, 4, i32::MIN], &mut oi).unwrap();
        assert_eq!(&oi[..5], &[3, 3, 3, 6, 3]);
        assert_eq!(&oi[5..], &[0, 0, 4, 8, 0]);
        assert!(poly_eval(s, &[0, 0, 0], 3, &[1 << 28], &mut oi[..1]).is_err());
        // Floats on random points with specials, both semirings: the vectorised rows equal the
        // scalar definition (tpow, then otimes and oplus) bit for bit.
        for s in [Semiring::MaxPlus, Semiring::MinPlus] {
            let (polys, terms) = (7, 9);
            let c = values_f32(polys * terms, 21, true);
            let xs = values_f32(301, 22, true);
            let mut o = vec![0f32; polys * xs.len()];
            poly_eval(s, &c, terms, &xs, &mut o).unwrap();
            for q in 0..polys {
                for (k, &x) in xs.iter().enumerate() {
                    let mut acc = f32::zero(s);
                    for i in 0..terms {
                        let p = f32::tpow(s, x, i).unwrap();
                        acc = f32::oplus(s, acc, f32::otimes(s, c[q * terms + i], p));
                    }
                    let got = o[q * xs.len() + k];
                    assert!(
                        got == acc && got.is_sign_negative() == acc.is_sign_negative(),
                        "{s:?} {q} {k}: {got} vs {acc}"
                    );
                }
            }
        }
        // 1-D dilation
        let x = [1.0f32, 5.0, 2.0, f32::NEG_INFINITY, 0.0, 3.0];
        let w = [0.0f32, -1.0];
        let mut y = [0f32; 5];
        conv1d(s, &x, &w, &mut y).unwrap();
        assert_eq!(y, [4.0, 5.0, 2.0, -1.0, 2.0]);
        // 2-D against the definition on random data
        let (h, wd, kh, kw) = (13, 11, 3, 4);
        let xs = values_f32(h * wd, 3, true);
        let ks = values_f32(kh * kw, 4, true);
        let mut out = vec![0f32; (h - kh + 1) * (wd - kw + 1)];
        conv2d(s, &xs, (h, wd), &ks, (kh, kw), &mut out).unwrap();
        for i in 0..h - kh + 1 {
            for j in 0..wd - kw + 1 {
                let mut acc = f32::NEG_INFINITY;
                for u in 0..kh {
                    for v in 0..kw {
                        acc = f32::oplus(
                            s,
                            acc,
                            f32::otimes(s, xs[(i + u) * wd + j + v], ks[u * kw + v]),
                        );
                    }
                }
                assert_eq!(out[i * (wd - kw + 1) + j], acc);
            }
        }
        // i32 with zeros (the sentinel path), both semirings, against the definition.
        for s in [Semiring::MaxPlus, Semiring::MinPlus] {
            let xs = values_i32(h * wd, 5, s);
            let ks = values_i32(kh * kw, 6, s);
            let mut out = vec![0i32; (h - kh + 1) * (wd - kw + 1)];
            conv2d(s, &xs, (h, wd), &ks, (kh, kw), &mut out).unwrap();
            for i in 0..h - kh + 1 {
                for j in 0..wd - kw + 1 {
                    let mut acc = i32::zero(s);
                    for u in 0..kh {
                        for v in 0..kw {
                            let t = i32::otimes(s, xs[(i + u) * wd + j + v], ks[u * kw + v]);
                            acc = i32::oplus(s, acc, t);
                        }
                    }
                    assert_eq!(out[i * (wd - kw + 1) + j], acc, "{s:?} ({i}, {j})");
                }
            }
        }
    }
}
