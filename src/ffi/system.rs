//! `saraphis_system`: a boxed [`System`] (device choice, thread pool, statistics), owned by the
//! caller from `saraphis_system_new` to `saraphis_system_free`. One system may be used from
//! many threads at once.

use std::ffi::c_char;
use std::sync::Arc;

use super::boundary::{guard, guard_value, out_ptr, BoxHandle};
use super::config::saraphis_config;
use super::result::saraphis_result;
use crate::system::{Config, System};

/// Opaque system handle (a boxed Rust `System`). Thread-safe.
pub struct saraphis_system {
    _private: [u8; 0],
}

impl BoxHandle for saraphis_system {
    /// Shared, so that archives opened on the system keep it alive (`saraphis_archive_open`).
    type Rust = Arc<System>;
}

/// Create a system from `config` (NULL = defaults) into `*out`. The config is copied and may be
/// freed afterwards. Free the system with `saraphis_system_free`.
/// Errors: `SARAPHIS_ERR_INVALID_ARGUMENT`, `SARAPHIS_ERR_DEVICE` (an explicit `cuda:N` that
/// this build or machine cannot serve), `SARAPHIS_ERR_IO` (the thread pool could not start),
/// `SARAPHIS_ERR_NULL_PARAMETER`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_system_new(
    config: *const saraphis_config,
    out: *mut *mut saraphis_system,
) -> saraphis_result {
    guard(|| {
        let o = out_ptr(out, "out")?;
        let cfg = if config.is_null() {
            Config::default()
        } else {
            saraphis_config::try_ref(config, "config")?.clone()
        };
        *o = saraphis_system::into_handle(Arc::new(System::new(cfg)?));
        Ok(())
    })
}

/// Free a system (NULL is a no-op). No call on it may be running or follow. Work it enqueued on
/// a GPU stream must be finished first (`saraphis_device_synchronize` for its own stream).
/// Archives opened on it stay usable: each holds a reference, and the system's resources go
/// when the last of them is freed.
#[no_mangle]
pub unsafe extern "C" fn saraphis_system_free(system: *mut saraphis_system) {
    guard_value((), || saraphis_system::free(system))
}

/// The device in use ("cpu", "cuda:N") and why it was chosen, e.g.
/// `cpu (auto: this build has no CUDA kernels, using the CPU)`, as NUL-terminated UTF-8.
///
/// With `buf` NULL and `capacity` 0 this is a size query: `*needed` receives the length
/// including the NUL and nothing else is written. Otherwise the text is copied into
/// `buf[capacity]` and `*needed` receives its length including the NUL.
/// Errors: `SARAPHIS_ERR_DESTINATION` when `capacity` is smaller than the text (nothing is
/// written, `*needed` included: query the size first), `SARAPHIS_ERR_NULL_PARAMETER`
/// (`system`, `needed`, or `buf` with a nonzero capacity). Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_system_device(
    system: *const saraphis_system,
    buf: *mut c_char,
    capacity: usize,
    needed: *mut usize,
) -> saraphis_result {
    guard(|| {
        let s = saraphis_system::try_ref(system, "system")?;
        let needed = out_ptr(needed, "needed")?;
        let (d, why) = s.device_status();
        super::boundary::write_text(
            &format!("{d} ({why})"),
            "device text",
            buf,
            capacity,
            needed,
        )
    })
}

/// 1 if this build embeds CUDA kernels, else 0 (the install script writes it into
/// `saraphis_config.h` as `SARAPHIS_HAS_CUDA`). Thread-safe.
#[no_mangle]
pub extern "C" fn saraphis_build_has_cuda() -> u32 {
    (env!("SARAPHIS_CUDA_KERNELS") == "1") as u32
}

/// Status and statistics of a system as a JSON object (NUL-terminated UTF-8): `state`,
/// `device`, `threads`, `uptime_seconds`, `totals` (tensors and bytes compressed and
/// decompressed on the host, device decode calls, tensors and output bytes enqueued),
/// `compression_ratio`, `throughput` (`compress_mb_s`, `decompress_mb_s` over host call time),
/// `latency` (`compress_ms_avg`, `decompress_ms_avg` per host call), `cache` (`hits`, `misses`,
/// `hit_rate`, `evictions`, `cpu_bursts` summed over the system's residency managers),
/// `bytes_per_tier` (`host_decoded`, `device_decoded`: decoded tensors those managers hold now;
/// `device_containers`: compressed containers its archives keep on the GPU now) and
/// `memory_pressure` (`memory_state` of the used device memory at 0.5 / 0.75 / 0.9 / 0.95,
/// `gpu_free_mb`, `gpu_total_mb`, `gpu_utilization` = used / total device memory, and the device
/// pool's `pool_reserved_mb`, `pool_used_mb`, `pool_fragmentation`; null without a GPU). Size
/// query and errors as `saraphis_system_device` (the text may grow between two calls: leave
/// room). Per-manager statistics are `saraphis_residency_stats_json`'s. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_system_stats_json(
    system: *const saraphis_system,
    buf: *mut c_char,
    capacity: usize,
    needed: *mut usize,
) -> saraphis_result {
    guard(|| {
        let s = saraphis_system::try_ref(system, "system")?;
        let needed = out_ptr(needed, "needed")?;
        super::boundary::write_text(&s.stats_json(), "stats JSON", buf, capacity, needed)
    })
}
