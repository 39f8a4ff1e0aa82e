#!/usr/bin/env bash
# On the GPU host, from the repository root, with target/gpu-bundle carried there
# (scripts/gpu-bundle.sh): GPU tests (CPU-compressed real weights decoded on the GPU bit for
# bit, adversarial data, corruption reports), compute-sanitizer memcheck and racecheck, and the
# GPU benchmark. Results go to ${OUT:-bench-out} as logs and gpu.json.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench-out}
mkdir -p "$out"
b=target/gpu-bundle
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/device.txt"
fail=0
"$b/gpu-tests" --ignored --test-threads=1 2>&1 | tee "$out/gpu-tests.log" || fail=1
"$b/gpu-math-tests" --ignored --test-threads=4 2>&1 | tee "$out/gpu-math-tests.log" || fail=1
# The C++ engine loop on the host tier and then the device tier (an archive of the fixture).
"$b/saraphis" compress tests/data/minilm-subset-f32.safetensors -o "$out/subset.sph" -q >/dev/null &&
    SARAPHIS_TEST_DEVICE=cuda:0 "$b/cpp-example" tests/data/minilm-subset-f32.safetensors "$out/subset.sph" \
    2>&1 | tail -4 | tee "$out/cpp-example.log" || fail=1
if command -v compute-sanitizer >/dev/null; then
    for tool in memcheck racecheck; do
        compute-sanitizer --tool "$tool" --error-exitcode 9 "$b/gpu-tests" --ignored --test-threads=1 gpu_adversarial \
            > "$out/sanitizer-$tool.log" 2>&1 || fail=1
        tail -3 "$out/sanitizer-$tool.log"
    done
    # Layout v2 (cp.async rings, warp-parallel table parsing): racecheck and memcheck.
    for tool in memcheck racecheck; do
        compute-sanitizer --tool "$tool" --error-exitcode 9 "$b/gpu-tests" --ignored --test-threads=1 gpu_decodes_layout_v2 \
            > "$out/sanitizer-$tool-v2.log" 2>&1 || fail=1
        tail -3 "$out/sanitizer-$tool-v2.log"
    done
    # F64 (wide exponent tables): memcheck only; racecheck of this test takes over 400 s.
    compute-sanitizer --tool memcheck --error-exitcode 9 "$b/gpu-tests" --ignored --test-threads=1 gpu_codes_f64 \
        > "$out/sanitizer-memcheck-f64.log" 2>&1 || fail=1
    tail -3 "$out/sanitizer-memcheck-f64.log"
    # p-adic decode: memcheck (about 30 s); racecheck (about 460 s on an H200) only with RACE_PADIC=1.
    compute-sanitizer --tool memcheck --error-exitcode 9 "$b/gpu-tests" --ignored --test-threads=1 gpu_padic_adversarial \
        > "$out/sanitizer-memcheck-padic.log" 2>&1 || fail=1
    tail -3 "$out/sanitizer-memcheck-padic.log"
    # p-adic encode (and decode of what it wrote): memcheck and racecheck on small cases.
    for tool in memcheck racecheck; do
        compute-sanitizer --tool "$tool" --error-exitcode 9 "$b/gpu-tests" --ignored --test-threads=1 gpu_padic_encoder_small \
            > "$out/sanitizer-$tool-padic-encode.log" 2>&1 || fail=1
        tail -3 "$out/sanitizer-$tool-padic-encode.log"
    done
    if [ "${RACE_PADIC:-0}" = 1 ]; then
        compute-sanitizer --tool racecheck --error-exitcode 9 "$b/gpu-tests" --ignored --test-threads=1 gpu_padic_adversarial \
            > "$out/sanitizer-racecheck-padic.log" 2>&1 || fail=1
        tail -3 "$out/sanitizer-racecheck-padic.log"
    fi
fi
"$b/gpu-bench" --out "$out/gpu.json" --gib "${GIB:-1}" 2>&1 | tee "$out/gpu-bench.log" || fail=1
"$b/gpu-math-bench" --out "$out/gpu_math.json" 2>&1 | tee "$out/gpu-math-bench.log" || fail=1
"$b/residency-bench" --device cuda:0 --tile "${TILE:-16}" --out "$out/residency-device.json" 2>&1 |
    tee "$out/residency-bench.log" || fail=1
exit $fail
