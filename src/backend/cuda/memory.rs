//! Device memory the library owns: containers of an opened archive kept on the GPU
//! (`crate::system::archive`), and the status arrays of its first decodes. Uploads and downloads
//! are synchronous (on the library's own stream, waited for), so a [`DeviceBuffer`] is ready for
//! any stream once it is returned.
//!
//! Also the stream-ordered pool of the residency manager's device tier
//! (`crate::system::residency`): allocations from the library's own memory pool per device
//! (`cuMemPoolCreate`, `cuMemAllocFromPoolAsync` / `cuMemFreeAsync`; the pool keeps freed memory
//! for reuse, its release threshold raised, until trimmed), [`DeviceEvent`]s to order streams, the pool's reserved and
//! used bytes (fragmentation), and `cuMemGetInfo`.

use std::ffi::c_void;

use cudarc::driver::{CudaSlice, DevicePtr};

use super::{dev_err, guarded, CudaDevice};
use crate::error::{Error, Result};

/// A device allocation owned by the library (cudarc's `CudaSlice<u8>`), freed on drop. Its address
/// is fixed for its life. `Send + Sync`. Whoever drops it must know that no enqueued work still
/// reads it (the archive's documentation makes that the caller's rule, as for its buffers).
pub struct DeviceBuffer {
    slice: CudaSlice<u8>,
    addr: u64,
}

impl std::fmt::Debug for DeviceBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DeviceBuffer({:#x}, {} bytes)",
            self.addr,
            self.slice.len()
        )
    }
}

impl DeviceBuffer {
    /// Device address of the first byte.
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.slice.len() as u64
    }

    /// True for an empty buffer (never made: allocations are at least one byte).
    pub fn is_empty(&self) -> bool {
        self.slice.len() == 0
    }
}

fn driver<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    guarded(what, f).map_err(Error::Device)?
}

impl CudaDevice {
    fn wrap(&self, slice: CudaSlice<u8>) -> DeviceBuffer {
        let s = slice.stream().clone();
        let (p, _sync) = slice.device_ptr(&s);
        let addr = p;
        drop(_sync);
        DeviceBuffer { slice, addr }
    }

    /// Copy `bytes` (at least one) into a new device allocation and wait for the copy.
    /// Errors: `Device` (out of memory, driver failure). Thread-safe.
    pub fn upload(&self, bytes: &[u8]) -> Result<DeviceBuffer> {
        let stream = self.own_stream_arc()?;
        driver("upload", || {
            self.ctx.bind_to_thread().map_err(dev_err)?;
            let s = if bytes.is_empty() {
                stream.alloc_zeros::<u8>(1).map_err(dev_err)?
            } else {
                stream.clone_htod(bytes).map_err(dev_err)?
            };
            stream.synchronize().map_err(dev_err)?;
            Ok(self.wrap(s))
        })
    }

    /// A new zero-filled device allocation of `len` bytes (at least one), ready when returned.
    /// Errors: `Device`. Thread-safe.
    pub fn alloc_zeroed(&self, len: u64) -> Result<DeviceBuffer> {
        let stream = self.own_stream_arc()?;
        driver("alloc", || {
            self.ctx.bind_to_thread().map_err(dev_err)?;
            let s = stream
                .alloc_zeros::<u8>(len.max(1) as usize)
                .map_err(dev_err)?;
            stream.synchronize().map_err(dev_err)?;
            Ok(self.wrap(s))
        })
    }

    /// The bytes of `buf`, copied to the host once `stream` (a `CUstream` of this device's
    /// primary context) has passed all work enqueued before this call: the stream is
    /// synchronized first. Errors: `Device` (a failed kernel on that stream, driver failure).
    ///
    /// # Safety
    /// `stream` is a live stream of this device's primary context.
    pub unsafe fn download_after(
        &self,
        buf: &DeviceBuffer,
        stream: *mut c_void,
    ) -> Result<Vec<u8>> {
        self.synchronize_stream(stream)?;
        let own = self.own_stream_arc()?;
        driver("download", || {
            self.ctx.bind_to_thread().map_err(dev_err)?;
            own.clone_dtoh(&buf.slice).map_err(dev_err)
        })
    }

    /// Block until `stream` (a `CUstream` of this device's primary context) has passed all work
    /// enqueued on it. Errors: `Device` (a failed kernel or copy on that stream).
    ///
    /// # Safety
    /// `stream` is a live stream of this device's primary context.
    pub unsafe fn synchronize_stream(&self, stream: *mut c_void) -> Result<()> {
        driver("cuStreamSynchronize", || {
            self.ctx.bind_to_thread().map_err(dev_err)?;
            cudarc::driver::result::stream::synchronize(stream as cudarc::driver::sys::CUstream)
                .map_err(dev_err)
        })
    }

    /// Copy host `bytes` to the device address `dst` on `stream` and wait for the copy (so that
    /// `bytes` may be dropped afterwards). Errors: `Device`.
    ///
    /// # Safety
    /// `dst` is a live device allocation of at least `bytes.len()` bytes, not used by other work
    /// meanwhile; `stream` is a live stream of this device's primary context.
    pub unsafe fn copy_to_device_and_wait(
        &self,
        dst: u64,
        bytes: &[u8],
        stream: *mut c_void,
    ) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        driver("cuMemcpyHtoDAsync", || {
            self.ctx.bind_to_thread().map_err(dev_err)?;
            let s = stream as cudarc::driver::sys::CUstream;
            cudarc::driver::result::memcpy_htod_async(dst, bytes, s).map_err(dev_err)?;
            cudarc::driver::result::stream::synchronize(s).map_err(dev_err)
        })
    }
}

/// A CUDA event (timing disabled) of a device's primary context, destroyed on drop. `Send +
/// Sync` (events are context objects, usable from any thread).
pub struct DeviceEvent {
    event: cudarc::driver::sys::CUevent,
    ctx: std::sync::Arc<cudarc::driver::CudaContext>,
}

// SAFETY: a CUevent is a handle of the context, valid on any thread that binds the context.
unsafe impl Send for DeviceEvent {}
unsafe impl Sync for DeviceEvent {}

impl std::fmt::Debug for DeviceEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceEvent({:p})", self.event)
    }
}

/// Bytes in page-locked host memory ([`CudaDevice::download_pinned`]); freed
/// (`cuMemFreeHost`) when dropped. `Send + Sync`.
pub struct PinnedBytes {
    buf: cudarc::driver::PinnedHostSlice<u8>,
    len: usize,
}

impl PinnedBytes {
    /// The bytes. Errors: `Device` (cudarc's wait on the buffer's last use failed).
    pub fn as_slice(&self) -> Result<&[u8]> {
        Ok(&self.buf.as_slice().map_err(dev_err)?[..self.len])
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len as u64
    }

    /// Bytes of pinned memory held (at least `len`).
    pub fn capacity(&self) -> u64 {
        self.buf.len() as u64
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for DeviceEvent {
    fn drop(&mut self) {
        let (ev, ctx) = (self.event, self.ctx.clone());
        let _ = guarded("cuEventDestroy", move || {
            if ctx.bind_to_thread().is_ok() {
                // SAFETY: created by record_event, destroyed once; the driver defers the
                // destruction until pending work that records it is done.
                let _ = unsafe { cudarc::driver::result::event::destroy(ev) };
            }
        });
    }
}

/// The memory pool's usage (`cuMemPoolGetAttribute`), bytes.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct PoolUsage {
    /// Device memory the pool holds (allocated from the driver).
    pub reserved_bytes: u64,
    /// Of that, bytes in live allocations.
    pub used_bytes: u64,
    /// Highest `reserved_bytes` since the pool was created.
    pub reserved_high_bytes: u64,
    /// Highest `used_bytes` since the pool was created.
    pub used_high_bytes: u64,
}

impl PoolUsage {
    /// `1 - used / reserved`: the share of the pool's memory that is held but not in use (0 for
    /// an empty pool).
    pub fn fragmentation(&self) -> f64 {
        if self.reserved_bytes == 0 {
            0.0
        } else {
            1.0 - self.used_bytes as f64 / self.reserved_bytes as f64
        }
    }
}

impl CudaDevice {
    /// The library's own memory pool on this device (created on first use, one per device for
    /// the process's life): a pool apart from the device's default one, so the caller's
    /// `cuMemAllocAsync` users are not affected, with its release threshold raised to "keep
    /// everything" so that memory freed with [`CudaDevice::pool_free_async`] is reused instead of
    /// returned to the driver at every synchronization ([`CudaDevice::pool_trim`] returns it).
    fn residency_pool(&self) -> Result<cudarc::driver::sys::CUmemoryPool> {
        use cudarc::driver::sys;
        static POOLS: std::sync::OnceLock<
            std::sync::Mutex<std::collections::HashMap<usize, usize>>,
        > = std::sync::OnceLock::new();
        let mut pools = POOLS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(&p) = pools.get(&self.ordinal) {
            return Ok(p as sys::CUmemoryPool);
        }
        let pool = driver("cuMemPoolCreate", || {
            self.ctx.bind_to_thread().map_err(dev_err)?;
            // SAFETY: an all-zero CUmemPoolProps is valid C data; the fields that matter are set.
            let mut props: sys::CUmemPoolProps = unsafe { std::mem::zeroed() };
            props.allocType = sys::CUmemAllocationType::CU_MEM_ALLOCATION_TYPE_PINNED;
            props.handleTypes = sys::CUmemAllocationHandleType::CU_MEM_HANDLE_TYPE_NONE;
            props.location.type_ = sys::CUmemLocationType::CU_MEM_LOCATION_TYPE_DEVICE;
            props.location.id = self.ordinal as i32;
            // SAFETY: props lives across the call.
            let pool =
                unsafe { cudarc::driver::result::mem_pool::create(&props) }.map_err(dev_err)?;
            let mut keep: u64 = u64::MAX;
            // SAFETY: the attribute takes a cuuint64_t.
            unsafe {
                sys::cuMemPoolSetAttribute(
                    pool,
                    sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                    &mut keep as *mut u64 as *mut c_void,
                )
            }
            .result()
            .map_err(dev_err)?;
            Ok(pool)
        })?;
        pools.insert(self.ordinal, pool as usize);
        Ok(pool)
    }

    /// Return the pool's unused memory to the driver (`cuMemPoolTrimTo(pool, 0)`: blocks in use
    /// stay). Errors: `Device`.
    pub fn pool_trim(&self) -> Result<()> {
        let pool = self.residency_pool()?;
        driver("cuMemPoolTrimTo", || {
            self.ctx.bind_to_thread().map_err(dev_err)?;
            // SAFETY: the pool is live for the process's life.
            unsafe { cudarc::driver::result::mem_pool::trim_to(pool, 0) }.map_err(dev_err)
        })
    }

    /// Allocate `len` bytes (at least 1) from the library's memory pool, ordered on `stream`: the
    /// memory may be used by work enqueued on `stream` after this call (other streams must wait
    /// for an event recorded after it). Errors: `Device` (out of memory, driver failure).
    ///
    /// # Safety
    /// `stream` is a live stream of this device's primary context.
    pub unsafe fn pool_alloc_async(&self, len: u64, stream: *mut c_void) -> Result<u64> {
        let pool = self.residency_pool()?;
        driver("cuMemAllocFromPoolAsync", || {
            self.ctx.bind_to_thread().map_err(dev_err)?;
            cudarc::driver::result::mem_pool::alloc_async(pool, len.max(1) as usize, stream as _)
                .map_err(dev_err)
        })
    }

    /// Return `ptr` (from [`CudaDevice::pool_alloc_async`]) to the pool once `stream` reaches
    /// this point. Errors: `Device`.
    ///
    /// # Safety
    /// `ptr` came from `pool_alloc_async` and is freed once; work that uses it is ordered before
    /// this point of `stream` (enqueued on it, or waited for through an event).
    pub unsafe fn pool_free_async(&self, ptr: u64, stream: *mut c_void) -> Result<()> {
        driver("cuMemFreeAsync", || {
            self.ctx.bind_to_thread().map_err(dev_err)?;
            cudarc::driver::result::free_async(ptr, stream as _).map_err(dev_err)
        })
    }

    /// Record an event on `stream`: it completes once the work enqueued before it is done.
    /// Errors: `Device`.
    ///
    /// # Safety
    /// `stream` is a live stream of this device's primary context.
    pub unsafe fn record_event(&self, stream: *mut c_void) -> Result<DeviceEvent> {
        let ctx = self.ctx.clone();
        driver("cuEventRecord", move || {
            ctx.bind_to_thread().map_err(dev_err)?;
            let ev = cudarc::driver::result::event::create(
                cudarc::driver::sys::CUevent_flags::CU_EVENT_DISABLE_TIMING,
            )
            .map_err(dev_err)?;
            let e = DeviceEvent { event: ev, ctx };
            cudarc::driver::result::event::record(ev, stream as _).map_err(dev_err)?;
            Ok(e)
        })
    }

    /// Make `stream` wait (on the device, without blocking the host) until `event` completes.
    /// Errors: `Device`.
    ///
    /// # Safety
    /// `stream` is a live stream of this device's primary context.
    pub unsafe fn stream_wait(&self, stream: *mut c_void, event: &DeviceEvent) -> Result<()> {
        driver("cuStreamWaitEvent", || {
            self.ctx.bind_to_thread().map_err(dev_err)?;
            cudarc::driver::result::stream::wait_event(
                stream as _,
                event.event,
                cudarc::driver::sys::CUevent_wait_flags::CU_EVENT_WAIT_DEFAULT,
            )
            .map_err(dev_err)
        })
    }

    /// Reserved and used bytes of the library's memory pool on this device. Errors: `Device`.
    pub fn pool_usage(&self) -> Result<PoolUsage> {
        use cudarc::driver::sys::CUmemPool_attribute as A;
        let pool = self.residency_pool()?;
        driver("cuMemPoolGetAttribute", || {
            self.ctx.bind_to_thread().map_err(dev_err)?;
            let get = |attr: A| -> Result<u64> {
                let mut v: u64 = 0;
                // SAFETY: these attributes are cuuint64_t.
                unsafe {
                    cudarc::driver::sys::cuMemPoolGetAttribute(
                        pool,
                        attr,
                        &mut v as *mut u64 as *mut c_void,
                    )
                }
                .result()
                .map_err(dev_err)?;
                Ok(v)
            };
            Ok(PoolUsage {
                reserved_bytes: get(A::CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT)?,
                used_bytes: get(A::CU_MEMPOOL_ATTR_USED_MEM_CURRENT)?,
                reserved_high_bytes: get(A::CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH)?,
                used_high_bytes: get(A::CU_MEMPOOL_ATTR_USED_MEM_HIGH)?,
            })
        })
    }

    /// Fill `len` bytes of page-locked host memory with `fill` (on the calling thread), copy
    /// them to `dst` on `stream` and wait for the copy (the staging memory is freed after):
    /// the CPU-decode-and-upload path of the residency manager ("CPU bursting"). Errors:
    /// `Device` (pinned allocation, copy), and `fill`'s errors (nothing copied then).
    ///
    /// # Safety
    /// `dst` is a live device allocation of at least `len` bytes that no other work uses until
    /// this returns; `stream` is a live stream of this device's primary context.
    pub unsafe fn upload_from_host(
        &self,
        dst: u64,
        len: u64,
        stream: *mut c_void,
        fill: impl FnOnce(&mut [u8]) -> Result<()>,
    ) -> Result<()> {
        if len == 0 {
            return fill(&mut []);
        }
        let ctx = self.ctx.clone();
        let mut pinned = driver("cuMemHostAlloc", move || {
            ctx.bind_to_thread().map_err(dev_err)?;
            // Plain page-locked memory (not write-combined: the decoder may read what it wrote).
            ctx.alloc_pinned_with_flags::<u8>(len as usize, 0)
                .map_err(dev_err)
        })?;
        fill(pinned.as_mut_slice().map_err(dev_err)?)?;
        driver("cuMemcpyHtoDAsync", || {
            self.ctx.bind_to_thread().map_err(dev_err)?;
            let s = stream as cudarc::driver::sys::CUstream;
            let host = pinned.as_slice().map_err(dev_err)?;
            cudarc::driver::result::memcpy_htod_async(dst, host, s).map_err(dev_err)?;
            cudarc::driver::result::stream::synchronize(s).map_err(dev_err)
        })
    }

    /// Copy the first `len` bytes of the device buffer `src` into pinned host memory and wait:
    /// into `reuse` when its capacity holds them, else into a new allocation (what was in
    /// `reuse` is then freed). For the pinned-host tier: a container moved off the GPU is read
    /// back from the GPU (no host checksum or host copy needed: it is the verified container).
    /// Errors: `Device` (allocation, copy), `InvalidArgument` when `len` exceeds `src`.
    pub fn download_pinned(
        &self,
        src: &DeviceBuffer,
        len: usize,
        reuse: Option<PinnedBytes>,
    ) -> Result<PinnedBytes> {
        if len as u64 > src.len() {
            return Err(crate::error::Error::InvalidArgument(format!(
                "download of {len} bytes from a {}-byte buffer",
                src.len()
            )));
        }
        let mut p = match reuse {
            Some(p) if p.capacity() >= len as u64 => p,
            _ => {
                let ctx = self.ctx.clone();
                let n = len.max(1);
                let buf = driver("cuMemHostAlloc", move || {
                    ctx.bind_to_thread().map_err(dev_err)?;
                    // SAFETY: the bytes read later (`len` of them) are written by the copy below.
                    unsafe { ctx.alloc_pinned_with_flags::<u8>(n, 0) }.map_err(dev_err)
                })?;
                PinnedBytes { buf, len: 0 }
            }
        };
        let dst = p.buf.as_mut_ptr().map_err(dev_err)?;
        driver("cuMemcpyDtoH", || {
            self.ctx.bind_to_thread().map_err(dev_err)?;
            // SAFETY: `dst` has at least `len` bytes of this buffer alone; `src.addr` is a live
            // device allocation of at least `len` bytes (checked above); synchronous copy.
            unsafe { cudarc::driver::sys::cuMemcpyDtoH_v2(dst as *mut c_void, src.addr, len) }
                .result()
                .map_err(dev_err)
        })?;
        p.len = len;
        Ok(p)
    }

    /// Free and total device memory (`cuMemGetInfo`), bytes. Errors: `Device`.
    pub fn memory_info(&self) -> Result<(u64, u64)> {
        driver("cuMemGetInfo", || {
            self.ctx.bind_to_thread().map_err(dev_err)?;
            let (free, total) = cudarc::driver::result::mem_get_info().map_err(dev_err)?;
            Ok((free as u64, total as u64))
        })
    }
}
