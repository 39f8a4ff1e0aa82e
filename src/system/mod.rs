//! The system coordinator: configuration, device choice, the worker pool, statistics, and
//! model-level (whole safetensors file) operations.
//!
//! Layer: top of the Rust API, below `ffi`. A [`System`] is `Send + Sync`: one instance may
//! be used from many threads at once; each call runs its chunk-parallel work on the
//! system's own rayon pool.

pub mod config;
pub mod model;

use std::sync::atomic::{AtomicU64, Ordering};

pub use config::{Config, Device};

use crate::codec::{self, CodecParams, CompressOptions, Compressed, TensorInfo};
use crate::dtype::DType;
use crate::error::{Error, Result};

/// Counters since the system was created (bytes are uncompressed sizes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Tensors compressed.
    pub tensors_compressed: u64,
    /// Tensors decompressed.
    pub tensors_decompressed: u64,
    /// Uncompressed bytes fed to compression.
    pub bytes_in: u64,
    /// Container bytes produced.
    pub bytes_out: u64,
    /// Uncompressed bytes produced by decompression.
    pub bytes_decompressed: u64,
}

/// A configured Saraphis instance.
pub struct System {
    config: Config,
    pool: rayon::ThreadPool,
    device: Device,
    device_reason: String,
    counters: [AtomicU64; 5],
}

impl std::fmt::Debug for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("System")
            .field("config", &self.config)
            .field("device", &self.device)
            .finish()
    }
}

impl System {
    /// Create a system. `Device::Auto` resolves to the CPU in this build (no CUDA kernels
    /// are embedded) and [`System::device_status`] says so; an explicit `cuda:N` is an error.
    ///
    /// Errors: `InvalidArgument` (bad config), `Device` (explicit CUDA device unavailable),
    /// `Io` (worker threads could not be spawned).
    pub fn new(config: Config) -> Result<System> {
        config.validate()?;
        let (device, device_reason) = match config.device {
            Device::Cpu => (Device::Cpu, "cpu requested".to_string()),
            Device::Auto => (
                Device::Cpu,
                "auto: this build has no CUDA kernels, using the CPU".to_string(),
            ),
            Device::Cuda(n) => {
                return Err(Error::Device(format!(
                    "cuda:{n} requested but this build has no CUDA kernels (use device=auto or cpu)"
                )))
            }
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.threads)
            .thread_name(|i| format!("saraphis-{i}"))
            .build()
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
        Ok(System {
            config,
            pool,
            device,
            device_reason,
            counters: Default::default(),
        })
    }

    /// The configuration this system was created with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The device in use and why it was chosen.
    pub fn device_status(&self) -> (Device, &str) {
        (self.device, &self.device_reason)
    }

    /// Worker threads in the pool.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Counters since creation.
    pub fn stats(&self) -> Stats {
        let c = |i: usize| self.counters[i].load(Ordering::Relaxed);
        Stats {
            tensors_compressed: c(0),
            tensors_decompressed: c(1),
            bytes_in: c(2),
            bytes_out: c(3),
            bytes_decompressed: c(4),
        }
    }

    fn count(&self, i: usize, v: u64) {
        self.counters[i].fetch_add(v, Ordering::Relaxed);
    }

    /// Options for `codec` with this system's chunk size.
    pub fn options(&self, codec: CodecParams) -> CompressOptions {
        CompressOptions {
            codec,
            chunk_elems: self.config.chunk_elems,
        }
    }

    /// Compress a host tensor (see [`codec::compress`] for shapes, dtypes and errors).
    pub fn compress(
        &self,
        data: &[u8],
        dtype: DType,
        shape: &[u64],
        opts: &CompressOptions,
    ) -> Result<Compressed> {
        let c = self
            .pool
            .install(|| codec::compress(data, dtype, shape, opts))?;
        self.count(0, 1);
        self.count(2, data.len() as u64);
        self.count(3, c.bytes.len() as u64);
        Ok(c)
    }

    /// Decompress into `dst` (see [`codec::decompress_into`]).
    pub fn decompress_into(&self, container: &[u8], dtype: DType, dst: &mut [u8]) -> Result<()> {
        if self.config.verify_checksums {
            self.pool
                .install(|| codec::decompress_into(container, dtype, dst))?;
        } else {
            self.pool
                .install(|| codec::decompress_unverified(container, dtype, dst))?;
        }
        self.count(1, 1);
        self.count(4, dst.len() as u64);
        Ok(())
    }

    /// Progressive decode of the top `planes` digit planes (see
    /// [`codec::decompress_progressive`]); returns the bound that holds.
    pub fn decompress_progressive(
        &self,
        container: &[u8],
        dtype: DType,
        dst: &mut [u8],
        planes: u32,
    ) -> Result<f64> {
        let b = self
            .pool
            .install(|| codec::decompress_progressive(container, dtype, dst, planes))?;
        self.count(1, 1);
        self.count(4, dst.len() as u64);
        Ok(b)
    }

    /// Header information without decoding (see [`codec::inspect`]).
    pub fn inspect(&self, container: &[u8]) -> Result<TensorInfo> {
        codec::inspect(container)
    }
}
