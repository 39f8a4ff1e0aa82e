//! `saraphis_residency`: decoded tensors of an archive cached under a memory budget
//! ([`Residency`], issue 12's residency manager), in host memory (`saraphis_residency_new`,
//! `saraphis_residency_acquire` / `_release`) or in GPU memory (`saraphis_residency_new_device`,
//! `saraphis_residency_acquire_device` / `_release_device`, stream-ordered), owned by the caller
//! until `saraphis_residency_free`. An engine prefetches the next layers, acquires a layer's
//! weights (a pointer valid until their release), computes, releases.
//!
//! Thread safety: every call may be made from many threads at once; a tensor is decoded once
//! however many threads acquire it at the same time.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::archive::saraphis_archive;
use super::boundary::{guard, guard_value, out_ptr, write_text, BoxHandle, Fail};
use super::result::saraphis_result;
use crate::error::Error;
use crate::system::{Residency, SwapPolicy};

/// Opaque residency-manager handle. Thread-safe.
pub struct saraphis_residency {
    _private: [u8; 0],
}

impl BoxHandle for saraphis_residency {
    type Rust = Arc<Residency>;
}

/// Eviction policies of `saraphis_residency_new` (seed 003's `swap_policy`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum saraphis_swap_policy {
    /// Evict only what the new tensor needs.
    SARAPHIS_SWAP_CONSERVATIVE = 0,
    /// Evict down to 90% of the budget.
    SARAPHIS_SWAP_BALANCED = 1,
    /// Evict down to 75% of the budget.
    SARAPHIS_SWAP_AGGRESSIVE = 2,
    /// The system config's `swap_policy` (`SARAPHIS_CONFIG_SWAP_POLICY`, JSON `swap_policy`).
    SARAPHIS_SWAP_DEFAULT = 3,
}

/// A residency manager for `archive` into `*out`: decoded tensors are kept in host memory, at
/// most `budget_bytes` of them (bytes of decoded tensors, counted from the moment a decode is
/// decided), evicted by priority then least recent use under `policy` (a
/// `saraphis_swap_policy`). It holds a reference to the archive (which may be freed first).
/// Free with `saraphis_residency_free`. Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` (budget 0, an
/// unknown policy), `SARAPHIS_ERR_NULL_PARAMETER`; `*out` is written only on success.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_residency_new(
    archive: *const saraphis_archive,
    budget_bytes: u64,
    policy: u32,
    out: *mut *mut saraphis_residency,
) -> saraphis_result {
    guard(|| {
        let a = saraphis_archive::try_ref(archive, "archive")?;
        let o = out_ptr(out, "out")?;
        let r = Residency::new(
            a.archive.clone(),
            budget_bytes,
            policy_arg(policy, &a.archive)?,
        )?;
        *o = saraphis_residency::into_handle(Arc::new(r));
        Ok(())
    })
}

fn policy_arg(policy: u32, a: &crate::system::Archive) -> Result<SwapPolicy, Fail> {
    match policy {
        0 => Ok(SwapPolicy::Conservative),
        1 => Ok(SwapPolicy::Balanced),
        2 => Ok(SwapPolicy::Aggressive),
        3 => Ok(a.system().config().swap_policy.into()),
        p => Err(Fail::Err(Error::InvalidArgument(format!(
            "swap policy {p}: expected 0 (conservative), 1 (balanced), 2 (aggressive) or 3 (the \
             system config's)"
        )))),
    }
}

/// A residency manager whose decoded tensors live in GPU memory (the device tier): on the
/// archive's system GPU, at most `budget_bytes` of device memory for decoded tensors, in blocks
/// of the library's own stream-ordered memory pool on the device (`cuMemAllocFromPoolAsync`, apart
/// from the default pool; freed blocks are kept by the
/// pool for reuse), decoded on the GPU on the library's own stream (so prefetches overlap the
/// engine's kernels), evicted as `saraphis_residency_new`'s. Use
/// `saraphis_residency_acquire_device` / `saraphis_residency_release_device` (the host calls
/// answer `SARAPHIS_ERR_INVALID_ARGUMENT`). Errors: `SARAPHIS_ERR_DEVICE` (the system has no
/// GPU), `SARAPHIS_ERR_INVALID_ARGUMENT` (budget 0, unknown policy),
/// `SARAPHIS_ERR_NULL_PARAMETER`; `*out` is written only on success. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_residency_new_device(
    archive: *const saraphis_archive,
    budget_bytes: u64,
    policy: u32,
    out: *mut *mut saraphis_residency,
) -> saraphis_result {
    guard(|| {
        let a = saraphis_archive::try_ref(archive, "archive")?;
        let o = out_ptr(out, "out")?;
        let r = Residency::new_device(
            a.archive.clone(),
            budget_bytes,
            policy_arg(policy, &a.archive)?,
        )?;
        *o = saraphis_residency::into_handle(Arc::new(r));
        Ok(())
    })
}

/// Tensor `i` decoded in GPU memory (device tier): `*dev_ptr` (device address, 256-byte
/// aligned) and `*bytes` (its `original_bytes`), pinned until the matching
/// `saraphis_residency_release_device`. `stream` (a `CUstream` of the system GPU's primary
/// context; NULL = the library's own stream) is made to wait, on the device, for the tensor's
/// decode: kernels enqueued on it afterwards may read the tensor. The host does not wait
/// (except for a tensor's first decode, whose chunk statuses are checked). Errors: as
/// `saraphis_residency_acquire`, plus `SARAPHIS_ERR_INVALID_ARGUMENT` on a host-tier manager
/// and `SARAPHIS_ERR_DEVICE`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_residency_acquire_device(
    residency: *const saraphis_residency,
    i: usize,
    stream: *mut c_void,
    dev_ptr: *mut *mut c_void,
    bytes: *mut usize,
) -> saraphis_result {
    guard(|| {
        let r = saraphis_residency::try_ref(residency, "residency")?;
        let d = out_ptr(dev_ptr, "dev_ptr")?;
        let b = out_ptr(bytes, "bytes")?;
        let lease = r.acquire_device_ahead(i, stream)?;
        *d = lease.block.addr() as usize as *mut c_void;
        *b = lease.block.len() as usize;
        Ok(())
    })
}

/// Release one `saraphis_residency_acquire_device` of tensor `i`: the end of `stream`'s use
/// (NULL = the library's own stream) is recorded with an event, and the tensor's memory is
/// reused only after it. Kernels enqueued on `stream` after this call must not read the tensor.
/// Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` (not acquired, or a host-tier manager),
/// `SARAPHIS_ERR_DEVICE`, `SARAPHIS_ERR_NULL_PARAMETER`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_residency_release_device(
    residency: *const saraphis_residency,
    i: usize,
    stream: *mut c_void,
) -> saraphis_result {
    guard(|| {
        saraphis_residency::try_ref(residency, "residency")?.release_device(i, stream)?;
        Ok(())
    })
}

/// Free a residency manager and every decoded tensor it holds (NULL is a no-op), after waiting
/// for its prefetches still decoding. No call on it may be running or follow, and pointers from
/// `saraphis_residency_acquire` become invalid.
#[no_mangle]
pub unsafe extern "C" fn saraphis_residency_free(residency: *mut saraphis_residency) {
    guard_value((), || {
        if let Ok(r) = saraphis_residency::try_ref(residency, "residency") {
            // Prefetches in flight read the archive's bytes (perhaps the caller's, lent to
            // saraphis_archive_open_memory): finish them before the caller may free those.
            r.wait_idle();
        }
        saraphis_residency::free(residency)
    })
}

/// Tensor `i`, decoded, into `*data` (8-byte aligned; its `original_bytes` bytes, into
/// `*bytes`), pinned: the memory stays valid and unchanged until the
/// matching `saraphis_residency_release` (one release per acquire). Served from the cache, from
/// a decode in flight (waits for it), or decoded now on the system's threads after evicting
/// unpinned tensors as the budget requires. Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` (`i` out of
/// range), `SARAPHIS_ERR_BUDGET` (pinned tensors leave no room, or the tensor alone exceeds the
/// budget: release some, or use a larger budget), the archive's data errors
/// (`SARAPHIS_ERR_CHECKSUM` naming the tensor, ...), `SARAPHIS_ERR_NULL_PARAMETER`; the outputs
/// are written only on success. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_residency_acquire(
    residency: *const saraphis_residency,
    i: usize,
    data: *mut *const c_void,
    bytes: *mut usize,
) -> saraphis_result {
    guard(|| {
        let r = saraphis_residency::try_ref(residency, "residency")?;
        let d = out_ptr(data, "data")?;
        let b = out_ptr(bytes, "bytes")?;
        let lease = r.acquire_ahead(i)?;
        // The block stays alive while pinned: the entry holds it until release and eviction.
        *d = lease.block.bytes().as_ptr() as *const c_void;
        *b = lease.block.bytes().len();
        Ok(())
    })
}

/// Release one acquire of tensor `i`: once none is outstanding the tensor may be evicted (the
/// pointer of its acquire must not be used after). Errors: `SARAPHIS_ERR_INVALID_ARGUMENT`
/// (`i` not acquired), `SARAPHIS_ERR_NULL_PARAMETER`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_residency_release(
    residency: *const saraphis_residency,
    i: usize,
) -> saraphis_result {
    guard(|| {
        saraphis_residency::try_ref(residency, "residency")?.release(i)?;
        Ok(())
    })
}

/// Start decoding `indices[count]` in the background (the system's threads) so that their
/// acquires find them ready; stops at the first that does not fit the budget without evicting
/// pinned tensors. `*started` (may be NULL) receives how many decodes began. Errors:
/// `SARAPHIS_ERR_INVALID_ARGUMENT` (an index out of range: nothing started),
/// `SARAPHIS_ERR_NULL_PARAMETER` (`indices` with `count` > 0). Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_residency_prefetch(
    residency: *const saraphis_residency,
    indices: *const usize,
    count: usize,
    started: *mut usize,
) -> saraphis_result {
    guard(|| {
        let r = saraphis_residency::try_ref(residency, "residency")?;
        let list = if count == 0 {
            &[][..]
        } else if indices.is_null() {
            return Err(Fail::Null("indices"));
        } else {
            std::slice::from_raw_parts(indices, count)
        };
        let n = r.prefetch(list)?;
        if !started.is_null() {
            *started = n;
        }
        Ok(())
    })
}

/// Eviction priority of tensor `i` (higher stays longer; default 0). Errors:
/// `SARAPHIS_ERR_INVALID_ARGUMENT` (`i` out of range), `SARAPHIS_ERR_NULL_PARAMETER`.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_residency_set_priority(
    residency: *const saraphis_residency,
    i: usize,
    priority: i32,
) -> saraphis_result {
    guard(|| {
        saraphis_residency::try_ref(residency, "residency")?.set_priority(i, priority)?;
        Ok(())
    })
}

/// Where a device-tier manager decodes a tensor (`saraphis_residency_set_placement`; seed 003's
/// `require_gpu` / `require_cpu` hints).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum saraphis_placement {
    /// On the GPU, and on the CPU workers (then uploaded) when the GPU cannot: its kernels do
    /// not decode the tensor, or its container does not fit in device memory.
    SARAPHIS_PLACEMENT_AUTO = 0,
    /// On the GPU only; a tensor the GPU cannot decode fails its acquire
    /// (`SARAPHIS_ERR_UNSUPPORTED` or `SARAPHIS_ERR_DEVICE`), never a silent fallback.
    SARAPHIS_PLACEMENT_REQUIRE_GPU = 1,
    /// On the CPU workers into pinned memory, then uploaded ("CPU bursting").
    SARAPHIS_PLACEMENT_REQUIRE_CPU = 2,
}

/// Where tensor `i` is decoded by a device-tier manager (a `saraphis_placement`; the default is
/// `SARAPHIS_PLACEMENT_AUTO`); applies to its next decode; the host tier ignores it. Errors:
/// `SARAPHIS_ERR_INVALID_ARGUMENT` (`i` out of range, unknown placement),
/// `SARAPHIS_ERR_NULL_PARAMETER`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_residency_set_placement(
    residency: *const saraphis_residency,
    i: usize,
    placement: u32,
) -> saraphis_result {
    guard(|| {
        let r = saraphis_residency::try_ref(residency, "residency")?;
        let p = crate::system::Placement::from_u32(placement).ok_or_else(|| {
            Fail::Err(Error::InvalidArgument(format!(
                "placement {placement}: expected 0 (auto), 1 (require GPU) or 2 (require CPU)"
            )))
        })?;
        r.set_placement(i, p)?;
        Ok(())
    })
}

/// State and counters as a JSON object (NUL-terminated UTF-8): `tier`, `budget_bytes`,
/// `resident_bytes`, `peak_resident_bytes`, `pinned_bytes`, `resident_tensors`, `acquires`,
/// `hits`, `misses`, `waits`, `evictions`, `evicted_bytes`, `decodes`, `decoded_bytes`,
/// `decode_seconds`, `prefetches`, `prefetch_hits`, `failures`, `cpu_bursts`, `hit_rate`,
/// `memory_state` (`none`, `low` >= 0.5, `moderate` >= 0.75, `high` >= 0.9, `critical` >= 0.95
/// of the budget), and for the device tier (null on the host tier) `pool` (`reserved_bytes`,
/// `used_bytes`, `reserved_high_bytes`, `used_high_bytes` of the library's memory pool),
/// `pool_fragmentation` (1 - used / reserved), `device_free_bytes`, `device_total_bytes`.
/// Size query and errors as `saraphis_system_device` (`buf` NULL and `capacity` 0: only
/// `*needed`; the text may grow between two calls, so leave room). Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_residency_stats_json(
    residency: *const saraphis_residency,
    buf: *mut c_char,
    capacity: usize,
    needed: *mut usize,
) -> saraphis_result {
    guard(|| {
        let r = saraphis_residency::try_ref(residency, "residency")?;
        let needed = out_ptr(needed, "needed")?;
        let json = serde_json::to_string(&r.stats())
            .map_err(|e| Fail::Err(Error::InvalidArgument(e.to_string())))?;
        write_text(&json, "stats JSON", buf, capacity, needed)
    })
}
