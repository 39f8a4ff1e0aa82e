//! The parameter limits shared by the p-adic codec (`crate::codec::padic`) and the p-adic
//! arithmetic library (`crate::math::padic`, which holds valuations, digit expansions and ring
//! operations): primality of the base, precision limits, powers.
//!
//! Layer: bottom (pure math on integers). Reference: F. Q. Gouvea, *p-adic Numbers: An
//! Introduction*, 2nd ed., Springer 1997, ch. 3 (expansions, valuation).
//!
//! **Signed mapping (the codec's).** An integer `q` with `|q| < p^N` is represented by its sign and the
//! base-`p` digits `d_0 .. d_{N-1}` of `|q|` (`|q| = sum d_k p^k`, `0 <= d_k < p`). This is
//! the p-adic expansion of `|q|` in `Z/p^N`; the sign is kept apart so that small negative
//! values keep their high digits zero (in plain `Z/p^N`, `-1` has every digit `p-1`) and so
//! that digit planes stay sparse. Valuation is unaffected: `v_p(q) = v_p(|q|)`.

use crate::error::{invalid, Result};

/// Largest prime accepted as a p-adic base.
pub const MAX_PRIME: u32 = 65521;
/// The prime used when none is given.
pub const DEFAULT_PRIME: u32 = 251;
/// Largest precision of any prime: `max_precision(2)`, the digits of `2^62` (checked by a test).
pub const MAX_PRECISION: u32 = 62;

/// Deterministic primality test (trial division; inputs are at most `MAX_PRIME`... or any u32).
pub fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2u32;
    while (d as u64) * (d as u64) <= n as u64 {
        if n % d == 0 {
            return false;
        }
        d += 1;
    }
    true
}

/// Check a prime base: prime and `<= MAX_PRIME`. Errors: `InvalidArgument`.
pub fn check_prime(p: u32) -> Result<()> {
    if p > MAX_PRIME || !is_prime(p) {
        return invalid(format!("prime {p}: must be a prime <= {MAX_PRIME}"));
    }
    Ok(())
}

/// Largest precision `N` with `p^N <= 2^62` (digits then fit an `i64` magnitude).
pub fn max_precision(p: u32) -> u32 {
    let mut n = 0;
    let mut v: u64 = 1;
    while let Some(next) = v.checked_mul(p as u64).filter(|&x| x <= 1 << 62) {
        v = next;
        n += 1;
    }
    n
}

/// `p^n` as u64, or `None` on overflow.
pub fn pow(p: u32, n: u32) -> Option<u64> {
    (p as u64).checked_pow(n)
}

/// Smallest precision `N >= 1` with `p^N > max_magnitude`.
pub fn min_precision(p: u32, max_magnitude: u64) -> u32 {
    let mut n = 1;
    while pow(p, n).is_some_and(|v| v <= max_magnitude) {
        n += 1;
    }
    n
}

/// Check `1 <= precision <= max_precision(p)`. Errors: `InvalidArgument`.
pub fn check_precision(p: u32, precision: u32) -> Result<()> {
    let max = max_precision(p);
    if precision == 0 || precision > max {
        return invalid(format!(
            "precision {precision}: must be in 1..={max} for prime {p}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_precision_constant() {
        assert_eq!(max_precision(2), MAX_PRECISION);
        assert!(is_prime(DEFAULT_PRIME));
    }

    #[test]
    fn primes_and_precision() {
        assert!(is_prime(2) && is_prime(251) && is_prime(65521));
        assert!(!is_prime(1) && !is_prime(0) && !is_prime(65535) && !is_prime(249));
        assert!(check_prime(65537).is_err());
        assert_eq!(max_precision(2), 62);
        assert_eq!(min_precision(251, 250), 1);
        assert_eq!(min_precision(251, 251), 2);
        assert!(check_precision(251, 7).is_ok() && check_precision(251, 8).is_err());
        assert!(check_precision(2, 0).is_err());
        assert_eq!(pow(251, 7), Some(251u64.pow(7)));
        assert_eq!(pow(65521, 5), None);
    }
}
