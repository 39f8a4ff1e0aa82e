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
[ -n "$gpu_tests" ] && [ -n "$gpu_bench" ] || { echo "could not build the GPU test or bench executables" >&2; exit 1; }
out=target/gpu-bundle
rm -rf "$out" && mkdir -p "$out"
cp "$gpu_tests" "$out/gpu-tests"
cp "$gpu_bench" "$out/gpu-bench"
cp target/release/saraphis target/release/libsaraphis.so "$out/"
du -sh "$out"
