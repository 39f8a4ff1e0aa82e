// Saraphis GPU decoder for lossless-v2 containers (codec 4, stream layout v2: docs/FORMAT.md
// section 6, src/codec/segmented.rs), many tensors per launch.
//
// Layout v2 codes a float tensor as segments of `chunk_elems` elements; a coded segment holds,
// per rANS-coded plane, 32 final encoder states and one 16-bit word stream that the 32 states
// share (warp-interleaved rANS, as DietGPU: facebookresearch/dietgpu dietgpu/ans/GpuANSDecode.cuh),
// and raw planes as bytes. The planes' frequency tables live once in the container's parameters.
//
// One warp decodes one segment: lane l owns elements l, l + 32, ...; all planes advance in the
// same step (independent dependency chains: instruction-level parallelism), and at each step the
// lanes that renormalise take consecutive words in lane order (ballot + popcount). Words come from
// a per-warp, per-plane ring in shared memory that cp.async keeps AHEAD bytes ahead of the
// consumption point (one CHUNK request per plane every two steps, waited for WAIT pairs of steps
// later), so no decode step waits on a global load of its own. The step is specialised per dtype (planes,
// element assembly) and tests element bounds only in a segment's last step.
//
// One block of 1 to 8 warps (the host's choice: src/backend/cuda/segmented.rs) serves one
// tensor: its first warp parses the header's tables (warp-parallel), the block expands them into
// slot tables in dynamic shared memory (u32 per slot: bias, symbol << 12, frequency - 1 << 20;
// 4096 slots per plane), then its warps take the tensor's segments grid-stride within the blocks
// the host gave the tensor (`block_start`). A mode-3 segment carries its own exponent table (at
// most 8 bits), which its warp expands into its own 256 slots before decoding.
//
// Integrity (`verify`): a warp checks its segment's checksum (sum of little-endian 32-bit words
// times odd weights 2i + 1, mod 2^32: src/codec/segmented.rs `segment_checksum`) before decoding.
// Everything is bounds-checked: lengths, word counts, rANS state ranges, table sums; every state
// must end at RANS_L with every word consumed.
//
// Status (status.h / saraphis.h: 0 ok, 1 bad header, 2 bad stream, 3 rANS state mismatch,
// 4 destination mismatch, 6 checksum mismatch, 7 codec not decoded by the batched call): with
// `per_tensor` zero, one int32 per segment (status[s], s < status_len; the single-tensor call:
// containers of other codecs are left alone, status included, for the other kernels); with
// `per_tensor` set, one int32 per tensor that the host zeroed and that failing warps raise with
// atomicMax.
#include "common.cuh"

#define SEG_BATCH 256            // tensors per batched launch (kernel parameters: 14,360 bytes; CUDA 12.1+ allow 32,764)
#define SEG_LANES 32             // rANS states per plane and segment (one warp)
#define SEG_SCALE_BITS 12        // largest table resolution of layout v2
#define SEG_SLOTS (1 << SEG_SCALE_BITS)
#define SEG_PARAM_CAP 5120       // largest parameter block accepted (4 full tables fit)
#define SEG_OWN_BITS 8           // largest resolution of a segment's own exponent table (mode 3; src/codec/segmented.rs OWN_SCALE_BITS)
#define SEG_OWN_SLOTS (1 << SEG_OWN_BITS)  // u32 slots of a warp's own-table region
#define SEG_THREADS 256          // most threads per block: up to 8 warps share one block's slot tables
#define SEG_WARPS (SEG_THREADS / 32)

struct SegTensor {  // src/backend/cuda/segmented.rs SegTensor: 48 bytes
    uint64_t src, src_len, dst, dst_len, status, status_len;
};
// The launch's tensors, passed by value as the kernel's parameters. NB: capacity, SEG_BATCH for
// batched launches and 1 for the single-tensor call, whose 80-byte parameters the driver copies
// much faster than the 14 KiB of a full batch (large kernel parameters cost host time per launch).
template <int NB>
struct SegBatch {  // src/backend/cuda/segmented.rs SegBatch<N>
    SegTensor t[NB];
    uint32_t block_start[NB + 1];  // blocks of tensor i: [block_start[i], block_start[i + 1])
    uint32_t dtype[NB];
    uint32_t n, verify, per_tensor, pad;
};
static_assert(sizeof(SegTensor) == 48, "SegTensor layout");
static_assert(sizeof(SegBatch<SEG_BATCH>) == 48 * SEG_BATCH + 4 * (SEG_BATCH + 1) + 4 * SEG_BATCH + 16 + 4, "SegBatch layout");
static_assert(sizeof(SegBatch<SEG_BATCH>) <= 32764, "kernel parameters");
static_assert(sizeof(SegBatch<1>) == 80, "SegBatch<1> layout");

namespace seg {

__device__ __forceinline__ uint32_t pad16(uint32_t n) { return (n + 15) & ~15u; }

// Little-endian 16- and 32-bit reads at even / multiple-of-4 offsets of a container whose base
// may be unaligned (`aligned`: the base is 16-byte aligned, as cudaMalloc gives).
__device__ __forceinline__ uint32_t ld16(const uint8_t* p, bool aligned) {
    return aligned ? (uint32_t)__ldg((const uint16_t*)p) : (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}
__device__ __forceinline__ uint32_t ld32(const uint8_t* p, bool aligned) {
    return aligned ? __ldg((const uint32_t*)p) : rd_u32(p);
}

struct Shared {
    uint16_t freq[4][256];
    uint16_t cum[4][256];
    uint8_t sym[4][256];
    uint32_t count[4], sb[4], coded[4];
    uint32_t np, ok;
};

// Parse the container's parameters (src/codec/segmented.rs SegmentedPlan::to_bytes and
// FreqTable::write: a plane-count byte, per plane a mode byte and for rANS planes a scale-bits
// byte, then varints: symbol count and (symbol gap, frequency - 1) pairs), checking what
// SegmentedPlan::from_bytes and FreqTable::read check, so both sides refuse the same tables.
// `parse_params` is the reference (one thread); `parse_params_warp` does the same with a whole
// warp, 32 bytes of varints per round, and returns -1 (the caller then runs `parse_params`)
// when a varint is longer than two bytes, which our encoder never writes but the format allows.
__device__ __forceinline__ bool rd_byte(const uint8_t** p, const uint8_t* end, uint64_t* v) {
    if (*p >= end) return false;
    *v = *(*p)++;
    return true;
}

// One frequency table (src/entropy/rans.rs FreqTable::write: u8 scale bits, varint symbol count,
// varint (symbol gap, frequency - 1) pairs) at *p, read by one thread, of symbols below
// `alphabet` and at most `max_sb` bits; `pair(e, symbol, frequency, cumulative frequency)` for
// each of its n symbols. Checks what FreqTable::read checks.
template <class F>
__device__ bool parse_table(const uint8_t** p, const uint8_t* end, uint32_t alphabet, uint32_t max_sb, uint32_t* n_out,
                            uint32_t* sb_out, F pair) {
    uint64_t sb, n;
    if (!rd_byte(p, end, &sb) || sb > max_sb) return false;
    const uint64_t target = 1ull << sb;
    if (!rd_varint(p, end, &n) || n == 0 || n > alphabet || n > target) return false;
    uint64_t next = 0, sum = 0;
    for (uint32_t e = 0; e < n; e++) {
        uint64_t gap, f1;
        if (!rd_varint(p, end, &gap) || !rd_varint(p, end, &f1)) return false;
        const uint64_t s = next + gap;
        if (gap >= alphabet || s >= alphabet || f1 >= target) return false;
        pair(e, (uint32_t)s, (uint32_t)(f1 + 1), (uint32_t)sum);
        sum += f1 + 1;
        if (sum > target) return false;
        next = s + 1;
    }
    if (sum != target) return false;
    *n_out = (uint32_t)n;
    *sb_out = (uint32_t)sb;
    return true;
}

__device__ bool parse_params(Shared& sh, const uint8_t* params, uint32_t len, uint32_t np, uint32_t exp_bits) {
    const uint8_t* p = params;
    const uint8_t* end = p + len;
    uint64_t v;
    if (!rd_byte(&p, end, &v) || v != np) return false;
    for (uint32_t k = 0; k < np; k++) {
        if (!rd_byte(&p, end, &v) || v > 1) return false;
        sh.coded[k] = (uint32_t)v;
        if (!v) continue;
        uint32_t n, sb;
        const bool ok = parse_table(&p, end, k == 0 ? 1u << exp_bits : 256u, SEG_SCALE_BITS, &n, &sb,
                                    [&](uint32_t e, uint32_t s, uint32_t f, uint32_t cum) {
                                        sh.sym[k][e] = (uint8_t)s;
                                        sh.freq[k][e] = (uint16_t)f;
                                        sh.cum[k][e] = (uint16_t)cum;
                                    });
        if (!ok) return false;
        sh.count[k] = n;
        sh.sb[k] = sb;
    }
    while (p < end)
        if (*p++) return false;  // zero padding
    return true;
}

// Warp-cooperative form of `parse_table` (all 32 lanes call it; the result is warp-uniform) on
// the table at byte *q of [params, params + len), advancing *q past it: 1 accepted, 0 refused,
// -1 a varint of three or more bytes (use `parse_table`). Each round reads 32 bytes, finds the
// varints' last bytes by a ballot, pairs (gap, frequency - 1) inside the round, and turns them
// into symbols and cumulative frequencies by two warp prefix sums; the lane holding a pair calls
// `pair(e, symbol, frequency, cumulative frequency)`.
template <class F>
__device__ int parse_table_warp(const uint8_t* params, uint32_t len, uint32_t* q_io, uint32_t alphabet, uint32_t max_sb,
                                uint32_t* n_out, uint32_t* sb_out, F pair) {
    const uint32_t lane = threadIdx.x & 31, lt = (1u << lane) - 1;
    uint32_t q = *q_io;
    auto byte = [&](uint32_t i) -> uint32_t { return i < len ? __ldg(params + i) : 0x100u; };
    const uint32_t sb = byte(q++);
    if (sb > max_sb) return 0;
    const uint32_t target = 1u << sb;
    // The symbol count: one or two bytes (the limits keep it below 2^14).
    uint32_t n = byte(q++);
    if (n > 0xff) return 0;
    if (n & 0x80) {
        const uint32_t b1 = byte(q++);
        if (b1 > 0xff) return 0;
        if (b1 & 0x80) return -1;
        n = (n & 0x7f) | (b1 << 7);
    }
    if (n == 0 || n > alphabet || n > target) return 0;
    uint32_t e = 0, next = 0, sum = 0;
    while (e < n) {
        const uint32_t b = byte(q + lane);
        const uint32_t term = __ballot_sync(0xffffffffu, b < 0x80);  // past the end: 0x100
        const uint32_t before = term & lt;
        const uint32_t start = before ? 32 - __clz(before) : 0;
        const bool is_term = (term >> lane) & 1;
        if (__any_sync(0xffffffffu, is_term && lane - start > 1)) return -1;
        const uint32_t prev = __shfl_up_sync(0xffffffffu, b, 1);
        const uint32_t value = lane > start ? (prev & 0x7f) | (b << 7) : b;
        // Whole pairs only, at most the n - e still wanted.
        uint32_t pairs = __popc(term) / 2;
        if (pairs > n - e) pairs = n - e;
        if (pairs == 0) return 0;  // out of bytes (a longer varint returned -1 above)
        const uint32_t idx = __popc(before);            // varint index in this round
        const bool is_f = is_term && (idx & 1) && idx < 2 * pairs;
        const uint32_t gap = __shfl_sync(0xffffffffu, value, before ? 31 - __clz(before) : 0);
        const uint32_t f = is_f ? value + 1 : 0;
        uint32_t step = is_f ? gap + 1 : 0, run = f;  // inclusive prefix sums over the pairs
#pragma unroll
        for (int d = 1; d < 32; d <<= 1) {
            const uint32_t a = __shfl_up_sync(0xffffffffu, step, d), c = __shfl_up_sync(0xffffffffu, run, d);
            if (lane >= (uint32_t)d) step += a, run += c;
        }
        const uint32_t s = next + step - 1;  // this pair's symbol
        const uint32_t cum = sum + run - f;
        const bool bad = is_f && (gap >= alphabet || s >= alphabet || value >= target || cum + f > target);
        if (__any_sync(0xffffffffu, bad)) return 0;
        if (is_f) pair(e + idx / 2, s, f, cum);
        // The last pair's lane carries the round's totals.
        const uint32_t last_lane = 31 - __clz(__ballot_sync(0xffffffffu, is_f && idx == 2 * pairs - 1));
        next += __shfl_sync(0xffffffffu, step, last_lane);
        sum += __shfl_sync(0xffffffffu, run, last_lane);
        q += last_lane + 1;
        e += pairs;
    }
    if (sum != target) return 0;
    *q_io = q;
    *n_out = n;
    *sb_out = sb;
    return 1;
}

// Warp-cooperative form of `parse_params` (all 32 lanes call it; the result is warp-uniform):
// 1 accepted, 0 refused, -1 a varint of three or more bytes (use `parse_params`); each table is
// read by `parse_table_warp`.
__device__ int parse_params_warp(Shared& sh, const uint8_t* params, uint32_t len, uint32_t np, uint32_t exp_bits) {
    const uint32_t lane = threadIdx.x & 31;
    uint32_t q = 0;  // warp-uniform read position
    auto byte = [&](uint32_t i) -> uint32_t { return i < len ? __ldg(params + i) : 0x100u; };
    if (byte(q++) != np) return 0;
    for (uint32_t k = 0; k < np; k++) {
        const uint32_t mode = byte(q++);
        if (mode > 1) return 0;
        if (lane == 0) sh.coded[k] = mode;
        if (!mode) continue;
        uint32_t n, sb;
        const int r = parse_table_warp(params, len, &q, k == 0 ? 1u << exp_bits : 256u, SEG_SCALE_BITS, &n, &sb,
                                       [&](uint32_t e, uint32_t s, uint32_t f, uint32_t cum) {
                                           sh.sym[k][e] = (uint8_t)s;
                                           sh.freq[k][e] = (uint16_t)f;
                                           sh.cum[k][e] = (uint16_t)cum;
                                       });
        if (r != 1) return r;
        if (lane == 0) {
            sh.count[k] = n;
            sh.sb[k] = sb;
        }
    }
    for (uint32_t i = q; i < len; i += 32)  // zero padding
        if (__any_sync(0xffffffffu, i + lane < len && params[i + lane] != 0)) return 0;
    return 1;
}

// ---- cp.async (sm_80+): global -> shared copies that do not stall the issuing warp.
__device__ __forceinline__ void cp_async4(void* smem, const void* gmem, uint32_t src_size) {
    const uint32_t s = (uint32_t)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(s), "l"(gmem), "r"(src_size));
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

#define RING 1024   // bytes of a plane's ring buffer in shared memory, per warp
#define CHUNK 128   // bytes one warp-wide cp.async brings (32 lanes x 4)
#define AHEAD 768   // a refill requests a chunk only while fewer than AHEAD bytes past the
                    // consumption point are requested (at most RING - 2 * CHUNK: see below)
#define WAIT 4      // refills a copy may stay pending. A refill follows every two steps (<= 128
                    // bytes of a plane, and the steps read at most 62 bytes past the consumption
                    // point). A chunk requested at a refill starts >= AHEAD - CHUNK = 640 bytes
                    // ahead; the pairs after the next 3 refills read below 3 x 128 + 128 + 62 =
                    // 574 bytes ahead, so the first to read it follows the 4th refill, whose wait
                    // (WAIT = 4 younger groups may still pend) has made it land.
                    // Race-free by construction: a chunk lands on ring bytes [pos - 384, pos - 128)
                    // (mod RING), which no lane has read since the previous refill's __syncwarp.

// Dynamic shared memory: the planes' slot tables (NP x SEG_SLOTS u32), then the warps' rings
// (warps per block x NP x RING bytes), then the warps' own-table slots (warps per block x
// SEG_OWN_SLOTS u32: a mode-3 segment's exponent table). Indexing this
// symbol (not a generic pointer) keeps every access a plain shared-memory load.
extern __shared__ __align__(16) uint8_t seg_smem[];
__device__ __forceinline__ const uint32_t* seg_slot_table() { return reinterpret_cast<const uint32_t*>(seg_smem); }

// One plane's byte stream (coded: its 16-bit words; raw: its bytes) flowing through a ring in
// shared memory: `pos` bytes consumed, `iss` bytes requested (a multiple of CHUNK).
struct Stream {
    const uint8_t* src;
    uint32_t ring;  // byte offset of the ring in seg_smem
    uint32_t len, pos, iss;
};

// Request one chunk if fewer than AHEAD bytes past the consumption point are in flight
// (warp-uniform). A decode step consumes at most 64 bytes of a plane (32 lanes x one 16-bit
// word, or 32 raw bytes) and CHUNK is 128, so one request per step keeps the ring ahead; the
// prologue calls it until full. (Between refills the decoder takes at most two steps: 128 bytes.)
__device__ __forceinline__ bool refill_one(Stream& st, bool aligned) {
    if (st.iss >= st.pos + AHEAD || st.iss >= st.len) return false;
    const uint32_t lane = threadIdx.x & 31;
    const uint32_t b = st.iss + 4 * lane;
    uint8_t* d = seg_smem + st.ring + (b & (RING - 1));
    if (aligned) {
        // Sections are padded to 16 bytes, so a word that starts inside the stream is
        // readable whole; words past the stream are zero-filled, not read.
        cp_async4(d, st.src + b, b < st.len ? 4 : 0);
    } else {
        for (int k = 0; k < 4; k++) d[k] = b + k < st.len ? st.src[b + k] : 0;
    }
    st.iss += CHUNK;
    return true;
}

// The checksum's term for 16-byte strip q (words 4q .. 4q + 3; src/codec/segmented.rs
// `segment_checksum`: word i weighs 2i + 1).
__device__ __forceinline__ uint32_t strip_term(uint4 v, uint32_t q) {
    return v.x * (8 * q + 1) + v.y * (8 * q + 3) + v.z * (8 * q + 5) + v.w * (8 * q + 7);
}

// A segment's checksum, summed by the whole warp (every lane gets it): 16-byte loads when the
// container is 16-byte aligned (`len` is a multiple of 16), byte reads otherwise.
__device__ uint32_t segment_checksum(const uint8_t* s, uint32_t len, bool aligned) {
    const uint32_t lane = threadIdx.x & 31;
    uint32_t acc = 0;
    if (aligned) {
#pragma unroll 4
        for (uint32_t q = lane; q < len / 16; q += 32) acc += strip_term(__ldg((const uint4*)s + q), q);
    } else {
        for (uint32_t i = lane; i < len / 4; i += 32) acc += rd_u32(s + 4 * i) * (2 * i + 1);
    }
    for (int d = 16; d; d >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, d);
    return acc;
}

// Element format of dtype DT (0 F32, 1 F16, 2 BF16: src/dtype.rs): planes (exponent, then the
// sign + mantissa bits as big-endian byte planes), bytes, exponent and mantissa bits.
template <int DT> struct Fmt;
template <> struct Fmt<0> { static constexpr int NP = 4, SIZE = 4, EXP = 8, MAN = 23; };
template <> struct Fmt<1> { static constexpr int NP = 3, SIZE = 2, EXP = 5, MAN = 10; };
template <> struct Fmt<2> { static constexpr int NP = 2, SIZE = 2, EXP = 8, MAN = 7; };

// One warp's decoder of one segment of dtype DT: per plane a ring stream and, for coded planes,
// the lane's rANS state. MASK: the coded planes (bit p: plane p), known at compile time, or -1:
// read from `coded` at run time. With the mask known the step has no branch per plane, so the
// planes' dependency chains interleave (measured on the H200: the run-time form decodes the
// planes one after the other).
template <int DT, int MASK>
struct SegDecoder {
    static constexpr int NP = Fmt<DT>::NP;
    Stream st[NP];
    uint32_t x[NP], sb[NP], mask[NP];
    uint32_t tb0;  // u32 index in seg_smem of plane 0's slot table: the block's, or the warp's own (mode 3)
    bool coded[NP];

    __device__ __forceinline__ bool is_coded(int p) const { return MASK >= 0 ? ((MASK >> p) & 1) != 0 : coded[p]; }

    // Decode step j (elements 32 j .. 32 j + 31; lane l: element 32 j + l) into dst. TAIL: the
    // last step, where lanes at or past n sit out (their state is kept, they take no word).
    template <bool TAIL>
    __device__ __forceinline__ void step(uint32_t j, uint32_t n, uint8_t* dst, uint32_t lane, uint32_t lt) {
        const uint32_t i = 32 * j + lane;
        const bool active = !TAIL || i < n;
        uint32_t sym[NP];
#pragma unroll
        for (int p = 0; p < NP; p++) {
            if (!is_coded(p)) {
                sym[p] = seg_smem[st[p].ring + ((st[p].pos + lane) & (RING - 1))];
                st[p].pos += 32;
                continue;
            }
            const uint32_t slot = seg_slot_table()[(p == 0 ? tb0 : p * SEG_SLOTS) + (x[p] & mask[p])];
            // y = f * q + bias: bias in the slot's low 12 bits and f - 1 in its top 12, so the
            // load is followed by one shift or mask, one add and one multiply-add.
            const uint32_t q = x[p] >> sb[p];
            uint32_t y = (slot >> 20) * q + (q + (slot & 0xfff));
            sym[p] = (slot >> 12) & 0xff;
            if (TAIL && !active) y = x[p];
            const bool need = (!TAIL || active) && y < RANS_L;
            const uint32_t m = __ballot_sync(0xffffffffu, need);
            // Every lane reads its would-be word (no branch); lanes that renormalise take it.
            // Words past the stream read stale ring bytes; the end check (every word consumed,
            // no more) refuses such a segment.
            // The ring starts at a multiple of RING: its byte address is ring | offset.
            const uint32_t a = st[p].ring | ((st[p].pos + 2 * __popc(m & lt)) & (RING - 1));
            const uint32_t w = *reinterpret_cast<const uint16_t*>(seg_smem + a);
            x[p] = need ? (y << 16) | w : y;
            st[p].pos += 2 * __popc(m);
        }
        if (active) {
            // element: r = byte planes big-endian (sign << MAN | mantissa); the exponent between
            constexpr int MAN = Fmt<DT>::MAN, EXP = Fmt<DT>::EXP;
            uint32_t r = 0;
#pragma unroll
            for (int p = 1; p < NP; p++) r = (r << 8) | sym[p];
            const uint32_t v = ((r >> MAN) << (MAN + EXP)) | (sym[0] << MAN) | (r & ((1u << MAN) - 1));
            if (Fmt<DT>::SIZE == 4) ((uint32_t*)dst)[i] = v;
            else ((uint16_t*)dst)[i] = (uint16_t)v;
        }
    }

    // Keep every ring ahead (at most two steps since the last refill), then wait until the
    // copies requested WAIT refills ago have landed and are visible to the whole warp.
    __device__ __forceinline__ void refill(bool aligned) {
#pragma unroll
        for (int p = 0; p < NP; p++) refill_one(st[p], aligned);
        cp_commit();
        cp_wait<WAIT>();
        __syncwarp();
    }
};

// Expand the frequency table at s (a segment's own exponent table, mode 3: FreqTable::write, at
// most SEG_OWN_BITS) into the warp's own slot table (`own`: u32 index in seg_smem), warp-parallel
// (one thread when a varint is longer than two bytes, as `parse_params`). Returns the table's
// bytes (0: refused) and its resolution in *sb.
__device__ uint32_t build_own_table(const uint8_t* s, uint32_t avail, uint32_t alphabet, uint32_t own, uint32_t* sb) {
    const uint32_t lane = threadIdx.x & 31;
    uint32_t* slots = reinterpret_cast<uint32_t*>(seg_smem) + own;
    auto fill = [&](uint32_t, uint32_t sy, uint32_t f, uint32_t cum) {
        for (uint32_t k = 0; k < f; k++) slots[cum + k] = k | (sy << 12) | ((f - 1) << 20);
    };
    uint32_t q = 0, n = 0;
    const int r = parse_table_warp(s, avail, &q, alphabet, SEG_OWN_BITS, &n, sb, fill);
    if (r < 0) {
        uint32_t used = 0, ok = 0;
        if (lane == 0) {
            const uint8_t* p = s;
            ok = parse_table(&p, s + avail, alphabet, SEG_OWN_BITS, &n, sb, fill);
            used = (uint32_t)(p - s);
        }
        ok = __shfl_sync(0xffffffffu, ok, 0);
        q = __shfl_sync(0xffffffffu, used, 0);
        *sb = __shfl_sync(0xffffffffu, *sb, 0);
        if (!ok) return 0;
    } else if (r == 0) {
        return 0;
    }
    __syncwarp();
    return q;
}

// The rANS part of `decode_segment`: a coded segment (mode byte 1, 2 with a raw mask, or 3 with
// a raw mask and the exponent's own table) with decoder d; m: the planes coded in this segment
// (the tensor's coded planes less the raw mask); own: u32 index in seg_smem of the warp's own
// slot table.
template <int DT, int MASK>
__device__ __forceinline__ int32_t decode_coded(SegDecoder<DT, MASK>& d, const Shared& sh, const uint8_t* s,
                                                uint32_t len, uint32_t n, bool aligned, uint32_t rings,
                                                uint32_t own, uint8_t* dst, uint32_t m) {
    constexpr int NP = Fmt<DT>::NP;
    const uint32_t lane = threadIdx.x & 31;
    if (MASK >= 0 && (uint32_t)MASK != m) return 1;  // the caller's dispatch
    // Mode 1: `u8 1, 3 zero, u32 words per plane`, 32 bytes. Modes 2 and 3: `u8 mode, u8 raw
    // mask, u8 own-table mask (mode 3: 1, the exponent; mode 2: 0), u8 0, u32 words per plane
    // coded in the segment`, padded to 16 (src/codec/segmented.rs).
    const uint32_t mode = s[0];
    uint32_t pos = mode == 1 ? 32u : pad16(4 + 4 * __popc(m));
    if (mode < 1 || mode > 3 || len < pos) return 2;
    if (mode >= 2 && (s[3] || s[2] != (mode == 3 ? 1u : 0u) || (mode == 3 && !(m & 1)))) return 2;
    d.tb0 = 0;
    uint32_t wc[NP];
    uint32_t k = 0;  // word-count slot of the next coded plane (mode 2)
#pragma unroll
    for (int p = 0; p < NP; p++) {
        wc[p] = 0;
        d.x[p] = RANS_L;
        d.coded[p] = (m >> p) & 1;
        d.sb[p] = d.is_coded(p) ? sh.sb[p] : 0;
        d.mask[p] = (1u << d.sb[p]) - 1;
        d.st[p] = Stream{nullptr, rings + p * RING, 0, 0, 0};
        const uint32_t w = mode == 1 ? rd_u32(s + 4 + 4 * p) : d.is_coded(p) ? rd_u32(s + 4 + 4 * k) : 0;
        if (!d.is_coded(p)) {
            if (w != 0) return 2;
            continue;
        }
        k++;
        if (p == 0 && mode == 3) {  // the segment's own table, zero-padded to 16, before the states
            uint32_t sb = 0;
            const uint32_t used = build_own_table(s + pos, len - pos, 1u << Fmt<DT>::EXP, own, &sb);
            if (used == 0 || pad16(used) > len - pos) return 2;
            if (__any_sync(0xffffffffu, lane < pad16(used) - used && s[pos + used + lane] != 0)) return 2;
            pos += pad16(used);
            d.sb[0] = sb;
            d.mask[0] = (1u << sb) - 1;
            d.tb0 = own;
        }
        if (w > (len - pos) / 2 || pos + 4 * SEG_LANES + 2 * w > len) return 2;
        d.x[p] = ld32(s + pos + 4 * lane, aligned);
        if (__any_sync(0xffffffffu, d.x[p] < RANS_L || d.x[p] >= (RANS_L << 16))) return 2;  // warp-uniform
        wc[p] = w;
        d.st[p].src = s + pos + 4 * SEG_LANES;
        d.st[p].len = 2 * w;
        pos = pad16(pos + 4 * SEG_LANES + 2 * w);
        if (pos > len) return 2;
    }
#pragma unroll
    for (int p = 0; p < NP; p++) {
        if (d.is_coded(p)) continue;
        d.st[p].src = s + pos;
        d.st[p].len = n;
        pos = pad16(pos + n);
        if (pos > len) return 2;
    }
    if (pos != len) return 2;
#pragma unroll
    for (int p = 0; p < NP; p++)
        while (refill_one(d.st[p], aligned)) {
        }
    cp_commit();
    cp_wait<0>();
    __syncwarp();
    const uint32_t lt = (1u << lane) - 1;
    const uint32_t full = n / 32;
    uint32_t j = 0;
    for (; j + 2 <= full; j += 2) {
        d.template step<false>(j, n, dst, lane, lt);
        d.template step<false>(j + 1, n, dst, lane, lt);
        d.refill(aligned);
    }
    if (j < full) d.template step<false>(j, n, dst, lane, lt);
    if (n % 32) {
        d.refill(aligned);
        d.template step<true>(full, n, dst, lane, lt);
    }
    cp_wait<0>();  // nothing may land in the rings after the warp moves on
    __syncwarp();
#pragma unroll
    for (int p = 0; p < NP; p++) {
        if (!d.is_coded(p)) continue;
        const bool end_ok = d.x[p] == RANS_L && d.st[p].pos == 2 * wc[p];
        if (__any_sync(0xffffffffu, !end_ok)) return 3;
    }
    return 0;
}

// Decode one segment of n elements (1 <= n) of dtype DT whose bytes are [s, s + len) into dst,
// with the warp's rings (NP x RING bytes); m: the planes coded in the segment. Returns the
// segment's status.
template <int DT, int MASK>
__device__ int32_t decode_segment(const Shared& sh, const uint8_t* s, uint32_t len, uint32_t n, bool aligned,
                                  uint32_t rings, uint32_t own, uint8_t* dst, uint32_t m) {
    SegDecoder<DT, MASK> d;
    return decode_coded<DT, MASK>(d, sh, s, len, n, aligned, rings, own, dst, m);
}

// Decode one segment: a raw segment by copy; a coded one with the decoder specialised for the
// segment's coded planes (the tensor's, less the segment's raw mask) where that is one of the
// common cases (every plane coded; only the exponent coded; the exponent and the first sign +
// mantissa byte coded, the rest raw), else with the run-time form.
template <int DT>
__device__ int32_t decode_segment_any(const Shared& sh, const uint8_t* s, uint32_t len, uint32_t n, bool aligned,
                                      uint32_t rings, uint32_t own, uint8_t* dst) {
    constexpr int NP = Fmt<DT>::NP, ALL = (1 << NP) - 1;
    const uint32_t lane = threadIdx.x & 31;
    if (s[0] == 0) {  // raw segment: 16-byte prologue, the elements, zero padding
        if (len != pad16(16 + n * Fmt<DT>::SIZE)) return 2;
        for (uint32_t b = lane; b < n * Fmt<DT>::SIZE; b += 32) dst[b] = s[16 + b];
        return 0;
    }
    uint32_t m = 0;
#pragma unroll
    for (int p = 0; p < NP; p++) m |= (sh.coded[p] ? 1u : 0u) << p;
    if (s[0] == 2 || s[0] == 3) {
        const uint32_t raw = s[1];
        if (raw & ~m) return 2;  // only a plane the tensor codes may be raw in a segment
        m &= ~raw;
    }
    if (m == ALL) return decode_segment<DT, ALL>(sh, s, len, n, aligned, rings, own, dst, m);
    if (m == 1) return decode_segment<DT, 1>(sh, s, len, n, aligned, rings, own, dst, m);
    if constexpr (ALL != 3) {
        if (m == 3) return decode_segment<DT, 3>(sh, s, len, n, aligned, rings, own, dst, m);
    }
    return decode_segment<DT, -1>(sh, s, len, n, aligned, rings, own, dst, m);
}

template <int NB>
__device__ __forceinline__ void report(const SegBatch<NB>& b, uint32_t ti, uint64_t idx, int32_t st) {
    int32_t* status = (int32_t*)b.t[ti].status;
    if (!status) return;
    if (b.per_tensor) {
        if (st) atomicMax(status, st);
    } else if (idx < b.t[ti].status_len) {
        status[idx] = st;
    }
}

}  // namespace seg

// NP: the most planes a tensor of the batch has (2: BF16 only; 4: F32 and F16). Warps per
// block: blockDim.x / 32, 1 to SEG_WARPS (the host spreads a small batch over many small blocks
// and a large one over full ones). Dynamic shared memory: NP slot tables of SEG_SLOTS u32, then
// per warp NP rings of RING bytes.
template <int NP, int NB>
__device__ void decode_segmented(const SegBatch<NB>& b) {
    uint32_t* slots = reinterpret_cast<uint32_t*>(seg::seg_smem);
    __shared__ seg::Shared sh;
    const uint32_t t = threadIdx.x, lane = t & 31, warp = t / 32, nw = blockDim.x / 32;
    // The last tensor whose first block is at most this one. With one descriptor the index is
    // the constant 0: a run-time index into a one-element parameter array makes the compiler copy
    // the parameters to the stack (measured: the decode then runs ~30% slower).
    uint32_t ti = 0;
    if constexpr (NB > 1) {
        uint32_t hi = b.n - 1;
        while (ti < hi) {
            const uint32_t mid = (ti + hi + 1) / 2;
            if (b.block_start[mid] <= blockIdx.x) ti = mid;
            else hi = mid - 1;
        }
    }
    const uint32_t first = b.block_start[ti], nblocks = b.block_start[ti + 1] - first;
    const bool lead = blockIdx.x == first && t == 0;
    const uint8_t* c = (const uint8_t*)b.t[ti].src;
    const uint64_t c_len = b.t[ti].src_len;
    const Hdr h = parse_header(c, c_len);
    if (!h.ok) {
        if (b.per_tensor && lead) seg::report(b, ti, 0, 1);  // alone: the other kernels report it
        return;
    }
    if (h.codec != 4) {
        if (b.per_tensor && lead) seg::report(b, ti, 0, 7);
        return;
    }
    const uint32_t dtype = h.dtype;
    const uint32_t np = 1 + (h.man_bits + 8) / 8;
    if (dtype > 2 || np > NP) {
        if (lead) seg::report(b, ti, 0, dtype > 2 ? 1 : 4);
        return;
    }
    if (h.n_chunks != (h.numel + h.chunk_elems - 1) / h.chunk_elems) {
        if (lead) seg::report(b, ti, 0, 1);
        return;
    }
    if (dtype != b.dtype[ti] || h.numel * h.size != b.t[ti].dst_len) {
        if (lead) seg::report(b, ti, 0, 4);
        return;
    }
    // Parse the parameters (warp 0; parse_header checked that they lie inside the container),
    // expand the slot tables (one warp per symbol run).
    const uint32_t ndim = c[10];
    const uint32_t plen = rd_u32(c + 24 + 8 * ndim);
    if (plen > SEG_PARAM_CAP) {
        if (lead) seg::report(b, ti, 0, 1);
        return;
    }
    if (warp == 0) {
        const uint8_t* params = c + 28 + 8 * ndim;
        const int r = seg::parse_params_warp(sh, params, plen, np, h.exp_bits);
        if (r >= 0) {
            if (lane == 0) sh.ok = r;
        } else if (lane == 0) {
            sh.ok = seg::parse_params(sh, params, plen, np, h.exp_bits);
        }
    }
    __syncthreads();
    if (!sh.ok) {
        if (lead) seg::report(b, ti, 0, 1);
        return;
    }
    for (uint32_t p = 0; p < np; p++) {
        if (!sh.coded[p]) continue;
        for (uint32_t e = warp; e < sh.count[p]; e += nw) {
            const uint32_t f = sh.freq[p][e], c0 = sh.cum[p][e], sy = sh.sym[p][e];
            for (uint32_t k = lane; k < f; k += 32) slots[p * SEG_SLOTS + c0 + k] = k | (sy << 12) | ((f - 1) << 20);
        }
    }
    __syncthreads();
    const bool aligned = ((uintptr_t)c & 15) == 0;
    uint8_t* out = (uint8_t*)b.t[ti].dst;
    for (uint64_t s = (uint64_t)(blockIdx.x - first) * nw + warp; s < h.n_chunks; s += (uint64_t)nblocks * nw) {
        const uint8_t* e = c + h.nc_at + 4 + 16 * s;
        const uint64_t off = rd_u64(e);
        const uint32_t len = rd_u32(e + 8);
        const uint64_t start = s * h.chunk_elems;
        int32_t st = 0;
        if (start >= h.numel || off > c_len || h.header_len + off + len > c_len || len < 16 || len % 16 ||
            (h.header_len + off) % 16)
            st = 1;
        const uint32_t n = (uint32_t)(h.numel - start < h.chunk_elems ? h.numel - start : h.chunk_elems);
        const uint8_t* sp = c + h.header_len + off;
        if (st == 0 && b.verify && seg::segment_checksum(sp, len, aligned) != rd_u32(e + 12)) st = 6;
        if (st == 0) {
            const uint32_t rings = NP * SEG_SLOTS * 4 + warp * NP * RING;
            const uint32_t own = (NP * SEG_SLOTS * 4 + nw * NP * RING) / 4 + warp * SEG_OWN_SLOTS;
            static_assert((NP * SEG_SLOTS * 4) % RING == 0, "rings start at multiples of RING (decode steps OR the offset in)");
            uint8_t* dst = out + start * h.size;
            if (dtype == 2) st = seg::decode_segment_any<2>(sh, sp, len, n, aligned, rings, own, dst);
            else if (NP >= 4 && dtype == 1) st = seg::decode_segment_any<NP >= 4 ? 1 : 2>(sh, sp, len, n, aligned, rings, own, dst);
            else if (NP >= 4) st = seg::decode_segment_any<NP >= 4 ? 0 : 2>(sh, sp, len, n, aligned, rings, own, dst);
        }
        if (lane == 0) seg::report(b, ti, s, st);
    }
}

extern "C" __global__ void __launch_bounds__(SEG_THREADS, 4) saraphis_decode_segmented_2(const SegBatch<SEG_BATCH> b) {
    pdl_allow_dependents();
    decode_segmented<2>(b);
    pdl_wait_prerequisites();
}
extern "C" __global__ void __launch_bounds__(SEG_THREADS, 2) saraphis_decode_segmented_4(const SegBatch<SEG_BATCH> b) {
    pdl_allow_dependents();
    decode_segmented<4>(b);
    pdl_wait_prerequisites();
}
// One tensor per launch (saraphis_decompress_device): the same decoder with small parameters.
extern "C" __global__ void __launch_bounds__(SEG_THREADS, 4) saraphis_decode_segmented_2_one(const SegBatch<1> b) {
    pdl_allow_dependents();
    decode_segmented<2>(b);
    pdl_wait_prerequisites();
}
extern "C" __global__ void __launch_bounds__(SEG_THREADS, 2) saraphis_decode_segmented_4_one(const SegBatch<1> b) {
    pdl_allow_dependents();
    decode_segmented<4>(b);
    pdl_wait_prerequisites();
}
