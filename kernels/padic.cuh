// Device helpers shared by the p-adic decoder (padic.cu) and encoder (padic_encode.cu): the
// block-wide prefix sum, the digit-plane context, deterministic exp and the small-float code.
// Included explicitly by each .cu that uses them; every .cu compiles on its own.
#pragma once
#include "common.cuh"

// Exclusive prefix sum over the block (every thread calls it; two barriers); *total = the sum.
template <typename T>
__device__ T pt_scan(T v, T* wsum, T* total) {
    const uint32_t t = threadIdx.x, lane = t & 31, w = t >> 5;
    T inc = v;
#pragma unroll
    for (int d = 1; d < 32; d <<= 1) {
        const T o = __shfl_up_sync(0xffffffffu, inc, d);
        if (lane >= (uint32_t)d) inc += o;
    }
    if (lane == 31) wsum[w] = inc;
    __syncthreads();
    T off = 0, tot = 0;
    for (uint32_t k = 0; k < BLOCK / 32; k++) {
        if (k < w) off += wsum[k];
        tot += wsum[k];
    }
    __syncthreads();
    *total = tot;
    return off + inc - v;
}

// Context of an element (src/codec/padic.rs `context`): own higher value capped at 2, times 16
// buckets of the bit length of the mean of the lane's two previous plane values.
__device__ __forceinline__ uint32_t pt_context(uint64_t hi, uint64_t prev, uint64_t prev2) {
    const uint32_t own = hi < 2 ? (uint32_t)hi : 2;
    const uint64_t avg = (prev >> 1) + (prev2 >> 1) + (prev & prev2 & 1);
    const uint32_t bl = 64 - __clzll((long long)avg);
    return own * 16 + (bl < 15 ? bl : 15);
}

// fdlibm's __ieee754_exp with every operation rounded to nearest and never fused: bit for bit
// src/codec/padic.rs `det_exp`.
__device__ double det_exp(double x) {
    const double o_threshold = __longlong_as_double(0x40862E42FEFA39EFll);
    const double u_threshold = __longlong_as_double((long long)0xC0874910D52D3051ull);
    const double ln2_hi = __longlong_as_double(0x3FE62E42FEE00000ll);
    const double ln2_lo = __longlong_as_double(0x3DEA39EF35793C76ll);
    const double inv_ln2 = __longlong_as_double(0x3FF71547652B82FEll);
    const double P1 = __longlong_as_double(0x3FC555555555553Ell);
    const double P2 = __longlong_as_double((long long)0xBF66C16C16BEBD93ull);
    const double P3 = __longlong_as_double(0x3F11566AAF25DE2Cll);
    const double P4 = __longlong_as_double((long long)0xBEBBBD41C5D26BF1ull);
    const double P5 = __longlong_as_double(0x3E66376972BEA4D0ll);
    const double two_m1000 = __longlong_as_double(0x0170000000000000ll);
    const uint64_t bits = (uint64_t)__double_as_longlong(x);
    const uint32_t hx = (uint32_t)(bits >> 32) & 0x7fffffffu;
    const bool neg = bits >> 63;
    if (hx >= 0x40862E42u) {
        if (hx >= 0x7ff00000u) {
            if (x != x) return __dadd_rn(x, x);
            return neg ? 0.0 : x;
        }
        if (x > o_threshold) return __longlong_as_double(0x7ff0000000000000ll);
        if (x < u_threshold) return 0.0;
    }
    double r, hi = 0.0, lo = 0.0;
    int k = 0;
    if (hx > 0x3fd62e42u) {
        if (hx < 0x3FF0A2B2u) {
            if (neg) { hi = __dadd_rn(x, ln2_hi); lo = -ln2_lo; k = -1; }
            else { hi = __dsub_rn(x, ln2_hi); lo = ln2_lo; k = 1; }
        } else {
            k = __double2int_rz(__dadd_rn(__dmul_rn(inv_ln2, x), neg ? -0.5 : 0.5));
            const double t = (double)k;
            hi = __dsub_rn(x, __dmul_rn(t, ln2_hi));
            lo = __dmul_rn(t, ln2_lo);
        }
        r = __dsub_rn(hi, lo);
    } else if (hx < 0x3e300000u) {
        return __dadd_rn(1.0, x);
    } else {
        r = x;
    }
    const double t = __dmul_rn(r, r);
    double poly = __dadd_rn(P4, __dmul_rn(t, P5));
    poly = __dadd_rn(P3, __dmul_rn(t, poly));
    poly = __dadd_rn(P2, __dmul_rn(t, poly));
    poly = __dadd_rn(P1, __dmul_rn(t, poly));
    const double c = __dsub_rn(r, __dmul_rn(t, poly));
    if (k == 0) return __dsub_rn(1.0, __dsub_rn(__ddiv_rn(__dmul_rn(r, c), __dsub_rn(c, 2.0)), r));
    const double y = __dsub_rn(1.0, __dsub_rn(__dsub_rn(lo, __ddiv_rn(__dmul_rn(r, c), __dsub_rn(2.0, c))), hi));
    const uint64_t yb = (uint64_t)__double_as_longlong(y);
    if (k >= -1021) return __longlong_as_double((long long)(yb + ((uint64_t)(int64_t)k << 52)));
    return __dmul_rn(__longlong_as_double((long long)(yb + ((uint64_t)(int64_t)(k + 1000) << 52))), two_m1000);
}

// f64 -> binary float of e exponent and m mantissa bits, round to nearest even from the exact
// value: bit for bit src/dtype.rs `f64_to_small_float`.
__device__ uint32_t small_float(double v, uint32_t e_bits, uint32_t m_bits) {
    const uint64_t bits = (uint64_t)__double_as_longlong(v);
    const uint32_t sign = (uint32_t)(bits >> 63) << (e_bits + m_bits);
    const uint64_t a = bits & ~(1ull << 63);
    const uint64_t emax = (1ull << e_bits) - 1;
    const uint32_t inf = (uint32_t)(emax << m_bits);
    if (a >= 0x7ff0000000000000ull) return sign | inf | (a > 0x7ff0000000000000ull ? 1u << (m_bits - 1) : 0);
    const int64_t e = (int64_t)(a >> 52);
    if (e == 0) return sign;
    const int64_t te = e - 1023 + ((1ll << (e_bits - 1)) - 1);
    if (te >= (int64_t)emax) return sign | inf;
    const uint64_t mant = (1ull << 52) | (a & ((1ull << 52) - 1));
    const int64_t shift = (52 - (int64_t)m_bits) + (te < 1 ? 1 - te : 0);
    if (shift > 53) return sign;
    uint64_t q = mant >> shift;
    const uint64_t rem = mant & ((1ull << shift) - 1), half = 1ull << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    uint64_t r = te < 1 ? q : ((uint64_t)te << m_bits) + q - (1ull << m_bits);
    if (r > (emax << m_bits)) r = emax << m_bits;
    return sign | (uint32_t)r;
}
