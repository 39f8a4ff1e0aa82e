// Microbenchmark (issue 14): how many max-plus terms `c = max(c, a + b)` of i32 an H200 SM retires
// per clock, by instruction mix. Not part of the build; compile and run it on the GPU host:
//   nvcc -O3 -arch=sm_90 -o max_plus_pipes benches/cuda/max_plus_pipes.cu && ./max_plus_pipes
// What the SASS (cuobjdump -sass) of each mode is, with nvcc 13.0:
//   mode 1 "IMAD+IMAD+VIMNMX3": two adds forced onto the FMA pipe as IMAD (a multiplier of 1 the
//          compiler cannot see) and one three-input max (VIMNMX3) per two terms;
//   mode 2 "add+add+VIMNMX3":  written as mode 1 with plain adds; ptxas turns it back into one
//          VIADDMNMX per term (the DPX add-then-max), so it measures VIADDMNMX;
//   modes 0, 3 and 4 mix in extra VIMNMX from the compiler's rewriting and are shown for completeness.
// Measured on an H200 (2026-12-02, docs/BENCHMARKS.md "Math library"): mode 2 60.7 terms per clock
// per SM, mode 1 41.9: moving the adds to the FMA pipe and pairing the max does not pass the
// 64-per-clock ceiling of the one VIADDMNMX per term.
#include <cstdio>
#include <cstdint>
#include <cuda_runtime.h>
#define ITER 4096
#define NACC 16
__device__ __forceinline__ int imad_add(int a, int one, int b) {
    int d; asm volatile("mad.lo.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(one), "r"(b)); return d;
}
// mode 0: VIADDMNMX per term. 1: pair = 2 adds (IMAD) + VIMNMX3. 2: pair = 2 plain adds + VIMNMX3.
// 3: half accumulators mode 0, half mode 1.  4: VIMNMX3 only (2 "terms" each, no adds)
template <int MODE>
__global__ void k(const int* in, int* out, long long* clk) {
    int one = in[0]; // 1 at run time, unknown to the compiler
    int a0 = in[threadIdx.x & 7] ^ threadIdx.x, a1 = a0 * 3 + 1, b0 = in[2] + blockIdx.x, b1 = b0 ^ 5;
    int acc[NACC];
#pragma unroll
    for (int i = 0; i < NACC; i++) acc[i] = i - (int)threadIdx.x;
    long long t0 = clock64();
    for (int it = 0; it < ITER; it++) {
#pragma unroll
        for (int i = 0; i < NACC; i++) {
            int x = a0 + i, y = b0 ^ i; // hoisted by compiler (loop invariant)
            if (MODE == 0 || (MODE == 3 && i < NACC / 2)) {
                acc[i] = __viaddmax_s32(a0, b0 + i, acc[i]);
                acc[i] = __viaddmax_s32(a1, b1 + i, acc[i]);
            } else if (MODE == 1 || MODE == 3) {
                acc[i] = __vimax3_s32(acc[i], imad_add(a0, one, b0 + i), imad_add(a1, one, b1 + i));
            } else if (MODE == 2) {
                acc[i] = __vimax3_s32(acc[i], a0 + (b0 + i), a1 + (b1 + i));
            } else {
                acc[i] = __vimax3_s32(acc[i], x, y);
            }
        }
        a0 += acc[0] & 1; b1 ^= acc[1] & 2; // keep operands live and varying
    }
    long long t1 = clock64();
    int s = 0;
#pragma unroll
    for (int i = 0; i < NACC; i++) s ^= acc[i];
    out[blockIdx.x * blockDim.x + threadIdx.x] = s;
    if (threadIdx.x == 0 && blockIdx.x == 0) *clk = t1 - t0;
}
template <int MODE> void run(const char* name, int* din, int* dout, long long* dclk, int sms) {
    int blocks = sms * 8, threads = 256;
    cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
    k<MODE><<<blocks, threads>>>(din, dout, dclk);
    cudaEventRecord(e0);
    k<MODE><<<blocks, threads>>>(din, dout, dclk);
    cudaEventRecord(e1); cudaEventSynchronize(e1);
    float ms; cudaEventElapsedTime(&ms, e0, e1);
    int mhz; cudaDeviceGetAttribute(&mhz, cudaDevAttrClockRate, 0);
    double terms = (double)blocks * threads * ITER * NACC * 2;
    double per_clk_sm = terms / (ms * 1e-3) / (mhz * 1e3) / sms;
    printf("%-28s %8.3f ms  %.1f terms/clk/SM  %.1f TOPS (2 ops/term)\n", name, ms, per_clk_sm, terms * 2 / (ms * 1e-3) / 1e12);
}
int main() {
    int sms; cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
    int *din, *dout; long long* dclk; int h[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    cudaMalloc(&din, 64); cudaMemcpy(din, h, 32, cudaMemcpyHostToDevice);
    cudaMalloc(&dout, sms * 8 * 256 * 4); cudaMalloc(&dclk, 8);
    for (int r = 0; r < 2; r++) {
        run<0>("VIADDMNMX per term", din, dout, dclk, sms);
        run<1>("IMAD+IMAD+VIMNMX3 per pair", din, dout, dclk, sms);
        run<2>("add+add+VIMNMX3 per pair", din, dout, dclk, sms);
        run<3>("half/half", din, dout, dclk, sms);
        run<4>("VIMNMX3 only", din, dout, dclk, sms);
    }
    printf("%s\n", cudaGetErrorString(cudaGetLastError()));
}
