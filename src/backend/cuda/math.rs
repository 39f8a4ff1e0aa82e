//! GPU kernels of the math library ([`crate::math`]): tropical matrix multiplication and
//! elementwise operations (`kernels/tropical.cu`) and batch p-adic arithmetic on residues
//! (`kernels/padic_math.cu`), stream-ordered, from device memory into device memory.
//!
//! Semantics are the CPU's ([`crate::math::tropical`], [`crate::math::padic`]) bit for bit,
//! except that a zero result of a float operation may be `+0` or `-0`:
//! * tropical, f32/f64: `a ⊗ b = a + b` (one IEEE addition); a NaN term (a NaN input, or
//!   `-inf + +inf`) counts as the semiring zero, so outputs are never NaN; ties in `⊕` keep the
//!   smallest `k` (argbest).
//! * tropical, i32: finite entries in `[-2^28, 2^28]`, the zero `i32::MIN` (max-plus) or
//!   `i32::MAX` (min-plus); an entry outside that range that is not the zero raises bit 1 of the
//!   status word and the result is unspecified.
//! * p-adic: residues in `[0, M)`, `M = p^n <= 2^62`; multiplication by the CPU's Barrett
//!   reduction; an input `>= M` raises bit 1 of the status word and its output is unspecified.
//!
//! No launcher synchronizes the host or allocates memory.

use std::ffi::c_void;

use super::{arg, CudaDevice};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::math::Semiring;

/// Threads per block of every kernel here (`TROP_THREADS`; `__launch_bounds__(256)`).
const THREADS: u32 = 256;
/// Most blocks of a grid-stride (elementwise, p-adic) launch, per multiprocessor.
const BLOCKS_PER_SM: u64 = 16;
/// Block tile rows x columns of the matmul per dtype (`16 * TM` x `16 * TN` in
/// `kernels/tropical.cu`): 128 x 128 for f32 and i32, 64 x 64 for f64.
fn block_tile(dtype: DType) -> u64 {
    if dtype == DType::F64 {
        64
    } else {
        128
    }
}

/// Kernel index of a dtype (0 f32, 1 f64, 2 i32), or an `InvalidArgument` error.
fn dtype_index(dtype: DType, what: &str) -> Result<usize> {
    match dtype {
        DType::F32 => Ok(0),
        DType::F64 => Ok(1),
        DType::I32 => Ok(2),
        _ => Err(Error::InvalidArgument(format!(
            "{what}: dtype {dtype:?} (tropical kernels take F32, F64 or I32)"
        ))),
    }
}

/// The kernels of this file, loaded with the module (`CudaDevice::load`).
pub(super) struct MathKernels {
    /// `saraphis_tropical_mm_{f32,f64,i32}_{max,min}[_arg]`, index `4 * dtype + 2 * semiring + arg`.
    mm: Vec<cudarc::driver::CudaFunction>,
    /// `saraphis_tropical_ew_{f32,f64,i32}`.
    ew: Vec<cudarc::driver::CudaFunction>,
    /// `saraphis_padic_batch`.
    padic: cudarc::driver::CudaFunction,
}

impl MathKernels {
    /// Look the kernels up in the loaded module through `f` (name -> function).
    pub(super) fn load(f: impl Fn(&str) -> Result<cudarc::driver::CudaFunction>) -> Result<Self> {
        let mut mm = Vec::with_capacity(12);
        for d in ["f32", "f64", "i32"] {
            for s in ["max", "min"] {
                for a in ["", "_arg"] {
                    mm.push(f(&format!("saraphis_tropical_mm_{d}_{s}{a}"))?);
                }
            }
        }
        let ew = ["f32", "f64", "i32"]
            .iter()
            .map(|d| f(&format!("saraphis_tropical_ew_{d}")))
            .collect::<Result<Vec<_>>>()?;
        Ok(MathKernels {
            mm,
            ew,
            padic: f("saraphis_padic_batch")?,
        })
    }
}

/// Inverse of an odd `p` modulo 2^64 (Newton's iteration: each step doubles the correct bits).
fn inverse_mod_2_64(p: u64) -> u64 {
    let mut x = p; // correct to 3 bits: p * p = 1 mod 8 for odd p
    for _ in 0..5 {
        x = x.wrapping_mul(2u64.wrapping_sub(p.wrapping_mul(x)));
    }
    x
}

impl CudaDevice {
    /// Enqueue the tropical matrix product `C = A ⊗ B` on `stream`: row-major `A` (`m x k`),
    /// `B` (`k x n`) and `C` (`m x n`) of `dtype` (F32, F64 or I32), `C[i,j] = ⊕_k A[i,k] + B[k,j]`
    /// in `semiring` (see the module notes for NaN, ties and the i32 range). `argbest`: 0, or
    /// `m * n` u32 receiving the smallest `k` attaining each `C[i,j]` (`u32::MAX` where `C[i,j]`
    /// is the zero). `status`: 0, or one i32 that the caller zeroed, raised (bitwise or) to 1
    /// when an I32 entry is out of range. `k = 0` gives `C` all zero (`A` and `B` unread);
    /// `m = 0` or `n = 0` enqueues nothing. Addresses are device pointers (16-byte alignment
    /// and `k`, `n` multiples of 4 / 2 (F64) take the vectorised load path; any alignment of
    /// the element size works). Returns once enqueued.
    ///
    /// Errors: `InvalidArgument` (another dtype, a dimension of 2^31 or more, more than
    /// 2^31 - 1 blocks, a null `c`, or a null `a`/`b` with `k > 0`); `Device` (launch failure).
    ///
    /// # Safety
    /// `a`, `b`, `c` (and `argbest`, `status` when nonzero) must be live device allocations of
    /// at least the sizes above in this device's primary context, `c` and `argbest` must not
    /// overlap the inputs or each other, and all must stay alive until `stream` (a `CUstream` of
    /// that context, or null for the legacy default stream) passes this work.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tropical_matmul_async(
        &self,
        semiring: Semiring,
        dtype: DType,
        a: u64,
        b: u64,
        c: u64,
        argbest: u64,
        m: u64,
        k: u64,
        n: u64,
        status: u64,
        stream: *mut c_void,
    ) -> Result<()> {
        let d = dtype_index(dtype, "tropical matmul")?;
        let lim = 1u64 << 31;
        if m >= lim || k >= lim || n >= lim {
            return Err(Error::InvalidArgument(format!(
                "tropical matmul: {m} x {k} x {n}: each dimension must be below 2^31"
            )));
        }
        if m == 0 || n == 0 {
            return Ok(());
        }
        if c == 0 || (k > 0 && (a == 0 || b == 0)) {
            return Err(Error::InvalidArgument(
                "tropical matmul: null device pointer".into(),
            ));
        }
        let tile = block_tile(dtype);
        let blocks = m.div_ceil(tile) * n.div_ceil(tile);
        if blocks > i32::MAX as u64 {
            return Err(Error::InvalidArgument(format!(
                "tropical matmul: {m} x {n} needs {blocks} blocks (at most 2^31 - 1)"
            )));
        }
        let f = &self.math.mm[4 * d + 2 * semiring as usize + (argbest != 0) as usize];
        let (m32, k32, n32) = (m as i32, k as i32, n as i32);
        let mut args: [*mut c_void; 8] = [
            arg(&a),
            arg(&b),
            arg(&c),
            arg(&argbest),
            arg(&m32),
            arg(&k32),
            arg(&n32),
            arg(&status),
        ];
        self.launch_block(f, blocks as u32, THREADS, 0, stream, &mut args, false)
    }

    /// Enqueue `out[i] = a[i] ⊕ b[i]` (`op` 0) or `a[i] ⊗ b[i]` (`op` 1) for `i < len` elements
    /// of `dtype` (F32, F64 or I32) in `semiring`. Floats: NaN inputs count as the zero (outputs
    /// are never NaN). I32: as [`CudaDevice::tropical_matmul_async`] (zero absorbing for `⊗`,
    /// out-of-range entries raise `status`, which may be 0). `out` may equal `a` or `b`
    /// (elementwise in place). Returns once enqueued.
    ///
    /// Errors: `InvalidArgument` (another dtype, `op` > 1, a null pointer with `len > 0`);
    /// `Device` (launch failure).
    ///
    /// # Safety
    /// `a`, `b` and `out` must be live device allocations of at least `len` elements (and
    /// `status`, when nonzero, one i32) of this device's primary context, staying alive until
    /// `stream` (a `CUstream` of that context, or null for the legacy default stream) passes
    /// this work; `out` must not partially overlap `a` or `b`.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tropical_elementwise_async(
        &self,
        semiring: Semiring,
        dtype: DType,
        op: u32,
        a: u64,
        b: u64,
        out: u64,
        len: u64,
        status: u64,
        stream: *mut c_void,
    ) -> Result<()> {
        let d = dtype_index(dtype, "tropical elementwise")?;
        if op > 1 {
            return Err(Error::InvalidArgument(format!(
                "tropical elementwise: op {op} (0 = add, 1 = mul)"
            )));
        }
        if len == 0 {
            return Ok(());
        }
        if a == 0 || b == 0 || out == 0 {
            return Err(Error::InvalidArgument(
                "tropical elementwise: null device pointer".into(),
            ));
        }
        let per_vec = 16 / dtype.size() as u64;
        let blocks = len
            .div_ceil(per_vec * THREADS as u64)
            .clamp(1, BLOCKS_PER_SM * self.sms.max(1) as u64);
        let sr = semiring as u32;
        let mut args: [*mut c_void; 7] = [
            arg(&a),
            arg(&b),
            arg(&out),
            arg(&len),
            arg(&sr),
            arg(&op),
            arg(&status),
        ];
        self.launch_block(
            &self.math.ew[d],
            blocks as u32,
            THREADS,
            0,
            stream,
            &mut args,
            false,
        )
    }

    /// Enqueue a batch p-adic operation on `len` residues (u64) in `Z/M`, `M = modulus =
    /// prime^precision <= 2^62`: `op` 0 `a + b`, 1 `a - b`, 2 `a * b` (Barrett reduction with
    /// `barrett_bits` = the bit length of `M` capped at 62 and `barrett_mu = floor(2^(2 *
    /// barrett_bits) / M)`, as [`crate::math::padic::PadicRing::barrett`] gives them), 3 `-a`, 5 the valuation `v_p(a)` (`precision` for `a = 0`). `b` is unread
    /// (may be 0) for ops 3 and 5. `status`: 0, or one i32 the caller zeroed, raised (bitwise or)
    /// to 1 when an input is `>= M` (that output is unspecified). `out` may equal `a` or `b`.
    /// Returns once enqueued.
    ///
    /// Errors: `Unsupported` (op 4, the inverse: the CPU library's); `InvalidArgument` (another
    /// op, `prime` not in 2..=65521, `modulus != prime^precision`, `modulus > 2^62`, Barrett
    /// parameters that are not those of `modulus`, a null pointer with `len > 0`); `Device`
    /// (launch failure).
    ///
    /// # Safety
    /// `a`, `out` (and `b` for ops 0-2) must be live device allocations of at least `8 * len`
    /// bytes (and `status`, when nonzero, one i32) of this device's primary context, staying
    /// alive until `stream` (a `CUstream` of that context, or null for the legacy default
    /// stream) passes this work; `out` must not partially overlap `a` or `b`.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn padic_batch_async(
        &self,
        op: u32,
        modulus: u64,
        prime: u32,
        precision: u32,
        barrett_bits: u32,
        barrett_mu: u64,
        a: u64,
        b: u64,
        out: u64,
        len: u64,
        status: u64,
        stream: *mut c_void,
    ) -> Result<()> {
        match op {
            0..=3 | 5 => {}
            4 => {
                return Err(Error::Unsupported(
                    "p-adic inverse on the GPU: use the CPU library (crate::math::padic)".into(),
                ))
            }
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "p-adic batch: op {op} (0 add, 1 sub, 2 mul, 3 neg, 5 valuation)"
                )))
            }
        }
        if !(2..=65521).contains(&prime) || precision == 0 {
            return Err(Error::InvalidArgument(format!(
                "p-adic batch: prime {prime}, precision {precision}"
            )));
        }
        if (prime as u64).checked_pow(precision) != Some(modulus) || modulus > 1 << 62 {
            return Err(Error::InvalidArgument(format!(
                "p-adic batch: modulus {modulus} is not {prime}^{precision} <= 2^62"
            )));
        }
        // PadicRing::barrett: the bit length capped at 62 (M = 2^62 has 63 bits).
        let bits = (64 - modulus.leading_zeros()).min(62);
        let mu = (1u128 << (2 * bits)) / modulus as u128;
        if barrett_bits != bits || mu != barrett_mu as u128 {
            return Err(Error::InvalidArgument(format!(
                "p-adic batch: Barrett parameters ({barrett_bits}, {barrett_mu}), those of \
                 {modulus} are ({bits}, {mu})"
            )));
        }
        if len == 0 {
            return Ok(());
        }
        if a == 0 || out == 0 || (op <= 2 && b == 0) {
            return Err(Error::InvalidArgument(
                "p-adic batch: null device pointer".into(),
            ));
        }
        let (pinv, plim) = if prime % 2 == 1 {
            (inverse_mod_2_64(prime as u64), u64::MAX / prime as u64)
        } else {
            (0, 0)
        };
        let blocks = len
            .div_ceil(2 * THREADS as u64)
            .clamp(1, BLOCKS_PER_SM * self.sms.max(1) as u64);
        let mut args: [*mut c_void; 13] = [
            arg(&op),
            arg(&modulus),
            arg(&prime),
            arg(&precision),
            arg(&barrett_bits),
            arg(&barrett_mu),
            arg(&pinv),
            arg(&plim),
            arg(&a),
            arg(&b),
            arg(&out),
            arg(&len),
            arg(&status),
        ];
        self.launch_block(
            &self.math.padic,
            blocks as u32,
            THREADS,
            0,
            stream,
            &mut args,
            false,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::inverse_mod_2_64;

    #[test]
    fn inverse_mod_2_64_inverts_odd_primes() {
        for p in [3u64, 5, 251, 65521] {
            assert_eq!(p.wrapping_mul(inverse_mod_2_64(p)), 1);
        }
    }
}
