//! `saraphis bench`: the benchmark suite of the design notes (seed 004) over the library's own
//! calls: the codecs (`codec-decode`, `codec-encode`), tropical algebra (`tropical-matmul`,
//! `tropical-conv`, `tropical-closure`, `tropical-poly`) and p-adic arithmetic (`padic-mul`,
//! `padic-add`, `padic-hensel`), at size presets or an explicit size, on the CPU or a CUDA
//! device. Every result row carries its time (median of the repetitions, milliseconds), its
//! rate, and a correctness check against a naive reference on a sample (`max_abs_diff_vs_reference`
//! for tropical products, exact comparisons elsewhere), so a fast wrong kernel cannot pass
//! unnoticed. Where a fused and an unfused kernel both exist (GPU codec decode) both rows are
//! printed side by side. Output: a table, or JSON (`--json`), and `--export FILE.json`.

use std::ffi::c_void;
use std::time::Instant;

use saraphis::math::padic::{PadicOp, PadicRing};
use saraphis::math::tropical;
use saraphis::math::Semiring;
use saraphis::system::System;
use saraphis::{CodecParams, DType};
use serde_json::{json, Value};

/// What to run (parsed from the command line by the caller).
pub struct BenchArgs {
    /// Operation name (see [`OPERATIONS`]).
    pub operation: String,
    /// `small`, `medium`, `large`, `xlarge` or a number (its unit depends on the operation).
    pub size: String,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Element type of tropical operations: `f32`, `f64`, `i32`.
    pub dtype: String,
    /// `max-plus` or `min-plus`.
    pub semiring: String,
    /// Timed repetitions (after one untimed warm-up).
    pub repeats: usize,
}

/// The operations, their size unit and presets (small, medium, large, xlarge).
pub const OPERATIONS: &[(&str, &str, [u64; 4])] = &[
    (
        "tropical-matmul",
        "N (N x N times N x N)",
        [256, 1000, 2048, 4096],
    ),
    (
        "tropical-conv",
        "N (N x N image, 7 x 7 kernel)",
        [256, 1024, 2048, 4096],
    ),
    ("tropical-closure", "N (N x N matrix)", [64, 256, 512, 1024]),
    (
        "tropical-poly",
        "points (1024 polynomials of 16 terms)",
        [1024, 16384, 65536, 262144],
    ),
    (
        "padic-mul",
        "elements (p = 251, N = 7)",
        [1 << 20, 10_000_000, 50_000_000, 100_000_000],
    ),
    (
        "padic-add",
        "elements (p = 251, N = 7)",
        [1 << 20, 10_000_000, 50_000_000, 100_000_000],
    ),
    (
        "padic-hensel",
        "lifts (roots of x^2 - a mod 251^7)",
        [10_000, 100_000, 1_000_000, 4_000_000],
    ),
    (
        "codec-decode",
        "elements (f32, lossless)",
        [1 << 20, 1 << 24, 1 << 26, 1 << 28],
    ),
    (
        "codec-encode",
        "elements (f32, lossless)",
        [1 << 20, 1 << 24, 1 << 26, 1 << 28],
    ),
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median seconds of `repeats` runs of `f` after one warm-up.
fn time_host(repeats: usize, mut f: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    f()?;
    let mut t = Vec::new();
    for _ in 0..repeats.max(1) {
        let t0 = Instant::now();
        f()?;
        t.push(t0.elapsed().as_secs_f64());
    }
    Ok(median(t))
}

/// splitmix64: deterministic inputs, the same on every machine.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A bench element type of the tropical operations.
trait Elem:
    tropical::Element + Default + cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits
{
    fn gen(r: &mut Rng) -> Self;
    fn as_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}
impl Elem for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn gen(r: &mut Rng) -> Self {
        (r.unit() * 100.0 - 50.0) as f32
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
}
impl Elem for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn gen(r: &mut Rng) -> Self {
        r.unit() * 100.0 - 50.0
    }
    fn as_f64(self) -> f64 {
        self
    }
}
impl Elem for i32 {
    fn from_f64(v: f64) -> Self {
        v as i32
    }
    fn gen(r: &mut Rng) -> Self {
        (r.next() % 200_001) as i32 - 100_000
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
}

/// The largest |difference| between `c` and a naive product on 256 sampled entries (0 when
/// equal, infinities included; a mismatch of infinities counts as infinity).
fn matmul_check<T: Elem>(s: Semiring, a: &[T], b: &[T], c: &[T], n: usize) -> f64 {
    let mut r = Rng(7);
    let mut worst = 0f64;
    for _ in 0..256 {
        let (i, j) = (
            (r.next() % n as u64) as usize,
            (r.next() % n as u64) as usize,
        );
        let mut acc = T::zero(s);
        for l in 0..n {
            acc = T::oplus(s, acc, T::otimes(s, a[i * n + l], b[l * n + j]));
        }
        let (x, y) = (acc.as_f64(), c[i * n + j].as_f64());
        let d = if x == y { 0.0 } else { (x - y).abs() };
        worst = worst.max(if d.is_nan() { f64::INFINITY } else { d });
    }
    worst
}

fn device_ordinal(device: &str) -> Result<Option<usize>, String> {
    if device == "cpu" {
        return Ok(None);
    }
    device
        .strip_prefix("cuda:")
        .and_then(|n| n.parse().ok())
        .map(Some)
        .ok_or_else(|| format!("--device {device}: expected cpu or cuda:N"))
}

fn size_of(op: &str, size: &str) -> Result<u64, String> {
    let presets = OPERATIONS
        .iter()
        .find(|o| o.0 == op)
        .ok_or_else(|| {
            let names: Vec<&str> = OPERATIONS.iter().map(|o| o.0).collect();
            format!("--operation {op}: one of {}", names.join(", "))
        })?
        .2;
    match size {
        "small" => Ok(presets[0]),
        "medium" => Ok(presets[1]),
        "large" => Ok(presets[2]),
        "xlarge" => Ok(presets[3]),
        n => n.parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(|| {
            format!("--size {n}: small, medium, large, xlarge or a positive number")
        }),
    }
}

/// Describe the device found: CPU model and threads, or the CUDA device.
fn device_info(sys: &System, ordinal: Option<usize>) -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let mut v = json!({ "cpu": cpu, "threads": sys.threads(),
        "avx2": cfg!(target_arch = "x86_64") && avx2() });
    if let (Some(o), Some(d)) = (ordinal, sys.cuda_device()) {
        let name = d.context().name().unwrap_or_default();
        v["cuda"] = json!({ "ordinal": o, "name": name,
            "compute_capability": format!("sm_{}{}", d.compute_capability.0, d.compute_capability.1),
            "sms": d.sms });
    }
    v
}

fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Run the benchmark; returns the JSON report (rows under `results`).
pub fn run(args: &BenchArgs, sys: &System) -> Result<Value, String> {
    let ordinal = device_ordinal(&args.device)?;
    if ordinal.is_some() && sys.cuda_device().is_none() {
        let (_, why) = sys.device_status();
        return Err(format!("--device {}: no CUDA device ({why})", args.device));
    }
    let n = size_of(&args.operation, &args.size)?;
    let s = match args.semiring.as_str() {
        "max-plus" => Semiring::MaxPlus,
        "min-plus" => Semiring::MinPlus,
        x => return Err(format!("--semiring {x}: max-plus or min-plus")),
    };
    let reps = args.repeats.max(1);
    let gpu = ordinal.is_some();
    let rows = match args.operation.as_str() {
        "tropical-matmul" => match args.dtype.as_str() {
            "f32" => matmul::<f32>(sys, s, n as usize, reps, gpu)?,
            "f64" => matmul::<f64>(sys, s, n as usize, reps, gpu)?,
            "i32" => matmul::<i32>(sys, s, n as usize, reps, gpu)?,
            d => return Err(format!("--dtype {d}: f32, f64 or i32")),
        },
        "padic-mul" | "padic-add" => {
            let op = if args.operation == "padic-mul" { PadicOp::Mul } else { PadicOp::Add };
            padic(sys, op, n as usize, reps, gpu)?
        }
        "codec-decode" | "codec-encode" => codec(sys, &args.operation, n as usize, reps, gpu)?,
        other if gpu => {
            return Err(format!(
                "{other} has no GPU kernel: run it with --device cpu (GPU: tropical-matmul, padic-mul, padic-add, codec-decode)"
            ))
        }
        "tropical-conv" | "tropical-closure" | "tropical-poly" => {
            let n = n as usize;
            match (args.operation.as_str(), args.dtype.as_str()) {
                ("tropical-conv", "f32") => conv::<f32>(sys, s, n, reps)?,
                ("tropical-conv", "f64") => conv::<f64>(sys, s, n, reps)?,
                ("tropical-conv", "i32") => conv::<i32>(sys, s, n, reps)?,
                ("tropical-closure", "f32") => closure::<f32>(sys, s, n, reps)?,
                ("tropical-closure", "f64") => closure::<f64>(sys, s, n, reps)?,
                ("tropical-closure", "i32") => closure::<i32>(sys, s, n, reps)?,
                (_, "f32") => poly::<f32>(sys, s, n, reps)?,
                (_, "f64") => poly::<f64>(sys, s, n, reps)?,
                (_, "i32") => poly::<i32>(sys, s, n, reps)?,
                (_, d) => return Err(format!("--dtype {d}: f32, f64 or i32")),
            }
        }
        "padic-hensel" => hensel(sys, n as usize, reps)?,
        _ => unreachable!("size_of checked the name"),
    };
    Ok(json!({
        "tool": "saraphis bench",
        "version": env!("CARGO_PKG_VERSION"),
        "unix_time": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        "operation": args.operation,
        "size": n,
        "size_unit": OPERATIONS.iter().find(|o| o.0 == args.operation).map(|o| o.1),
        "dtype": if args.operation.starts_with("tropical") { args.dtype.as_str() } else { "" },
        "semiring": if args.operation.starts_with("tropical") { s.name() } else { "" },
        "device": args.device,
        "device_info": device_info(sys, ordinal),
        "repeats": reps,
        "results": rows,
    }))
}

fn matmul<T: Elem>(
    sys: &System,
    s: Semiring,
    n: usize,
    reps: usize,
    gpu: bool,
) -> Result<Vec<Value>, String> {
    let mut r = Rng(1);
    let a: Vec<T> = (0..n * n).map(|_| T::gen(&mut r)).collect();
    let b: Vec<T> = (0..n * n).map(|_| T::gen(&mut r)).collect();
    let mut c = vec![T::default(); n * n];
    let ops = 2.0 * (n as f64).powi(3);
    let mut rows = Vec::new();
    if !gpu {
        let t = time_host(reps, || {
            sys.run_on_pool(|| tropical::matmul(s, &a, &b, &mut c, n, n, n, None))
                .map_err(|e| e.to_string())
        })?;
        let diff = matmul_check(s, &a, &b, &c, n);
        rows.push(
            json!({"variant": "cpu blocked", "ms": t * 1e3, "gops": ops / t / 1e9,
            "max_abs_diff_vs_reference": diff}),
        );
        let mut g = vec![0u32; n * n];
        let t = time_host(reps, || {
            sys.run_on_pool(|| tropical::matmul(s, &a, &b, &mut c, n, n, n, Some(&mut g)))
                .map_err(|e| e.to_string())
        })?;
        rows.push(
            json!({"variant": "cpu blocked, with argbest", "ms": t * 1e3, "gops": ops / t / 1e9,
            "max_abs_diff_vs_reference": matmul_check(s, &a, &b, &c, n)}),
        );
        return Ok(rows);
    }
    let dev = sys.cuda_device().unwrap().clone();
    let ctx = dev.context().clone();
    let stream = ctx.new_stream().map_err(|e| e.to_string())?;
    let da = stream.clone_htod(&a).map_err(|e| e.to_string())?;
    let db = stream.clone_htod(&b).map_err(|e| e.to_string())?;
    let mut dc = stream.alloc_zeros::<T>(n * n).map_err(|e| e.to_string())?;
    let mut dg = stream
        .alloc_zeros::<u32>(n * n)
        .map_err(|e| e.to_string())?;
    for arg in [false, true] {
        let t = time_device(&ctx, &stream, reps, |cs| {
            use cudarc::driver::{DevicePtr, DevicePtrMut};
            let (pa, _ga) = da.device_ptr(&stream);
            let (pb, _gb) = db.device_ptr(&stream);
            let (pc, _gc) = dc.device_ptr_mut(&stream);
            let (pg, _gg) = dg.device_ptr_mut(&stream);
            let ptr = |p: u64| saraphis::backend::DevicePtr(p);
            // SAFETY: live allocations of the stated sizes, alive past the synchronize.
            unsafe {
                sys.tropical_matmul_device(
                    s,
                    T::DTYPE,
                    [ptr(pa), ptr(pb), ptr(pc)],
                    ptr(if arg { pg } else { 0 }),
                    (n as u64, n as u64, n as u64),
                    saraphis::backend::DevicePtr::NULL,
                    cs,
                )
            }
            .map_err(|e| e.to_string())
        })?;
        let c = stream.clone_dtoh(&dc).map_err(|e| e.to_string())?;
        stream.synchronize().map_err(|e| e.to_string())?;
        rows.push(
            json!({"variant": if arg { "gpu tiled, with argbest" } else { "gpu tiled" },
            "ms": t * 1e3, "gops": ops / t / 1e9, "tops": ops / t / 1e12,
            "max_abs_diff_vs_reference": matmul_check(s, &a, &b, &c, n)}),
        );
    }
    Ok(rows)
}

/// Median seconds of `reps` launches of `work` on `stream`, timed with CUDA events, after one
/// warm-up.
fn time_device(
    ctx: &std::sync::Arc<cudarc::driver::CudaContext>,
    stream: &std::sync::Arc<cudarc::driver::CudaStream>,
    reps: usize,
    mut work: impl FnMut(*mut c_void) -> Result<(), String>,
) -> Result<f64, String> {
    let cs = stream.cu_stream() as *mut c_void;
    let ev = || {
        ctx.new_event(Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT))
            .map_err(|e| e.to_string())
    };
    work(cs)?;
    let mut t = Vec::new();
    for _ in 0..reps {
        let (a, b) = (ev()?, ev()?);
        a.record(stream).map_err(|e| e.to_string())?;
        work(cs)?;
        b.record(stream).map_err(|e| e.to_string())?;
        b.synchronize().map_err(|e| e.to_string())?;
        t.push(a.elapsed_ms(&b).map_err(|e| e.to_string())? as f64 / 1e3);
    }
    Ok(median(t))
}

fn padic(
    sys: &System,
    op: PadicOp,
    n: usize,
    reps: usize,
    gpu: bool,
) -> Result<Vec<Value>, String> {
    let ring = PadicRing::new(251, 7).map_err(|e| e.to_string())?;
    let m = ring.modulus();
    let mut r = Rng(3);
    let a: Vec<u64> = (0..n).map(|_| r.next() % m).collect();
    let b: Vec<u64> = (0..n).map(|_| r.next() % m).collect();
    let want = |i: usize| -> u64 {
        match op {
            PadicOp::Mul => (a[i] as u128 * b[i] as u128 % m as u128) as u64,
            _ => (a[i] + b[i]) % m,
        }
    };
    let bytes = 24.0 * n as f64;
    let check = |out: &[u64]| -> Result<(), String> {
        let mut r = Rng(5);
        for _ in 0..4096.min(n) {
            let i = (r.next() % n as u64) as usize;
            if out[i] != want(i) {
                return Err(format!(
                    "{} result {i} is {}, expected {}",
                    op.name(),
                    out[i],
                    want(i)
                ));
            }
        }
        Ok(())
    };
    let mut out = vec![0u64; n];
    if !gpu {
        let t = time_host(reps, || {
            sys.run_on_pool(|| ring.batch(op, &a, Some(&b), &mut out))
                .map_err(|e| e.to_string())
        })?;
        check(&out)?;
        return Ok(vec![
            json!({"variant": "cpu", "ms": t * 1e3, "melem_per_s": n as f64 / t / 1e6,
            "gb_per_s": bytes / t / 1e9, "checked": "4096 sampled results against u128 arithmetic"}),
        ]);
    }
    let dev = sys.cuda_device().unwrap().clone();
    let ctx = dev.context().clone();
    let stream = ctx.new_stream().map_err(|e| e.to_string())?;
    let da = stream.clone_htod(&a).map_err(|e| e.to_string())?;
    let db = stream.clone_htod(&b).map_err(|e| e.to_string())?;
    let mut dout = stream.alloc_zeros::<u64>(n).map_err(|e| e.to_string())?;
    let t = time_device(&ctx, &stream, reps, |cs| {
        use cudarc::driver::{DevicePtr, DevicePtrMut};
        let (pa, _ga) = da.device_ptr(&stream);
        let (pb, _gb) = db.device_ptr(&stream);
        let (po, _go) = dout.device_ptr_mut(&stream);
        let ptr = |p: u64| saraphis::backend::DevicePtr(p);
        // SAFETY: live allocations of n u64 each, alive past the synchronize.
        unsafe {
            sys.padic_batch_device(
                &ring,
                op,
                [ptr(pa), ptr(pb), ptr(po)],
                n as u64,
                saraphis::backend::DevicePtr::NULL,
                cs,
            )
        }
        .map_err(|e| e.to_string())
    })?;
    let host = stream.clone_dtoh(&dout).map_err(|e| e.to_string())?;
    stream.synchronize().map_err(|e| e.to_string())?;
    check(&host)?;
    Ok(vec![
        json!({"variant": "gpu", "ms": t * 1e3, "melem_per_s": n as f64 / t / 1e6,
        "gb_per_s": bytes / t / 1e9, "checked": "4096 sampled results against u128 arithmetic"}),
    ])
}

fn hensel(sys: &System, n: usize, reps: usize) -> Result<Vec<Value>, String> {
    let ring = PadicRing::new(251, 7).map_err(|e| e.to_string())?;
    let (p, m) = (251u64, ring.modulus());
    let mut r = Rng(9);
    // x^2 - a with a = r0^2 + p t: r0 (a unit, p odd) is a simple root mod p.
    let cases: Vec<(u64, u64)> = (0..n)
        .map(|_| {
            let r0 = 1 + r.next() % (p - 1);
            let a = (r0 * r0 + p * (r.next() % (m / p))) % m;
            (r0, a)
        })
        .collect();
    let mut roots = vec![0u64; n];
    let t = time_host(reps, || {
        use rayon::prelude::*;
        sys.run_on_pool(|| {
            roots
                .par_iter_mut()
                .zip(&cases)
                .try_for_each(|(o, &(r0, a))| {
                    *o = ring.hensel_root(&[ring.neg(a), 0, 1], r0)?;
                    Ok::<(), saraphis::Error>(())
                })
        })
        .map_err(|e| e.to_string())
    })?;
    for (k, (&x, &(_, a))) in roots.iter().zip(&cases).enumerate() {
        if ring.mul(x, x) != a {
            return Err(format!("hensel lift {k}: {x}^2 != {a} mod 251^7"));
        }
    }
    Ok(vec![
        json!({"variant": "cpu", "ms": t * 1e3, "lifts_per_s": n as f64 / t,
        "checked": "every root by substitution"}),
    ])
}

fn conv<T: Elem>(sys: &System, s: Semiring, n: usize, reps: usize) -> Result<Vec<Value>, String> {
    let k = 7.min(n);
    let mut r = Rng(11);
    let x: Vec<T> = (0..n * n).map(|_| T::gen(&mut r)).collect();
    let w: Vec<T> = (0..k * k).map(|_| T::gen(&mut r)).collect();
    let o = n - k + 1;
    let mut out = vec![T::default(); o * o];
    let t = time_host(reps, || {
        sys.run_on_pool(|| tropical::conv2d(s, &x, (n, n), &w, (k, k), &mut out))
            .map_err(|e| e.to_string())
    })?;
    // Check a sample against the definition.
    let mut r = Rng(12);
    let mut worst = 0f64;
    for _ in 0..256 {
        let (i, j) = (
            (r.next() % o as u64) as usize,
            (r.next() % o as u64) as usize,
        );
        let mut acc = T::zero(s);
        for u in 0..k {
            for v in 0..k {
                acc = T::oplus(s, acc, T::otimes(s, x[(i + u) * n + j + v], w[u * k + v]));
            }
        }
        let (a, b) = (acc.as_f64(), out[i * o + j].as_f64());
        worst = worst.max(if a == b { 0.0 } else { (a - b).abs() });
    }
    let ops = 2.0 * (o * o * k * k) as f64;
    Ok(vec![
        json!({"variant": "cpu", "ms": t * 1e3, "gops": ops / t / 1e9,
        "max_abs_diff_vs_reference": worst}),
    ])
}

fn closure<T: Elem>(
    sys: &System,
    s: Semiring,
    n: usize,
    reps: usize,
) -> Result<Vec<Value>, String> {
    // A random sparse graph with weights of the sign that keeps the closure finite.
    let mut r = Rng(13);
    let sign = if s == Semiring::MaxPlus { -1.0 } else { 1.0 };
    let a: Vec<T> = (0..n * n)
        .map(|_| {
            if r.next() % 4 == 0 {
                T::from_f64(sign * (1.0 + (r.next() % 100) as f64))
            } else {
                T::zero(s)
            }
        })
        .collect();
    let mut out = vec![T::default(); n * n];
    let t = time_host(reps, || {
        sys.run_on_pool(|| tropical::closure(s, &a, n, &mut out))
            .map_err(|e| e.to_string())
    })?;
    // Check: A* ⊗ (I ⊕ A) = A* (the closure is a fixed point) on sampled entries.
    let mut r = Rng(14);
    for _ in 0..64 {
        let (i, j) = (
            (r.next() % n as u64) as usize,
            (r.next() % n as u64) as usize,
        );
        let mut acc = T::zero(s);
        for l in 0..n {
            let e = if l == j {
                T::oplus(s, a[l * n + j], T::one())
            } else {
                a[l * n + j]
            };
            acc = T::oplus(s, acc, T::otimes(s, out[i * n + l], e));
        }
        if acc != out[i * n + j] {
            return Err(format!("closure entry ({i}, {j}) is not a fixed point"));
        }
    }
    let squarings = (usize::BITS - n.saturating_sub(1).max(1).leading_zeros()) as f64 + 1.0;
    Ok(vec![json!({"variant": "cpu", "ms": t * 1e3,
        "gops": 2.0 * (n as f64).powi(3) * squarings / t / 1e9,
        "checked": "64 sampled entries of A* (I + A) = A*"})])
}

fn poly<T: Elem>(
    sys: &System,
    s: Semiring,
    points: usize,
    reps: usize,
) -> Result<Vec<Value>, String> {
    let (polys, terms) = (1024, 16);
    let mut r = Rng(15);
    let c: Vec<T> = (0..polys * terms).map(|_| T::gen(&mut r)).collect();
    let x: Vec<T> = (0..points)
        .map(|_| T::from_f64(T::gen(&mut r).as_f64() / 10.0))
        .collect();
    let mut out = vec![T::default(); polys * points];
    let t = time_host(reps, || {
        sys.run_on_pool(|| tropical::poly_eval(s, &c, terms, &x, &mut out))
            .map_err(|e| e.to_string())
    })?;
    let evals = (polys * points) as f64;
    Ok(vec![
        json!({"variant": "cpu", "ms": t * 1e3, "gops": 2.0 * evals * terms as f64 / t / 1e9,
        "evaluations_per_s": evals / t}),
    ])
}

fn codec(sys: &System, op: &str, n: usize, reps: usize, gpu: bool) -> Result<Vec<Value>, String> {
    // Weight-like data: a smooth signal plus Gaussian-ish noise, as f32.
    let mut r = Rng(17);
    let data: Vec<u8> = (0..n)
        .flat_map(|i| {
            let g = (0..4).map(|_| r.unit()).sum::<f64>() - 2.0;
            ((g * 0.02 + (i as f64 * 1e-4).sin() * 0.01) as f32).to_le_bytes()
        })
        .collect();
    let shape = [n as u64];
    let c = sys
        .compress(
            &data,
            DType::F32,
            &shape,
            &sys.options(CodecParams::Lossless),
        )
        .map_err(|e| e.to_string())?;
    let ratio = data.len() as f64 / c.bytes.len() as f64;
    let mb = data.len() as f64 / 1e6;
    let mut rows = Vec::new();
    if op == "codec-encode" {
        if gpu {
            return Err(
                "codec-encode on the GPU: use benches/gpu.rs (it needs the device layouts)".into(),
            );
        }
        let t = time_host(reps, || {
            sys.compress(
                &data,
                DType::F32,
                &shape,
                &sys.options(CodecParams::Lossless),
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        })?;
        rows.push(json!({"variant": "cpu", "ms": t * 1e3, "mb_per_s": mb / t, "ratio": ratio}));
        return Ok(rows);
    }
    let mut back = vec![0u8; data.len()];
    if !gpu {
        let t = time_host(reps, || {
            sys.decompress_into(&c.bytes, DType::F32, &mut back)
                .map_err(|e| e.to_string())
        })?;
        if back != data {
            return Err("codec-decode: the output differs from the input".into());
        }
        rows.push(
            json!({"variant": "cpu", "ms": t * 1e3, "mb_per_s": mb / t, "ratio": ratio,
            "checked": "bit-exact"}),
        );
        return Ok(rows);
    }
    let dev = sys.cuda_device().unwrap().clone();
    let ctx = dev.context().clone();
    let stream = ctx.new_stream().map_err(|e| e.to_string())?;
    let src = stream.clone_htod(&c.bytes).map_err(|e| e.to_string())?;
    let mut dst = stream
        .alloc_zeros::<u8>(data.len())
        .map_err(|e| e.to_string())?;
    let temp = saraphis::backend::cuda::CudaDevice::unfused_temp_bytes(DType::F32, n as u64);
    let mut planes = stream
        .alloc_zeros::<u8>(temp.max(1) as usize)
        .map_err(|e| e.to_string())?;
    for fused in [true, false] {
        let t = time_device(&ctx, &stream, reps, |cs| {
            use cudarc::driver::{DevicePtr, DevicePtrMut};
            let (sp, _g1) = src.device_ptr(&stream);
            let (dp, _g2) = dst.device_ptr_mut(&stream);
            let (pp, _g3) = planes.device_ptr_mut(&stream);
            let (sl, dl) = (c.bytes.len() as u64, data.len() as u64);
            // SAFETY: live allocations of the stated sizes, alive past the synchronize.
            unsafe {
                if fused {
                    dev.decode_exact_async(sp, sl, DType::F32, dp, dl, 0, 0, cs, None, true)
                } else {
                    dev.decode_exact_unfused_async(
                        sp,
                        sl,
                        DType::F32,
                        dp,
                        dl,
                        0,
                        0,
                        cs,
                        None,
                        true,
                        pp,
                    )
                }
            }
            .map_err(|e| e.to_string())
        })?;
        let host = stream.clone_dtoh(&dst).map_err(|e| e.to_string())?;
        stream.synchronize().map_err(|e| e.to_string())?;
        if host != data {
            return Err(format!(
                "codec-decode ({}) differs from the input",
                if fused { "fused" } else { "unfused" }
            ));
        }
        rows.push(json!({"variant": if fused { "gpu fused (one kernel)" } else { "gpu unfused (planes, then assemble)" },
            "ms": t * 1e3, "gb_per_s": data.len() as f64 / t / 1e9, "ratio": ratio, "checked": "bit-exact"}));
    }
    Ok(rows)
}

/// The table printed without `--json`.
pub fn table(report: &Value) -> String {
    let mut s = format!(
        "saraphis bench: {} (size {} = {}) on {}\n",
        report["operation"].as_str().unwrap_or(""),
        report["size"],
        report["size_unit"].as_str().unwrap_or(""),
        report["device"].as_str().unwrap_or("")
    );
    let d = &report["device_info"];
    s += &format!(
        "device found: {} ({} threads{})",
        d["cpu"].as_str().unwrap_or("?"),
        d["threads"],
        if d["avx2"].as_bool() == Some(true) {
            ", AVX2"
        } else {
            ""
        }
    );
    if let Some(c) = d.get("cuda") {
        s += &format!(
            "; cuda:{} {} ({}, {} SMs)",
            c["ordinal"],
            c["name"].as_str().unwrap_or("?"),
            c["compute_capability"].as_str().unwrap_or("?"),
            c["sms"]
        );
    }
    s += "\n";
    for row in report["results"].as_array().into_iter().flatten() {
        let mut line = format!("  {:<40}", row["variant"].as_str().unwrap_or(""));
        if let Some(o) = row.as_object() {
            for (k, v) in o {
                if k == "variant" {
                    continue;
                }
                match v.as_f64() {
                    Some(x) => line += &format!(" {k}={x:.4}"),
                    None => line += &format!(" {k}={v}"),
                }
            }
        }
        s += &line;
        s += "\n";
    }
    s
}
