//! System configuration: from a struct, from JSON, or from `SARAPHIS_*` environment variables.

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
    /// Default most rANS lanes per stream (`SARAPHIS_LANES`), 0..=128; 0 = 32.
    pub lanes: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            device: Device::Auto,
            threads: 0,
            chunk_elems: DEFAULT_CHUNK_ELEMS,
            verify_checksums: true,
            lanes: 0,
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
        crate::codec::check_lanes(self.lanes)
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
    /// `SARAPHIS_VERIFY_CHECKSUMS` (`0`/`1`/`true`/`false`). A set variable that does not parse
    /// is an error, never ignored. Errors: `InvalidArgument`.
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
        if let Some(v) = var("SARAPHIS_VERIFY_CHECKSUMS") {
            c.verify_checksums = match v.trim() {
                "1" | "true" => true,
                "0" | "false" => false,
                _ => return invalid(format!("SARAPHIS_VERIFY_CHECKSUMS={v}")),
            };
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
        };
        assert_eq!(Config::from_json(&c.to_json()).unwrap(), c);
        assert_eq!(Config::from_json("{}").unwrap(), Config::default());
        assert!(Config::from_json(r#"{"device":"gpu"}"#).is_err());
        assert!(Config::from_json(r#"{"threds":2}"#).is_err());
        assert!(Config::from_json(r#"{"chunk_elems":0}"#).is_err());
    }
}
