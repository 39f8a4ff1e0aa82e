//! `saraphis_config`: a boxed [`Config`] (device, threads, chunk size, checksum checks), owned
//! by the caller from `saraphis_config_new` / `_from_env` / `_from_json` to
//! `saraphis_config_free`. Readable from several threads; not to be modified while in use.

use std::ffi::c_char;

use super::boundary::{c_str, guard, guard_value, invalid, out_ptr, BoxHandle};
use super::result::saraphis_result;
use super::types::saraphis_config_key;
use crate::system::Config;

/// Opaque configuration handle (a boxed Rust `Config`).
pub struct saraphis_config {
    _private: [u8; 0],
}

impl BoxHandle for saraphis_config {
    type Rust = Config;
}

/// Create a configuration with defaults (device auto, threads 0 = all cores, chunk 2^18
/// elements, checksums verified) into `*out`. Free it with `saraphis_config_free`.
/// Errors: `SARAPHIS_ERR_NULL_PARAMETER` if `out` is NULL. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_config_new(out: *mut *mut saraphis_config) -> saraphis_result {
    guard(|| {
        let o = out_ptr(out, "out")?;
        *o = saraphis_config::into_handle(Config::default());
        Ok(())
    })
}

/// Create a configuration from `SARAPHIS_DEVICE`, `SARAPHIS_THREADS`, `SARAPHIS_CHUNK_ELEMS`
/// and `SARAPHIS_VERIFY_CHECKSUMS` (unset variables keep the defaults) into `*out`.
/// Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` for a variable that does not parse or is out of
/// range, `SARAPHIS_ERR_NULL_PARAMETER`. Thread-safe (reads the environment).
#[no_mangle]
pub unsafe extern "C" fn saraphis_config_from_env(
    out: *mut *mut saraphis_config,
) -> saraphis_result {
    guard(|| {
        let o = out_ptr(out, "out")?;
        *o = saraphis_config::into_handle(Config::from_env()?);
        Ok(())
    })
}

/// Create a configuration from JSON (UTF-8, NUL-terminated), e.g.
/// `{"device":"cpu","threads":4,"chunk_elems":262144,"verify_checksums":true}`, into `*out`.
/// Absent keys keep their defaults. Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` for bad JSON,
/// unknown keys or out-of-range values, `SARAPHIS_ERR_NULL_PARAMETER`. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_config_from_json(
    json: *const c_char,
    out: *mut *mut saraphis_config,
) -> saraphis_result {
    guard(|| {
        let json = c_str(json, "json")?;
        let o = out_ptr(out, "out")?;
        let s = json
            .to_str()
            .map_err(|_| invalid("config JSON is not UTF-8"))?;
        *o = saraphis_config::into_handle(Config::from_json(s)?);
        Ok(())
    })
}

/// Set an integer option: `key` is a `saraphis_config_key` (each key's values are in its
/// documentation: threads, chunk elements, verify checksums, lanes, GPU memory limit, CPU
/// workers, profiling, monitoring interval, swap policy, optimization strategy, memory pressure
/// mode). `swap_thresholds` (fractions) are set through `saraphis_config_from_json`, as every key.
/// Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` for an unknown key or an out-of-range value (the
/// config is then unchanged), `SARAPHIS_ERR_NULL_PARAMETER`. Not thread-safe on one config.
#[no_mangle]
pub unsafe extern "C" fn saraphis_config_set(
    config: *mut saraphis_config,
    key: u32,
    value: i64,
) -> saraphis_result {
    use saraphis_config_key::*;
    let flag = |what: &str, v: i64| match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(invalid(format!("{what} {v}: 0 or 1"))),
    };
    guard(|| {
        let c = saraphis_config::try_mut(config, "config")?;
        let mut next = c.clone();
        match key {
            k if k == SARAPHIS_CONFIG_THREADS as u32 => {
                next.threads =
                    usize::try_from(value).map_err(|_| invalid(format!("threads {value}")))?
            }
            k if k == SARAPHIS_CONFIG_CHUNK_ELEMS as u32 => {
                next.chunk_elems =
                    u32::try_from(value).map_err(|_| invalid(format!("chunk_elems {value}")))?
            }
            k if k == SARAPHIS_CONFIG_VERIFY_CHECKSUMS as u32 => {
                next.verify_checksums = flag("verify_checksums", value)?
            }
            k if k == SARAPHIS_CONFIG_LANES as u32 => {
                next.lanes = u32::try_from(value).map_err(|_| invalid(format!("lanes {value}")))?
            }
            k if k == SARAPHIS_CONFIG_GPU_MEMORY_LIMIT_MB as u32 => {
                next.gpu_memory_limit_mb = u64::try_from(value)
                    .map_err(|_| invalid(format!("gpu_memory_limit_mb {value}")))?
            }
            k if k == SARAPHIS_CONFIG_PINNED_HOST_LIMIT_MB as u32 => {
                next.pinned_host_limit_mb = u64::try_from(value)
                    .map_err(|_| invalid(format!("pinned_host_limit_mb {value}")))?
            }
            k if k == SARAPHIS_CONFIG_CPU_WORKERS as u32 => next.cpu_workers = value,
            k if k == SARAPHIS_CONFIG_ENABLE_PROFILING as u32 => {
                next.enable_profiling = flag("enable_profiling", value)?
            }
            k if k == SARAPHIS_CONFIG_MONITORING_INTERVAL_MS as u32 => {
                next.monitoring_interval_ms = u64::try_from(value)
                    .map_err(|_| invalid(format!("monitoring_interval_ms {value}")))?
            }
            k if k == SARAPHIS_CONFIG_SWAP_POLICY as u32 => {
                use crate::system::SwapPolicyName as P;
                next.swap_policy = match value {
                    0 => P::Conservative,
                    1 => P::Balanced,
                    2 => P::Aggressive,
                    _ => return Err(invalid(format!("swap_policy {value}: 0, 1 or 2"))),
                }
            }
            k if k == SARAPHIS_CONFIG_OPTIMIZATION_STRATEGY as u32 => {
                use crate::system::Strategy as S;
                next.optimization_strategy = match value {
                    0 => S::Throughput,
                    1 => S::Latency,
                    2 => S::Memory,
                    3 => S::Balanced,
                    4 => S::Adaptive,
                    _ => return Err(invalid(format!("optimization_strategy {value}: 0 ..= 4"))),
                }
            }
            k if k == SARAPHIS_CONFIG_MEMORY_PRESSURE_MODE as u32 => {
                use crate::system::PressureMode as M;
                next.memory_pressure_mode = match value {
                    0 => M::Adaptive,
                    1 => M::Off,
                    _ => return Err(invalid(format!("memory_pressure_mode {value}: 0 or 1"))),
                }
            }
            k => return Err(invalid(format!("config key {k}"))),
        }
        next.validate()?;
        *c = next;
        Ok(())
    })
}

/// Set the device: "auto", "cpu" or "cuda:N" (NUL-terminated). Errors:
/// `SARAPHIS_ERR_INVALID_ARGUMENT` for another string (the config is then unchanged),
/// `SARAPHIS_ERR_NULL_PARAMETER`. Not thread-safe on one config.
#[no_mangle]
pub unsafe extern "C" fn saraphis_config_set_device(
    config: *mut saraphis_config,
    device: *const c_char,
) -> saraphis_result {
    guard(|| {
        let c = saraphis_config::try_mut(config, "config")?;
        let s = c_str(device, "device")?
            .to_str()
            .map_err(|_| invalid("device is not UTF-8"))?;
        c.device = s.parse()?;
        Ok(())
    })
}

/// Free a configuration (NULL is a no-op). Each config is freed once; it may be freed as soon
/// as `saraphis_system_new` has returned (the system keeps a copy).
#[no_mangle]
pub unsafe extern "C" fn saraphis_config_free(config: *mut saraphis_config) {
    guard_value((), || saraphis_config::free(config))
}
