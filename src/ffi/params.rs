//! `saraphis_params`: a boxed codec choice and its parameters, owned by the caller from
//! `saraphis_params_new` to `saraphis_params_free`. Readable from several threads; not to be
//! modified while in use. Each value is checked when set (against the named limits of the
//! layers below) and the whole set once more by [`CompressOptions::validate`] when used.

use super::boundary::{guard, guard_value, invalid, out_ptr, BoxHandle, Fail};
use super::result::saraphis_result;
use super::types::{codec_arg, saraphis_codec, saraphis_param};
use crate::codec::auto::{AutoParams, Priority};
use crate::codec::quant::{Grouping, QuantParams};
use crate::codec::{self, CodecParams, CompressOptions, ErrorBound, PadicParams};
use crate::dtype::DType;
use crate::error::Error;
use crate::padic::{self as padic_math, DEFAULT_PRIME, MAX_PRECISION};

/// Opaque codec-parameters handle.
pub struct saraphis_params {
    _private: [u8; 0],
}

/// The Rust value behind a `saraphis_params`.
#[derive(Debug, Clone)]
pub(super) struct Params {
    codec: saraphis_codec,
    prime: u32,
    /// 0 = automatic.
    precision: u32,
    bound: Option<ErrorBound>,
    chunk_elems: u32,
    /// 0 = default.
    lanes: u32,
    /// Quant: bits, scale dtype, zero point (the grouping is assembled from the three below).
    quant: QuantParams,
    /// Quant: 0 block, 1 channel, 2 global.
    grouping: u32,
    /// Quant: block length.
    block: u32,
    /// Quant: channel axis.
    axis: u32,
    /// BITS was set (auto: fixed-rate quant allowed).
    bits_set: bool,
    /// Auto: target ratio (None: not set).
    target_ratio: Option<f64>,
    /// Auto: speed priority.
    speed: bool,
}

impl BoxHandle for saraphis_params {
    type Rust = Params;
}

impl Params {
    /// The compression options for a tensor of `dtype`, checked by
    /// [`CompressOptions::validate`]. Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` (p-adic without a
    /// bound, an invalid combination), `SARAPHIS_ERR_UNSUPPORTED` (BYTES for a float tensor).
    pub(super) fn options(&self, dtype: DType) -> Result<CompressOptions, Fail> {
        if self.codec == saraphis_codec::SARAPHIS_CODEC_BYTES && dtype.is_float() {
            return Err(Fail::Err(Error::Unsupported(format!(
                "SARAPHIS_CODEC_BYTES codes integer and bool tensors, not {dtype:?}: use \
                 SARAPHIS_CODEC_LOSSLESS"
            ))));
        }
        let opts = self.model_options()?;
        opts.validate(dtype)?;
        Ok(opts)
    }

    /// The quant codec's parameters: bits, scale dtype and zero point as set, the grouping
    /// from GROUPING / BLOCK / AXIS, and with ABS_BOUND the error-bounded mode.
    /// Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` (a relative bound; an invalid combination).
    fn quant_params(&self) -> Result<QuantParams, Fail> {
        let grouping = match self.grouping {
            0 => Grouping::Block(self.block),
            1 => Grouping::Channel(self.axis),
            _ => Grouping::Global,
        };
        let q = match self.bound {
            None => QuantParams {
                grouping,
                ..self.quant
            },
            Some(ErrorBound::Abs(e)) => QuantParams {
                grouping,
                scale_dtype: self.quant.scale_dtype,
                ..QuantParams::bounded(e)
            },
            Some(ErrorBound::Rel(_)) => {
                return Err(invalid(
                    "the quant codec takes SARAPHIS_PARAM_ABS_BOUND, not a relative bound",
                ))
            }
        };
        q.validate()?;
        Ok(q)
    }

    /// The compression options for a whole model (every dtype): as [`Params::options`]
    /// without the per-dtype check (done per tensor when compressing), and BYTES taken as
    /// LOSSLESS (which gives integer and bool tensors byte planes, floats the float codec).
    /// Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` (p-adic without a bound).
    pub(super) fn model_options(&self) -> Result<CompressOptions, Fail> {
        let codec = match self.codec {
            saraphis_codec::SARAPHIS_CODEC_RAW => CodecParams::Raw,
            saraphis_codec::SARAPHIS_CODEC_LOSSLESS => CodecParams::Lossless,
            saraphis_codec::SARAPHIS_CODEC_LOSSLESS_V2 => CodecParams::LosslessV2,
            // Byte planes are what LOSSLESS writes for integer and bool tensors.
            saraphis_codec::SARAPHIS_CODEC_BYTES => CodecParams::Lossless,
            saraphis_codec::SARAPHIS_CODEC_PADIC => {
                let bound = self.bound.ok_or_else(|| {
                    invalid(
                        "p-adic codec needs SARAPHIS_PARAM_ABS_BOUND or SARAPHIS_PARAM_REL_BOUND",
                    )
                })?;
                CodecParams::Padic(PadicParams {
                    prime: self.prime,
                    precision: (self.precision != 0).then_some(self.precision),
                    bound,
                })
            }
            saraphis_codec::SARAPHIS_CODEC_QUANT => CodecParams::Quant(self.quant_params()?),
            saraphis_codec::SARAPHIS_CODEC_SPARSE => {
                CodecParams::Sparse(crate::codec::sparse::SparseParams {
                    padic: self.bound.map(|bound| PadicParams {
                        prime: self.prime,
                        precision: (self.precision != 0).then_some(self.precision),
                        bound,
                    }),
                })
            }
            saraphis_codec::SARAPHIS_CODEC_DELTA => {
                return Err(invalid(
                    "codec DELTA is not a compression codec of saraphis_params",
                ))
            }
            saraphis_codec::SARAPHIS_CODEC_AUTO => CodecParams::Auto(AutoParams {
                bound: self.bound,
                bits: self.bits_set.then_some(self.quant.bits),
                target_ratio: self.target_ratio,
                priority: if self.speed {
                    Priority::Speed
                } else {
                    Priority::Ratio
                },
            }),
        };
        Ok(CompressOptions {
            codec,
            chunk_elems: self.chunk_elems,
            lanes: self.lanes,
        })
    }
}

/// Create codec parameters for `codec` (a `saraphis_codec`: RAW, LOSSLESS, PADIC, BYTES,
/// LOSSLESS_V2, QUANT, SPARSE or AUTO) into `*out`. Defaults: prime 251, automatic precision, no bound (PADIC then needs
/// one; SPARSE is then lossless), chunk 2^18 elements (LOSSLESS_V2: segments of 2^16; QUANT: 2^16;
/// SPARSE: scatter blocks of 2^16), 32 lanes; QUANT: 8 bits,
/// blocks of 32, F16 scales, symmetric. BYTES is accepted for integer and bool tensors (the same container as
/// LOSSLESS gives them); compressing a float tensor with it gives `SARAPHIS_ERR_UNSUPPORTED`.
/// Free with `saraphis_params_free`.
/// Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` for another codec value, `SARAPHIS_ERR_NULL_PARAMETER`.
/// Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn saraphis_params_new(
    codec: u32,
    out: *mut *mut saraphis_params,
) -> saraphis_result {
    guard(|| {
        let o = out_ptr(out, "out")?;
        let codec = codec_arg(codec)?;
        let p = Params {
            codec,
            prime: DEFAULT_PRIME,
            precision: 0,
            bound: None,
            chunk_elems: crate::codec::default_chunk_elems(&match codec {
                saraphis_codec::SARAPHIS_CODEC_LOSSLESS_V2 => CodecParams::LosslessV2,
                saraphis_codec::SARAPHIS_CODEC_QUANT => CodecParams::Quant(QuantParams::default()),
                saraphis_codec::SARAPHIS_CODEC_SPARSE => {
                    CodecParams::Sparse(crate::codec::sparse::SparseParams::default())
                }
                _ => CodecParams::Lossless,
            }),
            lanes: 0,
            quant: QuantParams::default(),
            grouping: 0,
            block: crate::codec::quant::DEFAULT_BLOCK,
            axis: 0,
            bits_set: false,
            target_ratio: None,
            speed: false,
        };
        *o = saraphis_params::into_handle(p);
        Ok(())
    })
}

/// Set a parameter: `key` is a `saraphis_param`, `value` a double (integers exactly).
/// PRIME: a prime <= 65521. PRECISION: 0 (automatic) to 62 (at compression also p^N <= 2^62).
/// ABS_BOUND: finite, > 0 (p-adic, and the quant codec's error-bounded mode). REL_BOUND: in
/// (0, 1). CHUNK_ELEMS: 1..=2^28. LANES: 0..=128. Quant (docs/FORMAT.md §7): BITS 2..=8,
/// BLOCK a power of two in 16..=4096, AXIS 0..=7, GROUPING 0..=2, SCALE_DTYPE F32/F16/BF16,
/// ZERO_POINT 0 or 1. Auto: TARGET_RATIO finite and >= 0 (0 = none), PRIORITY 0 or 1.
/// Errors: `SARAPHIS_ERR_INVALID_ARGUMENT` for an unknown key, a non-integer where an integer is
/// needed, or a value out of range (the params are then unchanged),
/// `SARAPHIS_ERR_NULL_PARAMETER`. Not thread-safe on one params handle.
#[no_mangle]
pub unsafe extern "C" fn saraphis_params_set(
    params: *mut saraphis_params,
    key: u32,
    value: f64,
) -> saraphis_result {
    use saraphis_param::*;
    guard(|| {
        let p = saraphis_params::try_mut(params, "params")?;
        let int = || -> Result<u32, Fail> {
            if value.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&value) {
                Ok(value as u32)
            } else {
                Err(invalid(format!(
                    "parameter {key}: {value} is not a non-negative integer"
                )))
            }
        };
        match key {
            k if k == SARAPHIS_PARAM_PRIME as u32 => {
                let v = int()?;
                padic_math::check_prime(v)?;
                p.prime = v;
            }
            k if k == SARAPHIS_PARAM_PRECISION as u32 => {
                let v = int()?;
                if v > MAX_PRECISION {
                    return Err(invalid(format!(
                        "precision {v}: at most {MAX_PRECISION} (0 = automatic)"
                    )));
                }
                p.precision = v;
            }
            k if k == SARAPHIS_PARAM_ABS_BOUND as u32 => {
                let b = ErrorBound::Abs(value);
                b.validate()?;
                p.bound = Some(b);
            }
            k if k == SARAPHIS_PARAM_REL_BOUND as u32 => {
                let b = ErrorBound::Rel(value);
                b.validate()?;
                p.bound = Some(b);
            }
            k if k == SARAPHIS_PARAM_CHUNK_ELEMS as u32 => {
                let v = int()?;
                codec::check_chunk_elems(v)?;
                p.chunk_elems = v;
            }
            k if k == SARAPHIS_PARAM_LANES as u32 => {
                let v = int()?;
                codec::check_lanes(v)?;
                p.lanes = v;
            }
            k if k == SARAPHIS_PARAM_BITS as u32 => {
                let v = int()?;
                if !(2..=8).contains(&v) {
                    return Err(invalid(format!("bits {v}: must be 2..=8")));
                }
                p.quant.bits = v;
                p.bits_set = true;
            }
            k if k == SARAPHIS_PARAM_BLOCK as u32 => {
                let v = int()?;
                QuantParams {
                    grouping: Grouping::Block(v),
                    ..QuantParams::default()
                }
                .validate()?;
                p.block = v;
                p.grouping = 0;
            }
            k if k == SARAPHIS_PARAM_AXIS as u32 => {
                let v = int()?;
                if v >= 8 {
                    return Err(invalid(format!(
                        "axis {v}: tensors have at most 8 dimensions"
                    )));
                }
                p.axis = v;
                p.grouping = 1;
            }
            k if k == SARAPHIS_PARAM_GROUPING as u32 => {
                let v = int()?;
                if v > 2 {
                    return Err(invalid(format!(
                        "grouping {v}: 0 blocks, 1 channels, 2 global"
                    )));
                }
                p.grouping = v;
            }
            k if k == SARAPHIS_PARAM_SCALE_DTYPE as u32 => {
                let d = super::types::dtype_arg(int()?)?;
                if !matches!(d, DType::F32 | DType::F16 | DType::BF16) {
                    return Err(invalid(format!("scale dtype {d:?}: F32, F16 or BF16")));
                }
                p.quant.scale_dtype = d;
            }
            k if k == SARAPHIS_PARAM_ZERO_POINT as u32 => {
                let v = int()?;
                if v > 1 {
                    return Err(invalid(format!("zero point {v}: 0 or 1")));
                }
                p.quant.zero_point = v == 1;
            }
            k if k == SARAPHIS_PARAM_TARGET_RATIO as u32 => {
                if !(value.is_finite() && value >= 0.0) {
                    return Err(invalid(format!(
                        "target ratio {value}: finite and > 0 (0 = none)"
                    )));
                }
                p.target_ratio = (value > 0.0).then_some(value);
            }
            k if k == SARAPHIS_PARAM_PRIORITY as u32 => {
                let v = int()?;
                if v > 1 {
                    return Err(invalid(format!("priority {v}: 0 ratio, 1 speed")));
                }
                p.speed = v == 1;
            }
            k => return Err(invalid(format!("parameter key {k}"))),
        }
        Ok(())
    })
}

/// Free parameters (NULL is a no-op). Each params handle is freed once, after its last use.
#[no_mangle]
pub unsafe extern "C" fn saraphis_params_free(params: *mut saraphis_params) {
    guard_value((), || saraphis_params::free(params))
}
