// Saraphis GPU scatter for sparse containers (codec 6; docs/FORMAT.md section 8;
// src/codec/sparse.rs): the last step of a sparse decode, after the host has decoded the nested
// mask container (32-bit words, bit i set = element i nonzero) and the nested values container
// (the nonzero elements in order) into temporary device memory with the other decoders.
//
// One block of SP_BLOCK threads per scatter block of `block_elems` elements (grid-stride over
// blocks), in tiles of SP_TILE_WORDS mask words: each thread loads one word, a block-wide
// exclusive scan of the words' popcounts gives each word's first value, then each thread writes
// runs of SP_RUN consecutive elements (run t, t + SP_BLOCK, ... of the tile; one 16-byte store
// per 16 bytes when aligned): the value at (block start + the word's first value + the set bits
// below it in the word), or zero. The block's first value
// comes from the container's parameter block (`starts`, unaligned little-endian u64 per
// scatter block); each block checks that its mask holds exactly as many set bits as its
// recorded range, and the last word's bits past `numel` are zero (else status 2, nothing read
// out of range).
//
// Status (status[0], the tensor's): the first nonzero code of the nested decodes' statuses
// (`nested`, `nested_len` codes), else 2 for an inconsistent mask, else 0.
#include "common.cuh"

#define SP_BLOCK 256
#define SP_TILE_WORDS 256  // one word per thread per tile: 8192 elements
#define SP_RUN 8           // consecutive elements a thread writes at once

namespace sparse {

// Block-wide exclusive prefix sum of one u32 per thread (SP_BLOCK threads); `total` gets the sum.
__device__ __forceinline__ uint32_t block_exclusive_scan(uint32_t v, uint32_t* warp_sums, uint32_t& total) {
    const uint32_t lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    uint32_t x = v;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const uint32_t y = __shfl_up_sync(0xffffffffu, x, o);
        if (lane >= (uint32_t)o) x += y;
    }
    if (lane == 31) warp_sums[warp] = x;
    __syncthreads();
    if (warp == 0) {
        uint32_t s = lane < SP_BLOCK / 32 ? warp_sums[lane] : 0;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            const uint32_t y = __shfl_up_sync(0xffffffffu, s, o);
            if (lane >= (uint32_t)o) s += y;
        }
        if (lane < SP_BLOCK / 32) warp_sums[lane] = s;  // inclusive sums per warp
    }
    __syncthreads();
    total = warp_sums[SP_BLOCK / 32 - 1];
    const uint32_t before = warp == 0 ? 0 : warp_sums[warp - 1];
    return before + x - v;
}

template <typename T>
__device__ void scatter(const uint32_t* __restrict__ mask, const T* __restrict__ values, T* __restrict__ out,
                        const uint8_t* __restrict__ starts, uint64_t numel, uint64_t nonzeros, uint32_t block_elems,
                        int32_t* bad) {
    __shared__ uint32_t words[SP_TILE_WORDS];
    __shared__ uint32_t firsts[SP_TILE_WORDS];
    __shared__ uint32_t warp_sums[SP_BLOCK / 32];
    const uint32_t t = threadIdx.x;
    const uint64_t n_blocks = (numel + block_elems - 1) / block_elems;
    const uint64_t n_words = (numel + 31) / 32;
    for (uint64_t b = blockIdx.x; b < n_blocks; b += gridDim.x) {
        const uint64_t e0 = b * block_elems;
        const uint64_t e1 = e0 + block_elems < numel ? e0 + block_elems : numel;
        const uint64_t v0 = rd_u64(starts + 8 * b);
        const uint64_t v1 = b + 1 < n_blocks ? rd_u64(starts + 8 * (b + 1)) : nonzeros;
        bool ok = v0 <= v1 && v1 <= nonzeros;
        uint64_t vi = v0;  // the tile's first value
        for (uint64_t w0 = e0 / 32; ok && w0 < (e1 + 31) / 32; w0 += SP_TILE_WORDS) {
            const uint64_t w = w0 + t;
            uint32_t word = w < (e1 + 31) / 32 && w < n_words ? mask[w] : 0;
            // Bits past the tensor's end must be zero.
            if (w == n_words - 1 && (numel & 31) && (word >> (numel & 31))) {
                atomicExch(bad, 2);
                word = 0;
            }
            uint32_t tile_total;
            const uint32_t first = block_exclusive_scan(__popc(word), warp_sums, tile_total);
            words[t] = word;
            firsts[t] = first;
            __syncthreads();
            if (vi + tile_total > v1) {
                ok = false;  // more set bits than recorded: nothing is read past the range
            } else {
                // SP_RUN consecutive elements per thread (a quarter of a word): one mask byte,
                // the values gathered in order, one vector store when aligned.
                const uint64_t tile_e0 = w0 * 32;
                const uint64_t tile_e1 = tile_e0 + 32ull * SP_TILE_WORDS < e1 ? tile_e0 + 32ull * SP_TILE_WORDS : e1;
                for (uint64_t e = tile_e0 + SP_RUN * t; e < tile_e1; e += SP_RUN * SP_BLOCK) {
                    const uint32_t k = (uint32_t)((e - tile_e0) >> 5), off = (uint32_t)(e & 31);
                    const uint32_t wd = words[k];
                    uint32_t bits = (wd >> off) & ((1u << SP_RUN) - 1);
                    uint64_t at = vi + firsts[k] + __popc(wd & ((1u << off) - 1));
                    T run[SP_RUN];
#pragma unroll
                    for (int j = 0; j < SP_RUN; j++) {
                        run[j] = (bits >> j) & 1 ? values[at] : T(0);
                        at += (bits >> j) & 1;
                    }
                    T* o = out + e;
                    if (e + SP_RUN <= tile_e1 && ((uintptr_t)o % sizeof(run)) == 0 && sizeof(run) % 16 == 0) {
#pragma unroll
                        for (int q = 0; q < (int)(sizeof(run) / 16); q++)
                            reinterpret_cast<uint4*>(o)[q] = reinterpret_cast<const uint4*>(run)[q];
                    } else {
                        for (int j = 0; j < SP_RUN && e + j < tile_e1; j++) o[j] = run[j];
                    }
                }
            }
            vi += tile_total;
            __syncthreads();  // words/firsts are rewritten by the next tile
        }
        if (!ok || vi != v1) {
            if (t == 0) atomicExch(bad, 2);
        }
    }
}

}  // namespace sparse

// `mask`: ceil(numel / 32) words; `values`: `nonzeros` elements of `size` bytes (1, 2, 4 or 8);
// `out`: numel elements; `starts`: one unaligned u64 per scatter block; `nested`: the nested
// decodes' status codes. Blocks past the first keep going when the nested status is bad (their
// output is then unspecified, as for any failed decode).
extern "C" __global__ void __launch_bounds__(SP_BLOCK)
saraphis_sparse_scatter(const uint32_t* __restrict__ mask, const uint8_t* __restrict__ values,
                        uint8_t* __restrict__ out, const uint8_t* __restrict__ starts, uint64_t numel,
                        uint64_t nonzeros, uint32_t block_elems, uint32_t size, const int32_t* nested,
                        uint32_t nested_len, int32_t* status) {
    pdl_allow_dependents();
    __shared__ int32_t bad;
    if (threadIdx.x == 0) bad = 0;
    __syncthreads();
    switch (size) {
        case 1: sparse::scatter<uint8_t>(mask, values, out, starts, numel, nonzeros, block_elems, &bad); break;
        case 2:
            sparse::scatter<uint16_t>(mask, (const uint16_t*)values, (uint16_t*)out, starts, numel, nonzeros,
                                      block_elems, &bad);
            break;
        case 4:
            sparse::scatter<uint32_t>(mask, (const uint32_t*)values, (uint32_t*)out, starts, numel, nonzeros,
                                      block_elems, &bad);
            break;
        default:
            sparse::scatter<unsigned long long>(mask, (const unsigned long long*)values, (unsigned long long*)out,
                                                starts, numel, nonzeros, block_elems, &bad);
            break;
    }
    __syncthreads();
    // The nested statuses are read by block 0, and by any block that found the mask
    // inconsistent (so that a nested failure's code wins over 2 whichever block writes first),
    // all threads at once: read serially by thread 0 of every block, as before, the thousands of
    // codes of a large tensor took about a millisecond after the last block's scatter.
    if (status && (blockIdx.x == 0 || bad != 0)) {
        __shared__ uint32_t first;
        if (threadIdx.x == 0) first = UINT32_MAX;
        __syncthreads();
        for (uint32_t i = threadIdx.x; i < nested_len; i += blockDim.x) {
            if (nested[i] != 0) {
                atomicMin(&first, i);
                break;
            }
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            int32_t code = first < nested_len ? nested[first] : 0;
            if (code == 0) code = bad;
            if (code != 0) atomicCAS(status, 0, code);
        }
    }
    pdl_wait_prerequisites();
}
