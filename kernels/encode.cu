// Saraphis GPU encoder for bit-exact containers (codecs raw = 0, lossless float split = 1 for
// F32/F16/BF16, byte planes = 3), writing the container format of docs/FORMAT.md into device
// memory. The bytes are the ones the CPU encoder (src/codec, src/entropy) writes for the same
// tensor and options: the same symbol streams, the same frequency normalisation, the same
// stream-mode and raw-chunk decisions, the same rANS lanes.
//
// Four kernels, enqueued in order on one stream, with no host synchronisation in between:
//  1. saraphis_encode_plan_<kind> (one block per chunk, grid-stride): histograms of every symbol
//     stream, frequency tables (FreqTable::from_counts), the stream mode (constant, raw or rANS by
//     the size estimate of entropy::stream), then a counting pass of the rANS encoder that gives
//     every lane's word count, hence the chunk's exact coded size, without storing any word.
//     The plan of each chunk goes to the temporary buffer (tables and word counts only: well
//     under 1% of the chunk for the default chunk size).
//  2. saraphis_encode_offsets (one block): the exclusive scan of the chunk sizes, written into
//     the header's chunk table, and the fixed header fields.
//  3. saraphis_encode_write_<kind> (one block per chunk): the chunk at its final offset: stream
//     headers and tables by thread 0, raw planes by the whole block, and the lanes of every rANS
//     stream run backwards (see encode_lanes), writing word k of a lane at (count - 1 - k), so
//     that the lane's words end up in decoding order with no temporary copy. Then the block's CRC-32 of the chunk.
//  4. saraphis_encode_finish (one block): the header's CRC-32 and the container length into
//     *out_size (0 if a consistency check failed: a bug to report, never a wrong container).
//
// rANS: J. Duda, arXiv:1311.2540 (2013), 32-bit state, 16-bit words, reciprocal encoder of
// F. Giesen's rans_word_sse41.h (2014), exactly as src/entropy/rans.rs.
#include "common.cuh"
#include "encode.cuh"

#define ENC_MAX_STREAMS 8
#define ENC_TEMP_HEAD 64  // temp: u32 error flag at 0, u64 payload total at 8, then chunk plans
#define SCALE_CAP 12      // entropy::stream codes every stream with at most 2^12 slots
#define WIDE_ALPHABET 2048  // symbols of F64's exponent stream
// Dynamic shared memory of the F64 kernels: the wide stream's histogram, encoder entries,
// frequencies (u32 each) and rank order (u16).
#define WIDE_DYN_BYTES (WIDE_ALPHABET * (4 * 4 + 2))
#define ENC_TILE_BYTES 8192  // bytes of the chunk staged in shared memory at a time

// Parameters of all four kernels, passed by value (mirrored by EncArgs in src/backend/cuda.rs).
struct EncArgs {
    const uint8_t* src;   // numel elements of `size` bytes, aligned to `size`
    uint64_t numel;
    uint8_t* dst;         // the container (capacity checked by the host against compress_bound)
    uint8_t* temp;        // ENC_TEMP_HEAD + n_chunks * meta_stride bytes
    uint64_t meta_stride;
    uint64_t n_chunks;
    uint64_t header_len;
    uint64_t nc_at;       // offset of the chunk count in the header
    uint64_t* out_size;   // device u64: container length, or 0 on failure
    uint32_t codec, size, exp_bits, man_bits, nplanes, nstreams, chunk_elems, max_lanes;
    uint32_t prefix_len;  // header bytes [0, prefix_len) up to and including the chunk count
    uint8_t prefix[132];
};

struct StreamPlan {
    uint32_t mode;       // 0 constant, 1 raw, 2 rANS
    uint32_t scale;      // rANS scale bits
    uint32_t value;      // constant symbol, or the number of present symbols (rANS)
    uint32_t table_len;  // serialized FreqTable bytes
};

struct ChunkPlan {
    uint32_t len;    // payload bytes of the chunk (mode byte included)
    uint32_t lanes;  // rANS lanes of every rANS stream of the chunk
    uint32_t raw;    // 1: stored raw
    uint32_t pad;
    StreamPlan s[ENC_MAX_STREAMS];
};
// After the ChunkPlan: u16 freq[nstreams][256] (stream 0 of F64: [2048]), then
// u32 nwords[nstreams][max_lanes].

template <int NS>
struct EncShared {
    CrcShared crc;
    uint32_t hist[NS][256];
    uint32_t tab[NS][256];  // freq | cum << 13 | rcp_shift << 26
    uint32_t rcp[NS][256];
    uint32_t nwords[NS][BLOCK];
    uint32_t lane_pos[NS][BLOCK];  // write: offset in the chunk of the lane's first word
    uint32_t freq[256];
    uint16_t order[256];
    alignas(16) uint8_t etile[ENC_TILE_BYTES];  // encode_lanes: elements of the current tile
    uint32_t distinct;
    uint32_t bad;
    StreamPlan plan[NS];
    uint64_t hdr_pos[NS];  // write: offset in the chunk of the lane headers
    uint64_t raw_pos[NS];  // write: offset in the chunk of a raw stream's bytes
};

__device__ __forceinline__ uint32_t ceil_log2(uint64_t v) { return v <= 1 ? 0 : 64 - __clzll(v - 1); }


// What the kernels are specialised on: the codec and the element layout, so that the per-element
// work (loading, splitting into stream symbols) compiles to a few instructions.
template <int CODEC, int SIZE, int EB, int MB>
struct Kind {
    static constexpr int codec = CODEC;  // 1 lossless float split, 3 byte planes
    static constexpr int size = SIZE;    // bytes per element
    static constexpr int exp_bits = EB, man_bits = MB;
    static constexpr int nplanes = CODEC == 1 ? (MB + 1 + 7) / 8 : SIZE;
    static constexpr int ns = CODEC == 1 ? 1 + nplanes : SIZE;  // symbol streams
    static constexpr bool wide = CODEC == 1 && EB > 8;            // stream 0 has 11-bit symbols
};

template <class K>
__device__ __forceinline__ uint64_t load_k(const uint8_t* p) {
    if (K::size == 1) return *p;
    if (K::size == 2) return *(const uint16_t*)p;
    if (K::size == 4) return *(const uint32_t*)p;
    return *(const uint64_t*)p;
}

// Symbol of stream s for element bits v (codec/lossless.rs: exponent first, then the
// sign+mantissa planes most significant first; byte planes least significant first).
template <class K>
__device__ __forceinline__ uint32_t symbol_of(uint64_t v, int s) {
    if (K::codec == 1) {
        if (s == 0) return (uint32_t)(v >> K::man_bits) & ((1u << K::exp_bits) - 1);
        const uint64_t r = ((v >> (K::man_bits + K::exp_bits)) << K::man_bits) | (v & ((1ull << K::man_bits) - 1));
        return (uint32_t)(r >> (8 * (K::nplanes - s))) & 0xff;
    }
    return (uint32_t)(v >> (8 * s)) & 0xff;
}

__device__ __forceinline__ ChunkPlan* plan_at(const EncArgs& a, uint64_t ci) {
    return (ChunkPlan*)(a.temp + ENC_TEMP_HEAD + ci * a.meta_stride);
}
// The exponent stream of F64 (exp_bits > 8) is "wide": 11-bit symbols, 2048 frequencies.
__device__ __forceinline__ uint16_t* freq_at(const EncArgs& a, uint64_t ci, uint32_t s) {
    const uint32_t first = a.exp_bits > 8 ? WIDE_ALPHABET : 256;
    return (uint16_t*)((uint8_t*)plan_at(a, ci) + sizeof(ChunkPlan)) + (s == 0 ? 0 : first + 256 * (s - 1));
}
__device__ __forceinline__ uint32_t* nwords_at(const EncArgs& a, uint64_t ci, uint32_t s) {
    const uint64_t wide_extra = a.exp_bits > 8 ? 2ull * (WIDE_ALPHABET - 256) : 0;
    uint8_t* base = (uint8_t*)plan_at(a, ci) + sizeof(ChunkPlan) + 512ull * a.nstreams + wide_extra;
    return (uint32_t*)base + (uint64_t)s * a.max_lanes;
}

struct WideTables {
    uint32_t* hist;
    uint32_t* tab;
    uint32_t* rcp;
    uint32_t* freq;
    uint16_t* order;
};
__device__ __forceinline__ WideTables wide_tables() {
    extern __shared__ __align__(16) uint8_t enc_dyn[];
    WideTables w;
    w.hist = (uint32_t*)enc_dyn;
    w.tab = w.hist + WIDE_ALPHABET;
    w.rcp = w.tab + WIDE_ALPHABET;
    w.freq = w.rcp + WIDE_ALPHABET;
    w.order = (uint16_t*)(w.freq + WIDE_ALPHABET);
    return w;
}


// Reciprocal-encoder entries of `alphabet` frequencies into tab/rcp (shared memory); block-wide,
// thread 0 does the work.
__device__ void build_enc_table(const uint32_t* freq, uint32_t alphabet, uint32_t* tab, uint32_t* rcp) {
    __syncthreads();
    if (threadIdx.x == 0) {
        uint32_t c = 0;
        for (uint32_t k = 0; k < alphabet; k++) {
            enc_entry(freq[k], c, &tab[k], &rcp[k]);
            c += freq[k];
        }
    }
    __syncthreads();
}


// The rANS lanes of a chunk, coded backwards (rANS encodes in reverse). Called by every thread of
// the block. Thread t runs lane l = t % lanes of the streams it owns: when lanes < blockDim.x the
// block has G = blockDim.x / lanes groups of `lanes` threads, and group g owns the rANS streams s
// with s % G == g, so that a chunk of 32 lanes keeps all 4 warps busy.
// The chunk goes through shared memory in tiles of ENC_TILE_BYTES, last tile first, each loaded
// by the whole block with coalesced loads; the lanes then read their elements from shared
// memory, so the serial rANS chains never wait on global memory.
// Counting (dst == null): word counts into sh.nwords. Writing (dst = the chunk's first byte):
// words at dst + sh.lane_pos, word k of a lane at (count - 1 - k), final states and counts into
// the lane headers at dst + sh.hdr_pos. Returns true (writing) if a count disagrees.
// Copy cnt_t elements at `from` into the shared tile, the whole block: 16-byte loads, four in
// flight per thread, when `from` is 16-byte aligned (chunks of the default sizes are); element
// loads otherwise.
template <class K>
__device__ __forceinline__ void load_tile(EncShared<K::ns>& sh, const uint8_t* from, uint32_t cnt_t) {
    const uint32_t t = threadIdx.x, bd = blockDim.x;
    const uint32_t bytes = cnt_t * K::size;
    uint32_t done = 0;
    if (((uintptr_t)from & 15) == 0) {
        const uint32_t nv = bytes / 16;
        const uint4* f = (const uint4*)from;
        uint4* d = (uint4*)sh.etile;
        uint32_t v = t;
        for (; v + 3 * bd < nv; v += 4 * bd) {
            const uint4 a0 = f[v], a1 = f[v + bd], a2 = f[v + 2 * bd], a3 = f[v + 3 * bd];
            d[v] = a0;
            d[v + bd] = a1;
            d[v + 2 * bd] = a2;
            d[v + 3 * bd] = a3;
        }
        for (; v < nv; v += bd) d[v] = f[v];
        done = nv * 16;
    }
    for (uint32_t b = done + t; b < bytes; b += bd) sh.etile[b] = from[b];
}


template <class K>
__device__ bool encode_lanes(EncShared<K::ns>& sh, const EncArgs& a, const uint8_t* src, uint64_t n, uint32_t lanes,
                             uint8_t* dst) {
    constexpr int NS = K::ns;
    constexpr uint32_t size = K::size;
    const uint32_t t = threadIdx.x;
    const uint32_t G = blockDim.x / lanes;
    const uint32_t l = t % lanes, g = t / lanes;
    const uint32_t tile = (ENC_TILE_BYTES / size) / lanes * lanes;  // elements, a multiple of lanes
    const uint32_t rounds = tile / lanes;
    const uint64_t ntiles = (n + tile - 1) / tile;
    bool bad = false;
    if (G >= (uint32_t)NS) {
        // At most one stream per thread: stream g, lane l.
        const int s = (int)g;
        const bool mine = t < lanes * G && s < NS && sh.plan[s].mode == 2;
        const int sv = mine ? s : 0;
        const uint32_t m = sh.plan[sv].scale;
        const WideTables wt = wide_tables();
        const uint32_t* tab = K::wide && sv == 0 ? wt.tab : sh.tab[sv];
        const uint32_t* rcp = K::wide && sv == 0 ? wt.rcp : sh.rcp[sv];
        const uint32_t cnt = dst && mine ? sh.nwords[sv][l] : 0;
        uint8_t* wbase = dst && mine ? dst + sh.lane_pos[sv][l] : nullptr;
        uint32_t x = RANS_L, k = 0;
        for (uint64_t tk = ntiles; tk-- > 0;) {
            const uint64_t base = tk * tile;
            const uint32_t cnt_t = n - base < tile ? (uint32_t)(n - base) : tile;
            __syncthreads();  // the previous tile is consumed
            load_tile<K>(sh, src + base * size, cnt_t);
            __syncthreads();
            if (!mine) continue;
            for (uint32_t r = rounds; r-- > 0;) {
                const uint32_t e = r * lanes + l;
                if (e >= cnt_t) continue;
                const uint32_t y = symbol_of<K>(load_k<K>(sh.etile + (uint64_t)e * size), s);
                uint32_t w;
                if (enc_put(x, tab[y], rcp[y], m, &w)) {
                    if (wbase && !put_word(wbase, cnt, k, w)) bad = true;
                    k++;
                }
            }
        }
        if (mine) {
            if (dst) {
                if (k != cnt) bad = true;
                wr_u32(dst + sh.hdr_pos[s] + 8ull * l, x);
                wr_u32(dst + sh.hdr_pos[s] + 8ull * l + 4, k);
            } else {
                sh.nwords[s][l] = k;
            }
        }
        return bad;
    }
    // Several streams per thread (G < NS): the thread's streams are coded interleaved.
    uint32_t x[NS], k[NS], cnt[NS];
    bool own[NS];
    const uint32_t* tb[NS];
    const uint32_t* rc[NS];
    const WideTables wt = wide_tables();
#pragma unroll
    for (int s = 0; s < NS; s++) {
        tb[s] = K::wide && s == 0 ? wt.tab : sh.tab[s];
        rc[s] = K::wide && s == 0 ? wt.rcp : sh.rcp[s];
        x[s] = RANS_L;
        k[s] = 0;
        own[s] = t < lanes * G && sh.plan[s].mode == 2 && (uint32_t)s % G == g;
        cnt[s] = dst && own[s] ? sh.nwords[s][l] : 0;
    }
    for (uint64_t tk = ntiles; tk-- > 0;) {
        const uint64_t base = tk * tile;
        const uint32_t cnt_t = n - base < tile ? (uint32_t)(n - base) : tile;
        __syncthreads();
        load_tile<K>(sh, src + base * size, cnt_t);
        __syncthreads();
        for (uint32_t r = rounds; r-- > 0;) {
            const uint32_t e = r * lanes + l;
            if (e >= cnt_t) continue;
            const uint64_t v = load_k<K>(sh.etile + (uint64_t)e * size);
#pragma unroll
            for (int s = 0; s < NS; s++) {
                if (!own[s]) continue;
                const uint32_t y = symbol_of<K>(v, s);
                uint32_t w;
                if (enc_put(x[s], tb[s][y], rc[s][y], sh.plan[s].scale, &w)) {
                    if (dst && !put_word(dst + sh.lane_pos[s][l], cnt[s], k[s], w)) bad = true;
                    k[s]++;
                }
            }
        }
    }
#pragma unroll
    for (int s = 0; s < NS; s++) {
        if (!own[s]) continue;
        if (dst) {
            if (k[s] != cnt[s]) bad = true;
            wr_u32(dst + sh.hdr_pos[s] + 8ull * l, x[s]);
            wr_u32(dst + sh.hdr_pos[s] + 8ull * l + 4, k[s]);
        } else {
            sh.nwords[s][l] = k[s];
        }
    }
    return bad;
}

// Frequency table and mode of stream s from sh.hist[s] (entropy::stream::encode_with_counts,
// FreqTable::from_counts, rans_estimate) from its `alphabet` counts c. Leaves the frequencies
// in `freq` (order: scratch). `width`: bytes per raw symbol. Block-wide.
template <int NS>
__device__ void plan_stream(EncShared<NS>& sh, int s, uint64_t n, uint32_t lanes, const uint32_t* c,
                            uint32_t alphabet, uint32_t* freq, uint16_t* order, uint32_t width) {
    const uint32_t t = threadIdx.x;
    if (t == 0) sh.distinct = 0;
    __syncthreads();
    for (uint32_t y = t; y < alphabet; y += blockDim.x)
        if (c[y]) atomicAdd(&sh.distinct, 1u);
    __syncthreads();
    const uint32_t distinct = sh.distinct;
    if (distinct <= 1) {
        if (t == 0) {
            uint32_t v = 0;
            for (uint32_t y = 0; y < alphabet; y++) if (c[y]) v = y;
            sh.plan[s].mode = 0;
            sh.plan[s].value = v;
            sh.plan[s].scale = 0;
            sh.plan[s].table_len = 0;
        }
        for (uint32_t y = t; y < alphabet; y += blockDim.x) freq[y] = 0;
        __syncthreads();
        return;
    }
    uint32_t want = ceil_log2(n);
    want = want < 8 ? 8 : (want > SCALE_CAP ? SCALE_CAP : want);
    const uint32_t need = ceil_log2(distinct) + 1;
    const uint32_t scale = want > need ? want : need;  // <= 12
    const uint64_t target = 1ull << scale;
    for (uint32_t y = t; y < alphabet; y += blockDim.x) {
        uint64_t f = 0;
        if (c[y]) {
            f = ((uint64_t)c[y] * target + n / 2) / n;
            if (f < 1) f = 1;
        }
        freq[y] = (uint32_t)f;
    }
    __syncthreads();
    // Rank of each present symbol by (initial frequency descending, symbol ascending).
    for (uint32_t y = t; y < alphabet; y += blockDim.x) {
        const uint32_t f = freq[y];
        if (!f) continue;
        uint32_t r = 0;
        for (uint32_t z = 0; z < alphabet; z++) {
            const uint32_t g = freq[z];
            r += g && (g > f || (g == f && z < y));
        }
        order[r] = (uint16_t)y;
    }
    __syncthreads();
    if (t == 0) {
        uint64_t sum = 0;
        for (uint32_t y = 0; y < alphabet; y++) sum += freq[y];
        bool ok = true;
        while (sum > target) {
            bool progressed = false;
            for (uint32_t k = 0; k < distinct; k++) {
                if (sum == target) break;
                const uint32_t y = order[k];
                const uint32_t f = freq[y];
                if (f > 1) {
                    uint32_t take = (uint32_t)(sum - target);
                    if (take > f - 1) take = f - 1;
                    const uint32_t cap = f / 16 > 1 ? f / 16 : 1;
                    if (take > cap) take = cap;
                    freq[y] = f - take;
                    sum -= take;
                    progressed = true;
                }
            }
            if (!progressed) { ok = false; break; }
        }
        if (ok && sum < target) freq[order[0]] += (uint32_t)(target - sum);
        uint32_t mode = 1;
        uint32_t tlen = 0;
        if (ok) {
            double bits = 0.0;
            tlen = 1 + varint_len(distinct);
            int64_t prev = -1;
            for (uint32_t y = 0; y < alphabet; y++) {
                if (!c[y]) continue;
                bits += (double)c[y] * ((double)scale - log2((double)freq[y]));
                tlen += varint_len((uint64_t)((int64_t)y - prev - 1)) + varint_len(freq[y] - 1);
                prev = y;
            }
            const uint64_t est = (uint64_t)ceil(bits / 8.0) + tlen + 1 + 10ull * lanes;
            if (est < n * width) mode = 2;
        }
        sh.plan[s].mode = mode;
        sh.plan[s].scale = scale;
        sh.plan[s].value = distinct;
        sh.plan[s].table_len = tlen;
    }
    __syncthreads();
}

template <class K>
__device__ void encode_plan(const EncArgs& a) {
    constexpr int NS = K::ns;
    __shared__ EncShared<NS> sh;
    const uint32_t t = threadIdx.x;
    for (uint64_t ci = blockIdx.x; ci < a.n_chunks; ci += gridDim.x) {
        const uint64_t start = ci * a.chunk_elems;
        const uint64_t n = a.numel - start < a.chunk_elems ? a.numel - start : a.chunk_elems;
        const uint8_t* src = a.src + start * a.size;
        ChunkPlan* cp = plan_at(a, ci);
        const uint64_t raw_len = 1 + n * a.size;
        if (a.codec == 0) {
            if (t == 0) { cp->len = (uint32_t)raw_len; cp->raw = 1; cp->lanes = 0; }
            continue;
        }
        const uint32_t lanes = lanes_for(n, a.max_lanes);
        const WideTables wt = wide_tables();
        for (uint32_t i = t; i < NS * 256; i += blockDim.x) (&sh.hist[0][0])[i] = 0;
        if (K::wide)
            for (uint32_t i = t; i < WIDE_ALPHABET; i += blockDim.x) wt.hist[i] = 0;
        __syncthreads();
        for (uint64_t i0 = t; i0 < n; i0 += 8 * blockDim.x) {
            uint64_t vb[8];
#pragma unroll
            for (int q = 0; q < 8; q++) {
                const uint64_t i = i0 + q * blockDim.x;
                vb[q] = i < n ? load_k<K>(src + i * K::size) : 0;
            }
#pragma unroll
            for (int q = 0; q < 8; q++) {
                if (i0 + q * blockDim.x >= n) break;
#pragma unroll
                for (int s = 0; s < NS; s++) {
                    const uint32_t y = symbol_of<K>(vb[q], s);
                    atomicAdd(K::wide && s == 0 ? &wt.hist[y] : &sh.hist[s][y], 1u);
                }
            }
        }
        __syncthreads();
        for (int s = 0; s < (int)a.nstreams; s++) {
            const bool w = K::wide && s == 0;
            const uint32_t alphabet = w ? WIDE_ALPHABET : 256;
            uint32_t* freq = w ? wt.freq : sh.freq;
            plan_stream<NS>(sh, s, n, lanes, w ? wt.hist : sh.hist[s], alphabet, freq, w ? wt.order : sh.order,
                            w ? 2 : 1);
            uint16_t* fo = freq_at(a, ci, s);
            for (uint32_t y = t; y < alphabet; y += blockDim.x) fo[y] = (uint16_t)freq[y];
            if (sh.plan[s].mode == 2)
                build_enc_table(freq, alphabet, w ? wt.tab : sh.tab[s], w ? wt.rcp : sh.rcp[s]);
        }
        __syncthreads();
        encode_lanes<K>(sh, a, src, n, lanes, nullptr);
        __syncthreads();
        for (int s = 0; s < (int)a.nstreams; s++) {
            uint32_t* nw = nwords_at(a, ci, s);
            for (uint32_t l = t; l < lanes; l += blockDim.x) nw[l] = sh.plan[s].mode == 2 ? sh.nwords[s][l] : 0;
        }
        if (t == 0) {
            uint64_t len = 1;
            for (int s = 0; s < (int)a.nstreams; s++) {
                const StreamPlan& p = sh.plan[s];
                cp->s[s] = p;
                if (p.mode == 0) {
                    len += 1 + varint_len(p.value);
                } else if (p.mode == 1) {
                    len += 1 + n * (K::wide && s == 0 ? 2 : 1);
                } else {
                    uint64_t w = 0;
                    for (uint32_t l = 0; l < lanes; l++) w += sh.nwords[s][l];
                    len += 1 + p.table_len + 1 + 8ull * lanes + 2 * w;
                }
            }
            cp->lanes = lanes;
            cp->raw = len > n * a.size;
            cp->len = (uint32_t)(cp->raw ? raw_len : len);
        }
        __syncthreads();
    }
}

template <class K>
__device__ void encode_write(const EncArgs& a) {
    constexpr int NS = K::ns;
    __shared__ EncShared<NS> sh;
    const uint32_t t = threadIdx.x;
    crc_init(sh.crc);
    for (uint64_t ci = blockIdx.x; ci < a.n_chunks; ci += gridDim.x) {
        const uint64_t start = ci * a.chunk_elems;
        const uint64_t n = a.numel - start < a.chunk_elems ? a.numel - start : a.chunk_elems;
        const uint8_t* src = a.src + start * a.size;
        const ChunkPlan* cp = plan_at(a, ci);
        uint8_t* entry = a.dst + a.nc_at + 4 + 16 * ci;
        const uint64_t off = a.header_len + rd_u64(entry);
        const uint32_t len = cp->len;
        uint8_t* out = a.dst + off;
        if (cp->raw) {
            if (t == 0) out[0] = 0;
            const uint64_t bytes = n * a.size;
            for (uint64_t b = t; b < bytes; b += blockDim.x) out[1 + b] = src[b];
        } else {
            const uint32_t lanes = cp->lanes;
            if (t == 0) {
                sh.bad = 0;
                uint8_t* p = out;
                *p++ = 1;
                for (int s = 0; s < (int)a.nstreams; s++) {
                    const StreamPlan pl = cp->s[s];
                    sh.plan[s] = pl;
                    *p++ = (uint8_t)pl.mode;
                    if (pl.mode == 0) {
                        p = put_varint(p, pl.value);
                    } else if (pl.mode == 1) {
                        sh.raw_pos[s] = p - out;
                        p += n * (K::wide && s == 0 ? 2 : 1);
                    } else {
                        const uint16_t* fr = freq_at(a, ci, s);
                        *p++ = (uint8_t)pl.scale;
                        p = put_varint(p, pl.value);
                        int64_t prev = -1;
                        const uint32_t alphabet = K::wide && s == 0 ? WIDE_ALPHABET : 256;
                        for (uint32_t y = 0; y < alphabet; y++) {
                            if (!fr[y]) continue;
                            p = put_varint(p, (uint64_t)((int64_t)y - prev - 1));
                            p = put_varint(p, fr[y] - 1u);
                            prev = y;
                        }
                        *p++ = (uint8_t)lanes;
                        sh.hdr_pos[s] = p - out;
                        p += 8ull * lanes;
                        const uint32_t* nw = nwords_at(a, ci, s);
                        for (uint32_t l = 0; l < lanes; l++) {
                            sh.nwords[s][l] = nw[l];
                            sh.lane_pos[s][l] = (uint32_t)(p - out);
                            p += 2ull * nw[l];
                        }
                    }
                }
                if ((uint64_t)(p - out) != len) sh.bad = 1;
            }
            __syncthreads();
            for (int s = 0; s < (int)a.nstreams; s++) {
                if (sh.plan[s].mode != 2) continue;
                const uint16_t* fr = freq_at(a, ci, s);
                const bool w = K::wide && s == 0;
                const WideTables wt = wide_tables();
                const uint32_t alphabet = w ? WIDE_ALPHABET : 256;
                uint32_t* freq = w ? wt.freq : sh.freq;
                for (uint32_t y = t; y < alphabet; y += blockDim.x) freq[y] = fr[y];
                build_enc_table(freq, alphabet, w ? wt.tab : sh.tab[s], w ? wt.rcp : sh.rcp[s]);
            }
            // Raw streams: the whole block, element-parallel.
            bool any_raw = false;
            for (int s = 0; s < (int)a.nstreams; s++) any_raw |= sh.plan[s].mode == 1;
            for (uint64_t i0 = t; any_raw && i0 < n; i0 += 8 * blockDim.x) {
                uint64_t vb[8];
#pragma unroll
                for (int q = 0; q < 8; q++) {
                    const uint64_t i = i0 + q * blockDim.x;
                    vb[q] = i < n ? load_k<K>(src + i * K::size) : 0;
                }
#pragma unroll
                for (int q = 0; q < 8; q++) {
                    const uint64_t i = i0 + q * blockDim.x;
                    if (i >= n) break;
#pragma unroll
                    for (int s = 0; s < NS; s++) {
                        if (sh.plan[s].mode != 1) continue;
                        const uint32_t y = symbol_of<K>(vb[q], s);
                        if (K::wide && s == 0) {
                            out[sh.raw_pos[0] + 2 * i] = (uint8_t)y;
                            out[sh.raw_pos[0] + 2 * i + 1] = (uint8_t)(y >> 8);
                        } else {
                            out[sh.raw_pos[s] + i] = (uint8_t)y;
                        }
                    }
                }
            }
            // rANS streams (positions relative to `out`).
            bool bad = false;
            bad = encode_lanes<K>(sh, a, src, n, lanes, out);
            if (__syncthreads_or(bad) && t == 0) sh.bad = 1;
        }
        __syncthreads();
        const uint32_t crc = block_crc32(sh.crc, out, len);
        if (t == 0) {
            wr_u32(entry + 12, crc);
            if (sh.bad && !cp->raw) atomicOr((uint32_t*)a.temp, 1u);
        }
        __syncthreads();
    }
}

// Header fields, and the exclusive scan of the chunk lengths into the chunk table. One block.
__device__ void encode_offsets(const EncArgs& a) {
    __shared__ uint64_t part[BLOCK];
    const uint32_t t = threadIdx.x;
    for (uint32_t b = t; b < a.prefix_len; b += blockDim.x) a.dst[b] = a.prefix[b];
    const uint64_t per = (a.n_chunks + blockDim.x - 1) / blockDim.x;
    const uint64_t c0 = t * per < a.n_chunks ? t * per : a.n_chunks;
    const uint64_t c1 = c0 + per < a.n_chunks ? c0 + per : a.n_chunks;
    uint64_t sum = 0;
    for (uint64_t ci = c0; ci < c1; ci++) sum += plan_at(a, ci)->len;
    part[t] = sum;
    __syncthreads();
    if (t == 0) {
        uint64_t acc = 0;
        for (uint32_t k = 0; k < blockDim.x; k++) {
            const uint64_t v = part[k];
            part[k] = acc;
            acc += v;
        }
        *(uint32_t*)a.temp = 0;            // error flag
        *(uint64_t*)(a.temp + 8) = acc;    // payload bytes
    }
    __syncthreads();
    uint64_t off = part[t];
    for (uint64_t ci = c0; ci < c1; ci++) {
        uint8_t* e = a.dst + a.nc_at + 4 + 16 * ci;
        const uint32_t len = plan_at(a, ci)->len;
        wr_u64(e, off);
        wr_u32(e + 8, len);
        off += len;
    }
}

// The header's CRC-32 and the container length. One block.
__device__ void encode_finish(const EncArgs& a) {
    __shared__ CrcShared crc;
    crc_init(crc);
    const uint32_t c = block_crc32(crc, a.dst, a.header_len - 4);
    if (threadIdx.x == 0) {
        wr_u32(a.dst + a.header_len - 4, c);
        const bool failed = *(const uint32_t*)a.temp != 0;
        *a.out_size = failed ? 0 : a.header_len + *(const uint64_t*)(a.temp + 8);
    }
}

#define SARAPHIS_ENCODE(NAME, CODEC, SIZE, EB, MB)                                                  \
    extern "C" __global__ void __launch_bounds__(BLOCK) saraphis_encode_plan_##NAME(EncArgs a) {     \
        encode_plan<Kind<CODEC, SIZE, EB, MB>>(a);                                                  \
    }                                                                                               \
    extern "C" __global__ void __launch_bounds__(BLOCK) saraphis_encode_write_##NAME(EncArgs a) {    \
        encode_write<Kind<CODEC, SIZE, EB, MB>>(a);                                                 \
    }
// The kernels' kinds, in the order of ENCODE_KINDS in src/backend/cuda/encode.rs.
SARAPHIS_ENCODE(f32, 1, 4, 8, 23)
SARAPHIS_ENCODE(f16, 1, 2, 5, 10)
SARAPHIS_ENCODE(bf16, 1, 2, 8, 7)
SARAPHIS_ENCODE(b1, 3, 1, 0, 0)
SARAPHIS_ENCODE(b2, 3, 2, 0, 0)
SARAPHIS_ENCODE(b4, 3, 4, 0, 0)
SARAPHIS_ENCODE(b8, 3, 8, 0, 0)
SARAPHIS_ENCODE(f64, 1, 8, 11, 52)  // launched with WIDE_DYN_BYTES of dynamic shared memory

extern "C" __global__ void __launch_bounds__(BLOCK) saraphis_encode_offsets(EncArgs a) { encode_offsets(a); }
extern "C" __global__ void __launch_bounds__(BLOCK) saraphis_encode_finish(EncArgs a) { encode_finish(a); }
