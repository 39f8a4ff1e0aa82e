//! GPU math benchmark (run on the GPU host): tropical matrix multiplication (`kernels/tropical.cu`)
//! and batch p-adic multiplication (`kernels/padic_math.cu`).
//! `gpu_math [--out FILE.json] [--size N] [--repeats N]`; the output path may also come from
//! `SARAPHIS_BENCH_OUT` (default `bench-out/gpu_math.json`).
//!
//! Rows: `tropical_matmul_{max,min}_plus_{f32,i32}_N` (N² × N, default 4096: TOPS = 2·m·n·k / s,
//! one ⊗ and one ⊕ per term), `tropical_matmul_max_plus_f32_N_argbest`, the same for f64 at
//! N = 2048, and `padic_mul_p251_n7_10M` (10^7 residues, ms and GB/s read + written, against a
//! device-to-device copy of the same bytes). Timing: CUDA events around each launch on one
//! stream, 3 warm-ups, median of the repeats. Each output is checked once: matmul entries on a
//! sample of 64 rows against a naive reference (`max_abs_diff_vs_reference`, 0 when bit-exact),
//! p-adic products against `u128 %` on every element.
use std::ffi::c_void;

use cudarc::driver::{DevicePtr, DeviceRepr, ValidAsZeroBits};
use saraphis::backend::cuda::CudaDevice;
use saraphis::math::padic::PadicRing;
use saraphis::math::Semiring;
use saraphis::DType;
use serde_json::json;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// splitmix64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A bench element: random values and the naive reference term.
trait El: DeviceRepr + ValidAsZeroBits + Copy + Clone + Default + PartialOrd {
    const DT: DType;
    fn gen(r: &mut Rng) -> Self;
    fn zero(s: Semiring) -> Self;
    fn term(a: Self, b: Self) -> Self;
    fn f(self) -> f64;
}
impl El for f32 {
    const DT: DType = DType::F32;
    fn gen(r: &mut Rng) -> Self {
        (r.next() >> 40) as f32 / (1u64 << 24) as f32 * 100.0 - 50.0
    }
    fn zero(s: Semiring) -> Self {
        if s == Semiring::MaxPlus {
            f32::NEG_INFINITY
        } else {
            f32::INFINITY
        }
    }
    fn term(a: Self, b: Self) -> Self {
        a + b
    }
    fn f(self) -> f64 {
        self as f64
    }
}
impl El for f64 {
    const DT: DType = DType::F64;
    fn gen(r: &mut Rng) -> Self {
        (r.next() >> 11) as f64 / (1u64 << 53) as f64 * 100.0 - 50.0
    }
    fn zero(s: Semiring) -> Self {
        if s == Semiring::MaxPlus {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }
    }
    fn term(a: Self, b: Self) -> Self {
        a + b
    }
    fn f(self) -> f64 {
        self
    }
}
impl El for i32 {
    const DT: DType = DType::I32;
    fn gen(r: &mut Rng) -> Self {
        ((r.next() >> 40) as i64 - (1 << 23)) as i32
    }
    fn zero(s: Semiring) -> Self {
        if s == Semiring::MaxPlus {
            i32::MIN
        } else {
            i32::MAX
        }
    }
    fn term(a: Self, b: Self) -> Self {
        a + b
    }
    fn f(self) -> f64 {
        self as f64
    }
}

struct Bench {
    dev: std::sync::Arc<CudaDevice>,
    stream: std::sync::Arc<cudarc::driver::CudaStream>,
    repeats: usize,
}

impl Bench {
    /// Median seconds of `work` (one enqueue) on the stream, after 3 warm-ups.
    fn timed(&self, work: &mut dyn FnMut()) -> f64 {
        let ctx = self.dev.context();
        let ev = || {
            ctx.new_event(Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT))
                .unwrap()
        };
        let mut times = Vec::new();
        for r in 0..self.repeats + 3 {
            let (s, e) = (ev(), ev());
            s.record(&self.stream).unwrap();
            work();
            e.record(&self.stream).unwrap();
            e.synchronize().unwrap();
            if r >= 3 {
                times.push(s.elapsed_ms(&e).unwrap() as f64 / 1e3);
            }
        }
        median(times)
    }

    fn ptr<T: DeviceRepr>(&self, s: &cudarc::driver::CudaSlice<T>) -> u64 {
        let (p, _g) = s.device_ptr(&self.stream);
        p
    }

    fn matmul<T: El>(&self, s: Semiring, n: usize, argbest: bool) -> serde_json::Value {
        let mut r = Rng(n as u64 ^ T::DT as u64);
        let a: Vec<T> = (0..n * n).map(|_| T::gen(&mut r)).collect();
        let b: Vec<T> = (0..n * n).map(|_| T::gen(&mut r)).collect();
        let da = self.stream.clone_htod(&a).unwrap();
        let db = self.stream.clone_htod(&b).unwrap();
        let dc = self.stream.alloc_zeros::<T>(n * n).unwrap();
        let darg = self.stream.alloc_zeros::<u32>(n * n).unwrap();
        let dst = self.stream.alloc_zeros::<i32>(1).unwrap();
        let (pa, pb, pc, parg, pst) = (
            self.ptr(&da),
            self.ptr(&db),
            self.ptr(&dc),
            self.ptr(&darg),
            self.ptr(&dst),
        );
        let cs = self.stream.cu_stream() as *mut c_void;
        let nn = n as u64;
        let t = self.timed(&mut || {
            // SAFETY: live allocations of n² elements on this stream.
            unsafe {
                self.dev
                    .tropical_matmul_async(
                        s,
                        T::DT,
                        pa,
                        pb,
                        pc,
                        if argbest { parg } else { 0 },
                        nn,
                        nn,
                        nn,
                        pst,
                        cs,
                    )
                    .unwrap()
            }
        });
        let c = self.stream.clone_dtoh(&dc).unwrap();
        let arg = self.stream.clone_dtoh(&darg).unwrap();
        assert_eq!(self.stream.clone_dtoh(&dst).unwrap()[0], 0, "status");
        // Naive reference on 64 sampled rows.
        let mut worst = 0f64;
        let mut arg_ok = true;
        for q in 0..64 {
            let i = (q * 997 + 13) % n;
            for j in 0..n {
                let (mut best, mut at) = (T::zero(s), u32::MAX);
                for l in 0..n {
                    let v = T::term(a[i * n + l], b[l * n + j]);
                    let better = if s == Semiring::MaxPlus {
                        v > best
                    } else {
                        v < best
                    };
                    if better {
                        best = v;
                        at = l as u32;
                    }
                }
                worst = worst.max((c[i * n + j].f() - best.f()).abs());
                arg_ok &= !argbest || arg[i * n + j] == at;
            }
        }
        let ops = 2.0 * (n as f64).powi(3);
        json!({
            "m": n, "k": n, "n": n, "dtype": format!("{:?}", T::DT), "semiring": s.name(),
            "argbest": argbest, "ms": t * 1e3, "tops": ops / t / 1e12, "gops": ops / t / 1e9,
            "max_abs_diff_vs_reference": worst, "argbest_matches_reference": arg_ok,
        })
    }

    fn padic_mul(&self, len: usize) -> serde_json::Value {
        let ring = PadicRing::new(251, 7).unwrap();
        let m = ring.modulus();
        let mut r = Rng(7);
        let a: Vec<u64> = (0..len).map(|_| r.next() % m).collect();
        let b: Vec<u64> = (0..len).map(|_| r.next() % m).collect();
        let da = self.stream.clone_htod(&a).unwrap();
        let db = self.stream.clone_htod(&b).unwrap();
        let dout = self.stream.alloc_zeros::<u64>(len).unwrap();
        let dst = self.stream.alloc_zeros::<i32>(1).unwrap();
        let (pa, pb, pout, pst) = (
            self.ptr(&da),
            self.ptr(&db),
            self.ptr(&dout),
            self.ptr(&dst),
        );
        let (bits, mu) = ring.barrett();
        let cs = self.stream.cu_stream() as *mut c_void;
        let t = self.timed(&mut || {
            // SAFETY: live allocations of `len` u64 on this stream.
            unsafe {
                self.dev
                    .padic_batch_async(2, m, 251, 7, bits, mu, pa, pb, pout, len as u64, pst, cs)
                    .unwrap()
            }
        });
        let out = self.stream.clone_dtoh(&dout).unwrap();
        let exact = (0..len).all(|i| out[i] as u128 == a[i] as u128 * b[i] as u128 % m as u128);
        assert!(exact, "p-adic products differ from u128 %");
        assert_eq!(self.stream.clone_dtoh(&dst).unwrap()[0], 0, "status");
        // Ceiling: copy of the same bytes (2 reads + 1 write of 8 bytes each).
        let dsrc = self.stream.alloc_zeros::<u64>(len * 3 / 2).unwrap();
        let mut ddst = self.stream.alloc_zeros::<u64>(len * 3 / 2).unwrap();
        let tc = self.timed(&mut || self.stream.memcpy_dtod(&dsrc, &mut ddst).unwrap());
        let bytes = 24.0 * len as f64;
        json!({
            "elements": len, "prime": 251, "precision": 7, "modulus": m, "ms": t * 1e3,
            "gb_s_read_plus_written": bytes / t / 1e9, "exact_vs_u128": exact,
            "copy_same_bytes_ms": tc * 1e3, "copy_gb_s_read_plus_written": bytes / tc / 1e9,
        })
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let get = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let out = get("--out")
        .or_else(|| std::env::var("SARAPHIS_BENCH_OUT").ok())
        .unwrap_or_else(|| "bench-out/gpu_math.json".into());
    let size: usize = get("--size").and_then(|v| v.parse().ok()).unwrap_or(4096);
    let repeats: usize = get("--repeats").and_then(|v| v.parse().ok()).unwrap_or(10);
    let dev = CudaDevice::open(0).expect("cuda:0");
    let stream = dev.context().new_stream().unwrap();
    let bench = Bench {
        dev: dev.clone(),
        stream,
        repeats,
    };
    let mut results = serde_json::Map::new();
    let mut row = |name: String, v: serde_json::Value| {
        eprintln!("{name}: {v}");
        results.insert(name, v);
    };
    for s in [Semiring::MaxPlus, Semiring::MinPlus] {
        let sn = s.name().replace('-', "_");
        row(
            format!("tropical_matmul_{sn}_f32_{size}"),
            bench.matmul::<f32>(s, size, false),
        );
        row(
            format!("tropical_matmul_{sn}_i32_{size}"),
            bench.matmul::<i32>(s, size, false),
        );
    }
    row(
        format!("tropical_matmul_max_plus_f32_{size}_argbest"),
        bench.matmul::<f32>(Semiring::MaxPlus, size, true),
    );
    row(
        format!("tropical_matmul_max_plus_i32_{size}_argbest"),
        bench.matmul::<i32>(Semiring::MaxPlus, size, true),
    );
    row(
        format!("tropical_matmul_max_plus_f64_{}", size / 2),
        bench.matmul::<f64>(Semiring::MaxPlus, size / 2, false),
    );
    row("padic_mul_p251_n7_10M".into(), bench.padic_mul(10_000_000));
    let doc = json!({
        "benchmark": "gpu_math", "device": format!("{dev:?}"), "sms": dev.sms,
        "repeats": repeats, "results": results,
    });
    if let Some(dir) = std::path::Path::new(&out).parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&out, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    eprintln!("wrote {out}");
}
