//! `saraphis`: compress, restore, inspect and verify whole safetensors models; `saraphis bench`
//! runs the benchmark suite (codecs, tropical algebra, p-adic arithmetic: `cli/bench.rs`).
//!
//! Exit codes: 0 success, 1 error (message on stderr, no partial output left), 2 usage error
//! (a bad or inconsistent argument), 3 `verify` found a tensor outside its bound or not
//! bit-exact. SIGINT, SIGTERM and SIGHUP remove the output being written, then end the
//! process as the signal does. Output to a closed pipe (`saraphis inspect m.sph | head`) ends
//! quietly.

#[path = "cli/bench.rs"]
mod bench;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use saraphis::system::model::{ModelReport, TensorReport};
use saraphis::system::{Config, System};
use saraphis::{CodecParams, ErrorBound, PadicParams};

#[derive(Parser)]
#[command(
    name = "saraphis",
    version,
    about = "Compress model weights losslessly or within an error bound"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct Common {
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print one JSON object instead of a table (no progress bar).
    #[arg(long)]
    json: bool,
    /// No progress bar (it is shown only on a terminal anyway).
    #[arg(long, short)]
    quiet: bool,
}

/// `--codec` values.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CodecArg {
    Lossless,
    LosslessV2,
    Padic,
    Quant,
    Sparse,
    Auto,
}

/// `--priority` values (codec auto).
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PriorityArg {
    Ratio,
    Speed,
}

/// Options of `--codec quant` (defaults: llama.cpp's Q8_0 layout).
#[derive(Args, Clone)]
struct QuantArgs {
    /// Quant: bits per element, 2..=8 [default: 8]; not with --abs (which picks them per block).
    #[arg(long)]
    bits: Option<u32>,
    /// Quant: elements per block along the last axis, a power of two in 16..=4096 [default: 32].
    #[arg(long, conflicts_with_all = ["axis", "global"])]
    block: Option<u32>,
    /// Quant: one scale per index along this axis (per-channel quantization).
    #[arg(long, conflicts_with = "global")]
    axis: Option<u32>,
    /// Quant: one scale for the whole tensor.
    #[arg(long)]
    global: bool,
    /// Quant: dtype of the stored scales: f16 (default), bf16 or f32.
    #[arg(long, value_name = "DTYPE")]
    scale_dtype: Option<String>,
    /// Quant: store a minimum per group (asymmetric, as Q4_1); --abs always does.
    #[arg(long)]
    zero_point: bool,
}

impl QuantArgs {
    fn any(&self) -> bool {
        self.bits.is_some()
            || self.block.is_some()
            || self.axis.is_some()
            || self.global
            || self.scale_dtype.is_some()
            || self.zero_point
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Compress a safetensors file into a .sph archive.
    #[command(group(ArgGroup::new("bound").args(["abs", "rel"])))]
    Compress {
        /// Input .safetensors file.
        input: PathBuf,
        /// Output .sph archive (never the input: refused).
        #[arg(short, long)]
        output: PathBuf,
        /// Bit-exact (the default): F32/F16/BF16 in stream layout v2 (codec lossless-v2, what
        /// the GPU decodes fastest), or layout v1 (codec lossless) with --lanes.
        #[arg(long, conflicts_with = "bound")]
        lossless: bool,
        /// Bit-exact in stream layout v2 (F32/F16/BF16; segments of --chunk-elems, default
        /// 2^16), as --lossless writes by default.
        #[arg(long, conflicts_with_all = ["bound", "lossless", "lanes"])]
        lossless_v2: bool,
        /// p-adic codec with absolute error bound |x - x'| <= EPS.
        #[arg(long, value_name = "EPS", conflicts_with = "rel")]
        abs: Option<f64>,
        /// p-adic codec with relative error bound |x - x'| <= EPS * |x|.
        #[arg(long, value_name = "EPS")]
        rel: Option<f64>,
        /// Prime base of the p-adic codec [default: 251]; needs --abs or --rel.
        #[arg(long, requires = "bound")]
        prime: Option<u32>,
        /// Digit planes of the p-adic codec (default: smallest that fits); needs --abs or --rel.
        #[arg(long, requires = "bound")]
        precision: Option<u32>,
        /// Elements per chunk, 1..=2^28 [default: 2^16; 2^18 with --abs/--rel (p-adic)].
        #[arg(long)]
        chunk_elems: Option<u32>,
        /// Most rANS lanes per stream, 1..=128 (0 = the default). With the lossless codec, any
        /// nonzero value writes stream layout v1 (codec lossless) with that many lanes; with
        /// p-adic, 128 decodes faster on GPUs (default 32).
        #[arg(long, default_value_t = 0)]
        lanes: u32,
        /// Codec of float tensors (integer and bool tensors are always bit-exact): lossless
        /// (default), lossless-v2, padic (needs --abs or --rel), quant (docs/FORMAT.md §7;
        /// fixed rate, or the fewest bits per block within --abs) or sparse (§8: a bitmap of the
        /// nonzero elements plus the nonzeros, lossless or within --abs/--rel; written for the
        /// tensors where it is smaller, the others get the values' codec) or auto (per tensor,
        /// the best of the codecs allowed by --abs/--rel, --bits, --target-ratio and
        /// --priority, by trial compression of samples; inspect says why).
        #[arg(long, value_enum)]
        codec: Option<CodecArg>,
        /// Auto: keep the fastest-decoding codec whose ratio reaches this (else the best ratio).
        #[arg(long, value_name = "RATIO")]
        target_ratio: Option<f64>,
        /// Auto: ratio (default: the smallest container) or speed (the fastest-decoding codec
        /// within 5% of the best ratio).
        #[arg(long, value_enum)]
        priority: Option<PriorityArg>,
        /// Base model (.safetensors or .sph) to code each tensor against (delta, docs/FORMAT.md
        /// §10): tensors with a same-named tensor of the same dtype and shape in BASE are also
        /// coded as differences from it (lossless, or within --abs/--rel) and the smaller container is
        /// kept. Decompress and verify then need the same --base.
        #[arg(long, value_name = "BASE")]
        base: Option<PathBuf>,
        #[command(flatten)]
        quant: QuantArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Restore a safetensors file from a .sph archive.
    Decompress {
        /// Input .sph archive.
        input: PathBuf,
        /// Output .safetensors file (never the input: refused).
        #[arg(short, long)]
        output: PathBuf,
        /// The base model the archive's delta tensors were compressed against (--base of
        /// compress); refused if its tensors differ from that base.
        #[arg(long, value_name = "BASE")]
        base: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Show per-tensor dtype, shape, codec, sizes and ratio without decoding.
    Inspect {
        /// Input .sph archive.
        input: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Decode an archive and compare it with the original; exit 3 if any bound is exceeded.
    Verify {
        /// Input .sph archive.
        input: PathBuf,
        /// The original .safetensors file.
        #[arg(long)]
        against: PathBuf,
        /// The base model of the archive's delta tensors (as for decompress).
        #[arg(long, value_name = "BASE")]
        base: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Benchmark an operation (codec, tropical, p-adic) on the CPU or a CUDA device, checked
    /// against a reference; prints the device found and, where both exist, fused and unfused
    /// kernels side by side.
    Bench {
        /// tropical-matmul, tropical-conv, tropical-closure, tropical-poly, padic-mul,
        /// padic-add, padic-hensel, codec-decode, codec-encode.
        #[arg(long, default_value = "tropical-matmul")]
        operation: String,
        /// small, medium, large, xlarge, or a number (its unit depends on the operation).
        #[arg(long, default_value = "medium")]
        size: String,
        /// cpu or cuda:N.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Element type of the tropical operations: f32, f64, i32.
        #[arg(long, default_value = "f32")]
        dtype: String,
        /// Semiring of the tropical operations: max-plus or min-plus.
        #[arg(long, default_value = "max-plus")]
        semiring: String,
        /// Timed repetitions after one warm-up (the median is reported).
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Also write the JSON report to this file (written to a temporary name, then renamed).
        #[arg(long, value_name = "FILE.json")]
        export: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
}

impl Cmd {
    fn common(&self) -> &Common {
        match self {
            Cmd::Compress { common, .. }
            | Cmd::Decompress { common, .. }
            | Cmd::Inspect { common, .. }
            | Cmd::Verify { common, .. }
            | Cmd::Bench { common, .. } => common,
        }
    }
}

/// Why the command failed: a usage error (exit 2) or an error while working (exit 1).
enum Failure {
    Usage(String),
    Run(saraphis::Error),
}

impl From<saraphis::Error> for Failure {
    fn from(e: saraphis::Error) -> Self {
        Failure::Run(e)
    }
}

fn progress_bar(enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// The last `width` characters of `name`, with a leading '…' when cut (char boundaries only).
fn fit(name: &str, width: usize) -> String {
    let n = name.chars().count();
    if n <= width {
        return name.to_string();
    }
    let tail: String = name.chars().skip(n - (width - 1)).collect();
    format!("…{tail}")
}

/// A bound as "abs 1.0e-3" / "rel 1.0e-2", or "exact" for bit-exact tensors.
fn bound_text(t: &TensorReport) -> String {
    match &t.bound {
        Some(b) => format!("{} {:.1e}", b.mode, b.eps),
        None => "exact".into(),
    }
}

/// The error in the bound's own mode: relative where it was measured for a relative bound.
fn error_text(t: &TensorReport) -> String {
    let rel = t.bound.as_ref().is_some_and(|b| b.mode == "rel");
    match (rel, t.max_rel_error, t.max_abs_error) {
        (true, Some(r), _) => format!("rel {r:.3e}"),
        (_, _, Some(0.0)) if t.bound.is_none() => "0".into(),
        (_, _, Some(a)) => format!("abs {a:.3e}"),
        _ => "-".into(),
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn table(r: &ModelReport) -> String {
    let mut s = format!(
        "{:<48} {:>5} {:>11} {:>12} {:>12} {:>7} {:>10} {:>13}\n",
        "tensor", "dtype", "codec", "original B", "compressed B", "ratio", "bound", "max error"
    );
    for t in &r.tensors {
        s += &format!(
            "{:<48} {:>5} {:>11} {:>12} {:>12} {:>7.3} {:>10} {:>13}{}\n",
            fit(&t.name, 48),
            t.dtype,
            t.codec,
            t.original_bytes,
            t.compressed_bytes,
            t.ratio,
            bound_text(t),
            error_text(t),
            if t.ok { "" } else { "  EXCEEDED" }
        );
        if let Some(settings) = &t.settings {
            s.pop();
            s += &format!("  [{settings}]\n");
        }
        if let Some(first) = &t.shared_with {
            s.pop();
            s += &format!("  [same as {first}: stored once]\n");
        }
        if let Some(why) = &t.auto {
            s += &format!("    auto: {why}\n");
        }
    }
    if let Some(rule) = &r.auto {
        s += &format!("codec auto: {rule}\n");
    }
    let n = r.tensors.len();
    let exact = r.tensors.iter().all(|t| t.bound.is_none());
    let errors = if exact {
        "bit-exact".to_string()
    } else {
        let abs = r
            .max_abs_error
            .map_or("-".into(), |e| format!("max abs error {e:.3e}"));
        let any_rel = r
            .tensors
            .iter()
            .any(|t| t.bound.as_ref().is_some_and(|b| b.mode == "rel"));
        let rel = match r.max_rel_error {
            Some(e) if any_rel => format!(", max rel error {e:.3e}"),
            _ => String::new(),
        };
        format!("{abs}{rel} ({})", r.error_source)
    };
    let speed = |dir: &str| {
        r.mb_per_s
            .map_or(String::new(), |v| format!(" ({v:.1} MB/s of {dir})"))
    };
    s += &match r.operation.as_str() {
        "compress" => format!(
            "compressed {n} tensors: {} -> {} archive, ratio {:.4} (original / compressed); {errors}; {:.3} s{}\n",
            mb(r.original_bytes), mb(r.compressed_bytes), r.ratio, r.seconds, speed("input")
        ),
        "decompress" => format!(
            "restored {n} tensors: {} archive -> {} of tensor data; {errors}; {:.3} s{}\n",
            mb(r.compressed_bytes), mb(r.original_bytes), r.seconds, speed("output")
        ),
        "inspect" => format!(
            "archive of {n} tensors: {} of tensor data in {}, ratio {:.4} (original / compressed); {errors}\n",
            mb(r.original_bytes), mb(r.compressed_bytes), r.ratio
        ),
        _ if r.ok => format!(
            "verify OK: all {n} tensors bit-exact or within their bounds; {errors}; {:.3} s{}\n",
            r.seconds, speed("tensor data")
        ),
        _ => {
            let bad: Vec<&str> = r.tensors.iter().filter(|t| !t.ok).map(|t| t.name.as_str()).collect();
            format!(
                "verify FAILED: {} of {n} tensors exceed their bound or differ ({}); {errors}\n",
                bad.len(),
                bad.join(", ")
            )
        }
    };
    s
}

/// Check the arguments that clap cannot, before any file is touched (exit 2 on failure).
fn codec_of(cmd: &Cmd) -> Result<CodecParams, Failure> {
    let Cmd::Compress {
        abs,
        rel,
        prime,
        precision,
        chunk_elems,
        lanes,
        lossless_v2,
        codec,
        quant,
        lossless,
        target_ratio,
        priority,
        ..
    } = cmd
    else {
        return Ok(CodecParams::Lossless);
    };
    if *lossless_v2 && !matches!(codec, None | Some(CodecArg::LosslessV2)) {
        return Err(Failure::Usage(
            "--lossless-v2 is the lossless-v2 codec: it cannot go with another --codec".into(),
        ));
    }
    let lossless_v2 = &(*lossless_v2 || *codec == Some(CodecArg::LosslessV2));
    let usage = |e: saraphis::Error| Failure::Usage(e.to_string());
    // The crate's one chunk-size and lane checks; the default chunk needs none.
    if let Some(c) = chunk_elems {
        saraphis::codec::check_chunk_elems(*c)
            .map_err(|e| Failure::Usage(format!("--chunk-elems: {e}")))?;
    }
    saraphis::codec::check_lanes(*lanes).map_err(|e| Failure::Usage(format!("--lanes: {e}")))?;
    if *codec != Some(CodecArg::Auto) && (target_ratio.is_some() || priority.is_some()) {
        return Err(Failure::Usage(
            "--target-ratio and --priority need --codec auto".into(),
        ));
    }
    if *codec == Some(CodecArg::Auto) {
        return auto_of(quant, *abs, *rel, *lossless, *target_ratio, *priority, cmd);
    }
    if *codec != Some(CodecArg::Quant) && quant.any() {
        return Err(Failure::Usage(
            "--bits, --block, --axis, --global, --scale-dtype and --zero-point need --codec quant"
                .into(),
        ));
    }
    match codec {
        Some(CodecArg::Quant) => return quant_of(quant, *abs, *rel, *lossless),
        Some(CodecArg::Sparse) => {
            if let Some(c) = chunk_elems {
                saraphis::codec::sparse::check_chunk_elems(*c)
                    .map_err(|e| Failure::Usage(format!("--chunk-elems: {e}")))?;
            }
            let padic = match (abs, rel) {
                (Some(e), _) => Some(ErrorBound::Abs(*e)),
                (_, Some(e)) => Some(ErrorBound::Rel(*e)),
                _ => None,
            }
            .map(|bound| PadicParams {
                prime: prime.unwrap_or(PadicParams::new(bound).prime),
                precision: *precision,
                bound,
            });
            if let Some(p) = &padic {
                saraphis::codec::padic::check_params(p).map_err(usage)?;
            }
            return Ok(CodecParams::Sparse(saraphis::codec::sparse::SparseParams {
                padic,
            }));
        }
        Some(CodecArg::Padic) if abs.is_none() && rel.is_none() => {
            return Err(Failure::Usage("--codec padic needs --abs or --rel".into()))
        }
        Some(CodecArg::Lossless | CodecArg::LosslessV2) if abs.is_some() || rel.is_some() => {
            return Err(Failure::Usage(
                "--abs and --rel choose the p-adic or quant codec, not a lossless one".into(),
            ))
        }
        _ => {}
    }
    let bound = match (abs, rel) {
        (Some(e), _) => ErrorBound::Abs(*e),
        (_, Some(e)) => ErrorBound::Rel(*e),
        _ if *lossless_v2 => return Ok(CodecParams::LosslessV2),
        _ => return Ok(CodecParams::Lossless),
    };
    let params = PadicParams {
        prime: prime.unwrap_or(PadicParams::new(bound).prime),
        precision: *precision,
        bound,
    };
    saraphis::codec::padic::check_params(&params).map_err(usage)?;
    Ok(CodecParams::Padic(params))
}

/// The auto codec's constraints from `--abs`/`--rel`, `--bits`, `--target-ratio` and
/// `--priority` (exit 2 when inconsistent).
fn auto_of(
    q: &QuantArgs,
    abs: Option<f64>,
    rel: Option<f64>,
    lossless: bool,
    target_ratio: Option<f64>,
    priority: Option<PriorityArg>,
    cmd: &Cmd,
) -> Result<CodecParams, Failure> {
    use saraphis::codec::auto::{AutoParams, Priority};
    if let Cmd::Compress {
        chunk_elems,
        lanes,
        prime,
        precision,
        ..
    } = cmd
    {
        if chunk_elems.is_some() || *lanes != 0 || prime.is_some() || precision.is_some() {
            return Err(Failure::Usage(
                "--codec auto tries each codec with its defaults: leave out --chunk-elems, \
                 --lanes, --prime and --precision"
                    .into(),
            ));
        }
    }
    if q.block.is_some() || q.axis.is_some() || q.global || q.scale_dtype.is_some() || q.zero_point
    {
        return Err(Failure::Usage(
            "--codec auto takes --bits (fixed-rate quant allowed), not the other quant options"
                .into(),
        ));
    }
    if lossless && q.bits.is_some() {
        return Err(Failure::Usage(
            "--lossless and --bits contradict each other".into(),
        ));
    }
    let p = AutoParams {
        bound: match (abs, rel) {
            (Some(e), _) => Some(ErrorBound::Abs(e)),
            (_, Some(e)) => Some(ErrorBound::Rel(e)),
            _ => None,
        },
        bits: q.bits,
        target_ratio,
        priority: match priority {
            Some(PriorityArg::Speed) => Priority::Speed,
            _ => Priority::Ratio,
        },
    };
    p.validate()
        .map_err(|e| Failure::Usage(format!("--codec auto: {e}")))?;
    Ok(CodecParams::Auto(p))
}

/// The quant codec's parameters from `--bits`, `--block`, `--axis`, `--global`,
/// `--scale-dtype`, `--zero-point` and `--abs` (exit 2 when inconsistent).
fn quant_of(
    a: &QuantArgs,
    abs: Option<f64>,
    rel: Option<f64>,
    lossless: bool,
) -> Result<CodecParams, Failure> {
    use saraphis::codec::quant::{Grouping, QuantParams};
    if rel.is_some() || lossless {
        return Err(Failure::Usage(
            "--codec quant takes --abs EPS (or none: fixed rate), not --rel or --lossless".into(),
        ));
    }
    let mut q = match abs {
        Some(e) if a.bits.is_some() => {
            return Err(Failure::Usage(format!(
                "--abs {e} picks the bits of every block: leave out --bits"
            )))
        }
        Some(e) => QuantParams::bounded(e),
        None => QuantParams::default(),
    };
    if let Some(b) = a.bits {
        q.bits = b;
    }
    q.zero_point |= a.zero_point;
    q.grouping = match (a.block, a.axis, a.global) {
        (Some(b), _, _) => Grouping::Block(b),
        (_, Some(x), _) => Grouping::Channel(x),
        (_, _, true) => Grouping::Global,
        _ => q.grouping,
    };
    if let Some(d) = &a.scale_dtype {
        q.scale_dtype = match d.to_ascii_lowercase().as_str() {
            "f16" => saraphis::DType::F16,
            "bf16" => saraphis::DType::BF16,
            "f32" => saraphis::DType::F32,
            _ => {
                return Err(Failure::Usage(format!(
                    "--scale-dtype {d}: f16, bf16 or f32"
                )))
            }
        }
    }
    q.validate()
        .map_err(|e| Failure::Usage(format!("--codec quant: {e}")))?;
    Ok(CodecParams::Quant(q))
}

fn run(cli: Cli) -> Result<ModelReport, Failure> {
    let codec = codec_of(&cli.cmd)?;
    if let Cmd::Compress {
        input,
        output,
        base,
        ..
    }
    | Cmd::Decompress {
        input,
        output,
        base,
        ..
    } = &cli.cmd
    {
        let mut inputs: Vec<&std::path::Path> = vec![input.as_path()];
        inputs.extend(base.as_deref());
        saraphis::system::output::check_output(output, &inputs)
            .map_err(|e| Failure::Usage(e.to_string()))?;
    }
    let common = cli.cmd.common().clone();
    let chunk_lanes = match &cli.cmd {
        Cmd::Compress {
            chunk_elems, lanes, ..
        } => (
            chunk_elems.unwrap_or(saraphis::codec::default_chunk_elems(&codec)),
            *lanes,
        ),
        _ => (saraphis::format::container::DEFAULT_CHUNK_ELEMS, 0),
    };
    let sys = System::new(Config {
        threads: common.threads,
        chunk_elems: chunk_lanes.0,
        lanes: chunk_lanes.1,
        device: saraphis::system::Device::Cpu,
        ..Config::default()
    })?;
    let shown =
        !common.json && !common.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let pb = progress_bar(shown);
    let progress = |k: usize, n: usize, name: &str| {
        pb.set_length(n as u64);
        pb.set_position(k as u64);
        pb.set_message(name.to_string());
    };
    let r = match &cli.cmd {
        Cmd::Compress {
            input,
            output,
            base: Some(base),
            ..
        } => sys.compress_model_with_base(input, output, base, codec, &progress),
        Cmd::Compress { input, output, .. } => sys.compress_model(input, output, codec, &progress),
        Cmd::Decompress {
            input,
            output,
            base,
            ..
        } => sys.decompress_model_with_base(input, output, base.as_deref(), &progress),
        Cmd::Inspect { input, .. } => sys.inspect_model(input),
        Cmd::Verify {
            input,
            against,
            base,
            ..
        } => sys.verify_model_with_base(input, against, base.as_deref(), &progress),
        Cmd::Bench { .. } => unreachable!("bench runs in run_bench"),
    };
    pb.finish_and_clear();
    Ok(r?)
}

/// Write to stdout; a closed pipe (the reader went away) is not an error.
fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// `saraphis bench`: run, print (table or JSON), export.
fn run_bench(cmd: &Cmd) -> Result<String, Failure> {
    let Cmd::Bench {
        operation,
        size,
        device,
        dtype,
        semiring,
        repeats,
        export,
        common,
    } = cmd
    else {
        unreachable!()
    };
    let dev: saraphis::system::Device = if device == "cpu" {
        saraphis::system::Device::Cpu
    } else {
        device
            .parse()
            .map_err(|e: saraphis::Error| Failure::Usage(e.to_string()))?
    };
    let sys = System::new(Config {
        threads: common.threads,
        device: dev,
        ..Config::default()
    })?;
    let args = bench::BenchArgs {
        operation: operation.clone(),
        size: size.clone(),
        device: device.clone(),
        dtype: dtype.clone(),
        semiring: semiring.clone(),
        repeats: *repeats,
    };
    let report = bench::run(&args, &sys).map_err(|m| {
        if m.starts_with("--") {
            Failure::Usage(m)
        } else {
            Failure::Run(saraphis::Error::InvalidArgument(m))
        }
    })?;
    let text = serde_json::to_string_pretty(&report).unwrap_or_default() + "\n";
    if let Some(path) = export {
        saraphis::system::output::write_atomically(path, &[], |f| {
            f.write_all(text.as_bytes()).map_err(saraphis::Error::Io)
        })?;
    }
    Ok(if common.json {
        text
    } else {
        bench::table(&report)
    })
}

fn main() -> ExitCode {
    saraphis::system::output::remove_temporaries_on_signal();
    let cli = Cli::parse();
    // (report text, whether every check held) or why the command failed.
    let outcome = if matches!(cli.cmd, Cmd::Bench { .. }) {
        run_bench(&cli.cmd).map(|text| (text, true))
    } else {
        let json = cli.cmd.common().json;
        run(cli).map(|r| {
            let text = if json {
                serde_json::to_string(&r)
                    .map(|s| s + "\n")
                    .unwrap_or_default()
            } else {
                table(&r)
            };
            (text, r.ok)
        })
    };
    match outcome {
        Ok((text, ok)) => {
            if let Err(e) = print(&text) {
                eprintln!("saraphis: error: writing the report: {e}");
                return ExitCode::from(1);
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                eprintln!("saraphis: verify failed: a tensor exceeds its bound or differs");
                ExitCode::from(3)
            }
        }
        Err(Failure::Usage(m)) => {
            eprintln!("saraphis: usage error: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Run(e)) => {
            eprintln!("saraphis: error: {e}");
            ExitCode::from(1)
        }
    }
}
