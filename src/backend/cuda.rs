//! CUDA backend: the embedded fatbin (built from `kernels/*.cu` by `build.rs`), the driver loaded
//! at run time through cudarc's dynamic loading, one module per device loaded once and cached,
//! and stream-ordered kernel launches on caller memory (the nvCOMP low-level API's model).
//!
//! Nothing here panics on a machine without CUDA: cudarc panics when libcuda is missing, so every
//! cudarc call sits behind `is_culib_present()` (see `availability`) and inside
//! `catch_unwind`.

use std::collections::HashMap;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock};

use crate::dtype::DType;
use crate::error::{Error, Result};

mod encode;
mod math;
mod memory;
mod padic_encode;
mod segmented;
mod sparse;
pub use encode::EncodeLayout;
pub use memory::{DeviceBuffer, DeviceEvent, PinnedBytes, PoolUsage};
pub use segmented::{SegmentedItem, NOMINAL_SEGMENT_ELEMS, SEG_BATCH};
pub use sparse::{NestedPart, SparseDecode, SparseScatter};

#[cfg(saraphis_cuda)]
static FATBIN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/saraphis.fatbin"));
#[cfg(not(saraphis_cuda))]
static FATBIN: &[u8] = &[];

/// Slots (bytes of shared memory) per rANS stream of a chunk: tables have at most 2^12
/// entries on the GPU path.
const SLOTS_PER_STREAM: u32 = 4096;
/// Most symbol streams each `saraphis_decode_exact_{2,3,4,8}` variant holds (the suffix).
const VARIANT_STREAMS: [u32; 4] = [2, 3, 4, 8];
/// Index of `saraphis_decode_exact_f64`: 8 streams, the exponent stream with 11-bit symbols.
const VARIANT_F64: usize = 4;
/// Dynamic shared memory of the F64 variant: the wide exponent table (`WIDE_REGION_BYTES`: 4096
/// u32 slots and 2048 u16 cumulative frequencies) and 7 byte-symbol tables.
const F64_SLOT_CAP: u32 = 4096 * 4 + 2048 * 2 + 7 * SLOTS_PER_STREAM;
/// Digit planes `saraphis_decode_padic` holds (`PT_PLANES` in `kernels/padic.cu`): reading more is
/// status 5. Any prime >= 211 needs at most 8 planes.
pub const PADIC_GPU_MAX_PLANES: u32 = 8;
/// Bytes of one plane's state in its dynamic shared memory (`PT_PLANE_BYTES`).
const PADIC_PLANE_BYTES: u32 = 7952;
/// Dynamic shared memory of `saraphis_decode_padic`.
const PADIC_DYN_BYTES: u32 = PADIC_GPU_MAX_PLANES * PADIC_PLANE_BYTES;
/// Threads per block of the decode kernels = most lanes per stream they decode
/// (`crate::codec::MAX_LANES`).
const BLOCK: u32 = 128;
/// Threads per block of `saraphis_decode_quant` (`QT_BLOCK` in `kernels/quant.cu`).
const QUANT_BLOCK: u32 = 256;

/// True when this build embeds CUDA kernels.
pub fn kernels_built() -> bool {
    cfg!(saraphis_cuda)
}

fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| format!("the CUDA driver panicked in {what}"))
}

/// The calling thread's current CUDA context, saved on creation and made current again on drop,
/// so that no library call leaves its own (primary) context bound to the caller's thread: the
/// effect of `cuCtxPushCurrent` / `cuCtxPopCurrent` around every call, also across cudarc's
/// own internal binds. A thread that had no current context has none again afterwards. Create
/// one only once the driver is known to be loaded. Not `Send`: it belongs to its thread.
pub struct ContextRestore(Option<cudarc::driver::sys::CUcontext>);

impl ContextRestore {
    /// Save the calling thread's current context (none if the query fails).
    pub fn save() -> ContextRestore {
        ContextRestore(
            guarded("cuCtxGetCurrent", cudarc::driver::result::ctx::get_current)
                .ok()
                .and_then(|r| r.ok())
                .flatten(),
        )
    }
}

impl Drop for ContextRestore {
    fn drop(&mut self) {
        let prev = self.0.unwrap_or(std::ptr::null_mut());
        // SAFETY: `prev` was current on this thread when saved (or null, which unbinds); the
        // library keeps its own contexts alive, and a caller's context outliving its own call
        // is the caller's contract, as with cuCtxPopCurrent.
        let _ = guarded("cuCtxSetCurrent", || unsafe {
            cudarc::driver::result::ctx::set_current(prev)
        });
    }
}

/// Number of CUDA devices usable by this build, or why none is.
pub fn availability() -> std::result::Result<usize, String> {
    if !kernels_built() {
        return Err("this build has no CUDA kernels (nvcc was not found when it was built)".into());
    }
    // SAFETY: only tries to dlopen the driver library.
    let present = guarded("probe", || unsafe {
        cudarc::driver::sys::is_culib_present()
    })?;
    if !present {
        return Err("no CUDA driver (libcuda.so) on this machine".into());
    }
    match guarded("device_count", cudarc::driver::CudaContext::device_count)? {
        Ok(n) if n > 0 => Ok(n as usize),
        Ok(_) => Err("the CUDA driver reports no device".into()),
        Err(e) => Err(format!("CUDA driver error: {e}")),
    }
}

/// One opened device: its context, the loaded module and kernel handles. `Send + Sync`.
pub struct CudaDevice {
    /// Device ordinal.
    pub ordinal: usize,
    /// Compute capability (major, minor), read at start-up.
    pub compute_capability: (i32, i32),
    /// Streaming multiprocessors.
    pub sms: u32,
    ctx: Arc<cudarc::driver::CudaContext>,
    /// `saraphis_decode_exact_{2,3,4,8}`: variants by the most symbol streams a chunk can have.
    decode_exact: [cudarc::driver::CudaFunction; 5],
    /// `saraphis_assemble`: second stage of the unfused decode.
    assemble: cudarc::driver::CudaFunction,
    /// `saraphis_decode_padic`: p-adic containers (the exact kernels leave them alone).
    decode_padic: cudarc::driver::CudaFunction,
    /// `saraphis_decode_quant`: quant containers (the other kernels leave them alone).
    decode_quant: cudarc::driver::CudaFunction,
    /// `saraphis_sparse_scatter`: the last step of a sparse decode (`sparse.rs`).
    sparse_scatter: cudarc::driver::CudaFunction,
    /// `saraphis_decode_segmented_{2,4}`: lossless-v2 containers, many tensors per launch.
    decode_segmented: [cudarc::driver::CudaFunction; 2],
    /// `saraphis_decode_segmented_{2,4}_one`: the same for one tensor, with small parameters.
    decode_segmented_one: [cudarc::driver::CudaFunction; 2],
    /// Resident warps per multiprocessor of each `decode_segmented` variant at 1, 2, 4 and 8
    /// warps per block.
    seg_resident: [[u32; 4]; 2],
    /// `saraphis_encode_plan_<kind>` and `saraphis_encode_write_<kind>` for each kind of
    /// `encode::ENCODE_KINDS`.
    encode_plan: Vec<cudarc::driver::CudaFunction>,
    encode_write: Vec<cudarc::driver::CudaFunction>,
    /// `saraphis_encode_offsets` and `saraphis_encode_finish` (one block each).
    encode_offsets: cudarc::driver::CudaFunction,
    encode_finish: cudarc::driver::CudaFunction,
    /// `saraphis_padic_stats`, `saraphis_padic_params`, `saraphis_encode_padic` and
    /// `saraphis_padic_finish`: p-adic compression.
    padic_stats: cudarc::driver::CudaFunction,
    padic_params: cudarc::driver::CudaFunction,
    encode_padic: cudarc::driver::CudaFunction,
    padic_finish: cudarc::driver::CudaFunction,
    /// Tropical and p-adic math kernels (`kernels/tropical.cu`, `kernels/padic_math.cu`).
    math: math::MathKernels,
    /// The library's own stream of this device (non-blocking, created on first use): where work
    /// goes when a caller passes a null `CUstream`.
    own_stream: OnceLock<Arc<cudarc::driver::CudaStream>>,
    /// A second non-blocking stream of the primary context, created on first use: the branch
    /// of a call that runs two independent decodes at once (the sparse codec's mask beside its
    /// values), joined back by events; see [`CudaDevice::side_stream`].
    side_stream: OnceLock<Arc<cudarc::driver::CudaStream>>,
    /// Device memory ranges (start, end, written) of the decodes enqueued on the library's own
    /// stream that may still run; see `CudaDevice::enqueue_decode`.
    own_stream_inflight: Mutex<Vec<(u64, u64, bool)>>,
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cuda:{} (sm_{}{})",
            self.ordinal, self.compute_capability.0, self.compute_capability.1
        )
    }
}

/// A kernel argument for `cuLaunchKernel`: the address of a live value of the parameter's type.
fn arg<T>(v: &T) -> *mut c_void {
    v as *const T as *mut c_void
}

fn dev_err(e: impl std::fmt::Display) -> Error {
    Error::Device(e.to_string())
}

static DEVICES: OnceLock<Mutex<HashMap<usize, Arc<CudaDevice>>>> = OnceLock::new();

impl CudaDevice {
    /// Open device `ordinal` (cached: the module is loaded once per device per process).
    /// Errors: `Device` with the reason (no kernels, no driver, no such device, load failure).
    pub fn open(ordinal: usize) -> Result<Arc<CudaDevice>> {
        let count = availability().map_err(Error::Device)?;
        if ordinal >= count {
            return Err(Error::Device(format!(
                "cuda:{ordinal} requested, {count} device(s) present"
            )));
        }
        let cache = DEVICES.get_or_init(|| Mutex::new(HashMap::new()));
        let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = map.get(&ordinal) {
            return Ok(d.clone());
        }
        let _restore = ContextRestore::save();
        let dev = guarded("open", || Self::load(ordinal)).map_err(Error::Device)??;
        let dev = Arc::new(dev);
        map.insert(ordinal, dev.clone());
        Ok(dev)
    }

    fn load(ordinal: usize) -> Result<CudaDevice> {
        use cudarc::driver::sys::CUdevice_attribute;
        let ctx = cudarc::driver::CudaContext::new(ordinal).map_err(dev_err)?;
        let cc = ctx.compute_capability().map_err(dev_err)?;
        let sms = ctx
            .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
            .map_err(dev_err)? as u32;
        let module = ctx
            .load_module(cudarc::nvrtc::Ptx::from_binary(FATBIN.to_vec()))
            .map_err(dev_err)?;
        let f = |name: &str| module.load_function(name).map_err(dev_err);
        let decode_exact = [
            f("saraphis_decode_exact_2")?,
            f("saraphis_decode_exact_3")?,
            f("saraphis_decode_exact_4")?,
            f("saraphis_decode_exact_8")?,
            f("saraphis_decode_exact_f64")?,
        ];
        let assemble = f("saraphis_assemble")?;
        let decode_padic = f("saraphis_decode_padic")?;
        // Plane states (PADIC_DYN_BYTES) plus ~23 KiB of static shared memory: past 48 KiB.
        decode_padic
            .set_attribute(
                cudarc::driver::sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                PADIC_DYN_BYTES as i32,
            )
            .map_err(dev_err)?;
        let decode_quant = f("saraphis_decode_quant")?;
        let sparse_scatter = f("saraphis_sparse_scatter")?;
        let decode_segmented = [
            f("saraphis_decode_segmented_2")?,
            f("saraphis_decode_segmented_4")?,
        ];
        let decode_segmented_one = [
            f("saraphis_decode_segmented_2_one")?,
            f("saraphis_decode_segmented_4_one")?,
        ];
        for (v, f) in decode_segmented
            .iter()
            .chain(&decode_segmented_one)
            .enumerate()
        {
            let v = v % 2;
            f.set_attribute(
                cudarc::driver::sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                segmented::dyn_bytes(v, 8) as i32,
            )
            .map_err(dev_err)?;
        }
        let seg_resident = segmented::resident_warps(&decode_segmented).map_err(dev_err)?;
        let encode_plan = encode::ENCODE_KINDS
            .iter()
            .map(|k| f(&format!("saraphis_encode_plan_{k}")))
            .collect::<Result<Vec<_>>>()?;
        let encode_write = encode::ENCODE_KINDS
            .iter()
            .map(|k| f(&format!("saraphis_encode_write_{k}")))
            .collect::<Result<Vec<_>>>()?;
        let encode_offsets = f("saraphis_encode_offsets")?;
        let encode_finish = f("saraphis_encode_finish")?;
        let padic_stats = f("saraphis_padic_stats")?;
        let padic_params = f("saraphis_padic_params")?;
        let encode_padic = f("saraphis_encode_padic")?;
        let padic_finish = f("saraphis_padic_finish")?;
        let math = math::MathKernels::load(f)?;
        // Variant k holds up to [2, 3, 4, 8][k] slot tables of 4 KiB in dynamic shared memory
        // (the F64 variant: F64_SLOT_CAP); with its static part the 8-table variant passes
        // 48 KiB, which needs the opt-in.
        for (k, f) in decode_exact.iter().enumerate() {
            let dyn_bytes = if k == VARIANT_F64 {
                F64_SLOT_CAP
            } else {
                VARIANT_STREAMS[k] * SLOTS_PER_STREAM
            };
            f.set_attribute(
                cudarc::driver::sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                dyn_bytes as i32,
            )
            .map_err(dev_err)?;
        }
        // The F64 encode kernels add the wide exponent tables in dynamic shared memory to ~44 KiB
        // of static: past 48 KiB, which needs the opt-in.
        for f in [
            &encode_plan[encode::KIND_F64],
            &encode_write[encode::KIND_F64],
        ] {
            f.set_attribute(
                cudarc::driver::sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                encode::F64_DYN_BYTES as i32,
            )
            .map_err(dev_err)?;
        }
        Ok(CudaDevice {
            ordinal,
            compute_capability: cc,
            sms,
            ctx,
            decode_exact,
            assemble,
            decode_padic,
            decode_quant,
            sparse_scatter,
            decode_segmented,
            decode_segmented_one,
            seg_resident,
            encode_plan,
            encode_write,
            encode_offsets,
            encode_finish,
            padic_stats,
            padic_params,
            encode_padic,
            padic_finish,
            math,
            own_stream: OnceLock::new(),
            side_stream: OnceLock::new(),
            own_stream_inflight: Mutex::new(Vec::new()),
        })
    }

    /// The library's own stream of this device, as a `CUstream`: a non-blocking stream of the
    /// primary context, created on first use and kept for the device's lifetime. Work enqueued
    /// on it is not ordered with the caller's streams nor the legacy default stream; wait for it
    /// with [`CudaDevice::synchronize_own_stream`]. Errors: `Device` (stream creation failed).
    /// Thread-safe.
    pub fn own_stream(&self) -> Result<*mut c_void> {
        Ok(self.own_stream_arc()?.cu_stream() as *mut c_void)
    }

    /// The library's own stream as cudarc's handle (see [`CudaDevice::own_stream`]).
    fn own_stream_arc(&self) -> Result<Arc<cudarc::driver::CudaStream>> {
        self.lazy_stream(&self.own_stream)
    }

    /// The stream kept in `cell`, created (non-blocking, primary context) on first use.
    fn lazy_stream(
        &self,
        cell: &OnceLock<Arc<cudarc::driver::CudaStream>>,
    ) -> Result<Arc<cudarc::driver::CudaStream>> {
        if let Some(s) = cell.get() {
            return Ok(s.clone());
        }
        let ctx = self.ctx.clone();
        let s = guarded("stream", move || ctx.new_stream().map_err(dev_err))
            .map_err(Error::Device)??;
        // A racing thread may have set it first; either stream is fine, one is kept.
        Ok(cell.get_or_init(|| s).clone())
    }

    /// Block until the stream kept in `cell` has passed its work (at once if never created).
    fn synchronize_lazy(cell: &OnceLock<Arc<cudarc::driver::CudaStream>>) -> Result<()> {
        match cell.get() {
            None => Ok(()),
            Some(s) => {
                let s = s.clone();
                guarded("synchronize", move || s.synchronize().map_err(dev_err))
                    .map_err(Error::Device)?
            }
        }
    }

    /// The library's side stream (non-blocking, created on first use, kept for the device's
    /// lifetime), as a `CUstream`: where one branch of a call runs while the rest runs on the
    /// caller's stream, ordered both ways by events (the call forks onto it after its earlier
    /// work and joins back before anything that reads the branch's output). Calls from several
    /// threads share it; that can only add waits, never remove one. Errors: `Device`.
    /// Thread-safe.
    pub fn side_stream(&self) -> Result<*mut c_void> {
        Ok(self.lazy_stream(&self.side_stream)?.cu_stream() as *mut c_void)
    }

    /// Block the calling thread until the side stream's work is done (at once if it was never
    /// used). Errors: `Device`. Thread-safe.
    pub fn synchronize_side_stream(&self) -> Result<()> {
        Self::synchronize_lazy(&self.side_stream)
    }

    /// `stream`, or the library's own stream ([`CudaDevice::own_stream`]) when it is null: what a
    /// null `CUstream` means in the C API. Errors: as `own_stream`. Thread-safe.
    pub fn stream_or_own(&self, stream: *mut c_void) -> Result<*mut c_void> {
        if stream.is_null() {
            self.own_stream()
        } else {
            Ok(stream)
        }
    }

    /// Block the calling thread until all work enqueued on the library's own stream (see
    /// [`CudaDevice::own_stream`]) is done; returns at once if it was never used.
    /// Errors: `Device` (a failed kernel or copy on that stream). Thread-safe.
    pub fn synchronize_own_stream(&self) -> Result<()> {
        Self::synchronize_lazy(&self.own_stream)
    }

    /// The device's cudarc context (primary context), for callers that manage memory and streams
    /// themselves (benchmarks, engines built on cudarc).
    pub fn context(&self) -> &Arc<cudarc::driver::CudaContext> {
        &self.ctx
    }

    /// Decode kernel variant for containers of `dtype` and its dynamic shared memory in bytes.
    fn decode_variant(dtype: DType) -> (usize, u32) {
        if dtype == DType::F64 {
            return (VARIANT_F64, F64_SLOT_CAP);
        }
        let v = Self::variant(Self::max_streams(dtype));
        (v, VARIANT_STREAMS[v] * SLOTS_PER_STREAM)
    }

    /// Index of the kernel variant that holds `ns` streams.
    fn variant(ns: u32) -> usize {
        match ns {
            0..=2 => 0,
            3 => 1,
            4 => 2,
            _ => 3,
        }
    }

    /// Most symbol streams a chunk of `dtype` can have in an exact (raw/lossless/bytes) container.
    fn max_streams(dtype: DType) -> u32 {
        match dtype.float_layout() {
            Some(l) => (1 + (l.man_bits + 1).div_ceil(8)).max(dtype.size() as u32),
            None => dtype.size() as u32,
        }
    }

    /// Enqueue the decode of a container of any codec on `stream`: raw, lossless-float and
    /// byte-plane containers bit for bit (`saraphis_decode_exact_*`), p-adic containers to exactly
    /// the values the CPU decoder gives (`saraphis_decode_padic`, launched second on the same
    /// stream; each kernel leaves the other's containers alone).
    ///
    /// `src`/`src_len`: the container in device memory. `dst`/`dst_len`: the output in device
    /// memory, exactly the tensor's bytes, aligned to the element size. `status`: `status_len`
    /// int32 on the device receiving one code per chunk (0 ok; 1 bad header, 2 bad stream, 3 rANS
    /// state mismatch, 4 destination mismatch, 5 unsupported here (p-adic with more than
    /// [`PADIC_GPU_MAX_PLANES`] digit planes, more than 128 lanes, or a rANS sparse digit stream
    /// of a prime above 257: the CPU decodes those), 6 CRC-32 mismatch), may be 0.
    /// `verify`: check each chunk's CRC-32 on the GPU before decoding it (skip for trusted data). `stream`: a
    /// `CUstream` of this device's primary context, or null for the legacy default stream.
    /// Returns once the launch is enqueued: nothing synchronizes the host. Needs no temporary
    /// device memory.
    ///
    /// # Safety
    /// The pointers must be valid device allocations of at least the given lengths, `dst` must
    /// not overlap `src`, and they must stay alive until the stream reaches this launch.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn decode_exact_async(
        &self,
        src: u64,
        src_len: u64,
        dtype: DType,
        dst: u64,
        dst_len: u64,
        status: u64,
        status_len: u64,
        stream: *mut c_void,
        chunks_hint: Option<u64>,
        verify: bool,
    ) -> Result<()> {
        self.launch_decode(
            src,
            src_len,
            dtype,
            dst,
            dst_len,
            status,
            status_len,
            stream,
            chunks_hint,
            verify,
            0,
            u32::MAX,
        )
    }

    /// As [`CudaDevice::decode_exact_async`] for a container the caller knows to be lossless-v2
    /// (codec 4; F32, F16 or BF16), described by `item` (`status`: one i32 per segment): only
    /// the layout-v2 kernel is launched, one kernel instead of three (an archive knows each
    /// tensor's codec from its host copy). Overlaps the decodes before it on the library's own
    /// stream as [`CudaDevice::decode_exact_async`] does.
    ///
    /// # Safety
    /// As [`CudaDevice::decode_exact_async`].
    pub unsafe fn decode_lossless_v2_async(
        &self,
        item: SegmentedItem,
        stream: *mut c_void,
        verify: bool,
    ) -> Result<()> {
        let writes = [(item.dst, item.dst_len), (item.status, 4 * item.status_len)];
        self.enqueue_decode(stream, &[(item.src, item.src_len)], &writes, true, |prog| {
            self.decode_segmented_with(&[item], false, verify, stream, prog)
        })
    }

    /// As [`CudaDevice::decode_exact_async`] for a container the caller knows to be quant
    /// (codec 5; F32, F16, BF16 or F64), described by `item` (`status`: one i32 per chunk): only
    /// `saraphis_decode_quant` is launched, with `chunks` blocks at most (the kernel loops over
    /// chunks). Overlaps the decodes before it on the library's own stream as
    /// [`CudaDevice::decode_exact_async`] does.
    ///
    /// # Safety
    /// As [`CudaDevice::decode_exact_async`].
    pub unsafe fn decode_quant_async(
        &self,
        item: SegmentedItem,
        chunks: u64,
        stream: *mut c_void,
        verify: bool,
    ) -> Result<()> {
        let writes = [(item.dst, item.dst_len), (item.status, 4 * item.status_len)];
        self.enqueue_decode(stream, &[(item.src, item.src_len)], &writes, true, |prog| {
            self.launch_quant(&item, verify as u32, stream, Some(chunks), prog)
        })
    }

    /// Launch `saraphis_decode_quant` for `item`: one block per chunk (`chunks_hint`) up to 16
    /// per SM; the kernel loops over the chunks beyond. (A grid of one block per chunk, 8173
    /// blocks for 1 GiB, measured the same: docs/BENCHMARKS.md, quant.)
    ///
    /// # Safety
    /// As [`CudaDevice::decode_exact_async`].
    unsafe fn launch_quant(
        &self,
        item: &SegmentedItem,
        verify: u32,
        stream: *mut c_void,
        chunks_hint: Option<u64>,
        prog: bool,
    ) -> Result<()> {
        let want = item.dtype as u32;
        let mut args: [*mut c_void; 8] = [
            arg(&item.src),
            arg(&item.src_len),
            arg(&want),
            arg(&item.dst),
            arg(&item.dst_len),
            arg(&item.status),
            arg(&item.status_len),
            arg(&verify),
        ];
        self.launch_block(
            &self.decode_quant,
            self.grid(chunks_hint),
            QUANT_BLOCK,
            0,
            stream,
            &mut args,
            prog,
        )
    }

    /// As [`CudaDevice::decode_exact_async`], reading only the top `planes` digit planes of a
    /// p-adic container (progressive decoding: the values
    /// [`crate::codec::decompress_progressive`] gives); other codecs decode in full.
    ///
    /// # Safety
    /// As [`CudaDevice::decode_exact_async`].
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn decode_progressive_async(
        &self,
        src: u64,
        src_len: u64,
        dtype: DType,
        dst: u64,
        dst_len: u64,
        status: u64,
        status_len: u64,
        stream: *mut c_void,
        verify: bool,
        planes: u32,
    ) -> Result<()> {
        self.launch_decode(
            src, src_len, dtype, dst, dst_len, status, status_len, stream, None, verify, 0, planes,
        )
    }

    /// Device bytes of temporary memory [`CudaDevice::decode_exact_unfused_async`] needs for a
    /// tensor of `dtype` with `numel` elements: one byte plane per symbol stream.
    pub fn unfused_temp_bytes(dtype: DType, numel: u64) -> u64 {
        Self::max_streams(dtype) as u64 * numel
    }

    /// The plain multi-kernel decode, for comparison with the fused one in benchmarks: stage 1
    /// decodes every stream's symbols into byte planes in `planes` (device memory of
    /// [`CudaDevice::unfused_temp_bytes`] bytes), stage 2 (`saraphis_assemble`) builds the
    /// elements; both on `stream`. Arguments otherwise as
    /// [`CudaDevice::decode_exact_async`].
    ///
    /// # Safety
    /// As [`CudaDevice::decode_exact_async`], and `planes` must be a live device allocation of
    /// the stated size.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn decode_exact_unfused_async(
        &self,
        src: u64,
        src_len: u64,
        dtype: DType,
        dst: u64,
        dst_len: u64,
        status: u64,
        status_len: u64,
        stream: *mut c_void,
        chunks_hint: Option<u64>,
        verify: bool,
        planes: u64,
    ) -> Result<()> {
        if planes == 0 {
            return Err(Error::InvalidArgument(
                "unfused decode needs a planes buffer".into(),
            ));
        }
        if dtype == DType::F64 {
            return Err(Error::Unsupported(
                "the unfused (benchmark) decode has byte planes only; F64 decodes fused".into(),
            ));
        }
        self.launch_decode(
            src,
            src_len,
            dtype,
            dst,
            dst_len,
            status,
            status_len,
            stream,
            chunks_hint,
            verify,
            planes,
            u32::MAX,
        )?;
        let mut args: [*mut c_void; 5] = [
            arg(&src),
            arg(&src_len),
            arg(&planes),
            arg(&dst),
            arg(&dst_len),
        ];
        self.launch(&self.assemble, self.grid(chunks_hint), 0, stream, &mut args)
    }

    /// Blocks to launch: one per chunk, at most 16 per SM (the kernels loop over chunks).
    fn grid(&self, chunks_hint: Option<u64>) -> u32 {
        chunks_hint
            .unwrap_or(u64::MAX)
            .min(self.sms as u64 * 16)
            .max(1) as u32
    }

    /// Launch `f` with `BLOCK` threads per block on `stream`, inside the panic guard.
    ///
    /// # Safety
    /// `args` must match the kernel's parameters and point at live values.
    unsafe fn launch(
        &self,
        f: &cudarc::driver::CudaFunction,
        grid: u32,
        shared_bytes: u32,
        stream: *mut c_void,
        args: &mut [*mut c_void],
    ) -> Result<()> {
        self.launch_block(f, grid, BLOCK, shared_bytes, stream, args, false)
    }

    /// Launch `f` with `block` threads per block on `stream`, inside the panic guard; with
    /// programmatic dependent launch when `programmatic` (sm_90 and newer: the launch may start
    /// while the kernel before it on the stream still runs, once that kernel's blocks have all
    /// called `pdl_allow_dependents`; only the decode kernels, which call it and wait for their
    /// prerequisites before they end, are launched so).
    ///
    /// # Safety
    /// `args` must match the kernel's parameters and point at live values; with `programmatic`,
    /// nothing the kernel before it on `stream` may still write is read or written by this
    /// kernel, and nothing it reads is written (`enqueue_decode` decides).
    #[allow(clippy::too_many_arguments)]
    unsafe fn launch_block(
        &self,
        f: &cudarc::driver::CudaFunction,
        grid: u32,
        block: u32,
        shared_bytes: u32,
        stream: *mut c_void,
        args: &mut [*mut c_void],
        programmatic: bool,
    ) -> Result<()> {
        let f = f.cu_function();
        let ctx = self.ctx.clone();
        guarded("launch", move || -> Result<()> {
            use cudarc::driver::sys;
            ctx.bind_to_thread().map_err(dev_err)?;
            if !programmatic {
                return cudarc::driver::result::launch_kernel(
                    f,
                    (grid, 1, 1),
                    (block, 1, 1),
                    shared_bytes,
                    stream as _,
                    args,
                )
                .map_err(dev_err);
            }
            // SAFETY: a plain C struct; every field the driver reads is set below.
            let mut attr: sys::CUlaunchAttribute = std::mem::zeroed();
            attr.id =
                sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
            attr.value.programmaticStreamSerializationAllowed = 1;
            let cfg = sys::CUlaunchConfig {
                gridDimX: grid,
                gridDimY: 1,
                gridDimZ: 1,
                blockDimX: block,
                blockDimY: 1,
                blockDimZ: 1,
                sharedMemBytes: shared_bytes,
                hStream: stream as _,
                attrs: &mut attr,
                numAttrs: 1,
            };
            sys::cuLaunchKernelEx(&cfg, f, args.as_mut_ptr(), std::ptr::null_mut())
                .result()
                .map_err(dev_err)
        })
        .map_err(Error::Device)?
    }

    /// Enqueue a decode on `stream` by `launch(programmatic)`, deciding whether it may overlap
    /// the decodes enqueued before it (`programmatic`: launched with programmatic dependent
    /// launch). It may only on the library's own stream, where nothing but this library's work
    /// is enqueued (a caller's kernel that lets its dependents start early could otherwise race
    /// with the decode), only on sm_90 and newer, and only when no device range `(start, len)`
    /// it `reads` was written, and none it `writes` was read or written, by the decodes since
    /// the last one launched in plain stream order (which waits for every earlier one; the
    /// record holds 256 ranges, about 85 single decodes, and the launch that would pass that is
    /// in plain order). The decision and the launch happen under one lock, so concurrent
    /// callers cannot interleave between them. Errors: those of `launch`. Thread-safe.
    /// `may_overlap` false: a decode that must not overlap (a batch of several launches); it is
    /// still recorded, since the decodes after it may overlap it.
    pub(super) fn enqueue_decode<R>(
        &self,
        stream: *mut c_void,
        reads: &[(u64, u64)],
        writes: &[(u64, u64)],
        may_overlap: bool,
        launch: impl FnOnce(bool) -> Result<R>,
    ) -> Result<R> {
        let own = self.own_stream.get().map(|s| s.cu_stream() as *mut c_void);
        if self.compute_capability.0 < 9 || own != Some(stream) {
            return launch(false);
        }
        let mut inflight = self
            .own_stream_inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let hits = |a: (u64, u64), b0: u64, b1: u64| a.1 > 0 && a.0 < b1 && b0 < a.0 + a.1;
        let conflict = !may_overlap
            || inflight.len() >= 256
            || inflight.iter().any(|&(b0, b1, written)| {
                writes.iter().any(|&w| hits(w, b0, b1))
                    || (written && reads.iter().any(|&r| hits(r, b0, b1)))
            });
        if conflict {
            inflight.clear();
        }
        inflight.extend(reads.iter().map(|&(a, n)| (a, a + n, false)));
        inflight.extend(writes.iter().map(|&(a, n)| (a, a + n, true)));
        launch(!conflict)
    }

    #[allow(clippy::too_many_arguments)]
    unsafe fn launch_decode(
        &self,
        src: u64,
        src_len: u64,
        dtype: DType,
        dst: u64,
        dst_len: u64,
        status: u64,
        status_len: u64,
        stream: *mut c_void,
        chunks_hint: Option<u64>,
        verify: bool,
        planes: u64,
        max_planes: u32,
    ) -> Result<()> {
        let (variant, slot_cap) = Self::decode_variant(dtype);
        let want = dtype as u32;
        let verify = verify as u32;
        // The three kernels share the call's ranges; only the one of the container's codec
        // writes. The unfused path (temporary planes) never overlaps, but is recorded.
        let reads = [(src, src_len)];
        let planes_len = if planes == 0 {
            0
        } else {
            Self::unfused_temp_bytes(dtype, dst_len / dtype.size() as u64)
        };
        let writes = [
            (dst, dst_len),
            (status, 4 * status_len),
            (planes, planes_len),
        ];
        let order = |prog: bool| -> Result<()> {
            let mut args: [*mut c_void; 10] = [
                arg(&src),
                arg(&src_len),
                arg(&want),
                arg(&dst),
                arg(&dst_len),
                arg(&status),
                arg(&status_len),
                arg(&slot_cap),
                arg(&verify),
                arg(&planes),
            ];
            self.launch_block(
                &self.decode_exact[variant],
                self.grid(chunks_hint),
                BLOCK,
                slot_cap,
                stream,
                &mut args,
                prog,
            )?;
            let mut args: [*mut c_void; 9] = [
                arg(&src),
                arg(&src_len),
                arg(&want),
                arg(&dst),
                arg(&dst_len),
                arg(&status),
                arg(&status_len),
                arg(&verify),
                arg(&max_planes),
            ];
            self.launch_block(
                &self.decode_padic,
                self.grid(chunks_hint),
                BLOCK,
                PADIC_DYN_BYTES,
                stream,
                &mut args,
                prog,
            )?;
            // Third: lossless-v2 (layout v2) containers, left alone by the two kernels above.
            let item = SegmentedItem {
                src,
                src_len,
                dst,
                dst_len,
                dtype,
                status,
                status_len,
                segment_elems: 0,
            };
            if crate::codec::segmented::supports(dtype) {
                self.decode_segmented_with(&[item], false, verify != 0, stream, prog)?;
            }
            // Fourth: quant containers (float dtypes only).
            if dtype.is_float() {
                self.launch_quant(&item, verify, stream, chunks_hint, prog)?;
            }
            Ok(())
        };
        self.enqueue_decode(stream, &reads, &writes, planes == 0, order)
    }

    /// Decode a host container on this GPU into a host buffer: upload, decode on a stream of
    /// its own, download, check every chunk's status. For tests, validation and benchmarks; an
    /// engine keeps containers in device memory and calls [`CudaDevice::decode_exact_async`].
    /// Errors: `Device` (driver), `Corrupt` / `Destination` / `Unsupported` naming the chunk.
    pub fn decode_exact_host(
        &self,
        container: &[u8],
        dtype: DType,
        out: &mut [u8],
        verify: bool,
    ) -> Result<()> {
        self.decode_exact_host_with(container, dtype, out, verify, true)
    }

    /// As [`CudaDevice::decode_exact_host`], through the fused kernel (`fused = true`) or the
    /// unfused two-stage path (which allocates its temporary planes).
    pub fn decode_exact_host_with(
        &self,
        container: &[u8],
        dtype: DType,
        out: &mut [u8],
        verify: bool,
        fused: bool,
    ) -> Result<()> {
        self.decode_host(container, dtype, out, verify, fused, u32::MAX)
    }

    /// As [`CudaDevice::decode_exact_host`], reading only the top `planes` digit planes of a
    /// p-adic container (see [`CudaDevice::decode_progressive_async`]).
    pub fn decode_progressive_host(
        &self,
        container: &[u8],
        dtype: DType,
        out: &mut [u8],
        planes: u32,
        verify: bool,
    ) -> Result<()> {
        self.decode_host(container, dtype, out, verify, true, planes)
    }

    fn decode_host(
        &self,
        container: &[u8],
        dtype: DType,
        out: &mut [u8],
        verify: bool,
        fused: bool,
        max_planes: u32,
    ) -> Result<()> {
        let header = crate::format::container::Header::parse(container)?;
        let n_chunks = header.chunks.len();
        let ctx = self.ctx.clone();
        let statuses = guarded("decode", || -> Result<Vec<i32>> {
            let stream = ctx.new_stream().map_err(dev_err)?;
            let src = stream.clone_htod(container).map_err(dev_err)?;
            // Poisoned, so that an element the kernel fails to write cannot pass as decoded.
            let mut dst = stream
                .clone_htod(&vec![0xA5u8; out.len().max(1)])
                .map_err(dev_err)?;
            let mut st = stream
                .alloc_zeros::<i32>(n_chunks.max(1))
                .map_err(dev_err)?;
            let temp = if fused {
                0
            } else {
                Self::unfused_temp_bytes(dtype, header.numel) as usize
            };
            let mut planes = stream.alloc_zeros::<u8>(temp.max(1)).map_err(dev_err)?;
            {
                use cudarc::driver::DevicePtr;
                use cudarc::driver::DevicePtrMut;
                let (s_ptr, _g1) = src.device_ptr(&stream);
                let (d_ptr, _g2) = dst.device_ptr_mut(&stream);
                let (st_ptr, _g3) = st.device_ptr_mut(&stream);
                let (p_ptr, _g4) = planes.device_ptr_mut(&stream);
                let (cs, n) = (stream.cu_stream() as *mut c_void, n_chunks as u64);
                // SAFETY: all are live allocations of the stated sizes on this stream.
                unsafe {
                    if fused {
                        self.launch_decode(
                            s_ptr,
                            container.len() as u64,
                            dtype,
                            d_ptr,
                            out.len() as u64,
                            st_ptr,
                            n,
                            cs,
                            Some(n),
                            verify,
                            0,
                            max_planes,
                        )?;
                    } else {
                        self.decode_exact_unfused_async(
                            s_ptr,
                            container.len() as u64,
                            dtype,
                            d_ptr,
                            out.len() as u64,
                            st_ptr,
                            n,
                            cs,
                            Some(n),
                            verify,
                            p_ptr,
                        )?;
                    }
                }
            }
            let host = stream.clone_dtoh(&dst).map_err(dev_err)?;
            let codes = stream.clone_dtoh(&st).map_err(dev_err)?;
            stream.synchronize().map_err(dev_err)?;
            out.copy_from_slice(&host[..out.len()]);
            Ok(codes)
        })
        .map_err(Error::Device)??;
        for (i, &code) in statuses.iter().take(n_chunks).enumerate() {
            let what = |m: &str| format!("GPU decode of chunk {i} of {n_chunks}: {m}");
            match code {
                0 => {}
                4 => return Err(Error::Destination(what("destination size or dtype"))),
                5 => {
                    return Err(Error::Unsupported(what(
                        "not decodable on the GPU (p-adic beyond the kernel's planes, lanes or alphabet; \
                         an error-bounded quant chunk of more than 4096 groups; a sparse container \
                         outside an archive; a delta container, which decodes on the host against \
                         its base)",
                    )))
                }
                1 => return Err(Error::Corrupt(what("bad header"))),
                2 => return Err(Error::Corrupt(what("bad symbol stream"))),
                6 => return Err(Error::Checksum(what("CRC-32 mismatch"))),
                _ => {
                    return Err(Error::Corrupt(what(
                        "rANS stream does not decode to its initial state",
                    )))
                }
            }
        }
        Ok(())
    }
}
