//! The math library through the system (issue 14): host calls on the system's worker pool and
//! GPU calls on its CUDA device (`crate::backend::cuda::math`), for the C API (`crate::ffi::math`)
//! and `saraphis bench`. Semantics: `crate::math`.

use std::ffi::c_void;

use super::{DevicePtr, System};
use crate::error::{Error, Result};
use crate::math::padic::{PadicOp, PadicRing};
use crate::math::Semiring;
use crate::DType;

impl System {
    /// Run `f` on the system's worker pool (its rayon pool of `threads` workers), so that the
    /// math library's parallel loops use the configured threads. Blocks until `f` returns.
    pub fn run_on_pool<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    /// Enqueue a tropical matrix product on this system's GPU (see
    /// `CudaDevice::tropical_matmul_async`): `[a, b, c]` device addresses of `m × k`, `k × n`,
    /// `m × n` elements of `dtype` (F32, F64, I32), `argbest` ([`DevicePtr::NULL`] for none),
    /// `status` (one i32, or NULL), on `stream` (null = the library's own stream). Errors:
    /// `Device` (no GPU, launch failure), `InvalidArgument` (dtype, sizes).
    ///
    /// # Safety
    /// The addresses must be live device allocations of the stated sizes, alive until the stream
    /// passes this work; `c` and `argbest` must not overlap the inputs.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tropical_matmul_device(
        &self,
        semiring: Semiring,
        dtype: DType,
        [a, b, c]: [DevicePtr; 3],
        argbest: DevicePtr,
        (m, k, n): (u64, u64, u64),
        status: DevicePtr,
        stream: *mut c_void,
    ) -> Result<()> {
        let (_restore, dev) = self.require_cuda()?;
        let stream = dev.stream_or_own(stream)?;
        dev.tropical_matmul_async(
            semiring, dtype, a.0, b.0, c.0, argbest.0, m, k, n, status.0, stream,
        )
    }

    /// Enqueue a p-adic batch operation on this system's GPU (see
    /// `CudaDevice::padic_batch_async`): `[a, b, out]` device arrays of `len` u64 residues
    /// (`b` NULL for unary ops), `status` one i32 or NULL. `PadicOp::Inverse` is host only.
    /// Errors: `Device`, `Unsupported` (inverse), `InvalidArgument`.
    ///
    /// # Safety
    /// As [`System::tropical_matmul_device`].
    pub unsafe fn padic_batch_device(
        &self,
        ring: &PadicRing,
        op: PadicOp,
        [a, b, out]: [DevicePtr; 3],
        len: u64,
        status: DevicePtr,
        stream: *mut c_void,
    ) -> Result<()> {
        if op == PadicOp::Inverse {
            return Err(Error::Unsupported(
                "p-adic inverse runs on the host only (saraphis_padic_batch)".into(),
            ));
        }
        let (_restore, dev) = self.require_cuda()?;
        let stream = dev.stream_or_own(stream)?;
        let (bits, mu) = ring.barrett();
        dev.padic_batch_async(
            op as u32,
            ring.modulus(),
            ring.prime(),
            ring.precision(),
            bits,
            mu,
            a.0,
            b.0,
            out.0,
            len,
            status.0,
            stream,
        )
    }
}
