//! Compute backends. Layer: bottom, beside `entropy` and `format`; used by `system`.
//!
//! The CPU backend is the codecs themselves (`crate::codec`); `cuda` holds the GPU kernels'
//! loader and launchers.

pub mod cuda;

/// A device address (a `CUdeviceptr`) in memory the caller allocated on the system's GPU. The
/// host never dereferences it; it is checked for null and alignment and handed to kernels.
/// `DevicePtr::NULL` (0) means "none" where an argument is optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct DevicePtr(pub u64);

impl DevicePtr {
    /// No buffer.
    pub const NULL: DevicePtr = DevicePtr(0);

    /// The address of a C pointer (a device pointer that travelled through the C ABI as `void *`).
    pub fn from_ptr<T>(p: *const T) -> DevicePtr {
        DevicePtr(p as usize as u64)
    }

    /// True for address 0.
    pub fn is_null(self) -> bool {
        self.0 == 0
    }

    /// The raw address, for kernel arguments.
    pub fn addr(self) -> u64 {
        self.0
    }
}

/// A device buffer: its address and its length in bytes (or, where a field says so, in
/// elements). Copy; owns nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceSlice {
    /// First byte.
    pub ptr: DevicePtr,
    /// Length in bytes unless the field's documentation gives another unit.
    pub len: u64,
}

impl DeviceSlice {
    /// No buffer (null, length 0).
    pub const NONE: DeviceSlice = DeviceSlice {
        ptr: DevicePtr::NULL,
        len: 0,
    };

    /// `len` units at `ptr`; a null `ptr` gives [`DeviceSlice::NONE`] whatever `len` says, so an
    /// optional buffer passed as NULL is simply absent.
    pub fn new(ptr: DevicePtr, len: u64) -> DeviceSlice {
        if ptr.is_null() {
            DeviceSlice::NONE
        } else {
            DeviceSlice { ptr, len }
        }
    }
}
