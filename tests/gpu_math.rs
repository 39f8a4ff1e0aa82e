//! GPU tests of the math kernels (`kernels/tropical.cu`, `kernels/padic_math.cu`, launched by
//! `saraphis::backend::cuda::CudaDevice::{tropical_matmul_async, tropical_elementwise_async,
//! padic_batch_async}`): results against a naive reference written here and against the CPU
//! library (`saraphis::math`), bit for bit (a float zero may differ in sign). Random and
//! adversarial inputs: ±inf, NaN, many equal entries (ties for argbest), 1×N and N×1 shapes,
//! k = 0, odd sizes, unaligned pointers (the scalar load path), the i32 range status, and
//! p-adic operations against `u128 %` for p = 2, 3, 251, 65521.
//!
//! Run on a machine with a CUDA GPU and a build with kernels (`--ignored`); everywhere else they
//! are reported as ignored, with the reason, rather than passing silently.

use std::ffi::c_void;
use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DeviceRepr, ValidAsZeroBits};
use saraphis::backend::cuda::CudaDevice;
use saraphis::math::padic::{PadicOp, PadicRing};
use saraphis::math::tropical::{self, ElementOp};
use saraphis::math::Semiring;
use saraphis::{DType, Error};

const SEMIRINGS: [Semiring; 2] = [Semiring::MaxPlus, Semiring::MinPlus];

/// splitmix64: a small deterministic generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
}

struct Gpu {
    dev: Arc<CudaDevice>,
    stream: Arc<CudaStream>,
}

fn gpu() -> Gpu {
    let dev = CudaDevice::open(0).expect("cuda:0 available");
    eprintln!("device: {dev:?}, {} SMs", dev.sms);
    let stream = dev.context().new_stream().unwrap();
    Gpu { dev, stream }
}

impl Gpu {
    fn cs(&self) -> *mut c_void {
        self.stream.cu_stream() as *mut c_void
    }
    /// Upload `v` one element past a 16-byte aligned start when `misalign` (scalar load path).
    fn up<T: DeviceRepr + Default + Clone>(&self, v: &[T], misalign: bool) -> (CudaSlice<T>, u64) {
        let mut h = Vec::with_capacity(v.len() + 1);
        if misalign {
            h.push(T::default());
        }
        h.extend_from_slice(v);
        if h.is_empty() {
            h.push(T::default());
        }
        let s = self.stream.clone_htod(&h).unwrap();
        let p = {
            let (p, _g) = s.device_ptr(&self.stream);
            p
        };
        let off = if misalign {
            std::mem::size_of::<T>() as u64
        } else {
            0
        };
        (s, p + off)
    }
    fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, n: usize) -> (CudaSlice<T>, u64) {
        let s = self.stream.alloc_zeros::<T>(n.max(1)).unwrap();
        let p = {
            let (p, _g) = s.device_ptr(&self.stream);
            p
        };
        (s, p)
    }
    fn down<T: DeviceRepr + Clone + Default>(
        &self,
        s: &CudaSlice<T>,
        skip: usize,
        n: usize,
    ) -> Vec<T> {
        let v = self.stream.clone_dtoh(s).unwrap();
        v[skip..skip + n].to_vec()
    }
}

/// The element types, with the naive reference semantics (the rules, written out).
trait El: tropical::Element + DeviceRepr + ValidAsZeroBits + Default {
    fn z(s: Semiring) -> Self;
    /// The term `a ⊗ b`, or `None` when it counts as the zero (a NaN; for i32 a zero operand).
    fn term(s: Semiring, a: Self, b: Self) -> Option<Self>;
    /// Equal up to the sign of a zero.
    fn same(a: Self, b: Self) -> bool;
    /// A random entry: `kind` 0 continuous, 1 small integers (ties), 2 with specials.
    fn gen(r: &mut Rng, s: Semiring, kind: u32) -> Self;
}

fn better<T: El>(s: Semiring, x: T, acc: T) -> bool {
    match s {
        Semiring::MaxPlus => x > acc,
        Semiring::MinPlus => x < acc,
    }
}

macro_rules! float_el {
    ($t:ty) => {
        impl El for $t {
            fn z(s: Semiring) -> Self {
                match s {
                    Semiring::MaxPlus => <$t>::NEG_INFINITY,
                    Semiring::MinPlus => <$t>::INFINITY,
                }
            }
            fn term(_: Semiring, a: Self, b: Self) -> Option<Self> {
                let r = a + b;
                (!r.is_nan()).then_some(r)
            }
            fn same(a: Self, b: Self) -> bool {
                a == b
            }
            fn gen(r: &mut Rng, _: Semiring, kind: u32) -> Self {
                match kind {
                    0 => (r.next() >> 11) as $t / (1u64 << 53) as $t * 200.0 - 100.0,
                    1 => r.below(5) as $t - 2.0,
                    _ => match r.below(16) {
                        0 => <$t>::NEG_INFINITY,
                        1 => <$t>::INFINITY,
                        2 => <$t>::NAN,
                        3 => -0.0,
                        4 => 0.0,
                        5 => <$t>::MAX,
                        6 => -<$t>::MAX,
                        7 => <$t>::MIN_POSITIVE / 2.0,
                        _ => r.below(7) as $t - 3.0,
                    },
                }
            }
        }
    };
}
float_el!(f32);
float_el!(f64);

impl El for i32 {
    fn z(s: Semiring) -> Self {
        match s {
            Semiring::MaxPlus => i32::MIN,
            Semiring::MinPlus => i32::MAX,
        }
    }
    fn term(s: Semiring, a: Self, b: Self) -> Option<Self> {
        (a != Self::z(s) && b != Self::z(s)).then(|| a + b)
    }
    fn same(a: Self, b: Self) -> bool {
        a == b
    }
    fn gen(r: &mut Rng, s: Semiring, kind: u32) -> Self {
        const L: i64 = 1 << 28;
        match kind {
            0 => (r.below(2 * L as u64 + 1) as i64 - L) as i32,
            1 => r.below(5) as i32 - 2,
            _ => match r.below(12) {
                0 | 1 => Self::z(s),
                2 => L as i32,
                3 => -L as i32,
                4 => 0,
                _ => r.below(7) as i32 - 3,
            },
        }
    }
}

/// Naive reference of row `i` of `C` and its argbest.
fn ref_row<T: El>(
    s: Semiring,
    a: &[T],
    b: &[T],
    k: usize,
    n: usize,
    i: usize,
) -> (Vec<T>, Vec<u32>) {
    let mut c = vec![T::z(s); n];
    let mut arg = vec![u32::MAX; n];
    for j in 0..n {
        for l in 0..k {
            if let Some(t) = T::term(s, a[i * k + l], b[l * n + j]) {
                if better(s, t, c[j]) {
                    c[j] = t;
                    arg[j] = l as u32;
                }
            }
        }
    }
    (c, arg)
}

/// GPU matmul of `a` (`m × k`) and `b` (`k × n`): `C`, argbest (when `with_arg`), status.
#[allow(clippy::too_many_arguments)]
fn gpu_matmul<T: El>(
    g: &Gpu,
    s: Semiring,
    a: &[T],
    b: &[T],
    m: usize,
    k: usize,
    n: usize,
    with_arg: bool,
    misalign: bool,
) -> (Vec<T>, Option<Vec<u32>>, i32) {
    let (_da, pa) = g.up(a, misalign);
    let (_db, pb) = g.up(b, misalign);
    let skip = misalign as usize;
    let (dc, pc) = g.up(&vec![T::default(); m * n], misalign);
    let (darg, parg) = g.up(&vec![0x5A5A_5A5Au32; m * n], misalign);
    let (dst, pst) = g.zeros::<i32>(1);
    // SAFETY: live allocations of the stated sizes on `g.stream`, synchronised below.
    unsafe {
        g.dev
            .tropical_matmul_async(
                s,
                T::DTYPE,
                pa,
                pb,
                pc,
                if with_arg { parg } else { 0 },
                m as u64,
                k as u64,
                n as u64,
                pst,
                g.cs(),
            )
            .unwrap();
    }
    g.stream.synchronize().unwrap();
    let c = g.down(&dc, skip, m * n);
    let arg = with_arg.then(|| g.down(&darg, skip, m * n));
    (c, arg, g.down(&dst, 0, 1)[0])
}

/// Checks the GPU product against the naive reference on `rows` (all when `None`) and, for
/// valid inputs, against the CPU library on every entry.
#[allow(clippy::too_many_arguments)]
fn check_matmul<T: El>(
    g: &Gpu,
    s: Semiring,
    a: &[T],
    b: &[T],
    m: usize,
    k: usize,
    n: usize,
    rows: Option<Vec<usize>>,
    what: &str,
) {
    for (with_arg, misalign) in [(false, false), (true, false), (false, true), (true, true)] {
        let (c, arg, st) = gpu_matmul(g, s, a, b, m, k, n, with_arg, misalign);
        assert_eq!(st, 0, "{what}: status for valid inputs");
        let rows = rows.clone().unwrap_or_else(|| (0..m).collect());
        for &i in &rows {
            let (rc, ra) = ref_row(s, a, b, k, n, i);
            for j in 0..n {
                let got = c[i * n + j];
                assert!(
                    T::same(got, rc[j]),
                    "{what} {:?} {s:?} arg={with_arg} misalign={misalign}: C[{i},{j}] = {got:?}, \
                     reference {:?}",
                    T::DTYPE,
                    rc[j]
                );
                if let Some(arg) = &arg {
                    assert_eq!(
                        arg[i * n + j],
                        ra[j],
                        "{what} {:?} {s:?}: argbest[{i},{j}] (C = {got:?})",
                        T::DTYPE
                    );
                }
            }
        }
        if misalign {
            continue;
        }
        // The CPU library, same rules.
        let mut cc = vec![T::default(); m * n];
        let mut ca = vec![0u32; m * n];
        tropical::matmul(s, a, b, &mut cc, m, k, n, with_arg.then_some(&mut ca[..])).unwrap();
        for (x, (&got, &want)) in c.iter().zip(&cc).enumerate() {
            assert!(
                T::same(got, want),
                "{what} {:?} {s:?}: C[{x}] GPU {got:?}, CPU library {want:?}",
                T::DTYPE
            );
        }
        if let Some(arg) = arg {
            assert!(
                arg == ca,
                "{what} {:?} {s:?}: argbest differs from the CPU library",
                T::DTYPE
            );
        }
    }
}

fn matmul_suite<T: El>(g: &Gpu) {
    let mut r = Rng(0x5EED ^ T::DTYPE as u64);
    let shapes: &[(usize, usize, usize)] = &[
        (1, 1, 1),
        (1, 300, 17),
        (300, 17, 1),
        (1, 1, 300),
        (300, 1, 1),
        (17, 0, 9),
        (5, 0, 1),
        (128, 8, 128),
        (129, 9, 131),
        (64, 64, 64),
        (257, 67, 129),
        (257, 129, 67),
        (130, 260, 4),
        (3, 1000, 5),
    ];
    for s in SEMIRINGS {
        for &(m, k, n) in shapes {
            for kind in 0..3 {
                let a: Vec<T> = (0..m * k).map(|_| T::gen(&mut r, s, kind)).collect();
                let b: Vec<T> = (0..k * n).map(|_| T::gen(&mut r, s, kind)).collect();
                check_matmul(
                    g,
                    s,
                    &a,
                    &b,
                    m,
                    k,
                    n,
                    None,
                    &format!("{m}x{k}x{n} kind {kind}"),
                );
            }
        }
        // All entries equal: every k ties; argbest must be 0 everywhere.
        let (m, k, n) = (70, 33, 90);
        let a = vec![T::gen(&mut Rng(1), s, 1); m * k];
        let b = vec![T::gen(&mut Rng(2), s, 1); k * n];
        check_matmul(g, s, &a, &b, m, k, n, None, "all equal");
        // All zero: C all zero, argbest all u32::MAX.
        let a = vec![T::z(s); m * k];
        check_matmul(g, s, &a, &b, m, k, n, None, "zero A");
        // Large: 1024², 96 sampled rows against the reference, all against the CPU library.
        let (m, k, n) = (1024, 1024, 1024);
        let a: Vec<T> = (0..m * k).map(|_| T::gen(&mut r, s, 0)).collect();
        let b: Vec<T> = (0..k * n).map(|_| T::gen(&mut r, s, 2)).collect();
        let rows: Vec<usize> = (0..96)
            .map(|_| r.below(m as u64) as usize)
            .chain([0, m - 1])
            .collect();
        check_matmul(g, s, &a, &b, m, k, n, Some(rows), "1024^3");
    }
}

#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_tropical_matmul_f32() {
    matmul_suite::<f32>(&gpu());
}

#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_tropical_matmul_f64() {
    matmul_suite::<f64>(&gpu());
}

#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_tropical_matmul_i32() {
    matmul_suite::<i32>(&gpu());
}

/// Specials in every position: ±inf rows and columns, -inf + +inf (NaN terms), NaN inputs.
#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_tropical_matmul_specials() {
    let g = gpu();
    let (ni, pi, nan) = (f32::NEG_INFINITY, f32::INFINITY, f32::NAN);
    // A 3 x 2, B 2 x 3.
    let a = [ni, pi, 1.0, nan, nan, nan];
    let b = [pi, 0.0, ni, ni, 5.0, pi];
    for s in SEMIRINGS {
        check_matmul(&g, s, &a, &b, 3, 2, 3, None, "specials");
        let (c, arg, _) = gpu_matmul(&g, s, &a, &b, 3, 2, 3, true, false);
        assert!(c.iter().all(|v| !v.is_nan()), "{s:?}: NaN in C: {c:?}");
        // Row 2 is all NaN: C is the zero, argbest u32::MAX.
        assert_eq!(&c[6..], &[f32::z(s); 3]);
        assert_eq!(&arg.unwrap()[6..], &[u32::MAX; 3]);
    }
}

/// i32 entries outside [-2^28, 2^28] (and the other semiring's zero) raise the status word.
#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_tropical_matmul_i32_range_status() {
    let g = gpu();
    for s in SEMIRINGS {
        let other_zero = match s {
            Semiring::MaxPlus => i32::MAX,
            Semiring::MinPlus => i32::MIN,
        };
        for bad in [(1 << 28) + 1, -(1 << 28) - 1, other_zero, 1 << 30] {
            for in_a in [true, false] {
                let mut a = vec![1i32; 9 * 7];
                let mut b = vec![2i32; 7 * 5];
                if in_a {
                    a[9 * 7 - 1] = bad;
                } else {
                    b[3] = bad;
                }
                for arg in [false, true] {
                    let (_, _, st) = gpu_matmul(&g, s, &a, &b, 9, 7, 5, arg, false);
                    assert_eq!(
                        st,
                        1,
                        "{s:?}: {bad} in {} not flagged",
                        if in_a { "A" } else { "B" }
                    );
                }
            }
        }
        // The semiring's own zero and the range ends are valid.
        let a = vec![i32::z(s), 1 << 28, -(1 << 28), 0];
        let (c, _, st) = gpu_matmul(&g, s, &a, &a, 2, 2, 2, true, false);
        assert_eq!(st, 0);
        let (rc0, _) = ref_row(s, &a, &a, 2, 2, 0);
        let (rc1, _) = ref_row(s, &a, &a, 2, 2, 1);
        assert_eq!(c, [rc0, rc1].concat());
    }
    // Launcher argument checks.
    // SAFETY: the launches are refused before anything is enqueued.
    unsafe {
        assert!(matches!(
            g.dev.tropical_matmul_async(
                Semiring::MaxPlus,
                DType::F16,
                8,
                8,
                8,
                0,
                1,
                1,
                1,
                0,
                g.cs()
            ),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            g.dev.tropical_matmul_async(
                Semiring::MaxPlus,
                DType::F32,
                8,
                8,
                8,
                0,
                1 << 31,
                1,
                1,
                0,
                g.cs()
            ),
            Err(Error::InvalidArgument(_))
        ));
        // m = 0: nothing to do, nothing read.
        g.dev
            .tropical_matmul_async(
                Semiring::MaxPlus,
                DType::F32,
                0,
                0,
                0,
                0,
                0,
                5,
                5,
                0,
                g.cs(),
            )
            .unwrap();
    }
}

fn elementwise_suite<T: El>(g: &Gpu) {
    let mut r = Rng(77 + T::DTYPE as u64);
    for s in SEMIRINGS {
        for op in [ElementOp::Add, ElementOp::Mul] {
            for (len, misalign) in [
                (1usize, false),
                (1001, false),
                (1001, true),
                (1 << 20, false),
            ] {
                let a: Vec<T> = (0..len).map(|_| T::gen(&mut r, s, 2)).collect();
                let b: Vec<T> = (0..len)
                    .map(|_| T::gen(&mut r, s, (len % 3) as u32))
                    .collect();
                let (_da, pa) = g.up(&a, misalign);
                let (_db, pb) = g.up(&b, misalign);
                let (dout, pout) = g.up(&vec![T::default(); len], misalign);
                let (dst, pst) = g.zeros::<i32>(1);
                // SAFETY: live allocations of `len` elements on `g.stream`, synchronised below.
                unsafe {
                    g.dev
                        .tropical_elementwise_async(
                            s,
                            T::DTYPE,
                            op as u32,
                            pa,
                            pb,
                            pout,
                            len as u64,
                            pst,
                            g.cs(),
                        )
                        .unwrap();
                }
                let got = g.down(&dout, misalign as usize, len);
                assert_eq!(g.down(&dst, 0, 1)[0], 0);
                let mut cpu = vec![T::default(); len];
                tropical::elementwise(s, op, &a, &b, &mut cpu).unwrap();
                for i in 0..len {
                    // Naive reference: NaN counts as the zero.
                    #[allow(clippy::eq_op)]
                    let clean = |x: T| if x != x { T::z(s) } else { x };
                    let want = match op {
                        ElementOp::Add => {
                            let (x, y) = (clean(a[i]), clean(b[i]));
                            if better(s, y, x) {
                                y
                            } else {
                                x
                            }
                        }
                        ElementOp::Mul => T::term(s, a[i], b[i]).unwrap_or(T::z(s)),
                    };
                    assert!(
                        T::same(got[i], want) && T::same(got[i], cpu[i]),
                        "{:?} {s:?} {op:?} [{i}]: {:?} {:?} -> GPU {:?}, reference {want:?}, CPU {:?}",
                        T::DTYPE,
                        a[i],
                        b[i],
                        got[i],
                        cpu[i]
                    );
                }
            }
        }
    }
}

#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_tropical_elementwise() {
    let g = gpu();
    elementwise_suite::<f32>(&g);
    elementwise_suite::<f64>(&g);
    elementwise_suite::<i32>(&g);
    // i32 out of range raises the status.
    let a = vec![1i32, 1 << 29, 3];
    let (_da, pa) = g.up(&a, false);
    let (_dout, pout) = g.zeros::<i32>(3);
    let (dst, pst) = g.zeros::<i32>(1);
    // SAFETY: live allocations of 3 elements on `g.stream`.
    unsafe {
        g.dev
            .tropical_elementwise_async(
                Semiring::MaxPlus,
                DType::I32,
                1,
                pa,
                pa,
                pout,
                3,
                pst,
                g.cs(),
            )
            .unwrap();
        assert!(g
            .dev
            .tropical_elementwise_async(
                Semiring::MaxPlus,
                DType::I32,
                2,
                pa,
                pa,
                pout,
                3,
                pst,
                g.cs()
            )
            .is_err());
    }
    assert_eq!(g.down(&dst, 0, 1)[0], 1);
}

/// Residues for the p-adic tests: random, edges, and multiples of powers of p.
fn residues(r: &mut Rng, ring: &PadicRing, len: usize) -> Vec<u64> {
    let (m, p) = (ring.modulus(), ring.prime() as u64);
    (0..len)
        .map(|i| match i % 8 {
            0 => [0, 1, m - 1, m / p, p][r.below(5) as usize] % m,
            1 => {
                let j = r.below(ring.precision() as u64 + 1) as u32;
                ((r.below(m) as u128 * p.saturating_pow(j) as u128) % m as u128) as u64
            }
            _ => r.below(m),
        })
        .collect()
}

fn reference(op: u32, ring: &PadicRing, a: u64, b: u64) -> u64 {
    let m = ring.modulus() as u128;
    let (a, b) = (a as u128, b as u128);
    match op {
        0 => ((a + b) % m) as u64,
        1 => ((a + m - b) % m) as u64,
        2 => ((a * b) % m) as u64,
        3 => ((m - a) % m) as u64,
        _ => {
            if a == 0 {
                return ring.precision() as u64;
            }
            let (mut x, mut v) = (a, 0u64);
            while x % ring.prime() as u128 == 0 {
                x /= ring.prime() as u128;
                v += 1;
            }
            v
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn gpu_padic(
    g: &Gpu,
    ring: &PadicRing,
    op: u32,
    a: &[u64],
    b: &[u64],
    misalign: bool,
) -> (Vec<u64>, i32) {
    let len = a.len();
    let (_da, pa) = g.up(a, misalign);
    let (_db, pb) = g.up(b, misalign);
    let (dout, pout) = g.up(&vec![0u64; len], misalign);
    let (dst, pst) = g.zeros::<i32>(1);
    let (bits, mu) = ring.barrett();
    // SAFETY: live allocations of `len` u64 on `g.stream`, synchronised below.
    unsafe {
        g.dev
            .padic_batch_async(
                op,
                ring.modulus(),
                ring.prime(),
                ring.precision(),
                bits,
                mu,
                pa,
                pb,
                pout,
                len as u64,
                pst,
                g.cs(),
            )
            .unwrap();
    }
    (g.down(&dout, misalign as usize, len), g.down(&dst, 0, 1)[0])
}

#[test]
#[ignore = "needs a CUDA GPU and a build with kernels: run scripts/gpu-run.sh on the GPU host"]
fn gpu_padic_batch() {
    let g = gpu();
    let mut r = Rng(251);
    let max_n = |p: u64| {
        (1..)
            .take_while(|&n| p.checked_pow(n).is_some_and(|m| m <= 1 << 62))
            .last()
            .unwrap()
    };
    for p in [2u32, 3, 251, 65521] {
        let top = max_n(p as u64);
        let mut precisions = vec![1, 2, top / 2, top - 1, top];
        if p == 251 {
            precisions.push(7);
        }
        precisions.retain(|&n| n >= 1);
        precisions.sort();
        precisions.dedup();
        for n in precisions {
            let ring = PadicRing::new(p, n).unwrap();
            for (len, misalign) in [
                (1usize, false),
                (4097, false),
                (4097, true),
                (1 << 18, false),
            ] {
                let a = residues(&mut r, &ring, len);
                let b = residues(&mut r, &ring, len);
                for op in [0u32, 1, 2, 3, 5] {
                    let (got, st) = gpu_padic(&g, &ring, op, &a, &b, misalign);
                    assert_eq!(st, 0, "p {p} n {n} op {op}: status");
                    let pop = PadicOp::from_u32(op).unwrap();
                    let mut cpu = vec![0u64; len];
                    ring.batch(pop, &a, pop.is_binary().then_some(&b[..]), &mut cpu)
                        .unwrap();
                    for i in 0..len {
                        let want = reference(op, &ring, a[i], b[i]);
                        assert!(
                            got[i] == want && cpu[i] == want,
                            "p {p} n {n} op {op} [{i}] a {} b {}: GPU {}, reference {want}, CPU {}",
                            a[i],
                            b[i],
                            got[i],
                            cpu[i]
                        );
                    }
                }
            }
        }
    }
    // Inputs >= M raise the status; op 4 is the CPU's.
    let ring = PadicRing::new(251, 7).unwrap();
    let m = ring.modulus();
    for op in [0u32, 1, 2, 3, 5] {
        for (a, b) in [(vec![1, m], vec![1, 1]), (vec![1, 2], vec![m + 5, 1])] {
            let (_, st) = gpu_padic(&g, &ring, op, &a, &b, false);
            let expect = if op <= 2 || a[1] >= m { 1 } else { 0 };
            assert_eq!(st, expect, "op {op}: a {a:?} b {b:?}");
        }
    }
    let (bits, mu) = ring.barrett();
    // SAFETY: refused before anything is enqueued.
    unsafe {
        assert!(matches!(
            g.dev
                .padic_batch_async(4, m, 251, 7, bits, mu, 8, 8, 8, 1, 0, g.cs()),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(
            g.dev
                .padic_batch_async(2, m, 251, 7, bits, mu + 1, 8, 8, 8, 1, 0, g.cs()),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            g.dev
                .padic_batch_async(2, m + 1, 251, 7, bits, mu, 8, 8, 8, 1, 0, g.cs()),
            Err(Error::InvalidArgument(_))
        ));
    }
}
