// Device helpers shared by the encoders (encode.cu, padic_encode.cu): little-endian writers,
// varints, lane counts, rANS encoder table entries and the reciprocal-division encode step,
// word stores. Included explicitly by each .cu that uses them; every .cu compiles on its own.
#pragma once
#include "common.cuh"

__device__ __forceinline__ void wr_u32(uint8_t* p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

__device__ __forceinline__ void wr_u64(uint8_t* p, uint64_t v) {
    wr_u32(p, (uint32_t)v);
    wr_u32(p + 4, (uint32_t)(v >> 32));
}

__device__ __forceinline__ uint32_t varint_len(uint64_t v) {
    uint32_t n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}

__device__ __forceinline__ uint8_t* put_varint(uint8_t* p, uint64_t v) {
    while (v >= 0x80) { *p++ = (uint8_t)v | 0x80; v >>= 7; }
    *p++ = (uint8_t)v;
    return p;
}

// entropy::rans::lanes_for
__device__ __forceinline__ uint32_t lanes_for(uint64_t n, uint32_t max_lanes) {
    const uint32_t m = max_lanes == 0 ? 32 : (max_lanes > 255 ? 255 : max_lanes);
    if (n >= (1u << 15)) return m;
    if (n >= (1u << 11)) return m < 8 ? m : 8;
    return 1;
}

// One reciprocal-encoder entry (entropy::rans::EncTable::new) of a symbol of frequency f whose
// slots start at cum: *tab = f | cum << 13 | rshift << 26, *rcp = the reciprocal.
__device__ __forceinline__ void enc_entry(uint32_t f, uint32_t cum, uint32_t* tab, uint32_t* rcp) {
    uint32_t shift = 0;
    while (f > (1u << shift)) shift++;
    uint32_t r = 0xFFFFFFFFu, rshift = 0;
    if (f >= 2) {
        r = (uint32_t)(((1ull << (shift + 31)) + f - 1) / f);
        rshift = shift - 1;
    }
    *tab = f | (cum << 13) | (rshift << 26);
    *rcp = r;
}

// One rANS step (entropy::rans::EncTable::put); returns true if a word was emitted into *w.
__device__ __forceinline__ bool enc_put(uint32_t& x, uint32_t packed, uint32_t rcp, uint32_t m, uint32_t* w) {
    const uint32_t f = packed & 0x1FFF, cum = (packed >> 13) & 0x1FFF, rshift = packed >> 26;
    const uint32_t x_max = ((RANS_L >> m) << 16) * f;
    bool out = false;
    if (x >= x_max) {
        *w = x & 0xFFFF;
        x >>= 16;
        out = true;
    }
    const uint32_t bias = f < 2 ? cum + (1u << m) - 1 : cum;
    const uint32_t q = __umulhi(x, rcp) >> rshift;
    x = x + bias + q * ((1u << m) - f);
    return out;
}

// Store word k of a lane whose count is cnt at base (back to front); false if k >= cnt.
__device__ __forceinline__ bool put_word(uint8_t* base, uint32_t cnt, uint32_t k, uint32_t w) {
    if (k >= cnt) return false;
    uint8_t* p = base + 2ull * (cnt - 1 - k);
    p[0] = (uint8_t)w;
    p[1] = (uint8_t)(w >> 8);
    return true;
}
