// Helpers shared by the Saraphis kernels: little-endian reads and writes, LEB128 varints and
// block-wide CRC-32 (IEEE 802.3, reflected, as zlib and the crc32fast crate).
#pragma once
#include <stdint.h>

#define RANS_L (1u << 15)  // lower bound of the rANS state interval (src/entropy/rans.rs)
#define BLOCK 128          // threads per block of every kernel = most rANS lanes per stream

__device__ __forceinline__ uint32_t rd_u32(const uint8_t* p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
__device__ __forceinline__ uint64_t rd_u64(const uint8_t* p) {
    return (uint64_t)rd_u32(p) | ((uint64_t)rd_u32(p + 4) << 32);
}
// ---- CRC-32 (IEEE 802.3, reflected, as zlib and the crc32fast crate)
#define CRC_POLY 0xEDB88320u

// a * b mod P in the reflected representation (zlib's multmodp).
__device__ uint32_t crc_multmodp(uint32_t a, uint32_t b) {
    uint32_t m = 1u << 31, p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0) break;
        }
        m >>= 1;
        b = b & 1 ? (b >> 1) ^ CRC_POLY : b >> 1;
    }
    return p;
}

// x^(8 n) mod P, from x2n[k] = x^(2^k) mod P (zlib's x2nmodp with k = 3).
__device__ uint32_t crc_x8nmodp(const uint32_t* x2n, uint64_t n) {
    uint32_t p = 1u << 31;
    uint32_t k = 3;
    while (n) {
        if (n & 1) p = crc_multmodp(x2n[k & 31], p);
        n >>= 1;
        k++;
    }
    return p;
}

// CRC of A||B from crc(A), crc(B) and |B| (zlib's crc32_combine).
__device__ __forceinline__ uint32_t crc_combine(const uint32_t* x2n, uint32_t a, uint32_t b, uint64_t len_b) {
    return crc_multmodp(crc_x8nmodp(x2n, len_b), a) ^ b;
}

// LEB128; returns false if it runs past `end` or exceeds 64 bits.
__device__ bool rd_varint(const uint8_t** p, const uint8_t* end, uint64_t* v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end) return false;
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *v = r; return true; }
    }
    return false;
}

struct CrcShared {
    uint32_t crc_table[256];
    uint32_t x2n[32];
    uint32_t part_crc[BLOCK / 32];
    uint64_t part_len[BLOCK / 32];
};

// Fill the byte table and the x^(2^k) powers; ends with __syncthreads().
// Programmatic dependent launch (sm_90 and newer; CUDA programming guide, "Programmatic
// Dependent Launch and Synchronization"). The decode kernels call `pdl_allow_dependents` first,
// so that the next decode enqueued on the stream with the programmatic-serialization launch
// attribute may start at once, and `pdl_wait_prerequisites` last, so that a kernel finishes only
// after the kernels it overlapped: the stream's later work, which waits for this kernel's end,
// then also sees theirs. Without the attribute (or before sm_90) both are no-ops.
__device__ __forceinline__ void pdl_allow_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_wait_prerequisites() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__constant__ uint32_t CRC_X2N[32] = {
    0x40000000, 0x20000000, 0x08000000, 0x00800000, 0x00008000, 0xedb88320, 0xb1e6b092, 0xa06a2517,
    0xed627dae, 0x88d14467, 0xd7bbfe6a, 0xec447f11, 0x8e7ea170, 0x6427800e, 0x4d47bae0, 0x09fe548f,
    0x83852d0f, 0x30362f1a, 0x7b5a9cc3, 0x31fec169, 0x9fec022a, 0x6c8dedc4, 0x15d6874d, 0x5fde7a4e,
    0xbad90e37, 0x2e4e5eef, 0x4eaba214, 0xa8a472c0, 0x429a969e, 0x148d302a, 0xc40ba6d0, 0xc4e22c3c};

__device__ void crc_init(CrcShared& sh) {
    for (uint32_t i = threadIdx.x; i < 256; i += blockDim.x) {
        uint32_t v = i;
        for (int k = 0; k < 8; k++) v = v & 1 ? (v >> 1) ^ CRC_POLY : v >> 1;
        sh.crc_table[i] = v;
    }
    // x^(2^k) mod P: the squares of x^1, precomputed (zlib crc32.c x2n_table). Computing them here
    // took one thread 31 dependent crc_multmodp calls: about 26 us per block on an H200 (a single
    // decode call of a lossless-v2 tensor, whose layout-v1 kernel did this and exited, took 41 us
    // of GPU time with it and 15 without: docs/BENCHMARKS.md).
    for (uint32_t k = threadIdx.x; k < 32; k += blockDim.x) sh.x2n[k] = CRC_X2N[k];
    __syncthreads();
}

// CRC-32 of bytes [p, p + len) by the whole block; the result is valid in thread 0.
__device__ uint32_t block_crc32(CrcShared& sh, const uint8_t* p, uint64_t len) {
    const uint32_t t = threadIdx.x;
    const uint64_t per = (len + blockDim.x - 1) / blockDim.x;
    const uint64_t s0 = t * per < len ? t * per : len;
    const uint64_t s1 = s0 + per < len ? s0 + per : len;
    uint32_t c = 0xFFFFFFFFu;
    for (uint64_t i = s0; i < s1; i++) c = sh.crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    c ^= 0xFFFFFFFFu;
    uint64_t n = s1 - s0;
    // In-order tree reduction inside the warp: lane i absorbs lane i + d.
    for (int d = 1; d < 32; d <<= 1) {
        const uint32_t oc = __shfl_down_sync(0xffffffffu, c, d);
        const uint64_t on = __shfl_down_sync(0xffffffffu, n, d);
        if ((t & 31) % (2 * d) == 0 && (t & 31) + d < 32) {
            c = crc_combine(sh.x2n, c, oc, on);
            n += on;
        }
    }
    if ((t & 31) == 0) { sh.part_crc[t / 32] = c; sh.part_len[t / 32] = n; }
    __syncthreads();
    uint32_t r = 0;
    if (t == 0) {
        r = sh.part_crc[0];
        for (uint32_t w = 1; w < blockDim.x / 32; w++) r = crc_combine(sh.x2n, r, sh.part_crc[w], sh.part_len[w]);
    }
    __syncthreads();
    return r;
}

// The fixed header fields every kernel needs (docs/FORMAT.md section 1).
struct Hdr {
    bool ok;
    uint32_t dtype, codec, chunk_elems, size, exp_bits, man_bits, nplanes, nstreams;
    uint64_t numel, nc_at, n_chunks, header_len;
};

__device__ Hdr parse_header(const uint8_t* c, uint64_t c_len) {
    Hdr h = {};
    if (c_len < 28 || c[0] != 'S' || c[1] != 'P' || c[2] != 'H' || c[3] != 'T' || c[4] != 1 || c[5] != 0) return h;
    h.dtype = c[8];
    h.codec = c[9];
    const uint32_t ndim = c[10];
    h.chunk_elems = rd_u32(c + 12);
    h.numel = rd_u64(c + 16);
    if (ndim > 8 || h.chunk_elems == 0 || 28ull + 8 * ndim > c_len) return h;
    h.nc_at = 28ull + 8 * ndim + rd_u32(c + 24 + 8 * ndim);
    if (h.nc_at + 4 > c_len) return h;
    h.n_chunks = rd_u32(c + h.nc_at);
    h.header_len = h.nc_at + 4 + 16 * h.n_chunks + 4;
    if (h.header_len > c_len) return h;
    switch (h.dtype) {
        case 0: h.size = 4; h.exp_bits = 8; h.man_bits = 23; break;   // F32
        case 1: h.size = 2; h.exp_bits = 5; h.man_bits = 10; break;   // F16
        case 2: h.size = 2; h.exp_bits = 8; h.man_bits = 7; break;    // BF16
        case 3: h.size = 8; h.exp_bits = 11; h.man_bits = 52; break;  // F64
        case 4: case 8: case 12: h.size = 1; break;
        case 5: case 9: h.size = 2; break;
        case 6: case 10: h.size = 4; break;
        default: h.size = 8; break;
    }
    h.nplanes = h.codec == 1 ? (h.man_bits + 1 + 7) / 8 : h.size;
    h.nstreams = h.codec == 1 ? 1 + h.nplanes : h.nplanes;
    h.ok = true;
    return h;
}

// The start of chunk `ci` for every decoder: its chunk-table entry and bounds, the destination
// check, the kernel's own precondition `pre_st` (0 = none), the chunk's CRC-32 when `verify`
// (block-wide; every thread calls this), and raw chunks (mode byte 0), copied here. `st` is the
// chunk status so far; a coded chunk (mode byte 1, `coded_ok`) is left for the caller with st 0.
struct Chunk {
    const uint8_t* p0;   // the chunk's bytes
    const uint8_t* end;  // one past them
    uint8_t* dst;        // its first element in the output
    uint64_t n;          // elements
    int32_t st;
    bool coded;          // st == 0 and mode byte 1: the caller decodes it
};

__device__ Chunk chunk_begin(const uint8_t* c, uint64_t c_len, const Hdr& h, uint64_t ci, bool dst_ok, int32_t pre_st,
                             bool coded_ok, uint8_t* out, CrcShared& crc, uint32_t verify) {
    const uint32_t t = threadIdx.x;
    const uint8_t* e = c + h.nc_at + 4 + 16 * ci;
    const uint64_t off = rd_u64(e);
    const uint32_t clen = rd_u32(e + 8);
    const uint64_t start = ci * h.chunk_elems;
    Chunk k;
    k.n = h.numel - start < h.chunk_elems ? h.numel - start : h.chunk_elems;
    k.st = 0;
    k.coded = false;
    if (!dst_ok) k.st = 4;
    else if (h.header_len + off + clen > c_len || clen == 0 || start >= h.numel) k.st = 1;
    else k.st = pre_st;
    if (verify && k.st == 0) {
        __shared__ int32_t crc_bad;
        const uint32_t got = block_crc32(crc, c + h.header_len + off, clen);
        if (t == 0) crc_bad = got != rd_u32(e + 12);
        __syncthreads();
        if (crc_bad) k.st = 6;
    }
    k.p0 = c + h.header_len + off;
    k.end = k.p0 + clen;
    k.dst = out + start * h.size;
    if (k.st == 0 && k.p0[0] == 0) {  // raw chunk
        if (clen != 1 + k.n * h.size) k.st = 2;
        else for (uint64_t b = t; b < k.n * h.size; b += blockDim.x) k.dst[b] = k.p0[1 + b];
    } else if (k.st == 0 && (k.p0[0] != 1 || !coded_ok)) {
        k.st = 2;  // unknown chunk mode, or a coded chunk in a raw container
    } else if (k.st == 0) {
        k.coded = true;
    }
    return k;
}
