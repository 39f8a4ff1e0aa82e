// Saraphis GPU encoder for p-adic containers (codec 2; docs/FORMAT.md section 4), from a tensor in
// device memory into a container in device memory. The container is valid for every decoder (CPU
// and GPU) and every element meets the bound, which the encoder checks as the CPU does (the value
// each decoder will reconstruct, rounded to the dtype, against the bound; otherwise q - 1, q + 1,
// then an exception). Its bytes may differ from the CPU encoder's: the log of relative mode is
// CUDA's, the tensor's mean log is summed in another order, the frequency tables are normalised
// differently, and a sparse plane's nonzero digits are coded constant or raw (never rANS).
//
// Four kernels on one stream, no host synchronisation:
//  1. saraphis_padic_stats (grid-stride): per block max |x| and, in relative mode, the sum, count,
//     min and max of ln|x| over the finite nonzero values; also zeroes the look-back words.
//  2. saraphis_padic_params (one thread): combines the partials in block order (deterministic),
//     then chooses the offset and the precision as PadicPlan::new does; writes the 38 parameter
//     bytes and the plan into the temporary buffer; zeroes the chunk ticket and the error flag.
//  3. saraphis_encode_padic (persistent blocks; a block takes chunks by atomic ticket, so every
//     chunk before a taken one is held by a running block): single pass per chunk.
//       plan   for each plane, most significant first: a forward pass over tiles of the chunk
//              (quantised again in every pass: nothing per element is kept in memory) counts the
//              48 x 32 context histogram, nonzeros, CSR gap bytes, leading digits (signs) and, in
//              the first pass, exceptions; the plane's mode is the smallest estimate of zero, raw,
//              sparse and rANS (context set 0, 1 or 2, tables normalised by one warp each); for
//              rANS a backward counting pass of the lanes gives every lane's word count, hence the
//              exact section size. Frequencies and word counts go to the block's scratch: a.slots
//              slots for the first rANS planes, one more for deeper planes, whose tables and
//              counts are computed again before they are written.
//       offset decoupled look-back (Merrill & Garland, "Single-pass Parallel Prefix Scan with
//              Decoupled Look-back", NVIDIA NVR-2016-002): the block publishes its chunk's length,
//              then adds its predecessors' published lengths or inclusive prefix.
//       write  the chunk at its final offset: exceptions, relative-mode sign bits, then each plane
//              (rANS lanes backwards, word k of a lane stored at count - 1 - k; raw digits; CSR
//              gaps and nonzero digits by block scans; sign bits ranked by block scan), the chunk
//              table entry and the chunk's CRC-32. A chunk that does not get smaller is stored raw.
//  4. saraphis_padic_finish (one block): the header (parameters included), its CRC-32, and the
//     container length into *out_size (0 if a consistency check failed).
//
// The digit-plane sparse CSR extraction is the two-pass count-then-scatter of the issue: counts
// (and byte sizes) in the plan pass, positions by block prefix sums in the write pass.
// rANS: J. Duda, arXiv:1311.2540; reciprocal encoder of F. Giesen's rans_word_sse41.h, as
// encode.cu. Uniform quantisation with verification: SZ (Di & Cappello, IPDPS 2016).
#include "common.cuh"
#include "encode.cuh"
#include "padic.cuh"

#define PE_TILE 1024         // elements per tile (rounded down to a multiple of the lane count)
#define PE_HALO (2 * BLOCK)  // elements before a tile that contexts read (2 x the most lanes)
#define PE_MAXN 64           // most digit planes (p = 2 needs 62)
#define PE_TABLES 48         // context tables of context set 2 (3 own-value x 16 neighbour buckets)
#define PE_CAND (1 + 3 + PE_TABLES)  // candidate tables of the three context sets
#define PE_SCALE 12          // scale bits of every digit table
#define PE_PLAN_AT 64        // temp: u32 error flag at 0, u32 ticket at 4, u64 max error bits at 8
#define PE_STATS_AT 256      // temp: PeStat per stats block
#define PE_FREQ_BYTES (PE_TABLES * 32 * 2)
#define PE_PLANE_SCRATCH (PE_FREQ_BYTES + 4 * BLOCK)  // per plane: u16 freq[48][32], u32 nwords[128]

// Kernel parameters, passed by value (mirrored by PeArgs in src/backend/cuda/padic_encode.rs).
struct PeArgs {
    const uint8_t* src;
    uint64_t numel;
    uint8_t* dst;
    uint8_t* temp;
    uint64_t* out_size;
    uint64_t n_chunks, header_len, nc_at, params_at;
    uint64_t scratch_at, scratch_stride, status_at;
    double eps, step;  // the user's bound and the quantisation step (computed on the host)
    uint32_t dtype, size, chunk_elems, max_lanes;
    uint32_t prime, precision, max_n, rel;  // precision 0 = the smallest that fits the data
    uint32_t stats_blocks, prefix_len, slots, pad1;  // slots: rANS planes whose tables are kept
    uint8_t prefix[144];  // header bytes up to and including the chunk count
};

struct PeStat {
    double max_abs, sum_log, min_log, max_log;
    uint64_t count;
};

struct PePlan {
    double step;
    int64_t offset;
    uint64_t limit;  // p^N
    uint32_t n, pad;
    uint8_t params[40];
};

struct PePlane {
    uint32_t mode, kind, nnz, signs;
    uint32_t gap_bytes, dmin, dmax, table_bytes;
    uint32_t slot, pad;  // rANS: scratch slot of the tables and word counts (a.slots: recomputed)
    uint64_t len, ebits;
};

struct PeSh {
    CrcShared crc;
    uint64_t val[PE_HALO + PE_TILE];  // plane value floor(|q| / p^k) of the tile (and halo)
    uint8_t fl[PE_HALO + PE_TILE];    // bit 0 exception, bit 1 q < 0
    uint8_t sbit[PE_TILE];            // write: sign bits of the tile's leading digits, by rank
    uint32_t hist[PE_TABLES * 32];
    uint32_t tab[PE_TABLES * 32];     // freq | cum << 13 | rshift << 26
    uint32_t rcp[PE_TABLES * 32];
    uint32_t lane_pos[BLOCK];
    double cost[PE_CAND];
    PePlane pl[PE_MAXN];
    uint64_t wsum[BLOCK / 32];
    int64_t wmax[BLOCK / 32];
    uint64_t pk[PE_MAXN + 1];
    // per-block constants
    double step, inv_step, eps;
    int64_t offset;
    uint64_t limit;
    uint32_t n_planes, prime, dtype, size, rel;
    // per chunk
    uint64_t ci, n, len, prefix;
    uint32_t lanes, bad, n_exc, exc_bytes, next_slot;
    uint64_t nz_done, hdr_at;         // write: nonzeros placed so far; rANS lane headers' offset
    uint32_t amin, amax;
    int64_t c_prev, c_exc;            // carries between tiles: last nonzero / exception index,
    uint64_t c_ord, c_pos;            // items so far, bytes so far
    uint32_t pend, pend_n;            // sign bits of an unfinished byte
};

// ---------------------------------------------------------------- element values

// A binary float of e_bits exponent and m_bits mantissa bits (F16, BF16) to double, exactly.
__device__ double pe_small_to_f64(uint32_t b, uint32_t e_bits, uint32_t m_bits) {
    const uint32_t emax = (1u << e_bits) - 1, bias = emax >> 1;
    const uint32_t e = (b >> m_bits) & emax, m = b & ((1u << m_bits) - 1);
    double v;
    if (e == emax) v = m ? __longlong_as_double(0x7ff8000000000000ll) : __longlong_as_double(0x7ff0000000000000ll);
    else if (e == 0) v = ldexp((double)m, 1 - (int)bias - (int)m_bits);
    else v = ldexp((double)(m | (1u << m_bits)), (int)e - (int)bias - (int)m_bits);
    return (b >> (e_bits + m_bits)) & 1 ? -v : v;
}

// Element i as double (dtype 0 F32, 1 F16, 2 BF16, 3 F64).
__device__ __forceinline__ double pe_load(const uint8_t* src, uint64_t i, uint32_t dtype) {
    switch (dtype) {
        case 0: return (double)__uint_as_float(((const uint32_t*)src)[i]);
        case 3: return __longlong_as_double(((const long long*)src)[i]);
        case 1: return pe_small_to_f64(((const uint16_t*)src)[i], 5, 10);
        default: return pe_small_to_f64(((const uint16_t*)src)[i], 8, 7);
    }
}

// v rounded to the dtype (nearest even, from the exact double), as a double.
__device__ __forceinline__ double pe_round(double v, uint32_t dtype) {
    switch (dtype) {
        case 0: return (double)__double2float_rn(v);
        case 3: return v;
        case 1: return pe_small_to_f64(small_float(v, 5, 10), 5, 10);
        default: return pe_small_to_f64(small_float(v, 8, 7), 8, 7);
    }
}

// PadicPlan::quantize: |q| and the sign of q, or false for an exception. The reconstruction is
// the decoders' (one IEEE multiply; det_exp), so the bound checked here is the bound they meet.
__device__ bool pe_quant(const PeSh& sh, double x, uint64_t& mag, bool& qneg, double& err) {
    if (!isfinite(x)) return false;
    double qf, tol;
    bool vneg = false;
    if (!sh.rel) {
        qf = round(__dmul_rn(x, sh.inv_step));  // a candidate; the checks below decide
        tol = sh.eps;
    } else {
        if (x == 0.0) return false;
        qf = __dsub_rn(round(__dmul_rn(log(fabs(x)), sh.inv_step)), (double)sh.offset);
        vneg = x < 0.0;
        tol = __dmul_rn(sh.eps, fabs(x));
    }
    if (!(fabs(qf) < (double)sh.limit)) return false;
    const int64_t q = (int64_t)qf;
#pragma unroll 1
    for (int c = 0; c < 3; c++) {
        const int64_t cand = c == 0 ? q : (c == 1 ? q - 1 : q + 1);
        const uint64_t a = cand < 0 ? (uint64_t)(-cand) : (uint64_t)cand;
        if (a >= sh.limit) continue;
        double v;
        if (!sh.rel) {
            v = __dmul_rn(__ll2double_rn(cand), sh.step);
        } else {
            const double m = det_exp(__dmul_rn(__ll2double_rn(cand + sh.offset), sh.step));
            v = vneg ? -m : m;
        }
        const double e = fabs(__dsub_rn(pe_round(v, sh.dtype), x));
        if (e <= tol) {
            mag = a;
            qneg = cand < 0;
            err = e;
            return true;
        }
    }
    return false;
}

__device__ __forceinline__ uint64_t pe_div(uint64_t a, uint64_t b) {
    if (a < b) return 0;
    if ((a >> 32) == 0) return (uint32_t)a / (uint32_t)b;
    return a / b;
}

// Quantise elements [base - halo, base + cnt) of the chunk into sh.val (plane-k values) and
// sh.fl; element base + e lands at index PE_HALO + e. Block-wide; ends with a barrier.
__device__ void pe_tile(PeSh& sh, const uint8_t* src, uint64_t base, uint32_t cnt, uint32_t k, double& my_err) {
    const uint32_t halo = base < 2ull * sh.lanes ? (uint32_t)base : 2 * sh.lanes;
    const uint64_t pk = sh.pk[k];
    for (uint32_t j = threadIdx.x; j < halo + cnt; j += blockDim.x) {
        const uint64_t i = base - halo + j;
        uint64_t mag = 0;
        bool qneg = false;
        double err = 0.0;
        const bool ok = pe_quant(sh, pe_load(src, i, sh.dtype), mag, qneg, err);
        const uint32_t at = PE_HALO - halo + j;
        sh.val[at] = ok ? pe_div(mag, pk) : 0;
        sh.fl[at] = (ok ? 0 : 1) | (qneg ? 2 : 0);
        if (ok && err > my_err) my_err = err;
    }
    __syncthreads();
}

// ---------------------------------------------------------------- block scans

// Block sums use pt_scan (padic.cu). Exclusive max over lower threads (-1 if none) and the
// block's max.
__device__ __forceinline__ int64_t pe_scan_max(PeSh& sh, int64_t v, int64_t* total) {
    const uint32_t t = threadIdx.x, lane = t & 31, w = t >> 5;
    int64_t inc = v;
#pragma unroll
    for (int d = 1; d < 32; d <<= 1) {
        const int64_t o = __shfl_up_sync(0xffffffffu, inc, d);
        if (lane >= (uint32_t)d && o > inc) inc = o;
    }
    int64_t exc = __shfl_up_sync(0xffffffffu, inc, 1);
    if (lane == 0) exc = -1;
    if (lane == 31) sh.wmax[w] = inc;
    __syncthreads();
    int64_t off = -1, tot = -1;
    for (uint32_t k = 0; k < BLOCK / 32; k++) {
        if (k < w && sh.wmax[k] > off) off = sh.wmax[k];
        if (sh.wmax[k] > tot) tot = sh.wmax[k];
    }
    __syncthreads();
    *total = tot;
    return exc > off ? exc : off;
}

// Elements [e0, e1) of a tile of cnt that this thread takes: consecutive runs, in element order,
// so that items (nonzeros, exceptions) keep their order within a thread and across threads.
__device__ __forceinline__ void pe_run(uint32_t cnt, uint32_t& e0, uint32_t& e1) {
    const uint32_t E = (cnt + blockDim.x - 1) / blockDim.x;
    e0 = threadIdx.x * E < cnt ? threadIdx.x * E : cnt;
    e1 = e0 + E < cnt ? e0 + E : cnt;
}

// CSR gap of item i after item prev (-1: i is the first item, coded as its index).
__device__ __forceinline__ uint64_t pe_gap(uint64_t i, int64_t prev) { return prev < 0 ? i : i - prev - 1; }

// One thread's items of a tile (nonzero digits, exceptions): how many, the first and last index
// and the varint bytes of their CSR gaps; the first item's gap needs the item before it, from
// the lower threads or earlier tiles (close).
struct PeItems {
    uint32_t n = 0, gap_bytes = 0;
    int64_t first = -1, last = -1;
    __device__ __forceinline__ void add(uint64_t i) {
        if (last >= 0) gap_bytes += varint_len(pe_gap(i, last));
        else first = (int64_t)i;
        last = (int64_t)i;
        n++;
    }
    // Block-wide: find the item before this thread's first (a lower thread's last, else `carry`,
    // the last of earlier tiles), add the first gap; returns that item; *tile_last = the tile's
    // last item (-1 if none).
    __device__ __forceinline__ int64_t close(PeSh& sh, int64_t carry, int64_t* tile_last) {
        int64_t prev = pe_scan_max(sh, last, tile_last);
        if (prev < 0) prev = carry;
        if (first >= 0) gap_bytes += varint_len(pe_gap((uint64_t)first, prev));
        return prev;
    }
};

// ---------------------------------------------------------------- digits and tables

// codec::padic::bucket: bucket symbol of digit v, its extra bits and their count.
__device__ __forceinline__ uint32_t pe_bucket(uint32_t v, uint32_t& extra, uint32_t& k) {
    if (v < 4) {
        extra = 0;
        k = 0;
        return v;
    }
    const uint32_t b = 32 - __clz(v);
    k = b - 2;
    extra = v & ((1u << k) - 1);
    return 4 + 2 * (b - 3) + ((v >> k) & 1);
}

__device__ __forceinline__ uint32_t pe_map(uint32_t kind, uint32_t c) { return kind == 0 ? 0 : (kind == 1 ? c / 16 : c); }

// Digit, higher value and context-set-2 context of tile element e at a plane (values in sh.val).
__device__ __forceinline__ uint32_t pe_digit(const PeSh& sh, uint64_t i, uint32_t at, uint64_t& hi, uint32_t& ctx) {
    const uint64_t v = sh.val[at];
    const uint32_t p = sh.prime;
    hi = pe_div(v, p);
    const uint32_t d = (uint32_t)(v - hi * p);
    const uint32_t L = sh.lanes;
    const uint64_t prev = i >= L ? sh.val[at - L] : 0;
    const uint64_t prev2 = i >= 2ull * L ? sh.val[at - 2 * L] : 0;
    ctx = pt_context(hi, prev, prev2);
    return d;
}

__device__ __forceinline__ uint32_t warp_sum32(uint32_t v) {
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) v += __shfl_xor_sync(0xffffffffu, v, d);
    return v;
}

// One warp, lane = symbol: normalise counts c to frequencies summing to 2^PE_SCALE (every present
// symbol >= 1; the largest absorbs the rounding). Returns the table's bytes in a rANS section
// (present flag, then scale, count and pairs when present); *bits = its coded size in bits.
__device__ uint32_t pe_norm(uint32_t c, uint32_t& f, double* bits) {
    const uint32_t lane = threadIdx.x & 31;
    const uint32_t tot = warp_sum32(c);
    if (tot == 0) {
        f = 0;
        *bits = 0.0;
        return 1;
    }
    f = 0;
    if (c) {
        const uint64_t r = ((uint64_t)c * (1u << PE_SCALE) + tot / 2) / tot;
        f = r < 1 ? 1 : (uint32_t)r;
    }
    const int32_t diff = (int32_t)(1u << PE_SCALE) - (int32_t)warp_sum32(f);
    uint32_t key = (f << 5) | (31 - lane);
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) {
        const uint32_t o = __shfl_xor_sync(0xffffffffu, key, d);
        key = o > key ? o : key;
    }
    if (lane == 31 - (key & 31)) f = (uint32_t)((int32_t)f + diff);
    const uint32_t mask = __ballot_sync(0xffffffffu, c != 0);
    const uint32_t below = mask & ((1u << lane) - 1);
    const uint32_t gap = below ? lane - (31 - __clz(below)) - 1 : lane;
    const uint32_t pair = c ? varint_len(gap) + varint_len(f - 1) : 0;
    double b = c ? (double)c * ((double)PE_SCALE - log2((double)f)) : 0.0;
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) b += __shfl_xor_sync(0xffffffffu, b, d);
    *bits = b;
    return 1 + 1 + varint_len(__popc(mask)) + warp_sum32(pair);
}

// Counts of symbol `lane` for candidate table tb (0: context set 0; 1..3: set 1; 4..51: set 2).
__device__ __forceinline__ uint32_t pe_count(const PeSh& sh, uint32_t tb, uint32_t s) {
    uint32_t c = 0;
    if (tb == 0) {
        for (uint32_t x = 0; x < PE_TABLES; x++) c += sh.hist[x * 32 + s];
    } else if (tb < 4) {
        for (uint32_t x = 0; x < 16; x++) c += sh.hist[((tb - 1) * 16 + x) * 32 + s];
    } else {
        c = sh.hist[(tb - 4) * 32 + s];
    }
    return c;
}

__device__ __forceinline__ uint32_t pe_ntab(uint32_t kind) { return kind == 0 ? 1 : (kind == 1 ? 3 : PE_TABLES); }
__device__ __forceinline__ uint32_t pe_cand(uint32_t kind, uint32_t j) { return kind == 0 ? 0 : (kind == 1 ? 1 + j : 4 + j); }

// Encoder entries of table j from its frequencies (one warp, lane = symbol).
__device__ void pe_enc_entry(PeSh& sh, uint32_t j, uint32_t f) {
    const uint32_t lane = threadIdx.x & 31;
    uint32_t cum = f;
#pragma unroll
    for (int d = 1; d < 32; d <<= 1) {
        const uint32_t o = __shfl_up_sync(0xffffffffu, cum, d);
        if (lane >= (uint32_t)d) cum += o;
    }
    enc_entry(f, cum - f, &sh.tab[j * 32 + lane], &sh.rcp[j * 32 + lane]);
}

// Scratch slot of this block: a.slots kept slots, then one for planes whose tables are recomputed.
__device__ __forceinline__ uint8_t* pe_scratch(const PeArgs& a, uint32_t slot) {
    return a.temp + a.scratch_at + (uint64_t)blockIdx.x * a.scratch_stride + (uint64_t)slot * PE_PLANE_SCRATCH;
}

// ---------------------------------------------------------------- passes

// Plan: statistics of plane k over the chunk (forward tiles); the first plane also counts the
// exceptions. Results in sh.pl[k], sh.hist, sh.n_exc / sh.exc_bytes.
__device__ __forceinline__ void pe_stats(PeSh& sh, const PeArgs& a, const uint8_t* src, uint32_t k, bool first, double& my_err) {
    const uint32_t t = threadIdx.x, L = sh.lanes;
    const uint64_t n = sh.n;
    const uint32_t T = (PE_TILE / L) * L;
    for (uint32_t j = t; j < PE_TABLES * 32; j += blockDim.x) sh.hist[j] = 0;
    if (t == 0) {
        sh.amin = 0xFFFFFFFFu;
        sh.amax = 0;
        sh.pl[k].nnz = sh.pl[k].signs = sh.pl[k].gap_bytes = 0;
        sh.pl[k].ebits = 0;
        sh.c_prev = -1;
        sh.c_exc = -1;
        if (first) sh.n_exc = sh.exc_bytes = 0;
    }
    __syncthreads();
    for (uint64_t base = 0; base < n; base += T) {
        const uint32_t cnt = n - base < T ? (uint32_t)(n - base) : T;
        pe_tile(sh, src, base, cnt, k, my_err);
        uint32_t e0, e1;
        pe_run(cnt, e0, e1);
        uint32_t signs = 0, dmin = 0xFFFFFFFFu, dmax = 0, ebits = 0;
        PeItems nz, ex;
        for (uint32_t e = e0; e < e1; e++) {
            const uint64_t i = base + e;
            uint64_t hi;
            uint32_t ctx;
            const uint32_t d = pe_digit(sh, i, PE_HALO + e, hi, ctx);
            uint32_t extra, kb;
            const uint32_t b = pe_bucket(d, extra, kb);
            atomicAdd(&sh.hist[ctx * 32 + b], 1u);
            ebits += kb;
            if (d) {
                nz.add(i);
                dmin = d < dmin ? d : dmin;
                dmax = d > dmax ? d : dmax;
                if (hi == 0) signs++;
            }
            if (first && (sh.fl[PE_HALO + e] & 1)) ex.add(i);
        }
        int64_t nz_last, ex_last = -1;
        nz.close(sh, sh.c_prev, &nz_last);
        if (first) ex.close(sh, sh.c_exc, &ex_last);
        if (nz.n) {
            atomicAdd(&sh.pl[k].nnz, nz.n);
            atomicAdd(&sh.pl[k].signs, signs);
            atomicAdd(&sh.pl[k].gap_bytes, nz.gap_bytes);
            atomicMin(&sh.amin, dmin);
            atomicMax(&sh.amax, dmax);
        }
        if (ebits) atomicAdd((unsigned long long*)&sh.pl[k].ebits, (unsigned long long)ebits);
        if (ex.n) {
            atomicAdd(&sh.n_exc, ex.n);
            atomicAdd(&sh.exc_bytes, ex.gap_bytes + ex.n * sh.size);
        }
        __syncthreads();
        if (t == 0) {
            if (nz_last >= 0) sh.c_prev = nz_last;
            if (ex_last >= 0) sh.c_exc = ex_last;
        }
        __syncthreads();
    }
    if (t == 0) {
        sh.pl[k].dmin = sh.amin;
        sh.pl[k].dmax = sh.amax;
    }
    __syncthreads();
}

// rANS lanes of plane k, backwards over the tiles. Counting (out == null): word counts into the
// block's scratch. Writing: words at out + sh.lane_pos[l] (count - 1 - k for word k), the final
// state and count at hdr. Returns true (writing) if a count disagrees.
__device__ bool pe_lanes(PeSh& sh, const PeArgs& a, const uint8_t* src, uint32_t k, uint8_t* out, uint8_t* hdr,
                         double& my_err) {
    const uint32_t t = threadIdx.x, L = sh.lanes;
    const uint64_t n = sh.n;
    const uint32_t T = (PE_TILE / L) * L, rows = T / L;
    const uint32_t kind = sh.pl[k].kind;
    uint32_t* nw = (uint32_t*)(pe_scratch(a, sh.pl[k].slot) + PE_FREQ_BYTES);
    const bool mine = t < L;
    const uint32_t cnt_l = out && mine ? nw[t] : 0;
    uint32_t x = RANS_L, words = 0;
    bool bad = false;
    const uint64_t ntiles = (n + T - 1) / T;
    for (uint64_t tk = ntiles; tk-- > 0;) {
        const uint64_t base = tk * T;
        const uint32_t cnt = n - base < T ? (uint32_t)(n - base) : T;
        __syncthreads();  // the previous tile is consumed
        pe_tile(sh, src, base, cnt, k, my_err);
        if (!mine) continue;
        for (uint32_t r = rows; r-- > 0;) {
            const uint32_t e = r * L + t;
            if (e >= cnt) continue;
            uint64_t hi;
            uint32_t ctx;
            const uint32_t d = pe_digit(sh, base + e, PE_HALO + e, hi, ctx);
            uint32_t extra, kb;
            const uint32_t b = pe_bucket(d, extra, kb);
            if (kb) {
                if (x >= ((RANS_L >> kb) << 16)) {
                    if (out && !put_word(out + sh.lane_pos[t], cnt_l, words, x & 0xFFFF)) bad = true;
                    words++;
                    x >>= 16;
                }
                x = (x << kb) | extra;
            }
            const uint32_t j = pe_map(kind, ctx) * 32 + b;
            uint32_t w;
            if (enc_put(x, sh.tab[j], sh.rcp[j], PE_SCALE, &w)) {
                if (out && !put_word(out + sh.lane_pos[t], cnt_l, words, w)) bad = true;
                words++;
            }
        }
    }
    __syncthreads();
    if (mine) {
        if (out) {
            if (words != cnt_l) bad = true;
            wr_u32(hdr + 8ull * t, x);
            wr_u32(hdr + 8ull * t + 4, words);
        } else {
            nw[t] = words;
        }
    }
    return bad;
}

// rANS plane k (mode and context set chosen, histogram in sh.hist): frequencies and word counts
// into its scratch slot, encoder entries into shared memory, P.table_bytes. Block-wide.
__device__ __forceinline__ void pe_build(PeSh& sh, const PeArgs& a, const uint8_t* src, uint32_t k, double& my_err) {
    const uint32_t t = threadIdx.x, lane = t & 31, w = t >> 5;
    PePlane& P = sh.pl[k];
    uint16_t* fr = (uint16_t*)pe_scratch(a, P.slot);
    const uint32_t ntab = pe_ntab(P.kind);
    uint32_t tbytes = 0;
    for (uint32_t j = w; j < ntab; j += blockDim.x / 32) {
        uint32_t f;
        double bits;
        tbytes += pe_norm(pe_count(sh, pe_cand(P.kind, j), lane), f, &bits);
        fr[j * 32 + lane] = (uint16_t)f;
        pe_enc_entry(sh, j, f);
    }
    if (t == 0) P.table_bytes = 0;
    __syncthreads();
    if (lane == 0 && tbytes) atomicAdd(&P.table_bytes, tbytes);
    pe_lanes(sh, a, src, k, nullptr, nullptr, my_err);
    __syncthreads();
}

// Plan: choose plane k's mode from its statistics; for rANS, tables (frequencies to scratch,
// encoder entries to shared memory) and the counting pass. Sets sh.pl[k].len (section bytes).
__device__ void pe_decide(PeSh& sh, const PeArgs& a, const uint8_t* src, uint32_t k, double& my_err) {
    const uint32_t t = threadIdx.x, lane = t & 31, w = t >> 5;
    PePlane& P = sh.pl[k];
    const uint64_t n = sh.n;
    const uint32_t width = sh.prime <= 256 ? 1 : 2;
    const uint64_t sb = (P.signs + 7) / 8;
    const uint64_t raw_len = 1 + n * width + sb;
    if (P.nnz == 0) {
        if (t == 0) { P.mode = 0; P.len = 1; }
        __syncthreads();
        return;
    }
    for (uint32_t tb = w; tb < PE_CAND; tb += blockDim.x / 32) {
        uint32_t f;
        double bits;
        const uint32_t bytes = pe_norm(pe_count(sh, tb, lane), f, &bits);
        if (lane == 0) sh.cost[tb] = (double)bytes + bits / 8.0;
    }
    __syncthreads();
    if (t == 0) {
        double best = 0.0;
        uint32_t kind = 0;
        for (uint32_t kd = 0; kd < 3; kd++) {
            double c = 0.0;
            for (uint32_t j = 0; j < pe_ntab(kd); j++) c += sh.cost[pe_cand(kd, j)];
            if (kd == 0 || c < best) { best = c; kind = kd; }
        }
        const double rans_est = 3.0 + 8.0 * sh.lanes + best + (double)P.ebits / 8.0 + 2.0 * sh.lanes + (double)sb;
        uint64_t sparse_len = (uint64_t)-1;
        if (P.nnz <= n / 4) {
            const uint64_t ds = P.dmin == P.dmax ? 1 + varint_len(P.dmin - 1) : 1 + 2ull * P.nnz;
            sparse_len = 1 + varint_len(P.nnz) + P.gap_bytes + ds + sb;
        }
        P.kind = kind;
        P.mode = 3;
        P.len = raw_len;
        if (sparse_len < P.len) { P.mode = 1; P.len = sparse_len; }
        if (rans_est < (double)P.len) P.mode = 2;
    }
    __syncthreads();
    if (P.mode != 2) return;
    if (t == 0) P.slot = sh.next_slot < a.slots ? sh.next_slot++ : a.slots;
    __syncthreads();
    pe_build(sh, a, src, k, my_err);
    if (t == 0) {
        const uint32_t* nw = (const uint32_t*)(pe_scratch(a, P.slot) + PE_FREQ_BYTES);
        uint64_t words = 0;
        for (uint32_t l = 0; l < sh.lanes; l++) words += nw[l];
        const uint64_t len = 2 + P.table_bytes + 1 + 8ull * sh.lanes + 2 * words + sb;
        if (len < raw_len) {
            P.len = len;
        } else {
            P.mode = 3;
            P.len = raw_len;
            if (P.slot < a.slots) sh.next_slot--;
        }
    }
    __syncthreads();
}

// Write: sign bits of the tile's leading digits (ranked in sh.sbit[0..cnt)) at sign_at, ordinals
// [sh.c_ord, sh.c_ord + cnt); a byte not yet complete stays in sh.pend. Block-wide.
__device__ void pe_put_signs(PeSh& sh, uint8_t* sign_at, uint32_t cnt) {
    const uint64_t o0 = sh.c_ord, o1 = o0 + cnt;
    const uint64_t j0 = o0 / 8, j1 = o1 / 8;  // complete bytes [j0, j1)
    for (uint64_t j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
        uint32_t v = 0;
        for (uint32_t b = 0; b < 8; b++) {
            const uint64_t o = 8 * j + b;
            v |= (o < o0 ? (sh.pend >> b) & 1 : sh.sbit[o - o0]) << b;
        }
        sign_at[j] = (uint8_t)v;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        uint32_t v = j1 == j0 ? sh.pend : 0;
        for (uint64_t o = (8 * j1 > o0 ? 8 * j1 : o0); o < o1; o++) v |= (uint32_t)sh.sbit[o - o0] << (o % 8);
        sh.pend = v;
        sh.pend_n = (uint32_t)(o1 % 8);
        sh.c_ord = o1;
    }
    __syncthreads();
}

// Write: plane k's section (mode byte at sec) except the rANS words: raw digits, CSR gaps and
// digits, and the sign bits at sign_at. Forward over tiles.
__device__ void pe_write_forward(PeSh& sh, const uint8_t* src, uint32_t k, uint8_t* sec, uint8_t* sign_at,
                                 double& my_err) {
    const uint32_t t = threadIdx.x, L = sh.lanes;
    const uint64_t n = sh.n;
    const uint32_t T = (PE_TILE / L) * L;
    const PePlane& P = sh.pl[k];
    const uint32_t width = sh.prime <= 256 ? 1 : 2;
    uint8_t* gaps = sec + 1 + varint_len(P.nnz);
    uint8_t* dstream = gaps + P.gap_bytes;  // sparse: the nonzero digits' u16 stream
    if (t == 0) {
        sh.c_prev = -1;
        sh.c_ord = 0;
        sh.c_pos = 0;
        sh.pend = sh.pend_n = 0;
        sh.nz_done = 0;
    }
    __syncthreads();
    for (uint64_t base = 0; base < n; base += T) {
        const uint32_t cnt = n - base < T ? (uint32_t)(n - base) : T;
        pe_tile(sh, src, base, cnt, k, my_err);
        uint32_t e0, e1;
        pe_run(cnt, e0, e1);
        uint32_t leads = 0;
        PeItems nz;
        for (uint32_t e = e0; e < e1; e++) {
            uint64_t hi;
            uint32_t ctx;
            const uint64_t i = base + e;
            const uint32_t d = pe_digit(sh, i, PE_HALO + e, hi, ctx);
            if (P.mode == 3) {
                if (width == 1) sec[1 + i] = (uint8_t)d;
                else { sec[1 + 2 * i] = (uint8_t)d; sec[2 + 2 * i] = (uint8_t)(d >> 8); }
            }
            if (d) {
                nz.add(i);
                leads += hi == 0;
            }
        }
        int64_t nz_last;
        int64_t prev = nz.close(sh, sh.c_prev, &nz_last);
        uint64_t tot;
        // positions: of the nonzero digits, of the gap varints, of the sign bits
        const uint64_t nz_at = sh.nz_done + pt_scan<uint64_t>(nz.n, sh.wsum, &tot);
        const uint64_t nz_tot = tot;
        const uint64_t gap_at = sh.c_pos + pt_scan<uint64_t>(nz.gap_bytes, sh.wsum, &tot);
        const uint64_t gap_tot = tot;
        const uint32_t lead_at = (uint32_t)pt_scan<uint64_t>(leads, sh.wsum, &tot);
        const uint32_t lead_tot = (uint32_t)tot;
        // scatter
        uint64_t g = gap_at, z = nz_at;
        uint32_t s = lead_at;
        for (uint32_t e = e0; e < e1; e++) {
            uint64_t hi;
            uint32_t ctx;
            const uint64_t i = base + e;
            const uint32_t d = pe_digit(sh, i, PE_HALO + e, hi, ctx);
            if (!d) continue;
            if (P.mode == 1) {
                g = (uint64_t)(put_varint(gaps + g, pe_gap(i, prev)) - gaps);
                if (P.dmin != P.dmax) {
                    dstream[1 + 2 * z] = (uint8_t)(d - 1);
                    dstream[2 + 2 * z] = (uint8_t)((d - 1) >> 8);
                }
            }
            prev = (int64_t)i;
            z++;
            if (hi == 0) sh.sbit[s++] = (sh.fl[PE_HALO + e] >> 1) & 1;
        }
        __syncthreads();
        pe_put_signs(sh, sign_at, lead_tot);
        if (t == 0) {
            if (nz_last >= 0) sh.c_prev = nz_last;
            sh.c_pos += gap_tot;
            sh.nz_done += nz_tot;
        }
        __syncthreads();
    }
    if (t == 0) {
        if (sh.pend_n) sign_at[sh.c_ord / 8] = (uint8_t)sh.pend;
        if (P.mode == 1) {
            put_varint(sec + 1, P.nnz);
            if (sh.c_pos != P.gap_bytes || sh.nz_done != P.nnz) sh.bad = 1;
            if (P.dmin == P.dmax) {
                dstream[0] = 0;
                put_varint(dstream + 1, P.dmin - 1);
            } else {
                dstream[0] = 1;
            }
        }
        if ((sh.c_ord + 7) / 8 != (P.signs + 7) / 8) sh.bad = 1;
    }
    __syncthreads();
}

// Write: the rANS section header of plane k (mode, context set, tables, lane count) at sec; warp 0.
// Returns the offset of the lane headers in the section.
__device__ uint32_t pe_rans_header(PeSh& sh, const PeArgs& a, uint32_t k, uint8_t* sec) {
    const PePlane& P = sh.pl[k];
    const uint32_t lane = threadIdx.x & 31;
    const uint16_t* fr = (const uint16_t*)pe_scratch(a, P.slot);
    uint32_t pos = 2;
    if (threadIdx.x < 32) {
        if (lane == 0) { sec[0] = 2; sec[1] = (uint8_t)P.kind; }
        for (uint32_t j = 0; j < pe_ntab(P.kind); j++) {
            const uint32_t f = fr[j * 32 + lane];
            const uint32_t mask = __ballot_sync(0xffffffffu, f != 0);
            if (!mask) {
                if (lane == 0) sec[pos] = 0;
                pos += 1;
                continue;
            }
            const uint32_t below = mask & ((1u << lane) - 1);
            const uint32_t gap = below ? lane - (31 - __clz(below)) - 1 : lane;
            const uint32_t len = f ? varint_len(gap) + varint_len(f - 1) : 0;
            uint32_t inc = len;
#pragma unroll
            for (int d = 1; d < 32; d <<= 1) {
                const uint32_t o = __shfl_up_sync(0xffffffffu, inc, d);
                if (lane >= (uint32_t)d) inc += o;
            }
            const uint32_t head = 2 + varint_len(__popc(mask));
            if (lane == 0) {
                sec[pos] = 1;
                sec[pos + 1] = PE_SCALE;
                put_varint(sec + pos + 2, __popc(mask));
            }
            if (f) {
                uint8_t* q = sec + pos + head + inc - len;
                q = put_varint(q, gap);
                put_varint(q, f - 1);
            }
            pos += head + __shfl_sync(0xffffffffu, inc, 31);
        }
        if (lane == 0) sec[pos] = (uint8_t)sh.lanes;
        pos += 1;
    }
    return pos;
}

// ---------------------------------------------------------------- kernels

extern "C" __global__ void __launch_bounds__(BLOCK) saraphis_padic_stats(PeArgs a) {
    __shared__ PeStat part[BLOCK];
    const uint32_t t = threadIdx.x;
    const uint64_t stride = (uint64_t)gridDim.x * blockDim.x;
    PeStat s = {0.0, 0.0, INFINITY, -INFINITY, 0};
    for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + t; i < a.numel; i += stride) {
        const double x = pe_load(a.src, i, a.dtype);
        if (!isfinite(x)) continue;
        const double ax = fabs(x);
        s.max_abs = fmax(s.max_abs, ax);
        if (a.rel && x != 0.0) {
            const double l = log(ax);
            s.sum_log = __dadd_rn(s.sum_log, l);
            s.count++;
            s.min_log = fmin(s.min_log, l);
            s.max_log = fmax(s.max_log, l);
        }
    }
    uint64_t* look = (uint64_t*)(a.temp + a.status_at);
    for (uint64_t c = (uint64_t)blockIdx.x * blockDim.x + t; c < a.n_chunks; c += stride) look[c] = 0;
    part[t] = s;
    __syncthreads();
    for (uint32_t h = BLOCK / 2; h > 0; h >>= 1) {
        if (t < h) {
            PeStat& p = part[t];
            const PeStat& o = part[t + h];
            p.max_abs = fmax(p.max_abs, o.max_abs);
            p.sum_log = __dadd_rn(p.sum_log, o.sum_log);
            p.count += o.count;
            p.min_log = fmin(p.min_log, o.min_log);
            p.max_log = fmax(p.max_log, o.max_log);
        }
        __syncthreads();
    }
    if (t == 0) ((PeStat*)(a.temp + PE_STATS_AT))[blockIdx.x] = part[0];
}

extern "C" __global__ void __launch_bounds__(BLOCK) saraphis_padic_params(PeArgs a) {
    if (threadIdx.x != 0) return;
    const PeStat* ps = (const PeStat*)(a.temp + PE_STATS_AT);
    PeStat s = {0.0, 0.0, INFINITY, -INFINITY, 0};
    for (uint32_t b = 0; b < a.stats_blocks; b++) {
        s.max_abs = fmax(s.max_abs, ps[b].max_abs);
        s.sum_log = __dadd_rn(s.sum_log, ps[b].sum_log);
        s.count += ps[b].count;
        s.min_log = fmin(s.min_log, ps[b].min_log);
        s.max_log = fmax(s.max_log, ps[b].max_log);
    }
    const double step = a.step;
    double max_q = 0.0;
    int64_t offset = 0;
    if (!a.rel) {
        max_q = round(__ddiv_rn(s.max_abs, step));
    } else if (s.count > 0) {
        const double off = round(__ddiv_rn(__ddiv_rn(s.sum_log, (double)s.count), step));
        offset = (int64_t)off;
        const double lo = fabs(__dsub_rn(round(__ddiv_rn(s.min_log, step)), off));
        const double hi = fabs(__dsub_rn(round(__ddiv_rn(s.max_log, step)), off));
        max_q = fmax(lo, hi);
    }
    const uint64_t p = a.prime;
    uint32_t n = a.precision;
    if (n == 0) {  // padic::min_precision, capped at max_precision
        const uint64_t mq = isfinite(max_q) && max_q < 4611686018427387904.0 ? (uint64_t)max_q : ~0ull;
        n = 1;
        uint64_t v = p;
        while (v <= mq) {
            n++;
            if (v > ~0ull / p) break;
            v *= p;
        }
        if (n > a.max_n) n = a.max_n;
    }
    uint64_t limit = 1;
    for (uint32_t j = 0; j < n; j++) limit *= p;
    PePlan* pl = (PePlan*)(a.temp + PE_PLAN_AT);
    pl->step = step;
    pl->offset = offset;
    pl->limit = limit;
    pl->n = n;
    uint8_t* b = pl->params;
    wr_u32(b, a.prime);
    b[4] = (uint8_t)n;
    b[5] = (uint8_t)a.rel;
    wr_u64(b + 6, (uint64_t)__double_as_longlong(a.eps));
    wr_u64(b + 14, (uint64_t)__double_as_longlong(step));
    wr_u64(b + 22, (uint64_t)offset);
    wr_u64(b + 30, (uint64_t)__double_as_longlong(s.max_abs));
    *(uint32_t*)a.temp = 0;               // error flag
    *(uint32_t*)(a.temp + 4) = 0;         // chunk ticket
    *(uint64_t*)(a.temp + 8) = 0;         // largest error (bits of a non-negative double)
}

extern "C" __global__ void __launch_bounds__(BLOCK, 5) saraphis_encode_padic(PeArgs a) {
    __shared__ PeSh sh;
    const uint32_t t = threadIdx.x;
    crc_init(sh.crc);
    if (t == 0) {
        const PePlan* pl = (const PePlan*)(a.temp + PE_PLAN_AT);
        sh.step = pl->step;
        sh.inv_step = 1.0 / pl->step;
        sh.eps = a.eps;
        sh.offset = pl->offset;
        sh.limit = pl->limit;
        sh.n_planes = pl->n;
        sh.prime = a.prime;
        sh.dtype = a.dtype;
        sh.size = a.size;
        sh.rel = a.rel;
        uint64_t v = 1;
        for (uint32_t k = 0; k <= pl->n && k <= PE_MAXN; k++) {
            sh.pk[k] = v;
            v *= a.prime;
        }
    }
    __syncthreads();
    double my_err = 0.0;
    const uint32_t N = sh.n_planes;
    uint64_t* look = (uint64_t*)(a.temp + a.status_at);
    const uint64_t VAL = (1ull << 62) - 1;
    for (;;) {
        if (t == 0) sh.ci = atomicAdd((uint32_t*)(a.temp + 4), 1u);
        __syncthreads();
        const uint64_t ci = sh.ci;
        if (ci >= a.n_chunks) break;
        const uint64_t start = ci * a.chunk_elems;
        const uint64_t n = a.numel - start < a.chunk_elems ? a.numel - start : a.chunk_elems;
        const uint8_t* src = a.src + start * a.size;
        if (t == 0) {
            sh.n = n;
            sh.lanes = lanes_for(n, a.max_lanes);
            sh.bad = 0;
            sh.next_slot = 0;
        }
        __syncthreads();
        // ---- plan (errors of this chunk's elements count only if the chunk is coded)
        double chunk_err = 0.0;
        for (uint32_t k = N; k-- > 0;) {
            pe_stats(sh, a, src, k, k == N - 1, chunk_err);
            pe_decide(sh, a, src, k, chunk_err);
        }
        const uint64_t vneg_bytes = sh.rel ? (n + 7) / 8 : 0;
        if (t == 0) {
            uint64_t len = 1 + varint_len(sh.n_exc) + sh.exc_bytes + vneg_bytes;
            for (uint32_t k = 0; k < N; k++) len += 4 + sh.pl[k].len;
            sh.len = len < 1 + n * a.size ? len : 1 + n * a.size;
        }
        __syncthreads();
        if (sh.len != 1 + n * a.size && chunk_err > my_err) my_err = chunk_err;
        // ---- offset: decoupled look-back
        if (t == 0) {
            const uint64_t len = sh.len;
            uint64_t pre = 0;
            if (ci == 0) {
                atomicExch((unsigned long long*)&look[0], (unsigned long long)((2ull << 62) | len));
            } else {
                atomicExch((unsigned long long*)&look[ci], (unsigned long long)((1ull << 62) | len));
                for (uint64_t j = ci - 1;;) {
                    const uint64_t wv = atomicAdd((unsigned long long*)&look[j], 0ull);
                    const uint64_t f = wv >> 62;
                    if (f == 0) {
                        __nanosleep(64);
                        continue;
                    }
                    pre += wv & VAL;
                    if (f == 2) break;
                    j--;
                }
                atomicExch((unsigned long long*)&look[ci], (unsigned long long)((2ull << 62) | (pre + len)));
            }
            sh.prefix = pre;
            uint8_t* entry = a.dst + a.nc_at + 4 + 16 * ci;
            wr_u64(entry, pre);
            wr_u32(entry + 8, (uint32_t)len);
        }
        __syncthreads();
        // ---- write (quantises the same values again)
        double again = 0.0;
        uint8_t* out = a.dst + a.header_len + sh.prefix;
        const uint64_t len = sh.len;
        if (len == 1 + n * a.size) {
            if (t == 0) out[0] = 0;
            const uint64_t bytes = n * a.size;
            for (uint64_t b = t; b < bytes; b += blockDim.x) out[1 + b] = src[b];
        } else {
            if (t == 0) {
                out[0] = 1;
                put_varint(out + 1, sh.n_exc);
            }
            uint8_t* exc = out + 1 + varint_len(sh.n_exc);
            // exceptions (gap varint + the element's bytes), forward over tiles
            if (sh.n_exc) {
                const uint32_t L = sh.lanes, T = (PE_TILE / L) * L;
                if (t == 0) { sh.c_prev = -1; sh.c_pos = 0; }
                __syncthreads();
                for (uint64_t base = 0; base < n; base += T) {
                    const uint32_t cnt = n - base < T ? (uint32_t)(n - base) : T;
                    pe_tile(sh, src, base, cnt, 0, again);
                    uint32_t e0, e1;
                    pe_run(cnt, e0, e1);
                    PeItems ex;
                    for (uint32_t e = e0; e < e1; e++)
                        if (sh.fl[PE_HALO + e] & 1) ex.add(base + e);
                    int64_t ex_last;
                    int64_t prev = ex.close(sh, sh.c_prev, &ex_last);
                    uint64_t tot;
                    uint64_t pos = sh.c_pos + pt_scan<uint64_t>(ex.gap_bytes + ex.n * a.size, sh.wsum, &tot);
                    for (uint32_t e = e0; e < e1; e++) {
                        if (!(sh.fl[PE_HALO + e] & 1)) continue;
                        const uint64_t i = base + e;
                        uint8_t* q = put_varint(exc + pos, pe_gap(i, prev));
                        for (uint32_t b = 0; b < a.size; b++) q[b] = src[i * a.size + b];
                        pos = (uint64_t)(q + a.size - exc);
                        prev = (int64_t)i;
                    }
                    __syncthreads();
                    if (t == 0) {
                        if (ex_last >= 0) sh.c_prev = ex_last;
                        sh.c_pos += tot;
                    }
                    __syncthreads();
                }
                if (t == 0 && sh.c_pos != sh.exc_bytes) sh.bad = 1;
            }
            uint8_t* p = exc + sh.exc_bytes;
            // relative mode: the values' sign bits
            for (uint64_t j = t; j < vneg_bytes; j += blockDim.x) {
                uint32_t v = 0;
                for (uint32_t b = 0; b < 8; b++) {
                    const uint64_t i = 8 * j + b;
                    if (i >= n) break;
                    const uint32_t top = a.size == 4 ? ((const uint32_t*)src)[i] >> 31
                                       : a.size == 8 ? (uint32_t)(((const uint64_t*)src)[i] >> 63)
                                                     : ((const uint16_t*)src)[i] >> 15;
                    v |= top << b;
                }
                p[j] = (uint8_t)v;
            }
            p += vneg_bytes;
            // digit planes, most significant first
            for (uint32_t k = N; k-- > 0;) {
                const PePlane& P = sh.pl[k];
                if (t == 0) wr_u32(p, (uint32_t)P.len);
                uint8_t* sec = p + 4;
                const uint64_t sb = (P.signs + 7) / 8;
                uint8_t* sign_at = sec + P.len - sb;
                if (P.mode == 0) {
                    if (t == 0) sec[0] = 0;
                } else {
                    if (t == 0) sec[0] = (uint8_t)P.mode;
                    if (P.mode == 2) {
                        // a plane past the kept slots: histogram, tables and counts again (the
                        // same values: the same data, the same code)
                        if (P.slot == a.slots) {
                            __syncthreads();  // every thread has read the plane record
                            pe_stats(sh, a, src, k, false, again);
                            pe_build(sh, a, src, k, again);
                        }
                        // tables, lane headers, word positions, encoder entries
                        const uint32_t hdr = pe_rans_header(sh, a, k, sec);
                        if (t == 0) {
                            const uint32_t* nw = (const uint32_t*)(pe_scratch(a, P.slot) + PE_FREQ_BYTES);
                            uint64_t at = hdr + 8ull * sh.lanes;
                            for (uint32_t l = 0; l < sh.lanes; l++) {
                                sh.lane_pos[l] = (uint32_t)at;
                                at += 2ull * nw[l];
                            }
                            if (hdr != 2 + P.table_bytes + 1 || at + sb != P.len) sh.bad = 1;
                            sh.hdr_at = hdr;
                        }
                        const uint16_t* fr = (const uint16_t*)pe_scratch(a, P.slot);
                        for (uint32_t j = t >> 5; j < pe_ntab(P.kind); j += blockDim.x / 32)
                            pe_enc_entry(sh, j, fr[j * 32 + (t & 31)]);
                        __syncthreads();
                        const bool bad = pe_lanes(sh, a, src, k, sec, sec + sh.hdr_at, again);
                        if (__syncthreads_or(bad) && t == 0) sh.bad = 1;
                    }
                    pe_write_forward(sh, src, k, sec, sign_at, again);
                }
                p = sec + P.len;
                __syncthreads();
            }
            if (t == 0 && (uint64_t)(p - out) != len) sh.bad = 1;
        }
        __syncthreads();
        const uint32_t crc = block_crc32(sh.crc, out, len);
        if (t == 0) {
            wr_u32(a.dst + a.nc_at + 4 + 16 * ci + 12, crc);
            if (sh.bad) atomicOr((uint32_t*)a.temp, 1u);
        }
        __syncthreads();
    }
    // the largest error of any quantised element (non-negative doubles order as their bits)
    for (int d = 16; d > 0; d >>= 1) my_err = fmax(my_err, __shfl_xor_sync(0xffffffffu, my_err, d));
    if ((t & 31) == 0 && my_err > 0.0)
        atomicMax((unsigned long long*)(a.temp + 8), (unsigned long long)__double_as_longlong(my_err));
}

extern "C" __global__ void __launch_bounds__(BLOCK) saraphis_padic_finish(PeArgs a) {
    __shared__ CrcShared crc;
    crc_init(crc);
    const uint32_t t = threadIdx.x;
    const uint64_t params_end = a.params_at + 38;
    const uint8_t* params = ((const PePlan*)(a.temp + PE_PLAN_AT))->params;
    for (uint32_t b = t; b < a.prefix_len; b += blockDim.x)
        a.dst[b] = b >= a.params_at && b < params_end ? params[b - a.params_at] : a.prefix[b];
    __syncthreads();
    const uint32_t c = block_crc32(crc, a.dst, a.header_len - 4);
    if (t == 0) {
        wr_u32(a.dst + a.header_len - 4, c);
        const bool failed = *(const uint32_t*)a.temp != 0;
        const uint64_t* look = (const uint64_t*)(a.temp + a.status_at);
        const uint64_t payload = a.n_chunks ? look[a.n_chunks - 1] & ((1ull << 62) - 1) : 0;
        *a.out_size = failed ? 0 : a.header_len + payload;
    }
}
