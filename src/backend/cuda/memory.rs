//! Device memory the library owns: containers of an opened archive kept on the GPU
//! (`crate::system::archive`), and the status arrays of its first decodes. Uploads and downloads
//! are synchronous (on the library's own stream, waited for), so a [`DeviceBuffer`] is ready for
//! any stream once it is returned.

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
