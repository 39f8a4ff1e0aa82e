//! Element types and shapes.

use crate::error::{invalid, Error, Result};

/// Maximum number of dimensions of a tensor (0-d scalars included).
pub const MAX_DIMS: usize = 8;

/// Element type of a tensor. The discriminant is the stable on-disk and C ABI code.
///
/// Floats (`F32`, `F16`, `BF16`, `F64`) are compressed by the float codecs; integer and
/// bool tensors go through the generic lossless byte codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DType {
    /// IEEE-754 binary32.
    F32 = 0,
    /// IEEE-754 binary16.
    F16 = 1,
    /// bfloat16 (the top 16 bits of binary32).
    BF16 = 2,
    /// IEEE-754 binary64.
    F64 = 3,
    /// Signed 8-bit integer.
    I8 = 4,
    /// Signed 16-bit integer.
    I16 = 5,
    /// Signed 32-bit integer.
    I32 = 6,
    /// Signed 64-bit integer.
    I64 = 7,
    /// Unsigned 8-bit integer.
    U8 = 8,
    /// Unsigned 16-bit integer.
    U16 = 9,
    /// Unsigned 32-bit integer.
    U32 = 10,
    /// Unsigned 64-bit integer.
    U64 = 11,
    /// Boolean stored as one byte (0 or 1).
    Bool = 12,
}

/// Bit layout of an IEEE-754 style float: exponent and mantissa widths in bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloatLayout {
    /// Exponent field width in bits.
    pub exp_bits: u32,
    /// Mantissa (fraction) field width in bits.
    pub man_bits: u32,
}

impl DType {
    /// All dtypes, in code order.
    pub const ALL: [DType; 13] = [
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::F64,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::Bool,
    ];

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }

    /// Float bit layout, or `None` for integer and bool dtypes.
    pub fn float_layout(self) -> Option<FloatLayout> {
        let (exp_bits, man_bits) = match self {
            DType::F32 => (8, 23),
            DType::F16 => (5, 10),
            DType::BF16 => (8, 7),
            DType::F64 => (11, 52),
            _ => return None,
        };
        Some(FloatLayout { exp_bits, man_bits })
    }

    /// True for F32, F16, BF16 and F64.
    pub fn is_float(self) -> bool {
        self.float_layout().is_some()
    }

    /// Decode a stable code. Errors with `Corrupt` for an unknown code.
    pub fn from_code(code: u8) -> Result<DType> {
        DType::ALL
            .get(code as usize)
            .copied()
            .ok_or_else(|| Error::Corrupt(format!("unknown dtype code {code}")))
    }

    /// The safetensors spelling ("F32", "BF16", "I64", "BOOL", ...).
    pub fn safetensors_name(self) -> &'static str {
        match self {
            DType::F32 => "F32",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::F64 => "F64",
            DType::I8 => "I8",
            DType::I16 => "I16",
            DType::I32 => "I32",
            DType::I64 => "I64",
            DType::U8 => "U8",
            DType::U16 => "U16",
            DType::U32 => "U32",
            DType::U64 => "U64",
            DType::Bool => "BOOL",
        }
    }

    /// Parse the safetensors spelling; `Unsupported` for dtypes Saraphis does not handle (F8...).
    pub fn from_safetensors_name(name: &str) -> Result<DType> {
        DType::ALL
            .iter()
            .copied()
            .find(|d| d.safetensors_name() == name)
            .ok_or_else(|| Error::Unsupported(format!("dtype {name}")))
    }

    /// Decode element `i` of a little-endian float buffer as f64 (floats only).
    #[inline]
    pub(crate) fn load_f64(self, bytes: &[u8], i: usize) -> f64 {
        match self {
            DType::F32 => f32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap()) as f64,
            DType::F64 => f64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap()),
            DType::F16 => {
                half::f16::from_bits(u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]])).to_f64()
            }
            DType::BF16 => {
                half::bf16::from_bits(u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]])).to_f64()
            }
            _ => unreachable!("load_f64 on integer dtype"),
        }
    }

    /// Round an f64 to this float dtype (round to nearest even) and return its raw bits.
    #[inline]
    pub(crate) fn round_bits(self, v: f64) -> u64 {
        match self {
            DType::F32 => (v as f32).to_bits() as u64,
            DType::F64 => v.to_bits(),
            DType::F16 => f64_to_small_float(v, 5, 10) as u64,
            DType::BF16 => f64_to_small_float(v, 8, 7) as u64,
            _ => unreachable!("round_bits on integer dtype"),
        }
    }

    /// Interpret raw bits of this float dtype as f64.
    #[inline]
    pub(crate) fn bits_to_f64(self, bits: u64) -> f64 {
        match self {
            DType::F32 => f32::from_bits(bits as u32) as f64,
            DType::F64 => f64::from_bits(bits),
            DType::F16 => half::f16::from_bits(bits as u16).to_f64(),
            DType::BF16 => half::bf16::from_bits(bits as u16).to_f64(),
            _ => unreachable!("bits_to_f64 on integer dtype"),
        }
    }

    /// Half a unit in the last place of this dtype at magnitude `v` (an upper bound on
    /// the rounding error of converting a value of magnitude <= `v` to this dtype).
    pub(crate) fn half_ulp(self, v: f64) -> f64 {
        let man = self.float_layout().map(|l| l.man_bits as i32).unwrap_or(52);
        let v = v.abs().max(f64::MIN_POSITIVE);
        let e = v.log2().floor() as i32;
        // Subnormal spacing floor for each dtype.
        let min_exp = match self {
            DType::F32 => -126,
            DType::F16 => -14,
            DType::BF16 => -126,
            _ => -1022,
        };
        2f64.powi(e.max(min_exp) - man) // a full ulp at the next binade: generous by 4x
    }
}

/// Round `v` to a binary float of `exp_bits` exponent and `man_bits` mantissa bits (F16: 5, 10;
/// BF16: 8, 7) with round to nearest, ties to even, from the exact f64 value (IEEE 754-2008
/// `convertFormat`), and return its bits: overflow gives infinity, gradual underflow gives
/// subnormals, NaN gives the quiet NaN of the same sign.
///
/// The codecs use this rather than `half::f16::from_f64` / `half::bf16::from_f64` because those
/// drop the low 32 bits of the f64 mantissa before rounding (a tie can then round the wrong way)
/// and, on x86 with F16C, go through f32 (double rounding): results that differ by machine would
/// break the p-adic codec's guarantee that every machine and the GPU
/// (`kernels/padic.cu`, `small_float`) reconstruct the same bits.
pub fn f64_to_small_float(v: f64, exp_bits: u32, man_bits: u32) -> u16 {
    let bits = v.to_bits();
    let sign = ((bits >> 63) as u16) << (exp_bits + man_bits);
    let a = bits & !(1u64 << 63);
    let emax = (1u64 << exp_bits) - 1;
    let inf = (emax << man_bits) as u16;
    if a >= 0x7ff0_0000_0000_0000 {
        let nan = if a > 0x7ff0_0000_0000_0000 {
            1u16 << (man_bits - 1)
        } else {
            0
        };
        return sign | inf | nan;
    }
    let e = (a >> 52) as i64;
    if e == 0 {
        return sign; // f64 subnormal: far below half the smallest target subnormal
    }
    let bias = (1i64 << (exp_bits - 1)) - 1;
    let te = e - 1023 + bias; // biased target exponent
    if te >= emax as i64 {
        return sign | inf;
    }
    let mant = (1u64 << 52) | (a & ((1u64 << 52) - 1));
    let shift = (52 - man_bits as i64) + if te < 1 { 1 - te } else { 0 };
    if shift > 53 {
        return sign; // below a quarter of the smallest subnormal
    }
    let mut q = mant >> shift;
    let rem = mant & ((1u64 << shift) - 1);
    let half = 1u64 << (shift - 1);
    if rem > half || (rem == half && q & 1 == 1) {
        q += 1;
    }
    let r = if te < 1 {
        q // subnormal; q == 2^man_bits is the smallest normal, already encoded right
    } else {
        ((te as u64) << man_bits) + q - (1u64 << man_bits)
    };
    sign | r.min(emax << man_bits) as u16
}

/// Product of the dimensions of `shape` as a u64, with overflow and rank checks.
///
/// Errors: `InvalidArgument` when `shape.len() > MAX_DIMS` or the product overflows u64.
/// A 0-d shape has one element; any zero dimension gives zero elements.
pub fn numel(shape: &[u64]) -> Result<u64> {
    if shape.len() > MAX_DIMS {
        return invalid(format!("{} dimensions (at most {MAX_DIMS})", shape.len()));
    }
    shape.iter().try_fold(1u64, |acc, &d| {
        acc.checked_mul(d)
            .ok_or_else(|| Error::InvalidArgument(format!("shape {shape:?} overflows u64")))
    })
}

/// Byte length of a tensor of `dtype` and `shape`, checked for overflow of usize.
pub fn byte_len(dtype: DType, shape: &[u64]) -> Result<usize> {
    let n = numel(shape)?;
    n.checked_mul(dtype.size() as u64)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| Error::InvalidArgument(format!("shape {shape:?} too large for memory")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Value of target bits `b` (F16 or BF16) as f64, through `half` (exact).
    fn val(b: u16, bf: bool) -> f64 {
        if bf {
            half::bf16::from_bits(b).to_f64()
        } else {
            half::f16::from_bits(b).to_f64()
        }
    }

    /// `f64_to_small_float` returns the nearest value, ties to the even mantissa, for normal,
    /// subnormal, overflowing and halfway inputs of both formats.
    #[test]
    fn small_float_rounding_is_nearest_even() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for &(bf, e, m) in &[(false, 5u32, 10u32), (true, 8, 7)] {
            let max = val(((1u16 << e) - 2) << m | ((1u16 << m) - 1), bf);
            for k in 0..400_000 {
                // Random sign and mantissa; exponents spanning underflow to overflow.
                let r = next();
                let span = if bf { 300 } else { 60 };
                let exp = (r % span) as i64 - span as i64 / 2 - if bf { 0 } else { 10 };
                let mut v = f64::from_bits(((exp + 1023) as u64) << 52 | (next() >> 12));
                if k % 7 == 0 {
                    // An exact halfway point between two neighbours.
                    let b = (next() % ((((1u64 << e) - 1) << m) - 1)) as u16;
                    v = (val(b, bf) + val(b + 1, bf)) / 2.0;
                }
                if r >> 63 == 1 {
                    v = -v;
                }
                let got = f64_to_small_float(v, e, m);
                let g = val(got, bf);
                let a = v.abs();
                if a >= max + (max - val(((1u16 << e) - 2) << m | ((1u16 << m) - 2), bf)) / 2.0 {
                    assert!(g.is_infinite() && (g < 0.0) == (v < 0.0), "{v} -> {g}");
                    continue;
                }
                assert_eq!((g < 0.0) || (got >> (e + m)) == 1, v < 0.0, "sign of {v}");
                let mag = got & ((1u16 << (e + m)) - 1);
                let err = (g - v).abs();
                for nb in [mag.wrapping_sub(1), mag + 1] {
                    if nb >= (((1u16 << e) - 1) << m) {
                        continue;
                    }
                    let o = val(nb, bf).abs();
                    let oe = (o - a).abs();
                    assert!(err <= oe, "{v}: got {g}, {o} is nearer");
                    if err == oe {
                        assert_eq!(mag & 1, 0, "{v}: tie not to even");
                    }
                }
            }
            assert!(f64_to_small_float(f64::NAN, e, m) != f64_to_small_float(f64::INFINITY, e, m));
            assert!(val(f64_to_small_float(f64::NAN, e, m), bf).is_nan());
            assert_eq!(f64_to_small_float(-0.0, e, m), 1 << (e + m));
            assert_eq!(f64_to_small_float(1e-320, e, m), 0);
        }
    }

    /// Agrees with the IEEE conversion of `half` wherever that one is exact (inputs that are
    /// f32 values: `from_f32` sees every mantissa bit).
    #[test]
    fn small_float_matches_half_on_f32_inputs() {
        for i in (0..u32::MAX).step_by(4099) {
            let f = f32::from_bits(i);
            if f.is_nan() {
                continue;
            }
            let v = f as f64;
            assert_eq!(
                f64_to_small_float(v, 5, 10),
                half::f16::from_f32(f).to_bits(),
                "{f}"
            );
            assert_eq!(
                f64_to_small_float(v, 8, 7),
                half::bf16::from_f32(f).to_bits(),
                "{f}"
            );
        }
    }
}
