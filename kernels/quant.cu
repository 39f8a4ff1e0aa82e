// Saraphis GPU decoder for quant containers (codec 5; docs/FORMAT.md section 7; src/codec/quant.rs),
// from device memory into device memory, bit for bit what the CPU decoder produces.
//
// One block of QT_BLOCK threads decodes one chunk at a time (grid-stride over chunks); a verbatim
// chunk (mode 0, written where coding would be larger) is checked and copied.
//  1. the chunk's bounds, its word checksum (odd-weighted sum of little-endian u32 words, as
//     src/codec/segmented.rs `segment_checksum`; block-wide, 16-byte loads when aligned) when
//     `verify`, its prologue (mode, group count, first group) and section lengths; every group's
//     scale and minimum must be finite and its bit width valid;
//  2. error-bounded containers (per-group bit widths): the block computes each group's first
//     element and first code bit by a block-wide prefix sum into shared memory (at most
//     QT_MAX_GROUPS groups per chunk: status 5 above, the CPU decodes);
//  3. fixed-rate block grouping with rows that are a multiple of the block (the common case):
//     each thread decodes 8 consecutive elements from one aligned load of their `bits` bytes of
//     codes, one scale (and minimum) load, and stores them with 16-byte stores when aligned;
//     every other layout decodes element by element.
// Decoding: x' = q * d (+ m), product and sum rounded separately (__fmul_rn / __fadd_rn, no FMA
// contraction; F64 tensors in double), then rounded to F16 / BF16 by cvt.rn. Status per chunk as
// saraphis_decode_exact (0 ok, 1 header or parameters, 2 bad chunk, 4 destination, 5 unsupported
// here, 6 checksum). Containers of other codecs are left alone.
#include "common.cuh"

#define QT_BLOCK 256
#define QT_MAX_GROUPS 4096  // most groups of one error-bounded chunk the GPU decodes
#define QT_UNROLL 4         // octets per thread in flight on the fast path

struct QParams {
    bool ok, bounded, has_min, pow2_rows;
    uint32_t kind, bits, sdt, ssize, lb;
    uint64_t row, per_row, block;
};

__device__ __forceinline__ uint64_t qt_pad(uint64_t n) { return (n + 15) & ~15ull; }

// The parameter block (src/codec/quant.rs QuantPlan::to_bytes / from_bytes) and the geometry.
__device__ QParams qt_params(const uint8_t* c, const Hdr& h) {
    QParams q = {};
    const uint32_t ndim = c[10];
    const uint32_t plen = rd_u32(c + 24 + 8 * ndim);
    const uint8_t* p = c + 28 + 8 * ndim;
    if (h.dtype > 3 || plen < 32 || plen > 47 || p[0] != 1) return q;
    for (uint32_t i = 5; i < plen; i++)
        if ((i < 8 || (i >= 12 && i < 16) || i >= 32) && p[i] != 0) return q;
    q.kind = p[1];
    q.bits = p[2];
    q.sdt = p[3];
    const uint32_t zp = p[4], arg = rd_u32(p + 8);
    const double bound = __longlong_as_double((long long)rd_u64(p + 16));
    const double max_err = __longlong_as_double((long long)rd_u64(p + 24));
    q.bounded = bound != 0.0;
    q.has_min = zp == 1 || q.bounded;
    if (q.sdt > 2 || zp > 1 || q.kind > 2 || !(max_err >= 0.0)) return q;
    q.ssize = q.sdt == 0 ? 4 : 2;
    if (q.bounded) {
        if (!(bound > 0.0 && bound <= 1.79e308) || q.kind != 0 || q.bits != 0 || zp != 1) return q;
    } else if (q.bits < 2 || q.bits > 8) {
        return q;
    }
    if (q.kind == 0) {
        if (arg < 16 || arg > 4096 || (arg & (arg - 1))) return q;
        q.block = arg;
        q.lb = __ffs(arg) - 1;
        q.row = ndim ? rd_u64(c + 24 + 8 * (ndim - 1)) : 1;
        q.per_row = (q.row + q.block - 1) / q.block;
        q.pow2_rows = q.row % q.block == 0;
    } else if (q.kind == 1) {
        if (arg >= ndim) return q;
        uint64_t stride = 1;
        for (uint32_t d = arg + 1; d < ndim; d++) stride *= rd_u64(c + 24 + 8 * d);
        q.row = stride ? stride : 1;
        q.per_row = rd_u64(c + 24 + 8 * arg);
    } else {
        if (arg != 0) return q;
        q.row = h.numel ? h.numel : 1;
        q.per_row = 1;
    }
    q.ok = true;
    return q;
}

__device__ __forceinline__ uint64_t qt_group(const QParams& q, uint64_t i) {
    if (q.kind == 0) return (i / q.row) * q.per_row + (i % q.row) / q.block;
    if (q.kind == 1) return (i / q.row) % q.per_row;
    return 0;
}

__device__ __forceinline__ float qt_scale(const uint8_t* p, uint32_t sdt, uint32_t l) {
    if (sdt == 0) return __uint_as_float(rd_u32(p + 4 * l));
    const uint32_t b = p[2 * l] | (uint32_t)p[2 * l + 1] << 8;
    if (sdt == 2) return __uint_as_float(b << 16);
    float f;
    asm("{ .reg .f16 h; mov.b16 h, %1; cvt.f32.f16 %0, h; }" : "=f"(f) : "h"((unsigned short)b));
    return f;
}

// As qt_scale with one aligned load when the section is 16-byte aligned (`al`).
__device__ __forceinline__ float qt_scale_al(const uint8_t* p, uint32_t sdt, uint32_t l, bool al) {
    if (!al) return qt_scale(p, sdt, l);
    if (sdt == 0) return __uint_as_float(((const uint32_t*)p)[l]);
    const uint32_t b = ((const uint16_t*)p)[l];
    if (sdt == 2) return __uint_as_float(b << 16);
    float f;
    asm("{ .reg .f16 h; mov.b16 h, %1; cvt.f32.f16 %0, h; }" : "=f"(f) : "h"((unsigned short)b));
    return f;
}

// The `bits` bytes of codes of octet `o` (elements 8o .. 8o+7), LSB first: one aligned load for
// 8, 4 and 2 bits when the codes are 16-byte aligned (`al`), else byte loads.
__device__ __forceinline__ uint64_t qt_octet(const uint8_t* codes, uint64_t o, uint32_t bits, bool al) {
    const uint8_t* cp = codes + o * bits;
    if (al && bits == 8) return *(const unsigned long long*)cp;
    if (al && bits == 4) return *(const uint32_t*)cp;
    if (al && bits == 2) return *(const uint16_t*)cp;
    uint64_t w = 0;
    for (uint32_t b = 0; b < bits; b++) w |= (uint64_t)cp[b] << (8 * b);
    return w;
}

// f32 -> F16 / BF16 bits, round to nearest even (as the `half` crate's from_f32 on the CPU).
__device__ __forceinline__ uint32_t qt_f16(float v) {
    unsigned short r;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r) : "f"(v));
    return r;
}
__device__ __forceinline__ uint32_t qt_bf16(float v) {
    const uint32_t u = __float_as_uint(v);  // finite or infinite here: round to nearest even
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

__device__ __forceinline__ int32_t qt_q(uint32_t code, uint32_t bits, bool has_min) {
    if (has_min) return (int32_t)code;
    return bits == 0 ? 0 : (int32_t)code - (1 << (bits - 1));
}

// Element j of `out` (dtype `dt`) from the signed code q: q * d (+ m), rounded as the CPU does.
__device__ __forceinline__ void qt_store(uint8_t* out, uint64_t j, uint32_t dt, int32_t q, float d, float m,
                                         bool has_min) {
    if (dt == 3) {
        double t = __dmul_rn((double)q, (double)d);
        if (has_min) t = __dadd_rn(t, (double)m);
        ((unsigned long long*)out)[j] = (unsigned long long)__double_as_longlong(t);
        return;
    }
    float t = __fmul_rn((float)q, d);
    if (has_min) t = __fadd_rn(t, m);
    if (dt == 0) ((uint32_t*)out)[j] = __float_as_uint(t);
    else ((uint16_t*)out)[j] = (uint16_t)(dt == 1 ? qt_f16(t) : qt_bf16(t));
}

// `bits` (<= 32) bits at bit offset `pos` of `p` (LSB first), by byte loads.
__device__ __forceinline__ uint32_t qt_read(const uint8_t* p, uint64_t pos, uint32_t bits) {
    if (bits == 0) return 0;
    const uint8_t* b = p + (pos >> 3);
    const uint32_t sh = pos & 7, need = (sh + bits + 7) >> 3;
    uint64_t w = 0;
    for (uint32_t k = 0; k < need; k++) w |= (uint64_t)b[k] << (8 * k);
    return (uint32_t)((w >> sh) & ((1ull << bits) - 1));
}

// Block-wide sum of `v` (every thread calls it; ends synchronised).
__device__ __forceinline__ uint32_t qt_block_sum(uint32_t v, uint32_t* red) {
    for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const uint32_t t = threadIdx.x;
    __syncthreads();
    if ((t & 31) == 0) red[t / 32] = v;
    __syncthreads();
    uint32_t s = 0;
    for (uint32_t w = 0; w < QT_BLOCK / 32; w++) s += red[w];
    __syncthreads();
    return s;
}

// A verbatim chunk (mode 0: 16 zero bytes, the `nb` bytes of its elements, zero padding to 16):
// checks it and copies the elements to `o`; returns the chunk's status, the same in every thread.
// Out of line: inlined, it raised the kernel from 64 to 97 registers (half the resident blocks).
__device__ __noinline__ int32_t qt_verbatim(const uint8_t* p0, uint32_t clen, uint32_t nb, uint8_t* o) {
    const uint32_t t = threadIdx.x;
    int bad = clen != qt_pad(16ull + nb);
    for (uint32_t b = 1 + t; b < 16; b += QT_BLOCK) bad |= p0[b] != 0;
    for (uint32_t b = 16 + nb + t; !bad && b < clen; b += QT_BLOCK) bad |= p0[b] != 0;
    if (__syncthreads_or(bad)) return 2;
    const uint8_t* src = p0 + 16;
    if ((((uintptr_t)src | (uintptr_t)o) & 15) == 0) {
        for (uint32_t v = t; v < nb / 16; v += QT_BLOCK) ((uint4*)o)[v] = ((const uint4*)src)[v];
        for (uint32_t b = nb / 16 * 16 + t; b < nb; b += QT_BLOCK) o[b] = src[b];
    } else {
        for (uint32_t b = t; b < nb; b += QT_BLOCK) o[b] = src[b];
    }
    return 0;
}

__device__ __forceinline__ void decode_quant(const uint8_t* __restrict__ c, uint64_t c_len, uint32_t want_dtype,
                                             uint8_t* __restrict__ out, uint64_t out_len, int32_t* status,
                                             uint64_t status_len, uint32_t verify) {
    __shared__ uint32_t q_off[QT_MAX_GROUPS];    // bounded: first code bit of each local group
    __shared__ uint32_t q_start[QT_MAX_GROUPS];  // bounded: first element (chunk-relative)
    __shared__ uint32_t red[QT_BLOCK / 32];
    __shared__ int32_t sh_st;
    const uint32_t t = threadIdx.x;
    const Hdr h = parse_header(c, c_len);
    if (!h.ok || h.codec != 5) return;  // bad headers: saraphis_decode_exact reports them
    const QParams q = qt_params(c, h);
    const uint32_t dt = h.dtype, size = h.size;
    const bool dst_ok = dt == want_dtype && h.numel * size == out_len;
    for (uint64_t ci = blockIdx.x; ci < h.n_chunks; ci += gridDim.x) {
        const uint8_t* e = c + h.nc_at + 4 + 16 * ci;
        const uint64_t off = rd_u64(e);
        const uint32_t clen = rd_u32(e + 8);
        const uint64_t s = ci * h.chunk_elems;
        const uint64_t n = s < h.numel ? min((uint64_t)h.chunk_elems, h.numel - s) : 0;
        int32_t st = 0;
        if (!q.ok) st = 1;
        else if (!dst_ok) st = 4;
        else if (h.header_len + off + clen > c_len || clen < 16 || clen % 16 || n == 0) st = 2;
        const uint8_t* p0 = c + h.header_len + off;
        if (verify && st == 0) {
            uint32_t sum = 0;
            const uint32_t words = clen / 4;
            if (((uintptr_t)p0 & 15) == 0) {
                for (uint32_t v = t; v < words / 4; v += QT_BLOCK) {
                    const uint4 w = ((const uint4*)p0)[v];
                    const uint32_t i = 4 * v;
                    sum += w.x * (2 * i + 1) + w.y * (2 * i + 3) + w.z * (2 * i + 5) + w.w * (2 * i + 7);
                }
            } else {
                for (uint32_t i = t; i < words; i += QT_BLOCK) sum += rd_u32(p0 + 4 * i) * (2 * i + 1);
            }
            if (qt_block_sum(sum, red) != rd_u32(e + 12)) st = 6;
        }
        // ---- a verbatim chunk (mode 0)
        if (st == 0 && p0[0] == 0) {
            st = qt_verbatim(p0, clen, (uint32_t)(n * size), out + s * size);
            if (t == 0 && status && ci < status_len) status[ci] = st;
            __syncthreads();
            continue;
        }
        // ---- prologue and sections
        const uint64_t g0 = n ? qt_group(q, s) : 0;
        uint64_t k = 0;
        if (st == 0) {
            if (q.kind == 0) k = qt_group(q, s + n - 1) - g0 + 1;
            else if (q.kind == 1) k = min((s + n - 1) / q.row - s / q.row + 1, q.per_row);
            else k = 1;
            if (p0[0] != 1 || p0[1] || p0[2] || p0[3] || rd_u32(p0 + 4) != k || rd_u64(p0 + 8) != g0) st = 2;
        }
        const uint64_t bits_len = q.bounded ? qt_pad(k) : 0, sc_len = qt_pad(k * q.ssize);
        const uint64_t head = 16 + bits_len + sc_len + (q.has_min ? sc_len : 0);
        if (st == 0 && head > clen) st = 2;
        if (st == 0 && q.bounded && (k > QT_MAX_GROUPS || n >= (1ull << 26))) st = 5;
        const uint8_t* bp = p0 + 16;
        const uint8_t* ds = bp + bits_len;
        const uint8_t* ms = ds + sc_len;
        const uint8_t* codes = p0 + head;
        uint64_t total_bits = n * q.bits;
        if (st == 0) {
            // Every group's scale and minimum finite, its width valid; bounded: offsets.
            int32_t bad = 0;
            uint32_t carry = 0;
            for (uint32_t base = 0; base < k; base += QT_BLOCK) {
                const uint32_t l = base + t;
                uint32_t want = 0;
                if (l < k) {
                    const float d = qt_scale(ds, q.sdt, l), m = q.has_min ? qt_scale(ms, q.sdt, l) : 0.f;
                    if (!isfinite(d) || !isfinite(m)) bad = 1;
                    if (q.bounded) {
                        const uint32_t b = bp[l];
                        if (b > 8 && b != 8 * size) bad = 1;
                        const uint64_t g = g0 + l, r = g / q.per_row, jb = g % q.per_row;
                        const uint64_t gs = max(r * q.row + jb * q.block, s);
                        const uint64_t ge = min(r * q.row + min((jb + 1) * q.block, q.row), s + n);
                        q_start[l] = (uint32_t)(gs - s);
                        want = (uint32_t)(ge - gs) * b;
                    }
                }
                if (q.bounded) {
                    // Block-wide exclusive scan of `want` (bits of each group in this tile).
                    uint32_t x = want;
                    for (int o = 1; o < 32; o <<= 1) {
                        const uint32_t y = __shfl_up_sync(0xffffffffu, x, o);
                        if ((t & 31) >= (uint32_t)o) x += y;
                    }
                    __syncthreads();
                    if ((t & 31) == 31) red[t / 32] = x;
                    __syncthreads();
                    uint32_t before = carry, tile = 0;
                    for (uint32_t w = 0; w < QT_BLOCK / 32; w++) {
                        if (w < t / 32) before += red[w];
                        tile += red[w];
                    }
                    if (l < k) q_off[l] = before + x - want;
                    carry += tile;
                }
            }
            if (q.bounded) total_bits = carry;
            bad = __syncthreads_or(bad);
            if (bad) st = 2;
            if (st == 0) {
                const uint64_t used = (total_bits + 7) / 8;
                if (qt_pad(head + used) != clen) st = 2;
                else if (t == 0) {
                    for (uint64_t b = head + used; b < clen; b++)
                        if (p0[b]) st = 2;
                    if ((total_bits & 7) && (p0[head + used - 1] >> (total_bits & 7))) st = 2;
                }
            }
        }
        if (t == 0) sh_st = st;
        __syncthreads();
        st = sh_st;
        __syncthreads();
        if (st == 0) {
            const bool al = ((uintptr_t)codes & 15) == 0;  // then the scale sections are aligned too
            const bool vec = ((uintptr_t)(out + s * size) & 15) == 0;
            if (!q.bounded && q.kind == 0 && q.pow2_rows && (s & 7) == 0 && vec && dt != 3) {
                // Fast path: 8 elements (one "octet") per thread and step, QT_UNROLL octets per
                // thread in flight (codes and scales loaded first, then decoded and stored with
                // 16-byte stores); every octet lies in one group (blocks of >= 16, s % 8 == 0).
                const uint32_t bits = q.bits, mask = (1u << bits) - 1;
                const uint32_t first = (uint32_t)(s & (q.block - 1));
                const uint64_t octets = n / 8;
                for (uint64_t base = 0; base < octets; base += (uint64_t)QT_BLOCK * QT_UNROLL) {
                    uint64_t w[QT_UNROLL];
                    float d[QT_UNROLL], m[QT_UNROLL];
#pragma unroll
                    for (int u = 0; u < QT_UNROLL; u++) {
                        const uint64_t o = base + t + (uint64_t)QT_BLOCK * u;
                        w[u] = 0;
                        d[u] = m[u] = 0.f;
                        if (o < octets) {
                            const uint32_t l = (uint32_t)((first + 8 * o) >> q.lb);
                            w[u] = qt_octet(codes, o, bits, al);
                            d[u] = qt_scale_al(ds, q.sdt, l, al);
                            if (q.has_min) m[u] = qt_scale_al(ms, q.sdt, l, al);
                        }
                    }
#pragma unroll
                    for (int u = 0; u < QT_UNROLL; u++) {
                        const uint64_t o = base + t + (uint64_t)QT_BLOCK * u;
                        if (o >= octets) continue;
                        uint32_t v[8];
#pragma unroll
                        for (int k2 = 0; k2 < 8; k2++) {
                            const int32_t qq = qt_q((uint32_t)(w[u] >> (bits * k2)) & mask, bits, q.has_min);
                            float x = __fmul_rn((float)qq, d[u]);
                            if (q.has_min) x = __fadd_rn(x, m[u]);
                            v[k2] = dt == 0 ? __float_as_uint(x) : dt == 1 ? qt_f16(x) : qt_bf16(x);
                        }
                        if (dt == 0) {
                            uint4* o4 = (uint4*)(out + (s + 8 * o) * 4);
                            o4[0] = make_uint4(v[0], v[1], v[2], v[3]);
                            o4[1] = make_uint4(v[4], v[5], v[6], v[7]);
                        } else {
                            *(uint4*)(out + (s + 8 * o) * 2) = make_uint4(v[0] | v[1] << 16, v[2] | v[3] << 16,
                                                                          v[4] | v[5] << 16, v[6] | v[7] << 16);
                        }
                    }
                }
                // The last elements (fewer than 8), one per thread.
                const uint64_t j = 8 * octets + t;
                if (j < n) {
                    const uint32_t l = (uint32_t)((first + j) >> q.lb);
                    const float d = qt_scale(ds, q.sdt, l), m = q.has_min ? qt_scale(ms, q.sdt, l) : 0.f;
                    qt_store(out, s + j, dt, qt_q(qt_read(codes, j * bits, bits), bits, q.has_min), d, m, q.has_min);
                }
            } else if (q.kind == 0 && q.pow2_rows && (s & (q.block - 1)) == 0) {
                // Blocks that start with the chunk (every chunk of the default sizes): the group
                // of element j is j / block, without the general 64-bit index arithmetic.
                for (uint64_t j = t; j < n; j += QT_BLOCK) {
                    const uint32_t l = (uint32_t)(j >> q.lb);
                    const uint32_t bits = q.bounded ? bp[l] : q.bits;
                    const uint64_t pos =
                        q.bounded ? q_off[l] + (uint64_t)(j - ((uint64_t)l << q.lb)) * bits : j * q.bits;
                    if (bits > 8) {  // verbatim element
                        uint8_t* o = out + (s + j) * size;
                        for (uint32_t b = 0; b < size; b++) o[b] = (uint8_t)qt_read(codes, pos + 8 * b, 8);
                        continue;
                    }
                    const float d = qt_scale(ds, q.sdt, l), m = q.has_min ? qt_scale(ms, q.sdt, l) : 0.f;
                    qt_store(out, s + j, dt, qt_q(qt_read(codes, pos, bits), bits, q.has_min), d, m, q.has_min);
                }
            } else {
                for (uint64_t j = t; j < n; j += QT_BLOCK) {
                    const uint64_t g = qt_group(q, s + j);
                    const uint32_t l = (uint32_t)(q.kind == 1 ? (g + q.per_row - g0) % q.per_row : g - g0);
                    const uint32_t bits = q.bounded ? bp[l] : q.bits;
                    const uint64_t pos = q.bounded ? q_off[l] + (uint64_t)(j - q_start[l]) * bits : j * q.bits;
                    if (bits > 8) {  // verbatim element
                        uint8_t* o = out + (s + j) * size;
                        for (uint32_t b = 0; b < size; b++) o[b] = (uint8_t)qt_read(codes, pos + 8 * b, 8);
                        continue;
                    }
                    const float d = qt_scale(ds, q.sdt, l), m = q.has_min ? qt_scale(ms, q.sdt, l) : 0.f;
                    const int32_t qq = qt_q(qt_read(codes, pos, bits), bits, q.has_min);
                    qt_store(out, s + j, dt, qq, d, m, q.has_min);
                }
            }
        }
        if (t == 0 && status && ci < status_len) status[ci] = st;
        __syncthreads();
    }
}

extern "C" __global__ void __launch_bounds__(QT_BLOCK, 4)  // 4 blocks per SM: 64 registers, no spills
saraphis_decode_quant(const uint8_t* __restrict__ c, uint64_t c_len, uint32_t want_dtype, uint8_t* __restrict__ out,
                      uint64_t out_len, int32_t* status, uint64_t status_len, uint32_t verify) {
    pdl_allow_dependents();
    decode_quant(c, c_len, want_dtype, out, out_len, status, status_len, verify);
    pdl_wait_prerequisites();
}
