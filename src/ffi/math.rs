//! The math library through the C ABI (issue 14): tropical algebra (`saraphis_tropical_*`) and
//! p-adic arithmetic (`saraphis_padic_*`, on a `saraphis_padic_ring` handle). Host calls run on
//! the system's worker pool; `*_device` calls enqueue GPU kernels on the caller's `CUstream`.
//! Semantics, algorithms and references: `crate::math` (tropical: zero/one, the NaN policy, the
//! `i32` range; p-adic: residues in `Z/p^N`, Barrett reduction, Newton–Hensel lifting).

use std::ffi::c_void;

use super::boundary::{guard, guard_value, out_ptr, BoxHandle, Fail};
use super::result::saraphis_result;
use super::system::saraphis_system;
use crate::backend::DevicePtr;
use crate::error::Error;
use crate::math::padic::{PadicOp, PadicRing};
use crate::math::tropical::{self, ElementOp};
use crate::math::Semiring;
use crate::DType;

/// A tropical semiring (the value of the `semiring` arguments): which of max / min is `⊕`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum saraphis_semiring {
    /// `a ⊕ b = max(a, b)`, `a ⊗ b = a + b`; zero `-inf` (`INT32_MIN` for int32).
    SARAPHIS_SEMIRING_MAX_PLUS = 0,
    /// `a ⊕ b = min(a, b)`, `a ⊗ b = a + b`; zero `+inf` (`INT32_MAX` for int32).
    SARAPHIS_SEMIRING_MIN_PLUS = 1,
}

/// The elementwise operation of `saraphis_tropical_elementwise` (the `op` argument).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum saraphis_tropical_op {
    /// `out[i] = a[i] ⊕ b[i]`.
    SARAPHIS_TROPICAL_ADD = 0,
    /// `out[i] = a[i] ⊗ b[i]`.
    SARAPHIS_TROPICAL_MUL = 1,
}

/// The operation of `saraphis_padic_batch` (the `op` argument): binary operations read `a` and
/// `b`, unary ones `a` only (`b` must then be NULL).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum saraphis_padic_op {
    /// `out = a + b mod p^N`.
    SARAPHIS_PADIC_ADD = 0,
    /// `out = a - b mod p^N`.
    SARAPHIS_PADIC_SUB = 1,
    /// `out = a * b mod p^N` (Barrett reduction).
    SARAPHIS_PADIC_MUL = 2,
    /// `out = -a mod p^N`.
    SARAPHIS_PADIC_NEG = 3,
    /// `out = a^-1 mod p^N` (Newton–Hensel); a non-unit is an error (host only).
    SARAPHIS_PADIC_INVERSE = 4,
    /// `out = v_p(a)` (`N` for 0).
    SARAPHIS_PADIC_VALUATION = 5,
}

/// `Z/p^N` (a prime `p <= 65521`, `p^N <= 2^62`): the ring the `saraphis_padic_*` calls
/// compute in. Immutable once made: share it across threads freely. Made by
/// `saraphis_padic_ring_new`, released by `saraphis_padic_ring_free`.
pub struct saraphis_padic_ring {
    _private: [u8; 0],
}

impl BoxHandle for saraphis_padic_ring {
    type Rust = PadicRing;
}

fn semiring_arg(v: u32) -> Result<Semiring, Fail> {
    Semiring::from_u32(v).ok_or_else(|| {
        super::boundary::invalid(format!("semiring {v}: not 0 (max-plus) or 1 (min-plus)"))
    })
}

/// Borrow `len` elements of `T` at `p` (NULL only for `len == 0`; aligned to `T`).
unsafe fn elems<'a, T>(p: *const c_void, len: usize, what: &'static str) -> Result<&'a [T], Fail> {
    let bytes = len
        .checked_mul(std::mem::size_of::<T>())
        .filter(|&b| b <= isize::MAX as usize)
        .ok_or_else(|| super::boundary::invalid(format!("{what}: {len} elements overflow")))?;
    if bytes == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Fail::Null(what));
    }
    if (p as usize) % std::mem::align_of::<T>() != 0 {
        return Err(super::boundary::invalid(format!(
            "{what}: not aligned to {} bytes",
            std::mem::align_of::<T>()
        )));
    }
    Ok(std::slice::from_raw_parts(p as *const T, len))
}

/// Borrow `len` writable elements of `T` at `p` that overlap none of `inputs` (byte ranges of
/// the call's inputs): overlap gives `SARAPHIS_ERR_DESTINATION` (inputs are never written).
unsafe fn elems_mut<'a, T>(
    p: *mut c_void,
    len: usize,
    inputs: &[(usize, usize)],
    what: &'static str,
) -> Result<&'a mut [T], Fail> {
    if len == 0 {
        // NULL (or any pointer) is fine for an empty output: never made into a slice.
        return Ok(&mut []);
    }
    let s: &[T] = elems(p, len, what)?;
    let (b0, b1) = (
        s.as_ptr() as usize,
        s.as_ptr() as usize + std::mem::size_of_val(s),
    );
    if b0 < b1 && inputs.iter().any(|&(a0, a1)| a0 < b1 && b0 < a1) {
        return Err(Fail::Err(Error::Destination(format!(
            "{what} overlaps an input"
        ))));
    }
    Ok(std::slice::from_raw_parts_mut(p as *mut T, len))
}

fn span<T>(s: &[T]) -> (usize, usize) {
    (
        s.as_ptr() as usize,
        s.as_ptr() as usize + std::mem::size_of_val(s),
    )
}

/// Run `$body` with `$t` the Rust element type of `dtype` (F32, F64 or I32).
macro_rules! with_element {
    ($dtype:expr, $t:ident => $body:expr) => {
        match crate::ffi::types::dtype_arg($dtype)? {
            DType::F32 => {
                type $t = f32;
                $body
            }
            DType::F64 => {
                type $t = f64;
                $body
            }
            DType::I32 => {
                type $t = i32;
                $body
            }
            d => Err(super::boundary::invalid(format!(
                "dtype {d:?}: the tropical calls take SARAPHIS_F32, F64 or I32"
            ))),
        }
    };
}

/// Elementwise tropical operation: `out[i] = a[i] ⊕ b[i]` (`op` = `SARAPHIS_TROPICAL_ADD`) or
/// `a[i] ⊗ b[i]` (`SARAPHIS_TROPICAL_MUL`), `len` elements of `dtype` (`SARAPHIS_F32`,
/// `F64` or `I32`) each, host memory aligned to the element size; `out` must not overlap `a` or
/// `b`. Floats: NaN counts as the semiring zero; int32: finite entries in `[-2^28, 2^28]`, the
/// zero is `INT32_MIN` (max-plus) / `INT32_MAX` (min-plus). Errors: `SARAPHIS_ERR_INVALID_ARGUMENT`
/// (semiring, op, dtype, alignment, an int32 out of range), `SARAPHIS_ERR_NULL_PARAMETER`,
/// `SARAPHIS_ERR_DESTINATION` (overlap). `out` is written only on success. Thread-safe; runs on
/// the system's worker pool.
#[no_mangle]
pub unsafe extern "C" fn saraphis_tropical_elementwise(
    system: *const saraphis_system,
    semiring: u32,
    op: u32,
    dtype: u32,
    a: *const c_void,
    b: *const c_void,
    out: *mut c_void,
    len: usize,
) -> saraphis_result {
    guard(|| {
        let sys = saraphis_system::try_ref(system, "system")?;
        let s = semiring_arg(semiring)?;
        let op = ElementOp::from_u32(op)
            .ok_or_else(|| super::boundary::invalid(format!("op {op}: not 0 (add) or 1 (mul)")))?;
        with_element!(dtype, T => {
            let a: &[T] = elems(a, len, "a")?;
            let b: &[T] = elems(b, len, "b")?;
            let out: &mut [T] = elems_mut(out, len, &[span(a), span(b)], "out")?;
            let mut tmp = vec![T::default(); len];
            sys.run_on_pool(|| tropical::elementwise(s, op, a, b, &mut tmp))?;
            out.copy_from_slice(&tmp);
            Ok(())
        })
    })
}

/// Tropical matrix product `C = A ⊗ B` on the CPU: `C[i][j] = ⊕_l A[i][l] ⊗ B[l][j]`, row-major,
/// `a` of `m × k`, `b` of `k × n`, `c` of `m × n` elements of `dtype` (`SARAPHIS_F32`,
/// `F64` or `I32`), host memory aligned to the element size. `argbest`: NULL, or `m × n`
/// uint32 that get the smallest `l` attaining each entry (`UINT32_MAX` where the entry is the
/// zero: no path). `k = 0` gives the zero everywhere. Blocked, packed and vectorised (AVX2 when
/// present), on the system's worker pool. Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` (semiring,
/// dtype, alignment, sizes overflowing, an int32 out of range), `SARAPHIS_ERR_NULL_PARAMETER`,
/// `SARAPHIS_ERR_DESTINATION` (`c` or `argbest` overlapping an input or each other). Outputs are
/// written only on success. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_tropical_matmul(
    system: *const saraphis_system,
    semiring: u32,
    dtype: u32,
    a: *const c_void,
    b: *const c_void,
    c: *mut c_void,
    m: usize,
    k: usize,
    n: usize,
    argbest: *mut u32,
) -> saraphis_result {
    guard(|| {
        let sys = saraphis_system::try_ref(system, "system")?;
        let s = semiring_arg(semiring)?;
        let mk = m
            .checked_mul(k)
            .ok_or_else(|| super::boundary::invalid("m * k overflows"))?;
        let kn = k
            .checked_mul(n)
            .ok_or_else(|| super::boundary::invalid("k * n overflows"))?;
        let mn = m
            .checked_mul(n)
            .ok_or_else(|| super::boundary::invalid("m * n overflows"))?;
        with_element!(dtype, T => {
            let a: &[T] = elems(a, mk, "a")?;
            let b: &[T] = elems(b, kn, "b")?;
            let c: &mut [T] = elems_mut(c, mn, &[span(a), span(b)], "c")?;
            let mut tc = vec![T::default(); mn];
            if argbest.is_null() {
                sys.run_on_pool(|| tropical::matmul(s, a, b, &mut tc, m, k, n, None))?;
                c.copy_from_slice(&tc);
            } else {
                let g: &mut [u32] =
                    elems_mut(argbest as *mut c_void, mn, &[span(a), span(b), span(c)], "argbest")?;
                let mut tg = vec![0u32; mn];
                sys.run_on_pool(|| tropical::matmul(s, a, b, &mut tc, m, k, n, Some(&mut tg)))?;
                c.copy_from_slice(&tc);
                g.copy_from_slice(&tg);
            }
            Ok(())
        })
    })
}

/// Batched tropical polynomial evaluation: `out[q][x] = ⊕_i coeffs[q][i] ⊗ xs[x]^{⊗i}`, i.e.
/// `max_i (coeffs[q][i] + i·xs[x])` for max-plus (`min` for min-plus). `coeffs`: `polys × terms`
/// elements (term `i` multiplies `x^i`), `xs`: `points`, `out`: `polys × points`, all of
/// `dtype` (F32, F64, I32). Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` (terms = 0, dtype, alignment,
/// int32 range or overflow of a term), `SARAPHIS_ERR_NULL_PARAMETER`, `SARAPHIS_ERR_DESTINATION`.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_tropical_poly_eval(
    system: *const saraphis_system,
    semiring: u32,
    dtype: u32,
    coeffs: *const c_void,
    polys: usize,
    terms: usize,
    xs: *const c_void,
    points: usize,
    out: *mut c_void,
) -> saraphis_result {
    guard(|| {
        let sys = saraphis_system::try_ref(system, "system")?;
        let s = semiring_arg(semiring)?;
        let pt = polys
            .checked_mul(terms)
            .ok_or_else(|| super::boundary::invalid("polys * terms overflows"))?;
        let po = polys
            .checked_mul(points)
            .ok_or_else(|| super::boundary::invalid("polys * points overflows"))?;
        if terms == 0 {
            return Err(super::boundary::invalid("terms must be at least 1"));
        }
        with_element!(dtype, T => {
            let c: &[T] = elems(coeffs, pt, "coeffs")?;
            let x: &[T] = elems(xs, points, "xs")?;
            let o: &mut [T] = elems_mut(out, po, &[span(c), span(x)], "out")?;
            let mut t = vec![T::default(); po];
            sys.run_on_pool(|| tropical::poly_eval(s, c, terms, x, &mut t))?;
            o.copy_from_slice(&t);
            Ok(())
        })
    })
}

/// 1-D max-plus (min-plus) convolution, valid part, as a correlation:
/// `out[i] = ⊕_j x[i + j] ⊗ w[j]` for `i < len - kernel_len + 1` (morphological dilation by the
/// reflected `w`). `x`: `len` elements, `w`: `kernel_len` (1 ..= `len`), `out`:
/// `len - kernel_len + 1`, all of `dtype` (F32, F64, I32). Errors: as
/// `saraphis_tropical_elementwise`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_tropical_conv1d(
    system: *const saraphis_system,
    semiring: u32,
    dtype: u32,
    x: *const c_void,
    len: usize,
    w: *const c_void,
    kernel_len: usize,
    out: *mut c_void,
) -> saraphis_result {
    guard(|| {
        let sys = saraphis_system::try_ref(system, "system")?;
        let s = semiring_arg(semiring)?;
        if kernel_len == 0 || kernel_len > len {
            return Err(super::boundary::invalid(format!(
                "kernel_len {kernel_len} for an input of {len}: must be 1 ..= len"
            )));
        }
        let olen = len - kernel_len + 1;
        with_element!(dtype, T => {
            let x: &[T] = elems(x, len, "x")?;
            let w: &[T] = elems(w, kernel_len, "w")?;
            let o: &mut [T] = elems_mut(out, olen, &[span(x), span(w)], "out")?;
            let mut t = vec![T::default(); olen];
            sys.run_on_pool(|| tropical::conv1d(s, x, w, &mut t))?;
            o.copy_from_slice(&t);
            Ok(())
        })
    })
}

/// 2-D max-plus (min-plus) convolution, valid part, as a correlation: `x` is `h × w`,
/// `kernel` `kh × kw` (1 ..= h, 1 ..= w), `out` `(h - kh + 1) × (w - kw + 1)`, row-major, with
/// `out[i][j] = ⊕_{u,v} x[i + u][j + v] ⊗ kernel[u][v]` (grey-scale dilation). Dtypes F32, F64,
/// I32. Errors: as `saraphis_tropical_elementwise`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_tropical_conv2d(
    system: *const saraphis_system,
    semiring: u32,
    dtype: u32,
    x: *const c_void,
    h: usize,
    w: usize,
    kernel: *const c_void,
    kh: usize,
    kw: usize,
    out: *mut c_void,
) -> saraphis_result {
    guard(|| {
        let sys = saraphis_system::try_ref(system, "system")?;
        let s = semiring_arg(semiring)?;
        if kh == 0 || kw == 0 || kh > h || kw > w {
            return Err(super::boundary::invalid(format!(
                "kernel {kh} x {kw} for an input of {h} x {w}"
            )));
        }
        let hw = h
            .checked_mul(w)
            .ok_or_else(|| super::boundary::invalid("h * w overflows"))?;
        let olen = (h - kh + 1) * (w - kw + 1);
        with_element!(dtype, T => {
            let xs: &[T] = elems(x, hw, "x")?;
            let ks: &[T] = elems(kernel, kh * kw, "kernel")?;
            let o: &mut [T] = elems_mut(out, olen, &[span(xs), span(ks)], "out")?;
            let mut t = vec![T::default(); olen];
            sys.run_on_pool(|| tropical::conv2d(s, xs, (h, w), ks, (kh, kw), &mut t))?;
            o.copy_from_slice(&t);
            Ok(())
        })
    })
}

/// Kleene closure `A* = I ⊕ A ⊕ A^2 ⊕ ...` of the `n × n` matrix `a` into `out` (`n × n`, not
/// overlapping `a`): all-pairs heaviest (max-plus) or shortest (min-plus) path weights, by
/// repeated squaring (`ceil(log2 n) + 1` products). Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` also
/// when a cycle gains weight (positive for max-plus, negative for min-plus: the closure
/// diverges) or int32 path weights pass `2^28`; otherwise as `saraphis_tropical_elementwise`.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_tropical_closure(
    system: *const saraphis_system,
    semiring: u32,
    dtype: u32,
    a: *const c_void,
    n: usize,
    out: *mut c_void,
) -> saraphis_result {
    guard(|| {
        let sys = saraphis_system::try_ref(system, "system")?;
        let s = semiring_arg(semiring)?;
        let nn = n
            .checked_mul(n)
            .ok_or_else(|| super::boundary::invalid("n * n overflows"))?;
        with_element!(dtype, T => {
            let a: &[T] = elems(a, nn, "a")?;
            let o: &mut [T] = elems_mut(out, nn, &[span(a)], "out")?;
            let mut t = vec![T::default(); nn];
            sys.run_on_pool(|| tropical::closure(s, a, n, &mut t))?;
            o.copy_from_slice(&t);
            Ok(())
        })
    })
}

/// Tropical matrix product on the GPU, enqueued on `stream` (a `CUstream` of the device's
/// primary context; NULL = the library's own stream): the same product, zero/one, NaN policy
/// and argbest as `saraphis_tropical_matmul`, bit for bit (a zero result may differ in the sign
/// of a zero). `a_dev`, `b_dev`, `c_dev` (and `argbest_dev` unless NULL) are device memory of
/// `m × k`, `k × n`, `m × n` elements, aligned to the element size; `c_dev` must not overlap
/// the inputs. `status_dev`: NULL or one int32 on the device that the kernel ORs with 1 when an
/// int32 input lies outside `[-2^28, 2^28]` (the result is then unspecified; zero it before).
/// Returns once enqueued. Errors: `SARAPHIS_ERR_DEVICE` (no GPU, launch failure),
/// `SARAPHIS_ERR_INVALID_ARGUMENT`, `SARAPHIS_ERR_NULL_PARAMETER`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_tropical_matmul_device(
    system: *const saraphis_system,
    semiring: u32,
    dtype: u32,
    a_dev: *const c_void,
    b_dev: *const c_void,
    c_dev: *mut c_void,
    m: usize,
    k: usize,
    n: usize,
    argbest_dev: *mut u32,
    status_dev: *mut i32,
    stream: *mut c_void,
) -> saraphis_result {
    guard(|| {
        let sys = saraphis_system::try_ref(system, "system")?;
        let s = semiring_arg(semiring)?;
        let dtype = crate::ffi::types::dtype_arg(dtype)?;
        let mn = m
            .checked_mul(n)
            .ok_or_else(|| super::boundary::invalid("m * n overflows"))?;
        if mn > 0 && c_dev.is_null() {
            return Err(Fail::Null("c_dev"));
        }
        if mn > 0 && k > 0 && (a_dev.is_null() || b_dev.is_null()) {
            return Err(Fail::Null(if a_dev.is_null() { "a_dev" } else { "b_dev" }));
        }
        sys.tropical_matmul_device(
            s,
            dtype,
            [
                DevicePtr::from_ptr(a_dev),
                DevicePtr::from_ptr(b_dev),
                DevicePtr::from_ptr(c_dev),
            ],
            DevicePtr::from_ptr(argbest_dev as *const c_void),
            (m as u64, k as u64, n as u64),
            DevicePtr::from_ptr(status_dev as *const c_void),
            stream,
        )?;
        Ok(())
    })
}

/// Make the ring `Z/p^N` for prime `prime` (at most 65521) and precision `precision` (`N >= 1`,
/// `p^N <= 2^62`) into `*out` (owned by the caller: `saraphis_padic_ring_free`).
/// Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` (not a prime, too large, precision out of range),
/// `SARAPHIS_ERR_NULL_PARAMETER`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_padic_ring_new(
    prime: u32,
    precision: u32,
    out: *mut *mut saraphis_padic_ring,
) -> saraphis_result {
    guard(|| {
        let out = out_ptr(out, "out")?;
        let r = PadicRing::new(prime, precision)?;
        *out = saraphis_padic_ring::into_handle(r);
        Ok(())
    })
}

/// Release a ring from `saraphis_padic_ring_new`; NULL is a no-op. Not while another thread
/// uses it.
#[no_mangle]
pub unsafe extern "C" fn saraphis_padic_ring_free(ring: *mut saraphis_padic_ring) {
    guard_value((), || saraphis_padic_ring::free(ring))
}

/// The modulus `p^N` of a ring (0 for NULL). Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_padic_ring_modulus(ring: *const saraphis_padic_ring) -> u64 {
    guard_value(0, || {
        saraphis_padic_ring::try_ref(ring, "ring").map_or(0, |r| r.modulus())
    })
}

fn padic_op_arg(op: u32) -> Result<PadicOp, Fail> {
    PadicOp::from_u32(op)
        .ok_or_else(|| super::boundary::invalid(format!("p-adic op {op}: not 0 ..= 5")))
}

/// Batch p-adic arithmetic on residues in `[0, p^N)` (uint64): `out[i] = a[i] op b[i]` for the
/// binary ops (`SARAPHIS_PADIC_ADD`, `SUB`, `MUL`), `op a[i]` for the unary ones (`NEG`,
/// `INVERSE`, `VALUATION`; `b` must be NULL). `len` elements each, host memory; `out` must not
/// overlap the inputs. Multi-threaded on the system's pool. Errors:
/// `SARAPHIS_ERR_INVALID_ARGUMENT` (op, an input `>= p^N` (the message names its index), `b`
/// given for a unary op, a non-unit for `INVERSE`), `SARAPHIS_ERR_NULL_PARAMETER`,
/// `SARAPHIS_ERR_DESTINATION`. `out` is written only on success. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_padic_batch(
    system: *const saraphis_system,
    ring: *const saraphis_padic_ring,
    op: u32,
    a: *const u64,
    b: *const u64,
    out: *mut u64,
    len: usize,
) -> saraphis_result {
    guard(|| {
        let sys = saraphis_system::try_ref(system, "system")?;
        let r = saraphis_padic_ring::try_ref(ring, "ring")?;
        let op = padic_op_arg(op)?;
        let a: &[u64] = elems(a as *const c_void, len, "a")?;
        let b: Option<&[u64]> = if op.is_binary() {
            Some(elems(b as *const c_void, len, "b")?)
        } else if !b.is_null() {
            return Err(super::boundary::invalid(format!(
                "b must be NULL for the unary op {}",
                op.name()
            )));
        } else {
            None
        };
        let mut ins = vec![span(a)];
        if let Some(b) = b {
            ins.push(span(b));
        }
        let o: &mut [u64] = elems_mut(out as *mut c_void, len, &ins, "out")?;
        let mut t = vec![0u64; len];
        sys.run_on_pool(|| r.batch(op, a, b, &mut t))?;
        o.copy_from_slice(&t);
        Ok(())
    })
}

/// Batch p-adic arithmetic on the GPU, enqueued on `stream` (NULL = the library's own stream):
/// the ops of `saraphis_padic_batch` except `SARAPHIS_PADIC_INVERSE` (host only:
/// `SARAPHIS_ERR_UNSUPPORTED`), bit for bit the host's results, on device arrays of `len`
/// uint64 (aligned to 8; `b_dev` NULL for unary ops). `status_dev`: NULL or one int32 on the
/// device that the kernel ORs with 1 when an input is `>= p^N` (that output is then
/// unspecified). Returns once enqueued. Errors: `SARAPHIS_ERR_DEVICE`,
/// `SARAPHIS_ERR_INVALID_ARGUMENT`, `SARAPHIS_ERR_NULL_PARAMETER`, `SARAPHIS_ERR_UNSUPPORTED`.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_padic_batch_device(
    system: *const saraphis_system,
    ring: *const saraphis_padic_ring,
    op: u32,
    a_dev: *const u64,
    b_dev: *const u64,
    out_dev: *mut u64,
    len: usize,
    status_dev: *mut i32,
    stream: *mut c_void,
) -> saraphis_result {
    guard(|| {
        let sys = saraphis_system::try_ref(system, "system")?;
        let r = saraphis_padic_ring::try_ref(ring, "ring")?;
        let op = padic_op_arg(op)?;
        if len > 0 && (a_dev.is_null() || out_dev.is_null()) {
            return Err(Fail::Null(if a_dev.is_null() {
                "a_dev"
            } else {
                "out_dev"
            }));
        }
        if op.is_binary() && len > 0 && b_dev.is_null() {
            return Err(Fail::Null("b_dev"));
        }
        if !op.is_binary() && !b_dev.is_null() {
            return Err(super::boundary::invalid(format!(
                "b_dev must be NULL for the unary op {}",
                op.name()
            )));
        }
        sys.padic_batch_device(
            r,
            op,
            [
                DevicePtr::from_ptr(a_dev as *const c_void),
                DevicePtr::from_ptr(b_dev as *const c_void),
                DevicePtr::from_ptr(out_dev as *const c_void),
            ],
            len as u64,
            DevicePtr::from_ptr(status_dev as *const c_void),
            stream,
        )?;
        Ok(())
    })
}

/// Digits of residues: `digits[i * N + j]` = digit `j` (least significant first, `< p`) of
/// `a[i]`, for `len` residues (`digits` holds `len × N` uint32). Errors:
/// `SARAPHIS_ERR_INVALID_ARGUMENT` (an input `>= p^N`), `SARAPHIS_ERR_NULL_PARAMETER`,
/// `SARAPHIS_ERR_DESTINATION` (`digits` overlapping `a`).
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_padic_to_digits(
    ring: *const saraphis_padic_ring,
    a: *const u64,
    len: usize,
    digits: *mut u32,
) -> saraphis_result {
    guard(|| {
        let r = saraphis_padic_ring::try_ref(ring, "ring")?;
        let a: &[u64] = elems(a as *const c_void, len, "a")?;
        let nd = len
            .checked_mul(r.precision() as usize)
            .ok_or_else(|| super::boundary::invalid("len * N overflows"))?;
        let d: &mut [u32] = elems_mut(digits as *mut c_void, nd, &[span(a)], "digits")?;
        let mut t = vec![0u32; nd];
        r.to_digits_batch(a, &mut t)?;
        d.copy_from_slice(&t);
        Ok(())
    })
}

/// Residues from digits: the inverse of `saraphis_padic_to_digits` (`digits`: `len × N`
/// uint32, each `< p`). Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` (a digit `>= p`),
/// `SARAPHIS_ERR_NULL_PARAMETER`, `SARAPHIS_ERR_DESTINATION`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_padic_from_digits(
    ring: *const saraphis_padic_ring,
    digits: *const u32,
    len: usize,
    out: *mut u64,
) -> saraphis_result {
    guard(|| {
        let r = saraphis_padic_ring::try_ref(ring, "ring")?;
        let nd = len
            .checked_mul(r.precision() as usize)
            .ok_or_else(|| super::boundary::invalid("len * N overflows"))?;
        let d: &[u32] = elems(digits as *const c_void, nd, "digits")?;
        let o: &mut [u64] = elems_mut(out as *mut c_void, len, &[span(d)], "out")?;
        let mut t = vec![0u64; len];
        r.from_digits_batch(d, &mut t)?;
        o.copy_from_slice(&t);
        Ok(())
    })
}

/// Hensel lifting: the root `*root` in `Z/p^N` of the polynomial `sum_i coeffs[i] x^i`
/// (`n_coeffs` residues, constant term first) that is congruent to `r0` mod `p`, where `r0` is
/// a simple root mod `p` (`f(r0) ≡ 0`, `f'(r0) ≢ 0 mod p`). Errors:
/// `SARAPHIS_ERR_INVALID_ARGUMENT` (`r0` not a root mod p, a singular root, coefficients out of
/// range, no coefficients), `SARAPHIS_ERR_NULL_PARAMETER`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_padic_hensel_root(
    ring: *const saraphis_padic_ring,
    coeffs: *const u64,
    n_coeffs: usize,
    r0: u64,
    root: *mut u64,
) -> saraphis_result {
    guard(|| {
        let r = saraphis_padic_ring::try_ref(ring, "ring")?;
        let c: &[u64] = elems(coeffs as *const c_void, n_coeffs, "coeffs")?;
        let out = out_ptr(root, "root")?;
        *out = r.hensel_root(c, r0)?;
        Ok(())
    })
}
