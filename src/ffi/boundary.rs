//! The panic boundary and the checked conversions every export uses (rustls-ffi's `ffi.rs` and
//! `panic.rs`): [`guard`], the [`BoxHandle`] ownership trait of the opaque handles, pointer and
//! slice borrowing with NULL checks, and the per-thread last-error message.

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::result::saraphis_result;
use crate::error::Error;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// The calling thread's last-error message (see `saraphis_last_error_message`).
pub(super) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Why an export failed: a NULL argument (named) or an error of the layers below.
pub(super) enum Fail {
    Null(&'static str),
    Err(Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Err(e)
    }
}

/// `Fail` for an out-of-range or inconsistent argument.
pub(super) fn invalid(msg: impl Into<String>) -> Fail {
    Fail::Err(Error::InvalidArgument(msg.into()))
}

/// The panic boundary around every fallible export: run `f`, map its failure to a result code
/// and record the message for `saraphis_last_error_message`. A panic becomes
/// `SARAPHIS_ERR_PANIC`; nothing unwinds into C.
pub(super) fn guard(f: impl FnOnce() -> Result<(), Fail>) -> saraphis_result {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => saraphis_result::SARAPHIS_OK,
        Ok(Err(Fail::Null(what))) => {
            set_last_error(&format!("NULL pointer passed as `{what}`"));
            saraphis_result::SARAPHIS_ERR_NULL_PARAMETER
        }
        Ok(Err(Fail::Err(e))) => {
            set_last_error(&e.to_string());
            saraphis_result::from(&e)
        }
        Err(_) => {
            set_last_error("internal error (panic caught at the C boundary)");
            saraphis_result::SARAPHIS_ERR_PANIC
        }
    }
}

/// The panic boundary of exports that cannot fail (`*_free`, accessors): a panic gives
/// `default`.
pub(super) fn guard_value<T>(default: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(default)
}

/// An opaque C handle that owns a boxed Rust value: created with [`BoxHandle::into_handle`],
/// borrowed with [`BoxHandle::try_ref`] / [`BoxHandle::try_mut`], released once with
/// [`BoxHandle::free`]. The only ownership mode of the library's handles, so a handle cannot be
/// freed the wrong way.
pub(super) trait BoxHandle: Sized {
    /// The Rust value behind the handle.
    type Rust;

    /// Box `v` and give its handle to C.
    fn into_handle(v: Self::Rust) -> *mut Self {
        Box::into_raw(Box::new(v)) as *mut Self
    }

    /// Borrow the value behind a handle; NULL gives `Fail::Null(what)`.
    ///
    /// # Safety
    /// `p` is NULL or a live handle of this type from [`BoxHandle::into_handle`].
    unsafe fn try_ref<'a>(p: *const Self, what: &'static str) -> Result<&'a Self::Rust, Fail> {
        (p as *const Self::Rust).as_ref().ok_or(Fail::Null(what))
    }

    /// Borrow the value mutably; NULL gives `Fail::Null(what)`.
    ///
    /// # Safety
    /// As [`BoxHandle::try_ref`], and no other thread uses the handle meanwhile.
    unsafe fn try_mut<'a>(p: *mut Self, what: &'static str) -> Result<&'a mut Self::Rust, Fail> {
        (p as *mut Self::Rust).as_mut().ok_or(Fail::Null(what))
    }

    /// Drop the value behind a handle; NULL is a no-op.
    ///
    /// # Safety
    /// `p` is NULL or a live handle from [`BoxHandle::into_handle`], not used afterwards.
    unsafe fn free(p: *mut Self) {
        if !p.is_null() {
            drop(Box::from_raw(p as *mut Self::Rust));
        }
    }
}

/// A required out-parameter: NULL gives `Fail::Null(what)`.
///
/// # Safety
/// `p` is NULL or valid for writes of a `T`.
pub(super) unsafe fn out_ptr<'a, T>(p: *mut T, what: &'static str) -> Result<&'a mut T, Fail> {
    p.as_mut().ok_or(Fail::Null(what))
}

/// A required NUL-terminated string: NULL gives `Fail::Null(what)`. The string is read from
/// the raw pointer itself (a `&c_char` made first would cover one byte only, and reading the
/// rest through it is undefined behaviour: Miri's finding).
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string, unchanged for the borrow's life.
pub(super) unsafe fn c_str<'a>(p: *const c_char, what: &'static str) -> Result<&'a CStr, Fail> {
    if p.is_null() {
        return Err(Fail::Null(what));
    }
    Ok(CStr::from_ptr(p))
}

/// Borrow `len` bytes at `p`; NULL is allowed only for `len == 0`.
///
/// # Safety
/// `p` is valid for reads of `len` bytes, unchanged for the borrow's life.
pub(super) unsafe fn bytes<'a>(
    p: *const c_void,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], Fail> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Fail::Null(what));
    }
    if len > isize::MAX as usize {
        return Err(invalid(format!("{what}: length {len}")));
    }
    Ok(std::slice::from_raw_parts(p as *const u8, len))
}

/// Borrow `len` writable bytes at `p` that must not overlap `src`; NULL is allowed only for
/// `len == 0`. Overlap gives `SARAPHIS_ERR_DESTINATION` (inputs are never written).
///
/// # Safety
/// `p` is valid for writes of `len` bytes and not otherwise accessed during the borrow.
pub(super) unsafe fn bytes_mut<'a>(
    p: *mut c_void,
    len: usize,
    src: &[u8],
    what: &'static str,
) -> Result<&'a mut [u8], Fail> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(Fail::Null(what));
    }
    if len > isize::MAX as usize {
        return Err(invalid(format!("{what}: length {len}")));
    }
    let (a0, a1) = (src.as_ptr() as usize, src.as_ptr() as usize + src.len());
    let (b0, b1) = (p as usize, p as usize + len);
    if a0 < b1 && b0 < a1 {
        return Err(Fail::Err(Error::Destination(format!(
            "{what} overlaps the input"
        ))));
    }
    Ok(std::slice::from_raw_parts_mut(p as *mut u8, len))
}

/// Borrow a shape of `ndim` dimensions (at most `SARAPHIS_MAX_DIMS`); `shape` may be NULL when
/// `ndim` is 0.
///
/// # Safety
/// `shape` is valid for reads of `ndim` `uint64_t`.
pub(super) unsafe fn shape_arg<'a>(shape: *const u64, ndim: usize) -> Result<&'a [u64], Fail> {
    if ndim > super::SARAPHIS_MAX_DIMS as usize {
        return Err(invalid(format!(
            "{ndim} dimensions (at most {})",
            super::SARAPHIS_MAX_DIMS
        )));
    }
    if ndim == 0 {
        return Ok(&[]);
    }
    if shape.is_null() {
        return Err(Fail::Null("shape"));
    }
    Ok(std::slice::from_raw_parts(shape, ndim))
}

/// Copy `text` and a NUL into `buf[capacity]` and its length with the NUL into `*needed`, or,
/// with `buf` NULL and `capacity` 0, only the length (a size query). Errors: `Destination`
/// when `capacity` is too small (nothing written, `*needed` included), `Null("buf")` for a NULL
/// `buf` with a nonzero capacity.
///
/// # Safety
/// `buf` is NULL or valid for writes of `capacity` bytes.
pub(super) unsafe fn write_text(
    text: &str,
    what: &str,
    buf: *mut std::ffi::c_char,
    capacity: usize,
    needed: &mut usize,
) -> Result<(), Fail> {
    let n = text.len() + 1;
    if buf.is_null() && capacity == 0 {
        *needed = n;
        return Ok(());
    }
    if buf.is_null() {
        return Err(Fail::Null("buf"));
    }
    if capacity < n {
        return Err(Fail::Err(Error::Destination(format!(
            "{what} needs {n} bytes, capacity is {capacity}"
        ))));
    }
    std::ptr::copy_nonoverlapping(text.as_ptr(), buf as *mut u8, text.len());
    *buf.add(text.len()) = 0;
    *needed = n;
    Ok(())
}
