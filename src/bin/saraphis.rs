//! `saraphis`: compress, restore, inspect and verify whole safetensors models.
//!
//! Exit codes: 0 success, 1 error (message on stderr, no partial output left), 2 usage error
//! (clap), 3 `verify` found a tensor outside its bound or not bit-exact.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use saraphis::system::model::ModelReport;
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
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compress a safetensors file into a .sph archive.
    Compress {
        /// Input .safetensors file.
        input: PathBuf,
        /// Output .sph archive.
        #[arg(short, long)]
        output: PathBuf,
        /// Bit-exact (the default).
        #[arg(long, conflicts_with_all = ["abs", "rel"])]
        lossless: bool,
        /// p-adic codec with absolute error bound |x - x'| <= EPS.
        #[arg(long, value_name = "EPS", conflicts_with = "rel")]
        abs: Option<f64>,
        /// p-adic codec with relative error bound |x - x'| <= EPS * |x|.
        #[arg(long, value_name = "EPS")]
        rel: Option<f64>,
        /// Prime base of the p-adic codec.
        #[arg(long, default_value_t = 251)]
        prime: u32,
        /// Digit planes of the p-adic codec (default: smallest that fits).
        #[arg(long)]
        precision: Option<u32>,
        /// Elements per chunk.
        #[arg(long, default_value_t = 1 << 18)]
        chunk_elems: u32,
        /// Most rANS lanes per stream, 1..=128 (0 = default 32); 128 decodes faster on GPUs.
        #[arg(long, default_value_t = 0)]
        lanes: u32,
        #[command(flatten)]
        common: Common,
    },
    /// Restore a safetensors file from a .sph archive.
    Decompress {
        /// Input .sph archive.
        input: PathBuf,
        /// Output .safetensors file.
        #[arg(short, long)]
        output: PathBuf,
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
        #[command(flatten)]
        common: Common,
    },
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

fn print_table(r: &ModelReport) {
    println!(
        "{:<48} {:>5} {:>9} {:>12} {:>12} {:>7} {:>11}",
        "tensor", "dtype", "codec", "original", "compressed", "ratio", "max_abs_err"
    );
    for t in &r.tensors {
        let name = if t.name.len() > 48 {
            &t.name[t.name.len() - 48..]
        } else {
            &t.name
        };
        println!(
            "{:<48} {:>5} {:>9} {:>12} {:>12} {:>7.3} {:>11.3e}{}",
            name,
            t.dtype,
            t.codec,
            t.original_bytes,
            t.compressed_bytes,
            t.ratio,
            t.max_abs_error,
            if t.ok { "" } else { "  EXCEEDED" }
        );
    }
    let mbps = if r.seconds > 0.0 {
        r.original_bytes as f64 / 1e6 / r.seconds
    } else {
        0.0
    };
    println!(
        "{}: {} tensors, {:.2} MB -> {:.2} MB, ratio {:.4}, max abs error {:.3e}, {:.3} s ({:.0} MB/s)",
        r.operation,
        r.tensors.len(),
        r.original_bytes as f64 / 1e6,
        r.compressed_bytes as f64 / 1e6,
        r.ratio,
        r.max_abs_error,
        r.seconds,
        mbps
    );
}

fn run(cli: Cli) -> saraphis::Result<ModelReport> {
    let system = |threads: usize| {
        System::new(Config {
            threads,
            device: saraphis::system::Device::Cpu,
            ..Config::default()
        })
    };
    let show = |json: bool| !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    match cli.cmd {
        Cmd::Compress {
            input,
            output,
            lossless: _,
            abs,
            rel,
            prime,
            precision,
            chunk_elems,
            lanes,
            common,
        } => {
            let codec = match (abs, rel) {
                (Some(e), _) => CodecParams::Padic(PadicParams {
                    prime,
                    precision,
                    bound: ErrorBound::Abs(e),
                }),
                (_, Some(e)) => CodecParams::Padic(PadicParams {
                    prime,
                    precision,
                    bound: ErrorBound::Rel(e),
                }),
                _ => CodecParams::Lossless,
            };
            let sys = System::new(Config {
                threads: common.threads,
                chunk_elems,
                lanes,
                device: saraphis::system::Device::Cpu,
                ..Config::default()
            })?;
            let pb = progress_bar(show(common.json));
            let r = sys.compress_model(&input, &output, codec, &|k, n, name| {
                pb.set_length(n as u64);
                pb.set_position(k as u64);
                pb.set_message(name.to_string());
            });
            pb.finish_and_clear();
            r
        }
        Cmd::Decompress {
            input,
            output,
            common,
        } => {
            let pb = progress_bar(show(common.json));
            let r = system(common.threads)?.decompress_model(&input, &output, &|k, n, name| {
                pb.set_length(n as u64);
                pb.set_position(k as u64);
                pb.set_message(name.to_string());
            });
            pb.finish_and_clear();
            r
        }
        Cmd::Inspect { input, common } => system(common.threads)?.inspect_model(&input),
        Cmd::Verify {
            input,
            against,
            common,
        } => {
            let pb = progress_bar(show(common.json));
            let r = system(common.threads)?.verify_model(&input, &against, &|k, n, name| {
                pb.set_length(n as u64);
                pb.set_position(k as u64);
                pb.set_message(name.to_string());
            });
            pb.finish_and_clear();
            r
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = match &cli.cmd {
        Cmd::Compress { common, .. }
        | Cmd::Decompress { common, .. }
        | Cmd::Inspect { common, .. }
        | Cmd::Verify { common, .. } => common.json,
    };
    match run(cli) {
        Ok(r) => {
            if json {
                println!("{}", serde_json::to_string(&r).expect("report serializes"));
            } else {
                print_table(&r);
            }
            if r.ok {
                ExitCode::SUCCESS
            } else {
                eprintln!("saraphis: verify failed: a tensor exceeds its bound or differs");
                ExitCode::from(3)
            }
        }
        Err(e) => {
            eprintln!("saraphis: error: {e}");
            ExitCode::from(1)
        }
    }
}
