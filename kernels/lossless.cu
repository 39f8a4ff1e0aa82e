// Saraphis GPU decoder for bit-exact containers (codecs raw = 0, lossless float split = 1,
// byte planes = 3), reading the container format of docs/FORMAT.md straight from device memory.
//
// One block of BLOCK threads decodes one chunk at a time (grid-stride over chunks):
//  1. thread 0 parses the chunk's symbol streams (mode, frequency table, lane headers);
//     the block expands each rANS table into shared memory: one symbol byte per slot
//     (scale_bits <= 12, so at most 4 KiB) plus 256-entry frequency and cumulative arrays;
//  2. thread t decodes lane t of every stream (symbol i belongs to lane i % lanes, the same for
//     all streams of a chunk; up to BLOCK lanes), assembles element i from its exponent and plane
//     symbols, and stores it: consecutive threads store consecutive elements (coalesced);
//  3. every lane must end in the initial rANS state with all its words consumed, else the
//     chunk's status is nonzero. Nothing else is trusted either: every read is bounds-checked.
// Dynamic shared memory: `slot_cap` one-byte slots (4096 per rANS stream a chunk may have).
// With `verify` set, each chunk's CRC-32 is checked on the GPU before it is decoded: the block's
// threads checksum equal slices of the chunk and combine them in order (crc32_combine, as in zlib).
// Status per chunk (if `status` is not null and the chunk index < status_len):
//   0 ok, 1 bad header, 2 bad stream, 3 rANS state mismatch, 4 destination mismatch,
//   5 unsupported by this kernel (the CPU decodes it), 6 checksum mismatch.
// p-adic (codec 2), lossless-v2 (codec 4) and quant (codec 5) containers are left alone, status included:
// saraphis_decode_padic, saraphis_decode_segmented_* (segmented.cu) and saraphis_decode_quant
// (quant.cu) decode them.
#include "common.cuh"

#define SPLIT_TILE 1024  // symbols per stream a decode_split tile holds
// F64's exponent stream has 11-bit symbols ("wide"): its rANS table lives at the start of dynamic
// shared memory as one u32 per slot (symbol | frequency << 11) and a u16 cumulative frequency per
// symbol; the byte-symbol tables of the other streams follow.
#define WIDE_ALPHABET 2048
#define WIDE_SLOTS_BYTES (4096 * 4)
#define WIDE_REGION_BYTES (WIDE_SLOTS_BYTES + WIDE_ALPHABET * 2)
// Resident blocks per SM the register allocation must allow (64-80 registers; 8-stream chunks
// of 8-byte integers get more registers instead).
#define DECODE_MIN_BLOCKS(NS) ((NS) <= 2 ? 8 : (NS) <= 4 ? 6 : 3)

struct Stream {
    uint32_t mode;  // 0 const, 1 raw, 2 rANS
    uint32_t value;
    uint32_t scale_bits;
    uint32_t table_off;  // byte offset of the slot table in dynamic shared memory
    const uint8_t* raw;
    uint16_t freq[256];
    uint16_t cum[256];
    const uint8_t* words[BLOCK];
    uint32_t nwords[BLOCK];
    uint32_t state[BLOCK];
};

template <int NS>
struct Shared {
    CrcShared crc;
    Stream streams[NS];
    uint32_t nstreams;
    uint32_t lanes;
    uint32_t bad;
    uint32_t tsym[256];
    uint32_t tfreq[256];
    uint32_t tcum[256];
    uint32_t tcount;
    uint8_t tile[NS][SPLIT_TILE];  // decode_split: one tile of every rANS stream's symbols
    uint8_t tile_hi[SPLIT_TILE];   // decode_split: high bytes of a wide stream's symbols
};

// Thread 0: parse one stream header at *p (n symbols). Leaves the table's symbols and
// frequencies in sh->tsym/tfreq/tcum for the block to expand. Returns false on a bad stream.
// A wide stream (`dyn` not null: F64's exponents, symbols < 2048) writes its table straight into
// the wide region of dynamic shared memory at `dyn` instead.
template <int NS>
__device__ bool parse_stream(Shared<NS>* sh, Stream* s, const uint8_t** p, const uint8_t* end, uint64_t n,
                             uint32_t* slot_top, uint32_t slot_cap, uint8_t* dyn) {
    const uint32_t alphabet = dyn ? WIDE_ALPHABET : 256;
    const uint64_t width = dyn ? 2 : 1;  // bytes per raw symbol
    if (*p >= end) return false;
    s->mode = *(*p)++;
    sh->tcount = 0;
    if (s->mode == 0) {
        uint64_t v;
        if (!rd_varint(p, end, &v) || v >= alphabet) return false;
        s->value = (uint32_t)v;
        return true;
    }
    if (s->mode == 1) {
        if ((uint64_t)(end - *p) < n * width) return false;
        s->raw = *p;
        *p += n * width;
        return true;
    }
    if (s->mode != 2) return false;
    if (*p >= end) return false;
    uint32_t m = *(*p)++;
    if (m > 12) return false;
    uint64_t k;
    if (!rd_varint(p, end, &k) || k == 0 || k > alphabet || k > (1ull << m)) return false;
    uint64_t next = 0, sum = 0;
    for (uint32_t j = 0; j < k; j++) {
        uint64_t gap, f;
        if (!rd_varint(p, end, &gap) || !rd_varint(p, end, &f)) return false;
        uint64_t sym = next + gap;
        if (sym >= alphabet || f + 1 > (1ull << m) || sum + f + 1 > (1ull << m)) return false;
        if (dyn) {
            uint32_t* wslots = (uint32_t*)dyn;
            ((uint16_t*)(dyn + WIDE_SLOTS_BYTES))[sym] = (uint16_t)sum;
            for (uint64_t q = 0; q <= f; q++) wslots[sum + q] = (uint32_t)sym | (uint32_t)(f + 1) << 11;
        } else {
            sh->tsym[j] = (uint32_t)sym;
            sh->tfreq[j] = (uint32_t)(f + 1);
            sh->tcum[j] = (uint32_t)sum;
        }
        sum += f + 1;
        next = sym + 1;
    }
    if (sum != (1ull << m)) return false;
    sh->tcount = dyn ? 0 : (uint32_t)k;
    s->scale_bits = m;
    if (!dyn) {
        s->table_off = *slot_top;
        *slot_top += 1u << m;
        if (*slot_top > slot_cap) return false;
    }
    if (*p >= end) return false;
    uint32_t lanes = *(*p)++;
    if (lanes == 0 || lanes > BLOCK) return false;
    if (sh->lanes == 0) sh->lanes = lanes;
    if (lanes != sh->lanes) return false;
    if ((uint64_t)(end - *p) < 8ull * lanes) return false;
    uint64_t total = 0;
    for (uint32_t l = 0; l < lanes; l++) {
        s->state[l] = rd_u32(*p + 8 * l);
        s->nwords[l] = rd_u32(*p + 8 * l + 4);
        if (s->state[l] < RANS_L || s->state[l] >= (RANS_L << 16) || s->nwords[l] > n + 2) return false;
        total += s->nwords[l];
    }
    *p += 8 * lanes;
    if ((uint64_t)(end - *p) < 2 * total) return false;
    for (uint32_t l = 0; l < lanes; l++) {
        s->words[l] = *p;
        *p += 2ull * s->nwords[l];
    }
    return true;
}

// Compose element bits from its stream symbols (exponent first for the float split, then the
// sign/mantissa planes most significant first; byte planes least significant first) and store.
template <int NS>
__device__ __forceinline__ void store_element(const uint32_t* sym, uint8_t* o, uint32_t codec, uint32_t size,
                                              uint32_t exp_bits, uint32_t man_bits, uint32_t nplanes) {
    if (codec == 1) {
        uint64_t r = 0;
#pragma unroll
        for (int b = 1; b < NS; b++) if (b <= (int)nplanes) r = (r << 8) | sym[b];
        const uint64_t v = ((r >> man_bits) << (man_bits + exp_bits)) | ((uint64_t)sym[0] << man_bits) |
                           (r & ((1ull << man_bits) - 1));
        if (size == 4) *(uint32_t*)o = (uint32_t)v;
        else if (size == 2) *(uint16_t*)o = (uint16_t)v;
        else for (uint32_t b = 0; b < size; b++) o[b] = (uint8_t)(v >> (8 * b));
    } else {
#pragma unroll
        for (int b = 0; b < NS; b++) if (b < (int)size) o[b] = (uint8_t)sym[b];
    }
}

// One rANS decoding step of stream S for a lane with state x, next word nxt and word cursor
// wp < we; returns the symbol. Sets bad if the lane's words run out.
__device__ __forceinline__ uint32_t rans_step(const Stream& S, const uint8_t* slots, uint32_t m, uint32_t toff,
                                              uint32_t& x, uint32_t& nxt, const uint8_t*& wp, const uint8_t* we,
                                              bool& bad) {
    const uint32_t slot = x & ((1u << m) - 1);
    const uint32_t y = slots[toff + slot];
    uint32_t v = (uint32_t)S.freq[y] * (x >> m) + slot - S.cum[y];
    if (v < RANS_L) {
        if (wp + 2 > we) bad = true;
        v = (v << 16) | nxt;
        wp += 2;
        nxt = wp + 2 <= we ? ((uint32_t)wp[0] | ((uint32_t)wp[1] << 8)) : 0;
    }
    x = v;
    return y;
}

// The decode for chunks with lanes <= blockDim.x / 2: the block has G = blockDim.x / lanes groups
// of `lanes` threads, and group g decodes the rANS streams s with s % G == g, so that one warp no
// longer decodes every stream of a 32-lane chunk while the others wait. Symbols go through a
// shared tile of SPLIT_TILE per stream; then the whole block assembles and stores the tile's
// elements (coalesced). Called by every thread of the block; returns true if a lane is damaged.
// rans_step for a wide stream (table at `dyn`, see WIDE_REGION_BYTES).
__device__ __forceinline__ uint32_t rans_step_wide(const uint8_t* dyn, uint32_t m, uint32_t& x, uint32_t& nxt,
                                                   const uint8_t*& wp, const uint8_t* we, bool& bad) {
    const uint32_t slot = x & ((1u << m) - 1);
    const uint32_t w = ((const uint32_t*)dyn)[slot];
    const uint32_t y = w & (WIDE_ALPHABET - 1);
    uint32_t v = (w >> 11) * (x >> m) + slot - ((const uint16_t*)(dyn + WIDE_SLOTS_BYTES))[y];
    if (v < RANS_L) {
        if (wp + 2 > we) bad = true;
        v = (v << 16) | nxt;
        wp += 2;
        nxt = wp + 2 <= we ? ((uint32_t)wp[0] | ((uint32_t)wp[1] << 8)) : 0;
    }
    x = v;
    return y;
}

// Symbol i of a raw wide stream (2 bytes, little-endian); sets bad past the alphabet.
__device__ __forceinline__ uint32_t raw_wide(const uint8_t* raw, uint64_t i, bool& bad) {
    const uint32_t y = (uint32_t)raw[2 * i] | ((uint32_t)raw[2 * i + 1] << 8);
    if (y >= WIDE_ALPHABET) bad = true;
    return y;
}

// Decode lane t of every stream; returns true if the lane is damaged. Each lane keeps its next
// 16-bit word preloaded, so the global load that a renormalization needs was issued symbols
// earlier. Fused (planes == null): elements are assembled and stored at once. Unfused: symbol i
// of stream s goes to planes[s * plane_stride + i] for saraphis_assemble to combine later.
template <int NS, bool WIDE>
__device__ bool decode_lane(const Shared<NS>& sh, const uint8_t* slots, uint32_t t, uint32_t lanes, uint64_t n,
                            uint32_t codec, uint32_t size, uint32_t exp_bits, uint32_t man_bits, uint32_t nplanes,
                            uint8_t* dst, uint8_t* planes, uint64_t plane_stride) {
    uint32_t x[NS], nxt[NS], mode[NS], m[NS], toff[NS];
    const uint8_t* wp[NS];
    const uint8_t* we[NS];
    bool bad = false;
    const uint32_t ns = sh.nstreams;
#pragma unroll
    for (int s = 0; s < NS; s++) {
        mode[s] = s < (int)ns ? sh.streams[s].mode : 0;
        if (mode[s] == 2) {
            x[s] = sh.streams[s].state[t];
            wp[s] = sh.streams[s].words[t];
            we[s] = wp[s] + 2ull * sh.streams[s].nwords[t];
            m[s] = sh.streams[s].scale_bits;
            toff[s] = sh.streams[s].table_off;
            nxt[s] = wp[s] + 2 <= we[s] ? ((uint32_t)wp[s][0] | ((uint32_t)wp[s][1] << 8)) : 0;
        }
    }
    for (uint64_t i = t; i < n; i += lanes) {
        uint32_t sym[NS];
#pragma unroll
        for (int s = 0; s < NS; s++) {
            if (s >= (int)ns) { sym[s] = 0; continue; }
            const Stream& S = sh.streams[s];
            if (mode[s] == 0) {
                sym[s] = S.value;
            } else if (mode[s] == 1) {
                sym[s] = WIDE && s == 0 ? raw_wide(S.raw, i, bad) : S.raw[i];
            } else if (WIDE && s == 0) {
                sym[s] = rans_step_wide(slots, m[s], x[s], nxt[s], wp[s], we[s], bad);
            } else {
                sym[s] = rans_step(S, slots, m[s], toff[s], x[s], nxt[s], wp[s], we[s], bad);
            }
        }
        if (planes) {
#pragma unroll
            for (int s = 0; s < NS; s++) if (s < (int)ns) planes[s * plane_stride + i] = (uint8_t)sym[s];
        } else {
            store_element<NS>(sym, dst + i * size, codec, size, exp_bits, man_bits, nplanes);
        }
    }
#pragma unroll
    for (int s = 0; s < NS; s++) {
        if (s < (int)ns && mode[s] == 2 && (x[s] != RANS_L || wp[s] != we[s])) bad = true;
    }
    return bad;
}

template <int NS, bool WIDE>
__device__ bool decode_split(Shared<NS>& sh, const uint8_t* slots, uint32_t lanes, uint64_t n, uint32_t codec,
                             uint32_t size, uint32_t exp_bits, uint32_t man_bits, uint32_t nplanes, uint8_t* dst,
                             uint8_t* planes, uint64_t plane_stride) {
    const uint32_t t = threadIdx.x;
    const uint32_t G = blockDim.x / lanes;
    const uint32_t l = t % lanes, g = t / lanes;
    const uint32_t ns = sh.nstreams;
    const uint32_t R = SPLIT_TILE / lanes;  // rounds per tile
    uint32_t x[NS], nxt[NS], m[NS], toff[NS];
    const uint8_t* wp[NS];
    const uint8_t* we[NS];
    bool own[NS];
    bool bad = false;
#pragma unroll
    for (int s = 0; s < NS; s++) {
        own[s] = t < lanes * G && s < (int)ns && sh.streams[s].mode == 2 && (uint32_t)s % G == g;
        if (own[s]) {
            x[s] = sh.streams[s].state[l];
            wp[s] = sh.streams[s].words[l];
            we[s] = wp[s] + 2ull * sh.streams[s].nwords[l];
            m[s] = sh.streams[s].scale_bits;
            toff[s] = sh.streams[s].table_off;
            nxt[s] = wp[s] + 2 <= we[s] ? ((uint32_t)wp[s][0] | ((uint32_t)wp[s][1] << 8)) : 0;
        }
    }
    for (uint64_t base = 0; base < n; base += (uint64_t)R * lanes) {
        for (uint32_t r = 0; r < R; r++) {
            if (base + (uint64_t)r * lanes + l >= n) break;
#pragma unroll
            for (int s = 0; s < NS; s++) {
                if (!own[s]) continue;
                if (WIDE && s == 0) {
                    const uint32_t y = rans_step_wide(slots, m[s], x[s], nxt[s], wp[s], we[s], bad);
                    sh.tile[0][r * lanes + l] = (uint8_t)y;
                    sh.tile_hi[r * lanes + l] = (uint8_t)(y >> 8);
                    continue;
                }
                sh.tile[s][r * lanes + l] =
                    (uint8_t)rans_step(sh.streams[s], slots, m[s], toff[s], x[s], nxt[s], wp[s], we[s], bad);
            }
        }
        __syncthreads();
        const uint64_t cnt = n - base < (uint64_t)R * lanes ? n - base : (uint64_t)R * lanes;
        for (uint32_t k = t; k < cnt; k += blockDim.x) {
            const uint64_t i = base + k;
            uint32_t sym[NS];
#pragma unroll
            for (int s = 0; s < NS; s++) {
                if (s >= (int)ns) { sym[s] = 0; continue; }
                const uint32_t md = sh.streams[s].mode;
                if (WIDE && s == 0) {
                    sym[0] = md == 0   ? sh.streams[0].value
                             : md == 1 ? raw_wide(sh.streams[0].raw, i, bad)
                                       : (uint32_t)sh.tile[0][k] | ((uint32_t)sh.tile_hi[k] << 8);
                    continue;
                }
                sym[s] = md == 0 ? sh.streams[s].value : md == 1 ? sh.streams[s].raw[i] : sh.tile[s][k];
            }
            if (planes) {
#pragma unroll
                for (int s = 0; s < NS; s++) if (s < (int)ns) planes[s * plane_stride + i] = (uint8_t)sym[s];
            } else {
                store_element<NS>(sym, dst + i * size, codec, size, exp_bits, man_bits, nplanes);
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int s = 0; s < NS; s++) {
        if (own[s] && (x[s] != RANS_L || wp[s] != we[s])) bad = true;
    }
    return bad;
}

// NS: the most streams the instantiation decodes (chosen by the host from the dtype), so that
// each variant is compiled with only the registers and shared memory it needs.
template <int NS, bool WIDE>
__device__ __forceinline__ void decode_exact(const uint8_t* __restrict__ c, uint64_t c_len, uint32_t want_dtype,
                                             uint8_t* __restrict__ out, uint64_t out_len, int32_t* status,
                                             uint64_t status_len, uint32_t slot_cap, uint32_t verify,
                                             uint8_t* planes) {
    extern __shared__ uint8_t slots[];
    __shared__ Shared<NS> sh;
    const uint32_t t = threadIdx.x;
    const bool lead = blockIdx.x == 0 && t == 0 && status && status_len;

    // ---- header (every thread reads the same fixed fields)
    const Hdr h = parse_header(c, c_len);
    if (!h.ok) {
        if (lead) status[0] = 1;
        return;
    }
    // p-adic: saraphis_decode_padic (kernels/padic.cu); lossless-v2: saraphis_decode_segmented_*
    // (checked before the CRC tables are built, so those containers cost this kernel little).
    // quant: saraphis_decode_quant (kernels/quant.cu). Unknown codecs are this kernel's to report.
    if (h.codec == 2 || h.codec == 4 || h.codec == 5) return;
    // sparse: its nested decodes and saraphis_sparse_scatter are enqueued by the host, which
    // must read the header first (archives do); on this path it is "not decodable here".
    // delta (8): decoded on the host against its base tensor; "not decodable here" too.
    if (h.codec == 6 || h.codec == 8) {
        if (lead) status[0] = 5;
        return;
    }
    if (h.codec > 6) {
        if (lead) status[0] = 1;
        return;
    }
    if (verify) crc_init(sh.crc);
    const uint32_t dtype = h.dtype, codec = h.codec, chunk_elems = h.chunk_elems;
    const uint32_t size = h.size, exp_bits = h.exp_bits, man_bits = h.man_bits;
    const uint32_t nplanes = h.nplanes, nstreams = h.nstreams;
    const uint64_t numel = h.numel, n_chunks = h.n_chunks;
    const bool dst_ok = dtype == want_dtype && numel * size == out_len;

    for (uint64_t ci = blockIdx.x; ci < n_chunks; ci += gridDim.x) {
        // F64 lossless needs the wide variant; a chunk may not have more streams than NS.
        const int32_t pre = codec == 1 && dtype == 3 && !WIDE ? 5 : codec != 0 && nstreams > NS ? 2 : 0;
        const Chunk ck = chunk_begin(c, c_len, h, ci, dst_ok, pre, codec != 0, out, sh.crc, verify);
        int32_t st = ck.st;
        const uint8_t* p0 = ck.p0;
        const uint8_t* end = ck.end;
        uint8_t* dst = ck.dst;
        const uint64_t n = ck.n;
        const uint64_t start = ci * chunk_elems;
        if (ck.coded) {
            // ---- parse streams (thread 0), expand tables (block)
            if (t == 0) { sh.bad = 0; sh.lanes = 0; sh.nstreams = nstreams; }
            __syncthreads();
            const uint8_t* p = p0 + 1;
            uint32_t slot_top = WIDE ? WIDE_REGION_BYTES : 0;
            for (uint32_t s = 0; s < nstreams; s++) {
                if (t == 0 && !sh.bad) {
                    uint8_t* dyn = WIDE && s == 0 && codec == 1 ? slots : nullptr;
                    if (!parse_stream<NS>(&sh, &sh.streams[s], &p, end, n, &slot_top, slot_cap, dyn)) sh.bad = 1;
                }
                __syncthreads();
                if (!sh.bad) {
                    Stream* S = &sh.streams[s];
                    for (uint32_t j = 0; j < sh.tcount; j++) {
                        uint32_t f = sh.tfreq[j], cum = sh.tcum[j], sym = sh.tsym[j];
                        if (t == 0) { S->freq[sym] = (uint16_t)f; S->cum[sym] = (uint16_t)cum; }
                        for (uint32_t k = t; k < f; k += blockDim.x) slots[S->table_off + cum + k] = (uint8_t)sym;
                    }
                }
                __syncthreads();
            }
            if (t == 0 && !sh.bad && p != end) sh.bad = 1;  // trailing bytes
            __syncthreads();
            if (sh.bad) {
                st = 2;
            } else {
                // ---- decode: thread t owns lane t (or, for few lanes, lane t % lanes of some streams)
                const uint32_t lanes = sh.lanes ? sh.lanes : blockDim.x;
                bool lane_bad = false;
                if (2 * lanes <= blockDim.x) {
                    lane_bad = decode_split<NS, WIDE>(sh, slots, lanes, n, codec, size, exp_bits, man_bits, nplanes, dst,
                                                planes ? planes + start : nullptr, numel);
                } else if (t < lanes) {
                    lane_bad = decode_lane<NS, WIDE>(sh, slots, t, lanes, n, codec, size, exp_bits, man_bits, nplanes, dst,
                                               planes ? planes + start : nullptr, numel);
                }
                if (__syncthreads_or(lane_bad)) st = 3;
            }
        }
        if (t == 0 && status && ci < status_len) status[ci] = st;
        __syncthreads();
    }
}

#define SARAPHIS_DECODE_EXACT(NAME, NS, WIDE)                                                                \
    extern "C" __global__ void __launch_bounds__(BLOCK, DECODE_MIN_BLOCKS(NS)) saraphis_decode_exact_##NAME( \
        const uint8_t* __restrict__ c, uint64_t c_len, uint32_t want_dtype, uint8_t* __restrict__ out,      \
        uint64_t out_len, int32_t* status, uint64_t status_len, uint32_t slot_cap, uint32_t verify,          \
        uint8_t* planes) {                                                                                   \
        pdl_allow_dependents();                                                                              \
        decode_exact<NS, WIDE>(c, c_len, want_dtype, out, out_len, status, status_len, slot_cap, verify,     \
                               planes);                                                                      \
        pdl_wait_prerequisites();                                                                            \
    }
SARAPHIS_DECODE_EXACT(2, 2, false)
SARAPHIS_DECODE_EXACT(3, 3, false)
SARAPHIS_DECODE_EXACT(4, 4, false)
SARAPHIS_DECODE_EXACT(8, 8, false)
// F64 (any codec; lossless with its wide exponent stream). Dynamic shared memory:
// WIDE_REGION_BYTES + 7 * 4096.
SARAPHIS_DECODE_EXACT(f64, 8, true)

// Unfused second stage: assemble the elements of every coded chunk from the byte planes that
// saraphis_decode_exact_* wrote (planes != null), one thread per element. Raw chunks were
// already copied to `out` by the first stage and are skipped.
extern "C" __global__ void __launch_bounds__(BLOCK)
saraphis_assemble(const uint8_t* __restrict__ c, uint64_t c_len, const uint8_t* __restrict__ planes,
                  uint8_t* __restrict__ out, uint64_t out_len) {
    const Hdr h = parse_header(c, c_len);
    if (!h.ok || h.codec == 0 || h.codec == 2 || h.codec >= 4 || h.numel * h.size != out_len || h.nstreams > 8) return;
    for (uint64_t ci = blockIdx.x; ci < h.n_chunks; ci += gridDim.x) {
        const uint8_t* e = c + h.nc_at + 4 + 16 * ci;
        const uint64_t off = rd_u64(e);
        if (h.header_len + off >= c_len || c[h.header_len + off] != 1) continue;
        const uint64_t start = ci * h.chunk_elems;
        const uint64_t n = h.numel - start < h.chunk_elems ? h.numel - start : h.chunk_elems;
        for (uint64_t i = threadIdx.x; i < n; i += blockDim.x) {
            uint32_t sym[8];
#pragma unroll
            for (int s = 0; s < 8; s++) sym[s] = s < (int)h.nstreams ? planes[s * h.numel + start + i] : 0;
            store_element<8>(sym, out + (start + i) * h.size, h.codec, h.size, h.exp_bits, h.man_bits, h.nplanes);
        }
    }
}
