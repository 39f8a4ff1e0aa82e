//! The numerical library of the design notes (seeds 000/001, issue 14): p-adic arithmetic in
//! `Z/p^N` ([`padic`]) and tropical (max-plus / min-plus) algebra ([`tropical`]), on CPU cores
//! here and on the GPU through `crate::backend::cuda` (kernels `kernels/tropical.cu`,
//! `kernels/padic_math.cu`).
//!
//! Layer: ops (beside the codecs). Depends only on `crate::error`, `crate::padic` (primality,
//! precision limits) and, for [`padic::PadicRing::quantize`], the p-adic codec's quantizer
//! (`crate::codec::padic`), so that a value converted here is the integer the codec stores.
//!
//! Thread safety: every function here is pure (inputs borrowed, outputs written) and may be
//! called from any number of threads at once; batch functions use rayon's global pool.

pub mod padic;
pub mod tropical;

/// A tropical semiring: which of `max` / `min` is the addition `⊕` (the multiplication `⊗` is
/// `+` in both). Zero (the `⊕` identity, absorbing for `⊗`): `-inf` for max-plus, `+inf` for
/// min-plus; one (the `⊗` identity): `0`. Reference: D. Maclagan and B. Sturmfels, *Introduction
/// to Tropical Geometry*, AMS 2015, ch. 1.1. C ABI: `saraphis_semiring` (same values).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Semiring {
    /// `a ⊕ b = max(a, b)`, zero `-inf` (longest paths, Viterbi).
    MaxPlus = 0,
    /// `a ⊕ b = min(a, b)`, zero `+inf` (shortest paths).
    MinPlus = 1,
}

impl Semiring {
    /// From the C ABI value (0 max-plus, 1 min-plus); `None` otherwise.
    pub fn from_u32(v: u32) -> Option<Semiring> {
        match v {
            0 => Some(Semiring::MaxPlus),
            1 => Some(Semiring::MinPlus),
            _ => None,
        }
    }

    /// The name used by the CLI and in JSON (`max-plus`, `min-plus`).
    pub fn name(self) -> &'static str {
        match self {
            Semiring::MaxPlus => "max-plus",
            Semiring::MinPlus => "min-plus",
        }
    }
}
