//! Benchmark on a real model: ratio, throughput (one core and all cores) and peak memory.
//!
//! `cargo bench --bench minilm -- MODEL.safetensors [--out FILE.json] [--repeats N] [--quick]
//! [--only lossless|lossless-v2|padic|zstd] [--segment-elems N]`
//! (scripts/bench.sh fetches all-MiniLM-L6-v2 and runs this). Writes one JSON object.
//! Throughput counts original (uncompressed) bytes per second, 1 MB = 1e6 bytes; times are the
//! median of `--repeats` runs, in memory (no file I/O). Peak memory is the maximum resident
//! set size of a `saraphis compress` / `decompress` child process on the whole model.

use std::path::{Path, PathBuf};
use std::time::Instant;

use saraphis::codec::{self, CodecParams, CompressOptions, ErrorBound, PadicParams, StreamLayout};
use saraphis::system::{Config, System};
use saraphis::DType;
use serde_json::{json, Value};

struct Tensor {
    dtype: DType,
    shape: Vec<u64>,
    bytes: Vec<u8>,
}

fn load(path: &Path) -> Vec<Tensor> {
    let buf = std::fs::read(path).expect("model file");
    let st = safetensors::SafeTensors::deserialize(&buf).expect("safetensors");
    st.tensors()
        .into_iter()
        .filter_map(|(_, v)| {
            let dtype = DType::from_safetensors_name(&format!("{:?}", v.dtype())).ok()?;
            Some(Tensor {
                dtype,
                shape: v.shape().iter().map(|&d| d as u64).collect(),
                bytes: v.data().to_vec(),
            })
        })
        .collect()
}

fn to_bf16(t: &Tensor) -> Tensor {
    let bytes = t
        .bytes
        .chunks_exact(4)
        .flat_map(|c| half::bf16::from_f32(f32::from_le_bytes(c.try_into().unwrap())).to_le_bytes())
        .collect();
    Tensor {
        dtype: DType::BF16,
        shape: t.shape.clone(),
        bytes,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn max_abs_err(t: &Tensor, out: &[u8]) -> f64 {
    let n = t.bytes.len() / 4;
    (0..n)
        .map(|i| {
            let a = f32::from_le_bytes(t.bytes[4 * i..4 * i + 4].try_into().unwrap()) as f64;
            let b = f32::from_le_bytes(out[4 * i..4 * i + 4].try_into().unwrap()) as f64;
            (a - b).abs()
        })
        .fold(0.0, f64::max)
}

/// Ratio, compress and decompress MB/s on `threads` threads, and measured max error, with the
/// lossless codec's stream `layout` (v2 segments of 2^16 elements).
fn measure(
    ts: &[Tensor],
    codec: CodecParams,
    threads: usize,
    repeats: usize,
    layout: StreamLayout,
    segment_elems: u32,
) -> Value {
    let sys = System::new(Config {
        threads,
        ..Config::default()
    })
    .unwrap();
    let opts = CompressOptions {
        codec,
        chunk_elems: match layout {
            StreamLayout::Segments => segment_elems,
            StreamLayout::Lanes => CompressOptions::default().chunk_elems,
        },
        ..CompressOptions::default()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(sys.threads())
        .build()
        .unwrap();
    let orig: usize = ts.iter().map(|t| t.bytes.len()).sum();
    let mut containers = Vec::new();
    let mut ctimes = Vec::new();
    for r in 0..repeats {
        let t0 = Instant::now();
        let cs: Vec<Vec<u8>> = ts
            .iter()
            .map(|t| {
                pool.install(|| {
                    codec::compress_with_layout(&t.bytes, t.dtype, &t.shape, &opts, layout)
                })
                .unwrap()
                .bytes
            })
            .collect();
        ctimes.push(t0.elapsed().as_secs_f64());
        if r == 0 {
            containers = cs;
        }
    }
    let comp: usize = containers.iter().map(|c| c.len()).sum();
    let mut outs: Vec<Vec<u8>> = ts.iter().map(|t| vec![0u8; t.bytes.len()]).collect();
    let mut dtimes = Vec::new();
    for _ in 0..repeats {
        let t0 = Instant::now();
        for ((t, c), o) in ts.iter().zip(&containers).zip(outs.iter_mut()) {
            sys.decompress_into(c, t.dtype, o).unwrap();
        }
        dtimes.push(t0.elapsed().as_secs_f64());
    }
    let mut max_err = 0f64;
    for (t, o) in ts.iter().zip(&outs) {
        match codec {
            CodecParams::Padic(_) if t.dtype == DType::F32 => {
                max_err = max_err.max(max_abs_err(t, o))
            }
            _ => assert_eq!(&t.bytes, o, "lossless round trip failed"),
        }
    }
    let (ct, dt) = (median(ctimes), median(dtimes));
    json!({
        "threads": sys.threads(),
        "original_bytes": orig, "compressed_bytes": comp, "ratio": orig as f64 / comp as f64,
        "compress_mb_s": orig as f64 / 1e6 / ct, "decompress_mb_s": orig as f64 / 1e6 / dt,
        "max_abs_error": max_err,
    })
}

fn zstd_measure(ts: &[Tensor], level: i32, repeats: usize) -> Value {
    let orig: usize = ts.iter().map(|t| t.bytes.len()).sum();
    let mut cs = Vec::new();
    let mut ct = Vec::new();
    for _ in 0..repeats {
        let t0 = Instant::now();
        cs = ts
            .iter()
            .map(|t| zstd::bulk::compress(&t.bytes, level).unwrap())
            .collect::<Vec<_>>();
        ct.push(t0.elapsed().as_secs_f64());
    }
    let comp: usize = cs.iter().map(|c| c.len()).sum();
    let mut dt = Vec::new();
    for _ in 0..repeats {
        let t0 = Instant::now();
        for (t, c) in ts.iter().zip(&cs) {
            let d = zstd::bulk::decompress(c, t.bytes.len()).unwrap();
            assert_eq!(d.len(), t.bytes.len());
        }
        dt.push(t0.elapsed().as_secs_f64());
    }
    json!({
        "level": level, "threads": 1, "original_bytes": orig, "compressed_bytes": comp,
        "ratio": orig as f64 / comp as f64,
        "compress_mb_s": orig as f64 / 1e6 / median(ct), "decompress_mb_s": orig as f64 / 1e6 / median(dt),
    })
}

/// Peak RSS (bytes) of one child process, from wait4's rusage.
#[allow(clippy::zombie_processes)] // reaped by wait4, which std does not see
fn peak_rss(cmd: &mut std::process::Command) -> u64 {
    let child = cmd
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn saraphis");
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed"
    );
    ru.ru_maxrss as u64 * 1024
}

/// Largest tensor in bytes, from the safetensors header only (keeps this process small).
fn largest_tensor(path: &Path) -> u64 {
    use std::io::Read;
    let mut f = std::fs::File::open(path).expect("model file");
    let mut n = [0u8; 8];
    f.read_exact(&mut n).unwrap();
    let mut h = vec![0u8; u64::from_le_bytes(n) as usize];
    f.read_exact(&mut h).unwrap();
    let v: Value = serde_json::from_slice(&h).unwrap();
    v.as_object()
        .unwrap()
        .values()
        .filter_map(|t| {
            let o = t.get("data_offsets")?.as_array()?;
            Some(o[1].as_u64()? - o[0].as_u64()?)
        })
        .max()
        .unwrap_or(0)
}

fn cli() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("saraphis")
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let model = PathBuf::from(
        args.first()
            .expect("usage: minilm MODEL.safetensors [--out F] [--repeats N]"),
    );
    let get = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let out = get("--out").unwrap_or_else(|| "bench-out/minilm.json".into());
    let repeats: usize = get("--repeats").and_then(|v| v.parse().ok()).unwrap_or(5);
    // --only lossless|padic|zstd restricts the run (for quick iterations).
    let only = get("--only");
    // --segment-elems N: layout v2's segment length (default: the encoder's default).
    let segment_elems: u32 = get("--segment-elems")
        .and_then(|v| v.parse().ok())
        .unwrap_or(codec::segmented::DEFAULT_SEGMENT_ELEMS);
    let want = |k: &str| only.as_deref().is_none_or(|o| o == k);
    // Memory first, while this process is small: a child's ru_maxrss includes the RSS its
    // parent had at fork time.
    // Memory: the CLI on the whole model, one child at a time.
    let largest = largest_tensor(&model);
    let tmp = std::env::temp_dir().join(format!("saraphis-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let sph = tmp.join("m.sph");
    let back = tmp.join("back.safetensors");
    let c_rss = peak_rss(
        std::process::Command::new(cli())
            .arg("compress")
            .arg(&model)
            .arg("-o")
            .arg(&sph),
    );
    let d_rss = peak_rss(
        std::process::Command::new(cli())
            .arg("decompress")
            .arg(&sph)
            .arg("-o")
            .arg(&back),
    );
    let limit = 3 * largest + 64 * 1024 * 1024;
    let memory = json!({"largest_tensor_bytes": largest, "limit_bytes": limit,
               "compress_peak_rss_bytes": c_rss, "decompress_peak_rss_bytes": d_rss,
               "within_limit": c_rss <= limit && d_rss <= limit});
    eprintln!("memory: compress {c_rss} decompress {d_rss} limit {limit}");
    let _ = std::fs::remove_dir_all(&tmp);
    let all: Vec<Tensor> = load(&model);
    let f32s: Vec<Tensor> = all.into_iter().filter(|t| t.dtype == DType::F32).collect();
    let bf16s: Vec<Tensor> = f32s.iter().map(to_bf16).collect();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let mut results = serde_json::Map::new();
    results.insert("memory".into(), memory);
    for (name, ts) in [("f32", &f32s), ("bf16", &bf16s)] {
        for threads in [1, cores].into_iter().filter(|_| want("lossless")) {
            let r = measure(
                ts,
                CodecParams::Lossless,
                threads,
                repeats,
                StreamLayout::Lanes,
                segment_elems,
            );
            eprintln!("lossless {name} threads={threads}: {r}");
            results.insert(format!("lossless_{name}_t{threads}"), r);
        }
        for threads in [1, cores].into_iter().filter(|_| want("lossless-v2")) {
            let r = measure(
                ts,
                CodecParams::Lossless,
                threads,
                repeats,
                StreamLayout::Segments,
                segment_elems,
            );
            eprintln!("lossless-v2 {name} threads={threads}: {r}");
            results.insert(format!("lossless_v2_{name}_t{threads}"), r);
        }
        if want("zstd") {
            let z = zstd_measure(ts, 3, repeats);
            eprintln!("zstd-3 {name}: {z}");
            results.insert(format!("zstd3_{name}_t1"), z);
        }
    }
    for eps in [1e-2, 1e-3, 1e-4, 1e-5] {
        for threads in [1, cores].into_iter().filter(|_| want("padic")) {
            let r = measure(
                &f32s,
                CodecParams::Padic(PadicParams::new(ErrorBound::Abs(eps))),
                threads,
                repeats,
                StreamLayout::Lanes,
                segment_elems,
            );
            eprintln!("padic abs {eps:e} threads={threads}: {r}");
            results.insert(format!("padic_abs{eps:e}_f32_t{threads}"), r);
        }
    }
    let doc = json!({
        "benchmark": "minilm", "model": model.display().to_string(), "repeats": repeats,
        "machine": {"cpu": cpu, "cores": cores}, "saraphis_version": env!("CARGO_PKG_VERSION"),
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
        "results": results,
    });
    if let Some(dir) = Path::new(&out).parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&out, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    println!("wrote {out}");
}
