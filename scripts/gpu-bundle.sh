#!/usr/bin/env bash
# Build, here (no GPU needed), everything the GPU host runs: the release library and CLI with
# the CUDA kernels, the GPU test binary and the GPU benchmark, into target/gpu-bundle/
# (ignored by git, at most 64 MiB). Then carry target/gpu-bundle to the GPU host and run
# scripts/gpu-run.sh there. nvcc comes from PyPI (pinned 13.0) into .cuda-venv/ if not set.
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=$(scripts/nvcc.sh)
export NVCC
cargo build --release --features cuda-required --lib --bin saraphis
exe() { # NAME CARGO-ARGS...: print the path of that test or bench executable
    local name=$1; shift
    cargo "$@" --features cuda-required --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$name" | tail -1
}
gpu_tests=$(exe gpu test --release --test gpu)
gpu_bench=$(exe gpu bench --bench gpu)
math_tests=$(exe gpu_math test --release --test gpu_math)
math_bench=$(exe gpu_math bench --bench gpu_math)
residency_bench=$(exe residency bench --bench residency)
[ -n "$gpu_tests" ] && [ -n "$gpu_bench" ] && [ -n "$math_tests" ] && [ -n "$math_bench" ] && [ -n "$residency_bench" ] ||
    { echo "could not build the GPU test or bench executables" >&2; exit 1; }
out=target/gpu-bundle
rm -rf "$out" && mkdir -p "$out"
cp "$gpu_tests" "$out/gpu-tests"
cp "$gpu_bench" "$out/gpu-bench"
cp "$math_tests" "$out/gpu-math-tests"
cp "$math_bench" "$out/gpu-math-bench"
cp "$residency_bench" "$out/residency-bench"
cp target/release/saraphis target/release/libsaraphis.so "$out/"
# The C++ example (engine loop on the host and device tiers), against this library.
minor=$(sed -n 's/^version = "0\.\([0-9]*\)\..*/\1/p' Cargo.toml | head -1)
${CXX:-g++} -std=c++17 -O1 -Iinclude -Ibindings/cpp -Itests/cmake-consumer bindings/cpp/example.cpp \
    -L"$out" -lsaraphis -ldl -Wl,-rpath,'$ORIGIN' -o "$out/cpp-example"
strip "$out"/gpu-tests "$out"/gpu-bench "$out"/gpu-math-tests "$out"/gpu-math-bench "$out"/residency-bench \
    "$out"/saraphis "$out"/libsaraphis.so "$out"/cpp-example 2>/dev/null || true
# The example finds the library by its SONAME (a copy: links may not travel to the GPU host).
cp "$out/libsaraphis.so" "$out/libsaraphis.so.0.$minor"
du -sh "$out"
