// Saraphis GPU decoder for p-adic containers (codec 2; docs/FORMAT.md section 4), from device
// memory into device memory, bit for bit what the CPU decoder (src/codec/padic.rs) produces.
//
// One block of BLOCK threads decodes one chunk at a time (grid-stride over chunks):
//  1. thread 0 parses the chunk: exceptions (walked to find their end), the relative mode's sign
//     bits, then each digit plane's section (mode, context tables, lane headers, sign bits); for a
//     sparse plane the block finds the end of its index gaps by counting varint terminators;
//  2. the chunk is decoded in tiles of PT_TILE elements (a multiple of the lane count, so lane l
//     owns the same column of every tile). For each tile, planes are taken most significant first:
//       - rANS planes: thread l decodes lane l's elements of the tile in order; the context of
//         element i needs its own higher value hi[i] and the plane values of elements i - L and
//         i - 2L of its lane, kept in registers (from the previous tile through `last2`, the
//         final values of its last two rows: floor(value / p^k) gives the plane-k value);
//       - sparse planes (CSR): the block parses index gaps 512 bytes at a time (terminator bytes
//         ranked by a block scan, each varint decoded by one thread, the indices by a prefix sum)
//         until the next index lies past the tile, then the nonzero digits of those ordinals are
//         decoded from their own u16 stream (thread l takes lane l) and scattered;
//       - raw and zero planes directly;
//     then the block ranks the elements whose leading digit is in the plane (a prefix count in
//     element order) to read their sign bits, and updates hi = hi * p + digit.
//  3. each element is reconstructed (|q| = hi * p^j + (p^j - 1) / 2 when only the top planes are
//     read) and rounded to the dtype exactly as the CPU does: one IEEE multiplication by the step,
//     fdlibm's exp without FMA in relative mode (det_exp), round to nearest even (small_float);
//  4. thread 0 writes the exceptions' raw bytes; every lane must end in its initial rANS state
//     with its words consumed, every index and sign bit must be used, else the chunk's status says
//     so. Every read is bounds-checked.
// Status per chunk as saraphis_decode_exact (0 ok, 1 header, 2 stream, 3 rANS state, 4
// destination, 5 unsupported here: more than PT_PLANES planes read, a rANS plane with more than
// BLOCK lanes or lane counts that differ between planes, a rANS-coded sparse digit stream with
// more than PT_SP_ALPHA symbols; 6 CRC-32). Containers of other codecs are left alone.
// Dynamic shared memory: PT_PLANES * PT_PLANE_BYTES.
#include "common.cuh"
#include "padic.cuh"

#define PT_TILE 1024     // elements per tile (rounded down to a multiple of the lane count)
#define PT_PLANES 8      // most digit planes a block holds (p >= 211 never needs more)
#define PT_TABLES 48     // context tables of a rANS plane (3 own-value x 16 neighbour buckets)
#define PT_BUCKETS 32    // bucket symbols of a digit
#define PT_SP_ALPHA 256  // largest alphabet of a rANS-coded sparse digit stream on the GPU
#define PT_COARSE 64     // coarse slot index per table: first candidate symbol
#define PT_WINDOW (4 * BLOCK)  // bytes of index gaps parsed per step

struct PPlane {
    uint32_t mode, kind, lanes, sm;  // plane mode; context set; lanes of its lane stream; sparse digit stream mode
    uint32_t raw_at, sign_at, sign_end, sign_count;  // offsets from the chunk payload start
    uint32_t nnz, gap_at, gap_end, ordinal;          // sparse: count, cursor, end of the gaps, taken so far
    uint32_t svalue, sraw_at, sscale, pad;           // sparse digit stream: constant, raw digits, scale bits
    uint64_t next;                                    // sparse: index after the last nonzero taken
    uint64_t pw;                                      // p^(read - 1 - plane): plane value from a final value
    uint32_t x[BLOCK], pos[BLOCK], end[BLOCK];        // lane states and word cursors (offsets)
    uint8_t present[PT_TABLES], m[PT_TABLES];         // per table: present, scale bits
    uint16_t cum[PT_TABLES * (PT_BUCKETS + 1)];       // cumulative frequencies (sparse: cum[0..=256])
    uint8_t coarse[PT_TABLES * PT_COARSE];            // symbol at slot (c << m) / 64 (sparse: table 0)
};
#define PT_PLANE_BYTES 7952
static_assert(sizeof(PPlane) == PT_PLANE_BYTES, "PT_PLANE_BYTES mirrors src/backend/cuda.rs");

struct PSh {
    CrcShared crc;
    uint64_t hi[PT_TILE];       // value of the planes read so far, per element of the tile
    uint64_t last2[2][BLOCK];   // final values of the previous tile's last two rows, per lane
    uint64_t idx[PT_WINDOW];    // sparse: index of each varint of the window
    uint64_t wsum64[BLOCK / 32];
    uint16_t dig[PT_TILE];      // the plane's digits
    uint16_t sidx[PT_TILE];     // sparse: tile offsets of the nonzeros
    uint16_t sval[PT_TILE];     // sparse: their digits
    uint16_t tpos[PT_WINDOW];   // sparse: window offsets of terminator bytes, by rank
    uint8_t neg[PT_TILE];
    uint32_t wsum[BLOCK / 32];
    uint32_t bad, unsup, found, lanes;
    uint32_t n_exc, exc_at, vneg_at, end_at;
};


// Thread 0: a frequency table over `alphabet` symbols into cum[0..=alphabet] (absent symbols
// get zero width) and its scale bits. False on a malformed table.
__device__ bool pt_table(const uint8_t** p, const uint8_t* end, uint32_t alphabet, uint16_t* cum, uint8_t* m_out) {
    if (*p >= end) return false;
    const uint32_t m = *(*p)++;
    if (m > 15) return false;
    uint64_t k;
    if (!rd_varint(p, end, &k) || k == 0 || k > alphabet || k > (1ull << m)) return false;
    uint64_t next = 0, sum = 0;
    for (uint64_t j = 0; j < k; j++) {
        uint64_t gap, f;
        if (!rd_varint(p, end, &gap) || !rd_varint(p, end, &f)) return false;
        if (gap >= alphabet || next + gap >= alphabet || f >= (1ull << m)) return false;
        const uint64_t sym = next + gap;
        for (uint64_t s = next; s <= sym; s++) cum[s] = (uint16_t)sum;
        sum += f + 1;
        if (sum > (1ull << m)) return false;
        next = sym + 1;
    }
    if (sum != (1ull << m)) return false;
    for (uint64_t s = next; s <= alphabet; s++) cum[s] = (uint16_t)sum;
    *m_out = (uint8_t)m;
    return true;
}

// Block: coarse[c] = the symbol holding slot (c << m) >> 6, for `ntab` tables of `alphabet`.
__device__ void pt_coarse(PPlane& P, uint32_t ntab, uint32_t alphabet) {
    for (uint32_t e = threadIdx.x; e < ntab * PT_COARSE; e += blockDim.x) {
        const uint32_t tb = e / PT_COARSE, c = e % PT_COARSE;
        if (!P.present[tb]) continue;
        const uint16_t* cum = P.cum + tb * (alphabet + 1);
        const uint32_t slot = (c << P.m[tb]) >> 6;
        uint32_t s = 0;
        while (cum[s + 1] <= slot) s++;
        P.coarse[e] = (uint8_t)s;
    }
}

// Thread 0: a lane stream header for n symbols into P.x/pos/end. 0 ok, 1 malformed, 2 unsupported.
__device__ int pt_lanes(const uint8_t* p0, const uint8_t** p, const uint8_t* end, uint64_t n, PPlane& P) {
    if (*p >= end) return 1;
    const uint32_t lanes = *(*p)++;
    if (lanes == 0) return 1;
    if (lanes > BLOCK) return 2;
    if ((uint64_t)(end - *p) < 8ull * lanes) return 1;
    uint64_t total = 0;
    for (uint32_t l = 0; l < lanes; l++) {
        const uint32_t x = rd_u32(*p + 8 * l), nw = rd_u32(*p + 8 * l + 4);
        if (x < RANS_L || x >= (RANS_L << 16) || nw > n + 2) return 1;
        P.x[l] = x;
        P.pos[l] = (uint32_t)total;  // relative for now
        total += nw;
    }
    *p += 8 * lanes;
    if ((uint64_t)(end - *p) < 2 * total) return 1;
    const uint32_t base = (uint32_t)(*p - p0);
    for (uint32_t l = 0; l < lanes; l++) {
        const uint32_t nw_end = l + 1 < lanes ? P.pos[l + 1] : (uint32_t)total;
        P.end[l] = base + 2 * nw_end;
        P.pos[l] = base + 2 * P.pos[l];
    }
    *p += 2 * total;
    P.lanes = lanes;
    return 0;
}

// One symbol of a table: find the slot's symbol from the coarse index, advance the state.
__device__ __forceinline__ uint32_t pt_sym(const uint16_t* cum, const uint8_t* coarse, uint32_t m, uint32_t& x) {
    const uint32_t slot = x & ((1u << m) - 1);
    uint32_t s = coarse[(slot << 6) >> m];
    while (cum[s + 1] <= slot) s++;
    x = (uint32_t)(cum[s + 1] - cum[s]) * (x >> m) + slot - cum[s];
    return s;
}

__device__ __forceinline__ void pt_renorm(uint32_t& x, uint32_t& pos, uint32_t end, const uint8_t* p0, bool& bad) {
    if (x < RANS_L) {
        if ((uint64_t)pos + 2 > end) {
            bad = true;
            x <<= 16;
        } else {
            x = (x << 16) | (uint32_t)p0[pos] | ((uint32_t)p0[pos + 1] << 8);
        }
        pos += 2;
    }
}




// Block: find the end of a sparse plane's nnz index gaps (varints) starting at offset `at`,
// before `lim`: the byte after the nnz-th terminator. Sets sh.bad if they run past `lim`.
__device__ void pt_gap_end(PSh& sh, const uint8_t* p0, PPlane& P, uint32_t lim) {
    const uint32_t t = threadIdx.x;
    if (P.nnz == 0) {
        if (t == 0) P.gap_end = P.gap_at;
        __syncthreads();
        return;
    }
    uint32_t need = P.nnz;  // uniform
    for (uint64_t base = P.gap_at;; base += 16ull * BLOCK) {
        if (base >= lim) {
            if (t == 0) sh.bad = 1;
            break;
        }
        const uint64_t s = base + 16ull * t;
        uint32_t cnt = 0;
        for (uint64_t b = s; b < s + 16 && b < lim; b++) cnt += p0[b] < 0x80;
        uint32_t total;
        const uint32_t before = pt_scan<uint32_t>(cnt, sh.wsum, &total);
        if (before < need && need <= before + cnt) {
            uint32_t k = before;
            for (uint64_t b = s;; b++) {
                if (p0[b] < 0x80 && ++k == need) {
                    P.gap_end = (uint32_t)(b + 1);
                    break;
                }
            }
        }
        if (total >= need) break;
        need -= total;
    }
    __syncthreads();
}

// Block: take the sparse plane's nonzeros with index < base + cnt into sh.sidx (tile offsets),
// sh.found of them; P's cursor advances past them.
__device__ void pt_sparse_indices(PSh& sh, const uint8_t* p0, PPlane& P, uint64_t base, uint32_t cnt, uint64_t n) {
    const uint32_t t = threadIdx.x;
    if (t == 0) sh.found = 0;
    __syncthreads();
    for (;;) {
        if (P.ordinal >= P.nnz || sh.bad) break;
        const uint32_t cur = P.gap_at, lim = P.gap_end;
        // Terminator bytes of the window, ranked.
        uint32_t flags = 0, c4 = 0;
#pragma unroll
        for (uint32_t k = 0; k < 4; k++) {
            const uint64_t b = (uint64_t)cur + 4 * t + k;
            if (b < lim && p0[b] < 0x80) { flags |= 1u << k; c4++; }
        }
        uint32_t total;
        uint32_t rank = pt_scan<uint32_t>(c4, sh.wsum, &total);
#pragma unroll
        for (uint32_t k = 0; k < 4; k++) if (flags >> k & 1) sh.tpos[rank++] = (uint16_t)(4 * t + k);
        __syncthreads();
        if (total == 0) {  // a varint longer than the window, or the gaps ran out
            if (t == 0) sh.bad = 1;
            break;
        }
        const uint32_t R = min(total, P.nnz - P.ordinal);
        // Varints of ranks 4t..4t+3, their index increments, then the indices by a prefix sum.
        uint64_t inc[4], mine = 0;
#pragma unroll
        for (uint32_t k = 0; k < 4; k++) {
            const uint32_t r = 4 * t + k;
            inc[k] = 0;
            if (r >= R) continue;
            const uint32_t s = r == 0 ? 0 : sh.tpos[r - 1] + 1, e = sh.tpos[r];
            uint64_t g = 0;
            if (e - s >= 10) g = n;  // over-long varint: an index past the chunk, never taken
            else for (uint32_t b = e + 1; b-- > s;) g = (g << 7) | (p0[cur + b] & 0x7f);
            inc[k] = (g < n ? g : n) + 1;
            mine += inc[k];
        }
        uint64_t tot64;
        uint64_t run = pt_scan<uint64_t>(mine, sh.wsum64, &tot64);
        uint32_t acc = 0;
#pragma unroll
        for (uint32_t k = 0; k < 4; k++) {
            const uint32_t r = 4 * t + k;
            if (r >= R) break;
            run += inc[k];
            const uint64_t idx = P.next + run - 1;
            sh.idx[r] = idx;
            acc += idx < base + cnt;
        }
        uint32_t acc_total;
        pt_scan<uint32_t>(acc, sh.wsum, &acc_total);
#pragma unroll
        for (uint32_t k = 0; k < 4; k++) {
            const uint32_t r = 4 * t + k;
            if (r >= acc_total) break;
            const uint64_t idx = sh.idx[r];
            if (idx < base || sh.found + r >= PT_TILE) sh.bad = 1;
            else sh.sidx[sh.found + r] = (uint16_t)(idx - base);
        }
        __syncthreads();
        if (t == 0 && acc_total > 0) {
            P.gap_at = cur + sh.tpos[acc_total - 1] + 1;
            P.next = sh.idx[acc_total - 1] + 1;
            P.ordinal += acc_total;
            sh.found += acc_total;
        }
        __syncthreads();
        if (acc_total < R || R < total) break;
    }
    __syncthreads();
}

// Thread 0: parse digit plane `pl`'s section at *p (before `end`); the block finishes sparse
// planes. Uses sh.bad / sh.unsup for failures.
__device__ void pt_parse_plane(PSh& sh, PPlane* planes, uint32_t pl, const uint8_t* p0, const uint8_t** p,
                               const uint8_t* end, uint64_t n, uint32_t prime) {
    PPlane& P = planes[pl];
    const uint32_t t = threadIdx.x;
    __shared__ uint32_t sec_end;
    if (t == 0) {
        sec_end = 0;
        const uint8_t* q = *p;
        if ((uint64_t)(end - q) < 5) { sh.bad = 1; goto done0; }
        {
            const uint32_t len = rd_u32(q);
            q += 4;
            if ((uint64_t)(end - q) < len || len == 0) { sh.bad = 1; goto done0; }
            const uint8_t* se = q + len;
            sec_end = (uint32_t)(se - p0);
            *p = se;
            P.mode = *q++;
            P.sign_count = 0;
            P.lanes = 0;
            P.sign_end = sec_end;
            if (P.mode == 0) {
                P.sign_at = (uint32_t)(q - p0);
            } else if (P.mode == 3) {
                const uint64_t w = prime <= 256 ? 1 : 2;
                if ((uint64_t)(se - q) < w * n) { sh.bad = 1; goto done0; }
                P.raw_at = (uint32_t)(q - p0);
                P.sign_at = (uint32_t)(q + w * n - p0);
            } else if (P.mode == 2) {
                if (q >= se) { sh.bad = 1; goto done0; }
                P.kind = *q++;
                if (P.kind > 2) { sh.bad = 1; goto done0; }
                const uint32_t ntab = P.kind == 0 ? 1 : P.kind == 1 ? 3 : PT_TABLES;
                for (uint32_t tb = 0; tb < ntab; tb++) {
                    if (q >= se || *q > 1) { sh.bad = 1; goto done0; }
                    P.present[tb] = *q++;
                    if (P.present[tb] &&
                        !pt_table(&q, se, PT_BUCKETS, P.cum + tb * (PT_BUCKETS + 1), &P.m[tb])) {
                        sh.bad = 1;
                        goto done0;
                    }
                }
                for (uint32_t tb = ntab; tb < PT_TABLES; tb++) P.present[tb] = 0;
                const int r = pt_lanes(p0, &q, se, n, P);
                if (r) { if (r == 1) sh.bad = 1; else sh.unsup = 1; goto done0; }
                if (sh.lanes == 0) sh.lanes = P.lanes;
                if (sh.lanes != P.lanes) { sh.unsup = 1; goto done0; }
                P.sign_at = (uint32_t)(q - p0);
            } else if (P.mode == 1) {
                uint64_t nnz;
                if (!rd_varint(&q, se, &nnz) || nnz > n) { sh.bad = 1; goto done0; }
                P.nnz = (uint32_t)nnz;
                P.ordinal = 0;
                P.next = 0;
                P.gap_at = (uint32_t)(q - p0);
            } else {
                sh.bad = 1;
            }
        }
    done0:;
    }
    __syncthreads();
    if (sh.bad || sh.unsup) return;
    if (P.mode == 2) pt_coarse(P, P.kind == 0 ? 1 : P.kind == 1 ? 3 : PT_TABLES, PT_BUCKETS);
    if (P.mode != 1) { __syncthreads(); return; }
    pt_gap_end(sh, p0, P, sec_end);
    if (sh.bad) return;
    if (t == 0) {
        const uint8_t* q = p0 + P.gap_end;
        const uint8_t* se = p0 + sec_end;
        const uint32_t alphabet = prime - 1;
        if (q >= se) { sh.bad = 1; goto done1; }
        P.sm = *q++;
        if (P.sm == 0) {
            uint64_t v;
            if (!rd_varint(&q, se, &v) || v >= alphabet) { sh.bad = 1; goto done1; }
            P.svalue = (uint32_t)v;
        } else if (P.sm == 1) {
            if ((uint64_t)(se - q) < 2ull * P.nnz) { sh.bad = 1; goto done1; }
            P.sraw_at = (uint32_t)(q - p0);
            q += 2ull * P.nnz;
        } else if (P.sm == 2) {
            if (alphabet > PT_SP_ALPHA) { sh.unsup = 1; goto done1; }
            P.present[0] = 1;
            if (!pt_table(&q, se, alphabet, P.cum, &P.m[0])) { sh.bad = 1; goto done1; }
            P.sscale = P.m[0];
            const int r = pt_lanes(p0, &q, se, P.nnz, P);
            if (r) { if (r == 1) sh.bad = 1; else sh.unsup = 1; goto done1; }
        } else {
            sh.bad = 1;
            goto done1;
        }
        P.sign_at = (uint32_t)(q - p0);
    done1:;
    }
    __syncthreads();
    if (!sh.bad && !sh.unsup && P.sm == 2) pt_coarse(P, 1, prime - 1);
    __syncthreads();
}

__device__ __forceinline__ void decode_padic(const uint8_t* __restrict__ c, uint64_t c_len, uint32_t want_dtype,
                                             uint8_t* __restrict__ out, uint64_t out_len, int32_t* status,
                                             uint64_t status_len, uint32_t verify, uint32_t max_planes) {
    extern __shared__ __align__(16) uint8_t dyn_smem[];
    PPlane* planes = (PPlane*)dyn_smem;
    __shared__ PSh sh;
    const uint32_t t = threadIdx.x;
    const Hdr h = parse_header(c, c_len);
    if (!h.ok || h.codec != 2) return;  // bad headers: saraphis_decode_exact reports them
    if (verify) crc_init(sh.crc);
    const bool lead = blockIdx.x == 0 && t == 0 && status && status_len;

    // ---- tensor parameters (docs/FORMAT.md section 4)
    const uint32_t ndim = c[10];
    const uint8_t* prm = c + 28 + 8 * ndim;
    bool ok = h.dtype <= 3 && rd_u32(c + 24 + 8 * ndim) == 38;
    const uint32_t prime = ok ? rd_u32(prm) : 0, N = ok ? prm[4] : 0, rel = ok ? prm[5] : 0;
    const double step = ok ? __longlong_as_double((long long)rd_u64(prm + 14)) : 0.0;
    const int64_t offset = ok ? (int64_t)rd_u64(prm + 22) : 0;
    const double eps = ok ? __longlong_as_double((long long)rd_u64(prm + 6)) : 0.0;
    const double max_abs = ok ? __longlong_as_double((long long)rd_u64(prm + 30)) : 0.0;
    ok = ok && prime >= 2 && prime <= 65521 && rel <= 1 && step > 0.0 && step <= 1.79e308 && eps > 0.0 &&
         eps <= 1.79e308 && (!rel || eps < 1.0) && max_abs >= 0.0 && max_abs <= 1.79e308 &&
         (offset < 0 ? -(uint64_t)offset : (uint64_t)offset) < (1ull << 62);
    for (uint32_t d = 2; ok && d * d <= prime; d++) ok = prime % d != 0;
    uint32_t max_n = 0;
    for (uint64_t v = 1; ok && v * prime <= (1ull << 62); v *= prime) max_n++;
    ok = ok && N >= 1 && N <= max_n;
    if (!ok) {
        if (lead) status[0] = 1;
        return;
    }
    const uint32_t size = h.size;
    const bool dst_ok = h.dtype == want_dtype && h.numel * size == out_len;
    const uint32_t read = N < max_planes ? N : max_planes;
    // Tensor-wide: the reconstruction's scale p^(N-read) and midpoint, each plane's carry divisor.
    uint64_t scale = 1;
    for (uint32_t j = read; j < N; j++) scale *= prime;
    const uint64_t mid = (scale - 1) / 2;
    if (t == 0 && read <= PT_PLANES) {
        uint64_t pw = 1;
        for (uint32_t pl = read; pl-- > 0;) {
            planes[pl].pw = pw;
            pw *= prime;
        }
    }
    __syncthreads();

    for (uint64_t ci = blockIdx.x; ci < h.n_chunks; ci += gridDim.x) {
        const Chunk ck = chunk_begin(c, c_len, h, ci, dst_ok, read > PT_PLANES ? 5 : 0, true, out, sh.crc, verify);
        int32_t st = ck.st;
        const uint8_t* p0 = ck.p0;
        const uint8_t* end = ck.end;
        uint8_t* dst = ck.dst;
        const uint64_t n = ck.n;
        if (ck.coded) {
            // ---- parse: exceptions and value signs (thread 0), then the planes
            if (t == 0) {
                sh.bad = 0;
                sh.unsup = 0;
                sh.lanes = 0;
                const uint8_t* q = p0 + 1;
                uint64_t ne, next = 0;
                if (!rd_varint(&q, end, &ne) || ne > n) sh.bad = 1;
                sh.n_exc = (uint32_t)ne;
                sh.exc_at = (uint32_t)(q - p0);
                for (uint64_t k = 0; !sh.bad && k < ne; k++) {
                    uint64_t g;
                    if (!rd_varint(&q, end, &g) || g >= n - next || (uint64_t)(end - q) < size) sh.bad = 1;
                    else { next += g + 1; q += size; }
                }
                if (rel) {
                    sh.vneg_at = (uint32_t)(q - p0);
                    if ((uint64_t)(end - q) < (n + 7) / 8) sh.bad = 1;
                    else q += (n + 7) / 8;
                }
                sh.end_at = (uint32_t)(q - p0);
            }
            __syncthreads();
            const uint8_t* q = p0 + sh.end_at;
            for (uint32_t pl = 0; pl < read && !sh.bad && !sh.unsup; pl++) {
                pt_parse_plane(sh, planes, pl, p0, &q, end, n, prime);
                // every thread must agree on q: thread 0 advanced it; share through end_at
                if (t == 0) sh.end_at = (uint32_t)(q - p0);
                __syncthreads();
                q = p0 + sh.end_at;
            }
            if (t == 0 && !sh.bad && !sh.unsup && read == N && q != end) sh.bad = 1;  // trailing bytes
            __syncthreads();
            if (sh.unsup) st = 5;
            else if (sh.bad) st = 2;
        }
        if (st == 0 && ck.coded) {
            // ---- decode, tile by tile
            const uint32_t L = sh.lanes;
            const uint32_t T = L ? (PT_TILE / L) * L : PT_TILE;
            for (uint32_t l = t; l < BLOCK; l += blockDim.x) sh.last2[0][l] = sh.last2[1][l] = 0;
            bool lane_bad = false;
            for (uint64_t base = 0; base < n && !sh.bad; base += T) {
                const uint32_t cnt = (uint32_t)(n - base < T ? n - base : T);
                for (uint32_t i = t; i < cnt; i += blockDim.x) { sh.hi[i] = 0; sh.neg[i] = 0; }
                __syncthreads();
                for (uint32_t pl = 0; pl < read; pl++) {
                    PPlane& P = planes[pl];
                    if (P.mode == 0 || P.mode == 1) {
                        for (uint32_t i = t; i < cnt; i += blockDim.x) sh.dig[i] = 0;
                    } else if (P.mode == 3) {
                        for (uint32_t i = t; i < cnt; i += blockDim.x) {
                            const uint64_t k = base + i;
                            const uint32_t d = prime <= 256 ? p0[P.raw_at + k]
                                                            : (uint32_t)p0[P.raw_at + 2 * k] | ((uint32_t)p0[P.raw_at + 2 * k + 1] << 8);
                            if (d >= prime) lane_bad = true;
                            sh.dig[i] = (uint16_t)d;
                        }
                    } else if (t < L) {
                        // rANS plane: lane t's elements of the tile, in order.
                        const uint32_t l = t;
                        uint32_t x = P.x[l], pos = P.pos[l];
                        const uint32_t pend = P.end[l];
                        uint64_t pv1 = sh.last2[1][l] / P.pw, pv2 = sh.last2[0][l] / P.pw;
                        for (uint32_t i = l; i < cnt; i += L) {
                            const uint64_t hv = sh.hi[i];
                            const uint32_t ctx = pt_context(hv, pv1, pv2);
                            const uint32_t tb = P.kind == 0 ? 0 : P.kind == 1 ? ctx / 16 : ctx;
                            if (!P.present[tb]) { lane_bad = true; break; }
                            const uint32_t sym =
                                pt_sym(P.cum + tb * (PT_BUCKETS + 1), P.coarse + tb * PT_COARSE, P.m[tb], x);
                            pt_renorm(x, pos, pend, p0, lane_bad);
                            uint32_t d = sym;
                            if (sym >= 4) {
                                const uint32_t k = (sym - 4) / 2 + 1;  // bit length - 2
                                d = (2 | ((sym - 4) & 1)) << k;
                                d |= x & ((1u << k) - 1);
                                x >>= k;
                                pt_renorm(x, pos, pend, p0, lane_bad);
                            }
                            if (d >= prime) lane_bad = true;
                            sh.dig[i] = (uint16_t)d;
                            pv2 = pv1;
                            pv1 = hv * prime + d;
                        }
                        P.x[l] = x;
                        P.pos[l] = pos;
                    }
                    __syncthreads();
                    if (P.mode == 1) {
                        const uint32_t o0 = P.ordinal;
                        __syncthreads();
                        pt_sparse_indices(sh, p0, P, base, cnt, n);
                        const uint32_t found = sh.found;
                        if (P.sm == 2 && t < P.lanes) {
                            const uint32_t L2 = P.lanes, l = t;
                            uint32_t x = P.x[l], pos = P.pos[l];
                            const uint32_t pend = P.end[l];
                            for (uint32_t o = o0 + (l + L2 - o0 % L2) % L2; o < o0 + found; o += L2) {
                                const uint32_t s = pt_sym(P.cum, P.coarse, P.sscale, x);
                                pt_renorm(x, pos, pend, p0, lane_bad);
                                sh.sval[o - o0] = (uint16_t)(s + 1);
                            }
                            P.x[l] = x;
                            P.pos[l] = pos;
                        } else if (P.sm != 2) {
                            for (uint32_t j = t; j < found; j += blockDim.x) {
                                uint32_t v = P.svalue;
                                if (P.sm == 1) {
                                    const uint64_t at = P.sraw_at + 2ull * (o0 + j);
                                    v = (uint32_t)p0[at] | ((uint32_t)p0[at + 1] << 8);
                                    if (v + 1 >= prime) lane_bad = true;
                                }
                                sh.sval[j] = (uint16_t)(v + 1);
                            }
                        }
                        __syncthreads();
                        for (uint32_t j = t; j < found; j += blockDim.x) sh.dig[sh.sidx[j]] = sh.sval[j];
                        __syncthreads();
                    }
                    // Signs of the elements whose leading digit is in this plane, in element order.
                    const uint32_t E = PT_TILE / BLOCK, i0 = t * E;
                    uint32_t lead_cnt = 0;
                    for (uint32_t k = 0; k < E; k++) {
                        const uint32_t i = i0 + k;
                        lead_cnt += i < cnt && sh.hi[i] == 0 && sh.dig[i] != 0;
                    }
                    uint32_t total;
                    uint64_t bit = P.sign_count + pt_scan<uint32_t>(lead_cnt, sh.wsum, &total);
                    const uint64_t have = 8ull * (P.sign_end - P.sign_at);
                    for (uint32_t k = 0; k < E; k++) {
                        const uint32_t i = i0 + k;
                        if (i >= cnt) break;
                        const uint32_t d = sh.dig[i];
                        if (sh.hi[i] == 0 && d != 0) {
                            if (bit >= have) lane_bad = true;
                            else sh.neg[i] = p0[P.sign_at + bit / 8] >> (bit % 8) & 1;
                            bit++;
                        }
                        sh.hi[i] = sh.hi[i] * prime + d;
                    }
                    __syncthreads();
                    if (t == 0) P.sign_count += total;
                }
                // ---- reconstruct and store (consecutive threads, consecutive elements)
                for (uint32_t i = t; i < cnt; i += blockDim.x) {
                    const uint64_t hv = sh.hi[i];
                    const uint64_t m = hv == 0 ? 0 : hv * scale + mid;
                    const int64_t qv = sh.neg[i] ? -(int64_t)m : (int64_t)m;
                    double v;
                    if (!rel) {
                        v = __dmul_rn(__ll2double_rn(qv), step);
                    } else {
                        const uint64_t k = base + i;
                        const double ex = det_exp(__dmul_rn(__ll2double_rn(qv + offset), step));
                        v = (p0[sh.vneg_at + k / 8] >> (k % 8) & 1) ? -ex : ex;
                    }
                    uint8_t* o = dst + (base + i) * size;
                    if (size == 4) *(uint32_t*)o = __float_as_uint(__double2float_rn(v));
                    else if (size == 8) *(uint64_t*)o = (uint64_t)__double_as_longlong(v);
                    else *(uint16_t*)o = (uint16_t)(h.dtype == 1 ? small_float(v, 5, 10) : small_float(v, 8, 7));
                }
                if (L && cnt == T && base + T < n) {
                    for (uint32_t l = t; l < L; l += blockDim.x) {
                        sh.last2[0][l] = sh.hi[T - 2 * L + l];
                        sh.last2[1][l] = sh.hi[T - L + l];
                    }
                }
                if (__syncthreads_or(lane_bad) && t == 0) sh.bad = 1;
                __syncthreads();
            }
            // ---- every lane back at its initial state with its words used; every index and sign used
            bool fin_bad = false;
            for (uint32_t pl = 0; pl < read; pl++) {
                const PPlane& P = planes[pl];
                if ((P.mode == 2 || (P.mode == 1 && P.sm == 2)) && t < P.lanes &&
                    (P.x[t] != RANS_L || P.pos[t] != P.end[t]))
                    fin_bad = true;
                if (t == 0) {
                    if (P.mode == 1 && (P.ordinal != P.nnz || P.gap_at != P.gap_end)) sh.bad = 1;
                    if ((P.sign_count + 7) / 8 != P.sign_end - P.sign_at) sh.bad = 1;
                }
            }
            const bool fb = __syncthreads_or(fin_bad);
            if (sh.bad) st = 2;
            else if (fb) st = 3;
            // ---- exceptions: stored bits win
            if (st == 0 && t == 0) {
                const uint8_t* q = p0 + sh.exc_at;
                uint64_t next = 0;
                for (uint32_t k = 0; k < sh.n_exc; k++) {
                    uint64_t g;
                    rd_varint(&q, end, &g);
                    next += g;
                    for (uint32_t b = 0; b < size; b++) dst[next * size + b] = q[b];
                    q += size;
                    next++;
                }
            }
        }
        if (t == 0 && status && ci < status_len) status[ci] = st;
        __syncthreads();
    }
}

extern "C" __global__ void __launch_bounds__(BLOCK)
saraphis_decode_padic(const uint8_t* __restrict__ c, uint64_t c_len, uint32_t want_dtype, uint8_t* __restrict__ out,
                      uint64_t out_len, int32_t* status, uint64_t status_len, uint32_t verify, uint32_t max_planes) {
    pdl_allow_dependents();
    decode_padic(c, c_len, want_dtype, out, out_len, status, status_len, verify, max_planes);
    pdl_wait_prerequisites();
}
