// Tropical (max-plus / min-plus) matrix multiplication and elementwise operations for the math
// library (src/math/tropical.rs is the CPU side; src/backend/cuda/math.rs launches these).
//
// C[m x n] = (+)_k A[i,k] (x) B[k,j], all row-major, where (+) is max (max-plus, semiring 0) or
// min (min-plus, semiring 1) and (x) is +. The zero (the (+) identity, absorbing for (x)) is
// -inf / +inf for floats and INT_MIN / INT_MAX for i32; the one is 0.
//
// Semantics shared bit for bit with the CPU (a zero result may be +0 or -0):
// * f32/f64: a term a + b is one IEEE addition (no FMA: there is no multiply to contract). A
//   term that is NaN (a NaN input, or -inf + +inf) counts as the zero: skipped by (+). Without
//   argbest the accumulator starts at the zero and takes fmax/fmin (fmax(x, NaN) = x skips it);
//   with argbest a term replaces the accumulator only when strictly better (s > acc for
//   max-plus, s < acc for min-plus), which also skips NaN and keeps the smallest k on ties.
// * i32: finite entries must lie in [-2^28, 2^28]. The zero is mapped on tile load to a
//   sentinel, -2^30 (max-plus) or 2^30 - 1 (min-plus), so that a + b never overflows; on store a
//   result below -2^29 (max-plus) becomes INT_MIN, above 2^29 (min-plus) INT_MAX. An entry
//   outside [-2^28, 2^28] that is not the zero sets bit 1 of the caller's status word (atomicOr;
//   the pointer may be null) and the product is computed anyway (its value is then unspecified).
//   The (x)-then-(+) step is one Hopper DPX instruction, __viaddmax_s32 / __viaddmin_s32
//   (VIADDMNMX on sm_90; emulated by the headers on older architectures).
// * argbest (optional, u32 per C entry): the smallest k attaining C[i,j]; 0xFFFFFFFF where
//   C[i,j] is the zero (also when k = 0).
//
// Matmul tiling (a classic SGEMM layout): 256 threads as a 16 x 16 grid, each owning TM x TN
// outputs in registers (8 x 8 for f32 and i32, 4 x 4 for f64), as two halves of TM/2 rows (TN/2
// columns) half a block tile apart, so that each thread's fragment reads are 16-byte shared-memory
// loads without bank conflicts. Block tile BM x BN = 16 TM x 16 TN (128 x 128 for f32/i32), BK = 16
// (TROP_BK) of the k dimension per stage. A is staged transposed (As[k][m], rows padded by 4
// elements against store conflicts), B as is; two shared-memory buffers, and the next stage's
// global loads are issued into registers before the current stage is computed (one barrier per
// stage). Global loads are 16-byte vectors along k (A) and n (B) when the base address is 16-byte
// aligned and k (resp. n) is a multiple of the vector width, otherwise bounds-checked scalars;
// elements outside the matrices are staged as the zero (their terms never win). Blocks are
// rasterised in groups of TROP_GROUP block rows for L2 reuse. Any m, k, n >= 1 works (k = 0: the
// launcher still launches, C is all zero); the launcher checks m, n, k < 2^31.
//
// Elementwise (`saraphis_tropical_ew_*`): out[i] = a[i] (+) b[i] (op 0) or a[i] (x) b[i] (op 1),
// grid-stride, 16-byte vectors when all three arrays are aligned. Floats: NaN inputs count as the
// zero (so outputs are never NaN): (x) gives the zero when a + b is NaN, (+) gives the other
// operand (the zero if both are NaN). i32: as the matmul (zero absorbs for (x), mapped through
// the sentinel; (+) is max/min; out-of-range entries flag the status word).
#include <stdint.h>
#include <limits.h>
#include <math.h>

#ifndef TROP_BK
#define TROP_BK 16         // k elements per shared-memory stage
#endif
#ifndef TROP_GROUP
#define TROP_GROUP 8       // block rows per rasterisation group (L2 reuse)
#endif
#define TROP_THREADS 256   // 16 x 16 threads per block

namespace trop {

// The semiring's operations on one dtype. `pad` is the stored (mapped) zero; `init` the
// accumulator's start; `stage` maps a loaded element to its staged value, `check` flags bad i32
// entries; `fin` maps an accumulator back to an output value; `step` does acc = acc (+) (a (x) b)
// without argbest; `term`/`better` give a term and the strict comparison for argbest.
template <typename T, int SR> struct Ops;

template <int SR> struct Ops<float, SR> {
    static __device__ __forceinline__ float pad() { return SR == 0 ? -INFINITY : INFINITY; }
    static __device__ __forceinline__ float init() { return pad(); }
    static constexpr bool CHECKS = false;
    static __device__ __forceinline__ float stage(float x) { return x; }
    static __device__ __forceinline__ void check(float, bool&) {}
    static __device__ __forceinline__ float fin(float x) { return x; }
    static __device__ __forceinline__ bool is_zero(float x) { return x == pad(); }
    static __device__ __forceinline__ float step(float acc, float a, float b) {
        return SR == 0 ? fmaxf(acc, a + b) : fminf(acc, a + b);
    }
    static __device__ __forceinline__ float term(float a, float b) { return a + b; }
    static __device__ __forceinline__ bool better(float s, float acc) { return SR == 0 ? s > acc : s < acc; }
};

template <int SR> struct Ops<double, SR> {
    static __device__ __forceinline__ double pad() { return SR == 0 ? -(double)INFINITY : (double)INFINITY; }
    static __device__ __forceinline__ double init() { return pad(); }
    static constexpr bool CHECKS = false;
    static __device__ __forceinline__ double stage(double x) { return x; }
    static __device__ __forceinline__ void check(double, bool&) {}
    static __device__ __forceinline__ double fin(double x) { return x; }
    static __device__ __forceinline__ bool is_zero(double x) { return x == pad(); }
    static __device__ __forceinline__ double step(double acc, double a, double b) {
        return SR == 0 ? fmax(acc, a + b) : fmin(acc, a + b);
    }
    static __device__ __forceinline__ double term(double a, double b) { return a + b; }
    static __device__ __forceinline__ bool better(double s, double acc) { return SR == 0 ? s > acc : s < acc; }
};

#define TROP_I32_LIM (1 << 28)        // finite entries lie in [-2^28, 2^28]
#define TROP_I32_SENT_MAX (-(1 << 30))      // staged zero, max-plus
#define TROP_I32_SENT_MIN ((1 << 30) - 1)   // staged zero, min-plus
#define TROP_I32_CUT (1 << 29)        // results beyond +-2^29 are the zero

template <int SR> struct Ops<int32_t, SR> {
    static __device__ __forceinline__ int32_t zero() { return SR == 0 ? INT_MIN : INT_MAX; }
    static __device__ __forceinline__ int32_t pad() { return SR == 0 ? TROP_I32_SENT_MAX : TROP_I32_SENT_MIN; }
    static __device__ __forceinline__ int32_t init() { return zero(); }
    // One min/max maps the zero to the sentinel and leaves valid entries alone (invalid entries
    // beyond the sentinel are clamped). `check` flags a loaded entry outside [-2^28, 2^28] that
    // is not the zero; the matmul runs it only in the blocks of the first block column (A) and
    // first block row (B), which between them load every entry once.
    static constexpr bool CHECKS = true;
    static __device__ __forceinline__ int32_t stage(int32_t x) {
        return SR == 0 ? max(x, TROP_I32_SENT_MAX) : min(x, TROP_I32_SENT_MIN);
    }
    static __device__ __forceinline__ void check(int32_t x, bool& bad) {
        bad |= (x != zero()) & ((x < -TROP_I32_LIM) | (x > TROP_I32_LIM));
    }
    static __device__ __forceinline__ int32_t fin(int32_t x) {
        return SR == 0 ? (x < -TROP_I32_CUT ? INT_MIN : x) : (x > TROP_I32_CUT ? INT_MAX : x);
    }
    static __device__ __forceinline__ bool is_zero(int32_t x) { return fin(x) == zero(); }
    static __device__ __forceinline__ int32_t step(int32_t acc, int32_t a, int32_t b) {
        return SR == 0 ? __viaddmax_s32(a, b, acc) : __viaddmin_s32(a, b, acc);
    }
    // Wrapping addition (only out-of-range inputs, already flagged, can wrap).
    static __device__ __forceinline__ int32_t term(int32_t a, int32_t b) {
        return (int32_t)((uint32_t)a + (uint32_t)b);
    }
    static __device__ __forceinline__ bool better(int32_t s, int32_t acc) { return SR == 0 ? s > acc : s < acc; }
};

// A 16-byte vector of T.
template <typename T> struct alignas(16) Vec16 {
    static constexpr int N = 16 / sizeof(T);
    T v[N];
};

template <typename T> struct Cfg;
template <> struct Cfg<float> { static constexpr int TM = 8, TN = 8, MINB = 2; };
template <> struct Cfg<int32_t> { static constexpr int TM = 8, TN = 8, MINB = 2; };
template <> struct Cfg<double> { static constexpr int TM = 4, TN = 4, MINB = 2; };

// Asynchronous global -> shared copies (sm_80+): 4 and 16 bytes.
__device__ __forceinline__ void cp_async4(void* dst, const void* src) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"((uint32_t)__cvta_generic_to_shared(dst)), "l"(src));
#endif
}
__device__ __forceinline__ void cp_async16(void* dst, const void* src) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"((uint32_t)__cvta_generic_to_shared(dst)), "l"(src));
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::);
#endif
}
__device__ __forceinline__ void cp_async_wait_all() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group 0;\n" ::: "memory");
#endif
}

template <typename T, int SR, bool ARG>
__device__ __forceinline__ void matmul(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C,
                                       uint32_t* __restrict__ argbest, int m, int k, int n,
                                       int* __restrict__ status) {
    using O = Ops<T, SR>;
    constexpr int TM = Cfg<T>::TM, TN = Cfg<T>::TN;
    constexpr int BM = 16 * TM, BN = 16 * TN, BK = TROP_BK;
    constexpr int VEC = 16 / sizeof(T);           // elements per 16-byte vector
    constexpr int APAD = BM + 16 / (int)sizeof(T);  // As row length (padded, 16-byte multiple)
    // Global -> register staging: A as BM rows of BK/VEC vectors, B as BK rows of BN/VEC vectors.
    constexpr int A_TPR = BK / VEC;               // threads per A row
    constexpr int A_ROWS = TROP_THREADS / A_TPR;  // A rows per pass
    constexpr int A_PASSES = BM / A_ROWS;
    constexpr int B_TPR = BN / VEC;
    constexpr int B_ROWS = TROP_THREADS / B_TPR;
    constexpr int B_PASSES = BK / B_ROWS;
    static_assert(BK % VEC == 0 && A_PASSES * A_ROWS == BM && B_PASSES * B_ROWS == BK, "tile shape");
    static_assert(TM % 2 == 0 && TN % 2 == 0 && (TM / 2) * sizeof(T) % 16 == 0 &&
                      (TN / 2) * sizeof(T) % 16 == 0,
                  "fragment halves are 16-byte vectors");

    __shared__ __align__(16) T As[2][BK][APAD];
    __shared__ __align__(16) T Bs[2][BK][BN];

    const int tid = threadIdx.x;
    const int tx = tid % 16, ty = tid / 16;
    // Grouped rasterisation of the 1-D grid.
    const int gx = (n + BN - 1) / BN, gy = (m + BM - 1) / BM;
    const int pid = blockIdx.x;
    const int in_group = TROP_GROUP * gx;
    const int first = (pid / in_group) * TROP_GROUP;
    const int gsz = min(gy - first, TROP_GROUP);
    const int bm = (first + (pid % in_group) % gsz) * BM;
    const int bn = ((pid % in_group) / gsz) * BN;

    const bool va = ((uintptr_t)A % 16 == 0) && (k % VEC == 0);
    const bool vb = ((uintptr_t)B % 16 == 0) && (n % VEC == 0);
    // i32 range checks: A's entries in the first block column, B's in the first block row.
    const bool chk_a = O::CHECKS && bn == 0, chk_b = O::CHECKS && bm == 0;
    bool bad = false;

    T ra[A_PASSES][VEC], rb[B_PASSES][VEC];
    const int a_row = tid / A_TPR, a_col = (tid % A_TPR) * VEC;
    const int b_row = tid / B_TPR, b_col = (tid % B_TPR) * VEC;

    auto load = [&](int k0) {
#pragma unroll
        for (int p = 0; p < A_PASSES; p++) {
            const int gr = bm + p * A_ROWS + a_row, gk = k0 + a_col;
            const T* src = A + (size_t)gr * k + gk;
            if (va) {
                if (gr < m && gk < k) {
                    Vec16<T> v = *reinterpret_cast<const Vec16<T>*>(src);
#pragma unroll
                    for (int e = 0; e < VEC; e++) ra[p][e] = v.v[e];
                } else {
#pragma unroll
                    for (int e = 0; e < VEC; e++) ra[p][e] = O::init();
                }
            } else {
#pragma unroll
                for (int e = 0; e < VEC; e++) ra[p][e] = (gr < m && gk + e < k) ? src[e] : O::init();
            }
        }
#pragma unroll
        for (int p = 0; p < B_PASSES; p++) {
            const int gk = k0 + p * B_ROWS + b_row, gc = bn + b_col;
            const T* src = B + (size_t)gk * n + gc;
            if (vb) {
                if (gk < k && gc < n) {
                    Vec16<T> v = *reinterpret_cast<const Vec16<T>*>(src);
#pragma unroll
                    for (int e = 0; e < VEC; e++) rb[p][e] = v.v[e];
                } else {
#pragma unroll
                    for (int e = 0; e < VEC; e++) rb[p][e] = O::init();
                }
            } else {
#pragma unroll
                for (int e = 0; e < VEC; e++) rb[p][e] = (gk < k && gc + e < n) ? src[e] : O::init();
            }
        }
    };
    auto store = [&](int buf) {
        if (chk_a) {
#pragma unroll
            for (int p = 0; p < A_PASSES; p++)
#pragma unroll
                for (int e = 0; e < VEC; e++) O::check(ra[p][e], bad);
        }
        if (chk_b) {
#pragma unroll
            for (int p = 0; p < B_PASSES; p++)
#pragma unroll
                for (int e = 0; e < VEC; e++) O::check(rb[p][e], bad);
        }
#pragma unroll
        for (int p = 0; p < A_PASSES; p++)
#pragma unroll
            for (int e = 0; e < VEC; e++) As[buf][a_col + e][p * A_ROWS + a_row] = O::stage(ra[p][e]);
#pragma unroll
        for (int p = 0; p < B_PASSES; p++) {
            Vec16<T> v;
#pragma unroll
            for (int e = 0; e < VEC; e++) v.v[e] = O::stage(rb[p][e]);
            *reinterpret_cast<Vec16<T>*>(&Bs[buf][p * B_ROWS + b_row][b_col]) = v;
        }
    };

    T acc[TM][TN];
    uint32_t idx[ARG ? TM : 1][ARG ? TN : 1];
#pragma unroll
    for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) {
            acc[i][j] = O::init();
            if (ARG) idx[ARG ? i : 0][ARG ? j : 0] = 0xFFFFFFFFu;
        }

    const int tiles = (k + BK - 1) / BK;
    auto compute = [&](int t, int buf) {
#pragma unroll
        for (int kk = 0; kk < BK; kk++) {
            T fa[TM], fb[TN];
#pragma unroll
            for (int h = 0; h < 2; h++) {
#pragma unroll
                for (int q = 0; q < TM / 2; q += VEC) {
                    Vec16<T> v = *reinterpret_cast<const Vec16<T>*>(&As[buf][kk][h * (BM / 2) + ty * (TM / 2) + q]);
#pragma unroll
                    for (int e = 0; e < VEC; e++) fa[h * (TM / 2) + q + e] = v.v[e];
                }
#pragma unroll
                for (int q = 0; q < TN / 2; q += VEC) {
                    Vec16<T> v = *reinterpret_cast<const Vec16<T>*>(&Bs[buf][kk][h * (BN / 2) + tx * (TN / 2) + q]);
#pragma unroll
                    for (int e = 0; e < VEC; e++) fb[h * (TN / 2) + q + e] = v.v[e];
                }
            }
            if (ARG) {
                const uint32_t kg = (uint32_t)(t * BK + kk);
#pragma unroll
                for (int i = 0; i < TM; i++)
#pragma unroll
                    for (int j = 0; j < TN; j++) {
                        const T s = O::term(fa[i], fb[j]);
                        if (O::better(s, acc[i][j])) {
                            acc[i][j] = s;
                            idx[ARG ? i : 0][ARG ? j : 0] = kg;
                        }
                    }
            } else {
#pragma unroll
                for (int i = 0; i < TM; i++)
#pragma unroll
                    for (int j = 0; j < TN; j++) {
                        acc[i][j] = O::step(acc[i][j], fa[i], fb[j]);
                    }
            }
        }
    };
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    // Fast path (f32 without argbest): whole block tile inside the matrices, vector-aligned, k a
    // multiple of BK: stages are copied with cp.async (no register staging); same staged values.
    constexpr bool CPA = sizeof(T) == 4 && !O::CHECKS && !ARG;
    if (CPA && va && vb && bm + BM <= m && bn + BN <= n && k % BK == 0) {
        const T* ag = A + (size_t)(bm + a_row) * k + a_col;
        const T* bg = B + (size_t)b_row * n + bn + b_col;
        const size_t a_step = (size_t)A_ROWS * k, b_step = (size_t)B_ROWS * n, b_adv = (size_t)BK * n;
        // issue(k0, buf) copies stage k0 (callers go in order k0 = 0, BK, 2 BK, ...).
        auto issue = [&](int, int buf) {
#pragma unroll
            for (int p = 0; p < A_PASSES; p++)
#pragma unroll
                for (int e = 0; e < VEC; e++)
                    cp_async4(&As[buf][a_col + e][p * A_ROWS + a_row], ag + p * a_step + e);
#pragma unroll
            for (int p = 0; p < B_PASSES; p++)
                cp_async16(&Bs[buf][p * B_ROWS + b_row][b_col], bg + p * b_step);
            cp_async_commit();
            ag += BK;
            bg += b_adv;
        };
        if (tiles > 0) issue(0, 0);
        for (int t = 0; t < tiles; t++) {
            const int buf = t & 1;
            cp_async_wait_all();
            __syncthreads();
            if (t + 1 < tiles) issue((t + 1) * BK, buf ^ 1);
            compute(t, buf);
        }
    } else
#endif
    {
    if (tiles > 0) {
        load(0);
        store(0);
        __syncthreads();
    }
    for (int t = 0; t < tiles; t++) {
        const int buf = t & 1;
        if (t + 1 < tiles) load((t + 1) * BK);
        compute(t, buf);
        if (t + 1 < tiles) store(buf ^ 1);
        __syncthreads();
    }
    }

    // Store: each thread's rows (two halves of TM/2) and columns (two halves of TN/2).
    const bool vc = ((uintptr_t)C % 16 == 0) && (n % VEC == 0);
#pragma unroll
    for (int i = 0; i < TM; i++) {
        const int gr = bm + (i / (TM / 2)) * (BM / 2) + ty * (TM / 2) + i % (TM / 2);
        if (gr >= m) continue;
#pragma unroll
        for (int h = 0; h < 2; h++) {
#pragma unroll
            for (int q = 0; q < TN / 2; q += VEC) {
                const int gc = bn + h * (BN / 2) + tx * (TN / 2) + q;
                T* dst = C + (size_t)gr * n + gc;
                if (vc && gc < n) {
                    Vec16<T> v;
#pragma unroll
                    for (int e = 0; e < VEC; e++) v.v[e] = O::fin(acc[i][h * (TN / 2) + q + e]);
                    *reinterpret_cast<Vec16<T>*>(dst) = v;
                } else {
#pragma unroll
                    for (int e = 0; e < VEC; e++)
                        if (gc + e < n) dst[e] = O::fin(acc[i][h * (TN / 2) + q + e]);
                }
                if (ARG) {
#pragma unroll
                    for (int e = 0; e < VEC; e++) {
                        const int j = h * (TN / 2) + q + e;
                        if (gc + e < n)
                            argbest[(size_t)gr * n + gc + e] =
                                O::is_zero(acc[i][j]) ? 0xFFFFFFFFu : idx[ARG ? i : 0][ARG ? j : 0];
                    }
                }
            }
        }
    }
    if (bad && status) atomicOr(status, 1);
}

// Elementwise: out = a (+) b (op 0) or a (x) b (op 1).
template <typename T, int SR> struct Ew;
template <typename T, int SR> struct EwF {
    static __device__ __forceinline__ T add(T a, T b, bool&) {
        T r = SR == 0 ? (T)fmax(a, b) : (T)fmin(a, b);
        return r != r ? Ops<T, SR>::pad() : r;
    }
    static __device__ __forceinline__ T mul(T a, T b, bool&) {
        T r = a + b;
        return r != r ? Ops<T, SR>::pad() : r;
    }
};
template <int SR> struct Ew<float, SR> : EwF<float, SR> {};
template <int SR> struct Ew<double, SR> : EwF<double, SR> {};
template <int SR> struct Ew<int32_t, SR> {
    using O = Ops<int32_t, SR>;
    static __device__ __forceinline__ int32_t add(int32_t a, int32_t b, bool& bad) {
        O::check(a, bad);
        O::check(b, bad);
        const int32_t x = O::stage(a), y = O::stage(b);
        return O::fin(SR == 0 ? max(x, y) : min(x, y));
    }
    static __device__ __forceinline__ int32_t mul(int32_t a, int32_t b, bool& bad) {
        O::check(a, bad);
        O::check(b, bad);
        const int32_t x = O::stage(a), y = O::stage(b);
        return O::fin(O::term(x, y));
    }
};

template <typename T, int SR, int OP>
__device__ __forceinline__ void ew_loop(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out,
                                        uint64_t len, bool& bad) {
    using E = Ew<T, SR>;
    constexpr int VEC = 16 / sizeof(T);
    const uint64_t stride = (uint64_t)gridDim.x * blockDim.x;
    const uint64_t tid = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const bool vec = ((uintptr_t)a % 16 == 0) && ((uintptr_t)b % 16 == 0) && ((uintptr_t)out % 16 == 0);
    uint64_t done = 0;
    if (vec) {
        const uint64_t nv = len / VEC;
        const Vec16<T>* av = reinterpret_cast<const Vec16<T>*>(a);
        const Vec16<T>* bv = reinterpret_cast<const Vec16<T>*>(b);
        Vec16<T>* ov = reinterpret_cast<Vec16<T>*>(out);
        for (uint64_t i = tid; i < nv; i += stride) {
            const Vec16<T> x = av[i], y = bv[i];
            Vec16<T> r;
#pragma unroll
            for (int e = 0; e < VEC; e++) r.v[e] = OP == 0 ? E::add(x.v[e], y.v[e], bad) : E::mul(x.v[e], y.v[e], bad);
            ov[i] = r;
        }
        done = nv * VEC;
    }
    for (uint64_t i = done + tid; i < len; i += stride)
        out[i] = OP == 0 ? E::add(a[i], b[i], bad) : E::mul(a[i], b[i], bad);
}

template <typename T>
__device__ __forceinline__ void elementwise(const T* a, const T* b, T* out, uint64_t len, uint32_t semiring,
                                            uint32_t op, int* status) {
    bool bad = false;
    switch (semiring * 2 + op) {
        case 0: ew_loop<T, 0, 0>(a, b, out, len, bad); break;
        case 1: ew_loop<T, 0, 1>(a, b, out, len, bad); break;
        case 2: ew_loop<T, 1, 0>(a, b, out, len, bad); break;
        default: ew_loop<T, 1, 1>(a, b, out, len, bad); break;
    }
    if (bad && status) atomicOr(status, 1);
}

}  // namespace trop

// Kernels: saraphis_tropical_mm_<dtype>_<max|min>[_arg] and saraphis_tropical_ew_<dtype>.
#define TROP_MM(NAME, T, SR, ARG)                                                                      \
    extern "C" __global__ void __launch_bounds__(TROP_THREADS, ARG ? 1 : trop::Cfg<T>::MINB) NAME(  \
        const T* A, const T* B, T* C, uint32_t* argbest, int m, int k, int n, int* status) {          \
        trop::matmul<T, SR, ARG>(A, B, C, argbest, m, k, n, status);                                   \
    }
TROP_MM(saraphis_tropical_mm_f32_max, float, 0, false)
TROP_MM(saraphis_tropical_mm_f32_min, float, 1, false)
TROP_MM(saraphis_tropical_mm_f32_max_arg, float, 0, true)
TROP_MM(saraphis_tropical_mm_f32_min_arg, float, 1, true)
TROP_MM(saraphis_tropical_mm_f64_max, double, 0, false)
TROP_MM(saraphis_tropical_mm_f64_min, double, 1, false)
TROP_MM(saraphis_tropical_mm_f64_max_arg, double, 0, true)
TROP_MM(saraphis_tropical_mm_f64_min_arg, double, 1, true)
TROP_MM(saraphis_tropical_mm_i32_max, int32_t, 0, false)
TROP_MM(saraphis_tropical_mm_i32_min, int32_t, 1, false)
TROP_MM(saraphis_tropical_mm_i32_max_arg, int32_t, 0, true)
TROP_MM(saraphis_tropical_mm_i32_min_arg, int32_t, 1, true)
#undef TROP_MM

#define TROP_EW(NAME, T)                                                                                     \
    extern "C" __global__ void __launch_bounds__(256) NAME(const T* a, const T* b, T* out, uint64_t len,     \
                                                           uint32_t semiring, uint32_t op, int* status) {    \
        trop::elementwise<T>(a, b, out, len, semiring, op, status);                                          \
    }
TROP_EW(saraphis_tropical_ew_f32, float)
TROP_EW(saraphis_tropical_ew_f64, double)
TROP_EW(saraphis_tropical_ew_i32, int32_t)
#undef TROP_EW
