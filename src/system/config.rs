//! System configuration: from a struct, from JSON, or from `SARAPHIS_*` environment variables.
//!
//! Beside the codec defaults, the keys of seed 003's coordinator (issue 12), each with an effect:
//! `gpu_memory_limit_mb` (the device budget of a residency manager created with budget 0),
//! `swap_policy` (the eviction policy a manager gets when the C API passes
//! `SARAPHIS_SWAP_DEFAULT`), `swap_thresholds` (the fractions at which `memory_state` becomes
//! low / moderate / high / critical, in every statistic), `cpu_workers` (the worker pool's size,
//! the CPU decoders of bursting included), `memory_pressure_mode` (`adaptive`: a device-tier
//! manager decodes `Auto` tensors on the CPU while device memory is critical; `off`: never for
//! pressure), `optimization_strategy` (the knobs of [`Strategy::knobs`]), `enable_profiling`
//! (timing of host calls in the statistics) and `monitoring_interval_ms` (the interval of the
//! background sampling of device memory, `cuMemGetInfo`).

use serde::{Deserialize, Serialize};

use crate::error::{invalid, Error, Result};
use crate::format::container::DEFAULT_CHUNK_ELEMS;

/// Largest `Config::threads` (a guard against a mistyped count).
pub const MAX_THREADS: usize = 4096;

/// Where work runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Device {
    /// CUDA when a driver, a device and the kernels are all present, otherwise CPU; the
    /// system's status says which and why.
    Auto,
    /// CPU cores only.
    Cpu,
    /// CUDA device `N`; an error at system creation if it cannot be used.
    Cuda(u32),
}

impl std::str::FromStr for Device {
    type Err = Error;
    /// Parse `auto`, `cpu` or `cuda:N`. Errors: `InvalidArgument`.
    fn from_str(s: &str) -> Result<Device> {
        match s.trim() {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            d => match d.strip_prefix("cuda:").map(str::parse::<u32>) {
                Some(Ok(n)) => Ok(Device::Cuda(n)),
                _ => invalid(format!("device '{s}': expected auto, cpu or cuda:N")),
            },
        }
    }
}

impl TryFrom<String> for Device {
    type Error = Error;
    fn try_from(s: String) -> Result<Device> {
        s.parse()
    }
}

impl From<Device> for String {
    fn from(d: Device) -> String {
        d.to_string()
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Auto => write!(f, "auto"),
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// Seed 003's optimization strategies, each a set of concrete knobs ([`Strategy::knobs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Decode ahead the most, wide GPU streams.
    Throughput,
    /// Decode the next tensor ahead, wide GPU streams.
    Latency,
    /// Nothing decoded ahead, smallest containers, evict deep.
    Memory,
    /// The defaults (the engine prefetches itself).
    #[default]
    Balanced,
    /// As balanced, and a residency manager raises its own prefetch depth (to 2) while its
    /// acquires miss.
    Adaptive,
}

/// The knobs an [`Strategy`] sets (documented in docs/C_API.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knobs {
    /// Tensors a residency manager decodes ahead on each acquire of tensor `i` (`i + 1 ..=
    /// i + depth`, as `prefetch` would), besides the engine's own prefetches.
    pub prefetch_depth: usize,
    /// rANS lanes of p-adic compression when the config's `lanes` is 0 (32 is the
    /// ratio-best, 128 decodes faster on GPUs). Not applied to the lossless codec, whose
    /// default layout v2 has no lane count (`System::options`).
    pub lanes: u32,
}

impl Strategy {
    /// The knobs: throughput (depth 2, 128 lanes), latency (1, 128), memory (0, 32), balanced
    /// (0, 32), adaptive (0 rising to 2 on misses, 32).
    pub fn knobs(self) -> Knobs {
        let (prefetch_depth, lanes) = match self {
            Strategy::Throughput => (2, 128),
            Strategy::Latency => (1, 128),
            Strategy::Memory => (0, 32),
            Strategy::Balanced | Strategy::Adaptive => (0, 32),
        };
        Knobs {
            prefetch_depth,
            lanes,
        }
    }
}

impl std::str::FromStr for Strategy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Strategy> {
        serde_json::from_value(serde_json::Value::String(s.trim().to_string())).map_err(|_| {
            Error::InvalidArgument(format!(
                "optimization strategy '{s}': throughput, latency, memory, balanced or adaptive"
            ))
        })
    }
}

/// Seed 003's `memory_pressure_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PressureMode {
    /// Device-tier managers decode `Auto` tensors on the CPU while device memory is critical.
    #[default]
    Adaptive,
    /// Pressure changes nothing (only the statistics report it).
    Off,
}

/// Seed 003's `swap_policy` (the default of a residency manager created with
/// `SARAPHIS_SWAP_DEFAULT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SwapPolicyName {
    /// Evict only what the new tensor needs.
    Conservative,
    /// Evict down to 90% of the budget.
    #[default]
    Balanced,
    /// Evict down to 75% of the budget.
    Aggressive,
}

/// Seed 003's `swap_thresholds`: the used fractions (of a budget, or of device memory) at which
/// the reported `memory_state` becomes `low`, `moderate`, `high`, `critical` (below `low`:
/// `none`). Strictly increasing within `(0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Default 0.5.
    pub low: f64,
    /// Default 0.75.
    pub moderate: f64,
    /// Default 0.9.
    pub high: f64,
    /// Default 0.95.
    pub critical: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            low: 0.5,
            moderate: 0.75,
            high: 0.9,
            critical: 0.95,
        }
    }
}

impl Thresholds {
    /// The state of a used fraction: `none`, `low`, `moderate`, `high` or `critical`.
    pub fn state(&self, used: f64) -> &'static str {
        match used {
            p if p >= self.critical => "critical",
            p if p >= self.high => "high",
            p if p >= self.moderate => "moderate",
            p if p >= self.low => "low",
            _ => "none",
        }
    }
}

/// Configuration of a [`super::System`]. Plain data; `Send + Sync`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Device choice (`SARAPHIS_DEVICE`): `auto` (default), `cpu`, `cuda:N`.
    pub device: Device,
    /// Worker threads for chunk-parallel work (`SARAPHIS_THREADS`); 0 = one per core.
    pub threads: usize,
    /// Default chunk size in elements (`SARAPHIS_CHUNK_ELEMS`), 1..=2^28; default 2^18.
    pub chunk_elems: u32,
    /// Verify chunk checksums when decoding (`SARAPHIS_VERIFY_CHECKSUMS`, default true).
    pub verify_checksums: bool,
    /// Default most rANS lanes per stream (`SARAPHIS_LANES`), 0..=128; 0 = the strategy's
    /// (32 unless `throughput` / `latency`: 128) for p-adic, and layout v2 for the lossless
    /// codec (set, the lossless codec writes layout v1 with these lanes).
    pub lanes: u32,
    /// Device budget of a residency manager created with budget 0, MiB
    /// (`SARAPHIS_GPU_MEMORY_LIMIT_MB`); 0 = none (such a manager is then refused).
    pub gpu_memory_limit_mb: u64,
    /// Eviction policy of managers created with `SARAPHIS_SWAP_DEFAULT`.
    pub swap_policy: SwapPolicyName,
    /// Where `memory_state` changes (statistics; the adaptive pressure mode acts at `critical`).
    pub swap_thresholds: Thresholds,
    /// Worker threads by seed 003's name (`SARAPHIS_CPU_WORKERS`): -1 or 0 = `threads` decides;
    /// otherwise the pool's size (it must then agree with `threads` when both are set).
    pub cpu_workers: i64,
    /// What device memory pressure does (`adaptive` or `off`).
    pub memory_pressure_mode: PressureMode,
    /// The knobs of [`Strategy::knobs`] (`SARAPHIS_OPTIMIZATION_STRATEGY`).
    pub optimization_strategy: Strategy,
    /// Time host calls for the statistics' throughput and latency (`SARAPHIS_ENABLE_PROFILING`,
    /// default on; off: those figures are null).
    pub enable_profiling: bool,
    /// Interval of the background sampling of device memory (`cuMemGetInfo`, one monitor
    /// thread per GPU system), ms (default 100); 0 = no monitor thread: sampled on demand, each
    /// time.
    pub monitoring_interval_ms: u64,
    /// Page-locked host memory for compressed containers moved off the GPU, MiB
    /// (`SARAPHIS_PINNED_HOST_LIMIT_MB`, default 0 = no pinned tier: measured, it did not beat
    /// uploads from an archive in memory; docs/BENCHMARKS.md): a container that
    /// [`super::Archive::trim_device`] moves off the GPU goes to pinned host memory while this
    /// budget (over all archives of the system) allows, else back to the archive's bytes (the
    /// memory map). Allocated only when containers move.
    pub pinned_host_limit_mb: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            device: Device::Auto,
            threads: 0,
            chunk_elems: DEFAULT_CHUNK_ELEMS,
            verify_checksums: true,
            lanes: 0,
            gpu_memory_limit_mb: 0,
            swap_policy: SwapPolicyName::Balanced,
            swap_thresholds: Thresholds::default(),
            cpu_workers: -1,
            memory_pressure_mode: PressureMode::Adaptive,
            optimization_strategy: Strategy::Balanced,
            enable_profiling: true,
            monitoring_interval_ms: 100,
            pinned_host_limit_mb: 0,
        }
    }
}

impl Config {
    /// Check ranges. Errors: `InvalidArgument`.
    pub fn validate(&self) -> Result<()> {
        crate::codec::check_chunk_elems(self.chunk_elems)?;
        if self.threads > MAX_THREADS {
            return invalid(format!("threads {}: at most {MAX_THREADS}", self.threads));
        }
        if self.cpu_workers < -1 || self.cpu_workers > MAX_THREADS as i64 {
            return invalid(format!(
                "cpu_workers {}: -1 (auto) or 0..={MAX_THREADS}",
                self.cpu_workers
            ));
        }
        if self.cpu_workers > 0 && self.threads > 0 && self.cpu_workers as usize != self.threads {
            return invalid(format!(
                "cpu_workers {} and threads {} disagree (they name the same pool)",
                self.cpu_workers, self.threads
            ));
        }
        let t = &self.swap_thresholds;
        let v = [t.low, t.moderate, t.high, t.critical];
        if !(v.iter().all(|x| x.is_finite() && *x > 0.0 && *x <= 1.0)
            && v.windows(2).all(|w| w[0] < w[1]))
        {
            return invalid(format!(
                "swap_thresholds {v:?}: low < moderate < high < critical, each within (0, 1]"
            ));
        }
        if self.gpu_memory_limit_mb > (1 << 44) {
            return invalid(format!("gpu_memory_limit_mb {}", self.gpu_memory_limit_mb));
        }
        if self.pinned_host_limit_mb > (1 << 44) {
            return invalid(format!(
                "pinned_host_limit_mb {}",
                self.pinned_host_limit_mb
            ));
        }
        crate::codec::check_lanes(self.lanes)
    }

    /// The worker pool's size: `threads`, else `cpu_workers` when positive, else 0 (one per core).
    pub fn workers(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else if self.cpu_workers > 0 {
            self.cpu_workers as usize
        } else {
            0
        }
    }

    /// Compression lanes: `lanes`, else the strategy's (0, the codec's default of 32, when the
    /// strategy asks for 32).
    pub fn effective_lanes(&self) -> u32 {
        match (self.lanes, self.optimization_strategy.knobs().lanes) {
            (0, 32) => 0,
            (0, k) => k,
            (l, _) => l,
        }
    }

    /// Parse JSON such as `{"device": "cpu", "threads": 4}`; absent fields keep defaults,
    /// unknown fields are an error. Errors: `InvalidArgument`.
    pub fn from_json(s: &str) -> Result<Config> {
        let c: Config = serde_json::from_str(s)
            .map_err(|e| Error::InvalidArgument(format!("config JSON: {e}")))?;
        c.validate()?;
        Ok(c)
    }

    /// Serialize as pretty JSON (round-trips through [`Config::from_json`]).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("config serializes")
    }

    /// Defaults overridden by `SARAPHIS_DEVICE`, `SARAPHIS_THREADS`, `SARAPHIS_CHUNK_ELEMS`,
    /// `SARAPHIS_LANES`, `SARAPHIS_VERIFY_CHECKSUMS` (`0`/`1`/`true`/`false`),
    /// `SARAPHIS_GPU_MEMORY_LIMIT_MB`, `SARAPHIS_CPU_WORKERS`, `SARAPHIS_OPTIMIZATION_STRATEGY`
    /// and `SARAPHIS_ENABLE_PROFILING` (`0`/`1`/`true`/`false`). A set variable that does not
    /// parse is an error, never ignored. Errors: `InvalidArgument`.
    pub fn from_env() -> Result<Config> {
        let mut c = Config::default();
        let var = |k: &str| std::env::var(k).ok();
        if let Some(v) = var("SARAPHIS_DEVICE") {
            c.device = v.parse()?;
        }
        if let Some(v) = var("SARAPHIS_THREADS") {
            c.threads = v
                .trim()
                .parse()
                .map_err(|_| Error::InvalidArgument(format!("SARAPHIS_THREADS={v}")))?;
        }
        if let Some(v) = var("SARAPHIS_CHUNK_ELEMS") {
            c.chunk_elems = v
                .trim()
                .parse()
                .map_err(|_| Error::InvalidArgument(format!("SARAPHIS_CHUNK_ELEMS={v}")))?;
        }
        if let Some(v) = var("SARAPHIS_LANES") {
            c.lanes = v
                .trim()
                .parse()
                .map_err(|_| Error::InvalidArgument(format!("SARAPHIS_LANES={v}")))?;
        }
        let flag = |k: &str, v: &str| match v.trim() {
            "1" | "true" => Ok(true),
            "0" | "false" => Ok(false),
            _ => invalid(format!("{k}={v}")),
        };
        if let Some(v) = var("SARAPHIS_VERIFY_CHECKSUMS") {
            c.verify_checksums = flag("SARAPHIS_VERIFY_CHECKSUMS", &v)?;
        }
        if let Some(v) = var("SARAPHIS_ENABLE_PROFILING") {
            c.enable_profiling = flag("SARAPHIS_ENABLE_PROFILING", &v)?;
        }
        if let Some(v) = var("SARAPHIS_GPU_MEMORY_LIMIT_MB") {
            c.gpu_memory_limit_mb = v
                .trim()
                .parse()
                .map_err(|_| Error::InvalidArgument(format!("SARAPHIS_GPU_MEMORY_LIMIT_MB={v}")))?;
        }
        if let Some(v) = var("SARAPHIS_PINNED_HOST_LIMIT_MB") {
            c.pinned_host_limit_mb = v.trim().parse().map_err(|_| {
                Error::InvalidArgument(format!("SARAPHIS_PINNED_HOST_LIMIT_MB={v}"))
            })?;
        }
        if let Some(v) = var("SARAPHIS_CPU_WORKERS") {
            c.cpu_workers = v
                .trim()
                .parse()
                .map_err(|_| Error::InvalidArgument(format!("SARAPHIS_CPU_WORKERS={v}")))?;
        }
        if let Some(v) = var("SARAPHIS_OPTIMIZATION_STRATEGY") {
            c.optimization_strategy = v.parse()?;
        }
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn json_round_trip_and_errors() {
        let c = Config {
            device: Device::Cuda(1),
            threads: 3,
            chunk_elems: 1024,
            verify_checksums: false,
            lanes: 128,
            gpu_memory_limit_mb: 4096,
            swap_policy: SwapPolicyName::Aggressive,
            swap_thresholds: Thresholds {
                low: 0.4,
                moderate: 0.6,
                high: 0.8,
                critical: 0.9,
            },
            cpu_workers: 3,
            memory_pressure_mode: PressureMode::Off,
            optimization_strategy: Strategy::Throughput,
            enable_profiling: false,
            monitoring_interval_ms: 250,
            pinned_host_limit_mb: 64,
        };
        assert_eq!(Config::from_json(&c.to_json()).unwrap(), c);
        assert_eq!(Config::from_json("{}").unwrap(), Config::default());
        assert!(Config::from_json(r#"{"device":"gpu"}"#).is_err());
        assert!(Config::from_json(r#"{"threds":2}"#).is_err());
        assert!(Config::from_json(r#"{"chunk_elems":0}"#).is_err());
        // The seeds' keys, as seed 003 writes them.
        let seed = Config::from_json(
            r#"{"gpu_memory_limit_mb": 8192, "swap_policy": "balanced",
                "swap_thresholds": {"low": 0.5, "moderate": 0.75, "high": 0.9, "critical": 0.95},
                "cpu_workers": -1, "memory_pressure_mode": "adaptive",
                "optimization_strategy": "balanced", "enable_profiling": true,
                "monitoring_interval_ms": 100}"#,
        )
        .unwrap();
        assert_eq!(seed.gpu_memory_limit_mb, 8192);
        assert_eq!(seed.swap_thresholds, Thresholds::default());
        assert!(Config::from_json(r#"{"optimization_strategy":"fastest"}"#).is_err());
        assert!(Config::from_json(
            r#"{"swap_thresholds":{"low":0.9,"moderate":0.75,"high":0.95,"critical":0.99}}"#
        )
        .is_err());
        assert!(Config::from_json(r#"{"cpu_workers": 2, "threads": 3}"#).is_err());
        assert!(Config::from_json(r#"{"cpu_workers": -2}"#).is_err());
        assert_eq!(
            Config::from_json(r#"{"cpu_workers": 2}"#)
                .unwrap()
                .workers(),
            2
        );
        assert_eq!(
            Config::from_json(r#"{"optimization_strategy":"throughput"}"#)
                .unwrap()
                .effective_lanes(),
            128
        );
        assert_eq!(Thresholds::default().state(0.93), "high");
        assert_eq!(
            "LATENCY".to_lowercase().parse::<Strategy>().unwrap(),
            Strategy::Latency
        );
    }
}
