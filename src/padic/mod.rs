//! p-adic integers truncated to `Z/p^N`: primality, digit expansion, valuation.
//!
//! Layer: bottom (pure math on integers). Reference: F. Q. Gouvea, *p-adic Numbers: An
//! Introduction*, 2nd ed., Springer 1997, ch. 3 (expansions, valuation).
//!
//! **Signed mapping.** An integer `q` with `|q| < p^N` is represented by its sign and the
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

/// p-adic valuation `v_p(q)`: the largest `k` with `p^k | q`; `None` for `q = 0`
/// (valuation +infinity).
pub fn valuation(q: i64, p: u32) -> Option<u32> {
    if q == 0 {
        return None;
    }
    let mut m = q.unsigned_abs();
    let mut k = 0;
    while m % p as u64 == 0 {
        m /= p as u64;
        k += 1;
    }
    Some(k)
}

/// Valuation of every element: `out[i] = v_p(values[i])`, with `u32::MAX` standing for the
/// infinite valuation of 0. Errors: `InvalidArgument` for a non-prime base or mismatched lengths.
pub fn valuations(values: &[i64], p: u32, out: &mut [u32]) -> Result<()> {
    check_prime(p)?;
    if out.len() != values.len() {
        return invalid("valuations: out must have values.len() entries");
    }
    for (o, &q) in out.iter_mut().zip(values) {
        *o = valuation(q, p).unwrap_or(u32::MAX);
    }
    Ok(())
}

/// Quantize real values to the integers the p-adic codec expands: `q = round(x / (2 eps))`
/// (absolute bound `eps`), so `|x - 2 eps q| <= eps` in exact arithmetic. Errors:
/// `InvalidArgument` for `eps` not finite and > 0, a non-finite value, `|q| >= 2^62`, or
/// mismatched lengths.
pub fn quantize(values: &[f64], eps: f64, out: &mut [i64]) -> Result<()> {
    if !(eps.is_finite() && eps > 0.0) {
        return invalid(format!("error bound {eps}: must be finite and > 0"));
    }
    if out.len() != values.len() {
        return invalid("quantize: out must have values.len() entries");
    }
    for (i, (o, &x)) in out.iter_mut().zip(values).enumerate() {
        let q = (x / (2.0 * eps)).round();
        if !q.is_finite() || q.abs() >= (1u64 << 62) as f64 {
            return invalid(format!(
                "value {x} at index {i} cannot be quantized at {eps}"
            ));
        }
        *o = q as i64;
    }
    Ok(())
}

/// Batch conversion to digits under the signed mapping of this module.
///
/// `values`: `n` integers. Output: `digits` of length `n * precision`, element-major
/// (`digits[i * N + k]` is digit `k` of element `i`, least significant first) and `negative`
/// of length `n`. Errors: `InvalidArgument` for a non-prime base, a precision outside
/// `1..=max_precision(p)`, mismatched lengths, or `|q| >= p^N`.
pub fn to_digits(
    values: &[i64],
    p: u32,
    precision: u32,
    digits: &mut [u32],
    negative: &mut [bool],
) -> Result<()> {
    check_prime(p)?;
    check_precision(p, precision)?;
    let n = precision as usize;
    if digits.len() != values.len() * n || negative.len() != values.len() {
        return invalid(
            "digit buffers must hold values.len() * precision digits and values.len() signs",
        );
    }
    let limit = pow(p, precision).unwrap();
    for (i, &q) in values.iter().enumerate() {
        let mut m = q.unsigned_abs();
        if m >= limit {
            return invalid(format!(
                "value {q} at index {i} does not fit in Z/{p}^{precision}"
            ));
        }
        negative[i] = q < 0;
        for d in &mut digits[i * n..(i + 1) * n] {
            *d = (m % p as u64) as u32;
            m /= p as u64;
        }
    }
    Ok(())
}

/// Inverse of [`to_digits`]. Errors: `InvalidArgument` for bad lengths, a bad base or
/// precision, or a digit `>= p`.
pub fn from_digits(
    digits: &[u32],
    negative: &[bool],
    p: u32,
    precision: u32,
    values: &mut [i64],
) -> Result<()> {
    check_prime(p)?;
    check_precision(p, precision)?;
    let n = precision as usize;
    if digits.len() != values.len() * n || negative.len() != values.len() {
        return invalid(
            "digit buffers must hold values.len() * precision digits and values.len() signs",
        );
    }
    for (i, v) in values.iter_mut().enumerate() {
        let mut m: u64 = 0;
        for &d in digits[i * n..(i + 1) * n].iter().rev() {
            if d >= p {
                return invalid(format!("digit {d} >= prime {p} at element {i}"));
            }
            m = m * p as u64 + d as u64;
        }
        *v = if negative[i] { -(m as i64) } else { m as i64 };
    }
    Ok(())
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
    use proptest::prelude::*;

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
        assert_eq!(valuation(0, 3), None);
        assert_eq!(valuation(-18, 3), Some(2));
        assert_eq!(valuation(7, 3), Some(0));
    }

    #[test]
    fn batch_valuation_and_quantization() {
        let mut q = vec![0i64; 4];
        quantize(&[0.0, 0.03, -0.05, 0.9], 0.01, &mut q).unwrap();
        assert_eq!(q, vec![0, 2, -3, 45]); // -0.05/0.02 = -2.5 rounds away from zero
        let mut v = vec![0u32; 4];
        valuations(&q, 3, &mut v).unwrap();
        assert_eq!(v, vec![u32::MAX, 0, 1, 2]);
        assert!(quantize(&[f64::NAN], 0.01, &mut q[..1]).is_err());
        assert!(quantize(&[1.0], 0.0, &mut q[..1]).is_err());
        assert!(valuations(&q, 4, &mut v).is_err());
    }

    proptest! {
        #[test]
        fn digits_round_trip(vals in proptest::collection::vec(-1_000_000i64..1_000_000, 0..50),
                             pi in 0usize..4) {
            let p = [2u32, 3, 251, 65521][pi];
            let n = min_precision(p, 1_000_000);
            let mut d = vec![0u32; vals.len() * n as usize];
            let mut neg = vec![false; vals.len()];
            to_digits(&vals, p, n, &mut d, &mut neg).unwrap();
            let mut back = vec![0i64; vals.len()];
            from_digits(&d, &neg, p, n, &mut back).unwrap();
            prop_assert_eq!(&back, &vals);
            for (i, &q) in vals.iter().enumerate() {
                // valuation = index of the first nonzero digit
                let first = d[i * n as usize..(i + 1) * n as usize].iter().position(|&x| x != 0);
                prop_assert_eq!(first.map(|k| k as u32), valuation(q, p));
            }
        }
    }
}
