// Batch p-adic arithmetic on residues in Z/M, M = p^n <= 2^62 (src/math/padic.rs is the CPU side;
// src/backend/cuda/math.rs launches this): out[i] = op(a[i], b[i]) for
//   op 0 add, 1 sub, 2 mul, 3 neg (b unused), 5 valuation v_p(a) (b unused; n for a = 0).
// (op 4, inverse, is the CPU's: the launcher refuses it.)
//
// Multiplication reduces the 128-bit product with exactly the CPU's Barrett reduction:
// b = bit length of M capped at 62 (2^(b-1) <= M <= 2^b; M = 2^b only for M = 2^62, whose bit
// length 63 would need mu = 2^64), mu = floor(2^(2b) / M) (both from the host: PadicRing::barrett),
// t = a*b (128 bits), q = ((t >> (b-1)) * mu) >> (b+1) (t >> (b-1) < 2^(b+1) fits 64 bits; the
// product is 128-bit), r = low64(t - q*M) (< 3M), then r -= M while r >= M.
// Valuation for odd p divides exactly by multiplying with p's inverse mod 2^64 (`pinv`, from the
// host): x is a multiple of p iff x * pinv <= floor((2^64-1)/p) (`plim`), and then x / p = x * pinv
// (Granlund & Montgomery 1994, section 9); for p = 2 it counts trailing zeros.
//
// An input >= M sets bit 1 of the status word (atomicOr; the pointer may be null) and its
// output is unspecified. Grid-stride loops over pairs of elements (16-byte loads and stores
// when a, b and out are 16-byte aligned), then a scalar tail; memory-bound.
#include <stdint.h>

namespace pmath {

struct Ring {
    uint64_t M, mu, pinv, plim;
    uint32_t p, n, bits;
};

__device__ __forceinline__ uint64_t mulmod(uint64_t a, uint64_t b, const Ring& R) {
    const uint64_t lo = a * b, hi = __umul64hi(a, b);
    const uint32_t s = R.bits - 1;  // in [1, 61]
    const uint64_t t1 = (lo >> s) | (hi << (64 - s));
    const uint64_t plo = t1 * R.mu, phi = __umul64hi(t1, R.mu);
    const uint32_t s2 = R.bits + 1;  // in [3, 63]
    const uint64_t q = (plo >> s2) | (phi << (64 - s2));
    uint64_t r = lo - q * R.M;
    while (r >= R.M) r -= R.M;
    return r;
}

__device__ __forceinline__ uint64_t valuation(uint64_t a, const Ring& R) {
    if (a == 0) return R.n;
    if (R.p == 2) {
        const uint64_t v = (uint64_t)(__ffsll((long long)a) - 1);
        return v < R.n ? v : R.n;
    }
    uint64_t v = 0;
    while (v < R.n) {
        const uint64_t q = a * R.pinv;
        if (q > R.plim) break;
        a = q;
        v++;
    }
    return v;
}

template <int OP>
__device__ __forceinline__ uint64_t apply(uint64_t a, uint64_t b, const Ring& R, bool& bad) {
    bad |= a >= R.M;
    if (OP <= 2) bad |= b >= R.M;
    if (OP == 0) {
        const uint64_t s = a + b;  // < 2^63: no overflow
        return s >= R.M ? s - R.M : s;
    } else if (OP == 1) {
        return a >= b ? a - b : a + (R.M - b);
    } else if (OP == 2) {
        return mulmod(a, b, R);
    } else if (OP == 3) {
        return a == 0 ? 0 : R.M - a;
    } else {
        return valuation(a, R);
    }
}

template <int OP>
__device__ __forceinline__ void run(const uint64_t* __restrict__ a, const uint64_t* __restrict__ b,
                                    uint64_t* __restrict__ out, uint64_t len, const Ring& R, bool& bad) {
    constexpr bool BIN = OP <= 2;
    const uint64_t stride = (uint64_t)gridDim.x * blockDim.x;
    const uint64_t tid = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const bool vec = ((uintptr_t)a % 16 == 0) && (!BIN || (uintptr_t)b % 16 == 0) && ((uintptr_t)out % 16 == 0);
    uint64_t done = 0;
    if (vec) {
        const uint64_t pairs = len / 2;
        const ulonglong2* av = reinterpret_cast<const ulonglong2*>(a);
        const ulonglong2* bv = reinterpret_cast<const ulonglong2*>(b);
        ulonglong2* ov = reinterpret_cast<ulonglong2*>(out);
        for (uint64_t i = tid; i < pairs; i += stride) {
            const ulonglong2 x = __ldcs(av + i);
            const ulonglong2 y = BIN ? __ldcs(bv + i) : make_ulonglong2(0, 0);
            ulonglong2 r;
            r.x = apply<OP>(x.x, y.x, R, bad);
            r.y = apply<OP>(x.y, y.y, R, bad);
            __stcs(ov + i, r);
        }
        done = pairs * 2;
    }
    for (uint64_t i = done + tid; i < len; i += stride) out[i] = apply<OP>(a[i], BIN ? b[i] : 0, R, bad);
}

}  // namespace pmath

// One kernel for every op (the branch is uniform). `b` may be null for ops 3 and 5.
extern "C" __global__ void __launch_bounds__(256) saraphis_padic_batch(
    uint32_t op, uint64_t modulus, uint32_t prime, uint32_t precision, uint32_t barrett_bits,
    uint64_t barrett_mu, uint64_t pinv, uint64_t plim, const uint64_t* a, const uint64_t* b, uint64_t* out,
    uint64_t len, int* status) {
    pmath::Ring R;
    R.M = modulus;
    R.mu = barrett_mu;
    R.pinv = pinv;
    R.plim = plim;
    R.p = prime;
    R.n = precision;
    R.bits = barrett_bits;
    bool bad = false;
    switch (op) {
        case 0: pmath::run<0>(a, b, out, len, R, bad); break;
        case 1: pmath::run<1>(a, b, out, len, R, bad); break;
        case 2: pmath::run<2>(a, b, out, len, R, bad); break;
        case 3: pmath::run<3>(a, b, out, len, R, bad); break;
        case 5: pmath::run<5>(a, b, out, len, R, bad); break;
        default: break;
    }
    if (bad && status) atomicOr(status, 1);
}
