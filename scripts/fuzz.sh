#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer); targets in fuzz/fuzz_targets/, docs/FUZZING.md.
#
#   scripts/fuzz.sh seeds                 seed corpora (fuzz/corpus/<target>/seed-*) made from
#                                         real containers of tests/data/minilm-subset-f32.safetensors
#   scripts/fuzz.sh build                 build every target
#   scripts/fuzz.sh run TARGET [ARGS...]  fuzz one target (ARGS go to libFuzzer, e.g. -runs=10000000
#                                         or -max_total_time=600); crashes land in fuzz/artifacts/
#   scripts/fuzz.sh ci [SECONDS]          seeds, build, then each target for SECONDS (default 45)
#   scripts/fuzz.sh list                  the targets
#
# Installs what it needs: the nightly toolchain (rustup) and cargo-fuzz (cargo install --locked)
# when absent. One libFuzzer worker at a time, niced (FUZZ_NICE=0 for normal priority); the
# codecs' rayon loops run inline on the fuzzing thread (saraphis_fuzz::init). Targets are built
# without a sanitizer (--sanitizer none): the codecs and the format code are safe Rust (no
# `unsafe`), debug assertions (overflow checks) stay on, and a panic is a crash; the unsafe C
# boundary runs under ASan/UBSan/TSan/Miri in scripts/sanitize.sh. FUZZ_SANITIZER=address
# builds with AddressSanitizer instead.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
targets=(container_decode archive_decode safetensors_compress padic_roundtrip layout_agreement)
nice_cmd=(nice -n "${FUZZ_NICE:-10}")
sanitizer=${FUZZ_SANITIZER:-none}
export CARGO_TERM_COLOR=never

need_tools() {
    if ! command -v rustup >/dev/null; then
        # cargo from a distribution package has no rustup (needed for nightly): install it.
        echo "$(basename "$0"): installing rustup (https://sh.rustup.rs) for the nightly toolchain"
        curl -sSf https://sh.rustup.rs | sh -s -- -y -q --profile minimal --default-toolchain stable --no-modify-path
        export PATH=$HOME/.cargo/bin:$PATH
    fi
    if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
        echo "fuzz.sh: installing the nightly toolchain (rustup)"
        rustup toolchain install nightly --profile minimal
    fi
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "fuzz.sh: installing cargo-fuzz (cargo install --locked)"
        "${nice_cmd[@]}" cargo install cargo-fuzz --locked
    fi
}

seeds() {
    "${nice_cmd[@]}" cargo +nightly run -q --manifest-path fuzz/Cargo.toml --example seeds -- \
        "$root/tests/data/minilm-subset-f32.safetensors" "$root/fuzz/corpus"
}

# Comparison tracing (libFuzzer's CMP dictionary) pays where inputs hold magic numbers and
# fields (the decoders); the compress targets spend two thirds of their time in it (perf), so
# they are built without it, in their own target directory.
flags() { # TARGET
    case $1 in
        padic_roundtrip | layout_agreement) echo "--no-trace-compares --target-dir fuzz/target/nocmp" ;;
        *) echo "" ;;
    esac
}

build() {
    "${nice_cmd[@]}" cargo +nightly fuzz build -O -s "$sanitizer"
    # shellcheck disable=SC2046
    "${nice_cmd[@]}" cargo +nightly fuzz build -O -s "$sanitizer" $(flags padic_roundtrip) padic_roundtrip
    # shellcheck disable=SC2046
    "${nice_cmd[@]}" cargo +nightly fuzz build -O -s "$sanitizer" $(flags layout_agreement) layout_agreement
}

# Longest input per target: inputs of a few KiB reach every code path (chunk, segment and lane
# counts are fuzzed) at a useful speed.
max_len() {
    case $1 in
        container_decode | archive_decode) echo 8192 ;;
        safetensors_compress) echo 4096 ;;
        *) echo 2064 ;;
    esac
}

run() { # TARGET [libFuzzer args...]
    local t=$1; shift
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    # -rss_limit_mb: a decode is bounded to 16 MiB of output (saraphis_fuzz::MAX_DECODE_BYTES).
    # shellcheck disable=SC2046
    "${nice_cmd[@]}" cargo +nightly fuzz run -O -s "$sanitizer" $(flags "$t") "$t" "fuzz/corpus/$t" -- \
        -rss_limit_mb=2048 -max_len="$(max_len "$t")" -print_final_stats=1 "$@"
}

case "${1:-}" in
    seeds) need_tools; seeds ;;
    build) need_tools; build ;;
    list) printf '%s\n' "${targets[@]}" ;;
    run)
        [ $# -ge 2 ] || { echo "usage: scripts/fuzz.sh run TARGET [LIBFUZZER ARGS...]" >&2; exit 2; }
        shift; need_tools; run "$@" ;;
    ci)
        secs=${2:-45}
        need_tools
        seeds
        build
        for t in "${targets[@]}"; do
            echo "=== fuzz $t for ${secs}s"
            # Not under fuzz/artifacts: cargo-fuzz shows the newest file there as the failing input.
            log=fuzz/logs/$t-ci.log
            mkdir -p fuzz/logs
            if ! run "$t" -max_total_time="$secs" >"$log" 2>&1; then
                tail -n 60 "$log"
                echo "fuzz.sh: $t FAILED (the input is in fuzz/artifacts/$t)" >&2
                exit 1
            fi
            grep -E '^(stat::number_of_executed_units|Done )' "$log" || tail -n 5 "$log"
        done
        echo "fuzz: ${#targets[@]} targets ran ${secs}s each without a failure"
        ;;
    *) sed -n '2,18p' "$0" >&2; exit 2 ;;
esac
