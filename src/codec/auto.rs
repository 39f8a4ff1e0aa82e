//! `auto`: choose the codec per tensor by trial compression (seed 001's strategy selector).
//!
//! For each tensor the candidates the constraints allow ([`AutoParams`]) are tried on a sample
//! of the tensor, each with its codec's default chunk size and lanes, and one is kept by the
//! rule of [`AutoParams::priority`] and [`AutoParams::target_ratio`]; the tensor is then
//! compressed whole with it. The container is an ordinary container of the codec chosen
//! (there is no "auto" container): decoders need nothing new. What was tried and why the codec
//! was kept is returned as [`AutoChoice`]; archives store it in the tensor's index entry
//! (docs/FORMAT.md §5, `auto`) and `saraphis inspect` shows it.
//!
//! **Candidates**, in the order of their decode speed (fastest first; H200 GPU decode of 1 GiB
//! tensors, docs/BENCHMARKS.md 2026-12-02/03: quant 8-bit ~1500 GB/s of output, lossless-v2
//! 600-760, sparse 320-500, lossless (layout v1) 125-290, p-adic 40-80; the CPU order is the
//! same):
//!
//! | candidate | when |
//! |---|---|
//! | `quant` error-bounded (fewest bits per block within `abs`) | float, absolute bound |
//! | `quant` fixed rate at `bits` (blocks of 32, F16 scales) | float, `bits` given, no bound |
//! | `lossless-v2` | F32, F16, BF16 (exact, so allowed under any bound) |
//! | `sparse` (values lossless, or p-adic within the bound) | at least 1% of the elements are exactly zero in the sample |
//! | `lossless` (layout v1; byte planes for integer and bool) | always |
//! | `padic` within the bound | float, absolute or relative bound |
//!
//! **Sample.** A tensor of at most `2 * SAMPLE_ELEMS` elements is tried whole: its trial
//! containers are exact and the winner's is kept as is. A larger one is sampled as
//! [`SAMPLE_SLICES`] evenly spaced slices of whole rows (sub-tensors along the first axis;
//! runs of 4096 elements for a 1-D tensor), about [`SAMPLE_ELEMS`] elements in all, which keeps
//! the quant codec's blocks along the last axis intact. When the two best sampled ratios are
//! within [`CLOSE_CALL`] of each other (ratio priority), both codecs compress the whole tensor
//! and the smaller container is kept, so a close call is decided on the real data.
//!
//! **Rule.** Ratio priority (default): the highest ratio, equal ratios going to the faster
//! codec. Speed priority: the fastest candidate within [`SPEED_TOLERANCE`] of the best ratio.
//! A target ratio: the fastest candidate that reaches it, or the highest ratio when none
//! does (the reason says so). Every lossy candidate keeps the bound for every element (p-adic
//! and error-bounded quant guarantee it); fixed-rate quant (only with `bits` and no bound) has
//! its measured error stored, as `--codec quant` does.
use super::quant::QuantParams;
use super::sparse::SparseParams;
use super::{compress, default_chunk_elems, segmented, CodecParams, CompressOptions, Compressed};
use super::{ErrorBound, PadicParams};
use crate::dtype::{self, DType};
use crate::error::{invalid, Error, Result};
use crate::format::archive::AutoRecord;

/// Elements a sample holds, about (2^18: 1 MiB of F32).
pub const SAMPLE_ELEMS: u64 = 1 << 18;
/// Evenly spaced slices a sample is made of.
pub const SAMPLE_SLICES: u64 = 8;
/// Two sampled ratios closer than this fraction are compared on the whole tensor.
pub const CLOSE_CALL: f64 = 0.03;
/// Speed priority keeps the fastest candidate whose ratio is at least this share of the best.
pub const SPEED_TOLERANCE: f64 = 0.95;
/// The second prime p-adic is tried with (the largest allowed): on MiniLM at abs 1e-3 it is
/// smaller than prime 251 on 36 of its 103 float tensors, larger on 14 (912 bytes saved
/// in all by the better of the two per tensor), and encodes faster.
pub const PADIC_WIDE_PRIME: u32 = crate::padic::MAX_PRIME;
/// Elements per slice of a 1-D tensor's sample.
const RUN_1D: u64 = 4096;

/// What `auto` optimises when no target ratio is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    /// The smallest container (default).
    #[default]
    Ratio,
    /// The fastest-decoding codec within [`SPEED_TOLERANCE`] of the best ratio.
    Speed,
}

/// Constraints of the `auto` codec.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AutoParams {
    /// Error bound every element keeps; `None`: bit-exact codecs only (unless `bits`).
    pub bound: Option<ErrorBound>,
    /// Allows fixed-rate quantization at these bits (2..=8) for float tensors; not with a bound
    /// (the error-bounded quant candidate picks its bits per block).
    pub bits: Option<u32>,
    /// Keep the fastest candidate with at least this ratio (original / compressed bytes, > 0).
    pub target_ratio: Option<f64>,
    /// What to optimise without a target ratio.
    pub priority: Priority,
}

impl AutoParams {
    /// Check: bound ([`ErrorBound::validate`]), bits 2..=8 and not with a bound, target ratio
    /// finite and > 0. Errors: `InvalidArgument`.
    pub fn validate(&self) -> Result<()> {
        if let Some(b) = &self.bound {
            b.validate()?;
        }
        match (self.bits, self.bound) {
            (Some(b), _) if !(2..=8).contains(&b) => return invalid(format!("bits {b}: 2..=8")),
            (Some(_), Some(_)) => {
                return invalid(
                    "auto: bits and an error bound do not go together (the error-bounded quant \
                     candidate picks its bits per block)",
                )
            }
            _ => {}
        }
        if let Some(t) = self.target_ratio {
            if !(t.is_finite() && t > 0.0) {
                return invalid(format!("target ratio {t}: must be finite and > 0"));
            }
        }
        Ok(())
    }
}

/// What `auto` chose for one tensor, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoChoice {
    /// The codec and parameters the container was written with.
    pub params: CodecParams,
    /// One line: every candidate's ratio (sampled or whole), best ranked first, the rule that
    /// decided and what was tried, e.g. `"quant 4.95, padic 4.61, lossless-v2 1.22, lossless
    /// 1.22; highest ratio; sample of 262144 of 11720448 elements"`.
    pub why: String,
}

/// The candidates for a tensor of `dtype` under `p`, fastest decoder first (module docs).
/// `zero_share`: the share of exactly-zero elements in the sample.
fn candidates(dtype: DType, p: &AutoParams, zero_share: f64) -> Vec<CodecParams> {
    let float = dtype.is_float();
    let mut v = Vec::new();
    if float {
        match (p.bound, p.bits) {
            (Some(ErrorBound::Abs(e)), _) => v.push(CodecParams::Quant(QuantParams::bounded(e))),
            (None, Some(bits)) => v.push(CodecParams::Quant(QuantParams {
                bits,
                ..QuantParams::default()
            })),
            _ => {}
        }
        if segmented::supports(dtype) {
            v.push(CodecParams::LosslessV2);
        }
    }
    if zero_share >= 0.01 {
        let padic = p.bound.filter(|_| float).map(PadicParams::new);
        v.push(CodecParams::Sparse(SparseParams { padic }));
    }
    v.push(CodecParams::Lossless);
    if let (Some(bound), true) = (p.bound, float) {
        v.push(CodecParams::Padic(PadicParams::new(bound)));
        v.push(CodecParams::Padic(PadicParams {
            prime: PADIC_WIDE_PRIME,
            ..PadicParams::new(bound)
        }));
    }
    v
}

/// A candidate's short name in the reason line ("padic p=65521" for the second prime).
fn name(c: &CodecParams) -> String {
    match c {
        CodecParams::Raw => "raw".into(),
        CodecParams::Lossless => "lossless".into(),
        CodecParams::LosslessV2 => "lossless-v2".into(),
        CodecParams::Padic(pp) if pp.prime != crate::padic::DEFAULT_PRIME => {
            format!("padic p={}", pp.prime)
        }
        CodecParams::Padic(_) => "padic".into(),
        CodecParams::Quant(_) => "quant".into(),
        CodecParams::Sparse(_) => "sparse".into(),
        CodecParams::Auto(_) => "auto".into(),
    }
}

impl AutoParams {
    /// The archive's record of these constraints ([`crate::format::archive::Index::auto`]).
    pub fn record(&self) -> AutoRecord {
        AutoRecord {
            abs: match self.bound {
                Some(ErrorBound::Abs(e)) => Some(e),
                _ => None,
            },
            rel: match self.bound {
                Some(ErrorBound::Rel(e)) => Some(e),
                _ => None,
            },
            bits: self.bits,
            target: self.target_ratio,
            speed: self.priority == Priority::Speed,
        }
    }

    /// The constraints an archive recorded (the inverse of [`AutoParams::record`]).
    pub fn from_record(r: &AutoRecord) -> Self {
        AutoParams {
            bound: match (r.abs, r.rel) {
                (Some(e), _) => Some(ErrorBound::Abs(e)),
                (_, Some(e)) => Some(ErrorBound::Rel(e)),
                _ => None,
            },
            bits: r.bits,
            target_ratio: r.target,
            priority: if r.speed {
                Priority::Speed
            } else {
                Priority::Ratio
            },
        }
    }
}

/// One line saying how `auto` chooses under `p`: the constraints, the rule and the
/// candidates, e.g. `"abs 1e-3; highest ratio of quant
/// (error-bounded), lossless-v2, sparse (1% zeros or more), lossless, padic, padic p=65521;
/// trial compression of samples of 2^18 elements (tensors up to 2^19 whole)"`.
pub fn describe_rule(p: &AutoParams) -> String {
    let constraint = match (p.bound, p.bits) {
        (Some(ErrorBound::Abs(e)), _) => format!("abs {e:e}"),
        (Some(ErrorBound::Rel(e)), _) => format!("rel {e:e}"),
        (None, Some(b)) => format!("{b}-bit quant allowed"),
        (None, None) => "bit-exact".into(),
    };
    let rule = match (p.target_ratio, p.priority) {
        (Some(t), _) => format!("fastest decoder reaching ratio {t}, else highest ratio"),
        (None, Priority::Speed) => format!(
            "fastest decoder within {:.0}% of the highest ratio",
            100.0 * (1.0 - SPEED_TOLERANCE)
        ),
        (None, Priority::Ratio) => "highest ratio".into(),
    };
    let mut names: Vec<String> = candidates(DType::F32, p, 1.0)
        .iter()
        .map(|c| match c {
            CodecParams::Sparse(_) => "sparse (1% zeros or more)".into(),
            CodecParams::Quant(q) if q.bound.is_some() => "quant (error-bounded)".into(),
            CodecParams::Quant(q) => format!("quant ({} bits)", q.bits),
            c => name(c),
        })
        .collect();
    names.dedup();
    format!(
        "{constraint}; {rule} of {}; trial compression of samples of 2^{} elements (tensors up \
         to 2^{} whole)",
        names.join(", "),
        SAMPLE_ELEMS.trailing_zeros(),
        SAMPLE_ELEMS.trailing_zeros() + 1
    )
}

/// A candidate's options: its codec's default chunk size; the `lossless` candidate with 32
/// lanes, which asks for layout v1 (`lossless-v2` is the layout-v2 candidate) and 2^18-element
/// chunks, layout v1's best.
fn options(c: CodecParams) -> CompressOptions {
    match c {
        CodecParams::Lossless => CompressOptions {
            codec: c,
            chunk_elems: crate::format::container::DEFAULT_CHUNK_ELEMS,
            lanes: 32,
        },
        _ => CompressOptions {
            codec: c,
            chunk_elems: default_chunk_elems(&c),
            lanes: 0,
        },
    }
}

/// The sample of a tensor too large to try whole: (bytes, shape, elements), or `None` when
/// the tensor is tried whole.
fn sample(data: &[u8], dtype: DType, shape: &[u64]) -> Option<(Vec<u8>, Vec<u64>, u64)> {
    let numel = dtype::numel(shape).ok()?;
    if numel <= 2 * SAMPLE_ELEMS {
        return None;
    }
    let (unit, units, tail): (u64, u64, &[u64]) = match shape {
        [n, rest @ ..] if !rest.is_empty() => (rest.iter().product(), *n, rest),
        _ => (RUN_1D, numel / RUN_1D, &[]),
    };
    let per_slice = (SAMPLE_ELEMS / SAMPLE_SLICES / unit.max(1)).max(1);
    if unit == 0 || per_slice * SAMPLE_SLICES * 2 > units {
        return None;
    }
    let size = dtype.size() as u64;
    let mut bytes = Vec::with_capacity((per_slice * SAMPLE_SLICES * unit * size) as usize);
    for s in 0..SAMPLE_SLICES {
        let first = s * (units - per_slice) / (SAMPLE_SLICES - 1);
        let at = (first * unit * size) as usize;
        bytes.extend_from_slice(&data[at..at + (per_slice * unit * size) as usize]);
    }
    let rows = per_slice * SAMPLE_SLICES;
    let mut sshape = vec![if tail.is_empty() { rows * unit } else { rows }];
    sshape.extend_from_slice(tail);
    Some((bytes, sshape, rows * unit))
}

/// Share of elements whose bytes are all zero (the sparse codec's zeros).
fn zero_share(data: &[u8], size: usize) -> f64 {
    let n = data.len() / size.max(1);
    if n == 0 {
        return 0.0;
    }
    let zeros = data
        .chunks_exact(size)
        .filter(|e| e.iter().all(|&b| b == 0))
        .count();
    zeros as f64 / n as f64
}

/// One candidate's trial.
struct Trial {
    codec: CodecParams,
    /// Ratio on the sample (or the whole tensor); `None` when it failed.
    ratio: Option<f64>,
    /// The whole tensor's container, when the trial was on the whole tensor.
    whole: Option<Compressed>,
}

/// Compress `data` (a `dtype` tensor of `shape`, as [`compress`]) with the codec `p` chooses;
/// the returned container carries the [`AutoChoice`] in `Compressed::choice`.
///
/// Errors: `InvalidArgument` (bad parameters, data length); when every candidate fails, the
/// first candidate's error. Thread-safe: a pure function of its inputs.
pub fn compress_auto(
    data: &[u8],
    dtype: DType,
    shape: &[u64],
    p: &AutoParams,
) -> Result<Compressed> {
    p.validate()?;
    super::check_data_len(data, dtype, shape)?;
    let numel = dtype::numel(shape)?;
    let sampled = sample(data, dtype, shape);
    let (sdata, sshape, selems) = match &sampled {
        Some((b, s, n)) => (b.as_slice(), s.as_slice(), *n),
        None => (data, shape, numel),
    };
    let mut first_error: Option<Error> = None;
    let mut trials: Vec<Trial> = candidates(dtype, p, zero_share(sdata, dtype.size()))
        .into_iter()
        .map(
            |codec| match compress(sdata, dtype, sshape, &options(codec)) {
                // A sparse trial that fell back to its dense values codec duplicates that codec.
                Ok(c)
                    if matches!(codec, CodecParams::Sparse(_))
                        && c.codec != crate::format::container::CodecId::Sparse =>
                {
                    Trial {
                        codec,
                        ratio: None,
                        whole: None,
                    }
                }
                Ok(c) => Trial {
                    codec,
                    ratio: Some(sdata.len().max(1) as f64 / c.bytes.len() as f64),
                    whole: sampled.is_none().then_some(c),
                },
                Err(e) => {
                    first_error.get_or_insert(e);
                    Trial {
                        codec,
                        ratio: None,
                        whole: None,
                    }
                }
            },
        )
        .collect();
    let best = trials.iter().filter_map(|t| t.ratio).fold(0.0, f64::max);
    if best == 0.0 {
        return Err(first_error.unwrap_or_else(|| Error::InvalidArgument("auto: no codec".into())));
    }
    // Rank: the rule's pick first, then the rest by ratio (the fallbacks if a whole-tensor
    // compression fails).
    let floor = match (p.target_ratio, p.priority) {
        (Some(t), _) => Some(t),
        (None, Priority::Speed) => Some(SPEED_TOLERANCE * best),
        (None, Priority::Ratio) => None,
    };
    let pick = floor.and_then(|f| trials.iter().position(|t| t.ratio.is_some_and(|r| r >= f)));
    let mut order: Vec<usize> = (0..trials.len())
        .filter(|&i| trials[i].ratio.is_some())
        .collect();
    // Stable: equal ratios keep the faster codec first.
    order.sort_by(|&a, &b| trials[b].ratio.partial_cmp(&trials[a].ratio).unwrap());
    let rule = match (pick, p.target_ratio) {
        (Some(i), Some(t)) => {
            order.retain(|&j| j != i);
            order.insert(0, i);
            format!("fastest reaching target {t}")
        }
        (Some(i), None) => {
            order.retain(|&j| j != i);
            order.insert(0, i);
            format!(
                "fastest within {:.0}% of the best ratio",
                100.0 * (1.0 - SPEED_TOLERANCE)
            )
        }
        (None, Some(t)) => format!("highest ratio (target {t} not reached)"),
        (None, None) => "highest ratio".into(),
    };
    let mut listed: Vec<String> = order
        .iter()
        .map(|&i| {
            let n = match trials[i].codec {
                // What the container says: integer and bool tensors get byte planes.
                CodecParams::Lossless if !dtype.is_float() => "bytes".into(),
                c => name(&c),
            };
            format!("{n} {:.3}", trials[i].ratio.unwrap_or(0.0))
        })
        .collect();
    listed.extend(
        trials
            .iter()
            .filter(|t| t.ratio.is_none())
            .map(|t| match t.codec {
                CodecParams::Sparse(_) => "sparse not smaller".to_string(),
                c => format!("{} failed", name(&c)),
            }),
    );
    let basis = match sampled {
        Some(_) => format!("sample of {selems} of {numel} elements"),
        None => "whole tensor".into(),
    };
    let mut why = format!("{}; {rule}; {basis}", listed.join(", "));
    // A close call between the two best (ratio rule only) is decided on the whole tensor.
    let close = sampled.is_some()
        && pick.is_none()
        && order.len() >= 2
        && trials[order[1]].ratio.unwrap() >= (1.0 - CLOSE_CALL) * trials[order[0]].ratio.unwrap();
    let mut last_error = None;
    let mut kept: Option<(usize, Compressed)> = None;
    for (rank, &i) in order.iter().enumerate() {
        let c = match trials[i].whole.take() {
            Some(c) => c,
            None => match compress(data, dtype, shape, &options(trials[i].codec)) {
                Ok(c) => c,
                Err(e) => {
                    why += &format!("; {} failed on the whole tensor", name(&trials[i].codec));
                    last_error = Some(e);
                    continue;
                }
            },
        };
        match kept.take() {
            None => kept = Some((i, c)),
            Some((k, prev)) => {
                why += &format!(
                    "; close call on the whole tensor: {} {} B, {} {} B",
                    name(&trials[k].codec),
                    prev.bytes.len(),
                    name(&trials[i].codec),
                    c.bytes.len()
                );
                kept = Some(if c.bytes.len() < prev.bytes.len() {
                    (i, c)
                } else {
                    (k, prev)
                });
            }
        }
        // Stop at the first success, or after the runner-up of a close call.
        if !(close && rank == 0) {
            break;
        }
    }
    let Some((i, mut c)) = kept else {
        return Err(last_error.unwrap_or_else(|| Error::InvalidArgument("auto: no codec".into())));
    };
    c.choice = Some(AutoChoice {
        params: trials[i].codec,
        why,
    });
    Ok(c)
}

/// Upper bound of the container [`compress_auto`] writes: the largest of its candidates'
/// bounds ([`super::compress_bound`]). Errors: as that.
pub fn compress_bound(dtype: DType, shape: &[u64], p: &AutoParams) -> Result<usize> {
    p.validate()?;
    candidates(dtype, p, 1.0)
        .into_iter()
        .map(|c| super::compress_bound(dtype, shape, &options(c)))
        .try_fold(0usize, |m, b| Ok(m.max(b?)))
}
