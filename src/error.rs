//! Error type shared by every layer.
//!
//! Each variant maps to one stable numeric code of the C ABI's `saraphis_result`; the mapping
//! lives in one place, `crate::ffi::result` (`From<&Error> for saraphis_result`). Codes are
//! grouped in ranges (rustls-ffi style): 1xxx arguments, 2xxx container/data, 3xxx I/O and
//! system, 4xxx device.

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in Saraphis. `Send + Sync`; cheap to clone the message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument is out of range or inconsistent (bad prime, bound <= 0, too many dimensions...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The destination buffer has the wrong size or dtype for the tensor being decoded.
    #[error("destination mismatch: {0}")]
    Destination(String),
    /// A named item (a tensor of an archive) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The bytes do not start with a Saraphis magic number.
    #[error("not a Saraphis container: {0}")]
    BadMagic(String),
    /// The container was written by a newer, incompatible major format version.
    #[error("unsupported format version {major}.{minor}: this reader supports major version {supported}")]
    UnsupportedVersion {
        /// Major version found in the file.
        major: u16,
        /// Minor version found in the file.
        minor: u16,
        /// Major version this build reads.
        supported: u16,
    },
    /// The input (container or archive, named in the message) ends before a structure it declares.
    #[error("truncated: {0}")]
    Truncated(String),
    /// A checksum did not match: the header, the index or a chunk (named) was altered.
    #[error("checksum mismatch: {0}")]
    Checksum(String),
    /// The container is structurally invalid (inconsistent sizes, bad stream, bad table).
    #[error("corrupt container: {0}")]
    Corrupt(String),
    /// A feature that this build or this data does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An operating-system I/O error (file open, read, write, rename).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A device could not be used as configured.
    #[error("device error: {0}")]
    Device(String),
    /// A lossy result exceeded its error bound (reported by `verify`).
    #[error("error bound exceeded: {0}")]
    BoundExceeded(String),
    /// A memory budget has no room (residency manager).
    #[error("memory budget exceeded: {0}")]
    Budget(String),
}

/// Shorthand for `Err(Error::InvalidArgument(..))`.
pub(crate) fn invalid<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error::InvalidArgument(msg.into()))
}

/// Shorthand for `Err(Error::Corrupt(..))`.
pub(crate) fn corrupt<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error::Corrupt(msg.into()))
}
